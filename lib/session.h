/* session: runs a sender and a receiver joined by a local socket pair. */
#ifndef MIRRORFS_SESSION_H
#define MIRRORFS_SESSION_H

#include "result.h"
#include "sender.h"

/*
 * Synchronizes source into the store at store (created when missing)
 * in this process: the receiver runs in a thread and the two halves
 * speak the wire protocol over a socketpair, exactly as they would
 * over a network. Returns 0 with res filled, or -1 (logged).
 */
int session_local(const char *source, const char *store,
    const struct sender_opts *o, struct result *res);

/*
 * Synchronizes source into the store at store: through its master (the
 * mount serving it, over .mirrorfs/control.sock) when it has one, so the
 * commit is never done behind the mount's back; else as session_local.
 * Returns 0 with res filled, or -1 (logged).
 */
int session_sync(const char *source, const char *store,
    const struct sender_opts *o, struct result *res);

#endif
