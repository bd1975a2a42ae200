/* conn: framed, buffered message I/O over a pair of file descriptors. */
#ifndef MIRRORFS_CONN_H
#define MIRRORFS_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* No frame (type byte plus payload) is ever longer than this. */
#define CONN_MAX_FRAME (1024 * 1024 + 4096)

/*
 * Every frame is a u32 big-endian length, then that many bytes: one type
 * byte and the payload. A conn owns its descriptors (closes them on
 * release) and is used by one thread at a time.
 */
struct conn {
	int rfd;
	int wfd;
	char *peer;		/* names the other end in messages */
	struct buf wbuf;
	uint8_t *rbuf;
	size_t rstart;
	size_t rend;
	uint64_t bytes_out;
	uint64_t bytes_in;
	int timeout_ms;		/* a receive waits at most this long; 0: forever */
};

/* Returns 0, or -1 (ENOMEM). rfd and wfd may be the same socket. */
int conn_init(struct conn *c, int rfd, int wfd, const char *peer);
void conn_release(struct conn *c);

/* Queues one frame; flushes when the buffer fills. -1 on a write error (logged). */
int conn_send(struct conn *c, uint8_t type, const void *payload, size_t len);
/* Writes everything queued. -1 on a write error (logged). */
int conn_flush(struct conn *c);

/*
 * Reads the next frame. *payload stays valid until the next conn_recv.
 * Returns 1 for a frame, 0 for end of stream at a frame boundary, -1 on
 * a read error, a truncated or oversized frame, or no data within
 * timeout_ms (ETIMEDOUT) (logged, naming the peer).
 */
int conn_recv(struct conn *c, uint8_t *type, const uint8_t **payload,
    size_t *len);

#endif
