/* conn: framed, buffered message I/O over a pair of file descriptors. */
#ifndef MIRRORFS_CONN_H
#define MIRRORFS_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

/* No frame (type byte plus payload) is ever longer than this. */
#define CONN_MAX_FRAME (1024 * 1024 + 4096)
/* Descriptors a conn holds received and not yet taken; more are closed. */
#define CONN_MAX_FDS 4

/*
 * Every frame is a u32 big-endian length, then that many bytes: one type
 * byte and the payload. A conn owns its descriptors (closes them on
 * release) and is used by one thread at a time (conn_async_writes and
 * conn_async_reads add threads of its own, one writing, one reading).
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
	/*
	 * A whole frame must arrive, and a whole flush be taken, within
	 * timeout_ms (0: no limit): one byte now and then never keeps a
	 * silent peer alive. The descriptors are non-blocking.
	 */
	int timeout_ms;
	int64_t rdeadline;	/* the frame being received (CLOCK_MONOTONIC ms) */
	int64_t until;		/* 0, or every wait ends by then (conn_until) */
	int until_s;
	const char *until_what;
	pid_t child;		/* a remote shell serving this conn, reaped on release */
	int gave_up;		/* a wait of ours ran out (conn_release) */
	/* zstd stream compression of everything after conn_compress(). */
	struct ZSTD_CCtx_s *zc;
	struct ZSTD_DCtx_s *zd;
	struct buf zout;	/* compressed bytes waiting to be written */
	uint8_t *zin;		/* compressed bytes read, not yet decompressed */
	size_t zin_cap;
	size_t zin_start;
	size_t zin_end;
	size_t zin_hint;	/* zstd's last hint: 3 (a block header) between blocks */
	int zin_more;		/* it filled rbuf: it may hold more, input or not */
	/* The record layer of everything after conn_seal() (below zstd). */
	struct seal *seal;
	struct buf sout;	/* sealed records waiting to be written */
	struct conn_writer *writer;	/* conn_async_writes(), or NULL */
	struct conn_reader *reader;	/* conn_async_reads(), or NULL */
	/* Descriptors received (conn_accept_fds), oldest first. */
	int accept_fds;
	int fds[CONN_MAX_FDS];
	int nfds;
};

/*
 * Returns 0, or -1 (ENOMEM). rfd and wfd may be the same socket; both
 * are made non-blocking (the waits are the conn's, with their deadlines).
 */
int conn_init(struct conn *c, int rfd, int wfd, const char *peer);

/*
 * A socketpair for a peer in this process (a local receiver, a relay's
 * own receiver), each end's buffers bufsize bytes: frames of a whole
 * chunk pass without a wait on small kernel buffers. 0, or -1 logged.
 */
int conn_socketpair(int sv[2], int bufsize);
/*
 * Closes the descriptors and frees c. A remote shell serving it (child)
 * is given CONN_REAP_MS to exit once its input ends, then killed; after
 * one of c's waits timed out, SIGTERM at once and CONN_REAP_GAVE_UP_MS.
 * It is always reaped.
 */
/*
 * From now on every wait of c ends within seconds (0: no such bound),
 * however the frames come: a phase such as a handshake must be over by
 * then. Past it a read or write fails with ETIMEDOUT, logged as "PEER
 * did not WHAT within N s" (what is a static string).
 */
void conn_until(struct conn *c, int seconds, const char *what);
void conn_release(struct conn *c);

#define CONN_REAP_MS 5000
#define CONN_REAP_GAVE_UP_MS 1000

/*
 * From now on, compresses what this side sends at zstd level (1-19) and
 * decompresses what it receives; both ends must switch at the same frame.
 * bytes_out and bytes_in then count compressed bytes. -1 on ENOMEM.
 */
int conn_compress(struct conn *c, int level);

/*
 * From now on, everything this side sends is sealed with tx and
 * everything it receives must open with rx, with cipher (enum
 * seal_cipher, seal.h): a byte changed, dropped, moved or added on the
 * way fails the next receive, logged as tampering by the peer. Call
 * before conn_compress (compression happens above the seal). Keys are
 * copied. -1 on ENOMEM or a cipher failure.
 */
int conn_seal(struct conn *c, int cipher, const uint8_t *tx,
    const uint8_t *rx);
/*
 * From now on a thread of c's own seals and writes what is sent, while
 * the caller goes on: a send or flush only queues (up to 1 MiB, then it
 * waits for room). A write that fails in
 * that thread fails the next send or flush with its reason (log_last).
 * bytes_out counts what is queued. conn_release writes what is queued
 * first, under the deadlines it was queued with. The receiving half
 * stays the caller's. Only on a sealed conn (else EINVAL); -1 with errno.
 */
int conn_async_writes(struct conn *c);
/*
 * From now on a thread of c's own reads and opens what arrives, up to
 * 1 MiB ahead of the caller, who takes it as before (each frame still
 * within timeout_ms). rfd is then the thread's: not for conn_relay or a
 * poll of the caller's. Only on a sealed conn without compression (else
 * EINVAL); -1 with errno.
 */
int conn_async_reads(struct conn *c);
/*
 * 1 when a thread of c's own has a core to run on: this machine has 2
 * or more, and 4 or more when the peer is on it too (both ends, each
 * with its thread, then share them). Else the caller's thread does it
 * all: on 2 cores a loopback session's two processes keep both busy, and
 * a handoff between threads only adds a copy.
 */
int conn_async_pays(const struct conn *c);

/*
 * Forwards frames both ways between a and b until either side ends the
 * stream (0) or fails (-1, logged), or neither sends anything for the
 * longer of their timeouts (ETIMEDOUT). Used to pass a session on to a
 * store's master. When seen is not NULL it is shown every frame going
 * from b to a.
 */
typedef void conn_seen_fn(void *arg, uint8_t type, const uint8_t *p, size_t n);
int conn_relay(struct conn *a, struct conn *b, conn_seen_fn *seen, void *arg);

/*
 * conn_relay where pass sends each frame on to `to` (from_a: it came
 * from a) as it came, rewritten, or after noting it: 0, or -1 to end the
 * relay (logged by pass).
 */
typedef int conn_pass_fn(void *arg, int from_a, struct conn *to, uint8_t type,
    const uint8_t *p, size_t n);
int conn_relay_pass(struct conn *a, struct conn *b, conn_pass_fn *pass,
    void *arg);

/*
 * Queues one frame; flushes when the buffer fills. -1 on a write error,
 * or a peer that takes nothing for timeout_ms (ETIMEDOUT) (logged).
 */
int conn_send(struct conn *c, uint8_t type, const void *payload, size_t len);
/*
 * Over a Unix socket: sends one frame with descriptor fd attached
 * (SCM_RIGHTS), after everything queued; the caller keeps its fd. Not
 * with compression or a seal (EINVAL). -1 with errno, logged except for
 * ETOOMANYREFS (too many descriptors in flight: nothing was sent, the
 * caller may send the frame another way).
 */
int conn_send_fd(struct conn *c, uint8_t type, const void *payload,
    size_t len, int fd);
/*
 * From now on takes the descriptors a peer attaches to what it sends
 * (never more than CONN_MAX_FDS waiting; the rest are closed).
 */
void conn_accept_fds(struct conn *c);
/*
 * The oldest descriptor received and not yet taken, now the caller's;
 * -1 with ENOENT when none came, with EMFILE when one came that this
 * process had no room for (the kernel dropped it: ulimit -n). A descriptor arrives with the bytes of the frame it
 * was sent with, so the one for a frame is there once the frame is.
 */
int conn_take_fd(struct conn *c);
/*
 * 1 when conn_recv has something to read at once: a frame (or compressed
 * input) buffered, or bytes waiting on rfd (the rest of a frame they
 * begin may still take up to timeout_ms); else 0.
 */
int conn_readable(struct conn *c);
/* Writes everything queued. -1 as conn_send. */
int conn_flush(struct conn *c);

/*
 * Reads the next frame. *payload stays valid until the next conn_recv.
 * Returns 1 for a frame, 0 for end of stream at a frame boundary, -1 on
 * a read error, a truncated or oversized frame, or a frame not whole
 * within timeout_ms (ETIMEDOUT) (logged, naming the peer).
 */
int conn_recv(struct conn *c, uint8_t *type, const uint8_t **payload,
    size_t *len);

#endif
