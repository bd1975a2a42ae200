/*
 * Unit tests for sessionlog.h: a record's line and back (escapes, every
 * field), lines that are not records, appends after a torn line, the
 * rotation at the bound, and reading the last N across both parts.
 */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sessionlog.h"
#include "unit.h"

static char base[] = "/tmp/test_sessionlog.XXXXXX";
/* A well-formed record (created 9), written without its newline below. */
static const char partial_rec[] = "v1\t1\t2\tok\t\tp\t9\t0\t0\t0\t0\t0\t0\t";
static int dirfd = -1;

static void
setup(void)
{
	log_init("test_sessionlog", LOG_ERROR);
	dirfd = open(base, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(dirfd, 0);
	unlinkat(dirfd, "h", 0);
	unlinkat(dirfd, "h.1", 0);
}

static void
teardown(void)
{
	close(dirfd);
}

static void
sample(struct sessionlog_rec *r, uint64_t n)
{
	memset(r, 0, sizeof(*r));
	r->start = 1764596887.125;
	r->end = 1764596888.5;
	sessionlog_set(r->status, sizeof(r->status), "partial");
	sessionlog_set(r->fileset, sizeof(r->fileset), "app");
	sessionlog_set(r->peer, sizeof(r->peer), "mirror://host/app");
	r->created = n;
	r->replaced = 2;
	r->purged = 3;
	r->unchanged = 4;
	r->skipped = 5;
	r->failed = 6;
	r->bytes = 1ull << 40;
}

START_TEST(test_round_trip)
{
	struct sessionlog_rec r, back;
	char line[SESSIONLOG_LINE];
	size_t n;

	sample(&r, 1);
	sessionlog_set(r.error, sizeof(r.error), "tab\there\nnewline \\ \x01");
	n = sessionlog_format(&r, line, sizeof(line));
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(line[n - 1], '\n');
	ck_assert_ptr_null(memchr(line, '\n', n - 1));	/* one line */
	ck_assert_str_eq(line, "v1\t1764596887.125\t1764596888.500\tpartial\t"
	    "app\tmirror://host/app\t1\t2\t3\t4\t5\t6\t1099511627776\t"
	    "tab\\there\\nnewline \\\\ \\x01\n");
	ck_assert_int_eq(sessionlog_parse(line, n - 1, &back), 0);
	ck_assert_str_eq(back.error, r.error);
	ck_assert_str_eq(back.peer, r.peer);
	ck_assert_str_eq(back.fileset, "app");
	ck_assert_str_eq(back.status, "partial");
	ck_assert(back.start == r.start && back.end == r.end);
	ck_assert_uint_eq(back.failed, 6);
	ck_assert_uint_eq(back.bytes, 1ull << 40);
	/* A buffer too small is refused, not cut. */
	ck_assert_uint_eq(sessionlog_format(&r, line, 40), 0);
}
END_TEST

START_TEST(test_not_records)
{
	static const char *const bad[] = {
		"",
		"v1",
		"v2\t1\t2\tok\t\tp\t0\t0\t0\t0\t0\t0\t0\t",
		"v1\t1\t2\tok\t\tp\t0\t0\t0\t0\t0\t0\t0",	/* a field short */
		"v1\t1\t2\tok\t\tp\t0\t0\t0\t0\t0\t0\t0\t\t",	/* one too many */
		"v1\tx\t2\tok\t\tp\t0\t0\t0\t0\t0\t0\t0\t",
		"v1\t1\t2\tok\t\tp\t-1\t0\t0\t0\t0\t0\t0\t",
		"v1\t1\t2\tok\t\tp\t0\t0\t0\t0\t0\t0\t99999999999999999999\t",
		"v1\t1\t2\tok\t\tp\\q\t0\t0\t0\t0\t0\t0\t0\t",	/* bad escape */
		"v1\t1\t2\tok\t\tp\\x00\t0\t0\t0\t0\t0\t0\t0\t",
	};
	struct sessionlog_rec r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(sessionlog_parse(bad[i], strlen(bad[i]), &r) == -1,
		    "accepted '%s'", bad[i]);
	/* A NUL a crash left in the file is not a record either. */
	ck_assert_int_eq(sessionlog_parse("v1\t1\0\t", 6, &r), -1);
	ck_assert_int_eq(sessionlog_parse(partial_rec, strlen(partial_rec), &r),
	    0);
	ck_assert_uint_eq(r.created, 9);
}
END_TEST

/* The records of history h: their created counts, in order, as a string. */
static void
created_of(char *out, size_t len, size_t max)
{
	struct sessionlog_rec *v;
	size_t n, at = 0;

	ck_assert_int_eq(sessionlog_read(dirfd, "h", max, &v, &n), 0);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		at += (size_t)snprintf(out + at, len - at, "%s%llu", i ? "," : "",
		    (unsigned long long)v[i].created);
	free(v);
}

START_TEST(test_torn_line_and_rotation)
{
	struct sessionlog_rec r;
	char got[4096];
	struct stat st;
	int fd;

	created_of(got, sizeof(got), 0);
	ck_assert_str_eq(got, "");		/* no history yet */
	sample(&r, 1);
	ck_assert_int_eq(sessionlog_append(dirfd, base, "h", &r, 0), 0);
	/* A crash in the middle of the next line: its start, no newline. */
	fd = openat(dirfd, "h", O_WRONLY | O_APPEND);
	ck_assert_int_eq(write(fd, "v1\t17645", 8), 8);
	close(fd);
	sample(&r, 2);
	ck_assert_int_eq(sessionlog_append(dirfd, base, "h", &r, 0), 0);
	created_of(got, sizeof(got), 0);
	ck_assert_str_eq(got, "1,2");
	/* A last line without its newline is not read. */
	fd = openat(dirfd, "h", O_WRONLY | O_APPEND);
	ck_assert_int_eq(write(fd, partial_rec, strlen(partial_rec)),
	    (ssize_t)strlen(partial_rec));
	close(fd);
	created_of(got, sizeof(got), 0);
	ck_assert_str_eq(got, "1,2");

	/* A bound of 400 bytes: past it, the file becomes h.1. */
	for (uint64_t i = 3; i <= 12; i++) {
		sample(&r, i);
		ck_assert_int_eq(sessionlog_append(dirfd, base, "h", &r, 400), 0);
		ck_assert_int_eq(fstatat(dirfd, "h", &st, 0), 0);
		ck_assert_int_lt(st.st_size, 400 + SESSIONLOG_LINE);
	}
	ck_assert_int_eq(fstatat(dirfd, "h.1", &st, 0), 0);
	created_of(got, sizeof(got), 0);
	/* What is left: the newest, in order, ending with the last. */
	ck_assert_ptr_nonnull(strstr(got, "10,11,12"));
	ck_assert_ptr_null(strstr(got, "1,2,"));
	created_of(got, sizeof(got), 3);
	ck_assert_str_eq(got, "10,11,12");
	created_of(got, sizeof(got), 1);
	ck_assert_str_eq(got, "12");
}
END_TEST

START_TEST(test_append_path)
{
	struct sessionlog_rec r;
	char path[PATH_MAX], got[64];

	sample(&r, 7);
	snprintf(path, sizeof(path), "%s/h", base);
	ck_assert_int_eq(sessionlog_append_path(path, &r, 0), 0);
	created_of(got, sizeof(got), 0);
	ck_assert_str_eq(got, "7");
	/* A history whose directory is missing: an error, logged. */
	snprintf(path, sizeof(path), "%s/no/such/h", base);
	ck_assert_int_eq(sessionlog_append_path(path, &r, 0), -1);
}
END_TEST

static Suite *
sessionlog_suite(void)
{
	Suite *s = suite_create("sessionlog");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_not_records);
	tcase_add_test(tc, test_torn_line_and_rotation);
	tcase_add_test(tc, test_append_path);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_main(sessionlog_suite(), base);
}
