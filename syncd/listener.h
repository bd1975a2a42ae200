/* listener: mirrord's TCP listener; each session runs in a child process. */
#ifndef MIRRORFS_LISTENER_H
#define MIRRORFS_LISTENER_H

#include "config.h"

struct listener;

/* Loads [listen] key and binds [listen] address. NULL logged. */
struct listener *listener_open(const struct config *cfg);
/* The fd to poll for connections. */
int listener_fd(const struct listener *l);
/*
 * Accepts one connection and serves it in a child process: authenticates
 * it, runs it as the store's user when given, receives the session (or
 * passes it to the mount serving the store). cfg must outlive the call.
 */
void listener_accept(struct listener *l, const struct config *cfg);
/* Collects the session processes that ended. */
void listener_reap(struct listener *l);
/* Stops listening and the sessions in progress (they roll back). */
void listener_close(struct listener *l);

#endif
