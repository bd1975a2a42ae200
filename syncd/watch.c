/* watch: inotify over whole trees, new directories included; overflow means rescan. */
#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "htab.h"
#include "log.h"

/* A held-back file, until its writer closes it (watcher_add_file). */
#define FILE_MASK (IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | \
    IN_ONESHOT | IN_DONT_FOLLOW)

#define WATCH_MASK (IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | \
    IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | \
    IN_MOVE_SELF | IN_DONT_FOLLOW | IN_EXCL_UNLINK | IN_ONLYDIR)

struct wdir {
	int wd;			/* the key of the table */
	int tree;
	int file;		/* a file's one-shot watch, not a directory's */
	size_t slot;		/* in the watcher's dirs */
	char *root;		/* the tree's top, absolute */
	char *rel;		/* this directory or file, relative to root
				   ("" top) */
};

struct watcher {
	int fd;
	struct htab by_wd;	/* wd -> struct wdir * */
	struct wdir **dirs;	/* owned, for freeing */
	size_t ndirs;
};

struct watcher *
watcher_new(void)
{
	struct watcher *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	htab_init(&w->by_wd);
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd == -1) {
		log_err("inotify_init1");
		free(w);
		return NULL;
	}
	return w;
}

void
watcher_free(struct watcher *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->ndirs; i++) {
		free(w->dirs[i]->root);
		free(w->dirs[i]->rel);
		free(w->dirs[i]);
	}
	free(w->dirs);
	htab_release(&w->by_wd);
	close(w->fd);
	free(w);
}

int
watcher_fd(const struct watcher *w)
{
	return w->fd;
}

/* A new watch record, in the table and the list. NULL on ENOMEM. */
static struct wdir *
wdir_add(struct watcher *w, int wd, int tree, const char *root,
    const char *rel, int file)
{
	struct wdir *d = calloc(1, sizeof(*d));
	void *nv = realloc(w->dirs, (w->ndirs + 1) * sizeof(*w->dirs));

	if (nv != NULL)
		w->dirs = nv;
	if (d == NULL || nv == NULL)
		goto fail;
	d->wd = wd;
	d->tree = tree;
	d->file = file;
	d->root = strdup(root);
	d->rel = strdup(rel);
	if (d->root == NULL || d->rel == NULL ||
	    htab_put(&w->by_wd, &d->wd, sizeof(d->wd), (size_t)d) == -1)
		goto fail;
	d->slot = w->ndirs;
	w->dirs[w->ndirs++] = d;
	return d;
fail:
	if (d != NULL) {
		free(d->root);
		free(d->rel);
	}
	free(d);
	return NULL;
}

/* Forgets a watch the kernel dropped (IN_IGNORED): its wd may be reused. */
static void
wdir_drop(struct watcher *w, struct wdir *d)
{
	htab_del(&w->by_wd, &d->wd, sizeof(d->wd));
	w->dirs[d->slot] = w->dirs[--w->ndirs];
	w->dirs[d->slot]->slot = d->slot;
	free(d->root);
	free(d->rel);
	free(d);
}

static int
watch_dir(struct watcher *w, int tree, const char *root, const char *rel)
{
	char path[PATH_MAX];
	struct wdir *d;
	size_t v;
	int wd;

	snprintf(path, sizeof(path), "%s%s%s", root, *rel ? "/" : "", rel);
	wd = inotify_add_watch(w->fd, path, WATCH_MASK);
	if (wd == -1) {
		if (errno == ENOSPC)
			log_errx("%s: the inotify watch limit is reached "
			    "(fs.inotify.max_user_watches): changes below it "
			    "are found by rescans only", path);
		else if (errno != ENOENT && errno != ENOTDIR)
			log_err("%s: inotify_add_watch", path);
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	}
	if (htab_get(&w->by_wd, &wd, sizeof(wd), &v)) {
		d = (struct wdir *)v;	/* the same directory again: renamed */
		free(d->rel);
		d->rel = strdup(rel);
		d->tree = tree;
		return d->rel ? 0 : -1;
	}
	return wdir_add(w, wd, tree, root, rel, 0) != NULL ? 0 : -1;
}

/* Watches rel and every directory below it; reports what is in them. */
static int
watch_below(struct watcher *w, int tree, const char *root, const char *rel,
    watch_fn *fn, void *arg)
{
	char path[PATH_MAX], sub[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int rc;

	rc = watch_dir(w, tree, root, rel);
	snprintf(path, sizeof(path), "%s%s%s", root, *rel ? "/" : "", rel);
	d = opendir(path);
	if (d == NULL)
		return rc;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "",
		    de->d_name);
		if (fn != NULL)
			fn(arg, tree, sub, 0);
		if (de->d_type == DT_DIR &&
		    watch_below(w, tree, root, sub, fn, arg) == -1)
			rc = -1;
	}
	closedir(d);
	return rc;
}

int
watcher_add_tree(struct watcher *w, int tree, const char *root)
{
	return watch_below(w, tree, root, "", NULL, NULL);
}

/*
 * Whether the regular file at path has a writer (has_writer): 1, 0, or
 * -1 when that cannot be told. It is opened without following a final
 * symlink, and for reading only once known to be a regular file, so no
 * device or FIFO is ever opened here.
 */
static int
file_writer(const char *path)
{
	char proc[64];
	struct stat st;
	int pfd, fd, r = -1;

	pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd == -1)
		return errno == ENOENT ? 0 : -1;
	if (fstat(pfd, &st) == 0 && S_ISREG(st.st_mode)) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
		fd = open(proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd != -1) {
			r = has_writer(fd);
			close(fd);
		}
	}
	close(pfd);
	return r;
}

int
watcher_add_file(struct watcher *w, int tree, const char *root,
    const char *rel)
{
	char path[PATH_MAX];
	struct wdir *d;
	size_t v;
	int wd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, rel) >=
	    sizeof(path)) {
		log_errx("%s/%s: path too long to watch", root, rel);
		return -1;
	}
	wd = inotify_add_watch(w->fd, path, FILE_MASK);
	if (wd == -1) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 1;
		log_err("%s: inotify_add_watch", path);
		return -1;
	}
	if (htab_get(&w->by_wd, &wd, sizeof(wd), &v)) {
		d = (struct wdir *)v;	/* watched already (a hard link?) */
		free(d->rel);
		d->rel = strdup(rel);
		d->tree = tree;
		d->file = 1;
		if (d->rel == NULL)
			goto fail;
	} else if (wdir_add(w, wd, tree, root, rel, 1) == NULL)
		goto fail;
	/*
	 * Its writer may have closed it before the watch was there: then no
	 * event comes, and it is looked at now.
	 */
	if (file_writer(path) == 0) {
		inotify_rm_watch(w->fd, wd);	/* IN_IGNORED drops the record */
		return 1;
	}
	return 0;
fail:
	log_err("%s: watching it", path);
	inotify_rm_watch(w->fd, wd);
	return -1;
}

/* An event on a held-back file's one-shot watch. */
static void
file_event(struct watcher *w, struct wdir *d, uint32_t mask, watch_fn *fn,
    void *arg)
{
	if (mask & (IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF))
		fn(arg, d->tree, d->rel, mask & IN_CLOSE_WRITE ? WATCH_CLOSED : 0);
	if (mask & IN_IGNORED)
		wdir_drop(w, d);
}

int
watcher_read(struct watcher *w, watch_fn *fn, void *arg)
{
	char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	char rel[PATH_MAX];
	struct wdir *d;
	ssize_t n;
	size_t v;

	for (;;) {
		n = read(w->fd, buf, sizeof(buf));
		if (n == -1)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		for (char *p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW) {
				log_warnx("inotify queue overflow: rescanning "
				    "every watched tree");
				for (size_t i = 0; i < w->ndirs; i++)
					fn(arg, w->dirs[i]->tree, NULL,
					    WATCH_RESCAN);
				continue;
			}
			if (!htab_get(&w->by_wd, &ev->wd, sizeof(ev->wd), &v))
				continue;
			d = (struct wdir *)v;
			if (d->file) {
				file_event(w, d, ev->mask, fn, arg);
				continue;
			}
			if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
				if (d->rel[0] == '\0')	/* the top went */
					fn(arg, d->tree, NULL, WATCH_RESCAN |
					    WATCH_INCOMPLETE);
				if (ev->mask & IN_IGNORED)	/* the wd may be reused */
					wdir_drop(w, d);
				continue;
			}
			if (ev->len == 0)
				continue;
			snprintf(rel, sizeof(rel), "%s%s%s", d->rel,
			    d->rel[0] ? "/" : "", ev->name);
			fn(arg, d->tree, rel, ev->mask & IN_CLOSE_WRITE ?
			    WATCH_CLOSED : 0);
			if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) &&
			    (ev->mask & IN_ISDIR) &&
			    watch_below(w, d->tree, d->root, rel, fn, arg) == -1)
				fn(arg, d->tree, NULL, WATCH_RESCAN |
				    WATCH_INCOMPLETE);
		}
	}
}
