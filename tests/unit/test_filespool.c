/*
 * Unit tests for filespool.h: records come back as they were appended,
 * to several readers each going forward, also while more are appended;
 * what was never appended is said so; the file has no name; a write
 * that fails, or a record that is not what was written, fails with a
 * message naming the spool.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "filespool.h"
#include "log.h"
#include "unit.h"

static char base[] = "/tmp/test_filespool.XXXXXX";

static void
setup(void)
{
	log_init("test_filespool", LOG_ERROR);
	ck_assert_int_eq(setenv("TMPDIR", base, 1), 0);
}

/* The path of record i: of varying lengths, some deep. */
static void
path_of(uint32_t i, char *p, size_t len)
{
	snprintf(p, len, "d%u/%.*s/f%u", i % 7, (int)(i % 40),
	    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz", i);
}

static void
append(struct filespool *sp, uint32_t i)
{
	struct filespool_rec r;
	char p[128];

	path_of(i, p, sizeof(p));
	r.index = i;
	r.size = (uint64_t)i * 1000003;
	r.mtime_sec = -(int64_t)i;
	r.mtime_nsec = i % 1000000000u;
	r.path = p;
	ck_assert_int_eq(filespool_append(sp, &r), 0);
}

static void
expect(struct filespool_cursor *c, uint32_t i)
{
	struct filespool_rec r;
	char p[128];

	ck_assert_int_eq(filespool_find(c, i, &r), 1);
	path_of(i, p, sizeof(p));
	ck_assert_uint_eq(r.index, i);
	ck_assert_uint_eq(r.size, (uint64_t)i * 1000003);
	ck_assert_int_eq(r.mtime_sec, -(int64_t)i);
	ck_assert_uint_eq(r.mtime_nsec, i % 1000000000u);
	ck_assert_str_eq(r.path, p);
}

/* Every third index is a record; two readers, one skipping, both see them. */
START_TEST(test_round_trip_two_readers)
{
	struct filespool *sp = filespool_open();
	struct filespool_cursor *all, *some;
	struct filespool_rec r;

	ck_assert_ptr_nonnull(sp);
	for (uint32_t i = 0; i < 30000; i += 3)
		append(sp, i);
	all = filespool_cursor_new(sp);
	some = filespool_cursor_new(sp);
	ck_assert_ptr_nonnull(all);
	ck_assert_ptr_nonnull(some);
	for (uint32_t i = 0; i < 30000; i++) {
		if (i % 3 == 0)
			expect(all, i);
		else
			ck_assert_int_eq(filespool_find(all, i, &r), 0);
		if (i % 999 == 0)
			expect(some, i);
	}
	/* Past the last record: none, and no error. */
	ck_assert_int_eq(filespool_find(all, 40000, &r), 0);
	filespool_cursor_free(all);
	filespool_cursor_free(some);
	filespool_free(sp);
}
END_TEST

/* A reader finds records appended after it last looked (still buffered). */
START_TEST(test_read_while_appending)
{
	struct filespool *sp = filespool_open();
	struct filespool_cursor *c = filespool_cursor_new(sp);
	struct filespool_rec r;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(filespool_find(c, 5, &r), 0);
	for (uint32_t i = 5; i < 5000; i += 5) {
		append(sp, i);
		expect(c, i);
		/* The same again is fine: a file sent to a second peer. */
		expect(c, i);
	}
	filespool_cursor_free(c);
	filespool_free(sp);
}
END_TEST

/* Indexes only go up: appending or asking one lower is refused. */
START_TEST(test_order_enforced)
{
	struct filespool *sp = filespool_open();
	struct filespool_cursor *c = filespool_cursor_new(sp);
	struct filespool_rec r = { .index = 7, .path = "x" };

	ck_assert_int_eq(filespool_append(sp, &r), 0);
	r.index = 7;
	ck_assert_int_eq(filespool_append(sp, &r), -1);
	ck_assert_ptr_nonnull(strstr(log_last(), "out of order"));
	r.index = 8;
	r.path = "";
	ck_assert_int_eq(filespool_append(sp, &r), -1);
	ck_assert_int_eq(filespool_find(c, 7, &r), 1);
	ck_assert_str_eq(r.path, "x");
	ck_assert_int_eq(filespool_find(c, 6, &r), -1);
	ck_assert_ptr_nonnull(strstr(log_last(), "a bug"));
	filespool_cursor_free(c);
	filespool_free(sp);
}
END_TEST

/* A path longer than a reader's buffer comes back whole. */
START_TEST(test_long_path)
{
	struct filespool *sp = filespool_open();
	struct filespool_cursor *c = filespool_cursor_new(sp);
	struct filespool_rec r = { .index = 1 };
	char *p = malloc(FILESPOOL_PATH_MAX + 2);

	ck_assert_ptr_nonnull(p);
	memset(p, 'a', FILESPOOL_PATH_MAX);
	p[FILESPOOL_PATH_MAX] = '\0';
	r.path = p;
	ck_assert_int_eq(filespool_append(sp, &r), 0);
	append(sp, 2);
	ck_assert_int_eq(filespool_find(c, 1, &r), 1);
	ck_assert_str_eq(r.path, p);
	expect(c, 2);
	/* One byte more than a record holds: refused. */
	memset(p, 'a', FILESPOOL_PATH_MAX + 1);
	p[FILESPOOL_PATH_MAX + 1] = '\0';
	r.index = 3;
	r.path = p;
	ck_assert_int_eq(filespool_append(sp, &r), -1);
	free(p);
	filespool_cursor_free(c);
	filespool_free(sp);
}
END_TEST

/* Nothing of the spool is left in its directory, even while it is open. */
START_TEST(test_unnamed)
{
	struct filespool *sp = filespool_open();
	struct dirent *de;
	DIR *d;

	ck_assert_ptr_nonnull(sp);
	append(sp, 1);
	ck_assert_ptr_nonnull(strstr(filespool_name(sp), base));
	ck_assert_ptr_nonnull(d = opendir(base));
	while ((de = readdir(d)) != NULL)
		ck_assert(strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0);
	closedir(d);
	filespool_free(sp);
}
END_TEST

/* A directory that cannot hold it: no spool, and the message says where. */
START_TEST(test_no_directory)
{
	char dir[sizeof(base) + 16];

	snprintf(dir, sizeof(dir), "%s/none", base);
	ck_assert_int_eq(setenv("TMPDIR", dir, 1), 0);
	ck_assert_ptr_null(filespool_open());
	ck_assert_ptr_nonnull(strstr(log_last(), dir));
	ck_assert_ptr_nonnull(strstr(log_last(), "No such file"));
}
END_TEST

/* A write that fails (here: the file size limit) fails for good, named. */
START_TEST(test_write_fails)
{
	struct filespool *sp = filespool_open();
	struct filespool_cursor *c = filespool_cursor_new(sp);
	struct filespool_rec r;
	struct rlimit rl = { 4096, 4096 };
	char p[128];
	uint32_t i;
	int rc = 0;

	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	for (i = 0; i < 100000 && rc == 0; i++) {
		path_of(i, p, sizeof(p));
		r.index = i;
		r.size = r.mtime_sec = 0;
		r.mtime_nsec = 0;
		r.path = p;
		rc = filespool_append(sp, &r);
	}
	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_nonnull(strstr(log_last(), "the sender's spool in"));
	ck_assert_ptr_nonnull(strstr(log_last(), "File too large"));
	/* Every call after fails too: nothing read back is half written. */
	r.index = i + 1;
	ck_assert_int_eq(filespool_append(sp, &r), -1);
	ck_assert_int_eq(filespool_find(c, 0, &r), -1);
	filespool_cursor_free(c);
	filespool_free(sp);
}
END_TEST

/* A record changed in the file after it was written is caught: a bug. */
START_TEST(test_corrupt_record)
{
	struct filespool *sp;
	struct filespool_cursor *c;
	struct filespool_rec r;
	int probe = dup(0), fd;
	char byte;

	/* The spool's descriptor is the lowest free one: probe's. */
	ck_assert_int_ge(probe, 0);
	close(probe);
	sp = filespool_open();
	c = filespool_cursor_new(sp);
	ck_assert_ptr_nonnull(c);
	append(sp, 1);
	append(sp, 2);
	expect(c, 1);		/* written out now */
	fd = probe;
	ck_assert_int_eq(pread(fd, &byte, 1, 34), 1);
	byte ^= 0x20;
	ck_assert_int_eq(pwrite(fd, &byte, 1, 34), 1);
	/* The first record is read again by a new reader. */
	filespool_cursor_free(c);
	c = filespool_cursor_new(sp);
	ck_assert_int_eq(filespool_find(c, 1, &r), -1);
	ck_assert_ptr_nonnull(strstr(log_last(), "not what was written"));
	ck_assert_ptr_nonnull(strstr(log_last(), "a bug"));
	filespool_cursor_free(c);
	filespool_free(sp);
}
END_TEST

static Suite *
filespool_suite(void)
{
	Suite *su = suite_create("filespool");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_round_trip_two_readers);
	tcase_add_test(tc, test_read_while_appending);
	tcase_add_test(tc, test_order_enforced);
	tcase_add_test(tc, test_long_path);
	tcase_add_test(tc, test_unnamed);
	tcase_add_test(tc, test_no_directory);
	tcase_add_test(tc, test_write_fails);
	tcase_add_test(tc, test_corrupt_record);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	return unit_main(filespool_suite(), base);
}
