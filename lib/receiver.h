/* receiver: the destination half of a session (plan, staging, commit). */
#ifndef MIRRORFS_RECEIVER_H
#define MIRRORFS_RECEIVER_H

#include <sys/stat.h>

#include "conn.h"
#include "journal.h"
#include "result.h"
#include "store.h"

/*
 * The process that owns a store and serves it (the mount) sees every
 * commit through these calls, in this order, from the session's thread:
 *   begin()                  freeze the view (no open may start)
 *   check(n, paths, olds, why)  may these paths (now olds) be replaced or
 *                            removed? why[i] stays NULL to allow, or is
 *                            set to a reason (static) to skip that entry
 *   committing(journal)      the journal is durable; it is carried out next
 *   replacing(path, old)*    just before path changes (journal order)
 *   end(journal)             invalidate what changed; thaw the view
 * end() is called whenever begin() was, even when the commit fails (then
 * with the journal built so far, possibly empty).
 */
struct store_owner {
	void *arg;
	void (*begin)(void *arg);
	void (*check)(void *arg, size_t n, const char *const *paths,
	    const struct stat *olds, const char **why);
	void (*committing)(void *arg, const struct journal *j);
	void (*replacing)(void *arg, const char *path, const struct stat *old);
	void (*end)(void *arg, const struct journal *j);
};

/* Where a session lands. */
struct receiver_target {
	const char *path;		/* the store's path, for messages */
	int store_flags;		/* for store_open when st is NULL */
	struct store *st;		/* an open store (the caller's), or NULL */
	const struct store_owner *owner;	/* NULL: nobody serves the store */
	struct result *counts;		/* when not NULL: gets the session's counts */
};

/*
 * Runs one session arriving on c into the target store, opening it when
 * t->st is NULL. Sends the result to the sender. Returns 0 when the
 * session ran to its end, -1 on a fatal error (logged, and sent to the
 * peer as ERROR when the connection allows): then nothing of the
 * session was committed and staging/ is cleared.
 */
int receiver_run(struct conn *c, const struct receiver_target *t);

#endif
