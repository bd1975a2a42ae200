/* fuzz_wire: libFuzzer target for every decoder of untrusted bytes (frames, zstd, sealed records, journal, config, deltas). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "delta.h"
#include "store/journal.h"
#include "log.h"
#include "net.h"
#include "proto.h"
#include "seal.h"
#include "xattr.h"

/* Decodes one frame with the decoder of its type; frees what it made. */
static void
decode_frame(uint8_t type, const uint8_t *p, size_t n)
{
	char err[256], *s = NULL, *s2 = NULL;
	struct filter f;
	struct entry e;
	struct file_head fh;
	struct item it;
	struct result r;
	struct renamed_info ri;
	struct sub_path sp;
	uint32_t idx[PROTO_MAX_NEED], u32;
	uint64_t u64, v64;
	uint8_t hash[HASH_SIZE];
	size_t cnt;
	int i;

	switch (type) {
	case MSG_HELLO:
		proto_decode_hello(p, n, err, sizeof(err));
		break;
	case MSG_SESSION:
		filter_init(&f);
		if (proto_decode_session(p, n, &u32, &f, err, sizeof(err)) == 0)
			filter_release(&f);
		break;
	case MSG_ENTRY:
		if (proto_decode_entry(p, n, XATTR_NS_ALL, &e, err,
		    sizeof(err)) == 0)
			entry_release(&e);
		break;
	case MSG_END_MANIFEST:
		if (proto_decode_end_manifest(p, n, XATTR_NS_ALL, &u64, &e, &i,
		    err, sizeof(err)) == 0)
			entry_release(&e);
		break;
	case MSG_HOLE:
		proto_decode_hole(p, n, &u64, err, sizeof(err));
		break;
	case MSG_NEED:
		proto_decode_need(p, n, idx, &cnt, err, sizeof(err));
		break;
	case MSG_FILE:
		proto_decode_file(p, n, &fh, err, sizeof(err));
		break;
	case MSG_FILE_ABORT:
		if (proto_decode_file_abort(p, n, &u32, &i, &s, err,
		    sizeof(err)) == 0)
			free(s);
		break;
	case MSG_ITEM:
		if (proto_decode_item(p, n, &it, err, sizeof(err)) == 0)
			result_item_release(&it);
		break;
	case MSG_RESULT:
		result_init(&r);
		proto_decode_result(p, n, &r, err, sizeof(err));
		break;
	case MSG_ERROR:
		if (proto_decode_error(p, n, &s) == 0)
			free(s);
		break;
	case MSG_CTL:
		proto_decode_ctl(p, n, &i, &u32, err, sizeof(err));
		break;
	case MSG_CTL_RENAMED:
		if (proto_decode_renamed(p, n, &ri, err, sizeof(err)) == 0) {
			free(ri.name);
			free(ri.path);
		}
		break;
	case MSG_SUB_PATH:
		if (proto_decode_sub_path(p, n, &sp, err, sizeof(err)) == 0)
			free(sp.path);
		break;
	case MSG_SUB_VERDICT:
		if (proto_decode_sub_verdict(p, n, &i, &s, err, sizeof(err)) == 0)
			free(s);
		break;
	case MSG_NEED_FROM:
		proto_decode_need_from(p, n, &u32, &u64, hash, err, sizeof(err));
		break;
	case MSG_FILE_FROM:
		proto_decode_file_from(p, n, &fh, err, sizeof(err));
		break;
	case MSG_NEED_SIG: {
		const uint8_t *sig;
		size_t len;

		proto_decode_need_sig(p, n, &u32, &i, &sig, &len, err,
		    sizeof(err));
		break;
	}
	case MSG_DAEMON:
		if (proto_decode_daemon(p, n, &i, &s, err, sizeof(err)) == 0)
			free(s);
		break;
	case MSG_NET_OPEN: {
		struct net_open no;

		if (net_decode_open(p, n, &no) == 0)
			free(no.store);
		break;
	}
	case MSG_SUB_KEPT:
		if (proto_decode_sub_kept(p, n, &u64, &v64, &s2, err,
		    sizeof(err)) == 0)
			free(s2);
		break;
	case MSG_GEN: {
		struct store_gen g;

		proto_decode_gen(p, n, &g, err, sizeof(err));
		break;
	}
	case MSG_HOPS: {
		struct hops h;

		hops_init(&h);
		if (hops_decode(p, n, &h, err, sizeof(err)) == 0)
			hops_release(&h);
		break;
	}
	}
}

/* The key of sealed seeds (make_seeds.c), both ways. */
static const uint8_t fuzz_key[32] = "mirrorfs fuzz seal key, 32 bytes";

/*
 * Reads data as a frame stream (sealed records when sealed, compressed
 * when zstd), decoding every frame.
 */
static void
stream(const uint8_t *data, size_t size, int zstd, int sealed)
{
	const uint8_t *p;
	struct conn c;
	uint8_t type;
	size_t n;
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd == -1)
		return;
	if (write(fd, data, size) != (ssize_t)size ||
	    lseek(fd, 0, SEEK_SET) != 0 || conn_init(&c, fd, -1, "fuzz") == -1) {
		close(fd);
		return;
	}
	if ((!sealed || conn_seal(&c, SEAL_CHACHA20_POLY1305, fuzz_key, fuzz_key) == 0) &&
	    (zstd == 0 || conn_compress(&c, 1) == 0))
		while (conn_recv(&c, &type, &p, &n) == 1)
			decode_frame(type, p, n);
	conn_release(&c);
}

static void
journal(const uint8_t *data, size_t size)
{
	struct journal j;
	const char *why;

	journal_init(&j);
	if (journal_parse(data, size, &j, &why) == 0)
		journal_release(&j);
}

static void
config(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/fuzz-conf-XXXXXX";
	struct config cfg;
	int fd = mkstemp(path);

	if (fd == -1)
		return;
	if (write(fd, data, size) == (ssize_t)size && config_load(&cfg, path) == 0)
		config_release(&cfg);
	close(fd);
	unlink(path);
}

/* A signature from the wire: loaded and indexed, or refused. */
static void
signature(const uint8_t *data, size_t size)
{
	struct delta_job *j = delta_load_begin();
	struct delta_sig *sig;
	char err[256];

	if (j == NULL)
		return;
	if (delta_feed(j, data, size, 1, NULL, NULL, err, sizeof(err)) == -1) {
		delta_free(j);
		return;
	}
	sig = delta_load_end(j, err, sizeof(err));
	delta_sig_free(sig);
}

/* Bounds a patch's output as the receiver does (the size announced). */
static int
patch_out(void *arg, const void *p, size_t n)
{
	size_t *left = arg;

	(void)p;
	if (n > *left)
		return -1;
	*left -= n;
	return 0;
}

/* A delta from the wire, applied to a 64 KiB basis. */
static void
patch(const uint8_t *data, size_t size)
{
	static uint8_t basis[65536];
	struct delta_job *j;
	size_t left = 16u << 20;
	char err[256];
	int fd = memfd_create("basis", MFD_CLOEXEC);

	for (size_t i = 0; i < sizeof(basis); i++)
		basis[i] = (uint8_t)(i * 31 + (i >> 8));
	if (fd == -1)
		return;
	if (write(fd, basis, sizeof(basis)) == (ssize_t)sizeof(basis) &&
	    (j = delta_patch_begin(fd)) != NULL) {
		delta_feed(j, data, size, 1, patch_out, &left, err, sizeof(err));
		delta_free(j);
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;

	if (!quiet) {
		/* Every refusal is logged; that is not what we look for here. */
		log_set_level(getenv("FUZZ_VERBOSE") ? LOG_DEBUG : LOG_SILENT);
		quiet = 1;
	}
	if (size == 0)
		return 0;
	/* The first byte picks the decoder, so one corpus serves all. */
	switch (data[0] % 8) {
	case 0: stream(data + 1, size - 1, 0, 0); break;
	case 1: stream(data + 1, size - 1, 1, 0); break;
	case 6: stream(data + 1, size - 1, 0, 1); break;
	case 7: stream(data + 1, size - 1, 1, 1); break;
	case 2: journal(data + 1, size - 1); break;
	case 3: config(data + 1, size - 1); break;
	case 4: signature(data + 1, size - 1); break;
	case 5: patch(data + 1, size - 1); break;
	}
	return 0;
}
