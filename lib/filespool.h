/* filespool: the sender's regular files (index, path, size, mtime) in an unnamed file, read forward. */
#ifndef MIRRORFS_FILESPOOL_H
#define MIRRORFS_FILESPOOL_H

#include <stdint.h>

/*
 * What serving a request needs of a regular file of the manifest, so the
 * sender keeps none of its entries in memory: the walk appends a record
 * per file, in ascending index order, and each reader (a cursor) finds
 * the records it wants in ascending order too, reading the file forward
 * through a buffer of its own. The file has no name (O_TMPFILE): nothing
 * of it outlives the process, whatever ends it.
 */
struct filespool_rec {
	uint32_t index;		/* the entry's position in the manifest */
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	const char *path;	/* relative to the top (FILESPOOL_PATH_MAX) */
};

/* The longest path a record holds, in bytes (the protocol's u16). */
#define FILESPOOL_PATH_MAX 65535

struct filespool;
struct filespool_cursor;

/*
 * An empty spool, in $TMPDIR when it is set (and we may write there),
 * else /tmp: an O_TMPFILE
 * file, or an unlinked mkstemp one where the filesystem has no
 * O_TMPFILE. NULL, logged with the directory and the reason.
 */
struct filespool *filespool_open(void);
/* Closes the file and frees sp (NULL: nothing); its cursors first. */
void filespool_free(struct filespool *sp);
/* For messages: "the sender's spool in DIR". */
const char *filespool_name(const struct filespool *sp);

/*
 * Appends r (copied; r->index above every index appended before).
 * Buffered: a write error may show here or at a later call (append or
 * find), which then fails the same way. -1 logged naming the spool and
 * the reason (ENOSPC: its filesystem is full); after one failure every
 * call fails.
 */
int filespool_append(struct filespool *sp, const struct filespool_rec *r);

/* A reader of sp from its first record: NULL with ENOMEM. */
struct filespool_cursor *filespool_cursor_new(struct filespool *sp);
void filespool_cursor_free(struct filespool_cursor *c);

/*
 * The record of index: 1 with *rec filled (its path valid until the next
 * call on c), 0 when no record of that index has been appended (not a
 * regular file, or not found yet), -1 logged: a read or write error, an
 * index below one asked of c before (asking the same again is fine), or
 * a record read back that is not what was written (a bug).
 */
int filespool_find(struct filespool_cursor *c, uint32_t index,
    struct filespool_rec *rec);

#endif
