/* hold: readers' holds on a store's commits: a commit waits until each hold ends or expires. */
#ifndef MIRRORFS_HOLD_H
#define MIRRORFS_HOLD_H

#include <pthread.h>
#include <stdint.h>

/*
 * A reader that must see one generation of a store (a session reading
 * the store as its source) takes a hold; a commit waits, before it
 * changes anything, until every hold has ended or expired. A hold never
 * blocks a commit past its expiry: the commit goes ahead and marks the
 * expired hold broken, and its reader learns at hold_end that what it
 * read may mix two generations. While a commit waits or runs no new hold
 * is granted, so readers in a row never starve a commit.
 *
 * All functions are thread-safe (lock inside).
 */
struct hold;

struct holds {
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* on CLOCK_MONOTONIC */
	struct hold *list;	/* every hold not yet ended; protected by lock */
	unsigned waiting;	/* commits waiting to begin; protected by lock */
	int committing;		/* a commit is between begin and end; protected by lock */
	unsigned max_s;		/* the longest hold granted */
};

/* A gate for holds of at most max_s seconds (at least 1). */
void holds_init(struct holds *h, unsigned max_s);
/* Frees what is left (every hold must have ended: no waiter remains). */
void holds_release(struct holds *h);

/*
 * Takes a hold of want seconds (at most max_s; *granted says how long),
 * once no commit is in progress or waiting: at most wait_ms for that,
 * then NULL with ETIMEDOUT; NULL with ENOMEM. The caller ends it with
 * hold_end.
 */
struct hold *hold_take(struct holds *h, unsigned want, int wait_ms,
    unsigned *granted);

/*
 * Ends and frees x. Returns 1 when it held (no commit began while it
 * existed), 0 when a commit went past it after it expired.
 */
int hold_end(struct holds *h, struct hold *x);

/*
 * A commit begins: waits until no hold is live (each one bounds the wait
 * by its expiry), marks the expired holds it goes past broken, and keeps
 * new holds out until holds_commit_end. Returns how many milliseconds it
 * waited.
 */
uint64_t holds_commit_begin(struct holds *h);
void holds_commit_end(struct holds *h);

#endif
