/* node: the mount's inodes, keyed by the backing file's (dev, ino). */
#ifndef MIRRORFS_NODE_H
#define MIRRORFS_NODE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

#include "htab.h"

/*
 * A node stands for one backing inode that the kernel knows. It holds an
 * O_PATH fd to it, which keeps that inode alive: a file replaced by a
 * commit stays readable through the handles already open on it. The
 * FUSE inode number of a node is its address (the root's is 1).
 */
struct node_key {
	dev_t dev;
	ino_t ino;
};

struct node {
	struct node_key key;	/* the backing inode; never changes */
	int fd;			/* O_PATH, owned */
	/* Protected by nodes.lock: */
	uint64_t nlookup;	/* the kernel's references (lookup/forget) */
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
	struct node root;
};

/* Sets up the table with root (an fd on the store's top, which it dups). -1 logged. */
int nodes_init(struct nodes *t, int rootfd);
void nodes_release(struct nodes *t);

/*
 * Finds the node of st or adds one, and counts a lookup. Takes ownership
 * of fd (an O_PATH fd on st's file): kept for a new node, closed for an
 * existing one. Returns NULL with errno ENOMEM (fd closed).
 */
struct node *nodes_ref(struct nodes *t, int fd, const struct stat *st);
/* The node of a backing inode, or NULL. Caller holds t->lock. */
struct node *nodes_find(struct nodes *t, dev_t dev, ino_t ino);
/*
 * Drops count lookups; frees the node when neither the kernel nor an
 * open handle refers to it any more. Caller holds t->lock.
 */
void nodes_unref_locked(struct nodes *t, struct node *n, uint64_t count);
/* Frees n if nothing refers to it. Caller holds t->lock. */
void nodes_maybe_free_locked(struct nodes *t, struct node *n);

#endif
