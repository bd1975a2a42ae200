/*
 * Unit tests for hops.h: a relay's report of the hops below it goes
 * through HOPS and back unchanged; every bound, state and the preorder
 * depth rule are checked on the way in; a hop's own report nests below it.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hops.h"
#include "unit.h"

static char base[] = "/tmp/test_hops.XXXXXX";

/* The payload of h, in *b (the caller releases it). */
static void
encode(const struct hops *h, struct buf *b)
{
	buf_init(b);
	ck_assert_int_eq(hops_encode(h, b), 0);
}

START_TEST(test_round_trip)
{
	struct hops h, back;
	struct buf b;
	char err[128];

	hops_init(&h);
	hops_init(&back);
	ck_assert_int_eq(hops_add(&h, 1, HOP_OK, 1, 42, 1700000000,
	    "mirror://b/app", NULL), 0);
	ck_assert_int_eq(hops_add(&h, 2, HOP_RETRYING, 0, 0, 0,
	    "mirror://c/app", "Connection refused"), 0);
	ck_assert_int_eq(hops_add(&h, 1, HOP_OWED, 0, 0, 0, "/local", ""), 0);
	encode(&h, &b);
	ck_assert_int_eq(hops_decode(b.data, b.len, &back, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(back.n, 3);
	ck_assert_int_eq(back.v[0].depth, 1);
	ck_assert_int_eq(back.v[0].has_gen, 1);
	ck_assert_uint_eq(back.v[0].gen, 42);
	ck_assert_int_eq(back.v[0].delivered, 1700000000);
	ck_assert_str_eq(back.v[0].dest, "mirror://b/app");
	ck_assert_ptr_null(back.v[0].error);
	ck_assert_int_eq(back.v[1].state, HOP_RETRYING);
	ck_assert_str_eq(back.v[1].error, "Connection refused");
	ck_assert_ptr_null(back.v[2].error);	/* "" is no error */
	ck_assert_str_eq(hops_state_name(back.v[2].state), "owed");
	buf_release(&b);
	hops_release(&back);
	hops_release(&h);
}
END_TEST

START_TEST(test_below_nests)
{
	struct hops top, leaf;

	hops_init(&top);
	hops_init(&leaf);
	ck_assert_int_eq(hops_add(&leaf, 1, HOP_OK, 0, 0, 5, "d", NULL), 0);
	ck_assert_int_eq(hops_add(&leaf, 2, HOP_OK, 0, 0, 5, "e", NULL), 0);
	ck_assert_int_eq(hops_add(&top, 1, HOP_OK, 0, 0, 5, "b", NULL), 0);
	ck_assert_int_eq(hops_add_below(&top, &leaf), 0);
	ck_assert_uint_eq(top.n, 3);
	ck_assert_int_eq(top.v[1].depth, 2);
	ck_assert_int_eq(top.v[2].depth, 3);
	ck_assert_str_eq(top.v[2].dest, "e");
	hops_release(&leaf);
	hops_release(&top);
}
END_TEST

START_TEST(test_bounds)
{
	struct hops h;

	hops_init(&h);
	ck_assert_int_eq(hops_add(&h, 0, HOP_OK, 0, 0, 0, "x", NULL), -1);
	ck_assert_int_eq(errno, E2BIG);
	ck_assert_int_eq(hops_add(&h, HOPS_MAX_DEPTH + 1, HOP_OK, 0, 0, 0,
	    "x", NULL), -1);
	for (int i = 0; i < HOPS_MAX; i++)
		ck_assert_int_eq(hops_add(&h, 1, HOP_OK, 0, 0, 0, "x", NULL), 0);
	ck_assert_int_eq(hops_add(&h, 1, HOP_OK, 0, 0, 0, "x", NULL), -1);
	ck_assert_int_eq(errno, E2BIG);
	ck_assert_uint_eq(h.n, HOPS_MAX);
	hops_release(&h);
}
END_TEST

/* Decoding p[0..n) fails, with h left empty. */
static void
refused(const uint8_t *p, size_t n)
{
	struct hops h;
	char err[128];

	hops_init(&h);
	ck_assert_int_eq(hops_decode(p, n, &h, err, sizeof(err)), -1);
	ck_assert_uint_eq(h.n, 0);
	ck_assert_ptr_null(h.v);
}

START_TEST(test_refusals)
{
	struct hops h;
	struct buf b;
	uint8_t *c;

	hops_init(&h);
	ck_assert_int_eq(hops_add(&h, 1, HOP_OK, 1, 3, 9, "mirror://b/a",
	    "why"), 0);
	ck_assert_int_eq(hops_add(&h, 2, HOP_OK, 0, 0, 9, "mirror://c/a",
	    NULL), 0);
	encode(&h, &b);
	/* Every truncation, and a byte too many. */
	for (size_t k = 0; k < b.len; k++)
		refused(b.data, k);
	c = malloc(b.len + 1);
	ck_assert_ptr_nonnull(c);
	memcpy(c, b.data, b.len);
	c[b.len] = 0;
	refused(c, b.len + 1);
	/* Field by field: depth 0, a first hop at depth 2, state 0 and 5,
	 * has_gen 2, a generation without has_gen (the second hop). */
	const size_t depth0 = 2, state0 = 3, hasgen0 = 4;
	const size_t second = 2 + 3 + 8 + 8 + 2 + strlen("mirror://b/a") + 2 + 3;
	const size_t gen1 = second + 3;
	const uint8_t bad[][2] = {
		{ (uint8_t)depth0, 0 }, { (uint8_t)depth0, 2 },
		{ (uint8_t)state0, 0 }, { (uint8_t)state0, HOP_STATE_MAX + 1 },
		{ (uint8_t)hasgen0, 2 },
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		memcpy(c, b.data, b.len);
		c[bad[k][0]] = bad[k][1];
		refused(c, b.len);
	}
	memcpy(c, b.data, b.len);
	c[second] = 3;		/* depth 3 after depth 1 */
	refused(c, b.len);
	memcpy(c, b.data, b.len);
	c[gen1 + 7] = 1;	/* a generation, but has_gen 0 */
	refused(c, b.len);
	/* A count over HOPS_MAX. */
	memcpy(c, b.data, b.len);
	c[0] = 0xff;
	refused(c, b.len);
	free(c);
	buf_release(&b);
	hops_release(&h);
}
END_TEST

static Suite *
hops_suite(void)
{
	Suite *su = suite_create("hops");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_below_nests);
	tcase_add_test(tc, test_bounds);
	tcase_add_test(tc, test_refusals);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	return unit_main(hops_suite(), base);
}
