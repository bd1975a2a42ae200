/* storewatch: the commits of a store that is a file set's source, told by its master (CTL_WATCH). */
#include "storewatch.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "conn.h"
#include "control.h"
#include "log.h"

/* How long the rest of a frame may take once its first byte came. */
#define STOREWATCH_FRAME_MS 10000

struct storewatch {
	char *name;
	char *store;
	int wakefd;		/* the event loop's */
	int stopfd;		/* eventfd: storewatch_stop asks the thread to end */
	pthread_t thread;
	pthread_mutex_t lock;
	struct store_gen latest;	/* protected by lock */
	int fresh;		/* latest not yet taken; protected by lock */
	int connected;		/* protected by lock */
};

/* Sleeps ms, or less when asked to stop: 1 when asked. */
static int
stop_asked(struct storewatch *w, int ms)
{
	struct pollfd pfd = { .fd = w->stopfd, .events = POLLIN };
	int r;

	while ((r = poll(&pfd, 1, ms)) == -1 && errno == EINTR)
		;
	return r > 0;
}

static void
set_connected(struct storewatch *w, int on)
{
	pthread_mutex_lock(&w->lock);
	w->connected = on;
	pthread_mutex_unlock(&w->lock);
}

static void
told(struct storewatch *w, const struct store_gen *g)
{
	uint64_t one = 1;

	pthread_mutex_lock(&w->lock);
	w->latest = *g;
	w->fresh = 1;
	pthread_mutex_unlock(&w->lock);
	if (write(w->wakefd, &one, sizeof(one)) == -1 && errno != EAGAIN)
		log_err("%s: waking the event loop", w->name);
}

/*
 * One connection to the master, until it ends: 1 when we were asked to
 * stop, 0 when the master went away (or never answered), after which we
 * try again. *heard: it told us something (the backoff starts over).
 */
static int
follow(struct storewatch *w, int fd, int *heard)
{
	struct pollfd pfd[2];
	struct store_gen g;
	const uint8_t *p;
	struct conn c;
	uint8_t type;
	size_t n;
	char err[128];
	int r = 0, rc = 0;

	if (conn_init(&c, fd, fd, "the store's master (mirrorfs)") == -1) {
		close(fd);
		return 0;
	}
	c.timeout_ms = STOREWATCH_FRAME_MS;
	if (proto_send_ctl(&c, CTL_WATCH, 0) == -1 || conn_flush(&c) == -1)
		goto out;
	for (;;) {
		pfd[0] = (struct pollfd){ .fd = fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = w->stopfd, .events = POLLIN };
		/*
		 * Commits may be days apart: both are events, no deadline.
		 * (A frame already read into c's buffer needs no poll.)
		 */
		while (c.rstart == c.rend &&
		    (r = poll(pfd, 2, -1)) == -1 && errno == EINTR)
			;
		if (c.rstart == c.rend && (r == -1 || pfd[1].revents)) {
			rc = 1;
			break;
		}
		if (conn_recv(&c, &type, &p, &n) != 1)
			break;
		if (type != MSG_GEN ||
		    proto_decode_gen(p, n, &g, err, sizeof(err)) == -1) {
			log_errx("%s: %s sent %s: %s", w->name, w->store,
			    proto_msg_name(type), type == MSG_GEN ? err :
			    "not a GEN");
			break;
		}
		if (!*heard)
			log_info("%s: following the commits of %s (generation "
			    "%llu)", w->name, w->store,
			    (unsigned long long)g.gen);
		*heard = 1;
		set_connected(w, 1);
		told(w, &g);
	}
out:
	set_connected(w, 0);
	conn_release(&c);
	return rc;
}

static void *
watch_main(void *arg)
{
	struct storewatch *w = arg;
	int backoff = 1, fd, heard, said = 0;

	for (;;) {
		heard = 0;
		fd = control_connect(w->store);
		if (fd >= 0 && follow(w, fd, &heard) == 1)
			break;
		if (heard) {
			backoff = 1;
			said = 0;
			log_warnx("%s: %s: its master went away; its commits "
			    "are followed again once a mount serves it",
			    w->name, w->store);
		} else if (!said) {
			said = 1;
			log_info("%s: %s: no mount serves it: its commits are "
			    "followed once one does", w->name, w->store);
		}
		if (stop_asked(w, backoff * 1000))
			break;
		if (backoff < STOREWATCH_BACKOFF_MAX_S)
			backoff = backoff * 2 > STOREWATCH_BACKOFF_MAX_S ?
			    STOREWATCH_BACKOFF_MAX_S : backoff * 2;
	}
	return NULL;
}

struct storewatch *
storewatch_start(const char *name, const char *store, int wakefd)
{
	struct storewatch *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		log_err("%s: following %s", name, store);
		return NULL;
	}
	w->name = strdup(name);
	w->store = strdup(store);
	w->wakefd = wakefd;
	w->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&w->lock, NULL);
	if (w->name == NULL || w->store == NULL || w->stopfd == -1) {
		log_err("%s: following %s", name, store);
		goto fail;
	}
	if ((errno = pthread_create(&w->thread, NULL, watch_main, w)) != 0) {
		log_err("%s: following %s: a thread", name, store);
		goto fail;
	}
	return w;
fail:
	if (w->stopfd != -1)
		close(w->stopfd);
	pthread_mutex_destroy(&w->lock);
	free(w->name);
	free(w->store);
	free(w);
	return NULL;
}

int
storewatch_take(struct storewatch *w, struct store_gen *g)
{
	int fresh;

	pthread_mutex_lock(&w->lock);
	fresh = w->fresh;
	if (fresh)
		*g = w->latest;
	w->fresh = 0;
	pthread_mutex_unlock(&w->lock);
	return fresh;
}

int
storewatch_connected(struct storewatch *w)
{
	int on;

	pthread_mutex_lock(&w->lock);
	on = w->connected;
	pthread_mutex_unlock(&w->lock);
	return on;
}

void
storewatch_stop(struct storewatch *w)
{
	uint64_t one = 1;

	if (w == NULL)
		return;
	if (write(w->stopfd, &one, sizeof(one)) == -1)
		log_err("%s: stopping the watch of %s", w->name, w->store);
	pthread_join(w->thread, NULL);
	close(w->stopfd);
	pthread_mutex_destroy(&w->lock);
	free(w->name);
	free(w->store);
	free(w);
}
