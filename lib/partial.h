/* partial: what an interrupted session received, kept in .mirrorfs/partial/ for the next one. */
#ifndef MIRRORFS_PARTIAL_H
#define MIRRORFS_PARTIAL_H

#include <stdint.h>

#include "manifest.h"

/*
 * A kept file is named after its source identity (path, size, mtime), so
 * it is only ever reused for the very version it was received from; a
 * file changed at the source is sent whole again. Files in partial/ are
 * already checked: complete ones passed the end-to-end hash, and the
 * prefix of an incomplete one is hashed again by the receiver when the
 * sender's final hash of the whole file is checked. A source file can
 * change keeping its size and mtime, so what is kept is verified before
 * a later session uses it (stage.h), and it is durable before the
 * session that kept it ends.
 */

/*
 * Moves staging/staged, made durable first, to partial/ as the kept data
 * of (path, attr). Then partial_sync makes the names durable.
 */
void partial_keep(int stagingfd, const char *staged, int partialfd,
    const char *path, const struct entry *attr);
/* partial_keep of a file whose bytes the caller made durable (syncfs). */
void partial_keep_synced(int stagingfd, const char *staged, int partialfd,
    const char *path, const struct entry *attr);
/* fsyncs partial/ after a series of partial_keep. */
void partial_sync(int partialfd);
/*
 * Moves the kept data of (path, attr), if any, to staging/staged and
 * returns its length (attr->size when complete), or 0 when there is none.
 */
uint64_t partial_claim(int partialfd, int stagingfd, const char *staged,
    const char *path, const struct entry *attr);
/* Whether anything is kept (1 also when it cannot tell). */
int partial_any(int partialfd);
/* Deletes everything kept (after a commit: what was not claimed is stale). */
void partial_clear(int partialfd);

#endif
