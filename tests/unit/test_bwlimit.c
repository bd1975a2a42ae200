/* Unit tests for bwlimit.h: rsync's rates, and pacing to them. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bwlimit.h"
#include "unit.h"

/* The rate text reads as, in bytes per second; fails the test when refused. */
static uint64_t
rate(const char *text)
{
	char err[256] = "";
	uint64_t r = 12345;

	ck_assert_msg(bwlimit_parse(text, &r, err, sizeof(err)) == 0,
	    "'%s' refused: %s", text, err);
	return r;
}

/* text is refused with a message that holds want. */
static void
refused(const char *text, const char *want)
{
	char err[256] = "";
	uint64_t r;

	ck_assert_msg(bwlimit_parse(text, &r, err, sizeof(err)) == -1,
	    "'%s' was taken", text);
	ck_assert_msg(strstr(err, want) != NULL, "'%s': '%s' lacks '%s'",
	    text, err, want);
}

/* rsync keeps whole KiB, rounding to the nearest. */
static uint64_t
kib(double bytes)
{
	return ((uint64_t)bytes + 512) / 1024 * 1024;
}

START_TEST(test_parse_units)
{
	ck_assert_uint_eq(rate("0"), 0);
	ck_assert_uint_eq(rate("0K"), 0);
	ck_assert_uint_eq(rate("100"), 100 * 1024);	/* KiB by default */
	ck_assert_uint_eq(rate("1.5"), 2048);		/* 1536 B: nearest KiB */
	ck_assert_uint_eq(rate("500K"), 500 * 1024);
	ck_assert_uint_eq(rate("500k"), 500 * 1024);
	ck_assert_uint_eq(rate("500KiB"), 500 * 1024);
	ck_assert_uint_eq(rate("500kib"), 500 * 1024);
	ck_assert_uint_eq(rate("500KB"), kib(500e3));
	ck_assert_uint_eq(rate("1.5m"), 1536 * 1024);
	ck_assert_uint_eq(rate("1.5M"), 1536 * 1024);
	ck_assert_uint_eq(rate("10MB"), kib(10e6));
	ck_assert_uint_eq(rate("1.5mb-1"), kib(1499999));
	ck_assert_uint_eq(rate("2g"), (uint64_t)2 << 30);
	ck_assert_uint_eq(rate("2GiB"), (uint64_t)2 << 30);
	ck_assert_uint_eq(rate("1T"), (uint64_t)1 << 40);
	ck_assert_uint_eq(rate("2048b"), 2048);
	ck_assert_uint_eq(rate("512B"), 1024);		/* the least there is */
	ck_assert_uint_eq(rate("1023b+1"), 1024);
	ck_assert_uint_eq(rate(".5"), 1024);
}
END_TEST

START_TEST(test_parse_errors)
{
	refused("", "not a rate");
	refused("fast", "not a rate");
	refused("-5", "not a rate");
	refused("5x", "not a rate");
	refused("5kx", "not a rate");
	refused("5bb", "not a rate");
	refused("inf", "not a rate");
	refused("1e3", "not a rate");
	refused("0x10", "not a rate");
	refused("5 K", "not a rate");
	refused("511b", "less than 512 bytes per second");
	refused("0.1", "less than 512");
	refused("9999P", "more than any link");
}
END_TEST

START_TEST(test_chunk)
{
	struct bwlimit b;

	bwlimit_init(&b, 0);
	ck_assert_uint_eq(bwlimit_chunk(&b, 1 << 20), 1 << 20);
	bwlimit_init(&b, 1024);
	ck_assert_uint_eq(bwlimit_chunk(&b, 1 << 20), 1024);
	bwlimit_init(&b, 1 << 20);
	ck_assert_uint_eq(bwlimit_chunk(&b, 1 << 20), 1 << 18);
	bwlimit_init(&b, (uint64_t)1 << 40);
	ck_assert_uint_eq(bwlimit_chunk(&b, 1 << 20), 1 << 20);
}
END_TEST

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

START_TEST(test_spend_paces)
{
	struct bwlimit b;
	double t0, t;

	bwlimit_init(&b, 256 * 1024);
	t0 = now();
	for (int i = 0; i < 4; i++)
		bwlimit_spend(&b, 64 * 1024, NULL);
	t = now() - t0;
	/* 256 KiB at 256 KiB/s: a second, however fast the machine. */
	ck_assert_msg(t >= 0.95, "256 KiB took %.3f s at 256 KiB/s", t);
	ck_assert_msg(t < 10, "256 KiB took %.3f s at 256 KiB/s", t);
}
END_TEST

START_TEST(test_spend_without_limit_or_cancelled)
{
	struct bwlimit b;
	volatile int cancel = 1;
	double t0 = now();

	bwlimit_init(&b, 0);
	bwlimit_spend(&b, (uint64_t)1 << 40, NULL);
	bwlimit_init(&b, 1024);
	/* a thousand seconds' worth, but the session is being abandoned */
	bwlimit_spend(&b, 1024 * 1000, &cancel);
	ck_assert_msg(now() - t0 < 2, "waited %.3f s", now() - t0);
}
END_TEST

START_TEST(test_idle_time_buys_no_burst)
{
	struct bwlimit b;
	struct timespec second = { 1, 0 };
	double t0, t;

	bwlimit_init(&b, 1 << 20);
	bwlimit_spend(&b, 100 * 1024, NULL);
	nanosleep(&second, NULL);
	/*
	 * A second went by unused; only half of it counts, so 600 KiB now
	 * wait about 0.1 s rather than going out in a burst.
	 */
	t0 = now();
	bwlimit_spend(&b, 600 * 1024, NULL);
	t = now() - t0;
	ck_assert_msg(t >= 0.05, "600 KiB after an idle second took %.3f s", t);
}
END_TEST

static Suite *
bwlimit_suite(void)
{
	Suite *s = suite_create("bwlimit");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_parse_units);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_chunk);
	tcase_add_test(tc, test_spend_paces);
	tcase_add_test(tc, test_spend_without_limit_or_cancelled);
	tcase_add_test(tc, test_idle_time_buys_no_burst);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	static char base[] = "/tmp/test_bwlimit.XXXXXX";

	return unit_main(bwlimit_suite(), base);
}
