/* sender: the source half of a session (scan, manifest, file data), to one or many destinations. */
#include "sender.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bwlimit.h"
#include "clock.h"
#include "delta.h"
#include "fault.h"
#include "filespool.h"
#include "fsutil.h"
#include "hash.h"
#include "htab.h"
#include "identity.h"
#include "knob.h"
#include "log.h"
#include "manifest.h"
#include "progress.h"
#include "proto.h"

/* A file that changes while being read is read again this many times. */
#define SEND_ATTEMPTS 3
/* Files asked to be read ahead, and how much of each (see prefetch). */
#define PREFETCH_FILES 32
#define PREFETCH_BYTES (1024 * 1024)
/* Those kept open: the one being sent and the ones after it. */
#define AHEAD_MAX (PREFETCH_FILES + 1)
/* While the manifest goes out, requests are served every this many entries. */
#define SERVE_EVERY 32
/*
 * A peer's requests are taken between files once this much went to it,
 * or when fewer than PREFETCH_FILES are queued: a poll per file was 2 of
 * the sender's 9 system calls per small file.
 */
#define TAKE_BYTES (256 * 1024)
/* Files this large go to a local receiver as a descriptor (FILE_FD). */
#define FDPASS_MIN (4 * 1024)
/*
 * The walk goes at most this many entries past a receiver's last MARK
 * before it waits for that receiver (hold_walk): what bounds the entries
 * a receiver keeps at once. Chosen by measurement (docs/BENCHMARKS.md,
 * issue 17). MIRRORFS_WINDOW overrides it, to test.
 */
#define WALK_WINDOW 8192

struct sender {
	const struct sender_opts *o;
	struct sender_peer *peers;
	size_t npeers;
	int rootfd;
	const char *source;
	struct manifest own;	/* the manifest, unless the caller's (o->manifest) */
	struct manifest *m;
	uint8_t *buf;		/* PROTO_DATA_CHUNK bytes */
	struct progress prog;
	struct sender_peer **to;	/* the peers the current file goes to */
	size_t nto;
	struct sender_peer **dto;	/* those of them that get a delta */
	int lost;			/* every peer of the file failed */
	long prefetched;		/* the last entry read ahead, or -1 */
	/*
	 * The files read ahead, still open, oldest first (entry indices
	 * ascending): sending one then opens nothing.
	 */
	struct { uint32_t idx; int fd; } ahead[AHEAD_MAX];
	size_t ahead_head, ahead_n;
	struct bwlimit bw;		/* --bwlimit */
	size_t chunk;			/* bytes read and sent at once */
	uint8_t *counted;	/* a bit per entry: in the progress totals */
	size_t ncounted;	/* bytes of counted */
	size_t emitted;		/* entries sent so far (serve_early) */
	size_t nentries;	/* entries in the manifest so far */
	uint32_t window;	/* WALK_WINDOW, or MIRRORFS_WINDOW */
	struct result_stats counts;	/* what they are (--stats) */
	/*
	 * Without a manifest kept (a session with no receiver in this
	 * process, not partial), the regular files are read back from the
	 * spool, each reader in ascending index order: serve_at by the
	 * files sent, ahead_at by prefetch, each peer's check by its
	 * requests.
	 */
	struct filespool *spool;
	struct filespool_cursor *serve_at, *ahead_at;
	struct filespool_rec file;	/* the file being sent */
	int broken;		/* the spool failed: every peer ends */
};

static void take_requests(struct sender *s);
static void serve_early(struct sender *s);
static void hold_walk(struct sender *s);
static void spool_broken(struct sender *s);

/* After a failed send, the peer may have said why before it hung up. */
static void
peer_error(struct conn *c)
{
	const uint8_t *p;
	size_t n;
	uint8_t type;
	char *msg;
	int saved = c->timeout_ms;

	c->timeout_ms = 2000;
	if (conn_recv(c, &type, &p, &n) == 1 && type == MSG_ERROR &&
	    proto_decode_error(p, n, &msg) == 0) {
		log_errx("%s: %s", c->peer, msg);
		free(msg);
	}
	c->timeout_ms = saved;
}

/* Marks p failed, keeping the first reason: what was logged last. */
static void
peer_failed(struct sender_peer *p)
{
	if (!p->failed)
		snprintf(p->error, sizeof(p->error), "%s", *log_last() ?
		    log_last() : "the session failed");
	p->failed = 1;
}

/* Marks p failed, keeping why: what the peer said, else what we logged. */
static void
peer_fail(struct sender_peer *p)
{
	if (p->failed)
		return;
	snprintf(p->error, sizeof(p->error), "%s", log_last());
	peer_error(p->c);	/* logs what the peer said, if it did */
	if (strncmp(log_last(), p->error, sizeof(p->error) - 1) != 0)
		snprintf(p->error, sizeof(p->error), "%s", log_last());
	p->failed = 1;
}

static int
hello(struct sender_peer *p)
{
	const uint8_t *b;
	char err[256];
	size_t n;

	if (proto_send_hello(p->c) == -1 || conn_flush(p->c) == -1 ||
	    proto_expect(p->c, MSG_HELLO, &b, &n) == -1)
		return -1;
	if (proto_decode_hello(b, n, err, sizeof(err)) == -1) {
		log_errx("%s: %s", p->c->peer, err);
		return -1;
	}
	return 0;
}

/* Opens a source file to read, without touching its atime when we may. */
static int
open_source(const struct sender *s, const char *path)
{
	int fd = open_beneath(s->rootfd, path, O_RDONLY | O_NOATIME);

	if (fd == -1 && errno == EPERM)	/* O_NOATIME needs ownership */
		fd = open_beneath(s->rootfd, path, O_RDONLY);
	return fd;
}

/* Keeps fd, read ahead for entry idx, for send_file; closes it if full. */
static void
ahead_push(struct sender *s, uint32_t idx, int fd)
{
	size_t at;

	if (s->ahead_n == AHEAD_MAX) {
		close(fd);
		return;
	}
	at = (s->ahead_head + s->ahead_n++) % AHEAD_MAX;
	s->ahead[at].idx = idx;
	s->ahead[at].fd = fd;
}

/*
 * The descriptor read ahead for entry idx (now the caller's), or -1.
 * Those of entries before it are not wanted any more: closed.
 */
static int
ahead_take(struct sender *s, uint32_t idx)
{
	while (s->ahead_n > 0) {
		uint32_t at = s->ahead[s->ahead_head].idx;
		int fd = s->ahead[s->ahead_head].fd;

		if (at > idx)
			break;
		s->ahead_head = (s->ahead_head + 1) % AHEAD_MAX;
		s->ahead_n--;
		if (at == idx)
			return fd;
		close(fd);
	}
	return -1;
}

/*
 * The file of entry idx, opened, and its stat in st: read ahead (the
 * first attempt), unless it was unlinked since (deleted or replaced: the
 * path says what it is now); else opened by its path. -1 with errno.
 */
static int
open_ahead(struct sender *s, uint32_t idx, int attempt, struct stat *st)
{
	int fd = attempt == 0 ? ahead_take(s, idx) : -1;

	if (fd != -1 && (fstat(fd, st) == -1 || st->st_nlink == 0)) {
		close(fd);
		fd = -1;
	}
	if (fd != -1)
		return fd;
	if ((fd = open_source(s, s->file.path)) != -1 &&
	    fstat(fd, st) == -1) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* Adds e to what each peer's session compares (--stats). */
static void
count_entry(struct result_stats *st, const struct entry *e)
{
	if (e->type == ENTRY_GONE)
		return;
	st->files++;
	if (e->type == ENTRY_DIR)
		st->dirs++;
	else if (e->type == ENTRY_LNK)
		st->symlinks++;
	else if (ENTRY_IS_DEVICE(e->type))
		st->devices++;
	else if (ENTRY_IS_SPECIAL(e->type))
		st->specials++;
	else
		st->regular++;
	if (e->type == ENTRY_REG)
		st->total_size += e->size;
}

/*
 * Sends an entry to every live peer (called as the scan finds it),
 * spooling what serving it takes when it is a regular file and no
 * manifest is kept. 0, or -1 when the session cannot go on (logged).
 */
static int
emit_entry(void *arg, const struct entry *e)
{
	struct sender *s = arg;
	struct filespool_rec f;

	if (s->spool != NULL && e->type == ENTRY_REG) {
		f.index = (uint32_t)s->nentries;
		f.size = e->size;
		f.mtime_sec = e->mtime_sec;
		f.mtime_nsec = e->mtime_nsec;
		f.path = e->path;
		if (filespool_append(s->spool, &f) == -1) {
			spool_broken(s);
			return -1;
		}
	}
	s->nentries++;
	count_entry(&s->counts, e);
	for (size_t i = 0; i < s->npeers; i++)
		if (!s->peers[i].failed &&
		    proto_send_entry(s->peers[i].c, e) == -1)
			peer_fail(&s->peers[i]);
	serve_early(s);
	hold_walk(s);
	return s->broken ? -1 : 0;
}

/*
 * A tree we could not read whole must not drive deletions (as rsync):
 * 1, said in the log, when a session with these flags must purge nothing.
 */
static int
purge_unsafe(const struct sender *s, uint32_t flags, const struct result *scan)
{
	if (scan->failed == 0 || !(flags & (SESSION_PURGE | SESSION_PURGE_DIRS)))
		return 0;
	log_warnx("%s: errors while reading the source: nothing is purged "
	    "this time", s->source);
	return 1;
}

/*
 * Sends the manifest to every peer: the entries go out while the tree is
 * walked, so each receiver plans them while the scan goes on. A partial
 * manifest is read whole before SESSION, so its flags can say it; a walk
 * says it at END_MANIFEST.
 */
static int
send_manifest(struct sender *s, uint32_t flags, struct result *scan)
{
	int mflags = 0;

	if ((flags & SESSION_PARTIAL) && purge_unsafe(s, flags, scan))
		flags &= ~(SESSION_PURGE | SESSION_PURGE_DIRS);
	for (size_t i = 0; i < s->npeers; i++) {
		struct sender_peer *p = &s->peers[i];

		if (!p->failed && proto_send_session(p->c, flags |
		    (p->delta ? SESSION_DELTA : 0) |
		    (p->fdpass ? SESSION_FDPASS : 0), s->window,
		    s->o->filter) == -1)
			peer_fail(p);
	}
	if (flags & SESSION_PARTIAL) {
		for (size_t i = 0; i < s->m->n; i++)
			if (emit_entry(s, &s->m->v[i]) == -1)
				return -1;
	} else if (manifest_scan_emit(s->m, s->rootfd, s->source,
	    s->o->filter, proto_session_scan(flags) |
	    (s->o->source_store ? MANIFEST_SCAN_STORE : 0) |
	    (s->spool != NULL ? MANIFEST_SCAN_STREAM : 0), scan, emit_entry,
	    s) == -1)
		return -1;
	if (!(flags & SESSION_PARTIAL) && purge_unsafe(s, flags, scan))
		mflags = MANIFEST_INCOMPLETE;
	for (size_t i = 0; i < s->npeers; i++) {
		struct sender_peer *p = &s->peers[i];

		if (!p->failed && (proto_send_end_manifest(p->c, s->nentries,
		    &s->m->top, mflags) == -1 || conn_flush(p->c) == -1))
			peer_fail(p);
	}
	return 0;
}

/* v (NULL stays NULL) resized to cap items of size each; on failure v as it was, *failed set. */
static void *
need_resize(void *v, size_t cap, size_t size, int *failed)
{
	void *nv;

	if (v == NULL || *failed)
		return v;
	if ((nv = realloc(v, cap * size)) == NULL) {
		*failed = 1;
		return v;
	}
	return nv;
}

/*
 * Drops the requests already sent but the last (send_one may still read
 * its signature), once they are half the list: it holds what is still
 * to send, not every request of the session.
 */
static void
need_compact(struct sender_peer *p)
{
	size_t drop = p->next > 0 ? p->next - 1 : 0, left;

	if (drop < PROTO_MAX_NEED || drop < p->nneed / 2)
		return;
	left = p->nneed - drop;
	memmove(p->need, p->need + drop, left * sizeof(*p->need));
	if (p->from != NULL)
		memmove(p->from, p->from + drop, left * sizeof(*p->from));
	if (p->sig != NULL)	/* those dropped were freed as they went */
		memmove(p->sig, p->sig + drop, left * sizeof(*p->sig));
	if (p->kept != NULL)
		memmove(p->kept, p->kept + drop, left * sizeof(*p->kept));
	p->nneed = left;
	p->next -= drop;
}

/* Makes room for cnt more requests. */
static int
need_grow(struct sender_peer *p, size_t cnt)
{
	size_t *cap = &p->cap;
	int failed = 0;
	void *v;

	if (p->nneed + cnt <= *cap)
		return 0;
	need_compact(p);
	if (p->nneed + cnt <= *cap)
		return 0;
	while (*cap < p->nneed + cnt)
		*cap = *cap ? *cap * 2 : PROTO_MAX_NEED;
	if ((v = realloc(p->need, *cap * sizeof(*p->need))) == NULL)
		return -1;
	p->need = v;
	/* The rest only once a request used them (need_side). */
	p->from = need_resize(p->from, *cap, sizeof(*p->from), &failed);
	p->sig = need_resize(p->sig, *cap, sizeof(*p->sig), &failed);
	p->kept = need_resize(p->kept, *cap, sizeof(*p->kept), &failed);
	return failed ? -1 : 0;
}

/*
 * Makes the offsets and signatures of the requests exist, those queued
 * so far none (0, NULL), once the first request that has one comes.
 */
static int
need_side(struct sender_peer *p)
{
	if (p->from == NULL &&
	    (p->from = calloc(p->cap, sizeof(*p->from))) == NULL)
		return -1;
	if (p->sig == NULL &&
	    (p->sig = calloc(p->cap, sizeof(*p->sig))) == NULL)
		return -1;
	return 0;
}

/*
 * What serving regular file idx reads: from the manifest when one is
 * kept, else from the spool through c (whose indexes never go down).
 * 1 with *f filled, 0 when idx is no regular file of the entries sent so
 * far, -1 logged (the spool failed: the session cannot go on).
 */
static int
file_of(struct sender *s, struct filespool_cursor *c, uint32_t idx,
    struct filespool_rec *f)
{
	const struct entry *e;
	int r;

	if (idx >= s->nentries)
		return 0;
	if (s->spool != NULL) {
		if ((r = filespool_find(c, idx, f)) == -1)
			spool_broken(s);
		return r;
	}
	e = &s->m->v[idx];
	if (e->type != ENTRY_REG)
		return 0;
	f->index = idx;
	f->size = e->size;
	f->mtime_sec = e->mtime_sec;
	f->mtime_nsec = e->mtime_nsec;
	f->path = e->path;
	return 1;
}

/*
 * Every request names a file of the manifest, once, in ascending order
 * (NEED, NEED_FROM and NEED_SIG alike), so the list is checked as it
 * arrives and never grows past the manifest: 0 with the file's size in
 * *size, or -1 logged.
 */
static int
take_index(struct sender *s, struct sender_peer *p, uint32_t idx,
    uint64_t from, uint64_t *size)
{
	struct filespool_rec f;
	int r = 0, order = p->nneed > 0 && idx <= p->need[p->nneed - 1];

	if (!order && (r = file_of(s, p->check, idx, &f)) == -1)
		return -1;
	if (r == 0 || from > f.size) {
		log_errx("%s requested entry %u%s, which is not a file it may "
		    "ask for", p->c->peer, idx, order ? " out of order" : "");
		return -1;
	}
	/* Its MARK said it is done below: next_needed counts on it. */
	if (p->acked != MARK_NO_HOLD && idx < p->acked) {
		log_errx("%s requested entry %u, below its MARK %u", p->c->peer,
		    idx, p->acked);
		return -1;
	}
	*size = f.size;
	return 0;
}

/*
 * 1 the first time idx is asked by any peer (its bytes then join the
 * progress totals), else 0. The set grows with the requests, which may
 * come while the manifest is still sent; without memory, nothing counts.
 */
static int
count_once(struct sender *s, uint32_t idx)
{
	size_t need = idx / 8 + 1;
	uint8_t *v;

	if (need > s->ncounted) {
		size_t cap = need > 2 * s->ncounted ? need : 2 * s->ncounted;

		if ((v = realloc(s->counted, cap)) == NULL)
			return 0;
		memset(v + s->ncounted, 0, cap - s->ncounted);
		s->counted = v;
		s->ncounted = cap;
	}
	if (s->counted[idx / 8] & (1u << (idx % 8)))
		return 0;
	s->counted[idx / 8] |= (uint8_t)(1u << (idx % 8));
	return 1;
}

/* Queues request idx (room made by the caller); counts it for progress once. */
static void
push_need(struct sender *s, struct sender_peer *p, uint32_t idx,
    uint64_t size, uint64_t from, struct delta_sig *sig, const uint8_t *kept)
{
	if (count_once(s, idx))
		progress_more(&s->prog, 1, size);
	p->need[p->nneed] = idx;
	if (p->from != NULL)
		p->from[p->nneed] = from;
	if (p->sig != NULL)
		p->sig[p->nneed] = sig;
	if (p->kept != NULL && kept != NULL)
		memcpy(p->kept[p->nneed], kept, HASH_SIZE);
	p->nneed++;
}

/* One NEED_SIG frame; its last frame queues a request for a delta. */
static int
need_sig(struct sender *s, struct sender_peer *p, const uint8_t *b, size_t n)
{
	struct delta_sig *sig;
	const uint8_t *part;
	size_t len;
	uint32_t idx;
	int more;
	char err[256];

	if (!p->delta) {
		log_errx("%s sent a signature, but deltas were not offered",
		    p->c->peer);
		return -1;
	}
	if (proto_decode_need_sig(b, n, &idx, &more, &part, &len, err,
	    sizeof(err)) == -1) {
		log_errx("%s: %s", p->c->peer, err);
		return -1;
	}
	if (p->sig_load != NULL && idx != p->sig_idx) {
		log_errx("%s sent the signature of entry %u inside that of %u",
		    p->c->peer, idx, p->sig_idx);
		return -1;
	}
	p->sigbytes += len + (p->sig_load == NULL ? DELTA_SIG_OVERHEAD : 0);
	if (p->sigbytes > DELTA_MAX_SIG_TOTAL) {
		log_errx("%s sent signatures over %u bytes", p->c->peer,
		    DELTA_MAX_SIG_TOTAL);
		return -1;
	}
	if (p->sig_load == NULL) {
		if (take_index(s, p, idx, 0, &p->sig_size) == -1)
			return -1;
		if ((p->sig_load = delta_load_begin()) == NULL) {
			log_err("signature");
			return -1;
		}
		p->sig_idx = idx;
	}
	if (delta_feed(p->sig_load, part, len, !more, NULL, NULL, err,
	    sizeof(err)) == -1) {
		log_errx("%s: the signature of entry %u: %s", p->c->peer, idx,
		    err);
		return -1;
	}
	if (more)
		return 0;
	sig = delta_load_end(p->sig_load, err, sizeof(err));
	p->sig_load = NULL;
	if (sig == NULL) {
		log_errx("%s: the signature of entry %u: %s", p->c->peer, idx,
		    err);
		return -1;
	}
	if (need_grow(p, 1) == -1 || need_side(p) == -1) {
		delta_sig_free(sig);
		log_err("request list");
		return -1;
	}
	push_need(s, p, idx, p->sig_size, 0, sig, NULL);
	return 0;
}

/* One NEED_FROM: a part the receiver kept, with the hash of its bytes. */
static int
need_from(struct sender *s, struct sender_peer *p, const uint8_t *b,
    size_t n)
{
	uint8_t kept[HASH_SIZE];
	uint64_t from, size;
	uint32_t idx;
	char err[256];

	if (proto_decode_need_from(b, n, &idx, &from, kept, err,
	    sizeof(err)) == -1) {
		log_errx("%s: %s", p->c->peer, err);
		return -1;
	}
	if (take_index(s, p, idx, from, &size) == -1)
		return -1;
	if (need_side(p) == -1 || (p->kept == NULL &&
	    (p->kept = calloc(p->cap, sizeof(*p->kept))) == NULL)) {
		log_err("request list");
		return -1;
	}
	push_need(s, p, idx, size, from, NULL, kept);
	return 0;
}

/* One NEED: a batch of whole files, decoded where the list goes on. */
static int
need_batch(struct sender *s, struct sender_peer *p, const uint8_t *b,
    size_t n)
{
	uint32_t *idx = p->need + p->nneed;
	uint64_t size;
	size_t cnt;
	char err[256];

	if (proto_decode_need(b, n, idx, &cnt, err, sizeof(err)) == -1) {
		log_errx("%s: %s", p->c->peer, err);
		return -1;
	}
	for (size_t i = 0; i < cnt; i++) {
		if (take_index(s, p, idx[0], 0, &size) == -1)
			return -1;
		push_need(s, p, idx[0], size, 0, NULL, NULL);
		idx++;
	}
	return 0;
}

/* The receiver said why it gave up, in place of a request. */
static void
peer_said(struct sender_peer *p, const uint8_t *b, size_t n)
{
	char *msg;

	if (proto_decode_error(b, n, &msg) == 0) {
		log_errx("%s: %s", p->c->peer, msg);
		free(msg);
	}
	peer_failed(p);		/* its word is the reason */
}

/*
 * A MARK from p, checked as all it sends: never above the entries sent
 * to it, always up, nothing after MARK_NO_HOLD but that. 0, -1 logged.
 */
static int
take_mark(struct sender *s, struct sender_peer *p, const uint8_t *b,
    size_t n)
{
	uint32_t mark;
	char err[256];

	if (proto_decode_mark(b, n, &mark, err, sizeof(err)) == -1) {
		log_errx("%s: %s", p->c->peer, err);
		return -1;
	}
	if (mark == MARK_NO_HOLD) {
		p->acked = mark;
		return 0;
	}
	if (p->acked == MARK_NO_HOLD) {
		log_errx("%s sent MARK %u after it said not to wait for it: "
		    "expected no other", p->c->peer, mark);
		return -1;
	}
	if (mark > s->nentries) {
		log_errx("%s sent MARK %u, above the %zu entries sent to it",
		    p->c->peer, mark, s->nentries);
		return -1;
	}
	if (mark < p->acked) {
		log_errx("%s sent MARK %u after MARK %u: expected one that "
		    "never goes down", p->c->peer, mark, p->acked);
		return -1;
	}
	/*
	 * A receiver sends a MARK only when it moved (receiver.c): one that
	 * stands still would keep a held walk waiting past any timeout.
	 */
	if (mark == p->acked) {
		log_errx("%s sent MARK %u again: expected one that moves on",
		    p->c->peer, mark);
		return -1;
	}
	p->acked = mark;
	return 0;
}

/* How pull_request waits. */
enum pull {
	PULL_NOW,	/* not at all: only what has come already */
	PULL_REQUEST,	/* for one more request, or the list's end */
	PULL_MARK,	/* for that, or a MARK that moves its ack (hold_walk) */
};

/*
 * Reads p's requests until one more is queued or its list ended
 * (END_NEED), or as how says: the data of the files already asked for
 * goes out while the receiver still works out the next requests (a
 * signature, say). 0, or -1 logged.
 */
static int
pull_request(struct sender *s, struct sender_peer *p, enum pull how)
{
	const uint8_t *b;
	size_t n, had = p->nneed;
	uint32_t acked = p->acked;
	int type;

	while (p->nneed == had && !p->ended &&
	    (how != PULL_MARK || p->acked == acked)) {
		if (how == PULL_NOW && !conn_readable(p->c))
			break;
		type = proto_expect(p->c, 0, &b, &n);
		if (type == -1)
			return -1;
		if (type == MSG_ERROR) {
			peer_said(p, b, n);
			return -1;
		}
		/* May come between a signature's frames: it touches no request. */
		if (type == MSG_MARK) {
			if (take_mark(s, p, b, n) == -1)
				return -1;
			continue;
		}
		if (type == MSG_END_NEED && p->sig_load == NULL) {
			p->ended = 1;
			break;
		}
		if (type == MSG_NEED_SIG) {
			if (need_sig(s, p, b, n) == -1)
				return -1;
			continue;
		}
		if ((type != MSG_NEED && type != MSG_NEED_FROM) ||
		    p->sig_load != NULL) {
			log_errx("%s sent %s during the request list",
			    p->c->peer, proto_msg_name(type));
			return -1;
		}
		if (need_grow(p, PROTO_MAX_NEED) == -1) {
			log_err("request list");
			return -1;
		}
		if ((type == MSG_NEED_FROM ? need_from(s, p, b, n) :
		    need_batch(s, p, b, n)) == -1)
			return -1;
	}
	return 0;
}

/* Sends one frame to every peer the file goes to; a peer that fails drops out. */
static int
send_to(struct sender *s, int type, const void *p, size_t n)
{
	size_t live = 0;

	for (size_t i = 0; i < s->nto; i++) {
		struct sender_peer *pe = s->to[i];

		if (pe->failed)
			continue;
		if (conn_send(pe->c, (uint8_t)type, p, n) == -1)
			peer_fail(pe);
		else
			live++;
	}
	return live > 0 ? 0 : -1;
}

static int
abort_to(struct sender *s, uint32_t idx, int action, const char *reason)
{
	size_t live = 0;

	for (size_t i = 0; i < s->nto; i++) {
		if (s->to[i]->failed)
			continue;
		if (proto_send_file_abort(s->to[i]->c, idx, action, reason) == -1)
			peer_fail(s->to[i]);
		else
			live++;
	}
	return live > 0 ? 0 : -1;
}

/* A HOLE of len bytes to every peer the file goes to. */
static int
hole_to(struct sender *s, uint64_t len)
{
	size_t live = 0;

	for (size_t i = 0; i < s->nto; i++) {
		if (s->to[i]->failed)
			continue;
		if (proto_send_hole(s->to[i]->c, len) == -1)
			peer_fail(s->to[i]);
		else
			live++;
	}
	return live > 0 ? 0 : -1;
}

/* 1 when fd (size bytes) has a hole: it is sent whole, holes as HOLE. */
static int
is_sparse(int fd, uint64_t size)
{
	off_t h = lseek(fd, 0, SEEK_HOLE);
	int sparse = h != -1 && (uint64_t)h < size;

	lseek(fd, 0, SEEK_SET);
	return sparse;
}

/*
 * --bwlimit: pushes what the file's destinations were sent onto the wire
 * now, and waits until the most any of them got since the last call fits
 * the rate. Counting bytes_out (compressed, framed) paces what the link
 * carries, whatever the transport.
 */
static void
pace(struct sender *s)
{
	uint64_t most = 0;

	if (s->bw.rate == 0)
		return;
	for (size_t i = 0; i < s->nto; i++) {
		struct sender_peer *pe = s->to[i];

		if (pe->failed)
			continue;
		if (conn_flush(pe->c) == -1) {
			peer_fail(pe);
			continue;
		}
		if (pe->c->bytes_out - pe->paced > most)
			most = pe->c->bytes_out - pe->paced;
		pe->paced = pe->c->bytes_out;
	}
	bwlimit_spend(&s->bw, most, s->o->cancel);
}

enum attempt { ATTEMPT_SENT, ATTEMPT_CHANGED, ATTEMPT_ABORTED, ATTEMPT_LOST };

/* Sends a delta job's output as DATA. */
static int
emit_data(void *arg, const void *p, size_t n)
{
	struct sender *s = arg;

	if (send_to(s, MSG_DATA, p, n) == -1) {
		s->lost = 1;
		errno = EPIPE;
		return -1;
	}
	return 0;
}

/*
 * Passes n bytes of the file (eof: its end) on: as they are, or through
 * the delta job. 0, or -1 with s->lost set or a reason in reason.
 */
static int
pass_on(struct sender *s, struct delta_job *dj, const void *p, size_t n,
    int eof, char *reason, size_t len)
{
	char err[200];

	if (dj == NULL) {
		if (n > 0 && send_to(s, MSG_DATA, p, n) == -1) {
			s->lost = 1;
			return -1;
		}
		return 0;
	}
	if (delta_feed(dj, p, n, eof, emit_data, s, err, sizeof(err)) == -1) {
		snprintf(reason, len, "delta: %s", err);
		return -1;
	}
	return 0;
}

/*
 * Hashes the first from bytes of fd into h: 1 when they hash as the part
 * the receiver kept (kept), 0 when they differ (the source changed while
 * keeping its size and mtime) or kept is NULL, -1 on a short read.
 */
static int
hash_prefix(struct sender *s, int fd, struct hash_state *h, uint64_t from,
    const uint8_t *kept)
{
	uint8_t mine[HASH_SIZE];
	uint64_t off = 0;
	size_t want;

	while (off < from) {
		want = from - off < PROTO_DATA_CHUNK ? (size_t)(from - off) :
		    PROTO_DATA_CHUNK;
		if (read_full(fd, s->buf, want) != (ssize_t)want)
			return -1;
		hash_update(h, s->buf, want);
		off += want;
	}
	hash_digest(h, mine);
	return kept != NULL && memcmp(mine, kept, HASH_SIZE) == 0;
}

/*
 * Streams the open file fd as entry idx. A change seen between the
 * stat before and after the read (or a short read) abandons the attempt
 * with a FILE_ABORT of ABORT_RETRY, so nothing torn is ever committed.
 */
static enum attempt
send_attempt(struct sender *s, uint32_t idx, int fd, const struct stat *st,
    uint64_t from, const uint8_t *kept, struct delta_sig *sig)
{
	struct file_head head;
	struct delta_job *dj = NULL;
	struct hash_state *h;
	uint8_t digest[HASH_SIZE];
	struct stat after;
	uint64_t off = 0, data, end = 0;
	int dense;
	ssize_t got;
	size_t want;
	char reason[256];

	memset(&head, 0, sizeof(head));
	head.index = idx;
	entry_set_stat(&head.attr, st);
	/*
	 * A file with a block for every byte has no hole: no SEEK_DATA and
	 * SEEK_HOLE for it (three syscalls a file), as cp decides.
	 */
	dense = (uint64_t)st->st_blocks * 512 >= (uint64_t)st->st_size;
	/* A delta would write a sparse file's holes as zeros: send it whole. */
	if (sig != NULL && is_sparse(fd, head.attr.size))
		sig = NULL;
	h = hash_new();
	if (sig != NULL)
		dj = delta_encode_begin(sig);
	if (h == NULL || (sig != NULL && dj == NULL)) {
		log_err("%s", s->file.path);
		hash_free(h);
		return ATTEMPT_LOST;
	}
	s->lost = 0;
	head.delta = sig != NULL;
	progress_file(&s->prog, s->file.path, head.attr.size);
	/* The receiver has the first bytes of this version: hash, don't send. */
	if (from > 0 && sig == NULL && head.attr.size == s->file.size &&
	    head.attr.mtime_sec == s->file.mtime_sec &&
	    head.attr.mtime_nsec == s->file.mtime_nsec) {
		switch (hash_prefix(s, fd, h, from, kept)) {
		case -1: goto changed;
		case 1:
			head.offset = off = from;
			progress_add(&s->prog, 0, from);
			break;
		case 0:	/* what it kept is not this version: all of it */
			hash_free(h);
			if ((h = hash_new()) == NULL ||
			    lseek(fd, 0, SEEK_SET) == -1) {
				log_err("%s", s->file.path);
				hash_free(h);
				return ATTEMPT_LOST;
			}
		}
	}
	for (size_t i = 0; i < s->nto; i++)
		if (!s->to[i]->failed && proto_send_file(s->to[i]->c, &head) == -1)
			peer_fail(s->to[i]);
	while (off < head.attr.size) {
		if (dj == NULL && off >= end && dense) {
			data = off;	/* all its blocks are there: no hole */
			end = head.attr.size;
		} else if (dj == NULL && off >= end) {
			next_extent(fd, off, head.attr.size, &data, &end);
			if (data > off) {
				/* Holes go as holes, never as zeros. */
				if (hole_to(s, data - off) == -1) {
					s->lost = 1;
					goto failed;
				}
				hash_zeros(h, data - off);
				progress_add(&s->prog, 0, data - off);
				off = data;
				continue;
			}
		}
		want = (dj ? head.attr.size : end) - off < s->chunk ?
		    (size_t)((dj ? head.attr.size : end) - off) : s->chunk;
		got = read_full(fd, s->buf, want);
		if (got == -1) {
			snprintf(reason, sizeof(reason), "read: %s",
			    strerror(errno));
			goto failed;
		}
		if ((size_t)got < want)
			goto changed;	/* shrank while being read */
		hash_update(h, s->buf, (size_t)got);
		if (pass_on(s, dj, s->buf, (size_t)got, 0, reason,
		    sizeof(reason)) == -1)
			goto failed;
		off += (uint64_t)got;
		progress_add(&s->prog, 0, (uint64_t)got);
		pace(s);
		fault_point("data");
		take_requests(s);
	}
	if (dj != NULL && pass_on(s, dj, NULL, 0, 1, reason,
	    sizeof(reason)) == -1)
		goto failed;
	delta_free(dj);
	dj = NULL;
	if (fstat(fd, &after) == -1 || !same_version(st, &after))
		goto changed;
	hash_final(h, digest);
	if (send_to(s, MSG_FILE_END, digest, HASH_SIZE) == -1)
		return ATTEMPT_LOST;
	for (size_t i = 0; i < s->nto; i++) {
		if (!s->to[i]->failed) {
			s->to[i]->res->stats.sent_files++;
			s->to[i]->res->stats.sent_size += head.attr.size;
		}
	}
	pace(s);
	progress_add(&s->prog, 1, 0);
	return ATTEMPT_SENT;
changed:
	hash_free(h);
	delta_free(dj);
	return abort_to(s, idx, ABORT_RETRY, "changed while being read") == -1 ?
	    ATTEMPT_LOST : ATTEMPT_CHANGED;
failed:
	hash_free(h);
	delta_free(dj);
	if (s->lost)
		return ATTEMPT_LOST;
	return abort_to(s, idx, ITEM_FAIL, reason) == -1 ? ATTEMPT_LOST :
	    ATTEMPT_ABORTED;
}

/*
 * Whether file idx, open as fd, must wait for a later session (see
 * sender_opts): 1 with reason set, else 0. has_writer() (a read lease)
 * is the exact test for "open for write".
 */
static int
held_back(struct sender *s, uint32_t idx, int fd, const struct stat *st,
    char *reason, size_t len)
{
	const char *path = s->file.path;
	struct timespec now;
	double age;
	size_t dummy;

	clock_gettime(CLOCK_REALTIME, &now);
	age = (double)(now.tv_sec - st->st_mtim.tv_sec) +
	    (now.tv_nsec - st->st_mtim.tv_nsec) / 1e9;

	if (s->o->force != NULL &&
	    htab_get(s->o->force, path, strlen(path), &dummy))
		return 0;
	if (s->o->quiet > 0 && age < s->o->quiet) {
		snprintf(reason, len, "changed %.1fs ago, within the "
		    "quiet window of %ds", age, s->o->quiet);
		return 1;
	}
	if (!s->o->hold_open || has_writer(fd) != 1)
		return 0;	/* no writer, or no lease here to tell */
	if (s->o->openupdate >= 0 && age >= s->o->openupdate)
		return 0;
	snprintf(reason, len, "open for update");
	return 1;
}

/*
 * Passes the open file fd (entry idx, as st) to the one local receiver
 * it goes to, which copies it itself: 1 passed, 0 to be sent as data
 * instead (too many descriptors in flight), -1 the receiver failed.
 */
static int
pass_fd(struct sender *s, uint32_t idx, int fd, const struct stat *st)
{
	struct file_head head;
	struct sender_peer *p = s->to[0];

	memset(&head, 0, sizeof(head));
	head.index = idx;
	entry_set_stat(&head.attr, st);
	if (proto_send_file_fd(p->c, &head, fd) == -1) {
		if (errno == ETOOMANYREFS)
			return 0;
		peer_fail(p);
		return -1;
	}
	/* Transferred all the same: the receiver copies it from fd. */
	p->res->stats.sent_files++;
	p->res->stats.sent_size += head.attr.size;
	p->res->stats.copied_size += head.attr.size;
	progress_add(&s->prog, 1, (uint64_t)st->st_size);
	return 1;
}

/*
 * Sends entry idx to s->to, reading it again when it changes under us:
 * whole, from offset from on (the receiver kept that much, hashing to
 * kept), or as a delta against sig.
 */
static void
send_file(struct sender *s, uint32_t idx, uint64_t from, const uint8_t *kept,
    struct delta_sig *sig)
{
	char reason[256];
	struct stat st;
	int fd, action;

	for (int attempt = 0; attempt < SEND_ATTEMPTS; attempt++) {
		fd = open_ahead(s, idx, attempt, &st);
		if (fd == -1) {
			action = errno == ENOENT ? ITEM_VANISHED : ITEM_FAIL;
			snprintf(reason, sizeof(reason), "%s", action ==
			    ITEM_VANISHED ? "vanished before it was read" :
			    strerror(errno));
			abort_to(s, idx, action, reason);
			return;
		}
		if (!S_ISREG(st.st_mode)) {
			close(fd);
			abort_to(s, idx, ITEM_SKIP, "changed type during the sync");
			return;
		}
		if (held_back(s, idx, fd, &st, reason, sizeof(reason))) {
			close(fd);
			abort_to(s, idx, ITEM_HELD, reason);
			return;
		}
		/*
		 * The receiver checks the copy it makes, as we would. A source
		 * read through a mount (a store's, as a second hop) goes as
		 * data: the receiver refuses a descriptor on FUSE.
		 */
		if (s->nto == 1 && s->to[0]->fdpass && from == 0 &&
		    sig == NULL && (uint64_t)st.st_size >= FDPASS_MIN &&
		    !on_fuse(fd) && pass_fd(s, idx, fd, &st) != 0) {
			close(fd);
			fault_point("send");
			return;
		}
		enum attempt a = send_attempt(s, idx, fd, &st, from, kept, sig);

		close(fd);
		fault_point("send");
		if (a != ATTEMPT_CHANGED)
			return;
	}
	snprintf(reason, sizeof(reason), "changed while being read (%d "
	    "attempts); will be sent by a later sync", SEND_ATTEMPTS);
	abort_to(s, idx, ITEM_SKIP, reason);
}

/*
 * Takes every request that has come from any live peer, without waiting:
 * each is checked as it arrives (a bad one ends that peer at once), and
 * a peer's socket never holds unread requests for long (a sender that
 * dies with unread bytes resets the connection, and what it had sent
 * but not yet delivered would be lost): not longer than TAKE_BYTES.
 */
static void
take_requests(struct sender *s)
{
	for (size_t i = 0; i < s->npeers; i++) {
		struct sender_peer *p = &s->peers[i];
		size_t had;

		if (p->nneed - p->next >= PREFETCH_FILES &&
		    p->c->bytes_out - p->taken < TAKE_BYTES)
			continue;
		p->taken = p->c->bytes_out;
		do {
			had = p->nneed;
			if (!p->failed && !p->ended &&
			    pull_request(s, p, PULL_NOW) == -1)
				peer_fail(p);
		} while (!p->failed && !p->ended && p->nneed > had);
	}
}

/*
 * The smallest index some live peer still needs, or UINT32_MAX once every
 * live peer's list has ended and been sent. Without wait, also
 * UINT32_MAX when a peer with no request queued might still ask for one
 * below it: the files go out in an order that never goes down (a peer's
 * requests only go up), which is what lets the spool be read forward.
 */
static uint32_t
next_needed(struct sender *s, int wait)
{
	uint32_t idx = UINT32_MAX, low = UINT32_MAX;

	for (size_t i = 0; i < s->npeers; i++) {
		struct sender_peer *p = &s->peers[i];

		/* Its next request may still be on its way. */
		if (!p->failed && p->next >= p->nneed && !p->ended &&
		    pull_request(s, p, wait ? PULL_REQUEST : PULL_NOW) == -1)
			peer_fail(p);
		if (p->failed)
			continue;
		if (p->next < p->nneed) {
			if (p->need[p->next] < idx)
				idx = p->need[p->next];
		} else if (!p->ended) {
			uint32_t above = p->nneed == 0 ? 0 :
			    p->need[p->nneed - 1] + 1;

			/*
			 * Nor below its MARK (take_index): a peer that asks
			 * for nothing does not keep the others' data waiting.
			 */
			if (p->acked != MARK_NO_HOLD && p->acked > above)
				above = p->acked;
			if (above < low)
				low = above;
		}
	}
	return idx > low ? UINT32_MAX : idx;
}

/*
 * Asks the kernel to start reading the next files a peer wants while this
 * one goes out: a tree of small cold files is otherwise read one seek at
 * a time, the disk idle while we send. Advice only: errors are ignored.
 */
static void
prefetch(struct sender *s)
{
	struct sender_peer *p = NULL;
	struct filespool_rec f;
	size_t end;
	int fd;

	for (size_t i = 0; i < s->npeers && p == NULL; i++)
		if (!s->peers[i].failed)
			p = &s->peers[i];
	if (p == NULL)
		return;
	end = p->next + PREFETCH_FILES < p->nneed ? p->next + PREFETCH_FILES :
	    p->nneed;
	for (size_t k = p->next; k < end; k++) {
		uint32_t idx = p->need[k];

		if ((long)idx <= s->prefetched)
			continue;
		s->prefetched = idx;
		if (file_of(s, s->ahead_at, idx, &f) != 1)
			return;	/* the spool failed: so does the session */
		if ((fd = open_source(s, f.path)) == -1)
			continue;
		posix_fadvise(fd, 0, PREFETCH_BYTES, POSIX_FADV_WILLNEED);
		ahead_push(s, idx, fd);
	}
}

/* Before the manifest: requests may come, and be served, while it goes out. */
static void
data_init(struct sender *s)
{
	/* The totals of the progress line grow as requests come (push_need). */
	progress_start(&s->prog, 0, 0);
	s->prefetched = -1;
	bwlimit_init(&s->bw, s->o->bwlimit);
	s->chunk = bwlimit_chunk(&s->bw, PROTO_DATA_CHUNK);
	for (size_t i = 0; i < s->npeers; i++) {
		s->peers[i].next = 0;
		s->peers[i].acked = 0;
		s->peers[i].paced = s->peers[i].c->bytes_out;
		s->peers[i].taken = s->peers[i].c->bytes_out;
	}
}

/* Sends file idx to every peer whose next request it is. */
static void
send_one(struct sender *s, uint32_t idx)
{
	const uint8_t *kept = NULL;
	uint8_t kept_copy[HASH_SIZE];
	uint64_t from = 0;
	size_t ndelta = 0;
	int r;

	/* Checked when asked for (take_index): not finding it is a bug. */
	if ((r = file_of(s, s->serve_at, idx, &s->file)) != 1) {
		if (r == 0) {
			log_errx("%s: entry %u, asked for, is no file of the "
			    "manifest: a bug", s->source, idx);
			spool_broken(s);
		}
		return;
	}
	s->nto = 0;
	for (size_t i = 0; i < s->npeers; i++) {
		struct sender_peer *p = &s->peers[i];

		if (p->failed || p->next >= p->nneed || p->need[p->next] != idx)
			continue;
		if (p->sig != NULL && p->sig[p->next] != NULL)
			s->dto[ndelta++] = p;
		else {
			from = p->from != NULL ? p->from[p->next] : 0;
			/* A copy: more requests may move the list. */
			if (p->kept != NULL) {
				memcpy(kept_copy, p->kept[p->next], HASH_SIZE);
				kept = kept_copy;
			}
			s->to[s->nto++] = p;
		}
		p->next++;
	}
	take_requests(s);
	prefetch(s);
	/* A part kept by one of several receivers: send it whole. */
	if (s->nto > 0)
		send_file(s, idx, s->nto == 1 ? from : 0, kept, NULL);
	/* A delta is each receiver's own: the file is read for each. */
	for (size_t k = 0; k < ndelta; k++) {
		struct sender_peer *p = s->dto[k];

		s->to[0] = p;
		s->nto = 1;
		send_file(s, idx, 0, NULL, p->sig[p->next - 1]);
		delta_sig_free(p->sig[p->next - 1]);
		p->sig[p->next - 1] = NULL;
	}
}

/*
 * While the tree is still walked: sends the files already asked for, and
 * takes the requests that have come, never waiting for one. Each emitted
 * entry is a chance (every SERVE_EVERY), so the data flows during the walk.
 */
static void
serve_early(struct sender *s)
{
	uint32_t idx;

	if (++s->emitted % SERVE_EVERY != 0)
		return;
	while ((idx = next_needed(s, 0)) != UINT32_MAX)
		send_one(s, idx);
}

/* 1 when the session is to be abandoned (o->cancel): every peer then fails. */
static int
cancelled(struct sender *s)
{
	if (s->o->cancel == NULL || !*s->o->cancel)
		return 0;
	/* Without DONE the receivers commit nothing. */
	log_warnx("%s: session abandoned", s->source);
	for (size_t i = 0; i < s->npeers; i++)
		peer_failed(&s->peers[i]);
	return 1;
}

/*
 * The live peer the walk waits for: the window past its last MARK, its
 * requests not ended; one with none queued first (it is the one to speak:
 * its data was all sent). NULL: the walk goes on.
 */
static struct sender_peer *
laggard(struct sender *s)
{
	struct sender_peer *held = NULL;

	for (size_t i = 0; i < s->npeers; i++) {
		struct sender_peer *p = &s->peers[i];

		if (p->failed || p->ended || p->acked == MARK_NO_HOLD ||
		    s->nentries - p->acked < s->window)
			continue;
		if (held == NULL || (held->next < held->nneed &&
		    p->next >= p->nneed))
			held = p;
	}
	return held;
}

/* Pushes out what each live peer was sent: we are about to wait. */
static void
flush_all(struct sender *s)
{
	for (size_t i = 0; i < s->npeers; i++)
		if (!s->peers[i].failed && conn_flush(s->peers[i].c) == -1)
			peer_fail(&s->peers[i]);
}

/*
 * Flow control: while the walk is the window ahead of some live peer's
 * last MARK, serves what is asked for, and when nothing is, waits for
 * that peer's next word (a MARK, a request, or its end: a receiver that
 * fails says ERROR or closes). A receiver never waits on us with nothing
 * on its way without a MARK that lets us go on (receiver.c), so this
 * cannot stall; a peer whose data waits on another's requests (several
 * peers) does not hold the walk.
 */
static void
hold_walk(struct sender *s)
{
	struct sender_peer *p;
	uint32_t idx;

	while (!s->broken && laggard(s) != NULL && !cancelled(s)) {
		if ((idx = next_needed(s, 0)) != UINT32_MAX) {
			send_one(s, idx);
			continue;
		}
		/* next_needed read what came: a MARK may have let us go. */
		if ((p = laggard(s)) == NULL || p->next < p->nneed)
			return;
		flush_all(s);
		if (!p->failed && pull_request(s, p, PULL_MARK) == -1)
			peer_fail(p);
	}
}

/* Reads each requested file once and streams it to every peer that asked. */
static void
send_data(struct sender *s)
{
	uint32_t idx;

	while ((idx = next_needed(s, 1)) != UINT32_MAX) {
		if (cancelled(s))
			break;
		send_one(s, idx);
	}
	while (s->ahead_n > 0)
		close(ahead_take(s, s->ahead[s->ahead_head].idx));
	for (size_t i = 0; i < s->npeers; i++) {
		struct sender_peer *p = &s->peers[i];

		if (!p->failed && (conn_send(p->c, MSG_DONE, NULL, 0) == -1 ||
		    conn_flush(p->c) == -1))
			peer_fail(p);
	}
	progress_finish(&s->prog);
}

/* Ends every live peer's session, telling it why: it commits nothing. */
static void
fail_all(struct sender *s, const char *why)
{
	for (size_t i = 0; i < s->npeers; i++) {
		struct sender_peer *p = &s->peers[i];

		if (p->failed)
			continue;
		proto_send_error(p->c, why);
		conn_flush(p->c);
		snprintf(p->error, sizeof(p->error), "%s", why);
		p->failed = 1;
	}
}

/*
 * Everything is read: when the source is a store, were we reading one
 * generation all along? If not, no receiver may commit what we sent.
 */
static void
check_source(struct sender *s)
{
	char why[400];

	if (s->o->source_done == NULL ||
	    s->o->source_done(s->o->source_arg, why, sizeof(why)) == 0)
		return;
	fail_all(s, why);
}

/*
 * The spool failed (logged): no file can be served, so every peer's
 * session ends with that reason (the walk stops too).
 */
static void
spool_broken(struct sender *s)
{
	char why[512];

	snprintf(why, sizeof(why), "%s", log_last());
	s->broken = 1;
	fail_all(s, why);
}

/*
 * Without a manifest kept, the spool and its readers: one for the files
 * sent, one for those read ahead, one per peer for its requests. 0, or
 * -1 logged.
 */
static int
spool_start(struct sender *s)
{
	if ((s->spool = filespool_open()) == NULL)
		return -1;
	s->serve_at = filespool_cursor_new(s->spool);
	s->ahead_at = filespool_cursor_new(s->spool);
	if (s->serve_at == NULL || s->ahead_at == NULL)
		goto nomem;
	for (size_t i = 0; i < s->npeers; i++)
		if ((s->peers[i].check = filespool_cursor_new(s->spool)) ==
		    NULL)
			goto nomem;
	return 0;
nomem:
	log_err("%s", filespool_name(s->spool));
	return -1;
}

/* Frees the spool and its readers (none: nothing). */
static void
spool_end(struct sender *s)
{
	for (size_t i = 0; i < s->npeers; i++) {
		filespool_cursor_free(s->peers[i].check);
		s->peers[i].check = NULL;
	}
	filespool_cursor_free(s->serve_at);
	filespool_cursor_free(s->ahead_at);
	filespool_free(s->spool);
	s->serve_at = s->ahead_at = NULL;
	s->spool = NULL;
}

/*
 * The receiver has staged everything and asks to commit (COMMIT_ASK):
 * tell it to. From here on a failure leaves its outcome unknown.
 */
static int
agree_commit(struct sender_peer *p)
{
	const uint8_t *b;
	size_t n;

	if (proto_expect(p->c, MSG_COMMIT_ASK, &b, &n) == -1)
		return -1;
	if (n != 0) {
		log_errx("%s: malformed COMMIT_ASK", p->c->peer);
		return -1;
	}
	p->committing = 1;
	return conn_send(p->c, MSG_COMMIT, NULL, 0) == 0 &&
	    conn_flush(p->c) == 0 ? 0 : -1;
}

static int
recv_result(struct sender_peer *p, int problems_only)
{
	struct result theirs;
	struct item it;
	const uint8_t *b;
	size_t n;
	char err[256];
	int type;

	for (;;) {
		type = proto_expect(p->c, 0, &b, &n);
		if (type == -1)
			return -1;
		if (type == MSG_RESULT)
			break;
		/* A relay's word on its hops, once, before its RESULT. */
		if (type == MSG_HOPS && p->res->hops.n == 0) {
			if (hops_decode(b, n, &p->res->hops, err,
			    sizeof(err)) == -1) {
				log_errx("%s: %s", p->c->peer, err);
				return -1;
			}
			continue;
		}
		if (type != MSG_ITEM) {
			log_errx("%s sent %s in its report", p->c->peer,
			    proto_msg_name(type));
			return -1;
		}
		if (proto_decode_item(b, n, &it, err, sizeof(err)) == -1) {
			log_errx("%s: %s", p->c->peer, err);
			return -1;
		}
		if (problems_only && (it.action == ITEM_CREATE ||
		    it.action == ITEM_REPLACE || it.action == ITEM_PURGE ||
		    it.action == ITEM_TOUCH)) {
			result_item_release(&it);
			continue;
		}

		/* Counts come with RESULT; items only carry the lines. */
		if (result_append(p->res, &it) == -1) {
			log_err("report");
			return -1;
		}
	}
	result_init(&theirs);
	if (proto_decode_result(b, n, &theirs, err, sizeof(err)) == -1) {
		log_errx("%s: %s", p->c->peer, err);
		return -1;
	}
	result_merge_counts(p->res, &theirs);
	return 0;
}

/* Copies the sender's own lines (from the scan) and counts into every peer's result. */
static int
share_scan(struct sender *s, const struct result *scan)
{
	for (size_t i = 0; i < s->npeers; i++) {
		struct result *r = s->peers[i].res;

		r->stats = s->counts;
		for (size_t k = 0; k < scan->nitems; k++) {
			const struct item *it = &scan->items[k];

			if (result_add(r, it->action, it->path, it->is_dir,
			    it->reason) == -1)
				return -1;
		}
	}
	return 0;
}

/* The walk's window: MIRRORFS_WINDOW (a test knob, >= 2), else WALK_WINDOW. */
static uint32_t
walk_window(void)
{
	char instead[64];
	unsigned long long w;

	snprintf(instead, sizeof(instead), "the window is %u", WALK_WINDOW);
	if (!knob_count("MIRRORFS_WINDOW", "entries", 2, UINT32_MAX - 1,
	    instead, &w))
		return WALK_WINDOW;
	return (uint32_t)w;
}

int
sender_run_peers(struct sender_peer *peers, size_t n, const char *source,
    const struct sender_opts *o)
{
	double t0 = clock_now();
	struct sender s;
	struct result scan;
	uint32_t flags;
	struct identity was;
	int rc = -1;

	memset(&s, 0, sizeof(s));
	memset(&was, 0, sizeof(was));
	s.o = o;
	s.peers = peers;
	s.npeers = n;
	s.source = source;
	s.rootfd = -1;
	s.window = walk_window();
	manifest_init(&s.own);
	s.m = o->manifest != NULL ? o->manifest : &s.own;
	result_init(&scan);
	progress_init(&s.prog, o->progress);
	/*
	 * Unless a receiver here reads the manifest, the spool: made before
	 * the file-system ids change, since $TMPDIR is the caller's (and
	 * dropped if the session turns out partial).
	 */
	if (o->manifest == NULL && spool_start(&s) == -1)
		goto out;
	if (o->as_user && identity_assume(&was, o->fsuid, o->fsgid) == -1)
		goto out;
	s.rootfd = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	s.buf = malloc(PROTO_DATA_CHUNK);
	s.to = calloc(n, sizeof(*s.to));
	s.dto = calloc(n, sizeof(*s.dto));
	if (s.rootfd == -1 || s.buf == NULL || s.to == NULL || s.dto == NULL) {
		log_err("%s", source);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (hello(&peers[i]) == -1)
			peer_fail(&peers[i]);
	flags = o->flags;
	if (o->paths != NULL) {
		int r = manifest_scan_paths(s.m, s.rootfd, source, o->paths,
		    o->npaths, o->filter, proto_session_scan(o->flags),
		    &scan);

		if (r == -1)
			goto out;
		if (r == 0)
			flags |= SESSION_PARTIAL;
		else {
			/* Hard links need the whole tree to stay exact. */
			manifest_reset(s.m);
			result_release(&scan);
			result_init(&scan);
		}
	}
	/*
	 * A receiver in this process reads the manifest, and a partial one
	 * is small: those are kept. Else the walk keeps no entries, and
	 * what serving the files takes goes to the spool.
	 */
	if (flags & SESSION_PARTIAL)
		spool_end(&s);
	/* Requests are read as the data goes out (pull_request). */
	data_init(&s);
	if (send_manifest(&s, flags, &scan) == -1 ||
	    share_scan(&s, &scan) == -1)
		goto out;
	send_data(&s);
	check_source(&s);
	if (!(flags & SESSION_REPORT))
		for (size_t i = 0; i < n; i++)
			if (!peers[i].failed && agree_commit(&peers[i]) == -1)
				peer_fail(&peers[i]);
	for (size_t i = 0; i < n; i++) {
		struct result_stats *st = &peers[i].res->stats;

		if (!peers[i].failed && recv_result(&peers[i], o->problems_only) == -1)
			peer_failed(&peers[i]);
		peers[i].res->bytes_sent = peers[i].c->bytes_out;
		st->bytes_received = peers[i].c->bytes_in;
		st->elapsed = clock_now() - t0;
	}
	rc = 0;
out:
	progress_finish(&s.prog);
	if (s.rootfd != -1)
		close(s.rootfd);
	free(s.buf);
	free(s.to);
	free(s.dto);
	free(s.counted);
	spool_end(&s);
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; peers[i].sig != NULL &&
		    k < peers[i].nneed; k++)
			delta_sig_free(peers[i].sig[k]);
		free(peers[i].need);
		free(peers[i].from);
		free(peers[i].sig);
		free(peers[i].kept);
		delta_free(peers[i].sig_load);
		peers[i].sig_load = NULL;
		peers[i].kept = NULL;
		peers[i].need = NULL;
		peers[i].from = NULL;
		peers[i].sig = NULL;
	}
	manifest_release(&s.own);
	result_release(&scan);
	identity_restore(&was);
	return rc;
}

int
sender_run(struct conn *c, const char *source, const struct sender_opts *o,
    struct result *res)
{
	struct sender_peer p = { .c = c, .res = res };

	if (sender_run_peers(&p, 1, source, o) == -1)
		return -1;
	return p.failed ? -1 : 0;
}
