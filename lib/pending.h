/* pending: what each destination of a source still needs (changed paths, a whole session), and its retries. */
#ifndef MIRRORFS_PENDING_H
#define MIRRORFS_PENDING_H

#include <stddef.h>
#include <stdint.h>

/*
 * One table of changed paths for all the destinations of a source: each
 * path records which destinations still need it, and is dropped for a
 * destination only when that destination committed a session that
 * carried it and the path did not change again after that session
 * began. A destination whose session failed keeps everything, and is
 * retried after a backoff that doubles from retry_min to retry_max.
 *
 * Times are seconds of CLOCK_REALTIME, as doubles. Not thread-safe: one
 * thread (mirrord's event loop) owns a table.
 */

struct pending_opts {
	int quiet;		/* a path is ready once unchanged this long */
	int max_defer;		/* ... or once it has waited this long */
	int openupdate;		/* a path open for write: ready once unchanged
				   this long (-1: only when closed) */
	size_t max_paths;	/* a destination owed more paths is owed a
				   whole session instead (so a destination
				   down for long costs bounded memory); 0:
				   no bound */
};

/* What one destination needs, and how its last sessions went. */
struct pending_dest {
	int whole;		/* its next session must walk the whole tree */
	int kick;		/* it should have a session as soon as allowed */
	size_t npaths;		/* paths it needs */
	int failing;		/* its last session failed */
	unsigned attempts;	/* sessions that failed in a row */
	double since;		/* when the first of them failed */
	double next_attempt;	/* no session to it before this time */
	int backoff;		/* seconds waited after the last failure */
	char error[512];	/* why the last one failed */
	uint64_t whole_seq;	/* private: when whole was asked for */
};

/* A session, as pending_begin saw it start. */
struct pending_mark {
	uint64_t session;	/* its number, from 1 */
	uint64_t seq;		/* the last change it may carry */
	double start;
};

/* What pending_begin hands a session. */
struct pending_take {
	struct pending_mark mark;
	int whole;		/* in: a whole session is asked for; out: also
				   set when more than max paths are taken */
	int all;		/* in: take every path, ready or not */
	char **paths;		/* a partial session's paths; NULL when whole */
	size_t npaths;
	char **forced;		/* paths that waited max_defer: sent even when
				   they would be held back */
	size_t nforced;
};

/* A held-back path, as pending_next_held returns it. */
struct pending_held {
	const char *path;
	const char *reason;
	double since;		/* held back since */
	int open;		/* open for write: waits for its writer to close it */
};

struct pending;

/*
 * A table for ndests destinations (at least 1), each of which starts
 * owing a whole session (nothing is known of what it holds). NULL on
 * ENOMEM.
 */
struct pending *pending_alloc(size_t ndests, const struct pending_opts *o);
/* Frees p and every string in it; NULL is fine. */
void pending_free(struct pending *p);

/*
 * path changed at now; closed: the event was its writer closing it.
 * Every destination needs it again. A path held back as open for write
 * stays held (not ready) until an event says it was closed. A
 * destination that is then owed more than max_paths paths is owed a
 * whole session instead (it keeps only the held-back paths). On ENOMEM
 * every destination is asked for a whole session instead, so no change
 * is lost, and -1 is returned.
 */
int pending_change(struct pending *p, const char *path, double now,
    int closed);
/*
 * Events may have been lost: every destination's next session walks the
 * whole tree; with kick, each should have one as soon as allowed.
 */
void pending_whole(struct pending *p, int kick);

/* Destination d's state (d < the ndests of pending_alloc). */
const struct pending_dest *pending_dest(const struct pending *p, size_t d);
/* Distinct paths that some destination needs. */
size_t pending_npaths(const struct pending *p);

/*
 * For each destination d, ready[d] is the earliest time one of the
 * paths it needs is ready to go (quiet for quiet seconds, waited
 * max_defer, or its hold ended), or 0 when it needs none. A held path is
 * ready only when a look at it may find it changed: one open for write
 * when its writer closed it, at max_defer or after openupdate; one within
 * the quiet window when that window has passed (the wait doubling each
 * time it is held again without a change, for a file dated in the
 * future).
 */
void pending_ready(const struct pending *p, double *ready);

/*
 * Begins a session at now to the destinations whose join[d] is set:
 * fills t with its mark, the paths that any of them needs (every
 * ordinary change, quiet or not: the sender holds back those still in
 * the quiet window; a held path only once ready; every path with
 * t->all; none, whole, when t->whole was set or more than max are
 * taken) and the paths past max_defer; clears their kick.
 * The caller sets t->whole and t->all. Returns 0, or -1 on ENOMEM with
 * t empty and p unchanged. t is released by pending_take_release.
 */
int pending_begin(struct pending *p, double now, const unsigned char *join,
    size_t max, struct pending_take *t);
void pending_take_release(struct pending_take *t);

/*
 * Destination d's session of m held path back for reason (open: it is
 * open for write). The path stays pending for d, held, unless it changed
 * after m began (then it is an ordinary change). Call before
 * pending_done. -1 on ENOMEM (the path is then owed as a whole session).
 */
int pending_hold(struct pending *p, size_t d, const struct pending_mark *m,
    const char *path, const char *reason, int open);
/*
 * d committed the session of m (whole: it walked the whole tree): the
 * paths it carried are done for d, but for those that changed after m
 * began and those held back in it; its whole session is paid unless one
 * was asked for after m began; its failures are over.
 */
void pending_done(struct pending *p, size_t d, const struct pending_mark *m,
    int whole);
/*
 * d's session failed at now, for why: it keeps everything (a failed whole
 * session is owed again) and gets no session before now + its backoff,
 * which starts at retry_min seconds and doubles up to retry_max.
 */
void pending_failed(struct pending *p, size_t d, int whole, double now,
    const char *why, int retry_min, int retry_max);

/* Up to max paths that d needs, into out (pointers into p); their number. */
size_t pending_paths_of(const struct pending *p, size_t d, const char **out,
    size_t max);
/*
 * Iterates the held-back paths: start with *pos = 0; each call returning
 * 1 fills h (valid until p changes).
 */
int pending_next_held(const struct pending *p, size_t *pos,
    struct pending_held *h);

/*
 * Carries src's state into the fresh table p (a reload of the
 * configuration): map[d] is the index in src of p's destination d, or
 * -1 for a new one (it owes a whole session, kicked). Returns 0, or -1 on
 * ENOMEM (then every destination of p owes a whole session, kicked).
 */
int pending_copy(struct pending *p, const struct pending *src,
    const long *map);

#endif
