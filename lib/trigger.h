/* trigger: a command run after a session that changed something. */
#ifndef MIRRORFS_TRIGGER_H
#define MIRRORFS_TRIGGER_H

#include "result.h"

/*
 * When r created, replaced or purged something, runs `sh -c cmd`
 * (posix_spawn: safe from a threaded process) and waits for it, up to
 * TRIGGER_TIMEOUT_S, with MIRRORFS_<WHAT>=name, MIRRORFS_DEST=dest and
 * MIRRORFS_CREATED, _REPLACED, _PURGED, _SKIPPED, _FAILED in its
 * environment. One still running then is killed with its process group.
 * A failure is logged, never fatal. what is "FILESET" or "STORE".
 */
#define TRIGGER_TIMEOUT_S 300
void trigger_run(const char *cmd, const char *what, const char *name,
    const char *dest, const struct result *r);

#endif
