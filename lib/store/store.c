/* store: a destination directory, its .mirrorfs layout, and safe access beneath it. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "path.h"

void
store_init(struct store *s)
{
	memset(s, 0, sizeof(*s));
	s->rootfd = s->metafd = s->stagingfd = s->renamedfd = s->partialfd =
	    s->lockfd = -1;
}

/* Opens or creates the directory name under dirfd, which is at dirpath. */
static int
open_subdir(int dirfd, const char *name, int create, const char *dirpath)
{
	int fd;

	if (create && mkdirat(dirfd, name, 0700) == -1 && errno != EEXIST) {
		log_err("%s/%s: mkdir", dirpath, name);
		return -1;
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1 && (create || errno != ENOENT))
		log_err("%s/%s", dirpath, name);
	return fd;
}

/* Starts s on path: nothing open yet. -1 on ENOMEM (logged). */
static int
begin_open(struct store *s, const char *path)
{
	store_init(s);
	s->path = strdup(path);
	if (s->path == NULL) {
		log_err("%s", path);
		return -1;
	}
	return 0;
}

/* Undoes a failed open, keeping its errno. Always -1. */
static int
fail_open(struct store *s)
{
	int saved = errno;

	store_close(s);
	errno = saved;
	return -1;
}

int
store_open_view(struct store *s, const char *path)
{
	if (begin_open(s, path) == -1)
		return fail_open(s);
	s->rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->rootfd == -1) {
		if (errno == ENOENT)
			return 0;	/* a dry run into a store not made yet */
		log_err("%s", path);
		return fail_open(s);
	}
	s->metafd = open_subdir(s->rootfd, PATH_META, 0, path);
	if (s->metafd == -1)
		return errno == ENOENT ? 0 : fail_open(s);
	if (faccessat(s->metafd, STORE_JOURNAL, F_OK, 0) == 0)
		log_warnx("%s: an interrupted session awaits recovery (run: "
		    "mirrorctl recover %s)", path, path);
	return 0;
}

int
store_open_dirs(struct store *s, const char *path, int create)
{
	if (begin_open(s, path) == -1)
		return fail_open(s);
	if (create && mkdir(path, 0755) == -1 && errno != EEXIST) {
		if (errno == ENOENT)
			log_errx("%s: cannot create store: its parent directory "
			    "does not exist (--mkpath creates it)", path);
		else
			log_err("%s: cannot create store", path);
		return fail_open(s);
	}
	s->rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->rootfd == -1) {
		log_err("%s", path);
		return fail_open(s);
	}
	s->metafd = open_subdir(s->rootfd, PATH_META, create, path);
	if (s->metafd == -1 && !create && errno == ENOENT) {
		/* Never make a store of a directory by mistake (a source tree). */
		log_errx("%s: not a mirrorfs store (it has no %s/)", path,
		    PATH_META);
		errno = ENOENT;
	}
	return s->metafd == -1 ? fail_open(s) : 0;
}

int
store_open_meta(struct store *s, const char *name)
{
	char meta[PATH_MAX];

	snprintf(meta, sizeof(meta), "%s/%s", s->path, PATH_META);
	return open_subdir(s->metafd, name, 1, meta);
}

void
store_close(struct store *s)
{
	int *fds[] = { &s->stagingfd, &s->renamedfd, &s->partialfd,
	    &s->lockfd, &s->metafd, &s->rootfd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
	free(s->path);
	store_init(s);
}

void
store_dir_release(struct store_dir *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	free(d->rel);
	d->rel = NULL;
}

int
store_parent(struct store *s, struct store_dir *d, const char *rel,
    const char **name)
{
	size_t dlen = path_dirlen(rel);
	char *dir;
	int fd;

	*name = dlen ? rel + dlen + 1 : rel;
	if (s->rootfd < 0) {
		errno = ENOENT;
		return -1;
	}
	if (dlen == 0)
		return s->rootfd;
	if (d->rel && strlen(d->rel) == dlen && memcmp(d->rel, rel, dlen) == 0)
		return d->fd;
	dir = strndup(rel, dlen);
	if (dir == NULL)
		return -1;
	fd = open_beneath(s->rootfd, dir, O_PATH | O_DIRECTORY);
	if (fd == -1) {
		free(dir);
		return -1;
	}
	store_dir_release(d);
	d->rel = dir;
	d->fd = fd;
	return fd;
}

int
store_lstat(struct store *s, struct store_dir *d, const char *rel,
    struct stat *st)
{
	struct store_dir once = STORE_DIR_INIT;
	const char *name;
	int dirfd, rc = -1, saved;

	dirfd = store_parent(s, d ? d : &once, rel, &name);
	if (dirfd != -1)
		rc = fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW);
	saved = errno;
	store_dir_release(&once);
	errno = saved;
	return rc;
}

int
store_open_at(struct store *s, const char *rel, int flags)
{
	if (s->rootfd < 0) {
		errno = ENOENT;
		return -1;
	}
	return open_beneath(s->rootfd, rel, flags);
}

/*
 * Removes everything inside the directory open as fd, then closes fd,
 * adding to *removed each entry it removed.
 */
static int
remove_contents(int fd, unsigned long *removed)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int sub, rc = 0;

	if (d == NULL) {
		close(fd);
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(fd, de->d_name, 0) == 0) {
			(*removed)++;
			continue;
		}
		if (errno == ENOENT)
			continue;
		if (errno != EISDIR) {
			rc = -1;
			continue;
		}
		sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (sub == -1 || remove_contents(sub, removed) == -1 ||
		    unlinkat(fd, de->d_name, AT_REMOVEDIR) == -1)
			rc = -1;
		else
			(*removed)++;
	}
	if (errno != 0)
		rc = -1;
	closedir(d);
	return rc;
}

/* True when the directory d keeps is rel or lies inside it. */
static int
kept_inside(const struct store_dir *d, const char *rel)
{
	size_t len = strlen(rel);

	return d->rel != NULL && strncmp(d->rel, rel, len) == 0 &&
	    (d->rel[len] == '\0' || d->rel[len] == '/');
}

int
store_remove_counted(int dirfd, const char *name, unsigned long *removed)
{
	int fd;

	if (unlinkat(dirfd, name, 0) == 0) {
		(*removed)++;
		return 0;
	}
	if (errno == ENOENT)
		return 0;
	if (errno != EISDIR)
		return -1;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	if (remove_contents(fd, removed) == -1)
		return -1;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) == -1 && errno != ENOENT)
		return -1;
	(*removed)++;
	return 0;
}

int
store_remove_at(int dirfd, const char *name)
{
	unsigned long removed = 0;

	return store_remove_counted(dirfd, name, &removed);
}

/* store_remove_tree through d. */
static int
remove_tree(struct store *s, struct store_dir *d, const char *rel)
{
	const char *name;
	int dirfd;

	dirfd = store_parent(s, d, rel, &name);
	if (dirfd == -1)
		return errno == ENOENT ? 0 : -1;
	if (store_remove_at(dirfd, name) == -1)
		return -1;
	if (kept_inside(d, rel))
		store_dir_release(d);
	return 0;
}

int
store_remove_tree(struct store *s, struct store_dir *d, const char *rel)
{
	struct store_dir once = STORE_DIR_INIT;
	int rc, saved;

	rc = remove_tree(s, d ? d : &once, rel);
	saved = errno;
	store_dir_release(&once);
	errno = saved;
	return rc;
}

int
store_sync(struct store *s)
{
	if (syncfs(s->rootfd) == -1) {
		log_err("%s: syncfs", s->path);
		return -1;
	}
	return 0;
}
