/* receiver: the destination half of a session: the protocol from HELLO to RESULT. */
#include "receiver.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "commit.h"
#include "copier.h"
#include "delta.h"
#include "fault.h"
#include "htab.h"
#include "log.h"
#include "manifest.h"
#include "partial.h"
#include "path.h"
#include "plan.h"
#include "proto.h"
#include "sessionlog.h"
#include "stage.h"
#include "store/master.h"
#include "xattr.h"

/* How long a failed session drains the sender so its requests can end. */
#define ASK_DRAIN_S 10
/* ...waited for in slices of this many ms, so the asker's end is seen. */
#define ASK_SLICE_MS 50
/*
 * Files asked for while the manifest still comes and not yet received:
 * their requests (4 bytes each, 16 KiB) stay far below what a socket or
 * a pipe buffers both ways, so neither end can block on the other while
 * both send. While the sender's walk is held (MARK) this many files go
 * per round trip of the link: 1024 made an initial mirror:// sync of
 * 20,000 files over 100 ms 2.3 s instead of 1.3 s (bench/wan.sh).
 */
#define EAGER_MAX 4096
/* Over a roomy socket (receiver.h) they go out this many at a time. */
#define EAGER_FLUSH 256

/* Whole files asked for, sent as NEED frames of up to PROTO_MAX_NEED. */
struct need_batch {
	uint32_t *v;
	size_t k;
};

struct receiver {
	struct conn *c;
	const struct receiver_target *t;
	struct store *st;		/* t->st, or own_st */
	struct store own_st;
	int store_open;		/* we opened own_st (a master, or a view) */
	uint32_t flags;
	struct filter filter;
	struct manifest m;
	struct plan plan;
	struct plan_opts popts;
	struct commit *commit;	/* the commit built as entries end (not in a dry run) */
	uint64_t *resume;	/* per entry: bytes of it already staged */
	uint64_t mbytes;	/* receiver_manifest_cost of the manifest so far */
	uint64_t sigbytes;	/* signatures sent (bounded: delta.h) */
	uint64_t xattr_bytes;	/* of the manifest (bounded: xattr.h) */
	struct result counts;	/* the report's counts (no items) */
	struct timespec started;
	char err[512];
	/*
	 * The requests go out from a thread of their own (ask_main) while
	 * this one takes the data, so a signature is computed while other
	 * files arrive. Every write to c holds wlock; the thread only reads
	 * the plan entries it has not asked for yet, and sets PF_ASKED or
	 * PF_DELTA on each before its request goes out, so the data of an
	 * entry (which follows its request) finds them set.
	 */
	pthread_mutex_t wlock;
	/*
	 * Whole files are asked for as their entries arrive (eager), in
	 * order, until an entry wants more than that (a delta, the rest of
	 * a kept part): from there on the asker asks, after the manifest.
	 */
	int eager;
	size_t eager_next;	/* the next entry to consider asking for */
	size_t eager_asked;	/* asked that way */
	size_t files_ended;	/* staged, or ended for good, so far */
	struct need_batch eager_b;	/* v is NULL unless eager asks began */
	struct stage_file f;	/* the file being received */
	/*
	 * Passed descriptors copied while frames still come (copier.h),
	 * made at the first; their results are taken here (copies_take),
	 * and an entry stays PF_COPYING until its result is.
	 */
	struct copier *copier;
	int copy_here;		/* no copier (copier_ready said why): copy in this thread */
	pthread_t asker;
	int asking;		/* asker runs: join it */
	volatile int ask_stop;	/* the session failed: ask for no more */
	volatile int ask_done;	/* asker returned */
	int ask_rc;
	/*
	 * The window. An entry is done once nothing reads it again: planned
	 * and spooled (entry_done), its data ended or not wanted (no
	 * PF_DATA: the asker and the data only read entries with it), not a
	 * hard link the commit keeps waiting, not the newest (check_entry
	 * compares with it). Every entry below mark is done, and released
	 * (manifest_release_below): what later entries need of earlier ones
	 * is kept apart (firsts; the plan's open directories, which
	 * check_entry reads too, and the commit's), and the report's line of each released entry that
	 * has one goes to items. flat: a whole session with no parts to
	 * resume (claim_partials reads every entry), with purges too (the
	 * plan decides a directory's from the names it keeps of its open
	 * directories' entries, the purges and retypes keep their paths).
	 */
	int flat;
	int manifest_whole;	/* END_MANIFEST planned */
	size_t mark;
	size_t window_max;	/* the most entries pending at once (-v) */
	/*
	 * Flow control: the sender walks at most window entries (SESSION;
	 * 0, never held: send no MARK) past the last MARK we sent, acked
	 * (mark_value says what we send).
	 */
	uint32_t window;
	uint32_t acked;
	struct htab firsts;	/* first names of files with several: to index */
	char **first_v;		/* their paths (the table's keys), owned */
	size_t nfirst, first_cap;
	FILE *items;		/* the report's lines of released entries */
	struct entry item_e;	/* the line read back (send_result) */
	struct entry item_none;	/* an entry released with no line */
	size_t item_idx;	/* its entry, SIZE_MAX at the end */
	char item_path[PATH_MAX], item_target[PATH_MAX];
};

static int ask_join(struct receiver *r, int failed);

/*
 * Logs a protocol violation and tells the peer. Always returns -1. From
 * the data side it first stops the requests, which may hold the socket.
 */
static int
peer_fail(struct receiver *r, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_errx("%s: %s", r->c->peer, msg);
	if (r->asking && !pthread_equal(pthread_self(), r->asker))
		ask_join(r, 1);
	pthread_mutex_lock(&r->wlock);
	proto_send_error(r->c, msg);
	conn_flush(r->c);
	pthread_mutex_unlock(&r->wlock);
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

/* Keeps a copy of s in *v (n of cap): 0, or -1 ENOMEM. */
static int
keep_str(char ***v, size_t *n, size_t *cap, const char *str)
{
	char **nv, *c;

	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;

		if ((nv = realloc(*v, ncap * sizeof(*nv))) == NULL)
			return -1;
		*v = nv;
		*cap = ncap;
	}
	if ((c = strdup(str)) == NULL)
		return -1;
	(*v)[(*n)++] = c;
	return 0;
}

/*
 * Checks entry i against those before it: after the one before in
 * path_order (so no path comes twice, and the manifest can be searched),
 * its directory earlier (the innermost open one: entries come in
 * path_order), a hard link naming an earlier file the sender said has
 * several names (protocol 10), whose name is kept: no earlier entry is
 * read but the one before, which the window keeps.
 */
static int
check_entry(struct receiver *r, size_t i)
{
	struct manifest *m = &r->m;
	struct entry *e = &m->v[i];
	const char *dir;
	size_t len, at;
	int c;

	if (i > 0 && (c = path_order(m->v[i - 1].path, e->path)) >= 0)
		return c == 0 ? peer_fail(r, "the manifest names %s twice",
		    e->path) : peer_fail(r, "the manifest names %s after %s: "
		    "out of order", e->path, m->v[i - 1].path);
	len = path_dirlen(e->path);
	if (len > 0 && ((dir = plan_open_dir_of(&r->plan, e->path)) == NULL ||
	    strlen(dir) != len || memcmp(dir, e->path, len) != 0))
		return peer_fail(r, "entry %s comes before its directory",
		    e->path);
	if (e->type == ENTRY_HARDLINK) {
		if (!htab_get(&r->firsts, e->target, strlen(e->target), &at))
			return peer_fail(r, "hard link %s names %s, not an "
			    "earlier file with several names", e->path,
			    e->target);
		e->link_index = at;
	}
	if (e->type == ENTRY_REG && e->linked) {
		if (keep_str(&r->first_v, &r->nfirst, &r->first_cap,
		    e->path) == -1 || htab_put(&r->firsts,
		    r->first_v[r->nfirst - 1], strlen(e->path), i) == -1)
			return peer_fail(r, "out of memory");
	}
	return 0;
}

static int open_store(struct receiver *r);

/* Where entry i is staged (plan_staged_path): 0, or -1 (a path too long). */
static int
staged_name(const struct receiver *r, size_t i, char name[PLAN_STAGED_PATH])
{
	return plan_staged_path(&r->plan, &r->m, i, name, PLAN_STAGED_PATH);
}

/*
 * Entry i may be final (planned, or its data ended): its records go to
 * the commit's spool. -1 when that fails: the session fails uncommitted.
 */
static int
entry_done(struct receiver *r, size_t i)
{
	if (r->commit == NULL ||
	    commit_entry(r->commit, &r->m, &r->plan, i) == 0)
		return 0;
	return peer_fail(r, "%s: commit failed: %s", r->t->path, log_last());
}

/* The commit, begun once the store is open and the session's options known. */
static int
commit_start(struct receiver *r)
{
	struct commit_opts o = {
		.owner = r->popts.owner,
		.ns = r->popts.ns,
		.observer = r->t->observer,
	};

	if (r->flags & SESSION_REPORT)
		return 0;
	if ((r->commit = commit_alloc(r->st, &o)) == NULL)
		return peer_fail(r, "%s: %s", r->t->path, log_last());
	return 0;
}

uint64_t
receiver_manifest_cost(const struct entry *e)
{
	uint64_t n = 2 * (sizeof(struct entry) + sizeof(struct plan_entry)) +
	    2 * sizeof(void *) * 4;

	n += strlen(e->path) + 1;
	if (e->target != NULL)
		n += strlen(e->target) + 1;
	return n + e->xattrs_len;
}

static uint64_t
max_manifest(const struct receiver *r)
{
	return r->t->max_manifest ? r->t->max_manifest : RECEIVER_MAX_MANIFEST;
}

/* An unnamed file for the report's lines: in .mirrorfs, else $TMPDIR. */
static int
items_open(struct receiver *r)
{
	const char *dir = getenv("TMPDIR");
	int fd = -1;

	if (r->st->metafd >= 0 && !(r->flags & SESSION_REPORT))
		fd = openat(r->st->metafd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
		    0600);
	if (fd == -1)
		fd = open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR |
		    O_CLOEXEC, 0600);
	if (fd == -1 || (r->items = fdopen(fd, "w+")) == NULL) {
		if (fd != -1)
			close(fd);
		return peer_fail(r, "the report's spool in %s/.mirrorfs: %s",
		    r->t->path, strerror(errno));
	}
	return 0;
}

/* Entry i is released: its report line, when it may have one, is kept. */
static int
item_keep(struct receiver *r, size_t i)
{
	const struct plan_entry *pe = &r->plan.v[i];
	const struct entry *e = &r->m.v[i];
	uint32_t idx = (uint32_t)i;
	uint16_t plen, tlen;

	if (pe->state == PLAN_UNCHANGED && pe->changes == 0 &&
	    e->type != ENTRY_GONE)
		return 0;	/* no line, unless it changes later (a bug) */
	if (r->items == NULL && items_open(r) == -1)
		return -1;
	plen = (uint16_t)strlen(e->path);
	tlen = e->target != NULL ? (uint16_t)strlen(e->target) : 0;
	fwrite(&idx, sizeof(idx), 1, r->items);
	fputc(e->type, r->items);
	fwrite(&plen, sizeof(plen), 1, r->items);
	fwrite(e->path, 1, plen, r->items);
	fwrite(&tlen, sizeof(tlen), 1, r->items);
	if (tlen > 0)
		fwrite(e->target, 1, tlen, r->items);
	if (ferror(r->items))
		return peer_fail(r, "the report's spool in %s/.mirrorfs: write: "
		    "%s", r->t->path, strerror(errno));
	return 0;
}

/*
 * Moves the mark over the entries that are done (see struct receiver)
 * and releases them. end: the manifest is whole (the newest may go).
 */
static int
advance(struct receiver *r)
{
	size_t limit, wait;

	if (!r->flat)
		return 0;
	limit = r->manifest_whole ? r->m.n : r->m.n > 0 ? r->m.n - 1 : 0;
	if ((wait = commit_first_waiting(r->commit)) < limit)
		limit = wait;
	if (r->m.n - r->mark > r->window_max)
		r->window_max = r->m.n - r->mark;
	while (r->mark < limit && ((r->flags & SESSION_REPORT) ||
	    !(r->plan.v[r->mark].flags & PF_DATA))) {
		if (item_keep(r, r->mark) == -1)
			return -1;
		r->mark++;
	}
	/* A page of entries at a time: fewer system calls. */
	if (r->mark - r->m.base >= 256 || (r->manifest_whole &&
	    r->mark > r->m.base))
		manifest_release_below(&r->m, r->mark);
	return 0;
}

/* items is read from its start by item_entry. -1 logged. */
static int
items_rewind(struct receiver *r)
{
	r->item_idx = 0;
	r->item_e.path = NULL;
	if (r->items != NULL && (fflush(r->items) == EOF ||
	    fseek(r->items, 0, SEEK_SET) == -1)) {
		log_err("%s: the report's spool", r->t->path);
		return -1;
	}
	return 0;
}

/* The next line of items into item_e: 1, 0 at its end, -1 cut short or failed. */
static int
item_read(struct receiver *r)
{
	uint32_t idx;
	uint16_t len;
	int type;

	if (r->items == NULL || fread(&idx, sizeof(idx), 1, r->items) != 1)
		return r->items != NULL && ferror(r->items) ? -1 : 0;
	type = fgetc(r->items);
	if (type == EOF || fread(&len, sizeof(len), 1, r->items) != 1 ||
	    len >= PATH_MAX || fread(r->item_path, 1, len, r->items) != len)
		return -1;
	r->item_path[len] = '\0';
	if (fread(&len, sizeof(len), 1, r->items) != 1 || len >= PATH_MAX ||
	    fread(r->item_target, 1, len, r->items) != len)
		return -1;
	r->item_target[len] = '\0';
	r->item_idx = idx;
	r->item_e.type = (uint8_t)type;
	r->item_e.path = r->item_path;
	r->item_e.target = r->item_target;
	return 1;
}

/*
 * Entry i (for increasing i, after items_rewind): m's, or read back
 * from items (plan_entry_at).
 */
static const struct entry *
item_entry(void *arg, size_t i)
{
	struct receiver *r = arg;
	int got;

	if (i >= r->m.base)
		return &r->m.v[i];
	/* Lines of the entries not asked for are passed over. */
	while (r->item_idx != SIZE_MAX && (r->item_idx < i ||
	    r->item_e.path == NULL)) {
		r->item_idx = SIZE_MAX;
		if ((got = item_read(r)) == -1) {
			log_errx("%s: the report's spool: %s", r->t->path,
			    ferror(r->items) ? strerror(errno) : "cut short");
			return NULL;
		}
		if (got == 0)
			break;
	}
	if (r->item_idx == i)
		return &r->item_e;
	/* No line kept: it had none (plan_each_item_at checks). */
	memset(&r->item_none, 0, sizeof(r->item_none));
	r->item_none.type = ENTRY_REG;
	return &r->item_none;
}

static int eager_ask(struct receiver *r);
static int wants_delta(const struct receiver *r, size_t i);
static int batch_flush(struct receiver *r, struct need_batch *b);
static int data_frame(struct receiver *r, uint8_t type, const uint8_t *p,
    size_t n);
static int recv_cut(struct receiver *r);
static int wait_frame(struct receiver *r, int (*idle)(struct receiver *));

/*
 * Asks as the manifest comes (eager_ask) when nothing else may be asked
 * first: not a dry run, and no part kept from an interrupted session
 * (those are claimed once the manifest is whole). -1 on ENOMEM.
 */
static int
eager_start(struct receiver *r)
{
	if ((r->flags & SESSION_REPORT) || partial_any(r->st->partialfd))
		return 0;
	r->eager_b.v = malloc(PROTO_MAX_NEED * sizeof(*r->eager_b.v));
	if (r->eager_b.v == NULL)
		return -1;
	r->eager = 1;
	return 0;
}

/*
 * What a MARK says now (the sender holds its walk on it): MARK_NO_HOLD
 * when the mark cannot move before the manifest ends: not flat (parts
 * to resume: every entry stays), eager asks ended (a delta is asked after the
 * manifest: its entry keeps the mark); a dry run's mark moves (it takes
 * no data). Else the mark while some file asked for has not ended: its
 * data comes (the sender serves while it holds). Else every entry so
 * far: nothing on its way would move the mark (a hard link waiting for
 * its first name, a file held), so the sender must walk on: that is
 * what keeps the hold from ever stalling. Never below the last sent.
 */
static uint32_t
mark_value(const struct receiver *r)
{
	size_t v;

	if (!r->flat || (!r->eager && !(r->flags & SESSION_REPORT)))
		return MARK_NO_HOLD;
	v = r->eager_asked > r->files_ended ? r->mark : r->m.n;
	return v > r->acked ? (uint32_t)v : r->acked;
}

/*
 * 1 when a MARK is to go out: MARK_NO_HOLD at once (once); idle (nothing
 * to read), when it moved and the sender may be near its window (half
 * of it past the last MARK: it waits at all of it); over a roomy socket
 * also as soon as it moved by a quarter of the window (the data of what
 * is asked then comes while the entries do).
 */
static int
mark_due(const struct receiver *r, int idle)
{
	uint32_t v, half, quarter;

	if (r->window == 0 || r->acked == MARK_NO_HOLD)
		return 0;
	if ((v = mark_value(r)) == MARK_NO_HOLD)
		return 1;
	if (v == r->acked)
		return 0;
	half = r->window / 2 > 0 ? r->window / 2 : 1;
	quarter = r->window / 4 > 0 ? r->window / 4 : 1;
	if (idle)
		return r->m.n - r->acked >= half;
	return r->t->roomy && v - r->acked >= quarter;
}

/* Sends a MARK when one is due (mark_due). 0, or -1 (the link failed). */
static int
mark_send(struct receiver *r, int idle)
{
	uint32_t v;
	int rc;

	if (!mark_due(r, idle))
		return 0;
	v = mark_value(r);
	pthread_mutex_lock(&r->wlock);
	rc = proto_send_mark(r->c, v) == -1 || conn_flush(r->c) == -1 ? -1 : 0;
	pthread_mutex_unlock(&r->wlock);
	r->acked = v;
	return rc;
}

/*
 * A frame other than ENTRY inside the manifest: the data of a file asked
 * for already (eager_ask), whose end frees a place for the next request.
 */
static int
manifest_data(struct receiver *r, uint8_t type, const uint8_t *p, size_t n)
{
	int rc = r->eager_b.v != NULL ? data_frame(r, type, p, n) : 1;

	if (rc == 1)
		return peer_fail(r, "sent %s inside the manifest",
		    proto_msg_name(type));
	if (rc == -1)
		return -1;
	/* A file that ended frees a place for the next request. */
	return eager_ask(r) == -1 ? -1 : mark_send(r, 0);
}

/* Before the manifest's next frame is waited for: what was asked goes out, then a MARK. */
static int
manifest_idle(struct receiver *r)
{
	if (r->eager_b.k == 0 && !mark_due(r, 1))
		return 0;
	return batch_flush(r, &r->eager_b) == -1 || mark_send(r, 1) == -1 ?
	    -1 : 0;
}

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
	if (proto_decode_session(p, n, &r->flags, &r->window, &r->filter,
	    r->err, sizeof(r->err)) == -1)
		return peer_fail(r, "%s", r->err);
	if (open_store(r) == -1)
		return -1;
	r->popts.flags = r->flags;
	r->popts.filter = &r->filter;
	/* What the session carries and this process can set. */
	r->popts.ns = proto_session_ns(r->flags) & xattr_ns_settable();
	/* A dry run stages nothing: new directories only with a staging/. */
	r->popts.trees = !(r->flags & SESSION_REPORT) && r->st->stagingfd >= 0;
	if (commit_start(r) == -1)
		return -1;
	if (eager_start(r) == -1)
		return peer_fail(r, "out of memory");
	/* Every entry in memory when parts are resumed (claim_partials). */
	r->flat = !(r->flags & SESSION_PARTIAL) && ((r->flags &
	    SESSION_REPORT) || !partial_any(r->st->partialfd));
	/*
	 * The report's spool is opened now, before any file's data: taken
	 * later it may find the process out of descriptors (the sender
	 * keeps files open ahead) and fail the whole session.
	 */
	if (r->flat && items_open(r) == -1)
		return -1;
	for (;;) {
		if (wait_frame(r, manifest_idle) == -1)
			return -1;
		if (recv_frame(r, &type, &p, &n) == -1)
			return recv_cut(r);
		if (type == MSG_END_MANIFEST)
			break;
		if (type != MSG_ENTRY) {
			if (manifest_data(r, type, p, n) == -1)
				return -1;
			continue;
		}
		if (r->m.n >= RECEIVER_MAX_ENTRIES)
			return peer_fail(r, "manifest over %u entries",
			    RECEIVER_MAX_ENTRIES);
		if (proto_decode_entry(p, n, proto_session_ns(r->flags), &e,
		    r->err, sizeof(r->err)) == -1)
			return peer_fail(r, "%s", r->err);
		r->mbytes += receiver_manifest_cost(&e);
		if (r->mbytes > max_manifest(r)) {
			entry_release(&e);
			return peer_fail(r, "manifest over %llu bytes of memory "
			    "(%zu entries so far): the limit of %s",
			    (unsigned long long)max_manifest(r), r->m.n,
			    r->t->path);
		}
		r->xattr_bytes += e.xattrs_len;
		if (r->xattr_bytes > XATTR_MAX_SESSION) {
			entry_release(&e);
			return peer_fail(r, "the manifest's extended attributes "
			    "are over %u bytes", XATTR_MAX_SESSION);
		}
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
		if (entry_done(r, r->m.n - 1) == -1 || eager_ask(r) == -1 ||
		    advance(r) == -1 || mark_send(r, 0) == -1)
			return -1;
	}
	/* The sender ends the manifest between files, never inside one. */
	if (r->f.idx != -1)
		return peer_fail(r, "ended the manifest in the middle of a "
		    "file");
	r->eager = 0;
	if (batch_flush(r, &r->eager_b) == -1)
		return -1;
	if (proto_decode_end_manifest(p, n, proto_session_ns(r->flags), &count,
	    &r->m.top, &mflags, r->err, sizeof(r->err)) == -1)
		return peer_fail(r, "%s", r->err);
	if (count != r->m.n)
		return peer_fail(r, "manifest of %llu entries announced %llu",
		    (unsigned long long)r->m.n, (unsigned long long)count);
	/* The source could not be read whole: its absences prove nothing. */
	if (mflags & MANIFEST_INCOMPLETE)
		r->popts.flags &= ~(SESSION_PURGE | SESSION_PURGE_DIRS);
	if (plan_finish(&r->plan, r->st, &r->m, &r->popts) == -1)
		return peer_fail(r, "%s: planning failed", r->t->path);
	r->manifest_whole = 1;
	return advance(r);
}

/* Sends a signature as NEED_SIG frames. */
static int
send_sig(struct receiver *r, size_t i, const struct buf *sig)
{
	size_t off = 0, len;
	int rc = 0;

	pthread_mutex_lock(&r->wlock);
	do {
		len = sig->len - off < PROTO_SIG_CHUNK ? sig->len - off :
		    PROTO_SIG_CHUNK;
		if (proto_send_need_sig(r->c, (uint32_t)i, off + len <
		    sig->len, sig->data + off, len) == -1)
			rc = -1;
		off += len;
	} while (rc == 0 && off < sig->len);
	/* Out at once: the sender may be waiting for this very request. */
	if (rc == 0 && conn_flush(r->c) == -1)
		rc = -1;
	pthread_mutex_unlock(&r->wlock);
	return rc;
}


/* Sends what the batch holds, so the requests stay in ascending order. */
static int
batch_flush(struct receiver *r, struct need_batch *b)
{
	int rc;

	if (b->k == 0)
		return 0;
	pthread_mutex_lock(&r->wlock);
	rc = proto_send_need(r->c, b->v, b->k) == -1 ||
	    conn_flush(r->c) == -1 ? -1 : 0;
	pthread_mutex_unlock(&r->wlock);
	b->k = 0;
	return rc;
}

static int
batch_add(struct receiver *r, struct need_batch *b, size_t i)
{
	r->plan.v[i].flags |= PF_ASKED;
	b->v[b->k++] = (uint32_t)i;
	return b->k == PROTO_MAX_NEED ? batch_flush(r, b) : 0;
}

/*
 * While the manifest comes: asks for the whole files planned so far, in
 * order, up to EAGER_MAX not yet received. An entry that wants a delta
 * ends it: it and all after are the asker's (requests stay in order).
 */
static int
eager_ask(struct receiver *r)
{
	while (r->eager && r->eager_next < r->plan.n) {
		size_t i = r->eager_next;

		if (!(r->plan.v[i].flags & PF_DATA)) {
			r->eager_next++;
			continue;
		}
		if (wants_delta(r, i)) {
			r->eager = 0;
			break;
		}
		/*
		 * Only eager requests can have ended before the manifest did.
		 * Over a roomy socket (receiver.h) they go out as they are
		 * made, so that the data comes while the entries do (they wait
		 * for it in the window); elsewhere when nothing waits to be
		 * read (recv_manifest).
		 */
		if (r->eager_asked - r->files_ended >= EAGER_MAX)
			return r->t->roomy ? batch_flush(r, &r->eager_b) : 0;
		r->eager_next++;
		r->eager_asked++;
		if (batch_add(r, &r->eager_b, i) == -1)
			return -1;
		if (r->t->roomy && r->eager_b.k >= EAGER_FLUSH &&
		    batch_flush(r, &r->eager_b) == -1)
			return -1;
	}
	return 0;
}

/* 1 when entry i is to be asked for as a delta (need_delta). */
static int
wants_delta(const struct receiver *r, size_t i)
{
	const struct entry *e = &r->m.v[i];

	return (r->flags & SESSION_DELTA) && e->type == ENTRY_REG &&
	    e->size >= DELTA_MIN_SIZE && (r->plan.v[i].flags & PF_EXISTS) &&
	    !(r->plan.v[i].flags & PF_RETYPE);
}

/*
 * Asks for entry i as a delta against the store's version when the
 * sender offered deltas and that version is a big enough file: 0 asked
 * (NEED_SIG sent), 1 ask for it whole instead, -1 the connection failed.
 */
static int
need_delta(struct receiver *r, struct need_batch *b, size_t i)
{
	const struct entry *e = &r->m.v[i];
	/* Counted as the sender counts it (delta.h). */
	uint64_t used = r->sigbytes + DELTA_SIG_OVERHEAD;
	struct buf sig;
	int rc;

	if (!wants_delta(r, i) || used >= DELTA_MAX_SIG_TOTAL)
		return 1;
	buf_init(&sig);
	rc = stage_signature(r->st, e->path, DELTA_MAX_SIG_TOTAL - used, &sig);
	if (rc == 0 && (rc = batch_flush(r, b)) == 0) {
		r->sigbytes = used + sig.len;
		r->plan.v[i].flags |= PF_DELTA | PF_ASKED;
		rc = send_sig(r, i, &sig);
	}
	buf_release(&sig);
	return rc;
}

/*
 * Asks for the rest of a part an interrupted session kept, with the hash
 * of what it holds: 0 asked, 1 ask for it whole (the part is unreadable
 * and dropped), -1 the connection failed.
 */
static int
need_rest(struct receiver *r, struct need_batch *b, size_t i)
{
	uint8_t kept[HASH_SIZE];
	char name[PLAN_STAGED_PATH] = "";
	int rc;

	/* Named as claim_partials named it: the name cannot fail here. */
	if (staged_name(r, i, name) == -1 ||
	    stage_kept_hash(r->st, name, kept) == -1) {
		if (name[0] != '\0')
			stage_discard(r->st, name);
		r->resume[i] = 0;
		return 1;
	}
	if (batch_flush(r, b) == -1)
		return -1;
	r->plan.v[i].flags |= PF_ASKED;
	pthread_mutex_lock(&r->wlock);
	rc = proto_send_need_from(r->c, (uint32_t)i, r->resume[i], kept) == -1 ?
	    -1 : 0;
	pthread_mutex_unlock(&r->wlock);
	return rc;
}

/*
 * Asks for every file the plan wants, in ascending order of index (the
 * sender checks each request as it comes): the rest of a kept part, a
 * delta, or the whole file.
 */
static int
send_need(struct receiver *r)
{
	struct need_batch b = { NULL, 0 };
	int rc = -1, asked;

	if (r->flags & SESSION_REPORT)
		goto end;	/* a dry run takes no data */
	b.v = malloc(PROTO_MAX_NEED * sizeof(*b.v));
	if (b.v == NULL)
		return peer_fail(r, "out of memory");
	for (size_t i = 0; i < r->plan.n; i++) {
		if (r->ask_stop)
			goto out;
		/* Asked already while the manifest came (eager_ask). */
		if (!(r->plan.v[i].flags & PF_DATA) ||
		    (r->plan.v[i].flags & PF_ASKED))
			continue;
		asked = 1;
		if (r->resume != NULL && r->resume[i] > 0)
			asked = need_rest(r, &b, i);
		if (asked == 1)
			asked = need_delta(r, &b, i);
		if (asked == 1)
			asked = batch_add(r, &b, i);
		if (asked == -1)
			goto out;
	}
	if (batch_flush(r, &b) == -1)
		goto out;
end:
	pthread_mutex_lock(&r->wlock);
	rc = conn_send(r->c, MSG_END_NEED, NULL, 0) == -1 ||
	    conn_flush(r->c) == -1 ? -1 : 0;
	pthread_mutex_unlock(&r->wlock);
out:
	free(b.v);
	return rc;
}

static void *
ask_main(void *arg)
{
	struct receiver *r = arg;

	r->ask_rc = send_need(r);
	r->ask_done = 1;
	return NULL;
}

/* Starts the requests (send_need) in their own thread. -1 logged. */
static int
ask_start(struct receiver *r)
{
	if ((errno = pthread_create(&r->asker, NULL, ask_main, r)) != 0) {
		log_err("%s: starting the requests", r->t->path);
		return peer_fail(r, "out of resources");
	}
	r->asking = 1;
	return 0;
}

/*
 * Waits for the requests to end. After a failure (failed), asks for no
 * more and drains what the sender still sends until they end, so that a
 * request blocked on a full socket goes out; a sender that stops
 * reading or sending is cut off (the conn's receive timeout bounds it).
 * Returns the requests' result.
 */
static int
ask_join(struct receiver *r, int failed)
{
	const uint8_t *p;
	size_t n;
	uint8_t type;

	if (!r->asking)
		return 0;
	if (failed) {
		struct timespec t0, now;

		r->ask_stop = 1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		now = t0;
		/*
		 * Waits a slice at a time: an asker that stopped sends no
		 * END_NEED, so a sender waiting for requests sends nothing, and
		 * a local conn has no receive timeout to end a blocked read.
		 */
		while (!r->ask_done && now.tv_sec - t0.tv_sec < ASK_DRAIN_S) {
			if (conn_readable(r->c)) {
				if (conn_recv(r->c, &type, &p, &n) != 1)
					break;
			} else
				poll(&(struct pollfd){ .fd = r->c->rfd,
				    .events = POLLIN }, 1, ASK_SLICE_MS);
			clock_gettime(CLOCK_MONOTONIC, &now);
		}
		if (!r->ask_done)
			shutdown(r->c->wfd, SHUT_RDWR);
	}
	pthread_join(r->asker, NULL);
	r->asking = 0;
	return r->ask_rc;
}

/* The peer sent what for entry i while its descriptor is still copied. -1. */
static int
still_copying(struct receiver *r, const char *what, size_t i)
{
	return peer_fail(r, "sent %s for entry %zu, whose descriptor it "
	    "already sent", what, i);
}

/* FILE, FILE_FROM or FILE_DELTA: a file we asked for, in the form we asked. */
static int
file_begin(struct receiver *r, struct stage_file *f, int type,
    const uint8_t *p, size_t n)
{
	struct file_head head;
	char name[PLAN_STAGED_PATH];
	int rc;

	if (f->idx != -1)
		return peer_fail(r, "FILE before the previous file ended");
	rc = type == MSG_FILE_FROM ?
	    proto_decode_file_from(p, n, &head, r->err, sizeof(r->err)) :
	    proto_decode_file(p, n, &head, r->err, sizeof(r->err));
	if (rc == -1)
		return peer_fail(r, "%s", r->err);
	head.delta = type == MSG_FILE_DELTA;
	if (head.index >= r->plan.n ||
	    (r->plan.v[head.index].flags & (PF_DATA | PF_ASKED)) !=
	    (PF_DATA | PF_ASKED))
		return peer_fail(r, "sent data for entry %u, which was not "
		    "requested", head.index);
	if (r->plan.v[head.index].flags & PF_COPYING)
		return still_copying(r, "data", head.index);
	if (head.delta && !(r->plan.v[head.index].flags & PF_DELTA))
		return peer_fail(r, "sent a delta for entry %u, which was "
		    "asked for whole", head.index);
	if (type == MSG_FILE_FROM && (r->resume == NULL ||
	    r->resume[head.index] != head.offset))
		return peer_fail(r, "resumed entry %u at an offset not asked "
		    "for", head.index);
	if (staged_name(r, head.index, name) == -1)
		return peer_fail(r, "%s/%s: too long a path to stage",
		    r->t->path, r->m.v[head.index].path);
	if (stage_begin(f, r->st, r->m.v[head.index].path, name, &head) == -1)
		return peer_fail(r, "out of memory");
	return 0;
}

static int
file_data(struct receiver *r, struct stage_file *f, const uint8_t *p, size_t n)
{
	if (f->idx == -1)
		return peer_fail(r, "DATA outside a file");
	if (stage_data(f, p, n, r->err, sizeof(r->err)) == -1)
		return peer_fail(r, "%s for %s", r->err, r->m.v[f->idx].path);
	return 0;
}

static int
file_hole(struct receiver *r, struct stage_file *f, const uint8_t *p, size_t n)
{
	uint64_t len;

	if (f->idx == -1)
		return peer_fail(r, "HOLE outside a file");
	if (proto_decode_hole(p, n, &len, r->err, sizeof(r->err)) == -1 ||
	    stage_hole(f, len, r->err, sizeof(r->err)) == -1)
		return peer_fail(r, "%s for %s", r->err, r->m.v[f->idx].path);
	return 0;
}

/* Entry i's file ended as end says; attr is the version staged. */
static int
file_staged(struct receiver *r, size_t i, enum stage_end end,
    const struct entry *attr)
{
	struct entry *e;

	r->files_ended++;
	switch (end) {
	case STAGE_BROKEN:
		return peer_fail(r, "%s %s", r->m.v[i].path, r->err);
	case STAGE_FAILED:
	case STAGE_SKIPPED:
		r->plan.v[i].flags &= ~PF_DATA;
		plan_set(&r->plan, i, end == STAGE_SKIPPED ? PLAN_SKIP :
		    PLAN_FAIL, "%s", r->err);
		return advance(r);
	case STAGE_DONE:
		break;
	}
	/* What the sender read as it sent: the version now staged. */
	e = &r->m.v[i];
	e->size = attr->size;
	e->mode = attr->mode;
	e->mtime_sec = attr->mtime_sec;
	e->mtime_nsec = attr->mtime_nsec;
	r->plan.v[i].flags &= ~PF_DATA;
	r->plan.v[i].flags |= PF_STAGED;
	return entry_done(r, i) == -1 ? -1 : advance(r);
}

static int
file_end(struct receiver *r, struct stage_file *f, const uint8_t *p, size_t n)
{
	size_t i = (size_t)f->idx;
	struct entry attr;
	enum stage_end end;

	if (f->idx == -1 || n != HASH_SIZE)
		return peer_fail(r, "malformed FILE_END");
	attr = f->head.attr;
	end = stage_end(f, r->st, p, &r->m.v[i], &r->popts, r->err,
	    sizeof(r->err));
	return file_staged(r, i, end, &attr);
}

/* A copy ended (copier_take): its entry's file ends as it says. */
static int
copy_ended(struct receiver *r, const struct copy_result *res)
{
	r->plan.v[res->idx].flags &= ~PF_COPYING;
	snprintf(r->err, sizeof(r->err), "%s", res->why);
	return file_staged(r, res->idx, res->end, &res->attr);
}

/*
 * Takes the results of the copies that ended (wait: of every copy still
 * pending). In the manifest each frees a place for a request, and may
 * move the mark, as a file that arrived does (manifest_data).
 */
static int
copies_take(struct receiver *r, int wait)
{
	struct copy_result res;
	int took = 0;

	while (r->copier != NULL && copier_take(r->copier, &res, wait) == 1) {
		if (copy_ended(r, &res) == -1)
			return -1;
		took = 1;
	}
	if (took && r->eager_b.v != NULL && !r->manifest_whole &&
	    (eager_ask(r) == -1 || mark_send(r, 0) == -1))
		return -1;
	return 0;
}

/*
 * The copier, made at the first descriptor: 0, or 1 when there is none
 * (MIRRORFS_COPIERS=0; entries that may move: the manifest is not
 * reserved; it could not be made) and the caller copies. Waits for a
 * result when every place is taken. -1: the session fails.
 */
static int
copier_ready(struct receiver *r)
{
	unsigned threads;

	if (r->copy_here)
		return 1;
	if (r->copier == NULL) {
		/* Decided once: not again at every descriptor. */
		if (!r->m.mapped || (threads = copier_threads()) == 0 ||
		    (r->copier = copier_new(r->st, &r->popts, threads)) == NULL) {
			r->copy_here = 1;
			return 1;
		}
	}
	while (copier_full(r->copier)) {
		struct copy_result res;

		if (copier_take(r->copier, &res, 1) == 1 &&
		    copy_ended(r, &res) == -1)
			return -1;
	}
	return 0;
}

/*
 * Copies the passed descriptor fd of entry i into staging/name: by the
 * copier while the next frames are taken, else here and now.
 */
static int
copy_passed(struct receiver *r, size_t i, const char *name, int fd)
{
	struct entry attr;
	enum stage_end end;
	int ready = copier_ready(r);

	if (ready == -1) {
		close(fd);
		return -1;
	}
	if (ready == 0) {
		r->plan.v[i].flags |= PF_COPYING;
		copier_add(r->copier, i, name, fd, &r->m.v[i]);
		return 0;
	}
	end = stage_copy(r->st, i, name, fd, &r->m.v[i], &r->popts, &attr,
	    r->err, sizeof(r->err));
	close(fd);
	return file_staged(r, i, end, &attr);
}

/*
 * Before reading a frame: takes the copies that ended and, while no
 * frame waits and copies run, waits for either, so that a copy's end
 * goes out (a request, a MARK) even while the sender waits for it.
 * idle: what is sent before waiting (recv_manifest's). 0, or -1.
 */
static int
wait_frame(struct receiver *r, int (*idle)(struct receiver *))
{
	struct pollfd pfd[2];

	for (;;) {
		if (copies_take(r, 0) == -1)
			return -1;
		if (conn_readable(r->c))
			return 0;
		if (idle != NULL && idle(r) == -1)
			return -1;
		if (r->copier == NULL || copier_pending(r->copier) == 0)
			return 0;
		pfd[0] = (struct pollfd){ .fd = r->c->rfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = copier_fd(r->copier),
		    .events = POLLIN };
		if (poll(pfd, 2, -1) == -1 && errno != EINTR)
			return peer_fail(r, "%s: waiting for the copies and the "
			    "sender: poll: %s", r->t->path, strerror(errno));
	}
}

/*
 * FILE_FD: a local sender passed the source file's descriptor, and we
 * copy it ourselves (stage_copy): no byte crosses the socket.
 */
static int
file_fd(struct receiver *r, struct stage_file *f, const uint8_t *p, size_t n)
{
	struct file_head head;
	char name[PLAN_STAGED_PATH];
	int fd;

	if (f->idx != -1)
		return peer_fail(r, "FILE_FD before the previous file ended");
	if (!(r->flags & SESSION_FDPASS) || !r->t->fdpass)
		return peer_fail(r, "FILE_FD in a session without descriptors");
	if (proto_decode_file(p, n, &head, r->err, sizeof(r->err)) == -1)
		return peer_fail(r, "%s", r->err);
	if (head.index >= r->plan.n ||
	    (r->plan.v[head.index].flags & (PF_DATA | PF_ASKED)) !=
	    (PF_DATA | PF_ASKED) || (r->plan.v[head.index].flags & PF_DELTA))
		return peer_fail(r, "sent a descriptor for entry %u, which was "
		    "not requested whole", head.index);
	if (r->plan.v[head.index].flags & PF_COPYING)
		return still_copying(r, "a descriptor", head.index);
	/* Our own want of descriptors: this file fails, the session goes on. */
	if ((fd = conn_take_fd(r->c)) == -1 && errno == EMFILE) {
		snprintf(r->err, sizeof(r->err), "its descriptor came, but this "
		    "process had no room for it: %s (ulimit -n)",
		    strerror(EMFILE));
		return file_staged(r, head.index, STAGE_FAILED, NULL);
	}
	if (fd == -1)
		return peer_fail(r, "FILE_FD for entry %u came without a "
		    "descriptor", head.index);
	if (staged_name(r, head.index, name) == -1) {
		close(fd);
		return peer_fail(r, "%s/%s: too long a path to stage",
		    r->t->path, r->m.v[head.index].path);
	}
	return copy_passed(r, head.index, name, fd);
}

static int
file_abort(struct receiver *r, struct stage_file *f, const uint8_t *p,
    size_t n)
{
	uint32_t idx;
	int action;
	char *reason;

	if (proto_decode_file_abort(p, n, &idx, &action, &reason, r->err,
	    sizeof(r->err)) == -1)
		return peer_fail(r, "%s", r->err);
	if ((f->idx != -1 && idx != f->idx) || idx >= r->plan.n ||
	    (r->plan.v[idx].flags & (PF_DATA | PF_ASKED)) !=
	    (PF_DATA | PF_ASKED)) {
		free(reason);
		return peer_fail(r, "FILE_ABORT for entry %u, not in progress",
		    idx);
	}
	if (r->plan.v[idx].flags & PF_COPYING) {
		free(reason);
		return still_copying(r, "FILE_ABORT", idx);
	}
	stage_drop(f, r->st);
	if (action != ABORT_RETRY) {
		r->files_ended++;
		r->plan.v[idx].flags &= ~PF_DATA;
		plan_set(&r->plan, idx, action == ITEM_VANISHED ? PLAN_VANISHED :
		    action == ITEM_SKIP ? PLAN_SKIP : action == ITEM_HELD ?
		    PLAN_HELD : PLAN_FAIL, "%s", reason);
	}
	free(reason);
	return advance(r);
}

/*
 * One frame of a file's data (during the manifest too, once eager_ask
 * asked): 0 taken, 1 not such a frame, -1 the session fails (logged).
 */
static int
data_frame(struct receiver *r, uint8_t type, const uint8_t *p, size_t n)
{
	struct stage_file *f = &r->f;

	switch (type) {
	case MSG_FILE:
	case MSG_FILE_FROM:
	case MSG_FILE_DELTA: return file_begin(r, f, type, p, n);
	case MSG_DATA: return file_data(r, f, p, n);
	case MSG_HOLE: return file_hole(r, f, p, n);
	case MSG_FILE_FD: return file_fd(r, f, p, n);
	case MSG_FILE_END: return file_end(r, f, p, n);
	case MSG_FILE_ABORT: return file_abort(r, f, p, n);
	default: return 1;
	}
}

/*
 * A session cut short commits nothing; what arrived is kept, the files
 * released from the window too (their paths are in items).
 */
static int
recv_cut(struct receiver *r)
{
	struct copy_result res;
	int spool;

	ask_join(r, 1);
	/* The copies still running end first: what they staged is kept. */
	while (r->copier != NULL && copier_take(r->copier, &res, 1) == 1)
		copy_ended(r, &res);
	/* Without the spool (logged) the rest is still kept. */
	spool = items_rewind(r) == 0;
	stage_keep_partials(&r->f, r->st, &r->m, &r->plan,
	    spool ? item_entry : NULL, r, r->resume);
	return -1;
}

static int
recv_data(struct receiver *r)
{
	const uint8_t *p;
	size_t n;
	uint8_t type;
	int rc = -1;

	for (;;) {
		if (wait_frame(r, NULL) == -1)
			goto out;
		if (recv_frame(r, &type, &p, &n) == -1) {
			rc = recv_cut(r);
			goto out;
		}
		if (type == MSG_DONE) {
			rc = r->f.idx != -1 ? peer_fail(r, "DONE in the middle "
			    "of a file") : copies_take(r, 1);
			goto out;
		}
		if ((rc = data_frame(r, type, p, n)) == 1)
			rc = peer_fail(r, "sent %s during the data phase",
			    proto_msg_name(type));
		if (rc == -1)
			goto out;
	}
out:
	stage_drop(&r->f, r->st);
	for (size_t i = 0; rc == 0 && i < r->plan.n; i++)
		if ((r->plan.v[i].flags & PF_DATA) &&
		    !(r->flags & SESSION_REPORT)) {
			r->plan.v[i].flags &= ~PF_DATA;
			plan_set(&r->plan, i, PLAN_FAIL, "not sent by the source");
		}
	if (rc == 0 && r->commit != NULL &&
	    commit_data_end(r->commit, &r->m, &r->plan) == -1)
		rc = peer_fail(r, "%s: commit failed: %s", r->t->path,
		    log_last());
	if (rc == 0)
		rc = advance(r);
	if (rc == 0 && r->flat)
		log_debug("%s: at most %zu entries of %zu were held at once",
		    r->t->path, r->window_max, r->m.n);
	return rc;
}

/* One line of the report, sent as plan_each_item makes it. */
static int
send_item(void *arg, const struct item *it)
{
	struct receiver *r = arg;

	return proto_send_item(r->c, it);
}

static int
send_result(struct receiver *r)
{
	struct result res;
	int rc = -1;

	result_init(&res);
	res.report = (r->flags & SESSION_REPORT) != 0;
	/* Each line goes out as it is made: a report is not kept whole. */
	if (items_rewind(r) == -1)
		goto out;
	if (plan_each_item_at(&r->plan, &r->m, item_entry, r, &res, send_item,
	    r) == -1 ||
	    (r->t->hops != NULL && r->t->hops->n > 0 &&
	    proto_send_hops(r->c, r->t->hops) == -1) ||
	    proto_send_result(r->c, &res) == -1 || conn_flush(r->c) == -1)
		goto out;
	if (r->t->counts != NULL)
		result_merge_counts(r->t->counts, &res);
	result_merge_counts(&r->counts, &res);
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
	char name[PLAN_STAGED_PATH];
	uint64_t got;

	if (!partial_any(r->st->partialfd))
		return 0;	/* the usual case: spare two syscalls a file */
	r->resume = calloc(r->m.n + 1, sizeof(*r->resume));
	if (r->resume == NULL)
		return peer_fail(r, "out of memory");
	for (size_t i = 0; i < r->m.n; i++) {
		const struct entry *e = &r->m.v[i];

		if (!(r->plan.v[i].flags & PF_DATA) ||
		    staged_name(r, i, name) == -1)
			continue;
		got = stage_claim(r->st, i, name, e);
		if (got == 0)
			continue;
		/* With a hash (--checksum) a complete copy is checked here. */
		if (got == e->size && e->has_hash) {
			if (stage_adopt(r->st, name, e, &r->popts) == -1) {
				stage_discard(r->st, name);
				continue;
			}
			r->plan.v[i].flags &= ~PF_DATA;
			r->plan.v[i].flags |= PF_STAGED;
			if (entry_done(r, i) == -1)
				return -1;
			continue;
		}
		r->resume[i] = got;	/* the sender checks it (NEED_FROM) */
	}
	return 0;
}

static int
open_store(struct receiver *r)
{
	int rc;

	if (r->t->st != NULL) {
		r->st = r->t->st;
		return 0;
	}
	r->st = &r->own_st;
	if (r->flags & SESSION_REPORT)
		rc = store_open_view(r->st, r->t->path);
	else
		rc = master_open(r->st, r->t->path, r->t->master_flags, NULL,
		    NULL);
	if (rc == -1) {
		proto_send_error(r->c, log_last());
		conn_flush(r->c);
		return -1;
	}
	r->store_open = 1;
	return 0;
}

/*
 * Everything is staged: asks the sender whether to commit, and commits
 * only on its word, so a sender that never sent COMMIT knows that nothing
 * was committed, and one that did and heard no RESULT knows it cannot
 * tell (the link died after the commit began).
 */
static int
agree_commit(struct receiver *r)
{
	const uint8_t *p;
	size_t n;

	if (conn_send(r->c, MSG_COMMIT_ASK, NULL, 0) == -1 ||
	    conn_flush(r->c) == -1)
		return -1;
	if (recv_expect(r, MSG_COMMIT, &p, &n) == -1)
		return -1;
	if (n != 0)
		return peer_fail(r, "malformed COMMIT");
	fault_point("agreed");
	return 0;
}

/*
 * The store's session history (.mirrorfs/sessions.log): a session that
 * reached the store, committed or failed; dry runs change nothing and
 * are not kept.
 */
static void
record_session(struct receiver *r, int rc)
{
	struct sessionlog_rec rec;
	struct timespec now;

	if (r->st == NULL || r->st->metafd < 0 || !r->st->master ||
	    (r->flags & SESSION_REPORT))
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	sessionlog_from_result(&rec, &r->counts, rc == 0 ? RESULT_DONE :
	    RESULT_FAILED);
	rec.start = (double)r->started.tv_sec + r->started.tv_nsec / 1e9;
	rec.end = (double)now.tv_sec + now.tv_nsec / 1e9;
	rec.bytes = r->c->bytes_in;
	sessionlog_set(rec.peer, sizeof(rec.peer), r->c->peer);
	if (rc != 0)
		sessionlog_set(rec.error, sizeof(rec.error), log_last());
	sessionlog_append(r->st->metafd, r->t->path, SESSIONLOG_NAME, &rec, 0);
}

/* Makes the session current in the store; each entry's outcome goes to the plan. */
static int
commit(struct receiver *r)
{
	return commit_run(r->commit, &r->plan, &r->m.top);
}

int
receiver_run(struct conn *c, const struct receiver_target *t)
{
	struct receiver r;
	const uint8_t *p;
	size_t n;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	pthread_mutex_init(&r.wlock, NULL);
	stage_init(&r.f);
	r.c = c;
	r.t = t;
	store_init(&r.own_st);
	filter_init(&r.filter);
	manifest_init(&r.m);
	/*
	 * Reserved (address space only), so that its pages can be released
	 * below the window's mark; without it, every entry stays.
	 */
	if (manifest_reserve(&r.m, RECEIVER_MAX_ENTRIES + 1) == -1)
		log_debug("%s: the manifest is not reserved: %s", t->path,
		    strerror(errno));
	htab_init(&r.firsts);
	plan_init(&r.plan);
	result_init(&r.counts);
	clock_gettime(CLOCK_REALTIME, &r.started);
	r.popts.owner = geteuid() == 0;
	if (t->fdpass)
		conn_accept_fds(c);
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
	if (!(r.flags & SESSION_REPORT) && claim_partials(&r) == -1)
		goto out;
	/* The requests go out while the data comes in (see struct receiver). */
	if (ask_start(&r) == -1)
		goto out;
	if (recv_data(&r) == -1) {
		ask_join(&r, 1);
		goto out;
	}
	if (ask_join(&r, 0) == -1)
		goto out;
	if (!(r.flags & SESSION_REPORT) && agree_commit(&r) == -1)
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
	copier_free(r.copier);
	if (r.st != NULL)
		stage_drop(&r.f, r.st);
	free(r.eager_b.v);
	free(r.resume);
	commit_free(r.commit);
	/* A failed session leaves nothing behind: roll back or forward. */
	if (rc == -1 && r.st != NULL && !(r.flags & SESSION_REPORT) &&
	    r.st->stagingfd >= 0)
		master_recover(r.st);
	record_session(&r, rc);

	if (r.store_open && r.st->master)
		master_close(r.st);
	else if (r.store_open)
		store_close(r.st);
	plan_release(&r.plan);
	manifest_release(&r.m);
	htab_release(&r.firsts);
	for (size_t k = 0; k < r.nfirst; k++)
		free(r.first_v[k]);
	free(r.first_v);
	if (r.items != NULL)
		fclose(r.items);
	filter_release(&r.filter);
	pthread_mutex_destroy(&r.wlock);
	return rc;
}
