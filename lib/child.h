/* child: the attributes every child of ours is started with (posix_spawn). */
#ifndef MIRRORFS_CHILD_H
#define MIRRORFS_CHILD_H

#include <spawn.h>

/*
 * Initialises attr for a child that starts as a program run from a shell
 * would: no signal blocked (mirrord blocks its signals for a signalfd, and
 * a blocked SIGCHLD hangs a shell's wait) and SIGPIPE, SIGTERM, SIGINT,
 * SIGHUP and SIGCHLD at their default action (mirrord ignores SIGPIPE,
 * which would last across exec). flags are more POSIX_SPAWN_* flags (such
 * as POSIX_SPAWN_SETPGROUP, with its setter called by the caller). The
 * caller destroys attr.
 */
void child_attr_init(posix_spawnattr_t *attr, short flags);

#endif
