/* master: the one process that writes a store: its lock, its SYNC entry, recovery. */
#ifndef MIRRORFS_MASTER_H
#define MIRRORFS_MASTER_H

#include "journal.h"
#include "store.h"
#include "syncfile.h"

#define MASTER_CREATE 0x1	/* make STORE (not its parents) and .mirrorfs when missing */
#define MASTER_TRY    0x2	/* a live master is not an error: no message */
#define MASTER_WAIT   0x4	/* wait (up to MASTER_WAIT_S) for a one-shot master */
#define MASTER_WAIT_S 30

/*
 * Opens the store at path as its master, under the name instance (NULL:
 * "mirrorctl@HOST"): takes the store lock; reads a stale SYNC entry left
 * by a master that ended abnormally and takes over when it is this
 * instance's or this host's, logging what it replaced; writes its own
 * entry; recovers an interrupted session (the only way into recovery:
 * with replayed not NULL, an initialised journal that receives what a
 * roll forward redid, for the caller to release); deletes the old
 * versions in renamed/ that no live mount holds.
 * Returns 0, or -1 with errno and the reason logged (naming the path and
 * the master): EBUSY when a live master holds the store (not logged with
 * MASTER_TRY), ESTALE when another host's entry blocks it (clear-sync).
 */
int master_open(struct store *s, const char *path, int flags,
    const char *instance, struct journal *replayed);

/*
 * The way into the store at path for a process that does not serve it:
 * the socket of the mount that serves it (*fd, returns 1), or the store
 * opened as its master (master_open with flags, returns 0). While a
 * master holds the store without serving it (a sync in progress, a
 * mount starting) or a socket is left by a mount that died, waits and
 * tries both again, up to MASTER_WAIT_S. -1 logged.
 */
int master_reach(struct store *s, const char *path, int flags, int *fd);

/*
 * Repairs what a failed session of this master left: rolls a written
 * journal forward, else discards what was staged. -1 logged.
 */
int master_recover(struct store *s);

/* Removes the SYNC entry (a clean stop), lets go of the lock, closes s. */
void master_close(struct store *s);

/*
 * After the master forked (a mount daemonizing), makes the SYNC entry
 * name this process, which now holds the lock. -1 logged.
 */
int master_daemonized(struct store *s);

/*
 * Removes a stale SYNC entry (mirrorctl clear-sync). Refuses, -1 with
 * EBUSY, while a live master holds the lock. Returns 0 (cleared or none:
 * *found says which, *e the entry removed), -1 logged.
 */
int master_clear_sync(const char *path, struct sync_entry *e, int *found);

#endif
