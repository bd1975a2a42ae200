/* node: the files open through the mount, keyed by the backing file's (dev, ino). */
#include "node.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The table's keys are the nodes' own key fields, which never move. */
#define NODE_KEYLEN sizeof(struct node_key)

void
nodes_init(struct nodes *t)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	htab_init(&t->map);
}

static void
node_free(struct node *n)
{
	if (n->holder >= 0)
		close(n->holder);
	free(n->path);
	free(n);
}

void
nodes_release(struct nodes *t)
{
	size_t pos = 0, v;

	while (htab_next(&t->map, &pos, &v))
		node_free((struct node *)v);
	htab_release(&t->map);
	pthread_mutex_destroy(&t->lock);
}

struct node *
nodes_find(struct nodes *t, dev_t dev, ino_t ino)
{
	struct node_key k;
	size_t v;

	memset(&k, 0, sizeof(k));
	k.dev = dev;
	k.ino = ino;
	if (!htab_get(&t->map, &k, NODE_KEYLEN, &v))
		return NULL;
	return (struct node *)v;
}

struct node *
nodes_get(struct nodes *t, dev_t dev, ino_t ino)
{
	struct node *n = nodes_find(t, dev, ino);

	if (n != NULL)
		return n;
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return NULL;
	n->key.dev = dev;
	n->key.ino = ino;
	n->holder = -1;
	if (htab_put(&t->map, &n->key, NODE_KEYLEN, (size_t)n) == -1) {
		free(n);
		return NULL;
	}
	return n;
}

void
nodes_maybe_free_locked(struct nodes *t, struct node *n)
{
	if (n->nopen > 0 || n->holder >= 0)
		return;
	htab_del(&t->map, &n->key, NODE_KEYLEN);
	node_free(n);
}
