/* jspool: journal records spooled to an unnamed file of the store, read forward or backward. */
#ifndef MIRRORFS_JSPOOL_H
#define MIRRORFS_JSPOOL_H

#include <limits.h>
#include <stdint.h>

#include "buf.h"
#include "journal.h"
#include "store.h"
#include "xattr.h"

/*
 * A commit's records as a session finds them, so that nothing of them
 * stays in memory until the commit: each record is appended in the
 * journal's own encoding (journal_encode) with its ref, between two
 * copies of its length, so the spool reads back in either direction.
 * Appends go through a 64 KiB buffer; the file is made at the first
 * buffer that fills (a small commit never touches the disk), unnamed
 * (O_TMPFILE) in the store's .mirrorfs: on the store's filesystem,
 * counted against its space, and gone with the process whatever ends it.
 */
struct jspool {
	char name[PATH_MAX + 64];	/* "the commit's spool in DIR", for messages */
	int metafd;		/* STORE/.mirrorfs (the store's: not ours to close) */
	int fd;			/* -1 until the first write */
	struct buf w;		/* appended, not yet written */
	uint64_t size;		/* bytes written to fd */
	uint64_t n;		/* records appended */
	int err;		/* the errno of the failure that stuck, or 0 */
	/* Reading: the window holds [woff, woff + wlen) of the spool. */
	uint8_t *win;
	size_t wcap;
	uint64_t woff;
	size_t wlen;
	uint64_t at;		/* the next record starts (forward) or ends here */
	int backward;
	struct journal_dec dec;	/* the strings of the record read last */
};

/* The longest record, encoded: a path, a staged name and an entry's xattrs. */
#define JSPOOL_REC_MAX (XATTR_MAX_ENTRY + 2 * PATH_MAX + 256)

/* An empty spool for store s (nothing is made yet). */
void jspool_init(struct jspool *sp, const struct store *s);
/* Closes the file (its space is freed) and frees the buffers. */
void jspool_release(struct jspool *sp);

/*
 * Appends r and its ref. -1 logged naming the spool and the reason
 * (EMSGSIZE: a record over JSPOOL_REC_MAX; ENOSPC: the store's
 * filesystem is full), and the failure sticks: every later put, rewind
 * and next fails the same way, for the spool lacks a record.
 */
int jspool_put(struct jspool *sp, const struct journal_rec *r);

/*
 * Starts reading from the first record (backward 0) or the last (1),
 * writing out what is buffered first. Appending after it is not
 * allowed until the reading ends. -1 logged, as jspool_put.
 */
int jspool_rewind(struct jspool *sp, int backward);

/*
 * The next record in the direction rewind chose: 1 with *r filled (its
 * strings and attributes valid until the next call on sp), 0 past the
 * last, -1 logged (a read error, a record that is not what was written).
 */
int jspool_next(struct jspool *sp, struct journal_rec *r);

#endif
