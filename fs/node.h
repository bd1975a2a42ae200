/* node: the files open through the mount, keyed by the backing file's (dev, ino). */
#ifndef MIRRORFS_NODE_H
#define MIRRORFS_NODE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

#include "htab.h"

/*
 * What the kernel knows of the store lives in the index (store/index.h):
 * a FUSE inode number is an index record number plus one, and a record
 * counts the kernel's lookups itself. A node exists only while its file
 * is open through this mount (or its kept old version is held): its open
 * counts, which the commit's veto and RENAMEOPEN read by (dev, ino), and
 * what a replacement did to it. Its inode stays alive meanwhile (the
 * handles hold it), so no other file can come to have its number.
 */
struct node_key {
	dev_t dev;
	ino_t ino;
};

struct node {
	struct node_key key;	/* the backing inode; never changes */
	/* Protected by nodes.lock: */
	uint32_t nopen;		/* open handles */
	uint32_t nwrite;	/* of which open for write */
	uint64_t superseded;	/* generation of the commit that replaced or
				   removed this file, or 0 */
	char renamed[16];	/* "AAnnnnnn" while kept in .mirrorfs/renamed */
	int holder;		/* fd on renamed/NAME with a shared flock, or -1 */
	char *path;		/* the path it had when superseded, owned */
};

struct nodes {
	pthread_mutex_t lock;
	struct htab map;	/* (dev, ino) -> struct node *; protected by lock */
};

void nodes_init(struct nodes *t);
/* Frees every node (the mount has ended: no handle is left). */
void nodes_release(struct nodes *t);

/* The node of a backing inode, or NULL. Caller holds t->lock. */
struct node *nodes_find(struct nodes *t, dev_t dev, ino_t ino);
/* The node of (dev, ino), made if needed; NULL on ENOMEM. Caller holds t->lock. */
struct node *nodes_get(struct nodes *t, dev_t dev, ino_t ino);
/* Frees n if it is neither open nor holding a kept version. Caller holds t->lock. */
void nodes_maybe_free_locked(struct nodes *t, struct node *n);

#endif
