/* receiver: the destination half of a session (plan, staging, commit). */
#ifndef MIRRORFS_RECEIVER_H
#define MIRRORFS_RECEIVER_H

#include "conn.h"

/*
 * Runs one session arriving on c into the store at store_path (created
 * when missing if store_flags has STORE_CREATE). Sends the result to the
 * sender. Returns 0 when the session ran to its end, -1 on a fatal error
 * (logged, and sent to the peer as ERROR when the connection allows):
 * then nothing of the session was committed and staging/ is cleared.
 */
int receiver_run(struct conn *c, const char *store_path, int store_flags);

#endif
