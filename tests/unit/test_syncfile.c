/*
 * Unit tests for syncfile.h: the SYNC entry naming a store's master is
 * written and read back in a temporary .mirrorfs directory; malformed or
 * incomplete entries are refused with a message naming the file.
 */
#include <check.h>
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
#include "store/syncfile.h"
#include "unit.h"

/* Every test's directory is made in base, which main() removes at the end
 * even when a failed test skipped its teardown. */
static char base[] = "/tmp/test_syncfile.XXXXXX";
static char top[sizeof(base) + 16];	/* plays the store */
static char meta[PATH_MAX];		/* TOP/.mirrorfs */
static int metafd = -1;


static void
setup(void)
{
	log_init("test_syncfile", LOG_SILENT);
	snprintf(top, sizeof(top), "%s/t.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(top));
	snprintf(meta, sizeof(meta), "%s/.mirrorfs", top);
	ck_assert_int_eq(mkdir(meta, 0700), 0);
	metafd = open(meta, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ne(metafd, -1);
}

static void
teardown(void)
{
	close(metafd);
	rm_rf(top);
}

/* Writes META/SYNC by hand. */
static void
write_sync(const char *text)
{
	char p[PATH_MAX + 8];
	FILE *f;

	snprintf(p, sizeof(p), "%s/SYNC", meta);
	f = fopen(p, "w");
	ck_assert_msg(f != NULL, "%s: %s", p, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static int
meta_exists(const char *name)
{
	struct stat st;

	return fstatat(metafd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void
sample(struct sync_entry *e)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->instance, sizeof(e->instance), "mirrorfs@%s", "/mnt/m");
	e->pid = 12345;
	snprintf(e->host, sizeof(e->host), "host-a.example");
	snprintf(e->boot_id, sizeof(e->boot_id),
	    "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
	snprintf(e->started, sizeof(e->started), "2024-01-02T03:04:05Z");
}

static void
assert_same(const struct sync_entry *a, const struct sync_entry *b)
{
	ck_assert_str_eq(a->instance, b->instance);
	ck_assert_int_eq(a->pid, b->pid);
	ck_assert_str_eq(a->host, b->host);
	ck_assert_str_eq(a->boot_id, b->boot_id);
	ck_assert_str_eq(a->started, b->started);
}

/* Reading META/SYNC must fail, with a message naming it at line. */
static void
read_refused(unsigned line)
{
	struct sync_entry e;
	char want[PATH_MAX + 32];

	ck_assert_int_eq(sync_entry_read(metafd, top, &e), -1);
	if (line)
		snprintf(want, sizeof(want), "%s/.mirrorfs/SYNC:%u:", top, line);
	else
		snprintf(want, sizeof(want), "%s/.mirrorfs/SYNC", top);
	ck_assert_msg(strstr(log_last(), want) != NULL, "message '%s' lacks "
	    "'%s'", log_last(), want);
}

START_TEST(test_round_trip)
{
	struct sync_entry e, got;

	sample(&e);
	ck_assert_int_eq(sync_entry_write(metafd, top, &e), 0);
	ck_assert(meta_exists("SYNC"));
	ck_assert(!meta_exists("SYNC.tmp"));
	memset(&got, 0x5a, sizeof(got));
	ck_assert_int_eq(sync_entry_read(metafd, top, &got), 1);
	assert_same(&e, &got);

	/* A second write replaces the first. */
	snprintf(e.instance, sizeof(e.instance), "mirrorctl@host-b");
	e.pid = 1;
	e.started[0] = '\0';
	e.boot_id[0] = '\0';
	ck_assert_int_eq(sync_entry_write(metafd, top, &e), 0);
	ck_assert_int_eq(sync_entry_read(metafd, top, &got), 1);
	assert_same(&e, &got);
}
END_TEST

START_TEST(test_round_trip_long_fields)
{
	struct sync_entry e, got;

	sample(&e);
	memset(e.instance, 'i', sizeof(e.instance) - 1);
	e.instance[sizeof(e.instance) - 1] = '\0';
	memset(e.host, 'h', sizeof(e.host) - 1);
	e.host[sizeof(e.host) - 1] = '\0';
	memset(e.boot_id, 'b', sizeof(e.boot_id) - 1);
	e.boot_id[sizeof(e.boot_id) - 1] = '\0';
	e.pid = 2147483647;
	ck_assert_int_eq(sync_entry_write(metafd, top, &e), 0);
	ck_assert_int_eq(sync_entry_read(metafd, top, &got), 1);
	assert_same(&e, &got);
}
END_TEST

START_TEST(test_file_format)
{
	struct sync_entry e;
	char text[1024];
	ssize_t n;
	int fd;

	/* key=value lines, one per field. */
	sample(&e);
	ck_assert_int_eq(sync_entry_write(metafd, top, &e), 0);
	fd = openat(metafd, "SYNC", O_RDONLY);
	ck_assert_int_ne(fd, -1);
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	text[n] = '\0';
	ck_assert_ptr_nonnull(strstr(text, "instance=mirrorfs@/mnt/m\n"));
	ck_assert_ptr_nonnull(strstr(text, "pid=12345\n"));
	ck_assert_ptr_nonnull(strstr(text, "host=host-a.example\n"));
	ck_assert_ptr_nonnull(strstr(text, "started=2024-01-02T03:04:05Z\n"));
}
END_TEST

START_TEST(test_read_by_hand)
{
	struct sync_entry e;

	/* Comments, blank lines and keys of later versions are skipped. */
	write_sync("# the master\n\ninstance=x\nfuture=1\npid=7\nhost=h\n"
	    "boot_id=b\nstarted=s\n");
	ck_assert_int_eq(sync_entry_read(metafd, top, &e), 1);
	ck_assert_str_eq(e.instance, "x");
	ck_assert_int_eq(e.pid, 7);
	ck_assert_str_eq(e.host, "h");
	ck_assert_str_eq(e.boot_id, "b");
	ck_assert_str_eq(e.started, "s");

	/* boot_id and started are optional; no final newline is fine. */
	write_sync("host=h\npid=8\ninstance=y");
	ck_assert_int_eq(sync_entry_read(metafd, top, &e), 1);
	ck_assert_str_eq(e.instance, "y");
	ck_assert_int_eq(e.pid, 8);
	ck_assert_str_eq(e.boot_id, "");
	ck_assert_str_eq(e.started, "");

	/* A value may hold '='. */
	write_sync("instance=a=b\npid=9\nhost=h\n");
	ck_assert_int_eq(sync_entry_read(metafd, top, &e), 1);
	ck_assert_str_eq(e.instance, "a=b");
}
END_TEST

START_TEST(test_no_entry)
{
	struct sync_entry e;

	memset(&e, 0x5a, sizeof(e));
	ck_assert_int_eq(sync_entry_read(metafd, top, &e), 0);
	ck_assert_str_eq(e.instance, "");
	ck_assert_int_eq(e.pid, 0);
}
END_TEST

START_TEST(test_malformed_line)
{
	write_sync("instance=x\npid=7\nthis line has no equals sign\nhost=h\n");
	read_refused(3);
	write_sync("instance=x\n\n# c\npid=seven\nhost=h\n");
	read_refused(4);
	write_sync("pid=0\ninstance=x\nhost=h\n");
	read_refused(1);
	write_sync("instance=x\npid=-3\nhost=h\n");
	read_refused(2);
	write_sync("instance=x\npid=12x\nhost=h\n");
	read_refused(2);
	write_sync("instance=x\npid=\nhost=h\n");
	read_refused(2);
	write_sync("instance=x\npid=99999999999999999999\nhost=h\n");
	read_refused(2);
}
END_TEST

START_TEST(test_missing_fields)
{
	write_sync("pid=7\nhost=h\n");
	read_refused(0);
	write_sync("instance=x\nhost=h\n");
	read_refused(0);
	write_sync("instance=x\npid=7\n");
	read_refused(0);
	write_sync("instance=\npid=7\nhost=h\n");
	read_refused(0);
	write_sync("");
	read_refused(0);
	write_sync("# only a comment\n");
	read_refused(0);
}
END_TEST

START_TEST(test_symlink_refused)
{
	struct sync_entry e;
	char target[PATH_MAX + 16];

	/* SYNC is never followed out of .mirrorfs. */
	snprintf(target, sizeof(target), "%s/elsewhere", top);
	write_sync("instance=x\npid=7\nhost=h\n");
	ck_assert_int_eq(renameat(metafd, "SYNC", AT_FDCWD, target), 0);
	ck_assert_int_eq(symlinkat(target, metafd, "SYNC"), 0);
	ck_assert_int_eq(sync_entry_read(metafd, top, &e), -1);
}
END_TEST

START_TEST(test_remove)
{
	struct sync_entry e;

	sample(&e);
	ck_assert_int_eq(sync_entry_write(metafd, top, &e), 0);
	ck_assert_int_eq(sync_entry_remove(metafd, top), 0);
	ck_assert(!meta_exists("SYNC"));
	ck_assert_int_eq(sync_entry_read(metafd, top, &e), 0);
	/* Nothing to remove is fine. */
	ck_assert_int_eq(sync_entry_remove(metafd, top), 0);
}
END_TEST

START_TEST(test_describe)
{
	struct sync_entry e;
	char buf[1200], small[16];

	sample(&e);
	sync_entry_describe(&e, buf, sizeof(buf));
	ck_assert_str_eq(buf, "instance mirrorfs@/mnt/m (pid 12345 on host "
	    "host-a.example since 2024-01-02T03:04:05Z)");
	e.started[0] = '\0';
	sync_entry_describe(&e, buf, sizeof(buf));
	ck_assert_str_eq(buf, "instance mirrorfs@/mnt/m (pid 12345 on host "
	    "host-a.example since an unknown time)");
	/* A small buffer gets a terminated prefix. */
	memset(small, 'x', sizeof(small));
	sync_entry_describe(&e, small, sizeof(small));
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
	ck_assert_str_eq(small, "instance mirror");
}
END_TEST

START_TEST(test_self)
{
	struct sync_entry e;
	char host[256], boot[64], proc[64] = "";
	FILE *f;

	sync_entry_self(&e, "mirrorctl@here");
	ck_assert_str_eq(e.instance, "mirrorctl@here");
	ck_assert_int_eq(e.pid, getpid());
	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	ck_assert_str_eq(e.host, host);
	/* "YYYY-MM-DDTHH:MM:SSZ" */
	ck_assert_uint_eq(strlen(e.started), 20);
	ck_assert_int_eq(e.started[4], '-');
	ck_assert_int_eq(e.started[10], 'T');
	ck_assert_int_eq(e.started[19], 'Z');

	sync_host(host, sizeof(host), boot, sizeof(boot));
	ck_assert_str_eq(host, e.host);
	ck_assert_str_eq(boot, e.boot_id);
	f = fopen("/proc/sys/kernel/random/boot_id", "r");
	if (f != NULL) {
		ck_assert_ptr_nonnull(fgets(proc, sizeof(proc), f));
		fclose(f);
		proc[strcspn(proc, "\n")] = '\0';
		ck_assert_str_eq(boot, proc);
	}

	/* What sync_entry_self fills reads back the same. */
	ck_assert_int_eq(sync_entry_write(metafd, top, &e), 0);
	{
		struct sync_entry got;

		ck_assert_int_eq(sync_entry_read(metafd, top, &got), 1);
		assert_same(&e, &got);
	}
}
END_TEST

static Suite *
syncfile_suite(void)
{
	Suite *su = suite_create("syncfile");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_round_trip_long_fields);
	tcase_add_test(tc, test_file_format);
	tcase_add_test(tc, test_read_by_hand);
	tcase_add_test(tc, test_no_entry);
	tcase_add_test(tc, test_malformed_line);
	tcase_add_test(tc, test_missing_fields);
	tcase_add_test(tc, test_symlink_refused);
	tcase_add_test(tc, test_remove);
	tcase_add_test(tc, test_describe);
	tcase_add_test(tc, test_self);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	return unit_main(syncfile_suite(), base);
}
