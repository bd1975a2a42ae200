/* journal: the durable list of a session's commit operations, and its replay. */
#ifndef MIRRORFS_JOURNAL_H
#define MIRRORFS_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sys/stat.h>

#include "manifest.h"

struct store;

#define JOURNAL_NAME "journal"

/*
 * A commit is: new versions staged and synced; this journal written to
 * journal.tmp, synced and renamed to "journal" (the commit point); each
 * record carried out in order; the store synced; the journal removed.
 * Every record is idempotent, so a crash at any point is repaired by
 * replaying the journal (roll forward) when it exists, or by discarding
 * staging/ (roll back) when it does not.
 */
enum journal_op {
	JOP_MKDIR = 1,		/* create directory path (no attributes yet) */
	JOP_PUT,		/* rename staging/staged over path */
	JOP_ATTR,		/* set mode, owner, mtime of path ("." is the top) */
	JOP_REMOVE,		/* remove path, a directory with its contents */
	JOP_MAX = JOP_REMOVE
};

#define JREC_OWNER 0x1		/* ATTR: set the owner too */
#define JREC_LINK  0x2		/* ATTR: path is a symlink (no mode) */

struct journal_rec {
	int op;
	int flags;
	char *path;		/* owned */
	char *staged;		/* PUT: name in staging/, owned */
	struct entry attr;	/* ATTR: the attributes; strings unused */
	size_t ref;		/* the caller's tag (not stored on disk) */
};

struct journal {
	struct journal_rec *v;
	size_t n;
	size_t cap;
};

void journal_init(struct journal *j);
void journal_release(struct journal *j);
/*
 * Appends a record (strings copied; attr may be NULL) tagged with ref.
 * -1 on ENOMEM.
 */
int journal_add(struct journal *j, int op, int flags, const char *path,
    const char *staged, const struct entry *attr, size_t ref);

/* Called for each record that could not be carried out, with its errno. */
typedef void journal_error_fn(void *arg, const struct journal_rec *r, int err);

/*
 * What the owner of a store (the mount) learns during a commit.
 * before: called just before a PUT or REMOVE changes path, with the
 * stat of what is there now (old is NULL when nothing is). Either hook
 * may be NULL.
 */
struct journal_hooks {
	void *arg;
	journal_error_fn *on_error;
	void (*before)(void *arg, const struct journal_rec *r,
	    const struct stat *old);
	/* Called once every record has run, before the final sync. */
	void (*applied)(void *arg);
};

/*
 * Parses a journal file's bytes into j (initialised by the caller).
 * Returns 0, or -1 with *why set (checksum, version, a bad record).
 */
int journal_parse(const uint8_t *p, size_t n, struct journal *j,
    const char **why);

/* Makes j durable as the store's journal: the commit point. -1 logged. */
int journal_write(struct store *s, const struct journal *j);
/*
 * Carries out every record, reporting failures through on_error, then
 * syncs the store, removes the journal and empties staging/. Returns -1
 * only when the journal could not be retired (logged).
 */
int journal_apply(struct store *s, const struct journal *j,
    journal_error_fn *on_error, void *arg);
/* journal_apply with the store owner's hooks (before may be NULL). */
int journal_apply_hooks(struct store *s, const struct journal *j,
    const struct journal_hooks *h);
/*
 * Repairs an interrupted session: replays a committed journal, discards
 * staged files and partial journals. Returns 0, or -1 (logged) when the
 * journal is unreadable; then nothing is changed.
 */
int journal_recover(struct store *s);
/* journal_recover that tells replayed (when not NULL) what it redid. */
int journal_recover_with(struct store *s,
    void (*replayed)(void *arg, const struct journal *j), void *arg);

#endif
