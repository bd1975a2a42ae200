/* mirrord: the daemon; on a destination it accepts sessions (--listen via [listen], or --serve under ssh). */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "conn.h"
#include "daemon.h"
#include "fsutil.h"
#include "inbound.h"
#include "log.h"
#include "net.h"
#include "session.h"

#define EXIT_USAGE 2

static const char usage_text[] =
"usage: mirrord -c CONF        run as configured: keep each [fileset NAME]\n"
"                              mirrored to its dest on its schedule and on\n"
"                              change; with [listen], accept sessions on\n"
"                              address = HOST:PORT into the [store NAME]s\n"
"       mirrord [--mkpath] --serve STORE\n"
"                              one session on stdin/stdout (run by ssh for\n"
"                              mirrorctl sync SRC ssh://HOST/STORE;\n"
"                              --mkpath first creates STORE's missing\n"
"                              parent directories)\n"
"       mirrord --help | --version\n"
"\n"
"Sessions to mirror://HOST[:PORT]/NAME are authenticated with the pre-shared\n"
"key of [listen] key = FILE (challenge-response; the key never crosses the\n"
"wire) before anything touches the store [store NAME] path = DIR. Each\n"
"session runs in its own process, as the store's user = when given.\n"
"(mirrord --session PEER is that process, started by the listener.)\n";

static int
run_serve(const char *store)
{
	struct conn c;
	char name[4096];
	int rc = 1;

	if (conn_init(&c, STDIN_FILENO, STDOUT_FILENO, "the ssh client") == -1)
		return 1;
	if (net_accept(&c, NULL, name, sizeof(name)) == 0 &&
	    session_receive(&c, store, NULL, NULL, NULL) == 0)
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
		{ "session", required_argument, NULL, 'E' },
		{ "mkpath", no_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conf = NULL, *serve = NULL, *session = NULL;
	int ch, mkpath = 0;

	log_init("mirrord", LOG_INFO);
	/*
	 * A long-lived daemon whose sessions build big, short-lived tables:
	 * fixed thresholds (not glibc's adaptive ones, which rise after the
	 * first big free) let those tables go back to the system afterwards.
	 */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt_long(argc, argv, "c:hVv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': conf = optarg; break;
		case 'S': serve = optarg; break;
		case 'E': session = optarg; break;
		case 'M': mkpath = 1; break;
		case 'v': log_set_level(LOG_DEBUG); break;
		case 'h': fputs(usage_text, stdout); return 0;
		case 'V': printf("mirrord %s\n", MIRRORFS_VERSION); return 0;
		default: fputs(usage_text, stderr); return EXIT_USAGE;
		}
	}
	if (session != NULL && conf == NULL && serve == NULL && optind == argc &&
	    !mkpath) {
		/*
		 * Spawned as /proc/self/exe, the kernel named us "exe": top,
		 * pidof and the journal should see mirrord.
		 */
		if (prctl(PR_SET_NAME, "mirrord") == -1)
			log_debug("naming the session process: %s",
			    strerror(errno));
		log_choose_style(LOG_STYLE_STAMPED);
		return inbound_main(session);
	}
	if (optind != argc || (conf == NULL) == (serve == NULL) ||
	    (mkpath && serve == NULL)) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	/*
	 * Under systemd, priorities for the journal; else a daemon's lines
	 * carry their time. --serve writes to the ssh client's terminal.
	 */
	log_choose_style(serve != NULL ? LOG_STYLE_PLAIN : LOG_STYLE_STAMPED);
	if (serve != NULL)
		return mkpath && mkpath_parents(serve) == -1 ? 1 :
		    run_serve(serve);
	return daemon_run(conf);
}
