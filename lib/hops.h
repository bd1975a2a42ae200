/* hops: the state of the hops below a store that forwards, as a relay reports it upstream (HOPS). */
#ifndef MIRRORFS_HOPS_H
#define MIRRORFS_HOPS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"

#define HOPS_MAX 1024		/* hops in one report, the whole tree */
#define HOPS_MAX_DEPTH 16	/* levels below the store reported */
#define HOPS_MAX_ERROR 1024	/* an error's bytes (PROTO_MAX_REASON) */

enum hop_state {
	HOP_OK = 1,		/* its last session committed, nothing owed */
	HOP_SYNCING,		/* a session to it runs */
	HOP_OWED,		/* owed a session that has not run yet */
	HOP_RETRYING,		/* its last session failed; retried */
	HOP_STATE_MAX = HOP_RETRYING
};

/*
 * One hop, in preorder: depth 1 is a destination the store forwards to,
 * depth 2 one that hop forwards to, and so on (each hop's depth is at
 * most one more than the one before it).
 */
struct hop {
	int depth;
	int state;		/* enum hop_state */
	int has_gen;		/* gen is known (the relay's store is mounted) */
	uint64_t gen;		/* the generation its last commit was of */
	int64_t delivered;	/* when its last commit ended (s), 0: never */
	char *dest;		/* owned: the URL as the relay's forward = says */
	char *error;		/* owned, NULL: the last session's error */
};

/* A list of hops; owns its entries. Zeroed is empty. */
struct hops {
	struct hop *v;
	size_t n;
};

void hops_init(struct hops *h);
void hops_release(struct hops *h);

/*
 * Appends a copy of one hop (dest and error copied; error may be NULL).
 * -1 with errno: ENOMEM, or E2BIG past HOPS_MAX or HOPS_MAX_DEPTH (the
 * list is unchanged).
 */
int hops_add(struct hops *h, int depth, int state, int has_gen, uint64_t gen,
    int64_t delivered, const char *dest, const char *error);

/*
 * Appends from's hops, each one level deeper (what a hop reported of
 * its own hops, below it). Entries past the bounds are left out. -1 on
 * ENOMEM.
 */
int hops_add_below(struct hops *h, const struct hops *from);

/* The HOPS payload: u16 n, then each hop (docs/PROTOCOL.md). -1 ENOMEM. */
int hops_encode(const struct hops *h, struct buf *b);
/*
 * Decodes a HOPS payload from a peer into h (empty on entry): every
 * bound, state, depth rule and string checked. -1 with why in err.
 */
int hops_decode(const uint8_t *p, size_t n, struct hops *h, char *err,
    size_t errlen);

/* "name" for a state ("ok", "syncing", "owed", "retrying"). */
const char *hops_state_name(int state);
/* A line per hop to f, indented by prefix and two spaces a level. */
void hops_text(const struct hops *h, FILE *f, const char *prefix);

#endif
