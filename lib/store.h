/* store: a destination directory and its .mirrorfs metadata; safe path access. */
#ifndef MIRRORFS_STORE_H
#define MIRRORFS_STORE_H

#include <sys/stat.h>

/*
 * STORE/            the mirrored tree
 *   .mirrorfs/      metadata, never mirrored
 *     lock          flock()ed by the process writing the store
 *     staging/      new versions, written and synced before commit
 *     journal       present only while a commit is in progress
 *     renamed/      old versions still open through a mount (AAnnnnnn)
 *     partial/      data of an interrupted session, for the next (partial.h)
 *     SYNC          the master's entry (syncfile.h), while it lives
 *     control.sock  the master's socket, while a mount serves the store
 *
 * Every access below the root is relative to the root fd, resolved with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): a symlink or ".." that
 * is already in the store is never followed, so nothing outside STORE is
 * ever touched.
 */
struct store {
	char *path;
	int rootfd;		/* -1 for a read-only view of a missing store */
	int metafd;		/* .mirrorfs, or -1 when read-only and absent */
	int stagingfd;
	int renamedfd;
	int partialfd;		/* .mirrorfs/partial (partial.h) */
	int lockfd;
	int master;		/* we wrote the SYNC entry (removed on close) */
	char *dircache;		/* the directory held open in dirfd */
	int dirfd;
};

#define STORE_CREATE   0x1	/* create STORE (not its parents) when missing */
#define STORE_READONLY 0x2	/* change nothing: no lock, no recovery */
#define STORE_TRY      0x4	/* a live master is not an error: no message */
#define STORE_WAIT     0x8	/* wait (up to STORE_WAIT_S) for a one-shot master */
#define STORE_WAIT_S   30

/*
 * Opens the store at path as its master, under the name instance (NULL:
 * "mirrorctl@HOST"). Unless STORE_READONLY: takes the store lock; reads
 * a stale SYNC entry left by a master that ended abnormally and takes
 * over when it is this instance's or this host's, logging what it
 * replaced; writes its own entry; recovers an interrupted session
 * (telling replayed, when not NULL, what a roll forward redid); and
 * deletes the old versions in renamed/ that no live mount holds.
 * Returns 0, or -1 with errno and the reason logged (naming the path and
 * the master): EBUSY when a live master holds the store (not logged with
 * STORE_TRY), ESTALE when another host's entry blocks it (clear-sync).
 */
struct journal;
typedef void store_replayed_fn(void *arg, const struct journal *j);
int store_open_as(struct store *s, const char *path, int flags,
    const char *instance, store_replayed_fn *replayed, void *arg);
/* store_open_as with the default instance. */
int store_open(struct store *s, const char *path, int flags);
/* Closes; a master removes its SYNC entry (a clean stop). */
void store_close(struct store *s);
/*
 * Removes a stale SYNC entry (mirrorctl clear-sync). Refuses, -1 with
 * EBUSY, while a live master holds the lock. Returns 0 (cleared or none:
 * *found says which, *e the entry removed), -1 logged.
 */
struct sync_entry;
int store_clear_sync(const char *path, struct sync_entry *e, int *found);

/*
 * Returns an fd (owned by the store, valid until the next call) of the
 * directory holding rel, and points *name at rel's last component.
 * -1 with errno: ENOENT, ENOTDIR, ELOOP (a symlink on the way), EXDEV.
 */
int store_parent(struct store *s, const char *rel, const char **name);
/* Forgets the cached directory (after a directory is removed). */
void store_forget_dir(struct store *s);
/* lstat of rel beneath the root. -1 with errno. */
int store_lstat(struct store *s, const char *rel, struct stat *st);
/* Opens rel (no symlink anywhere) with flags | O_NOFOLLOW. -1 with errno. */
int store_open_at(struct store *s, const char *rel, int flags);
/* Removes rel; a directory with everything in it. ENOENT counts as done. */
int store_remove_tree(struct store *s, const char *rel);

/* syncfs() of the store's filesystem. -1 on error (logged). */
int store_sync(struct store *s);

#endif
