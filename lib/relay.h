/* relay: a store that forwards streams each session on to its hops while it still receives it (pipelining). */
#ifndef MIRRORFS_RELAY_H
#define MIRRORFS_RELAY_H

#include "conn.h"
#include "net.h"
#include "receiver.h"

/*
 * A relay sits in a session process between the upstream sender and the
 * store (its mount, or a receiver of its own). When the upstream SESSION
 * arrives it opens a session to each hop, passes each ENTRY and
 * END_MANIFEST on as it arrives, and answers each hop's requests, in
 * ascending order, from the upstream's own FILE ... FILE_END frames (for
 * a file the store asked for: the hop checks the end-to-end hash itself)
 * or from the store (a file the store has unchanged). The upstream's
 * frames go through an unnamed spool file (O_TMPFILE), never memory: a
 * slow hop falls behind on disk and never slows the upstream. While it
 * relays, the store asks its upstream for whole files only (no deltas,
 * no resumed parts), so every byte a hop needs passes by.
 *
 * A hop is told COMMIT only after the store's own commit (the store's
 * RESULT passed by); any failure upstream (ERROR either way, a cut, the
 * store's failure) sends ERROR to every hop, so nothing is committed
 * below. A hop that fails or cannot be reached is dropped and logged: the
 * store's forward (forward.h: pending state, backoff, the latest
 * generation) delivers to it after the commit, as for any hop. Every wait
 * of a hop ends within the relay's timeout.
 *
 * One thread (the session's) calls relay_pump or relay_receive; each hop
 * runs in a thread of its own, started at SESSION.
 */
struct relay;

/*
 * A relay for the store at store_path to the hops dests (URLs; local
 * paths are left to the forward), reached with no (its key is copied),
 * each wait bounded by no->timeout_s. NULL when none of the hops can be
 * pipelined, or on ENOMEM (logged).
 */
struct relay *relay_alloc(const char *store_path, char *const *dests,
    size_t ndests, const struct net_opts *no);

/*
 * conn_relay between the upstream up and the store's master down (frames
 * from down shown to seen, as conn_relay does), feeding the hops on the
 * way. 0 when the stream ended, -1 logged.
 */
int relay_pump(struct relay *r, struct conn *up, struct conn *down,
    conn_seen_fn *seen, void *arg);

/*
 * receiver_run(up, t) with the hops fed on the way: the receiver runs in
 * a thread of this process behind a socketpair. Returns what
 * receiver_run returned (-1 also when the relay itself failed, logged).
 */
int relay_receive(struct relay *r, struct conn *up,
    const struct receiver_target *t);

/*
 * Waits for every hop's session to end (each within the timeout), logs
 * how many committed and frees r. Returns that number (0 for r NULL).
 * The forward still follows the store's commit (forward.h): for a hop
 * the relay reached, that session finds nothing to send and brings the
 * hop's state (its status, the hops below it).
 */
size_t relay_free(struct relay *r);

#endif
