/* mirrorfs: mounts a store read-only (or -o rw) with rename-while-open and whole-session commits. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"
#include "fsutil.h"
#include "log.h"
#include "mount.h"
#include "mountinfo.h"
#include "notify.h"
#include "path.h"
#include "serve.h"
#include "slave.h"
#include "store/master.h"

#define EXIT_USAGE 2

struct options {
	const char *store;
	const char *instance;
	int rw;
	int renameopen;
	int readdirplus;
	int create;
	double timeout;
	int hold_max;
};

static const struct fuse_opt option_spec[] = {
	{ "rw", offsetof(struct options, rw), 1 },
	{ "ro", offsetof(struct options, rw), 0 },
	{ "renameopen", offsetof(struct options, renameopen), 1 },
	{ "norenameopen", offsetof(struct options, renameopen), 0 },
	{ "--no-renameopen", offsetof(struct options, renameopen), 0 },
	{ "readdirplus", offsetof(struct options, readdirplus), RDPLUS_ALWAYS },
	{ "noreaddirplus", offsetof(struct options, readdirplus), RDPLUS_NEVER },
	{ "cache_timeout=%lf", offsetof(struct options, timeout), 0 },
	{ "instance=%s", offsetof(struct options, instance), 0 },
	{ "create", offsetof(struct options, create), 1 },
	{ "hold_max=%d", offsetof(struct options, hold_max), 0 },
	FUSE_OPT_END
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: mirrorfs [OPTIONS] STORE MOUNTPOINT\n"
"\n"
"Serves the mirrored tree of STORE at MOUNTPOINT. Files replaced by a sync\n"
"stay readable by the processes that have them open; a sync becomes visible\n"
"all at once. Read-only unless -o rw.\n"
"\n"
"  -f                   stay in the foreground\n"
"  -d                   debug output (implies -f)\n"
"  -s                   single-threaded\n"
"  -o rw                allow writes through the mount\n"
"  -o norenameopen, --no-renameopen\n"
"                       skip files open through the mount instead of\n"
"                       replacing them\n"
"  -o readdirplus       every listing carries its entries' attributes (for\n"
"                       ls -l, find -printf, du; default: while programs\n"
"                       stat what they list)\n"
"  -o noreaddirplus     never: each stat after a listing costs a lookup\n"
"  -o cache_timeout=S   seconds the kernel may cache names and attributes\n"
"                       (default 86400; every commit invalidates exactly\n"
"                       what it changed)\n"
"  -o suid, -o dev      honour setuid bits and file capabilities, device\n"
"                       nodes (as root; the default is nosuid,nodev)\n"
"  -o instance=NAME     this mount's name in STORE/.mirrorfs/SYNC (default\n"
"                       mirrorfs@HOST:MOUNTPOINT); the same instance may\n"
"                       regain a store at once after an abnormal end\n"
"  -o create            make STORE a store when it is not one yet (has no\n"
"                       .mirrorfs/); without it such a directory is refused\n"
"  -o hold_max=S        the longest a session reading STORE as its source\n"
"                       may keep commits waiting (default 30 seconds)\n"
"\n"
"The first process to take a store is its master (it writes .mirrorfs/SYNC\n"
"and serves .mirrorfs/control.sock); a second mount of the same store is a\n"
"slave that follows the master's commits, and takes over if the master\n"
"dies. A SYNC entry left on another host blocks the mount until\n"
"`mirrorctl clear-sync STORE`.\n"
"  -o allow_other, -o default_permissions (always on), and the other\n"
"  FUSE mount options\n"
"\n"
"In /etc/fstab:  STORE MOUNTPOINT fuse.mirrorfs ro,allow_other 0 0\n");
}

/* libfuse's own messages, written as ours are. */
static void
fuse_message(enum fuse_log_level level, const char *fmt, va_list ap)
{
	log_vmessage(level <= FUSE_LOG_ERR ? LOG_ERROR : level <=
	    FUSE_LOG_WARNING ? LOG_WARN : level <= FUSE_LOG_INFO ? LOG_INFO :
	    LOG_DEBUG, fmt, ap);
}

/* Takes STORE, the first non-option argument; MOUNTPOINT goes on to libfuse. */
static int
option_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct options *o = data;

	if (key == FUSE_OPT_KEY_NONOPT && o->store == NULL) {
		o->store = arg;
		return 0;
	}
	return 1;
}

static int
add_mount_options(struct fuse_args *args, const struct options *o,
    const char *store)
{
	char opt[PATH_MAX + 64];

	snprintf(opt, sizeof(opt), "-ofsname=%s,subtype=mirrorfs,"
	    "default_permissions%s", store, o->rw ? "" : ",ro");
	return fuse_opt_add_arg(args, opt);
}

static int
run(struct mount *m, struct fuse_cmdline_opts *cmd, struct fuse_args *args,
    struct subscription *sub)
{
	struct fuse_loop_config *cfg = NULL;
	int rc = 1;

	m->se = fuse_session_new(args, &mirrorfs_ops, sizeof(mirrorfs_ops), m);
	if (m->se == NULL)
		return 1;
	if (fuse_set_signal_handlers(m->se) != 0)
		goto out_destroy;
	if (fuse_session_mount(m->se, cmd->mountpoint) != 0)
		goto out_signals;
	fuse_daemonize(cmd->foreground);
	/* Detached, stderr is /dev/null: the messages go to syslog (journald). */
	if (!cmd->foreground) {
		log_set_style(LOG_STYLE_SYSLOG);
		log_set_level(m->log_level);
		log_info("%s: index of %ju names, %zu KiB (%s)", m->store_path,
		    (uintmax_t)m->ix.entries, index_memory(&m->ix) / 1024,
		    m->index_loaded ? "loaded" : "built from the tree");
	}
	/* Threads start after daemonizing: fork keeps only the caller. */
	m->main_thread = pthread_self();
	/* The lock passed to this process: SYNC must name it. */
	if (m->master && master_daemonized(&m->st) == -1)
		goto out_unmount;
	if (m->master) {
		fault_point("serve");	/* the tests' "mount still starting" */
		m->server = server_start(m);
		if (m->server == NULL)
			goto out_unmount;
	} else if (slave_start(sub) == -1)
		goto out_unmount;
	/* A Type=notify unit (mirrorfs@.service) is up once mounted. */
	notify_systemd("READY=1");
	if (cmd->singlethread)
		rc = fuse_session_loop(m->se);
	else {
		cfg = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(cfg, cmd->clone_fd);
		if (cmd->max_threads > 0 && cmd->max_threads <= 100000)
			fuse_loop_cfg_set_max_threads(cfg, cmd->max_threads);
		/* libfuse leaves UINT_MAX for "not given". */
		if (cmd->max_idle_threads <= 100000)
			fuse_loop_cfg_set_idle_threads(cfg, cmd->max_idle_threads);
		rc = fuse_session_loop_mt(m->se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	rc = rc == 0 && !m->failed ? 0 : 1;
	notify_systemd("STOPPING=1");
out_unmount:
	fuse_session_unmount(m->se);
out_signals:
	fuse_remove_signal_handlers(m->se);
out_destroy:
	fuse_session_destroy(m->se);
	m->se = NULL;
	return rc;
}

/*
 * Takes the store as its master, or, when a live master holds it, as a
 * slave subscribed to that master. *sub is set for a slave. -1 logged.
 */
static int
take_store(struct mount *m, int create, struct subscription **sub)
{
	*sub = NULL;
	if (master_open(&m->st, m->store_path, MASTER_TRY |
	    (create ? MASTER_CREATE : 0), m->instance, NULL) == 0) {
		m->master = 1;
		return 0;
	}
	if (errno == ENOENT)
		log_errx("%s: mount it with -o create to make it a store, or "
		    "sync into it first", m->store_path);
	if (errno != EBUSY)
		return -1;
	if (store_open_view(&m->st, m->store_path) == -1)
		return -1;
	*sub = slave_subscribe(m);
	if (*sub == NULL && !m->master)
		return -1;
	if (*sub != NULL)
		log_info("%s: mounted as a slave of its master", m->store_path);
	return 0;
}

static void
default_instance(char *out, size_t len, const char *mountpoint)
{
	char host[256], boot[64], mnt[PATH_MAX];

	sync_host(host, sizeof(host), boot, sizeof(boot));
	if (realpath(mountpoint, mnt) == NULL)
		snprintf(mnt, sizeof(mnt), "%s", mountpoint);
	snprintf(out, len, "mirrorfs@%.100s:%.380s", host, mnt);
}

int
main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct options o = { .renameopen = 1, .readdirplus = RDPLUS_AUTO,
	    .timeout = 86400, .hold_max = HOLD_MAX_DEFAULT_S };
	struct fuse_cmdline_opts cmd;
	struct subscription *sub = NULL;
	struct mount m;
	char store[PATH_MAX], other[PATH_MAX];
	int rc = EXIT_USAGE;

	log_init("mirrorfs", LOG_INFO);
	log_choose_style(LOG_STYLE_PLAIN);
	fuse_set_log_func(fuse_message);
	memset(&m, 0, sizeof(m));
	memset(&cmd, 0, sizeof(cmd));
	if (fuse_opt_parse(&args, &o, option_spec, option_proc) == -1 ||
	    fuse_parse_cmdline(&args, &cmd) != 0)
		goto out;
	/* -d: libfuse's request trace comes through our log at debug level. */
	if (cmd.debug)
		log_set_level(LOG_DEBUG);
	if (cmd.show_help) {
		usage(stdout);
		rc = 0;
		goto out;
	}
	if (cmd.show_version) {
		printf("mirrorfs %s (libfuse %s)\n", MIRRORFS_VERSION,
		    fuse_pkgversion());
		rc = 0;
		goto out;
	}
	if (o.store == NULL || cmd.mountpoint == NULL) {
		log_errx("needs STORE and MOUNTPOINT");
		usage(stderr);
		goto out;
	}
	if (realpath(o.store, store) == NULL) {
		log_err("%s", o.store);
		goto out;
	}
	rc = 1;
	if (add_mount_options(&args, &o, store) == -1)
		goto out;
	m.store_path = store;
	m.rw = o.rw;
	m.renameopen = o.renameopen;
	m.readdirplus = o.readdirplus;
	m.timeout = o.timeout;
	if (o.hold_max < 1 || o.hold_max > 86400) {
		log_errx("-o hold_max=%d: seconds from 1 to 86400", o.hold_max);
		goto out;
	}
	holds_init(&m.holds, (unsigned)o.hold_max);
	m.renamedfd = -1;
	if (o.instance)
		snprintf(m.instance, sizeof(m.instance), "%s", o.instance);
	else
		default_instance(m.instance, sizeof(m.instance), cmd.mountpoint);
	pthread_rwlockattr_t wpref;

	/* A commit must not wait behind an endless stream of opens. */
	pthread_rwlockattr_init(&wpref);
	pthread_rwlockattr_setkind_np(&wpref,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&m.view, &wpref);
	pthread_rwlockattr_destroy(&wpref);
	pthread_rwlock_init(&m.ns, NULL);
	pthread_rwlock_init(&m.ixlock, NULL);
	pthread_mutex_init(&m.session_lock, NULL);
	/* A descriptor per open file (and per directory a walk is in). */
	log_debug("open-file limit %ld", raise_nofile());
	if (mountinfo_is_mirrorfs_point(cmd.mountpoint, other, sizeof(other))) {
		log_errx("%s: already a mirrorfs mount (of %s); unmount it "
		    "first", cmd.mountpoint, other);
		goto out;
	}
	nodes_init(&m.nodes);
	index_init(&m.ix);
	if (take_store(&m, o.create, &sub) == -1)
		goto out_nodes;
	m.renamedfd = openat(m.st.metafd, "renamed", O_PATH | O_DIRECTORY |
	    O_CLOEXEC);
	if (m.renamedfd == -1)
		log_err("%s/%s/renamed", store, PATH_META);
	else {
		/*
		 * Like mount(8), a mount that detaches says nothing on its
		 * terminal unless something is wrong: what went well is logged
		 * once detached.
		 */
		m.log_level = log_get_level();
		if (!cmd.foreground && m.log_level < LOG_DEBUG)
			log_set_level(LOG_WARN);
		if (mount_index_open(&m) == 0)
			rc = run(&m, &cmd, &args, sub);
		log_set_level(m.log_level);
	}
	/* Slaves see us go only once the lock is free, so one takes over. */
	server_stop(m.server);
	slave_stop(sub);
	/* No session runs now: what the index says is the store. */
	if (rc == 0)
		mount_index_save(&m);
	if (m.master)
		master_close(&m.st);
	else
		store_close(&m.st);
	server_drop_slaves(&m);
	if (m.renamedfd != -1)
		close(m.renamedfd);
out_nodes:
	index_release(&m.ix);
	nodes_release(&m.nodes);
	/* The old versions kept are on disk: only their list goes. */
	for (size_t i = 0; i < m.nkept; i++)
		free(m.kept[i].path);
	free(m.kept);
out:
	holds_release(&m.holds);	/* (all zeros, when never initialised) */
	free(cmd.mountpoint);
	fuse_opt_free_args(&args);
	return rc;
}
