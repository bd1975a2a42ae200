/* fileset: one file set's state in mirrord: changes seen, its sessions, their results. */
#ifndef MIRRORFS_FILESET_H
#define MIRRORFS_FILESET_H

#include <stddef.h>
#include <time.h>

#include "config.h"

struct fileset;

/*
 * A file set of conf (which must outlive it). prev, the same file set
 * before a configuration reload (or NULL), passes on its suspension, its
 * last result and the changes not yet pushed.
 */
struct fileset *fileset_new(const struct fileset_conf *conf,
    const struct fileset *prev);
/* Frees fs; a session in progress is abandoned and waited for. */
void fileset_free(struct fileset *fs);

const char *fileset_name(const struct fileset *fs);
const struct fileset_conf *fileset_conf(const struct fileset *fs);

/* The watcher saw rel change (rel NULL with rescan: events were lost). */
void fileset_changed(struct fileset *fs, const char *rel, int rescan);
void fileset_suspend(struct fileset *fs, int on);
/* Runs the next session at once (even when suspended). */
void fileset_sync_now(struct fileset *fs);

/*
 * 1 when a session should start now: its schedule says so, it was asked
 * for, or a changed file (seen by the watcher, or held back by the last
 * session) has been quiet for the quiet window, or waited max_defer;
 * never while suspended (but for sync-now) or outside its window.
 */
int fileset_due(struct fileset *fs, time_t now);
/* Starts a session in a thread of its own. */
void fileset_start(struct fileset *fs, time_t now);
int fileset_running(const struct fileset *fs);
/* Collects a finished session: its result, held-back files, next run. */
void fileset_reap(struct fileset *fs, time_t now);
/* Asks a session in progress to stop (it commits nothing). */
void fileset_cancel(struct fileset *fs);

/* {"filesets":[...]}: state, last run and its result, next run, held back. */
char *fileset_status_json(struct fileset *const *sets, size_t n);
/* The same for people: a paragraph per file set. */
char *fileset_status_text(struct fileset *const *sets, size_t n);

#endif
