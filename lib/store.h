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
	int lockfd;
	char *dircache;		/* the directory held open in dirfd */
	int dirfd;
};

#define STORE_CREATE   0x1	/* create STORE (not its parents) when missing */
#define STORE_READONLY 0x2	/* change nothing: no lock, no recovery */

/*
 * Opens the store at path. Unless STORE_READONLY, takes the store lock
 * (fails when another process holds it), recovers an interrupted
 * session and deletes the old versions left in renamed/ by a mount that
 * ended (nothing can hold them open any more). Returns 0, or -1 with the
 * reason logged (naming the path).
 */
int store_open(struct store *s, const char *path, int flags);
void store_close(struct store *s);

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
