/* jspool: journal records spooled to an unnamed file of the store, read forward or backward. */
#include "jspool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "path.h"

#define JSPOOL_WRITE (64 * 1024)	/* appends buffered before a write */
#define JSPOOL_READ (16 * 1024)		/* the window, unless a record is bigger */
/* A record: u32 len, then len bytes (u64 ref, the encoding), u32 len. */
#define JSPOOL_FRAME 8

void
jspool_init(struct jspool *sp, const struct store *s)
{
	memset(sp, 0, sizeof(*sp));
	sp->fd = -1;
	buf_init(&sp->w);
	sp->metafd = s->metafd;
	snprintf(sp->name, sizeof(sp->name), "the commit's spool in %s/%s",
	    s->path, PATH_META);
}

void
jspool_release(struct jspool *sp)
{
	if (sp->fd != -1)
		close(sp->fd);
	sp->fd = -1;
	buf_release(&sp->w);
	free(sp->win);
	sp->win = NULL;
	journal_dec_release(&sp->dec);
}

/* Makes the failure with errno err stick, and logs it. Returns -1. */
static int
fail(struct jspool *sp, int err, const char *what)
{
	sp->err = err;
	errno = err;
	log_err("%s: %s", sp->name, what);
	return -1;
}

/* A failure that stuck, reported again. -1 with errno, or 0. */
static int
stuck(struct jspool *sp)
{
	if (sp->err == 0)
		return 0;
	errno = sp->err;
	log_err("%s: an earlier write failed", sp->name);
	return -1;
}

/* Writes out what is buffered, making the file first. -1 logged. */
static int
flush(struct jspool *sp)
{
	if (sp->w.len == 0)
		return 0;
	/* Through the store's descriptor: a store renamed meanwhile is still it. */
	if (sp->fd == -1 && (sp->fd = open_unnamed_at(sp->metafd)) == -1)
		return fail(sp, errno, "cannot make it");
	if (pwrite_all(sp->fd, sp->w.data, sp->w.len, sp->size) == -1)
		return fail(sp, errno, "write");
	sp->size += sp->w.len;
	buf_reset(&sp->w);
	return 0;
}

int
jspool_put(struct jspool *sp, const struct journal_rec *r)
{
	size_t start = sp->w.len, len;

	if (stuck(sp) == -1)
		return -1;
	if (buf_put_u32(&sp->w, 0) == -1 || buf_put_u64(&sp->w, r->ref) == -1 ||
	    journal_encode(r, &sp->w) == -1)
		return fail(sp, ENOMEM, "append");
	len = sp->w.len - start - 4;
	if (len > JSPOOL_REC_MAX)
		return fail(sp, EMSGSIZE, r->path);
	buf_store_u32(sp->w.data + start, (uint32_t)len);
	if (buf_put_u32(&sp->w, (uint32_t)len) == -1)
		return fail(sp, ENOMEM, "append");
	sp->n++;
	return sp->w.len >= JSPOOL_WRITE ? flush(sp) : 0;
}

int
jspool_rewind(struct jspool *sp, int backward)
{
	if (stuck(sp) == -1)
		return -1;
	/* Once anything is in the file, everything is: one place to read. */
	if (sp->fd != -1 && flush(sp) == -1)
		return -1;
	sp->backward = backward;
	sp->woff = 0;
	sp->wlen = 0;
	sp->at = backward ? (sp->fd == -1 ? sp->w.len : sp->size) : 0;
	return 0;
}

/* Reads [off, off + n) of the file into the window. -1 with errno. */
static int
fill(struct jspool *sp, uint64_t off, size_t n)
{
	ssize_t got;
	size_t done = 0;

	while (done < n) {
		got = pread(sp->fd, sp->win + done, n - done, (off_t)(off + done));
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got == 0)
				errno = EIO;	/* shorter than written */
			return -1;
		}
		done += (size_t)got;
	}
	sp->woff = off;
	sp->wlen = n;
	return 0;
}

/*
 * Points *p at len bytes at off of the spool: in the buffer while there
 * is no file, else through the window, refilled to reach ahead in the
 * direction of reading. -1 logged.
 */
static int
span(struct jspool *sp, uint64_t off, size_t len, const uint8_t **p)
{
	uint64_t total = sp->fd == -1 ? sp->w.len : sp->size, start;
	size_t want = len > JSPOOL_READ ? len : JSPOOL_READ;
	uint8_t *v;

	if (off > total || len > total - off)
		return fail(sp, EPROTO, "a record runs past the end");
	if (sp->fd == -1) {
		*p = sp->w.data + off;
		return 0;
	}
	if (off >= sp->woff && off + len <= sp->woff + sp->wlen) {
		*p = sp->win + (off - sp->woff);
		return 0;
	}
	if (want > sp->wcap) {
		if ((v = realloc(sp->win, want)) == NULL)
			return fail(sp, ENOMEM, "read");
		sp->win = v;
		sp->wcap = want;
	}
	start = !sp->backward ? off : off + len > want ? off + len - want : 0;
	if (fill(sp, start, total - start < want ? (size_t)(total - start) :
	    want) == -1)
		return fail(sp, errno, "read");
	*p = sp->win + (off - start);
	return 0;
}

/* Decodes the record of len bytes (its frame included) at off. -1 logged. */
static int
decode(struct jspool *sp, uint64_t off, size_t len, struct journal_rec *r)
{
	struct reader rd;
	const uint8_t *p;
	const char *why;
	uint64_t ref;

	if (span(sp, off, len, &p) == -1)
		return -1;
	if (buf_load_u32(p) != len - JSPOOL_FRAME ||
	    buf_load_u32(p + len - 4) != len - JSPOOL_FRAME)
		return fail(sp, EPROTO, "a record's lengths differ");
	reader_init(&rd, p + 4, len - JSPOOL_FRAME);
	ref = reader_u64(&rd);
	if (journal_decode(&rd, r, &sp->dec, &why) == -1 ||
	    reader_finish(&rd) == -1)
		return fail(sp, EPROTO, "a record is not what was written");
	r->ref = (size_t)ref;
	return 0;
}

int
jspool_next(struct jspool *sp, struct journal_rec *r)
{
	uint64_t total = sp->fd == -1 ? sp->w.len : sp->size;
	const uint8_t *p;
	size_t len;

	if (stuck(sp) == -1)
		return -1;
	if (sp->backward ? sp->at == 0 : sp->at == total)
		return 0;
	if (span(sp, sp->backward ? sp->at - 4 : sp->at, 4, &p) == -1)
		return -1;
	len = buf_load_u32(p);
	if (len < 8 || len > JSPOOL_REC_MAX)
		return fail(sp, EPROTO, "a record of a bad length");
	len += JSPOOL_FRAME;
	if (sp->backward && sp->at < len)
		return fail(sp, EPROTO, "a record runs past the start");
	if (sp->backward)
		sp->at -= len;
	if (decode(sp, sp->at, len, r) == -1)
		return -1;
	if (!sp->backward)
		sp->at += len;
	return 1;
}
