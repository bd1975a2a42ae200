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
 *   check(v, n)                      every change of the commit, before
 *                                    the commit point: may set veto (a
 *                                    string that lives until end()) on a
 *                                    change with has_old, to leave it out
 *   replacing(c, dirfd, name)*       just before a PUT or REMOVE changes
 *                                    what is there (c's old is fresh;
 *                                    dirfd/name reach it during the call)
 *   end(v, n)                        the changes made or attempted, vetoed
 *                                    ones left out: invalidate, thaw
 * end() follows begin() whatever happens, n 0 when nothing was attempted.
 * This is the only way a commit calls up into its observer's layer.
 */
struct commit_observer {
	void *arg;
	void (*begin)(void *arg);
	void (*check)(void *arg, struct commit_change *v, size_t n);
	void (*replacing)(void *arg, const struct commit_change *c, int dirfd,
	    const char *name);
	void (*end)(void *arg, const struct commit_change *v, size_t n);
};

struct commit_opts {
	int owner;		/* set owners (we are root) */
	unsigned ns;		/* attribute namespaces set (xattr.h) */
	const struct commit_observer *observer;	/* NULL: none */
};

/*
 * Commits plan p of manifest m into store s (its master): stages the new
 * entries without data (symlinks, hard links, special files, directories
 * that replace another type), makes the staged data durable, lists the
 * commit in a journal, lets the observer veto, writes the journal (the
 * commit point) and carries it out. An entry that cannot be done becomes
 * PLAN_FAIL, a vetoed one PLAN_SKIP, each with its reason. Returns 0
 * once the journal is written (the session is committed: if it cannot
 * be retired, the next recovery finishes it), or -1 (logged) when the
 * commit failed before its commit point and nothing of it was committed.
 */
int commit_run(struct store *s, struct manifest *m, struct plan *p,
    const struct commit_opts *o);

#endif
