/* delta_impl: the formats and the job that delta.c, delta_encode.c and delta_patch.c share. */
#ifndef MIRRORFS_DELTA_IMPL_H
#define MIRRORFS_DELTA_IMPL_H

#include <stddef.h>
#include <stdint.h>

/* Each includer has delta.h (its types) first: this header is below it. */
struct delta_job;

/*
 * A signature: magic, block length (u32), the basis's size (u64), the
 * seed of its strong sums (u64), then per block of the basis its weak
 * sum (u32) and strong sum (u64). Big-endian, as the wire.
 */
#define DELTA_SIG_MAGIC 0x4d465331u	/* "MFS1" */
#define DELTA_SIG_HEADER 24
#define DELTA_SIG_RECORD 12
#define DELTA_BLOCK_MIN 1024u
#define DELTA_BLOCK_MAX (128u * 1024)

/*
 * A delta: magic, then commands, each a byte and its arguments:
 *   'L' u32 n, n bytes      bytes of the new version as they are
 *   'C' u64 offset, u64 n   n bytes of the old version from offset
 *   'E' u64 size            the end: the new version is size bytes
 */
#define DELTA_MAGIC 0x4d464431u		/* "MFD1" */
#define DELTA_CMD_LITERAL 'L'
#define DELTA_CMD_COPY 'C'
#define DELTA_CMD_END 'E'
#define DELTA_LITERAL_MAX (1024u * 1024)	/* what a patch takes in one 'L' */

#define DELTA_OUT (64 * 1024)		/* output handed to emit at a time */

/* Output gathered into pieces of DELTA_OUT for the job's emit. */
struct delta_out {
	int (*emit)(void *arg, const void *p, size_t n);	/* delta_emit_fn */
	void *arg;
	size_t len;
	uint8_t b[DELTA_OUT];
};

/* 0, or -1 with errno (emit's). */
int delta_out_put(struct delta_out *o, const void *p, size_t n);
int delta_out_flush(struct delta_out *o);

struct delta_job_ops {
	/* delta_feed's contract; output through j->out. */
	int (*feed)(struct delta_job *j, const uint8_t *in, size_t n, int eof,
	    char *err, size_t errlen);
	void (*free)(void *state);
};

struct delta_job {
	const struct delta_job_ops *ops;
	void *state;
	int done;
	struct delta_out out;
};

/*
 * Moves what fits of the n bytes at *in into part, which holds *fill of
 * the want bytes of a record: *in and *n move on. 1 once part is whole.
 */
int delta_gather(uint8_t *part, uint32_t *fill, size_t want,
    const uint8_t **in, size_t *n);

/* A job of these ops over state (owned by the job from now on), or NULL. */
struct delta_job *delta_job_new(const struct delta_job_ops *ops, void *state);

/* A loaded signature, indexed by weak sum. */
struct delta_sig {
	uint32_t block_len;
	uint64_t basis_size;
	uint64_t seed;
	uint32_t n;		/* blocks; the last may be short */
	uint32_t *weak;
	uint64_t *strong;
	uint32_t *order;	/* block numbers sorted by weak sum */
	uint32_t *slot;		/* 1 + the place in order of a weak sum's first */
	uint32_t bits;		/* of the slot's number: 2^bits slots */
	uint64_t key;		/* odd, random: spreads weak sums over slots */
};

/* The length of block k of sig. */
uint32_t delta_sig_block_len(const struct delta_sig *sig, uint32_t k);

/*
 * The block of sig whose sums are weak and the strong sum of the n bytes
 * at p (computed only when some block of that length has that weak sum),
 * or -1. *hashed grows by the bytes hashed for blocks that then did not
 * match (the search's budget against crafted signatures).
 */
long delta_sig_find(const struct delta_sig *sig, uint32_t weak,
    const uint8_t *p, size_t n, uint64_t *hashed);

/*
 * Bytes an encode job hashed for windows whose weak sum matched a block
 * they were not (the budget FALSE_ALARM_BASE bounds): 0 for other jobs.
 */
uint64_t delta_encode_false_alarms(const struct delta_job *j);

/*
 * The rolling weak sum of a window (rsync's: two running sums of the
 * bytes, each offset so that zeros count), rolled one byte at a time.
 */
#define DELTA_CHAR_OFFSET 31u

struct rollsum {
	uint32_t a, b, len;
};

void rollsum_init(struct rollsum *r, const uint8_t *p, size_t n);

static inline uint32_t
rollsum_value(const struct rollsum *r)
{
	return (r->a & 0xffff) | (r->b << 16);
}

/* The window moves on by one byte: out leaves it, in enters. */
static inline void
rollsum_roll(struct rollsum *r, uint8_t out, uint8_t in)
{
	r->a += (uint32_t)in - out;
	r->b += r->a - r->len * ((uint32_t)out + DELTA_CHAR_OFFSET);
}

#endif
