/* ops: the FUSE low-level operations of the mount, passing through to the store. */
#include "mount.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "log.h"
#include "path.h"

static struct mount *
mount_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct node *
node_of(struct mount *m, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? &m->nodes.root : (struct node *)ino;
}

static fuse_ino_t
ino_of(struct mount *m, struct node *n)
{
	return n == &m->nodes.root ? FUSE_ROOT_ID : (fuse_ino_t)n;
}

/* The store's metadata directory does not exist through the mount. */
static int
is_hidden(fuse_ino_t parent, const char *name)
{
	return parent == FUSE_ROOT_ID && strcmp(name, PATH_META) == 0;
}

static void
proc_path(char *buf, size_t len, int fd)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

static void
mfs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct mount *m = userdata;

	/* Pages stay valid as long as a node lives: its file never changes. */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want |= FUSE_CAP_EXPORT_SUPPORT;
	/*
	 * The kernel checks POSIX ACLs as well as modes (default_permissions
	 * is always on); it reads them with GETXATTR and drops what it
	 * cached of an inode when a commit invalidates that inode.
	 */
	if (conn->capable & FUSE_CAP_POSIX_ACL)
		conn->want |= FUSE_CAP_POSIX_ACL;
	/*
	 * READDIRPLUS: a listing carries every entry's attributes and counts
	 * a lookup of it, so a stat after readdir (ls -l, find -printf, du)
	 * costs no LOOKUP round trip per file. Always, not the kernel's
	 * adaptive mode (READDIRPLUS_AUTO): that one asks for attributes with
	 * a directory's first batch only, and for later batches only if an
	 * entry was stat'ed meanwhile; find and ls read a whole directory
	 * before they stat its entries, so in a directory larger than one
	 * reply every later batch went plain and each stat was a LOOKUP again
	 * (cold find -printf over 20,000 files in 2,000-file directories:
	 * about 0.8 s adaptive, 0.4 s always, 0.9-1.1 s without; 0.2 s
	 * natively). Warm listings, with or without stat, come from the
	 * kernel's caches either way (dentries, cache_readdir). The price is
	 * a cold names-only listing, which now reads every inode as stat does
	 * (cold find over the same files: 0.05 s -> 0.35-0.4 s; the adaptive
	 * mode pays it too, for every directory of at most one reply).
	 *
	 * Without file handles every node holds a descriptor: there the
	 * adaptive mode keeps a names-only listing of a large directory from
	 * pinning one per file.
	 */
	if (!m->readdirplus) {	/* -o noreaddirplus */
		conn->want &= ~(FUSE_CAP_READDIRPLUS |
		    FUSE_CAP_READDIRPLUS_AUTO);
		return;
	}
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (m->nodes.handles || !(conn->capable & FUSE_CAP_READDIRPLUS_AUTO))
		conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	else
		conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
}

/*
 * Looks name up under parent; on success fills e and counts a lookup.
 * Positive errno. The one lookup of LOOKUP, READDIRPLUS (each entry) and
 * the replies of the rw operations that make a name.
 */
static int
do_lookup(struct mount *m, fuse_ino_t parent, const char *name,
    struct fuse_entry_param *e)
{
	struct node *p = node_of(m, parent), *n;
	struct stat st;
	int fd;

	memset(e, 0, sizeof(*e));
	e->attr_timeout = m->timeout;
	e->entry_timeout = m->timeout;
	if (__atomic_load_n(&m->failed, __ATOMIC_SEQ_CST))
		return EIO;	/* lost our master: nothing here is current */
	if (is_hidden(parent, name))
		return ENOENT;
	fd = openat(p->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return errno;
	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == -1) {
		int saved = errno;

		close(fd);
		return saved;
	}
	n = nodes_ref(&m->nodes, fd, &st);
	if (n == NULL)
		return ENOMEM;
	e->ino = ino_of(m, n);
	e->attr = st;
	return 0;
}

static void
mfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mount *m = mount_of(req);
	struct fuse_entry_param e;
	int err;

	err = do_lookup(m, parent, name, &e);
	if (err == ENOENT) {
		/* A negative entry: cached until a commit creates the name. */
		e.ino = 0;
		fuse_reply_entry(req, &e);
	} else if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

static void
mfs_forget_one(struct mount *m, fuse_ino_t ino, uint64_t nlookup)
{
	pthread_mutex_lock(&m->nodes.lock);
	nodes_unref_locked(&m->nodes, node_of(m, ino), nlookup);
	pthread_mutex_unlock(&m->nodes.lock);
}

static void
mfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	mfs_forget_one(mount_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void
mfs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *fd)
{
	for (size_t i = 0; i < count; i++)
		mfs_forget_one(mount_of(req), fd[i].ino, fd[i].nlookup);
	fuse_reply_none(req);
}

static void
mfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mount *m = mount_of(req);
	struct node *n = node_of(m, ino);
	struct stat st;
	int fd = node_path_fd(&m->nodes, n), rc;

	rc = fd == -1 ? -1 : fstatat(fd, "", &st, AT_EMPTY_PATH |
	    AT_SYMLINK_NOFOLLOW);
	if (rc == -1)
		fuse_reply_err(req, errno);
	else
		fuse_reply_attr(req, &st, m->timeout);
	node_put_fd(n, fd);
}

static void
mfs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct mount *m = mount_of(req);
	struct node *nd = node_of(m, ino);
	char buf[PATH_MAX];
	int fd = node_path_fd(&m->nodes, nd);
	ssize_t n;

	n = fd == -1 ? -1 : readlinkat(fd, "", buf, sizeof(buf) - 1);
	node_put_fd(nd, fd);
	if (n == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

struct dirh {
	DIR *dp;
	off_t offset;
	struct dirent *entry;
	int root;
};

static void
mfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mount *m = mount_of(req);
	struct dirh *d = calloc(1, sizeof(*d));
	int fd, err;

	if (d == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fd = openat(node_of(m, ino)->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (d->dp = fdopendir(fd)) == NULL) {
		err = errno;
		if (fd != -1)
			close(fd);
		free(d);
		fuse_reply_err(req, err);
		return;
	}
	d->root = ino == FUSE_ROOT_ID;
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = 1;	/* commits invalidate changed directories */
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static int
is_dot_or_dotdot(const char *name)
{
	return name[0] == '.' && (name[1] == '\0' ||
	    (name[1] == '.' && name[2] == '\0'));
}

/* Every READDIRPLUS entry takes at least this many bytes of the reply
   (struct fuse_direntplus is a 128-byte fuse_entry_out and a dirent). */
#define DIRENTPLUS_MIN 128

/*
 * Says (once per reply) that an entry of directory ino goes to the kernel
 * without its attributes because looking it up failed (err); the kernel
 * looks it up itself when asked for it, and gets the error then.
 */
static void
warn_unlooked(struct mount *m, fuse_ino_t ino, const char *name, int err)
{
	char proc[64], path[PATH_MAX];
	ssize_t n;

	proc_path(proc, sizeof(proc), node_of(m, ino)->fd);
	n = readlink(proc, path, sizeof(path) - 1);
	if (n == -1)
		snprintf(path, sizeof(path), "%s/(directory inode %ju)",
		    m->store_path, (uintmax_t)node_of(m, ino)->key.ino);
	else
		path[n] = '\0';
	errno = err;
	log_warn("%s/%s: listed without attributes", path, name);
}

/*
 * READDIR, and READDIRPLUS (plus set), which looks every entry up with
 * do_lookup, the code of LOOKUP: the same nodes, attributes and timeouts,
 * and, as for LOOKUP, no lock of ours but the node table's, so a commit
 * may invalidate names while listings are in flight (the kernel holds the
 * directory's lock across READDIRPLUS, so it drops what one returned).
 *
 * Each entry the kernel receives, but "." and "..", counts one lookup it
 * will FORGET. So the lookup of an entry that does not fit the reply is
 * given back at once (the next call starts at that entry and looks it up
 * again), and a reply the kernel did not take gives back the lookups of
 * all its entries. A name whose lookup fails (removed by a commit since
 * readdir saw it) is listed as READDIR lists it, with node id 0: the kernel
 * counts no lookup for it and looks it up itself when asked.
 */
static void
do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
    struct fuse_file_info *fi, int plus)
{
	struct mount *m = mount_of(req);
	struct dirh *d = (struct dirh *)fi->fh;
	struct fuse_entry_param e;
	fuse_ino_t *taken = NULL;	/* the lookups counted by this reply */
	size_t ntaken = 0, cap = 0, rem = size, len;
	const char *name;
	char *buf, *p;
	struct stat st;
	int err, looked, warned = 0, rc;

	buf = malloc(size);
	if (plus) {
		cap = size / DIRENTPLUS_MIN + 1;
		taken = malloc(cap * sizeof(*taken));
	}
	if (buf == NULL || (plus && taken == NULL)) {
		free(buf);
		free(taken);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	p = buf;
	if (offset != d->offset) {
		seekdir(d->dp, offset);
		d->entry = NULL;
		d->offset = offset;
	}
	for (;;) {
		if (d->entry == NULL) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (d->entry == NULL)
				break;	/* end, or an error we report as end */
		}
		name = d->entry->d_name;
		if (d->root && strcmp(name, PATH_META) == 0) {
			d->offset = d->entry->d_off;
			d->entry = NULL;
			continue;
		}
		if (!plus) {
			memset(&st, 0, sizeof(st));
			st.st_ino = d->entry->d_ino;
			st.st_mode = (mode_t)d->entry->d_type << 12;
			len = fuse_add_direntry(req, p, rem, name, &st,
			    d->entry->d_off);
		} else {
			if (ntaken == cap)
				break;	/* cannot happen: cap bounds what fits */
			looked = !is_dot_or_dotdot(name);
			err = looked ? do_lookup(m, ino, name, &e) : 0;
			if (err) {
				if (err != ENOENT && !warned &&
				    !__atomic_load_n(&m->failed,
				    __ATOMIC_SEQ_CST)) {
					warn_unlooked(m, ino, name, err);
					warned = 1;
				}
				looked = 0;
			}
			if (!looked) {
				/* Node id 0: the kernel takes no reference. */
				memset(&e, 0, sizeof(e));
				e.attr.st_ino = d->entry->d_ino;
				e.attr.st_mode = (mode_t)d->entry->d_type << 12;
			}
			len = fuse_add_direntry_plus(req, p, rem, name, &e,
			    d->entry->d_off);
			if (looked && len > rem)
				mfs_forget_one(m, e.ino, 1);	/* not sent */
			else if (looked)
				taken[ntaken++] = e.ino;
		}
		if (len > rem)
			break;	/* the next call resumes at this entry */
		p += len;
		rem -= len;
		d->offset = d->entry->d_off;
		d->entry = NULL;
	}
	rc = fuse_reply_buf(req, buf, size - rem);
	if (rc != 0 && ntaken > 0) {
		/* The kernel saw none of these entries: it will forget none. */
		log_debug("readdirplus reply not delivered (%s): %zu lookups "
		    "given back", strerror(-rc), ntaken);
		for (size_t i = 0; i < ntaken; i++)
			mfs_forget_one(m, taken[i], 1);
	}
	free(taken);
	free(buf);
}

static void
mfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
    struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, offset, fi, 0);
}

static void
mfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
    struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, offset, fi, 1);
}

static void
mfs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dirh *d = (struct dirh *)fi->fh;

	closedir(d->dp);
	free(d);
	fuse_reply_err(req, 0);
}

static int
is_write(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

/*
 * Counts an open handle of n. An open that arrived while generation
 * seen was current, of a node a later commit superseded, found n by a
 * name that commit changed: ESTALE makes the kernel look the name up
 * again and open the new version. Later opens of a superseded node (a
 * program reading /proc/self/exe, or reopening /proc/self/fd/N) mean that
 * very file and succeed.
 */
static int
node_opened(struct mount *m, struct node *n, int flags, uint64_t seen)
{
	int err = 0;

	pthread_mutex_lock(&m->nodes.lock);
	if (__atomic_load_n(&m->failed, __ATOMIC_SEQ_CST))
		err = EIO;
	else if (n->superseded > seen)
		err = ESTALE;
	else {
		n->nopen++;
		if (is_write(flags))
			n->nwrite++;
	}
	pthread_mutex_unlock(&m->nodes.lock);
	return err;
}

/* What an open file handle (fi->fh) points to. */
struct fileh {
	int fd;
	int write;
	struct node *n;
};

static void
reply_opened(fuse_req_t req, struct mount *m, struct node *n, int fd,
    struct fuse_file_info *fi, const struct fuse_entry_param *e)
{
	struct fileh *h = malloc(sizeof(*h));

	if (h == NULL) {
		close(fd);
		mount_node_closed(m, n, is_write(fi->flags));
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->fd = fd;
	h->write = is_write(fi->flags);
	h->n = n;
	fi->fh = (uintptr_t)h;
	/* A node's file only changes through this mount: keep its pages. */
	fi->keep_cache = 1;
	if (e != NULL) {
		if (fuse_reply_create(req, e, fi) != 0)
			fuse_reply_err(req, EIO);
	} else if (fuse_reply_open(req, fi) == -ENOENT) {
		/* The opener was interrupted: nobody holds this handle. */
		close(fd);
		mount_node_closed(m, n, h->write);
		free(h);
	}
}

static void
mfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mount *m = mount_of(req);
	struct node *n = node_of(m, ino);
	uint64_t seen;
	int fd, err;


	if (is_write(fi->flags) && !m->rw) {
		fuse_reply_err(req, EROFS);
		return;
	}
	seen = __atomic_load_n(&m->generation, __ATOMIC_SEQ_CST);
	pthread_rwlock_rdlock(&m->view);
	err = node_opened(m, n, fi->flags, seen);
	pthread_rwlock_unlock(&m->view);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	fd = node_open(&m->nodes, n, fi->flags);
	if (fd == -1) {
		err = errno;
		mount_node_closed(m, n, is_write(fi->flags));
		fuse_reply_err(req, err);
		return;
	}
	reply_opened(req, m, n, fd, fi, NULL);
}

static void
mfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fileh *h = (struct fileh *)fi->fh;

	close(h->fd);
	mount_node_closed(mount_of(req), h->n, h->write);
	free(h);
	fuse_reply_err(req, 0);
}

static void
mfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct fileh *h = (struct fileh *)fi->fh;
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = h->fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void
mfs_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in,
    off_t off, struct fuse_file_info *fi)
{
	struct fileh *h = (struct fileh *)fi->fh;
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	ssize_t n;

	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = h->fd;
	out.buf[0].pos = off;
	n = fuse_buf_copy(&out, in, 0);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void
mfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void
mfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
    struct fuse_file_info *fi)
{
	struct fileh *h = (struct fileh *)fi->fh;
	int rc = datasync ? fdatasync(h->fd) : fsync(h->fd);

	fuse_reply_err(req, rc == -1 ? errno : 0);
}

static void
mfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	if (fstatvfs(mount_of(req)->nodes.root.fd, &sv) == -1)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

/* Gives a new entry the caller's ownership (we create as root). */
static int
own_as_caller(fuse_req_t req, int dirfd, const char *name)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	if (geteuid() != 0)
		return 0;
	return fchownat(dirfd, name, ctx->uid, ctx->gid, AT_SYMLINK_NOFOLLOW);
}

/* Replies with the entry of a name just made under parent. */
static void
reply_made(fuse_req_t req, struct mount *m, fuse_ino_t parent,
    const char *name, int err)
{
	struct fuse_entry_param e;

	if (err == 0)
		err = do_lookup(m, parent, name, &e);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

/* Common checks of a namespace change through the mount. Positive errno. */
static int
may_change(struct mount *m, fuse_ino_t parent, const char *name)
{
	if (!m->rw)
		return EROFS;
	if (is_hidden(parent, name))
		return EPERM;
	return 0;
}

static void
mfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct mount *m = mount_of(req);
	int dirfd = node_of(m, parent)->fd, err;

	pthread_rwlock_rdlock(&m->ns);
	err = may_change(m, parent, name);
	if (!err && (mkdirat(dirfd, name, mode) == -1 ||
	    own_as_caller(req, dirfd, name) == -1))
		err = errno;
	pthread_rwlock_unlock(&m->ns);
	reply_made(req, m, parent, name, err);
}

static void
mfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
    const char *name)
{
	struct mount *m = mount_of(req);
	int dirfd = node_of(m, parent)->fd, err;

	pthread_rwlock_rdlock(&m->ns);
	err = may_change(m, parent, name);
	if (!err && (symlinkat(link, dirfd, name) == -1 ||
	    own_as_caller(req, dirfd, name) == -1))
		err = errno;
	pthread_rwlock_unlock(&m->ns);
	reply_made(req, m, parent, name, err);
}

static void
mfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
	struct mount *m = mount_of(req);
	struct node *n = node_of(m, ino);
	char proc[64];
	int err, fd = node_path_fd(&m->nodes, n);

	proc_path(proc, sizeof(proc), fd);
	pthread_rwlock_rdlock(&m->ns);
	err = fd == -1 ? errno : may_change(m, parent, name);
	if (!err && linkat(AT_FDCWD, proc, node_of(m, parent)->fd, name,
	    AT_SYMLINK_FOLLOW) == -1)
		err = errno;
	pthread_rwlock_unlock(&m->ns);
	node_put_fd(n, fd);
	reply_made(req, m, parent, name, err);
}

static void
mfs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    struct fuse_file_info *fi)
{
	struct mount *m = mount_of(req);
	struct fuse_entry_param e;
	int dirfd = node_of(m, parent)->fd, fd, err;
	struct node *n = NULL;

	pthread_rwlock_rdlock(&m->ns);
	err = may_change(m, parent, name);
	fd = -1;
	if (!err) {
		fd = openat(dirfd, name, (fi->flags | O_CREAT | O_NOFOLLOW |
		    O_CLOEXEC) & ~O_PATH, mode);
		if (fd == -1 || own_as_caller(req, dirfd, name) == -1)
			err = errno;
	}
	if (!err)
		err = do_lookup(m, parent, name, &e);
	if (!err) {
		n = node_of(m, e.ino);
		err = node_opened(m, n, fi->flags, UINT64_MAX);
	}
	pthread_rwlock_unlock(&m->ns);
	if (err) {
		if (fd != -1)
			close(fd);
		fuse_reply_err(req, err);
		return;
	}
	reply_opened(req, m, n, fd, fi, &e);
}

static void
mfs_unlink_common(fuse_req_t req, fuse_ino_t parent, const char *name,
    int flags)
{
	struct mount *m = mount_of(req);
	int err;

	pthread_rwlock_rdlock(&m->ns);
	err = may_change(m, parent, name);
	if (!err && unlinkat(node_of(m, parent)->fd, name, flags) == -1)
		err = errno;
	pthread_rwlock_unlock(&m->ns);
	fuse_reply_err(req, err);
}

static void
mfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	mfs_unlink_common(req, parent, name, 0);
}

static void
mfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	mfs_unlink_common(req, parent, name, AT_REMOVEDIR);
}

static void
mfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
    fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct mount *m = mount_of(req);
	int err;

	pthread_rwlock_rdlock(&m->ns);
	err = may_change(m, parent, name);
	if (!err)
		err = may_change(m, newparent, newname);
	if (!err && renameat2(node_of(m, parent)->fd, name,
	    node_of(m, newparent)->fd, newname, flags) == -1)
		err = errno;
	pthread_rwlock_unlock(&m->ns);
	fuse_reply_err(req, err);
}

static void
mfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
    struct fuse_file_info *fi)
{
	struct mount *m = mount_of(req);
	struct node *n = node_of(m, ino);
	struct timespec ts[2];
	char proc[64];
	int rc = 0, fd;

	if (!m->rw) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fd = node_path_fd(&m->nodes, n);
	if (fd == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	proc_path(proc, sizeof(proc), fd);
	if (valid & FUSE_SET_ATTR_MODE)
		rc = fchmodat(AT_FDCWD, proc, attr->st_mode, 0);
	if (rc == 0 && (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		rc = fchownat(fd, "",
		    (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1,
		    (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1,
		    AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
	if (rc == 0 && (valid & FUSE_SET_ATTR_SIZE))
		rc = fi ? ftruncate(((struct fileh *)fi->fh)->fd, attr->st_size) :
		    truncate(proc, attr->st_size);
	if (rc == 0 && (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		ts[0].tv_nsec = UTIME_OMIT;
		ts[1].tv_nsec = UTIME_OMIT;
		if (valid & FUSE_SET_ATTR_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_ATIME)
			ts[0] = attr->st_atim;
		if (valid & FUSE_SET_ATTR_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_MTIME)
			ts[1] = attr->st_mtim;
		rc = utimensat(AT_FDCWD, proc, ts, 0);
	}
	node_put_fd(n, fd);
	if (rc == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	mfs_getattr(req, ino, fi);
}

/*
 * Extended attributes, ACLs and file capabilities are the store's own,
 * read through the node's descriptor (an O_PATH one reaches a symlink's
 * own attributes through /proc/self/fd).
 */
static void
reply_xattr(fuse_req_t req, size_t size, const char *buf, ssize_t n)
{
	if (n == -1)
		fuse_reply_err(req, errno == ENOTSUP ? EOPNOTSUPP : errno);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

/* getxattr of name, or listxattr when name is NULL. */
static void
read_xattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct mount *m = mount_of(req);
	struct node *n = node_of(m, ino);
	char proc[64], *buf = NULL;
	int fd = node_path_fd(&m->nodes, n), err = 0;
	ssize_t got = -1;

	if (fd == -1)
		err = errno;
	else if (size > 0 && (buf = malloc(size)) == NULL)
		err = ENOMEM;
	if (err == 0) {
		proc_path(proc, sizeof(proc), fd);
		got = name ? getxattr(proc, name, buf, size) :
		    listxattr(proc, buf, size);
	}
	node_put_fd(n, fd);
	if (err != 0)
		fuse_reply_err(req, err);
	else
		reply_xattr(req, size, buf, got);
	free(buf);
}

static void
mfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	read_xattr(req, ino, name, size);
}

static void
mfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	read_xattr(req, ino, NULL, size);
}

/* setxattr (value not NULL) or removexattr through an rw mount. */
static void
change_xattr(fuse_req_t req, fuse_ino_t ino, const char *name,
    const char *value, size_t size, int flags)
{
	struct mount *m = mount_of(req);
	struct node *n = node_of(m, ino);
	char proc[64];
	int fd, err = 0;

	if (!m->rw) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fd = node_path_fd(&m->nodes, n);
	if (fd == -1)
		err = errno;
	else {
		proc_path(proc, sizeof(proc), fd);
		if ((value ? setxattr(proc, name, value, size, flags) :
		    removexattr(proc, name)) == -1)
			err = errno == ENOTSUP ? EOPNOTSUPP : errno;
	}
	node_put_fd(n, fd);
	fuse_reply_err(req, err);
}

static void
mfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
    const char *value, size_t size, int flags)
{
	change_xattr(req, ino, name, value ? value : "", size, flags);
}

static void
mfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	change_xattr(req, ino, name, NULL, 0, 0);
}

const struct fuse_lowlevel_ops mirrorfs_ops = {
	.init = mfs_init,
	.lookup = mfs_lookup,
	.forget = mfs_forget,
	.forget_multi = mfs_forget_multi,
	.getattr = mfs_getattr,
	.setattr = mfs_setattr,
	.readlink = mfs_readlink,
	.opendir = mfs_opendir,
	.readdir = mfs_readdir,
	.readdirplus = mfs_readdirplus,
	.releasedir = mfs_releasedir,
	.open = mfs_open,
	.create = mfs_create,
	.release = mfs_release,
	.read = mfs_read,
	.write_buf = mfs_write_buf,
	.flush = mfs_flush,
	.fsync = mfs_fsync,
	.statfs = mfs_statfs,
	.mkdir = mfs_mkdir,
	.symlink = mfs_symlink,
	.link = mfs_link,
	.unlink = mfs_unlink,
	.rmdir = mfs_rmdir,
	.rename = mfs_rename,
	.getxattr = mfs_getxattr,
	.listxattr = mfs_listxattr,
	.setxattr = mfs_setxattr,
	.removexattr = mfs_removexattr,
};
