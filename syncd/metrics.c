/* metrics: what mirrord knows of each file set and destination, in Prometheus's text format. */
#include "fileset.h"
#include "fileset_state.h"

#include <stdio.h>
#include <stdlib.h>

#include "pending.h"
#include "promtext.h"

/* One value of destination d of fs. */
typedef double (*metric_fn)(const struct fileset *fs, size_t d);

static double
m_bytes(const struct fileset *fs, size_t d)
{
	return (double)fs->dests[d].bytes_sent;
}

static double
m_pending(const struct fileset *fs, size_t d)
{
	return (double)pending_dest(fs->pending, d)->npaths;
}

static double
m_whole(const struct fileset *fs, size_t d)
{
	return pending_dest(fs->pending, d)->whole ? 1 : 0;
}

static double
m_retries(const struct fileset *fs, size_t d)
{
	return (double)fs->dests[d].retries;
}

static double
m_attempts(const struct fileset *fs, size_t d)
{
	const struct pending_dest *pd = pending_dest(fs->pending, d);

	return pd->failing ? pd->attempts : 0;
}

static double
m_success(const struct fileset *fs, size_t d)
{
	return (double)fs->dests[d].commit_end;
}

static const struct {
	const char *name, *type, *help;
	metric_fn fn;
} families[] = {
	{ "mirrord_bytes_sent_total", "counter",
	    "Bytes sent on the wire to a destination since mirrord started.",
	    m_bytes },
	{ "mirrord_pending_paths", "gauge",
	    "Changed paths a destination is owed.", m_pending },
	{ "mirrord_pending_whole_session", "gauge",
	    "1 when a destination is owed a walk of the whole tree.", m_whole },
	{ "mirrord_retries_total", "counter",
	    "Sessions that retried a destination whose last session failed.",
	    m_retries },
	{ "mirrord_failed_attempts", "gauge",
	    "Sessions to a destination that failed in a row (0: the last one "
	    "committed).", m_attempts },
	{ "mirrord_last_success_timestamp_seconds", "gauge",
	    "When a destination last committed a session (Unix time; 0: not "
	    "since mirrord started).", m_success },
};

/* The file set and destination labels of fs's destination d. */
static void
labels_of(struct promtext_label *l, const struct fileset *fs, size_t d)
{
	l[0].name = "fileset";
	l[0].value = fs->conf->name;
	l[1].name = "destination";
	l[1].value = fs->dests[d].name;
}

static void
sessions_family(FILE *f, struct fileset *const *sets, size_t n)
{
	static const char *const ends[] = { "ok", "partial", "failed" };
	struct promtext_label l[3];

	promtext_family(f, "mirrord_sessions_total", "counter",
	    "Sessions to a destination since mirrord started, by how they "
	    "ended: ok, partial (entries skipped or failed) or failed "
	    "(nothing committed).");
	for (size_t i = 0; i < n; i++)
		for (size_t d = 0; d < sets[i]->conf->ndests; d++) {
			const struct dest_state *ds = &sets[i]->dests[d];
			const uint64_t v[] = { ds->n_ok, ds->n_partial,
			    ds->n_failed };

			labels_of(l, sets[i], d);
			l[2].name = "result";
			for (size_t k = 0; k < 3; k++) {
				l[2].value = ends[k];
				promtext_sample(f, "mirrord_sessions_total", l,
				    3, (double)v[k]);
			}
		}
}

char *
fileset_metrics(struct fileset *const *sets, size_t n)
{
	struct promtext_label l[2];
	char *text = NULL;
	size_t len;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return NULL;
	sessions_family(f, sets, n);
	for (size_t k = 0; k < sizeof(families) / sizeof(families[0]); k++) {
		promtext_family(f, families[k].name, families[k].type,
		    families[k].help);
		for (size_t i = 0; i < n; i++)
			for (size_t d = 0; d < sets[i]->conf->ndests; d++) {
				labels_of(l, sets[i], d);
				promtext_sample(f, families[k].name, l, 2,
				    families[k].fn(sets[i], d));
			}
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
