/* test_delta: signatures, deltas and patches round-trip, and bad signatures and deltas are refused. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "delta.h"
#include "delta_impl.h"
#include "unit.h"

static char base[] = "/tmp/test_delta.XXXXXX";

#define OLD_SIZE (1024 * 1024)

static void
fill_random(uint8_t *p, size_t n, unsigned seed)
{
	srandom(seed);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)random();
}

/* A basis file holding n bytes of p; returns its fd. */
static int
basis_file(const uint8_t *p, size_t n)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "%s/basis", base);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
	return fd;
}

static int
append(void *arg, const void *p, size_t n)
{
	return buf_put(arg, p, n) == 0 ? 0 : -1;
}

/* Feeds all of in to j in pieces of step bytes, then eof; the result. */
static int
feed_all(struct delta_job *j, const uint8_t *in, size_t n, size_t step,
    struct buf *out, char *err)
{
	int r = 0;

	for (size_t off = 0; off < n && r != -1; off += step)
		r = delta_feed(j, in + off, n - off < step ? n - off : step, 0,
		    append, out, err, 256);
	if (r == -1)
		return -1;
	return delta_feed(j, NULL, 0, 1, append, out, err, 256);
}

/* The delta of new against the signature of the basis fd. */
static void
make_delta(int fd, uint64_t old_size, const uint8_t *new, size_t n,
    struct buf *delta)
{
	struct buf sig;
	struct delta_job *j;
	struct delta_sig *s;
	char err[256];

	buf_init(&sig);
	ck_assert_int_eq(delta_signature(fd, old_size, append, &sig, err,
	    sizeof(err)), 0);
	ck_assert_uint_le(sig.len, delta_sig_size(old_size) + 64);
	j = delta_load_begin();
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(feed_all(j, sig.data, sig.len, 1000, NULL, err), 1);
	s = delta_load_end(j, err, sizeof(err));
	ck_assert_msg(s != NULL, "%s", err);
	j = delta_encode_begin(s);
	ck_assert_int_eq(feed_all(j, new, n, 100000, delta, err), 1);
	delta_free(j);
	delta_sig_free(s);
	buf_release(&sig);
}

/*
 * Round trip: the delta of new (n bytes) against old (OLD_SIZE), patched
 * in pieces of step bytes, gives new back exactly. The delta's size.
 */
static size_t
round_trip(const uint8_t *old, const uint8_t *new, size_t n, size_t step)
{
	struct buf delta, out;
	struct delta_job *j;
	char err[256];
	size_t len;
	int fd = basis_file(old, OLD_SIZE);

	buf_init(&delta);
	buf_init(&out);
	make_delta(fd, OLD_SIZE, new, n, &delta);
	j = delta_patch_begin(fd);
	ck_assert_int_eq(feed_all(j, delta.data, delta.len, step, &out, err),
	    1);
	ck_assert_uint_eq(out.len, n);
	ck_assert(n == 0 || memcmp(out.data, new, n) == 0);
	len = delta.len;
	delta_free(j);
	close(fd);
	buf_release(&delta);
	buf_release(&out);
	return len;
}

START_TEST(small_change_small_delta)
{
	uint8_t *old = malloc(OLD_SIZE), *new = malloc(OLD_SIZE + 10);

	fill_random(old, OLD_SIZE, 1);
	memcpy(new, old, OLD_SIZE);
	fill_random(new + 500000, 4096, 2);	/* 4 KiB changed */
	memcpy(new + OLD_SIZE, "0123456789", 10);	/* and appended */
	ck_assert_uint_lt(round_trip(old, new, OLD_SIZE + 10, 7), 32 * 1024);
	free(old);
	free(new);
}
END_TEST

START_TEST(unrelated_basis_still_exact)
{
	uint8_t *old = malloc(OLD_SIZE), *new = malloc(OLD_SIZE / 2);

	fill_random(old, OLD_SIZE, 3);
	fill_random(new, OLD_SIZE / 2, 4);
	round_trip(old, new, OLD_SIZE / 2, 65536);
	free(old);
	free(new);
}
END_TEST

/* Patches a delta with one byte changed, or cut short: never a silent success. */
static void
patch_damaged(size_t cut, long flip)
{
	uint8_t *old = malloc(OLD_SIZE), *new = malloc(OLD_SIZE);
	struct buf delta, out;
	struct delta_job *j;
	char err[256] = "";
	int fd, r;

	fill_random(old, OLD_SIZE, 5);
	memcpy(new, old, OLD_SIZE);
	fill_random(new + 1000, 100, 6);
	fd = basis_file(old, OLD_SIZE);
	buf_init(&delta);
	buf_init(&out);
	make_delta(fd, OLD_SIZE, new, OLD_SIZE, &delta);
	if (flip >= 0)
		delta.data[flip] ^= 0xff;
	j = delta_patch_begin(fd);
	r = feed_all(j, delta.data, delta.len - cut, 64, &out, err);
	/* Damage is caught here, or by the length and hash checks after. */
	ck_assert(r == -1 || out.len != OLD_SIZE ||
	    memcmp(out.data, new, OLD_SIZE) != 0);
	if (r == -1)
		ck_assert_str_ne(err, "");
	delta_free(j);
	close(fd);
	buf_release(&delta);
	buf_release(&out);
	free(old);
	free(new);
}

START_TEST(truncated_delta_refused)
{
	patch_damaged(1, -1);
	patch_damaged(10, -1);
}
END_TEST

START_TEST(bad_magic_refused)
{
	patch_damaged(0, 0);
}
END_TEST

/* Patches bad (a whole delta) over a 100-byte basis: refused, nothing made, err names why. */
static void
patch_refused(const uint8_t *bad, size_t n, const char *why)
{
	uint8_t old[100];
	struct buf out;
	struct delta_job *j;
	char err[256] = "";
	int fd;

	fill_random(old, sizeof(old), 7);
	fd = basis_file(old, sizeof(old));
	buf_init(&out);
	j = delta_patch_begin(fd);
	ck_assert_int_eq(feed_all(j, bad, n, n, &out, err), -1);
	ck_assert_msg(strstr(err, why) != NULL, "%s", err);
	delta_free(j);
	close(fd);
	buf_release(&out);
}

#define MAGIC 'M', 'F', 'D', '1'

START_TEST(copy_past_basis_refused)
{
	/* 'C' of 200 bytes from 50, 'E' 200. */
	static const uint8_t bad[] = { MAGIC, 'C', 0, 0, 0, 0, 0, 0, 0, 50,
	    0, 0, 0, 0, 0, 0, 0, 200, 'E', 0, 0, 0, 0, 0, 0, 0, 200 };

	patch_refused(bad, sizeof(bad), "outside the old version's 100 bytes");
}
END_TEST

START_TEST(bad_commands_refused)
{
	static const uint8_t unknown[] = { MAGIC, 'X' };
	static const uint8_t empty_literal[] = { MAGIC, 'L', 0, 0, 0, 0 };
	static const uint8_t huge_literal[] = { MAGIC, 'L', 0, 0x20, 0, 0 };
	static const uint8_t wrong_end[] = { MAGIC, 'L', 0, 0, 0, 1, 'x',
	    'E', 0, 0, 0, 0, 0, 0, 0, 2 };
	static const uint8_t after_end[] = { MAGIC, 'E', 0, 0, 0, 0, 0, 0, 0,
	    0, 'L' };

	patch_refused(unknown, sizeof(unknown), "unknown command 0x58");
	patch_refused(empty_literal, sizeof(empty_literal), "a literal of 0");
	patch_refused(huge_literal, sizeof(huge_literal), "a literal of "
	    "2097152");
	patch_refused(wrong_end, sizeof(wrong_end), "says 2 bytes, it made 1");
	patch_refused(after_end, sizeof(after_end), "after the end");
}
END_TEST

/* An unchanged file is copies only; one moved or grown at its start still is, nearly. */
START_TEST(unchanged_and_shifted_files_are_copies)
{
	uint8_t *old = malloc(OLD_SIZE), *new = malloc(OLD_SIZE + 3);

	fill_random(old, OLD_SIZE, 11);
	ck_assert_uint_lt(round_trip(old, old, OLD_SIZE, 4096), 64);
	memcpy(new, "abc", 3);
	memcpy(new + 3, old, OLD_SIZE);
	ck_assert_uint_lt(round_trip(old, new, OLD_SIZE + 3, 100000), 64);
	/* The halves swapped: two copies and the end. */
	memcpy(new, old + OLD_SIZE / 2, OLD_SIZE / 2);
	memcpy(new + OLD_SIZE / 2, old, OLD_SIZE / 2);
	ck_assert_uint_lt(round_trip(old, new, OLD_SIZE, 65536), 128);
	/* Cut short: all but the short tail is copied. */
	ck_assert_uint_lt(round_trip(old, old, OLD_SIZE - 1000, 7777), 2048);
	/* Empty. */
	ck_assert_uint_lt(round_trip(old, old, 0, 1), 16);
	free(old);
	free(new);
}
END_TEST

/* A basis whose size is no multiple of the block: its short last block is found too. */
START_TEST(short_last_block_found)
{
	size_t n = 300000 + 123;
	uint8_t *old = malloc(n);
	struct buf delta, out;
	struct delta_job *j;
	char err[256];
	int fd;

	fill_random(old, n, 12);
	fd = basis_file(old, n);
	buf_init(&delta);
	buf_init(&out);
	make_delta(fd, n, old, n, &delta);
	ck_assert_uint_lt(delta.len, 64);	/* one copy of it all */
	j = delta_patch_begin(fd);
	ck_assert_int_eq(feed_all(j, delta.data, delta.len, 3, &out, err), 1);
	ck_assert_uint_eq(out.len, n);
	ck_assert(memcmp(out.data, old, n) == 0);
	delta_free(j);
	close(fd);
	buf_release(&delta);
	buf_release(&out);
	free(old);
}
END_TEST

/*
 * The weak sum, as the formats define it (rsync's: a = the sum of x + 31,
 * b = the sum of (n - i) (x[i] + 31)), against the fast one, for every
 * length around the 16-byte steps and at odd offsets; rolled, it stays
 * the sum of the window it moved to.
 */
START_TEST(rolling_sum_is_the_formats)
{
	uint8_t p[5000];
	struct rollsum r, fresh;

	fill_random(p, sizeof(p), 15);
	memset(p + 4000, 0xff, 1000);	/* the largest bytes too */
	for (size_t n = 0; n < 300; n++)
		for (size_t off = 0; off < 3; off++) {
			uint32_t a = 0, b = 0;

			for (size_t i = 0; i < n; i++) {
				a += p[off + i] + 31u;
				b += (uint32_t)(n - i) * (p[off + i] + 31u);
			}
			rollsum_init(&r, p + off, n);
			ck_assert_uint_eq(r.a, a);
			ck_assert_uint_eq(r.b, b);
		}
	rollsum_init(&r, p, 1024);
	for (size_t k = 0; k + 1024 < sizeof(p); k++) {
		rollsum_roll(&r, p[k], p[k + 1024]);
		if (k % 97 == 0 || k + 1025 == sizeof(p)) {
			rollsum_init(&fresh, p + k + 1, 1024);
			ck_assert_uint_eq(rollsum_value(&r), rollsum_value(&fresh));
		}
	}
}
END_TEST

/* Loads sig (n bytes): 0, or -1 with the reason in err. */
static int
load_sig(const uint8_t *sig, size_t n, char *err, struct delta_sig **out)
{
	struct delta_job *j = delta_load_begin();

	*out = NULL;
	if (feed_all(j, sig, n, 13, NULL, err) != 1) {
		delta_free(j);
		return -1;
	}
	*out = delta_load_end(j, err, 256);
	return *out == NULL ? -1 : 0;
}

START_TEST(bad_signatures_refused)
{
	uint8_t *old = malloc(OLD_SIZE);
	struct delta_sig *s;
	struct buf sig;
	char err[256];
	int fd;

	fill_random(old, OLD_SIZE, 13);
	fd = basis_file(old, OLD_SIZE);
	buf_init(&sig);
	ck_assert_int_eq(delta_signature(fd, OLD_SIZE, append, &sig, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(sig.len, delta_sig_size(OLD_SIZE));
	ck_assert_int_eq(load_sig(sig.data, sig.len, err, &s), 0);
	delta_sig_free(s);
	ck_assert_int_eq(load_sig(sig.data, sig.len - 12, err, &s), -1);
	ck_assert_msg(strstr(err, "ended early") != NULL, "%s", err);
	ck_assert_int_eq(load_sig(sig.data, sig.len - 5, err, &s), -1);
	ck_assert_int_eq(buf_put(&sig, sig.data + 24, 12), 0);
	ck_assert_int_eq(load_sig(sig.data, sig.len, err, &s), -1);
	ck_assert_msg(strstr(err, "more than the") != NULL, "%s", err);
	sig.data[7] = 7;	/* a block length outside 1024 to 128 KiB */
	sig.data[6] = 0;
	ck_assert_int_eq(load_sig(sig.data, sig.len, err, &s), -1);
	ck_assert_msg(strstr(err, "7-byte blocks") != NULL, "%s", err);
	/* The basis shrank under the signature. */
	buf_reset(&sig);
	ck_assert_int_eq(delta_signature(fd, OLD_SIZE + 1, append, &sig, err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "shrank") != NULL, "%s", err);
	close(fd);
	buf_release(&sig);
	free(old);
}
END_TEST

/*
 * A signature whose every block claims the weak sum of a window of
 * zeros (and a strong sum of no block): searching zeros against it hits
 * at every byte. The search gives up hashing and the delta stays exact.
 */
START_TEST(crafted_signature_costs_little)
{
	size_t blocks = OLD_SIZE / 1024, n = 8 * 1024 * 1024;
	uint8_t *zeros = calloc(1, n), *old = malloc(OLD_SIZE);
	struct buf sig, delta, out;
	struct delta_sig *s;
	struct delta_job *j;
	struct rollsum rs;
	char err[256];
	int fd;

	fill_random(old, OLD_SIZE, 14);
	fd = basis_file(old, OLD_SIZE);
	buf_init(&sig);
	buf_init(&delta);
	buf_init(&out);
	rollsum_init(&rs, zeros, 1024);
	ck_assert_int_eq(buf_put_u32(&sig, 0x4d465331) || buf_put_u32(&sig,
	    1024) || buf_put_u64(&sig, OLD_SIZE) || buf_put_u64(&sig, 1), 0);
	for (size_t k = 0; k < blocks; k++)
		ck_assert_int_eq(buf_put_u32(&sig, rollsum_value(&rs)) ||
		    buf_put_u64(&sig, k), 0);
	ck_assert_int_eq(load_sig(sig.data, sig.len, err, &s), 0);
	j = delta_encode_begin(s);
	ck_assert_int_eq(feed_all(j, zeros, n, 1 << 20, &delta, err), 1);
	/*
	 * It hashed in vain up to its budget (16 MiB and four times what came
	 * in), one window past it at most, and then no more.
	 */
	ck_assert_uint_ge(delta_encode_false_alarms(j), 16u << 20);
	ck_assert_uint_le(delta_encode_false_alarms(j),
	    (16u << 20) + 4 * (uint64_t)n + 1024);
	delta_free(j);
	j = delta_patch_begin(fd);
	ck_assert_int_eq(feed_all(j, delta.data, delta.len, 65536, &out, err),
	    1);
	ck_assert_uint_eq(out.len, n);
	ck_assert(memcmp(out.data, zeros, n) == 0);
	delta_free(j);
	delta_sig_free(s);
	close(fd);
	buf_release(&sig);
	buf_release(&delta);
	buf_release(&out);
	free(zeros);
	free(old);
}
END_TEST

START_TEST(garbage_signature_refused)
{
	uint8_t junk[4096];
	struct delta_job *j;
	char err[256] = "";

	fill_random(junk, sizeof(junk), 8);
	j = delta_load_begin();
	ck_assert_int_eq(feed_all(j, junk, sizeof(junk), 512, NULL, err), -1);
	ck_assert_ptr_null(delta_load_end(j, err, sizeof(err)));
	ck_assert_str_ne(err, "");
}
END_TEST

static Suite *
delta_suite(void)
{
	Suite *s = suite_create("delta");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, small_change_small_delta);
	tcase_add_test(tc, unrelated_basis_still_exact);
	tcase_add_test(tc, truncated_delta_refused);
	tcase_add_test(tc, bad_magic_refused);
	tcase_add_test(tc, copy_past_basis_refused);
	tcase_add_test(tc, bad_commands_refused);
	tcase_add_test(tc, unchanged_and_shifted_files_are_copies);
	tcase_add_test(tc, short_last_block_found);
	tcase_add_test(tc, rolling_sum_is_the_formats);
	tcase_add_test(tc, bad_signatures_refused);
	tcase_add_test(tc, crafted_signature_costs_little);
	tcase_add_test(tc, garbage_signature_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_main(delta_suite(), base);
}
