/* session: runs a session from a source to its destinations (local, mounted, ssh, mirror). */
#include "session.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "control.h"
#include "log.h"
#include "mountinfo.h"
#include "proto.h"
#include "readhold.h"
#include "receiver.h"
#include "relay.h"
#include "store/master.h"

#define SESSION_SOCKBUF (4 * 1024 * 1024)

/*
 * The way into a local store: the socket of the mount that serves it
 * (*fd), or the store itself, opened here as its master (waiting for
 * one that serves no socket, master_reach), or, for a dry run, as a
 * view: a dry run takes no lock and repairs nothing. Returns 1 with
 * *fd, 0 with st open, -1 logged.
 */
static int
take_store(const char *path, int report, struct store *st, int *fd)
{
	if (!report)
		return master_reach(st, path, MASTER_CREATE, fd);
	*fd = control_connect(path);
	if (*fd >= 0)
		return 1;
	if (errno != ENOENT && errno != ECONNREFUSED && errno != ENOTDIR)
		return -1;
	return store_open_view(st, path) == 0 ? 0 : -1;
}

/* Closes a store take_store opened. */
static void
release_store(struct store *st)
{
	if (st->master)
		master_close(st);
	else
		store_close(st);
}

/*
 * Starts a session through the master's socket fd: c speaks to the
 * mount, which waits at most timeout_s for each of our frames, as we
 * wait for its.
 */
static int
through_master(int fd, struct conn *c, int timeout_s)
{
	if (conn_init(c, fd, fd, "the store's master (mirrorfs)") == -1) {
		close(fd);
		return -1;
	}
	c->timeout_ms = timeout_s * 1000;
	if (proto_send_ctl(c, CTL_SESSION, (uint32_t)timeout_s) == -1) {
		conn_release(c);
		return -1;
	}
	return 0;
}

/* A receiver in a thread of this process, for a local store without a master. */
struct local_receiver {
	struct conn conn;
	struct store st;	/* opened by take_store, closed by the thread */
	pthread_t thread;
	int rc;
	char error[512];	/* why it failed, in its own words */
};

static void *
local_receiver_main(void *arg)
{
	struct local_receiver *t = arg;
	struct receiver_target target = {
		.path = t->st.path,
		.st = &t->st,
		.max_manifest = UINT64_MAX,	/* our own source */
		.fdpass = 1,
		.roomy = 1,	/* its socketpair: SESSION_SOCKBUF each way */
	};

	t->rc = receiver_run(&t->conn, &target);
	if (t->rc != 0)
		snprintf(t->error, sizeof(t->error), "%s", log_last());
	release_store(&t->st);
	/* Closing our end wakes a sender still waiting for us. */
	conn_release(&t->conn);
	return NULL;
}

/*
 * Starts a receiver on t->st, which it then owns; c becomes the sender's
 * end. -1 logged.
 */
static int
local_start(struct local_receiver *t, struct conn *c)
{
	int sv[2];

	if (conn_socketpair(sv, SESSION_SOCKBUF) == -1)
		return -1;
	if (conn_init(&t->conn, sv[1], sv[1], "sender") == -1) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (conn_init(c, sv[0], sv[0], "receiver") == -1) {
		conn_release(&t->conn);
		close(sv[0]);
		return -1;
	}
	if ((errno = pthread_create(&t->thread, NULL, local_receiver_main,
	    t)) != 0) {
		log_err("starting the receiver");
		conn_release(&t->conn);
		conn_release(c);
		return -1;
	}
	return 0;
}

/*
 * A mirrorfs mount is the view of a store, not a destination: a sync into
 * it (or below it) is refused, naming the store to sync into. -1 logged.
 */
static int
mounted_dest(const char *path)
{
	char point[PATH_MAX], store[PATH_MAX];

	if (mountinfo_mirrorfs(path, point, sizeof(point), store,
	    sizeof(store)) != 1)
		return 0;
	log_errx("%s is inside %s, a mirrorfs mount of the store %s: sync "
	    "into the store (mirrorctl sync SOURCE %s), and the mount shows "
	    "it", path, point, store, store);
	return -1;
}

/* Opens the way to a local store: its master's socket, or a thread of ours. */
static int
local_open(const struct dest *d, int report, int timeout_s, struct conn *c,
    struct local_receiver **tp)
{
	struct local_receiver *t;
	int fd;

	*tp = NULL;
	if (mounted_dest(d->path) == -1)
		return -1;
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		log_err("%s", d->path);
		return -1;
	}
	store_init(&t->st);
	switch (take_store(d->path, report, &t->st, &fd)) {
	case 1:
		free(t);
		log_debug("%s: committing through the mount that serves it",
		    d->path);
		return through_master(fd, c, timeout_s);
	case 0:
		if (local_start(t, c) == 0) {
			*tp = t;
			return 0;
		}
		release_store(&t->st);
	}
	free(t);
	return -1;
}

static int
hold_done(void *arg, char *why, size_t len)
{
	return readhold_done(arg, why, len);
}

/*
 * Runs the sender to the open peers; a store as the source is read at
 * one generation (readhold.h), its .mirrorfs left out. -1 logged.
 */
static int
send_held(struct sender_peer *peers, size_t np, const char *source,
    const struct sender_opts *o)
{
	struct sender_opts so = *o;
	struct readhold rh;
	int rc;

	readhold_init(&rh);
	if (o->source_read != NULL)
		memset(o->source_read, 0, sizeof(*o->source_read));
	if (readhold_take(&rh, source) == -1)
		return -1;
	if (rh.kind != READHOLD_NONE) {
		so.source_store = rh.top;
		so.source_done = hold_done;
		so.source_arg = &rh;
		if (o->source_read != NULL)
			*o->source_read = rh.gen;
	}
	rc = sender_run_peers(peers, np, source, &so);
	readhold_release(&rh);
	return rc;
}

int
session_run(const char *source, struct session_dest *dests, size_t n,
    const struct sender_opts *o, const struct net_opts *no)
{
	struct sender_peer *peers = calloc(n, sizeof(*peers));
	struct conn *conns = calloc(n, sizeof(*conns));
	struct local_receiver **locals = calloc(n, sizeof(*locals));
	size_t *map = calloc(n, sizeof(*map));
	size_t np = 0;
	int rc = -1, sender_failed = 0;

	if (peers == NULL || conns == NULL || locals == NULL || map == NULL) {
		log_err("session");
		goto out;
	}
	/*
	 * A local store's receiver (a thread of ours) decodes the entries
	 * as a remote one does, and the sender keeps none (its spool serves
	 * the files): each side keeps only the entries still pending, so
	 * the memory is flat in the size of the tree (receiver.c's window).
	 */
	for (size_t i = 0; i < n; i++) {
		struct session_dest *sd = &dests[i];
		int r;

		result_init(&sd->res);
		sd->failed = 1;
		sd->error[0] = '\0';
		r = sd->d.kind == DEST_LOCAL ? local_open(&sd->d,
		    (o->flags & SESSION_REPORT) != 0, no ? no->timeout_s : 0,
		    &conns[i], &locals[i]) :
		    net_connect(&sd->d, no, &conns[i]);
		if (r == -1) {
			snprintf(sd->error, sizeof(sd->error), "%s",
			    *log_last() ? log_last() : "cannot reach it");
			continue;
		}
		peers[np].c = &conns[i];
		peers[np].res = &sd->res;
		peers[np].delta = o->whole_file == WHOLE_FILE_AUTO ?
		    sd->d.kind != DEST_LOCAL : o->whole_file == WHOLE_FILE_NO;
		/* A descriptor's bytes would not pass the rate limit. */
		peers[np].fdpass = sd->d.kind == DEST_LOCAL &&
		    !peers[np].delta && o->bwlimit == 0;
		map[np++] = i;
	}
	if (np > 0 && send_held(peers, np, source, o) == -1) {
		sender_failed = 1;
		for (size_t k = 0; k < np; k++)
			snprintf(dests[map[k]].error, sizeof(dests[map[k]].error),
			    "%s", log_last());
		goto out;
	}
	for (size_t k = 0; k < np; k++) {
		dests[map[k]].failed = peers[k].failed;
		dests[map[k]].unknown = peers[k].failed && peers[k].committing;
		snprintf(dests[map[k]].error, sizeof(dests[map[k]].error), "%s",
		    peers[k].error);
	}
	rc = 0;
out:
	for (size_t k = 0; k < np; k++) {
		size_t i = map[k];

		/* Closing our end ends a receiver still waiting for us. */
		shutdown(conns[i].wfd, SHUT_RDWR);
		if (locals[i] != NULL) {
			pthread_join(locals[i]->thread, NULL);
			/*
			 * The receiver's own word is the better reason, unless
			 * it only saw the sender give up (which said why).
			 */
			if (locals[i]->rc != 0 && (!dests[i].failed ||
			    (locals[i]->error[0] != '\0' && !sender_failed))) {
				dests[i].failed = 1;
				snprintf(dests[i].error, sizeof(dests[i].error),
				    "%s", locals[i]->error[0] ? locals[i]->error :
				    "the receiver failed");
			}
			free(locals[i]);
		}
		conn_release(&conns[i]);
	}
	free(peers);
	free(conns);
	free(locals);
	free(map);
	return rc;
}

/* What the relay to the master saw of its RESULT. */
struct relay_seen {
	struct result *counts;
	int result;		/* a RESULT passed: the master committed */
	struct conn *client;	/* HOPS goes to it before that RESULT */
	const struct hops *hops;
};

/* Reads the counts off the master's RESULT as it passes by. */
static void
seen_result(void *arg, uint8_t type, const uint8_t *p, size_t n)
{
	struct relay_seen *rs = arg;
	struct result r;
	char err[64];

	result_init(&r);
	if (type == MSG_RESULT && rs->hops != NULL && rs->hops->n > 0 &&
	    proto_send_hops(rs->client, rs->hops) == -1)
		log_errx("%s: telling it the hops below: %s", rs->client->peer,
		    log_last());
	if (type == MSG_RESULT &&
	    proto_decode_result(p, n, &r, err, sizeof(err)) == 0) {
		rs->result = 1;
		if (rs->counts != NULL)
			result_merge_counts(rs->counts, &r);
	}
}

int
session_receive(struct conn *c, const char *store, struct result *counts,
    const struct hops *hops, struct relay *relay)
{
	struct receiver_target t = {
		.path = store,
		.master_flags = MASTER_CREATE | MASTER_WAIT,
		.counts = counts,
		.hops = hops,
	};
	struct relay_seen rs = { counts, 0, c, hops };
	struct conn m;
	int fd, rc = -1;

	/*
	 * Not served by a mount: the receiver opens the store once the
	 * SESSION says how (a dry run as a view), waiting for a sync in
	 * progress (MASTER_WAIT).
	 */
	fd = control_connect(store);
	if (fd == -1) {
		if (errno != ENOENT && errno != ECONNREFUSED && errno != ENOTDIR)
			return -1;
		if (relay != NULL)
			return relay_receive(relay, c, &t);
		/*
		 * Opening records in a thread of their own lets this one
		 * write the files meanwhile; without it, it does both.
		 */
		if (c->seal != NULL && c->zd == NULL && conn_async_pays(c) &&
		    conn_async_reads(c) == -1)
			log_debug("%s: opening records in this thread: %s",
			    c->peer, strerror(errno));
		return receiver_run(c, &t);
	}
	if (through_master(fd, &m, c->timeout_ms / 1000) == -1)
		return -1;
	/*
	 * The mount commits it; we only pass frames both ways. A client gone
	 * before the master's RESULT (the relay ends quietly then) committed
	 * nothing: that is no success to report, nor to forward.
	 */
	if (conn_flush(&m) == 0)
		rc = relay != NULL ? relay_pump(relay, c, &m, seen_result, &rs) :
		    conn_relay(c, &m, seen_result, &rs);
	if (rc == 0 && !rs.result) {
		log_errx("%s: the session ended before the mount's result",
		    c->peer);
		rc = -1;
	}
	conn_release(&m);
	return rc;
}
