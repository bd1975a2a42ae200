/* Unit tests for conn.h: framed message I/O over a socketpair. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
