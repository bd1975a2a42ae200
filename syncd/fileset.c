/* fileset: one file set's state in mirrord: changes seen, its sessions, their results. */
#include "fileset.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <unistd.h>

#include "htab.h"
#include "log.h"
#include "net.h"
#include "proto.h"
#include "result.h"
#include "schedule.h"
#include "sender.h"
#include "session.h"
#include "trigger.h"

/* A path seen changing, waiting to be pushed. */
struct change {
	char *path;
	double first;		/* for max_defer (seconds, CLOCK_REALTIME) */
	double last;		/* for the quiet window */
};

static double
now_precise(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* What the last session did. */
struct outcome {
	time_t start;
	time_t end;
	struct result res;	/* of the first destination that completed */
	size_t failed_dests;
	char error[1024];
};

struct fileset {
	const struct fileset_conf *conf;
	int suspended;
	int sync_now;
	int rescan;		/* events were lost: a changed file may be unseen */
	int ran;		/* a session ran since mirrord started */
	time_t next_run;	/* scheduled, or 0 */
	struct change *changes;
	size_t nchanges;
	struct htab index;	/* change path -> position */
	struct outcome last;
	/* The session in progress: */
	pthread_t thread;
	int running;
	volatile int done;
	volatile int cancel;
	struct outcome cur;
	double started_precise;	/* when the session in progress started */
	char **paths;		/* a partial session's paths, or NULL: whole */
	size_t npaths;
	struct htab force;	/* paths past max_defer, for this session */
	char **forced;		/* their strings */
	size_t nforced;
};

static void
changes_rebuild_index(struct fileset *fs)
{
	htab_release(&fs->index);
	for (size_t i = 0; i < fs->nchanges; i++)
		htab_put(&fs->index, fs->changes[i].path,
		    strlen(fs->changes[i].path), i);
}

static void
change_add(struct fileset *fs, const char *path, double first, double last)
{
	struct change *v;
	size_t at;

	if (htab_get(&fs->index, path, strlen(path), &at)) {
		fs->changes[at].last = last;
		return;
	}
	v = realloc(fs->changes, (fs->nchanges + 1) * sizeof(*v));
	if (v == NULL)
		return;
	fs->changes = v;
	v = &fs->changes[fs->nchanges];
	v->path = strdup(path);
	if (v->path == NULL)
		return;
	v->first = first;
	v->last = last;
	if (htab_put(&fs->index, v->path, strlen(v->path), fs->nchanges) == 0)
		fs->nchanges++;
	else
		free(v->path);
}

struct fileset *
fileset_new(const struct fileset_conf *conf, const struct fileset *prev)
{
	struct fileset *fs = calloc(1, sizeof(*fs));

	if (fs == NULL)
		return NULL;
	fs->conf = conf;
	htab_init(&fs->index);
	htab_init(&fs->force);
	result_init(&fs->last.res);
	result_init(&fs->cur.res);
	fs->suspended = conf->suspended;
	if (prev != NULL) {
		fs->suspended = prev->suspended;
		fs->ran = prev->ran;
		fs->last.start = prev->last.start;
		fs->last.end = prev->last.end;
		fs->last.failed_dests = prev->last.failed_dests;
		result_merge_counts(&fs->last.res, &prev->last.res);
		memcpy(fs->last.error, prev->last.error, sizeof(fs->last.error));
		for (size_t i = 0; i < prev->nchanges; i++)
			change_add(fs, prev->changes[i].path,
			    prev->changes[i].first, prev->changes[i].last);
	}
	fs->next_run = schedule_next(conf, time(NULL), fs->ran ?
	    fs->last.end : 0);
	return fs;
}

static void
changes_clear(struct fileset *fs)
{
	for (size_t i = 0; i < fs->nchanges; i++)
		free(fs->changes[i].path);
	free(fs->changes);
	fs->changes = NULL;
	fs->nchanges = 0;
	htab_release(&fs->index);
}

static void
paths_clear(struct fileset *fs)
{
	for (size_t i = 0; i < fs->npaths; i++)
		free(fs->paths[i]);
	free(fs->paths);
	fs->paths = NULL;
	fs->npaths = 0;
}

static void
forced_clear(struct fileset *fs)
{
	htab_release(&fs->force);
	for (size_t i = 0; i < fs->nforced; i++)
		free(fs->forced[i]);
	free(fs->forced);
	fs->forced = NULL;
	fs->nforced = 0;
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
	changes_clear(fs);
	forced_clear(fs);
	paths_clear(fs);
	result_release(&fs->last.res);
	result_release(&fs->cur.res);
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
fileset_changed(struct fileset *fs, const char *rel, int rescan)
{
	double now = now_precise();

	if (rescan) {
		fs->rescan = 1;
		return;
	}
	change_add(fs, rel, now, now);
}

void
fileset_suspend(struct fileset *fs, int on)
{
	fs->suspended = on;
}

void
fileset_sync_now(struct fileset *fs)
{
	fs->sync_now = 1;
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

/* 1 when a change has been quiet for the quiet window or waited max_defer. */
static int
changes_ready(const struct fileset *fs)
{
	double now = now_precise();

	for (size_t i = 0; i < fs->nchanges; i++) {
		const struct change *c = &fs->changes[i];

		if (now - c->last >= fs->conf->quiet ||
		    now - c->first >= fs->conf->max_defer)
			return 1;
	}
	return 0;
}

int
fileset_due(struct fileset *fs, time_t now)
{
	if (fs->running)
		return 0;
	if (fs->sync_now)
		return 1;
	if (fs->suspended || !schedule_in_window(fs->conf, now))
		return 0;
	if (fs->next_run != 0 && now >= fs->next_run)
		return 1;
	/* Changes seen by the watcher, or files a session held back. */
	return (fs->conf->watch && fs->rescan) || changes_ready(fs);
}

/* Adds the globs of exclude_from (read again for every session). */
static int
add_exclude_from(const struct fileset_conf *c, struct filter *f)
{
	if (c->exclude_from == NULL)
		return 0;
	return filter_add_file(f, c->exclude_from);
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

/* The session, in its own thread. */
static void *
run(void *arg)
{
	struct fileset *fs = arg;
	const struct fileset_conf *c = fs->conf;
	struct sender_opts o = { 0 };
	struct net_opts no = { .compress = c->compress, .timeout_s = 60 };
	struct session_dest *dests;
	struct filter filter;
	uint8_t key[NET_KEY_SIZE];
	char err[256];
	int need_key = 0, first = -1;

	filter_init(&filter);
	dests = calloc(c->ndests, sizeof(*dests));
	if (dests == NULL)
		goto out;
	for (size_t i = 0; i < c->filter.n; i++)
		filter_add(&filter, c->filter.rules[i].kind,
		    c->filter.rules[i].pattern);
	if (add_exclude_from(c, &filter) == -1) {
		snprintf(fs->cur.error, sizeof(fs->cur.error), "%s",
		    log_last());
		goto out;
	}
	for (size_t i = 0; i < c->ndests; i++) {
		if (dest_parse(c->dests[i], &dests[i].d, err, sizeof(err)) == -1) {
			snprintf(fs->cur.error, sizeof(fs->cur.error), "%s", err);
			goto out;
		}
		need_key |= dests[i].d.kind == DEST_MIRROR;
	}
	if (need_key) {
		if (c->key == NULL || key_load(c->key, key) == -1) {
			snprintf(fs->cur.error, sizeof(fs->cur.error), "%s",
			    c->key ? log_last() : "mirror:// needs key = FILE");
			goto out;
		}
		no.key = key;
	}
	o.flags = (c->purge ? SESSION_PURGE : 0) |
	    (c->purge_dirs ? SESSION_PURGE | SESSION_PURGE_DIRS : 0) |
	    (c->xattrs ? SESSION_XATTRS : 0) | (c->acls ? SESSION_ACLS : 0);
	o.filter = &filter;
	o.quiet = c->quiet;
	o.hold_open = 1;
	o.openupdate = c->openupdate;
	o.force = &fs->force;
	o.cancel = &fs->cancel;
	o.paths = (const char *const *)fs->paths;
	o.npaths = fs->npaths;
	o.whole_file = (enum whole_file)c->whole_file;
	o.problems_only = 1;	/* a line per file of a big tree is not kept */
	if (user_ids(c->user, &o) == -1) {
		snprintf(fs->cur.error, sizeof(fs->cur.error), "%s", log_last());
		goto out;
	}
	if (session_run(c->source, dests, c->ndests, &o, &no) == -1)
		snprintf(fs->cur.error, sizeof(fs->cur.error), "%s", log_last());
	for (size_t i = 0; i < c->ndests; i++) {
		if (dests[i].failed) {
			fs->cur.failed_dests++;
			if (fs->cur.error[0] == '\0')
				snprintf(fs->cur.error, sizeof(fs->cur.error),
				    "%s: the session failed", c->dests[i]);
			continue;
		}
		if (first == -1)
			first = (int)i;
		if (dests[i].d.kind == DEST_LOCAL)
			trigger_run(c->trigger, "FILESET", c->name, c->dests[i],
			    &dests[i].res);
	}
	if (first >= 0) {
		fs->cur.res = dests[first].res;
		result_init(&dests[first].res);
	}
out:
	for (size_t i = 0; dests != NULL && i < c->ndests; i++)
		result_release(&dests[i].res);
	free(dests);
	filter_release(&filter);
	__atomic_store_n(&fs->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Changes past max_defer go into this session even if not quiet. */
static void
collect_forced(struct fileset *fs)
{
	double now = now_precise();

	forced_clear(fs);
	for (size_t i = 0; i < fs->nchanges; i++) {
		const struct change *c = &fs->changes[i];
		char **v;

		if (now - c->first < fs->conf->max_defer)
			continue;
		v = realloc(fs->forced, (fs->nforced + 1) * sizeof(*v));
		if (v == NULL)
			return;
		fs->forced = v;
		v[fs->nforced] = strdup(c->path);
		if (v[fs->nforced] == NULL)
			return;
		htab_put(&fs->force, v[fs->nforced], strlen(c->path), 0);
		fs->nforced++;
	}
}

/* Most changes a partial session carries; more and the whole tree is sent. */
#define PARTIAL_MAX 50000

/*
 * After a first whole session, a file set sends only what changed (seen by
 * the watcher, or held back last time): work in proportion to the changes;
 * a schedule, a request, a rescan or too many changes send the whole tree.
 */
static void
choose_paths(struct fileset *fs, time_t now)
{
	paths_clear(fs);
	if (!fs->ran || fs->rescan || fs->sync_now ||
	    (fs->next_run != 0 && now >= fs->next_run) ||
	    fs->nchanges == 0 || fs->nchanges > PARTIAL_MAX)
		return;
	fs->paths = calloc(fs->nchanges, sizeof(*fs->paths));
	if (fs->paths == NULL)
		return;
	for (size_t i = 0; i < fs->nchanges; i++) {
		fs->paths[i] = strdup(fs->changes[i].path);
		if (fs->paths[i] == NULL) {
			paths_clear(fs);
			return;
		}
		fs->npaths++;
	}
}

void
fileset_start(struct fileset *fs, time_t now)
{
	choose_paths(fs, now);
	result_release(&fs->cur.res);
	memset(&fs->cur, 0, sizeof(fs->cur));
	result_init(&fs->cur.res);
	fs->cur.start = now;
	fs->sync_now = 0;
	fs->rescan = 0;
	fs->cancel = 0;
	fs->done = 0;
	collect_forced(fs);
	fs->started_precise = now_precise();
	if (fs->paths != NULL)
		log_info("%s: session of %zu changes to %zu destination%s",
		    fs->conf->name, fs->npaths, fs->conf->ndests,
		    fs->conf->ndests > 1 ? "s" : "");
	else
		log_info("%s: session to %zu destination%s", fs->conf->name,
		    fs->conf->ndests, fs->conf->ndests > 1 ? "s" : "");
	if ((errno = pthread_create(&fs->thread, NULL, run, fs)) != 0) {
		log_err("%s: starting its session", fs->conf->name);
		return;
	}
	fs->running = 1;
}

/* Files the session held back stay pending; what it covered is done. */
static void
settle_changes(struct fileset *fs)
{
	const struct result *r = &fs->last.res;
	struct change *old = fs->changes;
	size_t nold = fs->nchanges;
	size_t keep = 0;

	for (size_t i = 0; i < nold; i++) {
		int held = 0;

		for (size_t k = 0; k < r->nitems && !held; k++)
			held = r->items[k].action == ITEM_HELD &&
			    strcmp(r->items[k].path, old[i].path) == 0;
		if (held || old[i].last >= fs->started_precise)
			old[keep++] = old[i];
		else
			free(old[i].path);
	}
	fs->nchanges = keep;
	/* Held-back files not seen by the watcher are pending too. */
	for (size_t k = 0; k < r->nitems; k++)
		if (r->items[k].action == ITEM_HELD)
			change_add(fs, r->items[k].path, fs->started_precise,
			    now_precise());
	changes_rebuild_index(fs);
}

/*
 * A partial session looked at some paths only: the failures the last
 * session reported elsewhere still stand, so they stay in the result.
 */
static void
keep_failures(struct fileset *fs, const struct result *prev)
{
	size_t dummy;
	struct htab covered;

	htab_init(&covered);
	for (size_t i = 0; i < fs->npaths; i++)
		htab_put(&covered, fs->paths[i], strlen(fs->paths[i]), i);
	for (size_t k = 0; k < prev->nitems; k++) {
		const struct item *it = &prev->items[k];

		if (it->action != ITEM_FAIL ||
		    htab_get(&covered, it->path, strlen(it->path), &dummy))
			continue;
		result_add(&fs->cur.res, ITEM_FAIL, it->path, it->is_dir,
		    it->reason);
	}
	htab_release(&covered);
}

void
fileset_reap(struct fileset *fs, time_t now)
{
	if (!fs->running || !__atomic_load_n(&fs->done, __ATOMIC_SEQ_CST))
		return;
	pthread_join(fs->thread, NULL);
	fs->running = 0;
	fs->ran = 1;
	fs->cur.end = now;
	if (fs->paths != NULL)
		keep_failures(fs, &fs->last.res);
	result_release(&fs->last.res);
	fs->last = fs->cur;
	result_init(&fs->cur.res);
	settle_changes(fs);
	forced_clear(fs);
	paths_clear(fs);
	/*
	 * A whole session's manifests (the source's, and a local receiver's)
	 * are freed by now; hand their pages back, or a daemon that watches
	 * a big tree keeps the session's peak for as long as it runs.
	 */
	malloc_trim(0);
	fs->next_run = schedule_next(fs->conf, now, fs->last.end);
	if (fs->last.error[0] || fs->last.failed_dests)
		log_errx("%s: session failed: %s", fs->conf->name,
		    fs->last.error);
	else
		log_info("%s: created %llu, replaced %llu, purged %llu, "
		    "unchanged %llu, skipped %llu, failed %llu",
		    fs->conf->name,
		    (unsigned long long)fs->last.res.created,
		    (unsigned long long)fs->last.res.replaced,
		    (unsigned long long)fs->last.res.purged,
		    (unsigned long long)fs->last.res.unchanged,
		    (unsigned long long)fs->last.res.skipped,
		    (unsigned long long)fs->last.res.failed);
}

static void
json_time(FILE *f, const char *key, time_t t)
{
	char buf[32];
	struct tm tm;

	if (t == 0) {
		fprintf(f, "\"%s\":null", key);
		return;
	}
	localtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S%z", &tm);
	fprintf(f, "\"%s\":\"%s\"", key, buf);
}

static const char *
state_of(const struct fileset *fs)
{
	if (fs->running)
		return "syncing";
	if (fs->suspended)
		return "suspended";
	if (fs->nchanges > 0 || fs->rescan)
		return "waiting";
	return "idle";
}

static void
status_one(FILE *f, const struct fileset *fs)
{
	const struct result *r = &fs->last.res;
	int first = 1;

	fputs("{\"name\":", f);
	result_json_string(fs->conf->name, f);
	fprintf(f, ",\"state\":\"%s\",", state_of(fs));
	json_time(f, "last_run", fs->ran ? fs->last.end : 0);
	fputc(',', f);
	json_time(f, "next_run", fs->suspended ? 0 : fs->next_run);
	fprintf(f, ",\"pending_changes\":%zu,\"last_result\":", fs->nchanges);
	if (!fs->ran)
		fputs("null", f);
	else {
		result_json(r, f, NULL, 0);
		fprintf(f, ",\"failed_destinations\":%zu,\"error\":",
		    fs->last.failed_dests);
		result_json_string(fs->last.error, f);
	}
	fputs(",\"held_back\":[", f);
	for (size_t k = 0; k < r->nitems; k++) {
		const struct item *it = &r->items[k];

		if (it->action != ITEM_HELD)
			continue;
		fputs(first ? "{\"path\":" : ",{\"path\":", f);
		result_json_string(it->path, f);
		fputs(",\"reason\":", f);
		result_json_string(it->reason ? it->reason : "", f);
		fputc('}', f);
		first = 0;
	}
	fputs("]}", f);
}

char *
fileset_status_json(struct fileset *const *sets, size_t n)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return NULL;
	fputs("{\"filesets\":[", f);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			fputc(',', f);
		status_one(f, sets[i]);
	}
	fputs("]}", f);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static void
text_time(FILE *f, time_t t)
{
	char buf[32];
	struct tm tm;

	if (t == 0) {
		fputs("-", f);
		return;
	}
	localtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	fputs(buf, f);
}

char *
fileset_status_text(struct fileset *const *sets, size_t n)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct fileset *fs = sets[i];
		const struct result *r = &fs->last.res;

		fprintf(f, "%s: %s, %zu changes pending\n  last run: ",
		    fs->conf->name, state_of(fs), fs->nchanges);
		text_time(f, fs->ran ? fs->last.end : 0);
		if (fs->ran && (fs->last.error[0] || fs->last.failed_dests))
			fprintf(f, ": failed: %s", fs->last.error);
		else if (fs->ran)
			fprintf(f, ": created %llu, replaced %llu, purged %llu, "
			    "unchanged %llu, skipped %llu, failed %llu",
			    (unsigned long long)r->created,
			    (unsigned long long)r->replaced,
			    (unsigned long long)r->purged,
			    (unsigned long long)r->unchanged,
			    (unsigned long long)r->skipped,
			    (unsigned long long)r->failed);
		fputs("\n  next run: ", f);
		text_time(f, fs->suspended ? 0 : fs->next_run);
		fputc('\n', f);
		for (size_t k = 0; k < r->nitems; k++) {
			const struct item *it = &r->items[k];

			if (it->action == ITEM_HELD)
				fprintf(f, "  held back: %s: %s\n", it->path,
				    it->reason ? it->reason : "");
		}
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
