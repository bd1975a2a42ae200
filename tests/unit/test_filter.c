/* Unit tests for filter.h: ordered include/exclude glob rules. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filter.h"
#include "log.h"

static struct filter f;

static void
setup(void)
{
	log_init("test_filter", LOG_ERROR);
	filter_init(&f);
}

static void
teardown(void)
{
	filter_release(&f);
}

#define EXCL(path, dir) ck_assert_msg(filter_excluded(&f, path, dir) == 1, \
	"'%s'%s should be excluded", path, (dir) ? " (dir)" : "")
#define KEEP(path, dir) ck_assert_msg(filter_excluded(&f, path, dir) == 0, \
	"'%s'%s should be kept", path, (dir) ? " (dir)" : "")

START_TEST(test_empty_filter_keeps_all)
{
	KEEP("a", 0);
	KEEP("a/b/c", 1);
}
END_TEST

START_TEST(test_basename_any_depth)
{
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "*.o"), 0);
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "core"), 0);
	EXCL("x.o", 0);
	EXCL("a/x.o", 0);
	EXCL("a/b/c/x.o", 0);
	EXCL("a/b/x.o", 1);
	EXCL("core", 0);
	EXCL("a/b/core", 0);
	KEEP("x.c", 0);
	KEEP("a/x.oo", 0);
	KEEP("x.o/y", 0);	/* only the last component is matched */
	KEEP("core2", 0);
	KEEP("a/core/b", 0);
}
END_TEST

START_TEST(test_slash_pattern_whole_path)
{
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "sub/*.tmp"), 0);
	EXCL("sub/a.tmp", 0);
	KEEP("a.tmp", 0);
	KEEP("x/sub/a.tmp", 0);
	KEEP("sub/deeper/a.tmp", 0);	/* '*' does not cross '/' */
	KEEP("sub/a.tmpx", 0);
}
END_TEST

START_TEST(test_anchored)
{
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "/x"), 0);
	EXCL("x", 0);
	EXCL("x", 1);
	KEEP("a/x", 0);
	KEEP("a/b/x", 1);
	KEEP("xy", 0);
}
END_TEST

START_TEST(test_anchored_with_slash)
{
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "/a/b"), 0);
	EXCL("a/b", 0);
	KEEP("c/a/b", 0);
	KEEP("a", 1);
}
END_TEST

START_TEST(test_dir_only)
{
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "d/"), 0);
	EXCL("d", 1);
	EXCL("a/d", 1);
	EXCL("a/b/d", 1);
	KEEP("d", 0);
	KEEP("a/d", 0);
	KEEP("dd", 1);
}
END_TEST

START_TEST(test_anchored_dir_only)
{
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "/build/"), 0);
	EXCL("build", 1);
	KEEP("build", 0);
	KEEP("a/build", 1);
}
END_TEST

START_TEST(test_include_first_match_wins)
{
	ck_assert_int_eq(filter_add(&f, FILTER_INCLUDE, "keep.log"), 0);
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "*.log"), 0);
	KEEP("keep.log", 0);
	KEEP("a/keep.log", 0);
	EXCL("other.log", 0);
	EXCL("a/other.log", 0);
	KEEP("a.txt", 0);
}
END_TEST

START_TEST(test_exclude_before_include)
{
	/* The earlier exclude wins over the later include. */
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "*.log"), 0);
	ck_assert_int_eq(filter_add(&f, FILTER_INCLUDE, "keep.log"), 0);
	EXCL("keep.log", 0);
	EXCL("x.log", 0);
}
END_TEST

START_TEST(test_glob_classes)
{
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "file[0-9]"), 0);
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "?.bak"), 0);
	EXCL("file1", 0);
	EXCL("a/file9", 0);
	KEEP("filex", 0);
	KEEP("file10", 0);
	EXCL("z.bak", 0);
	KEEP("zz.bak", 0);
}
END_TEST

START_TEST(test_add_refuses_empty)
{
	errno = 0;
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, ""), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_uint_eq(f.n, 0);
}
END_TEST

START_TEST(test_add_copies_pattern)
{
	char pat[] = "*.tmp";

	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, pat), 0);
	strcpy(pat, "zzzzz");
	ck_assert_uint_eq(f.n, 1);
	ck_assert_int_eq(f.rules[0].kind, FILTER_EXCLUDE);
	ck_assert_str_eq(f.rules[0].pattern, "*.tmp");
	EXCL("a.tmp", 0);
}
END_TEST

/* Writes text to a new file in a new temp dir; returns the file's path. */
static char *
write_temp(const char *text, char *dir)
{
	char *path;
	FILE *fp;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_gt(asprintf(&path, "%s/rules", dir), 0);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	ck_assert_int_eq(fclose(fp), 0);
	return path;
}

START_TEST(test_add_file)
{
	char dir[] = "/tmp/test_filter.XXXXXX";
	char *path = write_temp("# a comment\n"
	    "\n"
	    "*.o\n"
	    "/top\n"
	    "#*.c\n"
	    "cache/\r\n"
	    "last", dir);

	ck_assert_int_eq(filter_add_file(&f, path), 0);
	EXCL("a/b.o", 0);
	EXCL("top", 0);
	KEEP("a/top", 0);
	EXCL("x/cache", 1);
	KEEP("x/cache", 0);
	EXCL("last", 0);
	KEEP("a.c", 0);		/* a commented-out rule */
	KEEP("#*.c", 0);
	/* Every rule is an exclude; no rule for comments or blank lines. */
	for (size_t i = 0; i < f.n; i++) {
		ck_assert_int_eq(f.rules[i].kind, FILTER_EXCLUDE);
		ck_assert_int_ne(f.rules[i].pattern[0], '#');
		ck_assert_int_ne(f.rules[i].pattern[0], '\0');
	}
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	free(path);
}
END_TEST

START_TEST(test_add_file_missing)
{
	char dir[] = "/tmp/test_filter.XXXXXX";
	char *path;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_gt(asprintf(&path, "%s/no-such-file", dir), 0);
	ck_assert_int_eq(filter_add_file(&f, path), -1);
	ck_assert_uint_eq(f.n, 0);
	ck_assert_int_eq(rmdir(dir), 0);
	free(path);
}
END_TEST

START_TEST(test_add_file_empty)
{
	char dir[] = "/tmp/test_filter.XXXXXX";
	char *path = write_temp("", dir);

	ck_assert_int_eq(filter_add_file(&f, path), 0);
	ck_assert_uint_eq(f.n, 0);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	free(path);
}
END_TEST

START_TEST(test_release_reusable)
{
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "a"), 0);
	filter_release(&f);
	ck_assert_uint_eq(f.n, 0);
	KEEP("a", 0);
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "b"), 0);
	EXCL("b", 0);
}
END_TEST

static Suite *
filter_suite(void)
{
	Suite *s = suite_create("filter");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_empty_filter_keeps_all);
	tcase_add_test(tc, test_basename_any_depth);
	tcase_add_test(tc, test_slash_pattern_whole_path);
	tcase_add_test(tc, test_anchored);
	tcase_add_test(tc, test_anchored_with_slash);
	tcase_add_test(tc, test_dir_only);
	tcase_add_test(tc, test_anchored_dir_only);
	tcase_add_test(tc, test_include_first_match_wins);
	tcase_add_test(tc, test_exclude_before_include);
	tcase_add_test(tc, test_glob_classes);
	tcase_add_test(tc, test_add_refuses_empty);
	tcase_add_test(tc, test_add_copies_pattern);
	tcase_add_test(tc, test_add_file);
	tcase_add_test(tc, test_add_file_missing);
	tcase_add_test(tc, test_add_file_empty);
	tcase_add_test(tc, test_release_reusable);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(filter_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
