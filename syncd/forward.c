/* forward: a store's forward = (relays): its session processes tell the daemon each commit to pass on. */
#include "forward.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"

int
forward_pipe(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_err("a pipe for the commits of forwarding stores");
		return -1;
	}
	return 0;
}

/* Writes one line to the daemon; what: for the message. 0, -1 logged. */
static int
tell(const struct store_conf *sc, const char *line, int n, const char *what)
{
	if (n < 0 || (size_t)n >= PIPE_BUF) {
		log_errx("store %s: its name is too long to tell the daemon",
		    sc->name);
		return -1;
	}
	/* A daemon that went away must not kill us with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	/* Less than PIPE_BUF: written whole or not at all. */
	if (write(FORWARD_FD, line, (size_t)n) != n) {
		log_err("store %s: telling mirrord %s", sc->name, what);
		return -1;
	}
	return 0;
}

void
forward_tell(const struct store_conf *sc, const struct result *r)
{
	char line[PIPE_BUF];

	if (sc->nforward == 0 || r->created + r->replaced + r->purged == 0)
		return;
	tell(sc, line, snprintf(line, sizeof(line), "C %s\n", sc->name),
	    "to forward this commit (its forward catches up at its next "
	    "session)");
}

void
forward_relaying(const struct store_conf *sc, int on)
{
	char line[PIPE_BUF];

	if (sc->nforward == 0)
		return;
	tell(sc, line, snprintf(line, sizeof(line), "%c %ld %s\n",
	    on ? 'B' : 'E', (long)getpid(), sc->name), on ?
	    "that a session is relayed" : "that the relay ended");
}

/* One line: a word about a store that forwards, else logged. */
static void
heard_line(const char *line, const struct config *cfg, forward_heard_fn *fn,
    void *arg)
{
	const struct store_conf *sc;
	enum forward_word w;
	const char *name = line + 2;
	long pid = 0;
	char *end;

	if (line[0] == 'C' && line[1] == ' ')
		w = FORWARD_COMMITTED;
	else if ((line[0] == 'B' || line[0] == 'E') && line[1] == ' ') {
		w = line[0] == 'B' ? FORWARD_RELAY_BEGIN : FORWARD_RELAY_END;
		errno = 0;
		pid = strtol(line + 2, &end, 10);
		if (errno != 0 || end == line + 2 || *end != ' ' || pid <= 0)
			goto bad;
		name = end + 1;
	} else
		goto bad;
	sc = config_store(cfg, name);
	if (sc == NULL || sc->nforward == 0) {
		log_warnx("a session process told of '%.100s', which is no "
		    "store that forwards", name);
		return;
	}
	fn(arg, name, w, (pid_t)pid);
	return;
bad:
	log_warnx("a session process told '%.100s', which is no word of "
	    "forward.h", line);
}

void
forward_heard(int rfd, const struct config *cfg, forward_heard_fn *fn,
    void *arg)
{
	char buf[PIPE_BUF + 1];
	size_t have = 0;
	ssize_t n;

	/* Each line was written whole (< PIPE_BUF); a read ends on one. */
	while ((n = read(rfd, buf + have, sizeof(buf) - 1 - have)) > 0) {
		char *p = buf, *nl;

		have += (size_t)n;
		buf[have] = '\0';
		while ((nl = memchr(p, '\n', have - (size_t)(p - buf))) != NULL) {
			*nl = '\0';
			heard_line(p, cfg, fn, arg);
			p = nl + 1;
		}
		have -= (size_t)(p - buf);
		memmove(buf, p, have);
		if (have == sizeof(buf) - 1) {
			log_warnx("a session process told a line too long: "
			    "dropped");
			have = 0;
		}
	}
	if (n == -1 && errno != EAGAIN && errno != EINTR)
		log_err("reading the commits of forwarding stores");
}

int
forward_hops_put(struct buf *b, const char *store, const struct hops *h)
{
	struct buf one;
	int r;

	buf_init(&one);
	r = hops_encode(h, &one) || buf_put_str(b, store) ||
	    buf_put_u32(b, (uint32_t)one.len) || buf_put(b, one.data, one.len);
	buf_release(&one);
	return r ? -1 : 0;
}

int
forward_hops_find(const uint8_t *p, size_t n, const char *store,
    struct hops *h)
{
	struct reader r;
	char err[256];

	reader_init(&r, p, n);
	while (r.left > 0 && !r.failed) {
		char *name = reader_str(&r, PATH_MAX);
		uint32_t len = reader_u32(&r);
		const uint8_t *payload = reader_bytes(&r, len);
		int mine = name != NULL && strcmp(name, store) == 0;

		free(name);
		if (payload == NULL)
			break;
		if (!mine)
			continue;
		if (hops_decode(payload, len, h, err, sizeof(err)) == -1) {
			log_errx("store %s: the hops mirrord passed: %s", store,
			    err);
			return -1;
		}
		return 0;
	}
	if (r.failed) {
		log_errx("store %s: the hops mirrord passed are malformed",
		    store);
		return -1;
	}
	return 0;
}
