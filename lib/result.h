/* result: a session's counts and its per-entry report lines. */
#ifndef MIRRORFS_RESULT_H
#define MIRRORFS_RESULT_H

#include <stdint.h>
#include <stdio.h>

enum item_action {
	ITEM_CREATE = 1,
	ITEM_REPLACE,
	ITEM_PURGE,
	ITEM_SKIP,
	ITEM_FAIL,
	ITEM_VANISHED,
	ITEM_HELD,		/* the source file was not quiescent: a skip, sent later */
	ITEM_ACTION_MAX = ITEM_HELD
};

/* Printed before the reason of an ITEM_HELD line, in text and JSON alike. */
#define RESULT_HELD "held back: "

struct item {
	int action;
	int is_dir;
	char *path;		/* owned */
	char *reason;		/* owned, NULL for create/replace/purge */
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
 * create/replace/purge only when all is set.
 */
void result_print(const struct result *r, FILE *f, int all);
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
 * else those skipped, failed or vanished.
 */
void result_json(const struct result *r, FILE *f, const char *dest,
    enum result_end end, const char *error, int all);
/* Writes s as a JSON string (bytes that are not UTF-8 as \udcXX). */
void result_json_string(const char *s, FILE *f);
/* 0 when in sync, 1 when some entries were skipped or failed. */
int result_exit_status(const struct result *r);

#endif
