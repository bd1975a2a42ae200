/*
 * Unit tests for durable.h: files and directories are taken once each,
 * special files are left to their directory, a batch past DURABLE_MAX
 * turns into one syncfs, a name that is not there is an error, and a
 * flush empties the batch for the next.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "store/durable.h"
#include "unit.h"

static char base[] = "/tmp/test_durable.XXXXXX";
static struct store s;
static int dirfd_ = -1;

static void
setup(void)
{
	log_init("test_durable", LOG_ERROR);
	store_init(&s);
	s.path = base;
	s.rootfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(s.rootfd, 0);
	dirfd_ = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dirfd_, 0);
}

static void
teardown(void)
{
	close(dirfd_);
	close(s.rootfd);
	s.path = NULL;
}

static void
make_file(const char *name)
{
	int fd = openat(dirfd_, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	close(fd);
}

START_TEST(test_each_once)
{
	struct durable d;

	make_file("a");
	ck_assert_int_eq(mkfifoat(dirfd_, "fifo", 0600), 0);
	durable_init(&d, &s);
	ck_assert_int_eq(durable_add(&d, dirfd_, "a"), 0);
	ck_assert_int_eq(durable_add(&d, dirfd_, "a"), 0);
	ck_assert_int_eq(durable_add(&d, dirfd_, NULL), 0);	/* an O_PATH fd */
	ck_assert_int_eq(durable_add(&d, dirfd_, "."), 0);
	/* A FIFO is never opened (it would block): its directory holds it. */
	ck_assert_int_eq(durable_add(&d, dirfd_, "fifo"), 0);
	ck_assert_uint_eq(d.n, 2);
	ck_assert_int_eq(d.whole, 0);
	ck_assert_int_eq(durable_flush(&d), 0);
	ck_assert_uint_eq(d.n, 0);
	durable_release(&d);
	unlinkat(dirfd_, "fifo", 0);
	unlinkat(dirfd_, "a", 0);
}
END_TEST

START_TEST(test_missing_is_an_error)
{
	struct durable d;

	durable_init(&d, &s);
	errno = 0;
	ck_assert_int_eq(durable_add(&d, dirfd_, "nothing-here"), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(durable_flush(&d), 0);
	durable_release(&d);
}
END_TEST

START_TEST(test_past_max_turns_whole)
{
	struct durable d;
	char name[32];

	durable_init(&d, &s);
	for (int i = 0; i <= DURABLE_MAX; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		make_file(name);
		ck_assert_int_eq(durable_add(&d, dirfd_, name), 0);
	}
	ck_assert_int_eq(d.whole, 1);
	ck_assert_uint_eq(d.n, 0);	/* no descriptors held any more */
	ck_assert_int_eq(durable_flush(&d), 0);	/* one syncfs */
	ck_assert_int_eq(d.whole, 0);
	ck_assert_int_eq(durable_add(&d, dirfd_, "f0"), 0);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_int_eq(durable_flush(&d), 0);
	durable_release(&d);
	for (int i = 0; i <= DURABLE_MAX; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		unlinkat(dirfd_, name, 0);
	}
}
END_TEST

static Suite *
durable_suite(void)
{
	Suite *su = suite_create("durable");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_each_once);
	tcase_add_test(tc, test_missing_is_an_error);
	tcase_add_test(tc, test_past_max_turns_whole);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	return unit_main(durable_suite(), base);
}
