/*
 * Unit tests for plan.h: each entry of a real source tree against a real
 * store: unchanged, created, replaced (with data, or attributes only),
 * skipped for a type conflict or a symlink in the way (and what lies
 * below), and, with purge, the store's extra entries (never the excluded
 * ones); the report's counts follow the plan.
 */
#include <check.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"
#include "unit.h"
#include "session_fixture.h"

static char base[] = "/tmp/test_plan.XXXXXX";

static void
setup(void)
{
	log_init("test_plan", LOG_ERROR);
	fx_setup(base);
}

static void
teardown(void)
{
	fx_teardown();
}

/* The purge planned for path, or NULL. */
static const struct plan_purge *
purge_of(const char *path)
{
	for (size_t k = 0; k < fx_plan.npurges; k++)
		if (strcmp(fx_plan.purges[k].path, path) == 0)
			return &fx_plan.purges[k];
	return NULL;
}

START_TEST(test_states)
{
	fx_same_file("same", "same");
	fx_same_file("newer", "v1");
	fx_write("src/newer", "v2 longer");
	fx_same_file("mode", "m");
	ck_assert_int_eq(chmod(fx_path("src/mode"), 0600), 0);
	fx_write("src/new", "new");
	fx_mkdir("src/dir");
	fx_write("src/dir/f", "in a new directory");
	ck_assert_int_eq(symlink("same", fx_path("src/link")), 0);
	fx_plan_tree(0);

	ck_assert_int_eq(fx_entry("same")->state, PLAN_UNCHANGED);
	ck_assert(fx_entry("same")->flags & PF_EXISTS);
	ck_assert_int_eq(fx_entry("newer")->state, PLAN_REPLACE);
	ck_assert(fx_entry("newer")->flags & PF_DATA);
	/* Only the mode differs: attributes in place, no data. */
	ck_assert_int_eq(fx_entry("mode")->state, PLAN_REPLACE);
	ck_assert(fx_entry("mode")->flags & PF_ATTR);
	ck_assert(!(fx_entry("mode")->flags & PF_DATA));
	ck_assert_int_eq(fx_entry("new")->state, PLAN_CREATE);
	ck_assert(fx_entry("new")->flags & PF_DATA);
	ck_assert_int_eq(fx_entry("dir")->state, PLAN_CREATE);
	ck_assert_int_eq(fx_entry("dir/f")->state, PLAN_CREATE);
	ck_assert_int_eq(fx_entry("link")->state, PLAN_CREATE);
	ck_assert(!(fx_entry("link")->flags & PF_DATA));
	/* A changed directory gets its attributes set after its contents. */
	ck_assert(fx_plan.top_attr);
}
END_TEST

START_TEST(test_checksum_compares_content)
{
	fx_same_file("f", "aaaa");
	fx_write("store/f", "bbbb");
	fx_mtime("store/f", 1600000000);
	fx_plan_tree(0);
	ck_assert_int_eq(fx_entry("f")->state, PLAN_UNCHANGED);
	fx_forget_plan();
	fx_plan_tree(SESSION_CHECKSUM);
	ck_assert_int_eq(fx_entry("f")->state, PLAN_REPLACE);
	ck_assert(fx_entry("f")->flags & PF_DATA);
}
END_TEST

START_TEST(test_type_conflicts_are_skipped)
{
	fx_write("src/was_dir", "a file now");
	fx_mkdir("store/was_dir");
	fx_write("store/was_dir/kept", "x");
	fx_mkdir("src/was_file");
	fx_write("src/was_file/child", "below a skipped directory");
	fx_write("store/was_file", "a file in the store");
	/* A symlink in the store where the source has a directory. */
	fx_mkdir("src/d");
	fx_write("src/d/f", "f");
	ck_assert_int_eq(symlink("/tmp", fx_path("store/d")), 0);
	fx_plan_tree(0);

	ck_assert_int_eq(fx_entry("was_dir")->state, PLAN_SKIP);
	ck_assert_ptr_nonnull(strstr(fx_reason("was_dir"),
	    "type conflict: the source has a file, the store has a directory "
	    "(--purge replaces it)"));
	ck_assert_int_eq(fx_entry("was_file")->state, PLAN_SKIP);
	ck_assert_int_eq(fx_entry("was_file/child")->state, PLAN_SKIP);
	ck_assert_str_eq(fx_reason("was_file/child"),
	    "its directory was not synced");
	ck_assert_int_eq(fx_entry("d")->state, PLAN_SKIP);
	/* Below a symlink the plan never looks, and never lets it be followed. */
	ck_assert_int_eq(fx_entry("d/f")->state, PLAN_SKIP);
}
END_TEST

START_TEST(test_type_changes_with_purge)
{
	fx_write("src/was_dir", "a file now");
	fx_mkdir("store/was_dir");
	fx_write("store/was_dir/kept", "x");
	fx_mkdir("src/was_file");
	fx_write("src/was_file/child", "below a new directory");
	fx_write("store/was_file", "a file in the store");
	ck_assert_int_eq(symlink("target", fx_path("src/was_link")), 0);
	fx_write("store/was_link", "a file where a symlink comes");
	fx_plan_tree(SESSION_PURGE);

	/* Each replaces what the store has, as one step of the commit. */
	ck_assert_int_eq(fx_entry("was_dir")->state, PLAN_REPLACE);
	ck_assert(fx_entry("was_dir")->flags & PF_RETYPE);
	ck_assert(fx_entry("was_dir")->flags & PF_OLDDIR);
	ck_assert(fx_entry("was_dir")->flags & PF_DATA);
	ck_assert_int_eq(fx_entry("was_file")->state, PLAN_REPLACE);
	ck_assert(fx_entry("was_file")->flags & PF_RETYPE);
	ck_assert(!(fx_entry("was_file")->flags & PF_OLDDIR));
	/* Below a directory that replaces a file, everything is new. */
	ck_assert_int_eq(fx_entry("was_file/child")->state, PLAN_CREATE);
	ck_assert_int_eq(fx_entry("was_link")->state, PLAN_REPLACE);
	ck_assert(fx_entry("was_link")->flags & PF_RETYPE);
	/* The old tree goes with its replacement, not as a purge. */
	ck_assert_uint_eq(fx_plan.npurges, 0);
}
END_TEST

START_TEST(test_purges)
{
	fx_same_file("keep", "k");
	fx_write("store/extra", "x");
	fx_write("store/extra.tmp", "excluded: never purged");
	fx_mkdir("store/extradir");
	fx_write("store/extradir/f", "f");
	ck_assert_int_eq(filter_add(&fx_filter, FILTER_EXCLUDE, "*.tmp"), 0);

	/* Without purge flags nothing is purged. */
	fx_plan_tree(0);
	ck_assert_uint_eq(fx_plan.npurges, 0);
	fx_forget_plan();

	/* --purge: files only; --purge-dirs: directories too. */
	fx_plan_tree(SESSION_PURGE);
	ck_assert_ptr_nonnull(purge_of("extra"));
	ck_assert_ptr_null(purge_of("extra.tmp"));
	ck_assert_ptr_null(purge_of("extradir"));
	ck_assert_ptr_null(purge_of(".mirrorfs"));
	fx_forget_plan();
	fx_plan_tree(SESSION_PURGE | SESSION_PURGE_DIRS);
	ck_assert_ptr_nonnull(purge_of("extra"));
	ck_assert_ptr_nonnull(purge_of("extradir"));
	ck_assert(purge_of("extradir")->is_dir);
	ck_assert_ptr_null(purge_of("extradir/f"));	/* goes with its directory */
	ck_assert_ptr_null(purge_of("extra.tmp"));
	ck_assert_uint_eq(fx_plan.npurges, 2);
}
END_TEST

/*
 * A directory's purges are decided once an entry outside it comes (the
 * manifest is in path_order), reported in the order of the directories,
 * and dropped when plan_finish no longer purges (a walk found
 * incomplete at END_MANIFEST).
 */
START_TEST(test_purges_per_directory)
{
	struct plan_opts o = { .flags = SESSION_PURGE, .filter = &fx_filter,
	    .owner = geteuid() == 0 };
	size_t a, b;
	int fd;

	fx_mkdir("src/a");
	fx_same_file("b", "b");
	fx_mkdir("store/a");
	fx_write("store/a/old", "o");
	fx_write("store/top-old", "t");
	fx_same_file("a/keep", "k");
	/* a itself the same on both sides: its PF_DIRATTR is the purge's. */
	fx_mtime("src/a", 1600000000);
	fx_mtime("store/a", 1600000000);
	fd = open(fx_path("src"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(manifest_scan(&fx_m, fd, fx_path("src"), &fx_filter,
	    0, &fx_scan), 0);
	close(fd);
	a = (size_t)manifest_find(&fx_m, "a");
	b = (size_t)manifest_find(&fx_m, "b");
	ck_assert_uint_lt(a, b);
	for (size_t i = 0; i < b; i++)
		ck_assert_int_eq(plan_add(&fx_plan, &fx_store, &fx_m, i, &o), 0);
	ck_assert_uint_eq(fx_plan.npurges, 0);	/* a is still open */
	ck_assert_int_eq(plan_add(&fx_plan, &fx_store, &fx_m, b, &o), 0);
	ck_assert_uint_eq(fx_plan.npurges, 1);	/* b is outside a: a is whole */
	ck_assert_str_eq(fx_plan.purges[0].path, "a/old");
	for (size_t i = b + 1; i < fx_m.n; i++)
		ck_assert_int_eq(plan_add(&fx_plan, &fx_store, &fx_m, i, &o), 0);
	ck_assert_int_eq(plan_finish(&fx_plan, &fx_store, &fx_m, &o), 0);
	/* The top's first, as before purges were decided per directory. */
	ck_assert_uint_eq(fx_plan.npurges, 2);
	ck_assert_str_eq(fx_plan.purges[0].path, "top-old");
	ck_assert_str_eq(fx_plan.purges[1].path, "a/old");
	ck_assert(fx_plan.v[a].flags & PF_DIRATTR);
	ck_assert(fx_plan.top_attr);
	fx_forget_plan();

	/* The walk proved incomplete: what was decided is dropped. */
	fd = open(fx_path("src"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(manifest_scan(&fx_m, fd, fx_path("src"), &fx_filter,
	    0, &fx_scan), 0);
	close(fd);
	for (size_t i = 0; i < fx_m.n; i++)
		ck_assert_int_eq(plan_add(&fx_plan, &fx_store, &fx_m, i, &o), 0);
	ck_assert_uint_eq(fx_plan.npurges, 1);
	o.flags &= ~SESSION_PURGE;
	ck_assert_int_eq(plan_finish(&fx_plan, &fx_store, &fx_m, &o), 0);
	ck_assert_uint_eq(fx_plan.npurges, 0);
	ck_assert(!(fx_plan.v[a].flags & PF_DIRATTR));
}
END_TEST

START_TEST(test_result_counts)
{
	struct result res;

	fx_same_file("same", "s");
	fx_write("src/new", "n");
	fx_write("src/conflict", "file");
	fx_mkdir("store/conflict");
	fx_write("store/extra", "x");
	fx_plan_tree(SESSION_PURGE);
	plan_set(&fx_plan, (size_t)manifest_find(&fx_m, "new"), PLAN_HELD,
	    "open for update");
	result_init(&res);
	ck_assert_int_eq(plan_result(&fx_plan, &fx_m, &res), 0);
	ck_assert_uint_eq(res.unchanged, 1);
	ck_assert_uint_eq(res.created, 0);
	ck_assert_uint_eq(res.skipped, 1);	/* the held file */
	ck_assert_uint_eq(res.replaced, 1);	/* the type change (purge) */
	ck_assert_uint_eq(res.purged, 1);
	/* And the top's touch (its mtime differs), which counts nowhere. */
	ck_assert_uint_eq(res.nitems, 4);
	ck_assert_int_eq(res.items[0].action, ITEM_TOUCH);
	ck_assert_str_eq(res.items[0].path, ".");
	for (size_t i = 0; i < res.nitems; i++)
		if (strcmp(res.items[i].path, "new") == 0)
			ck_assert_int_eq(res.items[i].action, ITEM_HELD);
	result_release(&res);
}
END_TEST

/* The item of path in res, or NULL. */
static const struct item *
item_of(const struct result *res, const char *path)
{
	for (size_t i = 0; i < res->nitems; i++)
		if (strcmp(res->items[i].path, path) == 0)
			return &res->items[i];
	return NULL;
}

START_TEST(test_item_changes)
{
	struct result res;
	const struct item *it;

	fx_same_file("same", "s");
	fx_same_file("grown", "g");
	fx_write("src/grown", "grown longer");
	fx_same_file("mode", "m");
	ck_assert_int_eq(chmod(fx_path("src/mode"), 0600), 0);
	fx_write("src/new", "n");
	fx_mkdir("src/d");
	fx_mkdir("store/d");
	fx_mtime("src/d", 1000000000);
	fx_mtime("store/d", 1000000001);
	ck_assert_int_eq(symlink("same", fx_path("src/l")), 0);
	ck_assert_int_eq(symlink("other", fx_path("store/l")), 0);
	fx_plan_tree(0);
	result_init(&res);
	ck_assert_int_eq(plan_result(&fx_plan, &fx_m, &res), 0);
	ck_assert_ptr_null(item_of(&res, "same"));
	it = item_of(&res, "grown");
	ck_assert_uint_eq(it->changes & (ITEM_CH_DATA | ITEM_CH_SIZE),
	    ITEM_CH_DATA | ITEM_CH_SIZE);
	ck_assert_int_eq(it->kind, 'f');
	ck_assert_uint_eq(item_of(&res, "mode")->changes, ITEM_CH_PERMS);
	ck_assert_uint_eq(item_of(&res, "new")->changes, ITEM_CH_NEW |
	    ITEM_CH_DATA);
	/* A directory's mtime alone: a touch, counted as unchanged. */
	it = item_of(&res, "d");
	ck_assert_int_eq(it->action, ITEM_TOUCH);
	ck_assert_uint_eq(it->changes, ITEM_CH_TIME);
	ck_assert_int_eq(it->kind, 'd');
	it = item_of(&res, "l");
	ck_assert_int_eq(it->kind, 'L');
	ck_assert_str_eq(it->target, "same");
	ck_assert(it->changes & ITEM_CH_REMADE);
	ck_assert(it->changes & ITEM_CH_SUM);
	ck_assert_uint_eq(res.replaced, 3);
	ck_assert_uint_eq(res.created, 1);
	result_release(&res);
}
END_TEST

START_TEST(test_plan_of_missing_store)
{
	struct store view;
	struct plan p;
	struct plan_opts o = { .filter = &fx_filter };

	/* A dry run into a store not made yet: everything is a create. */
	fx_write("src/f", "f");
	fx_mkdir("src/d");
	ck_assert_int_eq(store_open_view(&view, fx_path("nothing-here")), 0);
	plan_init(&p);
	{
		int fd = open(fx_path("src"), O_RDONLY | O_DIRECTORY);

		ck_assert_int_eq(manifest_scan(&fx_m, fd, "src", &fx_filter, 0,
		    &fx_scan), 0);
		close(fd);
	}
	for (size_t i = 0; i < fx_m.n; i++) {
		ck_assert_int_eq(plan_add(&p, &view, &fx_m, i, &o), 0);
		ck_assert_int_eq(p.v[i].state, PLAN_CREATE);
	}
	ck_assert_int_eq(plan_finish(&p, &view, &fx_m, &o), 0);
	ck_assert(!fx_exists("nothing-here"));
	plan_release(&p);
	store_close(&view);
}
END_TEST

static Suite *
plan_suite(void)
{
	Suite *s = suite_create("plan");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_states);
	tcase_add_test(tc, test_checksum_compares_content);
	tcase_add_test(tc, test_type_conflicts_are_skipped);
	tcase_add_test(tc, test_type_changes_with_purge);
	tcase_add_test(tc, test_purges);
	tcase_add_test(tc, test_purges_per_directory);
	tcase_add_test(tc, test_result_counts);
	tcase_add_test(tc, test_item_changes);
	tcase_add_test(tc, test_plan_of_missing_store);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_main(plan_suite(), base);
}
