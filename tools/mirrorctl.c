/* mirrorctl: the command line: one-time sync, dry-run report, recovery. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/un.h>

#include "bwlimit.h"
#include "clock.h"
#include "config.h"
#include "conn.h"
#include "control.h"
#include "filter.h"
#include "format.h"
#include "fsutil.h"
#include "path.h"
#include "log.h"
#include "net.h"
#include "proto.h"
#include "result.h"
#include "session.h"
#include "sessionlog.h"
#include "store/master.h"

#define EXIT_PARTIAL 1
#define EXIT_USAGE 2
#define EXIT_FATAL 3
#define EXIT_UNKNOWN 4	/* the link died after the commit began */

static const char usage_text[] =
"usage: mirrorctl [-v|-q] COMMAND [ARGS]\n"
"\n"
"commands:\n"
"  sync [OPTIONS] SOURCE STORE   make STORE identical to the directory SOURCE\n"
"  recover STORE                 finish or undo an interrupted session\n"
"  renamed STORE                 list old versions kept for open handles\n"
"  genkey FILE                   write a new random pre-shared key (mode 600)\n"
"  clear-sync STORE              remove the stale entry of a dead master\n"
"  status [-c CONF] [--json]     what mirrord is doing with each file set\n"
"  log [-c CONF] [-n N] [--json] [STORE|FILESET]\n"
"                                the last sessions, of a store or of mirrord\n"

"  suspend|resume|sync-now [-c CONF] [--full] FILESET\n"
"                                act on a file set of the running mirrord\n"
"  help [COMMAND]                show help\n"
"\n"
"exit status: 0 in sync, 1 partial (entries skipped or failed, each listed),\n"
"2 usage or configuration error, 3 the session failed (nothing committed),\n"
"4 the connection was lost after the commit began (old or new: unknown)\n"
"\n"
"Store ownership: one process at a time is the master of a store. It writes\n"
"STORE/.mirrorfs/SYNC (instance=, pid=, host=, boot_id=, started=) and holds\n"
"STORE/.mirrorfs/lock while it lives; a clean stop removes the entry. A\n"
"mount is the master while it runs, and a sync into a mounted store commits\n"
"through it; with nothing mounted, sync and recover are masters for their\n"
"duration. An entry left by a master that ended abnormally is taken over by\n"
"the same instance or by any process on the same host (the free lock proves\n"
"the master dead); an entry from another host blocks the store until\n"
"`mirrorctl clear-sync STORE`, which refuses while the master lives.\n";

static const char sync_help[] =
"usage: mirrorctl sync [OPTIONS] SOURCE STORE [STORE...]\n"
"\n"
"Makes each STORE (created when missing) identical to the directory SOURCE,\n"
"crash-safely: every file in a STORE is always its old or its new version.\n"
"Several STOREs are synced in parallel, reading SOURCE once. A STORE is:\n"
"  PATH                          a local store (through its mount if mounted)\n"
"  ssh://[USER@]HOST[:PORT]/PATH runs `RSH [-p PORT] [-l USER] HOST mirrord\n"
"                                --serve 'PATH'` (//PATH: absolute)\n"
"  [USER@]HOST:PATH              the same, as in rsync and scp (a local name\n"
"                                with a colon: ./a:b or /abs/a:b)\n"
"  mirror://HOST[:PORT]/NAME     mirrord's [store NAME], default port 7878;\n"
"                                the session is encrypted and authenticated\n"
"\n"
"  -n, --report, --dry-run\n"
"                        dry run: list what would be created, replaced,\n"
"                        purged or skipped, and change nothing\n"
"  -c, --checksum        compare content, not only size and mtime\n"
"      --purge           delete files absent from SOURCE inside directories\n"
"                        SOURCE has, and replace an entry whose type\n"
"                        changed (a file by a symlink, a directory tree\n"
"                        by a file...)\n"
"      --purge-dirs, --delete\n"
"                        also delete whole extra directories\n"
"      --exclude GLOB    leave out matching entries (repeatable)\n"
"      --include GLOB    keep matching entries (rules apply in order;\n"
"                        the first that matches wins)\n"
"      --exclude-from FILE  one rule or exclude glob per line ('#' comments)\n"
"      --filter RULE     '- PATTERN' to leave out, '+ PATTERN' to keep,\n"
"                        as in rsync (repeatable; in order with the above)\n"
"      --json            end with one JSON object: each STORE's counts,\n"
"                        statistics, error and entries (all of them with\n"
"                        -v or -n, else those skipped or failed)\n"
"      --stats           rsync-like statistics for each STORE\n"
"      --progress        show progress on a terminal\n"
"      --key FILE        pre-shared key for mirror:// (or $MIRRORFS_KEY);\n"
"                        it must not be readable by group or others\n"
"  -e, --rsh CMD         remote shell for ssh:// with its arguments, split\n"
"                        into words without a shell, quotes as in rsync -e\n"
"                        (default: ssh; e.g. -e 'ssh -p 2222 -i KEY')\n"
"      --compress N      zstd level 1-19 over ssh:// and mirror://, 0 off\n"
"                        (default 3); bytes sent counts bytes on the wire\n"
"  -z                    zstd level 3 (as --compress 3)\n"
"      --bwlimit RATE    at most RATE on the wire to each STORE while file\n"
"                        data goes out: KiB per second, or with a suffix\n"
"                        as in rsync (500K, 1.5M, 10MB = 10,000,000 B/s);\n"
"                        0 no limit\n"
"      --timeout S       give up a peer silent for S seconds (default 60)\n"
"  -W, --whole-file      send changed files whole, never as deltas\n"
"      --no-whole-file   send deltas to local stores too; by default a\n"
"                        changed file of 64 KiB or more goes to ssh:// and\n"
"                        mirror:// as an rsync-style delta against the\n"
"                        version the store has, and whole to local stores\n"
"      --no-xattrs       leave extended attributes out (user.*; as root\n"
"                        trusted.* and security.*, file capabilities too)\n"
"      --no-acls         leave POSIX ACLs out\n"
"  -i, --itemize-changes a line per change as rsync -i writes it: the\n"
"                        string YXcstpoguax and the path (mirrorctl(8))\n"
"      --mkpath          create the missing parent directories of a\n"
"                        local or ssh:// STORE (without it, a STORE whose\n"
"                        parent is missing is an error)\n"
"  -v, --verbose         list every created, replaced and purged entry\n"

"  -q, --quiet           print only errors and skipped entries\n"
"  -h, --help            show this help\n"
"\n"
"A glob without '/' matches a name at any depth; with '/' it matches the\n"
"path from the top of SOURCE; a trailing '/' matches directories only; '*'\n"
"stops at '/', '**' does not. In a rule, as in rsync, a pattern with a '/'\n"
"inside that does not start with '/' matches at the end of the path.\n";

static const char recover_help[] =
"usage: mirrorctl recover STORE\n"
"\n"
"Repairs a store after a crash: a session whose commit record is durable\n"
"is rolled forward, any other is rolled back, and staged files are\n"
"removed. Every sync and mount does this by itself at start.\n";

enum {
	OPT_PURGE = 256,
	OPT_PURGE_DIRS,
	OPT_EXCLUDE,
	OPT_INCLUDE,
	OPT_EXCLUDE_FROM,
	OPT_FILTER,
	OPT_JSON,
	OPT_STATS,
	OPT_PROGRESS,
	OPT_KEY,
	OPT_COMPRESS,
	OPT_TIMEOUT,
	OPT_NO_WHOLE_FILE,
	OPT_NO_XATTRS,
	OPT_NO_ACLS,
	OPT_BWLIMIT,
	OPT_MKPATH,
};

/* -h and --help ask every command for its help. */
static int
is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

/* How a sync reports what it did. */
struct report_opts {
	int all;		/* every entry (-v, -n), not only the problems */
	int itemize;		/* -i: rsync's change strings */
	int json;
	int stats;
	const char *source;
	struct timespec started;	/* wall clock */
	double t0;			/* clock_now() */
};

/*
 * --json: one object on the last line of stdout, of the same shape for
 * one destination or many (docs/man/mirrorctl.8 describes it).
 */
static void
report_json(const struct report_opts *ro, struct session_dest *dests, size_t n)
{
	char started[FORMAT_TIME_LEN], finished[FORMAT_TIME_LEN];
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	format_rfc3339(started, sizeof(started), &ro->started, 3);
	format_rfc3339(finished, sizeof(finished), &now, 3);
	printf("{\"version\":1,\"source\":");
	result_json_string(ro->source, stdout);
	printf(",\"started\":\"%s\",\"finished\":\"%s\",\"elapsed\":%.3f,"
	    "\"destinations\":[", started, finished, clock_now() - ro->t0);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			fputc(',', stdout);
		const struct session_dest *sd = &dests[i];

		result_json(&sd->res, stdout, sd->d.text, !sd->failed ?
		    RESULT_DONE : sd->unknown ? RESULT_UNKNOWN : RESULT_FAILED,
		    sd->failed ? sd->error : NULL, ro->all);
	}
	fputs("]}\n", stdout);
}

/* Prints what each destination's session did; returns the exit status. */
static int
report(const struct report_opts *ro, struct session_dest *dests, size_t n)
{
	int rc = 0, st;

	for (size_t i = 0; i < n; i++) {
		struct session_dest *sd = &dests[i];

		if (n > 1 && (!ro->json || ro->stats))
			printf("== %s\n", sd->d.text);
		if (sd->failed && sd->unknown) {
			log_errx("sync into %s: the connection was lost after "
			    "the commit began; the store holds either the old "
			    "or the new version of this session (sync again to "
			    "know which)", sd->d.text);
			rc = EXIT_UNKNOWN;
			if (n > 1 && !ro->json)
				printf("unknown: %s\n", sd->error);
			continue;
		}
		if (sd->failed) {
			log_errx("sync into %s failed; nothing was committed "
			    "there", sd->d.text);
			if (rc < EXIT_FATAL)
				rc = EXIT_FATAL;
			if (n > 1 && !ro->json)
				printf("failed: %s\n", sd->error);
			continue;
		}
		if (ro->itemize)
			result_print_itemized(&sd->res, stdout);
		else
			result_print(&sd->res, stdout, ro->all);
		if (!ro->json && log_get_level() >= LOG_INFO)
			result_print_summary(&sd->res, stdout);
		if (ro->stats && log_get_level() >= LOG_INFO) {
			fputc('\n', stdout);
			result_print_stats(&sd->res, stdout);
		}
		st = result_exit_status(&sd->res);
		if (st > rc)
			rc = st;
	}
	if (ro->json)
		report_json(ro, dests, n);
	return rc;
}

static int
cmd_sync(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "report", no_argument, NULL, 'n' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "checksum", no_argument, NULL, 'c' },
		{ "purge", no_argument, NULL, OPT_PURGE },
		{ "purge-dirs", no_argument, NULL, OPT_PURGE_DIRS },
		{ "delete", no_argument, NULL, OPT_PURGE_DIRS },
		{ "exclude", required_argument, NULL, OPT_EXCLUDE },
		{ "include", required_argument, NULL, OPT_INCLUDE },
		{ "exclude-from", required_argument, NULL, OPT_EXCLUDE_FROM },
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "rsh", required_argument, NULL, 'e' },
		{ "compress", required_argument, NULL, OPT_COMPRESS },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "bwlimit", required_argument, NULL, OPT_BWLIMIT },
		{ "whole-file", no_argument, NULL, 'W' },
		{ "no-whole-file", no_argument, NULL, OPT_NO_WHOLE_FILE },
		{ "no-xattrs", no_argument, NULL, OPT_NO_XATTRS },
		{ "no-acls", no_argument, NULL, OPT_NO_ACLS },
		{ "itemize-changes", no_argument, NULL, 'i' },
		{ "mkpath", no_argument, NULL, OPT_MKPATH },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sender_opts o = { 0 };
	struct net_opts no = { .compress = 3, .timeout_s = 60 };
	struct session_dest *dests = NULL;
	struct filter filter;
	struct stat st;
	uint8_t key[NET_KEY_SIZE];
	const char *keyfile = getenv("MIRRORFS_KEY");
	char err[512], *end;
	size_t ndests = 0;
	struct report_opts ro = { 0 };
	int ch, verbose = 0, rc = EXIT_USAGE, need_key = 0, mkpath = 0;

	filter_init(&filter);
	o.filter = &filter;
	o.flags = SESSION_XATTRS | SESSION_ACLS;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "ncvqiWe:zh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'n': o.flags |= SESSION_REPORT; break;
		case 'c': o.flags |= SESSION_CHECKSUM; break;
		case OPT_PURGE: o.flags |= SESSION_PURGE; break;
		case OPT_PURGE_DIRS:
			o.flags |= SESSION_PURGE | SESSION_PURGE_DIRS;
			break;
		case OPT_EXCLUDE:
		case OPT_INCLUDE:
			if (filter_add(&filter, ch == OPT_EXCLUDE ?
			    FILTER_EXCLUDE : FILTER_INCLUDE, optarg) == -1) {
				log_errx("--%s '%s': %s", ch == OPT_EXCLUDE ?
				    "exclude" : "include", optarg,
				    filter_glob_error(optarg) ?
				    filter_glob_error(optarg) : strerror(errno));
				goto out;
			}
			break;
		case OPT_EXCLUDE_FROM:
			if (filter_add_file(&filter, optarg) == -1)
				goto out;
			break;
		case OPT_FILTER:
			if (filter_add_rule(&filter, optarg, err,
			    sizeof(err)) == -1) {
				log_errx("--filter: %s", err);
				goto out;
			}
			break;
		case OPT_JSON: ro.json = 1; break;
		case OPT_STATS: ro.stats = 1; break;
		case OPT_PROGRESS: o.progress = 1; break;
		case OPT_KEY: keyfile = optarg; break;
		case 'e': no.rsh = optarg; break;
		case 'z': no.compress = 3; break;
		case OPT_BWLIMIT:
			if (bwlimit_parse(optarg, &o.bwlimit, err,
			    sizeof(err)) == -1) {
				log_errx("--bwlimit: %s", err);
				goto out;
			}
			break;
		case OPT_COMPRESS:
		case OPT_TIMEOUT: {
			long v = strtol(optarg, &end, 10);

			if (*optarg == '\0' || *end != '\0' || v < 0 ||
			    (ch == OPT_COMPRESS && v > NET_MAX_COMPRESS) ||
			    (ch == OPT_TIMEOUT && (v < 1 || v > 86400))) {
				log_errx("--%s: bad value '%s'", ch ==
				    OPT_COMPRESS ? "compress (0-19)" :
				    "timeout (1-86400 seconds)", optarg);
				goto out;
			}
			if (ch == OPT_COMPRESS)
				no.compress = (int)v;
			else
				no.timeout_s = (int)v;
			break;
		}
		case 'W': o.whole_file = WHOLE_FILE_YES; break;
		case OPT_NO_WHOLE_FILE: o.whole_file = WHOLE_FILE_NO; break;
		case OPT_NO_XATTRS: o.flags &= ~SESSION_XATTRS; break;
		case OPT_NO_ACLS: o.flags &= ~SESSION_ACLS; break;
		case 'v': verbose = 1; break;
		case 'i': ro.itemize = 1; break;
		case OPT_MKPATH: mkpath = 1; break;
		case 'q': log_set_level(LOG_ERROR); break;
		case 'h':
			fputs(sync_help, stdout);
			rc = 0;
			goto out;
		default:
			fputs(sync_help, stderr);
			goto out;
		}
	}
	if (argc - optind < 2) {
		log_errx("sync needs SOURCE and at least one STORE");
		fputs(sync_help, stderr);
		goto out;
	}
	if (stat(argv[optind], &st) == -1) {
		log_err("%s", argv[optind]);
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_errx("%s: not a directory", argv[optind]);
		goto out;
	}
	ndests = (size_t)(argc - optind - 1);
	dests = calloc(ndests, sizeof(*dests));
	if (dests == NULL)
		goto out;
	for (size_t i = 0; i < ndests; i++) {
		if (dest_parse(argv[optind + 1 + i], &dests[i].d, err,
		    sizeof(err)) == -1) {
			log_errx("%s", err);
			goto out;
		}
		need_key |= dests[i].d.kind == DEST_MIRROR;
	}
	if (need_key) {
		if (keyfile == NULL) {
			log_errx("mirror:// needs a pre-shared key: --key FILE "
			    "(or MIRRORFS_KEY)");
			goto out;
		}
		if (key_load(keyfile, key) == -1)
			goto out;
		no.key = key;
	}
	/* A dry run changes nothing, so makes no parents either (as rsync). */
	no.mkpath = mkpath && !(o.flags & SESSION_REPORT);
	for (size_t i = 0; no.mkpath && i < ndests; i++)
		if (dests[i].d.kind == DEST_LOCAL &&
		    mkpath_parents(dests[i].d.path) == -1) {
			rc = EXIT_FATAL;
			goto out;
		}
	ro.all = verbose || (o.flags & SESSION_REPORT);
	/* -v and -i print every change; otherwise only problems are kept. */
	o.problems_only = !ro.all && !ro.itemize;
	ro.source = argv[optind];
	clock_gettime(CLOCK_REALTIME, &ro.started);
	ro.t0 = clock_now();
	if (session_run(argv[optind], dests, ndests, &o, &no) == -1) {
		/* Nothing could be done: every destination failed alike. */
		for (size_t i = 0; i < ndests; i++) {
			dests[i].failed = 1;
			if (dests[i].error[0] == '\0')
				snprintf(dests[i].error, sizeof(dests[i].error),
				    "%s", log_last());
		}
	}
	rc = report(&ro, dests, ndests);
out:
	fflush(stdout);
	for (size_t i = 0; dests != NULL && i < ndests; i++)
		result_release(&dests[i].res);
	free(dests);
	filter_release(&filter);
	return rc;
}

static int
cmd_recover(int argc, char **argv)
{
	struct store s;
	int fd;

	if (argc == 2 && is_help(argv[1])) {
		fputs(recover_help, stdout);
		return 0;
	}
	if (argc != 2) {
		fputs(recover_help, stderr);
		return EXIT_USAGE;
	}
	fd = control_connect(argv[1]);
	if (fd >= 0) {
		close(fd);
		/* Every mount recovers its store when it starts. */
		printf("%s: served by a mount, which recovered it when it "
		    "started\n", argv[1]);
		return 0;
	}
	if (master_open(&s, argv[1], 0, NULL, NULL) == -1)
		return EXIT_FATAL;
	if (s.recovery == 'f')
		printf("%s: recovered an interrupted session that had "
		    "committed: rolled forward (%lu operations redone); "
		    "consistent\n", argv[1], s.recovered);
	else if (s.recovery == 'b')
		printf("%s: recovered an interrupted session that had not "
		    "committed: rolled back (%lu staged entries discarded); "
		    "consistent\n", argv[1], s.recovered);
	else
		printf("%s: consistent, no interrupted session\n", argv[1]);
	master_close(&s);
	return 0;
}

static const char renamed_help[] =
"usage: mirrorctl renamed STORE\n"
"\n"
"Lists the old versions of files that a sync replaced while processes had\n"
"them open through the mount: STORE/.mirrorfs/renamed/AAnnnnnn, the path\n"
"they had and how many handles are still open. Each is deleted when its\n"
"last handle closes, or at the next start after a crash.\n";

static int
print_renamed(struct conn *c)
{
	struct renamed_info ri;
	const uint8_t *p;
	char err[128];
	uint8_t type;
	size_t n, count = 0;

	while (conn_recv(c, &type, &p, &n) == 1) {
		if (type == MSG_DONE) {
			if (count == 0)
				printf("no old versions are kept\n");
			return 0;
		}
		if (type != MSG_CTL_RENAMED ||
		    proto_decode_renamed(p, n, &ri, err, sizeof(err)) == -1)
			break;
		printf("%s  %u open  ", ri.name, ri.opens);
		path_fputs(ri.path, stdout);
		putchar('\n');
		free(ri.name);
		free(ri.path);
		count++;
	}
	log_errx("the mount's answer was cut short or malformed");
	return EXIT_FATAL;
}

/* Whether path is a store (has .mirrorfs/); says why not when it is not. */
static int
is_store(const char *path)
{
	char meta[PATH_MAX];
	struct stat st;

	snprintf(meta, sizeof(meta), "%s/%s", path, PATH_META);
	if (lstat(meta, &st) == 0 && S_ISDIR(st.st_mode))
		return 1;
	if (lstat(path, &st) == -1)
		log_err("%s", path);
	else
		log_errx("%s: not a mirrorfs store (it has no %s/)", path,
		    PATH_META);
	return 0;
}

static int
cmd_renamed(int argc, char **argv)
{
	struct conn c;
	int fd, rc;

	if (argc == 2 && is_help(argv[1])) {
		fputs(renamed_help, stdout);
		return 0;
	}
	if (argc != 2) {
		fputs(renamed_help, stderr);
		return EXIT_USAGE;
	}
	fd = control_connect(argv[1]);
	if (fd == -1) {
		if (errno != ENOENT && errno != ECONNREFUSED)
			return EXIT_FATAL;
		if (!is_store(argv[1]))
			return EXIT_FATAL;
		printf("%s is not mounted: no old versions are kept (any left "
		    "by a crash are deleted at the next start)\n", argv[1]);
		return 0;
	}
	if (conn_init(&c, fd, fd, "the store's master (mirrorfs)") == -1) {
		close(fd);
		return EXIT_FATAL;
	}
	rc = EXIT_FATAL;
	if (proto_send_ctl(&c, CTL_RENAMED, 0) == 0 && conn_flush(&c) == 0)
		rc = print_renamed(&c);
	conn_release(&c);
	return rc;
}

static const char daemon_help[] =
"usage: mirrorctl status [-c CONF] [--json]\n"
"       mirrorctl suspend|resume [-c CONF] FILESET\n"
"       mirrorctl sync-now [-c CONF] [--full] FILESET\n"
"\n"
"Asks the running mirrord (its control socket: [daemon] control = PATH in\n"
"CONF, default " CONFIG_DEFAULT_CONTROL "; CONF defaults to\n"
"/etc/mirrorfs/mirrord.conf) for the state of every file set (idle,\n"
"waiting for quiet files, retrying a destination, syncing, suspended),\n"
"and of each of its destinations (ok, or retrying since when, why and\n"
"the next attempt; what it is owed; its last session); or suspends,\n"
"resumes or runs a file set now. sync-now sends what is pending, which\n"
"costs what changed while the watch is complete; --full walks the whole\n"
"tree.\n";

/* Sends one request to mirrord and prints its answer. */
static int
cmd_daemon(int argc, char **argv, int op)
{
	const char *conf = "/etc/mirrorfs/mirrord.conf", *name = "";
	struct sockaddr_un sa;
	struct config cfg;
	const uint8_t *p;
	struct conn c;
	size_t n;
	int fd, json = 0, rc = EXIT_FATAL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			conf = argv[++i];
		else if (strcmp(argv[i], "--json") == 0 && op == DAEMON_STATUS)
			json = 1;
		else if (strcmp(argv[i], "--full") == 0 && (op == DAEMON_SYNC_NOW ||
		    op == DAEMON_SYNC_FULL))
			op = DAEMON_SYNC_FULL;
		else if (is_help(argv[i])) {
			fputs(daemon_help, stdout);
			return 0;
		} else if (argv[i][0] != '-' && op != DAEMON_STATUS && !*name)
			name = argv[i];
		else {
			fputs(daemon_help, stderr);
			return EXIT_USAGE;
		}
	}
	if (op != DAEMON_STATUS && *name == '\0') {
		fputs(daemon_help, stderr);
		return EXIT_USAGE;
	}
	if (config_load(&cfg, conf) == -1)
		return EXIT_USAGE;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s",
	    cfg.control ? cfg.control : CONFIG_DEFAULT_CONTROL);
	config_release(&cfg);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		log_err("mirrord's control socket %s (is mirrord running?)",
		    sa.sun_path);
		if (fd != -1)
			close(fd);
		return EXIT_FATAL;
	}
	if (conn_init(&c, fd, fd, "mirrord") == -1) {
		close(fd);
		return EXIT_FATAL;
	}
	c.timeout_ms = 10000;
	if (proto_send_daemon(&c, op, op == DAEMON_STATUS ?
	    (json ? "json" : "text") : name) == 0 && conn_flush(&c) == 0 &&
	    proto_expect(&c, MSG_DAEMON_REPLY, &p, &n) != -1) {
		fwrite(p, 1, n, stdout);
		if (n == 0 || p[n - 1] != '\n')
			putchar('\n');
		rc = 0;
	}
	conn_release(&c);
	return rc;
}

static const char log_help[] =
"usage: mirrorctl log [-c CONF] [-n N] [--json] [STORE|FILESET]\n"
"\n"
"The last N sessions (default 20), oldest first: when each started, how\n"
"long it took, how it ended (ok, partial, failed), its counts and bytes\n"
"on the wire, and why it failed. Of a STORE: the sessions committed into\n"
"it (STORE/.mirrorfs/sessions.log, by whoever committed them). Else of\n"
"mirrord's file sets, or of FILESET alone: mirrord's history ([daemon]\n"
"sessions = in CONF, default beside its control socket). Each history\n"
"keeps between 64 and 128 KiB of the latest sessions.\n";

/* Unix time t as RFC 3339. */
static void
log_time(char *buf, size_t len, double t)
{
	struct timespec ts = { .tv_sec = (time_t)t,
	    .tv_nsec = (long)((t - (double)(time_t)t) * 1e9) };

	format_rfc3339(buf, len, &ts, 0);
}

static void
print_session_text(const struct sessionlog_rec *s)
{
	char start[FORMAT_TIME_LEN];

	log_time(start, sizeof(start), s->start);
	printf("%s  %6.2f s  %-7s  ", start, s->end - s->start, s->status);
	if (s->fileset[0] != '\0') {
		path_fputs(s->fileset, stdout);
		fputs(" -> ", stdout);
	} else
		fputs("from ", stdout);
	path_fputs(s->peer, stdout);
	printf("  created %" PRIu64 ", replaced %" PRIu64 ", purged %" PRIu64
	    ", unchanged %" PRIu64 ", skipped %" PRIu64 ", failed %" PRIu64
	    ", bytes %" PRIu64, s->created, s->replaced, s->purged,
	    s->unchanged, s->skipped, s->failed, s->bytes);
	if (s->error[0] != '\0') {
		fputs(": ", stdout);
		path_fputs(s->error, stdout);
	}
	putchar('\n');
}

static void
print_session_json(const struct sessionlog_rec *s)
{
	char start[FORMAT_TIME_LEN], end[FORMAT_TIME_LEN];

	log_time(start, sizeof(start), s->start);
	log_time(end, sizeof(end), s->end);
	printf("{\"start\":\"%s\",\"end\":\"%s\",\"elapsed\":%.3f,"
	    "\"status\":", start, end, s->end - s->start);
	result_json_string(s->status, stdout);
	fputs(",\"fileset\":", stdout);
	if (s->fileset[0] != '\0')
		result_json_string(s->fileset, stdout);
	else
		fputs("null", stdout);
	fputs(s->fileset[0] != '\0' ? ",\"destination\":" : ",\"peer\":",
	    stdout);
	result_json_string(s->peer, stdout);
	printf(",\"created\":%" PRIu64 ",\"replaced\":%" PRIu64 ",\"purged\":%"
	    PRIu64 ",\"unchanged\":%" PRIu64 ",\"skipped\":%" PRIu64
	    ",\"failed\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"error\":",
	    s->created, s->replaced, s->purged, s->unchanged, s->skipped,
	    s->failed, s->bytes);
	if (s->error[0] != '\0')
		result_json_string(s->error, stdout);
	else
		fputs("null", stdout);
	fputc('}', stdout);
}

/* Prints the last max of v[0..n) that belong to fileset (NULL: all). */
static void
print_sessions(const struct sessionlog_rec *v, size_t n, const char *fileset,
    size_t max, int json)
{
	size_t keep = 0, first = n, printed = 0;

	/* From the end back: where the last max of them begin. */
	while (first > 0 && keep < max) {
		first--;
		if (fileset == NULL || strcmp(v[first].fileset, fileset) == 0)
			keep++;
	}
	if (json)
		fputs("{\"version\":1,\"sessions\":[", stdout);
	for (size_t i = first; i < n; i++) {
		if (fileset != NULL && strcmp(v[i].fileset, fileset) != 0)
			continue;
		if (json) {
			if (printed > 0)
				fputc(',', stdout);
			print_session_json(&v[i]);
		} else
			print_session_text(&v[i]);
		printed++;
	}
	if (json)
		fputs("]}\n", stdout);
	else if (printed == 0)
		printf("no sessions recorded\n");
}

/* Opens the history of a store, or of mirrord's file sets; -1 logged. */
static int
open_history(const char *conf, const char *what, char *name, size_t len,
    int *is_store)
{
	char meta[PATH_MAX], path[PATH_MAX];
	struct config cfg;
	struct stat st;
	const char *slash;
	int fd;

	snprintf(meta, sizeof(meta), "%s/%s", what ? what : "", PATH_META);
	*is_store = what != NULL && lstat(meta, &st) == 0 && S_ISDIR(st.st_mode);
	if (*is_store) {
		snprintf(name, len, "%s", SESSIONLOG_NAME);
		fd = open(meta, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd == -1)
			log_err("%s", meta);
		return fd;
	}
	if (what != NULL && (strchr(what, '/') != NULL || lstat(what, &st) == 0)) {
		/* A path, not a file set's name. */
		if (lstat(what, &st) == -1)
			log_err("%s", what);
		else
			log_errx("%s: not a mirrorfs store (it has no %s/)",
			    what, PATH_META);
		return -1;
	}
	if (config_load(&cfg, conf) == -1)
		return -1;
	if (what != NULL && config_fileset(&cfg, what) == NULL) {
		log_errx("%s: neither a store nor a file set of %s", what,
		    conf);
		config_release(&cfg);
		return -1;
	}
	config_sessions_path(&cfg, path, sizeof(path));
	config_release(&cfg);
	slash = strrchr(path, '/');
	snprintf(name, len, "%s", slash + 1);
	snprintf(meta, sizeof(meta), "%.*s", slash == path ? 1 :
	    (int)(slash - path), path);
	fd = open(meta, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		log_err("%s (the directory of mirrord's session history)",
		    meta);
	return fd;
}

static int
cmd_log(int argc, char **argv)
{
	const char *conf = "/etc/mirrorfs/mirrord.conf", *what = NULL;
	struct sessionlog_rec *v = NULL;
	char name[NAME_MAX + 1], *end;
	size_t n, max = 20;
	int json = 0, is_store, dirfd;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			conf = argv[++i];
		else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			errno = 0;
			max = strtoul(argv[++i], &end, 10);
			if (*argv[i] < '1' || *argv[i] > '9' || *end != '\0' ||
			    errno != 0) {
				log_errx("-n: bad count '%s'", argv[i]);
				return EXIT_USAGE;
			}
		} else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (is_help(argv[i])) {
			fputs(log_help, stdout);
			return 0;
		} else if (argv[i][0] != '-' && what == NULL)
			what = argv[i];
		else {
			fputs(log_help, stderr);
			return EXIT_USAGE;
		}
	}
	dirfd = open_history(conf, what, name, sizeof(name), &is_store);
	if (dirfd == -1)
		return EXIT_FATAL;
	if (sessionlog_read(dirfd, name, 0, &v, &n) == -1) {
		close(dirfd);
		return EXIT_FATAL;
	}
	close(dirfd);
	print_sessions(v, n, is_store ? NULL : what, max, json);
	free(v);
	return 0;
}

static const char genkey_help[] =
"usage: mirrorctl genkey FILE\n"
"\n"
"Writes a new random pre-shared key (32 random bytes, in hex) to FILE,\n"
"which must not exist, with mode 600. Copy it to both ends: the source's\n"
"--key FILE (or a file set's key =) and the destination's [listen] key =.\n";

static const char clear_sync_help[] =
"usage: mirrorctl clear-sync STORE\n"
"\n"
"Removes the entry STORE/.mirrorfs/SYNC left by a master that ended\n"
"abnormally, so another host may take the store (an entry of this host is\n"
"taken over without it). Refuses, exit 1, while a live master holds the\n"
"store's lock.\n";

static int
cmd_clear_sync(int argc, char **argv)
{
	struct sync_entry e;
	char who[1200];
	int found;

	if (argc == 2 && is_help(argv[1])) {
		fputs(clear_sync_help, stdout);
		return 0;
	}
	if (argc != 2) {
		fputs(clear_sync_help, stderr);
		return EXIT_USAGE;
	}
	if (master_clear_sync(argv[1], &e, &found) == -1) {
		if (errno == EBUSY)
			log_errx("%s: refusing to clear the entry of a live "
			    "master", argv[1]);
		return EXIT_PARTIAL;
	}
	if (!found) {
		printf("%s: no master entry\n", argv[1]);
		return 0;
	}
	sync_entry_describe(&e, who, sizeof(who));
	printf("%s: removed the stale entry of %s\n", argv[1], who);
	return 0;
}

static int
cmd_help(int argc, char **argv)
{
	if (argc < 2)
		fputs(usage_text, stdout);
	else if (strcmp(argv[1], "sync") == 0)
		fputs(sync_help, stdout);
	else if (strcmp(argv[1], "recover") == 0)
		fputs(recover_help, stdout);
	else if (strcmp(argv[1], "renamed") == 0)
		fputs(renamed_help, stdout);
	else if (strcmp(argv[1], "clear-sync") == 0)
		fputs(clear_sync_help, stdout);
	else if (strcmp(argv[1], "genkey") == 0)
		fputs(genkey_help, stdout);
	else if (strcmp(argv[1], "log") == 0)
		fputs(log_help, stdout);
	else if (!strcmp(argv[1], "status") || !strcmp(argv[1], "suspend") ||
	    !strcmp(argv[1], "resume") || !strcmp(argv[1], "sync-now"))
		fputs(daemon_help, stdout);
	else {
		log_errx("no command '%s'", argv[1]);
		return EXIT_USAGE;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	int i;

	log_init("mirrorctl", LOG_INFO);
	/*
	 * Run by hand or by a script, its messages come as it works: no
	 * time stamps. Run by systemd (a timer's service), priorities for
	 * the journal.
	 */
	log_choose_style(LOG_STYLE_PLAIN);
	signal(SIGPIPE, SIG_IGN);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
			log_set_level(LOG_DEBUG);
		else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0)
			log_set_level(LOG_ERROR);
		else if (is_help(argv[i])) {
			fputs(usage_text, stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("mirrorctl %s\n", MIRRORFS_VERSION);
			return 0;
		} else {
			log_errx("unknown option '%s'", argv[i]);
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
	}
	if (i == argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[i], "sync") == 0)
		return cmd_sync(argc - i, argv + i);
	if (strcmp(argv[i], "recover") == 0)
		return cmd_recover(argc - i, argv + i);
	if (strcmp(argv[i], "renamed") == 0)
		return cmd_renamed(argc - i, argv + i);
	if (strcmp(argv[i], "status") == 0)
		return cmd_daemon(argc - i, argv + i, DAEMON_STATUS);
	if (strcmp(argv[i], "suspend") == 0)
		return cmd_daemon(argc - i, argv + i, DAEMON_SUSPEND);
	if (strcmp(argv[i], "resume") == 0)
		return cmd_daemon(argc - i, argv + i, DAEMON_RESUME);
	if (strcmp(argv[i], "sync-now") == 0)
		return cmd_daemon(argc - i, argv + i, DAEMON_SYNC_NOW);
	if (strcmp(argv[i], "genkey") == 0) {
		if (argc - i == 2 && is_help(argv[i + 1])) {
			fputs(genkey_help, stdout);
			return 0;
		}
		if (argc - i != 2 || argv[i + 1][0] == '-') {
			fputs(genkey_help, stderr);
			return EXIT_USAGE;
		}
		return key_generate(argv[i + 1]) == 0 ? 0 : EXIT_FATAL;
	}
	if (strcmp(argv[i], "clear-sync") == 0)
		return cmd_clear_sync(argc - i, argv + i);
	if (strcmp(argv[i], "log") == 0)
		return cmd_log(argc - i, argv + i);
	if (strcmp(argv[i], "help") == 0)
		return cmd_help(argc - i, argv + i);
	log_errx("unknown command '%s'", argv[i]);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}
