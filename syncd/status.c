/* status: a file set's status for mirrorctl: text and JSON, per file set and per destination. */
#include "fileset.h"
#include "fileset_state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "format.h"
#include "hops.h"
#include "pending.h"
#include "result.h"

/* Pending paths a status names, per destination. */
#define STATUS_PATHS 10

static void
json_time(FILE *f, const char *key, double t)
{
	struct timespec ts = { .tv_sec = (time_t)t };
	char buf[FORMAT_TIME_LEN];

	if (t <= 0) {
		fprintf(f, "\"%s\":null", key);
		return;
	}
	format_rfc3339(buf, sizeof(buf), &ts, 0);
	fprintf(f, "\"%s\":\"%s\"", key, buf);
}

static int
any_failing(const struct fileset *fs)
{
	for (size_t d = 0; d < fs->conf->ndests; d++)
		if (pending_dest(fs->pending, d)->failing)
			return 1;
	return 0;
}

static const char *
state_of(const struct fileset *fs)
{
	if (fs->running)
		return "syncing";
	if (fs->suspended)
		return "suspended";
	if (any_failing(fs))
		return "retrying";
	for (size_t d = 0; d < fs->conf->ndests; d++) {
		const struct pending_dest *pd = pending_dest(fs->pending, d);

		if (pd->npaths > 0 || pd->kick)
			return "waiting";
	}
	return "idle";
}

static const char *
dest_state_of(const struct fileset *fs, size_t d)
{
	if (fs->dests[d].joined && fs->running)
		return "syncing";
	return pending_dest(fs->pending, d)->failing ? "retrying" : "ok";
}

static const char *
watch_state(const struct fileset *fs)
{
	if (fs->conf->forward_of != NULL && !fs->store_following)
		return "store commits (sessions into it)";
	if (fs->conf->watch && fs->store_source)
		return fs->store_following ? "store commits" :
		    "store commits (no mount serves it: waiting)";
	return !fs->conf->watch ? "off" : fs->watch_incomplete ?
	    "incomplete" : "complete";
}

/* The destination whose result stands for the file set's (the first that committed). */
static const struct dest_state *
first_committed(const struct fileset *fs)
{
	for (size_t d = 0; d < fs->conf->ndests; d++)
		if (fs->dests[d].commit_end != 0)
			return &fs->dests[d];
	return NULL;
}

static void
status_dest_json(FILE *f, const struct fileset *fs, size_t d)
{
	const struct dest_state *ds = &fs->dests[d];
	const struct pending_dest *pd = pending_dest(fs->pending, d);
	const char *paths[STATUS_PATHS];
	size_t np = pending_paths_of(fs->pending, d, paths, STATUS_PATHS);

	fputs("{\"destination\":", f);
	result_json_string(ds->name, f);
	fprintf(f, ",\"state\":\"%s\",\"pending\":%zu,\"pending_paths\":[",
	    dest_state_of(fs, d), pd->npaths);
	for (size_t i = 0; i < np; i++) {
		if (i > 0)
			fputc(',', f);
		result_json_string(paths[i], f);
	}
	fprintf(f, "],\"whole_session\":%s,", pd->whole ? "true" : "false");
	json_time(f, "since", pd->failing ? pd->since : 0);
	fprintf(f, ",\"attempts\":%u,\"error\":", pd->attempts);
	if (pd->failing)
		result_json_string(pd->error, f);
	else
		fputs("null", f);
	fputc(',', f);
	json_time(f, "next_attempt", pd->failing ? pd->next_attempt : 0);
	fputs(",\"generation\":", f);
	if (ds->delivered.epoch != 0)
		fprintf(f, "%llu", (unsigned long long)ds->delivered.gen);
	else
		fputs("null", f);
	fputs(",\"last_session\":", f);
	if (ds->end == 0)
		fputs("null", f);
	else {
		fputc('{', f);
		json_time(f, "start", (double)ds->start);
		fputc(',', f);
		json_time(f, "end", (double)ds->end);
		fprintf(f, ",\"committed\":%s}", ds->failed ? "false" : "true");
	}
	fputs(",\"last_result\":", f);
	if (ds->commit_end == 0)
		fputs("null", f);
	else
		result_json(&ds->res, f, NULL, RESULT_DONE, NULL, 0);
	fputc('}', f);
}

static void
status_held_json(FILE *f, const struct fileset *fs)
{
	struct pending_held h;
	size_t pos = 0;
	int first = 1;

	fputs(",\"held_back\":[", f);
	while (pending_next_held(fs->pending, &pos, &h)) {
		fputs(first ? "{\"path\":" : ",{\"path\":", f);
		result_json_string(h.path, f);
		fputs(",\"reason\":", f);
		result_json_string(h.reason, f);
		fputc(',', f);
		json_time(f, "since", h.since);
		fprintf(f, ",\"open\":%s}", h.open ? "true" : "false");
		first = 0;
	}
	fputc(']', f);
}

static void
status_one(FILE *f, const struct fileset *fs)
{
	const struct dest_state *rep = first_committed(fs);
	size_t failing = 0;
	const char *error = "";

	for (size_t d = 0; d < fs->conf->ndests; d++) {
		const struct pending_dest *pd = pending_dest(fs->pending, d);

		if (pd->failing && failing++ == 0)
			error = pd->error;
	}
	fputs("{\"name\":", f);
	result_json_string(fs->conf->name, f);
	fputs(",\"forward_of\":", f);
	if (fs->conf->forward_of != NULL)
		result_json_string(fs->conf->forward_of, f);
	else
		fputs("null", f);
	fprintf(f, ",\"state\":\"%s\",\"watch\":\"%s\",\"sessions\":%lu,",
	    state_of(fs), watch_state(fs), fs->sessions);
	json_time(f, "last_run", fs->ran ? (double)fs->last_end : 0);
	fputc(',', f);
	json_time(f, "next_run", fs->suspended ? 0 : (double)fs->next_run);
	fprintf(f, ",\"pending_changes\":%zu,\"last_result\":",
	    pending_npaths(fs->pending));
	if (rep == NULL)
		fputs("null", f);
	else
		result_json(&rep->res, f, NULL, RESULT_DONE, NULL, 0);
	fprintf(f, ",\"failed_destinations\":%zu,\"error\":", failing);
	result_json_string(error, f);
	status_held_json(f, fs);
	fputs(",\"destinations\":[", f);
	for (size_t d = 0; d < fs->conf->ndests; d++) {
		if (d > 0)
			fputc(',', f);
		status_dest_json(f, fs, d);
	}
	fputs("]}", f);
}

/* Writes head, each file set by one() (sep between), tail into a string. */
static char *
status_write(struct fileset *const *sets, size_t n,
    void (*one)(FILE *, const struct fileset *), const char *head,
    const char *sep, const char *tail)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return NULL;
	fputs(head, f);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			fputs(sep, f);
		one(f, sets[i]);
	}
	fputs(tail, f);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

char *
fileset_status_json(struct fileset *const *sets, size_t n)
{
	return status_write(sets, n, status_one, "{\"version\":1,\"filesets\":[", ",", "]}");
}

static void
text_time(FILE *f, double t)
{
	char buf[32];
	struct tm tm;
	time_t s = (time_t)t;

	if (t <= 0) {
		fputs("-", f);
		return;
	}
	localtime_r(&s, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	fputs(buf, f);
}

static void
status_dest_text(FILE *f, const struct fileset *fs, size_t d)
{
	const struct dest_state *ds = &fs->dests[d];
	const struct pending_dest *pd = pending_dest(fs->pending, d);
	const char *paths[STATUS_PATHS];
	size_t np = pending_paths_of(fs->pending, d, paths, STATUS_PATHS);
	char counts[RESULT_COUNTS_LEN];

	fprintf(f, "  to %s: %s", ds->name, dest_state_of(fs, d));
	if (pd->failing) {
		fputs(" since ", f);
		text_time(f, pd->since);
		fprintf(f, " (%u attempt%s): %s\n    next attempt: ",
		    pd->attempts, pd->attempts == 1 ? "" : "s", pd->error);
		text_time(f, pd->next_attempt);
	}
	if (pd->npaths == 0)
		fputs(pd->whole ? "\n    owed a whole session" :
		    ", nothing pending", f);
	else {
		fprintf(f, "\n    %zu pending%s:", pd->npaths, pd->whole ?
		    ", and a whole session" : "");
		for (size_t i = 0; i < np; i++)
			fprintf(f, "%s %s", i ? "," : "", paths[i]);
		if (np < pd->npaths)
			fputs(", ...", f);
	}
	fputs("\n    last session: ", f);
	text_time(f, (double)ds->end);
	if (ds->end != 0 && ds->failed) {
		fputs(": failed\n    last commit: ", f);
		text_time(f, (double)ds->commit_end);
	}
	if (ds->commit_end != 0) {
		result_counts(&ds->res, counts, sizeof(counts));
		fprintf(f, ": %s", counts);
	}
	if (ds->delivered.epoch != 0)
		fprintf(f, "\n    generation delivered: %llu",
		    (unsigned long long)ds->delivered.gen);
	fputc('\n', f);
	if (ds->commit_end != 0)
		hops_text(&ds->res.hops, f, "    ");
}

static void
status_text_one(FILE *f, const struct fileset *fs)
{
	struct pending_held h;
	size_t pos = 0;

	fprintf(f, "%s: %s, %zu changes pending, watch %s, %lu sessions\n"
	    "  last run: ", fs->conf->name, state_of(fs),
	    pending_npaths(fs->pending), watch_state(fs), fs->sessions);
	text_time(f, fs->ran ? (double)fs->last_end : 0);
	fputs("\n  next run: ", f);
	text_time(f, fs->suspended ? 0 : (double)fs->next_run);
	fputc('\n', f);
	while (pending_next_held(fs->pending, &pos, &h)) {
		fprintf(f, "  held back: %s: %s (since ", h.path, h.reason);
		text_time(f, h.since);
		fputs(")\n", f);
	}
	for (size_t d = 0; d < fs->conf->ndests; d++)
		status_dest_text(f, fs, d);
}

int
fileset_hops(const struct fileset *fs, struct hops *h)
{
	for (size_t d = 0; d < fs->conf->ndests; d++) {
		const struct dest_state *ds = &fs->dests[d];
		const struct pending_dest *pd = pending_dest(fs->pending, d);
		int state = ds->joined && fs->running ? HOP_SYNCING :
		    pd->failing ? HOP_RETRYING : pd->whole || pd->npaths ?
		    HOP_OWED : HOP_OK;

		if (hops_add(h, 1, state, ds->delivered.epoch != 0,
		    ds->delivered.gen, (int64_t)ds->commit_end, ds->name,
		    pd->failing ? pd->error : NULL) == -1 && errno != E2BIG)
			return -1;
		if (ds->commit_end != 0 &&
		    hops_add_below(h, &ds->res.hops) == -1)
			return -1;
	}
	return 0;
}

char *
fileset_status_text(struct fileset *const *sets, size_t n)
{
	return status_write(sets, n, status_text_one, "", "", "");
}
