/* listener: mirrord's TCP listener: admission, a process per session (inbound.c), each reaped by its pid. */
#ifndef MIRRORFS_LISTENER_H
#define MIRRORFS_LISTENER_H

#include "buf.h"
#include "config.h"

struct listener;

/* Loads [listen] key and binds [listen] address. NULL logged. */
struct listener *listener_open(const struct config *cfg);
/* The fd to poll for connections. */
int listener_fd(const struct listener *l);
/*
 * Accepts one connection and starts its session process (inbound.h),
 * given hops (forward.h's records: the hops below each store that
 * forwards), or, with [listen] max_sessions sessions running, refuses it
 * at once with a message to the client and a line in the log.
 */
void listener_accept(struct listener *l, const struct config *cfg,
    const struct buf *hops);
/* The fd to poll for what the session processes tell (forward.h). */
int listener_told_fd(const struct listener *l);
/*
 * Collects the session processes that ended and reads what the session
 * processes told: calls committed with the name of each store of cfg
 * that one of them committed a session into and that forwards it
 * (forward.h), and keeps which of them relay a session into which store
 * (listener_relaying) until they say they are done or end.
 */
void listener_reap(struct listener *l, const struct config *cfg,
    void (*committed)(void *arg, const char *store), void *arg);
/* How many session processes relay a session into store now. */
size_t listener_relaying(const struct listener *l, const char *store);
/* Stops listening and the sessions in progress (they roll back). */
void listener_close(struct listener *l);

#endif
