/* node: the mount's inodes, keyed by the backing file's (dev, ino). */
#include "node.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* The table's keys are the nodes' own key fields, which never move. */
#define NODE_KEYLEN sizeof(struct node_key)

int
nodes_init(struct nodes *t, int rootfd)
{
	struct stat st;

	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	htab_init(&t->map);
	t->root.fd = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (t->root.fd == -1 || fstat(t->root.fd, &st) == -1) {
		log_err("store top directory");
		return -1;
	}
	t->root.key.dev = st.st_dev;
	t->root.key.ino = st.st_ino;
	t->root.nlookup = 1;	/* never forgotten */
	t->root.holder = -1;
	return 0;
}

static void
node_free(struct node *n)
{
	close(n->fd);
	if (n->holder >= 0)
		close(n->holder);
	free(n->path);
	free(n);
}

void
nodes_release(struct nodes *t)
{
	/* Nodes still referenced at unmount are freed with the process. */
	htab_release(&t->map);
	if (t->root.fd >= 0)
		close(t->root.fd);
	t->root.fd = -1;
	pthread_mutex_destroy(&t->lock);
}

struct node *
nodes_find(struct nodes *t, dev_t dev, ino_t ino)
{
	struct node_key k;
	size_t v;

	if (dev == t->root.key.dev && ino == t->root.key.ino)
		return &t->root;
	memset(&k, 0, sizeof(k));
	k.dev = dev;
	k.ino = ino;
	if (!htab_get(&t->map, &k, NODE_KEYLEN, &v))
		return NULL;
	return (struct node *)v;
}

struct node *
nodes_ref(struct nodes *t, int fd, const struct stat *st)
{
	struct node *n;

	pthread_mutex_lock(&t->lock);
	n = nodes_find(t, st->st_dev, st->st_ino);
	if (n != NULL) {
		n->nlookup++;
		pthread_mutex_unlock(&t->lock);
		close(fd);
		return n;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		goto fail;
	n->key.dev = st->st_dev;
	n->key.ino = st->st_ino;
	n->fd = fd;
	n->holder = -1;
	n->nlookup = 1;
	if (htab_put(&t->map, &n->key, NODE_KEYLEN, (size_t)n) == -1) {
		free(n);
		goto fail;
	}
	pthread_mutex_unlock(&t->lock);
	return n;
fail:
	pthread_mutex_unlock(&t->lock);
	close(fd);
	errno = ENOMEM;
	return NULL;
}

void
nodes_maybe_free_locked(struct nodes *t, struct node *n)
{
	if (n == &t->root || n->nlookup > 0 || n->nopen > 0)
		return;
	htab_del(&t->map, &n->key, NODE_KEYLEN);
	node_free(n);
}

void
nodes_unref_locked(struct nodes *t, struct node *n, uint64_t count)
{
	if (n == &t->root)
		return;
	n->nlookup = count > n->nlookup ? 0 : n->nlookup - count;
	nodes_maybe_free_locked(t, n);
}
