/* readhold: a store (or a mount of one) read as a source, at one committed generation. */
#ifndef MIRRORFS_READHOLD_H
#define MIRRORFS_READHOLD_H

#include <limits.h>
#include <stddef.h>

#include "conn.h"
#include "proto.h"
#include "store/store.h"

/*
 * A session whose source is a store, a directory inside one, or a
 * mirrorfs mount (or a directory inside it) must read one generation:
 * no commit into the store may land while it reads. When a mount serves
 * the store, its master grants a hold (CTL_HOLD: commits wait for it,
 * never longer than the master's -o hold_max, 30 s by default); else the
 * reader takes the store's lock itself, as its master (a sync into the
 * store waits for it, up to MASTER_WAIT_S, as for any other sync).
 */
enum readhold_kind {
	READHOLD_NONE = 0,	/* the source is no store */
	READHOLD_MASTER,	/* held by the mount that serves it */
	READHOLD_LOCK,		/* its lock is ours */
};

struct readhold {
	int kind;
	int top;		/* the source is the store's top (not through a
				   mount): its .mirrorfs is metadata, left out */
	char store[PATH_MAX];	/* the store's path, when kind is not NONE */
	struct conn conn;	/* READHOLD_MASTER: the hold */
	struct store st;	/* READHOLD_LOCK: the store, as its master */
	struct store_gen gen;	/* READHOLD_MASTER: what is read (else all 0) */
};

void readhold_init(struct readhold *rh);

/*
 * Whether source is a store's (a directory with .mirrorfs/staging/ at or
 * above it) or a mirrorfs mount's: 1 with the store's path in store
 * (and *top: source is the store's top, not through a mount), 0 when it
 * is neither, -1 logged (source cannot be resolved).
 */
int readhold_find(const char *source, char *store, size_t len, int *top);

/*
 * Finds whether source is a store's (readhold_find), and holds that store's commits
 * (see above). Returns 0 (rh->kind READHOLD_NONE when the source is
 * neither), -1 with the reason logged: the master refused or did not
 * answer in time, or the lock could not be had.
 */
int readhold_take(struct readhold *rh, const char *source);

/*
 * Everything is read: lets go of the hold. Returns 0 when no commit
 * landed while it was held, -1 with why (naming the store and what to
 * do) when one did (the master's hold expired) or the master's word on
 * it was lost; a session must then commit nothing of what it read.
 * Releases what rh holds either way.
 */
int readhold_done(struct readhold *rh, char *why, size_t len);

/* Lets go of whatever rh still holds (a session that failed). */
void readhold_release(struct readhold *rh);

#endif
