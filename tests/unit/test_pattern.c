/* Unit tests for pattern.h: globs with '**', compiled and matched without backtracking. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pattern.h"
#include "unit.h"

/* 1 when text compiles and matches subject; fails the test when it does not compile. */
static int
m(const char *text, const char *subject)
{
	const char *why;
	struct pattern *p = pattern_compile(text, &why);
	int r;

	ck_assert_msg(p != NULL, "'%s' does not compile: %s", text, why);
	r = pattern_match(p, subject);
	pattern_free(p);
	return r;
}

#define YES(pat, s) ck_assert_msg(m(pat, s) == 1, "'%s' should match '%s'", pat, s)
#define NO(pat, s) ck_assert_msg(m(pat, s) == 0, "'%s' should not match '%s'", pat, s)

START_TEST(test_literal)
{
	YES("abc", "abc");
	NO("abc", "abcd");
	NO("abc", "ab");
	NO("abc", "");
	NO("abc", "ABC");	/* case-sensitive */
}
END_TEST

START_TEST(test_star_stops_at_slash)
{
	YES("*", "anything");
	YES("*", "");
	YES("*.tmp", ".tmp");
	YES("a*b*c", "aXXbYYc");
	NO("*", "a/b");
	NO("a*c", "a/c");
	YES("a/*/c", "a/b/c");
	NO("a/*/c", "a/b/x/c");
	NO("*.tmp", "a.tmpx");
}
END_TEST

START_TEST(test_double_star_crosses_slash)
{
	YES("**", "a/b/c");
	YES("a**z", "a/b/z");
	YES("a**z", "az");
	YES("**.tmp", "x/y/z.tmp");
	YES("***", "a/b");	/* more stars are still '**' */
	NO("a**z", "a/b/y");
}
END_TEST

START_TEST(test_double_star_slash_is_zero_or_more_dirs)
{
	YES("**/x", "x");
	YES("**/x", "a/x");
	YES("**/x", "a/b/c/x");
	NO("**/x", "ax");
	YES("a/**/b", "a/b");
	YES("a/**/b", "a/x/b");
	YES("a/**/b", "a/x/y/b");
	NO("a/**/b", "ab");
	NO("a/**/b", "a/xb");
	/* not at a component start: '**' then a literal '/' */
	YES("a**/b", "aX/b");
	YES("a**/b", "a/x/b");
	NO("a**/b", "ab");
}
END_TEST

START_TEST(test_subtree)
{
	YES("dir/***", "dir");
	YES("dir/***", "dir/f");
	YES("dir/***", "dir/a/b/c");
	NO("dir/***", "dirx");
	NO("dir/***", "dirx/f");
	NO("dir/***", "x/dir");
	YES("a/*/***", "a/b");
	YES("a/*/***", "a/b/c");
	NO("a/*/***", "a");
}
END_TEST

START_TEST(test_question_mark)
{
	YES("?", "a");
	NO("?", "");
	NO("?", "ab");
	NO("a?b", "a/b");
	YES("a?b", "a.b");
}
END_TEST

START_TEST(test_sets)
{
	YES("[abc]", "b");
	NO("[abc]", "d");
	YES("x[0-9]", "x7");
	NO("x[0-9]", "xa");
	YES("[!a]", "b");
	NO("[!a]", "a");
	YES("[^a]", "b");
	NO("[^a]", "a");
	YES("[]x]", "]");
	YES("[]x]", "x");
	YES("[!]]", "a");
	NO("[!]]", "]");
	YES("f[[:digit:]][[:alpha:]]", "f1z");
	NO("f[[:digit:]]", "fz");
	/* a set never matches '/', not even a set that lists it */
	NO("a[/]b", "a/b");
	NO("a[!x]b", "a/b");
}
END_TEST

START_TEST(test_escape)
{
	YES("\\*", "*");
	NO("\\*", "a");
	YES("a\\?", "a?");
	NO("a\\?", "ab");
	YES("\\[x]", "[x]");
	YES("\\-foo", "-foo");
	YES("\\\\", "\\");
}
END_TEST

START_TEST(test_errors)
{
	const char *why;
	char *longer;

	errno = 0;
	ck_assert_ptr_null(pattern_compile("", &why));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_null(pattern_compile("[abc", &why));
	ck_assert_str_eq(why, "an unclosed '['");
	ck_assert_ptr_null(pattern_compile("a[[:alpha:]", &why));
	ck_assert_ptr_null(pattern_compile("a[[:alpha", &why));
	ck_assert_ptr_null(pattern_compile("abc\\", &why));
	ck_assert_str_eq(why, "a '\\' at the end");
	longer = malloc(PATH_MAX + 1);
	memset(longer, 'a', PATH_MAX);
	longer[PATH_MAX] = '\0';
	ck_assert_ptr_null(pattern_compile(longer, &why));
	ck_assert_int_eq(errno, EINVAL);
	free(longer);
	pattern_free(NULL);
}
END_TEST

START_TEST(test_hostile_patterns_do_not_backtrack)
{
	/*
	 * A backtracking matcher takes exponential time on these (each star
	 * tries every split); this one takes the product of the lengths.
	 */
	char subject[PATH_MAX], text[512];
	struct timespec t0, t1;
	size_t n = 0;

	memset(subject, 'a', sizeof(subject) - 1);
	subject[sizeof(subject) - 1] = '\0';
	for (int i = 0; i < 60; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s",
		    i % 2 ? "*a" : "**a");
	snprintf(text + n, sizeof(text) - n, "b");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 10; i++)
		NO(text, subject);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* Far more than the milliseconds it takes, far less than backtracking. */
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 10);
	text[n] = '\0';
	YES(text, subject);
}
END_TEST

static Suite *
pattern_suite(void)
{
	Suite *s = suite_create("pattern");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_literal);
	tcase_add_test(tc, test_star_stops_at_slash);
	tcase_add_test(tc, test_double_star_crosses_slash);
	tcase_add_test(tc, test_double_star_slash_is_zero_or_more_dirs);
	tcase_add_test(tc, test_subtree);
	tcase_add_test(tc, test_question_mark);
	tcase_add_test(tc, test_sets);
	tcase_add_test(tc, test_escape);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_hostile_patterns_do_not_backtrack);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	static char base[] = "/tmp/test_pattern.XXXXXX";

	return unit_main(pattern_suite(), base);
}
