/* hops: the state of the hops below a store that forwards, as a relay reports it upstream (HOPS). */
#include "hops.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>


static const char *const state_names[] = {
	[HOP_OK] = "ok", [HOP_SYNCING] = "syncing", [HOP_OWED] = "owed",
	[HOP_RETRYING] = "retrying",
};

void
hops_init(struct hops *h)
{
	h->v = NULL;
	h->n = 0;
}

void
hops_release(struct hops *h)
{
	for (size_t i = 0; h->v != NULL && i < h->n; i++) {
		free(h->v[i].dest);
		free(h->v[i].error);
	}
	free(h->v);
	hops_init(h);
}

int
hops_add(struct hops *h, int depth, int state, int has_gen, uint64_t gen,
    int64_t delivered, const char *dest, const char *error)
{
	struct hop *v, *e;

	if (h->n >= HOPS_MAX || depth < 1 || depth > HOPS_MAX_DEPTH) {
		errno = E2BIG;
		return -1;
	}
	v = realloc(h->v, (h->n + 1) * sizeof(*v));
	if (v == NULL)
		return -1;
	h->v = v;
	e = &v[h->n];
	memset(e, 0, sizeof(*e));
	e->dest = strdup(dest);
	e->error = error != NULL && *error != '\0' ?
	    strndup(error, HOPS_MAX_ERROR) : NULL;
	if (e->dest == NULL || (error != NULL && *error != '\0' &&
	    e->error == NULL)) {
		free(e->dest);
		free(e->error);
		return -1;
	}
	e->depth = depth;
	e->state = state;
	e->has_gen = has_gen;
	e->gen = has_gen ? gen : 0;
	e->delivered = delivered;
	h->n++;
	return 0;
}

int
hops_add_below(struct hops *h, const struct hops *from)
{
	for (size_t i = 0; i < from->n; i++) {
		const struct hop *e = &from->v[i];

		if (hops_add(h, e->depth + 1, e->state, e->has_gen, e->gen,
		    e->delivered, e->dest, e->error) == -1 && errno != E2BIG)
			return -1;
	}
	return 0;
}

int
hops_encode(const struct hops *h, struct buf *b)
{
	int r = buf_put_u16(b, (uint16_t)h->n);

	for (size_t i = 0; !r && i < h->n; i++) {
		const struct hop *e = &h->v[i];

		r = buf_put_u8(b, (uint8_t)e->depth) ||
		    buf_put_u8(b, (uint8_t)e->state) ||
		    buf_put_u8(b, e->has_gen ? 1 : 0) ||
		    buf_put_u64(b, e->gen) ||
		    buf_put_u64(b, (uint64_t)e->delivered) ||
		    buf_put_str(b, e->dest) ||
		    buf_put_str(b, e->error ? e->error : "");
	}
	return r ? -1 : 0;
}

static int
bad(char *err, size_t errlen, const char *why, size_t i)
{
	snprintf(err, errlen, "HOPS: hop %zu: %s", i, why);
	return -1;
}

/* One hop off r, checked against the one before it (prev depth). */
static int
decode_one(struct reader *r, struct hops *h, size_t i, int prev, char *err,
    size_t errlen)
{
	int depth = reader_u8(r), state = reader_u8(r), has_gen = reader_u8(r);
	uint64_t gen = reader_u64(r);
	int64_t delivered = (int64_t)reader_u64(r);
	char *dest = reader_str(r, PATH_MAX - 1);
	char *error = reader_str(r, HOPS_MAX_ERROR);
	int rc = -1;

	if (dest == NULL || error == NULL || r->failed)
		bad(err, errlen, "truncated", i);
	else if (depth < 1 || depth > HOPS_MAX_DEPTH || depth > prev + 1)
		bad(err, errlen, "depth out of order", i);
	else if (state < HOP_OK || state > HOP_STATE_MAX || has_gen > 1 ||
	    (!has_gen && gen != 0) || delivered < 0)
		bad(err, errlen, "malformed", i);
	else if (*dest == '\0')
		bad(err, errlen, "no destination", i);
	else if (hops_add(h, depth, state, has_gen, gen, delivered, dest,
	    error) == -1)
		bad(err, errlen, strerror(errno), i);
	else
		rc = 0;
	free(dest);
	free(error);
	return rc;
}

int
hops_decode(const uint8_t *p, size_t n, struct hops *h, char *err,
    size_t errlen)
{
	struct reader r;
	size_t count;

	reader_init(&r, p, n);
	count = reader_u16(&r);
	if (count > HOPS_MAX) {
		snprintf(err, errlen, "HOPS: %zu hops (at most %d)", count,
		    HOPS_MAX);
		return -1;
	}
	for (size_t i = 0; i < count; i++)
		if (decode_one(&r, h, i, i == 0 ? 0 : h->v[i - 1].depth, err,
		    errlen) == -1)
			goto fail;
	if (reader_finish(&r) == -1) {
		snprintf(err, errlen, "HOPS: malformed");
		goto fail;
	}
	return 0;
fail:
	hops_release(h);
	return -1;
}

const char *
hops_state_name(int state)
{
	return state >= HOP_OK && state <= HOP_STATE_MAX ? state_names[state] :
	    "?";
}

void
hops_text(const struct hops *h, FILE *f, const char *prefix)
{
	for (size_t i = 0; i < h->n; i++) {
		const struct hop *e = &h->v[i];

		fprintf(f, "%s%*shop %s: %s", prefix, 2 * (e->depth - 1), "",
		    e->dest, hops_state_name(e->state));
		if (e->has_gen)
			fprintf(f, ", generation %llu",
			    (unsigned long long)e->gen);
		if (e->error != NULL)
			fprintf(f, ": %s", e->error);
		fputc('\n', f);
	}
}
