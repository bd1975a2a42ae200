/* Unit tests for buf.h: the growable buffer and the bounds-checked reader. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/*
 * CHECK_EQ records nothing unless it fails: ck_assert_* logs every passing
 * check too, which makes loops of 100k checks take seconds.
 */
#define CHECK_EQ(a, b) do {						\
	if ((a) != (b))							\
		ck_abort_msg("%s:%d: %s != %s", __FILE__, __LINE__, #a, #b);\
} while (0)

START_TEST(test_u8_round_trip)
{
	struct buf b;
	struct reader r;
	int v;

	buf_init(&b);
	for (v = 0; v <= 255; v++)
		CHECK_EQ(buf_put_u8(&b, (uint8_t)v), 0);
	CHECK_EQ(b.len, 256);
	reader_init(&r, b.data, b.len);
	for (v = 0; v <= 255; v++)
		CHECK_EQ(reader_u8(&r), (unsigned)v);
	CHECK_EQ(reader_finish(&r), 0);
	buf_release(&b);
}
END_TEST

START_TEST(test_u16_u32_u64_round_trip)
{
	static const uint16_t v16[] = { 0, 1, 0x00ff, 0xff00, 0x1234, 0xffff };
	static const uint32_t v32[] = { 0, 1, 0x80000000u, 0xdeadbeefu,
	    0xffffffffu };
	static const uint64_t v64[] = { 0, 1, 0x8000000000000000ull,
	    0x0123456789abcdefull, UINT64_MAX };
	struct buf b;
	struct reader r;
	size_t i;

	buf_init(&b);
	for (i = 0; i < sizeof(v16) / sizeof(v16[0]); i++)
		ck_assert_int_eq(buf_put_u16(&b, v16[i]), 0);
	for (i = 0; i < sizeof(v32) / sizeof(v32[0]); i++)
		ck_assert_int_eq(buf_put_u32(&b, v32[i]), 0);
	for (i = 0; i < sizeof(v64) / sizeof(v64[0]); i++)
		ck_assert_int_eq(buf_put_u64(&b, v64[i]), 0);
	ck_assert_uint_eq(b.len, 6 * 2 + 5 * 4 + 5 * 8);

	reader_init(&r, b.data, b.len);
	for (i = 0; i < sizeof(v16) / sizeof(v16[0]); i++)
		ck_assert_uint_eq(reader_u16(&r), v16[i]);
	for (i = 0; i < sizeof(v32) / sizeof(v32[0]); i++)
		ck_assert_uint_eq(reader_u32(&r), v32[i]);
	for (i = 0; i < sizeof(v64) / sizeof(v64[0]); i++)
		ck_assert_uint_eq(reader_u64(&r), v64[i]);
	ck_assert_int_eq(reader_finish(&r), 0);
	buf_release(&b);
}
END_TEST

START_TEST(test_big_endian_layout)
{
	static const uint8_t want[] = {
		0xab,
		0x12, 0x34,
		0xde, 0xad, 0xbe, 0xef,
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
		0x00, 0x03, 'a', 'b', 'c',
	};
	struct buf b;

	buf_init(&b);
	ck_assert_int_eq(buf_put_u8(&b, 0xab), 0);
	ck_assert_int_eq(buf_put_u16(&b, 0x1234), 0);
	ck_assert_int_eq(buf_put_u32(&b, 0xdeadbeefu), 0);
	ck_assert_int_eq(buf_put_u64(&b, 0x0123456789abcdefull), 0);
	ck_assert_int_eq(buf_put_str(&b, "abc"), 0);
	ck_assert_uint_eq(b.len, sizeof(want));
	ck_assert_mem_eq(b.data, want, sizeof(want));
	ck_assert_uint_le(b.len, b.cap);
	buf_release(&b);
}
END_TEST

START_TEST(test_str_round_trip)
{
	static const char *strs[] = { "", "a", "hello world", "a/b/c.txt",
	    "\xff\xfe utf-8 \xc3\xa9" };
	char *big;
	struct buf b;
	struct reader r;
	size_t i;

	big = malloc(UINT16_MAX + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', UINT16_MAX);
	big[UINT16_MAX] = '\0';

	buf_init(&b);
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		ck_assert_int_eq(buf_put_str(&b, strs[i]), 0);
	ck_assert_int_eq(buf_put_str(&b, big), 0);

	reader_init(&r, b.data, b.len);
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		char *s = reader_str(&r, 4096);

		ck_assert_ptr_nonnull(s);
		ck_assert_str_eq(s, strs[i]);
		free(s);
	}
	{
		char *s = reader_str(&r, UINT16_MAX);

		ck_assert_ptr_nonnull(s);
		ck_assert_uint_eq(strlen(s), UINT16_MAX);
		ck_assert_str_eq(s, big);
		free(s);
	}
	ck_assert_int_eq(reader_finish(&r), 0);
	buf_release(&b);
	free(big);
}
END_TEST

START_TEST(test_put_str_too_long)
{
	char *big;
	struct buf b;

	big = malloc(UINT16_MAX + 2);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', UINT16_MAX + 1);
	big[UINT16_MAX + 1] = '\0';
	buf_init(&b);
	ck_assert_int_eq(buf_put_str(&b, big), -1);
	ck_assert_int_eq(buf_put_bytes16(&b, big, UINT16_MAX + 1), -1);
	buf_release(&b);
	free(big);
}
END_TEST

START_TEST(test_bytes16_and_raw)
{
	static const uint8_t raw[] = { 0, 1, 2, 0, 255 };
	struct buf b;
	struct reader r;
	const uint8_t *p;

	buf_init(&b);
	ck_assert_int_eq(buf_put_bytes16(&b, raw, sizeof(raw)), 0);
	ck_assert_int_eq(buf_put(&b, raw, sizeof(raw)), 0);
	ck_assert_int_eq(buf_put(&b, raw, 0), 0);
	ck_assert_uint_eq(b.len, 2 + 2 * sizeof(raw));

	reader_init(&r, b.data, b.len);
	ck_assert_uint_eq(reader_u16(&r), sizeof(raw));
	p = reader_bytes(&r, sizeof(raw));
	ck_assert_ptr_nonnull(p);
	ck_assert_mem_eq(p, raw, sizeof(raw));
	p = reader_bytes(&r, sizeof(raw));
	ck_assert_ptr_nonnull(p);
	ck_assert_mem_eq(p, raw, sizeof(raw));
	ck_assert_int_eq(reader_finish(&r), 0);
	buf_release(&b);
}
END_TEST

START_TEST(test_growth_keeps_contents)
{
	struct buf b;
	struct reader r;
	uint32_t i;

	buf_init(&b);
	for (i = 0; i < 100000; i++)
		CHECK_EQ(buf_put_u32(&b, i * 2654435761u), 0);
	CHECK_EQ(b.len, 400000);
	ck_assert_uint_le(b.len, b.cap);
	reader_init(&r, b.data, b.len);
	for (i = 0; i < 100000; i++)
		CHECK_EQ(reader_u32(&r), i * 2654435761u);
	CHECK_EQ(reader_finish(&r), 0);

	buf_reset(&b);
	CHECK_EQ(b.len, 0);
	CHECK_EQ(buf_put_u8(&b, 7), 0);
	CHECK_EQ(b.len, 1);
	CHECK_EQ(b.data[0], 7);
	buf_release(&b);
	ck_assert_ptr_null(b.data);
	CHECK_EQ(b.len, 0);
	CHECK_EQ(b.cap, 0);
	buf_release(&b);	/* releasing twice is harmless */
}
END_TEST

START_TEST(test_reserve_overflow)
{
	struct buf b;

	buf_init(&b);
	ck_assert_int_eq(buf_put_u8(&b, 1), 0);
	ck_assert_int_eq(buf_reserve(&b, SIZE_MAX), -1);
	ck_assert_uint_eq(b.len, 1);
	ck_assert_uint_eq(b.data[0], 1);
	buf_release(&b);
}
END_TEST

START_TEST(test_read_past_end)
{
	static const uint8_t in[] = { 1, 2, 3 };
	struct reader r;

	/* u32 from 3 bytes fails and yields zero. */
	reader_init(&r, in, sizeof(in));
	ck_assert_uint_eq(reader_u32(&r), 0);
	ck_assert_int_ne(r.failed, 0);
	ck_assert_int_eq(reader_finish(&r), -1);

	/* Once failed, even reads that would fit yield zero. */
	reader_init(&r, in, sizeof(in));
	ck_assert_uint_eq(reader_u16(&r), 0x0102);
	ck_assert_uint_eq(reader_u16(&r), 0);
	ck_assert_uint_eq(reader_u8(&r), 0);
	ck_assert_int_eq(reader_finish(&r), -1);

	reader_init(&r, in, sizeof(in));
	ck_assert_uint_eq(reader_u64(&r), 0);
	ck_assert_int_eq(reader_finish(&r), -1);

	reader_init(&r, in, sizeof(in));
	ck_assert_ptr_null(reader_bytes(&r, 4));
	ck_assert_int_eq(reader_finish(&r), -1);

	reader_init(&r, NULL, 0);
	ck_assert_uint_eq(reader_u8(&r), 0);
	ck_assert_int_eq(reader_finish(&r), -1);

	/* Reading exactly everything is fine. */
	reader_init(&r, in, sizeof(in));
	ck_assert_ptr_nonnull(reader_bytes(&r, 3));
	ck_assert_int_eq(reader_finish(&r), 0);
	ck_assert_ptr_null(reader_bytes(&r, 1));
	ck_assert_int_eq(reader_finish(&r), -1);
}
END_TEST

START_TEST(test_finish_leftovers)
{
	static const uint8_t in[] = { 0, 0, 0, 1, 9 };
	struct reader r;

	reader_init(&r, in, sizeof(in));
	ck_assert_uint_eq(reader_u32(&r), 1);
	ck_assert_int_eq(r.failed, 0);
	ck_assert_int_eq(reader_finish(&r), -1);
	ck_assert_uint_eq(reader_u8(&r), 9);
	ck_assert_int_eq(reader_finish(&r), 0);

	reader_init(&r, in, 0);
	ck_assert_int_eq(reader_finish(&r), 0);
}
END_TEST

START_TEST(test_str_embedded_nul)
{
	static const uint8_t in[] = { 0, 3, 'a', 0, 'b' };
	struct reader r;

	reader_init(&r, in, sizeof(in));
	ck_assert_ptr_null(reader_str(&r, 100));
	ck_assert_int_eq(reader_finish(&r), -1);
}
END_TEST

START_TEST(test_str_over_max)
{
	static const uint8_t in[] = { 0, 4, 'a', 'b', 'c', 'd' };
	struct reader r;
	char *s;

	reader_init(&r, in, sizeof(in));
	ck_assert_ptr_null(reader_str(&r, 3));
	ck_assert_int_eq(reader_finish(&r), -1);

	/* A length of exactly max is fine. */
	reader_init(&r, in, sizeof(in));
	s = reader_str(&r, 4);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "abcd");
	free(s);
	ck_assert_int_eq(reader_finish(&r), 0);

	/* max 0 allows only the empty string. */
	reader_init(&r, in, sizeof(in));
	ck_assert_ptr_null(reader_str(&r, 0));
	ck_assert_int_eq(reader_finish(&r), -1);
}
END_TEST

START_TEST(test_str_truncated)
{
	static const uint8_t in[] = { 0, 5, 'a', 'b' };
	static const uint8_t half[] = { 0 };
	struct reader r;

	reader_init(&r, in, sizeof(in));
	ck_assert_ptr_null(reader_str(&r, 100));
	ck_assert_int_eq(reader_finish(&r), -1);

	reader_init(&r, half, sizeof(half));
	ck_assert_ptr_null(reader_str(&r, 100));
	ck_assert_int_eq(reader_finish(&r), -1);
}
END_TEST

static Suite *
buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_u8_round_trip);
	tcase_add_test(tc, test_u16_u32_u64_round_trip);
	tcase_add_test(tc, test_big_endian_layout);
	tcase_add_test(tc, test_str_round_trip);
	tcase_add_test(tc, test_put_str_too_long);
	tcase_add_test(tc, test_bytes16_and_raw);
	tcase_add_test(tc, test_growth_keeps_contents);
	tcase_add_test(tc, test_reserve_overflow);
	tcase_add_test(tc, test_read_past_end);
	tcase_add_test(tc, test_finish_leftovers);
	tcase_add_test(tc, test_str_embedded_nul);
	tcase_add_test(tc, test_str_over_max);
	tcase_add_test(tc, test_str_truncated);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(buf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
