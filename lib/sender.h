/* sender: the source half of a session (scan, manifest, file data), to one or many destinations. */
#ifndef MIRRORFS_SENDER_H
#define MIRRORFS_SENDER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conn.h"
#include "filter.h"
#include "result.h"

struct delta_sig;
struct filespool_cursor;
struct htab;
struct store_gen;

/*
 * As rsync's --whole-file / --no-whole-file: by default files go as
 * deltas to ssh:// and mirror:// destinations (the network is the cost)
 * and whole to local ones (reading the old version would cost more).
 */
enum whole_file { WHOLE_FILE_AUTO = 0, WHOLE_FILE_YES, WHOLE_FILE_NO };

struct sender_opts {
	uint32_t flags;			/* SESSION_* */
	const struct filter *filter;
	int progress;			/* draw a progress line on stderr */
	/*
	 * Quiescence (mirrord): a file changed less than quiet seconds ago,
	 * or, with hold_open, open for write by some process (a read lease
	 * cannot be had), is held back: reported as ITEM_HELD (a skip), and
	 * sent by a later session. openupdate
	 * >= 0 sends a file open for write once unchanged that long. Paths in
	 * force (past max_defer) are sent anyway when a consistent copy can
	 * be read.
	 */
	int quiet;
	int hold_open;
	int openupdate;
	const struct htab *force;
	/* Set (by another thread) to abandon the session: nothing is committed. */
	const volatile int *cancel;
	/*
	 * With as_user, the source is read with these file-system ids (the
	 * calling thread's only: receivers in other threads are not affected).
	 */
	int as_user;
	uid_t fsuid;
	gid_t fsgid;
	/*
	 * A partial session (mirrord after changes): only these paths, and
	 * the directories above them, are compared and sent; a path that is
	 * gone is purged (with purge). NULL: the whole tree.
	 */
	const char *const *paths;
	size_t npaths;
	/* Keep only the skip, fail and vanished lines of the receivers. */
	int problems_only;
	/* Delta transfer: read by session_run, which sets each peer's flag. */
	enum whole_file whole_file;
	/*
	 * --bwlimit: bytes per second on the wire to each destination while
	 * file data goes out (0: no limit); on every transport alike.
	 */
	uint64_t bwlimit;
	/*
	 * The manifest to build (empty; the caller's, released by it after
	 * the session), reserved (manifest_reserve) when a receiver thread
	 * of this process reads it as ENTRY frames come; NULL: our own.
	 */
	struct manifest *manifest;
	/*
	 * The source is a store read at one generation (session.c holds
	 * it): source_store leaves its top-level .mirrorfs out unsaid, and
	 * source_done, once every file is read and before any receiver is
	 * told to commit, says whether the hold held: -1 with why filled
	 * ends every receiver's session uncommitted with that reason.
	 */
	int source_store;
	int (*source_done)(void *arg, char *why, size_t len);
	void *source_arg;
	/*
	 * Filled by session_run when not NULL: the store generation the
	 * session read (epoch 0: the source is no store served by a mount).
	 */
	struct store_gen *source_read;
};

/* One destination of a session. */
struct sender_peer {
	struct conn *c;		/* an open transport to a receiver */
	struct result *res;	/* filled: the sender's and this receiver's lines */
	int failed;		/* set when this destination's session failed */
	char error[512];	/* then why (the peer's word when it said) */
	/*
	 * Set once we told it to commit (COMMIT): a failure after that
	 * leaves the outcome unknown (the link died after the commit
	 * began); before it, nothing was committed there.
	 */
	int committing;
	int delta;		/* offer deltas: the receiver may send signatures */
	/*
	 * A receiver on this machine over a Unix socket: pass it the
	 * descriptors of big files (FILE_FD) instead of their bytes.
	 */
	int fdpass;
	/* private to sender.c: */
	uint32_t *need;
	/*
	 * Per need, once a NEED_FROM or NEED_SIG came (NULL till then: a
	 * whole file from 0, no delta): most lists have neither.
	 */
	uint64_t *from;		/* bytes the receiver already has */
	struct delta_sig **sig;	/* send a delta against it */
	uint8_t (*kept)[16];	/* per need, once a NEED_FROM came: its hash */
	uint64_t sigbytes;
	size_t nneed;
	size_t next;
	uint64_t paced;		/* bytes_out counted by the rate limit */
	uint64_t taken;		/* bytes_out when its requests were last taken */
	size_t cap;		/* room in need, from, sig, kept */
	int ended;		/* END_NEED came: no more requests */
	/*
	 * Its last MARK: the walk waits once it is the window ahead of it
	 * (sender.c, hold_walk); MARK_NO_HOLD, never.
	 */
	uint32_t acked;
	struct delta_job *sig_load;	/* a signature arriving, for sig_idx */
	uint32_t sig_idx;
	uint64_t sig_size;		/* the size of that file */
	struct filespool_cursor *check;	/* reads the spool for its requests */
};

/*
 * Runs one session from the directory source to every peer at once:
 * scans the source once, sends each peer the manifest, then reads each
 * file the peers asked for once and streams it to all of them. A peer
 * that fails (connection lost, silent past its timeout) is marked failed
 * and the others go on; every receiver commits only once the sender has
 * told it to (COMMIT_ASK, COMMIT), all of them at once. Returns 0 with each peer's outcome in its failed
 * flag and result, or -1 when the source could not be scanned (logged).
 */
int sender_run_peers(struct sender_peer *peers, size_t n, const char *source,
    const struct sender_opts *o);

/* One destination: 0 with res filled, or -1 (logged). */
int sender_run(struct conn *c, const char *source,
    const struct sender_opts *o, struct result *res);

#endif
