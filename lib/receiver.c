/* receiver: the destination half of a session (plan, staging, commit). */
#include "receiver.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "delta.h"
#include "fault.h"
#include "fsutil.h"
#include "hash.h"
#include "htab.h"
#include "journal.h"
#include "log.h"
#include "manifest.h"
#include "partial.h"
#include "path.h"
#include "plan.h"
#include "proto.h"
#include "store.h"

/* The most entries one session may carry (bounds the receiver's memory). */
#define RECEIVER_MAX_ENTRIES 20000000u
#define TOP_REF SIZE_MAX

struct receiver {
	struct conn *c;
	const struct receiver_target *t;
	struct store *st;		/* t->st, or own_st */
	struct store own_st;
	int store_open;		/* we opened own_st */
	const struct journal *committing;	/* for the owner's end() */
	uint32_t flags;
	struct filter filter;
	struct manifest m;
	struct plan plan;
	struct plan_opts popts;
	uint64_t *resume;	/* per entry: bytes of it already staged */
	uint64_t sigbytes;	/* signatures sent (bounded: delta.h) */
	char err[512];
};

/* The file being received. */
struct incoming {
	long idx;
	int fd;
	char name[32];
	uint64_t got;
	int werr;		/* errno of the first failed write */
	struct hash_state *h;
	struct file_head head;
	/* FILE_DELTA: the patch, the store's version it reads, what failed */
	struct delta_job *patch;
	int basisfd;
	char bad[256];
};

static void
staged_name(char *out, size_t len, size_t idx)
{
	snprintf(out, len, "n%zu", idx);
}

/* Logs a protocol violation and tells the peer. Always returns -1. */
static int
peer_fail(struct receiver *r, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_errx("%s: %s", r->c->peer, msg);
	proto_send_error(r->c, msg);
	conn_flush(r->c);
	return -1;
}

static int
recv_frame(struct receiver *r, uint8_t *type, const uint8_t **p, size_t *n)
{
	int t = proto_expect(r->c, 0, p, n);

	if (t == -1)
		return -1;
	*type = (uint8_t)t;
	return 0;
}

static int
recv_expect(struct receiver *r, int want, const uint8_t **p, size_t *n)
{
	uint8_t type;

	if (recv_frame(r, &type, p, n) == -1)
		return -1;
	if (type != want)
		return peer_fail(r, "sent %s where %s was expected",
		    proto_msg_name(type), proto_msg_name(want));
	return 0;
}

/*
 * Checks entry i against those before it (unique path, its directory
 * earlier, a hard link naming an earlier file) and indexes it.
 */
static int
check_entry(struct receiver *r, size_t i)
{
	struct manifest *m = &r->m;
	struct entry *e = &m->v[i];
	char dir[PATH_MAX];
	size_t len;
	long at;

	if (manifest_find(m, e->path) >= 0)
		return peer_fail(r, "the manifest names %s twice", e->path);
	len = path_dirlen(e->path);
	if (len > 0) {
		memcpy(dir, e->path, len);
		dir[len] = '\0';
		at = manifest_find(m, dir);
		if (at < 0 || m->v[at].type != ENTRY_DIR)
			return peer_fail(r, "entry %s comes before its "
			    "directory", e->path);
	}
	if (e->type == ENTRY_HARDLINK) {
		at = manifest_find(m, e->target);
		if (at < 0 || m->v[at].type != ENTRY_REG)
			return peer_fail(r, "hard link %s names %s, not an "
			    "earlier file", e->path, e->target);
		e->link_index = (size_t)at;
	}
	if (htab_put(&m->index, e->path, strlen(e->path), i) == -1)
		return peer_fail(r, "out of memory indexing the manifest");
	return 0;
}

static int open_store(struct receiver *r);

/*
 * Receives the manifest and plans each entry as it arrives: while the
 * sender still walks its tree, we already compare with the store.
 */
static int
recv_manifest(struct receiver *r)
{
	const uint8_t *p;
	size_t n;
	uint8_t type;
	uint64_t count;
	struct entry e;
	int mflags;

	if (recv_expect(r, MSG_SESSION, &p, &n) == -1)
		return -1;
	if (proto_decode_session(p, n, &r->flags, &r->filter, r->err,
	    sizeof(r->err)) == -1)
		return peer_fail(r, "%s", r->err);
	if (open_store(r) == -1)
		return -1;
	r->popts.flags = r->flags;
	r->popts.filter = &r->filter;
	plan_init(&r->plan);
	for (;;) {
		if (recv_frame(r, &type, &p, &n) == -1)
			return -1;
		if (type == MSG_END_MANIFEST)
			break;
		if (type != MSG_ENTRY)
			return peer_fail(r, "sent %s inside the manifest",
			    proto_msg_name(type));
		if (r->m.n >= RECEIVER_MAX_ENTRIES)
			return peer_fail(r, "manifest over %u entries",
			    RECEIVER_MAX_ENTRIES);
		if (proto_decode_entry(p, n, &e, r->err, sizeof(r->err)) == -1)
			return peer_fail(r, "%s", r->err);
		if (e.type == ENTRY_GONE && !(r->flags & SESSION_PARTIAL)) {
			entry_release(&e);
			return peer_fail(r, "a removed entry in a whole session");
		}
		if (manifest_push(&r->m, &e) == -1)
			return peer_fail(r, "out of memory for the manifest");
		if (check_entry(r, r->m.n - 1) == -1)
			return -1;
		if (plan_add(&r->plan, r->st, &r->m, r->m.n - 1,
		    &r->popts) == -1)
			return peer_fail(r, "%s: planning failed", r->t->path);
	}
	if (proto_decode_end_manifest(p, n, &count, &r->m.top, &mflags,
	    r->err, sizeof(r->err)) == -1)
		return peer_fail(r, "%s", r->err);
	if (count != r->m.n)
		return peer_fail(r, "manifest of %llu entries announced %llu",
		    (unsigned long long)r->m.n, (unsigned long long)count);
	/* The source could not be read whole: its absences prove nothing. */
	if (mflags & MANIFEST_INCOMPLETE)
		r->popts.flags &= ~(SESSION_PURGE | SESSION_PURGE_DIRS);
	if (plan_finish(&r->plan, r->st, &r->m, &r->popts) == -1)
		return peer_fail(r, "%s: planning failed", r->t->path);
	return 0;
}

/* Sends a signature as NEED_SIG frames. */
static int
send_sig(struct receiver *r, size_t i, const struct buf *sig)
{
	size_t off = 0, len;

	do {
		len = sig->len - off < PROTO_SIG_CHUNK ? sig->len - off :
		    PROTO_SIG_CHUNK;
		if (proto_send_need_sig(r->c, (uint32_t)i, off + len <
		    sig->len, sig->data + off, len) == -1)
			return -1;
		off += len;
	} while (off < sig->len);
	return 0;
}

static int
sig_append(void *arg, const void *p, size_t n)
{
	if (buf_put(arg, p, n) != 0) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/*
 * Asks for entry i as a delta against the store's version when the
 * sender offered deltas and that version is a big enough file: 0 asked
 * (NEED_SIG sent), 1 ask for it whole instead, -1 the connection failed.
 */
static int
need_delta(struct receiver *r, size_t i)
{
	const struct entry *e = &r->m.v[i];
	struct buf sig;
	struct stat st;
	char err[256];
	int fd, rc = 1;

	if (!(r->flags & SESSION_DELTA) || e->type != ENTRY_REG ||
	    e->size < DELTA_MIN_SIZE || !(r->plan.v[i].flags & PF_EXISTS))
		return 1;
	fd = store_open_at(r->st, e->path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return 1;
	buf_init(&sig);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size < DELTA_MIN_SIZE || r->sigbytes +
	    delta_sig_size((uint64_t)st.st_size) > DELTA_MAX_SIG_TOTAL)
		goto out;
	if (delta_signature(fd, (uint64_t)st.st_size, sig_append, &sig, err,
	    sizeof(err)) == -1) {
		log_warnx("%s/%s: sent whole: signature: %s", r->st->path,
		    e->path, err);
		goto out;
	}
	if (r->sigbytes + sig.len > DELTA_MAX_SIG_TOTAL)
		goto out;
	r->sigbytes += sig.len;
	rc = send_sig(r, i, &sig);
	if (rc == 0)
		r->plan.v[i].flags |= PF_DELTA;
out:
	close(fd);
	buf_release(&sig);
	return rc;
}

static int
send_need(struct receiver *r)
{
	uint32_t *batch;
	size_t k = 0;
	int rc = -1;

	batch = malloc(PROTO_MAX_NEED * sizeof(*batch));
	if (batch == NULL)
		return peer_fail(r, "out of memory");
	for (size_t i = 0; i < r->plan.n; i++) {
		if (!(r->plan.v[i].flags & PF_DATA) ||
		    (r->flags & SESSION_REPORT))
			continue;
		if (r->resume != NULL && r->resume[i] > 0) {
			if (proto_send_need_from(r->c, (uint32_t)i,
			    r->resume[i]) == -1)
				goto out;
			continue;
		}
		switch (need_delta(r, i)) {
		case -1: goto out;
		case 0: continue;
		}
		batch[k++] = (uint32_t)i;
		if (k == PROTO_MAX_NEED) {
			if (proto_send_need(r->c, batch, k) == -1)
				goto out;
			k = 0;
		}
	}
	if ((k > 0 && proto_send_need(r->c, batch, k) == -1) ||
	    conn_send(r->c, MSG_END_NEED, NULL, 0) == -1 ||
	    conn_flush(r->c) == -1)
		goto out;
	rc = 0;
out:
	free(batch);
	return rc;
}

static void
incoming_drop(struct receiver *r, struct incoming *in)
{
	if (in->fd != -1) {
		close(in->fd);
		unlinkat(r->st->stagingfd, in->name, 0);
	}
	hash_free(in->h);
	delta_free(in->patch);
	if (in->basisfd != -1)
		close(in->basisfd);
	in->h = NULL;
	in->patch = NULL;
	in->basisfd = -1;
	in->fd = -1;
	in->idx = -1;
}

/* Opens the staged part of a resumed file and hashes what it holds. */
static int
resume_open(struct receiver *r, struct incoming *in)
{
	struct stat st;
	uint8_t buf[65536];
	uint64_t off = 0;
	ssize_t n;

	in->fd = openat(r->st->stagingfd, in->name, O_RDWR | O_APPEND |
	    O_CLOEXEC | O_NOFOLLOW);
	if (in->fd == -1 || fstat(in->fd, &st) == -1 ||
	    (uint64_t)st.st_size != in->head.offset)
		return -1;
	while (off < in->head.offset) {
		n = pread(in->fd, buf, sizeof(buf), (off_t)off);
		if (n <= 0)
			return -1;
		hash_update(in->h, buf, (size_t)n);
		off += (uint64_t)n;
	}
	in->got = in->head.offset;
	return 0;
}

/* Opens the store's version of the file a delta applies to. */
static void
patch_begin(struct receiver *r, struct incoming *in)
{
	const char *path = r->m.v[in->idx].path;

	in->basisfd = store_open_at(r->st, path, O_RDONLY | O_CLOEXEC);
	if (in->basisfd == -1) {
		snprintf(in->bad, sizeof(in->bad), "delta: the old version: "
		    "%s", strerror(errno));
		return;
	}
	if ((in->patch = delta_patch_begin(in->basisfd)) == NULL)
		snprintf(in->bad, sizeof(in->bad), "delta: %s",
		    strerror(errno));
}

/* Takes bytes of the file: counted, hashed, and written when we can. */
static void
file_bytes(struct incoming *in, const void *p, size_t n)
{
	in->got += n;
	hash_update(in->h, p, n);
	if (in->werr == 0 && write_all(in->fd, p, n) == -1)
		in->werr = errno;	/* keep draining: other files may fit */
}

/* A patch's output: the new version's bytes. */
static int
patch_out(void *arg, const void *p, size_t n)
{
	struct incoming *in = arg;

	if (n > in->head.attr.size - in->got) {
		snprintf(in->bad, sizeof(in->bad), "the delta makes more "
		    "than the %llu bytes announced",
		    (unsigned long long)in->head.attr.size);
		errno = EFBIG;
		return -1;
	}
	file_bytes(in, p, n);
	return 0;
}

/* Feeds delta bytes (eof: the delta's end) to the patch. */
static void
patch_feed(struct incoming *in, const void *p, size_t n, int eof)
{
	char err[200];
	int r;

	if (in->bad[0] != '\0')
		return;		/* drained: the file fails */
	r = delta_feed(in->patch, p, n, eof, patch_out, in, err, sizeof(err));
	if (r == -1 && in->bad[0] == '\0')
		snprintf(in->bad, sizeof(in->bad), "delta: %s", err);
	if (r == 0 && eof)
		snprintf(in->bad, sizeof(in->bad), "delta: the stream ended "
		    "early");
}

static int
file_begin(struct receiver *r, struct incoming *in, int type,
    const uint8_t *p, size_t n)
{
	int rc;

	if (in->idx != -1)
		return peer_fail(r, "FILE before the previous file ended");
	rc = type == MSG_FILE_FROM ?
	    proto_decode_file_from(p, n, &in->head, r->err, sizeof(r->err)) :
	    proto_decode_file(p, n, &in->head, r->err, sizeof(r->err));
	if (rc == -1)
		return peer_fail(r, "%s", r->err);
	in->head.delta = type == MSG_FILE_DELTA;
	if (in->head.index >= r->plan.n ||
	    !(r->plan.v[in->head.index].flags & PF_DATA))
		return peer_fail(r, "sent data for entry %u, which was not "
		    "requested", in->head.index);
	if (in->head.delta && !(r->plan.v[in->head.index].flags & PF_DELTA))
		return peer_fail(r, "sent a delta for entry %u, which was "
		    "asked for whole", in->head.index);
	if (type == MSG_FILE_FROM && (r->resume == NULL ||
	    r->resume[in->head.index] != in->head.offset))
		return peer_fail(r, "resumed entry %u at an offset not asked "
		    "for", in->head.index);
	in->idx = in->head.index;
	in->got = 0;
	in->werr = 0;
	in->bad[0] = '\0';
	staged_name(in->name, sizeof(in->name), (size_t)in->idx);
	in->h = hash_new();
	if (in->h == NULL)
		return peer_fail(r, "out of memory");
	if (type == MSG_FILE_FROM) {
		if (resume_open(r, in) == -1)
			in->werr = errno ? errno : EIO;
		return 0;
	}
	in->fd = openat(r->st->stagingfd, in->name, O_WRONLY | O_CREAT |
	    O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (in->fd == -1 && errno == EEXIST) {
		/* A kept part the sender does not resume, or a void attempt. */
		unlinkat(r->st->stagingfd, in->name, 0);
		in->fd = openat(r->st->stagingfd, in->name, O_WRONLY | O_CREAT |
		    O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	}
	if (in->fd == -1)
		in->werr = errno;
	if (in->head.delta)
		patch_begin(r, in);
	return 0;
}

static int
file_data(struct receiver *r, struct incoming *in, const uint8_t *p, size_t n)
{
	if (in->idx == -1)
		return peer_fail(r, "DATA outside a file");
	if (in->head.delta) {
		patch_feed(in, p, n, 0);
		return 0;
	}
	if (n > in->head.attr.size - in->got)
		return peer_fail(r, "more data than the %llu bytes announced "
		    "for %s", (unsigned long long)in->head.attr.size,
		    r->m.v[in->idx].path);
	file_bytes(in, p, n);
	return 0;
}

/* Gives the staged file the attributes the sender read. 0 or -1 with errno. */
static int
set_staged_attr(struct receiver *r, int fd, const struct entry *a)
{
	struct timespec ts[2] = {
		{ .tv_nsec = UTIME_OMIT },
		{ .tv_sec = a->mtime_sec, .tv_nsec = a->mtime_nsec },
	};

	if (r->popts.owner && fchown(fd, a->uid, a->gid) == -1)
		return -1;
	if (fchmod(fd, a->mode) == -1)
		return -1;
	return futimens(fd, ts);
}

static int
file_end(struct receiver *r, struct incoming *in, const uint8_t *p, size_t n)
{
	uint8_t digest[HASH_SIZE];
	struct entry *e;
	size_t i = (size_t)in->idx;

	if (in->idx == -1 || n != HASH_SIZE)
		return peer_fail(r, "malformed FILE_END");
	if (in->head.delta)
		patch_feed(in, NULL, 0, 1);
	if (in->bad[0] == '\0' && in->got != in->head.attr.size && in->head.delta)
		snprintf(in->bad, sizeof(in->bad), "delta: it made %llu of "
		    "the %llu bytes announced", (unsigned long long)in->got,
		    (unsigned long long)in->head.attr.size);
	if (in->bad[0] == '\0' && in->got != in->head.attr.size)
		return peer_fail(r, "%s ended after %llu of %llu bytes",
		    r->m.v[i].path, (unsigned long long)in->got,
		    (unsigned long long)in->head.attr.size);
	hash_final(in->h, digest);
	in->h = NULL;
	r->plan.v[i].flags &= ~PF_DATA;
	if (in->bad[0] != '\0') {
		plan_set(&r->plan, i, PLAN_FAIL, "%s", in->bad);
	} else if (in->werr != 0) {
		plan_set(&r->plan, i, PLAN_FAIL, "write: %s",
		    strerror(in->werr));
	} else if (memcmp(digest, p, HASH_SIZE) != 0) {
		plan_set(&r->plan, i, PLAN_FAIL, "content hash mismatch: "
		    "corrupted in transit");
	} else if (set_staged_attr(r, in->fd, &in->head.attr) == -1) {
		plan_set(&r->plan, i, PLAN_FAIL, "set attributes: %s",
		    strerror(errno));
	} else {
		e = &r->m.v[i];
		e->size = in->head.attr.size;
		e->mode = in->head.attr.mode;
		e->mtime_sec = in->head.attr.mtime_sec;
		e->mtime_nsec = in->head.attr.mtime_nsec;
		r->plan.v[i].flags |= PF_STAGED;
		close(in->fd);
		in->fd = -1;
		in->idx = -1;
		fault_point("staging");
		return 0;
	}
	incoming_drop(r, in);
	return 0;
}

static int
file_abort(struct receiver *r, struct incoming *in, const uint8_t *p, size_t n)
{
	uint32_t idx;
	int action;
	char *reason;

	if (proto_decode_file_abort(p, n, &idx, &action, &reason, r->err,
	    sizeof(r->err)) == -1)
		return peer_fail(r, "%s", r->err);
	if ((in->idx != -1 && idx != in->idx) || idx >= r->plan.n ||
	    !(r->plan.v[idx].flags & PF_DATA)) {
		free(reason);
		return peer_fail(r, "FILE_ABORT for entry %u, not in progress",
		    idx);
	}
	incoming_drop(r, in);
	if (action != ABORT_RETRY) {
		r->plan.v[idx].flags &= ~PF_DATA;
		plan_set(&r->plan, idx, action == ITEM_VANISHED ? PLAN_VANISHED :
		    action == ITEM_SKIP ? PLAN_SKIP : PLAN_FAIL, "%s", reason);
	}
	free(reason);
	return 0;
}

/*
 * The connection broke: keep what arrived (files checked whole, and the
 * part of the one in progress) for the next session to resume from.
 */
static void
keep_partials(struct receiver *r, struct incoming *in)
{
	char name[32];

	if (in->idx != -1 && in->fd != -1 && in->werr == 0 &&
	    in->bad[0] == '\0' && in->got > 0) {
		close(in->fd);
		in->fd = -1;
		partial_keep(r->st->stagingfd, in->name, r->st->partialfd,
		    r->m.v[in->idx].path, &in->head.attr);
	}
	for (size_t i = 0; i < r->m.n; i++) {
		if (!(r->plan.v[i].flags & PF_STAGED) ||
		    r->m.v[i].type != ENTRY_REG)
			continue;
		staged_name(name, sizeof(name), i);
		partial_keep(r->st->stagingfd, name, r->st->partialfd,
		    r->m.v[i].path, &r->m.v[i]);
	}
}

static int
recv_data(struct receiver *r)
{
	struct incoming in = { .idx = -1, .fd = -1, .basisfd = -1 };
	const uint8_t *p;
	size_t n;
	uint8_t type;
	int rc = -1;

	for (;;) {
		if (recv_frame(r, &type, &p, &n) == -1) {
			rc = -1;	/* a session cut short commits nothing */
			keep_partials(r, &in);
			goto out;
		}
		switch (type) {
		case MSG_FILE:
		case MSG_FILE_FROM:
		case MSG_FILE_DELTA: rc = file_begin(r, &in, type, p, n); break;
		case MSG_DATA: rc = file_data(r, &in, p, n); break;
		case MSG_FILE_END: rc = file_end(r, &in, p, n); break;
		case MSG_FILE_ABORT: rc = file_abort(r, &in, p, n); break;
		case MSG_DONE:
			if (in.idx != -1) {
				rc = peer_fail(r, "DONE in the middle of a file");
				goto out;
			}
			rc = 0;
			goto out;
		default:
			rc = peer_fail(r, "sent %s during the data phase",
			    proto_msg_name(type));
		}
		if (rc == -1)
			goto out;
	}
out:
	incoming_drop(r, &in);
	for (size_t i = 0; rc == 0 && i < r->plan.n; i++)
		if ((r->plan.v[i].flags & PF_DATA) &&
		    !(r->flags & SESSION_REPORT)) {
			r->plan.v[i].flags &= ~PF_DATA;
			plan_set(&r->plan, i, PLAN_FAIL, "not sent by the source");
		}
	return rc;
}

/* Stages the new symlinks and hard links, which carry no data. */
static void
stage_links(struct receiver *r)
{
	char name[32], from[32];
	const char *tname;
	int dirfd;

	for (size_t i = 0; i < r->m.n; i++) {
		const struct entry *e = &r->m.v[i];
		struct plan_entry *pe = &r->plan.v[i];
		struct timespec ts[2] = {
			{ .tv_nsec = UTIME_OMIT },
			{ .tv_sec = e->mtime_sec, .tv_nsec = e->mtime_nsec },
		};

		if ((pe->state != PLAN_CREATE && pe->state != PLAN_REPLACE) ||
		    (pe->flags & PF_ATTR) ||
		    (e->type != ENTRY_LNK && e->type != ENTRY_HARDLINK))
			continue;
		staged_name(name, sizeof(name), i);
		unlinkat(r->st->stagingfd, name, 0);
		if (e->type == ENTRY_LNK) {
			if (symlinkat(e->target, r->st->stagingfd, name) == -1 ||
			    (r->popts.owner && fchownat(r->st->stagingfd, name,
			    e->uid, e->gid, AT_SYMLINK_NOFOLLOW) == -1) ||
			    utimensat(r->st->stagingfd, name, ts,
			    AT_SYMLINK_NOFOLLOW) == -1) {
				plan_set(&r->plan, i, PLAN_FAIL, "symlink: %s",
				    strerror(errno));
				continue;
			}
			pe->flags |= PF_STAGED;
			continue;
		}
		const struct plan_entry *t = &r->plan.v[e->link_index];

		if (t->flags & PF_STAGED) {
			staged_name(from, sizeof(from), e->link_index);
			dirfd = r->st->stagingfd;
			tname = from;
		} else if (t->state == PLAN_UNCHANGED ||
		    (t->state == PLAN_REPLACE && (t->flags & PF_ATTR))) {
			dirfd = store_parent(r->st, e->target, &tname);
		} else {
			plan_set(&r->plan, i, PLAN_FAIL, "the file it links to "
			    "(%s) was not synced", e->target);
			continue;
		}
		if (dirfd == -1 || linkat(dirfd, tname, r->st->stagingfd, name,
		    0) == -1) {
			plan_set(&r->plan, i, PLAN_FAIL, "link to %s: %s",
			    e->target, strerror(errno));
			continue;
		}
		pe->flags |= PF_STAGED;
	}
}

static int
attr_flags(const struct receiver *r, const struct entry *e)
{
	return (r->popts.owner ? JREC_OWNER : 0) |
	    (e->type == ENTRY_LNK ? JREC_LINK : 0);
}

/* Lists the commit in the order that keeps every step valid. */
static int
build_journal(struct receiver *r, struct journal *j)
{
	struct manifest *m = &r->m;
	char name[32];
	int rc = 0;

	for (size_t i = 0; i < m->n && rc == 0; i++)
		if (m->v[i].type == ENTRY_DIR && r->plan.v[i].state == PLAN_CREATE)
			rc = journal_add(j, JOP_MKDIR, 0, m->v[i].path, NULL,
			    NULL, i);
	for (size_t i = 0; i < m->n && rc == 0; i++) {
		if (r->plan.v[i].flags & PF_STAGED) {
			staged_name(name, sizeof(name), i);
			rc = journal_add(j, JOP_PUT, 0, m->v[i].path, name,
			    NULL, i);
		} else if ((r->plan.v[i].flags & PF_ATTR) &&
		    r->plan.v[i].state == PLAN_REPLACE)
			rc = journal_add(j, JOP_ATTR, attr_flags(r, &m->v[i]),
			    m->v[i].path, NULL, &m->v[i], i);
	}
	for (size_t k = 0; k < r->plan.npurges && rc == 0; k++)
		rc = journal_add(j, JOP_REMOVE, 0, r->plan.purges[k].path, NULL,
		    NULL, m->n + k);
	/* Directories last and deepest first, so no later step moves their mtime. */
	for (size_t i = m->n; i-- > 0 && rc == 0;) {
		const struct plan_entry *pe = &r->plan.v[i];

		if (m->v[i].type == ENTRY_DIR && (pe->flags & PF_DIRATTR) &&
		    (pe->state == PLAN_CREATE || pe->state == PLAN_REPLACE ||
		    pe->state == PLAN_UNCHANGED))
			rc = journal_add(j, JOP_ATTR, attr_flags(r, &m->v[i]),
			    m->v[i].path, NULL, &m->v[i], i);
	}
	if (rc == 0 && r->plan.top_attr)
		rc = journal_add(j, JOP_ATTR, attr_flags(r, &m->top), ".", NULL,
		    &m->top, TOP_REF);
	return rc;
}

static void
commit_error(void *arg, const struct journal_rec *rec, int err)
{
	struct receiver *r = arg;

	if (rec->ref == TOP_REF) {
		log_warnx("%s: setting the attributes of the top directory: %s",
		    r->st->path, strerror(err));
	} else if (rec->ref >= r->m.n) {
		plan_purge_set(&r->plan, rec->ref - r->m.n, PLAN_FAIL,
		    strerror(err));
	} else if (r->plan.v[rec->ref].state != PLAN_FAIL) {
		plan_set(&r->plan, rec->ref, PLAN_FAIL, "commit: %s",
		    strerror(err));
	}
}

static void
commit_before(void *arg, const struct journal_rec *rec, const struct stat *old)
{
	struct receiver *r = arg;

	if (old != NULL)
		r->t->owner->replacing(r->t->owner->arg, rec->path, old);
}

static void
commit_applied(void *arg)
{
	struct receiver *r = arg;

	r->t->owner->end(r->t->owner->arg, r->committing);
	r->committing = NULL;
}

/* One path the owner is asked about: an entry (ref < m.n) or a purge. */
struct candidate {
	size_t ref;
	const char *path;
	struct stat old;
};

static int
add_candidate(struct receiver *r, struct candidate **v, size_t *n, size_t ref,
    const char *path)
{
	struct candidate *nv;
	struct stat st;

	if (store_lstat(r->st, path, &st) == -1)
		return 0;	/* nothing there to replace */
	nv = realloc(*v, (*n + 1) * sizeof(**v));
	if (nv == NULL)
		return -1;
	*v = nv;
	nv[*n].ref = ref;
	nv[*n].path = path;
	nv[*n].old = st;
	(*n)++;
	return 0;
}

/*
 * Lets the store's owner veto changes to paths it cannot let go of now
 * (a file open for write through a mount): those entries are skipped and
 * their staged versions dropped. -1 on ENOMEM (logged).
 */
static int
owner_check(struct receiver *r)
{
	const struct store_owner *o = r->t->owner;
	struct candidate *v = NULL;
	const char **paths = NULL, **why = NULL;
	struct stat *olds = NULL;
	char name[32];
	size_t n = 0, i;
	int rc = -1;

	for (i = 0; i < r->m.n; i++) {
		const struct plan_entry *pe = &r->plan.v[i];

		if ((pe->flags & PF_STAGED) && (pe->flags & PF_EXISTS) &&
		    add_candidate(r, &v, &n, i, r->m.v[i].path) == -1)
			goto out;
	}
	for (i = 0; i < r->plan.npurges; i++)
		if (add_candidate(r, &v, &n, r->m.n + i,
		    r->plan.purges[i].path) == -1)
			goto out;
	paths = calloc(n + 1, sizeof(*paths));
	why = calloc(n + 1, sizeof(*why));
	olds = calloc(n + 1, sizeof(*olds));
	if (paths == NULL || why == NULL || olds == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		paths[i] = v[i].path;
		olds[i] = v[i].old;
	}
	if (n > 0)
		o->check(o->arg, n, paths, olds, why);
	for (i = 0; i < n; i++) {
		if (why[i] == NULL)
			continue;
		log_warnx("%s/%s: not replaced: %s", r->st->path, v[i].path,
		    why[i]);
		if (v[i].ref >= r->m.n) {
			plan_purge_set(&r->plan, v[i].ref - r->m.n, PLAN_SKIP,
			    why[i]);
			continue;
		}
		staged_name(name, sizeof(name), v[i].ref);
		unlinkat(r->st->stagingfd, name, 0);
		r->plan.v[v[i].ref].flags &= ~PF_STAGED;
		plan_set(&r->plan, v[i].ref, PLAN_SKIP, "%s", why[i]);
	}
	rc = 0;
out:
	if (rc == -1)
		log_err("%s: asking the mount about open files", r->st->path);
	free(v);
	free(paths);
	free(why);
	free(olds);
	return rc;
}

static int
any_staged(const struct receiver *r)
{
	for (size_t i = 0; i < r->plan.n; i++)
		if (r->plan.v[i].flags & PF_STAGED)
			return 1;
	return 0;
}

static int
commit(struct receiver *r)
{
	const struct store_owner *o = r->t->owner;
	struct journal_hooks hooks = {
		.arg = r,
		.on_error = commit_error,
		.before = o ? commit_before : NULL,
		.applied = o ? commit_applied : NULL,
	};
	struct journal j;
	int rc = -1;

	journal_init(&j);
	stage_links(r);
	/* Staged data must be durable before the journal makes it current. */
	if (any_staged(r) && store_sync(r->st) == -1)
		goto out;
	if (o != NULL) {
		o->begin(o->arg);
		r->committing = &j;
		if (owner_check(r) == -1)
			goto out;
	}
	if (build_journal(r, &j) == -1) {
		log_err("%s: building the journal", r->st->path);
		goto out;
	}
	if (j.n == 0) {
		rc = 0;
		goto out;
	}
	if (journal_write(r->st, &j) == -1)
		goto out;
	if (o != NULL)
		o->committing(o->arg, &j);
	if (journal_apply_hooks(r->st, &j, &hooks) == -1)
		goto out;
	rc = 0;
out:
	if (r->committing != NULL)
		commit_applied(r);
	journal_release(&j);
	return rc;
}

static int
send_result(struct receiver *r)
{
	struct result res;
	int rc = -1;

	result_init(&res);
	res.report = (r->flags & SESSION_REPORT) != 0;
	if (plan_result(&r->plan, &r->m, &res) == -1) {
		peer_fail(r, "out of memory for the report");
		goto out;
	}
	for (size_t i = 0; i < res.nitems; i++)
		if (proto_send_item(r->c, &res.items[i]) == -1)
			goto out;
	if (proto_send_result(r->c, &res) == -1 || conn_flush(r->c) == -1)
		goto out;
	if (r->t->counts != NULL)
		result_merge_counts(r->t->counts, &res);
	rc = 0;
out:
	result_release(&res);
	return rc;
}

/*
 * Takes up what an interrupted session kept: a complete file needs no
 * data at all, a part is resumed from its end (NEED_FROM).
 */
static int
claim_partials(struct receiver *r)
{
	char name[32];
	uint64_t got;
	int fd;

	r->resume = calloc(r->m.n + 1, sizeof(*r->resume));
	if (r->resume == NULL)
		return -1;
	if (!partial_any(r->st->partialfd))
		return 0;	/* the usual case: spare two syscalls a file */
	for (size_t i = 0; i < r->m.n; i++) {
		struct entry *e = &r->m.v[i];

		if (!(r->plan.v[i].flags & PF_DATA))
			continue;
		staged_name(name, sizeof(name), i);
		got = partial_claim(r->st->partialfd, r->st->stagingfd, name,
		    e->path, e);
		if (got == 0 || got < e->size) {
			r->resume[i] = got;
			continue;
		}
		fd = openat(r->st->stagingfd, name, O_RDONLY | O_CLOEXEC |
		    O_NOFOLLOW);
		if (fd == -1 || set_staged_attr(r, fd, e) == -1) {
			if (fd != -1)
				close(fd);
			unlinkat(r->st->stagingfd, name, 0);
			continue;	/* sent again */
		}
		close(fd);
		r->plan.v[i].flags &= ~PF_DATA;
		r->plan.v[i].flags |= PF_STAGED;
	}
	return 0;
}

static int
open_store(struct receiver *r)
{
	int flags = r->t->store_flags;

	if (r->t->st != NULL) {
		r->st = r->t->st;
		return 0;
	}
	if (r->flags & SESSION_REPORT)
		flags = STORE_READONLY;
	r->st = &r->own_st;
	if (store_open(r->st, r->t->path, flags) == -1) {
		proto_send_error(r->c, log_last());
		conn_flush(r->c);
		return -1;
	}
	r->store_open = 1;
	return 0;
}

int
receiver_run(struct conn *c, const struct receiver_target *t)
{
	struct receiver r;
	const uint8_t *p;
	size_t n;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	r.c = c;
	r.t = t;
	filter_init(&r.filter);
	manifest_init(&r.m);
	r.popts.owner = geteuid() == 0;
	if (recv_expect(&r, MSG_HELLO, &p, &n) == -1)
		goto out;
	if (proto_decode_hello(p, n, r.err, sizeof(r.err)) == -1) {
		peer_fail(&r, "%s", r.err);
		goto out;
	}
	if (proto_send_hello(c) == -1 || conn_flush(c) == -1)
		goto out;
	if (recv_manifest(&r) == -1)
		goto out;
	if (!(r.flags & SESSION_REPORT) && claim_partials(&r) == -1) {
		peer_fail(&r, "out of memory");
		goto out;
	}
	if (send_need(&r) == -1 || recv_data(&r) == -1)
		goto out;
	if (!(r.flags & SESSION_REPORT) && commit(&r) == -1) {
		peer_fail(&r, "%s: commit failed: %s", t->path, log_last());
		goto out;
	}
	if (!(r.flags & SESSION_REPORT))
		partial_clear(r.st->partialfd);	/* unclaimed parts are stale */
	if (send_result(&r) == -1)
		goto out;
	rc = 0;
out:
	free(r.resume);
	/* A failed session leaves nothing behind: roll back or forward. */
	if (rc == -1 && r.st != NULL && !(r.flags & SESSION_REPORT) &&
	    r.st->stagingfd >= 0)
		journal_recover(r.st);
	if (r.store_open)
		store_close(r.st);
	plan_release(&r.plan);
	manifest_release(&r.m);
	filter_release(&r.filter);
	return rc;
}
