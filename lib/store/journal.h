/* journal: the durable list of a session's commit operations, and its replay. */
#ifndef MIRRORFS_JOURNAL_H
#define MIRRORFS_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "store.h"

/*
 * A commit is: new versions staged and synced; this journal written to
 * journal.tmp, synced and renamed to "journal" (the commit point); each
 * record carried out in order; the store synced; the journal removed.
 * Every record is idempotent, so a crash at any point is repaired by
 * replaying the journal (roll forward) when it exists, or by discarding
 * staging/ (roll back) when it does not. Records run in order, and the
 * order is all a writer must keep (commit.c): a directory's MKDIR or
 * SWAP before anything inside it, its ATTR after every record below it
 * (its mtime), the top's ATTR last.
 */
enum journal_op {
	JOP_MKDIR = 1,		/* create directory path (no attributes yet) */
	/*
	 * Rename staging/staged over path; a staged name that starts with
	 * JOURNAL_TREE ("tI", a new directory staged whole with its tree)
	 * never replaces what is at path: that fails with EEXIST.
	 */
	JOP_PUT,
	JOP_ATTR,		/* set mode, owner, mtime of path ("." is the top) */
	JOP_REMOVE,		/* remove path, a directory with its contents */
	/*
	 * Exchange staging/staged (inode ino) with what is at path, then
	 * remove the old entry, now in staging/: a type change where either
	 * is a directory (a rename replaces a non-directory by itself).
	 * Readers see the old entry or the new one, never nothing; redone
	 * after a crash, a path that already has inode ino was exchanged,
	 * and only what is not ino is ever removed.
	 */
	JOP_SWAP,
	JOP_MAX = JOP_SWAP
};

#define JOURNAL_TREE 't'

#define JREC_OWNER 0x1		/* ATTR: set the owner too */
#define JREC_LINK  0x2		/* ATTR: path is a symlink (no mode) */
#define JREC_XATTR 0x4		/* ATTR: extended attributes in ns too */

/* What an ATTR record sets. */
struct journal_attr {
	uint32_t mode;		/* permission bits (07777) */
	uint32_t uid;
	uint32_t gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	unsigned ns;		/* JREC_XATTR: the namespaces (xattr.h) set */
	uint8_t *xattrs;	/* exactly these there (canonical, xattr.h) */
	uint32_t xattrs_len;
};

/*
 * A record's strings and attributes live in its journal's arena (freed
 * with the journal): a record is 48 bytes, plus its path and staged name,
 * and only an ATTR (or a parsed record) carries attributes.
 */
struct journal_rec {
	uint8_t op;
	uint8_t flags;
	const char *path;
	const char *staged;	/* PUT, SWAP: name in staging/ */
	const struct journal_attr *attr;	/* NULL: none given */
	uint64_t ino;		/* SWAP: the staged entry's inode */
	size_t ref;		/* the caller's tag (not stored on disk) */
};

struct journal_chunk;

struct journal {
	struct journal_rec *v;
	size_t n;
	size_t cap;
	struct journal_chunk *arena;	/* the records' strings and attributes */
};

void journal_init(struct journal *j);
void journal_release(struct journal *j);
/*
 * Appends a record (strings, attr and its xattrs copied into j's arena;
 * attr may be NULL) tagged with ref. -1 on ENOMEM.
 */
int journal_add(struct journal *j, int op, int flags, const char *path,
    const char *staged, const struct journal_attr *attr, size_t ref);
/* Appends a SWAP of path with staging/staged, whose inode is ino. -1 ENOMEM. */
int journal_add_swap(struct journal *j, const char *path, const char *staged,
    uint64_t ino, size_t ref);

/* Removes every record i with drop[i] set, keeping the order of the rest. */
void journal_drop(struct journal *j, const uint8_t *drop);

/*
 * Parses a journal file's bytes into j (initialised by the caller).
 * Returns 0, or -1 with *why set (checksum, a journal of another format
 * version, a bad record).
 */
int journal_parse(const uint8_t *p, size_t n, struct journal *j,
    const char **why);

/*
 * One record in the journal file's encoding, for a caller that keeps
 * records elsewhere (the commit's spool, jspool.h). journal_encode
 * appends r (not its ref) to b: -1 on ENOMEM. journal_decode reads one
 * from rd into *r, checked as a journal file's records are; its strings
 * live in d until the next decode into d or journal_dec_release, its
 * extended attributes in rd's input: 0, or -1 with *why (d released).
 * A journal_dec starts zeroed.
 */
struct journal_dec {
	char *path;
	char *staged;
	struct journal_attr attr;
};

int journal_encode(const struct journal_rec *r, struct buf *b);
int journal_decode(struct reader *rd, struct journal_rec *r,
    struct journal_dec *d, const char **why);
void journal_dec_release(struct journal_dec *d);

/*
 * A journal written as its records come, a piece at a time, never whole
 * in memory: journal_begin (count: the records to come), journal_put
 * for each, then journal_commit, which makes it durable as the store's
 * journal (the commit point), or journal_abort. Each -1 is logged; after
 * a failed put the caller aborts; begin and commit end w themselves.
 */
struct journal_writer {
	struct store *s;
	int fd;
	struct XXH3_state_s *h;	/* the checksum so far */
	struct buf b;		/* encoded, not yet written */
	uint64_t count;
	uint64_t done;
};

int journal_begin(struct journal_writer *w, struct store *s, uint64_t count);
int journal_put(struct journal_writer *w, const struct journal_rec *r);
int journal_commit(struct journal_writer *w);
void journal_abort(struct journal_writer *w);

/* Makes j durable as the store's journal (a writer of its records). -1 logged. */
int journal_write(struct store *s, const struct journal *j);
/*
 * Carries out record r, resolving its path through d. Redoing a record
 * already done is harmless. Returns 0, or -1 with errno.
 */
int journal_apply_rec(struct store *s, struct store_dir *d,
    const struct journal_rec *r);
/*
 * Once every record ran: syncs the store, removes the journal and
 * empties staging/. Returns 0, or -1 when the journal could not be
 * retired (logged): the next recovery rolls the session forward again.
 */
int journal_finish(struct store *s);
/*
 * journal_finish without its sync, for a caller that made every record's
 * work durable itself (durable.h). Same returns.
 */
int journal_retire(struct store *s);
/*
 * Repairs an interrupted session: replays a committed journal, discards
 * staged files and partial journals. With replayed not NULL (an empty
 * journal), moves the replayed records there. Returns 0, or -1 (logged)
 * when the journal is unreadable; then nothing is changed. Called only
 * by the store's master (master.h).
 */
int journal_recover(struct store *s, struct journal *replayed);

#endif
