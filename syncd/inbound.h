/* inbound: one session accepted by the listener, in a process of its own started from mirrord's binary. */
#ifndef MIRRORFS_INBOUND_H
#define MIRRORFS_INBOUND_H

#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "config.h"

/* A client must be through the transport handshake within this. */
#define INBOUND_HANDSHAKE_S 10

/*
 * Starts the session process for the connection fd from peer
 * ("HOST:PORT"): mirrord's own binary run again (posix_spawn, never
 * fork in the threaded daemon) as `mirrord --session PEER`, given fd
 * and the configuration the daemon runs (its text and the listen key,
 * in a sealed memfd, with hops: the records of forward.h, what the
 * daemon knows of the hops below each store that forwards) as
 * descriptors 3 and 4, and fwd (the write end of
 * forward.h's pipe, -1: none) as FORWARD_FD. The child's pid in *pid;
 * the caller waits for it by that pid. fd stays the caller's to close.
 * -1 logged.
 */
int inbound_spawn(const struct config *cfg, const uint8_t *key,
    const struct buf *hops, int fd, int fwd, const char *peer, pid_t *pid);
/*
 * The process inbound_spawn started: authenticates the client (within
 * INBOUND_HANDSHAKE_S), runs it as the store's user when given,
 * receives the session (or passes it to the mount serving the store),
 * tells the daemon a commit its store forwards (forward.h). Returns the
 * exit status: 0 when the session committed.
 */
int inbound_main(const char *peer);

#endif
