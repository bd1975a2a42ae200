/* commit: a session's planned changes made current in the store at once, with the owner's veto. */
#ifndef MIRRORFS_COMMIT_H
#define MIRRORFS_COMMIT_H

#include <stddef.h>
#include <sys/types.h>

#include "manifest.h"
#include "plan.h"
#include "store/store.h"

/* One record of a commit, as an observer sees it. */
struct commit_change {
	const char *path;	/* what it changes ("." is the top directory) */
	int op;			/* JOP_* (store/journal.h) */
	int has_old;		/* PUT, REMOVE: something is there now */
	dev_t dev;		/* that thing, when has_old */
	ino_t ino;
	mode_t mode;
	const char *veto;	/* set by check(): why not to change it */
};

/*
 * The process that serves a store (the mount) follows every commit into
 * it through these calls, in this order, from the committing thread:
 *   begin()                          freeze the view: no open may start
 *   check(v, n)*                     every change of the commit, n at a
 *                                    time (n <= a fixed batch, 4,096;
 *                                    MIRRORFS_COMMIT_BATCH sets another
 *                                    for tests), all before the commit
 *                                    point: may set veto (a string that
 *                                    lives until end()) on a change with
 *                                    has_old, to leave it out with the
 *                                    later changes of its entry and those
 *                                    under its path (which are checked
 *                                    all the same)
 *   replacing(c, dirfd, name)*       just before a PUT or REMOVE changes
 *                                    what is there (c's old is fresh;
 *                                    dirfd/name reach it during the call)
 *   changed(v, n)*                   once the changes were carried out
 *                                    (or, when that failed, left to the
 *                                    next recovery): the changes made or
 *                                    attempted,
 *                                    vetoed ones left out, n at a time
 *                                    (the same bound; path and op
 *                                    only): invalidate them
 *   end(n, whole)                    thaw: n changes were attempted in
 *                                    all (0: nothing), every one of them
 *                                    given to changed() unless whole is 0
 *                                    (the commit's list could not be read
 *                                    back; logged)
 * end() follows begin() whatever happens. The v of check() and changed()
 * live during the call only: the changes in memory at once are bounded
 * by the batch, whatever the session's size (the spool is read again for
 * each phase). This is the only way a commit calls up into its
 * observer's layer.
 */
struct commit_observer {
	void *arg;
	void (*begin)(void *arg);
	void (*check)(void *arg, struct commit_change *v, size_t n);
	void (*replacing)(void *arg, const struct commit_change *c, int dirfd,
	    const char *name);
	void (*changed)(void *arg, const struct commit_change *v, size_t n);
	void (*end)(void *arg, size_t n, int whole);
};

struct commit_opts {
	int owner;		/* set owners (we are root) */
	unsigned ns;		/* attribute namespaces set (xattr.h) */
	const struct commit_observer *observer;	/* NULL: none */
};

/*
 * A session's commit, built as the session goes so that no entry waits
 * in memory for it: its records go to a spool in the store's .mirrorfs
 * (store/jspool.h) as each entry's outcome becomes final, and the
 * commit reads them from there. The receiver (receiver.c; mirrord's
 * sessions and mirrorctl's run the same one) calls, from the thread
 * that takes the session's data, in this order:
 *   commit_alloc     once the store is open (not in a dry run)
 *   commit_entry     for each entry once plan_add planned it, and again
 *                    once the data of a file that wanted some ended
 *                    (staged, failed, skipped, vanished, claimed whole)
 *   commit_data_end  once no more data comes
 *   commit_run       once the sender agreed to commit
 *   commit_free      in any case
 */
struct commit;

/* A commit into store s (its master) with options o (copied). NULL logged. */
struct commit *commit_alloc(struct store *s, const struct commit_opts *o);
/* Frees c (NULL: nothing); its spool goes with it. */
void commit_free(struct commit *c);

/*
 * Entry i of m, planned in p, is final unless it still waits for data
 * (PF_DATA): stages what it needs that carries no data (a symlink, a
 * special file, a directory replacing another type, a hard link; one
 * whose target still waits for its data is kept for commit_data_end)
 * and spools its records. An entry that cannot be staged becomes
 * PLAN_FAIL or PLAN_SKIP with its reason. Call it once per entry once
 * it is final (a call before does nothing). Returns 0, or -1 when the
 * spool cannot be written (logged, naming the store's spool and the
 * reason): the session must fail, nothing of it committed.
 */
int commit_entry(struct commit *c, const struct manifest *m, struct plan *p,
    size_t i);
/*
 * The first hard link kept waiting for its target's data (read again by
 * commit_data_end: its entry must stay), or SIZE_MAX (none, or c NULL).
 */
size_t commit_first_waiting(const struct commit *c);
/*
 * No more data comes (entries still waiting failed already): stages the
 * hard links kept waiting, or fails them with their reason. 0, or -1
 * as commit_entry.
 */
int commit_data_end(struct commit *c, const struct manifest *m,
    struct plan *p);

/*
 * Commits what c spooled of plan p, with top the top directory's
 * attributes (p->top_attr): makes the staged data durable, lets the
 * observer veto, writes the journal from the spool (the commit point)
 * and carries it out. It reads no entry of the manifest: the plan's
 * entries (states, flags, purges) only, changed as records are vetoed
 * (PLAN_SKIP) or fail (PLAN_FAIL), each with its reason. Returns 0 once
 * the journal is written (the session is committed: if it cannot be
 * carried out or retired, the next recovery finishes it), or -1
 * (logged) when the commit failed before its commit point and nothing
 * of it was committed.
 */
int commit_run(struct commit *c, struct plan *p, const struct entry *top);

#endif
