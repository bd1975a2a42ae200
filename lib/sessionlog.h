/* sessionlog: a bounded history of past sessions, one line per session, appended and rotated. */
#ifndef MIRRORFS_SESSIONLOG_H
#define MIRRORFS_SESSIONLOG_H

#include <stddef.h>
#include <stdint.h>

#include "result.h"

/*
 * A history is a file NAME and its previous part NAME.1. Each session is
 * one line, appended whole with one write(2) (O_APPEND); once NAME holds
 * max_bytes or more it is renamed to NAME.1 (replacing the older part)
 * before the next line, so the history holds between max_bytes and twice
 * that. A line cut short by a crash (no newline, or bytes the file never
 * got) is not a record: readers skip it and the next append starts on a
 * line of its own. The line, docs/man/mirrorctl.8 "SESSION HISTORY":
 *
 *   v1 TAB start TAB end TAB status TAB fileset TAB peer TAB created TAB
 *   replaced TAB purged TAB unchanged TAB skipped TAB failed TAB bytes TAB
 *   error NEWLINE
 *
 * start and end are Unix times with milliseconds; in the text fields a
 * backslash, tab, newline or other control byte is written as \\, \t, \n
 * or \xHH.
 */

#define SESSIONLOG_NAME "sessions.log"	/* in STORE/.mirrorfs/ */
#define SESSIONLOG_BYTES (64 * 1024)	/* each part's bound */
#define SESSIONLOG_TEXT 1024		/* longest peer or error kept */
/* The longest line: every text byte escaped (4 bytes), and the numbers. */
#define SESSIONLOG_LINE (4 * (12 + 256 + 2 * SESSIONLOG_TEXT) + 256)

struct sessionlog_rec {
	double start, end;		/* Unix times */
	char status[12];		/* ok, partial, failed or unknown */
	char fileset[256];		/* the file set (mirrord), or "" */
	char peer[SESSIONLOG_TEXT];	/* the destination (mirrord), or
					   the sender (a store's history) */
	uint64_t created, replaced, purged, unchanged, skipped, failed;
	uint64_t bytes;			/* on the wire: sent by a source,
					   received by a destination */
	char error[SESSIONLOG_TEXT];	/* why it failed, or "" */
};

/*
 * Fills rec's counts and status from a session's result (end says how
 * it ended, result.h) and zeroes the rest; text longer than a field is
 * cut.
 */
void sessionlog_from_result(struct sessionlog_rec *rec, const struct result *r,
    enum result_end end);
/* Copies s into one of rec's text fields of size len, cut to fit. */
void sessionlog_set(char *field, size_t len, const char *s);

/*
 * Writes rec's line, with its newline and a NUL, into buf (len bytes,
 * SESSIONLOG_LINE hold any). Returns the line's length, or 0 when buf is
 * too small.
 */
size_t sessionlog_format(const struct sessionlog_rec *rec, char *buf,
    size_t len);
/*
 * Parses one line (len bytes, without its newline) into rec. 0, or -1
 * when it is not a whole, well-formed v1 record.
 */
int sessionlog_parse(const char *line, size_t len, struct sessionlog_rec *rec);

/*
 * Appends rec to the history NAME in the directory dirfd, rotating it
 * past max_bytes first (0: SESSIONLOG_BYTES); the file is made with mode
 * 0640. 0, or -1 logged with the file's name (what names the directory
 * in messages).
 */
int sessionlog_append(int dirfd, const char *dirname, const char *name,
    const struct sessionlog_rec *rec, size_t max_bytes);
/* The same for a history at path (its directory must exist). */
int sessionlog_append_path(const char *path, const struct sessionlog_rec *rec,
    size_t max_bytes);

/*
 * The last max records (0: all) of the history NAME in dirfd, oldest
 * first: *out (the caller frees it) and *n. A missing history has none.
 * 0, or -1 logged.
 */
int sessionlog_read(int dirfd, const char *name, size_t max,
    struct sessionlog_rec **out, size_t *n);

#endif
