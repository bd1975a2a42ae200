/* mirrord: the daemon; on a destination it accepts sessions (--listen via [listen], or --serve under ssh). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <netdb.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "log.h"
#include "net.h"
#include "proto.h"
#include "session.h"

#define EXIT_USAGE 2
#define SESSION_TIMEOUT_S 120	/* a silent client is given up ([listen] timeout) */
#define STOP_GRACE_S 2

static volatile sig_atomic_t stopping;

static const char usage_text[] =
"usage: mirrord -c CONF        run as configured (a [listen] section makes it\n"
"                              accept sessions on address = HOST:PORT)\n"
"       mirrord --serve STORE  one session on stdin/stdout (run by ssh for\n"
"                              mirrorctl sync SRC ssh://HOST/STORE)\n"
"       mirrord --help | --version\n"
"\n"
"Sessions to mirror://HOST[:PORT]/NAME are authenticated with the pre-shared\n"
"key of [listen] key = FILE (challenge-response; the key never crosses the\n"
"wire) before anything touches the store [store NAME] path = DIR. Each\n"
"session runs in its own process, as the store's user = when given.\n";

static void
on_stop(int sig)
{
	stopping = sig;
}

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

	if (pw == NULL) {
		log_errx("user '%s' does not exist", user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) == -1 ||
	    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1) {
		log_err("becoming user %s", user);
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
	struct conn c;
	char name[4096], msg[512];
	int rc = 1;

	if (conn_init(&c, fd, fd, peer) == -1) {
		close(fd);
		return 1;
	}
	c.timeout_ms = (cfg->timeout ? cfg->timeout : SESSION_TIMEOUT_S) * 1000;
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
		proto_send_error(&c, "the store's user is not available");
		conn_flush(&c);
		goto out;
	}
	log_info("%s: session into store %s (%s)", peer, name, sc->path);
	if (session_receive(&c, sc->path) == 0) {
		log_info("%s: session into store %s done", peer, name);
		rc = 0;
	}
out:
	conn_release(&c);
	return rc;
}

/* The session processes; only these are ever signalled. */
struct children {
	pid_t *pids;
	size_t n;
};

static void
reap(struct children *ch)
{
	pid_t pid;

	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
		for (size_t i = 0; i < ch->n; i++)
			if (ch->pids[i] == pid) {
				ch->pids[i] = ch->pids[--ch->n];
				break;
			}
}

static int
add_child(struct children *ch, pid_t pid)
{
	pid_t *v = realloc(ch->pids, (ch->n + 1) * sizeof(*v));

	if (v == NULL)
		return -1;
	ch->pids = v;
	ch->pids[ch->n++] = pid;
	return 0;
}

/* Accepts sessions until SIGTERM/SIGINT; each runs in a child process. */
static int
run_listener(const struct config *cfg)
{
	uint8_t key[NET_KEY_SIZE];
	struct sockaddr_storage sa;
	struct pollfd pfd;
	socklen_t salen;
	char peer[128];
	struct children ch = { NULL, 0 };
	int lfd, fd;
	pid_t pid;
	time_t deadline;

	if (key_load(cfg->key, key) == -1)
		return EXIT_USAGE;
	lfd = listen_on(cfg->address);
	if (lfd == -1)
		return EXIT_USAGE;
	log_info("listening on %s (%zu stores)", cfg->address, cfg->nstores);
	while (!stopping) {
		pfd.fd = lfd;
		pfd.events = POLLIN;
		reap(&ch);
		if (poll(&pfd, 1, 500) <= 0)
			continue;
		salen = sizeof(sa);
		fd = accept4(lfd, (struct sockaddr *)&sa, &salen, SOCK_CLOEXEC);
		if (fd == -1)
			continue;	/* EINTR, ECONNABORTED, EMFILE: keep going */
		peer_name(&sa, peer, sizeof(peer));
		pid = fork();
		if (pid == -1) {
			log_err("%s: fork", peer);
			close(fd);
			continue;
		}
		if (pid == 0) {
			close(lfd);
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			_exit(serve_client(cfg, key, fd, peer));
		}
		if (add_child(&ch, pid) == -1)
			log_err("%s: tracking its session", peer);
		close(fd);
	}
	close(lfd);
	/* A session cut short is rolled back by the journal: stop them. */
	for (size_t i = 0; i < ch.n; i++)
		kill(ch.pids[i], SIGTERM);
	deadline = time(NULL) + STOP_GRACE_S;
	while (ch.n > 0 && time(NULL) <= deadline) {
		reap(&ch);
		usleep(50000);
	}
	free(ch.pids);
	log_info("stopped (signal %d)", (int)stopping);
	return 0;
}

static int
run_serve(const char *store)
{
	struct conn c;
	char name[4096];
	int rc = 1;

	if (conn_init(&c, STDIN_FILENO, STDOUT_FILENO, "the ssh client") == -1)
		return 1;
	if (net_accept(&c, NULL, name, sizeof(name)) == 0 &&
	    session_receive(&c, store) == 0)
		rc = 0;
	conn_release(&c);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "serve", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	struct config cfg;
	struct sigaction sa;
	const char *conf = NULL, *serve = NULL;
	int ch, rc;

	log_init("mirrord", LOG_INFO);
	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt_long(argc, argv, "c:hVv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 'S': serve = optarg; break;
		case 'v': log_set_level(LOG_DEBUG); break;
		case 'h': fputs(usage_text, stdout); return 0;
		case 'V': printf("mirrord %s\n", MIRRORFS_VERSION); return 0;
		default: fputs(usage_text, stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc || (conf == NULL) == (serve == NULL)) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (serve != NULL)
		return run_serve(serve);
	if (config_load(&cfg, conf) == -1)
		return EXIT_USAGE;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (!cfg.listen) {
		log_errx("%s: nothing to do (no [listen] section)", conf);
		rc = EXIT_USAGE;
	} else
		rc = run_listener(&cfg);
	config_release(&cfg);
	return rc;
}
