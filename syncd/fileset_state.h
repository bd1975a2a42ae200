/* fileset_state: the state of a file set, shared by fileset.c (its sessions) and status.c (its status). */
#ifndef MIRRORFS_FILESET_STATE_H
#define MIRRORFS_FILESET_STATE_H

#include <pthread.h>
#include <time.h>

#include "config.h"
#include "htab.h"
#include "pending.h"
#include "proto.h"
#include "result.h"

/*
 * Private to syncd/fileset.c, syncd/status.c and syncd/metrics.c;
 * everything else goes through fileset.h. The event loop's thread owns
 * all of it but the fields marked as the session thread's, which it
 * reads only once that thread has ended (fileset_reap).
 */

/* One destination: its last sessions (what it is owed is in pending). */
struct dest_state {
	const char *name;	/* as written in dest = */
	time_t start, end;	/* its last session, 0 before any */
	int failed;		/* that session failed: nothing committed */
	time_t commit_end;	/* its last committed session, 0 before any */
	struct store_gen delivered;	/* of a store source: the generation
					   its last commit was of (epoch 0:
					   none, or read under the lock) */
	struct result res;	/* that session's counts and problem lines */
	/* Since mirrord started, kept across reloads (metrics.c): */
	uint64_t n_ok, n_partial, n_failed;	/* sessions, by how they ended */
	uint64_t bytes_sent;	/* on the wire, by all of them */
	uint64_t retries;	/* sessions that retried a failing destination */
	/* The session in progress (written by the session thread): */
	int joined;
	struct result cur;
	int cur_failed;
	char cur_error[320];
};

struct fileset {
	const struct fileset_conf *conf;
	struct pending *pending;
	struct dest_state *dests;	/* conf->ndests */
	double *ready;		/* scratch: pending_ready() per destination */
	unsigned char *join;	/* scratch: plan() per destination */
	int suspended;
	int sync_now;		/* SYNC_ASKED or SYNC_FULL, or 0 */
	int watch_incomplete;	/* part of the tree is not watched */
	/*
	 * A source that is a store (or a mount of one) with watch = yes: its
	 * master's commits drive the file set (storewatch.c), not inotify.
	 */
	int store_source;
	int store_following;	/* its master tells us its commits now */
	int relaying;		/* a forward's store: a session into it is
				   relayed to the hops as it comes */
	struct store_gen read;	/* what the last session read (epoch 0: unknown) */
	struct store_gen told;	/* the latest generation its master told */
	int told_unseen;	/* told while a session ran: compared at its end */
	int commit_unseen;	/* a commit into the store told by a session
				   process (forward.h) while a session ran */
	int ran;		/* a session ran since mirrord started */
	unsigned long sessions;	/* how many */
	time_t next_run;	/* scheduled, or 0 */
	time_t last_start, last_end;
	/* The session in progress: */
	pthread_t thread;
	int running;
	volatile int done;
	volatile int cancel;
	int wakefd;
	struct pending_take take;
	struct store_gen cur_read;	/* the session thread's: what it read */
	struct htab force;	/* take.forced, for the sender */
};

enum { SYNC_ASKED = 1, SYNC_FULL };

#endif
