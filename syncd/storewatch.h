/* storewatch: the commits of a store that is a file set's source, told by its master (CTL_WATCH). */
#ifndef MIRRORFS_STOREWATCH_H
#define MIRRORFS_STOREWATCH_H

#include <stdint.h>

#include "proto.h"

struct storewatch;

/*
 * Follows the commits of the store at store in a thread of its own:
 * connects to its master's control socket and asks for every commit
 * (CTL_WATCH); keeps the latest generation it is told and writes to the
 * eventfd wakefd each time. When no master serves the store, or the
 * master goes away (its mount stopped), tries again after a backoff (1 s
 * doubling to STOREWATCH_BACKOFF_MAX_S). name is the file set's (for the
 * log; copied). NULL logged.
 */
struct storewatch *storewatch_start(const char *name, const char *store,
    int wakefd);

#define STOREWATCH_BACKOFF_MAX_S 30

/*
 * The latest generation the master told, when it is news since the last
 * call: 1 with *g, else 0. From the event loop's thread.
 */
int storewatch_take(struct storewatch *w, struct store_gen *g);

/* 1 while a master is telling us its commits. */
int storewatch_connected(struct storewatch *w);

/* Stops the thread, closes the connection, frees w (NULL: nothing). */
void storewatch_stop(struct storewatch *w);

#endif
