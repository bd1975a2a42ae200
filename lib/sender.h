/* sender: the source half of a session (scan, manifest, file data). */
#ifndef MIRRORFS_SENDER_H
#define MIRRORFS_SENDER_H

#include <stdint.h>

#include "conn.h"
#include "filter.h"
#include "result.h"

struct sender_opts {
	uint32_t flags;			/* SESSION_* */
	const struct filter *filter;
	int progress;			/* draw a progress line on stderr */
};

/*
 * Runs a session from the directory source over c: sends the manifest,
 * then the data the receiver asks for, and collects the receiver's
 * result into res (with the sender's own skipped and failed entries).
 * Returns 0 when the session completed, -1 on a fatal error (logged).
 */
int sender_run(struct conn *c, const char *source,
    const struct sender_opts *o, struct result *res);

#endif
