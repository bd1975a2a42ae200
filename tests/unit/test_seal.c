/*
 * Unit tests for seal.h: records round-trip in order through any split
 * of the wire bytes; a changed, dropped, repeated, reordered, injected or
 * truncated record, or a bad length, is refused; and sealed conns carry
 * frames of every size both ways, compressed or not.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conn.h"
#include "log.h"
#include "seal.h"

/* Every test runs once per cipher (_i of the loop test); the cipher of a
 * seal is whatever libcrypto has, hardware or not. */
static enum seal_cipher cipher;
static void
pick_cipher(int i)
{
	cipher = i == 0 ? SEAL_CHACHA20_POLY1305 : SEAL_AES256_GCM;
}

static const uint8_t ka[SEAL_KEY_SIZE] = { 1, 2, 3 };
static const uint8_t kb[SEAL_KEY_SIZE] = { 9, 8, 7 };

/* Feeds wire[0..n) to rx in pieces of step bytes; returns plaintext in out. */
static ssize_t
feed_all(struct seal *rx, const uint8_t *wire, size_t n, size_t step,
    uint8_t *out, size_t cap, char *err)
{
	size_t off = 0, got = 0, room;
	ssize_t r;

	for (;;) {
		while ((r = seal_pull(rx, out + got, cap - got, err, 128)) > 0)
			got += (size_t)r;
		if (r == -1)
			return -1;
		if (off == n)
			return (ssize_t)got;
		uint8_t *space = seal_space(rx, &room);
		size_t k = n - off < step ? n - off : step;

		ck_assert_uint_gt(room, 0);
		if (k > room)
			k = room;
		memcpy(space, wire + off, k);
		seal_received(rx, k);
		off += k;
	}
}

static uint8_t *
pattern(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 131 + (i >> 8));
	return p;
}

START_TEST(test_round_trip)
{
	pick_cipher(_i);
	static const size_t sizes[] = { 1, 17, SEAL_RECORD_MAX - 1,
	    SEAL_RECORD_MAX, SEAL_RECORD_MAX + 1, 3 * SEAL_RECORD_MAX + 5,
	    1024 * 1024 };
	static const size_t steps[] = { 1, 3, 4096, 1 << 20 };
	char err[128];

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
			size_t n = sizes[i];
			uint8_t *m = pattern(n), *out = malloc(n + 1);
			struct seal *tx = seal_alloc(cipher, ka, kb, NULL, 0);
			struct seal *rx = seal_alloc(cipher, kb, ka, NULL, 0);
			struct buf w;

			if (steps[k] == 1 && n > 70000)
				goto next;	/* slow, and no new case */
			buf_init(&w);
			ck_assert_int_eq(seal_push(tx, m, n, &w), 0);
			/* n bytes, a header and tag per record at most 64 KiB */
			ck_assert_uint_eq(w.len, n + ((n + SEAL_RECORD_MAX - 1) /
			    SEAL_RECORD_MAX) * (SEAL_HEADER_SIZE + SEAL_TAG_SIZE));
			ck_assert_int_eq(feed_all(rx, w.data, w.len, steps[k],
			    out, n + 1, err), (ssize_t)n);
			ck_assert_mem_eq(out, m, n);
			ck_assert(!seal_partial(rx));
			buf_release(&w);
next:
			seal_free(tx);
			seal_free(rx);
			free(m);
			free(out);
		}
}
END_TEST

/* A reader with less room than a record gets it in pieces. */
START_TEST(test_small_reader)
{
	pick_cipher(_i);
	uint8_t *m = pattern(5000), out[5000];
	struct seal *tx = seal_alloc(cipher, ka, kb, NULL, 0);
	struct seal *rx;
	struct buf w;
	size_t got = 0;
	char err[128];
	ssize_t r;

	buf_init(&w);
	ck_assert_int_eq(seal_push(tx, m, 5000, &w), 0);
	/* Bytes read past the handshake are handed over at the start. */
	rx = seal_alloc(cipher, kb, ka, w.data, w.len);
	ck_assert(seal_ready(rx));
	while ((r = seal_pull(rx, out + got, 7, err, sizeof(err))) > 0)
		got += (size_t)r;
	ck_assert_int_eq(r, 0);
	ck_assert_uint_eq(got, 5000);
	ck_assert_mem_eq(out, m, 5000);
	buf_release(&w);
	seal_free(tx);
	seal_free(rx);
	free(m);
}
END_TEST

/* Three records r0 r1 r2 of 100 bytes each, sealed with ka. */
static void
three(struct buf *w, size_t off[4])
{
	struct seal *tx = seal_alloc(cipher, ka, kb, NULL, 0);
	uint8_t *m = pattern(300);

	buf_init(w);
	for (int i = 0; i < 3; i++) {
		off[i] = w->len;
		ck_assert_int_eq(seal_push(tx, m + 100 * i, 100, w), 0);
	}
	off[3] = w->len;
	seal_free(tx);
	free(m);
}

/* Opens wire with kb/ka: the plaintext length, or -1 with errno. */
static ssize_t
open_wire(const uint8_t *wire, size_t n, char *err)
{
	struct seal *rx = seal_alloc(cipher, kb, ka, NULL, 0);
	uint8_t out[1024];
	ssize_t r = feed_all(rx, wire, n, 1 << 20, out, sizeof(out), err);
	int saved = errno;

	seal_free(rx);
	errno = saved;
	return r;
}

START_TEST(test_every_flip_refused)
{
	pick_cipher(_i);
	struct buf w;
	size_t off[4];
	char err[128];

	three(&w, off);
	ck_assert_int_eq(open_wire(w.data, w.len, err), 300);
	for (size_t i = 0; i < w.len; i++)
		for (int bit = 0; bit < 8; bit += 7) {
			w.data[i] ^= (uint8_t)(1 << bit);
			/* A changed length leaves a record incomplete, or out
			   of bounds, or misplaces the tag: never 300 bytes. */
			ck_assert_int_ne(open_wire(w.data, w.len, err), 300);
			w.data[i] ^= (uint8_t)(1 << bit);
		}
	buf_release(&w);
}
END_TEST

START_TEST(test_drop_repeat_reorder_inject)
{
	pick_cipher(_i);
	uint8_t wire[4096];
	struct buf w;
	size_t off[4], len[3], n;
	char err[128];

	three(&w, off);
	for (int i = 0; i < 3; i++)
		len[i] = off[i + 1] - off[i];
	/* r0 r2: r1 dropped. */
	memcpy(wire, w.data, len[0]);
	memcpy(wire + len[0], w.data + off[2], len[2]);
	ck_assert_int_eq(open_wire(wire, len[0] + len[2], err), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_msg(strstr(err, "record 1 failed authentication") != NULL,
	    "%s", err);
	/* r0 r0: repeated. */
	memcpy(wire + len[0], w.data, len[0]);
	ck_assert_int_eq(open_wire(wire, 2 * len[0], err), -1);
	/* r1 r0: reordered. */
	memcpy(wire, w.data + off[1], len[1]);
	memcpy(wire + len[1], w.data, len[0]);
	ck_assert_int_eq(open_wire(wire, len[0] + len[1], err), -1);
	/* r0 X r1 r2: a record of random bytes with a good length. */
	memcpy(wire, w.data, len[0]);
	n = len[0];
	memcpy(wire + n, w.data + off[1], SEAL_HEADER_SIZE);
	for (size_t i = SEAL_HEADER_SIZE; i < len[1]; i++)
		wire[n + i] = (uint8_t)(i * 7);
	n += len[1];
	memcpy(wire + n, w.data + off[1], w.len - off[1]);
	n += w.len - off[1];
	ck_assert_int_eq(open_wire(wire, n, err), -1);
	/* A record sealed under the other direction's key. */
	{
		struct seal *other = seal_alloc(cipher, kb, ka, NULL, 0);
		struct buf o;

		buf_init(&o);
		ck_assert_int_eq(seal_push(other, "hello", 5, &o), 0);
		ck_assert_int_eq(open_wire(o.data, o.len, err), -1);
		buf_release(&o);
		seal_free(other);
	}
	buf_release(&w);
}
END_TEST

START_TEST(test_bad_length_and_cut)
{
	pick_cipher(_i);
	static const uint8_t zero_len[] = { 0, 0, 0, 0 };
	static const uint8_t tag_only[] = { 0, 0, 0, SEAL_TAG_SIZE };
	static const uint8_t huge[] = { 0, 2, 0, 0 };
	struct seal *rx = seal_alloc(cipher, kb, ka, huge, sizeof(huge));
	struct buf w;
	size_t off[4];
	char err[128];

	/* Past the bound: refused at once, not waited for. */
	ck_assert(seal_ready(rx));
	ck_assert_int_eq(seal_pull(rx, (uint8_t[8]){ 0 }, 8, err, sizeof(err)),
	    -1);
	ck_assert_int_eq(errno, EPROTO);
	seal_free(rx);
	ck_assert_int_eq(open_wire(zero_len, 4, err), -1);
	ck_assert_int_eq(open_wire(tag_only, 4, err), -1);
	/* A cut record is partial: the conn calls an end there a cut. */
	three(&w, off);
	rx = seal_alloc(cipher, kb, ka, w.data, off[1] + 5);
	ck_assert_int_eq(seal_pull(rx, (uint8_t[200]){ 0 }, 200, err,
	    sizeof(err)), 100);
	ck_assert_int_eq(seal_pull(rx, (uint8_t[200]){ 0 }, 200, err,
	    sizeof(err)), 0);
	ck_assert(seal_partial(rx));
	seal_free(rx);
	buf_release(&w);
}
END_TEST

/* Two sealed conns on a socketpair, maybe compressed. */
static void
sealed_pair(struct conn *a, struct conn *b, int level)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	ck_assert_int_eq(conn_init(a, sv[0], sv[0], "a"), 0);
	ck_assert_int_eq(conn_init(b, sv[1], sv[1], "b"), 0);
	a->timeout_ms = b->timeout_ms = 5000;
	ck_assert_int_eq(conn_seal(a, cipher, ka, kb), 0);
	ck_assert_int_eq(conn_seal(b, cipher, kb, ka), 0);
	if (level > 0) {
		ck_assert_int_eq(conn_compress(a, level), 0);
		ck_assert_int_eq(conn_compress(b, level), 0);
	}
}

/* Sends back every frame it receives until a frame of type 0. */
static void *
echo_main(void *arg)
{
	struct conn *b = arg;
	const uint8_t *p;
	uint8_t type;
	size_t n;

	while (conn_recv(b, &type, &p, &n) == 1 && type != 0)
		if (conn_send(b, type, p, n) == -1 || conn_flush(b) == -1)
			break;
	return NULL;
}

START_TEST(test_conn_frames)
{
	pick_cipher(_i);
	static const size_t sizes[] = { 0, 1, 100, 65535, 65536, 300000,
	    CONN_MAX_FRAME - 1 };
	uint8_t *m = pattern(CONN_MAX_FRAME);

	for (int level = 0; level <= 3; level += 3) {
		struct conn a, b;
		pthread_t th;

		sealed_pair(&a, &b, level);
		ck_assert_int_eq(pthread_create(&th, NULL, echo_main, &b), 0);
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			const uint8_t *p;
			uint8_t type;
			size_t n;

			/* Small ones queue, large ones go straight out. */
			ck_assert_int_eq(conn_send(&a, 40 + (uint8_t)i, m,
			    sizes[i]), 0);
			ck_assert_int_eq(conn_send(&a, 7, "x", 1), 0);
			ck_assert_int_eq(conn_flush(&a), 0);
			ck_assert_int_eq(conn_recv(&a, &type, &p, &n), 1);
			ck_assert_uint_eq(type, 40 + i);
			ck_assert_uint_eq(n, sizes[i]);
			ck_assert_mem_eq(p, m, n);
			ck_assert_int_eq(conn_recv(&a, &type, &p, &n), 1);
			ck_assert_uint_eq(type, 7);
			ck_assert_mem_eq(p, "x", 1);
		}
		ck_assert_int_eq(conn_send(&a, 0, NULL, 0), 0);
		ck_assert_int_eq(conn_flush(&a), 0);
		ck_assert_int_eq(pthread_join(th, NULL), 0);
		conn_release(&a);
		conn_release(&b);
	}
	free(m);
}
END_TEST

/* A byte flipped on the wire fails the receive, naming the peer. */
START_TEST(test_conn_tampered)
{
	pick_cipher(_i);
	uint8_t wire[256], type;
	const uint8_t *p;
	struct conn a;
	struct seal *tx = seal_alloc(cipher, kb, ka, NULL, 0);
	struct buf w;
	int sv[2];
	size_t n;

	buf_init(&w);
	ck_assert_int_eq(seal_push(tx, "\0\0\0\x06\x09hello", 10, &w), 0);
	ck_assert_uint_lt(w.len, sizeof(wire));
	memcpy(wire, w.data, w.len);
	wire[SEAL_HEADER_SIZE + 6] ^= 0x20;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	ck_assert_int_eq(conn_init(&a, sv[0], sv[0], "the peer"), 0);
	a.timeout_ms = 5000;
	ck_assert_int_eq(conn_seal(&a, cipher, ka, kb), 0);
	ck_assert_int_eq(write(sv[1], wire, w.len), (ssize_t)w.len);
	ck_assert_int_eq(conn_recv(&a, &type, &p, &n), -1);
	ck_assert_msg(strstr(log_last(), "the peer") != NULL &&
	    strstr(log_last(), "tampered") != NULL, "%s", log_last());
	/* The untouched record passes. */
	conn_release(&a);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	ck_assert_int_eq(conn_init(&a, sv[0], sv[0], "the peer"), 0);
	ck_assert_int_eq(conn_seal(&a, cipher, ka, kb), 0);
	ck_assert_int_eq(write(sv[1], w.data, w.len), (ssize_t)w.len);
	ck_assert_int_eq(conn_recv(&a, &type, &p, &n), 1);
	ck_assert_uint_eq(type, 9);
	ck_assert_mem_eq(p, "hello", 5);
	/* An end of stream inside a record is a cut, not a clean end. */
	ck_assert_int_eq(write(sv[1], w.data, 7), 7);
	close(sv[1]);
	ck_assert_int_eq(conn_recv(&a, &type, &p, &n), -1);
	conn_release(&a);
	buf_release(&w);
	seal_free(tx);
}
END_TEST

/* A frame of this many bytes fills a piece of the sealing thread. */
#define PIECE_TEST (256 * 1024)

/* Sends frames of every size class from a thread of its own writer. */
struct stream_arg {
	struct conn *c;
	const uint8_t *m;
	int frames;
	int rc;
};

static size_t
stream_size(int i)
{
	static const size_t sizes[] = { 0, 1, 77, 4096, 65535, 65536, 65537,
	    262143, 262144, 300000, CONN_MAX_FRAME - 1 };

	return sizes[i % (int)(sizeof(sizes) / sizeof(sizes[0]))];
}

static void *
stream_main(void *arg)
{
	struct stream_arg *a = arg;

	a->rc = 0;
	for (int i = 0; i < a->frames && a->rc == 0; i++)
		a->rc = conn_send(a->c, (uint8_t)(i % 200), a->m + i % 100,
		    stream_size(i));
	if (a->rc == 0)
		a->rc = conn_flush(a->c);
	return NULL;
}

/*
 * With a sealing thread on one side and an opening thread on the other,
 * every frame arrives whole and in order, and both count the same bytes.
 */
START_TEST(test_async_stream)
{
	pick_cipher(_i);
	struct stream_arg a = { .frames = 400 };
	uint8_t *m = pattern(CONN_MAX_FRAME + 100);
	struct conn ca, cb;
	pthread_t th;

	sealed_pair(&ca, &cb, 0);
	ck_assert_int_eq(conn_async_writes(&ca), 0);
	ck_assert_int_eq(conn_async_reads(&cb), 0);
	a.c = &ca;
	a.m = m;
	ck_assert_int_eq(pthread_create(&th, NULL, stream_main, &a), 0);
	for (int i = 0; i < a.frames; i++) {
		const uint8_t *p;
		uint8_t type;
		size_t n;

		ck_assert_int_eq(conn_recv(&cb, &type, &p, &n), 1);
		ck_assert_uint_eq(type, (uint8_t)(i % 200));
		ck_assert_uint_eq(n, stream_size(i));
		ck_assert(memcmp(p, m + i % 100, n) == 0);
	}
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(a.rc, 0);
	/* What was queued is written before the descriptors close. */
	conn_release(&ca);
	ck_assert_int_eq(conn_recv(&cb, &(uint8_t){ 0 }, &(const uint8_t *){
	    NULL }, &(size_t){ 0 }), 0);
	ck_assert_uint_eq(cb.bytes_in, a.c->bytes_out);
	conn_release(&cb);
	free(m);
}
END_TEST

/* Only a sealed conn gets the threads; an opening one not under zstd. */
START_TEST(test_async_refused)
{
	pick_cipher(_i);
	struct conn ca, cb;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	ck_assert_int_eq(conn_init(&ca, sv[0], sv[0], "a"), 0);
	ck_assert_int_eq(conn_init(&cb, sv[1], sv[1], "b"), 0);
	errno = 0;
	ck_assert_int_eq(conn_async_writes(&ca), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(conn_async_reads(&ca), -1);
	conn_release(&ca);
	conn_release(&cb);
	sealed_pair(&ca, &cb, 3);
	errno = 0;
	ck_assert_int_eq(conn_async_reads(&cb), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(conn_async_writes(&ca), 0);
	ck_assert_int_eq(conn_async_writes(&ca), -1);
	conn_release(&ca);
	conn_release(&cb);
}
END_TEST

/* A write that fails in the thread fails a later send, with its reason. */
START_TEST(test_async_write_fails)
{
	pick_cipher(_i);
	uint8_t *m = pattern(PIECE_TEST);
	struct conn ca, cb;
	int rc = 0;

	signal(SIGPIPE, SIG_IGN);
	sealed_pair(&ca, &cb, 0);
	ck_assert_int_eq(conn_async_writes(&ca), 0);
	conn_release(&cb);
	for (int i = 0; i < 1000 && rc == 0; i++)
		rc = conn_send(&ca, 5, m, PIECE_TEST);
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(strstr(log_last(), "sending to a") != NULL, "%s",
	    log_last());
	conn_release(&ca);
	free(m);
}
END_TEST

static long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The frame deadline holds while the thread waits on a silent peer. */
START_TEST(test_async_read_timeout)
{
	pick_cipher(_i);
	struct conn ca, cb;
	const uint8_t *p;
	uint8_t type;
	size_t n;
	long t0;

	sealed_pair(&ca, &cb, 0);
	ck_assert_int_eq(conn_async_reads(&cb), 0);
	cb.timeout_ms = 200;
	t0 = mono_ms();
	errno = 0;
	ck_assert_int_eq(conn_recv(&cb, &type, &p, &n), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_ge(mono_ms() - t0, 190);
	ck_assert_int_lt(mono_ms() - t0, 3000);
	ck_assert_msg(strstr(log_last(), "b did not send a whole frame") !=
	    NULL, "%s", log_last());
	/* A frame that comes later is still read whole. */
	cb.timeout_ms = 5000;
	ck_assert_int_eq(conn_send(&ca, 3, "late", 4), 0);
	ck_assert_int_eq(conn_flush(&ca), 0);
	ck_assert_int_eq(conn_recv(&cb, &type, &p, &n), 1);
	ck_assert_mem_eq(p, "late", 4);
	conn_release(&ca);
	conn_release(&cb);
}
END_TEST

/* Tampering and a cut record seen by the thread fail the owner's receive. */
START_TEST(test_async_read_tampered_and_cut)
{
	pick_cipher(_i);
	struct seal *tx = seal_alloc(cipher, kb, ka, NULL, 0);
	const uint8_t *p;
	uint8_t type;
	struct conn a;
	struct buf w;
	int sv[2];
	size_t n;

	buf_init(&w);
	ck_assert_int_eq(seal_push(tx, "\0\0\0\x06\x09hello", 10, &w), 0);
	for (int cut = 0; cut <= 1; cut++) {
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
		    0, sv), 0);
		ck_assert_int_eq(conn_init(&a, sv[0], sv[0], "the peer"), 0);
		a.timeout_ms = 5000;
		ck_assert_int_eq(conn_seal(&a, cipher, ka, kb), 0);
		ck_assert_int_eq(conn_async_reads(&a), 0);
		if (cut) {
			/* A record cut short, then the end of the stream. */
			ck_assert_int_eq(write(sv[1], w.data, 7), 7);
		} else {
			w.data[SEAL_HEADER_SIZE + 6] ^= 0x20;
			ck_assert_int_eq(write(sv[1], w.data, w.len),
			    (ssize_t)w.len);
			w.data[SEAL_HEADER_SIZE + 6] ^= 0x20;
		}
		close(sv[1]);
		ck_assert_int_eq(conn_recv(&a, &type, &p, &n), -1);
		ck_assert_msg(strstr(log_last(), "the peer") != NULL &&
		    strstr(log_last(), cut ? "in the middle of a sealed record" :
		    "tampered") != NULL, "%s", log_last());
		conn_release(&a);
	}
	buf_release(&w);
	seal_free(tx);
}
END_TEST

START_TEST(test_choose)
{
	const unsigned c = 1u << SEAL_CHACHA20_POLY1305, a = 1u << SEAL_AES256_GCM;

	/* AES-256-GCM only when both ends run it fast; else ChaCha20. */
	ck_assert_int_eq(seal_choose(c | a, c | a), SEAL_AES256_GCM);
	ck_assert_int_eq(seal_choose(c | a, c), SEAL_CHACHA20_POLY1305);
	ck_assert_int_eq(seal_choose(c, c | a), SEAL_CHACHA20_POLY1305);
	ck_assert_int_eq(seal_choose(c, 0), 0);
	ck_assert_int_eq(seal_choose(a, c), 0);
	ck_assert(seal_ciphers() & c);
	ck_assert_str_eq(seal_cipher_name(SEAL_AES256_GCM), "AES-256-GCM");
	ck_assert_ptr_null(seal_alloc(0, ka, kb, NULL, 0));
}
END_TEST

static Suite *
seal_suite(void)
{
	Suite *s = suite_create("seal");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_round_trip, 0, 2);
	tcase_add_loop_test(tc, test_small_reader, 0, 2);
	tcase_add_loop_test(tc, test_every_flip_refused, 0, 2);
	tcase_add_loop_test(tc, test_drop_repeat_reorder_inject, 0, 2);
	tcase_add_loop_test(tc, test_bad_length_and_cut, 0, 2);
	tcase_add_loop_test(tc, test_conn_frames, 0, 2);
	tcase_add_loop_test(tc, test_async_stream, 0, 2);
	tcase_add_loop_test(tc, test_async_refused, 0, 2);
	tcase_add_loop_test(tc, test_async_write_fails, 0, 2);
	tcase_add_loop_test(tc, test_async_read_timeout, 0, 2);
	tcase_add_loop_test(tc, test_async_read_tampered_and_cut, 0, 2);
	tcase_add_loop_test(tc, test_conn_tampered, 0, 2);
	tcase_add_test(tc, test_choose);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	log_init("test_seal", LOG_SILENT);
	sr = srunner_create(seal_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
