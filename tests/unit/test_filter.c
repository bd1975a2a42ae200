/* Unit tests for filter.h: ordered include/exclude globs and rsync's rules. */
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

/* Removes what write_temp made; frees path. */
static void
remove_temp(char *path, const char *dir)
{
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	free(path);
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
	remove_temp(path, dir);
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
	remove_temp(path, dir);
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

START_TEST(test_glob_double_star)
{
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "**/cache"), 0);
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "doc/**/*.html"), 0);
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "**.bak"), 0);
	EXCL("cache", 1);
	EXCL("a/b/cache", 0);
	KEEP("a/cachex", 0);
	EXCL("doc/x.html", 0);
	EXCL("doc/a/b/x.html", 0);
	KEEP("src/doc/x.html", 0);	/* a plain glob with '/' is from the top */
	EXCL("a/b/c.bak", 0);		/* '**' without '/': the whole path */
	KEEP("a/b.bak/c", 0);
}
END_TEST

/* Adds rule text, failing the test with its message when refused. */
static void
rule(const char *text)
{
	char err[512];

	ck_assert_msg(filter_add_rule(&f, text, err, sizeof(err)) == 0,
	    "rule '%s' refused: %s", text, err);
}

START_TEST(test_rules_first_match_wins)
{
	rule("+ keep.tmp");
	rule("- *.tmp");
	KEEP("keep.tmp", 0);
	KEEP("a/keep.tmp", 0);
	EXCL("other.tmp", 0);
	EXCL("a/other.tmp", 0);
	KEEP("a.txt", 0);
	ck_assert_int_eq(f.rules[0].kind, FILTER_INCLUDE);
	ck_assert_int_eq(f.rules[1].kind, FILTER_EXCLUDE);
	ck_assert_str_eq(f.rules[1].pattern, "*.tmp");
}
END_TEST

START_TEST(test_rules_exclude_first_wins_too)
{
	/* As in rsync: the first rule that matches decides. */
	rule("- *.tmp");
	rule("+ keep.tmp");
	EXCL("keep.tmp", 0);
}
END_TEST

START_TEST(test_rule_floating_slash_matches_at_the_end)
{
	/* rsync: a pattern with an inner '/' that is not anchored floats. */
	rule("- sub/*.tmp");
	ck_assert_str_eq(f.rules[0].pattern, "**/sub/*.tmp");
	EXCL("sub/a.tmp", 0);
	EXCL("x/sub/a.tmp", 0);
	EXCL("x/y/sub/a.tmp", 0);
	KEEP("xsub/a.tmp", 0);
	KEEP("sub/deeper/a.tmp", 0);
	KEEP("a.tmp", 0);
}
END_TEST

START_TEST(test_rule_anchored_and_dir_only)
{
	rule("- /top");
	rule("- build/");
	rule("- /out/***");
	EXCL("top", 0);
	KEEP("a/top", 0);
	EXCL("build", 1);
	EXCL("a/build", 1);
	KEEP("build", 0);
	EXCL("out", 1);
	EXCL("out/x/y", 0);
	KEEP("a/out/x", 0);
	ck_assert_str_eq(f.rules[0].pattern, "/top");
	ck_assert_str_eq(f.rules[1].pattern, "build/");
}
END_TEST

START_TEST(test_rule_only_c_files)
{
	/* rsync's idiom: every directory, the .c files, nothing else. */
	rule("+ */");
	rule("+ *.c");
	rule("- *");
	KEEP("src", 1);
	KEEP("src/deep", 1);
	KEEP("src/deep/x.c", 0);
	EXCL("src/deep/x.h", 0);
	EXCL("README", 0);
}
END_TEST

START_TEST(test_rule_long_names)
{
	rule("include keep.log");
	rule("exclude *.log");
	KEEP("keep.log", 0);
	EXCL("x.log", 0);
}
END_TEST

/* filter_add_rule refuses text; its message holds want. */
static void
refused(const char *text, const char *want)
{
	char err[512] = "";
	size_t n = f.n;

	ck_assert_msg(filter_add_rule(&f, text, err, sizeof(err)) == -1,
	    "'%s' was taken as a rule", text);
	ck_assert_msg(strstr(err, want) != NULL, "'%s': message '%s' lacks "
	    "'%s'", text, err, want);
	ck_assert_uint_eq(f.n, n);
}

START_TEST(test_rule_errors)
{
	refused("*.tmp", "write '- *.tmp' to leave it out");
	refused("-*.tmp", "takes a space");
	refused("+keep", "takes a space");
	refused("-/ foo", "takes a space");
	refused("-,s foo", "takes a space");
	refused("- ", "without a pattern");
	refused("-", "takes a space");
	refused("- [abc", "an unclosed '['");
	refused("- x\\", "a '\\' at the end");
	refused("merge rules.txt", "'merge' rule is not supported");
	refused("dir-merge .rsync-filter", "'dir-merge' rule");
	refused(": .rsync-filter", "':' rule");
	refused("P keep", "'P' rule");
	refused("protect keep", "'protect' rule");
	refused("!", "'!' rule");
	refused("exclude,s x", "modifiers are not supported");
}
END_TEST

START_TEST(test_file_rules_and_globs)
{
	char dir[] = "/tmp/test_filter.XXXXXX";
	char *path = write_temp("# an rsync filter file\n"
	    "; a comment too\n"
	    "+ keep.tmp\n"
	    "- *.tmp\n"
	    "*.o\n"
	    "   \n"
	    "- sub/x\n"
	    "exclude /top/\n", dir);

	ck_assert_int_eq(filter_add_file(&f, path), 0);
	ck_assert_uint_eq(f.n, 5);
	KEEP("keep.tmp", 0);
	KEEP("a/keep.tmp", 0);
	EXCL("a.tmp", 0);
	EXCL("a/b.tmp", 0);
	EXCL("a/b.o", 0);	/* a plain line is an exclude glob */
	EXCL("a/sub/x", 0);
	EXCL("top", 1);
	KEEP("top", 0);
	remove_temp(path, dir);
}
END_TEST

START_TEST(test_file_bad_line_names_file_and_line)
{
	char dir[] = "/tmp/test_filter.XXXXXX";
	char *path = write_temp("- *.tmp\n"
	    "# fine\n"
	    "-*.bak\n"
	    "*.o\n", dir);
	char want[256];

	ck_assert_int_eq(filter_add_file(&f, path), -1);
	snprintf(want, sizeof(want), "%s:3: '-*.bak' is no rule", path);
	ck_assert_msg(strncmp(log_last(), want, strlen(want)) == 0,
	    "message '%s', not '%s...'", log_last(), want);
	remove_temp(path, dir);
}
END_TEST

START_TEST(test_file_bad_glob)
{
	char dir[] = "/tmp/test_filter.XXXXXX";
	char *path = write_temp("ok\nbad[x\n", dir);
	char want[256];

	ck_assert_int_eq(filter_add_file(&f, path), -1);
	snprintf(want, sizeof(want), "%s:2: 'bad[x': an unclosed '['", path);
	ck_assert_str_eq(log_last(), want);
	remove_temp(path, dir);
}
END_TEST

START_TEST(test_add_refuses_bad_glob)
{
	errno = 0;
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "a[b"), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "/"), -1);
	ck_assert_uint_eq(f.n, 0);
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
	tcase_add_test(tc, test_glob_double_star);
	tcase_add_test(tc, test_rules_first_match_wins);
	tcase_add_test(tc, test_rules_exclude_first_wins_too);
	tcase_add_test(tc, test_rule_floating_slash_matches_at_the_end);
	tcase_add_test(tc, test_rule_anchored_and_dir_only);
	tcase_add_test(tc, test_rule_only_c_files);
	tcase_add_test(tc, test_rule_long_names);
	tcase_add_test(tc, test_rule_errors);
	tcase_add_test(tc, test_file_rules_and_globs);
	tcase_add_test(tc, test_file_bad_line_names_file_and_line);
	tcase_add_test(tc, test_file_bad_glob);
	tcase_add_test(tc, test_add_refuses_bad_glob);
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
