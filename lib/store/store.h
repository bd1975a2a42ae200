/* store: a destination directory, its .mirrorfs layout, and safe access beneath it. */
#ifndef MIRRORFS_STORE_H
#define MIRRORFS_STORE_H

#include <sys/stat.h>

/*
 * STORE/            the mirrored tree
 *   .mirrorfs/      metadata, never mirrored
 *     lock          flock()ed by the store's master (master.h)
 *     staging/      new versions, written and synced before commit
 *     journal       present only while a commit is in progress (journal.h)
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
#define STORE_LOCK     "lock"
#define STORE_STAGING  "staging"
#define STORE_JOURNAL  "journal"
#define STORE_RENAMED  "renamed"
#define STORE_PARTIAL  "partial"

/*
 * A struct store is the set of directories, opened once: by master_open
 * (master.h) for the process that writes the store, or by store_open_view
 * for a reader. Its fields do not change while it is open, so threads
 * may share it; what a caller wants to keep open between calls (the
 * directory of the last path) lives in a struct store_dir of its own.
 */
struct store {
	char *path;
	int rootfd;		/* -1 in a view of a store not made yet */
	int metafd;		/* .mirrorfs, or -1 in such a view */
	int stagingfd;		/* staging/, renamed/, partial/: masters only */
	int renamedfd;
	int partialfd;
	int lockfd;		/* masters only (master.c) */
	int master;		/* the lock is held and SYNC names us (master.c) */
	/*
	 * What the last recovery did (journal.c): 0 nothing, 'b' rolled
	 * back (recovered: staged entries discarded), 'f' rolled forward
	 * (recovered: operations redone).
	 */
	int recovery;
	unsigned long recovered;
};

/*
 * The directory of the last path looked up, kept open by its owner so a
 * run of paths in one directory costs one resolution. Owned by whoever
 * walks the store (a plan, a commit, the mount's invalidation); never
 * shared between threads. Starts as STORE_DIR_INIT.
 */
struct store_dir {
	char *rel;		/* the directory's path, owned; NULL: none */
	int fd;			/* O_PATH fd of rel, or -1 */
};

#define STORE_DIR_INIT { NULL, -1 }

/* Closes the kept directory (d may be reused afterwards). */
void store_dir_release(struct store_dir *d);

/* Sets every fd of s to -1 and its path to NULL: nothing open. */
void store_init(struct store *s);

/*
 * Opens the store at path to read it, with no lock and no recovery (a
 * dry run, a slave mount). A store not made yet is an empty view
 * (rootfd or metafd -1), not an error. Warns when an interrupted session
 * awaits recovery. Returns 0, or -1 with errno (logged).
 */
int store_open_view(struct store *s, const char *path);

/*
 * Opens the store directory and its .mirrorfs for a writer; master_open's
 * first step. With create, makes the directory (not its parents) and
 * its .mirrorfs when missing; without, a directory that has no .mirrorfs
 * is refused (ENOENT, "not a mirrorfs store"). Returns 0, or -1 with
 * errno (logged). The caller closes s with store_close.
 */
int store_open_dirs(struct store *s, const char *path, int create);

/*
 * Opens (creating it) the subdirectory name of .mirrorfs. Returns the
 * fd, or -1 (logged).
 */
int store_open_meta(struct store *s, const char *name);

/*
 * Closes every fd of s and frees its path. A master's store is closed
 * by master_close, which removes its SYNC entry first.
 */
void store_close(struct store *s);

/*
 * Returns an fd of the directory holding rel, kept in d (owned by d,
 * valid until d's next use or release), and points *name at rel's last
 * component. -1 with errno: ENOENT, ENOTDIR, ELOOP (a symlink on the
 * way), EXDEV.
 */
int store_parent(struct store *s, struct store_dir *d, const char *rel,
    const char **name);
/* lstat of rel beneath the root, through d (NULL: no directory kept). -1 with errno. */
int store_lstat(struct store *s, struct store_dir *d, const char *rel,
    struct stat *st);
/* Opens rel (no symlink anywhere) with flags | O_NOFOLLOW. -1 with errno. */
int store_open_at(struct store *s, const char *rel, int flags);
/*
 * Removes rel, a directory with everything in it, through d (NULL: no
 * directory kept); d forgets a kept directory that was inside. ENOENT
 * counts as done. -1 with errno.
 */
int store_remove_tree(struct store *s, struct store_dir *d, const char *rel);

/*
 * Removes name in the directory dirfd (no symlink followed), a directory
 * with everything in it. ENOENT counts as done. -1 with errno.
 */
int store_remove_at(int dirfd, const char *name);
/* store_remove_at, adding to *removed each entry removed (a directory and all in it). */
int store_remove_counted(int dirfd, const char *name, unsigned long *removed);
/* syncfs() of the store's filesystem. -1 on error (logged). */
int store_sync(struct store *s);

#endif
