/* proto: the session protocol's messages, their encoders and checked decoders. */
#ifndef MIRRORFS_PROTO_H
#define MIRRORFS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "filter.h"
#include "manifest.h"
#include "result.h"

#define PROTO_MAGIC 0x4d524653u	/* "MRFS" */
/*
 * 2: NEED_SIG, FILE_DELTA, END_MANIFEST flags; 3: ITEM_HELD, attributes,
 * HOLE, special files, FILE_FD; 4: globs with '**' (pattern.h); 5: data
 * flows while requests still come (a receiver sends requests and reads
 * data at once); 6: ITEM_TOUCH, and each ITEM's kind, changes and target
 * (-i); a reader's CTL_HOLD and CTL_WATCH, GEN; 7: ENTRY frames in
 * path_order (path.h), a manifest out of it refused; 8: HOPS (a relay's
 * report of the hops below it, before RESULT); 9: signatures and deltas
 * in our own formats (delta_impl.h), no longer librsync's; 10: ENTRY's
 * has_hash byte says with its bit 1 that a file has later names, so a
 * receiver keeps only those first names (its window, receiver.c); 11:
 * SESSION carries the sender's walk window, and MARK (flow control on
 * the walk: sender.c holds it, receiver.c acks)
 */
#define PROTO_VERSION 11

#define PROTO_MAX_RULES 4096
#define PROTO_MAX_NEED 32768	/* indexes per NEED frame */
#define PROTO_MAX_REASON 1024
#define PROTO_DATA_CHUNK (1024 * 1024)

/*
 * A session, sender (S) and receiver (R), one phase at a time:
 *   S: HELLO            R: HELLO (or ERROR)
 *   S: SESSION, ENTRY*, END_MANIFEST
 *   R: NEED*, END_NEED  (indexes of entries whose data R wants, ascending)
 *      MARK*           (any time from SESSION to END_NEED: flow control)
 *   S: (FILE DATA* (FILE_END | FILE_ABORT))*, DONE
 *   R: ITEM*, RESULT
 * Either side may send ERROR instead of its next message and close.
 */
enum msg_type {
	MSG_HELLO = 1,
	MSG_SESSION,
	MSG_ENTRY,
	MSG_END_MANIFEST,
	MSG_NEED,
	MSG_END_NEED,
	MSG_FILE,
	MSG_DATA,
	MSG_FILE_END,
	MSG_FILE_ABORT,
	MSG_DONE,
	MSG_ITEM,
	MSG_RESULT,
	MSG_ERROR,
	MSG_CTL,		/* first frame on a control socket: the request */
	MSG_CTL_RENAMED,	/* one kept old version (reply to CTL_RENAMED) */
	/* Master -> slave mount, for each commit (see fs/slave.c): */
	MSG_SUB_BEGIN,		/* freeze opens, then ACK */
	MSG_SUB_PATH,		/* a path the commit changes; VERDICT each */
	MSG_SUB_PATHS_END,	/* then the slave sends its VERDICTs */
	MSG_SUB_KEPT,		/* an old version you hold is renamed/NAME */
	MSG_SUB_END,		/* invalidate the paths, thaw, then ACK */
	/* Slave -> master: */
	MSG_SUB_VERDICT,
	MSG_SUB_ACK,
	/* Opening a transport (net.c), before HELLO: */
	MSG_NET_OPEN,		/* client: which store, compression, nonce */
	MSG_NET_CHALLENGE,	/* server: its nonce */
	MSG_NET_PROOF,		/* each side: MAC of both nonces under the key */
	MSG_NET_OK,		/* server, when the transport authenticates (ssh) */
	/* Resuming an interrupted transfer: */
	MSG_NEED_FROM,		/* R: an entry's data from an offset on */
	MSG_FILE_FROM,		/* S: FILE whose DATA starts at an offset */
	/* mirrorctl -> mirrord on its control socket: */
	MSG_DAEMON,		/* u8 op (DAEMON_*), str file set name */
	MSG_DAEMON_REPLY,	/* text (status: JSON) */
	/* Delta transfer (SESSION_DELTA): */
	MSG_NEED_SIG,		/* R: an entry as a delta against this signature */
	MSG_FILE_DELTA,		/* S: FILE whose DATA is a delta (delta.h) */
	/* The commit point, agreed (not in dry runs): */
	MSG_COMMIT_ASK,		/* R: all is staged; may it be committed? */
	MSG_COMMIT,		/* S: commit it */
	MSG_HOLE,		/* S: inside a FILE, a run of zeros not sent */
	MSG_FILE_FD,		/* S: FILE as a descriptor (SCM_RIGHTS), no DATA */
	/* Master -> reader of the store (CTL_HOLD, CTL_WATCH): */
	MSG_GEN,		/* the store's generation (and a hold's state) */
	MSG_HOPS,		/* R, before RESULT: the hops below (hops.h) */
	MSG_MARK,		/* R, during the requests: how far it is (MARK_*) */
	MSG_TYPE_MAX = MSG_MARK
};

enum daemon_op {
	DAEMON_STATUS = 1,
	DAEMON_SUSPEND,
	DAEMON_RESUME,
	DAEMON_SYNC_NOW,	/* what is pending (all, when the watch is not complete) */
	DAEMON_SYNC_FULL,	/* a session that walks the whole tree */
	DAEMON_OP_MAX = DAEMON_SYNC_FULL
};

/* Requests to a store's master over .mirrorfs/control.sock. */
enum ctl_op {
	CTL_SESSION = 1,	/* a sync session follows (HELLO ...) */
	CTL_RENAMED,		/* list kept old versions, then DONE */
	CTL_SUBSCRIBE,		/* a slave mount: follow every commit */
	CTL_HOLD,		/* a reader: no commit starts for arg seconds */
	CTL_WATCH,		/* a reader: a GEN after every commit */
	CTL_OP_MAX = CTL_WATCH
};

/* Session flags. */
#define SESSION_PURGE		0x01u
#define SESSION_PURGE_DIRS	0x02u
#define SESSION_CHECKSUM	0x04u
#define SESSION_REPORT		0x08u
#define SESSION_PARTIAL		0x10u	/* only the entries sent (and GONE) */
#define SESSION_DELTA		0x20u	/* the sender takes NEED_SIG */
#define SESSION_XATTRS		0x40u	/* entries carry user.*, trusted.*, security.* */
#define SESSION_ACLS		0x80u	/* entries carry their POSIX ACLs */
#define SESSION_FDPASS		0x100u	/* a local sender may send FILE_FD */
#define SESSION_FLAGS_ALL	0x1ffu

/* The attribute namespaces (xattr.h) a session of these flags carries. */
unsigned proto_session_ns(uint32_t flags);
/* The MANIFEST_SCAN_* reads (manifest.h) a session of these flags needs. */
unsigned proto_session_scan(uint32_t flags);

/* The metadata of a file as the sender found it when it opened it. */
struct file_head {
	uint32_t index;
	uint64_t offset;	/* FILE_FROM: where its DATA starts; FILE: 0 */
	int delta;		/* FILE_DELTA: DATA is a delta, not the bytes */
	struct entry attr;	/* size, mode, uid, gid, mtime; no strings */
};

/* A name for a message type in error messages. */
const char *proto_msg_name(int type);

/*
 * Each proto_send_* queues one frame on c (see conn_send) and returns 0
 * or -1 (logged). Each proto_decode_* checks every field and bound of a
 * received payload, returns 0, or -1 with a message in err (errlen bytes)
 * naming what was wrong; on failure it has freed anything it allocated.
 */
int proto_send_hello(struct conn *c);
int proto_decode_hello(const uint8_t *p, size_t n, char *err, size_t errlen);

/*
 * window: how many entries the sender walks past the receiver's last
 * MARK before it waits for the next (0: it never waits, send no MARK).
 */
int proto_send_session(struct conn *c, uint32_t flags, uint32_t window,
    const struct filter *f);
/* Fills a filter the caller has initialised (and releases). */
int proto_decode_session(const uint8_t *p, size_t n, uint32_t *flags,
    uint32_t *window, struct filter *f, char *err, size_t errlen);

int proto_send_entry(struct conn *c, const struct entry *e);
/*
 * Fills e; its strings are then owned by the caller. ns: the attribute
 * namespaces of the session (proto_session_ns); any other is refused.
 */
int proto_decode_entry(const uint8_t *p, size_t n, unsigned ns,
    struct entry *e, char *err, size_t errlen);

/*
 * The manifest's end: its count and the top's attributes. With
 * MANIFEST_INCOMPLETE the source could not be read whole (the entries
 * stream out while it is scanned): the receiver then purges nothing.
 */
#define MANIFEST_INCOMPLETE	0x01
#define MANIFEST_FLAGS_ALL	0x01
int proto_send_end_manifest(struct conn *c, uint64_t count,
    const struct entry *top, int flags);
/* top's attributes are then owned by the caller (entry_release). */
int proto_decode_end_manifest(const uint8_t *p, size_t n, unsigned ns,
    uint64_t *count, struct entry *top, int *flags, char *err,
    size_t errlen);

int proto_send_need(struct conn *c, const uint32_t *idx, size_t n);
/* Writes up to PROTO_MAX_NEED indexes into idx. */
int proto_decode_need(const uint8_t *p, size_t n, uint32_t *idx,
    size_t *count, char *err, size_t errlen);

/*
 * One NEED_FROM: the receiver holds the first offset bytes of index (all
 * of it when offset is its size), whose hash is kept: the sender resumes
 * only when its own first offset bytes hash the same.
 */
int proto_send_need_from(struct conn *c, uint32_t index, uint64_t offset,
    const uint8_t kept[HASH_SIZE]);
int proto_decode_need_from(const uint8_t *p, size_t n, uint32_t *index,
    uint64_t *offset, uint8_t kept[HASH_SIZE], char *err, size_t errlen);

/*
 * One frame of NEED_SIG: part of the signature (delta.h) of the version
 * of entry index the receiver has; more is 0 on its last frame. The
 * frames of one signature follow each other.
 */
#define PROTO_SIG_CHUNK (64 * 1024)
int proto_send_need_sig(struct conn *c, uint32_t index, int more,
    const void *sig, size_t n);
/* *sig points into p. */
int proto_decode_need_sig(const uint8_t *p, size_t n, uint32_t *index,
    int *more, const uint8_t **sig, size_t *len, char *err, size_t errlen);

/*
 * MARK, a u32 from the receiver while the manifest comes: every entry
 * below it is done with there (the sender may walk window entries past
 * it), or MARK_NO_HOLD: do not wait for this receiver at all (it stays
 * so). A MARK is never above the entries sent, always above the last
 * one, and no request comes below it (the sender refuses all three).
 */
#define MARK_NO_HOLD UINT32_MAX
int proto_send_mark(struct conn *c, uint32_t mark);
int proto_decode_mark(const uint8_t *p, size_t n, uint32_t *mark, char *err,
    size_t errlen);

/*
 * Inside a whole FILE (or FILE_FROM), in place of DATA: len bytes of
 * zeros that the receiver leaves as a hole (sparse files).
 */
int proto_send_hole(struct conn *c, uint64_t len);
int proto_decode_hole(const uint8_t *p, size_t n, uint64_t *len, char *err,
    size_t errlen);

/* FILE_DELTA when h->delta, FILE_FROM when h->offset > 0, else FILE. */
int proto_send_file(struct conn *c, const struct file_head *h);
/*
 * FILE_FD (a FILE's payload, h->offset 0, not a delta) with the source
 * file's descriptor fd attached: the receiver copies it itself; no DATA
 * or FILE_END follows. -1 with errno as conn_send_fd (ETOOMANYREFS: not
 * sent, send the file as data).
 */
int proto_send_file_fd(struct conn *c, const struct file_head *h, int fd);
int proto_decode_file(const uint8_t *p, size_t n, struct file_head *h,
    char *err, size_t errlen);
int proto_decode_file_from(const uint8_t *p, size_t n, struct file_head *h,
    char *err, size_t errlen);

/*
 * Ends a file early. action is ITEM_FAIL, ITEM_SKIP or ITEM_VANISHED for
 * a final outcome, or ABORT_RETRY: this attempt is void, the same file
 * follows again (it changed while being read).
 */
#define ABORT_RETRY 0
int proto_send_file_abort(struct conn *c, uint32_t index, int action,
    const char *reason);
/* *reason is a new string the caller frees. */
int proto_decode_file_abort(const uint8_t *p, size_t n, uint32_t *index,
    int *action, char **reason, char *err, size_t errlen);

int proto_send_item(struct conn *c, const struct item *it);
/* Fills it; its strings are then owned by the caller. */
int proto_decode_item(const uint8_t *p, size_t n, struct item *it,
    char *err, size_t errlen);

int proto_send_result(struct conn *c, const struct result *r);
/* Fills the counts and report flag of r, not its items. */
int proto_decode_result(const uint8_t *p, size_t n, struct result *r,
    char *err, size_t errlen);

/*
 * CTL: u8 op, u32 arg. For CTL_SESSION arg is how long, in seconds, the
 * master may wait for each of the client's frames (0: its default); for
 * CTL_HOLD how long the hold may last at most (1 to 86400; the master
 * may grant less); 0 for the other requests.
 */
int proto_send_ctl(struct conn *c, int op, uint32_t arg);
int proto_decode_ctl(const uint8_t *p, size_t n, int *op, uint32_t *arg,
    char *err, size_t errlen);

/* A renamed (kept) old version: its name in renamed/, where it was, open count. */
struct renamed_info {
	char *name;
	char *path;
	uint32_t opens;
};
int proto_send_renamed(struct conn *c, const struct renamed_info *ri);
/* Fills ri; its strings are then owned by the caller. */
int proto_decode_renamed(const uint8_t *p, size_t n, struct renamed_info *ri,
    char *err, size_t errlen);

/*
 * A path a commit into the store changes, as the master tells a slave
 * mount: its name (created, replaced, removed) or its attributes in
 * place. ino is what is there now, 0 for nothing; a path with an inode
 * is a question the slave answers with a VERDICT.
 */
enum sub_kind { SUB_NAME = 1, SUB_ATTR = 2 };
struct sub_path {
	int kind;		/* enum sub_kind */
	uint64_t dev;
	uint64_t ino;
	char *path;
};
int proto_send_sub_path(struct conn *c, const struct sub_path *sp);
/* Fills sp; sp->path is then owned by the caller. */
int proto_decode_sub_path(const uint8_t *p, size_t n, struct sub_path *sp,
    char *err, size_t errlen);

/* A slave's answer about one path: not open, open (keep it), or a veto. */
enum sub_verdict { VERDICT_FREE = 0, VERDICT_OPEN, VERDICT_VETO };
int proto_send_sub_verdict(struct conn *c, int verdict, const char *reason);
int proto_decode_sub_verdict(const uint8_t *p, size_t n, int *verdict,
    char **reason, char *err, size_t errlen);

/*
 * GEN: u64 epoch, u64 generation, u32 hold seconds, u8 broken. The epoch
 * names one life of a master (random at its start), the generation
 * counts the commits that changed something in that life. To a hold
 * (CTL_HOLD) the master sends one when the hold begins (hold_s: how long
 * it was granted) and one in answer to the reader's DONE (broken: a
 * commit went ahead once the hold had expired, so what was read may mix
 * two generations); to a watcher (CTL_WATCH) one at once and one after
 * each commit (hold_s and broken 0).
 */
struct store_gen {
	uint64_t epoch;
	uint64_t gen;
	uint32_t hold_s;
	int broken;
};
int proto_send_gen(struct conn *c, const struct store_gen *g);
/*
 * HOPS (hops.h): what a relay knows of the hops below the store a
 * session went into, sent just before its RESULT. Decoded with
 * hops_decode.
 */
int proto_send_hops(struct conn *c, const struct hops *h);
int proto_decode_gen(const uint8_t *p, size_t n, struct store_gen *g,
    char *err, size_t errlen);

int proto_send_sub_kept(struct conn *c, uint64_t dev, uint64_t ino,
    const char *name);
int proto_decode_sub_kept(const uint8_t *p, size_t n, uint64_t *dev,
    uint64_t *ino, char **name, char *err, size_t errlen);

/*
 * Receives the next frame: its type, or -1 when the stream ended, failed,
 * brought an ERROR (its text is logged, naming the peer) or, when want is
 * not 0, a frame of another type (logged).
 */
int proto_expect(struct conn *c, int want, const uint8_t **p, size_t *n);

int proto_send_daemon(struct conn *c, int op, const char *name);
/* *name is a new string the caller frees. */
int proto_decode_daemon(const uint8_t *p, size_t n, int *op, char **name,
    char *err, size_t errlen);

int proto_send_error(struct conn *c, const char *msg);
/* *msg is a new string the caller frees. */
int proto_decode_error(const uint8_t *p, size_t n, char **msg);

#endif
