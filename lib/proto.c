/* proto: the session protocol's messages, their encoders and checked decoders. */
#include "proto.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "path.h"
#include "xattr.h"

const char *
proto_msg_name(int type)
{
	static const char *names[] = {
		[MSG_HELLO] = "HELLO", [MSG_SESSION] = "SESSION",
		[MSG_ENTRY] = "ENTRY", [MSG_END_MANIFEST] = "END_MANIFEST",
		[MSG_NEED] = "NEED", [MSG_END_NEED] = "END_NEED",
		[MSG_FILE] = "FILE", [MSG_DATA] = "DATA",
		[MSG_FILE_END] = "FILE_END", [MSG_FILE_ABORT] = "FILE_ABORT",
		[MSG_DONE] = "DONE", [MSG_ITEM] = "ITEM",
		[MSG_RESULT] = "RESULT", [MSG_ERROR] = "ERROR",
		[MSG_CTL] = "CTL", [MSG_CTL_RENAMED] = "CTL_RENAMED",
		[MSG_SUB_BEGIN] = "SUB_BEGIN", [MSG_SUB_PATH] = "SUB_PATH",
		[MSG_SUB_PATHS_END] = "SUB_PATHS_END",
		[MSG_SUB_KEPT] = "SUB_KEPT", [MSG_SUB_END] = "SUB_END",
		[MSG_SUB_VERDICT] = "SUB_VERDICT", [MSG_SUB_ACK] = "SUB_ACK",
		[MSG_NET_OPEN] = "NET_OPEN", [MSG_NET_CHALLENGE] = "NET_CHALLENGE",
		[MSG_NET_PROOF] = "NET_PROOF", [MSG_NET_OK] = "NET_OK",
		[MSG_NEED_FROM] = "NEED_FROM", [MSG_FILE_FROM] = "FILE_FROM",
		[MSG_DAEMON] = "DAEMON", [MSG_DAEMON_REPLY] = "DAEMON_REPLY",
		[MSG_NEED_SIG] = "NEED_SIG", [MSG_FILE_DELTA] = "FILE_DELTA",
		[MSG_COMMIT_ASK] = "COMMIT_ASK", [MSG_COMMIT] = "COMMIT",
		[MSG_HOLE] = "HOLE",
		[MSG_FILE_FD] = "FILE_FD", [MSG_GEN] = "GEN",
		[MSG_HOPS] = "HOPS", [MSG_MARK] = "MARK",
	};

	if (type <= 0 || type > MSG_TYPE_MAX)
		return "unknown";
	return names[type];
}

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Queues the frame encoded in b (encoded is nonzero when encoding failed). */
static int
send_buf(struct conn *c, int type, struct buf *b, int encoded)
{
	int rc = -1;

	if (encoded != 0)
		log_err("encoding %s for %s", proto_msg_name(type), c->peer);
	else
		rc = conn_send(c, (uint8_t)type, b->data, b->len);
	buf_release(b);
	return rc;
}

unsigned
proto_session_ns(uint32_t flags)
{
	return ((flags & SESSION_XATTRS) ? XATTR_NS_XATTRS : 0) |
	    ((flags & SESSION_ACLS) ? XATTR_NS_ACL : 0);
}

unsigned
proto_session_scan(uint32_t flags)
{
	return ((flags & SESSION_CHECKSUM) ? MANIFEST_SCAN_HASH : 0) |
	    ((flags & SESSION_XATTRS) ? MANIFEST_SCAN_XATTRS : 0) |
	    ((flags & SESSION_ACLS) ? MANIFEST_SCAN_ACLS : 0);
}

int
proto_send_hello(struct conn *c)
{
	struct buf b;
	int r;

	buf_init(&b);
	r = buf_put_u32(&b, PROTO_MAGIC) || buf_put_u16(&b, PROTO_VERSION);
	return send_buf(c, MSG_HELLO, &b, r);
}

int
proto_decode_hello(const uint8_t *p, size_t n, char *err, size_t errlen)
{
	struct reader r;
	uint32_t magic;
	uint16_t version;

	reader_init(&r, p, n);
	magic = reader_u32(&r);
	version = reader_u16(&r);
	if (reader_finish(&r) == -1 || magic != PROTO_MAGIC)
		return fail(err, errlen, "not a mirrorfs peer (bad greeting)");
	if (version != PROTO_VERSION)
		return fail(err, errlen, "protocol version %u, this side "
		    "speaks %u", version, PROTO_VERSION);
	return 0;
}

int
proto_send_session(struct conn *c, uint32_t flags, uint32_t window,
    const struct filter *f)
{
	struct buf b;
	int r;

	buf_init(&b);
	r = buf_put_u32(&b, flags) || buf_put_u32(&b, window) ||
	    buf_put_u32(&b, (uint32_t)f->n);
	for (size_t i = 0; i < f->n && r == 0; i++)
		r = buf_put_u8(&b, (uint8_t)f->rules[i].kind) ||
		    buf_put_str(&b, f->rules[i].pattern);
	return send_buf(c, MSG_SESSION, &b, r);
}

int
proto_decode_session(const uint8_t *p, size_t n, uint32_t *flags,
    uint32_t *window, struct filter *f, char *err, size_t errlen)
{
	struct reader r;
	uint32_t nrules;
	char *pat;
	int kind;

	reader_init(&r, p, n);
	*flags = reader_u32(&r);
	*window = reader_u32(&r);	/* any: a window, or 0 */
	nrules = reader_u32(&r);
	if (r.failed || (*flags & ~SESSION_FLAGS_ALL) != 0)
		return fail(err, errlen, "SESSION: unknown flags %#x", *flags);
	if (nrules > PROTO_MAX_RULES)
		return fail(err, errlen, "SESSION: %u filter rules (limit %d)",
		    nrules, PROTO_MAX_RULES);
	for (uint32_t i = 0; i < nrules; i++) {
		kind = reader_u8(&r);
		pat = reader_str(&r, PATH_MAX - 1);
		if (pat == NULL || (kind != FILTER_EXCLUDE &&
		    kind != FILTER_INCLUDE) || filter_add(f, kind, pat) == -1) {
			free(pat);
			filter_release(f);
			return fail(err, errlen, "SESSION: bad filter rule %u", i);
		}
		free(pat);
	}
	if (reader_finish(&r) == -1) {
		filter_release(f);
		return fail(err, errlen, "SESSION: malformed");
	}
	return 0;
}

static int
put_attr(struct buf *b, const struct entry *e)
{
	return buf_put_u32(b, e->mode) || buf_put_u32(b, e->uid) ||
	    buf_put_u32(b, e->gid) || buf_put_u64(b, e->size) ||
	    buf_put_u64(b, (uint64_t)e->mtime_sec) ||
	    buf_put_u32(b, e->mtime_nsec);
}

/* Reads the attributes into e; returns the mode as sent, for check_attr. */
static uint32_t
get_attr(struct reader *r, struct entry *e)
{
	uint32_t mode = reader_u32(r);

	e->mode = (uint16_t)(mode & 07777);
	e->uid = reader_u32(r);
	e->gid = reader_u32(r);
	e->size = reader_u64(r);
	e->mtime_sec = (int64_t)reader_u64(r);
	e->mtime_nsec = reader_u32(r);
	return mode;
}

static int
check_attr(const struct entry *e, uint32_t mode, char *err, size_t errlen)
{
	if (mode & ~07777u)
		return fail(err, errlen, "mode %#o out of range", mode);
	if (e->mtime_nsec >= 1000000000u)
		return fail(err, errlen, "mtime nanoseconds %u out of range",
		    e->mtime_nsec);
	if (e->size > (uint64_t)INT64_MAX)
		return fail(err, errlen, "size out of range");
	return 0;
}

static int
put_xattrs(struct buf *b, const struct entry *e)
{
	return buf_put_u32(b, e->xattrs_len) ||
	    (e->xattrs_len > 0 && buf_put(b, e->xattrs, e->xattrs_len));
}

/* Reads and checks the attributes of e (owned by e then). */
static int
get_xattrs(struct reader *r, unsigned ns, struct entry *e, char *err,
    size_t errlen)
{
	uint32_t len = reader_u32(r);
	const void *p;
	const char *why;

	if (r->failed)
		return -1;
	if (len == 0)
		return 0;
	if (len > XATTR_MAX_ENTRY)
		return fail(err, errlen, "%s: extended attributes of %u bytes "
		    "(limit %u)", e->path ? e->path : ".", len,
		    XATTR_MAX_ENTRY);
	if ((p = reader_bytes(r, len)) == NULL)
		return -1;
	if (xattr_check(p, len, ns, &why) == -1)
		return fail(err, errlen, "%s: %s", e->path ? e->path : ".",
		    why);
	if ((e->xattrs = malloc(len)) == NULL)
		return fail(err, errlen, "out of memory");
	memcpy(e->xattrs, p, len);
	e->xattrs_len = len;
	return 0;
}

int
proto_send_entry(struct conn *c, const struct entry *e)
{
	struct buf b;
	int r;

	buf_init(&b);
	r = buf_put_u8(&b, (uint8_t)e->type) || buf_put_str(&b, e->path) ||
	    put_attr(&b, e) || buf_put_u8(&b, (uint8_t)((e->has_hash ? 1 : 0) |
	    (e->type == ENTRY_REG && e->linked ? 2 : 0)));
	if (e->has_hash)
		r = r || buf_put(&b, e->hash, HASH_SIZE);
	if (e->type == ENTRY_LNK || e->type == ENTRY_HARDLINK)
		r = r || buf_put_str(&b, e->target);
	if (ENTRY_IS_DEVICE(e->type))
		r = r || buf_put_u32(&b, e->rdev_major) ||
		    buf_put_u32(&b, e->rdev_minor);
	r = r || put_xattrs(&b, e);
	return send_buf(c, MSG_ENTRY, &b, r);
}

int
proto_decode_entry(const uint8_t *p, size_t n, unsigned ns, struct entry *e,
    char *err, size_t errlen)
{
	struct reader r;
	const void *hash;
	const char *why;
	uint32_t mode;

	memset(e, 0, sizeof(*e));
	err[0] = '\0';
	reader_init(&r, p, n);
	e->type = reader_u8(&r);
	e->path = reader_str(&r, PATH_MAX - 1);
	mode = get_attr(&r, e);
	e->has_hash = reader_u8(&r);
	/* Bit 1: the first name of a file with several (a REG only). */
	if ((e->has_hash & 2) && e->type == ENTRY_REG) {
		e->linked = 1;
		e->has_hash &= 1;
	}
	if (e->has_hash == 1 && (hash = reader_bytes(&r, HASH_SIZE)) != NULL)
		memcpy(e->hash, hash, HASH_SIZE);
	if (e->type == ENTRY_LNK || e->type == ENTRY_HARDLINK)
		e->target = reader_str(&r, PATH_MAX - 1);
	if (ENTRY_IS_DEVICE(e->type)) {
		e->rdev_major = reader_u32(&r);
		e->rdev_minor = reader_u32(&r);
	}
	if (get_xattrs(&r, ns, e, err, errlen) == -1 && err[0] != '\0') {
		char why2[256];

		snprintf(why2, sizeof(why2), "%s", err);
		fail(err, errlen, "ENTRY %s", why2);
		goto bad;
	}
	if (reader_finish(&r) == -1 || e->path == NULL || e->has_hash > 1) {
		fail(err, errlen, "ENTRY: malformed");
		goto bad;
	}
	if (e->xattrs_len > 0 && (e->type == ENTRY_HARDLINK ||
	    e->type == ENTRY_GONE)) {
		fail(err, errlen, "ENTRY %s: attributes on a %s", e->path,
		    entry_type_name(e->type));
		goto bad;
	}
	if (e->type < ENTRY_REG || e->type > ENTRY_TYPE_MAX) {
		fail(err, errlen, "ENTRY %s: unknown type %d", e->path, e->type);
		goto bad;
	}
	if (path_check(e->path, &why) == -1) {
		fail(err, errlen, "ENTRY: refused path '%s': %s", e->path, why);
		goto bad;
	}
	if (path_is_meta(e->path)) {
		fail(err, errlen, "ENTRY: refused path '%s': reserved name",
		    e->path);
		goto bad;
	}
	if (check_attr(e, mode, err, errlen) == -1)
		goto bad;
	if (e->type == ENTRY_LNK && *e->target == '\0') {
		fail(err, errlen, "ENTRY %s: empty symlink target", e->path);
		goto bad;
	}
	if (e->type == ENTRY_HARDLINK && (path_check(e->target, &why) == -1 ||
	    (path_is_meta(e->target) && (why = "reserved name")))) {
		fail(err, errlen, "ENTRY %s: refused link target: %s", e->path,
		    why);
		goto bad;
	}
	return 0;
bad:
	entry_release(e);
	return -1;
}

int
proto_send_end_manifest(struct conn *c, uint64_t count, const struct entry *top,
    int flags)
{
	struct buf b;
	int r;

	buf_init(&b);
	r = buf_put_u64(&b, count) || put_attr(&b, top) ||
	    buf_put_u8(&b, (uint8_t)flags) || put_xattrs(&b, top);
	return send_buf(c, MSG_END_MANIFEST, &b, r);
}

int
proto_decode_end_manifest(const uint8_t *p, size_t n, unsigned ns,
    uint64_t *count, struct entry *top, int *flags, char *err, size_t errlen)
{
	struct reader r;
	uint32_t mode;

	memset(top, 0, sizeof(*top));
	err[0] = '\0';
	reader_init(&r, p, n);
	*count = reader_u64(&r);
	mode = get_attr(&r, top);
	*flags = reader_u8(&r);
	top->type = ENTRY_DIR;
	if (get_xattrs(&r, ns, top, err, errlen) == -1 && err[0] != '\0')
		goto bad;
	if (reader_finish(&r) == -1 || (*flags & ~MANIFEST_FLAGS_ALL)) {
		fail(err, errlen, "END_MANIFEST: malformed");
		goto bad;
	}
	if (check_attr(top, mode, err, errlen) == -1)
		goto bad;
	return 0;
bad:
	entry_release(top);
	return -1;
}

int
proto_send_need(struct conn *c, const uint32_t *idx, size_t n)
{
	struct buf b;
	int r;

	buf_init(&b);
	r = buf_put_u32(&b, (uint32_t)n);
	for (size_t i = 0; i < n && r == 0; i++)
		r = buf_put_u32(&b, idx[i]);
	return send_buf(c, MSG_NEED, &b, r);
}

int
proto_decode_need(const uint8_t *p, size_t n, uint32_t *idx, size_t *count,
    char *err, size_t errlen)
{
	struct reader r;
	uint32_t cnt;

	reader_init(&r, p, n);
	cnt = reader_u32(&r);
	if (cnt > PROTO_MAX_NEED)
		return fail(err, errlen, "NEED: %u indexes (limit %d)", cnt,
		    PROTO_MAX_NEED);
	for (uint32_t i = 0; i < cnt; i++)
		idx[i] = reader_u32(&r);
	if (reader_finish(&r) == -1)
		return fail(err, errlen, "NEED: malformed");
	*count = cnt;
	return 0;
}

int
proto_send_mark(struct conn *c, uint32_t mark)
{
	struct buf b;

	buf_init(&b);
	return send_buf(c, MSG_MARK, &b, buf_put_u32(&b, mark));
}

int
proto_decode_mark(const uint8_t *p, size_t n, uint32_t *mark, char *err,
    size_t errlen)
{
	struct reader r;

	reader_init(&r, p, n);
	*mark = reader_u32(&r);
	if (reader_finish(&r) == -1)
		return fail(err, errlen, "MARK: malformed (%zu bytes)", n);
	return 0;
}

int
proto_send_need_from(struct conn *c, uint32_t index, uint64_t offset,
    const uint8_t kept[HASH_SIZE])
{
	struct buf b;
	int r;

	buf_init(&b);
	r = buf_put_u32(&b, index) || buf_put_u64(&b, offset) ||
	    buf_put(&b, kept, HASH_SIZE);
	return send_buf(c, MSG_NEED_FROM, &b, r);
}

int
proto_decode_need_from(const uint8_t *p, size_t n, uint32_t *index,
    uint64_t *offset, uint8_t kept[HASH_SIZE], char *err, size_t errlen)
{
	struct reader r;
	const uint8_t *h;

	reader_init(&r, p, n);
	*index = reader_u32(&r);
	*offset = reader_u64(&r);
	h = reader_bytes(&r, HASH_SIZE);
	if (h != NULL)
		memcpy(kept, h, HASH_SIZE);
	if (reader_finish(&r) == -1 || *offset == 0 || *offset > INT64_MAX)
		return fail(err, errlen, "NEED_FROM: malformed");
	return 0;
}

int
proto_send_need_sig(struct conn *c, uint32_t index, int more, const void *sig,
    size_t n)
{
	struct buf b;
	int r;

	buf_init(&b);
	r = buf_put_u32(&b, index) || buf_put_u8(&b, more ? 1 : 0) ||
	    buf_put(&b, sig, n);
	return send_buf(c, MSG_NEED_SIG, &b, r);
}

int
proto_decode_need_sig(const uint8_t *p, size_t n, uint32_t *index, int *more,
    const uint8_t **sig, size_t *len, char *err, size_t errlen)
{
	struct reader r;
	uint8_t m;

	reader_init(&r, p, n);
	*index = reader_u32(&r);
	m = reader_u8(&r);
	if (r.failed || m > 1 || n - 5 > PROTO_SIG_CHUNK)
		return fail(err, errlen, "NEED_SIG: malformed");
	*more = m;
	*sig = p + 5;
	*len = n - 5;
	return 0;
}

int
proto_send_hole(struct conn *c, uint64_t len)
{
	struct buf b;
	int r;

	buf_init(&b);
	r = buf_put_u64(&b, len);
	return send_buf(c, MSG_HOLE, &b, r);
}

int
proto_decode_hole(const uint8_t *p, size_t n, uint64_t *len, char *err,
    size_t errlen)
{
	struct reader r;

	reader_init(&r, p, n);
	*len = reader_u64(&r);
	if (reader_finish(&r) == -1 || *len == 0 || *len > INT64_MAX)
		return fail(err, errlen, "HOLE: malformed");
	return 0;
}

int
proto_send_file(struct conn *c, const struct file_head *h)
{
	struct buf b;
	int r, type = h->delta ? MSG_FILE_DELTA : h->offset > 0 ?
	    MSG_FILE_FROM : MSG_FILE;

	buf_init(&b);
	r = buf_put_u32(&b, h->index);
	if (type == MSG_FILE_FROM)
		r = r || buf_put_u64(&b, h->offset);
	r = r || put_attr(&b, &h->attr);
	return send_buf(c, type, &b, r);
}

int
proto_send_file_fd(struct conn *c, const struct file_head *h, int fd)
{
	struct buf b;
	int rc = -1;

	buf_init(&b);
	if (buf_put_u32(&b, h->index) || put_attr(&b, &h->attr))
		log_err("encoding FILE_FD for %s", c->peer);
	else
		rc = conn_send_fd(c, MSG_FILE_FD, b.data, b.len, fd);
	buf_release(&b);
	return rc;
}

int
proto_decode_file_from(const uint8_t *p, size_t n, struct file_head *h,
    char *err, size_t errlen)
{
	struct reader r;
	uint32_t mode;

	memset(h, 0, sizeof(*h));
	reader_init(&r, p, n);
	h->index = reader_u32(&r);
	h->offset = reader_u64(&r);
	mode = get_attr(&r, &h->attr);
	if (reader_finish(&r) == -1 || h->offset == 0 ||
	    h->offset > h->attr.size)
		return fail(err, errlen, "FILE_FROM: malformed");
	return check_attr(&h->attr, mode, err, errlen);
}

int
proto_decode_file(const uint8_t *p, size_t n, struct file_head *h,
    char *err, size_t errlen)
{
	struct reader r;
	uint32_t mode;

	memset(h, 0, sizeof(*h));
	reader_init(&r, p, n);
	h->index = reader_u32(&r);
	mode = get_attr(&r, &h->attr);
	if (reader_finish(&r) == -1)
		return fail(err, errlen, "FILE: malformed");
	return check_attr(&h->attr, mode, err, errlen);
}

/*
 * A reason, cut to what a peer takes (PROTO_MAX_REASON bytes, "..." at a
 * character's boundary at the end): one that names a long path must not
 * make its whole frame refused.
 */
static int
put_reason(struct buf *b, const char *reason)
{
	char cut[PROTO_MAX_REASON + 1];
	size_t len = reason != NULL ? strlen(reason) : 0;

	if (len <= PROTO_MAX_REASON)
		return buf_put_str(b, reason != NULL ? reason : "");
	len = PROTO_MAX_REASON - 3;
	while (len > 0 && ((unsigned char)reason[len] & 0xc0) == 0x80)
		len--;	/* not inside a UTF-8 sequence */
	memcpy(cut, reason, len);
	memcpy(cut + len, "...", 4);
	return buf_put_str(b, cut);
}

int
proto_send_file_abort(struct conn *c, uint32_t index, int action,
    const char *reason)
{
	struct buf b;
	int r;

	buf_init(&b);
	r = buf_put_u32(&b, index) || buf_put_u8(&b, (uint8_t)action) ||
	    put_reason(&b, reason);
	return send_buf(c, MSG_FILE_ABORT, &b, r);
}

int
proto_decode_file_abort(const uint8_t *p, size_t n, uint32_t *index,
    int *action, char **reason, char *err, size_t errlen)
{
	struct reader r;

	reader_init(&r, p, n);
	*index = reader_u32(&r);
	*action = reader_u8(&r);
	*reason = reader_str(&r, PROTO_MAX_REASON);
	if (reader_finish(&r) == -1 || (*action != ITEM_FAIL &&
	    *action != ITEM_SKIP && *action != ITEM_HELD &&
	    *action != ITEM_VANISHED &&
	    *action != ABORT_RETRY)) {
		free(*reason);
		*reason = NULL;
		return fail(err, errlen, "FILE_ABORT: malformed");
	}
	return 0;
}

int
proto_send_item(struct conn *c, const struct item *it)
{
	struct buf b;
	int r;

	buf_init(&b);
	r = buf_put_u8(&b, (uint8_t)it->action) ||
	    buf_put_u8(&b, (uint8_t)it->is_dir) || buf_put_str(&b, it->path) ||
	    put_reason(&b, it->reason) ||
	    buf_put_u8(&b, (uint8_t)it->kind) || buf_put_u16(&b, it->changes) ||
	    buf_put_str(&b, it->target ? it->target : "");
	return send_buf(c, MSG_ITEM, &b, r);
}

int
proto_decode_item(const uint8_t *p, size_t n, struct item *it,
    char *err, size_t errlen)
{
	struct reader r;

	memset(it, 0, sizeof(*it));
	reader_init(&r, p, n);
	it->action = reader_u8(&r);
	it->is_dir = reader_u8(&r);
	it->path = reader_str(&r, PATH_MAX - 1);
	it->reason = reader_str(&r, PROTO_MAX_REASON);
	it->kind = (char)reader_u8(&r);
	it->changes = reader_u16(&r);
	it->target = reader_str(&r, PATH_MAX - 1);
	if (reader_finish(&r) == -1 || it->action < ITEM_CREATE ||
	    it->action > ITEM_ACTION_MAX || it->is_dir > 1 ||
	    (it->kind != 0 && strchr(ITEM_KINDS, it->kind) == NULL) ||
	    (it->changes & ~ITEM_CH_MASK) != 0) {
		result_item_release(it);
		return fail(err, errlen, "ITEM: malformed");
	}
	if (*it->reason == '\0') {
		free(it->reason);
		it->reason = NULL;
	}
	if (*it->target == '\0') {
		free(it->target);
		it->target = NULL;
	}
	return 0;

}

int
proto_send_result(struct conn *c, const struct result *res)
{
	struct buf b;
	int r;

	buf_init(&b);
	r = buf_put_u64(&b, res->created) || buf_put_u64(&b, res->replaced) ||
	    buf_put_u64(&b, res->purged) || buf_put_u64(&b, res->unchanged) ||
	    buf_put_u64(&b, res->skipped) || buf_put_u64(&b, res->failed) ||
	    buf_put_u64(&b, res->vanished) || buf_put_u8(&b, (uint8_t)res->report);
	return send_buf(c, MSG_RESULT, &b, r);
}

int
proto_decode_result(const uint8_t *p, size_t n, struct result *res,
    char *err, size_t errlen)
{
	struct reader r;

	reader_init(&r, p, n);
	res->created = reader_u64(&r);
	res->replaced = reader_u64(&r);
	res->purged = reader_u64(&r);
	res->unchanged = reader_u64(&r);
	res->skipped = reader_u64(&r);
	res->failed = reader_u64(&r);
	res->vanished = reader_u64(&r);
	res->report = reader_u8(&r);
	if (reader_finish(&r) == -1 || res->report > 1)
		return fail(err, errlen, "RESULT: malformed");
	return 0;
}

int
proto_send_ctl(struct conn *c, int op, uint32_t arg)
{
	struct buf b;
	int r;

	buf_init(&b);
	r = buf_put_u8(&b, (uint8_t)op) || buf_put_u32(&b, arg);
	return send_buf(c, MSG_CTL, &b, r);
}

int
proto_decode_ctl(const uint8_t *p, size_t n, int *op, uint32_t *arg,
    char *err, size_t errlen)
{
	struct reader r;

	reader_init(&r, p, n);
	*op = reader_u8(&r);
	*arg = reader_u32(&r);
	if (reader_finish(&r) == -1 || *op < CTL_SESSION || *op > CTL_OP_MAX ||
	    (*op != CTL_SESSION && *op != CTL_HOLD && *arg != 0) ||
	    (*op == CTL_HOLD && *arg == 0) || *arg > 86400)
		return fail(err, errlen, "CTL: unknown request");
	return 0;
}

int
proto_send_gen(struct conn *c, const struct store_gen *g)
{
	struct buf b;
	int r;

	buf_init(&b);
	r = buf_put_u64(&b, g->epoch) || buf_put_u64(&b, g->gen) ||
	    buf_put_u32(&b, g->hold_s) || buf_put_u8(&b, g->broken ? 1 : 0);
	return send_buf(c, MSG_GEN, &b, r);
}

int
proto_decode_gen(const uint8_t *p, size_t n, struct store_gen *g,
    char *err, size_t errlen)
{
	struct reader r;
	int broken;

	reader_init(&r, p, n);
	g->epoch = reader_u64(&r);
	g->gen = reader_u64(&r);
	g->hold_s = reader_u32(&r);
	broken = reader_u8(&r);
	if (reader_finish(&r) == -1 || broken > 1 || g->hold_s > 86400)
		return fail(err, errlen, "GEN: malformed");
	g->broken = broken;
	return 0;
}

int
proto_send_hops(struct conn *c, const struct hops *h)
{
	struct buf b;

	buf_init(&b);
	return send_buf(c, MSG_HOPS, &b, hops_encode(h, &b));
}

int
proto_send_renamed(struct conn *c, const struct renamed_info *ri)
{
	struct buf b;
	int r;

	buf_init(&b);
	r = buf_put_str(&b, ri->name) || buf_put_str(&b, ri->path) ||
	    buf_put_u32(&b, ri->opens);
	return send_buf(c, MSG_CTL_RENAMED, &b, r);
}

int
proto_decode_renamed(const uint8_t *p, size_t n, struct renamed_info *ri,
    char *err, size_t errlen)
{
	struct reader r;

	reader_init(&r, p, n);
	ri->name = reader_str(&r, NAME_MAX);
	ri->path = reader_str(&r, PATH_MAX - 1);
	ri->opens = reader_u32(&r);
	if (reader_finish(&r) == -1) {
		free(ri->name);
		free(ri->path);
		ri->name = ri->path = NULL;
		return fail(err, errlen, "CTL_RENAMED: malformed");
	}
	return 0;
}

int
proto_send_sub_path(struct conn *c, const struct sub_path *sp)
{
	struct buf b;
	int r;

	buf_init(&b);
	r = buf_put_u8(&b, (uint8_t)sp->kind) || buf_put_u64(&b, sp->dev) ||
	    buf_put_u64(&b, sp->ino) || buf_put_str(&b, sp->path);
	return send_buf(c, MSG_SUB_PATH, &b, r);
}

int
proto_decode_sub_path(const uint8_t *p, size_t n, struct sub_path *sp,
    char *err, size_t errlen)
{
	struct reader r;
	const char *why;

	reader_init(&r, p, n);
	sp->kind = reader_u8(&r);
	sp->dev = reader_u64(&r);
	sp->ino = reader_u64(&r);
	sp->path = reader_str(&r, PATH_MAX - 1);
	if (reader_finish(&r) == -1 ||
	    (sp->kind != SUB_NAME && sp->kind != SUB_ATTR) ||
	    (strcmp(sp->path, ".") != 0 && path_check(sp->path, &why) == -1)) {
		free(sp->path);
		sp->path = NULL;
		return fail(err, errlen, "SUB_PATH: malformed");
	}
	return 0;
}

int
proto_send_sub_verdict(struct conn *c, int verdict, const char *reason)
{
	struct buf b;
	int r;

	buf_init(&b);
	r = buf_put_u8(&b, (uint8_t)verdict) || put_reason(&b, reason);
	return send_buf(c, MSG_SUB_VERDICT, &b, r);
}

int
proto_decode_sub_verdict(const uint8_t *p, size_t n, int *verdict,
    char **reason, char *err, size_t errlen)
{
	struct reader r;

	reader_init(&r, p, n);
	*verdict = reader_u8(&r);
	*reason = reader_str(&r, PROTO_MAX_REASON);
	if (reader_finish(&r) == -1 || *verdict > VERDICT_VETO) {
		free(*reason);
		*reason = NULL;
		return fail(err, errlen, "SUB_VERDICT: malformed");
	}
	return 0;
}

int
proto_send_sub_kept(struct conn *c, uint64_t dev, uint64_t ino,
    const char *name)
{
	struct buf b;
	int r;

	buf_init(&b);
	r = buf_put_u64(&b, dev) || buf_put_u64(&b, ino) ||
	    buf_put_str(&b, name);
	return send_buf(c, MSG_SUB_KEPT, &b, r);
}

int
proto_decode_sub_kept(const uint8_t *p, size_t n, uint64_t *dev,
    uint64_t *ino, char **name, char *err, size_t errlen)
{
	struct reader r;

	reader_init(&r, p, n);
	*dev = reader_u64(&r);
	*ino = reader_u64(&r);
	*name = reader_str(&r, NAME_MAX);
	if (reader_finish(&r) == -1 || **name == '\0' || strchr(*name, '/') ||
	    strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0) {
		free(*name);
		*name = NULL;
		return fail(err, errlen, "SUB_KEPT: malformed");
	}
	return 0;
}

int
proto_send_daemon(struct conn *c, int op, const char *name)
{
	struct buf b;
	int r;

	buf_init(&b);
	r = buf_put_u8(&b, (uint8_t)op) || buf_put_str(&b, name ? name : "");
	return send_buf(c, MSG_DAEMON, &b, r);
}

int
proto_decode_daemon(const uint8_t *p, size_t n, int *op, char **name,
    char *err, size_t errlen)
{
	struct reader r;

	reader_init(&r, p, n);
	*op = reader_u8(&r);
	*name = reader_str(&r, NAME_MAX);
	if (reader_finish(&r) == -1 || *op < DAEMON_STATUS ||
	    *op > DAEMON_OP_MAX) {
		free(*name);
		*name = NULL;
		return fail(err, errlen, "DAEMON: malformed request");
	}
	return 0;
}

int
proto_expect(struct conn *c, int want, const uint8_t **p, size_t *n)
{
	uint8_t type;
	char *msg;
	int r;

	r = conn_recv(c, &type, p, n);
	if (r == 0)
		log_errx("%s closed the connection", c->peer);
	if (r != 1)
		return -1;
	if (type == MSG_ERROR) {
		if (proto_decode_error(*p, *n, &msg) == 0) {
			log_errx("%s: %s", c->peer, msg);
			free(msg);
		}
		return -1;
	}
	if (want != 0 && type != want) {
		log_errx("%s sent %s where %s was expected", c->peer,
		    proto_msg_name(type), proto_msg_name(want));
		return -1;
	}
	return type;
}

int
proto_send_error(struct conn *c, const char *msg)
{
	struct buf b;
	int r;

	buf_init(&b);
	r = buf_put_bytes16(&b, msg, strnlen(msg, PROTO_MAX_REASON));
	return send_buf(c, MSG_ERROR, &b, r);
}

int
proto_decode_error(const uint8_t *p, size_t n, char **msg)
{
	struct reader r;

	reader_init(&r, p, n);
	*msg = reader_str(&r, PROTO_MAX_REASON);
	if (*msg == NULL)
		*msg = strdup("(malformed error message)");
	return *msg ? 0 : -1;
}
