/* delta_patch: a delta applied to the old version, every command checked before it is done. */
#include "delta.h"
#include "delta_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"

enum patch_step {
	PATCH_MAGIC,		/* the delta's first 4 bytes */
	PATCH_COMMAND,		/* a command's byte */
	PATCH_ARGS,		/* its arguments */
	PATCH_LITERAL,		/* the bytes of an 'L' */
	PATCH_DONE		/* after 'E' */
};

struct patch_state {
	int fd;			/* the old version (the caller's) */
	uint64_t basis_size;
	uint64_t made;		/* bytes of the new version so far */
	uint64_t at;		/* bytes of the delta taken so far */
	uint64_t literal_left;
	enum patch_step step;
	uint8_t command;
	uint32_t want;		/* bytes of args wanted */
	uint32_t fill;
	uint8_t args[16];
	uint8_t rbuf[DELTA_OUT];	/* a copy from the old version */
};

/* A copy from the old version, read and passed on in pieces. */
static int
patch_copy(struct delta_job *j, struct patch_state *p, uint64_t off,
    uint64_t n, char *err, size_t errlen)
{
	if (n == 0 || off > p->basis_size || n > p->basis_size - off) {
		snprintf(err, errlen, "a copy of %llu bytes from offset %llu, "
		    "outside the old version's %llu bytes (at byte %llu of the "
		    "delta)", (unsigned long long)n, (unsigned long long)off,
		    (unsigned long long)p->basis_size,
		    (unsigned long long)p->at);
		return -1;
	}
	/* The literal bytes gathered before it go out first. */
	if (delta_out_flush(&j->out) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	while (n > 0) {
		size_t want = n < sizeof(p->rbuf) ? (size_t)n : sizeof(p->rbuf);
		ssize_t got = pread(p->fd, p->rbuf, want, (off_t)off);

		if (got <= 0) {
			snprintf(err, errlen, "reading the old version: %s",
			    got == 0 ? "it shrank" : strerror(errno));
			return -1;
		}
		if (j->out.emit != NULL &&
		    j->out.emit(j->out.arg, p->rbuf, (size_t)got) == -1) {
			snprintf(err, errlen, "%s", strerror(errno));
			return -1;
		}
		off += (uint64_t)got;
		n -= (uint64_t)got;
		p->made += (uint64_t)got;
	}
	return 0;
}

/* The command whose arguments came is carried out. */
static int
patch_command(struct delta_job *j, struct patch_state *p, char *err,
    size_t errlen)
{
	struct reader r;
	uint64_t a, b;

	reader_init(&r, p->args, p->want);
	p->step = PATCH_COMMAND;
	switch (p->command) {
	case DELTA_CMD_LITERAL:
		a = reader_u32(&r);
		if (a == 0 || a > DELTA_LITERAL_MAX) {
			snprintf(err, errlen, "a literal of %llu bytes (1 to %u; "
			    "at byte %llu of the delta)", (unsigned long long)a,
			    DELTA_LITERAL_MAX, (unsigned long long)p->at);
			return -1;
		}
		p->literal_left = a;
		p->step = PATCH_LITERAL;
		return 0;
	case DELTA_CMD_COPY:
		a = reader_u64(&r);
		b = reader_u64(&r);
		return patch_copy(j, p, a, b, err, errlen);
	default:	/* DELTA_CMD_END */
		a = reader_u64(&r);
		if (a != p->made) {
			snprintf(err, errlen, "the delta says %llu bytes, it made "
			    "%llu", (unsigned long long)a,
			    (unsigned long long)p->made);
			return -1;
		}
		p->step = PATCH_DONE;
		return 0;
	}
}

/* A command's byte: how many bytes of arguments follow. */
static int
patch_begin_command(struct patch_state *p, uint8_t c, char *err,
    size_t errlen)
{
	p->command = c;
	p->fill = 0;
	p->step = PATCH_ARGS;
	switch (c) {
	case DELTA_CMD_LITERAL: p->want = 4; return 0;
	case DELTA_CMD_COPY: p->want = 16; return 0;
	case DELTA_CMD_END: p->want = 8; return 0;
	}
	snprintf(err, errlen, "an unknown command 0x%02x at byte %llu of the "
	    "delta", c, (unsigned long long)p->at);
	return -1;
}

static int
patch_feed(struct delta_job *j, const uint8_t *in, size_t n, int eof,
    char *err, size_t errlen)
{
	struct patch_state *p = j->state;

	while (n > 0 && p->step != PATCH_DONE) {
		size_t k;

		switch (p->step) {
		case PATCH_COMMAND:
			if (patch_begin_command(p, *in, err, errlen) == -1)
				return -1;
			k = 1;
			break;
		case PATCH_LITERAL:
			k = p->literal_left < n ? (size_t)p->literal_left : n;
			/* Gathered: many small literals are not a write each. */
			if (delta_out_put(&j->out, in, k) == -1) {
				snprintf(err, errlen, "%s", strerror(errno));
				return -1;
			}
			p->made += k;
			if ((p->literal_left -= k) == 0)
				p->step = PATCH_COMMAND;
			break;
		default:	/* PATCH_MAGIC, PATCH_ARGS */
			k = p->want - p->fill < n ? p->want - p->fill : n;
			memcpy(p->args + p->fill, in, k);
			p->fill += (uint32_t)k;
			if (p->fill < p->want)
				break;
			if (p->step == PATCH_MAGIC) {
				if (buf_load_u32(p->args) != DELTA_MAGIC) {
					snprintf(err, errlen, "not a delta (magic "
					    "0x%08x)", buf_load_u32(p->args));
					return -1;
				}
				p->step = PATCH_COMMAND;
			} else if (patch_command(j, p, err, errlen) == -1)
				return -1;
		}
		in += k;
		n -= k;
		p->at += k;
	}
	if (p->step == PATCH_DONE) {
		if (n > 0) {
			snprintf(err, errlen, "bytes after the end of the "
			    "stream");
			return -1;
		}
		return 1;
	}
	if (eof) {
		snprintf(err, errlen, "the stream ended early (after %llu "
		    "bytes)", (unsigned long long)p->at);
		return -1;
	}
	return 0;
}

static const struct delta_job_ops patch_ops = { patch_feed, free };

struct delta_job *
delta_patch_begin(int basisfd)
{
	struct patch_state *p;
	struct stat st;

	if (fstat(basisfd, &st) == -1)
		return NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->fd = basisfd;
	p->basis_size = (uint64_t)st.st_size;
	p->want = 4;
	return delta_job_new(&patch_ops, p);
}
