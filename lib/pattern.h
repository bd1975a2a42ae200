/* pattern: shell globs with rsync's '**', compiled once, matched without backtracking. */
#ifndef MIRRORFS_PATTERN_H
#define MIRRORFS_PATTERN_H

/*
 * The syntax:
 *   '*'      any run of characters but '/'
 *   '**'     any run of characters, '/' included; followed by '/' at the
 *            start of the pattern or after a '/', zero or more whole
 *            directories (a, '/', '**', '/', b matches "a/b" and "a/x/y/b")
 *   '***'    at the end, after a '/': the directory itself and everything
 *            below it
 *   '?'      one character but '/'
 *   '[...]'  one character of a set as in fnmatch(3): ranges, '!' or '^'
 *            to negate, classes like [:digit:]; never '/'
 *   '\'      makes the next character literal
 * Matching is case-sensitive and of the whole subject.
 *
 * The matcher follows every way the pattern can match at once (a set of
 * states, advanced one subject character at a time), so no pattern, not
 * even a peer's, can make it backtrack: the cost is at most the product
 * of the two lengths.
 */
struct pattern;

/*
 * Compiles text. Returns the pattern (free with pattern_free), or NULL:
 * EINVAL with *why set to a static description (an empty pattern, an
 * unclosed '[', a '\' at the end), or ENOMEM.
 */
struct pattern *pattern_compile(const char *text, const char **why);
/* Frees p; NULL is a no-op. */
void pattern_free(struct pattern *p);
/* 1 when the whole of subject matches p, else 0. */
int pattern_match(const struct pattern *p, const char *subject);

#endif
