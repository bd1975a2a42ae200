/* copier: the files a local sender passed as descriptors, copied into staging/ by threads of their own, several at once. */
#ifndef MIRRORFS_COPIER_H
#define MIRRORFS_COPIER_H

#include <stddef.h>

#include "manifest.h"
#include "plan.h"
#include "stage.h"
#include "store/store.h"

/*
 * A copy is the kernel's work (stage_copy: copy_file_range, or read and
 * write) and waits on the disk: one at a time, the receiver's thread
 * spent an initial sync on them while the other core idled. The copier
 * runs them in its threads while the receiver goes on taking frames,
 * and hands each result back to the receiver's thread, which alone
 * touches the plan and the manifest (copier_take). One thread (the
 * receiver's) adds and takes: copier_full and copier_pending are only
 * right for it.
 */
struct copier;

/* How a copy ended: stage_copy's end, why and the version staged. */
struct copy_result {
	size_t idx;
	enum stage_end end;
	struct entry attr;	/* with STAGE_DONE; no strings */
	char why[512];
};

/*
 * Threads to copy with: MIRRORFS_COPIERS when set (0: none, the caller
 * copies; a value that is no count is warned of and not taken), else
 * two per core (the copies wait on the disk as much as they run), at
 * most 16, and fewer where the open-file limit is low: each thread
 * holds up to three descriptors (two sources, one staged file).
 */
unsigned copier_threads(void);

/*
 * A copier into store s (its stagingfd, which must outlive it) of
 * threads threads, with o's owner and namespaces. NULL logged.
 */
struct copier *copier_new(struct store *s, const struct plan_opts *o,
    unsigned threads);
/* 1 when no copy can be added before a result is taken. */
int copier_full(const struct copier *cp);
/*
 * Copies srcfd (taken: closed once copied, or by copier_free) into
 * staging/name as entry i, e (read by the copy until its result is
 * taken: it must not move or change). The copier must not be full.
 */
void copier_add(struct copier *cp, size_t i, const char *name, int srcfd,
    const struct entry *e);
/* Copies added whose result was not taken yet. */
size_t copier_pending(const struct copier *cp);
/*
 * Takes a result into *res: 1, or 0 when none has ended (wait: blocks
 * until one does, 0 only with nothing pending). Copies end in no set
 * order (a small file overtakes a big one added before it); of those
 * that ended, the first added comes first.
 */
int copier_take(struct copier *cp, struct copy_result *res, int wait);
/* Readable while a result waits to be taken: to poll beside a peer. */
int copier_fd(const struct copier *cp);
/*
 * Waits for the copies running, drops those not begun (closing their
 * descriptors) and what the results not taken staged, and frees cp
 * (NULL: nothing).
 */
void copier_free(struct copier *cp);

#endif
