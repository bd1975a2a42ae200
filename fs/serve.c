/* serve: the master's control socket: sync sessions and queries from mirrorctl. */
#include "serve.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "control.h"
#include "log.h"
#include "owner.h"
#include "proto.h"
#include "receiver.h"

/* How long a client of the control socket may take to say what it wants. */
#define CLIENT_REQUEST_MS 10000
/* How long a hold waits for a commit in progress to end before it is refused. */
#define HOLD_WAIT_MS 60000
/*
 * How long, past its expiry, a hold's reader may take to say it is done
 * (and learn whether a commit went past it) before we stop listening.
 */
#define HOLD_LINGER_S 3600
/* How long a watcher may take to read the news of a commit. */
#define WATCH_SEND_MS 10000

struct client {
	struct server *sv;
	int fd;
	int asked;		/* its request came; protected by sv->lock */
	int lingers;		/* a hold or a watch: stopped, not waited for;
				   protected by sv->lock */
	int wakefd;		/* a watcher's eventfd, else -1; protected by sv->lock */
	struct client *next;
};

struct server {
	struct mount *m;
	int fd;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	int active;		/* connections being served; protected by lock */
	struct client *clients;	/* those connections; protected by lock */
	uint64_t epoch;		/* this master's life, in every GEN */
	int stopping;		/* server_stop began; protected by lock */
};

/* Forgets cl (before its fd is closed, so server_stop never touches a stale one). */
static void
client_gone(struct client *cl)
{
	struct server *sv = cl->sv;
	struct client **pp;

	pthread_mutex_lock(&sv->lock);
	for (pp = &sv->clients; *pp != NULL; pp = &(*pp)->next)
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	if (--sv->active == 0)
		pthread_cond_broadcast(&sv->idle);
	pthread_mutex_unlock(&sv->lock);
}

static void announce(struct server *sv);

/*
 * A session from a client (mirrorctl, or mirrord passing a peer's
 * session on): each of its frames must come within timeout_s (0: the
 * default), so a client gone silent never keeps the store's session
 * lock.
 */
static int
serve_session(struct server *sv, struct conn *c, uint32_t timeout_s)
{
	struct commit_observer owner;
	struct receiver_target t = {
		.path = sv->m->store_path,
		.st = &sv->m->st,
		.observer = &owner,
		.fdpass = 1,	/* control.sock: a local sender, or a relay */
	};
	uint64_t before;
	int rc;

	owner_init(&owner, sv->m);
	c->timeout_ms = (int)(timeout_s ? timeout_s : SESSION_TIMEOUT_S) * 1000;
	pthread_mutex_lock(&sv->m->session_lock);
	before = __atomic_load_n(&sv->m->commits, __ATOMIC_SEQ_CST);
	rc = receiver_run(c, &t);
	if (__atomic_load_n(&sv->m->commits, __ATOMIC_SEQ_CST) != before)
		announce(sv);
	pthread_mutex_unlock(&sv->m->session_lock);
	return rc;
}

/* The kept old versions that still exist, with their open counts here (copied). */
static struct renamed_info *
kept_now(struct mount *m, size_t *count)
{
	struct renamed_info *v;
	struct node *n;
	size_t i = 0, k = 0;

	pthread_mutex_lock(&m->nodes.lock);
	v = calloc(m->nkept + 1, sizeof(*v));
	while (v != NULL && i < m->nkept) {
		struct kept_info *ki = &m->kept[i];

		if (faccessat(m->renamedfd, ki->name, F_OK,
		    AT_SYMLINK_NOFOLLOW) == -1) {
			free(ki->path);	/* gone: its last holder let go */
			m->kept[i] = m->kept[--m->nkept];
			continue;
		}
		n = nodes_find(&m->nodes, ki->dev, ki->ino);
		v[k].name = strdup(ki->name);
		v[k].path = strdup(ki->path ? ki->path : "");
		v[k].opens = n != NULL ? n->nopen : 0;
		if (v[k].name == NULL || v[k].path == NULL) {
			free(v[k].name);
			free(v[k].path);
			break;
		}
		k++;
		i++;
	}
	pthread_mutex_unlock(&m->nodes.lock);
	*count = k;
	return v;
}

/*
 * Lists the kept old versions. The list is copied first: a slow client
 * must never hold nodes.lock, which every open and lookup takes.
 */
static int
serve_renamed(struct server *sv, struct conn *c)
{
	struct renamed_info *v;
	size_t n = 0;
	int rc = 0;

	v = kept_now(sv->m, &n);
	if (v == NULL) {
		log_err("%s: listing renamed/", sv->m->store_path);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			rc = proto_send_renamed(c, &v[i]);
		free(v[i].name);
		free(v[i].path);
	}
	free(v);
	if (rc == 0)
		rc = conn_send(c, MSG_DONE, NULL, 0);
	if (rc == 0)
		rc = conn_flush(c);
	return rc;
}

/* Takes over c as a slave's subscription; c is left empty. */
static int
serve_subscribe(struct server *sv, struct conn *c)
{
	struct mount *m = sv->m;
	struct slave *sl = calloc(1, sizeof(*sl));
	int rc;

	if (sl == NULL)
		return -1;
	sl->conn = *c;
	memset(c, 0, sizeof(*c));
	c->rfd = c->wfd = -1;
	sl->conn.timeout_ms = SLAVE_TIMEOUT_MS;
	/* No commit is in progress while we hold the session lock. */
	pthread_mutex_lock(&m->session_lock);
	rc = conn_send(&sl->conn, MSG_SUB_ACK, NULL, 0);
	if (rc == 0)
		rc = conn_flush(&sl->conn);
	if (rc == 0) {
		sl->next = m->slaves;
		m->slaves = sl;
		log_info("%s: a slave mount subscribed", m->store_path);
	}
	pthread_mutex_unlock(&m->session_lock);
	if (rc == -1) {
		conn_release(&sl->conn);
		free(sl);
	}
	return rc;
}

/* The store's generation as a GEN tells it. */
static struct store_gen
generation(struct server *sv)
{
	struct store_gen g = {
		.epoch = sv->epoch,
		.gen = __atomic_load_n(&sv->m->commits, __ATOMIC_SEQ_CST),
	};

	return g;
}

static void
set_lingers(struct client *cl, int wakefd)
{
	pthread_mutex_lock(&cl->sv->lock);
	cl->lingers = 1;
	cl->wakefd = wakefd;
	if (cl->sv->stopping)	/* too late for server_stop to see it */
		shutdown(cl->fd, SHUT_RDWR);
	pthread_mutex_unlock(&cl->sv->lock);
}

/*
 * A reader of the store as a source: no commit begins until it says it
 * has read everything (DONE), closes, or its hold expires (owner.c waits
 * in holds_commit_begin). It is told the generation it reads, then,
 * after DONE, whether a commit went past its expired hold.
 */
static int
serve_hold(struct server *sv, struct client *cl, struct conn *c,
    uint32_t want)
{
	struct store_gen g;
	struct hold *x;
	unsigned granted = 0;
	const uint8_t *p;
	size_t n;
	int got, held, rc = -1;

	set_lingers(cl, -1);
	x = hold_take(&sv->m->holds, want, HOLD_WAIT_MS, &granted);
	if (x == NULL) {
		log_err("%s: a hold for a reader", sv->m->store_path);
		proto_send_error(c, errno == ETIMEDOUT ? "the commit in "
		    "progress did not end in time for a hold" : "no memory "
		    "for a hold");
		conn_flush(c);
		return -1;
	}
	g = generation(sv);
	g.hold_s = granted;
	c->timeout_ms = WATCH_SEND_MS;
	if (proto_send_gen(c, &g) == -1 || conn_flush(c) == -1) {
		hold_end(&sv->m->holds, x);
		return -1;
	}
	log_debug("%s: a reader holds generation %llu for up to %u s",
	    sv->m->store_path, (unsigned long long)g.gen, granted);
	c->timeout_ms = (int)(granted + HOLD_LINGER_S) * 1000;
	got = proto_expect(c, MSG_DONE, &p, &n);
	held = hold_end(&sv->m->holds, x);
	if (got == MSG_DONE && n == 0) {
		g = generation(sv);
		g.broken = !held;
		c->timeout_ms = WATCH_SEND_MS;
		rc = proto_send_gen(c, &g) == 0 && conn_flush(c) == 0 ? 0 : -1;
	}
	if (!held)
		log_warnx("%s: a reader's hold expired (after %u s) and a "
		    "commit went ahead: that session is told to commit nothing",
		    sv->m->store_path, granted);
	return rc;
}

/*
 * A watcher (mirrord, for a file set whose source is this store): GEN
 * now, and after every commit the latest (several commits while it was
 * being told one come as one). It may send nothing: any byte from it is
 * a fault, and its close ends the watch.
 */
static int
serve_watch(struct server *sv, struct client *cl, struct conn *c)
{
	struct pollfd pfd[2];
	struct store_gen g;
	uint64_t v;
	char junk[64];
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), rc = -1;

	if (efd == -1) {
		log_err("%s: a watcher", sv->m->store_path);
		return -1;
	}
	set_lingers(cl, efd);
	c->timeout_ms = WATCH_SEND_MS;
	log_info("%s: a reader watches its commits", sv->m->store_path);
	for (;;) {
		g = generation(sv);
		if (proto_send_gen(c, &g) == -1 || conn_flush(c) == -1)
			break;
		pfd[0] = (struct pollfd){ .fd = cl->fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = efd, .events = POLLIN };
		/* Both are events (a commit, the peer's close, server_stop). */
		while (poll(pfd, 2, -1) == -1 && errno == EINTR)
			;
		if (pfd[0].revents) {
			if (recv(cl->fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
				log_warnx("%s: a watcher sent bytes: dropped",
				    sv->m->store_path);
			else
				rc = 0;	/* closed, or we stop */
			break;
		}
		if (read(efd, &v, sizeof(v)) == -1 && errno != EAGAIN)
			break;
	}
	set_lingers(cl, -1);
	close(efd);
	return rc;
}

/*
 * Tells every watcher that a commit changed the store (owner.c counted it
 * in m->commits). Never blocks: each watcher's own thread sends the news.
 */
static void
announce(struct server *sv)
{
	struct mount *m = sv->m;
	uint64_t one = 1;

	pthread_mutex_lock(&sv->lock);
	for (struct client *cl = sv->clients; cl != NULL; cl = cl->next)
		if (cl->wakefd != -1 &&
		    write(cl->wakefd, &one, sizeof(one)) == -1 &&
		    errno != EAGAIN)
			log_err("%s: telling a watcher", m->store_path);
	pthread_mutex_unlock(&sv->lock);
}

/*
 * Root and the owner of the store may drive it; the socket's mode is a
 * first fence, this is the one that holds when the mode is widened.
 */
static int
peer_allowed(struct server *sv, int fd)
{
	struct ucred cr;
	struct stat st;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1) {
		log_err("%s: control socket: who connected", sv->m->store_path);
		return 0;
	}
	if (cr.uid == 0)
		return 1;
	if (fstat(sv->m->st.rootfd, &st) == -1) {
		log_err("%s", sv->m->store_path);
		return 0;
	}
	if (cr.uid == st.st_uid)
		return 1;
	log_warnx("%s: control socket: refused pid %ld (uid %lu): only root "
	    "and the store's owner (uid %lu) may use it", sv->m->store_path,
	    (long)cr.pid, (unsigned long)cr.uid, (unsigned long)st.st_uid);
	return 0;
}

static void *
serve_client(void *arg)
{
	struct client *cl = arg;
	struct server *sv = cl->sv;
	const uint8_t *p;
	struct conn c;
	char err[128];
	uint8_t type;
	size_t n;
	uint32_t timeout_s;
	int op, got, allowed;

	if (conn_init(&c, cl->fd, cl->fd, "a client of the control socket") == -1) {
		client_gone(cl);
		close(cl->fd);
		free(cl);
		return NULL;
	}
	allowed = peer_allowed(sv, cl->fd);	/* a stranger is logged */
	c.timeout_ms = CLIENT_REQUEST_MS;
	got = conn_recv(&c, &type, &p, &n);
	c.timeout_ms = 0;
	pthread_mutex_lock(&sv->lock);
	cl->asked = 1;
	pthread_mutex_unlock(&sv->lock);
	/* Refused after its request is read: a client that writes before
	   it reads then sees why, not a broken pipe. */
	if (!allowed) {
		proto_send_error(&c, "refused: only root and the store's owner "
		    "may use its control socket");
		conn_flush(&c);
	} else if (got == 1 && type == MSG_CTL &&
	    proto_decode_ctl(p, n, &op, &timeout_s, err, sizeof(err)) == 0) {
		if (op == CTL_SESSION)
			serve_session(sv, &c, timeout_s);
		else if (op == CTL_RENAMED)
			serve_renamed(sv, &c);
		else if (op == CTL_SUBSCRIBE)
			serve_subscribe(sv, &c);
		else if (op == CTL_HOLD)
			serve_hold(sv, cl, &c, timeout_s);
		else if (op == CTL_WATCH)
			serve_watch(sv, cl, &c);
	} else if (got != 0) {
		/* (A client that only looks whether we serve sends nothing.) */
		log_warnx("%s: control socket: a client sent no valid request",
		    sv->m->store_path);
	}
	client_gone(cl);
	conn_release(&c);
	free(cl);
	return NULL;
}

static void *
serve_accept(void *arg)
{
	struct server *sv = arg;
	struct client *cl;
	pthread_t tid;
	int fd;

	for (;;) {
		fd = accept4(sv->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;	/* shut down by server_stop */
		}
		cl = calloc(1, sizeof(*cl));
		if (cl == NULL) {
			close(fd);
			continue;
		}
		cl->sv = sv;
		cl->fd = fd;
		cl->wakefd = -1;
		pthread_mutex_lock(&sv->lock);
		sv->active++;
		cl->next = sv->clients;
		sv->clients = cl;
		pthread_mutex_unlock(&sv->lock);
		if ((errno = pthread_create(&tid, NULL, serve_client, cl)) != 0) {
			log_err("control socket: starting a thread");
			client_gone(cl);
			close(fd);
			free(cl);
			continue;
		}
		pthread_detach(tid);
	}
	return NULL;
}

struct server *
server_start(struct mount *m)
{
	struct server *sv = calloc(1, sizeof(*sv));

	if (sv == NULL) {
		log_err("control socket");
		return NULL;
	}
	sv->m = m;
	/* A new life: a watcher that sees another epoch cannot compare counts. */
	if (getrandom(&sv->epoch, sizeof(sv->epoch), 0) != sizeof(sv->epoch))
		sv->epoch = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	pthread_mutex_init(&sv->lock, NULL);
	pthread_cond_init(&sv->idle, NULL);
	sv->fd = control_listen(m->st.metafd, m->st.path);
	if (sv->fd == -1)
		goto fail;
	if ((errno = pthread_create(&sv->thread, NULL, serve_accept, sv)) != 0) {
		log_err("control socket: starting its thread");
		close(sv->fd);
		goto fail;
	}
	return sv;
fail:
	pthread_mutex_destroy(&sv->lock);
	pthread_cond_destroy(&sv->idle);
	free(sv);
	return NULL;
}

void
server_stop(struct server *sv)
{
	if (sv == NULL)
		return;
	control_unlink(sv->m->st.metafd);
	shutdown(sv->fd, SHUT_RDWR);
	pthread_join(sv->thread, NULL);
	close(sv->fd);
	pthread_mutex_lock(&sv->lock);
	sv->stopping = 1;
	/* One that never said what it wants, a hold, a watch: not waited for. */
	for (struct client *cl = sv->clients; cl != NULL; cl = cl->next)
		if (!cl->asked || cl->lingers)
			shutdown(cl->fd, SHUT_RDWR);
	while (sv->active > 0)
		pthread_cond_wait(&sv->idle, &sv->lock);
	pthread_mutex_unlock(&sv->lock);
	pthread_mutex_destroy(&sv->lock);
	pthread_cond_destroy(&sv->idle);
	free(sv);
}

void
server_drop_slaves(struct mount *m)
{
	struct slave *sl, *next;

	pthread_mutex_lock(&m->session_lock);
	for (sl = m->slaves; sl != NULL; sl = next) {
		next = sl->next;
		conn_release(&sl->conn);
		free(sl);
	}
	m->slaves = NULL;
	pthread_mutex_unlock(&m->session_lock);
}
