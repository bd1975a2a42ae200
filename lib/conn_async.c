/* conn_async: the threads that seal and write, or read and open, a sealed conn's stream beside its owner. */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn_impl.h"
#include "log.h"
#include "seal.h"

/* 1 when fd is a socket to this machine (loopback). */
static int
peer_is_local(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &len) == -1)
		return 0;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >>
		    24) == 127;
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) &&
		    a->s6_addr[12] == 127);
	}
	return ss.ss_family == AF_UNIX;
}

int
conn_async_pays(const struct conn *c)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	return cpus >= (peer_is_local(c->rfd) ? 4 : 2);
}

/* Seals n bytes into sout and writes them under l. */
static int
write_sealed(struct conn *c, struct buf *sout, const void *p, size_t n,
    const struct conn_limits *l)
{
	struct iovec out;

	buf_reset(sout);
	if (seal_push(c->seal, p, n, sout) == -1)
		return -1;
	out.iov_base = sout->data;
	out.iov_len = sout->len;
	return conn_write_under(c, l, &out, 1);
}

/* The bytes on the wire of n bytes sealed: a header and a tag a record. */
static uint64_t
sealed_size(size_t n)
{
	size_t records = (n + SEAL_RECORD_MAX - 1) / SEAL_RECORD_MAX;

	return n + records * (SEAL_HEADER_SIZE + SEAL_TAG_SIZE);
}

/*
 * The writer thread of a sealed conn (conn_async_writes): the owner
 * copies what it sends into one of WRITER_SLOTS pieces and goes on while
 * the thread seals and writes them in order. Only the thread touches the
 * seal's sending half and sout; the owner, the rest of the conn.
 */
#define WRITER_SLOTS 4

struct writer_slot {
	uint8_t *data;		/* CONN_SEAL_PIECE bytes */
	size_t len;
	struct conn_limits lim;	/* as when queued: the owner may change c's */
};

struct conn_writer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t ready;	/* a slot was queued, or closing was set */
	pthread_cond_t space;	/* a slot was written, or the thread failed */
	struct writer_slot slot[WRITER_SLOTS];
	size_t head;		/* the oldest queued slot */
	size_t count;		/* slots queued */
	int closing;		/* write what is queued, then end */
	int failed;		/* a write failed: errnum and msg say why */
	int errnum;
	char msg[512];
	struct buf sout;
};

static void *
writer_main(void *arg)
{
	struct conn *c = arg;
	struct conn_writer *w = c->writer;
	struct writer_slot *sl;
	int rc;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->count == 0 && !w->closing)
			pthread_cond_wait(&w->ready, &w->lock);
		if (w->count == 0)
			break;
		sl = &w->slot[w->head];
		pthread_mutex_unlock(&w->lock);
		rc = write_sealed(c, &w->sout, sl->data, sl->len, &sl->lim);
		pthread_mutex_lock(&w->lock);
		if (rc == -1) {
			w->failed = 1;
			w->errnum = errno;
			snprintf(w->msg, sizeof(w->msg), "%s", log_last());
			pthread_cond_broadcast(&w->space);
			break;
		}
		w->head = (w->head + 1) % WRITER_SLOTS;
		w->count--;
		pthread_cond_broadcast(&w->space);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* After the writer failed: its reason becomes ours. Returns -1. */
static int
writer_failure(struct conn_writer *w)
{
	log_adopt(w->msg);
	errno = w->errnum;
	return -1;
}

/*
 * Copies the iovecs into slots and queues them, a slot as full as they
 * fill it; waits for a free slot (the thread's writes have deadlines).
 */
int
conn_writer_put(struct conn *c, const struct iovec *iov, int iovcnt)
{
	struct conn_writer *w = c->writer;
	struct writer_slot *sl = NULL;
	int rc = 0;

	for (int i = 0; i < iovcnt && rc == 0; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t left = iov[i].iov_len, k;

		while (left > 0) {
			if (sl == NULL) {
				pthread_mutex_lock(&w->lock);
				while (!w->failed && w->count == WRITER_SLOTS)
					pthread_cond_wait(&w->space, &w->lock);
				rc = w->failed ? -1 : 0;
				/* Free until counted: the thread leaves it be. */
				sl = &w->slot[(w->head + w->count) %
				    WRITER_SLOTS];
				pthread_mutex_unlock(&w->lock);
				if (rc == -1)
					break;
				sl->len = 0;
			}
			k = CONN_SEAL_PIECE - sl->len;
			if (k > left)
				k = left;
			memcpy(sl->data + sl->len, p, k);
			sl->len += k;
			p += k;
			left -= k;
			if (sl->len == CONN_SEAL_PIECE || (left == 0 &&
			    i == iovcnt - 1)) {
				sl->lim = conn_limits_of(c);
				c->bytes_out += sealed_size(sl->len);
				pthread_mutex_lock(&w->lock);
				w->count++;
				pthread_cond_signal(&w->ready);
				pthread_mutex_unlock(&w->lock);
				sl = NULL;
			}
		}
	}
	return rc == -1 ? writer_failure(w) : 0;
}

int
conn_async_writes(struct conn *c)
{
	struct conn_writer *w;
	int err;

	if (c->seal == NULL || c->writer != NULL) {
		errno = EINVAL;
		return -1;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -1;
	for (int i = 0; i < WRITER_SLOTS; i++)
		if ((w->slot[i].data = malloc(CONN_SEAL_PIECE)) == NULL)
			goto fail;
	buf_init(&w->sout);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->ready, NULL);
	pthread_cond_init(&w->space, NULL);
	c->writer = w;
	if ((err = pthread_create(&w->thread, NULL, writer_main, c)) != 0) {
		c->writer = NULL;
		pthread_cond_destroy(&w->space);
		pthread_cond_destroy(&w->ready);
		pthread_mutex_destroy(&w->lock);
		errno = err;
		goto fail;
	}
	return 0;
fail:
	for (int i = 0; i < WRITER_SLOTS; i++)
		free(w->slot[i].data);
	free(w);
	return -1;
}

/* Lets the thread write what is queued (as a flush would), then ends it. */
void
conn_writer_stop(struct conn *c)
{
	struct conn_writer *w = c->writer;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->closing = 1;
	pthread_cond_signal(&w->ready);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->space);
	pthread_cond_destroy(&w->ready);
	pthread_mutex_destroy(&w->lock);
	for (int i = 0; i < WRITER_SLOTS; i++)
		free(w->slot[i].data);
	buf_release(&w->sout);
	free(w);
	c->writer = NULL;
}

/*
 * The reader thread of a sealed conn (conn_async_reads): it reads and
 * opens records into READER_SLOTS pieces of plaintext ahead of the owner,
 * who takes them in order. Only the thread touches rfd and the seal's
 * receiving half; the owner waits for a piece under its frame deadline.
 */
#define READER_SLOTS 4

struct reader_slot {
	uint8_t *data;		/* CONN_SEAL_PIECE bytes */
	size_t len;
	uint64_t wire;		/* bytes read off the wire for it */
};

struct conn_reader {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t ready;	/* a slot was filled, or the stream ended */
	pthread_cond_t space;	/* a slot was taken */
	struct reader_slot slot[READER_SLOTS];
	size_t head;		/* the oldest filled slot */
	size_t count;		/* slots filled */
	size_t off;		/* of slot[head], bytes the owner took */
	int ended;		/* 0: the stream goes on; 1: it ended; -1: failed */
	int errnum;
	char msg[512];
	int stop;		/* conn_release: end now */
	int wake[2];		/* a pipe: its write end wakes a poll */
};

/* Reads more wire bytes into the seal; 0 at EOF, -1 failed, 1 read, 2 stop. */
static int
reader_read(struct conn *c, struct reader_slot *sl)
{
	struct conn_reader *r = c->reader;
	struct pollfd pfd[2] = { { .fd = c->rfd, .events = POLLIN },
	    { .fd = r->wake[0], .events = POLLIN } };
	uint8_t *space;
	size_t room;
	ssize_t n;

	for (;;) {
		space = seal_space(c->seal, &room);
		n = read(c->rfd, space, room);
		if (n > 0) {
			seal_received(c->seal, (size_t)n);
			sl->wire += (uint64_t)n;
			return 1;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			log_err("receiving from %s", c->peer);
			return -1;
		}
		/* The owner's frame deadline bounds its wait, not ours. */
		if (poll(pfd, 2, -1) == -1 && errno != EINTR) {
			log_err("waiting for %s", c->peer);
			return -1;
		}
		if (pfd[1].revents)
			return 2;
	}
}

/*
 * Fills sl with what opens at once, reading when nothing is buffered: a
 * piece goes to the owner as soon as it holds anything. 1 filled, 0 the
 * stream ended, -1 failed (logged), 2 told to stop.
 */
static int
reader_fill(struct conn *c, struct reader_slot *sl)
{
	ssize_t n;
	int r;

	sl->len = 0;
	sl->wire = 0;
	for (;;) {
		n = conn_pull_sealed(c, sl->data + sl->len,
		    CONN_SEAL_PIECE - sl->len);
		if (n == -1)
			return -1;
		sl->len += (size_t)n;
		if (sl->len == CONN_SEAL_PIECE || (n == 0 && sl->len > 0))
			return 1;
		if (n > 0)
			continue;
		if ((r = reader_read(c, sl)) != 1)
			return r == 0 && conn_sealed_end(c) == -1 ? -1 : r;
	}
}

static void *
reader_main(void *arg)
{
	struct conn *c = arg;
	struct conn_reader *r = c->reader;
	struct reader_slot *sl;
	int rc = 1;

	pthread_mutex_lock(&r->lock);
	while (rc == 1) {
		while (r->count == READER_SLOTS && !r->stop)
			pthread_cond_wait(&r->space, &r->lock);
		if (r->stop)
			break;
		/* Empty until counted: the owner never looks at it. */
		sl = &r->slot[(r->head + r->count) % READER_SLOTS];
		pthread_mutex_unlock(&r->lock);
		rc = reader_fill(c, sl);
		pthread_mutex_lock(&r->lock);
		if (rc == 1)
			r->count++;
		else if (rc != 2) {
			r->ended = rc == 0 ? 1 : -1;
			r->errnum = errno;
			snprintf(r->msg, sizeof(r->msg), "%s", log_last());
		}
		pthread_cond_broadcast(&r->ready);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/*
 * The owner's read with a reader thread: the next plaintext, waiting for
 * it until the frame's deadline. As conn_read.
 */
ssize_t
conn_reader_take(struct conn *c, uint8_t *dst, size_t cap)
{
	struct conn_reader *r = c->reader;
	struct conn_limits l = conn_limits_of(c);
	struct reader_slot *sl;
	struct timespec ts;
	size_t k;

	pthread_mutex_lock(&r->lock);
	while (r->count == 0 && r->ended == 0) {
		if (c->rdeadline == 0) {
			pthread_cond_wait(&r->ready, &r->lock);
			continue;
		}
		if (conn_now_ms() >= c->rdeadline) {
			pthread_mutex_unlock(&r->lock);
			return conn_timed_out(c, &l, c->rdeadline,
			    "did not send a whole frame");
		}
		/* ready waits on CLOCK_MONOTONIC, as the deadline counts. */
		ts.tv_sec = (time_t)(c->rdeadline / 1000);
		ts.tv_nsec = (long)(c->rdeadline % 1000) * 1000000;
		pthread_cond_timedwait(&r->ready, &r->lock, &ts);
	}
	if (r->count == 0) {
		/* The thread has ended: what it left is ours to read. */
		pthread_mutex_unlock(&r->lock);
		if (r->ended == 1)
			return 0;
		log_adopt(r->msg);
		errno = r->errnum;
		return -1;
	}
	sl = &r->slot[r->head];
	pthread_mutex_unlock(&r->lock);
	if (r->off == 0)
		c->bytes_in += sl->wire;
	k = sl->len - r->off < cap ? sl->len - r->off : cap;
	memcpy(dst, sl->data + r->off, k);
	r->off += k;
	if (r->off == sl->len) {
		r->off = 0;
		pthread_mutex_lock(&r->lock);
		r->head = (r->head + 1) % READER_SLOTS;
		r->count--;
		pthread_cond_signal(&r->space);
		pthread_mutex_unlock(&r->lock);
	}
	return (ssize_t)k;
}

/* 1 when conn_reader_take would not wait. */
int
conn_reader_buffered(struct conn_reader *r)
{
	int ready;

	pthread_mutex_lock(&r->lock);
	ready = r->count > 0 || r->ended != 0;
	pthread_mutex_unlock(&r->lock);
	return ready;
}

int
conn_async_reads(struct conn *c)
{
	struct conn_reader *r;
	pthread_condattr_t mono;
	int err, i;

	if (c->seal == NULL || c->reader != NULL || c->zd != NULL) {
		errno = EINVAL;
		return -1;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -1;
	r->wake[0] = r->wake[1] = -1;
	for (i = 0; i < READER_SLOTS; i++)
		if ((r->slot[i].data = malloc(CONN_SEAL_PIECE)) == NULL)
			goto fail;
	if (pipe2(r->wake, O_CLOEXEC) == -1)
		goto fail;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&mono);
	pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
	pthread_cond_init(&r->ready, &mono);
	pthread_condattr_destroy(&mono);
	pthread_cond_init(&r->space, NULL);
	c->reader = r;
	if ((err = pthread_create(&r->thread, NULL, reader_main, c)) == 0)
		return 0;
	c->reader = NULL;
	pthread_cond_destroy(&r->space);
	pthread_cond_destroy(&r->ready);
	pthread_mutex_destroy(&r->lock);
	errno = err;
fail:
	err = errno;
	if (r->wake[0] >= 0) {
		close(r->wake[0]);
		close(r->wake[1]);
	}
	for (i = 0; i < READER_SLOTS; i++)
		free(r->slot[i].data);
	free(r);
	errno = err;
	return -1;
}

/* Ends the reader thread, wherever it waits. */
void
conn_reader_stop(struct conn *c)
{
	struct conn_reader *r = c->reader;

	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = 1;
	pthread_cond_signal(&r->space);
	pthread_mutex_unlock(&r->lock);
	if (write(r->wake[1], "", 1) == -1)
		log_err("waking the reader of %s", c->peer);
	pthread_join(r->thread, NULL);
	close(r->wake[0]);
	close(r->wake[1]);
	pthread_cond_destroy(&r->space);
	pthread_cond_destroy(&r->ready);
	pthread_mutex_destroy(&r->lock);
	for (int i = 0; i < READER_SLOTS; i++)
		free(r->slot[i].data);
	free(r);
	c->reader = NULL;
}
