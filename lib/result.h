/* result: a session's counts and its per-entry report lines. */
#ifndef MIRRORFS_RESULT_H
#define MIRRORFS_RESULT_H

#include <stdint.h>
#include <stdio.h>

#include "hops.h"

enum item_action {
	ITEM_CREATE = 1,
	ITEM_REPLACE,
	ITEM_PURGE,
	ITEM_SKIP,
	ITEM_FAIL,
	ITEM_VANISHED,
	ITEM_HELD,		/* the source file was not quiescent: a skip, sent later */
	/*
	 * Attributes set on an entry that counts as unchanged (a directory's
	 * mtime, the top directory's attributes): only -i shows it.
	 */
	ITEM_TOUCH,
	ITEM_ACTION_MAX = ITEM_TOUCH
};

/*
 * What changed in an entry: the columns of rsync's --itemize-changes
 * string YXcstpoguax (result_itemize).
 */
#define ITEM_CH_NEW	0x001	/* created: every attribute column is '+' */
#define ITEM_CH_DATA	0x002	/* its data was sent: Y is '>' */
#define ITEM_CH_REMADE	0x004	/* made anew without data (a symlink...): Y is 'c' */
#define ITEM_CH_HLINK	0x008	/* a hard link to an earlier name: Y is 'h' */
#define ITEM_CH_SUM	0x010	/* c: content (--checksum), a link's target, a device */
#define ITEM_CH_SIZE	0x020	/* s */
#define ITEM_CH_TIME	0x040	/* t */
#define ITEM_CH_PERMS	0x080	/* p */
#define ITEM_CH_OWNER	0x100	/* o */
#define ITEM_CH_GROUP	0x200	/* g */
#define ITEM_CH_XATTR	0x400	/* x (POSIX ACLs travel as extended attributes) */
#define ITEM_CH_MASK	0x7ff

/* The kinds of entry, rsync's X: file, directory, symlink, device, special. */
#define ITEM_KINDS "fdLDS"

/* Printed before the reason of an ITEM_HELD line, in text and JSON alike. */
#define RESULT_HELD "held back: "

struct item {
	int action;
	int is_dir;
	char *path;		/* owned */
	char *reason;		/* owned, NULL for create/replace/purge */
	char *target;		/* owned or NULL: a symlink's text, a hard link's first name */
	char kind;		/* one of ITEM_KINDS, or 0 (a purge, a problem) */
	uint16_t changes;	/* ITEM_CH_* */
};

/*
 * What the sender saw of a session to one destination, for --stats and
 * JSON (sender_run_peers fills it; it does not cross the wire).
 */
struct result_stats {
	uint64_t files;		/* entries of the source it compared */
	uint64_t regular;	/* of them: regular files (hard links too) */
	uint64_t dirs;
	uint64_t symlinks;
	uint64_t devices;	/* character and block devices */
	uint64_t specials;	/* fifos and sockets */
	uint64_t total_size;	/* bytes of those regular files */
	uint64_t sent_files;	/* files whose data went to this destination */
	uint64_t sent_size;	/* their sizes */
	/*
	 * Of sent_size: copied by a local receiver from the source's own
	 * descriptor (FILE_FD), so not on the wire (bytes_sent).
	 */
	uint64_t copied_size;
	uint64_t bytes_received;	/* on the wire, from the destination */
	double elapsed;		/* seconds from the start to its report */
};

/* Counts are of entries below the top directory; the top is never counted. */
struct result {
	uint64_t created;
	uint64_t replaced;
	uint64_t purged;
	uint64_t unchanged;
	uint64_t skipped;
	uint64_t failed;
	uint64_t vanished;
	uint64_t bytes_sent;
	int report;		/* a dry run: nothing was changed */
	struct item *items;
	size_t nitems;
	struct result_stats stats;
	struct hops hops;	/* a relay's report of the hops below it (HOPS) */
};

void result_init(struct result *r);
void result_release(struct result *r);
/*
 * Records one entry's outcome and bumps its count; reason may be NULL.
 * Returns 0, or -1 on ENOMEM (the count is bumped all the same).
 */
int result_add(struct result *r, int action, const char *path, int is_dir,
    const char *reason);
/* Bumps the count of action (ITEM_*) without recording an item. */
void result_count(struct result *r, int action);
/*
 * Records a copy of *it (its strings duplicated) and bumps its count.
 * Returns 0, or -1 on ENOMEM (the count is bumped all the same).
 */
int result_add_item(struct result *r, const struct item *it);
/* The same without counting it (the caller did). 0, or -1 on ENOMEM. */
int result_keep_item(struct result *r, const struct item *it);
/* Frees an item's strings (path, reason, target); they become NULL. */
void result_item_release(struct item *it);
/*
 * Appends an item without counting it, taking ownership of its strings
 * (freed on failure too). Returns 0, or -1 on ENOMEM.
 */
int result_append(struct result *r, struct item *it);
/* Adds the counts and report flag of src to dst (not its items). */
void result_merge_counts(struct result *dst, const struct result *src);
/* Formats a reason like printf and records it. */
int result_addf(struct result *r, int action, const char *path, int is_dir,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Whether an action counts as skipped (ITEM_SKIP, ITEM_HELD). */
int result_is_skip(int action);
/* The verb printed for an action ("create", "skip", ...). */
const char *result_verb(int action);
/*
 * Prints one report line per item: skip/fail/vanished always,
 * create/replace/purge only when all is set (touch never).
 */
void result_print(const struct result *r, FILE *f, int all);
/*
 * The 11 characters of rsync's --itemize-changes string of a created,
 * replaced, touched or purged item ("*deleting" padded), and a NUL, into
 * out (RESULT_ITEMIZE_LEN bytes).
 */
#define RESULT_ITEMIZE_LEN 12
void result_itemize(const struct item *it, char *out);
/*
 * -i: a line per item as rsync -i writes it ("STRING path[/][ -> target]",
 * " => first" for a hard link), and the text line of each skip, failure or
 * vanished entry.
 */
void result_print_itemized(const struct result *r, FILE *f);

/*
 * "created N, replaced N, purged N, unchanged N, skipped N, failed N"
 * into buf (RESULT_COUNTS_LEN bytes hold the largest).
 */
#define RESULT_COUNTS_LEN 192
void result_counts(const struct result *r, char *buf, size_t len);
/*
 * Prints the one-line summary of the counts, with the bytes sent, the
 * time the session took and the rate.
 */
void result_print_summary(const struct result *r, FILE *f);
/* Prints rsync-like statistics (--stats), one per line, then a blank line. */
void result_print_stats(const struct result *r, FILE *f);
/* How a destination's session ended, beyond its counts. */
enum result_end {
	RESULT_DONE = 0,	/* it reported (counts, entries) */
	RESULT_FAILED,		/* it failed before the commit: nothing changed */
	RESULT_UNKNOWN,		/* the link died after the commit began */
};
/*
 * The word for it: "ok", "partial" (entries skipped or failed), "failed"
 * or "unknown".
 */
const char *result_status(const struct result *r, enum result_end end);
/*
 * Prints one destination's outcome as a JSON object, without a newline:
 * "destination" (when dest is not NULL), "status" (result_status),
 * "error" (why it failed, or null), "report", the counts, "bytes_sent",
 * "bytes_received", "elapsed", "stats" and "entries" (each with
 * "action", "path", "dir" and "reason" or null): every entry with all,
 * else those skipped, failed or vanished; and "hops", what a relay
 * reported of the hops below it (hops.h), [] for a store that forwards
 * nowhere.
 */
void result_json(const struct result *r, FILE *f, const char *dest,
    enum result_end end, const char *error, int all);
/* Writes s as a JSON string (bytes that are not UTF-8 as \udcXX). */
void result_json_string(const char *s, FILE *f);
/* 0 when in sync, 1 when some entries were skipped or failed. */
int result_exit_status(const struct result *r);

#endif
