/* copier: the files a local sender passed as descriptors, copied into staging/ by threads of their own, several at once. */
#include "copier.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "knob.h"
#include "log.h"

/* Threads a core by default: each copy waits on the disk about as long as it runs. */
#define COPIER_PER_CORE 2
#define COPIER_MAX_THREADS 16
/*
 * A thread's share of the open-file limit: its three descriptors are an
 * eighth of it at most, the rest left to the sender's files read ahead,
 * the descriptors in flight and the store's.
 */
#define COPIER_NOFILE_SHARE 24
/*
 * Copies a thread: one running and one queued behind it, so no thread
 * waits for the receiver between two, and few descriptors stay open.
 */
#define COPIER_SLOTS_PER_THREAD 2

enum slot_state { SLOT_FREE, SLOT_QUEUED, SLOT_RUNNING, SLOT_DONE };

struct slot {
	enum slot_state state;
	uint64_t seq;		/* the order copies were added in */
	int srcfd;
	const struct entry *e;
	char name[PLAN_STAGED_PATH];
	struct copy_result res;
};

struct copier {
	struct store *s;
	struct plan_opts o;
	pthread_mutex_t lock;
	pthread_cond_t work;	/* a slot was queued, or stop */
	pthread_cond_t ended;	/* a slot is done */
	int stop;
	int evfd;		/* counts results not yet taken, for poll */
	uint64_t next_seq;
	size_t pending;		/* slots not free */
	size_t nslots;
	struct slot *slots;
	size_t nthreads;
	pthread_t *threads;
};

unsigned
copier_threads(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	struct rlimit rl;
	unsigned long long n;

	if (knob_count("MIRRORFS_COPIERS", "threads", 0, COPIER_MAX_THREADS,
	    "two a core", &n))
		return (unsigned)n;
	n = cores > 0 ? (unsigned long)cores * COPIER_PER_CORE : 2;
	if (n > COPIER_MAX_THREADS)
		n = COPIER_MAX_THREADS;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / COPIER_NOFILE_SHARE < n)
		n = rl.rlim_cur / COPIER_NOFILE_SHARE;
	return (unsigned)n;
}

/* The oldest slot in state want, or NULL. Caller holds lock. */
static struct slot *
oldest(struct copier *cp, enum slot_state want)
{
	struct slot *best = NULL;

	for (size_t k = 0; k < cp->nslots; k++)
		if (cp->slots[k].state == want &&
		    (best == NULL || cp->slots[k].seq < best->seq))
			best = &cp->slots[k];
	return best;
}

static void
copy_one(struct copier *cp, struct slot *sl)
{
	struct copy_result *res = &sl->res;

	res->why[0] = '\0';
	res->end = stage_copy(cp->s, res->idx, sl->name, sl->srcfd, sl->e,
	    &cp->o, &res->attr, res->why, sizeof(res->why));
	close(sl->srcfd);
	sl->srcfd = -1;
}

static void *
copier_main(void *arg)
{
	struct copier *cp = arg;
	struct slot *sl = NULL;
	uint64_t one = 1;

	pthread_mutex_lock(&cp->lock);
	for (;;) {
		while (!cp->stop && (sl = oldest(cp, SLOT_QUEUED)) == NULL)
			pthread_cond_wait(&cp->work, &cp->lock);
		if (cp->stop)
			break;
		sl->state = SLOT_RUNNING;
		pthread_mutex_unlock(&cp->lock);
		copy_one(cp, sl);
		pthread_mutex_lock(&cp->lock);
		sl->state = SLOT_DONE;
		/* Cannot fail short of a counter at its maximum. */
		if (write(cp->evfd, &one, sizeof(one)) != sizeof(one))
			log_err("%s: the copier's eventfd", cp->s->path);
		pthread_cond_broadcast(&cp->ended);
	}
	pthread_mutex_unlock(&cp->lock);
	return NULL;
}

/* Stops and joins the threads started. */
static void
stop_threads(struct copier *cp)
{
	pthread_mutex_lock(&cp->lock);
	cp->stop = 1;
	pthread_cond_broadcast(&cp->work);
	pthread_mutex_unlock(&cp->lock);
	for (size_t k = 0; k < cp->nthreads; k++)
		pthread_join(cp->threads[k], NULL);
	cp->nthreads = 0;
}

struct copier *
copier_new(struct store *s, const struct plan_opts *o, unsigned threads)
{
	struct copier *cp = calloc(1, sizeof(*cp));

	if (cp == NULL) {
		log_err("%s: the copier", s->path);
		return NULL;
	}
	cp->s = s;
	cp->o = *o;
	cp->o.filter = NULL;	/* the copies read no filter: none to share */
	/* With default attributes these cannot fail (glibc). */
	pthread_mutex_init(&cp->lock, NULL);
	pthread_cond_init(&cp->work, NULL);
	pthread_cond_init(&cp->ended, NULL);
	cp->nslots = (size_t)threads * COPIER_SLOTS_PER_THREAD;
	cp->slots = calloc(cp->nslots, sizeof(*cp->slots));
	cp->threads = calloc(threads, sizeof(*cp->threads));
	cp->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (cp->slots == NULL || cp->threads == NULL || cp->evfd == -1) {
		log_err("%s: the copier", s->path);
		goto fail;
	}
	for (size_t k = 0; k < cp->nslots; k++)
		cp->slots[k].srcfd = -1;
	for (; cp->nthreads < threads; cp->nthreads++) {
		errno = pthread_create(&cp->threads[cp->nthreads], NULL,
		    copier_main, cp);
		if (errno != 0) {
			log_err("%s: a copier thread", s->path);
			goto fail;
		}
	}
	return cp;
fail:
	copier_free(cp);
	return NULL;
}

int
copier_full(const struct copier *cp)
{
	return cp->pending == cp->nslots;
}

size_t
copier_pending(const struct copier *cp)
{
	return cp->pending;
}

int
copier_fd(const struct copier *cp)
{
	return cp->evfd;
}

void
copier_add(struct copier *cp, size_t i, const char *name, int srcfd,
    const struct entry *e)
{
	struct slot *sl;

	pthread_mutex_lock(&cp->lock);
	sl = oldest(cp, SLOT_FREE);
	sl->state = SLOT_QUEUED;
	sl->seq = cp->next_seq++;
	sl->srcfd = srcfd;
	sl->e = e;
	snprintf(sl->name, sizeof(sl->name), "%s", name);
	memset(&sl->res, 0, sizeof(sl->res));
	sl->res.idx = i;
	cp->pending++;
	pthread_cond_signal(&cp->work);
	pthread_mutex_unlock(&cp->lock);
}

int
copier_take(struct copier *cp, struct copy_result *res, int wait)
{
	struct slot *sl;
	uint64_t count;

	pthread_mutex_lock(&cp->lock);
	while ((sl = oldest(cp, SLOT_DONE)) == NULL && wait && cp->pending > 0)
		pthread_cond_wait(&cp->ended, &cp->lock);
	if (sl != NULL) {
		*res = sl->res;
		sl->state = SLOT_FREE;
		sl->e = NULL;
		cp->pending--;
		/* Readable again only when another result waits. */
		if (oldest(cp, SLOT_DONE) == NULL &&
		    read(cp->evfd, &count, sizeof(count)) == -1 &&
		    errno != EAGAIN)
			log_err("%s: the copier's eventfd", cp->s->path);
	}
	pthread_mutex_unlock(&cp->lock);
	return sl != NULL;
}

void
copier_free(struct copier *cp)
{
	if (cp == NULL)
		return;
	stop_threads(cp);
	for (size_t k = 0; cp->slots != NULL && k < cp->nslots; k++) {
		struct slot *sl = &cp->slots[k];

		if (sl->srcfd != -1)
			close(sl->srcfd);
		if (sl->state == SLOT_DONE && sl->res.end == STAGE_DONE)
			unlinkat(cp->s->stagingfd, sl->name, 0);
	}
	if (cp->evfd != -1)
		close(cp->evfd);
	pthread_cond_destroy(&cp->ended);
	pthread_cond_destroy(&cp->work);
	pthread_mutex_destroy(&cp->lock);
	free(cp->threads);
	free(cp->slots);
	free(cp);
}
