/* node: the mount's inodes, keyed by the backing file's (dev, ino). */
#ifndef MIRRORFS_NODE_H
#define MIRRORFS_NODE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

#include "htab.h"

/*
 * A node stands for one backing inode that the kernel knows. A directory
 * holds an O_PATH fd on it; a file or symlink holds a file handle
 * (name_to_handle_at) and is opened from it on demand, so a mount that has
 * seen a million files does not hold a million descriptors (the handles
 * already open keep a replaced file readable). Without the privilege to
 * open by handle, every node holds an fd. The FUSE inode number of a node
 * is its address (the root's is 1).
 */
struct node_key {
	dev_t dev;
	ino_t ino;
};

struct node {
	struct node_key key;	/* the backing inode; never changes */
	int fd;			/* O_PATH, owned; -1 when fh is used */
	struct file_handle *fh;	/* owned, or NULL */
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
	int handles;		/* files are kept as handles (open_by_handle_at works) */
	int mountfd;		/* a plain fd on the top, for open_by_handle_at */
	int mount_id;		/* of the store's filesystem */
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
/* An O_PATH fd on n's file; give it back with node_put_fd. -1 with errno. */
int node_path_fd(struct nodes *t, const struct node *n);
void node_put_fd(const struct node *n, int fd);
/* Opens n's file with flags (O_RDONLY, O_WRONLY...). -1 with errno. */
int node_open(struct nodes *t, const struct node *n, int flags);

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
