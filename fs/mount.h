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
	 * A commit holds view for writing from before its first rename
	 * until the kernel has dropped every name it changed; opens hold it
	 * for reading, so no open sees part of a session. The kernel holds
	 * no directory lock while it sends OPEN, so the invalidations made
	 * under view cannot deadlock with a waiting open.
	 */
	pthread_rwlock_t view;
	/*
	 * Changes to names through an rw mount hold ns for reading; a commit
	 * holds it for writing only while it renames (the kernel holds the
	 * parent directory's lock while it sends those requests, so ns is
	 * released before any invalidation). Lookups take no lock.
	 */
	pthread_rwlock_t ns;
	uint64_t generation;	/* commits done; written under view, read atomically */
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
