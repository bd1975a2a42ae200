/* test_delta: signatures, deltas and patches round-trip, and bad deltas are refused. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "delta.h"
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
	ck_assert(memcmp(out.data, new, n) == 0);
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

START_TEST(copy_past_basis_refused)
{
	/* RS_DELTA_MAGIC, then COPY (0x45: u8 position, u8 length) 200 at 250. */
	static const uint8_t bad[] = { 0x72, 0x73, 0x02, 0x36, 0x45, 250, 200,
	    0x00 };
	uint8_t old[100];
	struct buf out;
	struct delta_job *j;
	char err[256] = "";
	int fd;

	fill_random(old, sizeof(old), 7);
	fd = basis_file(old, sizeof(old));
	buf_init(&out);
	j = delta_patch_begin(fd);
	ck_assert_int_eq(feed_all(j, bad, sizeof(bad), sizeof(bad), &out, err),
	    -1);
	ck_assert_str_ne(err, "");
	ck_assert_uint_eq(out.len, 0);
	delta_free(j);
	close(fd);
	buf_release(&out);
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
	tcase_add_test(tc, garbage_signature_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_main(delta_suite(), base);
}
