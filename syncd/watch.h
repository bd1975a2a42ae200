/* watch: inotify over whole trees, new directories included; overflow means rescan. */
#ifndef MIRRORFS_WATCH_H
#define MIRRORFS_WATCH_H

struct watcher;

/* What watcher_read reports, besides a changed path. */
enum {
	WATCH_CLOSED = 1,	/* rel: its writer closed it (IN_CLOSE_WRITE) */
	WATCH_RESCAN = 2,	/* rel NULL: events were lost (queue overflow) */
	WATCH_INCOMPLETE = 4,	/* rel NULL: part of the tree is not watched
				   (the watch limit, or its top moved away);
				   changes there are found by rescans only */
};

/* A changed path rel of tree (relative to its top), with WATCH_* flags. */
typedef void watch_fn(void *arg, int tree, const char *rel, unsigned flags);

struct watcher *watcher_new(void);
void watcher_free(struct watcher *w);
/* The fd to poll for events. */
int watcher_fd(const struct watcher *w);
/*
 * Watches every directory of the tree at root as tree number tree.
 * Returns 0, or -1 when some directory could not be watched (the watch
 * limit, logged): then the tree is only seen by rescans.
 */
int watcher_add_tree(struct watcher *w, int tree, const char *root);
/*
 * Watches the file rel below root (tree number tree) until its writer
 * closes it, it is removed or renamed: one event, reported as a change
 * of rel (WATCH_CLOSED for the close). For a file set that has no watch
 * of its own, so that a file held back as open for write is looked at
 * again when it is closed. Returns 0 when the watch waits for a writer,
 * 1 when the file has none any more (or is gone: look at it now; no
 * watch is left), -1 on an error (logged).
 */
int watcher_add_file(struct watcher *w, int tree, const char *root,
    const char *rel);
/* Reads the pending events and reports them through fn. -1 on a read error. */
int watcher_read(struct watcher *w, watch_fn *fn, void *arg);

#endif
