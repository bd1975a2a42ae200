/* fileset: one file set's state in mirrord: what each destination is owed, its sessions, their results. */
#ifndef MIRRORFS_FILESET_H
#define MIRRORFS_FILESET_H

#include <stddef.h>
#include <time.h>

#include "config.h"
#include "proto.h"

struct fileset;

/*
 * A file set of conf (which must outlive it). prev, the same file set
 * before a configuration reload (or NULL), passes on its suspension, its
 * last results and what each destination that is still configured is
 * owed; a destination it did not have gets a whole session at once, and
 * so does every destination when the tree itself changed (source,
 * filters, purge, xattrs, acls, user or watch). Without prev (mirrord started), each
 * destination's first session is a whole one. NULL on ENOMEM.
 */
struct fileset *fileset_new(const struct fileset_conf *conf,
    const struct fileset *prev);
/* Frees fs; a session in progress is abandoned and waited for. */
void fileset_free(struct fileset *fs);

const char *fileset_name(const struct fileset *fs);
const struct fileset_conf *fileset_conf(const struct fileset *fs);

/*
 * The watcher saw rel change, with WATCH_* flags (watch.h): closed, or
 * (rel NULL) events lost or part of the tree not watched, after which
 * every destination's next session is a whole one.
 */
void fileset_changed(struct fileset *fs, const char *rel, unsigned flags);
void fileset_suspend(struct fileset *fs, int on);

/*
 * fs's source is a store whose commits drive it (instead of a watch of
 * the tree): storewatch.c tells each generation its master announces
 * (fileset_store_told), and whether the master is telling us anything
 * now (fileset_store_following, for the status). A generation other
 * than the one the last session read owes every destination a whole
 * session at once; one told while a session runs is compared with what
 * that session read when it ends, so several commits during a session
 * make one more session, of the latest, and a commit the session
 * already read makes none.
 */
void fileset_store_source(struct fileset *fs);
void fileset_store_told(struct fileset *fs, const struct store_gen *g);
void fileset_store_following(struct fileset *fs, int on);
/*
 * A session committed into fs's source store (a forward's, told by the
 * listener's session process, forward.h) where no master announces it:
 * every destination is owed a whole session, after the one in progress
 * if one runs (which may have read that generation already: the next
 * finds nothing to send but the manifest).
 */
void fileset_store_committed(struct fileset *fs);
/*
 * A forward's store: while on, a session into it is relayed to the hops
 * as it comes (forward_relaying), and no session of the forward starts.
 */
void fileset_relaying(struct fileset *fs, int on);

enum fileset_sync {
	FILESET_SYNC_STARTED,	/* a session starts now */
	FILESET_SYNC_QUEUED,	/* it starts when the one in progress ends */
	FILESET_SYNC_NOTHING,	/* nothing to send: every destination is
				   up to date as far as the watch knows */
};
/*
 * Runs a session at once (even when suspended, outside its window or
 * while a destination waits to be retried). Without full, and when the
 * watch is complete (watch = yes, no overflow or watch error since each
 * destination's last whole session), it carries only what is pending;
 * otherwise, or with full, it walks the whole tree.
 */
enum fileset_sync fileset_sync_now(struct fileset *fs, int full);

/*
 * 1 when a session should start now: its schedule says so, it was asked
 * for, a destination's retry is due, or a path some destination is owed
 * is ready (quiet for the quiet window, or waited max_defer, or its
 * hold ended); never while suspended (but for sync-now) or outside its
 * window, and never with nothing to send.
 */
int fileset_due(struct fileset *fs, time_t now);
/*
 * When fs is next due, if nothing else happens (a change, a request):
 * seconds of CLOCK_REALTIME, possibly already past when it is due now;
 * 0 when it has nothing to wait for (idle, suspended, or running: the
 * end of a session is told through wakefd, see fileset_start).
 */
double fileset_deadline(struct fileset *fs, time_t now);
/*
 * Starts a session in a thread of its own to the destinations that are
 * due; when it ends, the thread writes to the eventfd wakefd.
 */
void fileset_start(struct fileset *fs, time_t now, int wakefd);
int fileset_running(const struct fileset *fs);
/*
 * Collects a finished session: per destination, what it committed is
 * no longer owed, what it held back stays, and a failed one is retried
 * after its backoff; logs a line per destination with its counts, and
 * appends it to the session history at history (sessionlog.h) unless
 * that is NULL. Returns 1 when a session was collected, else 0.
 */
int fileset_reap(struct fileset *fs, time_t now, const char *history);
/* Asks a session in progress to stop (it commits nothing). */
void fileset_cancel(struct fileset *fs);

/* Calls fn for each path held back as open for write (until closed). */
void fileset_held_open(const struct fileset *fs,
    void (*fn)(void *arg, const char *path), void *arg);

/*
 * {"filesets":[...]}: per file set its state, schedule, watch, pending
 * paths, held-back paths (reason, since when), and per destination ok
 * or retrying (since when, the error, the next attempt), what it is
 * owed and its last session.
 */
char *fileset_status_json(struct fileset *const *sets, size_t n);
/*
 * Appends each destination of fs to h as a hop of depth 1 (its state,
 * the generation and time of its last commit, its error), each followed
 * by the hops it reported below it with that commit. -1 on ENOMEM.
 */
struct hops;
int fileset_hops(const struct fileset *fs, struct hops *h);
/* The same for people: a paragraph per file set. */
char *fileset_status_text(struct fileset *const *sets, size_t n);
/*
 * The metrics of the file sets in Prometheus's text format (metrics.c):
 * a malloc'ed string, or NULL on ENOMEM.
 */
char *fileset_metrics(struct fileset *const *sets, size_t n);

#endif
