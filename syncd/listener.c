/* listener: mirrord's TCP listener: admission, a process per session (inbound.c), each reaped by its pid. */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "forward.h"
#include "inbound.h"
#include "log.h"
#include "net.h"
#include "proto.h"

#define STOP_GRACE_S 2
#define REFUSE_WRITE_MS 1000	/* a refused client's one frame */

/* Splits HOST:PORT ([v6]:PORT, *:PORT) and binds a listening socket. */
static int
listen_on(const char *address)
{
	struct addrinfo hints, *res, *ai;
	char host[256];
	const char *colon = strrchr(address, ':');
	int fd = -1, one = 1, r;

	snprintf(host, sizeof(host), "%.*s", (int)(colon - address), address);
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strcspn(host, "]")] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	r = getaddrinfo(strcmp(host, "*") == 0 || host[0] == '\0' ? NULL : host,
	    colon + 1, &hints, &res);
	if (r != 0) {
		log_errx("listen address %s: %s", address, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 64) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		log_err("listen address %s", address);
	return fd;
}

static void
peer_name(const struct sockaddr_storage *sa, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	}
	snprintf(out, len, "%s:%d", host, port);
}

/* The session processes; only these are ever signalled. */
struct children {
	pid_t *pids;
	size_t n;
};

/*
 * Collects the session processes that ended, each by its own pid: a
 * trigger or an ssh that a file set's session thread waits for is not
 * ours to reap.
 */
static void
children_reap(struct children *ch)
{
	for (size_t i = 0; i < ch->n;) {
		pid_t r = waitpid(ch->pids[i], NULL, WNOHANG);

		if (r == ch->pids[i] || (r == -1 && errno == ECHILD))
			ch->pids[i] = ch->pids[--ch->n];
		else
			i++;
	}
}

static int
children_add(struct children *ch, pid_t pid)
{
	pid_t *v = realloc(ch->pids, (ch->n + 1) * sizeof(*v));

	if (v == NULL)
		return -1;
	ch->pids = v;
	ch->pids[ch->n++] = pid;
	return 0;
}

struct listener {
	int fd;
	uint8_t key[NET_KEY_SIZE];
	struct children ch;
	int fwd[2];		/* forward.h: the session processes' commits */
	struct relaying {
		pid_t pid;
		char *store;
	} *rel;			/* session processes relaying into a store */
	size_t nrel;
	unsigned long refused;	/* beyond max_sessions, not yet logged */
	time_t refused_logged;	/* when that was last logged */
};

struct listener *
listener_open(const struct config *cfg)
{
	struct listener *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	if (forward_pipe(l->fwd) == -1) {
		free(l);
		return NULL;
	}
	if (key_load(cfg->key, l->key) == -1 ||
	    (l->fd = listen_on(cfg->address)) == -1) {
		close(l->fwd[0]);
		close(l->fwd[1]);
		free(l);
		return NULL;
	}
	log_info("listening on %s (%zu stores)", cfg->address, cfg->nstores);
	return l;
}

int
listener_fd(const struct listener *l)
{
	return l->fd;
}

/*
 * Beyond max_sessions: the client is told at once, in one frame it reads
 * as its handshake's answer, and the refusals are logged at most once a
 * second (a flood of them does not flood the log).
 */
static void
refuse(struct listener *l, const struct config *cfg, int fd,
    const char *peer)
{
	char msg[160];
	struct conn c;
	time_t now = time(NULL);

	l->refused++;
	if (now != l->refused_logged) {
		log_warnx("%s: refused: %zu sessions already, max_sessions = "
		    "%d in %s (%lu refused since the last such line)", peer, l->ch.n, cfg->max_sessions,
		    cfg->file, l->refused);
		l->refused = 0;
		l->refused_logged = now;
	}
	if (conn_init(&c, fd, fd, peer) == -1) {
		close(fd);
		return;
	}
	c.timeout_ms = REFUSE_WRITE_MS;
	snprintf(msg, sizeof(msg), "busy: %zu sessions already (its "
	    "[listen] max_sessions = %d); try again later", l->ch.n,
	    cfg->max_sessions);
	if (proto_send_error(&c, msg) == 0)
		conn_flush(&c);
	conn_release(&c);
}

void
listener_accept(struct listener *l, const struct config *cfg,
    const struct buf *hops)
{
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	char peer[128];
	pid_t pid;
	int fd;

	children_reap(&l->ch);
	fd = accept4(l->fd, (struct sockaddr *)&sa, &salen, SOCK_CLOEXEC);
	if (fd == -1)
		return;	/* EINTR, ECONNABORTED, EMFILE: keep going */
	peer_name(&sa, peer, sizeof(peer));
	if (l->ch.n >= (size_t)cfg->max_sessions) {
		refuse(l, cfg, fd, peer);
		return;
	}
	if (inbound_spawn(cfg, l->key, hops, fd, l->fwd[1], peer, &pid) == 0 &&
	    children_add(&l->ch, pid) == -1)
		log_err("%s: tracking its session", peer);
	close(fd);
}

int
listener_told_fd(const struct listener *l)
{
	return l->fwd[0];
}

/* Drops relay i (its process said it is done, or ended). */
static void
relay_drop(struct listener *l, size_t i)
{
	free(l->rel[i].store);
	l->rel[i] = l->rel[--l->nrel];
}

/* What listener_reap passes on, and keeps. */
struct heard {
	struct listener *l;
	void (*committed)(void *arg, const char *store);
	void *arg;
};

static void
heard(void *arg, const char *store, enum forward_word w, pid_t pid)
{
	struct heard *h = arg;
	struct listener *l = h->l;
	struct relaying *p;

	if (w == FORWARD_COMMITTED) {
		h->committed(h->arg, store);
		return;
	}
	for (size_t i = 0; i < l->nrel; i++)
		if (l->rel[i].pid == pid && strcmp(l->rel[i].store, store) == 0) {
			if (w == FORWARD_RELAY_END)
				relay_drop(l, i);
			return;
		}
	if (w != FORWARD_RELAY_BEGIN)
		return;
	p = realloc(l->rel, (l->nrel + 1) * sizeof(*l->rel));
	if (p == NULL || (p[l->nrel].store = strdup(store)) == NULL) {
		if (p != NULL)
			l->rel = p;
		log_err("store %s: keeping its relay", store);
		return;
	}
	l->rel = p;
	p[l->nrel++].pid = pid;
}

void
listener_reap(struct listener *l, const struct config *cfg,
    void (*committed)(void *arg, const char *store), void *arg)
{
	struct heard h = { l, committed, arg };

	/* Told first: a process that ended has written all it will. */
	forward_heard(l->fwd[0], cfg, heard, &h);
	children_reap(&l->ch);
	for (size_t i = 0; i < l->nrel;) {
		int alive = 0;

		for (size_t k = 0; k < l->ch.n && !alive; k++)
			alive = l->ch.pids[k] == l->rel[i].pid;
		if (alive)
			i++;
		else
			relay_drop(l, i);
	}
}

size_t
listener_relaying(const struct listener *l, const char *store)
{
	size_t n = 0;

	for (size_t i = 0; l != NULL && i < l->nrel; i++)
		n += strcmp(l->rel[i].store, store) == 0;
	return n;
}

void
listener_close(struct listener *l)
{
	time_t deadline;

	if (l == NULL)
		return;
	close(l->fd);
	/* A session cut short is rolled back by the journal: stop them. */
	for (size_t i = 0; i < l->ch.n; i++)
		kill(l->ch.pids[i], SIGTERM);
	deadline = time(NULL) + STOP_GRACE_S;
	while (l->ch.n > 0 && time(NULL) <= deadline) {
		children_reap(&l->ch);
		usleep(50000);
	}
	free(l->ch.pids);
	while (l->nrel > 0)
		relay_drop(l, 0);
	free(l->rel);
	close(l->fwd[0]);
	close(l->fwd[1]);
	free(l);
}
