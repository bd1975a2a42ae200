/* session: runs a session from a source to its destinations (local, mounted, ssh, mirror). */
#ifndef MIRRORFS_SESSION_H
#define MIRRORFS_SESSION_H

#include <stddef.h>

#include "net.h"
#include "result.h"
#include "sender.h"

/* One destination of session_run, and what became of it. */
struct session_dest {
	struct dest d;
	struct result res;	/* initialised and filled by session_run */
	int failed;		/* the session to it failed: */
	int unknown;		/* ... after the commit began (else nothing committed) */
	char error[512];	/* then why */
};

/*
 * Synchronizes source into every destination at once (the source is
 * scanned and read once). A local store is reached through its master
 * (the mount serving it, over .mirrorfs/control.sock) when it has one,
 * so the commit is never done behind the mount's back; else a receiver
 * runs in a thread of this process, speaking the wire protocol over a
 * socketpair. ssh:// runs `RSH HOST mirrord --serve PATH`; mirror://
 * connects to mirrord with the pre-shared key. Returns 0 with each
 * destination's outcome filled in, -1 when nothing could be done (the
 * source unreadable; logged).
 */
int session_run(const char *source, struct session_dest *dests, size_t n,
    const struct sender_opts *o, const struct net_opts *no);

/*
 * The destination half of a session arriving on c (after the transport
 * is open): passed on to the store's master when a mount serves it (its
 * control socket), else received here into the store (created when
 * missing). Returns 0 when the session ran to its end, -1 logged; counts,
 * when not NULL, gets what the session did. hops, when not NULL and not
 * empty, goes to the sender as HOPS just before the RESULT (a relay's
 * report of the hops below the store, hops.h). relay, when not NULL,
 * streams the session on to the store's hops as it comes (relay.h).
 */
struct conn;
struct hops;
struct relay;
int session_receive(struct conn *c, const char *store, struct result *counts,
    const struct hops *hops, struct relay *relay);

#endif
