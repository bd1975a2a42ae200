/* forward: a store's forward = (relays): its session processes tell the daemon each commit to pass on. */
#ifndef MIRRORFS_FORWARD_H
#define MIRRORFS_FORWARD_H

#include "buf.h"
#include "config.h"
#include "hops.h"
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
 * In the session process: a session into sc is relayed to its hops as it
 * comes (relay.h), from on = 1 until on = 0. Meanwhile the daemon starts
 * no session of sc's forward: it would hold the store's generation for
 * reading (readhold.h) while it waits for a hop, and that hop waits for
 * this session's commit, which waits for the reading to end.
 */
void forward_relaying(const struct store_conf *sc, int on);

/* What a session process tells (the lines of the pipe). */
enum forward_word {
	FORWARD_COMMITTED,	/* "C NAME": forward that commit */
	FORWARD_RELAY_BEGIN,	/* "B PID NAME": relaying a session into it */
	FORWARD_RELAY_END	/* "E PID NAME": done with it */
};

/*
 * Reads what the session processes told from rfd (non-blocking) and
 * calls fn with each word about a store that is one of cfg's and
 * forwards (pid: the session process, for the relay words); anything
 * else is logged and dropped.
 */
typedef void forward_heard_fn(void *arg, const char *store,
    enum forward_word w, pid_t pid);
void forward_heard(int rfd, const struct config *cfg, forward_heard_fn *fn,
    void *arg);

/*
 * What the daemon knows of the hops below each store that forwards goes
 * to each session process it starts (inbound.h), which sends it to the
 * sender before its RESULT (HOPS): records of str store name, u32
 * length, a HOPS payload. forward_hops_put appends one to b (-1 ENOMEM);
 * forward_hops_find decodes the one of store into h (empty on entry):
 * 0, also when there is none (h stays empty), -1 logged on a malformed
 * record.
 */
int forward_hops_put(struct buf *b, const char *store, const struct hops *h);
int forward_hops_find(const uint8_t *p, size_t n, const char *store,
    struct hops *h);

#endif
