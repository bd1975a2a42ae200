/* session: runs a sender and a receiver joined by a local socket pair. */
#include "session.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "control.h"
#include "proto.h"
#include "log.h"
#include "receiver.h"
#include "store.h"

#define SESSION_SOCKBUF (4 * 1024 * 1024)

struct receiver_thread {
	struct conn conn;
	const char *store;
	int rc;
};

static void *
receiver_main(void *arg)
{
	struct receiver_thread *t = arg;

	struct receiver_target target = {
		.path = t->store,
		.store_flags = STORE_CREATE,
	};

	t->rc = receiver_run(&t->conn, &target);
	/* Closing our end wakes a sender still waiting for us. */
	conn_release(&t->conn);
	return NULL;
}

int
session_local(const char *source, const char *store,
    const struct sender_opts *o, struct result *res)
{
	struct receiver_thread t;
	struct conn c;
	pthread_t tid;
	int sv[2], size = SESSION_SOCKBUF, rc;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_err("socketpair");
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
		setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	}
	memset(&t, 0, sizeof(t));
	t.store = store;
	if (conn_init(&t.conn, sv[1], sv[1], "sender") == -1) {
		log_err("receiver");
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (conn_init(&c, sv[0], sv[0], "receiver") == -1) {
		log_err("sender");
		conn_release(&t.conn);
		close(sv[0]);
		return -1;
	}
	if ((errno = pthread_create(&tid, NULL, receiver_main, &t)) != 0) {
		log_err("starting the receiver");
		conn_release(&t.conn);
		conn_release(&c);
		return -1;
	}
	rc = sender_run(&c, source, o, res);
	/* Closing our end ends a receiver still waiting for us. */
	shutdown(c.wfd, SHUT_RDWR);
	pthread_join(tid, NULL);
	conn_release(&c);
	return rc == 0 && t.rc == 0 ? 0 : -1;
}

int
session_sync(const char *source, const char *store,
    const struct sender_opts *o, struct result *res)
{
	struct conn c;
	int fd, rc;

	fd = control_connect(store);
	if (fd == -1) {
		if (errno == ENOENT || errno == ECONNREFUSED || errno == ENOTDIR)
			return session_local(source, store, o, res);
		return -1;
	}
	if (conn_init(&c, fd, fd, "the store's master (mirrorfs)") == -1) {
		log_err("control socket");
		close(fd);
		return -1;
	}
	log_debug("%s: committing through the mount that serves it", store);
	rc = -1;
	if (proto_send_ctl(&c, CTL_SESSION) == 0)
		rc = sender_run(&c, source, o, res);
	conn_release(&c);
	return rc;
}
