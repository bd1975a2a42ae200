/* Unit tests for path.h: checks on peer paths, the metadata name, escaping. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "path.h"

/* Asserts path_check accepts p. */
static void
accepts(const char *p)
{
	const char *why = NULL;

	ck_assert_msg(path_check(p, &why) == 0, "'%.80s' (%zu bytes) refused: %s",
	    p, strlen(p), why ? why : "(no reason)");
}

/* Asserts path_check refuses p with a reason. */
static void
refuses(const char *p)
{
	const char *why = NULL;

	ck_assert_msg(path_check(p, &why) == -1, "'%.80s' (%zu bytes) accepted",
	    p, strlen(p));
	ck_assert_ptr_nonnull(why);
	ck_assert_uint_gt(strlen(why), 0);
}

/* A new string of n copies of c. */
static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

START_TEST(test_check_accepts)
{
	accepts("a");
	accepts("a/b.c");
	accepts("..a");
	accepts("a..");
	accepts("...");
	accepts(".a/.b");
	accepts("a/b/c/d/e");
	accepts("a b/\ttab/\n");
	accepts(".mirrorfs");	/* path_check is about syntax only */
}
END_TEST

START_TEST(test_check_refuses)
{
	refuses("");
	refuses("/");
	refuses("/a");
	refuses("a//b");
	refuses("a/");
	refuses("./a");
	refuses("a/./b");
	refuses("a/.");
	refuses(".");
	refuses("..");
	refuses("../a");
	refuses("a/../b");
	refuses("a/..");
}
END_TEST

START_TEST(test_check_name_max)
{
	char *name = repeat('n', NAME_MAX);
	char *longer = repeat('n', NAME_MAX + 1);
	char *p;
	size_t n;

	accepts(name);
	refuses(longer);

	/* A 255-byte component in the middle and at the end. */
	n = 2 * NAME_MAX + 8;
	p = malloc(n + 1);
	ck_assert_ptr_nonnull(p);
	snprintf(p, n + 1, "a/%s/b", name);
	accepts(p);
	snprintf(p, n + 1, "a/%s", name);
	accepts(p);
	snprintf(p, n + 1, "a/%s/b", longer);
	refuses(p);
	snprintf(p, n + 1, "%s/b", longer);
	refuses(p);
	free(p);
	free(name);
	free(longer);
}
END_TEST

/* A path of n bytes made of 100-byte components. */
static char *
long_path(size_t n)
{
	char *p = repeat('x', n);

	for (size_t i = 100; i < n - 1; i += 101)
		p[i] = '/';
	return p;
}

START_TEST(test_check_path_max)
{
	char *p;

	p = long_path(PATH_MAX - 1);
	accepts(p);
	free(p);
	p = long_path(PATH_MAX);
	refuses(p);
	free(p);
	p = long_path(PATH_MAX + 100);
	refuses(p);
	free(p);
}
END_TEST

START_TEST(test_is_meta)
{
	ck_assert_int_ne(path_is_meta(".mirrorfs"), 0);
	ck_assert_int_ne(path_is_meta(".mirrorfs/x"), 0);
	ck_assert_int_ne(path_is_meta(".mirrorfs/journal"), 0);
	ck_assert_int_ne(path_is_meta(PATH_META), 0);
	ck_assert_int_eq(path_is_meta(".mirrorfsx"), 0);
	ck_assert_int_eq(path_is_meta(".mirrorf"), 0);
	ck_assert_int_eq(path_is_meta("a/.mirrorfs"), 0);
	ck_assert_int_eq(path_is_meta("x.mirrorfs"), 0);
	ck_assert_int_eq(path_is_meta(""), 0);
	ck_assert_int_eq(path_is_meta(".MIRRORFS"), 0);
}
END_TEST

/* path_fputs of p into a string the caller frees. */
static char *
fputs_to_string(const char *p)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	ck_assert_ptr_nonnull(f);
	path_fputs(p, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_uint_eq(strlen(out), len);
	return out;
}

START_TEST(test_fputs_plain)
{
	char *s = fputs_to_string("a/b c/d.txt");

	ck_assert_str_eq(s, "a/b c/d.txt");
	free(s);
	s = fputs_to_string("caf\xc3\xa9");
	ck_assert_str_eq(s, "caf\xc3\xa9");
	free(s);
	s = fputs_to_string("");
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

START_TEST(test_fputs_escapes)
{
	char *s = fputs_to_string("a\nb");

	ck_assert_str_eq(s, "a\\012b");
	free(s);
	s = fputs_to_string("back\\slash");
	ck_assert_str_eq(s, "back\\134slash");
	free(s);
	s = fputs_to_string("\t\r\x01\x7f" "end");
	ck_assert_str_eq(s, "\\011\\015\\001\\177end");
	free(s);
	/* No raw newline ever reaches the output. */
	s = fputs_to_string("\n\n\n");
	ck_assert_ptr_null(strchr(s, '\n'));
	ck_assert_str_eq(s, "\\012\\012\\012");
	free(s);
}
END_TEST

START_TEST(test_fputs_fmemopen)
{
	char out[64];
	FILE *f;

	memset(out, 0, sizeof(out));
	f = fmemopen(out, sizeof(out), "w");
	ck_assert_ptr_nonnull(f);
	path_fputs("x\ny\\z", f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_str_eq(out, "x\\012y\\134z");
}
END_TEST

/* The order of a depth-first walk with sorted siblings, not strcmp's. */
START_TEST(test_order)
{
	/* Each before the next, as a walk of a, a-c and b finds them. */
	static const char *const walk[] = { "a", "a/b", "a/b/c", "a/b0", "a\x01",
	    "a-c", "ab", "b", "b/\xff", "\xff" };
	size_t n = sizeof(walk) / sizeof(walk[0]);

	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(path_order(walk[i], walk[i]), 0);
		for (size_t j = i + 1; j < n; j++) {
			ck_assert_msg(path_order(walk[i], walk[j]) < 0,
			    "%s before %s", walk[i], walk[j]);
			ck_assert_msg(path_order(walk[j], walk[i]) > 0,
			    "%s after %s", walk[j], walk[i]);
		}
	}
	ck_assert_int_gt(strcmp("a/b", "a-c"), 0);	/* where strcmp differs */
}
END_TEST

START_TEST(test_dirlen)
{
	ck_assert_uint_eq(path_dirlen("c"), 0);
	ck_assert_uint_eq(path_dirlen("a/b/c"), 3);
	ck_assert_uint_eq(path_dirlen("a/c"), 1);
	ck_assert_uint_eq(path_dirlen("abc/def"), 3);
}
END_TEST

static Suite *
path_suite(void)
{
	Suite *s = suite_create("path");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_check_accepts);
	tcase_add_test(tc, test_check_refuses);
	tcase_add_test(tc, test_check_name_max);
	tcase_add_test(tc, test_check_path_max);
	tcase_add_test(tc, test_is_meta);
	tcase_add_test(tc, test_fputs_plain);
	tcase_add_test(tc, test_fputs_escapes);
	tcase_add_test(tc, test_fputs_fmemopen);
	tcase_add_test(tc, test_dirlen);
	tcase_add_test(tc, test_order);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(path_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
