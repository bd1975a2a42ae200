/* serve: the master's control socket: sync sessions and queries from mirrorctl. */
#ifndef MIRRORFS_SERVE_H
#define MIRRORFS_SERVE_H

#include "mount.h"

struct server;

/* Listens on the store's control.sock and serves it in a thread. NULL logged. */
struct server *server_start(struct mount *m);
/* Stops accepting, waits for sessions in progress, removes the socket. */
void server_stop(struct server *sv);

/* How long a slave mount may take to answer the master. */
#define SLAVE_TIMEOUT_MS 10000
/* How long a session's client may be silent, when it does not say (CTL). */
#define SESSION_TIMEOUT_S 120

/* The default of -o hold_max: how long a reader may keep commits waiting. */
#define HOLD_MAX_DEFAULT_S 30

/* Closes every slave's subscription (after the store lock is released). */
void server_drop_slaves(struct mount *m);

#endif
