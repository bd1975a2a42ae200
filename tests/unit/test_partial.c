/*
 * Unit tests for partial.h: data kept from an interrupted session is
 * claimed back only for the very source version (path, size, mtime) it
 * was received from, and partial_clear() empties the directory.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "manifest.h"
#include "partial.h"
#include "unit.h"

/* Every test's directory is made in base, which main() removes at the end
 * even when a failed test skipped its teardown. */
static char base[] = "/tmp/test_partial.XXXXXX";
static char top[sizeof(base) + 16];
static int stagingfd = -1, partialfd = -1;


static int
open_dir(const char *name)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", top, name);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ne(fd, -1);
	return fd;
}

static void
setup(void)
{
	log_init("test_partial", LOG_ERROR);
	snprintf(top, sizeof(top), "%s/t.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(top));
	stagingfd = open_dir("staging");
	partialfd = open_dir("partial");
}

static void
teardown(void)
{
	close(stagingfd);
	close(partialfd);
	rm_rf(top);
}

/* Creates dirfd/name holding n bytes of a pattern that depends on seed. */
static void
make_file(int dirfd, const char *name, size_t n, int seed)
{
	char *data = malloc(n + 1);
	int fd;

	ck_assert_ptr_nonnull(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (char)('a' + (i * 7 + (size_t)seed) % 26);
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
	ck_assert_int_eq(close(fd), 0);
	free(data);
}

/* dirfd/name holds exactly what make_file(n, seed) wrote. */
static void
assert_file(int dirfd, const char *name, size_t n, int seed)
{
	char *data = malloc(n + 2);
	ssize_t got;
	int fd = openat(dirfd, name, O_RDONLY);

	ck_assert_msg(fd != -1, "%s: %s", name, strerror(errno));
	ck_assert_ptr_nonnull(data);
	got = read(fd, data, n + 1);
	close(fd);
	ck_assert_int_eq(got, (ssize_t)n);
	for (size_t i = 0; i < n; i++)
		if (data[i] != (char)('a' + (i * 7 + (size_t)seed) % 26))
			ck_abort_msg("%s: byte %zu differs", name, i);
	free(data);
}

static int
exists(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* The number of entries in dirfd, "." and ".." aside. */
static int
count(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY);
	struct dirent *de;
	DIR *d;
	int n = 0;

	ck_assert_int_ne(fd, -1);
	d = fdopendir(fd);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
attr_init(struct entry *a, uint64_t size, int64_t sec, uint32_t nsec)
{
	memset(a, 0, sizeof(*a));
	a->type = ENTRY_REG;
	a->mode = 0644;
	a->size = size;
	a->mtime_sec = sec;
	a->mtime_nsec = nsec;
}

START_TEST(test_keep_then_claim)
{
	struct entry a;

	attr_init(&a, 10000, 1700000000, 123);
	make_file(stagingfd, "s1", 4000, 1);
	partial_keep(stagingfd, "s1", partialfd, "dir/file.bin", &a);
	ck_assert(!exists(stagingfd, "s1"));
	ck_assert_int_eq(count(partialfd), 1);

	ck_assert_uint_eq(partial_claim(partialfd, stagingfd, "s2",
	    "dir/file.bin", &a), 4000);
	assert_file(stagingfd, "s2", 4000, 1);
	ck_assert_int_eq(count(partialfd), 0);
	/* Claimed once: nothing is left for a second claim. */
	ck_assert_uint_eq(partial_claim(partialfd, stagingfd, "s3",
	    "dir/file.bin", &a), 0);
	ck_assert(!exists(stagingfd, "s3"));
}
END_TEST

START_TEST(test_claim_complete)
{
	struct entry a;

	/* A file received whole (it passed its hash) comes back whole. */
	attr_init(&a, 5000, 1, 0);
	make_file(stagingfd, "s1", 5000, 2);
	partial_keep(stagingfd, "s1", partialfd, "whole", &a);
	ck_assert_uint_eq(partial_claim(partialfd, stagingfd, "s1", "whole",
	    &a), 5000);
	assert_file(stagingfd, "s1", 5000, 2);
}
END_TEST

START_TEST(test_claim_replaces_staged)
{
	struct entry a;

	/* Whatever the staging name held before is replaced. */
	attr_init(&a, 100, 5, 6);
	make_file(stagingfd, "s1", 60, 3);
	partial_keep(stagingfd, "s1", partialfd, "f", &a);
	make_file(stagingfd, "s9", 90, 4);
	ck_assert_uint_eq(partial_claim(partialfd, stagingfd, "s9", "f", &a),
	    60);
	assert_file(stagingfd, "s9", 60, 3);
}
END_TEST

/* Keeps 50 bytes for (f, a) and claims them with b instead: nothing. */
static void
claim_other_version(const struct entry *a, const char *apath,
    const struct entry *b, const char *bpath)
{
	make_file(stagingfd, "s1", 50, 5);
	partial_keep(stagingfd, "s1", partialfd, apath, a);
	ck_assert_int_eq(count(partialfd), 1);
	ck_assert_uint_eq(partial_claim(partialfd, stagingfd, "s2", bpath, b),
	    0);
	ck_assert(!exists(stagingfd, "s2"));
	/* Never claimed, so stale after the commit: partial_clear drops it. */
	partial_clear(partialfd);
	ck_assert_int_eq(count(partialfd), 0);
}

START_TEST(test_claim_other_mtime)
{
	struct entry a, b;

	attr_init(&a, 1000, 1700000000, 5);
	attr_init(&b, 1000, 1700000001, 5);
	claim_other_version(&a, "f", &b, "f");
	attr_init(&b, 1000, 1700000000, 6);
	claim_other_version(&a, "f", &b, "f");
	attr_init(&b, 1000, -1700000000, 5);
	claim_other_version(&a, "f", &b, "f");
}
END_TEST

START_TEST(test_claim_other_size)
{
	struct entry a, b;

	attr_init(&a, 1000, 1700000000, 5);
	attr_init(&b, 1001, 1700000000, 5);
	claim_other_version(&a, "f", &b, "f");
	attr_init(&b, 999, 1700000000, 5);
	claim_other_version(&a, "f", &b, "f");
}
END_TEST

START_TEST(test_claim_other_path)
{
	struct entry a;

	attr_init(&a, 1000, 1700000000, 5);
	claim_other_version(&a, "dir/f", &a, "dir/g");
	claim_other_version(&a, "dir/f", &a, "dir/f/");
	claim_other_version(&a, "ab", &a, "a");
}
END_TEST

START_TEST(test_claim_deletes_unusable)
{
	struct entry a, small;

	/* More than the file's size (the kept name says otherwise): dropped. */
	attr_init(&a, 100, 7, 0);
	make_file(stagingfd, "s1", 200, 6);
	partial_keep(stagingfd, "s1", partialfd, "f", &a);
	ck_assert_uint_eq(partial_claim(partialfd, stagingfd, "s2", "f", &a),
	    0);
	ck_assert(!exists(stagingfd, "s2"));
	ck_assert_int_eq(count(partialfd), 0);

	/* Nothing received: dropped. */
	make_file(stagingfd, "s1", 0, 6);
	partial_keep(stagingfd, "s1", partialfd, "f", &a);
	ck_assert_int_eq(count(partialfd), 1);
	ck_assert_uint_eq(partial_claim(partialfd, stagingfd, "s2", "f", &a),
	    0);
	ck_assert_int_eq(count(partialfd), 0);

	/* Not a regular file. */
	attr_init(&small, 10, 8, 0);
	ck_assert_int_eq(mkdirat(stagingfd, "d", 0700), 0);
	partial_keep(stagingfd, "d", partialfd, "f", &small);
	ck_assert_uint_eq(partial_claim(partialfd, stagingfd, "s2", "f",
	    &small), 0);
	ck_assert(!exists(stagingfd, "s2"));
}
END_TEST

START_TEST(test_keep_missing_staged)
{
	struct entry a;

	/* Nothing staged: nothing kept, no harm. */
	attr_init(&a, 100, 7, 0);
	partial_keep(stagingfd, "none", partialfd, "f", &a);
	ck_assert_int_eq(count(partialfd), 0);
	ck_assert_uint_eq(partial_claim(partialfd, stagingfd, "s", "f", &a), 0);
}
END_TEST

START_TEST(test_keep_many)
{
	struct entry a;
	char path[32], staged[32];

	/* Several files kept at once, each claimed by its own identity. */
	for (int i = 0; i < 20; i++) {
		attr_init(&a, 1000, 1700000000 + i, 0);
		snprintf(path, sizeof(path), "dir/f%d", i);
		snprintf(staged, sizeof(staged), "s%d", i);
		make_file(stagingfd, staged, (size_t)(10 + i), i);
		partial_keep(stagingfd, staged, partialfd, path, &a);
	}
	ck_assert_int_eq(count(partialfd), 20);
	ck_assert_int_eq(count(stagingfd), 0);
	for (int i = 19; i >= 0; i -= 2) {
		attr_init(&a, 1000, 1700000000 + i, 0);
		snprintf(path, sizeof(path), "dir/f%d", i);
		ck_assert_uint_eq(partial_claim(partialfd, stagingfd, "x", path,
		    &a), (uint64_t)(10 + i));
		assert_file(stagingfd, "x", (size_t)(10 + i), i);
	}
	ck_assert_int_eq(count(partialfd), 10);
	partial_clear(partialfd);
	ck_assert_int_eq(count(partialfd), 0);
}
END_TEST

START_TEST(test_clear)
{
	struct entry a;

	attr_init(&a, 1000, 1, 0);
	make_file(stagingfd, "s1", 10, 0);
	partial_keep(stagingfd, "s1", partialfd, "a", &a);
	make_file(stagingfd, "s1", 10, 0);
	partial_keep(stagingfd, "s1", partialfd, "b", &a);
	make_file(partialfd, "stray", 3, 0);
	ck_assert_int_eq(count(partialfd), 3);
	ck_assert_int_eq(partial_any(partialfd), 1);
	partial_clear(partialfd);
	ck_assert_int_eq(count(partialfd), 0);
	ck_assert_int_eq(partial_any(partialfd), 0);
	/* An empty directory is fine, and nothing outside it is touched. */
	make_file(stagingfd, "keepme", 5, 0);
	partial_clear(partialfd);
	ck_assert_int_eq(count(partialfd), 0);
	ck_assert(exists(stagingfd, "keepme"));
}
END_TEST

START_TEST(test_no_partial_dir)
{
	struct entry a;

	/* partialfd -1 (a store without partial/): every call does nothing. */
	attr_init(&a, 100, 1, 0);
	make_file(stagingfd, "s1", 10, 0);
	partial_keep(stagingfd, "s1", -1, "f", &a);
	ck_assert(exists(stagingfd, "s1"));
	ck_assert_uint_eq(partial_claim(-1, stagingfd, "s1", "f", &a), 0);
	ck_assert(exists(stagingfd, "s1"));
	partial_clear(-1);
}
END_TEST

static Suite *
partial_suite(void)
{
	Suite *su = suite_create("partial");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_keep_then_claim);
	tcase_add_test(tc, test_claim_complete);
	tcase_add_test(tc, test_claim_replaces_staged);
	tcase_add_test(tc, test_claim_other_mtime);
	tcase_add_test(tc, test_claim_other_size);
	tcase_add_test(tc, test_claim_other_path);
	tcase_add_test(tc, test_claim_deletes_unusable);
	tcase_add_test(tc, test_keep_missing_staged);
	tcase_add_test(tc, test_keep_many);
	tcase_add_test(tc, test_clear);
	tcase_add_test(tc, test_no_partial_dir);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	return unit_main(partial_suite(), base);
}
