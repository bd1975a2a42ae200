/* buf: a growable byte buffer for encoding, and a bounds-checked reader. */
#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_release(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
}

int
buf_reserve(struct buf *b, size_t extra)
{
	size_t want, cap;
	uint8_t *p;

	if (extra > SIZE_MAX - b->len) {
		errno = ENOMEM;
		return -1;
	}
	want = b->len + extra;
	if (want <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	p = realloc(b->data, cap);
	if (p == NULL)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int
buf_put(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (buf_reserve(b, n) == -1)
		return -1;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int
buf_put_u8(struct buf *b, uint8_t v)
{
	return buf_put(b, &v, 1);
}

int
buf_put_u16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = { v >> 8, v };

	return buf_put(b, x, sizeof(x));
}

int
buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4];

	buf_store_u32(x, v);
	return buf_put(b, x, sizeof(x));
}

int
buf_put_u64(struct buf *b, uint64_t v)
{
	if (buf_put_u32(b, v >> 32) == -1)
		return -1;
	return buf_put_u32(b, (uint32_t)v);
}

int
buf_put_bytes16(struct buf *b, const void *p, size_t n)
{
	if (n > UINT16_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (buf_put_u16(b, n) == -1)
		return -1;
	return buf_put(b, p, n);
}

int
buf_put_str(struct buf *b, const char *s)
{
	return buf_put_bytes16(b, s, strlen(s));
}

void
reader_init(struct reader *r, const void *p, size_t n)
{
	r->p = p;
	r->left = n;
	r->failed = 0;
}

const void *
reader_bytes(struct reader *r, size_t n)
{
	const uint8_t *p;

	if (r->failed || n > r->left) {
		r->failed = 1;
		return NULL;
	}
	p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

uint8_t
reader_u8(struct reader *r)
{
	const uint8_t *p = reader_bytes(r, 1);

	return p ? p[0] : 0;
}

uint16_t
reader_u16(struct reader *r)
{
	const uint8_t *p = reader_bytes(r, 2);

	return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

uint32_t
buf_load_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

void
buf_store_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void
buf_store_u64(uint8_t *p, uint64_t v)
{
	buf_store_u32(p, (uint32_t)(v >> 32));
	buf_store_u32(p + 4, (uint32_t)v);
}

uint32_t
reader_u32(struct reader *r)
{
	const uint8_t *p = reader_bytes(r, 4);

	return p == NULL ? 0 : buf_load_u32(p);
}

uint64_t
reader_u64(struct reader *r)
{
	uint64_t hi = reader_u32(r);

	return hi << 32 | reader_u32(r);
}

char *
reader_str(struct reader *r, size_t max)
{
	uint16_t n = reader_u16(r);
	const char *p;
	char *s;

	if (n > max) {
		r->failed = 1;
		return NULL;
	}
	p = reader_bytes(r, n);
	if (p == NULL || memchr(p, '\0', n) != NULL) {
		r->failed = 1;
		return NULL;
	}
	s = malloc((size_t)n + 1);
	if (s == NULL) {
		r->failed = 1;
		return NULL;
	}
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

int
reader_finish(const struct reader *r)
{
	return r->failed || r->left != 0 ? -1 : 0;
}
