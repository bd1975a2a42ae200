/* fileset: one file set's state in mirrord: what each destination is owed, its sessions, their results. */
#include "fileset.h"
#include "fileset_state.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"
#include "htab.h"
#include "log.h"
#include "net.h"
#include "pending.h"
#include "proto.h"
#include "result.h"
#include "schedule.h"
#include "sender.h"
#include "session.h"
#include "sessionlog.h"
#include "trigger.h"
#include "watch.h"

/* Most paths a partial session carries; more and the whole tree is sent. */
#define PARTIAL_MAX 50000

/*
 * Held-back items (ITEM_HELD, a skip): every test of "held back" and of
 * its reason is here, and nowhere else.
 */
static int
item_held(const struct item *it)
{
	return it->action == ITEM_HELD;
}

static const char *
held_reason(const struct item *it)
{
	return it->reason != NULL ? it->reason : "";
}

/* Held as open for write: only its writer closing it can change that. */
static int
held_open(const struct item *it)
{
	return strcmp(held_reason(it), "open for update") == 0;
}



/* Copies src's counts and lines into the empty dst (lines as memory allows). */
static void
result_copy(struct result *dst, const struct result *src)
{
	result_merge_counts(dst, src);
	dst->bytes_sent = src->bytes_sent;
	for (size_t k = 0; k < src->nitems; k++) {
		const struct item *it = &src->items[k];
		struct item copy = {
			.action = it->action, .is_dir = it->is_dir,
			.path = strdup(it->path),
			.reason = it->reason ? strdup(it->reason) : NULL,
		};

		if (copy.path == NULL || (it->reason && copy.reason == NULL)) {
			free(copy.path);
			free(copy.reason);
			return;
		}
		if (result_append(dst, &copy) == -1)	/* it freed copy */
			return;
	}
}

static int
same_str(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Whether a and b send the same tree the same way (else: whole sessions). */
static int
same_tree(const struct fileset_conf *a, const struct fileset_conf *b)
{
	if (!same_str(a->source, b->source) || !same_str(a->user, b->user) ||
	    !same_str(a->exclude_from, b->exclude_from) ||
	    a->purge != b->purge || a->purge_dirs != b->purge_dirs ||
	    a->xattrs != b->xattrs || a->acls != b->acls ||
	    a->watch != b->watch || a->filter.n != b->filter.n)
		return 0;
	for (size_t i = 0; i < a->filter.n; i++)
		if (a->filter.rules[i].kind != b->filter.rules[i].kind ||
		    strcmp(a->filter.rules[i].pattern,
		    b->filter.rules[i].pattern) != 0)
			return 0;
	return 1;
}

/* Carries prev's state (a reload) into the new fs. */
static void
inherit(struct fileset *fs, const struct fileset *prev)
{
	const struct fileset_conf *c = fs->conf;
	long *map = calloc(c->ndests, sizeof(*map));

	fs->suspended = prev->suspended;
	fs->ran = prev->ran;
	fs->sessions = prev->sessions;
	fs->last_start = prev->last_start;
	fs->last_end = prev->last_end;
	fs->read = prev->read;
	if (map == NULL) {
		pending_whole(fs->pending, 1);
		return;
	}
	for (size_t d = 0; d < c->ndests; d++) {
		map[d] = -1;
		for (size_t k = 0; k < prev->conf->ndests; k++)
			if (strcmp(c->dests[d], prev->conf->dests[k]) == 0)
				map[d] = (long)k;
		if (map[d] >= 0) {
			const struct dest_state *old = &prev->dests[map[d]];
			struct dest_state *ds = &fs->dests[d];

			ds->start = old->start;
			ds->end = old->end;
			ds->failed = old->failed;
			ds->commit_end = old->commit_end;
			ds->n_ok = old->n_ok;
			ds->n_partial = old->n_partial;
			ds->n_failed = old->n_failed;
			ds->bytes_sent = old->bytes_sent;
			ds->retries = old->retries;
			result_copy(&ds->res, &old->res);

		}
	}
	if (pending_copy(fs->pending, prev->pending, map) == -1)
		log_errx("%s: out of memory keeping its pending changes: a "
		    "whole session instead", c->name);
	if (!same_tree(c, prev->conf))
		pending_whole(fs->pending, 1);
	free(map);
}

struct fileset *
fileset_new(const struct fileset_conf *conf, const struct fileset *prev)
{
	struct pending_opts po = {
		.quiet = conf->quiet, .max_defer = conf->max_defer,
		.openupdate = conf->openupdate, .max_paths = PARTIAL_MAX,
	};
	struct fileset *fs = calloc(1, sizeof(*fs));

	if (fs == NULL)
		return NULL;
	fs->conf = conf;
	fs->wakefd = -1;
	htab_init(&fs->force);
	fs->pending = pending_alloc(conf->ndests, &po);
	fs->dests = calloc(conf->ndests, sizeof(*fs->dests));
	fs->ready = calloc(conf->ndests, sizeof(*fs->ready));
	fs->join = calloc(conf->ndests, 1);
	if (fs->pending == NULL || fs->dests == NULL || fs->ready == NULL ||
	    fs->join == NULL) {
		fileset_free(fs);
		return NULL;
	}
	for (size_t d = 0; d < conf->ndests; d++) {
		fs->dests[d].name = conf->dests[d];
		result_init(&fs->dests[d].res);
		result_init(&fs->dests[d].cur);
	}
	fs->suspended = conf->suspended;
	if (prev != NULL)
		inherit(fs, prev);
	fs->next_run = schedule_next(conf, time(NULL), fs->ran ?
	    fs->last_end : 0);
	return fs;
}

static void
session_clear(struct fileset *fs)
{
	htab_release(&fs->force);
	pending_take_release(&fs->take);
	memset(&fs->take, 0, sizeof(fs->take));
}

void
fileset_free(struct fileset *fs)
{
	if (fs == NULL)
		return;
	if (fs->running) {
		fs->cancel = 1;
		pthread_join(fs->thread, NULL);
	}
	session_clear(fs);
	for (size_t d = 0; fs->dests != NULL && d < fs->conf->ndests; d++) {
		result_release(&fs->dests[d].res);
		result_release(&fs->dests[d].cur);
	}
	free(fs->dests);
	free(fs->ready);
	free(fs->join);
	pending_free(fs->pending);
	free(fs);
}

const char *
fileset_name(const struct fileset *fs)
{
	return fs->conf->name;
}

const struct fileset_conf *
fileset_conf(const struct fileset *fs)
{
	return fs->conf;
}

void
fileset_changed(struct fileset *fs, const char *rel, unsigned flags)
{
	if (flags & WATCH_INCOMPLETE)
		fs->watch_incomplete = 1;
	if (flags & (WATCH_RESCAN | WATCH_INCOMPLETE) || rel == NULL) {
		pending_whole(fs->pending, fs->conf->watch);
		return;
	}
	if (pending_change(fs->pending, rel, schedule_now(),
	    (flags & WATCH_CLOSED) != 0) == -1)
		log_errx("%s: out of memory recording a change: the next "
		    "session is a whole one", fs->conf->name);
}

void
fileset_suspend(struct fileset *fs, int on)
{
	fs->suspended = on;
}

void
fileset_store_source(struct fileset *fs)
{
	fs->store_source = 1;
}

void
fileset_store_following(struct fileset *fs, int on)
{
	fs->store_following = on;
}

/* A told generation against what the last session read: news owes a session. */
static void
store_compare(struct fileset *fs)
{
	const struct store_gen *t = &fs->told, *r = &fs->read;

	fs->told_unseen = 0;
	if (t->epoch == r->epoch && t->gen == r->gen)
		return;
	log_info("%s: the source store committed (generation %llu): a "
	    "session follows", fs->conf->name, (unsigned long long)t->gen);
	pending_whole(fs->pending, 1);
}

void
fileset_store_told(struct fileset *fs, const struct store_gen *g)
{
	fs->told = *g;
	fs->told_unseen = 1;
	if (!fs->running)
		store_compare(fs);
}

void
fileset_store_committed(struct fileset *fs)
{
	if (fs->running) {
		fs->commit_unseen = 1;
		return;
	}
	log_info("%s: a session committed into the source store: a session "
	    "follows", fs->conf->name);
	pending_whole(fs->pending, 1);
}

void
fileset_relaying(struct fileset *fs, int on)
{
	fs->relaying = on;
}

int
fileset_running(const struct fileset *fs)
{
	return fs->running;
}

void
fileset_cancel(struct fileset *fs)
{
	if (fs->running)
		fs->cancel = 1;
}

/* The watch sees every change: no overflow or watch error since each
   destination's last whole session (that part is each one's whole flag). */
static int
watch_complete(const struct fileset *fs)
{
	return fs->conf->watch && !fs->watch_incomplete;
}

/* Whether d is owed anything: a whole session or some paths. */
static int
owed(const struct fileset *fs, size_t d)
{
	const struct pending_dest *pd = pending_dest(fs->pending, d);

	return pd->whole || pd->npaths > 0 || pd->kick;
}

enum fileset_sync
fileset_sync_now(struct fileset *fs, int full)
{
	int any = 0;

	if (fs->running) {
		if (fs->sync_now < (full ? SYNC_FULL : SYNC_ASKED))
			fs->sync_now = full ? SYNC_FULL : SYNC_ASKED;
		return FILESET_SYNC_QUEUED;
	}
	for (size_t d = 0; d < fs->conf->ndests; d++)
		any |= owed(fs, d);
	if (!full && watch_complete(fs) && !any)
		return FILESET_SYNC_NOTHING;
	fs->sync_now = full ? SYNC_FULL : SYNC_ASKED;
	return FILESET_SYNC_STARTED;
}

/*
 * When destination d may join a session (a time <= now: now), or 0: not
 * before something happens. ready is when its first owed path is ready.
 */
static double
join_at(const struct fileset *fs, size_t d, double ready, double now,
    int scheduled)
{
	const struct pending_dest *pd = pending_dest(fs->pending, d);
	double t = ready;

	if (scheduled || pd->kick || (pd->failing && pd->whole))
		t = now;
	if (t == 0)
		return 0;
	if (pd->failing && pd->next_attempt > t)
		t = pd->next_attempt;
	return t;
}

static int
scheduled_now(const struct fileset *fs, time_t now)
{
	return fs->next_run != 0 && now >= fs->next_run;
}

/*
 * Which destinations a session started now carries (join[d]); their
 * number. *whole: it walks the whole tree; *all: it takes every owed
 * path, ready or not (sync-now).
 */
static size_t
plan(struct fileset *fs, time_t now, double nowp, unsigned char *join,
    int *whole, int *all)
{
	const size_t nd = fs->conf->ndests;
	int scheduled, complete = watch_complete(fs);
	size_t n = 0;

	*whole = *all = 0;
	memset(join, 0, nd);
	if (fs->running)
		return 0;
	if (fs->sync_now) {
		for (size_t d = 0; d < nd; d++) {
			const struct pending_dest *pd = pending_dest(fs->pending, d);

			join[d] = fs->sync_now == SYNC_FULL || !complete ||
			    owed(fs, d) || pd->failing;
			*whole |= join[d] && pd->whole;
			n += join[d];
		}
		*whole |= fs->sync_now == SYNC_FULL || !complete;
		*all = 1;
		return n;
	}
	if (fs->suspended || !schedule_in_window(fs->conf, now))
		return 0;
	scheduled = scheduled_now(fs, now);
	pending_ready(fs->pending, fs->ready);
	for (size_t d = 0; d < nd; d++) {
		double t = join_at(fs, d, fs->ready[d], nowp, scheduled);

		join[d] = t != 0 && t <= nowp;
		*whole |= join[d] && pending_dest(fs->pending, d)->whole;
		n += join[d];
	}
	*whole |= scheduled;
	return n;
}

/*
 * A forward's store that never received a session is no store yet: its
 * hops get nothing until it is (the first commit into it tells us), so
 * the plain directory is never read as a release.
 */
static int
forward_waits(const struct fileset *fs)
{
	char staging[PATH_MAX];
	struct stat st;

	if (fs->conf->forward_of == NULL)
		return 0;
	if (fs->relaying)
		return 1;	/* the relay brings the hops this session */
	/* readhold.h's test of a store, without its log lines each loop. */
	snprintf(staging, sizeof(staging), "%s/.mirrorfs/staging",
	    fs->conf->source);
	return stat(staging, &st) == -1 || !S_ISDIR(st.st_mode);
}

int
fileset_due(struct fileset *fs, time_t now)
{
	int whole, all;
	size_t n;

	if (forward_waits(fs))
		return 0;
	n = plan(fs, now, schedule_now(), fs->join, &whole, &all);

	if (n == 0 && fs->sync_now && !fs->running) {
		fs->sync_now = 0;	/* asked while a session ran: it did all */
		log_info("%s: sync-now: nothing to send", fs->conf->name);
	}
	return n > 0;
}

double
fileset_deadline(struct fileset *fs, time_t now)
{
	double nowp = schedule_now(), t = 0;
	int scheduled;

	if (fs->running || forward_waits(fs))
		return 0;
	if (fs->sync_now)
		return nowp;
	if (fs->suspended)
		return 0;
	if (!schedule_in_window(fs->conf, now)) {
		time_t open = fs->next_run > now ? fs->next_run :
		    schedule_next(fs->conf, now, fs->ran ? fs->last_end : 0);

		return open > now ? (double)open : 0;
	}
	scheduled = scheduled_now(fs, now);
	if (fs->next_run != 0 && !scheduled)
		t = (double)fs->next_run;
	pending_ready(fs->pending, fs->ready);
	for (size_t d = 0; d < fs->conf->ndests; d++) {
		double j = join_at(fs, d, fs->ready[d], nowp, scheduled);

		if (j != 0 && (t == 0 || j < t))
			t = j;
	}
	return t;
}

/* The ids the source is read with: the file set's user's. */
static int
user_ids(const char *user, struct sender_opts *o)
{
	struct passwd *pw;

	if (user == NULL)
		return 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		log_errx("user '%s' does not exist", user);
		return -1;
	}
	o->as_user = 1;
	o->fsuid = pw->pw_uid;
	o->fsgid = pw->pw_gid;
	return 0;
}

/* The include/exclude rules, and exclude_from (read again every session). */
static int
load_filter(const struct fileset_conf *c, struct filter *f)
{
	for (size_t i = 0; i < c->filter.n; i++)
		if (filter_add(f, c->filter.rules[i].kind,
		    c->filter.rules[i].pattern) == -1) {
			log_err("filter");
			return -1;
		}
	if (c->exclude_from == NULL)
		return 0;
	return filter_add_file(f, c->exclude_from);
}

/* (Session thread) Every destination of the session fails, for why. */
static void
fail_joined(struct fileset *fs, const char *why)
{
	for (size_t d = 0; d < fs->conf->ndests; d++)
		if (fs->dests[d].joined && !fs->dests[d].cur_failed) {
			fs->dests[d].cur_failed = 1;
			snprintf(fs->dests[d].cur_error,
			    sizeof(fs->dests[d].cur_error), "%s", why);
		}
}

/*
 * (Session thread) The session's destinations that can be reached into
 * sd, with map[k] their index; those that cannot (a malformed dest, no
 * key for mirror://) fail alone. Their number.
 */
static size_t
open_dests(struct fileset *fs, struct session_dest *sd, size_t *map,
    uint8_t *key, struct net_opts *no)
{
	const struct fileset_conf *c = fs->conf;
	char err[256];
	const char *why = NULL;
	size_t n = 0, keep = 0;
	int need_key = 0;

	for (size_t d = 0; d < c->ndests; d++) {
		struct dest_state *ds = &fs->dests[d];

		if (!ds->joined)
			continue;
		if (dest_parse(c->dests[d], &sd[n].d, err, sizeof(err)) == -1) {
			ds->cur_failed = 1;
			snprintf(ds->cur_error, sizeof(ds->cur_error), "%s", err);
			continue;
		}
		need_key |= sd[n].d.kind == DEST_MIRROR;
		map[n++] = d;
	}
	if (need_key) {
		if (c->key == NULL)
			why = "mirror:// needs key = FILE";
		else if (key_load(c->key, key) == -1)
			why = log_last();
		else
			no->key = key;
	}
	for (size_t k = 0; k < n; k++) {
		struct dest_state *ds = &fs->dests[map[k]];

		if (why != NULL && sd[k].d.kind == DEST_MIRROR) {
			ds->cur_failed = 1;
			snprintf(ds->cur_error, sizeof(ds->cur_error), "%s", why);
			continue;
		}
		sd[keep] = sd[k];
		map[keep++] = map[k];
	}
	return keep;
}

static void
sender_options(struct fileset *fs, struct sender_opts *o,
    const struct filter *filter)
{
	const struct fileset_conf *c = fs->conf;

	o->flags = (c->purge ? SESSION_PURGE : 0) |
	    (c->purge_dirs ? SESSION_PURGE | SESSION_PURGE_DIRS : 0) |
	    (c->xattrs ? SESSION_XATTRS : 0) | (c->acls ? SESSION_ACLS : 0);
	o->filter = filter;
	/*
	 * A store's generation is whole once committed, and only its master
	 * writes it: nothing there is waited for.
	 */
	o->quiet = fs->store_source ? 0 : c->quiet;
	o->hold_open = !fs->store_source;
	o->openupdate = c->openupdate;
	o->force = &fs->force;
	o->cancel = &fs->cancel;
	o->paths = (const char *const *)fs->take.paths;
	o->npaths = fs->take.npaths;
	o->whole_file = (enum whole_file)c->whole_file;
	o->bwlimit = c->bwlimit;
	o->problems_only = 1;	/* a line per file of a big tree is not kept */
	o->source_read = &fs->cur_read;
}

/* The session, in its own thread. */
static void *
run(void *arg)
{
	struct fileset *fs = arg;
	const struct fileset_conf *c = fs->conf;
	struct sender_opts o = { 0 };
	struct net_opts no = { .compress = c->compress, .timeout_s = 60 };
	struct session_dest *sd = calloc(c->ndests, sizeof(*sd));
	size_t *map = calloc(c->ndests, sizeof(*map)), n = 0;
	uint8_t key[NET_KEY_SIZE];
	struct filter filter;
	uint64_t one = 1;

	filter_init(&filter);
	if (sd == NULL || map == NULL) {
		fail_joined(fs, "out of memory");
		goto out;
	}
	if (load_filter(c, &filter) == -1 || user_ids(c->user, &o) == -1) {
		fail_joined(fs, log_last());
		goto out;
	}
	sender_options(fs, &o, &filter);
	n = open_dests(fs, sd, map, key, &no);
	if (n > 0 && session_run(c->source, sd, n, &o, &no) == -1)
		for (size_t k = 0; k < n; k++)
			sd[k].failed = 1;
	for (size_t k = 0; k < n; k++) {
		struct dest_state *ds = &fs->dests[map[k]];

		ds->cur = sd[k].res;
		result_init(&sd[k].res);
		ds->cur_failed = sd[k].failed;
		/* Lost after the commit began: old or new, retried either way. */
		snprintf(ds->cur_error, sizeof(ds->cur_error), "%.200s%s",
		    sd[k].error[0] ? sd[k].error : "the session failed",
		    sd[k].unknown ? " (after the commit began: it holds the "
		    "old or the new version)" : "");
		if (!sd[k].failed && sd[k].d.kind == DEST_LOCAL)
			trigger_run(c->trigger, "FILESET", c->name, c->dests[map[k]],
			    &ds->cur);
	}
out:
	free(sd);
	free(map);
	filter_release(&filter);
	__atomic_store_n(&fs->done, 1, __ATOMIC_SEQ_CST);
	if (fs->wakefd != -1 && write(fs->wakefd, &one, sizeof(one)) == -1)
		log_err("%s: waking the event loop", c->name);
	return NULL;
}

/* The paths past max_defer, as the sender looks them up. */
static int
force_fill(struct fileset *fs)
{
	for (size_t i = 0; i < fs->take.nforced; i++)
		if (htab_put(&fs->force, fs->take.forced[i],
		    strlen(fs->take.forced[i]), i) == -1)
			return -1;
	return 0;
}

/* A session that could not start: its destinations failed, for why. */
static void
start_failed(struct fileset *fs, const unsigned char *join, int whole,
    const char *why)
{
	const struct fileset_conf *c = fs->conf;

	for (size_t d = 0; d < c->ndests; d++)
		if (join[d])
			pending_failed(fs->pending, d, whole, schedule_now(), why,
			    c->retry_min, c->retry_max);
	log_errx("%s: no session: %s", c->name, why);
	session_clear(fs);
}

static void
log_start(const struct fileset *fs, size_t n)
{
	const struct fileset_conf *c = fs->conf;
	char of[32] = "";

	if (n < c->ndests)
		snprintf(of, sizeof(of), " of %zu", c->ndests);
	if (fs->take.whole)
		log_info("%s: session to %zu%s destination%s", c->name, n, of,
		    c->ndests > 1 ? "s" : "");
	else
		log_info("%s: session of %zu changes to %zu%s destination%s",
		    c->name, fs->take.npaths, n, of, c->ndests > 1 ? "s" : "");
}

void
fileset_start(struct fileset *fs, time_t now, int wakefd)
{
	const struct fileset_conf *c = fs->conf;
	const unsigned char *join = fs->join;
	double nowp = schedule_now();
	size_t n;
	int all;

	session_clear(fs);
	n = plan(fs, now, nowp, fs->join, &fs->take.whole, &all);
	fs->take.all = all;
	fs->sync_now = 0;
	if (n == 0)
		return;
	if (pending_begin(fs->pending, nowp, join, PARTIAL_MAX, &fs->take) == -1 ||
	    force_fill(fs) == -1) {
		start_failed(fs, join, fs->take.whole, "out of memory");
		return;
	}
	if (!fs->take.whole && fs->take.npaths == 0) {
		log_debug("%s: nothing ready to send", c->name);
		session_clear(fs);
		return;
	}
	for (size_t d = 0; d < c->ndests; d++) {
		struct dest_state *ds = &fs->dests[d];

		ds->joined = join[d];
		if (join[d] && pending_dest(fs->pending, d)->failing)
			ds->retries++;
		ds->cur_failed = 0;
		ds->cur_error[0] = '\0';
		result_release(&ds->cur);
		result_init(&ds->cur);
	}
	log_start(fs, n);
	fs->cancel = 0;
	fs->done = 0;
	fs->wakefd = wakefd;
	fs->last_start = now;
	if ((errno = pthread_create(&fs->thread, NULL, run, fs)) != 0) {
		for (size_t d = 0; d < c->ndests; d++)
			fs->dests[d].joined = 0;
		start_failed(fs, join, fs->take.whole, strerror(errno));
		return;
	}
	fs->running = 1;
}

/*
 * A partial session looked at some paths only: the failures d's last
 * session reported elsewhere still stand, so they stay in its result.
 */
static void
keep_failures(struct fileset *fs, struct result *res, const struct result *prev)
{
	struct htab covered;
	size_t dummy;

	htab_init(&covered);
	for (size_t i = 0; i < fs->take.npaths; i++)
		htab_put(&covered, fs->take.paths[i], strlen(fs->take.paths[i]), i);
	for (size_t k = 0; k < prev->nitems; k++) {
		const struct item *it = &prev->items[k];

		if (it->action != ITEM_FAIL ||
		    htab_get(&covered, it->path, strlen(it->path), &dummy))
			continue;
		result_add(res, ITEM_FAIL, it->path, it->is_dir, it->reason);
	}
	htab_release(&covered);
}

/* Destination d committed the session: what it carried is no longer owed. */
static void
reap_committed(struct fileset *fs, size_t d, time_t now)
{
	struct dest_state *ds = &fs->dests[d];
	const struct pending_mark *m = &fs->take.mark;
	char counts[RESULT_COUNTS_LEN];

	for (size_t k = 0; k < ds->cur.nitems; k++) {
		const struct item *it = &ds->cur.items[k];

		if (item_held(it) && pending_hold(fs->pending, d, m, it->path,
		    held_reason(it), held_open(it)) == -1)
			log_errx("%s: %s: out of memory recording a held-back "
			    "file: a whole session instead", fs->conf->name,
			    ds->name);
	}
	pending_done(fs->pending, d, m, fs->take.whole);
	if (!fs->take.whole)
		keep_failures(fs, &ds->cur, &ds->res);
	result_release(&ds->res);
	ds->res = ds->cur;
	result_init(&ds->cur);
	ds->failed = 0;
	ds->commit_end = now;
	ds->delivered = fs->cur_read;
	result_counts(&ds->res, counts, sizeof(counts));
	log_info("%s: %s: %s, bytes sent %llu", fs->conf->name, ds->name,
	    counts, (unsigned long long)ds->res.bytes_sent);
}

/*
 * Counts destination d's session for the metrics and appends it to the
 * history (when there is one), before the reap moves its result.
 */
static void
note_session(struct fileset *fs, size_t d, time_t now, const char *history)
{
	struct dest_state *ds = &fs->dests[d];
	struct sessionlog_rec rec;

	if (ds->cur_failed)
		ds->n_failed++;
	else if (result_exit_status(&ds->cur))
		ds->n_partial++;
	else
		ds->n_ok++;
	ds->bytes_sent += ds->cur.bytes_sent;
	if (history == NULL)
		return;
	sessionlog_from_result(&rec, &ds->cur, ds->cur_failed ? RESULT_FAILED :
	    RESULT_DONE);
	rec.start = (double)fs->last_start;
	rec.end = (double)now;
	rec.bytes = ds->cur.bytes_sent;
	sessionlog_set(rec.fileset, sizeof(rec.fileset), fs->conf->name);
	sessionlog_set(rec.peer, sizeof(rec.peer), ds->name);
	if (ds->cur_failed)
		sessionlog_set(rec.error, sizeof(rec.error), ds->cur_error);
	/* A history that cannot be written is logged; the session stands. */
	sessionlog_append_path(history, &rec, 0);
}

/* Destination d's session failed: it keeps everything, retried later. */
static void
reap_failed(struct fileset *fs, size_t d)
{
	const struct fileset_conf *c = fs->conf;
	struct dest_state *ds = &fs->dests[d];
	const struct pending_dest *pd = pending_dest(fs->pending, d);

	pending_failed(fs->pending, d, fs->take.whole, schedule_now(),
	    ds->cur_error, c->retry_min, c->retry_max);
	result_release(&ds->cur);
	result_init(&ds->cur);
	ds->failed = 1;
	log_errx("%s: %s: session failed: %s; %zu path%s pending%s, next "
	    "attempt in %d s", c->name, ds->name, ds->cur_error, pd->npaths,
	    pd->npaths == 1 ? "" : "s", pd->whole ? " and a whole session" : "",
	    pd->backoff);
}

int
fileset_reap(struct fileset *fs, time_t now, const char *history)
{
	const struct fileset_conf *c = fs->conf;
	size_t n = 0, ok = 0;

	if (!fs->running || !__atomic_load_n(&fs->done, __ATOMIC_SEQ_CST))
		return 0;
	pthread_join(fs->thread, NULL);
	fs->running = 0;
	fs->ran = 1;
	fs->sessions++;
	fs->last_end = now;
	for (size_t d = 0; d < c->ndests; d++) {
		struct dest_state *ds = &fs->dests[d];

		if (!ds->joined)
			continue;
		ds->joined = 0;
		ds->start = fs->last_start;
		ds->end = now;
		n++;
		note_session(fs, d, now, history);
		if (ds->cur_failed)
			reap_failed(fs, d);
		else {
			reap_committed(fs, d, now);
			ok++;
		}
	}
	log_info("%s: session done: %zu of %zu destination%s committed",
	    c->name, ok, n, n == 1 ? "" : "s");
	/* What it read of a store source, then what the master told meanwhile. */
	if (fs->cur_read.epoch != 0)
		fs->read = fs->cur_read;
	if (fs->told_unseen)
		store_compare(fs);
	if (fs->commit_unseen) {
		fs->commit_unseen = 0;
		fileset_store_committed(fs);
	}
	session_clear(fs);
	/*
	 * A whole session's manifests (the source's, and a local receiver's)
	 * are freed by now; hand their pages back, or a daemon that watches
	 * a big tree keeps the session's peak for as long as it runs.
	 */
	malloc_trim(0);
	fs->next_run = schedule_next(c, now, fs->last_end);
	return 1;
}

void
fileset_held_open(const struct fileset *fs,
    void (*fn)(void *arg, const char *path), void *arg)
{
	struct pending_held h;
	size_t pos = 0;

	while (pending_next_held(fs->pending, &pos, &h))
		if (h.open)
			fn(arg, h.path);
}
