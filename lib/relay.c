/* relay: a store that forwards streams each session on to its hops while it still receives it (pipelining). */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "filter.h"
#include "fsutil.h"
#include "hash.h"
#include "log.h"
#include "proto.h"

#define RELAY_IDLE_MS 5		/* a hop with nothing to do looks again after this */
#define RELAY_ENTRY_BATCH 32	/* entries sent before a hop's requests are read */
#define RELAY_SOCKBUF (4 * 1024 * 1024)

/* A FILE head in the spool: where the upstream's data of index begins. */
struct spool_file {
	uint32_t index;
	uint64_t off;
};

/* A growing array of n elements of size sz (pointer *v, capacity *cap). */
static int
grow(void **v, size_t *cap, size_t n, size_t sz)
{
	size_t c = *cap ? *cap * 2 : 1024;
	void *p;

	if (n < *cap)
		return 0;
	p = realloc(*v, c * sz);
	if (p == NULL)
		return -1;
	*v = p;
	*cap = c;
	return 0;
}

/* One hop: a downstream session, in its own thread. */
struct relay_hop {
	struct relay *r;
	struct dest d;
	pthread_t thread;
	int started;
	int committed;		/* its RESULT came after our COMMIT */
	struct conn c;
	int have_conn;
	uint8_t *buf;		/* one frame read from the spool */
	uint32_t *want;		/* the indexes it asked for, ascending */
	size_t nwant, wcap, whead;
	int need_end;		/* its END_NEED came */
	int commit_ask;
	int done_sent;
	uint64_t ecur;		/* the next spool frame the manifest cursor reads */
	int manifest_sent;
	uint64_t fpos;		/* within the file being sent from the spool; 0: none */
	uint64_t fprev;		/* the FILE head last sent of want[whead] */
	int64_t progress_ms;	/* the last time anything moved */
	uint64_t seen_end;	/* the spool's end, when it last looked */
};

struct relay {
	pthread_mutex_t mu;	/* protects everything below that changes */
	char *store;
	int rootfd;
	struct net_opts no;
	uint8_t key[NET_KEY_SIZE];
	int spool;
	uint64_t spool_end;
	int off;		/* not relaying this session (a dry run, or given up) */
	uint32_t flags;		/* the hops' session flags */
	uint32_t window;	/* the upstream's walk window (SESSION) */
	struct filter filter;
	uint64_t *entry_off;	/* spool offset of each ENTRY, by index */
	size_t nentries, ecap;
	struct spool_file *files;	/* ascending by index (a retry repeats one) */
	size_t nfiles, fcap;
	uint32_t *asked;	/* what the store asked upstream, ascending */
	size_t nasked, acap;
	uint64_t decided;	/* every index below was asked for or not */
	int need_end;		/* the store sent END_NEED */
	int ended;		/* 0 running, 1 the store committed, -1 failed */
	int diverged;		/* the store failed or skipped a file */
	struct relay_hop *hops;
	size_t nhops;
};

static int64_t
now_ms(void)
{
	return (int64_t)(clock_now() * 1000);
}

/* --- the spool: the upstream's frames, on disk --- */

static int
spool_open(const char *store)
{
	char dir[4096];
	int fd;

	snprintf(dir, sizeof(dir), "%s/.mirrorfs", store);
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd == -1)
		fd = open("/var/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd == -1)
		log_err("%s: a spool for the relay (in .mirrorfs or /var/tmp)",
		    store);
	return fd;
}

/*
 * (mu held) The relay gives up on this session, never the session: each
 * hop is told ERROR (nothing is committed below) and the forward
 * delivers to it after the commit; the frames pass on as they come.
 */
static void
relay_abandon(struct relay *r, const char *why)
{
	log_errx("%s: relaying to the hops as it comes stopped: %s", r->store,
	    why);
	r->off = 1;
	r->ended = -1;
}

/* (mu held) Appends one frame to the spool. */
static int
spool_put(struct relay *r, uint8_t type, const uint8_t *p, size_t n)
{
	uint32_t len = (uint32_t)n + 1;
	uint8_t head[5] = { len >> 24, len >> 16, len >> 8, len, type };
	struct iovec iov[2] = { { head, 5 }, { (void *)p, n } };
	size_t want = 5 + n;
	ssize_t w = pwritev(r->spool, iov, 2, (off_t)r->spool_end);

	if (w != (ssize_t)want) {
		if (w >= 0)
			errno = ENOSPC;
		log_err("%s: writing the relay's spool", r->store);
		return -1;
	}
	r->spool_end += want;
	return 0;
}

/*
 * (Hop thread) The frame at off: 1 with its type, its payload in h->buf
 * (only when whole is set: else just its length) and the offset after
 * it, 0 when it is not whole in the spool yet, -1.
 */
static int
spool_get(struct relay_hop *h, uint64_t off, int whole, uint8_t *type,
    size_t *n, uint64_t *next)
{
	struct relay *r = h->r;
	uint8_t head[5];
	uint64_t end;
	uint32_t len;

	pthread_mutex_lock(&r->mu);
	end = r->spool_end;
	pthread_mutex_unlock(&r->mu);
	if (off + 5 > end)
		return 0;
	if (pread(r->spool, head, 5, (off_t)off) != 5)
		goto fail;
	len = buf_load_u32(head);
	if (len == 0 || len > CONN_MAX_FRAME)
		goto fail;
	if (off + 4 + len > end)
		return 0;
	if (whole && len > 1 && pread(r->spool, h->buf, len - 1,
	    (off_t)off + 5) != (ssize_t)(len - 1))
		goto fail;
	*type = head[4];
	*n = len - 1;
	*next = off + 4 + len;
	return 1;
fail:
	log_errx("%s: reading the relay's spool at %llu failed", r->store,
	    (unsigned long long)off);
	return -1;
}

/* --- what the upstream and the store say, as it passes (session thread) --- */

static void *hop_main(void *arg);

/* SESSION: the hops' flags, then a session to each of them. */
static void
relay_start(struct relay *r, const uint8_t *p, size_t n)
{
	char err[256];
	uint32_t flags;

	if (proto_decode_session(p, n, &flags, &r->window, &r->filter, err,
	    sizeof(err)) == -1 || (flags & SESSION_REPORT)) {
		r->off = 1;	/* the store refuses it and says why, or a dry run */
		return;
	}
	r->flags = flags & (SESSION_PURGE | SESSION_PURGE_DIRS |
	    SESSION_CHECKSUM | SESSION_PARTIAL | SESSION_XATTRS | SESSION_ACLS);
	r->spool = spool_open(r->store);
	if (r->spool == -1) {
		r->off = 1;	/* the forward delivers after the commit */
		return;
	}
	for (size_t i = 0; i < r->nhops; i++) {
		struct relay_hop *h = &r->hops[i];

		h->progress_ms = now_ms();
		errno = pthread_create(&h->thread, NULL, hop_main, h);
		if (errno != 0)
			log_err("%s: a thread for the hop %s", r->store,
			    h->d.text);
		else
			h->started = 1;
	}
}

/* What the caller of a tap does with the frame. */
enum { TAP_PASS = 1, TAP_SESSION, TAP_NEED };

/*
 * (mu held) Notes a frame from the upstream: TAP_PASS, the caller sends
 * it on as it came; TAP_SESSION, rewritten (relay_session).
 */
static int
tap_up(struct relay *r, uint8_t type, const uint8_t *p, size_t n)
{
	if (r->off)
		return 1;
	switch (type) {
	case MSG_SESSION:
		relay_start(r, p, n);
		return r->off ? 1 : TAP_SESSION;
	case MSG_ENTRY:
		if (grow((void **)&r->entry_off, &r->ecap, r->nentries,
		    sizeof(*r->entry_off)) == -1)
			goto nomem;
		r->entry_off[r->nentries++] = r->spool_end;
		break;
	case MSG_FILE:
	case MSG_FILE_FROM:
	case MSG_FILE_DELTA:
		if (n < 4)
			return TAP_PASS;	/* the store refuses it */
		if (grow((void **)&r->files, &r->fcap, r->nfiles,
		    sizeof(*r->files)) == -1)
			goto nomem;
		r->files[r->nfiles].index = buf_load_u32(p);
		r->files[r->nfiles++].off = r->spool_end;
		break;
	case MSG_ERROR:
		r->ended = -1;
		return TAP_PASS;
	case MSG_END_MANIFEST:
	case MSG_DATA:
	case MSG_HOLE:
	case MSG_FILE_END:
	case MSG_FILE_ABORT:
	case MSG_DONE:
		break;
	default:
		return TAP_PASS;
	}
	if (spool_put(r, type, p, n) == -1)
		relay_abandon(r, log_last());
	return TAP_PASS;
nomem:
	relay_abandon(r, "out of memory");
	return TAP_PASS;
}

/* (mu held) The store asked upstream for index i. */
static void
asked(struct relay *r, uint32_t i)
{
	if (r->off)
		return;
	if (grow((void **)&r->asked, &r->acap, r->nasked,
	    sizeof(*r->asked)) == -1) {
		relay_abandon(r, "out of memory");
		return;
	}
	r->asked[r->nasked++] = i;
	r->decided = (uint64_t)i + 1;
}

/*
 * (mu held) Notes a frame from the store to the upstream: TAP_PASS, the
 * caller sends it on as it came; TAP_NEED, a NEED of *one instead (a
 * NEED_FROM).
 */
static int
tap_down(struct relay *r, uint8_t type, const uint8_t *p, size_t n,
    uint32_t *one)
{
	uint32_t idx[PROTO_MAX_NEED];
	uint8_t kept[HASH_SIZE];
	uint64_t offset;
	size_t count;
	char err[256];

	if (r->off)
		return TAP_PASS;
	switch (type) {
	case MSG_NEED:
		if (proto_decode_need(p, n, idx, &count, err, sizeof(err)) == -1)
			return TAP_PASS;	/* the upstream refuses it */
		for (size_t k = 0; k < count; k++)
			asked(r, idx[k]);
		return TAP_PASS;
	case MSG_NEED_FROM:
		/* The rest of a kept part would not pass by whole: all of it. */
		if (proto_decode_need_from(p, n, one, &offset, kept, err,
		    sizeof(err)) == -1)
			return TAP_PASS;
		asked(r, *one);
		return TAP_NEED;
	case MSG_NEED_SIG:
		/* Not asked for by a SESSION without DELTA: the upstream refuses it. */
		return TAP_PASS;
	case MSG_END_NEED:
		r->need_end = 1;
		return TAP_PASS;
	case MSG_MARK:
		/* The upstream holds its walk for the store: on as it came. */
		return TAP_PASS;
	case MSG_ITEM:
		/*
		 * A file the store failed or refused (a veto) would be
		 * committed below and not here: the hops then get nothing.
		 */
		if (n > 0 && (p[0] == ITEM_FAIL || p[0] == ITEM_SKIP) &&
		    !r->diverged) {
			r->diverged = 1;
			log_info("%s: the store did not take every file: its "
			    "hops get the store's state from its forward",
			    r->store);
		}
		return TAP_PASS;
	case MSG_RESULT:
		if (r->ended == 0)
			r->ended = r->diverged ? -1 : 1;
		return TAP_PASS;
	case MSG_ERROR:
		r->ended = -1;
		return TAP_PASS;
	default:
		return TAP_PASS;
	}
}

/*
 * The upstream's SESSION as the store gets it: asking for whole files.
 * Its window stays: the store's MARKs go up as they came (tap_down).
 */
static int
relay_session(struct relay *r, struct conn *down, const uint8_t *p)
{
	return proto_send_session(down, buf_load_u32(p) & ~(uint32_t)SESSION_DELTA,
	    r->window, &r->filter);
}

struct pump {
	struct relay *r;
	conn_seen_fn *seen;	/* shown the store's frames, as conn_relay does */
	void *arg;
};

/* conn_relay_pass's pass: each frame noted by the taps, then sent on. */
static int
pump_pass(void *arg, int from_up, struct conn *to, uint8_t type,
    const uint8_t *p, size_t n)
{
	struct pump *pu = arg;
	uint32_t one = 0;
	int rc;

	if (!from_up && pu->seen != NULL)
		pu->seen(pu->arg, type, p, n);
	pthread_mutex_lock(&pu->r->mu);
	rc = from_up ? tap_up(pu->r, type, p, n) :
	    tap_down(pu->r, type, p, n, &one);
	pthread_mutex_unlock(&pu->r->mu);
	if (rc == TAP_SESSION)
		return relay_session(pu->r, to, p);
	if (rc == TAP_NEED)
		return proto_send_need(to, &one, 1);
	return conn_send(to, type, p, n);
}

int
relay_pump(struct relay *r, struct conn *up, struct conn *down,
    conn_seen_fn *seen, void *arg)
{
	struct pump pu = { r, seen, arg };
	int rc = conn_relay_pass(up, down, pump_pass, &pu);

	pthread_mutex_lock(&r->mu);
	if (r->ended == 0)
		r->ended = -1;	/* cut before the store's result */
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* --- the receiver behind a socketpair --- */

struct inner {
	struct conn c;
	const struct receiver_target *t;
	int rc;
};

static void *
inner_main(void *arg)
{
	struct inner *in = arg;

	in->rc = receiver_run(&in->c, in->t);
	/* Closing our end ends the pump. */
	conn_release(&in->c);
	return NULL;
}

int
relay_receive(struct relay *r, struct conn *up,
    const struct receiver_target *t)
{
	struct inner in = { .t = t, .rc = -1 };
	struct conn outer;
	pthread_t th;
	int sv[2], rc = -1;

	if (conn_socketpair(sv, RELAY_SOCKBUF) == -1)
		return -1;
	if (conn_init(&in.c, sv[1], sv[1], up->peer) == -1) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (conn_init(&outer, sv[0], sv[0], "the store's receiver") == -1) {
		conn_release(&in.c);
		close(sv[0]);
		return -1;
	}
	in.c.timeout_ms = outer.timeout_ms = up->timeout_ms;
	if ((errno = pthread_create(&th, NULL, inner_main, &in)) != 0) {
		log_err("starting the receiver");
		conn_release(&in.c);
		conn_release(&outer);
		return -1;
	}
	relay_pump(r, up, &outer, NULL, NULL);
	shutdown(outer.wfd, SHUT_RDWR);
	pthread_join(th, NULL);
	conn_release(&outer);
	rc = in.rc;
	return rc;
}

/* --- a hop's session (its thread) --- */

/* Why a hop is dropped, logged once; the forward delivers to it later. */
static int
hop_drop(struct relay_hop *h, const char *why)
{
	log_errx("%s: relaying to %s stopped: %s (the forward delivers to it "
	    "after the commit)", h->r->store, h->d.text, why);
	return -1;
}

/* (mu held) 1 when the store asked upstream for index i. */
static int
store_asked(const struct relay *r, uint32_t i)
{
	size_t lo = 0, hi = r->nasked;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->asked[mid] < i)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->nasked && r->asked[lo] == i;
}

/* (mu held) The first FILE head of index i in the spool after off; 0: none yet. */
static uint64_t
file_head(const struct relay *r, uint32_t i, uint64_t after)
{
	size_t lo = 0, hi = r->nfiles;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->files[mid].index < i)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* No FILE is at 0: an ENTRY always comes before the first. */
	for (; lo < r->nfiles && r->files[lo].index == i; lo++)
		if (r->files[lo].off > after)
			return r->files[lo].off;
	return 0;
}

/* Takes one frame the hop sent. 0, -1 (dropped). */
static int
hop_frame(struct relay_hop *h, uint8_t type, const uint8_t *p, size_t n)
{
	uint32_t idx[PROTO_MAX_NEED], one;
	uint8_t kept[HASH_SIZE];
	uint64_t offset;
	size_t count, entries;
	char err[256];

	switch (type) {
	case MSG_NEED:
		if (proto_decode_need(p, n, idx, &count, err, sizeof(err)) == -1)
			return hop_drop(h, err);
		break;
	case MSG_NEED_FROM:
		/* A FILE answers it too: the whole file is what passes by. */
		if (proto_decode_need_from(p, n, &one, &offset, kept, err,
		    sizeof(err)) == -1)
			return hop_drop(h, err);
		idx[0] = one;
		count = 1;
		break;
	case MSG_END_NEED:
		h->need_end = 1;
		return 0;
	case MSG_MARK:
		/*
		 * Flow control is for a walk: a hop's manifest comes from the
		 * spool on disk, read at the hop's own pace, so nothing waits
		 * for it (its SESSION said window 0: it sends none).
		 */
		return 0;
	case MSG_COMMIT_ASK:
		h->commit_ask = 1;
		return 0;
	case MSG_ERROR:
		snprintf(err, sizeof(err), "it said: %.*s",
		    n > 2 ? (int)(n - 2 > 200 ? 200 : n - 2) : 0,
		    (const char *)p + 2);
		return hop_drop(h, err);
	default:
		snprintf(err, sizeof(err), "it sent %s out of turn",
		    proto_msg_name(type));
		return hop_drop(h, err);
	}
	pthread_mutex_lock(&h->r->mu);
	entries = h->r->nentries;
	pthread_mutex_unlock(&h->r->mu);
	for (size_t k = 0; k < count; k++) {
		if ((h->nwant > 0 && idx[k] <= h->want[h->nwant - 1]) ||
		    idx[k] >= entries)
			return hop_drop(h, "a request out of order");
		if (grow((void **)&h->want, &h->wcap, h->nwant,
		    sizeof(*h->want)) == -1)
			return hop_drop(h, "out of memory");
		h->want[h->nwant++] = idx[k];
	}
	return 0;
}

/* Reads what the hop sent. 1 when something came, 0, -1. */
static int
hop_read(struct relay_hop *h)
{
	const uint8_t *p;
	uint8_t type;
	size_t n;
	int any = 0;

	while (conn_readable(&h->c)) {
		int r = conn_recv(&h->c, &type, &p, &n);

		if (r != 1)
			return hop_drop(h, r == 0 ? "it closed the connection" :
			    log_last());
		if (hop_frame(h, type, p, n) == -1)
			return -1;
		any = 1;
	}
	return any;
}

/* Sends the manifest's next frames from the spool. 1 sent some, 0, -1. */
static int
hop_manifest(struct relay_hop *h)
{
	uint8_t type;
	size_t n;
	uint64_t next;
	int any = 0;

	for (int k = 0; k < RELAY_ENTRY_BATCH && !h->manifest_sent; k++) {
		/* The data between the entries is the data cursor's. */
		int r = spool_get(h, h->ecur, 0, &type, &n, &next);

		if (r <= 0)
			return r == -1 ? -1 : any;
		if (type != MSG_ENTRY && type != MSG_END_MANIFEST) {
			h->ecur = next;
			continue;
		}
		if (spool_get(h, h->ecur, 1, &type, &n, &next) != 1)
			return -1;
		h->ecur = next;
		if (conn_send(&h->c, type, h->buf, n) == -1)
			return hop_drop(h, log_last());
		h->manifest_sent = type == MSG_END_MANIFEST;
		any = 1;
	}
	return any;
}

/* The entry of index i, decoded from its ENTRY in the spool. */
static int
hop_entry(struct relay_hop *h, uint32_t i, struct entry *e)
{
	uint64_t off, next;
	uint8_t type;
	size_t n;
	char err[256];

	pthread_mutex_lock(&h->r->mu);
	off = h->r->entry_off[i];
	pthread_mutex_unlock(&h->r->mu);
	if (spool_get(h, off, 1, &type, &n, &next) != 1 || type != MSG_ENTRY)
		return hop_drop(h, "the spool lost an entry");
	if (proto_decode_entry(h->buf, n, proto_session_ns(h->r->flags), e,
	    err, sizeof(err)) == -1)
		return hop_drop(h, err);
	return 0;
}

/*
 * The store's directory, for the files it has unchanged (opened once it
 * is there: the session may make it). -1 (dropped).
 */
static int
relay_root(struct relay *r)
{
	int fd;

	pthread_mutex_lock(&r->mu);
	if (r->rootfd == -1)
		r->rootfd = open(r->store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fd = r->rootfd;
	pthread_mutex_unlock(&r->mu);
	if (fd == -1)
		log_err("%s", r->store);
	return fd;
}

/* Sends index i from the store, which has it unchanged. 0, -1 (dropped). */
static int
hop_from_store(struct relay_hop *h, uint32_t i)
{
	struct file_head fh = { .index = i };
	struct hash_state *hs = NULL;
	struct stat a, b;
	struct entry e;
	uint8_t digest[HASH_SIZE];
	uint64_t left;
	int fd = -1, rc = -1;

	memset(&e, 0, sizeof(e));
	if (hop_entry(h, i, &e) == -1 || relay_root(h->r) == -1)
		return -1;
	fd = open_beneath(h->r->rootfd, e.path, O_RDONLY | O_NOATIME);
	if (fd == -1 && errno == EPERM)
		fd = open_beneath(h->r->rootfd, e.path, O_RDONLY);
	if (fd == -1 || fstat(fd, &a) == -1 || !S_ISREG(a.st_mode)) {
		hop_drop(h, "a file the store has is not there as a file");
		goto out;
	}
	fh.attr.type = ENTRY_REG;
	fh.attr.size = (uint64_t)a.st_size;
	fh.attr.mode = a.st_mode & 07777;
	fh.attr.uid = a.st_uid;
	fh.attr.gid = a.st_gid;
	fh.attr.mtime_sec = a.st_mtim.tv_sec;
	fh.attr.mtime_nsec = (uint32_t)a.st_mtim.tv_nsec;
	if ((hs = hash_new()) == NULL || proto_send_file(&h->c, &fh) == -1) {
		hop_drop(h, "sending a file the store has");
		goto out;
	}
	for (left = fh.attr.size; left > 0;) {
		size_t want = left > PROTO_DATA_CHUNK ? PROTO_DATA_CHUNK : left;
		ssize_t got = read_full(fd, h->buf, want);

		if (got != (ssize_t)want) {
			hop_drop(h, "a file the store has changed size");
			goto out;
		}
		hash_update(hs, h->buf, want);
		if (conn_send(&h->c, MSG_DATA, h->buf, want) == -1) {
			hop_drop(h, log_last());
			goto out;
		}
		left -= want;
	}
	if (fstat(fd, &b) == -1 || !same_version(&a, &b)) {
		hop_drop(h, "a file the store has changed while read");
		goto out;
	}
	hash_final(hs, digest);
	hs = NULL;
	if (conn_send(&h->c, MSG_FILE_END, digest, HASH_SIZE) == -1) {
		hop_drop(h, log_last());
		goto out;
	}
	rc = 0;
out:
	hash_free(hs);
	if (fd != -1)
		close(fd);
	entry_release(&e);
	return rc;
}

/*
 * Sends the next frames of want[whead] from the upstream's data in the
 * spool. 1 when it moved, 0 waiting for more, -1.
 */
static int
hop_from_spool(struct relay_hop *h, uint32_t i)
{
	uint8_t type;
	size_t n;
	uint64_t next;
	int r, any = 0;

	if (h->fpos == 0) {
		uint64_t at;

		pthread_mutex_lock(&h->r->mu);
		at = file_head(h->r, i, h->fprev);
		pthread_mutex_unlock(&h->r->mu);
		if (at == 0)
			return 0;
		h->fpos = at;
		h->fprev = at;
	}
	while ((r = spool_get(h, h->fpos, 1, &type, &n, &next)) == 1) {
		if (type == MSG_FILE_FROM || type == MSG_FILE_DELTA)
			return hop_drop(h, "the upstream sent a part of a file, "
			    "not all of it");
		if (conn_send(&h->c, type, h->buf, n) == -1)
			return hop_drop(h, log_last());
		h->fpos = next;
		any = 1;
		if (type == MSG_FILE_END || (type == MSG_FILE_ABORT && n > 4 &&
		    h->buf[4] != ABORT_RETRY)) {
			h->fpos = 0;
			h->fprev = 0;
			h->whead++;
			return 1;
		}
		if (type == MSG_FILE_ABORT) {
			h->fpos = 0;	/* it follows again, further on */
			return 1;
		}
		if (type == MSG_DATA)
			return 1;	/* and read its requests */
	}
	return r == -1 ? -1 : any;
}

/* Serves the next request. 1 when it moved, 0 waiting, -1. */
static int
hop_data(struct relay_hop *h)
{
	struct relay *r = h->r;
	uint32_t i;
	int from_store, decided;

	if (h->whead == h->nwant)
		return 0;
	i = h->want[h->whead];
	if (h->fpos != 0)
		return hop_from_spool(h, i);
	pthread_mutex_lock(&r->mu);
	from_store = !store_asked(r, i);
	decided = r->need_end || i < r->decided;
	pthread_mutex_unlock(&r->mu);
	if (!from_store)
		return hop_from_spool(h, i);
	if (!decided)
		return 0;
	if (hop_from_store(h, i) == -1)
		return -1;
	h->whead++;
	return 1;
}

/*
 * Waits a little for the hop or the spool; -1 when nothing moved within
 * the timeout.
 */
static int
hop_idle(struct relay_hop *h)
{
	struct pollfd pfd = { .fd = h->c.rfd, .events = POLLIN };
	uint64_t end;
	char why[128];

	if (conn_flush(&h->c) == -1)
		return hop_drop(h, log_last());
	pthread_mutex_lock(&h->r->mu);
	end = h->r->spool_end;
	pthread_mutex_unlock(&h->r->mu);
	if (end != h->seen_end) {
		h->seen_end = end;
		h->progress_ms = now_ms();
	}
	if (h->r->no.timeout_s > 0 &&
	    now_ms() - h->progress_ms > (int64_t)h->r->no.timeout_s * 1000) {
		snprintf(why, sizeof(why), "nothing moved within %d s",
		    h->r->no.timeout_s);
		return hop_drop(h, why);
	}
	if (h->c.reader == NULL)
		poll(&pfd, 1, RELAY_IDLE_MS);
	else {
		struct timespec ts = { 0, RELAY_IDLE_MS * 1000000L };

		nanosleep(&ts, NULL);
	}
	return 0;
}

/* The store's outcome: 1 committed, -1 failed, 0 not yet. */
static int
relay_outcome(struct relay *r)
{
	int e;

	pthread_mutex_lock(&r->mu);
	e = r->ended;
	pthread_mutex_unlock(&r->mu);
	return e;
}

/* After COMMIT: the hop's items and RESULT. */
static int
hop_result(struct relay_hop *h)
{
	const uint8_t *p;
	size_t n;
	int t;

	while ((t = proto_expect(&h->c, 0, &p, &n)) == MSG_ITEM ||
	    t == MSG_HOPS)
		;
	if (t != MSG_RESULT) {
		log_errx("%s: relaying to %s: no result after the commit: %s",
		    h->r->store, h->d.text, log_last());
		return -1;
	}
	h->committed = 1;
	return 0;
}

/* The whole session to one hop, from HELLO to its RESULT. */
static int
hop_session(struct relay_hop *h)
{
	struct relay *r = h->r;
	const uint8_t *p;
	size_t n;
	char err[256];
	int moved, out;

	if (relay_outcome(r) == -1)
		return hop_drop(h, "the session failed upstream");
	if (net_connect(&h->d, &r->no, &h->c) == -1)
		return hop_drop(h, log_last());
	h->have_conn = 1;
	if (proto_send_hello(&h->c) == -1 || conn_flush(&h->c) == -1 ||
	    proto_expect(&h->c, MSG_HELLO, &p, &n) == -1)
		return hop_drop(h, log_last());
	if (proto_decode_hello(p, n, err, sizeof(err)) == -1)
		return hop_drop(h, err);
	/* Window 0: a hop reads the spool at its own pace, never held. */
	if (proto_send_session(&h->c, r->flags, 0, &r->filter) == -1)
		return hop_drop(h, log_last());
	for (;;) {
		out = relay_outcome(r);
		if (out == -1) {
			proto_send_error(&h->c, "the session failed upstream of "
			    "this hop's relay: nothing is committed");
			conn_flush(&h->c);
			return hop_drop(h, "the session failed upstream");
		}
		if (h->commit_ask && out == 1)
			break;
		moved = hop_read(h);
		if (moved == -1)
			return -1;
		if (!h->done_sent) {
			int a = hop_manifest(h), b = a == -1 ? -1 : hop_data(h);

			if (a == -1 || b == -1)
				return -1;
			moved |= a | b;
			if (h->manifest_sent && h->need_end &&
			    h->whead == h->nwant && h->fpos == 0) {
				if (conn_send(&h->c, MSG_DONE, NULL, 0) == -1)
					return hop_drop(h, log_last());
				h->done_sent = 1;
				moved = 1;
			}
		}
		if (moved)
			h->progress_ms = now_ms();
		else if (hop_idle(h) == -1)
			return -1;
	}
	if (conn_send(&h->c, MSG_COMMIT, NULL, 0) == -1 ||
	    conn_flush(&h->c) == -1)
		return hop_drop(h, log_last());
	return hop_result(h);
}

static void *
hop_main(void *arg)
{
	struct relay_hop *h = arg;

	h->buf = malloc(CONN_MAX_FRAME);
	if (h->buf == NULL)
		hop_drop(h, "out of memory");
	else if (hop_session(h) == 0)
		log_info("%s: relayed the session to %s while it came",
		    h->r->store, h->d.text);
	return NULL;
}

/* --- the relay --- */

struct relay *
relay_alloc(const char *store_path, char *const *dests, size_t ndests,
    const struct net_opts *no)
{
	struct relay *r = calloc(1, sizeof(*r));
	char err[256];

	if (r == NULL || (r->hops = calloc(ndests ? ndests : 1,
	    sizeof(*r->hops))) == NULL || (r->store = strdup(store_path)) ==
	    NULL) {
		log_err("%s: a relay", store_path);
		goto fail;
	}
	pthread_mutex_init(&r->mu, NULL);
	filter_init(&r->filter);
	r->spool = -1;
	r->rootfd = -1;
	r->no = *no;
	if (no->key != NULL) {
		memcpy(r->key, no->key, NET_KEY_SIZE);
		r->no.key = r->key;
	}
	for (size_t i = 0; i < ndests; i++) {
		struct relay_hop *h = &r->hops[r->nhops];

		if (dest_parse(dests[i], &h->d, err, sizeof(err)) == -1 ||
		    h->d.kind == DEST_LOCAL ||
		    (h->d.kind == DEST_MIRROR && no->key == NULL))
			continue;	/* the forward reports it, or delivers it */
		h->r = r;
		r->nhops++;
	}
	if (r->nhops == 0)
		goto fail;
	return r;
fail:
	if (r != NULL) {
		free(r->hops);
		free(r->store);
		free(r);
	}
	return NULL;
}

size_t
relay_free(struct relay *r)
{
	size_t ok = 0;

	if (r == NULL)
		return 0;
	for (size_t i = 0; i < r->nhops; i++) {
		struct relay_hop *h = &r->hops[i];

		if (h->started)
			pthread_join(h->thread, NULL);
		ok += h->committed;
		if (h->have_conn)
			conn_release(&h->c);
		free(h->buf);
		free(h->want);
	}
	if (!r->off && r->spool != -1)
		log_info("%s: relayed while it came to %zu of %zu hop%s",
		    r->store, ok, r->nhops, r->nhops == 1 ? "" : "s");
	if (r->spool != -1)
		close(r->spool);
	if (r->rootfd != -1)
		close(r->rootfd);
	filter_release(&r->filter);
	pthread_mutex_destroy(&r->mu);
	free(r->entry_off);
	free(r->files);
	free(r->asked);
	free(r->hops);
	free(r->store);
	free(r);
	return ok;
}
