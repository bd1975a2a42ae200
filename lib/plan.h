/* plan: what a session must do to each entry, decided against the store. */
#ifndef MIRRORFS_PLAN_H
#define MIRRORFS_PLAN_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "filter.h"
#include "manifest.h"
#include "result.h"
#include "store/store.h"

enum plan_state {
	PLAN_UNCHANGED = 0,
	PLAN_CREATE,
	PLAN_REPLACE,
	PLAN_SKIP,
	PLAN_FAIL,
	PLAN_VANISHED,
	PLAN_PURGE,		/* purges only */
	PLAN_HELD,		/* the sender held it back (not quiescent) */
};

#define PF_DATA    0x01	/* wants file data from the sender */
#define PF_STAGED  0x02	/* a new version waits in staging/ (plan_staged_name) */
#define PF_ATTR    0x04	/* attributes to set in place */
#define PF_DIRATTR 0x08	/* directory attributes to set last */
#define PF_EXISTS  0x10	/* present in the store before the session */
#define PF_DELTA   0x20	/* asked for as a delta against the store's version */
#define PF_ASKED   0x40	/* its data was asked for (NEED, NEED_FROM, NEED_SIG) */
#define PF_RETYPE  0x80	/* replaces an entry of another type (purge only) */
#define PF_OLDDIR  0x100	/* what it replaces is a directory (its tree goes) */
#define PF_REASON  0x200	/* has a reason (plan_reason) */
/*
 * A new directory in a directory the store has: staged whole, as
 * staging/tI with everything under it in place (PF_INNER), and put in
 * place by one rename at the commit instead of a MKDIR and a rename of
 * each file.
 */
#define PF_NEWTREE 0x400
#define PF_INNER   0x800	/* inside a PF_NEWTREE directory's staged copy */
/*
 * Under a PF_NEWTREE directory but staged as any other entry, with a
 * record of its own after the tree's: its place in the tree's copy
 * ("tI/" and its path below the tree's top) would be PATH_MAX or longer.
 */
#define PF_UNDER   0x1000
/* Purges in this directory were decided (its ATTR may be wanted: PF_DIRATTR says) */
#define PF_PURGED  0x2000
/* its passed descriptor is being copied (copier.h): no other data may come for it */
#define PF_COPYING 0x4000

/* 6 bytes: a plan holds one per entry, millions of them. */
struct plan_entry {
	uint8_t state;
	uint16_t flags;
	uint16_t changes;	/* ITEM_CH_*: what differs, for -i */
};

/* A reason of an entry, kept apart: few entries have one. */
struct plan_reason {
	size_t i;		/* the entry + 1; 0: an empty slot */
	char *reason;		/* owned */
};

/* A PF_NEWTREE directory: its entry, and its path (owned). */
struct plan_tree {
	size_t i;
	char *path;
};

/* An extra entry of the store that the session deletes. */
struct plan_purge {
	char *path;		/* owned */
	size_t dir;		/* its directory: 0 the top, else entry dir - 1 */
	int is_dir;
	uint8_t state;		/* PLAN_PURGE, PLAN_SKIP or PLAN_FAIL */
	/*
	 * Set when planned, never after: a directory that holds what the
	 * filter excludes is reported (PLAN_SKIP) and never removed.
	 */
	uint8_t spared;
	char *reason;		/* owned */
};

/*
 * Purging: the names of one open directory's entries so far (not their
 * paths), to decide its purges once it is whole (plan_purge_dir) without
 * the manifest, whose earlier entries may be released by then. They come
 * in byte order (path_order), so a lookup is a binary search.
 */
struct plan_names {
	char *buf;		/* each name and its NUL, end to end */
	size_t len;
	size_t cap;
	size_t *off;		/* where each name starts in buf */
	size_t n;
	size_t ncap;
	int unsorted;		/* one came out of order: looked up one by one */
};

struct plan {
	struct plan_entry *v;	/* one per manifest entry */
	size_t n;
	size_t cap;
	struct plan_reason *reasons;	/* open addressing by entry, at most 1/2 full */
	size_t reasons_cap;
	size_t reasons_n;
	struct plan_purge *purges;
	size_t npurges;
	size_t purges_cap;
	/*
	 * The directories whose listing is not whole yet, outermost first:
	 * entries come in path_order, so one is whole (and its purges are
	 * decided) once an entry outside it comes.
	 */
	size_t *open;
	char **open_path;	/* their paths, owned: their entries may be released */
	/*
	 * Purging: their entries' names, and the top's (whole at
	 * plan_finish). Memory: the names in the open directories, a
	 * size_t and each name's bytes + 1 apiece; none for a closed one.
	 */
	struct plan_names *open_names;
	struct plan_names top_names;
	size_t nopen;
	size_t open_cap;
	struct plan_tree *trees;	/* the PF_NEWTREE directories, in order */
	size_t ntrees;
	size_t trees_cap;
	int top_attr;		/* the top directory's attributes differ */
	uint16_t top_changes;	/* ITEM_CH_*: how, for -i */

	struct store_dir dir;	/* the store directory of the last lookup */
};

/*
 * The name in staging/ of entry i's new version (at most PLAN_STAGED_NAME
 * bytes): "sS/nI", in the shard S = i / PLAN_SHARD, so no directory of
 * staging/ holds more than PLAN_SHARD names (a flat one of 100,000 makes
 * every create and rename in it slow). plan_staged_shard gives "sS".
 */
#define PLAN_STAGED_NAME 48
#define PLAN_SHARD 1024
void plan_staged_name(char *out, size_t len, size_t i);
void plan_staged_shard(char *out, size_t len, size_t i);

/*
 * Where entry i is staged: its shard name (plan_staged_name), or for a
 * PF_NEWTREE directory "tI", and for an entry inside one (PF_INNER)
 * "tI/" and its path below that directory. out holds PLAN_STAGED_PATH
 * bytes. Returns 0, or -1 with ENAMETOOLONG.
 */
#define PLAN_STAGED_PATH (PATH_MAX + 32)
int plan_staged_path(const struct plan *p, const struct manifest *m,
    size_t i, char *out, size_t len);
/*
 * The innermost directory still open (its listing not whole) that path
 * is inside, or NULL: the directory of the entry to be planned next
 * when the manifest is well formed. No entry is read.
 */
const char *plan_open_dir_of(const struct plan *p, const char *path);
/* plan_staged_path of entry i whose path is path (no entry read). */
int plan_staged_path_of(const struct plan *p, size_t i, const char *path,
    char *out, size_t len);
/*
 * The staged name of PF_NEWTREE directory i, "tI" (JOURNAL_TREE, so its
 * PUT never replaces what is at its place), at most PLAN_STAGED_NAME.
 */
void plan_tree_name(char *out, size_t len, size_t i);
/* Whether a staged name is a shard's ("sS/nI"), whose directory a stage may make. */
int plan_staged_in_shard(const char *name);
/*
 * The last entry of PF_NEWTREE directory i's tree (i itself when it is
 * empty): its entries are i + 1 ... that one, in path_order.
 */
size_t plan_tree_end(const struct plan *p, size_t i);

/* Options that shape a plan. */
struct plan_opts {
	uint32_t flags;		/* SESSION_* */
	const struct filter *filter;
	int owner;		/* compare and set owners (we are root) */
	unsigned ns;		/* attribute namespaces compared and set (xattr.h) */
	int trees;		/* stage new directories whole (PF_NEWTREE) */
};

/*
 * Compares each entry of m with the store and decides its state, one
 * entry at a time as a manifest arrives: plan_init, then plan_add for
 * entries 0, 1, 2... (in path_order, each once its directory and, for a
 * hard link, its target are in m), then plan_finish once m is whole:
 * the top. With purge flags, the store's extra entries in a directory
 * are listed as soon as its listing is whole (plan_add of the first
 * entry outside it, or plan_finish), and kept only if plan_finish's
 * options still purge (a walk that turned out incomplete purges
 * nothing: o's purge flags may be dropped there, never added); they are
 * decided from names the plan keeps, so m's earlier entries may be
 * released meanwhile, and reported in the order of their directories. Each
 * returns 0, or -1 on ENOMEM (logged); store errors become PLAN_FAIL
 * entries with a reason.
 */
void plan_init(struct plan *p);
int plan_add(struct plan *p, struct store *s, const struct manifest *m,
    size_t i, const struct plan_opts *o);
int plan_finish(struct plan *p, struct store *s, const struct manifest *m,
    const struct plan_opts *o);
void plan_release(struct plan *p);

/* Sets entry i's state with a printf-formatted reason (may be NULL). */
void plan_set(struct plan *p, size_t i, int state, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Entry i's reason (skip, fail, vanished), or NULL; valid until the next plan_set of i. */
const char *plan_reason(const struct plan *p, size_t i);
/* Sets purge k's state (PLAN_PURGE, PLAN_SKIP or PLAN_FAIL) and reason. */
void plan_purge_set(struct plan *p, size_t k, int state, const char *reason);

/*
 * Counts every entry's outcome in res and hands fn each changed one as
 * an item (its strings p's or m's: valid during the call), so a report
 * goes out without being kept. 0, or fn's first -1.
 */
typedef int plan_item_fn(void *arg, const struct item *it);
int plan_each_item(const struct plan *p, const struct manifest *m,
    struct result *res, plan_item_fn *fn, void *arg);
/*
 * plan_each_item where entry i is at(aarg, i) (NULL: failed, logged),
 * not m->v[i]: an entry whose path is NULL there must need no item (it
 * was unchanged), else -1 logged.
 */
typedef const struct entry *plan_entry_at(void *aarg, size_t i);
int plan_each_item_at(const struct plan *p, const struct manifest *m,
    plan_entry_at *at, void *aarg, struct result *res, plan_item_fn *fn,
    void *arg);
/* Appends one item per changed entry to res and counts the rest. -1 ENOMEM. */
int plan_result(const struct plan *p, const struct manifest *m,
    struct result *res);

#endif
