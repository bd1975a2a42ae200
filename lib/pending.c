/* pending: what each destination of a source still needs (changed paths, a whole session), and its retries. */
#include "pending.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"

/* A quiet-window hold is looked at again after quiet * 2^k, k at most this. */
#define HOLD_DOUBLINGS 16

struct pending_entry {
	char *path;
	double first;		/* this run of changes began (max_defer) */
	double last;		/* the last change seen (quiet window) */
	uint64_t seq;		/* the last change's number */
	uint64_t stamp;		/* the last partial session that carried it */
	uint64_t held_in;	/* the session that held it back, 0: not held */
	char *reason;		/* why, while held */
	double held_since;
	double looked;		/* the start of the session that held it */
	unsigned holds;		/* quiet-window holds without a change between */
	int held_open;		/* held as open for write */
};

struct pending {
	struct pending_opts o;
	size_t ndests;
	size_t words;		/* of the per-entry bit set of destinations */
	struct pending_dest *dests;
	struct pending_entry *v;
	uint64_t *need;		/* n * words bits: who still needs entry i */
	size_t n, cap;
	struct htab index;	/* path -> entry */
	uint64_t seq;		/* changes seen */
	uint64_t sessions;	/* sessions begun */
};

static uint64_t *
need_of(const struct pending *p, size_t i)
{
	return &p->need[i * p->words];
}

static int
needs(const struct pending *p, size_t i, size_t d)
{
	return (need_of(p, i)[d / 64] >> (d % 64)) & 1;
}

static void
need_set(struct pending *p, size_t i, size_t d)
{
	if (!needs(p, i, d)) {
		need_of(p, i)[d / 64] |= (uint64_t)1 << (d % 64);
		p->dests[d].npaths++;
	}
}

static void
need_clear(struct pending *p, size_t i, size_t d)
{
	if (needs(p, i, d)) {
		need_of(p, i)[d / 64] &= ~((uint64_t)1 << (d % 64));
		p->dests[d].npaths--;
	}
}

static int
needed_by_any(const struct pending *p, size_t i, const unsigned char *join)
{
	for (size_t d = 0; d < p->ndests; d++)
		if (needs(p, i, d) && (join == NULL || join[d]))
			return 1;
	return 0;
}

struct pending *
pending_alloc(size_t ndests, const struct pending_opts *o)
{
	struct pending *p;

	if (ndests == 0) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->dests = calloc(ndests, sizeof(*p->dests));
	if (p->dests == NULL) {
		free(p);
		return NULL;
	}
	p->o = *o;
	p->ndests = ndests;
	p->words = (ndests + 63) / 64;
	htab_init(&p->index);
	for (size_t d = 0; d < ndests; d++)
		p->dests[d].whole = 1;
	return p;
}

static void
held_clear(struct pending_entry *e)
{
	free(e->reason);
	e->reason = NULL;
	e->held_in = 0;
	e->held_open = 0;
	e->holds = 0;
}

void
pending_free(struct pending *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].path);
		free(p->v[i].reason);
	}
	free(p->v);
	free(p->need);
	htab_release(&p->index);
	free(p->dests);
	free(p);
}

/* A new entry for path (not in the table), needed by nobody yet: its index. */
static int
entry_add(struct pending *p, const char *path, double now, size_t *at)
{
	struct pending_entry *e;

	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		void *v = realloc(p->v, cap * sizeof(*p->v));

		if (v == NULL)
			return -1;
		p->v = v;
		v = realloc(p->need, cap * p->words * sizeof(*p->need));
		if (v == NULL)
			return -1;
		p->need = v;
		p->cap = cap;
	}
	e = &p->v[p->n];
	memset(e, 0, sizeof(*e));
	e->path = strdup(path);
	if (e->path == NULL)
		return -1;
	if (htab_put(&p->index, e->path, strlen(e->path), p->n) == -1) {
		free(e->path);
		return -1;
	}
	memset(need_of(p, p->n), 0, p->words * sizeof(*p->need));
	e->first = e->last = now;
	*at = p->n++;
	return 0;
}

static void compact(struct pending *p);

/*
 * d is owed too many paths: a whole session instead, which finds them
 * all. Held paths stay (their hold is what the status shows). The whole
 * session is asked for now, so one already running does not pay it.
 */
static void
overflow(struct pending *p, size_t d)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].held_in == 0)
			need_clear(p, i, d);
	p->dests[d].whole = 1;
	p->dests[d].whole_seq = p->seq;
	compact(p);
}

int
pending_change(struct pending *p, const char *path, double now, int closed)
{
	struct pending_entry *e;
	size_t i;

	if (!htab_get(&p->index, path, strlen(path), &i)) {
		if (entry_add(p, path, now, &i) == -1) {
			pending_whole(p, 1);
			return -1;
		}
	}
	e = &p->v[i];
	if (e->held_in != 0 && e->held_open && !closed) {
		/* Still open for write: it stays held, its clock goes on. */
	} else {
		/* A change after a quiet spell starts a new wait for max_defer. */
		if (e->held_in == 0 && now - e->last >= p->o.quiet)
			e->first = now;
		held_clear(e);
	}
	e->last = now;
	e->seq = ++p->seq;
	for (size_t d = 0; d < p->ndests; d++)
		need_set(p, i, d);
	/* (After: an overflow may drop entry i and move the others.) */
	for (size_t d = 0; d < p->ndests; d++)
		if (p->o.max_paths > 0 && p->dests[d].npaths > p->o.max_paths)
			overflow(p, d);
	return 0;
}

void
pending_whole(struct pending *p, int kick)
{
	p->seq++;
	for (size_t d = 0; d < p->ndests; d++) {
		p->dests[d].whole = 1;
		p->dests[d].whole_seq = p->seq;
		p->dests[d].kick |= kick;
	}
}

const struct pending_dest *
pending_dest(const struct pending *p, size_t d)
{
	return &p->dests[d];
}

size_t
pending_npaths(const struct pending *p)
{
	return p->n;
}

static double
min2(double a, double b)
{
	return a < b ? a : b;
}

/* When entry e may be sent, or looked at again (see pending_ready). */
static double
entry_ready(const struct pending *p, const struct pending_entry *e)
{
	const struct pending_opts *o = &p->o;
	double deadline = e->first + o->max_defer, t;
	unsigned k;

	if (e->held_in == 0)
		return min2(e->last + o->quiet, deadline);
	if (e->held_open) {
		if (o->openupdate < 0)
			return deadline;
		return min2(e->last + (o->openupdate > o->quiet ?
		    o->openupdate : o->quiet), deadline);
	}
	/*
	 * Held within the quiet window: looked at once that window passed.
	 * Held although the window had passed (a file dated in the future),
	 * it is looked at again after quiet, 2 quiet, 4 quiet... from then.
	 */
	t = e->last + o->quiet;
	if (e->looked >= t) {
		k = e->holds > 0 ? e->holds - 1 : 0;
		if (k > HOLD_DOUBLINGS)
			k = HOLD_DOUBLINGS;
		t = e->looked + (double)(o->quiet > 0 ? o->quiet : 1) *
		    (double)(1u << k);
	}
	return min2(t, deadline);
}

void
pending_ready(const struct pending *p, double *ready)
{
	for (size_t d = 0; d < p->ndests; d++)
		ready[d] = 0;
	for (size_t i = 0; i < p->n; i++) {
		double t = entry_ready(p, &p->v[i]);

		for (size_t d = 0; d < p->ndests; d++)
			if (needs(p, i, d) && (ready[d] == 0 || t < ready[d]))
				ready[d] = t;
	}
}

void
pending_take_release(struct pending_take *t)
{
	for (size_t i = 0; i < t->npaths; i++)
		free(t->paths[i]);
	free(t->paths);
	for (size_t i = 0; i < t->nforced; i++)
		free(t->forced[i]);
	free(t->forced);
	t->paths = t->forced = NULL;
	t->npaths = t->nforced = 0;
}

/* Appends a copy of s to the list *v of *n strings. */
static int
list_add(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 1) * sizeof(**v));

	if (nv == NULL)
		return -1;
	*v = nv;
	if ((nv[*n] = strdup(s)) == NULL)
		return -1;
	(*n)++;
	return 0;
}

/*
 * Whether entry i goes into a partial session of join begun at now:
 * every ordinary change (the sender holds back one still in its quiet
 * window, so changes made close together go out together), and a held
 * path once its hold may have ended.
 */
static int
taken(const struct pending *p, size_t i, const unsigned char *join,
    double now, int all)
{
	return needed_by_any(p, i, join) && (all || p->v[i].held_in == 0 ||
	    entry_ready(p, &p->v[i]) <= now);
}

int
pending_begin(struct pending *p, double now, const unsigned char *join,
    size_t max, struct pending_take *t)
{
	size_t ready = 0;

	t->paths = t->forced = NULL;
	t->npaths = t->nforced = 0;
	for (size_t i = 0; i < p->n && !t->whole; i++)
		ready += (size_t)taken(p, i, join, now, t->all);
	if (ready > max)
		t->whole = 1;
	for (size_t i = 0; i < p->n; i++) {
		const struct pending_entry *e = &p->v[i];

		if (!needed_by_any(p, i, join))
			continue;
		if (!t->whole && taken(p, i, join, now, t->all) &&
		    list_add(&t->paths, &t->npaths, e->path) == -1)
			goto fail;
		if (now - e->first >= p->o.max_defer &&
		    list_add(&t->forced, &t->nforced, e->path) == -1)
			goto fail;
	}
	t->mark.session = ++p->sessions;
	t->mark.seq = p->seq;
	t->mark.start = now;
	for (size_t i = 0; i < p->n && !t->whole; i++)
		if (taken(p, i, join, now, t->all))
			p->v[i].stamp = t->mark.session;
	for (size_t d = 0; d < p->ndests; d++)
		if (join[d])
			p->dests[d].kick = 0;
	return 0;
fail:
	pending_take_release(t);
	return -1;
}

int
pending_hold(struct pending *p, size_t d, const struct pending_mark *m,
    const char *path, const char *reason, int open)
{
	struct pending_entry *e;
	char *why;
	size_t i;

	if (!htab_get(&p->index, path, strlen(path), &i)) {
		if (entry_add(p, path, m->start, &i) == -1)
			goto fail;
		p->v[i].seq = m->seq;
	}
	e = &p->v[i];
	need_set(p, i, d);
	if (e->seq > m->seq)
		return 0;	/* changed since: looked at as any change */
	if (e->held_in == m->session && e->reason != NULL)
		return 0;	/* held for another destination of it */
	if ((why = strdup(reason)) == NULL)
		goto fail;
	if (e->held_in == 0)
		e->held_since = m->start;
	free(e->reason);
	e->reason = why;
	e->held_in = m->session;
	e->held_open = open;
	e->looked = m->start;
	e->holds = open ? 0 : e->holds + 1;
	return 0;
fail:
	/* The path cannot be recorded: a whole session finds it. */
	p->dests[d].whole = 1;
	p->dests[d].whole_seq = p->seq;
	return -1;
}

/*
 * Drops the entries nobody needs. The index loses their keys first, so
 * updating the moved ones overwrites keys it has and never grows it.
 */
static void
compact(struct pending *p)
{
	size_t keep = 0;

	for (size_t i = 0; i < p->n; i++)
		if (!needed_by_any(p, i, NULL))
			htab_del(&p->index, p->v[i].path, strlen(p->v[i].path));
	for (size_t i = 0; i < p->n; i++) {
		if (!needed_by_any(p, i, NULL)) {
			free(p->v[i].path);
			free(p->v[i].reason);
			continue;
		}
		if (keep != i) {
			p->v[keep] = p->v[i];
			memcpy(need_of(p, keep), need_of(p, i),
			    p->words * sizeof(*p->need));
			htab_put(&p->index, p->v[keep].path,
			    strlen(p->v[keep].path), keep);
		}
		keep++;
	}
	p->n = keep;
}

void
pending_done(struct pending *p, size_t d, const struct pending_mark *m,
    int whole)
{
	struct pending_dest *pd = &p->dests[d];

	for (size_t i = 0; i < p->n; i++) {
		const struct pending_entry *e = &p->v[i];

		if (e->seq <= m->seq && (whole || e->stamp == m->session) &&
		    e->held_in != m->session)
			need_clear(p, i, d);
	}
	if (whole && pd->whole_seq <= m->seq)
		pd->whole = 0;
	pd->failing = 0;
	pd->attempts = 0;
	pd->backoff = 0;
	pd->next_attempt = 0;
	pd->error[0] = '\0';
	compact(p);
}

void
pending_failed(struct pending *p, size_t d, int whole, double now,
    const char *why, int retry_min, int retry_max)
{
	struct pending_dest *pd = &p->dests[d];

	if (pd->attempts++ == 0)
		pd->since = now;
	pd->failing = 1;
	pd->backoff = pd->backoff == 0 ? retry_min : pd->backoff * 2;
	if (pd->backoff > retry_max)
		pd->backoff = retry_max;
	if (pd->backoff < retry_min)
		pd->backoff = retry_min;
	pd->next_attempt = now + pd->backoff;
	snprintf(pd->error, sizeof(pd->error), "%s", why);
	if (whole && !pd->whole) {
		pd->whole = 1;
		pd->whole_seq = p->seq;
	}
}

size_t
pending_paths_of(const struct pending *p, size_t d, const char **out,
    size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n && n < max; i++)
		if (needs(p, i, d))
			out[n++] = p->v[i].path;
	return n;
}

int
pending_next_held(const struct pending *p, size_t *pos, struct pending_held *h)
{
	for (; *pos < p->n; (*pos)++) {
		const struct pending_entry *e = &p->v[*pos];

		if (e->held_in == 0)
			continue;
		h->path = e->path;
		h->reason = e->reason;
		h->since = e->held_since;
		h->open = e->held_open;
		(*pos)++;
		return 1;
	}
	return 0;
}

int
pending_copy(struct pending *p, const struct pending *src, const long *map)
{
	p->seq = src->seq;
	p->sessions = src->sessions;
	for (size_t d = 0; d < p->ndests; d++) {
		if (map[d] < 0) {
			p->dests[d].whole = 1;
			p->dests[d].kick = 1;
			continue;
		}
		p->dests[d] = src->dests[map[d]];
		p->dests[d].npaths = 0;	/* counted again below */
	}
	for (size_t i = 0; i < src->n; i++) {
		const struct pending_entry *e = &src->v[i];
		struct pending_entry *ne;
		size_t at;
		int any = 0;

		for (size_t d = 0; d < p->ndests && !any; d++)
			any = map[d] >= 0 && needs(src, i, (size_t)map[d]);
		if (!any)
			continue;
		if (entry_add(p, e->path, e->first, &at) == -1)
			goto fail;
		ne = &p->v[at];
		ne->last = e->last;
		ne->seq = e->seq;
		ne->stamp = e->stamp;
		ne->held_since = e->held_since;
		ne->looked = e->looked;
		ne->holds = e->holds;
		ne->held_open = e->held_open;
		if (e->reason != NULL && (ne->reason = strdup(e->reason)) == NULL)
			goto fail;
		ne->held_in = e->held_in;
		for (size_t d = 0; d < p->ndests; d++)
			if (map[d] >= 0 && needs(src, i, (size_t)map[d]))
				need_set(p, at, d);
	}
	return 0;
fail:
	pending_whole(p, 1);
	return -1;
}
