/* conn: framed, buffered message I/O over a pair of file descriptors. */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"

#define CONN_WBUF_FLUSH (256 * 1024)
#define CONN_RBUF_SIZE (CONN_MAX_FRAME + 4 + 64 * 1024)
/* Payloads this large skip the copy into the write buffer. */
#define CONN_DIRECT_MIN (64 * 1024)

int
conn_init(struct conn *c, int rfd, int wfd, const char *peer)
{
	memset(c, 0, sizeof(*c));
	c->rfd = rfd;
	c->wfd = wfd;
	buf_init(&c->wbuf);
	c->peer = strdup(peer);
	c->rbuf = malloc(CONN_RBUF_SIZE);
	if (c->peer == NULL || c->rbuf == NULL) {
		free(c->peer);
		free(c->rbuf);
		return -1;
	}
	return 0;
}

void
conn_release(struct conn *c)
{
	if (c->rfd >= 0)
		close(c->rfd);
	if (c->wfd >= 0 && c->wfd != c->rfd)
		close(c->wfd);
	c->rfd = c->wfd = -1;
	buf_release(&c->wbuf);
	free(c->rbuf);
	free(c->peer);
	c->rbuf = NULL;
	c->peer = NULL;
}

static int
conn_writev_all(struct conn *c, struct iovec *iov, int iovcnt)
{
	ssize_t n;

	while (iovcnt > 0) {
		n = writev(c->wfd, iov, iovcnt);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_err("sending to %s", c->peer);
			return -1;
		}
		c->bytes_out += (uint64_t)n;
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

int
conn_flush(struct conn *c)
{
	struct iovec iov = { c->wbuf.data, c->wbuf.len };

	if (c->wbuf.len == 0)
		return 0;
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
	if (len >= CONN_DIRECT_MIN) {
		if (conn_flush(c) == -1)
			return -1;
		iov[0].iov_base = hdr;
		iov[0].iov_len = sizeof(hdr);
		iov[1].iov_base = (void *)payload;
		iov[1].iov_len = len;
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
	if (c->timeout_ms > 0) {
		struct pollfd pfd = { .fd = c->rfd, .events = POLLIN };
		int r;

		do
			r = poll(&pfd, 1, c->timeout_ms);
		while (r == -1 && errno == EINTR);
		if (r == 0) {
			errno = ETIMEDOUT;
			log_errx("%s did not answer within %d s", c->peer,
			    c->timeout_ms / 1000);
			return -1;
		}
	}
	do
		n = read(c->rfd, c->rbuf + c->rend, CONN_RBUF_SIZE - c->rend);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		log_err("receiving from %s", c->peer);
		return -1;
	}
	c->rend += (size_t)n;
	c->bytes_in += (uint64_t)n;
	return n;
}

int
conn_recv(struct conn *c, uint8_t *type, const uint8_t **payload,
    size_t *len)
{
	const uint8_t *p;
	uint32_t flen = 0;
	ssize_t n;

	for (;;) {
		size_t have = c->rend - c->rstart;

		p = c->rbuf + c->rstart;
		if (have >= 4) {
			flen = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
			    (uint32_t)p[2] << 8 | p[3];
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
