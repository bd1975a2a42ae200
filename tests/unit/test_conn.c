/* Unit tests for conn.h: framed message I/O over a socketpair. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"

/*
 * CHECK_EQ records nothing unless it fails: ck_assert_* logs every passing
 * check too, which makes loops of 100k checks take seconds.
 */
#define CHECK_EQ(a, b) do {						\
	if ((a) != (b))							\
		ck_abort_msg("%s:%d: %s != %s", __FILE__, __LINE__, #a, #b);\
} while (0)

/* Two ends of a socketpair: tx writes, rx reads (each owns one fd). */
static struct conn tx, rx;

static void
setup(void)
{
	int sv[2];

	log_init("test_conn", LOG_ERROR);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
	    0);
	ck_assert_int_eq(conn_init(&tx, sv[0], sv[0], "tx"), 0);
	ck_assert_int_eq(conn_init(&rx, sv[1], sv[1], "rx"), 0);
}

static void
teardown(void)
{
	conn_release(&tx);
	conn_release(&rx);
}

/* Closes the sending end entirely so that rx sees end of stream. */
static void
close_tx(void)
{
	conn_release(&tx);
}

/* Writes n raw bytes to the socket behind tx. */
static void
write_raw(const void *p, size_t n)
{
	ck_assert_int_eq(write(tx.wfd, p, n), (ssize_t)n);
}

START_TEST(test_small_round_trip)
{
	uint8_t type;
	const uint8_t *p;
	size_t len;

	ck_assert_int_eq(conn_send(&tx, 7, "hello", 5), 0);
	ck_assert_int_eq(conn_send(&tx, 8, NULL, 0), 0);
	ck_assert_int_eq(conn_send(&tx, 255, "x", 1), 0);
	ck_assert_int_eq(conn_flush(&tx), 0);

	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 7);
	ck_assert_uint_eq(len, 5);
	ck_assert_mem_eq(p, "hello", 5);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 8);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 255);
	ck_assert_uint_eq(len, 1);
	ck_assert_mem_eq(p, "x", 1);
	ck_assert_uint_eq(tx.bytes_out, 3 * 5 + 5 + 0 + 1);
	ck_assert_uint_eq(rx.bytes_in, tx.bytes_out);
}
END_TEST

START_TEST(test_wire_layout)
{
	static const uint8_t want[] = { 0, 0, 0, 4, 0x42, 'a', 'b', 'c' };
	uint8_t got[sizeof(want)];

	ck_assert_int_eq(conn_send(&tx, 0x42, "abc", 3), 0);
	ck_assert_int_eq(conn_flush(&tx), 0);
	ck_assert_int_eq(read(rx.rfd, got, sizeof(got)), (ssize_t)sizeof(got));
	ck_assert_mem_eq(got, want, sizeof(want));
}
END_TEST

/* Sends n frames of growing sizes from another thread. */
struct sender_arg {
	struct conn *c;
	uint8_t *payload;
	size_t len;
	int frames;
	int rc;
};

static void *
sender_main(void *p)
{
	struct sender_arg *a = p;

	a->rc = 0;
	for (int i = 0; i < a->frames && a->rc == 0; i++)
		a->rc = conn_send(a->c, (uint8_t)(i + 1), a->payload, a->len);
	if (a->rc == 0)
		a->rc = conn_flush(a->c);
	return NULL;
}

START_TEST(test_1mib_round_trip)
{
	struct sender_arg a;
	pthread_t th;
	uint8_t type;
	const uint8_t *p;
	size_t len, i;

	a.c = &tx;
	a.len = 1024 * 1024;
	a.frames = 3;
	a.payload = malloc(a.len);
	ck_assert_ptr_nonnull(a.payload);
	for (i = 0; i < a.len; i++)
		a.payload[i] = (uint8_t)(i * 131 + (i >> 12));
	ck_assert_int_eq(pthread_create(&th, NULL, sender_main, &a), 0);
	for (int f = 0; f < a.frames; f++) {
		ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
		ck_assert_uint_eq(type, (unsigned)f + 1);
		ck_assert_uint_eq(len, a.len);
		ck_assert_int_eq(memcmp(p, a.payload, len), 0);
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(a.rc, 0);
	free(a.payload);
}
END_TEST

START_TEST(test_largest_frame)
{
	struct sender_arg a;
	pthread_t th;
	uint8_t type;
	const uint8_t *p;
	size_t len;

	/* The largest payload allowed: type byte + payload == CONN_MAX_FRAME. */
	a.c = &tx;
	a.len = CONN_MAX_FRAME - 1;
	a.frames = 2;
	a.payload = malloc(a.len);
	ck_assert_ptr_nonnull(a.payload);
	memset(a.payload, 0x5a, a.len);
	ck_assert_int_eq(pthread_create(&th, NULL, sender_main, &a), 0);
	for (int f = 0; f < a.frames; f++) {
		ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
		ck_assert_uint_eq(len, a.len);
		ck_assert_int_eq(memcmp(p, a.payload, len), 0);
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(a.rc, 0);
	free(a.payload);
}
END_TEST

/* Sends small, large, small frames: queued and direct writes interleave. */
static void *
mixed_main(void *p)
{
	struct sender_arg *a = p;

	a->rc = conn_send(a->c, 1, "first", 5) ||
	    conn_send(a->c, 2, a->payload, a->len) ||
	    conn_send(a->c, 3, "third", 5) ||
	    conn_send(a->c, 4, a->payload, 1000) ||
	    conn_send(a->c, 5, a->payload, a->len) ||
	    conn_flush(a->c);
	return NULL;
}

START_TEST(test_mixed_sizes_keep_order)
{
	struct sender_arg a;
	pthread_t th;
	uint8_t type;
	const uint8_t *p;
	size_t len;

	a.c = &tx;
	a.len = 200 * 1024;
	a.payload = malloc(a.len);
	ck_assert_ptr_nonnull(a.payload);
	for (size_t i = 0; i < a.len; i++)
		a.payload[i] = (uint8_t)(i % 251);
	ck_assert_int_eq(pthread_create(&th, NULL, mixed_main, &a), 0);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 1);
	ck_assert_uint_eq(len, 5);
	ck_assert_mem_eq(p, "first", 5);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 2);
	ck_assert_uint_eq(len, a.len);
	ck_assert_int_eq(memcmp(p, a.payload, len), 0);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 3);
	ck_assert_mem_eq(p, "third", 5);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 4);
	ck_assert_uint_eq(len, 1000);
	ck_assert_int_eq(memcmp(p, a.payload, len), 0);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 5);
	ck_assert_uint_eq(len, a.len);
	ck_assert_int_eq(memcmp(p, a.payload, len), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_uint_eq(rx.bytes_in, tx.bytes_out);
	free(a.payload);
}
END_TEST

START_TEST(test_send_oversized_refused)
{
	size_t n = CONN_MAX_FRAME;
	uint8_t *big = calloc(1, n);

	ck_assert_ptr_nonnull(big);
	ck_assert_int_eq(conn_send(&tx, 1, big, n), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_uint_eq(tx.bytes_out, 0);
	free(big);
}
END_TEST

START_TEST(test_many_small_frames)
{
	struct sender_arg a;
	pthread_t th;
	uint8_t type;
	const uint8_t *p;
	size_t len;
	uint8_t payload[100];

	/* Enough frames to fill and refill both the write and read buffers. */
	memset(payload, 0xa5, sizeof(payload));
	a.c = &tx;
	a.len = sizeof(payload);
	a.payload = payload;
	a.frames = 50000;
	CHECK_EQ(pthread_create(&th, NULL, sender_main, &a), 0);
	for (int f = 0; f < a.frames; f++) {
		CHECK_EQ(conn_recv(&rx, &type, &p, &len), 1);
		CHECK_EQ(type, (uint8_t)(f + 1));
		CHECK_EQ(len, sizeof(payload));
		CHECK_EQ(memcmp(p, payload, len), 0);
	}
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(a.rc, 0);
	close_tx();
	CHECK_EQ(conn_recv(&rx, &type, &p, &len), 0);
}
END_TEST

START_TEST(test_recv_oversized_header)
{
	static const uint8_t hdr[] = { 0x7f, 0xff, 0xff, 0xff, 1 };
	uint8_t type;
	const uint8_t *p;
	size_t len;

	/* Only the header: the frame must be refused without waiting for it. */
	write_raw(hdr, sizeof(hdr));
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), -1);
}
END_TEST

START_TEST(test_recv_just_over_limit)
{
	uint32_t n = CONN_MAX_FRAME + 1;
	uint8_t hdr[5] = { n >> 24, n >> 16, n >> 8, n, 1 };
	uint8_t type;
	const uint8_t *p;
	size_t len;

	write_raw(hdr, sizeof(hdr));
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), -1);
}
END_TEST

START_TEST(test_recv_zero_length_frame)
{
	static const uint8_t hdr[] = { 0, 0, 0, 0 };
	uint8_t type;
	const uint8_t *p;
	size_t len;

	/* A frame must hold at least its type byte. */
	write_raw(hdr, sizeof(hdr));
	close_tx();
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), -1);
}
END_TEST

START_TEST(test_eof_mid_header)
{
	static const uint8_t hdr[] = { 0, 0 };
	uint8_t type;
	const uint8_t *p;
	size_t len;

	write_raw(hdr, sizeof(hdr));
	close_tx();
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), -1);
}
END_TEST

START_TEST(test_eof_mid_payload)
{
	static const uint8_t frame[] = { 0, 0, 0, 10, 3, 'a', 'b' };
	uint8_t type;
	const uint8_t *p;
	size_t len;

	write_raw(frame, sizeof(frame));
	close_tx();
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), -1);
}
END_TEST

START_TEST(test_eof_after_frames)
{
	uint8_t type;
	const uint8_t *p;
	size_t len;

	ck_assert_int_eq(conn_send(&tx, 1, "a", 1), 0);
	ck_assert_int_eq(conn_send(&tx, 2, "bb", 2), 0);
	ck_assert_int_eq(conn_flush(&tx), 0);
	close_tx();
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 1);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 2);
	ck_assert_mem_eq(p, "bb", 2);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 0);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 0);
}
END_TEST

START_TEST(test_clean_eof)
{
	uint8_t type;
	const uint8_t *p;
	size_t len;

	close_tx();
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 0);
}
END_TEST

static void *
late_byte_main(void *p)
{
	static const uint8_t last = 'o';

	usleep(50000);
	if (write(*(int *)p, &last, 1) != 1)
		return (void *)1;
	return NULL;
}

START_TEST(test_split_writes)
{
	static const uint8_t frame[] = { 0, 0, 0, 6, 9, 'h', 'e', 'l', 'l' };
	pthread_t th;
	void *ret;
	uint8_t type;
	const uint8_t *p;
	size_t len;

	/* All but the last byte now; the read must wait for the rest. */
	write_raw(frame, sizeof(frame));
	ck_assert_int_eq(pthread_create(&th, NULL, late_byte_main, &tx.wfd), 0);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_int_eq(pthread_join(th, &ret), 0);
	ck_assert_ptr_null(ret);
	ck_assert_uint_eq(type, 9);
	ck_assert_uint_eq(len, 5);
	ck_assert_mem_eq(p, "hello", 5);
}
END_TEST

START_TEST(test_release_closes_fds)
{
	int sv[2];
	struct conn c;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(conn_init(&c, sv[0], sv[0], "peer"), 0);
	conn_release(&c);
	errno = 0;
	ck_assert_int_eq(fcntl(sv[0], F_GETFD), -1);
	ck_assert_int_eq(errno, EBADF);
	close(sv[1]);
}
END_TEST

/* ---- compression (conn_compress) ------------------------------------ */

/* Pseudo-random bytes, the same for the same seed. */
static void
fill_random(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

#define SRC_SIZE (CONN_MAX_FRAME - 1)

/*
 * The source every frame is a slice of: half random, half text-like runs,
 * so that frames compress well, badly or not at all.
 */
static uint8_t *
make_source(void)
{
	uint8_t *src = malloc(SRC_SIZE);

	ck_assert_ptr_nonnull(src);
	fill_random(src, SRC_SIZE / 2, 7);
	for (size_t i = SRC_SIZE / 2; i < SRC_SIZE; i++)
		src[i] = (uint8_t)("mirrorfs compresses "[i % 20] + (i >> 16));
	return src;
}

/* The length and start in the source of frame i of a mixed run. */
static void
mixed_frame(int i, const uint8_t *src, const uint8_t **p, size_t *len)
{
	uint32_t x = (uint32_t)i * 2246822519u + 3266489917u;

	if (i == 500)
		*len = SRC_SIZE;		/* the largest frame there is */
	else if (i % 50 == 7)
		*len = 1024 * 1024 - (x % 65536);	/* about 1 MiB */
	else if (i % 10 == 3)
		*len = 64 * 1024 + x % (64 * 1024);	/* around the direct size */
	else
		*len = x % 3000;			/* small, sometimes empty */
	*p = src + (x % (SRC_SIZE - *len + 1));
}

struct mixed_arg {
	struct conn *c;
	const uint8_t *src;
	int frames;
	int rc;
};

static void *
mixed_sender_main(void *arg)
{
	struct mixed_arg *a = arg;
	const uint8_t *p;
	size_t len;

	a->rc = 0;
	for (int i = 0; i < a->frames && a->rc == 0; i++) {
		mixed_frame(i, a->src, &p, &len);
		a->rc = conn_send(a->c, (uint8_t)i, p, len);
	}
	if (a->rc == 0)
		a->rc = conn_flush(a->c);
	return NULL;
}

START_TEST(test_compress_1000_mixed_frames)
{
	struct mixed_arg a;
	pthread_t th;
	uint8_t type;
	const uint8_t *p, *want;
	size_t len, wantlen;
	uint64_t total = 0;

	ck_assert_int_eq(conn_compress(&tx, 3), 0);
	ck_assert_int_eq(conn_compress(&rx, 3), 0);
	a.c = &tx;
	a.src = make_source();
	a.frames = 1000;
	CHECK_EQ(pthread_create(&th, NULL, mixed_sender_main, &a), 0);
	for (int i = 0; i < a.frames; i++) {
		mixed_frame(i, a.src, &want, &wantlen);
		if (conn_recv(&rx, &type, &p, &len) != 1)
			ck_abort_msg("frame %d not received", i);
		if (type != (uint8_t)i || len != wantlen ||
		    (len > 0 && memcmp(p, want, len) != 0))
			ck_abort_msg("frame %d: type %u len %zu, expected %zu",
			    i, type, len, wantlen);
		total += len + 5;
	}
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(a.rc, 0);
	/* Both count the compressed bytes, which are fewer. */
	ck_assert_uint_eq(rx.bytes_in, tx.bytes_out);
	ck_assert_uint_lt(tx.bytes_out, total);
	close_tx();
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 0);
	free((void *)a.src);
}
END_TEST

START_TEST(test_compress_zeros)
{
	static uint8_t zeros[256 * 1024];
	struct sender_arg a;
	pthread_t th;
	uint8_t type;
	const uint8_t *p;
	size_t len;

	ck_assert_int_eq(conn_compress(&tx, 1), 0);
	ck_assert_int_eq(conn_compress(&rx, 1), 0);
	a.c = &tx;
	a.payload = zeros;
	a.len = sizeof(zeros);
	a.frames = 40;		/* 10 MiB */
	ck_assert_int_eq(pthread_create(&th, NULL, sender_main, &a), 0);
	for (int f = 0; f < a.frames; f++) {
		CHECK_EQ(conn_recv(&rx, &type, &p, &len), 1);
		CHECK_EQ(type, (uint8_t)(f + 1));
		CHECK_EQ(len, sizeof(zeros));
		CHECK_EQ(memcmp(p, zeros, len), 0);
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(a.rc, 0);
	ck_assert_uint_lt(tx.bytes_out, (uint64_t)a.frames * a.len / 100);
	ck_assert_uint_eq(rx.bytes_in, tx.bytes_out);
}
END_TEST

/*
 * Many small frames that compress well (a session's report), sent whole
 * and the stream closed before the reader starts: a read then decodes to
 * more than the frame buffer holds, and zstd keeps what did not fit
 * though it took all its input. Tried at many lengths, so that the
 * stream's last block comes at every place in the buffer: each run reads
 * every frame, then the end.
 */
START_TEST(test_compress_report_read_after_close)
{
	char item[64];
	uint8_t type;
	const uint8_t *p;
	size_t len;

	for (int n = 36000; n < 56000; n += 997) {
		ck_assert_int_eq(conn_compress(&tx, 3), 0);
		ck_assert_int_eq(conn_compress(&rx, 3), 0);
		for (int f = 0; f < n; f++) {
			len = (size_t)snprintf(item, sizeof(item),
			    "d%02d/s%02d/f%04d created", f / 2000, f / 100 % 20,
			    f % 10000);
			CHECK_EQ(conn_send(&tx, 12, item, len), 0);
		}
		ck_assert_int_eq(conn_flush(&tx), 0);
		close_tx();
		for (int f = 0; f < n; f++)
			if (conn_recv(&rx, &type, &p, &len) != 1)
				ck_abort_msg("%d frames: frame %d not read", n,
				    f);
		ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 0);
		teardown();
		setup();
	}
}
END_TEST

START_TEST(test_compress_corrupt_input)
{
	uint8_t junk[4096];
	uint8_t type;
	const uint8_t *p;
	size_t len;

	ck_assert_int_eq(conn_compress(&rx, 3), 0);
	fill_random(junk, sizeof(junk), 99);
	write_raw(junk, sizeof(junk));
	errno = 0;
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), -1);
	ck_assert_int_eq(errno, EPROTO);
	ck_assert_msg(strstr(log_last(), "rx") != NULL, "message '%s'",
	    log_last());
}
END_TEST

START_TEST(test_compress_corrupt_after_good)
{
	uint8_t buf[8192], junk[64];
	uint8_t type;
	const uint8_t *p;
	size_t len;
	ssize_t n;
	int sv[2];
	struct conn enc;

	/* A good compressed frame, then the stream goes bad. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(conn_init(&enc, sv[0], sv[0], "enc"), 0);
	ck_assert_int_eq(conn_compress(&enc, 3), 0);
	ck_assert_int_eq(conn_send(&enc, 1, "good frame", 10), 0);
	ck_assert_int_eq(conn_flush(&enc), 0);
	n = read(sv[1], buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	conn_release(&enc);
	close(sv[1]);

	ck_assert_int_eq(conn_compress(&rx, 3), 0);
	write_raw(buf, (size_t)n);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 1);
	ck_assert_mem_eq(p, "good frame", 10);
	memset(junk, 0xff, sizeof(junk));
	write_raw(junk, sizeof(junk));
	errno = 0;
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), -1);
	ck_assert_int_eq(errno, EPROTO);
}
END_TEST

START_TEST(test_compress_plain_into_compressed)
{
	uint8_t type;
	const uint8_t *p;
	size_t len;

	/* The sender did not switch: plain frames are not a zstd stream. */
	ck_assert_int_eq(conn_compress(&rx, 3), 0);
	ck_assert_int_eq(conn_send(&tx, 1, "plain", 5), 0);
	ck_assert_int_eq(conn_flush(&tx), 0);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), -1);
}
END_TEST

/*
 * Compresses one frame of n bytes (random or text-like) with a separate
 * conn and returns the compressed bytes in out (at most cap); their number.
 */
static size_t
compressed_frame(int random, size_t n, uint8_t *out, size_t cap)
{
	uint8_t *data = malloc(n);
	struct conn enc;
	ssize_t got;
	int sv[2];

	ck_assert_ptr_nonnull(data);
	if (random)
		fill_random(data, n, 5);
	else
		for (size_t i = 0; i < n; i++)
			data[i] = (uint8_t)("the cut stream "[i % 15] + i / 997);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(conn_init(&enc, sv[0], sv[0], "enc"), 0);
	ck_assert_int_eq(conn_compress(&enc, 3), 0);
	ck_assert_int_eq(conn_send(&enc, 1, data, n), 0);
	ck_assert_int_eq(conn_flush(&enc), 0);
	got = read(sv[1], out, cap);
	ck_assert_int_gt(got, 0);
	conn_release(&enc);
	close(sv[1]);
	free(data);
	return (size_t)got;
}

START_TEST(test_compress_cut_stream)
{
	uint8_t buf[65536], type;
	const uint8_t *p;
	size_t len, n;

	/*
	 * A compressed stream cut short inside the bytes of a frame is a
	 * truncated frame (-1), never a clean end of stream (0). Random
	 * data: a raw zstd block, which decompresses as it comes.
	 */
	n = compressed_frame(1, 20000, buf, sizeof(buf));
	ck_assert_uint_gt(n, 100);
	ck_assert_int_eq(conn_compress(&rx, 3), 0);
	write_raw(buf, 50);
	close_tx();
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), -1);
}
END_TEST

START_TEST(test_compress_cut_compressed_block)
{
	uint8_t buf[65536], type;
	const uint8_t *p;
	size_t len, n;

	/*
	 * As above, cut inside a compressed zstd block.
	 * Regression test (was a bug, fixed): lib/conn.c conn_inflate()/conn_recv(): zstd cannot decode part
	 * of a compressed block, so nothing comes out; conn_fill() returns 0
	 * with nothing buffered and conn_recv() reports a clean end of
	 * stream (expected -1, got 0).
	 */
	n = compressed_frame(0, 20000, buf, sizeof(buf));
	ck_assert_uint_gt(n, 60);
	ck_assert_uint_lt(n, 10000);
	ck_assert_int_eq(conn_compress(&rx, 3), 0);
	write_raw(buf, n - 10);
	close_tx();
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), -1);
}
END_TEST

START_TEST(test_compress_switch_at_frame_boundary)
{
	static uint8_t big[100000];
	uint8_t type;
	const uint8_t *p;
	size_t len;

	/*
	 * Everything is written before rx reads: the read that brings the
	 * plain frame also brings compressed bytes after it, which must be
	 * decompressed once rx switches too.
	 */
	memset(big, 'z', sizeof(big));
	ck_assert_int_eq(conn_send(&tx, 1, "plain one", 9), 0);
	ck_assert_int_eq(conn_send(&tx, 2, "plain two", 9), 0);
	ck_assert_int_eq(conn_flush(&tx), 0);
	ck_assert_int_eq(conn_compress(&tx, 3), 0);
	ck_assert_int_eq(conn_send(&tx, 3, "packed one", 10), 0);
	ck_assert_int_eq(conn_send(&tx, 4, big, sizeof(big)), 0);
	ck_assert_int_eq(conn_flush(&tx), 0);
	ck_assert_int_eq(conn_send(&tx, 5, "packed two", 10), 0);
	ck_assert_int_eq(conn_flush(&tx), 0);

	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 1);
	ck_assert_mem_eq(p, "plain one", 9);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 2);
	ck_assert_mem_eq(p, "plain two", 9);
	ck_assert_int_eq(conn_compress(&rx, 3), 0);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 3);
	ck_assert_mem_eq(p, "packed one", 10);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 4);
	ck_assert_uint_eq(len, sizeof(big));
	ck_assert_int_eq(memcmp(p, big, len), 0);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 5);
	ck_assert_mem_eq(p, "packed two", 10);

	/* And back the other way, the switch made before anything is read. */
	ck_assert_int_eq(conn_send(&rx, 6, "answer", 6), 0);
	ck_assert_int_eq(conn_flush(&rx), 0);
	ck_assert_int_eq(conn_recv(&tx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 6);
	ck_assert_mem_eq(p, "answer", 6);
}
END_TEST

START_TEST(test_compress_switch_much_read_ahead)
{
	int big = 4 * 1024 * 1024;
	uint8_t *data;
	uint8_t type;
	const uint8_t *p;
	size_t len;

	/*
	 * As above with 600 KB of incompressible frames already in the
	 * socket: the read that brings the plain frame brings far more
	 * compressed bytes than one read of compressed input would.
	 * Regression test (was a bug, fixed): lib/conn.c conn_compress(): it copies the bytes read past the
	 * last plain frame into zin, which holds CONN_ZIN_SIZE (128 KiB), and
	 * fails with EPROTO when there are more (expected 0 and the frames,
	 * got -1 EPROTO).
	 */
	ck_assert_int_eq(setsockopt(tx.wfd, SOL_SOCKET, SO_SNDBUFFORCE, &big,
	    sizeof(big)), 0);
	ck_assert_int_eq(setsockopt(rx.rfd, SOL_SOCKET, SO_RCVBUFFORCE, &big,
	    sizeof(big)), 0);
	data = malloc(3 * 200000);
	ck_assert_ptr_nonnull(data);
	fill_random(data, 3 * 200000, 11);
	ck_assert_int_eq(conn_send(&tx, 1, "plain", 5), 0);
	ck_assert_int_eq(conn_flush(&tx), 0);
	ck_assert_int_eq(conn_compress(&tx, 1), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(conn_send(&tx, (uint8_t)(2 + i),
		    data + i * 200000, 200000), 0);
	ck_assert_int_eq(conn_flush(&tx), 0);
	ck_assert_uint_gt(tx.bytes_out, 600000);

	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 1);
	ck_assert_uint_gt(rx.bytes_in, 128 * 1024 + 10);	/* read ahead */
	ck_assert_int_eq(conn_compress(&rx, 1), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
		ck_assert_uint_eq(type, 2 + i);
		ck_assert_uint_eq(len, 200000);
		ck_assert_int_eq(memcmp(p, data + i * 200000, len), 0);
	}
	free(data);
}
END_TEST

/* ---- conn_relay ----------------------------------------------------- */

/* a_peer <-> a ==relay== b <-> b_peer */
static struct conn ra, rb, a_peer, b_peer;

struct relay_arg {
	int rc;
};

static void *
relay_main(void *p)
{
	struct relay_arg *r = p;

	r->rc = conn_relay(&ra, &rb, NULL, NULL);
	return NULL;
}

static void
relay_setup(void)
{
	int s1[2], s2[2];

	setup();
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s1),
	    0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s2),
	    0);
	ck_assert_int_eq(conn_init(&a_peer, s1[0], s1[0], "a_peer"), 0);
	ck_assert_int_eq(conn_init(&ra, s1[1], s1[1], "a"), 0);
	ck_assert_int_eq(conn_init(&rb, s2[0], s2[0], "b"), 0);
	ck_assert_int_eq(conn_init(&b_peer, s2[1], s2[1], "b_peer"), 0);
	/* A relay that hangs fails the test instead of blocking it. */
	a_peer.timeout_ms = b_peer.timeout_ms = 5000;
}

static void
relay_teardown(void)
{
	conn_release(&a_peer);
	conn_release(&b_peer);
	conn_release(&ra);
	conn_release(&rb);
	teardown();
}

/* Sends on from, receives on to: the same frame. */
static void
relay_one(struct conn *from, struct conn *to, uint8_t t, const uint8_t *data,
    size_t n)
{
	uint8_t type;
	const uint8_t *p;
	size_t len;

	CHECK_EQ(conn_send(from, t, data, n), 0);
	CHECK_EQ(conn_flush(from), 0);
	CHECK_EQ(conn_recv(to, &type, &p, &len), 1);
	CHECK_EQ(type, t);
	CHECK_EQ(len, n);
	if (n > 0)
		CHECK_EQ(memcmp(p, data, n), 0);
}

START_TEST(test_relay_both_ways)
{
	struct relay_arg r = { 99 };
	pthread_t th;
	uint8_t *data = malloc(300000);
	uint8_t type;
	const uint8_t *p;
	size_t len;

	ck_assert_ptr_nonnull(data);
	fill_random(data, 300000, 3);
	ck_assert_int_eq(pthread_create(&th, NULL, relay_main, &r), 0);
	for (int i = 0; i < 200; i++) {
		size_t n = (size_t)(i * 1499) % 300000;

		relay_one(&a_peer, &b_peer, (uint8_t)i, data, n);
		relay_one(&b_peer, &a_peer, (uint8_t)(i + 1), data + 7, n / 3);
	}
	/* A burst: many frames arrive in one read of the relay. */
	for (int i = 0; i < 300; i++)
		CHECK_EQ(conn_send(&a_peer, (uint8_t)i, data + i, 17), 0);
	CHECK_EQ(conn_flush(&a_peer), 0);
	for (int i = 0; i < 300; i++) {
		CHECK_EQ(conn_recv(&b_peer, &type, &p, &len), 1);
		CHECK_EQ(type, (uint8_t)i);
		CHECK_EQ(len, 17);
		CHECK_EQ(memcmp(p, data + i, 17), 0);
	}
	/* One side ends: the relay returns 0, the other side sees the end. */
	conn_release(&a_peer);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(r.rc, 0);
	conn_release(&rb);
	ck_assert_int_eq(conn_recv(&b_peer, &type, &p, &len), 0);
	free(data);
}
END_TEST

START_TEST(test_relay_other_side_closes)
{
	struct relay_arg r = { 99 };
	pthread_t th;

	ck_assert_int_eq(pthread_create(&th, NULL, relay_main, &r), 0);
	relay_one(&a_peer, &b_peer, 1, (const uint8_t *)"ping", 4);
	relay_one(&b_peer, &a_peer, 2, (const uint8_t *)"pong", 4);
	conn_release(&b_peer);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(r.rc, 0);
}
END_TEST

START_TEST(test_relay_frames_before_close)
{
	struct relay_arg r = { 99 };
	pthread_t th;
	uint8_t type;
	const uint8_t *p;
	size_t len;

	/* Frames sent just before the end are all forwarded. */
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(conn_send(&a_peer, (uint8_t)i, "last words",
		    10), 0);
	ck_assert_int_eq(conn_flush(&a_peer), 0);
	conn_release(&a_peer);
	ck_assert_int_eq(pthread_create(&th, NULL, relay_main, &r), 0);
	for (int i = 0; i < 20; i++) {
		ck_assert_int_eq(conn_recv(&b_peer, &type, &p, &len), 1);
		ck_assert_uint_eq(type, (unsigned)i);
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(r.rc, 0);
}
END_TEST

START_TEST(test_relay_corrupt_side)
{
	static const uint8_t bad[] = { 0x7f, 0xff, 0xff, 0xff, 1 };
	struct relay_arg r = { 99 };
	pthread_t th;

	ck_assert_int_eq(pthread_create(&th, NULL, relay_main, &r), 0);
	ck_assert_int_eq(write(a_peer.wfd, bad, sizeof(bad)),
	    (ssize_t)sizeof(bad));
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(r.rc, -1);
}
END_TEST

/* ---- timeout_ms ----------------------------------------------------- */

/* Milliseconds on the monotonic clock. */
static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(test_timeout_nothing)
{
	uint8_t type;
	const uint8_t *p;
	size_t len;
	long t0;

	rx.timeout_ms = 200;
	t0 = now_ms();
	errno = 0;
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_ge(now_ms() - t0, 190);
	ck_assert_int_lt(now_ms() - t0, 3000);
	ck_assert_msg(strstr(log_last(), "rx") != NULL, "message '%s'",
	    log_last());
}
END_TEST

START_TEST(test_timeout_mid_frame)
{
	static const uint8_t part[] = { 0, 0, 0, 10, 3, 'a' };
	uint8_t type;
	const uint8_t *p;
	size_t len;

	/* Half a frame, then silence. */
	rx.timeout_ms = 100;
	write_raw(part, sizeof(part));
	errno = 0;
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
}
END_TEST

START_TEST(test_timeout_not_reached)
{
	uint8_t type;
	const uint8_t *p;
	size_t len;

	/* Frames that are there, or come in time, are read. */
	rx.timeout_ms = 2000;
	ck_assert_int_eq(conn_send(&tx, 1, "now", 3), 0);
	ck_assert_int_eq(conn_flush(&tx), 0);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 1);
	{
		static const uint8_t frame[] = { 0, 0, 0, 6, 9, 'h', 'e', 'l',
		    'l' };
		pthread_t th;

		write_raw(frame, sizeof(frame));
		ck_assert_int_eq(pthread_create(&th, NULL, late_byte_main,
		    &tx.wfd), 0);
		ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
		ck_assert_int_eq(pthread_join(th, NULL), 0);
		ck_assert_mem_eq(p, "hello", 5);
	}
}
END_TEST

START_TEST(test_timeout_compressed)
{
	uint8_t type;
	const uint8_t *p;
	size_t len;

	ck_assert_int_eq(conn_compress(&tx, 3), 0);
	ck_assert_int_eq(conn_compress(&rx, 3), 0);
	rx.timeout_ms = 100;
	ck_assert_int_eq(conn_send(&tx, 1, "one", 3), 0);
	ck_assert_int_eq(conn_flush(&tx), 0);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	errno = 0;
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
}
END_TEST

/* A descriptor sent with a frame arrives with it, in order, once. */
START_TEST(test_fd_with_frame)
{
	int pipefd[2], got;
	struct stat a, b;
	uint8_t type;
	const uint8_t *p;
	size_t len;

	ck_assert_int_eq(pipe(pipefd), 0);
	conn_accept_fds(&rx);
	ck_assert_int_eq(conn_send(&tx, 1, "before", 6), 0);
	ck_assert_int_eq(conn_send_fd(&tx, 2, "with", 4, pipefd[0]), 0);
	ck_assert_int_eq(conn_send(&tx, 3, "after", 5), 0);
	ck_assert_int_eq(conn_flush(&tx), 0);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 1);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 2);
	ck_assert_mem_eq(p, "with", 4);
	got = conn_take_fd(&rx);
	ck_assert_int_ge(got, 0);
	ck_assert_int_eq(fstat(got, &a), 0);
	ck_assert_int_eq(fstat(pipefd[0], &b), 0);
	ck_assert_uint_eq(a.st_ino, b.st_ino);
	ck_assert_int_eq(conn_take_fd(&rx), -1);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 3);
	close(got);
	close(pipefd[0]);
	close(pipefd[1]);
}
END_TEST

/* Without conn_accept_fds no descriptor is kept; past the bound they are closed. */
START_TEST(test_fd_bounds)
{
	int pipefd[2];
	uint8_t type;
	const uint8_t *p;
	size_t len;

	ck_assert_int_eq(pipe(pipefd), 0);
	ck_assert_int_eq(conn_send_fd(&tx, 2, "x", 1, pipefd[0]), 0);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_int_eq(conn_take_fd(&rx), -1);
	conn_accept_fds(&rx);
	for (int i = 0; i < CONN_MAX_FDS + 3; i++) {
		ck_assert_int_eq(conn_send_fd(&tx, 2, "x", 1, pipefd[0]), 0);
		ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	}
	ck_assert_int_eq(rx.nfds, CONN_MAX_FDS);
	close(pipefd[0]);
	close(pipefd[1]);
	/* conn_release (teardown) closes the ones never taken */
}
END_TEST

/* A descriptor the kernel could not give (out of them) is told apart from none. */
START_TEST(test_fd_dropped_for_lack_of_room)
{
	struct rlimit was, low;
	int pipefd[2], next;
	uint8_t type;
	const uint8_t *p;
	size_t len;

	ck_assert_int_eq(pipe(pipefd), 0);
	conn_accept_fds(&rx);
	ck_assert_int_eq(conn_send_fd(&tx, 2, "x", 1, pipefd[0]), 0);
	ck_assert_int_eq(conn_send(&tx, 3, "y", 1), 0);
	ck_assert_int_eq(conn_flush(&tx), 0);
	/* Every slot below next is taken: a limit of next leaves none. */
	next = dup(0);
	ck_assert_int_ge(next, 0);
	close(next);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &was), 0);
	low = was;
	low.rlim_cur = (rlim_t)next;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &was), 0);
	ck_assert_uint_eq(type, 2);
	errno = 0;
	ck_assert_int_eq(conn_take_fd(&rx), -1);
	ck_assert_int_eq(errno, EMFILE);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &len), 1);
	ck_assert_uint_eq(type, 3);
	errno = 0;
	ck_assert_int_eq(conn_take_fd(&rx), -1);
	ck_assert_int_eq(errno, ENOENT);
	close(pipefd[0]);
	close(pipefd[1]);
}
END_TEST

START_TEST(test_fd_refused_when_compressed)
{
	ck_assert_int_eq(conn_compress(&tx, 1), 0);
	errno = 0;
	ck_assert_int_eq(conn_send_fd(&tx, 2, "x", 1, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

static Suite *
conn_suite(void)
{
	Suite *s = suite_create("conn");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_small_round_trip);
	tcase_add_test(tc, test_wire_layout);
	tcase_add_test(tc, test_1mib_round_trip);
	tcase_add_test(tc, test_largest_frame);
	tcase_add_test(tc, test_mixed_sizes_keep_order);
	tcase_add_test(tc, test_send_oversized_refused);
	tcase_add_test(tc, test_many_small_frames);
	tcase_add_test(tc, test_recv_oversized_header);
	tcase_add_test(tc, test_recv_just_over_limit);
	tcase_add_test(tc, test_recv_zero_length_frame);
	tcase_add_test(tc, test_eof_mid_header);
	tcase_add_test(tc, test_eof_mid_payload);
	tcase_add_test(tc, test_eof_after_frames);
	tcase_add_test(tc, test_clean_eof);
	tcase_add_test(tc, test_split_writes);
	tcase_add_test(tc, test_release_closes_fds);
	suite_add_tcase(s, tc);

	tc = tcase_create("compress");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_compress_1000_mixed_frames);
	tcase_add_test(tc, test_compress_zeros);
	tcase_add_test(tc, test_compress_report_read_after_close);
	tcase_add_test(tc, test_compress_corrupt_input);
	tcase_add_test(tc, test_compress_corrupt_after_good);
	tcase_add_test(tc, test_compress_plain_into_compressed);
	tcase_add_test(tc, test_compress_cut_stream);
	tcase_add_test(tc, test_compress_cut_compressed_block);
	tcase_add_test(tc, test_compress_switch_at_frame_boundary);
	tcase_add_test(tc, test_compress_switch_much_read_ahead);
	suite_add_tcase(s, tc);

	tc = tcase_create("relay");
	tcase_add_checked_fixture(tc, relay_setup, relay_teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_relay_both_ways);
	tcase_add_test(tc, test_relay_other_side_closes);
	tcase_add_test(tc, test_relay_frames_before_close);
	tcase_add_test(tc, test_relay_corrupt_side);
	suite_add_tcase(s, tc);

	tc = tcase_create("timeout");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_timeout_nothing);
	tcase_add_test(tc, test_timeout_mid_frame);
	tcase_add_test(tc, test_timeout_not_reached);
	tcase_add_test(tc, test_timeout_compressed);
	tcase_add_test(tc, test_fd_with_frame);
	tcase_add_test(tc, test_fd_bounds);
	tcase_add_test(tc, test_fd_dropped_for_lack_of_room);
	tcase_add_test(tc, test_fd_refused_when_compressed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(conn_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
