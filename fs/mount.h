/* mount: the state one mirrorfs process shares between its parts. */
#ifndef MIRRORFS_MOUNT_H
#define MIRRORFS_MOUNT_H

#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdint.h>

#include "node.h"
#include "store.h"

struct mount {
	struct store st;	/* this process is the store's master */
	struct fuse_session *se;
	struct nodes nodes;
	/*
	 * Lookups, opens and namespace changes hold view for reading; a
	 * commit holds it for writing while it renames, so no open can
	 * see part of a session. Never held while notifying the kernel.
	 */
	pthread_rwlock_t view;
	uint64_t generation;	/* sessions committed; protected by view */
	uint32_t renamed_seq;	/* last AAnnnnnn; protected by nodes.lock */
	pthread_mutex_t session_lock;	/* one session at a time uses st */
	int rw;			/* writes through the mount allowed */
	int renameopen;		/* replace files open for read (default) */
	double timeout;		/* entry and attribute cache, seconds */
};

/* The FUSE operations (ops.c). */
extern const struct fuse_lowlevel_ops mirrorfs_ops;

/* Closes an open handle of n; reaps n's kept old version at the last close. */
void mount_node_closed(struct mount *m, struct node *n, int was_write);

#endif
