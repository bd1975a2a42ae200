/* filter: ordered include/exclude glob rules; the first rule that matches wins. */
#ifndef MIRRORFS_FILTER_H
#define MIRRORFS_FILTER_H

#include <stddef.h>

enum filter_kind { FILTER_EXCLUDE = 1, FILTER_INCLUDE = 2 };

/*
 * Pattern syntax (as rsync): a pattern without '/' matches the last
 * component at any depth; a pattern with '/' matches the whole path
 * relative to the top of the set; a leading '/' only anchors; a trailing
 * '/' matches directories only. Globs are fnmatch(3) globs.
 */
struct filter_rule {
	int kind;
	char *pattern;		/* as given, owned */
};

struct filter {
	struct filter_rule *rules;
	size_t n;
};

void filter_init(struct filter *f);
void filter_release(struct filter *f);
/* Appends a rule (pattern copied). -1 on ENOMEM or an empty pattern (EINVAL). */
int filter_add(struct filter *f, int kind, const char *pattern);
/*
 * Appends an exclude rule per line of file: blank lines and lines that
 * start with '#' are ignored. Logs "FILE: reason" and returns -1 on error.
 */
int filter_add_file(struct filter *f, const char *file);
/* 1 when path (relative, no leading '/') is excluded, else 0. */
int filter_excluded(const struct filter *f, const char *path, int is_dir);

#endif
