/* buf: a growable byte buffer for encoding, and a bounds-checked reader. */
#ifndef MIRRORFS_BUF_H
#define MIRRORFS_BUF_H

#include <stddef.h>
#include <stdint.h>

/*
 * A buf owns its bytes. Invariant: len <= cap; data is NULL only while
 * cap is 0. Integers are encoded big-endian.
 */
struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);
/* Frees the contents; the buf is reusable after buf_init. */
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
/* Returns 0, or -1 with errno ENOMEM (the buf is unchanged). */
int buf_reserve(struct buf *b, size_t extra);
int buf_put(struct buf *b, const void *p, size_t n);
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u16(struct buf *b, uint16_t v);
int buf_put_u32(struct buf *b, uint32_t v);
int buf_put_u64(struct buf *b, uint64_t v);
/* A string as u16 length then bytes (no NUL). */
int buf_put_str(struct buf *b, const char *s);
int buf_put_bytes16(struct buf *b, const void *p, size_t n);

/*
 * A reader over bytes it does not own. Any read past the end sets
 * failed and yields zeros, so a decoder checks once at its end.
 */
struct reader {
	const uint8_t *p;
	size_t left;
	int failed;
};

/* The big-endian 32-bit number at p (a frame's or a record's length). */
uint32_t buf_load_u32(const uint8_t *p);
/* Writes v big-endian at p (4 and 8 bytes): a record of fixed size. */
void buf_store_u32(uint8_t *p, uint32_t v);
void buf_store_u64(uint8_t *p, uint64_t v);

void reader_init(struct reader *r, const void *p, size_t n);
uint8_t reader_u8(struct reader *r);
uint16_t reader_u16(struct reader *r);
uint32_t reader_u32(struct reader *r);
uint64_t reader_u64(struct reader *r);
/* Points *p at n bytes inside the input; NULL on failure. */
const void *reader_bytes(struct reader *r, size_t n);
/*
 * Copies a u16-length string into a new NUL-terminated allocation the
 * caller frees. Fails on a length over max or an embedded NUL.
 */
char *reader_str(struct reader *r, size_t max);
/* 0 when every read fit and nothing is left over, else -1. */
int reader_finish(const struct reader *r);

#endif
