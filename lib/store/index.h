/* index: the metadata of a store's tree (names, attributes, link targets, xattrs), kept by its master. */
#ifndef MIRRORFS_INDEX_H
#define MIRRORFS_INDEX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "htab.h"
#include "store.h"

/*
 * An index knows every name below a store's top (but .mirrorfs) and the
 * attributes, symlink target and extended attributes of every inode, so
 * a reader (the mount) answers lookups, stats, listings, readlink and
 * xattr reads without a system call into the store.
 *
 * A record stands for one backing inode; a dentry is one name of a
 * record in a directory record (hard links: several dentries, one
 * record). Records and dentries are numbered from 0 (the top directory is
 * record INDEX_ROOT) and stay at their number while they live, so a reader
 * keeps numbers, never pointers. A record that loses its last name while
 * its user holds it (uses > 0: a lookup the kernel keeps, an open handle)
 * is detached: still readable by its number, in no directory, freed when
 * the last use goes.
 *
 * Locking: none inside. Readers (every query, index_use, index_unuse,
 * index_dir_pin) may run at once under the caller's shared lock; whatever
 * changes names or attributes (build, load, refresh, collect, set_stat)
 * needs it exclusively. uses and pins are changed atomically for that.
 *
 * Saved as STORE/.mirrorfs/index (index_save) when the master stops
 * cleanly, and valid only while that file exists: every commit removes it
 * first (index_drop, before the commit point, so the journal's own sync
 * makes the removal durable), and a master that keeps the index in memory
 * removes it as it takes the store. So a saved index always describes
 * the store; anything else (none, corrupt, another top directory) makes
 * the next master build it again from the tree.
 */
#define INDEX_ROOT 0u
#define INDEX_NONE UINT32_MAX
#define INDEX_FILE "index"

struct index_rec {
	uint64_t ino;
	uint64_t size;		/* a file's; a directory's dir slot; a symlink's
				   target offset (its size is the target's) */
	int64_t mtime, ctime;	/* ns since the epoch */
	uint32_t atime;		/* seconds since the epoch */
	uint32_t mode;		/* st_mode in the low 16 bits, REC_* above */
	uint32_t uid, gid;
	uint32_t nlink;
	uint32_t blocks;	/* of 512 bytes */
	uint32_t uses;		/* the user's references (atomic) */
	uint32_t dent;		/* one name of it; INDEX_NONE: detached or free */
};

struct index_dent {
	uint32_t name;		/* offset of the NUL-terminated name in names */
	uint32_t parent;	/* directory record */
	uint32_t child;		/* record; INDEX_NONE when free */
	uint32_t pos : 24;	/* index in the parent's kids (IXPOS_NONE: look) */
	uint32_t len : 8;
};

/* A directory's names in listing order; INDEX_NONE marks a removed one. */
struct index_dir {
	uint64_t size;		/* the directory's st_size */
	uint32_t *kids;		/* dentries */
	uint32_t n, cap;
	uint32_t dead;		/* removed names still holding their place */
	uint32_t pins;		/* open listings: positions must not move (atomic) */
};

struct index {
	struct index_rec **recs;	/* chunks of IX_CHUNK records */
	uint32_t nrecs, freerec;
	struct index_dent **dents;	/* chunks of IX_CHUNK dentries */
	uint32_t ndents, freedent;
	struct index_dir *dirs;
	uint32_t ndirs, capdirs, freedir;
	uint32_t *hash;		/* (parent, name) -> dentry; open addressing */
	uint32_t hcap, hn;
	char *names;		/* names and symlink targets, NUL-terminated */
	uint32_t nlen, ncap, ngarbage;
	struct htab xattrs;	/* record -> struct index_xattrs (REC_XATTR) */
	struct htab wide;	/* record -> struct stat (REC_WIDE) */
	struct htab links;	/* backing inode -> record, files with nlink > 1 */
	dev_t dev;		/* the store's filesystem */
	blksize_t blksize;
	uint64_t entries;	/* names */
	uint64_t live;		/* records */
};

/* An index with nothing in it (not even the top). No allocation. */
void index_init(struct index *ix);
/* Frees everything; ix may be index_init'ed again. */
void index_release(struct index *ix);

/*
 * Fills an empty ix from the tree below s's top (its .mirrorfs left
 * out): every name, attribute, symlink target and xattr. -1 (logged,
 * naming the path) when a directory cannot be read or on ENOMEM; ix is
 * then released.
 */
int index_build(struct index *ix, struct store *s);

/*
 * Fills an empty ix from STORE/.mirrorfs/index. Returns 0, or -1 with
 * errno ENOENT (none saved) or with the reason logged (unreadable,
 * corrupt, saved for another top directory); ix is then empty. The
 * caller then drops the file (index_drop) before it changes the store.
 */
int index_load(struct index *ix, struct store *s);

/*
 * Writes ix as STORE/.mirrorfs/index durably (index.tmp, fsync, rename,
 * fsync of .mirrorfs). -1 logged (then no index is saved).
 */
int index_save(const struct index *ix, struct store *s);

/*
 * Removes a saved index (the store is about to change without it).
 * Durable with the next fsync of .mirrorfs. -1 logged, unless there was
 * none (ENOENT is success).
 */
int index_drop(int metafd);

/* Calls back into the index's user while a refresh changes the index. */
struct index_hooks {
	void *arg;
	/*
	 * Record rec lost its last name (replaced, removed): it is detached
	 * now, or freed just after the call when nothing uses it.
	 */
	void (*gone)(void *arg, const struct index *ix, uint32_t rec);
};

/*
 * Makes what ix says of path (relative, "." the top) what the store
 * says now: its attributes, a new inode at that name (the old record
 * gone), the name removed, a new directory with everything in it, and
 * its parents first when ix lacks them. d resolves paths (the caller's).
 * hooks may be NULL. -1 (logged) on ENOMEM or when the store cannot be
 * read there; ix then still holds what it said before for path.
 */
int index_refresh(struct index *ix, struct store *s, struct store_dir *d,
    const char *path, const struct index_hooks *hooks);

/*
 * Moves name oldname of olddir to newname of newdir, as rename(2) did in
 * the store (exchange: RENAME_EXCHANGE), keeping the records: what the
 * kernel holds of the moved file stays valid. A name replaced goes (its
 * record gone through hooks). -1 with errno ENOENT (a name is not in the
 * index: refresh both paths instead) or ENOMEM.
 */
int index_rename(struct index *ix, uint32_t olddir, const char *oldname,
    uint32_t newdir, const char *newname, int exchange,
    const struct index_hooks *hooks);

/* Sets rec's attributes from st (a write through an rw mount). -1 ENOMEM. */
int index_set_stat(struct index *ix, uint32_t rec, const struct stat *st);

/* The record of name (len bytes) in directory dir, or INDEX_NONE. */
uint32_t index_lookup(const struct index *ix, uint32_t dir, const char *name,
    size_t len);
/* The record at path ("" or "." is the top), or INDEX_NONE. */
uint32_t index_resolve(const struct index *ix, const char *path);
/* The directory holding rec's name; rec itself for the top or a detached record. */
uint32_t index_parent(const struct index *ix, uint32_t rec);
/* Whether rec is a live record (a number from the kernel may be stale). */
int index_valid(const struct index *ix, uint32_t rec);
/* Whether rec has lost its last name. */
int index_detached(const struct index *ix, uint32_t rec);
/* The record's struct index_rec; valid until the index changes. */
const struct index_rec *index_rec(const struct index *ix, uint32_t rec);
/* The stat of rec, as the store's lstat gave it. */
void index_stat(const struct index *ix, uint32_t rec, struct stat *st);
/* A symlink's target (NUL-terminated), or NULL when rec is none. */
const char *index_target(const struct index *ix, uint32_t rec);
/*
 * The path of rec below the top ("." for the top) into buf. -1 with
 * errno ENOENT (detached) or ENAMETOOLONG.
 */
int index_path(const struct index *ix, uint32_t rec, char *buf, size_t len);

/*
 * llistxattr's answer for rec: the names, each NUL-terminated, into buf
 * of size bytes (size 0: only the length). Returns the length, or -1
 * with errno ERANGE (too small).
 */
ssize_t index_listxattr(const struct index *ix, uint32_t rec, char *buf,
    size_t size);
/* lgetxattr's answer: the value's length, or -1 with ENODATA or ERANGE. */
ssize_t index_getxattr(const struct index *ix, uint32_t rec, const char *name,
    void *buf, size_t size);

/*
 * Lists directory dir from position *pos (0: the first name): sets
 * *name, *len and *rec of the next live name and *pos past it, and
 * returns 1; returns 0 at the end. Positions stay valid while the
 * directory is pinned.
 */
int index_dir_next(const struct index *ix, uint32_t dir, uint64_t *pos,
    const char **name, size_t *len, uint32_t *rec);
/* Pins (delta 1) or unpins (-1) dir's listing positions (an open listing). */
void index_dir_pin(struct index *ix, uint32_t dir, int delta);

/* Counts n uses of rec (saturating: a record used 2^32-1 times stays). */
void index_use(struct index *ix, uint32_t rec, uint64_t n);
/*
 * Gives back n uses of rec. Returns 1 when rec is detached and unused:
 * the caller then frees it with index_collect under the exclusive lock.
 */
int index_unuse(struct index *ix, uint32_t rec, uint64_t n);
/* Frees rec if it is still detached and unused. */
void index_collect(struct index *ix, uint32_t rec);

/* Bytes the index holds in memory (for the log). */
size_t index_memory(const struct index *ix);

#endif
