/* Unit tests for progress.h: what the --progress line says, and how it is cut to fit. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"
#include "unit.h"

static struct progress p;

static void
setup(void)
{
	progress_init(&p, 0);	/* nothing is drawn: only the state moves */
	progress_start(&p, 10, 10 << 20);
	p.started = 100;
}

/* The line at t = 100 + elapsed, width columns at most. */
static const char *
line(double elapsed, int final, size_t width)
{
	static char buf[600];

	progress_format(&p, 100 + elapsed, final, buf, width);
	ck_assert_uint_le(strlen(buf), width);
	return buf;
}

START_TEST(test_file_in_flight)
{
	progress_add(&p, 3, 3 << 20);
	progress_file(&p, "lib/big.so", 4 << 20);
	progress_add(&p, 0, 1 << 20);
	/* 4 of 10 MiB in 2 s: 2 MiB/s, 6 MiB left: 3 s; the 4th file at 25% */
	ck_assert_str_eq(line(2, 0, 200), " 40% 4.0MiB/10.0MiB  2.0MiB/s  ETA "
	    "0:03  file 1/10 lib/big.so 25%");
	progress_add(&p, 0, 2 << 20);
	ck_assert_str_eq(line(3, 0, 200), " 60% 6.0MiB/10.0MiB  2.0MiB/s  ETA "
	    "0:02  file 1/10 lib/big.so 75%");
}
END_TEST

START_TEST(test_file_counter)
{
	progress_file(&p, "a", 10);
	progress_add(&p, 1, 10);
	progress_file(&p, "b", 10);
	ck_assert_ptr_nonnull(strstr(line(1, 0, 200), "file 2/10 b 0%"));
	/* read again after a change: the same file, from 0 */
	progress_add(&p, 0, 5);
	progress_file(&p, "b", 10);
	ck_assert_ptr_nonnull(strstr(line(1, 0, 200), "file 2/10 b 0%"));
	progress_file(&p, "c", 0);
	ck_assert_ptr_nonnull(strstr(line(1, 0, 200), "file 3/10 c 100%"));
}
END_TEST

START_TEST(test_long_name_loses_its_start)
{
	const char *l;

	progress_file(&p, "very/deep/directory/tree/with/a/long/name.txt", 100);
	l = line(1, 0, 60);
	ck_assert_uint_eq(strlen(l), 60);
	ck_assert_msg(strstr(l, "file 1/10 ...") != NULL, "'%s'", l);
	ck_assert_msg(strstr(l, "/name.txt 0%") != NULL, "'%s'", l);
	/* too narrow for a name at all: the totals alone */
	l = line(1, 0, 40);
	ck_assert_ptr_null(strstr(l, "file"));
	ck_assert_int_eq(strncmp(l, "  0% 0B/10.0MiB", 15), 0);
}
END_TEST

START_TEST(test_final_line)
{
	progress_file(&p, "x", 1);
	progress_add(&p, 9, 10 << 20);
	ck_assert_str_eq(line(5, 1, 200), "100% 10.0MiB/10.0MiB  2.0MiB/s  in "
	    "0:05  9/10 files");
}
END_TEST

START_TEST(test_more_done_than_planned)
{
	/* deltas read a file once per destination: never past 100% */
	progress_file(&p, "x", 1 << 20);
	progress_add(&p, 0, 30 << 20);
	ck_assert_int_eq(strncmp(line(1, 0, 200), "100% ", 5), 0);
	ck_assert_ptr_nonnull(strstr(line(1, 0, 200), "ETA --:--"));
	ck_assert_ptr_nonnull(strstr(line(1, 0, 200), "x 100%"));
}
END_TEST

START_TEST(test_no_bytes_counts_files)
{
	progress_start(&p, 4, 0);
	p.started = 100;
	progress_add(&p, 1, 0);
	ck_assert_int_eq(strncmp(line(1, 0, 200), " 25% 0B/0B", 10), 0);
}
END_TEST

static Suite *
progress_suite(void)
{
	Suite *s = suite_create("progress");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_file_in_flight);
	tcase_add_test(tc, test_file_counter);
	tcase_add_test(tc, test_long_name_loses_its_start);
	tcase_add_test(tc, test_final_line);
	tcase_add_test(tc, test_more_done_than_planned);
	tcase_add_test(tc, test_no_bytes_counts_files);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	static char base[] = "/tmp/test_progress.XXXXXX";

	return unit_main(progress_suite(), base);
}
