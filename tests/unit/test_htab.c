/* Unit tests for htab.h: byte-string keys to indexes. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"

/*
 * CHECK_EQ records nothing unless it fails: ck_assert_* logs every passing
 * check too, which makes loops of 100k checks take seconds.
 */
#define CHECK_EQ(a, b) do {						\
	if ((a) != (b))							\
		ck_abort_msg("%s:%d: %s != %s", __FILE__, __LINE__, #a, #b);\
} while (0)

START_TEST(test_empty)
{
	struct htab h;
	size_t v = 42;

	htab_init(&h);
	ck_assert_int_eq(htab_get(&h, "a", 1, &v), 0);
	ck_assert_uint_eq(v, 42);	/* untouched when absent */
	htab_release(&h);
	htab_release(&h);	/* releasing twice is harmless */
}
END_TEST

START_TEST(test_put_get)
{
	struct htab h;
	size_t v;

	htab_init(&h);
	ck_assert_int_eq(htab_put(&h, "alpha", 5, 1), 0);
	ck_assert_int_eq(htab_put(&h, "beta", 4, 2), 0);
	ck_assert_int_eq(htab_put(&h, "gamma", 5, 3), 0);
	ck_assert_uint_eq(h.n, 3);
	ck_assert_int_eq(htab_get(&h, "alpha", 5, &v), 1);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(htab_get(&h, "beta", 4, &v), 1);
	ck_assert_uint_eq(v, 2);
	ck_assert_int_eq(htab_get(&h, "gamma", 5, &v), 1);
	ck_assert_uint_eq(v, 3);
	ck_assert_int_eq(htab_get(&h, "delta", 5, &v), 0);
	/* A prefix or an extension of a key is another key. */
	ck_assert_int_eq(htab_get(&h, "alph", 4, &v), 0);
	ck_assert_int_eq(htab_get(&h, "alphax", 6, &v), 0);
	/* Keys are compared by content, not by pointer. */
	{
		char copy[] = "beta";

		ck_assert_int_eq(htab_get(&h, copy, 4, &v), 1);
		ck_assert_uint_eq(v, 2);
	}
	htab_release(&h);
	ck_assert_uint_eq(h.n, 0);
}
END_TEST

START_TEST(test_overwrite)
{
	struct htab h;
	char k2[] = "key";
	size_t v;

	htab_init(&h);
	ck_assert_int_eq(htab_put(&h, "key", 3, 10), 0);
	ck_assert_int_eq(htab_put(&h, k2, 3, 20), 0);
	ck_assert_uint_eq(h.n, 1);
	ck_assert_int_eq(htab_get(&h, "key", 3, &v), 1);
	ck_assert_uint_eq(v, 20);
	ck_assert_int_eq(htab_put(&h, "key", 3, SIZE_MAX), 0);
	ck_assert_int_eq(htab_get(&h, "key", 3, &v), 1);
	ck_assert_uint_eq(v, SIZE_MAX);
	ck_assert_uint_eq(h.n, 1);
	htab_release(&h);
}
END_TEST

#define MANY 100000

START_TEST(test_many_keys_survive_growth)
{
	struct htab h;
	char (*keys)[16];
	size_t v, i;

	keys = malloc(MANY * sizeof(*keys));
	ck_assert_ptr_nonnull(keys);
	htab_init(&h);
	for (i = 0; i < MANY; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		CHECK_EQ(htab_put(&h, keys[i], strlen(keys[i]), i), 0);
	}
	CHECK_EQ(h.n, MANY);
	ck_assert_uint_ge(h.cap, MANY);
	CHECK_EQ(h.cap & (h.cap - 1), 0);	/* a power of two */
	for (i = 0; i < MANY; i++) {
		CHECK_EQ(htab_get(&h, keys[i], strlen(keys[i]), &v), 1);
		CHECK_EQ(v, i);
	}
	/* Overwrite every other key after growth. */
	for (i = 0; i < MANY; i += 2)
		CHECK_EQ(htab_put(&h, keys[i], strlen(keys[i]),
		    i + MANY), 0);
	CHECK_EQ(h.n, MANY);
	for (i = 0; i < MANY; i++) {
		CHECK_EQ(htab_get(&h, keys[i], strlen(keys[i]), &v), 1);
		CHECK_EQ(v, i % 2 ? i : i + MANY);
	}
	CHECK_EQ(htab_get(&h, "k100000", 7, &v), 0);
	CHECK_EQ(htab_get(&h, "missing", 7, &v), 0);
	htab_release(&h);
	free(keys);
}
END_TEST

START_TEST(test_binary_keys)
{
	static const unsigned char a[] = { 0, 0, 0 };
	static const unsigned char b[] = { 0, 0 };
	static const unsigned char c[] = { 0, 1, 0 };
	static const unsigned char d[] = { 0xff, 0x00, 0xfe, 0x80 };
	struct htab h;
	size_t v;

	htab_init(&h);
	ck_assert_int_eq(htab_put(&h, a, sizeof(a), 1), 0);
	ck_assert_int_eq(htab_put(&h, b, sizeof(b), 2), 0);
	ck_assert_int_eq(htab_put(&h, c, sizeof(c), 3), 0);
	ck_assert_int_eq(htab_put(&h, d, sizeof(d), 4), 0);
	ck_assert_uint_eq(h.n, 4);
	ck_assert_int_eq(htab_get(&h, a, sizeof(a), &v), 1);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(htab_get(&h, b, sizeof(b), &v), 1);
	ck_assert_uint_eq(v, 2);
	ck_assert_int_eq(htab_get(&h, c, sizeof(c), &v), 1);
	ck_assert_uint_eq(v, 3);
	ck_assert_int_eq(htab_get(&h, d, sizeof(d), &v), 1);
	ck_assert_uint_eq(v, 4);
	/* One NUL byte is a key of its own, distinct from two or three. */
	ck_assert_int_eq(htab_get(&h, a, 1, &v), 0);
	/* Bytes after the given length do not count. */
	ck_assert_int_eq(htab_get(&h, c, 2, &v), 0);
	ck_assert_int_eq(htab_put(&h, c, 2, 5), 0);
	ck_assert_int_eq(htab_get(&h, c, 2, &v), 1);
	ck_assert_uint_eq(v, 5);
	ck_assert_int_eq(htab_get(&h, c, 3, &v), 1);
	ck_assert_uint_eq(v, 3);
	htab_release(&h);
}
END_TEST

START_TEST(test_empty_key)
{
	struct htab h;
	size_t v;

	htab_init(&h);
	ck_assert_int_eq(htab_put(&h, "", 0, 7), 0);
	ck_assert_int_eq(htab_get(&h, "", 0, &v), 1);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(htab_get(&h, "x", 1, &v), 0);
	htab_release(&h);
}
END_TEST

START_TEST(test_release_reusable)
{
	struct htab h;
	size_t v;

	htab_init(&h);
	ck_assert_int_eq(htab_put(&h, "a", 1, 1), 0);
	htab_release(&h);
	ck_assert_int_eq(htab_get(&h, "a", 1, &v), 0);
	ck_assert_int_eq(htab_put(&h, "b", 1, 2), 0);
	ck_assert_int_eq(htab_get(&h, "b", 1, &v), 1);
	ck_assert_uint_eq(v, 2);
	htab_release(&h);
}
END_TEST

START_TEST(test_del)
{
	struct htab h;
	size_t v;

	htab_init(&h);
	ck_assert_int_eq(htab_del(&h, "a", 1), 0);	/* empty table */
	ck_assert_int_eq(htab_put(&h, "a", 1, 1), 0);
	ck_assert_int_eq(htab_put(&h, "b", 1, 2), 0);
	ck_assert_int_eq(htab_del(&h, "a", 1), 1);
	ck_assert_uint_eq(h.n, 1);
	ck_assert_int_eq(htab_get(&h, "a", 1, &v), 0);
	ck_assert_int_eq(htab_get(&h, "b", 1, &v), 1);
	ck_assert_uint_eq(v, 2);
	ck_assert_int_eq(htab_del(&h, "a", 1), 0);	/* already gone */
	ck_assert_int_eq(htab_del(&h, "zz", 2), 0);
	ck_assert_uint_eq(h.n, 1);
	ck_assert_int_eq(htab_put(&h, "a", 1, 3), 0);
	ck_assert_int_eq(htab_get(&h, "a", 1, &v), 1);
	ck_assert_uint_eq(v, 3);
	ck_assert_uint_eq(h.n, 2);
	htab_release(&h);
}
END_TEST

/* A small deterministic generator, so failures reproduce. */
static uint64_t
rnd(uint64_t *st)
{
	*st ^= *st << 13;
	*st ^= *st >> 7;
	*st ^= *st << 17;
	return *st;
}

#define MODEL 4096

START_TEST(test_del_random_against_model)
{
	/*
	 * Random puts and deletes over a small key space (long probe chains,
	 * wrap-around at the end of the table), checked after every step
	 * against a plain array.
	 */
	struct htab h;
	char (*keys)[8];
	long *model;
	uint64_t st = 0x9e3779b97f4a7c15ull;
	size_t v, n = 0;

	keys = malloc(MODEL * sizeof(*keys));
	model = malloc(MODEL * sizeof(*model));
	ck_assert_ptr_nonnull(keys);
	ck_assert_ptr_nonnull(model);
	for (size_t i = 0; i < MODEL; i++) {
		snprintf(keys[i], sizeof(keys[i]), "%zx", i);
		model[i] = -1;
	}
	htab_init(&h);
	for (int step = 0; step < 100000; step++) {
		size_t k = rnd(&st) % MODEL;
		size_t len = strlen(keys[k]);

		if (rnd(&st) % 3 == 0) {
			CHECK_EQ(htab_del(&h, keys[k], len),
			    model[k] >= 0);
			n -= model[k] >= 0;
			model[k] = -1;
		} else {
			CHECK_EQ(htab_put(&h, keys[k], len,
			    (size_t)step), 0);
			n += model[k] < 0;
			model[k] = step;
		}
		CHECK_EQ(h.n, n);
		if (step % 5000 == 0) {
			for (size_t i = 0; i < MODEL; i++) {
				int found = htab_get(&h, keys[i],
				    strlen(keys[i]), &v);

				if (found != (model[i] >= 0))
					ck_abort_msg("step %d key %s: found %d",
					    step, keys[i], found);
				if (found)
					CHECK_EQ(v, (size_t)model[i]);
			}
		}
	}
	/* Delete everything; the table is empty and still usable. */
	for (size_t i = 0; i < MODEL; i++)
		CHECK_EQ(htab_del(&h, keys[i], strlen(keys[i])),
		    model[i] >= 0);
	CHECK_EQ(h.n, 0);
	for (size_t i = 0; i < MODEL; i++)
		CHECK_EQ(htab_get(&h, keys[i], strlen(keys[i]), &v), 0);
	htab_release(&h);
	free(keys);
	free(model);
}
END_TEST

START_TEST(test_del_many)
{
	struct htab h;
	char (*keys)[16];
	size_t v, i;

	keys = malloc(MANY * sizeof(*keys));
	ck_assert_ptr_nonnull(keys);
	htab_init(&h);
	for (i = 0; i < MANY; i++) {
		snprintf(keys[i], sizeof(keys[i]), "path/%zu", i);
		CHECK_EQ(htab_put(&h, keys[i], strlen(keys[i]), i), 0);
	}
	for (i = 0; i < MANY; i += 3)
		CHECK_EQ(htab_del(&h, keys[i], strlen(keys[i])), 1);
	CHECK_EQ(h.n, MANY - (MANY + 2) / 3);
	for (i = 0; i < MANY; i++) {
		int found = htab_get(&h, keys[i], strlen(keys[i]), &v);

		CHECK_EQ(found, i % 3 != 0);
		if (found)
			CHECK_EQ(v, i);
	}
	htab_release(&h);
	free(keys);
}
END_TEST

START_TEST(test_next_visits_each_once)
{
	struct htab h;
	char (*keys)[16];
	unsigned char *seen;
	size_t pos = 0, v, count = 0, i;

	keys = malloc(1000 * sizeof(*keys));
	seen = calloc(1000, 1);
	ck_assert_ptr_nonnull(keys);
	ck_assert_ptr_nonnull(seen);
	htab_init(&h);
	CHECK_EQ(htab_next(&h, &pos, &v), 0);	/* empty */
	for (i = 0; i < 1000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		CHECK_EQ(htab_put(&h, keys[i], strlen(keys[i]), i), 0);
	}
	for (i = 0; i < 1000; i += 2)
		CHECK_EQ(htab_del(&h, keys[i], strlen(keys[i])), 1);
	pos = 0;
	while (htab_next(&h, &pos, &v)) {
		ck_assert_uint_lt(v, 1000);
		ck_assert_msg(seen[v] == 0, "value %zu visited twice", v);
		seen[v] = 1;
		count++;
	}
	CHECK_EQ(count, 500);
	for (i = 0; i < 1000; i++)
		CHECK_EQ(seen[i], i % 2);
	CHECK_EQ(htab_next(&h, &pos, &v), 0);	/* stays at the end */
	htab_release(&h);
	free(keys);
	free(seen);
}
END_TEST

static Suite *
htab_suite(void)
{
	Suite *s = suite_create("htab");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_put_get);
	tcase_add_test(tc, test_overwrite);
	tcase_add_test(tc, test_many_keys_survive_growth);
	tcase_add_test(tc, test_binary_keys);
	tcase_add_test(tc, test_empty_key);
	tcase_add_test(tc, test_release_reusable);
	tcase_add_test(tc, test_del);
	tcase_add_test(tc, test_del_random_against_model);
	tcase_add_test(tc, test_del_many);
	tcase_add_test(tc, test_next_visits_each_once);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(htab_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
