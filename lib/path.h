/* path: checks on relative paths that come from a peer, and safe printing. */
#ifndef MIRRORFS_PATH_H
#define MIRRORFS_PATH_H

#include <stdio.h>

/* The store's metadata directory; never mirrored, hidden by the mount. */
#define PATH_META ".mirrorfs"

/*
 * Checks that path is a clean relative path: not empty, no leading '/',
 * no empty, "." or ".." component, components of at most NAME_MAX bytes,
 * at most PATH_MAX - 1 bytes in all. Returns 0, or -1 with *why set to a
 * static description.
 */
int path_check(const char *path, const char **why);

/* True when the first component of path is PATH_META. */
int path_is_meta(const char *path);

/* Writes path with control bytes and backslashes escaped as \ooo. */
void path_fputs(const char *path, FILE *f);

/*
 * The manifest's order: that of a depth-first walk whose siblings come
 * in byte order, so a directory comes right before its contents ("a",
 * "a/b", "a-c"). Bytes compare unsigned, a '/' below every other byte.
 * Negative, 0 or positive as a is before, the same as or after b.
 */
int path_order(const char *a, const char *b);

/* Whether path is inside directory dir ("a/b" is inside "a", "a" is not). */
int path_inside(const char *path, const char *dir);

/* Length of the parent part of path ("a/b" for "a/b/c", 0 for "c"). */
size_t path_dirlen(const char *path);

#endif
