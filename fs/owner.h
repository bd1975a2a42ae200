/* owner: how the mounts of a store take part in each commit (veto, RENAMEOPEN, invalidation). */
#ifndef MIRRORFS_OWNER_H
#define MIRRORFS_OWNER_H

#include <sys/types.h>

#include "commit.h"
#include "mount.h"
#include "proto.h"

/* The master mount m as the observer of every commit into its store. */
void owner_init(struct commit_observer *o, struct mount *m);

/*
 * What mount m says to replacing or removing the backing inode (dev,
 * ino) now: VERDICT_FREE, VERDICT_OPEN (it is open here: keep its old
 * version for the holders) or VERDICT_VETO with *why (open for write, or
 * open while renameopen is off: the entry waits for the next sync). With
 * path (the store's path of that inode) and the inode a directory, a
 * file anywhere under it that would be vetoed vetoes the directory: its
 * replacement or removal would delete that file under its writer. Both
 * the master and its slave mounts judge by this; committing says which
 * of them asks (the reasons name the mount). Takes nodes.lock.
 */
int owner_verdict(struct mount *m, const char *path, dev_t dev, ino_t ino,
    int committing, const char **why);

#endif
