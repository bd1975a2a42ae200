/* filter: ordered include/exclude rules (globs, and rsync's "- PATTERN" / "+ PATTERN"); the first that matches wins. */
#ifndef MIRRORFS_FILTER_H
#define MIRRORFS_FILTER_H

#include <stddef.h>

enum filter_kind { FILTER_EXCLUDE = 1, FILTER_INCLUDE = 2 };

/*
 * A pattern is a glob (pattern.h: '*', '**', '?', '[...]'). A pattern
 * without '/' and without '**' matches the last component at any depth;
 * any other matches the whole path relative to the top of the set. A
 * leading '/' only anchors; a trailing '/' matches directories only.
 *
 * A rule ("- PATTERN" excludes, "+ PATTERN" includes; also "exclude
 * PATTERN", "include PATTERN") reads its pattern as rsync does: one with
 * a '/' inside or a '**' that is not anchored matches at the end of the
 * path ("- sub/x" also leaves out "a/sub/x"), which the rule
 * records by starting its pattern with "**" "/".
 */
struct filter_rule {
	int kind;
	char *pattern;		/* as matched (and sent to peers), owned */
	/* private to filter.c: */
	struct pattern *glob;
	int dir_only;
	int whole_path;		/* matched against the whole path, not the name */
};

struct filter {
	struct filter_rule *rules;
	size_t n;
};

void filter_init(struct filter *f);
void filter_release(struct filter *f);
/*
 * Appends the glob pattern as a rule of kind (copied). -1 on ENOMEM, or
 * EINVAL for a pattern that is no glob (empty, "/", an unclosed '[').
 */
int filter_add(struct filter *f, int kind, const char *pattern);
/* What makes pattern no glob (a static text), or NULL when it is one. */
const char *filter_glob_error(const char *pattern);
/*
 * Appends the rule text ("- PATTERN", "+ PATTERN"). -1 with a message in
 * err when text is no rule (a plain glob, an rsync rule this does not
 * support, a bad pattern) or on ENOMEM.
 */
int filter_add_rule(struct filter *f, const char *text, char *err,
    size_t errlen);
/*
 * Appends the rules of an exclude file: each line is a rule ("- ", "+ ")
 * or a plain glob to exclude; blank lines and lines that start with '#'
 * or ';' are ignored. A line that is neither (a '-' without its space,
 * rsync's merge or protect rules, a bad glob) stops it. Logs "FILE:LINE:
 * reason" and returns -1 on error; the rules read before stay.
 */
int filter_add_file(struct filter *f, const char *file);
/* 1 when path (relative, no leading '/') is excluded, else 0. */
int filter_excluded(const struct filter *f, const char *path, int is_dir);

#endif
