/* forward: a store's forward = (relays): its session processes tell the daemon each commit to pass on. */
#ifndef MIRRORFS_FORWARD_H
#define MIRRORFS_FORWARD_H

#include "config.h"
#include "result.h"

/*
 * A [store NAME] with forward = URL... is relayed by a file set of its
 * own (config.h, CONFIG_FORWARD_PREFIX NAME) whose source is the store,
 * read at one committed generation (readhold.h), and whose destinations
 * are the hops, each with its own pending work, retries and status.
 * A mount serving the store announces its commits (storewatch.h). A
 * session that a listener's session process committed into the store
 * itself (no mount) is told to the daemon through a pipe: one line, the
 * store's name, written after the commit; a session that failed, or
 * changed nothing, writes none, so nothing is forwarded for it.
 */

/* The pipe's write end in a session process (see inbound.h). */
#define FORWARD_FD 5

/*
 * The daemon's end: a non-blocking, close-on-exec pipe into fds (read,
 * write). -1 logged.
 */
int forward_pipe(int fds[2]);

/*
 * In the session process, after a session into store sc committed with
 * counts r: when sc forwards and r changed something, tells the daemon
 * (FORWARD_FD). A daemon that cannot be told is logged; the session
 * stands (the forward's next whole session catches up).
 */
void forward_tell(const struct store_conf *sc, const struct result *r);

/*
 * Reads what the session processes told from rfd (non-blocking) and
 * calls fn with each store's name that is one of cfg's and forwards;
 * anything else is logged and dropped.
 */
void forward_heard(int rfd, const struct config *cfg,
    void (*fn)(void *arg, const char *store), void *arg);

#endif
