/* delta: rsync-style block deltas: a basis file's signature, a delta against it, the patch. */
#include "delta.h"
#include "delta_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "buf.h"
#include "hash.h"

#define DELTA_READ (256 * 1024)		/* basis read per step of a signature */
/* Candidates of one weak sum looked at: equal sums past it are rare unless crafted. */
#define FIND_MAX_CANDIDATES 8
/* Slots looked at for one weak sum (the table is at most half full). */
#define FIND_MAX_PROBES 32

/*
 * Blocks of about the square root of the size, as rsync sizes them: the
 * signature and the search's steps then grow alike with the file.
 */
static uint32_t
block_len_for(uint64_t size)
{
	uint64_t b = DELTA_BLOCK_MIN;

	while (b < DELTA_BLOCK_MAX && b * b < size)
		b += 1024;
	return (uint32_t)b;
}

static uint64_t
blocks_of(uint64_t size, uint32_t block_len)
{
	return size / block_len + (size % block_len != 0);
}

uint64_t
delta_sig_size(uint64_t size)
{
	return DELTA_SIG_HEADER + blocks_of(size, block_len_for(size)) *
	    DELTA_SIG_RECORD;
}

/*
 * The sum of p's bytes and the sum of each byte times its place (mod
 * 2^32), the two numbers a rolling sum is made of.
 */
static void
byte_sums(const uint8_t *p, size_t n, uint32_t *sum, uint32_t *placed)
{
	uint32_t a = 0, t = 0;
	size_t i = 0;

#if defined(__SSE2__)
	/*
	 * 16 bytes a step, a signature's whole cost otherwise (1 GB/s in
	 * plain C here): _mm_sad_epu8 adds them up, _mm_madd_epi16 weighs
	 * them by their place in the step; each step's sum, counted once
	 * more for every later step, gives the places of the steps.
	 */
	const __m128i zero = _mm_setzero_si128();
	const __m128i w_lo = _mm_setr_epi16(0, 1, 2, 3, 4, 5, 6, 7);
	const __m128i w_hi = _mm_setr_epi16(8, 9, 10, 11, 12, 13, 14, 15);
	__m128i vsum = zero, vprefix = zero, vweight = zero;
	uint64_t steps = n / 16, lanes[2];
	uint32_t w[4], s1, before;

	for (; i + 16 <= n; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(p + i));

		vprefix = _mm_add_epi64(vprefix, vsum);
		vsum = _mm_add_epi64(vsum, _mm_sad_epu8(x, zero));
		vweight = _mm_add_epi32(vweight, _mm_add_epi32(
		    _mm_madd_epi16(_mm_unpacklo_epi8(x, zero), w_lo),
		    _mm_madd_epi16(_mm_unpackhi_epi8(x, zero), w_hi)));
	}
	_mm_storeu_si128((__m128i *)lanes, vsum);
	s1 = (uint32_t)(lanes[0] + lanes[1]);
	_mm_storeu_si128((__m128i *)lanes, vprefix);
	before = (uint32_t)(lanes[0] + lanes[1]);	/* sum over steps of the sums before */
	_mm_storeu_si128((__m128i *)w, vweight);
	a = s1;
	/* step k starts at 16k: sum of 16k * (its sum) = 16 ((steps-1) s1 - before) */
	t = 16 * ((uint32_t)(steps ? steps - 1 : 0) * s1 - before) +
	    w[0] + w[1] + w[2] + w[3];
#endif
	for (; i < n; i++) {
		a += p[i];
		t += (uint32_t)i * p[i];
	}
	*sum = a;
	*placed = t;
}

void
rollsum_init(struct rollsum *r, const uint8_t *p, size_t n)
{
	uint32_t a, t;

	byte_sums(p, n, &a, &t);
	/* b = sum of (n - i) * (x[i] + offset) */
	r->len = (uint32_t)n;
	r->b = (uint32_t)n * a - t +
	    DELTA_CHAR_OFFSET * (uint32_t)((uint64_t)n * (n + 1) / 2);
	r->a = a + DELTA_CHAR_OFFSET * (uint32_t)n;
}

int
delta_out_flush(struct delta_out *o)
{
	int rc = 0;

	if (o->len > 0 && o->emit != NULL)
		rc = o->emit(o->arg, o->b, o->len);
	o->len = 0;
	return rc;
}

int
delta_out_put(struct delta_out *o, const void *p, size_t n)
{
	const uint8_t *q = p;

	while (n > 0) {
		size_t k = sizeof(o->b) - o->len < n ? sizeof(o->b) - o->len : n;

		memcpy(o->b + o->len, q, k);
		o->len += k;
		q += k;
		n -= k;
		if (o->len == sizeof(o->b) && delta_out_flush(o) == -1)
			return -1;
	}
	return 0;
}

int
delta_gather(uint8_t *part, uint32_t *fill, size_t want, const uint8_t **in,
    size_t *n)
{
	size_t k = want - *fill < *n ? want - *fill : *n;

	memcpy(part + *fill, *in, k);
	*fill += (uint32_t)k;
	*in += k;
	*n -= k;
	return *fill == want;
}

struct delta_job *
delta_job_new(const struct delta_job_ops *ops, void *state)
{
	struct delta_job *j;

	if (state == NULL)
		return NULL;
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		ops->free(state);
		return NULL;
	}
	j->ops = ops;
	j->state = state;
	return j;
}

int
delta_feed(struct delta_job *j, const void *in, size_t n, int eof,
    delta_emit_fn *emit, void *arg, char *err, size_t errlen)
{
	int r;

	if (j->done) {
		if (n > 0) {
			snprintf(err, errlen, "bytes after the end of the "
			    "stream");
			return -1;
		}
		return 1;
	}
	j->out.emit = emit;
	j->out.arg = arg;
	r = j->ops->feed(j, in, n, eof, err, errlen);
	if (r != -1 && delta_out_flush(&j->out) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if (r == 1)
		j->done = 1;
	return r;
}

void
delta_free(struct delta_job *j)
{
	if (j == NULL)
		return;
	j->ops->free(j->state);
	free(j);
}

/* The signature of a basis, fed as it is read. */
struct sig_state {
	uint64_t size;		/* announced */
	uint64_t fed;
	uint64_t seed;
	uint32_t block_len;
	uint32_t fill;		/* bytes of a block waiting in blk */
	int started;
	uint8_t blk[];
};

static int
sig_record(struct delta_job *j, const struct sig_state *s, const uint8_t *p,
    size_t n)
{
	uint8_t rec[DELTA_SIG_RECORD];
	struct rollsum r;

	rollsum_init(&r, p, n);
	buf_store_u32(rec, rollsum_value(&r));
	buf_store_u64(rec + 4, hash_block(p, n, s->seed));
	return delta_out_put(&j->out, rec, sizeof(rec));
}

static int
sig_header(struct delta_job *j, struct sig_state *s)
{
	uint8_t h[DELTA_SIG_HEADER];

	buf_store_u32(h, DELTA_SIG_MAGIC);
	buf_store_u32(h + 4, s->block_len);
	buf_store_u64(h + 8, s->size);
	buf_store_u64(h + 16, s->seed);
	s->started = 1;
	return delta_out_put(&j->out, h, sizeof(h));
}

static int
sig_feed(struct delta_job *j, const uint8_t *in, size_t n, int eof, char *err,
    size_t errlen)
{
	struct sig_state *s = j->state;
	uint32_t b = s->block_len;

	if (!s->started && sig_header(j, s) == -1)
		goto emit_failed;
	if (n > s->size - s->fed) {
		snprintf(err, errlen, "the old version grew past the %llu "
		    "bytes announced", (unsigned long long)s->size);
		return -1;
	}
	s->fed += n;
	while (n > 0) {
		if (s->fill == 0 && n >= b) {	/* a whole block in place */
			if (sig_record(j, s, in, b) == -1)
				goto emit_failed;
			in += b;
			n -= b;
			continue;
		}
		if (delta_gather(s->blk, &s->fill, b, &in, &n)) {
			s->fill = 0;
			if (sig_record(j, s, s->blk, b) == -1)
				goto emit_failed;
		}
	}
	if (!eof)
		return 0;
	if (s->fed != s->size) {
		snprintf(err, errlen, "the old version shrank: %llu of the "
		    "%llu bytes announced", (unsigned long long)s->fed,
		    (unsigned long long)s->size);
		return -1;
	}
	if (s->fill > 0 && sig_record(j, s, s->blk, s->fill) == -1)
		goto emit_failed;
	return 1;
emit_failed:
	snprintf(err, errlen, "%s", strerror(errno));
	return -1;
}

static const struct delta_job_ops sig_ops = { sig_feed, free };

struct delta_job *
delta_sig_begin(uint64_t basis_size)
{
	uint32_t b = block_len_for(basis_size);
	struct sig_state *s = calloc(1, sizeof(*s) + b);

	if (s == NULL)
		return NULL;
	s->size = basis_size;
	s->block_len = b;
	/*
	 * A seed of our own for the strong sums, as rsync's checksum seed:
	 * nobody can prepare blocks that collide with ours in advance.
	 */
	if (getrandom(&s->seed, sizeof(s->seed), 0) != sizeof(s->seed)) {
		free(s);
		return NULL;
	}
	return delta_job_new(&sig_ops, s);
}

/* A signature from the peer, checked as it comes. */
struct load_state {
	struct delta_sig *sig;
	uint64_t blocks;	/* announced by the header */
	uint32_t cap;
	uint32_t fill;
	int have_header;
	uint8_t part[DELTA_SIG_HEADER];	/* the header, or a record's start */
};

void
delta_sig_free(struct delta_sig *s)
{
	if (s == NULL)
		return;
	free(s->weak);
	free(s->strong);
	free(s->order);
	free(s->slot);
	free(s);
}

static void
load_free(void *arg)
{
	struct load_state *l = arg;

	delta_sig_free(l->sig);
	free(l);
}

static int
load_header(struct load_state *l, char *err, size_t errlen)
{
	struct delta_sig *s = l->sig;
	struct reader r;
	uint32_t magic;

	reader_init(&r, l->part, DELTA_SIG_HEADER);
	magic = reader_u32(&r);
	s->block_len = reader_u32(&r);
	s->basis_size = reader_u64(&r);
	s->seed = reader_u64(&r);
	if (magic != DELTA_SIG_MAGIC) {
		snprintf(err, errlen, "not a signature (magic 0x%08x)", magic);
		return -1;
	}
	if (s->block_len < DELTA_BLOCK_MIN || s->block_len > DELTA_BLOCK_MAX) {
		snprintf(err, errlen, "a signature of %u-byte blocks (%u to "
		    "%u)", s->block_len, DELTA_BLOCK_MIN, DELTA_BLOCK_MAX);
		return -1;
	}
	l->blocks = blocks_of(s->basis_size, s->block_len);
	if (l->blocks > DELTA_MAX_SIG_TOTAL / DELTA_SIG_RECORD) {
		snprintf(err, errlen, "a signature of %llu blocks (at most %u)",
		    (unsigned long long)l->blocks,
		    DELTA_MAX_SIG_TOTAL / DELTA_SIG_RECORD);
		return -1;
	}
	return 0;
}

/* Takes one record: the arrays grow with what came, not with what the header says. */
static int
load_record(struct load_state *l, const uint8_t *p, char *err, size_t errlen)
{
	struct delta_sig *s = l->sig;

	if (s->n == l->blocks) {
		snprintf(err, errlen, "more than the %llu blocks of a %llu-byte "
		    "file", (unsigned long long)l->blocks,
		    (unsigned long long)s->basis_size);
		return -1;
	}
	if (s->n == l->cap) {
		/* Never past what the header announced: held, as sent. */
		uint64_t want = l->cap ? 2 * (uint64_t)l->cap : 1024;
		uint32_t cap = (uint32_t)(want < l->blocks ? want : l->blocks);
		uint32_t *w = realloc(s->weak, cap * sizeof(*w));
		uint64_t *st;

		if (w != NULL)
			s->weak = w;
		st = w == NULL ? NULL : realloc(s->strong, cap * sizeof(*st));
		if (st == NULL) {
			snprintf(err, errlen, "%s", strerror(ENOMEM));
			return -1;
		}
		s->strong = st;
		l->cap = cap;
	}
	s->weak[s->n] = buf_load_u32(p);
	s->strong[s->n] = (uint64_t)buf_load_u32(p + 4) << 32 |
	    buf_load_u32(p + 8);
	s->n++;
	return 0;
}

static int
load_feed(struct delta_job *j, const uint8_t *in, size_t n, int eof,
    char *err, size_t errlen)
{
	struct load_state *l = j->state;

	while (n > 0) {
		size_t want = l->have_header ? DELTA_SIG_RECORD :
		    DELTA_SIG_HEADER;

		if (l->fill == 0 && l->have_header && n >= want) {
			if (load_record(l, in, err, errlen) == -1)
				return -1;
			in += want;
			n -= want;
			continue;
		}
		if (!delta_gather(l->part, &l->fill, want, &in, &n))
			continue;
		l->fill = 0;
		if (l->have_header) {
			if (load_record(l, l->part, err, errlen) == -1)
				return -1;
		} else if (load_header(l, err, errlen) == -1)
			return -1;
		else
			l->have_header = 1;
	}
	if (!eof)
		return 0;
	if (!l->have_header || l->fill != 0 || l->sig->n != l->blocks) {
		snprintf(err, errlen, "the signature ended early (%u of %llu "
		    "blocks)", l->sig->n, (unsigned long long)l->blocks);
		return -1;
	}
	return 1;
}

static const struct delta_job_ops load_ops = { load_feed, load_free };

struct delta_job *
delta_load_begin(void)
{
	struct load_state *l = calloc(1, sizeof(*l));

	if (l != NULL && (l->sig = calloc(1, sizeof(*l->sig))) == NULL) {
		free(l);
		l = NULL;
	}
	return delta_job_new(&load_ops, l);
}

/* By weak sum, then by number: the first of equal blocks is found first. */
static int
cmp_by_weak(const void *a, const void *b, void *arg)
{
	const uint32_t *weak = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	if (weak[x] != weak[y])
		return weak[x] < weak[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

/*
 * Weak sums are sums: their low bits repeat. A multiply by a key of our
 * own, drawn for each signature, spreads them, and a peer cannot choose
 * sums that crowd one part of the table: it does not know the key.
 */
static uint32_t
slot_of(const struct delta_sig *s, uint32_t weak)
{
	return (uint32_t)((weak * s->key) >> (64 - s->bits));
}

/* The slot after h, round the table. */
static uint32_t
next_slot(const struct delta_sig *s, uint32_t h)
{
	return (h + 1) & (uint32_t)((1ull << s->bits) - 1);
}

/*
 * Sorts the blocks by weak sum and makes the open-addressing table over
 * each weak sum's first block. A sum with no free slot within
 * FIND_MAX_PROBES is left out (never with a table at most half full and
 * an unknown key): its blocks are not found, the delta only larger.
 */
static int
sig_index(struct delta_sig *s)
{
	size_t slots = 16;

	s->bits = 4;
	while (slots < (size_t)s->n * 2) {
		slots *= 2;
		s->bits++;
	}
	if (getrandom(&s->key, sizeof(s->key), 0) != sizeof(s->key))
		return -1;
	s->key |= 1;
	s->order = malloc((s->n ? s->n : 1) * sizeof(*s->order));
	s->slot = calloc(slots, sizeof(*s->slot));
	if (s->order == NULL || s->slot == NULL) {
		errno = ENOMEM;
		return -1;
	}
	for (uint32_t k = 0; k < s->n; k++)
		s->order[k] = k;
	qsort_r(s->order, s->n, sizeof(*s->order), cmp_by_weak, s->weak);
	for (uint32_t o = 0; o < s->n; o++) {
		uint32_t weak = s->weak[s->order[o]], h = slot_of(s, weak);

		if (o > 0 && weak == s->weak[s->order[o - 1]])
			continue;
		for (int probe = 0; probe < FIND_MAX_PROBES; probe++,
		    h = next_slot(s, h))
			if (s->slot[h] == 0) {
				s->slot[h] = o + 1;
				break;
			}
	}
	return 0;
}

struct delta_sig *
delta_load_end(struct delta_job *j, char *err, size_t errlen)
{
	struct load_state *l = j->state;
	struct delta_sig *s = NULL;

	if (!j->done) {
		snprintf(err, errlen, "the signature ended early");
		goto out;
	}
	if (sig_index(l->sig) == -1) {
		snprintf(err, errlen, "indexing the signature: %s",
		    strerror(errno));
		goto out;
	}
	s = l->sig;
	l->sig = NULL;
out:
	delta_free(j);
	return s;
}

uint32_t
delta_sig_block_len(const struct delta_sig *s, uint32_t k)
{
	uint64_t end = ((uint64_t)k + 1) * s->block_len;

	return end <= s->basis_size ? s->block_len :
	    (uint32_t)(s->basis_size - (uint64_t)k * s->block_len);
}

long
delta_sig_find(const struct delta_sig *s, uint32_t weak, const uint8_t *p,
    size_t n, uint64_t *hashed)
{
	uint32_t h, o;
	uint64_t strong = 0;
	int have_strong = 0;

	h = slot_of(s, weak);
	for (int probe = 0;; probe++, h = next_slot(s, h)) {
		if (probe == FIND_MAX_PROBES || s->slot[h] == 0)
			return -1;
		if (s->weak[s->order[s->slot[h] - 1]] == weak)
			break;
	}
	o = s->slot[h] - 1;
	for (int c = 0; c < FIND_MAX_CANDIDATES && o < s->n &&
	    s->weak[s->order[o]] == weak; c++, o++) {
		uint32_t k = s->order[o];

		if (delta_sig_block_len(s, k) != n)
			continue;
		if (!have_strong) {
			strong = hash_block(p, n, s->seed);
			have_strong = 1;
		}
		if (s->strong[k] == strong)
			return k;
	}
	if (have_strong)
		*hashed += n;
	return -1;
}

int
delta_signature(int fd, uint64_t size, delta_emit_fn *emit, void *arg,
    char *err, size_t errlen)
{
	struct delta_job *j = delta_sig_begin(size);
	uint8_t *buf = malloc(DELTA_READ);
	uint64_t off = 0;
	ssize_t got;
	int rc = -1;

	if (j == NULL || buf == NULL) {
		snprintf(err, errlen, "%s", strerror(errno ? errno : ENOMEM));
		goto out;
	}
	while (off < size) {
		size_t want = size - off < DELTA_READ ? (size_t)(size - off) :
		    DELTA_READ;

		got = pread(fd, buf, want, (off_t)off);
		if (got == -1) {
			snprintf(err, errlen, "read: %s", strerror(errno));
			goto out;
		}
		if (got == 0) {
			snprintf(err, errlen, "shrank while being read");
			goto out;
		}
		if (delta_feed(j, buf, (size_t)got, 0, emit, arg, err,
		    errlen) == -1)
			goto out;
		off += (uint64_t)got;
	}
	if (delta_feed(j, NULL, 0, 1, emit, arg, err, errlen) != 1)
		goto out;
	rc = 0;
out:
	free(buf);
	delta_free(j);
	return rc;
}
