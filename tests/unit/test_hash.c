/*
 * Unit tests for hash.h: the content hash is part of the protocol, so it
 * must be XXH3-128 exactly, whatever code path the CPU gets (hash.c uses
 * the library's AVX2/AVX-512 dispatch), and whatever pieces it is fed in.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "hash.h"
#include "unit.h"

static char base[] = "/tmp/test_hash.XXXXXX";

/* The reference: the library's plain one-shot entry point, canonical form. */
static void
reference(const void *p, size_t n, uint8_t out[HASH_SIZE])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits(p, n));
	memcpy(out, c.digest, HASH_SIZE);
}

static uint8_t *
noise(size_t n)
{
	uint8_t *b = malloc(n);
	uint32_t x = 2463534242u;

	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (uint8_t)x;
	}
	return b;
}

START_TEST(empty_is_the_published_value)
{
	/* XXH3-128 of no input, seed 0, from xxHash's own test vectors. */
	static const uint8_t want[HASH_SIZE] = {
		0x99, 0xaa, 0x06, 0xd3, 0x01, 0x47, 0x98, 0xd8,
		0x60, 0x01, 0xc3, 0x24, 0x46, 0x8d, 0x49, 0x7f,
	};
	uint8_t got[HASH_SIZE];
	struct hash_state *h = hash_new();

	ck_assert_ptr_nonnull(h);
	hash_final(h, got);
	ck_assert_mem_eq(got, want, HASH_SIZE);
}
END_TEST

START_TEST(pieces_of_any_size_give_the_one_shot_hash)
{
	const size_t max = 3 * 1024 * 1024 + 17;
	uint8_t *b = noise(max);
	uint32_t x = 88172645u;

	for (int t = 0; t < 600; t++) {
		/* Every length up to 300 (the short-input paths), then random. */
		size_t len = t < 300 ? (size_t)t : (x = x * 1103515245u + 12345u) % max;
		uint8_t got[HASH_SIZE], want[HASH_SIZE];
		struct hash_state *h = hash_new();
		size_t off = 0;

		ck_assert_ptr_nonnull(h);
		while (off < len) {
			size_t k = 1 + (x = x * 1103515245u + 12345u) % 70000;

			if (k > len - off)
				k = len - off;
			hash_update(h, b + off, k);
			off += k;
		}
		hash_final(h, got);
		reference(b, len, want);
		ck_assert_msg(memcmp(got, want, HASH_SIZE) == 0,
		    "length %zu: the hash in pieces differs from XXH3-128", len);
	}
	free(b);
}
END_TEST

START_TEST(digest_goes_on_and_zeros_are_zero_bytes)
{
	const size_t n = 200000;
	uint8_t *z = calloc(1, n), mid[HASH_SIZE], got[HASH_SIZE];
	uint8_t want[HASH_SIZE];
	struct hash_state *h = hash_new();

	ck_assert_ptr_nonnull(z);
	ck_assert_ptr_nonnull(h);
	hash_zeros(h, 1000);
	hash_digest(h, mid);
	reference(z, 1000, want);
	ck_assert_mem_eq(mid, want, HASH_SIZE);
	hash_zeros(h, n - 1000);
	hash_final(h, got);
	reference(z, n, want);
	ck_assert_mem_eq(got, want, HASH_SIZE);
	free(z);
}
END_TEST

START_TEST(a_file_hashes_as_its_bytes)
{
	const size_t n = 600 * 1024 + 3;	/* more than hash_fd's buffer */
	uint8_t *b = noise(n), got[HASH_SIZE], want[HASH_SIZE];
	char path[sizeof(base) + 8];
	int fd;

	snprintf(path, sizeof(path), "%s/f", base);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, b, n), (ssize_t)n);
	ck_assert_int_eq(hash_fd(fd, got), 0);
	reference(b, n, want);
	ck_assert_mem_eq(got, want, HASH_SIZE);
	close(fd);
	free(b);
}
END_TEST

static Suite *
hash_suite(void)
{
	Suite *s = suite_create("hash");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, empty_is_the_published_value);
	tcase_add_test(tc, pieces_of_any_size_give_the_one_shot_hash);
	tcase_add_test(tc, digest_goes_on_and_zeros_are_zero_bytes);
	tcase_add_test(tc, a_file_hashes_as_its_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_main(hash_suite(), base);
}
