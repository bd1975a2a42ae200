/* manifest: the list of entries of a file set, and the scan that builds it. */
#include "manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "path.h"
#include "xattr.h"

void
manifest_init(struct manifest *m)
{
	memset(m, 0, sizeof(*m));
}

void
entry_release(struct entry *e)
{
	free(e->path);
	free(e->target);
	free(e->xattrs);
	e->path = e->target = NULL;
	e->xattrs = NULL;
	e->xattrs_len = 0;
}

/* A chunk of the paths of a manifest's entries. */
struct manifest_chunk {
	struct manifest_chunk *next;
	size_t used;
	size_t cap;
	size_t last;		/* the last entry whose path is here */
	char data[];
};

/*
 * Mapped on its own (not malloc's heap), so that freeing one below the
 * released window gives its memory back at once; its pages cost memory
 * as paths come.
 */
#define CHUNK_BYTES (256u * 1024)

static void
chunk_free(struct manifest_chunk *c)
{
	munmap(c, sizeof(*c) + c->cap);
}

/* A copy of path in m's chunks, or NULL (ENOMEM). */
static char *
paths_copy(struct manifest *m, const char *path)
{
	size_t len = strlen(path) + 1, cap;
	struct manifest_chunk *c = m->paths;
	char *at;

	if (c == NULL || c->cap - c->used < len) {
		cap = len > CHUNK_BYTES - sizeof(*c) ? len : CHUNK_BYTES - sizeof(*c);
		c = mmap(NULL, sizeof(*c) + cap, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (c == MAP_FAILED)
			return NULL;
		c->next = m->paths;
		c->used = 0;
		c->cap = cap;
		m->paths = c;
	}
	at = c->data + c->used;
	memcpy(at, path, len);
	c->used += len;
	c->last = m->n;
	return at;
}

static void
paths_free(struct manifest *m)
{
	struct manifest_chunk *c, *next;

	for (c = m->paths; c != NULL; c = next) {
		next = c->next;
		chunk_free(c);
	}
	m->paths = NULL;
}

/* Frees the entries (their paths are m's chunks), unless borrowed. */
static void
release_entries(struct manifest *m)
{
	if (m->borrowed)
		return;
	for (size_t i = m->base; i < m->n; i++) {
		m->v[i].path = NULL;
		entry_release(&m->v[i]);
	}
	paths_free(m);
}

void
manifest_release(struct manifest *m)
{
	release_entries(m);
	entry_release(&m->top);
	if (m->mapped)
		munmap(m->v, m->cap * sizeof(*m->v));
	else if (!m->borrowed)
		free(m->v);
	manifest_init(m);
}

int
manifest_reserve(struct manifest *m, size_t max)
{
	void *v;

	if (m->v != NULL || max == 0) {
		errno = EINVAL;
		return -1;
	}
	/* Address space only: a page costs memory once an entry is in it. */
	v = mmap(NULL, max * sizeof(*m->v), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (v == MAP_FAILED)
		return -1;
	m->v = v;
	m->cap = max;
	m->mapped = 1;
	return 0;
}

void
manifest_reset(struct manifest *m)
{
	release_entries(m);
	entry_release(&m->top);
	m->n = 0;
	/* Released pages stay unreadable: the entries never come back. */
	if (m->base > 0)
		m->n = m->base;
}

void
manifest_borrow(struct manifest *m, const struct manifest *from)
{
	manifest_init(m);
	m->v = from->v;
	m->borrowed = 1;
}

void
manifest_borrow_next(struct manifest *m)
{
	m->n++;
}

int
manifest_push(struct manifest *m, struct entry *e)
{
	struct entry *v;
	size_t cap;
	char *path;

	if (m->borrowed || m->n == m->cap) {
		if (m->mapped || m->borrowed) {
			/* Reserved entries never move: full. A view: never. */
			entry_release(e);
			errno = m->borrowed ? EINVAL : ENOMEM;
			return -1;
		}
		cap = m->cap ? m->cap * 2 : 1024;
		v = realloc(m->v, cap * sizeof(*v));
		if (v == NULL) {
			entry_release(e);
			return -1;
		}
		m->v = v;
		m->cap = cap;
	}
	if ((path = paths_copy(m, e->path)) == NULL) {
		entry_release(e);
		errno = ENOMEM;
		return -1;
	}
	free(e->path);
	e->path = path;
	m->v[m->n++] = *e;
	return 0;
}

void
manifest_release_below(struct manifest *m, size_t mark)
{
	struct manifest_chunk **at, *c;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t from, to;

	if (!m->mapped || m->borrowed || mark <= m->base)
		return;
	if (mark > m->n)
		mark = m->n;
	for (size_t i = m->base; i < mark; i++) {
		m->v[i].path = NULL;	/* in a chunk */
		entry_release(&m->v[i]);
	}
	m->base = mark;
	/* The chunks, newest first: those wholly below the mark are the last. */
	for (at = &m->paths; *at != NULL && (*at)->last >= mark;
	    at = &(*at)->next)
		;
	while ((c = *at) != NULL) {
		*at = c->next;
		chunk_free(c);
	}
	/*
	 * The whole pages below the mark: given back, and unreadable, so
	 * that a reader we missed crashes instead of reading zeros.
	 */
	from = (uintptr_t)m->v + m->released;
	to = ((uintptr_t)(m->v + mark)) & ~(uintptr_t)(page - 1);
	if (to > from) {
		madvise((void *)from, to - from, MADV_DONTNEED);
		mprotect((void *)from, to - from, PROT_NONE);
		m->released = to - (uintptr_t)m->v;
	}
}

long
manifest_find(const struct manifest *m, const char *path)
{
	size_t lo = m->base, hi = m->n, mid;
	int c;

	/* The entries are in path_order: a binary search, no index to keep. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = path_order(m->v[mid].path, path);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

void
entry_set_stat(struct entry *e, const struct stat *st)
{
	e->mode = st->st_mode & 07777;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->size = S_ISREG(st->st_mode) || S_ISLNK(st->st_mode) ?
	    (uint64_t)st->st_size : 0;
	e->mtime_sec = st->st_mtim.tv_sec;
	e->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
		e->rdev_major = major(st->st_rdev);
		e->rdev_minor = minor(st->st_rdev);
	}
}

int
entry_type_of(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return ENTRY_REG;
	case S_IFDIR: return ENTRY_DIR;
	case S_IFLNK: return ENTRY_LNK;
	case S_IFIFO: return ENTRY_FIFO;
	case S_IFSOCK: return ENTRY_SOCK;
	case S_IFCHR: return ENTRY_CHR;
	case S_IFBLK: return ENTRY_BLK;
	}
	return 0;
}

mode_t
entry_mode_type(int type)
{
	switch (type) {
	case ENTRY_REG:
	case ENTRY_HARDLINK: return S_IFREG;
	case ENTRY_DIR: return S_IFDIR;
	case ENTRY_LNK: return S_IFLNK;
	case ENTRY_FIFO: return S_IFIFO;
	case ENTRY_SOCK: return S_IFSOCK;
	case ENTRY_CHR: return S_IFCHR;
	case ENTRY_BLK: return S_IFBLK;
	}
	return 0;
}

const char *
entry_type_name(int type)
{
	switch (type) {
	case ENTRY_REG: return "file";
	case ENTRY_DIR: return "directory";
	case ENTRY_LNK: return "symlink";
	case ENTRY_HARDLINK: return "file";
	case ENTRY_GONE: return "removed entry";
	case ENTRY_FIFO: return "fifo";
	case ENTRY_SOCK: return "socket";
	case ENTRY_CHR: return "character device";
	case ENTRY_BLK: return "block device";
	}
	return "special file";
}

/*
 * The first name of each multiply linked file, kept for its later names:
 * in blocks that never move, since the table points at their keys. Only
 * files with st_nlink > 1 take a place (a walk that keeps no entries
 * has no other way to name the first).
 */
#define INODE_BLOCK 1024
struct inode_key {
	dev_t dev;
	ino_t ino;
};
struct inode_rec {
	struct inode_key key;
	uint32_t index;		/* the first name's entry */
	char *path;		/* and its path, owned */
};

/* State shared by one walk. */
struct scan {
	struct manifest *m;
	const struct filter *filter;
	unsigned what;		/* MANIFEST_SCAN_* */
	unsigned ns;		/* the attribute namespaces to read (xattr.h) */
	struct result *res;
	struct htab inodes;	/* (dev, ino) of multiply linked files -> rec */
	struct inode_rec **blocks;	/* INODE_BLOCK records each */
	size_t nblocks;
	size_t nkeys;
	size_t n;		/* entries found so far: the next one's index */
	manifest_emit_fn *emit;	/* called with each entry found */
	void *emit_arg;
	int stopped;		/* emit said stop (and logged why) */
};

static int scan_dir(struct scan *s, int dirfd, const char *rel);
static int scan_found(struct scan *s, int dirfd, const char *name,
    struct entry *e);

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads and sorts the names of an open directory; *names is owned by the caller. */
static int
scan_names(int dirfd, char ***names, size_t *n)
{
	DIR *d;
	struct dirent *de;
	char **v = NULL, **nv;
	size_t cnt = 0, cap = 0;
	int fd, rc = -1;

	fd = dup(dirfd);
	if (fd == -1)
		return -1;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 32;
			nv = realloc(v, cap * sizeof(*v));
			if (nv == NULL)
				goto out;
			v = nv;
		}
		v[cnt] = strdup(de->d_name);
		if (v[cnt] == NULL)
			goto out;
		cnt++;
	}
	if (errno != 0)
		goto out;
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), name_cmp);
	rc = 0;
out:
	if (rc == -1) {
		int saved = errno;

		for (size_t i = 0; i < cnt; i++)
			free(v[i]);
		free(v);
		v = NULL;
		cnt = 0;
		errno = saved;
	}
	closedir(d);
	*names = v;
	*n = cnt;
	return rc;
}

/* The record of the k-th multiply linked inode. */
static struct inode_rec *
inode_rec(const struct scan *s, size_t k)
{
	return &s->blocks[k / INODE_BLOCK][k % INODE_BLOCK];
}

/* Records a hard link to an earlier entry, or remembers this inode. */
static int
scan_hardlink(struct scan *s, struct entry *e, const struct stat *st)
{
	struct inode_rec *r, **nb;
	size_t k;

	if (s->nkeys / INODE_BLOCK == s->nblocks) {
		nb = realloc(s->blocks, (s->nblocks + 1) * sizeof(*nb));
		if (nb == NULL)
			return -1;
		s->blocks = nb;
		if ((nb[s->nblocks] = calloc(INODE_BLOCK, sizeof(**nb))) ==
		    NULL)
			return -1;
		s->nblocks++;
	}
	r = inode_rec(s, s->nkeys);
	r->key.dev = st->st_dev;
	r->key.ino = st->st_ino;
	if (htab_get(&s->inodes, &r->key, sizeof(r->key), &k)) {
		e->type = ENTRY_HARDLINK;
		e->link_index = inode_rec(s, k)->index;
		e->target = strdup(inode_rec(s, k)->path);
		return e->target ? 0 : -1;
	}
	if ((r->path = strdup(e->path)) == NULL)
		return -1;
	e->linked = 1;
	r->index = (uint32_t)s->n;
	if (htab_put(&s->inodes, &r->key, sizeof(r->key), s->nkeys) == -1) {
		free(r->path);
		r->path = NULL;
		return -1;
	}
	s->nkeys++;
	return 0;
}

/* Frees what a walk kept (the manifest is the caller's). */
static void
scan_end(struct scan *s)
{
	htab_release(&s->inodes);
	for (size_t k = 0; k < s->nkeys; k++)
		free(inode_rec(s, k)->path);
	for (size_t b = 0; b < s->nblocks; b++)
		free(s->blocks[b]);
	free(s->blocks);
	s->blocks = NULL;
	s->nblocks = s->nkeys = 0;
}

static char *
join(const char *rel, const char *name)
{
	char *p;

	if (*rel == '\0')
		return strdup(name);
	if (asprintf(&p, "%s/%s", rel, name) == -1)
		return NULL;
	return p;
}

/* Reports why e's attributes could not be read (errno). Returns -1. */
static int
xattrs_failed(struct scan *s, const struct entry *e)
{
	int saved = errno;

	if (saved == E2BIG)
		result_addf(s->res, ITEM_FAIL, e->path, e->type == ENTRY_DIR,
		    "extended attributes over %u bytes (or one value over "
		    "%u)", XATTR_MAX_ENTRY, XATTR_MAX_VALUE);
	else
		result_addf(s->res, saved == ENOENT ? ITEM_VANISHED :
		    ITEM_FAIL, e->path, e->type == ENTRY_DIR,
		    "read extended attributes: %s", strerror(saved));
	errno = saved;
	return -1;
}

/*
 * Reads the attributes of e (fd: a descriptor of it) when the walk
 * carries them. 0, or -1 with the entry reported as failed.
 */
static int
scan_xattrs(struct scan *s, int fd, struct entry *e)
{
	if (s->ns == 0 || e->type == ENTRY_HARDLINK ||
	    xattr_read_fd(fd, s->ns, &e->xattrs, &e->xattrs_len) == 0)
		return 0;
	return xattrs_failed(s, e);
}

/* scan_xattrs of name in dirfd, without opening it. */
static int
scan_xattrs_at(struct scan *s, int dirfd, const char *name, struct entry *e)
{
	if (s->ns == 0 || e->type == ENTRY_HARDLINK ||
	    xattr_read_at(dirfd, name, s->ns, &e->xattrs, &e->xattrs_len) == 0)
		return 0;
	return xattrs_failed(s, e);
}

/* Adds one directory entry; descends into directories. */
static int
scan_one(struct scan *s, int dirfd, const char *rel, const char *name)
{
	struct entry e;
	struct stat st;
	char *path, linkbuf[PATH_MAX];
	ssize_t n;
	int fd, type;

	memset(&e, 0, sizeof(e));
	path = join(rel, name);
	if (path == NULL)
		return -1;
	e.path = path;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno == ENOENT) {
			free(path);
			return 0;	/* vanished since readdir: not an error */
		}
		result_addf(s->res, ITEM_FAIL, path, 0, "stat: %s",
		    strerror(errno));
		free(path);
		return 0;
	}
	type = entry_type_of(st.st_mode);
	if (*rel == '\0' && path_is_meta(path) && type == ENTRY_DIR &&
	    (s->what & MANIFEST_SCAN_STORE)) {
		free(path);
		return 0;
	}
	if (*rel == '\0' && path_is_meta(path)) {
		result_add(s->res, ITEM_SKIP, path, type == ENTRY_DIR,
		    "reserved name (" PATH_META " holds the store's metadata)");
		free(path);
		return 0;
	}
	if (filter_excluded(s->filter, path, type == ENTRY_DIR)) {
		free(path);
		return 0;
	}
	if (type == 0) {
		result_add(s->res, ITEM_SKIP, path, 0,
		    "file of an unknown type not mirrored");
		free(path);
		return 0;
	}
	e.type = type;
	entry_set_stat(&e, &st);
	if (type == ENTRY_LNK) {
		n = readlinkat(dirfd, name, linkbuf, sizeof(linkbuf) - 1);
		if (n == -1) {
			result_addf(s->res, ITEM_FAIL, path, 0, "readlink: %s",
			    strerror(errno));
			free(path);
			return 0;
		}
		linkbuf[n] = '\0';
		e.target = strdup(linkbuf);
		if (e.target == NULL)
			goto nomem;
	}
	if (type == ENTRY_REG && st.st_nlink > 1 && scan_hardlink(s, &e, &st) == -1)
		goto nomem;
	if (scan_xattrs_at(s, dirfd, name, &e) == -1) {
		if (errno == ENOMEM)
			goto nomem;
		entry_release(&e);
		return 0;
	}
	if (e.type == ENTRY_REG && (s->what & MANIFEST_SCAN_HASH)) {
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1 || hash_fd(fd, e.hash) == -1) {
			result_addf(s->res, errno == ENOENT ? ITEM_VANISHED :
			    ITEM_FAIL, path, 0, "read: %s", strerror(errno));
			if (fd != -1)
				close(fd);
			entry_release(&e);
			return 0;
		}
		close(fd);
		e.has_hash = 1;
	}
	return scan_found(s, dirfd, name, &e);
nomem:
	entry_release(&e);
	return -1;
}

/*
 * Hands the entry e (its strings taken) on, kept in the manifest unless
 * the walk streams, and walks into it when it is a directory.
 */
static int
scan_found(struct scan *s, int dirfd, const char *name, struct entry *e)
{
	const struct entry *out = e;
	int fd, rc = 0;

	if (!(s->what & MANIFEST_SCAN_STREAM)) {
		if (manifest_push(s->m, e) == -1)
			return -1;
		out = &s->m->v[s->m->n - 1];	/* does not move */
	}
	s->n++;
	if (s->emit != NULL && s->emit(s->emit_arg, out) == -1) {
		s->stopped = 1;
		rc = -1;
		goto out;
	}
	if (out->type != ENTRY_DIR)
		goto out;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		result_addf(s->res, ITEM_FAIL, out->path, 1,
		    "open directory: %s", strerror(errno));
		goto out;
	}
	rc = scan_dir(s, fd, out->path);
	close(fd);
out:
	if (s->what & MANIFEST_SCAN_STREAM)
		entry_release(e);
	return rc;
}

static int
scan_dir(struct scan *s, int dirfd, const char *rel)
{
	char **names;
	size_t n, i;
	char *relcopy;
	int rc = 0;

	if (scan_names(dirfd, &names, &n) == -1) {
		if (errno == ENOMEM)
			return -1;
		result_addf(s->res, ITEM_FAIL, *rel ? rel : ".", 1,
		    "read directory: %s", strerror(errno));
		return 0;
	}
	/* rel points into the manifest, which may be reallocated. */
	relcopy = strdup(rel);
	if (relcopy == NULL)
		rc = -1;
	for (i = 0; i < n; i++) {
		if (rc == 0 && scan_one(s, dirfd, relcopy, names[i]) == -1)
			rc = -1;
		free(names[i]);
	}
	free(names);
	free(relcopy);
	return rc;
}

/* Sets up a walk of the tree under rootfd and records the top's attributes. */
static int
scan_begin(struct scan *s, struct manifest *m, int rootfd, const char *rootname,
    const struct filter *filter, unsigned what, struct result *res)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	s->m = m;
	s->filter = filter;
	s->what = what;
	s->ns = ((what & MANIFEST_SCAN_XATTRS) ? XATTR_NS_XATTRS : 0) |
	    ((what & MANIFEST_SCAN_ACLS) ? XATTR_NS_ACL : 0);
	s->res = res;
	htab_init(&s->inodes);
	if (fstat(rootfd, &st) == -1) {
		log_err("%s", rootname);
		return -1;
	}
	m->top.type = ENTRY_DIR;
	entry_set_stat(&m->top, &st);
	if (s->ns != 0 && xattr_read_fd(rootfd, s->ns, &m->top.xattrs,
	    &m->top.xattrs_len) == -1) {
		log_err("%s: reading its extended attributes", rootname);
		return -1;
	}
	return 0;
}

int
manifest_scan(struct manifest *m, int rootfd, const char *rootname,
    const struct filter *filter, unsigned what, struct result *res)
{
	return manifest_scan_emit(m, rootfd, rootname, filter, what, res,
	    NULL, NULL);
}

int
manifest_scan_emit(struct manifest *m, int rootfd, const char *rootname,
    const struct filter *filter, unsigned what, struct result *res,
    manifest_emit_fn *emit, void *arg)
{
	struct scan s;
	int rc = -1;

	if (scan_begin(&s, m, rootfd, rootname, filter, what, res) == -1)
		goto out;
	s.emit = emit;
	s.emit_arg = arg;
	if (scan_dir(&s, rootfd, "") == -1) {
		if (!s.stopped)
			log_err("scanning %s", rootname);
		goto out;
	}
	rc = 0;
out:
	scan_end(&s);
	return rc;
}

static int
order_cmp(const void *a, const void *b)
{
	return path_order(*(char *const *)a, *(char *const *)b);
}

/* Adds the entry of path (its own, not its contents); GONE when absent. */
static int
scan_path(struct scan *s, int rootfd, const char *path, int *several)
{
	struct entry e;
	struct stat st;
	char linkbuf[PATH_MAX];
	const char *why;
	ssize_t n;
	int fd, type;

	memset(&e, 0, sizeof(e));
	if (path_check(path, &why) == -1 || path_is_meta(path))
		return 0;
	fd = open_beneath(rootfd, path, O_PATH);
	if (fd == -1 || fstat(fd, &st) == -1) {
		if (fd != -1)
			close(fd);
		if (errno != ENOENT && errno != ELOOP && errno != ENOTDIR)
			return 0;	/* reported by the next full session */
		e.type = ENTRY_GONE;
		e.path = strdup(path);
		return e.path && manifest_push(s->m, &e) == 0 ? 0 : -1;
	}
	type = entry_type_of(st.st_mode);
	if (type == 0 || filter_excluded(s->filter, path, type == ENTRY_DIR)) {
		close(fd);
		return 0;
	}
	if (type == ENTRY_REG && st.st_nlink > 1)
		*several = 1;
	e.type = type;
	entry_set_stat(&e, &st);
	e.path = strdup(path);
	if (e.path == NULL)
		goto nomem;
	if (type == ENTRY_LNK) {
		n = readlinkat(fd, "", linkbuf, sizeof(linkbuf) - 1);
		if (n == -1) {
			close(fd);
			entry_release(&e);
			return 0;
		}
		linkbuf[n] = '\0';
		e.target = strdup(linkbuf);
		if (e.target == NULL)
			goto nomem;
	}
	if (scan_xattrs(s, fd, &e) == -1) {
		if (errno == ENOMEM)
			goto nomem;
		close(fd);
		entry_release(&e);
		return 0;
	}
	if (type == ENTRY_REG && (s->what & MANIFEST_SCAN_HASH)) {
		int rfd = open_beneath(rootfd, path, O_RDONLY);

		if (rfd == -1 || hash_fd(rfd, e.hash) == -1) {
			if (rfd != -1)
				close(rfd);
			close(fd);
			entry_release(&e);
			return 0;
		}
		close(rfd);
		e.has_hash = 1;
	}
	close(fd);
	return manifest_push(s->m, &e);
nomem:
	close(fd);
	entry_release(&e);
	return -1;
}

/* Is a directory above path gone? (s->inodes holds the gone paths here.) */
static int
below_gone(const struct scan *s, const char *path)
{
	size_t v;

	for (const char *p = strchr(path, '/'); p != NULL; p = strchr(p + 1, '/'))
		if (htab_get(&s->inodes, path, (size_t)(p - path), &v))
			return 1;
	return 0;
}

/* Is path, or a directory above it, excluded? */
static int
excluded_anywhere(const struct filter *f, const char *path)
{
	char prefix[PATH_MAX];
	const char *p;

	for (p = strchr(path, '/'); p != NULL; p = strchr(p + 1, '/')) {
		memcpy(prefix, path, (size_t)(p - path));
		prefix[p - path] = '\0';
		if (filter_excluded(f, prefix, 1))
			return 1;
	}
	return 0;
}

int
manifest_scan_paths(struct manifest *m, int rootfd, const char *rootname,
    const char *const *paths, size_t npaths, const struct filter *filter,
    unsigned what, struct result *res)
{
	struct scan s;
	char **all = NULL, *dir;
	size_t n = 0, cap = 0;
	int several = 0, rc = -1;

	if (scan_begin(&s, m, rootfd, rootname, filter, what, res) == -1)
		return -1;
	/* Every path and every directory above it, once, parents first. */
	for (size_t i = 0; i < npaths; i++) {
		if (excluded_anywhere(filter, paths[i]))
			continue;
		for (const char *p = paths[i]; p != NULL; ) {
			const char *slash = strchr(p, '/');
			size_t len = slash ? (size_t)(slash - paths[i]) :
			    strlen(paths[i]);

			if (n == cap) {
				char **v = realloc(all, (cap = cap ? cap * 2 :
				    64) * sizeof(*v));

				if (v == NULL)
					goto out;
				all = v;
			}
			dir = strndup(paths[i], len);
			if (dir == NULL)
				goto out;
			all[n++] = dir;
			p = slash ? slash + 1 : NULL;
		}
	}
	/* The order of a whole walk, which the receiver holds us to. */
	if (n > 1)
		qsort(all, n, sizeof(*all), order_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(all[i], all[i - 1]) == 0)
			continue;
		if (below_gone(&s, all[i]))
			continue;	/* removing its directory removes it */
		if (scan_path(&s, rootfd, all[i], &several) == -1)
			goto out;
		if (s.m->n > 0 && s.m->v[s.m->n - 1].type == ENTRY_GONE &&
		    strcmp(s.m->v[s.m->n - 1].path, all[i]) == 0 &&
		    htab_put(&s.inodes, s.m->v[s.m->n - 1].path,
		    strlen(all[i]), 0) == -1)
			goto out;
	}
	rc = several ? 1 : 0;
out:
	if (rc == -1)
		log_err("scanning the changes of %s", rootname);
	for (size_t i = 0; i < n; i++)
		free(all[i]);
	free(all);
	scan_end(&s);
	return rc;
}
