/* bwlimit: rsync's --bwlimit: a rate as rsync writes it, and a stream paced to it. */
#include "bwlimit.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

/* rsync rounds to whole KiB; below half of one it refuses. */
#define BWLIMIT_MIN 512
/* Far above any link, far below where a double stops being exact. */
#define BWLIMIT_MAX ((uint64_t)1 << 50)
#define BWLIMIT_SLICE 0.25	/* seconds: a chunk's worth, a sleep's most */
#define BWLIMIT_CREDIT 0.5	/* seconds of unused time kept */

/* The multiplier a suffix stands for, or 0 when it is none. */
static double
suffix(const char *s, const char **end)
{
	static const char units[] = "bkmgtp";
	const char *u = strchr(units, tolower((unsigned char)*s));
	double base = 1024, mult = 1;
	int power;

	if (*s == '\0') {
		*end = s;
		return 1024;	/* no suffix: KiB */
	}
	if (u == NULL)
		return 0;
	power = (int)(u - units);
	s++;
	if (tolower((unsigned char)s[0]) == 'i' &&
	    tolower((unsigned char)s[1]) == 'b')
		s += 2;
	else if (tolower((unsigned char)s[0]) == 'b' && power > 0) {
		base = 1000;
		s++;
	}
	*end = s;
	while (power-- > 0)
		mult *= base;
	return mult;
}

int
bwlimit_parse(const char *text, uint64_t *rate, char *err, size_t errlen)
{
	const char *p = text, *end;
	double v, mult, bytes;
	char *numend;

	*rate = 0;
	if (!isdigit((unsigned char)*p) && *p != '.')
		goto bad;
	errno = 0;
	v = strtod(p, &numend);
	/* strtod also reads "inf", hex and exponents: digits and '.' only. */
	if (errno != 0 || numend == p || strspn(p, "0123456789.") !=
	    (size_t)(numend - p))
		goto bad;
	mult = suffix(numend, &end);
	if (mult == 0)
		goto bad;
	bytes = v * mult;
	if (strcmp(end, "+1") == 0)
		bytes += 1;
	else if (strcmp(end, "-1") == 0)
		bytes -= 1;
	else if (*end != '\0')
		goto bad;
	if (bytes <= 0 && v == 0)
		return 0;	/* no limit */
	if (bytes < BWLIMIT_MIN) {
		snprintf(err, errlen, "'%s' is less than %d bytes per second "
		    "(rates are whole KiB per second; 0 is no limit)", text,
		    BWLIMIT_MIN);
		return -1;
	}
	if (bytes > (double)BWLIMIT_MAX) {
		snprintf(err, errlen, "'%s' is more than any link carries", text);
		return -1;
	}
	*rate = ((uint64_t)bytes + 512) / 1024 * 1024;
	return 0;
bad:
	snprintf(err, errlen, "'%s' is not a rate: a number of KiB per second, "
	    "or with a suffix such as 500K, 1.5M, 10MB (1000s) or 1GiB", text);
	return -1;
}

void
bwlimit_init(struct bwlimit *b, uint64_t rate)
{
	memset(b, 0, sizeof(*b));
	b->rate = rate;
}

size_t
bwlimit_chunk(const struct bwlimit *b, size_t max)
{
	double n;

	if (b->rate == 0)
		return max;
	n = (double)b->rate * BWLIMIT_SLICE;
	if (n < 1024)
		n = 1024;
	return n < (double)max ? (size_t)n : max;
}

void
bwlimit_spend(struct bwlimit *b, uint64_t n, const volatile int *cancel)
{
	struct timespec ts;
	double t, due, wait;

	if (b->rate == 0)
		return;
	t = clock_now();
	if (!b->started) {
		b->started = 1;
		b->start = t;
	}
	/* Time left unused long ago buys no burst now. */
	if (t - (b->start + (double)b->spent / b->rate) > BWLIMIT_CREDIT) {
		b->start = t - BWLIMIT_CREDIT;
		b->spent = 0;
	}
	b->spent += n;
	due = b->start + (double)b->spent / b->rate;
	while ((wait = due - clock_now()) > 0 && (cancel == NULL || !*cancel)) {
		if (wait > BWLIMIT_SLICE)
			wait = BWLIMIT_SLICE;
		ts.tv_sec = (time_t)wait;
		ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
}
