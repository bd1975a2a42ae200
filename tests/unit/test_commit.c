/*
 * Unit tests for commit.h: a planned session made current in a real store:
 * created, replaced, attribute-only and purged entries land together,
 * symlinks and hard links are staged, directory times are restored last,
 * nothing is left in staging/ nor a journal; the observer sees begin,
 * check (every change, before the commit point), replacing (just before
 * each change, with what was there), changed and end, in that order,
 * check and changed in batches of at most MIRRORFS_COMMIT_BATCH, and its veto
 * keeps the old version and skips the entry; a record that cannot be done
 * fails its entry alone; the commit reads no entry of the manifest.
 */
#include <check.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "commit.h"
#include "log.h"
#include "proto.h"
#include "store/journal.h"
#include "unit.h"
#include "session_fixture.h"

static char base[] = "/tmp/test_commit.XXXXXX";

static void
setup(void)
{
	log_init("test_commit", LOG_ERROR);
	fx_setup(base);
}

static void
teardown(void)
{
	fx_teardown();
}

/* Entries in staging/. */
static int
staged_count(void)
{
	char cmd[PATH_MAX + 64];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l",
	    fx_path("store/.mirrorfs/staging"));
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

/*
 * Commits the planned and staged tree as a receiver does: each entry's
 * records spooled, then the commit with the manifest's entries out of
 * reach (it must read none of them: a later step frees them as they end).
 */
static int
commit(const struct commit_observer *ob)
{
	struct commit_opts o = { .owner = geteuid() == 0, .observer = ob };
	struct commit *c = commit_alloc(&fx_store, &o);
	struct entry *v = fx_m.v;
	int rc;

	ck_assert_ptr_nonnull(c);
	for (size_t i = 0; i < fx_m.n; i++)
		ck_assert_int_eq(commit_entry(c, &fx_m, &fx_plan, i), 0);
	ck_assert_int_eq(commit_data_end(c, &fx_m, &fx_plan), 0);
	fx_m.v = NULL;
	rc = commit_run(c, &fx_plan, &fx_m.top);
	fx_m.v = v;
	commit_free(c);
	return rc;
}

/* A source and store where every kind of change happens. */
static void
scenario(uint32_t flags)
{
	fx_same_file("same", "same");
	fx_write("src/replaced", "version 2");
	fx_write("store/replaced", "version 1");
	fx_write("src/mode", "m");
	fx_write("store/mode", "m");
	fx_mtime("src/mode", 1600000000);
	fx_mtime("store/mode", 1600000000);
	ck_assert_int_eq(chmod(fx_path("src/mode"), 0600), 0);
	ck_assert_int_eq(chmod(fx_path("store/mode"), 0644), 0);
	fx_mkdir("src/dir");
	fx_write("src/dir/new", "new file");
	ck_assert_int_eq(link(fx_path("src/dir/new"), fx_path("src/hard")), 0);
	ck_assert_int_eq(symlink("dir/new", fx_path("src/link")), 0);
	fx_mtime("src/dir", 1500000000);
	fx_write("store/extra", "purged");
	fx_plan_tree(flags);
	fx_stage_all();
}

START_TEST(test_commit_without_observer)
{
	struct stat st;

	scenario(SESSION_PURGE);
	ck_assert_int_eq(commit(NULL), 0);
	ck_assert_str_eq(fx_read("store/replaced"), "version 2");
	ck_assert_str_eq(fx_read("store/dir/new"), "new file");
	ck_assert_int_eq(lstat(fx_path("store/mode"), &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert(!fx_exists("store/extra"));
	/* Links arrive as links. */
	{
		char t[64];
		ssize_t n = readlink(fx_path("store/link"), t, sizeof(t) - 1);

		ck_assert_int_gt(n, 0);
		t[n] = '\0';
		ck_assert_str_eq(t, "dir/new");
	}
	{
		struct stat a, b;

		ck_assert_int_eq(lstat(fx_path("store/hard"), &a), 0);
		ck_assert_int_eq(lstat(fx_path("store/dir/new"), &b), 0);
		ck_assert_uint_eq(a.st_ino, b.st_ino);
	}
	/* A directory's time is set after what it holds changed. */
	ck_assert_int_eq(lstat(fx_path("store/dir"), &st), 0);
	ck_assert_int_eq(st.st_mtim.tv_sec, 1500000000);
	ck_assert(!fx_exists("store/.mirrorfs/journal"));
	ck_assert_int_eq(staged_count(), 0);
	ck_assert_int_eq(fx_entry("replaced")->state, PLAN_REPLACE);
	ck_assert_int_eq(fx_plan.purges[0].state, PLAN_PURGE);
}
END_TEST

/* What the observer saw. */
static struct {
	int begun, checked, changed, ended;
	size_t nchecked, nchanged, nended;	/* nchecked, nchanged: in all */
	size_t most;		/* the largest batch */
	int whole;		/* end()'s */
	int replacing;		/* calls of replacing() */
	int replacing_before;	/* ... made while the old version was still there */
	int journal_at_check;	/* the journal existed when check() ran */
	int journal_at_end;
	char veto_path[64];	/* check() vetoes this path */
	int veto_seen;		/* ... and changed() told it: must not */
	int order_ok;
} seen;

static void
ob_begin(void *arg)
{
	ck_assert_ptr_eq(arg, &seen);
	seen.order_ok = seen.begun == 0 && seen.checked == 0;
	seen.begun++;
}

static void
ob_check(void *arg, struct commit_change *v, size_t n)
{
	seen.order_ok &= seen.begun == 1 && seen.replacing == 0 &&
	    seen.changed == 0 && n > 0;
	seen.checked++;
	seen.nchecked += n;
	if (n > seen.most)
		seen.most = n;
	seen.journal_at_check |= fx_exists("store/.mirrorfs/journal");
	for (size_t i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(v[i].path);
		if (strcmp(v[i].path, seen.veto_path) == 0) {
			ck_assert(v[i].has_old);
			v[i].veto = "open for write through the mount";
		}
		/* An old version is named by what lstat says of it now. */
		if (strcmp(v[i].path, "replaced") == 0) {
			struct stat st;

			ck_assert_int_eq(v[i].op, JOP_PUT);
			ck_assert(v[i].has_old);
			ck_assert_int_eq(lstat(fx_path("store/replaced"), &st), 0);
			ck_assert_uint_eq(v[i].ino, st.st_ino);
			ck_assert(S_ISREG(v[i].mode));
		}
		if (strcmp(v[i].path, "dir/new") == 0)
			ck_assert(!v[i].has_old);
	}
}

static void
ob_replacing(void *arg, const struct commit_change *c, int dirfd,
    const char *name)
{
	struct stat st;

	seen.order_ok &= seen.checked >= 1 && seen.changed == 0 &&
	    seen.ended == 0;
	seen.replacing++;
	ck_assert(c->has_old);
	ck_assert(c->op == JOP_PUT || c->op == JOP_REMOVE);
	/* dirfd/name reach the old version, which is still in place. */
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_ino == c->ino)
		seen.replacing_before++;
	ck_assert(fx_exists("store/.mirrorfs/journal"));
}

static void
ob_changed(void *arg, const struct commit_change *v, size_t n)
{
	seen.order_ok &= seen.checked >= 1 && seen.ended == 0 && n > 0;
	seen.changed++;
	seen.nchanged += n;
	if (n > seen.most)
		seen.most = n;
	seen.journal_at_end |= fx_exists("store/.mirrorfs/journal");
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].path, seen.veto_path) == 0)
			seen.veto_seen = 1;
}

static void
ob_end(void *arg, size_t n, int whole)
{
	seen.order_ok &= seen.begun == 1 && seen.ended == 0;
	seen.ended++;
	seen.nended = n;
	seen.whole = whole;
}

static const struct commit_observer observer = {
	.arg = &seen, .begin = ob_begin, .check = ob_check,
	.replacing = ob_replacing, .changed = ob_changed, .end = ob_end,
};

START_TEST(test_observer_sees_every_step)
{
	memset(&seen, 0, sizeof(seen));
	scenario(SESSION_PURGE);
	ck_assert_int_eq(commit(&observer), 0);
	ck_assert(seen.order_ok);
	ck_assert_int_eq(seen.begun, 1);
	ck_assert_int_eq(seen.checked, 1);
	ck_assert_int_eq(seen.changed, 1);
	ck_assert_int_eq(seen.ended, 1);
	ck_assert(seen.whole);
	/* The check comes before the commit point; changed after every change. */
	ck_assert(!seen.journal_at_check);
	ck_assert(seen.journal_at_end);
	ck_assert_uint_eq(seen.nended, seen.nchecked);
	ck_assert_uint_eq(seen.nchanged, seen.nchecked);
	ck_assert_uint_gt(seen.nchecked, 5);
	/* Something was there for "replaced" and "extra" only. */
	ck_assert_int_eq(seen.replacing, 2);
	ck_assert_int_eq(seen.replacing_before, 2);
	ck_assert_str_eq(fx_read("store/replaced"), "version 2");
	ck_assert(!fx_exists("store/extra"));
}
END_TEST

/*
 * In batches of 2 (MIRRORFS_COMMIT_BATCH): every change is checked
 * before the commit point and told as changed, none in a larger batch,
 * and a veto in any batch still leaves its change out.
 */
START_TEST(test_observer_in_batches)
{
	static const char *const vetoes[] = { "replaced", "extra" };

	for (size_t k = 0; k < sizeof(vetoes) / sizeof(vetoes[0]); k++) {
		if (k > 0) {
			teardown();
			setup();
		}
		memset(&seen, 0, sizeof(seen));
		snprintf(seen.veto_path, sizeof(seen.veto_path), "%s",
		    vetoes[k]);
		ck_assert_int_eq(setenv("MIRRORFS_COMMIT_BATCH", "2", 1), 0);
		scenario(SESSION_PURGE);
		ck_assert_int_eq(commit(&observer), 0);
		ck_assert_int_eq(unsetenv("MIRRORFS_COMMIT_BATCH"), 0);
		ck_assert(seen.order_ok);
		ck_assert_uint_le(seen.most, 2);
		ck_assert_int_eq(seen.checked, (int)(seen.nchecked + 1) / 2);
		ck_assert_uint_gt(seen.nchecked, 5);
		ck_assert(!seen.journal_at_check);
		/* The vetoed change alone is left out: nothing goes with it. */
		ck_assert_uint_eq(seen.nended, seen.nchecked - 1);
		ck_assert_uint_eq(seen.nchanged, seen.nended);
		ck_assert_int_eq(seen.changed, (int)(seen.nchanged + 1) / 2);
		ck_assert(seen.whole);
		ck_assert(!seen.veto_seen);
		ck_assert_int_eq(seen.replacing, 1);
		ck_assert_str_eq(fx_read("store/dir/new"), "new file");
	}
	ck_assert_str_eq(fx_read("store/replaced"), "version 2");
	ck_assert_str_eq(fx_read("store/extra"), "purged");
	ck_assert_int_eq(fx_plan.purges[0].state, PLAN_SKIP);
}
END_TEST

START_TEST(test_veto_keeps_the_old_version)
{
	memset(&seen, 0, sizeof(seen));
	snprintf(seen.veto_path, sizeof(seen.veto_path), "replaced");
	scenario(SESSION_PURGE);
	ck_assert_int_eq(commit(&observer), 0);
	ck_assert_str_eq(fx_read("store/replaced"), "version 1");
	ck_assert_int_eq(fx_entry("replaced")->state, PLAN_SKIP);
	ck_assert_str_eq(fx_reason("replaced"),
	    "open for write through the mount");
	/* The rest of the session still lands. */
	ck_assert_str_eq(fx_read("store/dir/new"), "new file");
	ck_assert(!fx_exists("store/extra"));
	ck_assert_int_eq(staged_count(), 0);
	ck_assert_int_eq(seen.replacing, 1);

	/* A vetoed purge stays, skipped. */
	teardown();
	setup();
	memset(&seen, 0, sizeof(seen));
	snprintf(seen.veto_path, sizeof(seen.veto_path), "extra");
	scenario(SESSION_PURGE);
	ck_assert_int_eq(commit(&observer), 0);
	ck_assert_str_eq(fx_read("store/extra"), "purged");
	ck_assert_int_eq(fx_plan.purges[0].state, PLAN_SKIP);
}
END_TEST

START_TEST(test_nothing_to_do_still_ends)
{
	memset(&seen, 0, sizeof(seen));
	fx_same_file("same", "same");
	fx_plan_tree(0);
	/* The top's attributes may differ; make them equal so nothing is left. */
	fx_plan.top_attr = 0;
	ck_assert_int_eq(commit(&observer), 0);
	ck_assert_int_eq(seen.begun, 1);
	ck_assert_int_eq(seen.ended, 1);
	ck_assert_uint_eq(seen.nended, 0);
	ck_assert(!fx_exists("store/.mirrorfs/journal"));
}
END_TEST

START_TEST(test_failed_record_fails_its_entry)
{
	scenario(0);
	/* A directory where the new file must go: its rename fails. */
	ck_assert_int_eq(unlink(fx_path("store/replaced")), 0);
	fx_mkdir("store/replaced");
	fx_write("store/replaced/inside", "x");
	ck_assert_int_eq(commit(NULL), 0);
	ck_assert_int_eq(fx_entry("replaced")->state, PLAN_FAIL);
	ck_assert_ptr_nonnull(strstr(fx_reason("replaced"), "commit: "));
	ck_assert_str_eq(fx_read("store/replaced/inside"), "x");
	ck_assert_str_eq(fx_read("store/dir/new"), "new file");
	ck_assert_int_eq(staged_count(), 0);
}
END_TEST

START_TEST(test_link_to_unsynced_file_fails)
{
	fx_write("src/a", "a");
	ck_assert_int_eq(link(fx_path("src/a"), fx_path("src/b")), 0);
	fx_plan_tree(0);
	/* "a" never arrived (not staged): its second name cannot be made. */
	plan_set(&fx_plan, (size_t)manifest_find(&fx_m, "a"), PLAN_FAIL,
	    "write: No space left on device");
	fx_entry("a")->flags &= ~PF_DATA;
	ck_assert_int_eq(commit(NULL), 0);
	ck_assert_int_eq(fx_entry("b")->state, PLAN_FAIL);
	ck_assert(!fx_exists("store/b"));
	ck_assert(!fx_exists("store/a"));
}
END_TEST

static Suite *
commit_suite(void)
{
	Suite *s = suite_create("commit");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_commit_without_observer);
	tcase_add_test(tc, test_observer_sees_every_step);
	tcase_add_test(tc, test_observer_in_batches);
	tcase_add_test(tc, test_veto_keeps_the_old_version);
	tcase_add_test(tc, test_nothing_to_do_still_ends);
	tcase_add_test(tc, test_failed_record_fails_its_entry);
	tcase_add_test(tc, test_link_to_unsynced_file_fails);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_main(commit_suite(), base);
}
