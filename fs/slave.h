/* slave: a second mount of a store, following its master's commits. */
#ifndef MIRRORFS_SLAVE_H
#define MIRRORFS_SLAVE_H

#include "mount.h"

struct subscription;

/*
 * Subscribes to the master of m's store (its control socket), waiting
 * while the master is a one-shot sync that has no socket. Returns the
 * subscription, or NULL: then either this process became the master
 * meanwhile (m->master set, store opened) or it failed (logged).
 */
struct subscription *slave_subscribe(struct mount *m);

/*
 * Follows the master's commits in a thread: freezes opens, answers
 * which files are open here, holds kept old versions, invalidates the
 * kernel's cache. When the master goes away it takes over as master if
 * it can (recovering the store and invalidating what the last commit
 * touched), else it stops the mount with an error rather than serve
 * stale data. -1 logged.
 */
int slave_start(struct subscription *sub);
/* Stops following (at unmount) and frees sub. */
void slave_stop(struct subscription *sub);

#endif
