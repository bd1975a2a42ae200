/* session_fixture: what the plan and commit suites share: a source tree, a store, and the plan between them. */
#ifndef MIRRORFS_SESSION_FIXTURE_H
#define MIRRORFS_SESSION_FIXTURE_H

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filter.h"
#include "manifest.h"
#include "plan.h"
#include "result.h"
#include "store/master.h"

/* Set by the suite: TOP/src is the source, TOP/store the store. */
static char fx_top[PATH_MAX / 2];
static struct store fx_store;
static struct manifest fx_m;
static struct plan fx_plan;
static struct filter fx_filter;
static struct result fx_scan;

/* TOP/rel in one of two static buffers. */
static inline const char *
fx_path(const char *rel)
{
	static char bufs[2][PATH_MAX * 2];
	static int k;

	k = !k;
	snprintf(bufs[k], sizeof(bufs[k]), "%s/%s", fx_top, rel);
	return bufs[k];
}

static inline void
fx_write(const char *rel, const char *text)
{
	FILE *f = fopen(fx_path(rel), "w");

	ck_assert_msg(f != NULL, "%s", fx_path(rel));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* The whole contents of TOP/rel (static), or NULL when absent. */
static inline const char *
fx_read(const char *rel)
{
	static char buf[4096];
	ssize_t n;
	int fd = open(fx_path(rel), O_RDONLY | O_NOFOLLOW);

	if (fd == -1)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	return buf;
}

static inline int
fx_exists(const char *rel)
{
	struct stat st;

	return lstat(fx_path(rel), &st) == 0;
}

static inline void
fx_mkdir(const char *rel)
{
	ck_assert_int_eq(mkdir(fx_path(rel), 0755), 0);
}

/* Sets TOP/rel's mtime (no symlink followed). */
static inline void
fx_mtime(const char *rel, time_t sec)
{
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = sec } };

	ck_assert_int_eq(utimensat(AT_FDCWD, fx_path(rel), ts,
	    AT_SYMLINK_NOFOLLOW), 0);
}

/*
 * The same file at the source and in the store (rel below both), mode
 * 0644, to the nanosecond: the plan finds it unchanged.
 */
static inline void
fx_same_file(const char *rel, const char *text)
{
	char src[PATH_MAX], dst[PATH_MAX];

	snprintf(src, sizeof(src), "src/%s", rel);
	snprintf(dst, sizeof(dst), "store/%s", rel);
	fx_write(src, text);
	fx_write(dst, text);
	fx_mtime(src, 1600000000);
	fx_mtime(dst, 1600000000);
	ck_assert_int_eq(chmod(fx_path(src), 0644), 0);
	ck_assert_int_eq(chmod(fx_path(dst), 0644), 0);
}

/* Makes TOP/src and TOP/store (a store opened as its master). */
static inline void
fx_setup(const char *base)
{
	snprintf(fx_top, sizeof(fx_top), "%s/t.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(fx_top));
	fx_mkdir("src");
	ck_assert_int_eq(master_open(&fx_store, fx_path("store"),
	    MASTER_CREATE, NULL, NULL), 0);
	manifest_init(&fx_m);
	plan_init(&fx_plan);
	filter_init(&fx_filter);
	result_init(&fx_scan);
}

static inline void
fx_teardown(void)
{
	plan_release(&fx_plan);
	manifest_release(&fx_m);
	filter_release(&fx_filter);
	result_release(&fx_scan);
	master_close(&fx_store);
	rm_rf(fx_top);
}

/*
 * Scans TOP/src and plans every entry against the store, as a receiver
 * does as the manifest arrives (the index kept, hard links resolved).
 */
static inline void
fx_plan_tree(uint32_t session_flags)
{
	struct plan_opts o = { .flags = session_flags, .filter = &fx_filter,
	    .owner = geteuid() == 0 };
	int fd = open(fx_path("src"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(manifest_scan(&fx_m, fd, fx_path("src"), &fx_filter,
	    (session_flags & SESSION_CHECKSUM) != 0, &fx_scan), 0);
	close(fd);
	for (size_t i = 0; i < fx_m.n; i++) {
		ck_assert_int_eq(plan_add(&fx_plan, &fx_store, &fx_m, i, &o), 0);
	}
	ck_assert_int_eq(plan_finish(&fx_plan, &fx_store, &fx_m, &o), 0);
}

/* Forgets the manifest and the plan, to plan the tree again. */
static inline void
fx_forget_plan(void)
{
	plan_release(&fx_plan);
	manifest_release(&fx_m);
	plan_init(&fx_plan);
	manifest_init(&fx_m);
}

/* The plan entry of path (which must be in the manifest). */
static inline struct plan_entry *
fx_entry(const char *path)
{
	long i = manifest_find(&fx_m, path);

	ck_assert_msg(i >= 0, "%s is not in the manifest", path);
	return &fx_plan.v[i];
}

/* The plan's reason for path (which must be in the manifest), or NULL. */
static inline const char *
fx_reason(const char *path)
{
	long i = manifest_find(&fx_m, path);

	ck_assert_msg(i >= 0, "%s is not in the manifest", path);
	return plan_reason(&fx_plan, (size_t)i);
}

/* Copies a source file to staging/ as the receiver would have received it. */
static inline void
fx_stage(const char *path)
{
	long i = manifest_find(&fx_m, path);
	const struct entry *e = &fx_m.v[i];
	struct timespec ts[2] = {
		{ .tv_nsec = UTIME_OMIT },
		{ .tv_sec = e->mtime_sec, .tv_nsec = e->mtime_nsec },
	};
	char name[PLAN_STAGED_NAME], buf[4096];
	ssize_t n;
	int srcfd, in, out;

	ck_assert(fx_plan.v[i].flags & PF_DATA);
	plan_staged_shard(name, sizeof(name), (size_t)i);
	ck_assert(mkdirat(fx_store.stagingfd, name, 0700) == 0 || errno == EEXIST);
	plan_staged_name(name, sizeof(name), (size_t)i);
	srcfd = open(fx_path("src"), O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(srcfd, 0);
	in = openat(srcfd, path, O_RDONLY);
	close(srcfd);
	ck_assert_int_ge(in, 0);
	out = openat(fx_store.stagingfd, name, O_WRONLY | O_CREAT | O_EXCL,
	    0600);
	ck_assert_int_ge(out, 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ck_assert_int_eq(write(out, buf, (size_t)n), n);
	ck_assert_int_eq(fchmod(out, e->mode), 0);
	ck_assert_int_eq(futimens(out, ts), 0);
	close(in);
	close(out);
	fx_plan.v[i].flags &= ~PF_DATA;
	fx_plan.v[i].flags |= PF_STAGED;
}

/* Stages every file the plan wants data for. */
static inline void
fx_stage_all(void)
{
	for (size_t i = 0; i < fx_m.n; i++)
		if (fx_plan.v[i].flags & PF_DATA)
			fx_stage(fx_m.v[i].path);
}

#endif
