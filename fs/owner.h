/* owner: how the mount takes part in each commit (view lock, RENAMEOPEN, invalidation). */
#ifndef MIRRORFS_OWNER_H
#define MIRRORFS_OWNER_H

#include "mount.h"
#include "receiver.h"

/* The store_owner hooks of mount m, for receiver_run(). */
void owner_init(struct store_owner *o, struct mount *m);

#endif
