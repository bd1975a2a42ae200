/* conn: framed, buffered message I/O over a pair of file descriptors. */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zstd.h>

#include "conn_impl.h"
#include "log.h"
#include "seal.h"

#define CONN_WBUF_FLUSH (256 * 1024)
#define CONN_RBUF_SIZE (CONN_MAX_FRAME + 4 + 64 * 1024)
/* Payloads this large skip the copy into the write buffer. */
#define CONN_DIRECT_MIN (64 * 1024)
#define CONN_ZIN_SIZE (128 * 1024)
/* What ZSTD_decompressStream asks for between blocks: a block header. */
#define ZSTD_BLOCK_HEADER 3

int64_t
conn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct conn_limits
conn_limits_of(const struct conn *c)
{
	struct conn_limits l = { c->timeout_ms, c->until, c->until_s,
	    c->until_what };

	return l;
}

/* The deadline of an operation starting now, or 0 when there is none. */
static int64_t
deadline_under(const struct conn_limits *l)
{
	int64_t d = l->timeout_ms > 0 ? conn_now_ms() + l->timeout_ms : 0;

	return l->until && (d == 0 || l->until < d) ? l->until : d;
}

static int64_t
deadline_of(const struct conn *c)
{
	struct conn_limits l = conn_limits_of(c);

	return deadline_under(&l);
}

void
conn_until(struct conn *c, int seconds, const char *what)
{
	c->until = seconds > 0 ? conn_now_ms() + (int64_t)seconds * 1000 : 0;
	c->until_s = seconds;
	c->until_what = what;
}

/* A wait reached deadline: logs what the peer did not do. Returns -1. */
int
conn_timed_out(struct conn *c, const struct conn_limits *l,
    int64_t deadline, const char *what)
{
	/* The writer thread may time out as the owner does (conn_async.c). */
	__atomic_store_n(&c->gave_up, 1, __ATOMIC_RELAXED);
	errno = ETIMEDOUT;
	if (l->until && deadline == l->until)
		log_errx("%s did not %s within %d s", c->peer, l->until_what,
		    l->until_s);
	else
		log_errx("%s %s within %d s", c->peer, what,
		    l->timeout_ms / 1000);
	errno = ETIMEDOUT;
	return -1;
}

/*
 * Waits until fd is ready for events, up to deadline (0: no limit).
 * 0, or -1 with ETIMEDOUT (logged: what the peer did not do, naming it).
 */
static int
wait_under(struct conn *c, const struct conn_limits *l, int fd,
    short events, int64_t deadline, const char *what)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int64_t left;
	int r;

	for (;;) {
		left = deadline ? deadline - conn_now_ms() : -1;
		if (deadline && left <= 0)
			return conn_timed_out(c, l, deadline, what);
		r = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r > 0)
			return 0;
		if (r == -1 && errno != EINTR) {
			log_err("waiting for %s", c->peer);
			return -1;
		}
	}
}

static int
wait_ready(struct conn *c, int fd, short events, int64_t deadline,
    const char *what)
{
	struct conn_limits l = conn_limits_of(c);

	return wait_under(c, &l, fd, events, deadline, what);
}

static void
nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl != -1 && !(fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int
conn_socketpair(int sv[2], int bufsize)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_err("socketpair");
		return -1;
	}
	/* Advice: a smaller buffer only costs waits. */
	for (int i = 0; i < 2; i++) {
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &bufsize,
		    sizeof(bufsize));
		setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &bufsize,
		    sizeof(bufsize));
	}
	return 0;
}

int
conn_init(struct conn *c, int rfd, int wfd, const char *peer)
{
	memset(c, 0, sizeof(*c));
	c->rfd = rfd;
	c->wfd = wfd;
	buf_init(&c->wbuf);
	buf_init(&c->zout);
	buf_init(&c->sout);
	c->peer = strdup(peer);
	c->rbuf = malloc(CONN_RBUF_SIZE);
	if (c->peer == NULL || c->rbuf == NULL) {
		free(c->peer);
		free(c->rbuf);
		return -1;
	}
	nonblocking(rfd);
	nonblocking(wfd);
	return 0;
}

/*
 * Reaps the remote shell, which saw its input end: given CONN_REAP_MS to
 * exit, then killed, so a peer that stopped answering never holds us.
 * Once a wait of ours ran out (gave_up) the peer has had its time: the
 * shell is asked to end at once (ssh exits, and the remote end sees its
 * input end; a wrapper that forks its command instead of exec'ing it
 * leaves that command to end on its own).
 */
static void
reap_child(struct conn *c)
{
	int64_t until = conn_now_ms() + CONN_REAP_MS;
	pid_t r;

	if (__atomic_load_n(&c->gave_up, __ATOMIC_RELAXED)) {
		kill(c->child, SIGTERM);
		until = conn_now_ms() + CONN_REAP_GAVE_UP_MS;
	}
	while ((r = waitpid(c->child, NULL, WNOHANG)) == 0 && conn_now_ms() < until)
		usleep(20000);
	if (r == 0) {
		log_warnx("%s: its remote shell (pid %ld) did not end; killed",
		    c->peer ? c->peer : "a peer", (long)c->child);
		kill(c->child, SIGKILL);
		waitpid(c->child, NULL, 0);
	}
}

void
conn_release(struct conn *c)
{
	conn_writer_stop(c);
	conn_reader_stop(c);
	if (c->rfd >= 0)
		close(c->rfd);
	if (c->wfd >= 0 && c->wfd != c->rfd)
		close(c->wfd);
	c->rfd = c->wfd = -1;
	if (c->child > 0)
		reap_child(c);
	c->child = 0;
	/* A -1 holds the place of one the kernel dropped (conn_read_fd). */
	while (c->nfds > 0)
		if (c->fds[--c->nfds] >= 0)
			close(c->fds[c->nfds]);
	buf_release(&c->wbuf);
	buf_release(&c->zout);
	buf_release(&c->sout);
	seal_free(c->seal);
	c->seal = NULL;
	ZSTD_freeCCtx(c->zc);
	ZSTD_freeDCtx(c->zd);
	c->zc = NULL;
	c->zd = NULL;
	free(c->zin);
	free(c->rbuf);
	free(c->peer);
	c->zin = NULL;
	c->rbuf = NULL;
	c->peer = NULL;
}

int
conn_compress(struct conn *c, int level)
{
	size_t ahead = c->rend - c->rstart;

	c->zc = ZSTD_createCCtx();
	c->zd = ZSTD_createDCtx();
	c->zin_cap = ahead > CONN_ZIN_SIZE ? ahead : CONN_ZIN_SIZE;
	c->zin = malloc(c->zin_cap);
	if (c->zc == NULL || c->zd == NULL || c->zin == NULL ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(c->zc, ZSTD_c_compressionLevel,
	    level))) {
		errno = ENOMEM;
		return -1;
	}
	/* What was read past the last plain frame is already compressed. */
	c->zin_start = 0;
	c->zin_end = ahead;
	c->zin_hint = ZSTD_BLOCK_HEADER;
	memcpy(c->zin, c->rbuf + c->rstart, ahead);
	c->rstart = c->rend = 0;
	return 0;
}

int
conn_seal(struct conn *c, int cipher, const uint8_t *tx, const uint8_t *rx)
{
	/* What was read past the last plain frame is already sealed. */
	c->seal = seal_alloc((enum seal_cipher)cipher, tx, rx,
	    c->rbuf + c->rstart, c->rend - c->rstart);
	if (c->seal == NULL)
		return -1;
	c->rstart = c->rend = 0;
	return 0;
}

/* Writes the iovecs whole under l; -1 (logged) on an error or past l. */
int
conn_write_under(struct conn *c, const struct conn_limits *l,
    struct iovec *iov, int iovcnt)
{
	int64_t deadline = deadline_under(l);
	ssize_t n;

	while (iovcnt > 0) {
		n = writev(c->wfd, iov, iovcnt);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (wait_under(c, l, c->wfd, POLLOUT, deadline,
				    "took nothing we sent") == -1)
					return -1;
				continue;
			}
			log_err("sending to %s", c->peer);
			return -1;
		}
		while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static int
conn_write_raw(struct conn *c, struct iovec *iov, int iovcnt)
{
	struct conn_limits l = conn_limits_of(c);
	uint64_t total = 0;

	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (conn_write_under(c, &l, iov, iovcnt) == -1)
		return -1;
	c->bytes_out += total;
	return 0;
}


/*
 * Writes the iovecs whole: sealed into records first when sealing, a
 * piece at a time, so that what the kernel copies out is still in cache.
 */
static int
conn_writev_all(struct conn *c, struct iovec *iov, int iovcnt)
{
	struct iovec out;

	if (c->seal == NULL)
		return conn_write_raw(c, iov, iovcnt);
	if (c->writer != NULL)
		return conn_writer_put(c, iov, iovcnt);
	for (int i = 0; i < iovcnt; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t left = iov[i].iov_len, k;

		while (left > 0) {
			k = left < CONN_SEAL_PIECE ? left : CONN_SEAL_PIECE;
			buf_reset(&c->sout);
			if (seal_push(c->seal, p, k, &c->sout) == -1)
				return -1;
			out.iov_base = c->sout.data;
			out.iov_len = c->sout.len;
			if (conn_write_raw(c, &out, 1) == -1)
				return -1;
			p += k;
			left -= k;
		}
	}
	return 0;
}

/* Compresses all of wbuf into zout, ending on a flushed zstd block. */
static int
conn_deflate(struct conn *c)
{
	ZSTD_inBuffer in = { c->wbuf.data, c->wbuf.len, 0 };
	ZSTD_outBuffer out;
	size_t left;

	buf_reset(&c->zout);
	do {
		if (buf_reserve(&c->zout, ZSTD_CStreamOutSize()) == -1)
			return -1;
		out.dst = c->zout.data + c->zout.len;
		out.size = c->zout.cap - c->zout.len;
		out.pos = 0;
		left = ZSTD_compressStream2(c->zc, &out, &in, ZSTD_e_flush);
		if (ZSTD_isError(left)) {
			log_errx("compressing for %s: %s", c->peer,
			    ZSTD_getErrorName(left));
			return -1;
		}
		c->zout.len += out.pos;
	} while (left != 0 || in.pos < in.size);
	return 0;
}

int
conn_flush(struct conn *c)
{
	struct iovec iov = { c->wbuf.data, c->wbuf.len };

	if (c->wbuf.len == 0)
		return 0;
	if (c->zc != NULL) {
		if (conn_deflate(c) == -1)
			return -1;
		iov.iov_base = c->zout.data;
		iov.iov_len = c->zout.len;
	}
	buf_reset(&c->wbuf);
	return conn_writev_all(c, &iov, 1);
}

int
conn_send(struct conn *c, uint8_t type, const void *payload, size_t len)
{
	uint8_t hdr[5];
	uint32_t flen;
	struct iovec iov[2];

	if (len + 1 > CONN_MAX_FRAME) {
		errno = EMSGSIZE;
		log_err("frame of %zu bytes for %s", len + 1, c->peer);
		return -1;
	}
	flen = (uint32_t)len + 1;
	hdr[0] = flen >> 24;
	hdr[1] = flen >> 16;
	hdr[2] = flen >> 8;
	hdr[3] = flen;
	hdr[4] = type;
	if (len >= CONN_DIRECT_MIN && c->zc == NULL) {
		/* What is queued and the header go out with the payload. */
		if (buf_put(&c->wbuf, hdr, sizeof(hdr)) == -1) {
			log_err("queueing a frame for %s", c->peer);
			return -1;
		}
		iov[0].iov_base = c->wbuf.data;
		iov[0].iov_len = c->wbuf.len;
		iov[1].iov_base = (void *)payload;
		iov[1].iov_len = len;
		buf_reset(&c->wbuf);
		return conn_writev_all(c, iov, 2);
	}
	if (buf_put(&c->wbuf, hdr, sizeof(hdr)) == -1 ||
	    buf_put(&c->wbuf, payload, len) == -1) {
		log_err("queueing a frame for %s", c->peer);
		return -1;
	}
	if (c->wbuf.len >= CONN_WBUF_FLUSH)
		return conn_flush(c);
	return 0;
}

int
conn_send_fd(struct conn *c, uint8_t type, const void *payload, size_t len,
    int fd)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl;
	uint8_t hdr[5];
	uint32_t flen = (uint32_t)len + 1;
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)payload, len } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2,
	    .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
	struct cmsghdr *cm;
	int64_t deadline;
	ssize_t n;

	if (c->zc != NULL || c->seal != NULL || len + 1 > CONN_MAX_FRAME) {
		errno = EINVAL;
		log_err("a descriptor for %s", c->peer);
		return -1;
	}
	if (conn_flush(c) == -1)
		return -1;
	deadline = deadline_of(c);
	hdr[0] = flen >> 24;
	hdr[1] = flen >> 16;
	hdr[2] = flen >> 8;
	hdr[3] = flen;
	hdr[4] = type;
	memset(&ctl, 0, sizeof(ctl));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	for (;;) {
		n = sendmsg(c->wfd, &msg, MSG_NOSIGNAL);
		if (n >= 0 || (errno != EINTR && errno != EAGAIN))
			break;
		if (errno == EAGAIN && wait_ready(c, c->wfd, POLLOUT, deadline,
		    "took nothing we sent") == -1)
			return -1;
	}
	if (n == -1) {
		if (errno != ETOOMANYREFS)
			log_err("sending to %s", c->peer);
		return -1;
	}
	c->bytes_out += (uint64_t)n;
	/* The descriptor went with the first bytes; the rest follow plainly. */
	for (int i = 0; i < 2; i++) {
		size_t k = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;

		iov[i].iov_base = (char *)iov[i].iov_base + k;
		iov[i].iov_len -= k;
		n -= (ssize_t)k;
	}
	return conn_writev_all(c, iov[0].iov_len ? iov : iov + 1,
	    iov[0].iov_len ? 2 : 1);
}

void
conn_accept_fds(struct conn *c)
{
	c->accept_fds = 1;
}

int
conn_take_fd(struct conn *c)
{
	int fd;

	if (c->nfds == 0) {
		errno = ENOENT;
		return -1;
	}
	fd = c->fds[0];
	memmove(c->fds, c->fds + 1, (size_t)(c->nfds - 1) * sizeof(int));
	c->nfds--;
	if (fd == -1)
		errno = EMFILE;	/* it came, but the kernel had no slot for it */
	return fd;
}

/* Keeps the descriptors a message brought, closing those past the bound. */
static void
conn_keep_fds(struct conn *c, struct msghdr *msg)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm != NULL;
	    cm = CMSG_NXTHDR(msg, cm)) {
		size_t k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (c->nfds < CONN_MAX_FDS)
				c->fds[c->nfds++] = fd;
			else
				close(fd);
		}
	}
}

/* read(), or recvmsg() taking descriptors once conn_accept_fds was called. */
static ssize_t
conn_read_fd(struct conn *c, void *p, size_t n)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(CONN_MAX_FDS * sizeof(int))];
	} ctl;
	struct iovec iov = { p, n };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
	ssize_t r;
	int had;

	if (!c->accept_fds)
		return read(c->rfd, p, n);
	r = recvmsg(c->rfd, &msg, MSG_CMSG_CLOEXEC);
	if (r < 0)
		return r;
	had = c->nfds;
	conn_keep_fds(c, &msg);
	/*
	 * The kernel could not give us the descriptor that came (we are out
	 * of them): a -1 holds its place, so its frame is told why.
	 */
	if ((msg.msg_flags & MSG_CTRUNC) && c->nfds == had &&
	    c->nfds < CONN_MAX_FDS)
		c->fds[c->nfds++] = -1;
	return r;
}

/* Opens what is buffered into dst as seal_pull; -1 logged as tampering. */
ssize_t
conn_pull_sealed(struct conn *c, uint8_t *dst, size_t cap)
{
	char err[128];
	ssize_t n;

	n = seal_pull(c->seal, dst, cap, err, sizeof(err));
	if (n == -1)
		log_errx("%s: %s: the session's stream was tampered with on "
		    "the way (or is not from the peer that proved the key)",
		    c->peer, err);
	return n;
}

/* The end of a sealed stream: 0 between records, else -1 (logged). */
int
conn_sealed_end(const struct conn *c)
{
	if (!seal_partial(c->seal))
		return 0;
	log_errx("connection to %s closed in the middle of a sealed record",
	    c->peer);
	errno = EPROTO;
	return -1;
}


/*
 * Reads what arrives next into dst (at most cap bytes): opened records
 * when sealed. Returns the bytes read, 0 at the end of the stream, or -1
 * (logged, naming the peer).
 */
static ssize_t
conn_read(struct conn *c, uint8_t *dst, size_t cap)
{
	uint8_t *space = dst;
	size_t room = cap;
	ssize_t n;

	if (c->reader != NULL)
		return conn_reader_take(c, dst, cap);
	for (;;) {
		if (c->seal != NULL) {
			if ((n = conn_pull_sealed(c, dst, cap)) != 0)
				return n;
			space = seal_space(c->seal, &room);
		}
		do
			n = conn_read_fd(c, space, room);
		while (n == -1 && errno == EINTR);
		if (n == -1 && errno == EAGAIN) {
			if (wait_ready(c, c->rfd, POLLIN, c->rdeadline,
			    "did not send a whole frame") == -1)
				return -1;
			continue;
		}
		if (n == -1) {
			log_err("receiving from %s", c->peer);
			return -1;
		}
		c->bytes_in += (uint64_t)n;
		if (c->seal == NULL)
			return n;
		if (n == 0)
			return conn_sealed_end(c);
		seal_received(c->seal, (size_t)n);
	}
}

/* Decompresses into rbuf, reading compressed bytes as needed. */
static ssize_t
conn_inflate(struct conn *c)
{
	ZSTD_outBuffer out = { c->rbuf + c->rend, CONN_RBUF_SIZE - c->rend, 0 };
	ZSTD_inBuffer in;
	size_t r;
	ssize_t n;

	for (;;) {
		/*
		 * With rbuf filled, zstd may hold decoded bytes it had no room
		 * for, though it took all its input: they come before any read
		 * (the stream's last ones would wait for input that never comes).
		 */
		if (c->zin_start < c->zin_end || c->zin_more) {
			in.src = c->zin;
			in.size = c->zin_end;
			in.pos = c->zin_start;
			r = ZSTD_decompressStream(c->zd, &out, &in);
			c->zin_hint = r;
			if (ZSTD_isError(r)) {
				log_errx("%s sent a corrupt compressed stream: "
				    "%s", c->peer, ZSTD_getErrorName(r));
				errno = EPROTO;
				return -1;
			}
			c->zin_start = in.pos;
			c->zin_more = out.pos == out.size;
			if (out.pos > 0) {
				c->rend += out.pos;
				return (ssize_t)out.pos;
			}
		}
		n = conn_read(c, c->zin, c->zin_cap);
		if (n == -1)
			return -1;
		if (n == 0) {
			/* Between blocks zstd wants a block header next. */
			if (c->zin_hint != ZSTD_BLOCK_HEADER &&
			    c->zin_hint != 0) {
				log_errx("%s: the compressed stream was cut in "
				    "the middle of a block", c->peer);
				errno = EPROTO;
				return -1;
			}
			return 0;
		}
		c->zin_start = 0;
		c->zin_end = (size_t)n;
	}
}

/* Reads more bytes into rbuf; returns bytes read, 0 at EOF, -1 on error. */
static ssize_t
conn_fill(struct conn *c)
{
	ssize_t n;

	if (c->rstart > 0 && (c->rend == c->rstart ||
	    CONN_RBUF_SIZE - c->rend < CONN_MAX_FRAME + 4)) {
		memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
		c->rend -= c->rstart;
		c->rstart = 0;
	}
	if (c->zd != NULL)
		return conn_inflate(c);
	n = conn_read(c, c->rbuf + c->rend, CONN_RBUF_SIZE - c->rend);
	if (n > 0)
		c->rend += (size_t)n;
	return n;
}

int
conn_recv(struct conn *c, uint8_t *type, const uint8_t **payload,
    size_t *len)
{
	const uint8_t *p;
	uint32_t flen = 0;
	ssize_t n;

	c->rdeadline = deadline_of(c);
	for (;;) {
		size_t have = c->rend - c->rstart;

		p = c->rbuf + c->rstart;
		if (have >= 4) {
			flen = buf_load_u32(p);
			if (flen == 0 || flen > CONN_MAX_FRAME) {
				log_errx("%s sent a frame of %u bytes "
				    "(limit %d): corrupt stream", c->peer,
				    flen, CONN_MAX_FRAME);
				return -1;
			}
			if (have >= 4 + (size_t)flen)
				break;
		}
		n = conn_fill(c);
		if (n == -1)
			return -1;
		if (n == 0) {
			if (have == 0)
				return 0;
			log_errx("connection to %s closed in the middle of a "
			    "frame", c->peer);
			return -1;
		}
	}
	*type = p[4];
	*payload = p + 5;
	*len = flen - 1;
	c->rstart += 4 + (size_t)flen;
	return 1;
}

/* True when a whole frame, or compressed input, is already buffered. */
static int
conn_buffered(const struct conn *c)
{
	size_t have = c->rend - c->rstart;
	const uint8_t *p = c->rbuf + c->rstart;

	if (c->zd != NULL && (c->zin_start < c->zin_end || c->zin_more))
		return 1;
	if (c->reader != NULL)
		return conn_reader_buffered(c->reader);
	if (c->seal != NULL && seal_ready(c->seal))
		return 1;
	if (have < 4)
		return 0;
	return have >= 4 + buf_load_u32(p);
}

int
conn_readable(struct conn *c)
{
	struct pollfd pfd = { .fd = c->rfd, .events = POLLIN };

	if (conn_buffered(c))
		return 1;
	if (c->reader != NULL)
		return 0;	/* the thread reads rfd */
	return poll(&pfd, 1, 0) == 1;
}

/*
 * Forwards the frames buffered or arriving on from; 0 at EOF, 1 on, -1.
 * What passed before the end is delivered first.
 */
static int
relay_some(struct conn *from, struct conn *to, int from_a, conn_pass_fn *pass,
    void *arg)
{
	const uint8_t *p;
	uint8_t type;
	size_t n;
	int r;

	do {
		r = conn_recv(from, &type, &p, &n);
		if (r != 1)
			return conn_flush(to) == -1 ? -1 : r;
		if (pass(arg, from_a, to, type, p, n) == -1)
			return -1;
	} while (conn_buffered(from));
	return conn_flush(to) == -1 ? -1 : 1;
}

struct seen_pass {
	conn_seen_fn *seen;
	void *arg;
};

/* conn_relay's pass: b's frames shown to seen, every frame sent as it came. */
static int
pass_seen(void *arg, int from_a, struct conn *to, uint8_t type,
    const uint8_t *p, size_t n)
{
	struct seen_pass *sp = arg;

	if (!from_a && sp->seen != NULL)
		sp->seen(sp->arg, type, p, n);
	return conn_send(to, type, p, n);
}

int
conn_relay(struct conn *a, struct conn *b, conn_seen_fn *seen, void *arg)
{
	struct seen_pass sp = { seen, arg };

	return conn_relay_pass(a, b, pass_seen, &sp);
}

int
conn_relay_pass(struct conn *a, struct conn *b, conn_pass_fn *pass, void *arg)
{
	int quiet = a->timeout_ms > b->timeout_ms ? a->timeout_ms :
	    b->timeout_ms;
	struct pollfd pfd[2];
	int r;

	if (a->timeout_ms == 0 || b->timeout_ms == 0)
		quiet = -1;	/* one side waits as long as it must */
	for (;;) {
		pfd[0].fd = a->rfd;
		pfd[1].fd = b->rfd;
		pfd[0].events = pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		r = conn_buffered(a) || conn_buffered(b) ? 1 :
		    poll(pfd, 2, quiet);
		if (r == 0) {
			errno = ETIMEDOUT;
			log_errx("neither %s nor %s said anything within %d s",
			    a->peer, b->peer, quiet / 1000);
			return -1;
		}
		if (r == -1) {
			if (errno == EINTR)
				continue;
			log_err("relaying between %s and %s", a->peer, b->peer);
			return -1;
		}
		if (conn_buffered(a) || pfd[0].revents) {
			r = relay_some(a, b, 1, pass, arg);
			if (r != 1)
				return r;
		}
		if (conn_buffered(b) || pfd[1].revents) {
			r = relay_some(b, a, 0, pass, arg);
			if (r != 1)
				return r;
		}
	}
}
