/* receiver: the destination half of a session: the protocol from HELLO to RESULT. */
#ifndef MIRRORFS_RECEIVER_H
#define MIRRORFS_RECEIVER_H

#include "commit.h"
#include "conn.h"
#include "result.h"
#include "store/store.h"

/* Where a session lands. */
struct receiver_target {
	const char *path;		/* the store's path, for messages */
	int master_flags;		/* MASTER_* for master_open when st is NULL */
	struct store *st;		/* an open store (the caller's), or NULL */
	const struct commit_observer *observer;	/* NULL: nobody serves the store */
	struct result *counts;		/* when not NULL: gets the session's counts */
	/*
	 * The memory the peer's manifest may take, in bytes (see
	 * receiver_manifest_cost); 0: RECEIVER_MAX_MANIFEST. A sender we
	 * trust (our own source) may be given UINT64_MAX.
	 */
	uint64_t max_manifest;
	/*
	 * c is a Unix socket to a sender on this machine: take the source
	 * files' descriptors it offers (SESSION_FDPASS, FILE_FD) and copy
	 * them here, no byte through the socket. Never for a session that
	 * came over a network (a relay passes frames, not descriptors).
	 */
	int fdpass;
	/*
	 * c is a socketpair with megabytes of room each way (session.c's
	 * own receiver thread): requests may go out while the manifest
	 * still comes, so the data flows sooner and fewer entries wait in
	 * memory. Elsewhere (a mount's control socket, a network) they go
	 * out only when nothing waits to be read: written while the
	 * sender writes, they could fill both ways and stop both ends.
	 */
	int roomy;
	/*
	 * A relay's report of the hops below this store (hops.h), sent as
	 * HOPS just before RESULT; NULL or empty: none sent.
	 */
	const struct hops *hops;
};

/* The most entries one session may carry (bounds the receiver's memory). */
#define RECEIVER_MAX_ENTRIES 20000000u

/* The default bound of a manifest's memory: 4 GiB. */
#define RECEIVER_MAX_MANIFEST (4ull << 30)

/*
 * What an entry costs the receiver: its strings, and its share of the
 * manifest, plan and index arrays (which grow by doubling).
 */
uint64_t receiver_manifest_cost(const struct entry *e);

/*
 * Runs one session arriving on c into the target store, opening it as
 * its master when t->st is NULL (a view, for a dry run). Sends the
 * result to the sender. Returns 0 when the session ran to its end, -1 on
 * a fatal error (logged, and sent to the peer as ERROR when the
 * connection allows): then nothing of the session was committed and
 * staging/ is cleared.
 */
int receiver_run(struct conn *c, const struct receiver_target *t);

#endif
