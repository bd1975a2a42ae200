/* durable: a session's own files and directories made durable in one batch, or the whole filesystem when that is cheaper. */
#ifndef MIRRORFS_DURABLE_H
#define MIRRORFS_DURABLE_H

#include <stddef.h>
#include <sys/types.h>

#include "store.h"

/*
 * Past this many files and directories a batch is made durable with one
 * syncfs() instead: a syncfs waits for every other writer of the
 * filesystem too, but costs one call however large the session is.
 */
#define DURABLE_MAX 512

/*
 * What a commit must make durable before its next step: each file's data
 * (sync_file_range to start writeback of all, then fdatasync of each, so
 * the filesystem commits them together) and each directory's entries
 * (fsync). Only the session's own work is waited for, so a small push
 * does not wait for unrelated dirty data on the same filesystem.
 * Owned by one thread; starts with durable_init.
 */
struct durable {
	struct store *s;
	int whole;		/* over DURABLE_MAX: one syncfs at the flush */
	size_t n, cap;
	struct durable_item *v;
};

void durable_init(struct durable *d, struct store *s);
/* Closes what d holds (without syncing it). */
void durable_release(struct durable *d);

/*
 * Adds name in the directory dirfd (NULL: dirfd itself, which may be an
 * O_PATH fd), a regular file or a directory, once whatever the number
 * of calls; other types are made durable through their directory, which
 * the caller adds. Returns 0, or -1 with errno when it cannot be opened
 * (ENOENT included: the caller says what it expected there).
 */
int durable_add(struct durable *d, int dirfd, const char *name);

/*
 * Makes everything added durable (or the whole filesystem, past
 * DURABLE_MAX), then empties d for the next batch. Returns 0, or -1
 * (logged) when the data may not be on disk.
 */
int durable_flush(struct durable *d);

#endif
