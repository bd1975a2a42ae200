/* filespool: the sender's regular files (index, path, size, mtime) in an unnamed file, read forward. */
#include "filespool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "hash.h"
#include "log.h"

/*
 * A record: this head, then the path and its NUL. The file never leaves
 * the process that wrote it: native byte order, no version. The check
 * (of every byte after it) tells a record read back that is not what
 * was written, which only a bug (or a disk that lies) makes.
 */
struct rec_head {
	uint32_t len;		/* of the whole record */
	uint32_t check;
	uint32_t index;
	uint32_t mtime_nsec;
	uint64_t size;
	int64_t mtime_sec;
};
#define HEAD sizeof(struct rec_head)
#define REC_MAX (HEAD + FILESPOOL_PATH_MAX + 1)

/* Records are written this many bytes at once, read as much at a time. */
#define WRITE_BYTES (64 * 1024)
#define READ_BYTES (16 * 1024)

struct filespool {
	int fd;
	char name[PATH_MAX + 32];	/* "the sender's spool in DIR" */
	uint8_t *wbuf;		/* records not yet written */
	size_t wlen, wcap;
	uint64_t end;		/* bytes in the file */
	uint32_t last;		/* the last index appended */
	int any;		/* one was */
	int failed;		/* a write failed: every call fails */
};

struct filespool_cursor {
	struct filespool *sp;
	uint8_t *buf;
	size_t cap;
	uint64_t off;		/* the file offset of buf[0] */
	size_t have;		/* bytes read into buf */
	size_t pos;		/* where the current record begins in buf */
	int cur;		/* rec holds the record at pos */
	struct filespool_rec rec;
	size_t reclen;
	uint32_t asked;		/* the last index asked */
	int any;
};

static uint32_t
rec_check(const uint8_t *rec, size_t len)
{
	return (uint32_t)hash_block(rec + 8, len - 8, len);
}

struct filespool *
filespool_open(void)
{
	const char *dir = getenv("TMPDIR");
	struct filespool *sp = calloc(1, sizeof(*sp));

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	if (sp == NULL || (sp->wbuf = malloc(WRITE_BYTES)) == NULL) {
		log_err("the sender's spool");
		free(sp);
		return NULL;
	}
	sp->wcap = WRITE_BYTES;
	snprintf(sp->name, sizeof(sp->name), "the sender's spool in %s", dir);
	/* A $TMPDIR we may not write in (another user's): /tmp then. */
	if ((sp->fd = open_unnamed(dir)) == -1 && errno == EACCES &&
	    strcmp(dir, "/tmp") != 0) {
		dir = "/tmp";
		snprintf(sp->name, sizeof(sp->name), "the sender's spool in %s",
		    dir);
		sp->fd = open_unnamed(dir);
	}
	if (sp->fd == -1) {
		log_err("%s ($TMPDIR, else /tmp): cannot make it", sp->name);
		free(sp->wbuf);
		free(sp);
		return NULL;
	}
	return sp;
}

void
filespool_free(struct filespool *sp)
{
	if (sp == NULL)
		return;
	close(sp->fd);
	free(sp->wbuf);
	free(sp);
}

const char *
filespool_name(const struct filespool *sp)
{
	return sp->name;
}

static int
spool_failed(const struct filespool *sp)
{
	log_errx("%s: writing it failed before", sp->name);
	return -1;
}

/* Writes the buffered records out. 0, or -1 logged (sp failed for good). */
static int
flush(struct filespool *sp)
{
	if (sp->failed)
		return spool_failed(sp);
	if (pwrite_all(sp->fd, sp->wbuf, sp->wlen, sp->end) == -1) {
		log_err("%s: writing %zu bytes at %llu", sp->name, sp->wlen,
		    (unsigned long long)sp->end);
		sp->failed = 1;
		return -1;
	}
	sp->end += sp->wlen;
	sp->wlen = 0;
	return 0;
}

int
filespool_append(struct filespool *sp, const struct filespool_rec *r)
{
	size_t plen = strlen(r->path), len = HEAD + plen + 1;
	struct rec_head h;
	uint8_t *at;

	if (sp->failed)
		return spool_failed(sp);
	if (plen == 0 || plen > FILESPOOL_PATH_MAX ||
	    (sp->any && r->index <= sp->last)) {
		log_errx("%s: record %u (\"%.64s\", %zu bytes) out of order "
		    "or of no length it may hold", sp->name, r->index,
		    r->path, plen);
		return -1;
	}
	if (sp->wcap - sp->wlen < len && flush(sp) == -1)
		return -1;
	if (sp->wcap < len) {	/* one path longer than the buffer */
		void *nb = realloc(sp->wbuf, len);

		if (nb == NULL) {
			log_err("%s", sp->name);
			return -1;
		}
		sp->wbuf = nb;
		sp->wcap = len;
	}
	at = sp->wbuf + sp->wlen;
	h.len = (uint32_t)len;
	h.check = 0;
	h.index = r->index;
	h.mtime_nsec = r->mtime_nsec;
	h.size = r->size;
	h.mtime_sec = r->mtime_sec;
	memcpy(at, &h, HEAD);
	memcpy(at + HEAD, r->path, plen + 1);
	h.check = rec_check(at, len);
	memcpy(at + offsetof(struct rec_head, check), &h.check,
	    sizeof(h.check));
	sp->wlen += len;
	sp->last = r->index;
	sp->any = 1;
	return 0;
}

struct filespool_cursor *
filespool_cursor_new(struct filespool *sp)
{
	struct filespool_cursor *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if ((c->buf = malloc(READ_BYTES)) == NULL) {
		free(c);
		return NULL;
	}
	c->cap = READ_BYTES;
	c->sp = sp;
	return c;
}

void
filespool_cursor_free(struct filespool_cursor *c)
{
	if (c == NULL)
		return;
	free(c->buf);
	free(c);
}

static int
corrupt(const struct filespool_cursor *c, const char *what)
{
	log_errx("%s: the record at %llu is not what was written (%s): a "
	    "bug", c->sp->name, (unsigned long long)(c->off + c->pos), what);
	return -1;
}

/*
 * Makes need bytes from the current record's start readable in c->buf:
 * 1, 0 when the spool holds fewer (so far), -1 logged.
 */
static int
fill(struct filespool_cursor *c, size_t need)
{
	struct filespool *sp = c->sp;
	uint64_t at;
	size_t want;
	ssize_t got;

	if (c->have - c->pos >= need)
		return 1;
	memmove(c->buf, c->buf + c->pos, c->have - c->pos);
	c->off += c->pos;
	c->have -= c->pos;
	c->pos = 0;
	if (need > c->cap) {
		void *nb = realloc(c->buf, need);

		if (nb == NULL) {
			log_err("%s", sp->name);
			return -1;
		}
		c->buf = nb;
		c->cap = need;
	}
	while (c->have < need) {
		at = c->off + c->have;
		/* What is still buffered is read back from the file. */
		if (at >= sp->end && sp->wlen > 0 && flush(sp) == -1)
			return -1;
		if (at >= sp->end)
			return 0;
		want = c->cap - c->have;
		if (want > sp->end - at)
			want = (size_t)(sp->end - at);
		got = pread(sp->fd, c->buf + c->have, want, (off_t)at);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1) {
			log_err("%s: reading at %llu", sp->name,
			    (unsigned long long)at);
			return -1;
		}
		if (got == 0)
			return corrupt(c, "the file is shorter than written");
		c->have += (size_t)got;
	}
	return 1;
}

/* Reads the record after the current one: 1, 0 at the end (so far), -1. */
static int
next_record(struct filespool_cursor *c)
{
	struct rec_head h;
	const uint8_t *p;
	int r;

	if (c->cur) {
		c->pos += c->reclen;
		c->cur = 0;
	}
	if ((r = fill(c, HEAD)) != 1)
		return r == 0 && c->have > c->pos ?
		    corrupt(c, "a part of a head") : r;
	memcpy(&h, c->buf + c->pos, HEAD);
	if (h.len < HEAD + 2 || h.len > REC_MAX)
		return corrupt(c, "its length");
	if ((r = fill(c, h.len)) != 1)
		return r == 0 ? corrupt(c, "a part of a record") : r;
	p = c->buf + c->pos;
	if (rec_check(p, h.len) != h.check)
		return corrupt(c, "its check");
	if (memchr(p + HEAD, '\0', h.len - HEAD) != p + h.len - 1)
		return corrupt(c, "its path");
	if (c->rec.path != NULL && h.index <= c->rec.index)
		return corrupt(c, "its index is not above the last");
	c->rec.index = h.index;
	c->rec.size = h.size;
	c->rec.mtime_sec = h.mtime_sec;
	c->rec.mtime_nsec = h.mtime_nsec;
	c->rec.path = (const char *)p + HEAD;
	c->reclen = h.len;
	c->cur = 1;
	return 1;
}

int
filespool_find(struct filespool_cursor *c, uint32_t index,
    struct filespool_rec *rec)
{
	int r;

	if (c->any && index < c->asked) {
		log_errx("%s: record %u asked after %u: a bug", c->sp->name,
		    index, c->asked);
		return -1;
	}
	c->any = 1;
	c->asked = index;
	for (;;) {
		if (c->cur && c->rec.index >= index) {
			if (c->rec.index > index)
				return 0;
			*rec = c->rec;
			return 1;
		}
		if ((r = next_record(c)) != 1)
			return r;
	}
}
