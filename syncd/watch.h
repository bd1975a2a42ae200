/* watch: inotify over whole trees, new directories included; overflow means rescan. */
#ifndef MIRRORFS_WATCH_H
#define MIRRORFS_WATCH_H

struct watcher;

/* What watcher_read reports: a changed path (rel to its tree), or that
   events were lost (overflow, watch limit) so the tree must be rescanned. */
typedef void watch_fn(void *arg, int tree, const char *rel, int rescan);

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
/* Reads the pending events and reports them through fn. -1 on a read error. */
int watcher_read(struct watcher *w, watch_fn *fn, void *arg);

#endif
