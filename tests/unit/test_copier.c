/*
 * Unit tests for copier.h: copies added come back as results, each
 * once, each staged file exact with the source's attributes; the
 * copier is full at its places and free again once a result is taken;
 * its descriptor is readable exactly while a result waits; a failed
 * copy says why; freed with copies pending, it leaves nothing staged
 * and no descriptor open.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "copier.h"
#include "log.h"
#include "unit.h"

static char base[] = "/tmp/test_copier.XXXXXX";
static struct store st;
static struct plan_opts opts;
static struct entry ent;	/* no extended attributes: any file's */

static void
setup(void)
{
	char dir[sizeof(base) + 16];

	log_init("test_copier", LOG_ERROR);
	snprintf(dir, sizeof(dir), "%s/staging", base);
	rm_rf(dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	memset(&st, 0, sizeof(st));
	st.path = base;
	st.stagingfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(st.stagingfd, 0);
	memset(&opts, 0, sizeof(opts));
	memset(&ent, 0, sizeof(ent));
	ent.type = ENTRY_REG;
}

static void
teardown(void)
{
	close(st.stagingfd);
}

/* A source file of size bytes, each the low byte of its offset plus seed, opened for reading. */
static int
source(const char *name, size_t size, int seed)
{
	char path[sizeof(base) + 64];
	char *data = malloc(size + 1);
	int fd;

	ck_assert_ptr_nonnull(data);
	for (size_t k = 0; k < size; k++)
		data[k] = (char)(k + (size_t)seed);
	snprintf(path, sizeof(path), "%s/%s", base, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, size), (ssize_t)size);
	close(fd);
	free(data);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	return fd;
}

/* staging/name holds size bytes of seed's pattern. */
static void
assert_staged(const char *name, size_t size, int seed)
{
	struct stat sb;
	char *data = malloc(size + 1);
	int fd = openat(st.stagingfd, name, O_RDONLY | O_CLOEXEC);

	ck_assert_ptr_nonnull(data);
	ck_assert_msg(fd >= 0, "staging/%s is missing", name);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	ck_assert_int_eq(sb.st_size, (off_t)size);
	ck_assert_int_eq(sb.st_mode & 07777, 0640);
	ck_assert_int_eq(read(fd, data, size + 1), (ssize_t)size);
	for (size_t k = 0; k < size; k++)
		ck_assert_int_eq(data[k], (char)(k + (size_t)seed));
	close(fd);
	free(data);
}

static size_t
staged_count(void)
{
	int fd = dup(st.stagingfd);
	DIR *d = fdopendir(fd);
	struct dirent *de;
	size_t n = 0;

	ck_assert_ptr_nonnull(d);
	rewinddir(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static int
readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* Every copy comes back once (in no set order), exact; the places are bounded. */
START_TEST(test_copies_come_back)
{
	struct copier *cp = copier_new(&st, &opts, 2);
	struct copy_result res;
	char name[16];
	size_t added = 0, n = 0;
	unsigned seen = 0;

	ck_assert_ptr_nonnull(cp);
	ck_assert_int_eq(copier_take(cp, &res, 1), 0);	/* nothing pending */
	while (!copier_full(cp)) {
		snprintf(name, sizeof(name), "s%zu", added);
		copier_add(cp, added, name, source(name, 70000 + added,
		    (int)added), &ent);
		added++;
	}
	ck_assert_uint_eq(added, 4);	/* 2 threads, 2 places each */
	ck_assert_uint_eq(copier_pending(cp), 4);
	while (copier_take(cp, &res, 1) == 1) {
		ck_assert_uint_lt(res.idx, 4);
		ck_assert(!(seen & (1u << res.idx)));
		seen |= 1u << res.idx;
		ck_assert_int_eq(res.end, STAGE_DONE);
		ck_assert_uint_eq(res.attr.size, 70000 + res.idx);
		ck_assert_int_eq(res.attr.mode & 07777, 0640);
		snprintf(name, sizeof(name), "s%zu", res.idx);
		assert_staged(name, 70000 + res.idx, (int)res.idx);
		ck_assert(!copier_full(cp));
		n++;
	}
	ck_assert_uint_eq(n, 4);
	ck_assert_uint_eq(seen, 0xf);
	ck_assert_uint_eq(copier_pending(cp), 0);
	ck_assert(!readable(copier_fd(cp)));
	copier_free(cp);
	ck_assert_uint_eq(staged_count(), 4);
}
END_TEST

/* The descriptor says when a result waits, and stops once it is taken. */
START_TEST(test_fd_readable_while_a_result_waits)
{
	struct copier *cp = copier_new(&st, &opts, 1);
	struct copy_result res;
	struct pollfd p;

	ck_assert_ptr_nonnull(cp);
	ck_assert(!readable(copier_fd(cp)));
	copier_add(cp, 7, "one", source("one", 5000, 3), &ent);
	p = (struct pollfd){ .fd = copier_fd(cp), .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 10000), 1);
	ck_assert_int_eq(copier_take(cp, &res, 0), 1);
	ck_assert_uint_eq(res.idx, 7);
	ck_assert(!readable(copier_fd(cp)));
	ck_assert_int_eq(copier_take(cp, &res, 0), 0);
	copier_free(cp);
}
END_TEST

/* A descriptor that cannot be copied from fails its file, with why. */
START_TEST(test_failed_copy_says_why)
{
	struct copier *cp = copier_new(&st, &opts, 1);
	struct copy_result res;
	int fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	ck_assert_ptr_nonnull(cp);
	copier_add(cp, 0, "dir", fd, &ent);
	ck_assert_int_eq(copier_take(cp, &res, 1), 1);
	ck_assert_int_eq(res.end, STAGE_FAILED);
	ck_assert_ptr_nonnull(strstr(res.why, "not a regular file"));
	copier_free(cp);
	ck_assert_uint_eq(staged_count(), 0);
}
END_TEST

/* Freed with copies pending: nothing staged is left, no descriptor open. */
START_TEST(test_free_with_pending)
{
	struct copier *cp;
	char name[16];
	int probe, before = dup(0);

	close(before);
	cp = copier_new(&st, &opts, 2);
	ck_assert_ptr_nonnull(cp);
	for (size_t k = 0; !copier_full(cp); k++) {
		snprintf(name, sizeof(name), "p%zu", k);
		copier_add(cp, k, name, source(name, 1 << 20, 1), &ent);
	}
	copier_free(cp);
	ck_assert_uint_eq(staged_count(), 0);
	/* The lowest free descriptor is the one before: none leaked. */
	probe = dup(0);
	ck_assert_int_eq(probe, before);
	close(probe);
}
END_TEST

/* MIRRORFS_COPIERS is taken when it is a count; a low open-file limit means fewer threads. */
START_TEST(test_thread_count)
{
	struct rlimit rl, low;
	unsigned dflt;

	ck_assert_int_eq(setenv("MIRRORFS_COPIERS", "3", 1), 0);
	ck_assert_uint_eq(copier_threads(), 3);
	ck_assert_int_eq(setenv("MIRRORFS_COPIERS", "0", 1), 0);
	ck_assert_uint_eq(copier_threads(), 0);
	ck_assert_int_eq(unsetenv("MIRRORFS_COPIERS"), 0);
	dflt = copier_threads();
	ck_assert_uint_ge(dflt, 1);
	ck_assert_uint_le(dflt, 16);
	ck_assert_int_eq(setenv("MIRRORFS_COPIERS", "-1", 1), 0);
	ck_assert_uint_eq(copier_threads(), dflt);
	ck_assert_ptr_nonnull(strstr(log_last(), "MIRRORFS_COPIERS=-1"));
	ck_assert_int_eq(setenv("MIRRORFS_COPIERS", "4x", 1), 0);
	ck_assert_uint_eq(copier_threads(), dflt);
	ck_assert_int_eq(unsetenv("MIRRORFS_COPIERS"), 0);
	/* 50 descriptors: two threads (three descriptors each, an eighth). */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	low = rl;
	low.rlim_cur = 50;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	ck_assert_uint_eq(copier_threads(), dflt < 2 ? dflt : 2);
	low.rlim_cur = 20;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	ck_assert_uint_eq(copier_threads(), 0);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}
END_TEST

static Suite *
copier_suite(void)
{
	Suite *su = suite_create("copier");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_copies_come_back);
	tcase_add_test(tc, test_fd_readable_while_a_result_waits);
	tcase_add_test(tc, test_failed_copy_says_why);
	tcase_add_test(tc, test_free_with_pending);
	tcase_add_test(tc, test_thread_count);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	return unit_main(copier_suite(), base);
}
