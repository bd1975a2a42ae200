/* conn_impl: what conn.c and conn_async.c share; no other module includes it. */
#ifndef MIRRORFS_CONN_IMPL_H
#define MIRRORFS_CONN_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "seal.h"

struct conn;
struct conn_reader;

/* Sealed and written in pieces of this much (a few records). */
#define CONN_SEAL_PIECE (4 * SEAL_RECORD_MAX)

/*
 * The bounds a wait is under: c's own, or for a write queued to the
 * writer thread, c's as they were when it was queued.
 */
struct conn_limits {
	int timeout_ms;
	int64_t until;
	int until_s;
	const char *until_what;
};

/* CLOCK_MONOTONIC in milliseconds. */
int64_t conn_now_ms(void);
/* c's bounds as they are now. */
struct conn_limits conn_limits_of(const struct conn *c);
/* A wait reached deadline: logs what the peer did not do; -1, ETIMEDOUT. */
int conn_timed_out(struct conn *c, const struct conn_limits *l,
    int64_t deadline, const char *what);
/* Writes the iovecs whole to wfd under l; -1 (logged). Counts nothing. */
int conn_write_under(struct conn *c, const struct conn_limits *l,
    struct iovec *iov, int iovcnt);
/* seal_pull into dst, a failure logged as tampering. */
ssize_t conn_pull_sealed(struct conn *c, uint8_t *dst, size_t cap);
/* The end of a sealed stream: 0 between records, else -1 (logged). */
int conn_sealed_end(const struct conn *c);

/* conn_async.c: the writer thread (conn_async_writes). */
int conn_writer_put(struct conn *c, const struct iovec *iov, int iovcnt);
void conn_writer_stop(struct conn *c);
/* conn_async.c: the reader thread (conn_async_reads). */
ssize_t conn_reader_take(struct conn *c, uint8_t *dst, size_t cap);
int conn_reader_buffered(struct conn_reader *r);
void conn_reader_stop(struct conn *c);

#endif
