/*
 * Unit tests for promtext.h: HELP and TYPE lines, samples with and
 * without labels, the escapes of label values and help text, integers
 * written exactly, and the textfile replaced whole.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "promtext.h"
#include "unit.h"

static char base[] = "/tmp/test_promtext.XXXXXX";

/* What fn writes, as a string (the caller frees it). */
static char *
written(void (*fn)(FILE *f))
{
	char *s = NULL;
	size_t len;
	FILE *f = open_memstream(&s, &len);

	ck_assert_ptr_nonnull(f);
	fn(f);
	fclose(f);
	return s;
}

static void
family(FILE *f)
{
	promtext_family(f, "m_total", "counter", "Line one\nback\\slash.");
}

static void
samples(FILE *f)
{
	const struct promtext_label l[] = {
		{ "fileset", "a\"b" }, { "destination", "c:\\d\ne" },
	};

	promtext_sample(f, "m_total", l, 2, 3);
	promtext_sample(f, "bare", NULL, 0, 0);
	promtext_sample(f, "when", l, 1, 1764596887);
	promtext_sample(f, "big", NULL, 0, 18446744073709551615.0);
	promtext_sample(f, "half", NULL, 0, 0.5);
}

START_TEST(test_family_lines)
{
	char *s = written(family);

	ck_assert_str_eq(s, "# HELP m_total Line one\\nback\\\\slash.\n"
	    "# TYPE m_total counter\n");
	free(s);
}
END_TEST

START_TEST(test_samples)
{
	char *s = written(samples);

	ck_assert_str_eq(s,
	    "m_total{fileset=\"a\\\"b\",destination=\"c:\\\\d\\ne\"} 3\n"
	    "bare 0\n"
	    "when{fileset=\"a\\\"b\"} 1764596887\n"
	    "big 1.84467440737096e+19\n"
	    "half 0.5\n");
	free(s);
}
END_TEST

START_TEST(test_write_file)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8], buf[64];
	struct stat st;
	FILE *f;

	log_init("test_promtext", LOG_ERROR);
	snprintf(path, sizeof(path), "%s/m.prom", base);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ck_assert_int_eq(promtext_write_file(path, "a 1\n", 4), 0);
	ck_assert_int_eq(promtext_write_file(path, "b 2\n", 4), 0);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	ck_assert_str_eq(buf, "b 2\n");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0644);
	ck_assert_int_eq(stat(tmp, &st), -1);	/* no temporary left */
	/* A directory that is missing: -1, and nothing there. */
	snprintf(path, sizeof(path), "%s/no/m.prom", base);
	ck_assert_int_eq(promtext_write_file(path, "a 1\n", 4), -1);
}
END_TEST

static Suite *
promtext_suite(void)
{
	Suite *s = suite_create("promtext");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_family_lines);
	tcase_add_test(tc, test_samples);
	tcase_add_test(tc, test_write_file);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_main(promtext_suite(), base);
}
