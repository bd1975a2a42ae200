/* bwlimit: rsync's --bwlimit: a rate as rsync writes it, and a stream paced to it. */
#ifndef MIRRORFS_BWLIMIT_H
#define MIRRORFS_BWLIMIT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Reads a rate as rsync's --bwlimit does: a number, maybe with a fraction,
 * in KiB per second, or with a suffix: B, K, M, G, T or P (any case;
 * alone or with "iB": powers of 1024; with "B": powers of 1000), maybe
 * followed by "+1" or "-1" (one byte more or less). 0 is no limit; any
 * other rate is at least 512 bytes per second and is rounded to whole
 * KiB, as rsync rounds it. Sets *rate in bytes per second (0: none).
 * Returns 0, or -1 with what is wrong in err.
 */
int bwlimit_parse(const char *text, uint64_t *rate, char *err, size_t errlen);

/*
 * A stream paced to rate bytes per second, on average since its first
 * byte; time it did not use (waiting for the disk, say) is not saved up
 * beyond half a second, so it never bursts far above the rate.
 */
struct bwlimit {
	uint64_t rate;		/* bytes per second, 0: no limit */
	double start;		/* monotonic seconds the count runs from */
	uint64_t spent;		/* bytes counted since start */
	int started;
};

void bwlimit_init(struct bwlimit *b, uint64_t rate);
/*
 * The most bytes to write at once: a quarter second's worth at the rate
 * (at least 1 KiB), at most max; max without a limit. Writing in such
 * pieces keeps the peer from waiting long for each.
 */
size_t bwlimit_chunk(const struct bwlimit *b, size_t max);
/*
 * Counts n bytes written and sleeps until they fit the rate. Sleeps in
 * slices of at most a quarter second and returns early when *cancel (if
 * not NULL) becomes non-zero. No-op without a limit.
 */
void bwlimit_spend(struct bwlimit *b, uint64_t n, const volatile int *cancel);

#endif
