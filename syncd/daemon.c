/* daemon: mirrord's event loop: file sets on their schedules and watches, the listener, control. */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fsuid.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "fileset.h"
#include "listener.h"
#include "log.h"
#include "notify.h"
#include "promtext.h"
#include "proto.h"
#include "schedule.h"
#include "readhold.h"
#include "storewatch.h"
#include "forward.h"
#include "hops.h"
#include "watch.h"

#define EXIT_USAGE 2
#define STOP_GRACE_MS 2000
#define METRICS_EVERY 5		/* seconds between writes for changes alone */

struct daemon {
	struct config cfg;
	struct fileset **sets;
	size_t nsets;
	struct watcher *watcher;
	struct storewatch **stores;	/* per file set: its source store's commits, or NULL */
	struct listener *listener;
	int ctlfd;		/* the control socket */
	int sigfd;
	int wakefd;		/* eventfd: a session ended */
	int timerfd;		/* the next deadline of a file set */
	int reload;		/* SIGHUP seen; applied when no session runs */
	int metrics_dirty;	/* changes since the metrics were written */
	double metrics_at;	/* when they were */
};

/*
 * [daemon] metrics: the textfile, written whole. A session's end writes
 * it at once; changes alone (pending paths) at most every METRICS_EVERY
 * seconds, by the timer.
 */
static void
write_metrics(struct daemon *d)
{
	char *text;

	if (d->cfg.metrics == NULL)
		return;
	d->metrics_dirty = 0;
	d->metrics_at = schedule_now();
	text = fileset_metrics(d->sets, d->nsets);
	if (text == NULL) {
		log_errx("%s: out of memory", d->cfg.metrics);
		return;
	}
	promtext_write_file(d->cfg.metrics, text, strlen(text));
	free(text);
}

/* Tells systemd (Type=notify) how we are, when it asked to know. */
static void
notify(const char *state)
{
	notify_systemd(state);
}

/*
 * The control socket: mode 0600, or 0660 and group control_group when
 * one is configured (the socket's mode is the first fence; peer_allowed()
 * is the one that holds).
 */
static int
control_open(const char *path, const struct config *cfg)
{
	struct sockaddr_un sa;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_errx("control socket %s: path too long", path);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_err("socket");
		return -1;
	}
	unlink(path);	/* a socket left by a mirrord that ended */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    (cfg->control_group != NULL &&
	    chown(path, (uid_t)-1, cfg->control_gid) == -1) ||
	    chmod(path, cfg->control_group != NULL ? 0660 : 0600) == -1 ||
	    listen(fd, 8) == -1) {
		log_err("control socket %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

static const char *
control_path(const struct config *cfg)
{
	return cfg->control ? cfg->control : CONFIG_DEFAULT_CONTROL;
}

static struct fileset *
find_set(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->nsets; i++)
		if (strcmp(fileset_name(d->sets[i]), name) == 0)
			return d->sets[i];
	return NULL;
}

/* True when gid is the peer's group or one of its supplementary groups. */
static int
peer_in_group(int fd, gid_t pgid, gid_t gid)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (pgid == gid)
		return 1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == -1)
		return 0;	/* ERANGE: more than 256 groups; not one of them */
	for (size_t i = 0; i < len / sizeof(groups[0]); i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

/*
 * Who may use the control socket: root, mirrord's own user, and the
 * members of [daemon] control_group. Anyone else is refused and logged.
 */
static int
peer_allowed(const struct config *cfg, int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1) {
		log_err("control socket: who connected");
		return 0;
	}
	if (cr.uid == 0 || cr.uid == geteuid())
		return 1;
	if (cfg->control_group != NULL &&
	    peer_in_group(fd, cr.gid, cfg->control_gid))
		return 1;
	log_warnx("control socket: refused pid %ld (uid %lu): only root%s%s "
	    "may use it", (long)cr.pid, (unsigned long)cr.uid,
	    cfg->control_group ? " and members of group " : "",
	    cfg->control_group ? cfg->control_group : "");
	return 0;
}

/* sync-now: what it starts, logged; the reply for mirrorctl. */
static const char *
sync_now(struct fileset *fs, int full)
{
	const char *name = fileset_name(fs);

	switch (fileset_sync_now(fs, full)) {
	case FILESET_SYNC_NOTHING:
		log_info("%s: sync requested: nothing to send", name);
		return "nothing to send: every destination has every change "
		    "the watch saw (sync-now --full walks the whole tree)";
	case FILESET_SYNC_QUEUED:
		log_info("%s: sync requested%s: after the session in progress",
		    name, full ? " (full)" : "");
		return "sync queued: it starts when the session in progress ends";
	case FILESET_SYNC_STARTED:
		break;
	}
	log_info("%s: sync requested%s", name, full ? " (full)" : "");
	return full ? "sync started (the whole tree)" : "sync started";
}

/* One request on the control socket, answered at once. */
static void
control_serve(struct daemon *d)
{
	struct conn c;
	const uint8_t *p;
	struct fileset *fs = NULL;
	char err[128], *name = NULL, *text;
	size_t n;
	int fd, op;

	fd = accept4(d->ctlfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd == -1 || conn_init(&c, fd, fd, "mirrorctl") == -1) {
		if (fd != -1)
			close(fd);
		return;
	}
	c.timeout_ms = 2000;
	if (!peer_allowed(&d->cfg, fd)) {
		/* Its request is read, unused: a client that writes before
		   it reads then sees why, not a broken pipe. */
		proto_expect(&c, MSG_DAEMON, &p, &n);
		proto_send_error(&c, "refused: only root and the members of "
		    "[daemon] control_group may use mirrord's control socket");
		goto out;
	}
	if (proto_expect(&c, MSG_DAEMON, &p, &n) == -1 ||
	    proto_decode_daemon(p, n, &op, &name, err, sizeof(err)) == -1)
		goto out;
	if (op != DAEMON_STATUS && (fs = find_set(d, name)) == NULL) {
		snprintf(err, sizeof(err), "no file set '%.64s'", name);
		proto_send_error(&c, err);
		goto out;
	}
	switch (op) {
	case DAEMON_STATUS:
		text = strcmp(name, "json") == 0 ?
		    fileset_status_json(d->sets, d->nsets) :
		    fileset_status_text(d->sets, d->nsets);
		if (text == NULL) {
			proto_send_error(&c, "out of memory");
			goto out;
		}
		conn_send(&c, MSG_DAEMON_REPLY, text, strlen(text));
		free(text);
		break;
	case DAEMON_SUSPEND:
		fileset_suspend(fs, 1);
		log_info("%s: suspended", name);
		conn_send(&c, MSG_DAEMON_REPLY, "suspended", 9);
		break;
	case DAEMON_RESUME:
		fileset_suspend(fs, 0);
		log_info("%s: resumed", name);
		conn_send(&c, MSG_DAEMON_REPLY, "resumed", 7);
		break;
	case DAEMON_SYNC_NOW:
	case DAEMON_SYNC_FULL: {
		const char *reply = sync_now(fs, op == DAEMON_SYNC_FULL);

		conn_send(&c, MSG_DAEMON_REPLY, reply, strlen(reply));
		break;
	}
	}
out:
	conn_flush(&c);
	free(name);
	conn_release(&c);
}

static void
on_change(void *arg, int tree, const char *rel, unsigned flags)
{
	struct daemon *d = arg;

	if (tree >= 0 && (size_t)tree < d->nsets)
		fileset_changed(d->sets[tree], rel, flags);
}

struct held_watch {
	struct daemon *d;
	size_t set;
};

/* Watches one held-back file until its writer closes it. */
static void
watch_held(void *arg, const char *path)
{
	struct held_watch *hw = arg;
	struct daemon *d = hw->d;
	struct fileset *fs = d->sets[hw->set];

	if (watcher_add_file(d->watcher, (int)hw->set,
	    fileset_conf(fs)->source, path) == 1)
		fileset_changed(fs, path, WATCH_CLOSED);	/* closed already */
}

/*
 * A file set without a watch of its own still learns when a file held
 * back as open for write is closed: a one-shot watch on each such file.
 */
static void
watch_held_files(struct daemon *d, size_t i)
{
	struct held_watch hw = { d, i };

	if (d->watcher != NULL && !fileset_conf(d->sets[i])->watch)
		fileset_held_open(d->sets[i], watch_held, &hw);
}

/* Stops following the source stores of n file sets. */
static void
stop_stores(struct storewatch **stores, size_t n)
{
	for (size_t i = 0; stores != NULL && i < n; i++)
		storewatch_stop(stores[i]);
	free(stores);
}

/*
 * A watched source that is a store, or a mount of one, is followed
 * through its master's commits; else through inotify. 0, -1 when the
 * tree is not watched whole.
 */
static int
watch_source(struct daemon *d, size_t i)
{
	const struct fileset_conf *fc = fileset_conf(d->sets[i]);
	char store[PATH_MAX];
	int top;

	/* A forward's store may not be one yet: it is, once received into. */
	if (fc->forward_of != NULL)
		snprintf(store, sizeof(store), "%s", fc->source);
	if (fc->forward_of != NULL ||
	    readhold_find(fc->source, store, sizeof(store), &top) == 1) {
		fileset_store_source(d->sets[i]);
		d->stores[i] = storewatch_start(fc->name, store, d->wakefd);
		return d->stores[i] != NULL ? 0 : -1;
	}
	if (d->watcher == NULL)
		return -1;
	return watcher_add_tree(d->watcher, (int)i, fc->source);
}

/* What the masters of source stores told: commits owe sessions. */
static void
hear_stores(struct daemon *d)
{
	struct store_gen g;

	for (size_t i = 0; d->stores != NULL && i < d->nsets; i++) {
		if (d->stores[i] == NULL)
			continue;
		fileset_store_following(d->sets[i],
		    storewatch_connected(d->stores[i]));
		if (storewatch_take(d->stores[i], &g))
			fileset_store_told(d->sets[i], &g);
	}
}

static void
drop_sets(struct daemon *d)
{
	stop_stores(d->stores, d->nsets);
	d->stores = NULL;
	for (size_t i = 0; i < d->nsets; i++)
		fileset_free(d->sets[i]);
	free(d->sets);
	d->sets = NULL;
	d->nsets = 0;
	watcher_free(d->watcher);
	d->watcher = NULL;
}

/* Builds the file sets of d->cfg (keeping the state of old ones by name). */
static int
make_sets(struct daemon *d, struct fileset **old, size_t nold)
{
	d->sets = calloc(d->cfg.nfilesets + 1, sizeof(*d->sets));
	d->stores = calloc(d->cfg.nfilesets + 1, sizeof(*d->stores));
	if (d->sets == NULL || d->stores == NULL)
		return -1;
	d->watcher = watcher_new();
	for (size_t i = 0; i < d->cfg.nfilesets; i++) {
		const struct fileset_conf *fc = &d->cfg.filesets[i];
		struct fileset *prev = NULL;

		for (size_t k = 0; k < nold; k++)
			if (old[k] && strcmp(fileset_name(old[k]), fc->name) == 0)
				prev = old[k];
		d->sets[i] = fileset_new(fc, prev);
		if (d->sets[i] == NULL)
			return -1;
		d->nsets++;
		if (fc->watch && watch_source(d, i) == -1)
			fileset_changed(d->sets[i], NULL, WATCH_INCOMPLETE);
		watch_held_files(d, i);
	}
	return 0;
}

static int
any_running(struct daemon *d)
{
	for (size_t i = 0; i < d->nsets; i++)
		if (fileset_running(d->sets[i]))
			return 1;
	return 0;
}

/* Re-reads the configuration; a bad file leaves the running one in place. */
static void
reload(struct daemon *d, const char *conf)
{
	struct config fresh;
	struct fileset **old = d->sets;
	struct watcher *oldw = d->watcher;
	struct storewatch **olds = d->stores;
	size_t nold = d->nsets;

	d->reload = 0;
	notify("RELOADING=1");
	if (config_load(&fresh, conf) == -1) {
		log_errx("%s: kept the running configuration", conf);
		notify("READY=1");
		return;
	}
	struct config oldcfg = d->cfg;

	d->sets = NULL;
	d->nsets = 0;
	d->watcher = NULL;
	d->stores = NULL;
	d->cfg = fresh;
	/* The old watches first: they write to wakefd for the old sets. */
	stop_stores(olds, nold);
	/* The old file sets point into the old configuration: free it last. */
	if (make_sets(d, old, nold) == -1)
		log_errx("%s: out of memory building the file sets", conf);
	for (size_t i = 0; i < nold; i++)
		fileset_free(old[i]);
	free(old);
	watcher_free(oldw);
	config_release(&oldcfg);
	listener_close(d->listener);
	d->listener = d->cfg.listen ? listener_open(&d->cfg) : NULL;
	log_info("%s: configuration re-read (%zu file sets)", conf, d->nsets);
	write_metrics(d);
	notify("READY=1");
}

/* Whether another file set of fs's batch has a session running. */
static int
batch_busy(struct daemon *d, size_t i)
{
	const char *batch = fileset_conf(d->sets[i])->batch;

	for (size_t k = 0; batch != NULL && k < d->nsets; k++) {
		const char *b = fileset_conf(d->sets[k])->batch;

		if (k != i && b != NULL && strcmp(b, batch) == 0 &&
		    fileset_running(d->sets[k]))
			return 1;
	}
	return 0;
}

/* Starts the file sets that are due, one session at a time per batch. */
static void
start_due(struct daemon *d, time_t now)
{
	for (size_t i = 0; i < d->nsets; i++) {
		struct fileset *fs = d->sets[i];

		if (!fileset_running(fs) && !batch_busy(d, i) &&
		    fileset_due(fs, now))
			fileset_start(fs, now, d->wakefd);
	}
}

/*
 * Arms the timer for the earliest deadline of the file sets. One that is
 * due but waits for its batch is left out: the end of that batch's
 * session wakes the loop. The timer is absolute on CLOCK_REALTIME and
 * cancelled when the clock is set, so schedules in local time follow a
 * change of the clock.
 */
static void
arm_timer(struct daemon *d)
{
	struct itimerspec its;
	double now = schedule_now(), next = 0;

	for (size_t i = 0; i < d->nsets; i++) {
		struct fileset *fs = d->sets[i];
		double t = fileset_deadline(fs, (time_t)now);

		if (t <= 0 || (t <= now && batch_busy(d, i)))
			continue;
		if (next == 0 || t < next)
			next = t;
	}
	if (d->cfg.metrics != NULL && d->metrics_dirty &&
	    (next == 0 || d->metrics_at + METRICS_EVERY < next))
		next = d->metrics_at + METRICS_EVERY;
	memset(&its, 0, sizeof(its));
	if (next > 0) {
		/* A deadline already past fires at once (1 ns is long past). */
		if (next <= now)
			next = 1e-9;
		its.it_value.tv_sec = (time_t)next;
		its.it_value.tv_nsec = (long)((next - (double)its.it_value.tv_sec) *
		    1e9);
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1;
	}
	if (timerfd_settime(d->timerfd, TFD_TIMER_ABSTIME |
	    TFD_TIMER_CANCEL_ON_SET, &its, NULL) == -1)
		log_err("timerfd_settime");
}

/* Drains an eventfd or timerfd that woke us (a cancelled timer: ECANCELED). */
static void
drain(int fd)
{
	uint64_t n;

	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN &&
	    errno != ECANCELED)
		log_err("read");
}

/*
 * A listener's session committed into a store that forwards: its file
 * set owes its hops a session, unless the mount serving the store
 * announced that commit already (storewatch).
 */
static void
store_committed(void *arg, const char *store)
{
	struct daemon *d = arg;

	for (size_t i = 0; i < d->nsets; i++) {
		const struct fileset_conf *fc = fileset_conf(d->sets[i]);

		if (fc->forward_of == NULL || strcmp(fc->forward_of, store) != 0)
			continue;
		if (d->stores != NULL && d->stores[i] != NULL &&
		    storewatch_connected(d->stores[i]))
			continue;
		fileset_store_committed(d->sets[i]);
	}
}

/* A forward waits while a session into its store is relayed to its hops. */
static void
relays(struct daemon *d)
{
	for (size_t i = 0; i < d->nsets; i++) {
		const struct fileset_conf *fc = fileset_conf(d->sets[i]);

		if (fc->forward_of != NULL)
			fileset_relaying(d->sets[i], listener_relaying(d->listener,
			    fc->forward_of) > 0);
	}
}

/* Reads the signals that arrived; the stopping one in *stop. */
static void
read_signals(struct daemon *d, int *stop)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			d->reload = 1;
		else if (si.ssi_signo == SIGCHLD) {
			if (d->listener)
				listener_reap(d->listener, &d->cfg,
				    store_committed, d);
		} else
			*stop = (int)si.ssi_signo;
	}
}

/*
 * Collects the sessions that ended (into the session history); a held
 * file may need its watch. Returns how many ended.
 */
static int
reap_sets(struct daemon *d)
{
	char history[PATH_MAX];
	int n = 0;

	config_sessions_path(&d->cfg, history, sizeof(history));
	for (size_t i = 0; i < d->nsets; i++) {
		if (!fileset_running(d->sets[i]))
			continue;
		n += fileset_reap(d->sets[i], time(NULL), history);
		if (!fileset_running(d->sets[i]))
			watch_held_files(d, i);
	}
	return n;
}

/*
 * A connection to the listener: its session process is told what we
 * know of the hops below each store that forwards (its sender learns
 * them with its RESULT). A hop list that cannot be made is logged and
 * left out; the session goes on.
 */
static void
accept_session(struct daemon *d)
{
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; i < d->nsets; i++) {
		const struct fileset_conf *fc = fileset_conf(d->sets[i]);
		struct hops h;

		if (fc->forward_of == NULL)
			continue;
		hops_init(&h);
		if (fileset_hops(d->sets[i], &h) == -1 ||
		    forward_hops_put(&b, fc->forward_of, &h) == -1)
			log_err("%s: the state of its hops", fc->name);
		hops_release(&h);
	}
	listener_accept(d->listener, &d->cfg, &b);
	buf_release(&b);
}

/*
 * Sleeps until something happens: a signal, a control request, a
 * watched change, a connection, the end of a session (wakefd) or the
 * next deadline of a file set (timerfd). No fixed tick.
 */
static int
loop(struct daemon *d, const char *conf)
{
	enum { P_SIG, P_CTL, P_WATCH, P_LISTEN, P_TOLD, P_WAKE, P_TIMER, P_N };
	struct pollfd pfd[P_N];
	int stop = 0;

	while (!stop) {
		arm_timer(d);
		pfd[P_SIG].fd = d->sigfd;
		pfd[P_CTL].fd = d->ctlfd;
		pfd[P_WATCH].fd = d->watcher ? watcher_fd(d->watcher) : -1;
		pfd[P_LISTEN].fd = d->listener ? listener_fd(d->listener) : -1;
		pfd[P_TOLD].fd = d->listener ? listener_told_fd(d->listener) :
		    -1;
		pfd[P_WAKE].fd = d->wakefd;
		pfd[P_TIMER].fd = d->timerfd;
		for (int i = 0; i < P_N; i++)
			pfd[i].events = POLLIN;
		if (poll(pfd, P_N, -1) == -1 && errno != EINTR) {
			log_err("poll");
			return 1;
		}
		if (pfd[P_SIG].revents)
			read_signals(d, &stop);
		if (pfd[P_CTL].revents)
			control_serve(d);
		if (pfd[P_WATCH].revents) {
			watcher_read(d->watcher, on_change, d);
			d->metrics_dirty = 1;
		}
		if (pfd[P_LISTEN].revents)
			accept_session(d);
		if (pfd[P_TOLD].revents)
			listener_reap(d->listener, &d->cfg, store_committed, d);
		relays(d);
		if (pfd[P_WAKE].revents)
			drain(d->wakefd);
		hear_stores(d);
		if (pfd[P_TIMER].revents)
			drain(d->timerfd);
		/* Sessions that ended are collected whatever else is pending. */
		if (reap_sets(d) > 0)
			write_metrics(d);
		if (d->reload && !any_running(d))
			reload(d, conf);
		if (!stop && !d->reload)
			start_due(d, time(NULL));
		if (d->metrics_dirty &&
		    schedule_now() >= d->metrics_at + METRICS_EVERY)
			write_metrics(d);
	}
	log_info("stopping (signal %d)", stop);
	return 0;
}

/* Abandons the sessions in progress; waits for them a couple of seconds. */
static void
stop_sets(struct daemon *d)
{
	char history[PATH_MAX];

	config_sessions_path(&d->cfg, history, sizeof(history));
	for (int waited = 0; waited < STOP_GRACE_MS; waited += 50) {
		int running = 0;

		for (size_t i = 0; i < d->nsets; i++) {
			fileset_cancel(d->sets[i]);
			fileset_reap(d->sets[i], time(NULL), history);
			running |= fileset_running(d->sets[i]);
		}
		if (!running)
			return;
		usleep(50000);
	}
	log_warnx("a session did not end in time; its receivers roll it back");
}

int
daemon_run(const char *conf)
{
	struct daemon d;
	sigset_t mask;
	int rc = EXIT_USAGE;

	memset(&d, 0, sizeof(d));
	d.ctlfd = d.sigfd = d.wakefd = d.timerfd = -1;
	if (config_load(&d.cfg, conf) == -1)
		return EXIT_USAGE;
	if (d.cfg.nfilesets == 0 && !d.cfg.listen) {
		log_errx("%s: nothing to do (no [fileset NAME] and no [listen])",
		    conf);
		goto out;
	}
	/* Signals arrive on a descriptor; sessions' threads never see them. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);	/* a listener's session process ended */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	d.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	d.wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d.timerfd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d.sigfd == -1 || d.wakefd == -1 || d.timerfd == -1) {
		log_err("signalfd, eventfd, timerfd");
		goto out;
	}
	if (d.cfg.listen && (d.listener = listener_open(&d.cfg)) == NULL)
		goto out;
	if (d.cfg.nfilesets > 0 &&
	    (d.ctlfd = control_open(control_path(&d.cfg), &d.cfg)) == -1)
		goto out;
	if (make_sets(&d, NULL, 0) == -1) {
		log_errx("out of memory");
		goto out;
	}
	log_info("running %zu file sets%s", d.nsets, d.listener ?
	    ", and listening" : "");
	write_metrics(&d);

	notify("READY=1");
	rc = loop(&d, conf);
	notify("STOPPING=1");
	stop_sets(&d);
out:
	drop_sets(&d);
	listener_close(d.listener);
	if (d.ctlfd != -1) {
		close(d.ctlfd);
		unlink(control_path(&d.cfg));
	}
	if (d.sigfd != -1)
		close(d.sigfd);
	if (d.wakefd != -1)
		close(d.wakefd);
	if (d.timerfd != -1)
		close(d.timerfd);
	config_release(&d.cfg);
	return rc;
}
