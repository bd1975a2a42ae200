/*
 * Unit tests for proto.h: every message is sent with proto_send_* through
 * a socketpair (conn.h) and read back with proto_decode_*; hostile payloads
 * are built by hand and must be refused without crashing or leaking.
 */
#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "conn.h"
#include "filter.h"
#include "log.h"
#include "manifest.h"
#include "proto.h"
#include "xattr.h"
#include "result.h"

/*
 * CHECK_EQ records nothing unless it fails: ck_assert_* logs every passing
 * check too, which makes loops of 100k checks take seconds.
 */
#define CHECK_EQ(a, b) do {						\
	if ((a) != (b))							\
		ck_abort_msg("%s:%d: %s != %s", __FILE__, __LINE__, #a, #b);\
} while (0)

static struct conn tx, rx;
static char err[256];

static void
setup(void)
{
	int sv[2];

	log_init("test_proto", LOG_ERROR);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
	    0);
	ck_assert_int_eq(conn_init(&tx, sv[0], sv[0], "tx"), 0);
	ck_assert_int_eq(conn_init(&rx, sv[1], sv[1], "rx"), 0);
	err[0] = '\0';
}

static void
teardown(void)
{
	conn_release(&tx);
	conn_release(&rx);
}

/* Flushes tx and receives the next frame on rx, which must be of type. */
static void
recv_frame(int type, const uint8_t **p, size_t *n)
{
	uint8_t got;

	ck_assert_int_eq(conn_flush(&tx), 0);
	ck_assert_int_eq(conn_recv(&rx, &got, p, n), 1);
	ck_assert_msg(got == type, "frame type %d (%s), expected %d (%s)", got,
	    proto_msg_name(got), type, proto_msg_name(type));
}

/* A copy of p[0..n) in an allocation of exactly n bytes (ASan sees overreads). */
static uint8_t *
exact_copy(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

/* Asserts a decoder refused its input and explained why. */
#define REFUSED(call) do {						\
	err[0] = '\0';							\
	ck_assert_int_eq((call), -1);					\
	ck_assert_msg(err[0] != '\0', "no error message for %s", #call);\
} while (0)

/* ---- ENTRY ---------------------------------------------------------- */

/* The fields of an ENTRY payload, encoded by hand for hostile variants. */
struct raw_entry {
	int type;
	const char *path;
	size_t pathlen;
	uint32_t mode, uid, gid;
	uint64_t size;
	int64_t sec;
	uint32_t nsec;
	int has_hash;
	const uint8_t *hash;
	const char *target;	/* encoded when non-NULL */
	size_t targetlen;
	const uint8_t *xattrs;	/* the attributes' bytes after their length */
	uint32_t xattrs_len;
};

static void
raw_entry_init(struct raw_entry *re, int type, const char *path)
{
	memset(re, 0, sizeof(*re));
	re->type = type;
	re->path = path;
	re->pathlen = strlen(path);
	re->mode = 0644;
	re->uid = 1000;
	re->gid = 1000;
	re->size = 12;
	re->sec = 1700000000;
	re->nsec = 5;
	if (type == ENTRY_LNK || type == ENTRY_HARDLINK) {
		re->target = "target";
		re->targetlen = 6;
	}
}

static void
raw_entry_encode(const struct raw_entry *re, struct buf *b)
{
	static const uint8_t zero[HASH_SIZE];

	buf_init(b);
	ck_assert_int_eq(buf_put_u8(b, (uint8_t)re->type), 0);
	ck_assert_int_eq(buf_put_bytes16(b, re->path, re->pathlen), 0);
	ck_assert_int_eq(buf_put_u32(b, re->mode), 0);
	ck_assert_int_eq(buf_put_u32(b, re->uid), 0);
	ck_assert_int_eq(buf_put_u32(b, re->gid), 0);
	ck_assert_int_eq(buf_put_u64(b, re->size), 0);
	ck_assert_int_eq(buf_put_u64(b, (uint64_t)re->sec), 0);
	ck_assert_int_eq(buf_put_u32(b, re->nsec), 0);
	ck_assert_int_eq(buf_put_u8(b, (uint8_t)re->has_hash), 0);
	if (re->has_hash == 1)
		ck_assert_int_eq(buf_put(b, re->hash ? re->hash : zero,
		    HASH_SIZE), 0);
	if (re->target)
		ck_assert_int_eq(buf_put_bytes16(b, re->target,
		    re->targetlen), 0);
	if (ENTRY_IS_DEVICE(re->type))
		ck_assert_int_eq(buf_put_u32(b, 1) || buf_put_u32(b, 3), 0);
	ck_assert_int_eq(buf_put_u32(b, re->xattrs_len), 0);
	if (re->xattrs_len > 0)
		ck_assert_int_eq(buf_put(b, re->xattrs, re->xattrs_len), 0);
}

/* Decodes re's encoding from an exact-size copy; returns the decoder's result. */
static int
raw_entry_decode(const struct raw_entry *re, struct entry *e)
{
	struct buf b;
	uint8_t *c;
	int rc;

	raw_entry_encode(re, &b);
	c = exact_copy(b.data, b.len);
	err[0] = '\0';
	rc = proto_decode_entry(c, b.len, XATTR_NS_ALL, e, err, sizeof(err));
	free(c);
	buf_release(&b);
	return rc;
}

/* Asserts the raw entry is refused, with a message, and nothing left in e. */
static void
entry_refused(const struct raw_entry *re, const char *what)
{
	struct entry e;

	ck_assert_msg(raw_entry_decode(re, &e) == -1, "%s: accepted", what);
	ck_assert_msg(err[0] != '\0', "%s: no error message", what);
	ck_assert_ptr_null(e.path);
	ck_assert_ptr_null(e.target);
}

static void
entry_accepted(const struct raw_entry *re, const char *what)
{
	struct entry e;

	ck_assert_msg(raw_entry_decode(re, &e) == 0, "%s: refused: %s", what,
	    err);
	entry_release(&e);
}

static void
entry_fill(struct entry *e, int type, const char *path, const char *target)
{
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->path = (char *)path;
	e->target = (char *)target;
	e->mode = 0755;
	e->uid = 1234;
	e->gid = 5678;
	e->size = 0x123456789ull;
	e->mtime_sec = 1700000000;
	e->mtime_nsec = 999999999;
}

/* Sends e, receives and decodes it into out; asserts every field survived. */
static void
entry_round_trip(const struct entry *e, struct entry *out)
{
	const uint8_t *p;
	size_t n;

	ck_assert_int_eq(proto_send_entry(&tx, e), 0);
	recv_frame(MSG_ENTRY, &p, &n);
	ck_assert_msg(proto_decode_entry(p, n, XATTR_NS_ALL, out, err, sizeof(err)) == 0,
	    "decode: %s", err);
	ck_assert_int_eq(out->type, e->type);
	ck_assert_str_eq(out->path, e->path);
	ck_assert_uint_eq(out->mode, e->mode);
	ck_assert_uint_eq(out->uid, e->uid);
	ck_assert_uint_eq(out->gid, e->gid);
	ck_assert_uint_eq(out->size, e->size);
	ck_assert_int_eq(out->mtime_sec, e->mtime_sec);
	ck_assert_uint_eq(out->mtime_nsec, e->mtime_nsec);
	ck_assert_int_eq(out->has_hash, e->has_hash);
	ck_assert_int_eq(out->linked, e->linked);
	if (e->has_hash)
		ck_assert_mem_eq(out->hash, e->hash, HASH_SIZE);
	if (e->type == ENTRY_LNK || e->type == ENTRY_HARDLINK) {
		ck_assert_ptr_nonnull(out->target);
		ck_assert_str_eq(out->target, e->target);
	} else {
		ck_assert_ptr_null(out->target);
	}
}

START_TEST(test_entry_regular)
{
	struct entry e, out;

	entry_fill(&e, ENTRY_REG, "dir/file.txt", NULL);
	entry_round_trip(&e, &out);
	entry_release(&out);
	ck_assert_ptr_null(out.path);
}
END_TEST

START_TEST(test_entry_regular_with_hash)
{
	struct entry e, out;

	entry_fill(&e, ENTRY_REG, "a/b/c", NULL);
	e.has_hash = 1;
	for (int i = 0; i < HASH_SIZE; i++)
		e.hash[i] = (uint8_t)(0xf0 + i);
	e.mode = 07777;
	e.uid = UINT32_MAX;
	e.gid = 0;
	e.size = INT64_MAX;
	e.mtime_sec = -1;	/* before 1970 */
	e.mtime_nsec = 0;
	entry_round_trip(&e, &out);
	entry_release(&out);
}
END_TEST

/* A file with several names says so (protocol 10), a hash or not. */
START_TEST(test_entry_first_of_several)
{
	struct entry e, out;

	entry_fill(&e, ENTRY_REG, "y/first", NULL);
	e.linked = 1;
	entry_round_trip(&e, &out);
	entry_release(&out);
	e.has_hash = 1;
	memset(e.hash, 0xcd, HASH_SIZE);
	entry_round_trip(&e, &out);
	entry_release(&out);
}
END_TEST

START_TEST(test_entry_dir)
{
	struct entry e, out;

	entry_fill(&e, ENTRY_DIR, "..a/a..", NULL);
	e.size = 0;
	entry_round_trip(&e, &out);
	entry_release(&out);
}
END_TEST

START_TEST(test_entry_symlink)
{
	struct entry e, out;

	/* A symlink's target is its text: absolute and ".." are allowed. */
	entry_fill(&e, ENTRY_LNK, "link", "../../etc/passwd");
	entry_round_trip(&e, &out);
	entry_release(&out);
	entry_fill(&e, ENTRY_LNK, "a/link2", "/absolute/target");
	entry_round_trip(&e, &out);
	entry_release(&out);
}
END_TEST

/* One user.* and one ACL attribute, canonical (names ascending). */
static const uint8_t two_xattrs[] = {
	0, 2,
	23, 's', 'y', 's', 't', 'e', 'm', '.', 'p', 'o', 's', 'i', 'x', '_',
	'a', 'c', 'l', '_', 'a', 'c', 'c', 'e', 's', 's', 0, 0, 0, 2, 'a', 'b',
	6, 'u', 's', 'e', 'r', '.', 'x', 0, 0, 0, 0,
};

START_TEST(test_entry_special_and_xattrs)
{
	struct entry e, out;
	const uint8_t *p;
	size_t n;

	entry_fill(&e, ENTRY_BLK, "dev/loop", NULL);
	e.size = 0;
	e.rdev_major = 7;
	e.rdev_minor = 0xfffff;
	e.xattrs = (uint8_t *)two_xattrs;
	e.xattrs_len = sizeof(two_xattrs);
	entry_round_trip(&e, &out);
	ck_assert_uint_eq(out.rdev_major, 7);
	ck_assert_uint_eq(out.rdev_minor, 0xfffff);
	ck_assert_uint_eq(out.xattrs_len, sizeof(two_xattrs));
	ck_assert_mem_eq(out.xattrs, two_xattrs, sizeof(two_xattrs));
	entry_release(&out);
	/* A session without ACLs refuses an entry that carries one. */
	ck_assert_int_eq(proto_send_entry(&tx, &e), 0);
	recv_frame(MSG_ENTRY, &p, &n);
	ck_assert_int_eq(proto_decode_entry(p, n, XATTR_NS_XATTRS, &out, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "outside the session's namespaces"));
	/* A FIFO has no device numbers on the wire. */
	entry_fill(&e, ENTRY_FIFO, "fifo", NULL);
	entry_round_trip(&e, &out);
	entry_release(&out);
}
END_TEST

START_TEST(test_hole)
{
	const uint8_t *p;
	size_t n;
	uint64_t len;

	ck_assert_int_eq(proto_send_hole(&tx, 1ull << 40), 0);
	recv_frame(MSG_HOLE, &p, &n);
	ck_assert_int_eq(proto_decode_hole(p, n, &len, err, sizeof(err)), 0);
	ck_assert_uint_eq(len, 1ull << 40);
	ck_assert_int_eq(proto_decode_hole(p, n - 1, &len, err, sizeof(err)),
	    -1);
	ck_assert_int_eq(proto_send_hole(&tx, 0), 0);
	recv_frame(MSG_HOLE, &p, &n);
	ck_assert_int_eq(proto_decode_hole(p, n, &len, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_entry_hardlink)
{
	struct entry e, out;

	entry_fill(&e, ENTRY_HARDLINK, "x/second", "y/first");
	e.has_hash = 1;
	memset(e.hash, 0xab, HASH_SIZE);
	entry_round_trip(&e, &out);
	entry_release(&out);
}
END_TEST

START_TEST(test_entry_raw_matches_sender)
{
	struct raw_entry re;
	struct entry e;
	struct buf b;
	const uint8_t *p;
	size_t n;
	uint8_t hash[HASH_SIZE];

	/* The hand encoder used below agrees with proto_send_entry. */
	memset(hash, 0x11, sizeof(hash));
	raw_entry_init(&re, ENTRY_LNK, "some/link");
	re.has_hash = 1;
	re.hash = hash;
	raw_entry_encode(&re, &b);
	memset(&e, 0, sizeof(e));
	e.type = ENTRY_LNK;
	e.path = "some/link";
	e.target = "target";
	e.mode = re.mode;
	e.uid = re.uid;
	e.gid = re.gid;
	e.size = re.size;
	e.mtime_sec = re.sec;
	e.mtime_nsec = re.nsec;
	e.has_hash = 1;
	memcpy(e.hash, hash, HASH_SIZE);
	ck_assert_int_eq(proto_send_entry(&tx, &e), 0);
	recv_frame(MSG_ENTRY, &p, &n);
	ck_assert_uint_eq(n, b.len);
	ck_assert_mem_eq(p, b.data, n);
	buf_release(&b);

	entry_accepted(&re, "valid symlink");
	raw_entry_init(&re, ENTRY_REG, "f");
	entry_accepted(&re, "valid file");
}
END_TEST

START_TEST(test_entry_hostile_paths)
{
	static const char *bad[] = {
		"../x", "..", "a/../b", "a/..", "/etc/passwd", "/", "a//b",
		"a/", "./a", "a/./b", ".", "", ".mirrorfs", ".mirrorfs/x",
		".mirrorfs/journal", ".mirrorfs/staging/0",
	};
	struct raw_entry re;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		raw_entry_init(&re, ENTRY_REG, bad[i]);
		entry_refused(&re, bad[i]);
		raw_entry_init(&re, ENTRY_DIR, bad[i]);
		entry_refused(&re, bad[i]);
		raw_entry_init(&re, ENTRY_LNK, bad[i]);
		entry_refused(&re, bad[i]);
	}
	/* Near misses are fine. */
	raw_entry_init(&re, ENTRY_REG, ".mirrorfsx");
	entry_accepted(&re, ".mirrorfsx");
	raw_entry_init(&re, ENTRY_REG, "a/.mirrorfs");
	entry_accepted(&re, "a/.mirrorfs");
}
END_TEST

START_TEST(test_entry_nul_in_path)
{
	static const char path[] = "a\0../../x";
	static const char target[] = "t\0x";
	struct raw_entry re;

	raw_entry_init(&re, ENTRY_REG, "a");
	re.path = path;
	re.pathlen = sizeof(path) - 1;
	entry_refused(&re, "NUL in path");

	raw_entry_init(&re, ENTRY_REG, "a");
	re.path = "\0";
	re.pathlen = 1;
	entry_refused(&re, "path of one NUL");

	raw_entry_init(&re, ENTRY_LNK, "l");
	re.target = target;
	re.targetlen = sizeof(target) - 1;
	entry_refused(&re, "NUL in symlink target");

	raw_entry_init(&re, ENTRY_HARDLINK, "h");
	re.target = target;
	re.targetlen = sizeof(target) - 1;
	entry_refused(&re, "NUL in hardlink target");
}
END_TEST

START_TEST(test_entry_long_path)
{
	struct raw_entry re;
	char *p = malloc(PATH_MAX + 1);

	ck_assert_ptr_nonnull(p);
	memset(p, 'a', PATH_MAX);
	p[PATH_MAX] = '\0';
	for (int i = 200; i < PATH_MAX - 1; i += 201)
		p[i] = '/';
	raw_entry_init(&re, ENTRY_REG, p);
	entry_refused(&re, "PATH_MAX bytes");
	p[PATH_MAX - 1] = '\0';
	raw_entry_init(&re, ENTRY_REG, p);
	entry_accepted(&re, "PATH_MAX - 1 bytes");
	/* A component over NAME_MAX. */
	memset(p, 'b', NAME_MAX + 1);
	p[NAME_MAX + 1] = '\0';
	raw_entry_init(&re, ENTRY_REG, p);
	entry_refused(&re, "NAME_MAX + 1 component");
	free(p);
}
END_TEST

START_TEST(test_entry_unknown_type)
{
	static const int types[] = { 0, ENTRY_TYPE_MAX + 1, 0x40, 0x7f, 0xff };
	struct raw_entry re;
	char what[32];

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		snprintf(what, sizeof(what), "type %d", types[i]);
		raw_entry_init(&re, types[i], "x");
		entry_refused(&re, what);
		/* Also with trailing bytes that might look like a target. */
		re.target = "t";
		re.targetlen = 1;
		entry_refused(&re, what);
	}
}
END_TEST

START_TEST(test_entry_bad_attributes)
{
	struct raw_entry re;

	raw_entry_init(&re, ENTRY_REG, "x");
	re.mode = 010000;
	entry_refused(&re, "mode 010000");
	re.mode = 0100644;	/* S_IFREG bits are not permission bits */
	entry_refused(&re, "mode 0100644");
	re.mode = UINT32_MAX;
	entry_refused(&re, "mode ~0");
	re.mode = 07777;
	entry_accepted(&re, "mode 07777");

	raw_entry_init(&re, ENTRY_REG, "x");
	re.nsec = 1000000000u;
	entry_refused(&re, "nsec 1e9");
	re.nsec = UINT32_MAX;
	entry_refused(&re, "nsec ~0");
	re.nsec = 999999999u;
	entry_accepted(&re, "nsec 1e9 - 1");

	raw_entry_init(&re, ENTRY_REG, "x");
	re.size = (uint64_t)INT64_MAX + 1;
	entry_refused(&re, "size 2^63");

	raw_entry_init(&re, ENTRY_REG, "x");
	re.has_hash = 4;
	entry_refused(&re, "has_hash 4");
	/* Bit 1 (several names) is a file's only. */
	raw_entry_init(&re, ENTRY_DIR, "x");
	re.has_hash = 2;
	entry_refused(&re, "has_hash 2 on a directory");
	raw_entry_init(&re, ENTRY_REG, "x");
	re.has_hash = 0xff;
	entry_refused(&re, "has_hash 255");
}
END_TEST

START_TEST(test_entry_bad_targets)
{
	static const char *bad_link[] = { "../x", "/etc/passwd", "a//b", "",
	    "a/", "./a" };
	struct raw_entry re;

	raw_entry_init(&re, ENTRY_LNK, "l");
	re.target = "";
	re.targetlen = 0;
	entry_refused(&re, "empty symlink target");

	for (size_t i = 0; i < sizeof(bad_link) / sizeof(bad_link[0]); i++) {
		raw_entry_init(&re, ENTRY_HARDLINK, "h");
		re.target = bad_link[i];
		re.targetlen = strlen(bad_link[i]);
		entry_refused(&re, bad_link[i]);
	}
	/* A symlink or hardlink without its target. */
	raw_entry_init(&re, ENTRY_LNK, "l");
	re.target = NULL;
	entry_refused(&re, "symlink without target");
	raw_entry_init(&re, ENTRY_HARDLINK, "h");
	re.target = NULL;
	entry_refused(&re, "hardlink without target");
}
END_TEST

START_TEST(test_entry_trailing_bytes)
{
	struct raw_entry re;

	/* A regular file or directory carries no target. */
	raw_entry_init(&re, ENTRY_REG, "x");
	re.target = "junk";
	re.targetlen = 4;
	entry_refused(&re, "regular file with trailing bytes");
	raw_entry_init(&re, ENTRY_DIR, "x");
	re.target = "";
	re.targetlen = 0;
	entry_refused(&re, "directory with trailing bytes");
}
END_TEST

/* Every proper prefix of the encoding of re must be refused. */
static void
every_prefix_refused(const struct raw_entry *re)
{
	struct buf b;
	struct entry e;

	raw_entry_encode(re, &b);
	for (size_t k = 0; k < b.len; k++) {
		uint8_t *c = exact_copy(b.data, k);

		err[0] = '\0';
		ck_assert_msg(proto_decode_entry(c, k, XATTR_NS_ALL, &e, err,
		    sizeof(err)) == -1, "prefix of %zu/%zu bytes accepted", k,
		    b.len);
		ck_assert_msg(err[0] != '\0', "prefix %zu: no message", k);
		ck_assert_ptr_null(e.path);
		ck_assert_ptr_null(e.target);
		free(c);
	}
	/* And the whole is accepted. */
	{
		uint8_t *c = exact_copy(b.data, b.len);

		ck_assert_msg(proto_decode_entry(c, b.len, XATTR_NS_ALL, &e, err,
		    sizeof(err)) == 0, "whole entry refused: %s", err);
		entry_release(&e);
		free(c);
	}
	buf_release(&b);
}

START_TEST(test_entry_truncated)
{
	struct raw_entry re;
	uint8_t hash[HASH_SIZE];

	memset(hash, 0x77, sizeof(hash));
	raw_entry_init(&re, ENTRY_REG, "dir/file");
	every_prefix_refused(&re);
	re.has_hash = 1;
	re.hash = hash;
	every_prefix_refused(&re);
	raw_entry_init(&re, ENTRY_LNK, "dir/link");
	re.has_hash = 1;
	re.hash = hash;
	every_prefix_refused(&re);
	raw_entry_init(&re, ENTRY_HARDLINK, "dir/hard");
	re.target = "dir/file";
	re.targetlen = 8;
	every_prefix_refused(&re);
	raw_entry_init(&re, ENTRY_DIR, "dir");
	every_prefix_refused(&re);
}
END_TEST

START_TEST(test_entry_small_err_buffer)
{
	struct raw_entry re;
	struct buf b;
	struct entry e;
	char small[8];

	/* The message is cut to fit, never written past errlen. */
	raw_entry_init(&re, ENTRY_REG, "../a-rather-long-refused-path");
	raw_entry_encode(&re, &b);
	memset(small, 'Z', sizeof(small));
	ck_assert_int_eq(proto_decode_entry(b.data, b.len, XATTR_NS_ALL, &e, small, 4), -1);
	ck_assert_uint_le(strlen(small), 3);
	ck_assert_int_eq(small[4], 'Z');
	buf_release(&b);
}
END_TEST

/* ---- END_MANIFEST ---------------------------------------------------- */

START_TEST(test_end_manifest)
{
	struct entry top, out;
	uint64_t count;
	const uint8_t *p;
	uint8_t *c;
	size_t n;
	int flags;

	entry_fill(&top, ENTRY_DIR, "", NULL);
	top.mode = 0700;
	ck_assert_int_eq(proto_send_end_manifest(&tx, 123456789012ull, &top,
	    MANIFEST_INCOMPLETE), 0);
	recv_frame(MSG_END_MANIFEST, &p, &n);
	ck_assert_int_eq(proto_decode_end_manifest(p, n, XATTR_NS_ALL, &count, &out, &flags,
	    err, sizeof(err)), 0);
	ck_assert_uint_eq(count, 123456789012ull);
	ck_assert_int_eq(flags, MANIFEST_INCOMPLETE);
	ck_assert_int_eq(out.type, ENTRY_DIR);
	ck_assert_uint_eq(out.mode, 0700);
	ck_assert_uint_eq(out.uid, top.uid);
	ck_assert_uint_eq(out.gid, top.gid);
	ck_assert_int_eq(out.mtime_sec, top.mtime_sec);
	ck_assert_uint_eq(out.mtime_nsec, top.mtime_nsec);
	ck_assert_ptr_null(out.path);

	for (size_t k = 0; k < n; k++) {
		c = exact_copy(p, k);
		REFUSED(proto_decode_end_manifest(c, k, XATTR_NS_ALL, &count, &out, &flags,
		    err, sizeof(err)));
		free(c);
	}
	/* An unknown flag. */
	c = exact_copy(p, n);
	c[n - 1] = 0x02;
	REFUSED(proto_decode_end_manifest(c, n, XATTR_NS_ALL, &count, &out, &flags, err,
	    sizeof(err)));
	free(c);

	top.mode = 070000;
	ck_assert_int_eq(proto_send_end_manifest(&tx, 1, &top, 0), 0);
	recv_frame(MSG_END_MANIFEST, &p, &n);
	REFUSED(proto_decode_end_manifest(p, n, XATTR_NS_ALL, &count, &out, &flags, err,
	    sizeof(err)));
}
END_TEST

/* ---- HELLO ------------------------------------------------------------ */

START_TEST(test_hello)
{
	const uint8_t *p;
	size_t n;

	ck_assert_int_eq(proto_send_hello(&tx), 0);
	recv_frame(MSG_HELLO, &p, &n);
	ck_assert_int_eq(proto_decode_hello(p, n, err, sizeof(err)), 0);
}
END_TEST

static int
hello_raw(uint32_t magic, uint32_t version, int trailing)
{
	struct buf b;
	int rc;

	buf_init(&b);
	ck_assert_int_eq(buf_put_u32(&b, magic), 0);
	ck_assert_int_eq(buf_put_u16(&b, (uint16_t)version), 0);
	if (trailing)
		ck_assert_int_eq(buf_put_u8(&b, 0), 0);
	err[0] = '\0';
	rc = proto_decode_hello(b.data, b.len, err, sizeof(err));
	buf_release(&b);
	return rc;
}

START_TEST(test_hello_hostile)
{
	static const uint8_t short_hello[] = { 0x4d, 0x52, 0x46, 0x53, 0 };

	ck_assert_int_eq(hello_raw(PROTO_MAGIC, PROTO_VERSION, 0), 0);
	ck_assert_int_eq(hello_raw(0x4d524654u, PROTO_VERSION, 0), -1);
	ck_assert_str_ne(err, "");
	ck_assert_int_eq(hello_raw(0, PROTO_VERSION, 0), -1);
	ck_assert_int_eq(hello_raw(0x53465240u, PROTO_VERSION, 0), -1);
	ck_assert_int_eq(hello_raw(PROTO_MAGIC, PROTO_VERSION + 1, 0), -1);
	ck_assert_ptr_nonnull(strstr(err, "version"));
	ck_assert_int_eq(hello_raw(PROTO_MAGIC, 0, 0), -1);
	ck_assert_int_eq(hello_raw(PROTO_MAGIC, 0xffff, 0), -1);
	ck_assert_int_eq(hello_raw(PROTO_MAGIC, PROTO_VERSION, 1), -1);
	REFUSED(proto_decode_hello(short_hello, sizeof(short_hello), err,
	    sizeof(err)));
	REFUSED(proto_decode_hello(short_hello, 0, err, sizeof(err)));
}
END_TEST

/* ---- SESSION ---------------------------------------------------------- */

START_TEST(test_session_round_trip)
{
	struct filter f, out;
	uint32_t flags, window;
	const uint8_t *p;
	size_t n;

	filter_init(&f);
	ck_assert_int_eq(filter_add(&f, FILTER_INCLUDE, "keep.o"), 0);
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "*.o"), 0);
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "/build/"), 0);
	ck_assert_int_eq(proto_send_session(&tx, SESSION_PURGE |
	    SESSION_CHECKSUM, 8192, &f), 0);
	recv_frame(MSG_SESSION, &p, &n);
	filter_init(&out);
	ck_assert_msg(proto_decode_session(p, n, &flags, &window, &out, err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(flags, SESSION_PURGE | SESSION_CHECKSUM);
	ck_assert_uint_eq(window, 8192);
	ck_assert_uint_eq(out.n, 3);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(out.rules[i].kind, f.rules[i].kind);
		ck_assert_str_eq(out.rules[i].pattern, f.rules[i].pattern);
	}
	ck_assert_int_eq(filter_excluded(&out, "a/keep.o", 0), 0);
	ck_assert_int_eq(filter_excluded(&out, "a/x.o", 0), 1);
	filter_release(&out);
	filter_release(&f);
}
END_TEST

START_TEST(test_session_no_rules_all_flags)
{
	struct filter f, out;
	uint32_t flags, window;
	const uint8_t *p;
	size_t n;

	filter_init(&f);
	ck_assert_int_eq(proto_send_session(&tx, SESSION_FLAGS_ALL, 0, &f), 0);
	recv_frame(MSG_SESSION, &p, &n);
	filter_init(&out);
	ck_assert_int_eq(proto_decode_session(p, n, &flags, &window, &out, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(flags, SESSION_FLAGS_ALL);
	ck_assert_uint_eq(window, 0);
	ck_assert_uint_eq(out.n, 0);
	filter_release(&out);
}
END_TEST

/*
 * Encodes a SESSION by hand: flags, a window, a rule count, then nrules
 * real rules.
 */
static void
session_raw(struct buf *b, uint32_t flags, uint32_t count, size_t nrules,
    int kind, const char *pattern)
{
	buf_init(b);
	ck_assert_int_eq(buf_put_u32(b, flags), 0);
	ck_assert_int_eq(buf_put_u32(b, 16), 0);
	ck_assert_int_eq(buf_put_u32(b, count), 0);
	for (size_t i = 0; i < nrules; i++) {
		ck_assert_int_eq(buf_put_u8(b, (uint8_t)kind), 0);
		ck_assert_int_eq(buf_put_str(b, pattern), 0);
	}
}

static int
session_decode(const struct buf *b, uint32_t *flags, struct filter *out)
{
	uint8_t *c = exact_copy(b->data, b->len);
	uint32_t window;
	int rc;

	filter_init(out);
	err[0] = '\0';
	rc = proto_decode_session(c, b->len, flags, &window, out, err,
	    sizeof(err));
	free(c);
	return rc;
}

START_TEST(test_session_hostile)
{
	static const uint32_t bad_flags[] = { 0x200, 0x400, 0x80000000u,
	    UINT32_MAX, SESSION_FLAGS_ALL + 1 };
	struct filter out;
	struct buf b;
	uint32_t flags;

	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		session_raw(&b, bad_flags[i], 1, 1, FILTER_EXCLUDE, "*.o");
		ck_assert_msg(session_decode(&b, &flags, &out) == -1,
		    "flags %#x accepted", bad_flags[i]);
		ck_assert_str_ne(err, "");
		CHECK_EQ(out.n, 0);
		filter_release(&out);
		buf_release(&b);
	}

	/* Too many rules, announced but absent, and truly present. */
	session_raw(&b, 0, PROTO_MAX_RULES + 1, 0, 0, NULL);
	CHECK_EQ(session_decode(&b, &flags, &out), -1);
	CHECK_EQ(out.n, 0);
	filter_release(&out);
	buf_release(&b);
	session_raw(&b, 0, UINT32_MAX, 0, 0, NULL);
	CHECK_EQ(session_decode(&b, &flags, &out), -1);
	filter_release(&out);
	buf_release(&b);
	session_raw(&b, 0, PROTO_MAX_RULES + 1, PROTO_MAX_RULES + 1,
	    FILTER_EXCLUDE, "x");
	CHECK_EQ(session_decode(&b, &flags, &out), -1);
	CHECK_EQ(out.n, 0);
	filter_release(&out);
	buf_release(&b);
	/* Exactly the limit is fine. */
	session_raw(&b, 0, PROTO_MAX_RULES, PROTO_MAX_RULES, FILTER_EXCLUDE,
	    "x");
	CHECK_EQ(session_decode(&b, &flags, &out), 0);
	CHECK_EQ(out.n, PROTO_MAX_RULES);
	filter_release(&out);
	buf_release(&b);

	/* Fewer rules than announced, and more. */
	session_raw(&b, 0, 3, 2, FILTER_EXCLUDE, "x");
	CHECK_EQ(session_decode(&b, &flags, &out), -1);
	CHECK_EQ(out.n, 0);
	filter_release(&out);
	buf_release(&b);
	session_raw(&b, 0, 1, 2, FILTER_EXCLUDE, "x");
	CHECK_EQ(session_decode(&b, &flags, &out), -1);
	CHECK_EQ(out.n, 0);
	filter_release(&out);
	buf_release(&b);

	/* Bad rule kinds and an empty pattern. */
	session_raw(&b, 0, 1, 1, 0, "x");
	CHECK_EQ(session_decode(&b, &flags, &out), -1);
	filter_release(&out);
	buf_release(&b);
	session_raw(&b, 0, 1, 1, 3, "x");
	CHECK_EQ(session_decode(&b, &flags, &out), -1);
	filter_release(&out);
	buf_release(&b);
	session_raw(&b, 0, 1, 1, FILTER_INCLUDE, "");
	CHECK_EQ(session_decode(&b, &flags, &out), -1);
	filter_release(&out);
	buf_release(&b);
}
END_TEST

START_TEST(test_session_nul_in_pattern)
{
	static const char pat[] = "a\0b";
	struct filter out;
	struct buf b;
	uint32_t flags;

	buf_init(&b);
	ck_assert_int_eq(buf_put_u32(&b, 0), 0);
	ck_assert_int_eq(buf_put_u32(&b, 1), 0);
	ck_assert_int_eq(buf_put_u8(&b, FILTER_EXCLUDE), 0);
	ck_assert_int_eq(buf_put_bytes16(&b, pat, sizeof(pat) - 1), 0);
	ck_assert_int_eq(session_decode(&b, &flags, &out), -1);
	ck_assert_uint_eq(out.n, 0);
	filter_release(&out);
	buf_release(&b);
}
END_TEST

START_TEST(test_session_truncated)
{
	struct filter f, out;
	uint32_t flags, window;
	const uint8_t *p;
	size_t n;

	filter_init(&f);
	ck_assert_int_eq(filter_add(&f, FILTER_INCLUDE, "a"), 0);
	ck_assert_int_eq(filter_add(&f, FILTER_EXCLUDE, "bcd/"), 0);
	ck_assert_int_eq(proto_send_session(&tx, SESSION_REPORT, 16, &f), 0);
	recv_frame(MSG_SESSION, &p, &n);
	for (size_t k = 0; k < n; k++) {
		uint8_t *c = exact_copy(p, k);

		filter_init(&out);
		REFUSED(proto_decode_session(c, k, &flags, &window, &out, err,
		    sizeof(err)));
		ck_assert_uint_eq(out.n, 0);
		filter_release(&out);
		free(c);
	}
	filter_release(&f);
}
END_TEST

/* ---- NEED ------------------------------------------------------------- */

START_TEST(test_need_round_trip)
{
	static const uint32_t idx[] = { 0, 1, 7, 65536, UINT32_MAX };
	uint32_t *out;
	size_t count;
	const uint8_t *p;
	size_t n;

	out = calloc(PROTO_MAX_NEED, sizeof(*out));
	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(proto_send_need(&tx, idx, 5), 0);
	recv_frame(MSG_NEED, &p, &n);
	ck_assert_int_eq(proto_decode_need(p, n, out, &count, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(count, 5);
	ck_assert_mem_eq(out, idx, sizeof(idx));

	ck_assert_int_eq(proto_send_need(&tx, idx, 0), 0);
	recv_frame(MSG_NEED, &p, &n);
	ck_assert_int_eq(proto_decode_need(p, n, out, &count, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(count, 0);
	free(out);
}
END_TEST

START_TEST(test_need_max)
{
	uint32_t *in, *out;
	size_t count;
	const uint8_t *p;
	size_t n;

	in = malloc(PROTO_MAX_NEED * sizeof(*in));
	out = malloc(PROTO_MAX_NEED * sizeof(*out));
	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(out);
	for (uint32_t i = 0; i < PROTO_MAX_NEED; i++)
		in[i] = i * 3;
	CHECK_EQ(proto_send_need(&tx, in, PROTO_MAX_NEED), 0);
	recv_frame(MSG_NEED, &p, &n);
	CHECK_EQ(proto_decode_need(p, n, out, &count, err,
	    sizeof(err)), 0);
	CHECK_EQ(count, PROTO_MAX_NEED);
	CHECK_EQ(memcmp(in, out, PROTO_MAX_NEED * sizeof(*in)), 0);
	free(in);
	free(out);
}
END_TEST

/* ---- MARK ------------------------------------------------------------- */

START_TEST(test_mark_round_trip)
{
	static const uint32_t marks[] = { 0, 1, 12345, UINT32_MAX - 1,
	    MARK_NO_HOLD };
	const uint8_t *p;
	uint32_t got;
	size_t n;

	ck_assert_str_eq(proto_msg_name(MSG_MARK), "MARK");
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		ck_assert_int_eq(proto_send_mark(&tx, marks[i]), 0);
		recv_frame(MSG_MARK, &p, &n);
		ck_assert_uint_eq(n, 4);
		got = 7;
		ck_assert_msg(proto_decode_mark(p, n, &got, err,
		    sizeof(err)) == 0, "%s", err);
		ck_assert_uint_eq(got, marks[i]);
	}
}
END_TEST

START_TEST(test_mark_bad_length)
{
	static const uint8_t bytes[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint32_t got;

	for (size_t k = 0; k <= sizeof(bytes); k++) {
		uint8_t *c = exact_copy(bytes, k);

		if (k == 4) {
			ck_assert_int_eq(proto_decode_mark(c, k, &got, err,
			    sizeof(err)), 0);
			free(c);
			continue;
		}
		err[0] = '\0';
		REFUSED(proto_decode_mark(c, k, &got, err, sizeof(err)));
		ck_assert_ptr_nonnull(strstr(err, "MARK"));
		free(c);
	}
}
END_TEST

START_TEST(test_need_hostile)
{
	uint32_t *out;
	size_t count = 77;
	struct buf b;

	/* out holds exactly PROTO_MAX_NEED; ASan catches any write past it. */
	out = malloc(PROTO_MAX_NEED * sizeof(*out));
	ck_assert_ptr_nonnull(out);

	/* A count over the limit, with that many indexes present. */
	buf_init(&b);
	CHECK_EQ(buf_put_u32(&b, PROTO_MAX_NEED + 1), 0);
	for (uint32_t i = 0; i < PROTO_MAX_NEED + 1; i++)
		CHECK_EQ(buf_put_u32(&b, i), 0);
	REFUSED(proto_decode_need(b.data, b.len, out, &count, err,
	    sizeof(err)));
	buf_release(&b);

	buf_init(&b);
	CHECK_EQ(buf_put_u32(&b, UINT32_MAX), 0);
	REFUSED(proto_decode_need(b.data, b.len, out, &count, err,
	    sizeof(err)));
	buf_release(&b);

	/* Fewer indexes than announced, and more. */
	buf_init(&b);
	CHECK_EQ(buf_put_u32(&b, 3), 0);
	CHECK_EQ(buf_put_u32(&b, 1), 0);
	CHECK_EQ(buf_put_u32(&b, 2), 0);
	REFUSED(proto_decode_need(b.data, b.len, out, &count, err,
	    sizeof(err)));
	CHECK_EQ(buf_put_u32(&b, 3), 0);
	CHECK_EQ(buf_put_u32(&b, 4), 0);
	REFUSED(proto_decode_need(b.data, b.len, out, &count, err,
	    sizeof(err)));
	/* A torn index. */
	CHECK_EQ(proto_decode_need(b.data, 14, out, &count, err,
	    sizeof(err)), -1);
	REFUSED(proto_decode_need(b.data, 2, out, &count, err, sizeof(err)));
	REFUSED(proto_decode_need(b.data, 0, out, &count, err, sizeof(err)));
	buf_release(&b);
	free(out);
}
END_TEST

/* ---- FILE, FILE_ABORT ------------------------------------------------- */

START_TEST(test_file_round_trip)
{
	struct file_head h, out;
	const uint8_t *p;
	size_t n;

	memset(&h, 0, sizeof(h));
	h.index = 4000000000u;
	entry_fill(&h.attr, ENTRY_REG, NULL, NULL);
	h.attr.mode = 04755;
	h.attr.size = 1ull << 40;
	h.attr.mtime_sec = -123456;
	ck_assert_int_eq(proto_send_file(&tx, &h), 0);
	recv_frame(MSG_FILE, &p, &n);
	ck_assert_int_eq(proto_decode_file(p, n, &out, err, sizeof(err)), 0);
	ck_assert_uint_eq(out.index, h.index);
	ck_assert_uint_eq(out.attr.mode, h.attr.mode);
	ck_assert_uint_eq(out.attr.uid, h.attr.uid);
	ck_assert_uint_eq(out.attr.gid, h.attr.gid);
	ck_assert_uint_eq(out.attr.size, h.attr.size);
	ck_assert_int_eq(out.attr.mtime_sec, h.attr.mtime_sec);
	ck_assert_uint_eq(out.attr.mtime_nsec, h.attr.mtime_nsec);
	ck_assert_ptr_null(out.attr.path);
	ck_assert_ptr_null(out.attr.target);

	for (size_t k = 0; k < n; k++) {
		uint8_t *c = exact_copy(p, k);

		REFUSED(proto_decode_file(c, k, &out, err, sizeof(err)));
		free(c);
	}
}
END_TEST

START_TEST(test_file_hostile)
{
	struct file_head h, out;
	const uint8_t *p;
	size_t n;

	memset(&h, 0, sizeof(h));
	h.attr.mode = 0170644;
	ck_assert_int_eq(proto_send_file(&tx, &h), 0);
	recv_frame(MSG_FILE, &p, &n);
	REFUSED(proto_decode_file(p, n, &out, err, sizeof(err)));

	h.attr.mode = 0644;
	h.attr.mtime_nsec = 1000000000u;
	ck_assert_int_eq(proto_send_file(&tx, &h), 0);
	recv_frame(MSG_FILE, &p, &n);
	REFUSED(proto_decode_file(p, n, &out, err, sizeof(err)));

	h.attr.mtime_nsec = 0;
	h.attr.size = UINT64_MAX;
	ck_assert_int_eq(proto_send_file(&tx, &h), 0);
	recv_frame(MSG_FILE, &p, &n);
	REFUSED(proto_decode_file(p, n, &out, err, sizeof(err)));

	/* A trailing byte. */
	h.attr.size = 0;
	ck_assert_int_eq(proto_send_file(&tx, &h), 0);
	recv_frame(MSG_FILE, &p, &n);
	{
		uint8_t *c = malloc(n + 1);

		ck_assert_ptr_nonnull(c);
		memcpy(c, p, n);
		c[n] = 0;
		ck_assert_int_eq(proto_decode_file(c, n, &out, err,
		    sizeof(err)), 0);
		REFUSED(proto_decode_file(c, n + 1, &out, err, sizeof(err)));
		free(c);
	}
}
END_TEST

START_TEST(test_file_abort_round_trip)
{
	static const int actions[] = { ITEM_FAIL, ITEM_SKIP, ITEM_VANISHED,
	    ABORT_RETRY };
	uint32_t index;
	int action;
	char *reason;
	const uint8_t *p;
	size_t n;

	for (size_t i = 0; i < 4; i++) {
		ck_assert_int_eq(proto_send_file_abort(&tx, 42 + (uint32_t)i,
		    actions[i], "read error: Input/output error"), 0);
		recv_frame(MSG_FILE_ABORT, &p, &n);
		ck_assert_int_eq(proto_decode_file_abort(p, n, &index, &action,
		    &reason, err, sizeof(err)), 0);
		ck_assert_uint_eq(index, 42 + i);
		ck_assert_int_eq(action, actions[i]);
		ck_assert_str_eq(reason, "read error: Input/output error");
		free(reason);
	}
	ck_assert_int_eq(proto_send_file_abort(&tx, 0, ITEM_SKIP, ""), 0);
	recv_frame(MSG_FILE_ABORT, &p, &n);
	ck_assert_int_eq(proto_decode_file_abort(p, n, &index, &action,
	    &reason, err, sizeof(err)), 0);
	ck_assert_str_eq(reason, "");
	free(reason);

	/* Every prefix is refused; nothing is left allocated. */
	ck_assert_int_eq(proto_send_file_abort(&tx, 1, ITEM_FAIL, "why"), 0);
	recv_frame(MSG_FILE_ABORT, &p, &n);
	for (size_t k = 0; k < n; k++) {
		uint8_t *c = exact_copy(p, k);

		reason = (char *)1;
		REFUSED(proto_decode_file_abort(c, k, &index, &action, &reason,
		    err, sizeof(err)));
		ck_assert_ptr_null(reason);
		free(c);
	}
}
END_TEST

START_TEST(test_file_abort_hostile)
{
	static const int bad[] = { ITEM_CREATE, ITEM_REPLACE, ITEM_PURGE,
	    ITEM_ACTION_MAX + 1, 255 };
	uint32_t index;
	int action;
	char *reason, *longr;
	struct buf b;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(proto_send_file_abort(&tx, 1, bad[i], "x"), 0);
		{
			const uint8_t *p;
			size_t n;

			recv_frame(MSG_FILE_ABORT, &p, &n);
			REFUSED(proto_decode_file_abort(p, n, &index, &action,
			    &reason, err, sizeof(err)));
			ck_assert_ptr_null(reason);
		}
	}

	/* A reason over PROTO_MAX_REASON bytes. */
	longr = malloc(PROTO_MAX_REASON + 2);
	ck_assert_ptr_nonnull(longr);
	memset(longr, 'r', PROTO_MAX_REASON + 1);
	longr[PROTO_MAX_REASON + 1] = '\0';
	buf_init(&b);
	ck_assert_int_eq(buf_put_u32(&b, 1), 0);
	ck_assert_int_eq(buf_put_u8(&b, ITEM_FAIL), 0);
	ck_assert_int_eq(buf_put_str(&b, longr), 0);
	REFUSED(proto_decode_file_abort(b.data, b.len, &index, &action,
	    &reason, err, sizeof(err)));
	ck_assert_ptr_null(reason);
	buf_release(&b);
	free(longr);

	/* A trailing byte. */
	buf_init(&b);
	ck_assert_int_eq(buf_put_u32(&b, 1), 0);
	ck_assert_int_eq(buf_put_u8(&b, ITEM_FAIL), 0);
	ck_assert_int_eq(buf_put_str(&b, "x"), 0);
	ck_assert_int_eq(buf_put_u8(&b, 0), 0);
	REFUSED(proto_decode_file_abort(b.data, b.len, &index, &action,
	    &reason, err, sizeof(err)));
	ck_assert_ptr_null(reason);
	buf_release(&b);
}
END_TEST

/* ---- ITEM, RESULT, ERROR ---------------------------------------------- */

START_TEST(test_item_round_trip)
{
	struct item it = { 0 }, out;
	const uint8_t *p;
	size_t n;

	it.action = ITEM_FAIL;
	it.is_dir = 1;
	it.path = "some/dir";
	it.reason = "Permission denied";
	ck_assert_int_eq(proto_send_item(&tx, &it), 0);
	recv_frame(MSG_ITEM, &p, &n);
	ck_assert_int_eq(proto_decode_item(p, n, &out, err, sizeof(err)), 0);
	ck_assert_int_eq(out.action, ITEM_FAIL);
	ck_assert_int_eq(out.is_dir, 1);
	ck_assert_str_eq(out.path, "some/dir");
	ck_assert_str_eq(out.reason, "Permission denied");
	free(out.path);
	free(out.reason);

	/* -i's fields: kind, changes and a target. */
	it.action = ITEM_CREATE;
	it.is_dir = 0;
	it.path = "cur";
	it.reason = NULL;
	it.kind = 'L';
	it.changes = ITEM_CH_NEW;
	it.target = "releases/7";
	ck_assert_int_eq(proto_send_item(&tx, &it), 0);
	recv_frame(MSG_ITEM, &p, &n);
	ck_assert_int_eq(proto_decode_item(p, n, &out, err, sizeof(err)), 0);
	ck_assert_int_eq(out.kind, 'L');
	ck_assert_uint_eq(out.changes, ITEM_CH_NEW);
	ck_assert_str_eq(out.target, "releases/7");
	result_item_release(&out);
	it.kind = 0;
	it.changes = 0;
	it.target = NULL;

	/* No reason comes back as NULL. */
	it.action = ITEM_CREATE;
	it.is_dir = 0;
	it.path = "file\nwith newline";
	it.reason = NULL;
	ck_assert_int_eq(proto_send_item(&tx, &it), 0);
	recv_frame(MSG_ITEM, &p, &n);
	ck_assert_int_eq(proto_decode_item(p, n, &out, err, sizeof(err)), 0);
	ck_assert_int_eq(out.action, ITEM_CREATE);
	ck_assert_int_eq(out.is_dir, 0);
	ck_assert_str_eq(out.path, "file\nwith newline");
	ck_assert_ptr_null(out.reason);
	free(out.path);

	for (int a = ITEM_CREATE; a <= ITEM_ACTION_MAX; a++) {
		it.action = a;
		it.reason = "r";
		ck_assert_int_eq(proto_send_item(&tx, &it), 0);
		recv_frame(MSG_ITEM, &p, &n);
		ck_assert_int_eq(proto_decode_item(p, n, &out, err,
		    sizeof(err)), 0);
		ck_assert_int_eq(out.action, a);
		free(out.path);
		free(out.reason);
	}
}
END_TEST

/* A reason naming long paths is cut to what a peer takes, not refused. */
START_TEST(test_item_long_reason)
{
	struct item it = { 0 }, out;
	char reason[3000];
	const uint8_t *p;
	size_t n, len;

	/* "\xc3\xa9" (2 bytes) throughout: the cut must not split one. */
	for (size_t k = 0; k + 2 < sizeof(reason); k += 2)
		memcpy(reason + k, "\xc3\xa9", 2);
	reason[sizeof(reason) - 2] = '\0';
	it.action = ITEM_SKIP;
	it.path = "d";
	it.reason = reason;
	ck_assert_int_eq(proto_send_item(&tx, &it), 0);
	recv_frame(MSG_ITEM, &p, &n);
	ck_assert_int_eq(proto_decode_item(p, n, &out, err, sizeof(err)), 0);
	len = strlen(out.reason);
	ck_assert_uint_le(len, PROTO_MAX_REASON);
	ck_assert_str_eq(out.reason + len - 3, "...");
	ck_assert_int_eq((len - 3) % 2, 0);
	ck_assert_int_eq(memcmp(out.reason, reason, len - 3), 0);
	free(out.path);
	free(out.reason);
}
END_TEST

START_TEST(test_item_hostile)
{
	static const int bad[] = { 0, ITEM_ACTION_MAX + 1, 255 };
	struct item it = { 0 }, out;
	const uint8_t *p;
	size_t n;

	it.is_dir = 0;
	it.path = "p";
	it.reason = "r";
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		it.action = bad[i];
		ck_assert_int_eq(proto_send_item(&tx, &it), 0);
		recv_frame(MSG_ITEM, &p, &n);
		REFUSED(proto_decode_item(p, n, &out, err, sizeof(err)));
		ck_assert_ptr_null(out.path);
		ck_assert_ptr_null(out.reason);
	}
	/* A kind rsync has no letter for, or a change bit no column has. */
	it.action = ITEM_CREATE;
	it.kind = 'x';
	ck_assert_int_eq(proto_send_item(&tx, &it), 0);
	recv_frame(MSG_ITEM, &p, &n);
	REFUSED(proto_decode_item(p, n, &out, err, sizeof(err)));
	ck_assert_ptr_null(out.path);
	it.kind = 'f';
	it.changes = ITEM_CH_MASK + 1;
	ck_assert_int_eq(proto_send_item(&tx, &it), 0);
	recv_frame(MSG_ITEM, &p, &n);
	REFUSED(proto_decode_item(p, n, &out, err, sizeof(err)));
	ck_assert_ptr_null(out.target);
	it.changes = 0;
	it.action = ITEM_SKIP;
	it.is_dir = 2;
	ck_assert_int_eq(proto_send_item(&tx, &it), 0);
	recv_frame(MSG_ITEM, &p, &n);
	REFUSED(proto_decode_item(p, n, &out, err, sizeof(err)));
	ck_assert_ptr_null(out.path);

	it.is_dir = 1;
	ck_assert_int_eq(proto_send_item(&tx, &it), 0);
	recv_frame(MSG_ITEM, &p, &n);
	for (size_t k = 0; k < n; k++) {
		uint8_t *c = exact_copy(p, k);

		REFUSED(proto_decode_item(c, k, &out, err, sizeof(err)));
		ck_assert_ptr_null(out.path);
		ck_assert_ptr_null(out.reason);
		free(c);
	}
}
END_TEST

START_TEST(test_result_round_trip)
{
	struct result r, out;
	const uint8_t *p;
	size_t n;

	result_init(&r);
	r.created = 1;
	r.replaced = 2;
	r.purged = 3;
	r.unchanged = 4;
	r.skipped = 5;
	r.failed = 6;
	r.vanished = UINT64_MAX;
	r.report = 1;
	ck_assert_int_eq(proto_send_result(&tx, &r), 0);
	recv_frame(MSG_RESULT, &p, &n);
	result_init(&out);
	ck_assert_int_eq(proto_decode_result(p, n, &out, err, sizeof(err)), 0);
	ck_assert_uint_eq(out.created, 1);
	ck_assert_uint_eq(out.replaced, 2);
	ck_assert_uint_eq(out.purged, 3);
	ck_assert_uint_eq(out.unchanged, 4);
	ck_assert_uint_eq(out.skipped, 5);
	ck_assert_uint_eq(out.failed, 6);
	ck_assert_uint_eq(out.vanished, UINT64_MAX);
	ck_assert_int_eq(out.report, 1);
	ck_assert_uint_eq(out.nitems, 0);
	ck_assert_ptr_null(out.items);

	for (size_t k = 0; k < n; k++) {
		uint8_t *c = exact_copy(p, k);

		REFUSED(proto_decode_result(c, k, &out, err, sizeof(err)));
		free(c);
	}
	{
		uint8_t *c = exact_copy(p, n);

		c[n - 1] = 2;	/* the report flag */
		REFUSED(proto_decode_result(c, n, &out, err, sizeof(err)));
		free(c);
	}
}
END_TEST

START_TEST(test_error_round_trip)
{
	char *msg, *longm;
	const uint8_t *p;
	size_t n;

	ck_assert_int_eq(proto_send_error(&tx, "store is busy"), 0);
	recv_frame(MSG_ERROR, &p, &n);
	ck_assert_int_eq(proto_decode_error(p, n, &msg), 0);
	ck_assert_str_eq(msg, "store is busy");
	free(msg);

	/* A long message is cut to PROTO_MAX_REASON bytes. */
	longm = malloc(3 * PROTO_MAX_REASON + 1);
	ck_assert_ptr_nonnull(longm);
	memset(longm, 'm', 3 * PROTO_MAX_REASON);
	longm[3 * PROTO_MAX_REASON] = '\0';
	ck_assert_int_eq(proto_send_error(&tx, longm), 0);
	recv_frame(MSG_ERROR, &p, &n);
	ck_assert_int_eq(proto_decode_error(p, n, &msg), 0);
	ck_assert_uint_eq(strlen(msg), PROTO_MAX_REASON);
	ck_assert_int_eq(strncmp(msg, longm, PROTO_MAX_REASON), 0);
	free(msg);
	free(longm);
}
END_TEST

START_TEST(test_error_malformed)
{
	static const uint8_t torn[] = { 0, 9, 'a' };
	static const uint8_t nul[] = { 0, 3, 'a', 0, 'b' };
	char *msg;

	/* A malformed ERROR still yields a message to show. */
	ck_assert_int_eq(proto_decode_error(torn, sizeof(torn), &msg), 0);
	ck_assert_ptr_nonnull(msg);
	ck_assert_ptr_null(strchr(msg, '\n'));
	free(msg);
	ck_assert_int_eq(proto_decode_error(nul, sizeof(nul), &msg), 0);
	ck_assert_ptr_nonnull(msg);
	free(msg);
	ck_assert_int_eq(proto_decode_error(torn, 0, &msg), 0);
	ck_assert_ptr_nonnull(msg);
	free(msg);
}
END_TEST

START_TEST(test_msg_names)
{
	ck_assert_str_eq(proto_msg_name(MSG_HELLO), "HELLO");
	ck_assert_str_eq(proto_msg_name(MSG_ENTRY), "ENTRY");
	ck_assert_str_eq(proto_msg_name(MSG_ERROR), "ERROR");
	ck_assert_str_eq(proto_msg_name(0), "unknown");
	ck_assert_str_eq(proto_msg_name(200), "unknown");
	ck_assert_str_eq(proto_msg_name(-1), "unknown");
	for (int t = MSG_HELLO; t <= MSG_ERROR; t++)
		ck_assert_ptr_nonnull(proto_msg_name(t));
}
END_TEST

START_TEST(test_session_sequence)
{
	struct entry e, out;
	struct filter f;
	uint32_t flags, window, idx[2] = { 0, 1 }, got[PROTO_MAX_NEED];
	size_t count;
	const uint8_t *p;
	size_t n;
	uint8_t type;

	/* Several frames queued before one flush arrive in order. */
	filter_init(&f);
	ck_assert_int_eq(proto_send_hello(&tx), 0);
	ck_assert_int_eq(proto_send_session(&tx, 0, 16, &f), 0);
	entry_fill(&e, ENTRY_DIR, "d", NULL);
	ck_assert_int_eq(proto_send_entry(&tx, &e), 0);
	entry_fill(&e, ENTRY_REG, "d/f", NULL);
	ck_assert_int_eq(proto_send_entry(&tx, &e), 0);
	ck_assert_int_eq(proto_send_need(&tx, idx, 2), 0);
	ck_assert_int_eq(conn_flush(&tx), 0);

	ck_assert_int_eq(conn_recv(&rx, &type, &p, &n), 1);
	ck_assert_int_eq(type, MSG_HELLO);
	ck_assert_int_eq(proto_decode_hello(p, n, err, sizeof(err)), 0);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &n), 1);
	ck_assert_int_eq(type, MSG_SESSION);
	ck_assert_int_eq(proto_decode_session(p, n, &flags, &window, &f, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(window, 16);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &n), 1);
	ck_assert_int_eq(type, MSG_ENTRY);
	ck_assert_int_eq(proto_decode_entry(p, n, XATTR_NS_ALL, &out, err, sizeof(err)), 0);
	ck_assert_str_eq(out.path, "d");
	entry_release(&out);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &n), 1);
	ck_assert_int_eq(type, MSG_ENTRY);
	ck_assert_int_eq(proto_decode_entry(p, n, XATTR_NS_ALL, &out, err, sizeof(err)), 0);
	ck_assert_str_eq(out.path, "d/f");
	entry_release(&out);
	ck_assert_int_eq(conn_recv(&rx, &type, &p, &n), 1);
	ck_assert_int_eq(type, MSG_NEED);
	ck_assert_int_eq(proto_decode_need(p, n, got, &count, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(count, 2);
	filter_release(&f);
}
END_TEST

/* ---- CTL, CTL_RENAMED (control socket) --------------------------------- */

START_TEST(test_ctl)
{
	static const uint8_t bad[][5] = { { 0 }, { CTL_OP_MAX + 1 }, { 255 },
	    /* an argument for a request that takes none */
	    { CTL_RENAMED, 0, 0, 0, 1 },
	    { CTL_WATCH, 0, 0, 0, 1 },
	    /* a timeout, or a hold, over a day */
	    { CTL_SESSION, 0, 1, 0x51, 0x81 },
	    { CTL_HOLD, 0, 1, 0x51, 0x81 },
	    /* a hold of no time */
	    { CTL_HOLD, 0, 0, 0, 0 } };
	static const uint8_t six[] = { CTL_SESSION, 0, 0, 0, 0, 0 };
	const uint8_t *p;
	uint32_t arg, sent;
	size_t n;
	int op;

	for (int want = CTL_SESSION; want <= CTL_OP_MAX; want++) {
		sent = want == CTL_SESSION ? 75 : want == CTL_HOLD ? 86400 : 0;
		ck_assert_int_eq(proto_send_ctl(&tx, want, sent), 0);
		recv_frame(MSG_CTL, &p, &n);
		ck_assert_int_eq(proto_decode_ctl(p, n, &op, &arg, err,
		    sizeof(err)), 0);
		ck_assert_int_eq(op, want);
		ck_assert_uint_eq(arg, sent);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		REFUSED(proto_decode_ctl(bad[i], 5, &op, &arg, err,
		    sizeof(err)));
	REFUSED(proto_decode_ctl(six, 1, &op, &arg, err, sizeof(err)));
	REFUSED(proto_decode_ctl(six, 6, &op, &arg, err, sizeof(err)));
}
END_TEST

/* GEN: a store's generation, to holds and watchers; every byte checked. */
START_TEST(test_gen)
{
	struct store_gen g = { .epoch = UINT64_MAX, .gen = 1ULL << 40,
	    .hold_s = 86400, .broken = 1 }, out;
	const uint8_t *p;
	size_t n;

	ck_assert_int_eq(proto_send_gen(&tx, &g), 0);
	recv_frame(MSG_GEN, &p, &n);
	ck_assert_uint_eq(n, 21);
	ck_assert_int_eq(proto_decode_gen(p, n, &out, err, sizeof(err)), 0);
	ck_assert(out.epoch == g.epoch && out.gen == g.gen);
	ck_assert_uint_eq(out.hold_s, 86400);
	ck_assert_int_eq(out.broken, 1);
	for (size_t k = 0; k < n; k++) {
		uint8_t *c = exact_copy(p, k);

		REFUSED(proto_decode_gen(c, k, &out, err, sizeof(err)));
		free(c);
	}
	{
		uint8_t *c = exact_copy(p, n), *d = malloc(n + 1);

		ck_assert_ptr_nonnull(d);
		memcpy(d, p, n);
		d[n] = 0;	/* a byte too many */
		REFUSED(proto_decode_gen(d, n + 1, &out, err, sizeof(err)));
		c[n - 1] = 2;	/* broken is 0 or 1 */
		REFUSED(proto_decode_gen(c, n, &out, err, sizeof(err)));
		c[n - 1] = 0;
		c[16] = 0xff;	/* a hold far past a day */
		REFUSED(proto_decode_gen(c, n, &out, err, sizeof(err)));
		free(c);
		free(d);
	}
}
END_TEST

START_TEST(test_renamed)
{
	struct renamed_info ri, out;
	const uint8_t *p;
	size_t n;

	ri.name = "AA000042";
	ri.path = "dir/open file.txt";
	ri.opens = 3;
	ck_assert_int_eq(proto_send_renamed(&tx, &ri), 0);
	recv_frame(MSG_CTL_RENAMED, &p, &n);
	ck_assert_int_eq(proto_decode_renamed(p, n, &out, err, sizeof(err)), 0);
	ck_assert_str_eq(out.name, "AA000042");
	ck_assert_str_eq(out.path, "dir/open file.txt");
	ck_assert_uint_eq(out.opens, 3);
	free(out.name);
	free(out.path);

	for (size_t k = 0; k < n; k++) {
		uint8_t *c = exact_copy(p, k);

		REFUSED(proto_decode_renamed(c, k, &out, err, sizeof(err)));
		ck_assert_ptr_null(out.name);
		ck_assert_ptr_null(out.path);
		free(c);
	}
	{
		uint8_t *c = malloc(n + 1);

		ck_assert_ptr_nonnull(c);
		memcpy(c, p, n);
		c[n] = 0;
		REFUSED(proto_decode_renamed(c, n + 1, &out, err, sizeof(err)));
		ck_assert_ptr_null(out.name);
		free(c);
	}
}
END_TEST

/* ---- NEED_FROM, FILE_FROM (resuming a transfer) ----------------------- */

/*
 * Asserts every proper prefix of p[0..n) is refused by call, which decodes
 * pfx_ (an exact-size copy of the prefix) of plen_ bytes.
 */
#define PREFIXES_REFUSED(p, n, call) do {				\
	for (size_t plen_ = 0; plen_ < (n); plen_++) {			\
		uint8_t *pfx_ = exact_copy((p), plen_);			\
									\
		err[0] = '\0';						\
		if ((call) != -1 || err[0] == '\0')			\
			ck_abort_msg("prefix of %zu of %zu bytes not "	\
			    "refused: %s", plen_, (size_t)(n), #call);	\
		free(pfx_);						\
	}								\
} while (0)

/* A copy of p[0..n) followed by one zero byte (n + 1 bytes). */
static uint8_t *
with_trailing_byte(const void *p, size_t n)
{
	uint8_t *c = malloc(n + 1);

	ck_assert_ptr_nonnull(c);
	memcpy(c, p, n);
	c[n] = 0;
	return c;
}

START_TEST(test_need_from_round_trip)
{
	static const struct { uint32_t index; uint64_t offset; } cases[] = {
		{ 0, 1 }, { 7, 12345 }, { UINT32_MAX, (uint64_t)INT64_MAX },
	};
	uint8_t kept[HASH_SIZE], back[HASH_SIZE];
	const uint8_t *p;
	uint32_t index;
	uint64_t offset;
	size_t n;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(kept, 0x40 + (int)i, sizeof(kept));
		kept[15] = 0xff;
		ck_assert_int_eq(proto_send_need_from(&tx, cases[i].index,
		    cases[i].offset, kept), 0);
		recv_frame(MSG_NEED_FROM, &p, &n);
		ck_assert_int_eq(n, 12 + HASH_SIZE);
		ck_assert_msg(proto_decode_need_from(p, n, &index, &offset,
		    back, err, sizeof(err)) == 0, "decode: %s", err);
		ck_assert_uint_eq(index, cases[i].index);
		ck_assert_uint_eq(offset, cases[i].offset);
		ck_assert_mem_eq(back, kept, HASH_SIZE);
	}
	ck_assert_str_eq(proto_msg_name(MSG_NEED_FROM), "NEED_FROM");
}
END_TEST

START_TEST(test_need_sig_and_file_delta)
{
	static const uint8_t part[] = "rs\001\107 signature bytes";
	uint8_t big[5 + PROTO_SIG_CHUNK + 1];
	struct file_head h, out;
	const uint8_t *p, *sig;
	uint32_t index;
	size_t n, len;
	int more;

	ck_assert_int_eq(proto_send_need_sig(&tx, 9, 1, part, sizeof(part)), 0);
	recv_frame(MSG_NEED_SIG, &p, &n);
	ck_assert_msg(proto_decode_need_sig(p, n, &index, &more, &sig, &len,
	    err, sizeof(err)) == 0, "decode: %s", err);
	ck_assert_uint_eq(index, 9);
	ck_assert_int_eq(more, 1);
	ck_assert_uint_eq(len, sizeof(part));
	ck_assert(memcmp(sig, part, len) == 0);
	/* The last frame may be empty. */
	ck_assert_int_eq(proto_send_need_sig(&tx, 9, 0, NULL, 0), 0);
	recv_frame(MSG_NEED_SIG, &p, &n);
	ck_assert_int_eq(proto_decode_need_sig(p, n, &index, &more, &sig, &len,
	    err, sizeof(err)), 0);
	ck_assert_int_eq(more, 0);
	ck_assert_uint_eq(len, 0);
	/* Too short, a bad flag, over the chunk bound. */
	REFUSED(proto_decode_need_sig(part, 4, &index, &more, &sig, &len, err,
	    sizeof(err)));
	memset(big, 0, sizeof(big));
	big[4] = 2;
	REFUSED(proto_decode_need_sig(big, 5, &index, &more, &sig, &len, err,
	    sizeof(err)));
	big[4] = 0;
	REFUSED(proto_decode_need_sig(big, sizeof(big), &index, &more, &sig,
	    &len, err, sizeof(err)));
	/* FILE_DELTA carries what FILE does. */
	memset(&h, 0, sizeof(h));
	h.index = 5;
	h.delta = 1;
	entry_fill(&h.attr, ENTRY_REG, NULL, NULL);
	h.attr.size = 1 << 20;
	ck_assert_int_eq(proto_send_file(&tx, &h), 0);
	recv_frame(MSG_FILE_DELTA, &p, &n);
	ck_assert_int_eq(proto_decode_file(p, n, &out, err, sizeof(err)), 0);
	ck_assert_uint_eq(out.index, 5);
	ck_assert_uint_eq(out.attr.size, 1 << 20);
	ck_assert_str_eq(proto_msg_name(MSG_NEED_SIG), "NEED_SIG");
	ck_assert_str_eq(proto_msg_name(MSG_FILE_DELTA), "FILE_DELTA");
}
END_TEST

START_TEST(test_need_from_hostile)
{
	static const uint8_t kept[HASH_SIZE];
	uint8_t back[HASH_SIZE];
	const uint8_t *p;
	uint32_t index;
	uint64_t offset;
	uint8_t *c;
	size_t n;

	/* Offset 0 is a plain NEED. */
	ck_assert_int_eq(proto_send_need_from(&tx, 3, 0, kept), 0);
	recv_frame(MSG_NEED_FROM, &p, &n);
	REFUSED(proto_decode_need_from(p, n, &index, &offset, back, err,
	    sizeof(err)));
	/* Beyond any file size. */
	ck_assert_int_eq(proto_send_need_from(&tx, 3,
	    (uint64_t)INT64_MAX + 1, kept), 0);
	recv_frame(MSG_NEED_FROM, &p, &n);
	REFUSED(proto_decode_need_from(p, n, &index, &offset, back, err,
	    sizeof(err)));
	ck_assert_int_eq(proto_send_need_from(&tx, 3, UINT64_MAX, kept), 0);
	recv_frame(MSG_NEED_FROM, &p, &n);
	REFUSED(proto_decode_need_from(p, n, &index, &offset, back, err,
	    sizeof(err)));

	ck_assert_int_eq(proto_send_need_from(&tx, 3, 100, kept), 0);
	recv_frame(MSG_NEED_FROM, &p, &n);
	PREFIXES_REFUSED(p, n, proto_decode_need_from(pfx_, plen_, &index,
	    &offset, back, err, sizeof(err)));
	c = with_trailing_byte(p, n);
	REFUSED(proto_decode_need_from(c, n + 1, &index, &offset, back, err,
	    sizeof(err)));
	free(c);
}
END_TEST

/* A FILE_FROM payload by hand: index, offset, then the attributes. */
static void
raw_file_from(struct buf *b, uint32_t index, uint64_t offset,
    const struct entry *a)
{
	buf_init(b);
	ck_assert_int_eq(buf_put_u32(b, index) || buf_put_u64(b, offset) ||
	    buf_put_u32(b, a->mode) || buf_put_u32(b, a->uid) ||
	    buf_put_u32(b, a->gid) || buf_put_u64(b, a->size) ||
	    buf_put_u64(b, (uint64_t)a->mtime_sec) ||
	    buf_put_u32(b, a->mtime_nsec), 0);
}

START_TEST(test_file_from_round_trip)
{
	struct file_head h, out;
	const uint8_t *p;
	size_t n;
	struct buf b;

	memset(&h, 0, sizeof(h));
	h.index = 42;
	entry_fill(&h.attr, ENTRY_REG, NULL, NULL);
	h.attr.mode = 0640;
	h.attr.uid = 1001;
	h.attr.gid = 1002;
	h.attr.size = 10ull << 30;
	h.attr.mtime_sec = 1700000000;
	h.attr.mtime_nsec = 999999999;
	h.offset = 4096;
	ck_assert_int_eq(proto_send_file(&tx, &h), 0);
	recv_frame(MSG_FILE_FROM, &p, &n);
	ck_assert_msg(proto_decode_file_from(p, n, &out, err, sizeof(err)) == 0,
	    "decode: %s", err);
	ck_assert_uint_eq(out.index, 42);
	ck_assert_uint_eq(out.offset, 4096);
	ck_assert_uint_eq(out.attr.mode, 0640);
	ck_assert_uint_eq(out.attr.uid, 1001);
	ck_assert_uint_eq(out.attr.gid, 1002);
	ck_assert_uint_eq(out.attr.size, 10ull << 30);
	ck_assert_int_eq(out.attr.mtime_sec, 1700000000);
	ck_assert_uint_eq(out.attr.mtime_nsec, 999999999);
	ck_assert_ptr_null(out.attr.path);

	/* The layout is the documented one. */
	raw_file_from(&b, 42, 4096, &h.attr);
	ck_assert_uint_eq(b.len, n);
	ck_assert_mem_eq(b.data, p, n);
	buf_release(&b);

	/* Offset 0 sends a plain FILE, decoded with offset 0. */
	h.offset = 0;
	ck_assert_int_eq(proto_send_file(&tx, &h), 0);
	recv_frame(MSG_FILE, &p, &n);
	ck_assert_int_eq(proto_decode_file(p, n, &out, err, sizeof(err)), 0);
	ck_assert_uint_eq(out.offset, 0);
	ck_assert_uint_eq(out.index, 42);

	/* The whole file already kept: offset == size, no DATA follows. */
	h.offset = h.attr.size;
	ck_assert_int_eq(proto_send_file(&tx, &h), 0);
	recv_frame(MSG_FILE_FROM, &p, &n);
	ck_assert_int_eq(proto_decode_file_from(p, n, &out, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(out.offset, out.attr.size);
	ck_assert_str_eq(proto_msg_name(MSG_FILE_FROM), "FILE_FROM");
}
END_TEST

START_TEST(test_file_from_hostile)
{
	struct file_head h, out;
	struct entry a;
	const uint8_t *p;
	uint8_t *c;
	size_t n;
	struct buf b;

	entry_fill(&a, ENTRY_REG, NULL, NULL);
	a.size = 1000;

	raw_file_from(&b, 1, 500, &a);
	c = exact_copy(b.data, b.len);
	ck_assert_int_eq(proto_decode_file_from(c, b.len, &out, err,
	    sizeof(err)), 0);
	free(c);
	buf_release(&b);

	/* Offset 0 (that is a FILE), and past the end of the file. */
	raw_file_from(&b, 1, 0, &a);
	REFUSED(proto_decode_file_from(b.data, b.len, &out, err, sizeof(err)));
	buf_release(&b);
	raw_file_from(&b, 1, 1001, &a);
	REFUSED(proto_decode_file_from(b.data, b.len, &out, err, sizeof(err)));
	buf_release(&b);
	raw_file_from(&b, 1, UINT64_MAX, &a);
	REFUSED(proto_decode_file_from(b.data, b.len, &out, err, sizeof(err)));
	buf_release(&b);

	/* Bad attributes, as in FILE. */
	a.mode = 0100644;
	raw_file_from(&b, 1, 10, &a);
	REFUSED(proto_decode_file_from(b.data, b.len, &out, err, sizeof(err)));
	buf_release(&b);
	a.mode = 0644;
	a.mtime_nsec = 1000000000u;
	raw_file_from(&b, 1, 10, &a);
	REFUSED(proto_decode_file_from(b.data, b.len, &out, err, sizeof(err)));
	buf_release(&b);
	a.mtime_nsec = 0;
	a.size = UINT64_MAX;
	raw_file_from(&b, 1, 10, &a);
	REFUSED(proto_decode_file_from(b.data, b.len, &out, err, sizeof(err)));
	buf_release(&b);

	/* Truncated, trailing byte. */
	memset(&h, 0, sizeof(h));
	h.index = 9;
	h.offset = 7;
	h.attr.size = 8;
	ck_assert_int_eq(proto_send_file(&tx, &h), 0);
	recv_frame(MSG_FILE_FROM, &p, &n);
	PREFIXES_REFUSED(p, n, proto_decode_file_from(pfx_, plen_, &out, err,
	    sizeof(err)));
	c = with_trailing_byte(p, n);
	REFUSED(proto_decode_file_from(c, n + 1, &out, err, sizeof(err)));
	/* A FILE_FROM is not a FILE (8 bytes too many). */
	REFUSED(proto_decode_file(c, n, &out, err, sizeof(err)));
	free(c);

	/* Nor a FILE a FILE_FROM (8 bytes short). */
	h.offset = 0;
	ck_assert_int_eq(proto_send_file(&tx, &h), 0);
	recv_frame(MSG_FILE, &p, &n);
	c = exact_copy(p, n);
	REFUSED(proto_decode_file_from(c, n, &out, err, sizeof(err)));
	free(c);
}
END_TEST

/* ---- SUB_PATH, SUB_VERDICT, SUB_KEPT (slave mounts) ------------------- */

/* Sends sp and decodes it back; returns the decoder's result. */
static int
sub_path_round_trip(const struct sub_path *sp, struct sub_path *out)
{
	const uint8_t *p;
	size_t n;
	uint8_t *c;
	int rc;

	ck_assert_int_eq(proto_send_sub_path(&tx, sp), 0);
	recv_frame(MSG_SUB_PATH, &p, &n);
	c = exact_copy(p, n);
	err[0] = '\0';
	rc = proto_decode_sub_path(c, n, out, err, sizeof(err));
	free(c);
	return rc;
}

START_TEST(test_sub_path_round_trip)
{
	struct sub_path sp, out;

	for (int kind = SUB_NAME; kind <= SUB_ATTR; kind++) {
		sp.kind = kind;
		sp.dev = 0xfd00u + (uint64_t)kind;
		sp.ino = UINT64_MAX - (uint64_t)kind;
		sp.path = "dir/sub dir/file.txt";
		ck_assert_msg(sub_path_round_trip(&sp, &out) == 0,
		    "kind %d: %s", kind, err);
		ck_assert_int_eq(out.kind, kind);
		ck_assert_uint_eq(out.dev, sp.dev);
		ck_assert_uint_eq(out.ino, sp.ino);
		ck_assert_str_eq(out.path, sp.path);
		free(out.path);
	}
	/* "." is the top directory (its attributes). */
	sp.kind = SUB_ATTR;
	sp.dev = sp.ino = 0;
	sp.path = ".";
	ck_assert_int_eq(sub_path_round_trip(&sp, &out), 0);
	ck_assert_str_eq(out.path, ".");
	free(out.path);
}
END_TEST

START_TEST(test_sub_path_hostile)
{
	static char *bad_paths[] = {
		"../x", "..", "a/../b", "/etc/passwd", "", "a//b", "./a",
		"a/.", "x/..",
	};
	struct sub_path sp, out;
	const uint8_t *p;
	uint8_t *c;
	size_t n;

	sp.kind = SUB_ATTR + 1;
	sp.dev = 1;
	sp.ino = 2;
	sp.path = "a";
	ck_assert_int_eq(sub_path_round_trip(&sp, &out), -1);
	ck_assert(err[0] != '\0');
	ck_assert_ptr_null(out.path);
	sp.kind = 0;
	ck_assert_int_eq(sub_path_round_trip(&sp, &out), -1);
	ck_assert_ptr_null(out.path);
	sp.kind = 255;
	ck_assert_int_eq(sub_path_round_trip(&sp, &out), -1);
	ck_assert_ptr_null(out.path);

	sp.kind = SUB_NAME;
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		sp.path = bad_paths[i];
		ck_assert_msg(sub_path_round_trip(&sp, &out) == -1,
		    "'%s' accepted", bad_paths[i]);
		ck_assert(err[0] != '\0');
		ck_assert_ptr_null(out.path);
	}

	sp.path = "a/b";
	ck_assert_int_eq(proto_send_sub_path(&tx, &sp), 0);
	recv_frame(MSG_SUB_PATH, &p, &n);
	PREFIXES_REFUSED(p, n, proto_decode_sub_path(pfx_, plen_, &out, err,
	    sizeof(err)));
	c = with_trailing_byte(p, n);
	REFUSED(proto_decode_sub_path(c, n + 1, &out, err, sizeof(err)));
	ck_assert_ptr_null(out.path);
	free(c);
}
END_TEST

START_TEST(test_sub_verdict)
{
	static const uint8_t bad[][3] = {
		{ VERDICT_VETO + 1, 0, 0 }, { 255, 0, 0 },
	};
	const uint8_t *p;
	uint8_t *c;
	char *reason;
	size_t n;
	int v;

	for (int want = VERDICT_FREE; want <= VERDICT_VETO; want++) {
		ck_assert_int_eq(proto_send_sub_verdict(&tx, want,
		    want == VERDICT_VETO ? "file is busy" : NULL), 0);
		recv_frame(MSG_SUB_VERDICT, &p, &n);
		ck_assert_msg(proto_decode_sub_verdict(p, n, &v, &reason, err,
		    sizeof(err)) == 0, "decode: %s", err);
		ck_assert_int_eq(v, want);
		ck_assert_str_eq(reason, want == VERDICT_VETO ? "file is busy" :
		    "");
		free(reason);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		REFUSED(proto_decode_sub_verdict(bad[i], sizeof(bad[i]), &v,
		    &reason, err, sizeof(err)));
		ck_assert_ptr_null(reason);
	}
	ck_assert_int_eq(proto_send_sub_verdict(&tx, 3, "x"), 0);
	recv_frame(MSG_SUB_VERDICT, &p, &n);
	REFUSED(proto_decode_sub_verdict(p, n, &v, &reason, err, sizeof(err)));
	ck_assert_ptr_null(reason);

	ck_assert_int_eq(proto_send_sub_verdict(&tx, VERDICT_OPEN, "held"), 0);
	recv_frame(MSG_SUB_VERDICT, &p, &n);
	PREFIXES_REFUSED(p, n, proto_decode_sub_verdict(pfx_, plen_, &v,
	    &reason, err, sizeof(err)));
	c = with_trailing_byte(p, n);
	REFUSED(proto_decode_sub_verdict(c, n + 1, &v, &reason, err,
	    sizeof(err)));
	ck_assert_ptr_null(reason);
	free(c);
}
END_TEST

START_TEST(test_sub_kept)
{
	static const char *bad[] = { "a/b", "/", "renamed/AA1", ".", "..", "" };
	char longname[NAME_MAX + 2];
	const uint8_t *p;
	uint64_t dev, ino;
	uint8_t *c;
	char *name;
	size_t n;

	ck_assert_int_eq(proto_send_sub_kept(&tx, 0x803, 123456789, "AA000042"),
	    0);
	recv_frame(MSG_SUB_KEPT, &p, &n);
	ck_assert_msg(proto_decode_sub_kept(p, n, &dev, &ino, &name, err,
	    sizeof(err)) == 0, "decode: %s", err);
	ck_assert_uint_eq(dev, 0x803);
	ck_assert_uint_eq(ino, 123456789);
	ck_assert_str_eq(name, "AA000042");
	free(name);

	/* "..." and ".x" are names like any other. */
	ck_assert_int_eq(proto_send_sub_kept(&tx, 1, 2, "..."), 0);
	recv_frame(MSG_SUB_KEPT, &p, &n);
	ck_assert_int_eq(proto_decode_sub_kept(p, n, &dev, &ino, &name, err,
	    sizeof(err)), 0);
	free(name);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(proto_send_sub_kept(&tx, 1, 2, bad[i]), 0);
		recv_frame(MSG_SUB_KEPT, &p, &n);
		c = exact_copy(p, n);
		err[0] = '\0';
		ck_assert_msg(proto_decode_sub_kept(c, n, &dev, &ino, &name,
		    err, sizeof(err)) == -1, "'%s' accepted", bad[i]);
		ck_assert(err[0] != '\0');
		ck_assert_ptr_null(name);
		free(c);
	}

	/* Longer than a file name can be. */
	memset(longname, 'k', NAME_MAX + 1);
	longname[NAME_MAX + 1] = '\0';
	ck_assert_int_eq(proto_send_sub_kept(&tx, 1, 2, longname), 0);
	recv_frame(MSG_SUB_KEPT, &p, &n);
	REFUSED(proto_decode_sub_kept(p, n, &dev, &ino, &name, err,
	    sizeof(err)));
	ck_assert_ptr_null(name);
	longname[NAME_MAX] = '\0';
	ck_assert_int_eq(proto_send_sub_kept(&tx, 1, 2, longname), 0);
	recv_frame(MSG_SUB_KEPT, &p, &n);
	ck_assert_int_eq(proto_decode_sub_kept(p, n, &dev, &ino, &name, err,
	    sizeof(err)), 0);
	free(name);

	ck_assert_int_eq(proto_send_sub_kept(&tx, 1, 2, "AA000001"), 0);
	recv_frame(MSG_SUB_KEPT, &p, &n);
	PREFIXES_REFUSED(p, n, proto_decode_sub_kept(pfx_, plen_, &dev, &ino,
	    &name, err, sizeof(err)));
	c = with_trailing_byte(p, n);
	REFUSED(proto_decode_sub_kept(c, n + 1, &dev, &ino, &name, err,
	    sizeof(err)));
	ck_assert_ptr_null(name);
	free(c);
}
END_TEST

START_TEST(test_new_msg_names)
{
	for (int t = MSG_HELLO; t <= MSG_TYPE_MAX; t++)
		ck_assert_msg(proto_msg_name(t) != NULL &&
		    strcmp(proto_msg_name(t), "unknown") != 0,
		    "type %d has no name", t);
	ck_assert_str_eq(proto_msg_name(MSG_TYPE_MAX + 1), "unknown");
	ck_assert_str_eq(proto_msg_name(MSG_SUB_PATH), "SUB_PATH");
	ck_assert_str_eq(proto_msg_name(MSG_SUB_VERDICT), "SUB_VERDICT");
	ck_assert_str_eq(proto_msg_name(MSG_SUB_KEPT), "SUB_KEPT");
	ck_assert_str_eq(proto_msg_name(MSG_NET_OPEN), "NET_OPEN");
}
END_TEST

static Suite *
proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *rt = tcase_create("round_trip");
	TCase *ho = tcase_create("hostile");

	tcase_add_checked_fixture(rt, setup, teardown);
	tcase_add_test(rt, test_entry_regular);
	tcase_add_test(rt, test_entry_regular_with_hash);
	tcase_add_test(rt, test_entry_first_of_several);
	tcase_add_test(rt, test_entry_dir);
	tcase_add_test(rt, test_entry_symlink);
	tcase_add_test(rt, test_entry_hardlink);
	tcase_add_test(rt, test_entry_special_and_xattrs);
	tcase_add_test(rt, test_hole);
	tcase_add_test(rt, test_entry_raw_matches_sender);
	tcase_add_test(rt, test_end_manifest);
	tcase_add_test(rt, test_hello);
	tcase_add_test(rt, test_session_round_trip);
	tcase_add_test(rt, test_session_no_rules_all_flags);
	tcase_add_test(rt, test_need_round_trip);
	tcase_add_test(rt, test_need_max);
	tcase_add_test(rt, test_file_round_trip);
	tcase_add_test(rt, test_file_abort_round_trip);
	tcase_add_test(rt, test_item_round_trip);
	tcase_add_test(rt, test_result_round_trip);
	tcase_add_test(rt, test_error_round_trip);
	tcase_add_test(ho, test_error_malformed);
	tcase_add_test(rt, test_msg_names);
	tcase_add_test(rt, test_session_sequence);
	tcase_add_test(rt, test_ctl);
	tcase_add_test(rt, test_renamed);
	tcase_add_test(rt, test_need_from_round_trip);
	tcase_add_test(rt, test_file_from_round_trip);
	tcase_add_test(rt, test_sub_path_round_trip);
	tcase_add_test(rt, test_new_msg_names);
	suite_add_tcase(s, rt);

	tcase_add_checked_fixture(ho, setup, teardown);
	tcase_add_test(ho, test_entry_hostile_paths);
	tcase_add_test(ho, test_entry_nul_in_path);
	tcase_add_test(ho, test_entry_long_path);
	tcase_add_test(ho, test_entry_unknown_type);
	tcase_add_test(ho, test_entry_bad_attributes);
	tcase_add_test(ho, test_entry_bad_targets);
	tcase_add_test(ho, test_entry_trailing_bytes);
	tcase_add_test(ho, test_entry_truncated);
	tcase_add_test(ho, test_entry_small_err_buffer);
	tcase_add_test(ho, test_hello_hostile);
	tcase_add_test(ho, test_session_hostile);
	tcase_add_test(ho, test_session_nul_in_pattern);
	tcase_add_test(ho, test_session_truncated);
	tcase_add_test(ho, test_need_hostile);
	tcase_add_test(rt, test_mark_round_trip);
	tcase_add_test(ho, test_mark_bad_length);
	tcase_add_test(ho, test_file_hostile);
	tcase_add_test(ho, test_file_abort_hostile);
	tcase_add_test(ho, test_item_long_reason);
	tcase_add_test(ho, test_item_hostile);
	tcase_add_test(ho, test_need_from_hostile);
	tcase_add_test(ho, test_need_sig_and_file_delta);
	tcase_add_test(ho, test_file_from_hostile);
	tcase_add_test(ho, test_sub_path_hostile);
	tcase_add_test(ho, test_sub_verdict);
	tcase_add_test(ho, test_sub_kept);
	tcase_add_test(ho, test_gen);
	suite_add_tcase(s, ho);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
