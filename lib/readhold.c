/* readhold: a store (or a mount of one) read as a source, at one committed generation. */
#include "readhold.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fault.h"
#include "log.h"
#include "mountinfo.h"
#include "path.h"
#include "store/master.h"

/* What a reader asks for: the master grants at most its -o hold_max. */
#define READHOLD_ASK_S 86400
/*
 * How long we wait for the hold: the master waits up to a minute for a
 * commit in progress to end (serve.c) before it refuses.
 */
#define READHOLD_GRANT_MS 75000
/* How long the master may take to say whether the hold held. */
#define READHOLD_REPLY_MS 10000

void
readhold_init(struct readhold *rh)
{
	memset(rh, 0, sizeof(*rh));
	rh->conn.rfd = rh->conn.wfd = -1;
	store_init(&rh->st);
}

/* Whether dir is a store's top: its .mirrorfs/staging is a directory. */
static int
is_store(const char *dir)
{
	char p[PATH_MAX];
	struct stat st;

	if (snprintf(p, sizeof(p), "%s/%s/%s", strcmp(dir, "/") ? dir : "",
	    PATH_META, STORE_STAGING) >= (int)sizeof(p))
		return 0;
	return lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Through a mirrorfs mount its source is the store; else the nearest store at or above. */
int
readhold_find(const char *source, char *store, size_t len, int *top)
{
	char real[PATH_MAX], point[PATH_MAX], *slash;

	*top = 0;
	if (mountinfo_mirrorfs(source, point, sizeof(point), store, len) == 1)
		return 1;
	if (realpath(source, real) == NULL) {
		log_err("%s", source);
		return -1;
	}
	*top = 1;
	for (;;) {
		if (is_store(real)) {
			snprintf(store, len, "%s", real);
			return 1;
		}
		*top = 0;
		slash = strrchr(real, '/');
		if (slash == NULL || strcmp(real, "/") == 0)
			return 0;
		if (slash == real)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
}

/* Asks the master on fd for a hold and reads what it granted. -1 logged. */
static int
ask_master(struct readhold *rh, int fd)
{
	const uint8_t *p;
	size_t n;
	char err[128];

	if (conn_init(&rh->conn, fd, fd, "the store's master (mirrorfs)") == -1) {
		close(fd);
		return -1;
	}
	rh->kind = READHOLD_MASTER;
	rh->conn.timeout_ms = READHOLD_GRANT_MS;
	if (proto_send_ctl(&rh->conn, CTL_HOLD, READHOLD_ASK_S) == -1 ||
	    conn_flush(&rh->conn) == -1 ||
	    proto_expect(&rh->conn, MSG_GEN, &p, &n) == -1) {
		log_errx("%s: no hold on its commits from its master: %s",
		    rh->store, log_last());
		return -1;
	}
	if (proto_decode_gen(p, n, &rh->gen, err, sizeof(err)) == -1 ||
	    rh->gen.hold_s == 0 || rh->gen.broken) {
		log_errx("%s: its master's answer to a hold: %s", rh->store,
		    *err ? err : "GEN: not a grant");
		return -1;
	}
	log_debug("%s: read at generation %llu, commits held for up to %u s",
	    rh->store, (unsigned long long)rh->gen.gen, rh->gen.hold_s);
	return 0;
}

int
readhold_take(struct readhold *rh, const char *source)
{
	int fd, r;

	r = readhold_find(source, rh->store, sizeof(rh->store), &rh->top);
	if (r <= 0)
		return r;
	r = master_reach(&rh->st, rh->store, 0, &fd);
	if (r == 1) {
		if (ask_master(rh, fd) == -1)
			return -1;
		fault_point("held");	/* the tests' reader that holds */
		return 0;
	}
	if (r == -1) {
		int saved = errno;

		log_errx("%s: the source is this store, and no hold on its "
		    "commits could be had to read it at one generation%s: %s",
		    rh->store, saved == EACCES || saved == EPERM ? " (only "
		    "root and the store's owner may hold it)" : "", log_last());
		return -1;
	}
	rh->kind = READHOLD_LOCK;
	log_debug("%s: read under its lock (no mount serves it)", rh->store);
	fault_point("held");
	return 0;
}

/* The master's last word on our hold, after DONE. -1 with why. */
static int
master_done(struct readhold *rh, char *why, size_t len)
{
	struct store_gen g;
	const uint8_t *p;
	size_t n;
	char err[128];

	rh->conn.timeout_ms = READHOLD_REPLY_MS;
	if (conn_send(&rh->conn, MSG_DONE, NULL, 0) == -1 ||
	    conn_flush(&rh->conn) == -1 ||
	    proto_expect(&rh->conn, MSG_GEN, &p, &n) == -1) {
		snprintf(why, len, "%s: lost the hold on its commits (%s): "
		    "what was read may mix two generations; nothing is "
		    "committed", rh->store, log_last());
		return -1;
	}
	if (proto_decode_gen(p, n, &g, err, sizeof(err)) == -1 ||
	    g.epoch != rh->gen.epoch) {
		snprintf(why, len, "%s: its master's answer to a hold: %s",
		    rh->store, g.epoch != rh->gen.epoch ? "another master" :
		    err);
		return -1;
	}
	if (g.broken) {
		snprintf(why, len, "%s: a commit into the store went ahead "
		    "while this session read it (its hold expired after %u s; "
		    "see mirrorfs -o hold_max): nothing is committed, the next "
		    "session reads the new generation", rh->store,
		    rh->gen.hold_s);
		return -1;
	}
	return 0;
}

int
readhold_done(struct readhold *rh, char *why, size_t len)
{
	int rc = 0;

	if (rh->kind == READHOLD_MASTER)
		rc = master_done(rh, why, len);
	if (rc == -1)
		log_errx("%s", why);
	readhold_release(rh);
	return rc;
}

void
readhold_release(struct readhold *rh)
{
	if (rh->kind == READHOLD_MASTER)
		conn_release(&rh->conn);	/* closing ends the hold */
	else if (rh->kind == READHOLD_LOCK)
		master_close(&rh->st);
	rh->kind = READHOLD_NONE;
}
