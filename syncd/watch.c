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

#include "htab.h"
#include "log.h"

#define WATCH_MASK (IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | \
    IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | \
    IN_MOVE_SELF | IN_DONT_FOLLOW | IN_EXCL_UNLINK | IN_ONLYDIR)

struct wdir {
	int wd;			/* the key of the table */
	int tree;
	char *root;		/* the tree's top, absolute */
	char *rel;		/* this directory, relative to root ("" top) */
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

static int
watch_dir(struct watcher *w, int tree, const char *root, const char *rel)
{
	char path[PATH_MAX];
	struct wdir *d;
	size_t v;
	void *nv;
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
	d = calloc(1, sizeof(*d));
	nv = realloc(w->dirs, (w->ndirs + 1) * sizeof(*w->dirs));
	if (d == NULL || nv == NULL) {
		free(d);
		return -1;
	}
	w->dirs = nv;
	d->wd = wd;
	d->tree = tree;
	d->root = strdup(root);
	d->rel = strdup(rel);
	if (d->root == NULL || d->rel == NULL ||
	    htab_put(&w->by_wd, &d->wd, sizeof(d->wd), (size_t)d) == -1) {
		free(d->root);
		free(d->rel);
		free(d);
		return -1;
	}
	w->dirs[w->ndirs++] = d;
	return 0;
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
					fn(arg, w->dirs[i]->tree, NULL, 1);
				continue;
			}
			if (!htab_get(&w->by_wd, &ev->wd, sizeof(ev->wd), &v))
				continue;
			d = (struct wdir *)v;
			if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
				if (d->rel[0] == '\0')
					fn(arg, d->tree, NULL, 1);	/* the top */
				if (ev->mask & IN_IGNORED)	/* the wd may be reused */
					htab_del(&w->by_wd, &d->wd, sizeof(d->wd));
				continue;
			}
			if (ev->len == 0)
				continue;
			snprintf(rel, sizeof(rel), "%s%s%s", d->rel,
			    d->rel[0] ? "/" : "", ev->name);
			fn(arg, d->tree, rel, 0);
			if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) &&
			    (ev->mask & IN_ISDIR) &&
			    watch_below(w, d->tree, d->root, rel, fn, arg) == -1)
				fn(arg, d->tree, NULL, 1);
		}
	}
}
