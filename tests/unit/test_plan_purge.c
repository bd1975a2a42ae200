/*
 * Unit tests for plan.h's purges with the manifest released as the
 * receiver releases it (manifest_release_below behind each entry): each
 * directory's purges are decided from the names the plan keeps of its
 * open directories, and come out as with the whole manifest, in a deep
 * tree, a wide directory, names of unusual byte order, around type
 * changes, with filters, with and without PURGE_DIRS, and not at all
 * when the walk proves incomplete.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"
#include "unit.h"
#include "session_fixture.h"

static char base[] = "/tmp/test_plan_purge.XXXXXX";

#define DEPTH 12	/* deep/l01/.../l12 */
#define PER_LEVEL 30	/* files in each level of deep/ */
#define WIDE 2000	/* files in wide/ (a page of entries holds 42) */

static void
setup(void)
{
	log_init("test_plan_purge", LOG_ERROR);
	fx_setup(base);
}

static void
teardown(void)
{
	fx_teardown();
}

/* A copy of e whose strings are its own (for manifest_push). */
static struct entry
entry_copy(const struct entry *e)
{
	struct entry c = *e;

	c.path = e->path ? strdup(e->path) : NULL;
	c.target = e->target ? strdup(e->target) : NULL;
	c.xattrs = NULL;
	if (e->xattrs_len > 0) {
		c.xattrs = malloc(e->xattrs_len);
		ck_assert_ptr_nonnull(c.xattrs);
		memcpy(c.xattrs, e->xattrs, e->xattrs_len);
	}
	ck_assert(e->path == NULL || c.path != NULL);
	ck_assert(e->target == NULL || c.target != NULL);
	return c;
}

/* The names the plan keeps now, in all its open directories and the top's. */
static size_t
names_kept(const struct plan *p)
{
	size_t n = p->top_names.n;

	for (size_t k = 0; k < p->nopen; k++)
		n += p->open_names[k].n;
	return n;
}

/*
 * Plans fx_m (scanned) into p from a reserved copy of it that loses
 * every entry below the newest as the next one comes, as a receiver's
 * window does (a read of a released page crashes), and each entry's
 * plan_add reads it alone; then plan_finish with finish_flags (the
 * flags END_MANIFEST leaves). Returns the most names kept at once.
 */
static size_t
plan_released(struct plan *p, uint32_t flags, uint32_t finish_flags)
{
	struct plan_opts o = { .flags = flags, .filter = &fx_filter,
	    .owner = geteuid() == 0 };
	struct manifest rm;
	size_t most = 0;

	manifest_init(&rm);
	ck_assert_int_eq(manifest_reserve(&rm, fx_m.n + 1), 0);
	rm.top = entry_copy(&fx_m.top);
	plan_init(p);
	for (size_t i = 0; i < fx_m.n; i++) {
		struct entry e = entry_copy(&fx_m.v[i]);

		ck_assert_int_eq(manifest_push(&rm, &e), 0);
		ck_assert_int_eq(plan_add(p, &fx_store, &rm, i, &o), 0);
		manifest_release_below(&rm, i);
		if (names_kept(p) > most)
			most = names_kept(p);
	}
	/* Whole pages below the newest are gone (PROT_NONE). */
	ck_assert_uint_gt(rm.released, 0);
	o.flags = finish_flags;
	ck_assert_int_eq(plan_finish(p, &fx_store, &rm, &o), 0);
	/* Every directory closed: no name is left. */
	ck_assert_uint_eq(names_kept(p), 0);
	manifest_release(&rm);
	return most;
}

/*
 * Scans the source into fx_m and plans it whole into fx_plan with
 * flags, then plan_finish with finish_flags: what plan_released must
 * match.
 */
static void
plan_whole(uint32_t flags, uint32_t finish_flags)
{
	struct plan_opts o = { .flags = flags, .filter = &fx_filter,
	    .owner = geteuid() == 0 };
	int fd = open(fx_path("src"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(manifest_scan(&fx_m, fd, fx_path("src"), &fx_filter,
	    0, &fx_scan), 0);
	close(fd);
	for (size_t i = 0; i < fx_m.n; i++)
		ck_assert_int_eq(plan_add(&fx_plan, &fx_store, &fx_m, i, &o), 0);
	o.flags = finish_flags;
	ck_assert_int_eq(plan_finish(&fx_plan, &fx_store, &fx_m, &o), 0);
}

/* p's purges and entries are fx_plan's (planned with the whole manifest). */
static void
assert_same_plan(const struct plan *p)
{
	ck_assert_uint_eq(p->npurges, fx_plan.npurges);
	for (size_t k = 0; k < p->npurges; k++) {
		ck_assert_str_eq(p->purges[k].path, fx_plan.purges[k].path);
		ck_assert_uint_eq(p->purges[k].dir, fx_plan.purges[k].dir);
		ck_assert_int_eq(p->purges[k].is_dir, fx_plan.purges[k].is_dir);
		ck_assert_int_eq(p->purges[k].state, fx_plan.purges[k].state);
	}
	ck_assert_uint_eq(p->n, fx_plan.n);
	for (size_t i = 0; i < p->n; i++) {
		ck_assert_int_eq(p->v[i].state, fx_plan.v[i].state);
		ck_assert_uint_eq(p->v[i].flags, fx_plan.v[i].flags);
		ck_assert_uint_eq(p->v[i].changes, fx_plan.v[i].changes);
	}
	ck_assert_int_eq(p->top_attr, fx_plan.top_attr);
}

/* The purge of path in p, or NULL. */
static const struct plan_purge *
purge_in(const struct plan *p, const char *path)
{
	for (size_t k = 0; k < p->npurges; k++)
		if (strcmp(p->purges[k].path, path) == 0)
			return &p->purges[k];
	return NULL;
}

/* The path of deep/'s level k (1..DEPTH) in buf. */
static const char *
level(char *buf, size_t len, int k)
{
	int n = snprintf(buf, len, "deep");

	for (int j = 1; j <= k; j++)
		n += snprintf(buf + n, len - (size_t)n, "/l%02d", j);
	return buf;
}

/*
 * The same tree at the source and in the store, where the store also
 * has extra files at levels 3, 7 and 12 of a deep tree, early, in the
 * middle and last in a wide directory and at the top; an extra
 * directory with a file in it; excluded extras (*.tmp); and type
 * changes with an extra beside them.
 */
static void
make_tree(void)
{
	char dir[256], rel[512];

	fx_mkdir("src/deep");
	fx_mkdir("store/deep");
	for (int k = 1; k <= DEPTH; k++) {
		level(dir, sizeof(dir), k);
		snprintf(rel, sizeof(rel), "src/%s", dir);
		fx_mkdir(rel);
		snprintf(rel, sizeof(rel), "store/%s", dir);
		fx_mkdir(rel);
		for (int i = 0; i < PER_LEVEL; i++) {
			snprintf(rel, sizeof(rel), "%s/f%03d", dir, i * 4);
			fx_same_file(rel, "deep");
		}
		if (k == 3 || k == 7 || k == DEPTH) {
			snprintf(rel, sizeof(rel), "store/%s/f050-extra", dir);
			fx_write(rel, "extra");
		}
	}
	level(dir, sizeof(dir), 2);
	snprintf(rel, sizeof(rel), "store/%s/xdir", dir);
	fx_mkdir(rel);
	snprintf(rel, sizeof(rel), "store/%s/xdir/inside", dir);
	fx_write(rel, "goes with its directory");
	snprintf(rel, sizeof(rel), "store/%s/skip.tmp", dir);
	fx_write(rel, "excluded: never purged");

	fx_mkdir("src/wide");
	fx_mkdir("store/wide");
	for (int i = 0; i < WIDE; i++) {
		snprintf(rel, sizeof(rel), "wide/f%04d", i);
		fx_same_file(rel, "wide");
	}
	fx_write("store/wide/a-first", "extra");
	fx_write("store/wide/f1500x", "extra");
	fx_write("store/wide/zz-last", "extra");
	fx_write("store/wide/f2000.tmp", "excluded");

	/* Type changes: what they replace goes with them, not as a purge. */
	fx_mkdir("src/r");
	fx_mkdir("store/r");
	fx_write("src/r/was_dir", "a file where a directory was");
	fx_mkdir("store/r/was_dir");
	fx_write("store/r/was_dir/old", "old");
	fx_mkdir("src/r/was_file");
	fx_write("src/r/was_file/new", "new");
	fx_write("store/r/was_file", "a file where a directory comes");
	fx_write("store/r/extra", "extra");

	fx_write("store/a-top-extra", "extra");
	fx_write("store/zz-top-extra", "extra");
	ck_assert_int_eq(filter_add(&fx_filter, FILTER_EXCLUDE, "*.tmp"), 0);
}

/* The extra files make_tree puts in the store (not the directory, not the excluded). */
static const char *const extras[] = {
	"a-top-extra", "zz-top-extra", "wide/a-first", "wide/f1500x",
	"wide/zz-last", "r/extra",
	"deep/l01/l02/l03/f050-extra",
	"deep/l01/l02/l03/l04/l05/l06/l07/f050-extra",
	"deep/l01/l02/l03/l04/l05/l06/l07/l08/l09/l10/l11/l12/f050-extra",
};
#define NEXTRAS (sizeof(extras) / sizeof(extras[0]))

/* Plans make_tree both ways with flags: the same plan, the extras purged. */
static void
check_tree(uint32_t flags)
{
	struct plan p;
	size_t most;

	plan_whole(flags, flags);
	most = plan_released(&p, flags, flags);
	assert_same_plan(&p);
	for (size_t k = 0; k < NEXTRAS; k++)
		ck_assert_msg(purge_in(&p, extras[k]) != NULL, "%s not purged",
		    extras[k]);
	ck_assert_ptr_null(purge_in(&p, "deep/l01/l02/skip.tmp"));
	ck_assert_ptr_null(purge_in(&p, "wide/f2000.tmp"));
	ck_assert_ptr_null(purge_in(&p, ".mirrorfs"));
	ck_assert_ptr_null(purge_in(&p, "r/was_dir/old"));
	ck_assert_ptr_null(purge_in(&p, "deep/l01/l02/xdir/inside"));
	if (flags & SESSION_PURGE_DIRS) {
		ck_assert_ptr_nonnull(purge_in(&p, "deep/l01/l02/xdir"));
		ck_assert(purge_in(&p, "deep/l01/l02/xdir")->is_dir);
		ck_assert_uint_eq(p.npurges, NEXTRAS + 1);
	} else {
		ck_assert_ptr_null(purge_in(&p, "deep/l01/l02/xdir"));
		ck_assert_uint_eq(p.npurges, NEXTRAS);
	}
	/* The top's come first, then each directory's in manifest order. */
	ck_assert_uint_eq(p.purges[0].dir, 0);
	ck_assert_uint_eq(p.purges[1].dir, 0);
	for (size_t k = 1; k < p.npurges; k++)
		ck_assert_uint_le(p.purges[k - 1].dir, p.purges[k].dir);
	/*
	 * What the open directories hold, at most: wide/'s names and the
	 * top's (deep, r, wide), never the tree's.
	 */
	ck_assert_uint_gt(fx_m.n, WIDE + DEPTH * PER_LEVEL);
	ck_assert_uint_le(most, WIDE + 3);
	plan_release(&p);
}

/* Each set of purge flags: the plan of the whole manifest. */
START_TEST(test_released_purges)
{
	static const uint32_t flags[] = { SESSION_PURGE,
	    SESSION_PURGE | SESSION_PURGE_DIRS, SESSION_PURGE_DIRS };

	make_tree();
	for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++) {
		check_tree(flags[k]);
		fx_forget_plan();
	}
}
END_TEST

/*
 * A type change's tree is not listed (nothing under it is purged); a
 * walk proved incomplete (END_MANIFEST drops the flags) purges nothing;
 * without purge flags no name is kept.
 */
START_TEST(test_released_retypes_incomplete)
{
	const uint32_t all = SESSION_PURGE | SESSION_PURGE_DIRS;
	struct plan p;

	make_tree();
	plan_whole(all, all);
	plan_released(&p, all, all);
	assert_same_plan(&p);
	ck_assert(fx_entry("r/was_dir")->flags & PF_RETYPE);
	ck_assert(fx_entry("r/was_dir")->flags & PF_OLDDIR);
	ck_assert(fx_entry("r/was_file")->flags & PF_RETYPE);
	ck_assert_int_eq(fx_entry("r/was_file/new")->state, PLAN_CREATE);
	for (size_t k = 0; k < p.npurges; k++)
		ck_assert_msg(strncmp(p.purges[k].path, "r/was_", 6) != 0,
		    "%s purged", p.purges[k].path);
	plan_release(&p);
	fx_forget_plan();

	plan_whole(all, 0);
	plan_released(&p, all, 0);
	ck_assert_uint_eq(p.npurges, 0);
	assert_same_plan(&p);
	plan_release(&p);
	fx_forget_plan();

	plan_whole(0, 0);
	ck_assert_uint_eq(plan_released(&p, 0, 0), 0);
	assert_same_plan(&p);
	plan_release(&p);
}
END_TEST

/* The source is empty: every entry of the store's top goes. */
START_TEST(test_released_empty_source)
{
	fx_write("store/a", "a");
	fx_mkdir("store/d");
	plan_whole(SESSION_PURGE | SESSION_PURGE_DIRS,
	    SESSION_PURGE | SESSION_PURGE_DIRS);
	ck_assert_uint_eq(fx_plan.npurges, 2);
	ck_assert_ptr_nonnull(purge_in(&fx_plan, "a"));
	ck_assert_ptr_nonnull(purge_in(&fx_plan, "d"));
}
END_TEST

/*
 * Names whose byte order is not the eye's: bytes >= 0x80 (unsigned, as
 * path_order and strcmp compare them), '-', '.' and '0' beside a
 * directory's '/', prefixes of each other; a subdirectory first, so the
 * names after it come once its entries are released.
 */
static const char *const odd_names[] = {
	"a-b", "a.b", "a0", "ab", "abc", "\x7f", "\x80", "\xc3\xa9", "\xff",
	"\xff\xff",
};
static const char *const odd_extras[] = {
	"odd/a.c", "odd/abd", "odd/\x81", "odd/\xfe", "odd/\xff\x01",
	"odd/a/x-extra",
};

START_TEST(test_released_odd_names)
{
	const uint32_t all = SESSION_PURGE | SESSION_PURGE_DIRS;
	char rel[64];
	struct plan p;

	fx_mkdir("src/odd");
	fx_mkdir("store/odd");
	fx_mkdir("src/odd/a");
	fx_mkdir("store/odd/a");
	/* More than a page of entries (42) inside odd/a. */
	for (int i = 0; i < 100; i++) {
		snprintf(rel, sizeof(rel), "odd/a/f%03d", i);
		fx_same_file(rel, "a");
	}
	for (size_t k = 0; k < sizeof(odd_names) / sizeof(odd_names[0]); k++) {
		snprintf(rel, sizeof(rel), "odd/%s", odd_names[k]);
		fx_same_file(rel, "odd");
	}
	for (size_t k = 0; k < sizeof(odd_extras) / sizeof(odd_extras[0]);
	    k++) {
		snprintf(rel, sizeof(rel), "store/%s", odd_extras[k]);
		fx_write(rel, "extra");
	}
	plan_whole(all, all);
	plan_released(&p, all, all);
	assert_same_plan(&p);
	for (size_t k = 0; k < sizeof(odd_extras) / sizeof(odd_extras[0]);
	    k++)
		ck_assert_msg(purge_in(&p, odd_extras[k]) != NULL,
		    "%s not purged", odd_extras[k]);
	/* Nothing the source has. */
	ck_assert_uint_eq(p.npurges, sizeof(odd_extras) / sizeof(odd_extras[0]));
	plan_release(&p);
}
END_TEST

static Suite *
plan_purge_suite(void)
{
	Suite *s = suite_create("plan_purge");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_released_purges);
	tcase_add_test(tc, test_released_retypes_incomplete);
	tcase_add_test(tc, test_released_empty_source);
	tcase_add_test(tc, test_released_odd_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_main(plan_purge_suite(), base);
}
