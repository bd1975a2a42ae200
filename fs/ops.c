/* ops: the FUSE low-level operations of the mount: metadata from the index, data from the store's files. */
#include "mount.h"

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
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "path.h"

static struct mount *
mount_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* A FUSE inode number is an index record number plus one (the top is 1). */
static uint32_t
rec_of(fuse_ino_t ino)
{
	return ino - 1 >= INDEX_NONE ? INDEX_NONE : (uint32_t)(ino - 1);
}

static fuse_ino_t
ino_of(uint32_t rec)
{
	return (fuse_ino_t)rec + 1;
}

static void
ix_read(struct mount *m)
{
	pthread_rwlock_rdlock(&m->ixlock);
}

static void
ix_write(struct mount *m)
{
	pthread_rwlock_wrlock(&m->ixlock);
}

static void
ix_done(struct mount *m)
{
	pthread_rwlock_unlock(&m->ixlock);
}

/* The store's metadata directory does not exist through the mount. */
static int
is_hidden(fuse_ino_t parent, const char *name)
{
	return parent == FUSE_ROOT_ID && strcmp(name, PATH_META) == 0;
}

/* A record the kernel may name (under ixlock): ESTALE when it is not. */
static int
check_rec(struct mount *m, uint32_t rec)
{
	if (__atomic_load_n(&m->failed, __ATOMIC_SEQ_CST))
		return EIO;	/* lost our master: nothing here is current */
	return rec != INDEX_NONE && index_valid(&m->ix, rec) ? 0 : ESTALE;
}

/* Gives back n of the kernel's references to rec; frees it when it was the last. */
static void
unuse(struct mount *m, uint32_t rec, uint64_t n)
{
	int collect;

	ix_read(m);
	collect = index_valid(&m->ix, rec) && index_unuse(&m->ix, rec, n);
	ix_done(m);
	if (collect) {
		ix_write(m);
		index_collect(&m->ix, rec);
		ix_done(m);
	}
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
	 * READDIRPLUS: the kernel always asks for a listing with attributes
	 * (not its adaptive mode, READDIRPLUS_AUTO, which asks only with a
	 * directory's first batch or after a stat: find and ls read a whole
	 * directory before they stat its entries), and do_readdir decides
	 * whether to send them (see want_attrs).
	 */
	if (m->readdirplus == RDPLUS_NEVER) {	/* -o noreaddirplus */
		conn->want &= ~(FUSE_CAP_READDIRPLUS |
		    FUSE_CAP_READDIRPLUS_AUTO);
		return;
	}
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
}

/* Fills e with rec (under ixlock) and counts the kernel's reference. */
static void
fill_entry(struct mount *m, uint32_t rec, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->attr_timeout = m->timeout;
	e->entry_timeout = m->timeout;
	index_stat(&m->ix, rec, &e->attr);
	e->ino = ino_of(rec);
	/* Record numbers are reused; the backing inode tells them apart. */
	e->generation = e->attr.st_ino;
	index_use(&m->ix, rec, 1);
}

/*
 * Looks name up under parent in the index (under ixlock); on success
 * fills e and counts a lookup. Positive errno. The one lookup of LOOKUP,
 * READDIRPLUS (each entry) and the replies of the rw operations.
 */
static int
lookup_locked(struct mount *m, fuse_ino_t parent, const char *name,
    struct fuse_entry_param *e)
{
	uint32_t p = rec_of(parent), rec;
	int err = check_rec(m, p);

	if (err)
		return err;
	if (is_hidden(parent, name))
		return ENOENT;
	if (!S_ISDIR(index_rec(&m->ix, p)->mode & S_IFMT))
		return ENOTDIR;
	if (strcmp(name, ".") == 0)
		rec = p;	/* asked for by NFS export */
	else if (strcmp(name, "..") == 0)
		rec = index_parent(&m->ix, p);
	else
		rec = index_lookup(&m->ix, p, name, strlen(name));
	if (rec == INDEX_NONE)
		return ENOENT;
	fill_entry(m, rec, e);
	return 0;
}

static int
do_lookup(struct mount *m, fuse_ino_t parent, const char *name,
    struct fuse_entry_param *e)
{
	int err;

	ix_read(m);
	err = lookup_locked(m, parent, name, e);
	ix_done(m);
	return err;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Whether listings now carry attributes. With them, a stat after readdir
 * (ls -l, find -printf, du) costs no LOOKUP round trip, but the kernel
 * makes an inode for every entry, which a names-only listing (find
 * -type f, ls) does not need and which costs it more than the listing
 * itself. So by default they are sent for a while (ATTRS_WANTED_MS)
 * after a program looked up a file, as one stat'ing what it lists does
 * at its first directory listed without them; looking up a directory
 * (a walk going down) does not count.
 */
#define ATTRS_WANTED_MS 2000

static int
want_attrs(struct mount *m)
{
	if (m->readdirplus != RDPLUS_AUTO)
		return m->readdirplus == RDPLUS_ALWAYS;
	return now_ms() < __atomic_load_n(&m->attrs_wanted, __ATOMIC_RELAXED);
}

static void
attrs_wanted(struct mount *m, const struct stat *st)
{
	if (m->readdirplus == RDPLUS_AUTO && !S_ISDIR(st->st_mode))
		__atomic_store_n(&m->attrs_wanted, now_ms() + ATTRS_WANTED_MS,
		    __ATOMIC_RELAXED);
}

static void
mfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct mount *m = mount_of(req);
	struct fuse_entry_param e;
	int err;

	err = do_lookup(m, parent, name, &e);
	if (err == 0)
		attrs_wanted(m, &e.attr);
	if (err == ENOENT) {
		/* A negative entry: cached until a commit creates the name. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = m->timeout;
		fuse_reply_entry(req, &e);
	} else if (err)
		fuse_reply_err(req, err);
	else if (fuse_reply_entry(req, &e) != 0)
		unuse(m, rec_of(e.ino), 1);	/* the kernel did not take it */
}

static void
mfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	unuse(mount_of(req), rec_of(ino), nlookup);
	fuse_reply_none(req);
}

static void
mfs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *fd)
{
	for (size_t i = 0; i < count; i++)
		unuse(mount_of(req), rec_of(fd[i].ino), fd[i].nlookup);
	fuse_reply_none(req);
}

static void
mfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mount *m = mount_of(req);
	struct stat st;
	int err;

	ix_read(m);
	err = check_rec(m, rec_of(ino));
	if (!err)
		index_stat(&m->ix, rec_of(ino), &st);
	ix_done(m);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, m->timeout);
}

static void
mfs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct mount *m = mount_of(req);
	char buf[PATH_MAX];
	const char *t = NULL;
	int err;

	ix_read(m);
	err = check_rec(m, rec_of(ino));
	if (!err && (t = index_target(&m->ix, rec_of(ino))) == NULL)
		err = EINVAL;
	if (!err)
		snprintf(buf, sizeof(buf), "%s", t);
	ix_done(m);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_readlink(req, buf);
}

/* An open listing: its directory is pinned, and counted as used. */
struct dirh {
	uint32_t rec;
};

static void
mfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mount *m = mount_of(req);
	struct dirh *d = malloc(sizeof(*d));
	uint32_t rec = rec_of(ino);
	int err;

	ix_read(m);
	err = d == NULL ? ENOMEM : check_rec(m, rec);
	if (!err && !S_ISDIR(index_rec(&m->ix, rec)->mode & S_IFMT))
		err = ENOTDIR;
	if (!err) {
		index_use(&m->ix, rec, 1);
		index_dir_pin(&m->ix, rec, 1);
	}
	ix_done(m);
	if (err) {
		free(d);
		fuse_reply_err(req, err);
		return;
	}
	d->rec = rec;
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = 1;	/* commits invalidate changed directories */
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) != 0) {
		ix_read(m);
		index_dir_pin(&m->ix, rec, -1);
		ix_done(m);
		unuse(m, rec, 1);
		free(d);
	}
}

/* Every READDIRPLUS entry takes at least this many bytes of the reply
   (struct fuse_direntplus is a 128-byte fuse_entry_out and a dirent). */
#define DIRENTPLUS_MIN 128

/*
 * Adds one entry to the reply at p (rem bytes left); returns its length
 * (more than rem: it did not fit). For READDIRPLUS (plus) with its
 * attributes (bare 0) the entry's lookup is counted, and given back when
 * it does not fit; a bare entry has node id 0, which the kernel takes as
 * a name without attributes.
 */
static size_t
add_entry(fuse_req_t req, struct mount *m, char *p, size_t rem,
    const char *name, uint32_t rec, off_t next, int plus, int bare)
{
	struct fuse_entry_param e;
	size_t len;

	if (!plus || bare) {
		memset(&e, 0, sizeof(e));
		e.attr.st_ino = index_rec(&m->ix, rec)->ino;
		e.attr.st_mode = index_rec(&m->ix, rec)->mode & S_IFMT;
		if (!plus)
			return fuse_add_direntry(req, p, rem, name, &e.attr, next);
		/* Node id 0: the kernel takes no reference. */
		return fuse_add_direntry_plus(req, p, rem, name, &e, next);
	}
	fill_entry(m, rec, &e);
	len = fuse_add_direntry_plus(req, p, rem, name, &e, next);
	if (len > rem)
		index_unuse(&m->ix, rec, 1);	/* not sent; rec is attached */
	return len;
}

/*
 * READDIR, and READDIRPLUS (plus set), both from the index: offset 0 is
 * ".", 1 "..", and 2 + k the k-th place of the directory's listing,
 * which stays put while a listing is open. Each entry READDIRPLUS sends,
 * but "." and "..", counts one lookup the kernel will FORGET; a reply the
 * kernel did not take gives them all back. No lock of ours is held while
 * replying, so a commit may invalidate meanwhile (the kernel holds the
 * directory's lock across READDIRPLUS, so it drops what one returned).
 */
static void
do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
    struct fuse_file_info *fi, int plus)
{
	struct mount *m = mount_of(req);
	struct dirh *d = (struct dirh *)fi->fh;
	uint32_t *taken = NULL, rec;	/* the lookups counted by this reply */
	size_t ntaken = 0, cap = 0, rem = size, len, nlen;
	uint64_t pos;
	const char *name;
	char *buf, *p, one[NAME_MAX + 1];
	int rc, attrs;

	/* Without attributes, entries have node id 0: the kernel makes no inode. */
	attrs = plus && want_attrs(m);
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
	ix_read(m);
	for (; offset < 2; offset++) {
		rec = offset == 0 ? d->rec : index_parent(&m->ix, d->rec);
		len = add_entry(req, m, p, rem, offset == 0 ? "." : "..", rec,
		    offset + 1, plus, 1);
		if (len > rem)
			goto full;
		p += len;
		rem -= len;
	}
	pos = (uint64_t)offset - 2;
	while (ntaken < cap || !attrs) {
		if (!index_dir_next(&m->ix, d->rec, &pos, &name, &nlen, &rec))
			break;
		memcpy(one, name, nlen);
		one[nlen] = '\0';
		len = add_entry(req, m, p, rem, one, rec, (off_t)pos + 2, plus,
		    !attrs);
		if (len > rem)
			break;	/* the next call resumes at this entry */
		if (attrs)
			taken[ntaken++] = rec;
		p += len;
		rem -= len;
	}
full:
	ix_done(m);
	rc = fuse_reply_buf(req, buf, size - rem);
	if (rc != 0 && ntaken > 0) {
		/* The kernel saw none of these entries: it will forget none. */
		log_debug("readdirplus reply not delivered (%s): %zu lookups "
		    "given back", strerror(-rc), ntaken);
		for (size_t i = 0; i < ntaken; i++)
			unuse(m, taken[i], 1);
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
	struct mount *m = mount_of(req);
	struct dirh *d = (struct dirh *)fi->fh;

	ix_read(m);
	index_dir_pin(&m->ix, d->rec, -1);
	ix_done(m);
	unuse(m, d->rec, 1);
	free(d);
	fuse_reply_err(req, 0);
}

static int
is_write(int flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

/* What an open needs of a record, read under ixlock. */
struct target {
	uint32_t rec;
	struct node_key key;
	int detached;
	char path[PATH_MAX];
};

/* Reads what opening rec needs, and counts the handle's use of rec. Positive errno. */
static int
get_target(struct mount *m, uint32_t rec, struct target *t)
{
	const struct index_rec *r;
	int err;

	ix_read(m);
	err = check_rec(m, rec);
	if (!err) {
		r = index_rec(&m->ix, rec);
		t->rec = rec;
		t->key.dev = m->ix.dev;
		t->key.ino = r->ino;
		t->detached = index_detached(&m->ix, rec);
		if (!S_ISREG(r->mode & S_IFMT))
			err = S_ISDIR(r->mode & S_IFMT) ? EISDIR : EINVAL;
		else if (!t->detached &&
		    index_path(&m->ix, rec, t->path, sizeof(t->path)) == -1)
			err = errno;
	}
	if (!err)
		index_use(&m->ix, rec, 1);
	ix_done(m);
	return err;
}

/*
 * Counts an open handle of t's file and says where to open it: kept
 * (the name of its kept old version) for a superseded file. An open
 * that arrived while generation seen was current, of a file a later
 * commit superseded, found it by a name that commit changed: ESTALE
 * makes the kernel look the name up again and open the new version.
 * Later opens of a superseded file that is kept (a program reading
 * /proc/self/exe, or reopening /proc/self/fd/N) mean that very file and
 * succeed; one that is not kept is gone. Positive errno.
 */
static int
node_opened(struct mount *m, const struct target *t, int flags,
    uint64_t seen, char *kept, struct node **np)
{
	struct node *n;
	int err = 0;

	kept[0] = '\0';
	pthread_mutex_lock(&m->nodes.lock);
	n = nodes_find(&m->nodes, t->key.dev, t->key.ino);
	if (__atomic_load_n(&m->failed, __ATOMIC_SEQ_CST))
		err = EIO;
	else if (n != NULL && n->superseded > seen)
		err = ESTALE;
	else if (t->detached && (n == NULL || n->renamed[0] == '\0'))
		err = ESTALE;
	else if (n == NULL && (n = nodes_get(&m->nodes, t->key.dev,
	    t->key.ino)) == NULL)
		err = ENOMEM;
	else {
		n->nopen++;
		if (is_write(flags))
			n->nwrite++;
		if (t->detached)
			snprintf(kept, sizeof(n->renamed), "%s", n->renamed);
		*np = n;
	}
	pthread_mutex_unlock(&m->nodes.lock);
	return err;
}

/* Opens t's file (or its kept old version) and checks it is that inode. -1 with errno. */
static int
open_target(struct mount *m, const struct target *t, const char *kept,
    int flags)
{
	struct stat st;
	int fd;

	/* openat2 refuses flags it does not know (the kernel's exec flag). */
	flags &= O_ACCMODE | O_APPEND | O_TRUNC | O_DIRECT | O_DSYNC | O_SYNC |
	    O_LARGEFILE | O_NOATIME | O_NONBLOCK;
	flags |= O_CLOEXEC;
	if (kept[0] != '\0')
		fd = openat(m->renamedfd, kept, flags | O_NOFOLLOW);
	else
		fd = open_beneath(m->st.rootfd, t->path, flags);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 || st.st_ino != t->key.ino ||
	    st.st_dev != t->key.dev) {
		/* An rw rename moved another file there meanwhile. */
		close(fd);
		errno = ESTALE;
		return -1;
	}
	return fd;
}

/* What an open file handle (fi->fh) points to. */
struct fileh {
	int fd;
	int write;
	uint32_t rec;		/* counted as a use while the handle lives */
	struct node *n;
};

static void
handle_closed(struct mount *m, struct node *n, uint32_t rec, int write)
{
	mount_node_closed(m, n, write);
	unuse(m, rec, 1);
}

static void
reply_opened(fuse_req_t req, struct mount *m, struct node *n, uint32_t rec,
    int fd, struct fuse_file_info *fi, const struct fuse_entry_param *e)
{
	struct fileh *h = malloc(sizeof(*h));

	if (h == NULL) {
		close(fd);
		handle_closed(m, n, rec, is_write(fi->flags));
		if (e != NULL)
			unuse(m, rec_of(e->ino), 1);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->fd = fd;
	h->write = is_write(fi->flags);
	h->rec = rec;
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
		handle_closed(m, n, rec, h->write);
		free(h);
	}
}

static void
mfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct mount *m = mount_of(req);
	char kept[sizeof(((struct node *)0)->renamed)];
	struct node *n = NULL;
	struct target t;
	uint64_t seen;
	int fd = -1, err;

	if (is_write(fi->flags) && !m->rw) {
		fuse_reply_err(req, EROFS);
		return;
	}
	seen = __atomic_load_n(&m->generation, __ATOMIC_SEQ_CST);
	pthread_rwlock_rdlock(&m->view);
	err = get_target(m, rec_of(ino), &t);
	if (!err && (err = node_opened(m, &t, fi->flags, seen, kept, &n)))
		unuse(m, t.rec, 1);
	/* Opened under view: a commit cannot change the name meanwhile. */
	if (!err && (fd = open_target(m, &t, kept, fi->flags)) == -1) {
		err = errno;
		handle_closed(m, n, t.rec, is_write(fi->flags));
	}
	pthread_rwlock_unlock(&m->view);
	if (err)
		fuse_reply_err(req, err);
	else
		reply_opened(req, m, n, t.rec, fd, fi, NULL);
}

static void
mfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fileh *h = (struct fileh *)fi->fh;

	close(h->fd);
	handle_closed(mount_of(req), h->n, h->rec, h->write);
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

/* The index takes what a write through an rw mount did to h's file. */
static void
written(struct mount *m, struct fileh *h)
{
	struct stat st;

	if (fstat(h->fd, &st) == -1) {
		log_warn("%s: a file written through the mount", m->store_path);
		return;
	}
	ix_write(m);
	if (index_valid(&m->ix, h->rec) &&
	    index_set_stat(&m->ix, h->rec, &st) == -1)
		log_warn("%s: indexing a written file", m->store_path);
	ix_done(m);
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
	if (n > 0)
		written(mount_of(req), h);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
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

	if (fstatvfs(mount_of(req)->st.rootfd, &sv) == -1)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

/* --- the rw operations: the store first, then the index ------------------------ */

/* A name's place in the store: its directory open, its path. */
struct place {
	int dirfd;		/* O_PATH; owned unless the top's */
	char path[PATH_MAX];	/* the name's path below the top */
	const char *name;	/* its last component, in path */
};

static void
place_release(struct mount *m, struct place *pl)
{
	if (pl->dirfd >= 0 && pl->dirfd != m->st.rootfd)
		close(pl->dirfd);
	pl->dirfd = -1;
}

/* Where name of directory parent is. Positive errno. */
static int
place_of(struct mount *m, fuse_ino_t parent, const char *name,
    struct place *pl)
{
	char dir[PATH_MAX];
	int err, n;

	pl->dirfd = -1;
	ix_read(m);
	err = check_rec(m, rec_of(parent));
	if (!err && index_path(&m->ix, rec_of(parent), dir, sizeof(dir)) == -1)
		err = errno;
	ix_done(m);
	if (err)
		return err;
	if (strcmp(dir, ".") == 0) {
		n = snprintf(pl->path, sizeof(pl->path), "%s", name);
		pl->dirfd = m->st.rootfd;
	} else {
		n = snprintf(pl->path, sizeof(pl->path), "%s/%s", dir, name);
		pl->dirfd = open_beneath(m->st.rootfd, dir, O_PATH | O_DIRECTORY);
		if (pl->dirfd == -1)
			return errno;
	}
	if (n < 0 || (size_t)n >= sizeof(pl->path)) {
		place_release(m, pl);
		return ENAMETOOLONG;
	}
	pl->name = pl->path + (size_t)n - strlen(name);
	return 0;
}

/* The index takes a change at pl (and at its directory). Logged. */
static void
changed_at(struct mount *m, const struct place *pl)
{
	mount_index_refresh(m, pl->path);
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
	else if (fuse_reply_entry(req, &e) != 0)
		unuse(m, rec_of(e.ino), 1);
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

/* The steps every name-making operation shares: checks, place, the op, the index. */
enum make_op { MAKE_DIR, MAKE_SYMLINK };

static void
make_name(fuse_req_t req, fuse_ino_t parent, const char *name, int op,
    mode_t mode, const char *link)
{
	struct mount *m = mount_of(req);
	struct place pl;
	int err, rc;

	pthread_rwlock_rdlock(&m->ns);
	err = may_change(m, parent, name);
	if (!err)
		err = place_of(m, parent, name, &pl);
	if (!err) {
		rc = op == MAKE_DIR ? mkdirat(pl.dirfd, pl.name, mode) :
		    symlinkat(link, pl.dirfd, pl.name);
		if (rc == -1 || own_as_caller(req, pl.dirfd, pl.name) == -1)
			err = errno;
		if (rc == 0)
			changed_at(m, &pl);
		place_release(m, &pl);
	}
	pthread_rwlock_unlock(&m->ns);
	reply_made(req, m, parent, name, err);
}

static void
mfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_name(req, parent, name, MAKE_DIR, mode, NULL);
}

static void
mfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
    const char *name)
{
	make_name(req, parent, name, MAKE_SYMLINK, 0, link);
}

/* The path of rec below the top (under no lock). Positive errno. */
static int
path_of_rec(struct mount *m, uint32_t rec, char *buf, size_t len)
{
	int err;

	ix_read(m);
	err = check_rec(m, rec);
	if (!err && index_path(&m->ix, rec, buf, len) == -1)
		err = errno;
	ix_done(m);
	return err;
}

static void
mfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
	struct mount *m = mount_of(req);
	char from[PATH_MAX];
	struct place pl;
	int err;

	pthread_rwlock_rdlock(&m->ns);
	err = may_change(m, parent, name);
	if (!err)
		err = path_of_rec(m, rec_of(ino), from, sizeof(from));
	if (!err && !(err = place_of(m, parent, name, &pl))) {
		if (linkat(m->st.rootfd, from, pl.dirfd, pl.name, 0) == -1)
			err = errno;
		else {
			/* The file first: it now has two links. */
			mount_index_refresh(m, from);
			changed_at(m, &pl);
		}
		place_release(m, &pl);
	}
	pthread_rwlock_unlock(&m->ns);
	reply_made(req, m, parent, name, err);
}

static void
mfs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
    struct fuse_file_info *fi)
{
	struct mount *m = mount_of(req);
	char kept[sizeof(((struct node *)0)->renamed)];
	struct fuse_entry_param e;
	struct node *n = NULL;
	struct target t;
	struct place pl;
	int fd = -1, err;

	pthread_rwlock_rdlock(&m->ns);
	err = may_change(m, parent, name);
	if (!err && !(err = place_of(m, parent, name, &pl))) {
		fd = openat(pl.dirfd, pl.name, (fi->flags | O_CREAT | O_NOFOLLOW |
		    O_CLOEXEC) & ~O_PATH, mode);
		if (fd == -1 || own_as_caller(req, pl.dirfd, pl.name) == -1)
			err = errno;
		if (fd != -1)
			changed_at(m, &pl);
		place_release(m, &pl);
	}
	if (!err)
		err = do_lookup(m, parent, name, &e);
	if (!err && (err = get_target(m, rec_of(e.ino), &t)) != 0)
		unuse(m, rec_of(e.ino), 1);
	if (!err && (err = node_opened(m, &t, fi->flags, UINT64_MAX, kept,
	    &n)) != 0) {
		unuse(m, t.rec, 1);
		unuse(m, rec_of(e.ino), 1);
	}
	pthread_rwlock_unlock(&m->ns);
	if (err) {
		if (fd != -1)
			close(fd);
		fuse_reply_err(req, err);
		return;
	}
	reply_opened(req, m, n, t.rec, fd, fi, &e);
}

static void
mfs_unlink_common(fuse_req_t req, fuse_ino_t parent, const char *name,
    int flags)
{
	struct mount *m = mount_of(req);
	struct place pl;
	int err;

	pthread_rwlock_rdlock(&m->ns);
	err = may_change(m, parent, name);
	if (!err && !(err = place_of(m, parent, name, &pl))) {
		if (unlinkat(pl.dirfd, pl.name, flags) == -1)
			err = errno;
		else
			changed_at(m, &pl);
		place_release(m, &pl);
	}
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

/* The index follows a rename the store made: same records, moved names. */
static void
renamed_in_index(struct mount *m, fuse_ino_t parent, const char *name,
    fuse_ino_t newparent, const char *newname, unsigned int flags,
    const struct place *from, const struct place *to)
{
	char dir[PATH_MAX];
	int rc;

	ix_write(m);
	rc = index_rename(&m->ix, rec_of(parent), name, rec_of(newparent),
	    newname, (flags & RENAME_EXCHANGE) != 0, NULL);
	ix_done(m);
	if (rc == -1)
		changed_at(m, from);	/* not indexed as it was: read both */
	changed_at(m, to);
	if (flags & RENAME_EXCHANGE)
		changed_at(m, from);
	/* The directories' times changed. */
	memcpy(dir, from->path, path_dirlen(from->path));
	dir[path_dirlen(from->path)] = '\0';
	mount_index_refresh(m, dir);
	memcpy(dir, to->path, path_dirlen(to->path));
	dir[path_dirlen(to->path)] = '\0';
	mount_index_refresh(m, dir);
}

static void
mfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
    fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct mount *m = mount_of(req);
	struct place from, to;
	int err;

	pthread_rwlock_rdlock(&m->ns);
	err = may_change(m, parent, name);
	if (!err)
		err = may_change(m, newparent, newname);
	if (!err && !(err = place_of(m, parent, name, &from))) {
		if (!(err = place_of(m, newparent, newname, &to))) {
			if (renameat2(from.dirfd, from.name, to.dirfd, to.name,
			    flags) == -1)
				err = errno;
			else
				renamed_in_index(m, parent, name, newparent,
				    newname, flags, &from, &to);
			place_release(m, &to);
		}
		place_release(m, &from);
	}
	pthread_rwlock_unlock(&m->ns);
	fuse_reply_err(req, err);
}

/* Sets what valid asks on fd (an open handle) or on name in dirfd. -1 with errno. */
static int
set_attrs(int fd, int dirfd, const char *name, const struct stat *attr,
    int valid)
{
	struct timespec ts[2];
	int rc = 0, wfd;

	if (valid & FUSE_SET_ATTR_MODE)
		rc = fd >= 0 ? fchmod(fd, attr->st_mode) :
		    fchmodat(dirfd, name, attr->st_mode, 0);
	if (rc == 0 && (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
		uid_t u = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t g = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;

		rc = fd >= 0 ? fchown(fd, u, g) :
		    fchownat(dirfd, name, u, g, AT_SYMLINK_NOFOLLOW);
	}
	if (rc == 0 && (valid & FUSE_SET_ATTR_SIZE)) {
		wfd = fd >= 0 ? fd : openat(dirfd, name, O_WRONLY | O_NOFOLLOW |
		    O_CLOEXEC);
		rc = wfd == -1 ? -1 : ftruncate(wfd, attr->st_size);
		if (wfd >= 0 && wfd != fd)
			close(wfd);
	}
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
		rc = fd >= 0 ? futimens(fd, ts) :
		    utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
	}
	return rc;
}

/*
 * Where record rec is: its path (in path), and its directory open in
 * pl->dirfd with its name in *name (the top: the top and "."). Positive
 * errno.
 */
static int
place_of_rec(struct mount *m, uint32_t rec, char *path, size_t len,
    struct place *pl, const char **name)
{
	size_t dl;
	int err;

	pl->dirfd = -1;
	if ((err = path_of_rec(m, rec, path, len)) != 0)
		return err;
	if (strcmp(path, ".") == 0) {
		pl->dirfd = m->st.rootfd;
		*name = ".";
		return 0;
	}
	dl = path_dirlen(path);
	snprintf(pl->path, sizeof(pl->path), "%.*s", (int)dl, path);
	pl->dirfd = dl == 0 ? m->st.rootfd : open_beneath(m->st.rootfd,
	    pl->path, O_PATH | O_DIRECTORY);
	*name = path + dl + (dl > 0);
	return pl->dirfd == -1 ? errno : 0;
}

static void
mfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
    struct fuse_file_info *fi)
{
	struct mount *m = mount_of(req);
	struct fileh *h = fi ? (struct fileh *)fi->fh : NULL;
	char path[PATH_MAX];
	struct place pl = { .dirfd = -1 };
	const char *name;
	int err;

	if (!m->rw) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (h != NULL) {
		err = set_attrs(h->fd, -1, NULL, attr, valid) == -1 ? errno : 0;
		if (!err)
			written(m, h);
	} else if (!(err = place_of_rec(m, rec_of(ino), path, sizeof(path),
	    &pl, &name))) {
		if (set_attrs(-1, pl.dirfd, name, attr, valid) == -1)
			err = errno;
		else
			mount_index_refresh(m, path);
	}
	place_release(m, &pl);
	if (err)
		fuse_reply_err(req, err);
	else
		mfs_getattr(req, ino, fi);
}

/*
 * setxattr (value not NULL) or removexattr through an rw mount, on the
 * store's file (reached as /proc/self/fd/DIR/NAME, never following NAME),
 * then in the index.
 */
static void
change_xattr(fuse_req_t req, fuse_ino_t ino, const char *xname,
    const char *value, size_t size, int flags)
{
	struct mount *m = mount_of(req);
	char path[PATH_MAX], proc[PATH_MAX + 64];
	struct place pl = { .dirfd = -1 };
	const char *name;
	int err, top, rc;

	if (!m->rw) {
		fuse_reply_err(req, EROFS);
		return;
	}
	err = place_of_rec(m, rec_of(ino), path, sizeof(path), &pl, &name);
	if (!err) {
		top = strcmp(path, ".") == 0;
		if (top)
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pl.dirfd);
		else
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s",
			    pl.dirfd, name);
		if (value != NULL)
			rc = top ? setxattr(proc, xname, value, size, flags) :
			    lsetxattr(proc, xname, value, size, flags);
		else
			rc = top ? removexattr(proc, xname) :
			    lremovexattr(proc, xname);
		if (rc == -1)
			err = errno == ENOTSUP ? EOPNOTSUPP : errno;
		else
			mount_index_refresh(m, path);
	}
	place_release(m, &pl);
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

/* --- extended attributes, from the index --------------------------------------- */

/*
 * The index holds every file's extended attributes as the store has
 * them (read when the index was built, and after each change), so these
 * answer without a system call into the store, whatever wrote them.
 */
/*
 * Answers an xattr request from the index: name NULL lists the names,
 * else reads that one's value; size 0 asks only for the length.
 */
static void
reply_xattr_index(fuse_req_t req, fuse_ino_t ino, const char *name,
    size_t size)
{
	struct mount *m = mount_of(req);
	char *buf = size ? malloc(size) : NULL;
	ssize_t n = -1;
	int err;

	ix_read(m);
	err = size && buf == NULL ? ENOMEM : check_rec(m, rec_of(ino));
	if (!err)
		n = name ? index_getxattr(&m->ix, rec_of(ino), name, buf, size) :
		    index_listxattr(&m->ix, rec_of(ino), buf, size);
	if (!err && n == -1)
		err = errno;
	ix_done(m);
	if (err)
		fuse_reply_err(req, err);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void
mfs_getxattr_index(fuse_req_t req, fuse_ino_t ino, const char *name,
    size_t size)
{
	reply_xattr_index(req, ino, name, size);
}

static void
mfs_listxattr_index(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	reply_xattr_index(req, ino, NULL, size);
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
	/*
	 * No flush: nothing is buffered here, and the kernel stops sending
	 * FLUSH at every close once it was told ENOSYS (a round trip less
	 * per file a program opens).
	 */
	.fsync = mfs_fsync,
	.statfs = mfs_statfs,
	.mkdir = mfs_mkdir,
	.symlink = mfs_symlink,
	.link = mfs_link,
	.unlink = mfs_unlink,
	.rmdir = mfs_rmdir,
	.rename = mfs_rename,
	.getxattr = mfs_getxattr_index,
	.listxattr = mfs_listxattr_index,
	.setxattr = mfs_setxattr,
	.removexattr = mfs_removexattr,
};
