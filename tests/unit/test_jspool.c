/*
 * Unit tests for store/jspool.h: journal records come back as they were
 * spooled, forward and backward, from the buffer alone or from the file
 * past it; the file has no name in the store's .mirrorfs; a record too
 * long, and a write that fails, fail with a message naming the spool,
 * and every call after fails too.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "store/jspool.h"
#include "unit.h"

static char base[] = "/tmp/test_jspool.XXXXXX";
static struct store st;

static void
setup(void)
{
	char meta[PATH_MAX];

	log_init("test_jspool", LOG_ERROR);
	snprintf(meta, sizeof(meta), "%s/.mirrorfs", base);
	ck_assert(mkdir(meta, 0700) == 0 || errno == EEXIST);
	store_init(&st);
	st.path = base;
	st.metafd = open(meta, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(st.metafd, 0);
}

static void
teardown(void)
{
	close(st.metafd);
}

/* Record i: every op, paths of varying lengths, attributes on ATTRs. */
static void
rec_of(size_t i, struct journal_rec *r, struct journal_attr *a, char *path,
    char *staged)
{
	static const int ops[] = { JOP_MKDIR, JOP_PUT, JOP_ATTR, JOP_REMOVE,
	    JOP_SWAP };

	memset(r, 0, sizeof(*r));
	memset(a, 0, sizeof(*a));
	snprintf(path, 128, "d%zu/%.*s/f%zu", i % 7, (int)(i % 40) + 1,
	    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz", i);
	snprintf(staged, 48, "s%zu/n%zu", i / 1024, i);
	r->op = (uint8_t)ops[i % 5];
	r->path = path;
	r->ref = i * 3;
	if (r->op == JOP_PUT || r->op == JOP_SWAP)
		r->staged = staged;
	if (r->op == JOP_ATTR) {
		a->mode = (uint32_t)(i % 07777);
		a->uid = (uint32_t)i;
		a->gid = (uint32_t)(i + 1);
		a->mtime_sec = -(int64_t)i;
		a->mtime_nsec = (uint32_t)(i % 1000000000u);
		r->flags = JREC_OWNER;
		r->attr = a;
	}
}

static void
expect(struct jspool *sp, size_t i)
{
	struct journal_rec want, got;
	struct journal_attr a;
	char path[128], staged[48];

	rec_of(i, &want, &a, path, staged);
	ck_assert_int_eq(jspool_next(sp, &got), 1);
	ck_assert_int_eq(got.op, want.op);
	ck_assert_int_eq(got.flags, want.flags);
	ck_assert_str_eq(got.path, want.path);
	ck_assert_uint_eq(got.ref, want.ref);
	if (want.staged != NULL)
		ck_assert_str_eq(got.staged, want.staged);
	else
		ck_assert_ptr_null(got.staged);
	if (want.op == JOP_ATTR) {
		ck_assert_uint_eq(got.attr->mode, a.mode);
		ck_assert_uint_eq(got.attr->uid, a.uid);
		ck_assert_uint_eq(got.attr->gid, a.gid);
		ck_assert_int_eq(got.attr->mtime_sec, a.mtime_sec);
		ck_assert_uint_eq(got.attr->mtime_nsec, a.mtime_nsec);
	}
}

/* Spools n records, then reads them forward and backward, twice. */
static void
round_trip(size_t n, int want_file)
{
	struct jspool sp;
	struct journal_rec r;
	struct journal_attr a;
	char path[128], staged[48];

	jspool_init(&sp, &st);
	for (size_t i = 0; i < n; i++) {
		rec_of(i, &r, &a, path, staged);
		ck_assert_int_eq(jspool_put(&sp, &r), 0);
	}
	ck_assert_uint_eq(sp.n, n);
	ck_assert_int_eq(sp.fd != -1, want_file);
	for (int pass = 0; pass < 2; pass++) {
		ck_assert_int_eq(jspool_rewind(&sp, 0), 0);
		for (size_t i = 0; i < n; i++)
			expect(&sp, i);
		ck_assert_int_eq(jspool_next(&sp, &r), 0);
		ck_assert_int_eq(jspool_rewind(&sp, 1), 0);
		for (size_t i = n; i-- > 0;)
			expect(&sp, i);
		ck_assert_int_eq(jspool_next(&sp, &r), 0);
	}
	jspool_release(&sp);
}

START_TEST(test_round_trip_in_the_buffer)
{
	round_trip(0, 0);
	round_trip(1, 0);
	round_trip(100, 0);
}
END_TEST

START_TEST(test_round_trip_through_the_file)
{
	char meta[PATH_MAX];
	struct dirent *de;
	DIR *d;

	round_trip(50000, 1);
	/* The file had no name: nothing of it is left in .mirrorfs. */
	snprintf(meta, sizeof(meta), "%s/.mirrorfs", base);
	ck_assert_ptr_nonnull(d = opendir(meta));
	while ((de = readdir(d)) != NULL)
		ck_assert(strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0);
	closedir(d);
}
END_TEST

/* A record of a size far beyond a window, among small ones, both ways. */
START_TEST(test_big_record)
{
	struct jspool sp;
	struct journal_rec r, got;
	struct journal_attr a;
	char path[128], staged[48];

	jspool_init(&sp, &st);
	for (size_t i = 0; i < 3000; i++) {
		rec_of(i, &r, &a, path, staged);
		if (i == 1500) {
			/* A path as long as a path may be. */
			static char longp[PATH_MAX - 1];

			memset(longp, 'x', sizeof(longp) - 1);
			for (size_t k = 200; k < sizeof(longp) - 1; k += 201)
				longp[k] = '/';
			r.path = longp;
		}
		ck_assert_int_eq(jspool_put(&sp, &r), 0);
	}
	ck_assert_int_eq(jspool_rewind(&sp, 1), 0);
	for (size_t i = 3000; i-- > 0;) {
		ck_assert_int_eq(jspool_next(&sp, &got), 1);
		ck_assert_uint_eq(got.ref, i * 3);
		if (i == 1500)
			ck_assert_uint_eq(strlen(got.path), PATH_MAX - 2);
	}
	jspool_release(&sp);
}
END_TEST

START_TEST(test_record_too_long)
{
	struct jspool sp;
	struct journal_rec r;
	struct journal_attr a;
	char path[128], staged[48];
	uint8_t *big = calloc(1, JSPOOL_REC_MAX);

	ck_assert_ptr_nonnull(big);
	jspool_init(&sp, &st);
	rec_of(2, &r, &a, path, staged);	/* an ATTR */
	ck_assert_int_eq(jspool_put(&sp, &r), 0);
	a.xattrs = big;
	a.xattrs_len = JSPOOL_REC_MAX;
	ck_assert_int_eq(jspool_put(&sp, &r), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_ptr_nonnull(strstr(log_last(), "the commit's spool in"));
	ck_assert_ptr_nonnull(strstr(log_last(), base));
	/* The spool lacks a record: nothing reads back from it. */
	a.xattrs_len = 0;
	ck_assert_int_eq(jspool_put(&sp, &r), -1);
	ck_assert_int_eq(jspool_rewind(&sp, 0), -1);
	ck_assert_int_eq(jspool_next(&sp, &r), -1);
	jspool_release(&sp);
	free(big);
}
END_TEST

/* A write that fails (here: the file size limit) fails for good, named. */
START_TEST(test_write_fails)
{
	struct jspool sp;
	struct journal_rec r;
	struct journal_attr a;
	struct rlimit rl = { 4096, 4096 };
	char path[128], staged[48];
	size_t i;
	int rc = 0;

	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	jspool_init(&sp, &st);
	for (i = 0; i < 100000 && rc == 0; i++) {
		rec_of(i, &r, &a, path, staged);
		rc = jspool_put(&sp, &r);
	}
	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_nonnull(strstr(log_last(), "the commit's spool in"));
	ck_assert_ptr_nonnull(strstr(log_last(), "File too large"));
	ck_assert_int_eq(jspool_put(&sp, &r), -1);
	ck_assert_ptr_nonnull(strstr(log_last(), "File too large"));
	ck_assert_int_eq(jspool_rewind(&sp, 1), -1);
	ck_assert_int_eq(jspool_next(&sp, &r), -1);
	jspool_release(&sp);
}
END_TEST

static Suite *
jspool_suite(void)
{
	Suite *su = suite_create("jspool");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip_in_the_buffer);
	tcase_add_test(tc, test_round_trip_through_the_file);
	tcase_add_test(tc, test_big_record);
	tcase_add_test(tc, test_record_too_long);
	tcase_add_test(tc, test_write_fails);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	return unit_main(jspool_suite(), base);
}
