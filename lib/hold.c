/* hold: readers' holds on a store's commits: a commit waits until each hold ends or expires. */
#include "hold.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

struct hold {
	uint64_t expires_ms;	/* CLOCK_MONOTONIC */
	int broken;		/* a commit went past it */
	struct hold *next;
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits on h->cond until at_ms (monotonic); returns ETIMEDOUT once past it. */
static int
wait_until(struct holds *h, uint64_t at_ms)
{
	struct timespec ts = {
		.tv_sec = (time_t)(at_ms / 1000),
		.tv_nsec = (long)(at_ms % 1000) * 1000000,
	};

	return pthread_cond_timedwait(&h->cond, &h->lock, &ts);
}

void
holds_init(struct holds *h, unsigned max_s)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cond, &ca);
	pthread_condattr_destroy(&ca);
	h->list = NULL;
	h->waiting = 0;
	h->committing = 0;
	h->max_s = max_s ? max_s : 1;
}

void
holds_release(struct holds *h)
{
	struct hold *x, *next;

	for (x = h->list; x != NULL; x = next) {
		next = x->next;
		free(x);
	}
	h->list = NULL;
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
}

struct hold *
hold_take(struct holds *h, unsigned want, int wait_ms, unsigned *granted)
{
	uint64_t give_up = now_ms() + (uint64_t)(wait_ms > 0 ? wait_ms : 0);
	struct hold *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return NULL;
	if (want == 0 || want > h->max_s)
		want = h->max_s;
	pthread_mutex_lock(&h->lock);
	while (h->committing || h->waiting > 0) {
		if (now_ms() >= give_up ||
		    (wait_until(h, give_up) == ETIMEDOUT &&
		    (h->committing || h->waiting > 0))) {
			pthread_mutex_unlock(&h->lock);
			free(x);
			errno = ETIMEDOUT;
			return NULL;
		}
	}
	x->expires_ms = now_ms() + (uint64_t)want * 1000;
	x->next = h->list;
	h->list = x;
	pthread_mutex_unlock(&h->lock);
	*granted = want;
	return x;
}

int
hold_end(struct holds *h, struct hold *x)
{
	struct hold **pp;
	int held;

	pthread_mutex_lock(&h->lock);
	for (pp = &h->list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	held = !x->broken;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	free(x);
	return held;
}

/* The latest expiry of the holds a commit must still wait for, 0 for none. */
static uint64_t
live_until(const struct holds *h, uint64_t now)
{
	uint64_t until = 0;

	for (const struct hold *x = h->list; x != NULL; x = x->next)
		if (!x->broken && x->expires_ms > now && x->expires_ms > until)
			until = x->expires_ms;
	return until;
}

uint64_t
holds_commit_begin(struct holds *h)
{
	uint64_t t0 = now_ms(), until;

	pthread_mutex_lock(&h->lock);
	h->waiting++;
	/* Another commit first (the mount's session lock makes this rare). */
	while (h->committing)
		pthread_cond_wait(&h->cond, &h->lock);
	while ((until = live_until(h, now_ms())) != 0)
		wait_until(h, until);
	/* What is left has expired: its reader may have read a mix. */
	for (struct hold *x = h->list; x != NULL; x = x->next)
		x->broken = 1;
	h->waiting--;
	h->committing = 1;
	pthread_mutex_unlock(&h->lock);
	return now_ms() - t0;
}

void
holds_commit_end(struct holds *h)
{
	pthread_mutex_lock(&h->lock);
	h->committing = 0;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}
