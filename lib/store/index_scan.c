/* index_scan: the index filled and kept current from the store's tree (lstat, readlink, xattrs). */
#include "index.h"
#include "index_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "path.h"

#define MAX_DEPTH (PATH_MAX / 2)	/* "a/" per level */

/* Where the walk is, for messages: the store and the path below it. */
struct walk {
	struct index *ix;
	const char *top;	/* the store's path */
	char path[PATH_MAX];	/* relative path of the directory scanned */
	size_t len;
	struct buf blob;	/* scratch for xattrs */
	char *list;		/* scratch for xattr names */
	size_t listcap;
	uint64_t dirs, files;
};

/*
 * The extended attributes of name in dirfd (name NULL: dirfd itself),
 * as an index blob in w->blob (empty when none). The *at system calls of
 * xattrs are new (Linux 6.13), so the file is reached as
 * /proc/self/fd/N/NAME, which never follows NAME if it is a symlink.
 * -1 with errno.
 */
static int
read_xattrs(struct walk *w, int dirfd, const char *name)
{
	char path[PATH_MAX + 64], value[65536];
	ssize_t n, v;
	uint32_t vlen;

	buf_reset(&w->blob);
	if (name == NULL)
		snprintf(path, sizeof(path), "/proc/self/fd/%d", dirfd);
	else
		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
	for (int tries = 0;; tries++) {
		n = name ? llistxattr(path, w->list, w->listcap) :
		    listxattr(path, w->list, w->listcap);
		if (n == -1 && (errno == ENOTSUP || errno == ENOENT))
			return 0;	/* none here, or gone meanwhile */
		if (n == -1 && (errno != ERANGE || tries > 4))
			return -1;
		/* With no room given, n is only the size needed. */
		if (n == 0 || (n > 0 && w->listcap > 0))
			break;
		if (n == -1 && (n = name ? llistxattr(path, NULL, 0) :
		    listxattr(path, NULL, 0)) <= 0)
			return n == -1 ? -1 : 0;
		free(w->list);
		w->listcap = 0;
		if ((w->list = malloc((size_t)n)) == NULL)
			return -1;
		w->listcap = (size_t)n;
	}
	for (ssize_t at = 0; at < n; at += (ssize_t)strlen(w->list + at) + 1) {
		const char *x = w->list + at;

		v = name ? lgetxattr(path, x, value, sizeof(value)) :
		    getxattr(path, x, value, sizeof(value));
		/*
		 * Removed meanwhile, or one this process may not read (not
		 * root): the mount could not have read it either.
		 */
		if (v == -1 && (errno == ENODATA || errno == EACCES ||
		    errno == EPERM))
			continue;
		if (v == -1)
			return -1;
		vlen = (uint32_t)v;
		if (buf_put(&w->blob, x, strlen(x) + 1) == -1 ||
		    buf_put(&w->blob, &vlen, sizeof(vlen)) == -1 ||
		    buf_put(&w->blob, value, (size_t)v) == -1)
			return -1;
	}
	return 0;
}

/* Appends name to w->path (the walk goes down); returns the old length. */
static size_t
walk_down(struct walk *w, const char *name)
{
	size_t old = w->len;
	int n;

	n = snprintf(w->path + w->len, sizeof(w->path) - w->len, "%s%s",
	    w->len ? "/" : "", name);
	if (n > 0)
		w->len = w->len + (size_t)n < sizeof(w->path) ? w->len +
		    (size_t)n : sizeof(w->path) - 1;
	return old;
}

static void
walk_up(struct walk *w, size_t old)
{
	w->len = old;
	w->path[old] = '\0';
}

/* Logs a failure at name in the directory being walked (errno kept). */
static void
walk_err(const struct walk *w, const char *name, const char *what)
{
	int saved = errno;

	log_err("%s/%s%s%s: %s", w->top, w->path, w->len ? "/" : "",
	    name ? name : "", what);
	errno = saved;
}

/* Reads what a new record needs besides its stat: target, xattrs. -1 logged. */
static int
fill_rec(struct walk *w, uint32_t rec, int dirfd, const char *name,
    const struct stat *st)
{
	char target[PATH_MAX];
	ssize_t n;

	if (S_ISLNK(st->st_mode)) {
		n = readlinkat(dirfd, name, target, sizeof(target) - 1);
		if (n == -1) {
			walk_err(w, name, "readlink");
			return -1;
		}
		target[n] = '\0';
		if (ix_set_target(w->ix, rec, target) == -1)
			goto nomem;
	}
	if (read_xattrs(w, dirfd, name) == -1) {
		walk_err(w, name, "reading extended attributes");
		return -1;
	}
	if (ix_set_xattrs(w->ix, rec, w->blob.data, (uint32_t)w->blob.len) == -1)
		goto nomem;
	return 0;
nomem:
	walk_err(w, name, "indexing");
	return -1;
}

static int scan_dir(struct walk *w, int fd, uint32_t dir, int depth);

/*
 * Indexes name (stat st) of directory dir, open as dirfd: a hard link
 * to a file already indexed joins its record; a directory is scanned
 * with everything in it. The record, or INDEX_NONE (logged).
 */
static uint32_t
add_entry(struct walk *w, int dirfd, uint32_t dir, const char *name,
    const struct stat *st, int depth)
{
	struct index *ix = w->ix;
	uint32_t rec = INDEX_NONE;
	int fd;

	if (S_ISREG(st->st_mode) && st->st_nlink > 1)
		rec = ix_linked(ix, st->st_ino);
	if (rec != INDEX_NONE) {
		if (ix_set_stat(ix, rec, st) == -1 ||
		    ix_link(ix, dir, name, strlen(name), rec) == INDEX_NONE) {
			walk_err(w, name, "indexing");
			return INDEX_NONE;
		}
		return rec;
	}
	rec = ix_rec_new(ix, st);
	if (rec == INDEX_NONE || ix_link(ix, dir, name, strlen(name), rec) ==
	    INDEX_NONE) {
		walk_err(w, name, "indexing");
		return INDEX_NONE;	/* a record left unnamed is only memory */
	}
	if (fill_rec(w, rec, dirfd, name, st) == -1)
		return INDEX_NONE;
	if (!S_ISDIR(st->st_mode)) {
		w->files++;
		return rec;
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1) {
		walk_err(w, name, "opening the directory");
		return INDEX_NONE;
	}
	size_t old = walk_down(w, name);
	int rc = scan_dir(w, fd, rec, depth + 1);

	walk_up(w, old);
	close(fd);
	return rc == 0 ? rec : INDEX_NONE;
}

/* Indexes everything in directory dir, open as fd. -1 logged. */
static int
scan_dir(struct walk *w, int fd, uint32_t dir, int depth)
{
	struct dirent *e;
	struct stat st;
	DIR *dp;
	int dfd, rc = -1;

	if (depth > MAX_DEPTH) {
		errno = ELOOP;
		walk_err(w, NULL, "too deep");
		return -1;
	}
	dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1 || (dp = fdopendir(dfd)) == NULL) {
		walk_err(w, NULL, "listing the directory");
		if (dfd != -1)
			close(dfd);
		return -1;
	}
	w->dirs++;
	for (;;) {
		errno = 0;
		e = readdir(dp);
		if (e == NULL) {
			if (errno != 0) {
				walk_err(w, NULL, "listing the directory");
				goto out;
			}
			break;
		}
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    (dir == INDEX_ROOT && strcmp(e->d_name, PATH_META) == 0))
			continue;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
			if (errno == ENOENT)
				continue;	/* gone since readdir saw it */
			walk_err(w, e->d_name, "lstat");
			goto out;
		}
		if (add_entry(w, fd, dir, e->d_name, &st, depth) == INDEX_NONE)
			goto out;
	}
	rc = 0;
out:
	closedir(dp);
	return rc;
}

static void
walk_init(struct walk *w, struct index *ix, struct store *s)
{
	memset(w, 0, sizeof(*w));
	w->ix = ix;
	w->top = s->path;
	buf_init(&w->blob);
}

static void
walk_release(struct walk *w)
{
	buf_release(&w->blob);
	free(w->list);
}

int
index_build(struct index *ix, struct store *s)
{
	struct timespec t0, t1;
	struct walk w;
	struct stat st;
	int rc = -1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	walk_init(&w, ix, s);
	if (fstat(s->rootfd, &st) == -1) {
		log_err("%s", s->path);
		goto out;
	}
	if (ix_make_root(ix, &st) == -1) {
		log_err("%s: indexing", s->path);
		goto out;
	}
	if (read_xattrs(&w, s->rootfd, NULL) == -1 ||
	    ix_set_xattrs(ix, INDEX_ROOT, w.blob.data, (uint32_t)w.blob.len) ==
	    -1) {
		log_err("%s: extended attributes", s->path);
		goto out;
	}
	if (scan_dir(&w, s->rootfd, INDEX_ROOT, 0) == -1)
		goto out;
	ix_trim(ix);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("%s: indexed %ju directories and %ju other entries in "
	    "%.2f s", s->path, (uintmax_t)w.dirs, (uintmax_t)w.files,
	    (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	rc = 0;
out:
	walk_release(&w);
	if (rc == -1)
		index_release(ix);
	return rc;
}

/* The store's lstat of path failed this way: the name is not there. */
static int
is_gone(int err)
{
	return err == ENOENT || err == ENOTDIR || err == ELOOP;
}

/* Updates an existing record from st (same inode): attributes and xattrs. */
static int
refresh_same(struct walk *w, uint32_t rec, int dirfd, const char *name,
    const struct stat *st)
{
	if (ix_set_stat(w->ix, rec, st) == -1) {
		walk_err(w, name, "indexing");
		return -1;
	}
	if (read_xattrs(w, dirfd, name) == -1) {
		walk_err(w, name, "reading extended attributes");
		return -1;
	}
	if (ix_set_xattrs(w->ix, rec, w->blob.data, (uint32_t)w->blob.len) ==
	    -1) {
		walk_err(w, name, "indexing");
		return -1;
	}
	return 0;
}

/* A name changed in directory dir (open as dirfd): its mtime and ctime did. */
static int
dir_changed(struct walk *w, struct store *s, uint32_t dir, int dirfd)
{
	struct stat st;

	if (fstat(dirfd, &st) == -1) {
		log_err("%s/%s: lstat", s->path, w->path);
		return -1;
	}
	if (ix_rec(w->ix, dir)->ino != (uint64_t)st.st_ino)
		return 0;	/* not the directory indexed there: refreshed on its own */
	if (ix_set_stat(w->ix, dir, &st) == -1) {
		log_err("%s/%s: indexing", s->path, w->path);
		return -1;
	}
	return 0;
}

static int refresh_path(struct walk *w, struct store *s, struct store_dir *d,
    const char *path, const struct index_hooks *h, int depth);

/* The directory record of path's parent, refreshed first when missing. */
static uint32_t
parent_of(struct walk *w, struct store *s, struct store_dir *d,
    const char *path, const struct index_hooks *h, int depth)
{
	size_t len = path_dirlen(path);
	char dir[PATH_MAX];
	uint32_t rec;

	memcpy(dir, path, len);
	dir[len] = '\0';
	rec = index_resolve(w->ix, dir);
	if (rec != INDEX_NONE && ix_isdir(ix_rec(w->ix, rec)))
		return rec;
	if (refresh_path(w, s, d, dir, h, depth + 1) == -1)
		return INDEX_NONE;
	rec = index_resolve(w->ix, dir);
	return rec != INDEX_NONE && ix_isdir(ix_rec(w->ix, rec)) ? rec :
	    INDEX_NONE;
}

static int
refresh_path(struct walk *w, struct store *s, struct store_dir *d,
    const char *path, const struct index_hooks *h, int depth)
{
	struct index *ix = w->ix;
	uint32_t dir, dent, rec;
	const char *name;
	struct stat st;
	int dirfd;

	if (depth > MAX_DEPTH) {
		errno = ELOOP;
		return -1;
	}
	if (path[0] == '\0' || strcmp(path, ".") == 0) {
		if (fstat(s->rootfd, &st) == -1 ||
		    refresh_same(w, INDEX_ROOT, s->rootfd, NULL, &st) == -1) {
			log_err("%s: indexing the top directory", s->path);
			return -1;
		}
		return 0;
	}
	dir = parent_of(w, s, d, path, h, depth);
	if (dir == INDEX_NONE)
		return 0;	/* no parent in the store: nothing to index */
	dirfd = store_parent(s, d, path, &name);
	if (dirfd == -1 || fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (!is_gone(errno)) {
			log_err("%s/%s: lstat", s->path, path);
			return -1;
		}
		dent = ix_find(ix, dir, name, strlen(name));
		if (dent != INDEX_NONE) {
			ix_unlink(ix, dent, h);
			/* The directory itself gone too: its own refresh says so. */
			return dirfd == -1 ? 0 : dir_changed(w, s, dir, dirfd);
		}
		return 0;
	}
	dent = ix_find(ix, dir, name, strlen(name));
	rec = dent == INDEX_NONE ? INDEX_NONE : ix_dent(ix, dent)->child;
	walk_up(w, 0);
	walk_down(w, path);
	walk_up(w, path_dirlen(path));
	if (rec != INDEX_NONE) {
		const struct index_rec *r = ix_rec(ix, rec);

		if (r->ino == (uint64_t)st.st_ino &&
		    ((r->mode ^ st.st_mode) & S_IFMT) == 0 &&
		    (st.st_dev == ix->dev || (r->mode & REC_WIDE)))
			return refresh_same(w, rec, dirfd, name, &st);
		ix_unlink(ix, dent, h);
	}
	/* A new inode at this name: index it (a directory with its contents). */
	if (add_entry(w, dirfd, dir, name, &st, depth) == INDEX_NONE)
		return -1;
	return dir_changed(w, s, dir, dirfd);
}

int
index_refresh(struct index *ix, struct store *s, struct store_dir *d,
    const char *path, const struct index_hooks *hooks)
{
	struct walk w;
	int rc;

	walk_init(&w, ix, s);
	rc = refresh_path(&w, s, d, path, hooks, 0);
	walk_release(&w);
	ix_compact_names(ix);
	return rc;
}
