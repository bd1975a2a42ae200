/* delta_encode: the delta of a new version against a loaded signature (rsync's rolling search). */
#include "delta.h"
#include "delta_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hash.h"
#include "log.h"

/* Bytes of unmatched input gathered before they go out as one 'L'. */
#define LITERAL_RUN (64 * 1024)
/*
 * Strong sums of windows that then did not match, in bytes hashed: at
 * most this plus four times the input. A signature crafted so that weak
 * sums match everywhere costs the search no more; the rest goes as it is.
 */
#define FALSE_ALARM_BASE (16u * 1024 * 1024)

struct encode_state {
	struct delta_sig *sig;	/* the caller's */
	uint8_t *w;		/* input not yet said: w[start, len) */
	size_t cap;
	size_t start;		/* the literal run starts here */
	size_t pos;		/* and ends here, where the window starts */
	size_t len;
	struct rollsum rs;	/* of the window, when have_weak */
	int have_weak;
	int looked;		/* and it was looked up, in vain */
	int gave_up;		/* the false alarms' budget is spent */
	int started;
	uint32_t expect;	/* the block after the last match */
	uint64_t copy_off;	/* a 'C' still growing */
	uint64_t copy_len;
	uint64_t total;		/* bytes of the new version taken in */
	uint64_t hashed;	/* false alarms so far */
};

static int
put_copy(struct delta_job *j, struct encode_state *e)
{
	uint8_t cmd[17];

	if (e->copy_len == 0)
		return 0;
	cmd[0] = DELTA_CMD_COPY;
	buf_store_u64(cmd + 1, e->copy_off);
	buf_store_u64(cmd + 9, e->copy_len);
	e->copy_len = 0;
	return delta_out_put(&j->out, cmd, sizeof(cmd));
}

/* The literal run before the window goes out (after the copy before it). */
static int
put_literal(struct delta_job *j, struct encode_state *e)
{
	uint8_t cmd[5];

	if (e->pos == e->start)
		return 0;
	if (put_copy(j, e) == -1)
		return -1;
	while (e->start < e->pos) {
		size_t n = e->pos - e->start < DELTA_LITERAL_MAX ?
		    e->pos - e->start : DELTA_LITERAL_MAX;

		cmd[0] = DELTA_CMD_LITERAL;
		buf_store_u32(cmd + 1, (uint32_t)n);
		if (delta_out_put(&j->out, cmd, sizeof(cmd)) == -1 ||
		    delta_out_put(&j->out, e->w + e->start, n) == -1)
			return -1;
		e->start += n;
	}
	return 0;
}

/* The window is block k of the old version: a copy, joined to the last when they touch. */
static int
matched(struct delta_job *j, struct encode_state *e, uint32_t k)
{
	uint64_t off = (uint64_t)k * e->sig->block_len;
	uint32_t n = delta_sig_block_len(e->sig, k);

	if (put_literal(j, e) == -1)
		return -1;
	if (e->copy_len > 0 && e->copy_off + e->copy_len != off &&
	    put_copy(j, e) == -1)
		return -1;
	if (e->copy_len == 0)
		e->copy_off = off;
	e->copy_len += n;
	e->pos += n;
	e->start = e->pos;
	e->have_weak = 0;
	e->looked = 0;
	e->expect = k + 1;
	return 0;
}

/*
 * The block the window at pos is, or -1. Right after a match the next
 * block is tried first, by its strong sum alone: an unchanged stretch
 * costs one hash of each block and no weak sums at all.
 */
static long
window_block(struct encode_state *e)
{
	const struct delta_sig *s = e->sig;
	const uint8_t *win = e->w + e->pos;
	uint32_t b = s->block_len;

	if (!e->have_weak) {
		if (e->expect < s->n && delta_sig_block_len(s, e->expect) == b &&
		    hash_block(win, b, s->seed) == s->strong[e->expect])
			return e->expect;
		rollsum_init(&e->rs, win, b);
		e->have_weak = 1;
	}
	if (e->gave_up || e->looked)
		return -1;
	e->looked = 1;
	return delta_sig_find(s, rollsum_value(&e->rs), win, b, &e->hashed);
}

/* The last bytes, shorter than a block: the old version's short last block, or as they are. */
static int
search_tail(struct delta_job *j, struct encode_state *e)
{
	const struct delta_sig *s = e->sig;
	const uint8_t *tail = e->w + e->pos;
	size_t n = e->len - e->pos;
	uint32_t last = s->n - 1;
	struct rollsum rs;

	/* Only the last block can be shorter than a block. */
	if (n > 0 && s->n > 0 && !e->gave_up &&
	    delta_sig_block_len(s, last) == n) {
		rollsum_init(&rs, tail, n);
		if (rollsum_value(&rs) == s->weak[last] &&
		    hash_block(tail, n, s->seed) == s->strong[last])
			return matched(j, e, last);
	}
	e->pos = e->len;
	return 0;
}

/* Says all of the input it can: the window moves on until a block matches. */
static int
search(struct delta_job *j, struct encode_state *e, int eof)
{
	uint32_t b = e->sig->block_len;
	long k;

	while (e->len - e->pos >= b) {
		if (!e->gave_up &&
		    e->hashed > FALSE_ALARM_BASE + 4 * e->total) {
			log_debug("delta: the signature's weak sums match "
			    "without their blocks too often: the rest goes as "
			    "it is");
			e->gave_up = 1;
		}
		if ((k = window_block(e)) >= 0) {
			if (matched(j, e, (uint32_t)k) == -1)
				return -1;
			continue;
		}
		if (e->pos + b == e->len) {
			if (!eof)
				return 0;	/* the next byte is still to come */
			e->pos++;
			e->have_weak = 0;
			e->looked = 0;
			break;
		}
		rollsum_roll(&e->rs, e->w[e->pos], e->w[e->pos + b]);
		e->looked = 0;
		e->pos++;
		if (e->pos - e->start >= LITERAL_RUN && put_literal(j, e) == -1)
			return -1;
	}
	if (eof && search_tail(j, e) == -1)
		return -1;
	return 0;
}

/* Makes room for more input: what is said already leaves the buffer. */
static void
compact(struct encode_state *e)
{
	memmove(e->w, e->w + e->start, e->len - e->start);
	e->pos -= e->start;
	e->len -= e->start;
	e->start = 0;
}

static int
put_end(struct delta_job *j, struct encode_state *e)
{
	uint8_t cmd[9];

	if (put_literal(j, e) == -1 || put_copy(j, e) == -1)
		return -1;
	cmd[0] = DELTA_CMD_END;
	buf_store_u64(cmd + 1, e->total);
	return delta_out_put(&j->out, cmd, sizeof(cmd));
}

static int
encode_feed(struct delta_job *j, const uint8_t *in, size_t n, int eof,
    char *err, size_t errlen)
{
	struct encode_state *e = j->state;

	if (!e->started) {
		uint8_t magic[4];

		buf_store_u32(magic, DELTA_MAGIC);
		if (delta_out_put(&j->out, magic, sizeof(magic)) == -1)
			goto emit_failed;
		e->started = 1;
	}
	while (n > 0) {
		size_t k;

		if (e->len == e->cap)
			compact(e);
		k = e->cap - e->len < n ? e->cap - e->len : n;
		memcpy(e->w + e->len, in, k);
		e->len += k;
		e->total += k;
		in += k;
		n -= k;
		if (search(j, e, 0) == -1)
			goto emit_failed;
	}
	if (!eof)
		return 0;
	if (search(j, e, 1) == -1 || put_end(j, e) == -1)
		goto emit_failed;
	return 1;
emit_failed:
	snprintf(err, errlen, "%s", strerror(errno));
	return -1;
}

static void
encode_free(void *arg)
{
	struct encode_state *e = arg;

	free(e->w);
	free(e);
}

static const struct delta_job_ops encode_ops = { encode_feed, encode_free };

uint64_t
delta_encode_false_alarms(const struct delta_job *j)
{
	const struct encode_state *e = j->state;

	return j->ops == &encode_ops ? e->hashed : 0;
}

struct delta_job *
delta_encode_begin(struct delta_sig *sig)
{
	struct encode_state *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	e->sig = sig;
	/* What search leaves unsaid is under a run and a block: room for as much again. */
	e->cap = 2 * ((size_t)LITERAL_RUN + sig->block_len);
	if ((e->w = malloc(e->cap)) == NULL) {
		free(e);
		return NULL;
	}
	return delta_job_new(&encode_ops, e);
}
