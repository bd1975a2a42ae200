/* listener: mirrord's TCP listener; each session runs in a child process. */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "net.h"
#include "proto.h"
#include "session.h"
#include "trigger.h"

#define SESSION_TIMEOUT_S 120	/* a silent client is given up ([listen] timeout) */
#define STOP_GRACE_S 2

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

/* Takes on the identity of the store's user before touching the store. */
static int
become(const char *user)
{
	struct passwd *pw = getpwnam(user);
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (pw == NULL) {
		log_errx("user '%s' does not exist", user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) == -1 ||
	    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1) {
		log_err("becoming user %s", user);
		return -1;
	}
	/* Read back: every id is the user's, and root is not to be had again. */
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    ru != pw->pw_uid || eu != pw->pw_uid || su != pw->pw_uid ||
	    rg != pw->pw_gid || eg != pw->pw_gid || sg != pw->pw_gid ||
	    (pw->pw_uid != 0 && setuid(0) != -1)) {
		log_errx("becoming user %s: the switch did not take (uid %lu, "
		    "gid %lu)", user, (unsigned long)geteuid(),
		    (unsigned long)getegid());
		return -1;
	}
	return 0;
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

/* One session, in its own process: authenticate, then receive. Exit status. */
static int
serve_client(const struct config *cfg, const uint8_t *key, int fd,
    const char *peer)
{
	const struct store_conf *sc;
	struct result counts;
	struct conn c;
	char name[4096], msg[512];
	int rc = 1;

	if (conn_init(&c, fd, fd, peer) == -1) {
		close(fd);
		return 1;
	}
	c.timeout_ms = (cfg->timeout ? cfg->timeout : SESSION_TIMEOUT_S) * 1000;
	net_tcp_liveness(fd, c.timeout_ms / 1000);
	if (net_accept(&c, key, name, sizeof(name)) == -1)
		goto out;
	sc = config_store(cfg, name);
	if (sc == NULL) {
		log_errx("%s: refused: no store '%s' in %s", peer, name,
		    cfg->file);
		snprintf(msg, sizeof(msg), "no store '%.200s' here", name);
		proto_send_error(&c, msg);
		conn_flush(&c);
		goto out;
	}
	if (sc->user != NULL && become(sc->user) == -1) {
		snprintf(msg, sizeof(msg), "the store's user is not available: "
		    "%.400s", log_last());
		proto_send_error(&c, msg);
		conn_flush(&c);
		goto out;
	}
	log_info("%s: session into store %s (%s)", peer, name, sc->path);
	result_init(&counts);
	if (session_receive(&c, sc->path, &counts) == 0) {
		char text[RESULT_COUNTS_LEN];

		result_counts(&counts, text, sizeof(text));
		log_info("%s: session into store %s done: %s", peer, name, text);
		/* The destination's own trigger, with what was done. */
		trigger_run(sc->trigger, "STORE", name, sc->path, &counts);
		rc = 0;
	} else
		log_errx("%s: session into store %s failed: nothing was "
		    "committed", peer, name);
out:
	conn_release(&c);
	return rc;
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
};

struct listener *
listener_open(const struct config *cfg)
{
	struct listener *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	if (key_load(cfg->key, l->key) == -1 ||
	    (l->fd = listen_on(cfg->address)) == -1) {
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

void
listener_accept(struct listener *l, const struct config *cfg)
{
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	char peer[128];
	sigset_t none;
	pid_t pid;
	int fd;

	children_reap(&l->ch);
	fd = accept4(l->fd, (struct sockaddr *)&sa, &salen, SOCK_CLOEXEC);
	if (fd == -1)
		return;	/* EINTR, ECONNABORTED, EMFILE: keep going */
	peer_name(&sa, peer, sizeof(peer));
	pid = fork();
	if (pid == -1) {
		log_err("%s: fork", peer);
		close(fd);
		return;
	}
	if (pid == 0) {
		close(l->fd);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		_exit(serve_client(cfg, l->key, fd, peer));
	}
	if (children_add(&l->ch, pid) == -1)
		log_err("%s: tracking its session", peer);
	close(fd);
}

void
listener_reap(struct listener *l)
{
	children_reap(&l->ch);
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
	free(l);
}
