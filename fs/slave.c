/* slave: a second mount of a store, following its master's commits. */
#include "slave.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "owner.h"
#include "proto.h"
#include "serve.h"
#include "store/master.h"

#define WAIT_ONESHOT_S 60	/* for a one-shot master (mirrorctl) to finish */
#define TAKEOVER_TRIES 30	/* x 100 ms, for a master ending cleanly */

struct subscription {
	struct mount *m;
	struct conn conn;
	pthread_t thread;
	int running;
	int stopping;
	int frozen;		/* BEGIN seen, END not yet */
	/* The paths of the commit in progress, to index and invalidate at its end. */
	char **paths;
	int *attrs;
	size_t npaths;
	/* Verdicts owed for the questions asked so far. */
	int *verdicts;
	const char **reasons;
	size_t nverdicts;
};

static void
sub_clear(struct subscription *sub)
{
	for (size_t i = 0; i < sub->npaths; i++)
		free(sub->paths[i]);
	free(sub->paths);
	free(sub->attrs);
	free(sub->verdicts);
	free(sub->reasons);
	sub->paths = NULL;
	sub->attrs = NULL;
	sub->verdicts = NULL;
	sub->reasons = NULL;
	sub->npaths = sub->nverdicts = 0;
}

static int
ack(struct subscription *sub)
{
	if (conn_send(&sub->conn, MSG_SUB_ACK, NULL, 0) == -1)
		return -1;
	return conn_flush(&sub->conn);
}

/* Records one path of the commit (path is taken over, freed on failure). -1 ENOMEM. */
static int
remember(struct subscription *sub, char *path, int attr)
{
	size_t n = sub->npaths + 1;
	void *v;

	if ((v = realloc(sub->paths, n * sizeof(*sub->paths))) != NULL)
		sub->paths = v;
	if (v != NULL && (v = realloc(sub->attrs, n * sizeof(*sub->attrs))))
		sub->attrs = v;
	if (v == NULL) {
		free(path);
		return -1;
	}
	sub->paths[sub->npaths] = path;
	sub->attrs[sub->npaths] = attr;
	sub->npaths++;
	return 0;
}

/* Owes the master this mount's verdict on replacing sp's inode. -1 ENOMEM. */
static int
judge(struct subscription *sub, const struct sub_path *sp)
{
	const char *why;
	int verdict;
	void *v;

	/* A directory's path too: its tree is judged (owner.h). */
	verdict = owner_verdict(sub->m, sp->kind == SUB_NAME ? sp->path : NULL,
	    (dev_t)sp->dev, (ino_t)sp->ino, 0, &why);
	if (!(v = realloc(sub->verdicts, (sub->nverdicts + 1) * sizeof(int))))
		return -1;
	sub->verdicts = v;
	if (!(v = realloc(sub->reasons, (sub->nverdicts + 1) * sizeof(char *))))
		return -1;
	sub->reasons = v;
	sub->verdicts[sub->nverdicts] = verdict;
	sub->reasons[sub->nverdicts++] = why;
	return 0;
}

static int
on_path(struct subscription *sub, const uint8_t *p, size_t n)
{
	struct sub_path sp;
	char err[128];

	if (proto_decode_sub_path(p, n, &sp, err, sizeof(err)) == -1) {
		log_errx("%s: %s", sub->conn.peer, err);
		return -1;
	}
	if (sp.ino != 0 && judge(sub, &sp) == -1) {
		free(sp.path);
		return -1;
	}
	return remember(sub, sp.path, sp.kind == SUB_ATTR);
}

static int
on_paths_end(struct subscription *sub)
{
	for (size_t i = 0; i < sub->nverdicts; i++)
		if (proto_send_sub_verdict(&sub->conn, sub->verdicts[i],
		    sub->reasons[i]) == -1)
			return -1;
	free(sub->verdicts);
	free(sub->reasons);
	sub->verdicts = NULL;
	sub->reasons = NULL;
	sub->nverdicts = 0;
	return ack(sub);
}

static int
on_kept(struct subscription *sub, const uint8_t *p, size_t n)
{
	struct mount *m = sub->m;
	uint64_t dev, ino;
	struct node *nd;
	char err[128], *name;

	if (proto_decode_sub_kept(p, n, &dev, &ino, &name, err,
	    sizeof(err)) == -1) {
		log_errx("%s: %s", sub->conn.peer, err);
		return -1;
	}
	pthread_mutex_lock(&m->nodes.lock);
	nd = nodes_find(&m->nodes, (dev_t)dev, (ino_t)ino);
	if (nd != NULL && nd->nopen > 0 &&
	    nd->renamed[0] == '\0')
		mount_hold_kept(m, nd, name, "");
	pthread_mutex_unlock(&m->nodes.lock);
	free(name);
	return 0;
}

/* Invalidates what the commit touched and lets opens through again. */
static void
thaw(struct subscription *sub)
{
	struct mount *m = sub->m;

	if (!sub->frozen)
		return;
	/* The index finds what was replaced; open ones are superseded. */
	view_changed(m, sub->npaths, (const char *const *)sub->paths,
	    sub->attrs);
	sub->frozen = 0;
	view_thaw(m);
	sub_clear(sub);
}

static int
follow_one(struct subscription *sub, uint8_t type, const uint8_t *p, size_t n)
{
	switch (type) {
	case MSG_SUB_BEGIN:
		view_freeze(sub->m);
		sub->frozen = 1;
		return ack(sub);
	case MSG_SUB_PATH:
		return on_path(sub, p, n);
	case MSG_SUB_PATHS_END:
		return on_paths_end(sub);
	case MSG_SUB_KEPT:
		return on_kept(sub, p, n);
	case MSG_SUB_END:
		thaw(sub);
		return ack(sub);
	}
	log_errx("%s sent %s", sub->conn.peer, proto_msg_name(type));
	return -1;
}

/* Records what recovery replayed, to invalidate it too. */
static void
replayed(struct subscription *sub, const struct journal *j)
{
	for (size_t i = 0; i < j->n; i++) {
		char *copy = strdup(j->v[i].path);

		if (copy == NULL || remember(sub, copy, j->v[i].op == JOP_ATTR) ==
		    -1)
			return;
	}
}

/* The master is gone: become the master, or stop serving. 0 when we took over. */
static int
take_over(struct subscription *sub)
{
	struct mount *m = sub->m;
	struct store st;
	struct journal redone;
	int was_frozen = sub->frozen;

	journal_init(&redone);
	for (int i = 0; i < TAKEOVER_TRIES; i++) {
		if (master_open(&st, m->store_path, MASTER_TRY, m->instance,
		    &redone) == 0)
			goto master;
		if (errno != EBUSY)
			break;
		usleep(100000);
	}
	return -1;
master:
	replayed(sub, &redone);
	journal_release(&redone);
	/* A commit cut short was finished or undone by recovery above. */
	if (!was_frozen) {
		view_freeze(m);
		sub->frozen = 1;
	}
	store_close(&m->st);
	m->st = st;
	m->master = 1;
	/* A saved index no longer follows the store: only ours does. */
	if (index_drop(m->st.metafd) == -1 || fsync(m->st.metafd) == -1)
		__atomic_store_n(&m->ix_suspect, 1, __ATOMIC_SEQ_CST);
	thaw(sub);
	m->server = server_start(m);
	log_warnx("%s: the master went away; this mount (%s) took over as "
	    "master", m->store_path, m->instance);
	return 0;
}

static void *
follow(void *arg)
{
	struct subscription *sub = arg;
	const uint8_t *p;
	uint8_t type;
	size_t n;

	for (;;) {
		if (conn_recv(&sub->conn, &type, &p, &n) != 1)
			break;
		if (follow_one(sub, type, p, n) == -1)
			break;
	}
	if (__atomic_load_n(&sub->stopping, __ATOMIC_SEQ_CST)) {
		if (sub->frozen)
			thaw(sub);
		return NULL;
	}
	if (take_over(sub) == 0)
		return NULL;
	log_errx("%s: lost the master of the store and cannot take over; "
	    "stopping this mount rather than serve stale data",
	    sub->m->store_path);
	__atomic_store_n(&sub->m->failed, 1, __ATOMIC_SEQ_CST);
	if (sub->frozen)
		thaw(sub);
	pthread_kill(sub->m->main_thread, SIGTERM);
	return NULL;
}

static int
subscribe_once(struct subscription *sub, int fd)
{
	const uint8_t *p;
	uint8_t type;
	size_t n;

	if (conn_init(&sub->conn, fd, fd, "the store's master") == -1) {
		close(fd);
		return -1;
	}
	sub->conn.timeout_ms = 10000;
	if (proto_send_ctl(&sub->conn, CTL_SUBSCRIBE, 0) == -1 ||
	    conn_flush(&sub->conn) == -1 ||
	    conn_recv(&sub->conn, &type, &p, &n) != 1 || type != MSG_SUB_ACK) {
		log_errx("%s: the master refused this mount", sub->m->store_path);
		conn_release(&sub->conn);
		return -1;
	}
	sub->conn.timeout_ms = 0;	/* commits may be far apart */
	return 0;
}

struct subscription *
slave_subscribe(struct mount *m)
{
	struct subscription *sub = calloc(1, sizeof(*sub));
	time_t until = time(NULL) + WAIT_ONESHOT_S;
	int fd, said = 0;

	if (sub == NULL)
		return NULL;
	sub->m = m;
	for (;;) {
		fd = control_connect(m->store_path);
		if (fd != -1) {
			if (subscribe_once(sub, fd) == 0)
				return sub;
			break;
		}
		if (errno != ENOENT && errno != ECONNREFUSED)
			break;
		/* A master without a socket is a one-shot sync: wait for it. */
		if (!said++)
			log_info("%s: waiting for its master to finish",
			    m->store_path);
		store_close(&m->st);
		if (master_open(&m->st, m->store_path, MASTER_TRY, m->instance,
		    NULL) == 0) {
			m->master = 1;
			break;
		}
		if (errno != EBUSY || time(NULL) > until) {
			if (errno == EBUSY)
				log_errx("%s: its master kept the store for "
				    "%d s without serving it", m->store_path,
				    WAIT_ONESHOT_S);
			break;
		}
		if (store_open_view(&m->st, m->store_path) == -1)
			break;
		usleep(200000);
	}
	free(sub);
	return NULL;
}

int
slave_start(struct subscription *sub)
{
	if ((errno = pthread_create(&sub->thread, NULL, follow, sub)) != 0) {
		log_err("starting the slave thread");
		return -1;
	}
	sub->running = 1;
	return 0;
}

void
slave_stop(struct subscription *sub)
{
	if (sub == NULL)
		return;
	if (sub->running) {
		__atomic_store_n(&sub->stopping, 1, __ATOMIC_SEQ_CST);
		shutdown(sub->conn.rfd, SHUT_RDWR);
		pthread_join(sub->thread, NULL);
	}
	conn_release(&sub->conn);
	sub_clear(sub);
	free(sub);
}
