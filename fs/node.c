/* node: the mount's inodes, keyed by the backing file's (dev, ino). */
#include "node.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"

/* The table's keys are the nodes' own key fields, which never move. */
#define NODE_KEYLEN sizeof(struct node_key)

/* A handle on the file fd (O_PATH) stands for, or NULL; its mount id in *mid. */
static struct file_handle *
handle_of(int fd, int *mid)
{
	struct file_handle *fh = malloc(sizeof(*fh) + MAX_HANDLE_SZ);

	if (fh == NULL)
		return NULL;
	fh->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(fd, "", fh, mid, AT_EMPTY_PATH) == -1) {
		free(fh);
		return NULL;
	}
	return fh;
}

/* Handles are used when this process may open by handle (root). */
static void
probe_handles(struct nodes *t)
{
	struct file_handle *fh = handle_of(t->root.fd, &t->mount_id);
	int fd;

	/* open_by_handle_at refuses an O_PATH descriptor for the mount. */
	t->mountfd = openat(t->root.fd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (fh == NULL || t->mountfd == -1) {
		free(fh);
		return;
	}
	fd = open_by_handle_at(t->mountfd, fh, O_PATH | O_CLOEXEC);
	if (fd != -1) {
		t->handles = 1;
		close(fd);
	}
	free(fh);
}

int
node_path_fd(struct nodes *t, const struct node *n)
{
	if (n->fd >= 0)
		return n->fd;
	return open_by_handle_at(t->mountfd, n->fh, O_PATH | O_CLOEXEC);
}

void
node_put_fd(const struct node *n, int fd)
{
	if (fd >= 0 && fd != n->fd)
		close(fd);
}

int
node_open(struct nodes *t, const struct node *n, int flags)
{
	char proc[64];

	flags = (flags & ~(O_NOFOLLOW | O_CREAT | O_EXCL)) | O_CLOEXEC;
	if (n->fd < 0)
		return open_by_handle_at(t->mountfd, n->fh, flags);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", n->fd);
	return open(proc, flags);
}

int
nodes_init(struct nodes *t, int rootfd)
{
	struct stat st;

	memset(t, 0, sizeof(*t));
	t->mountfd = -1;
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
	probe_handles(t);
	return 0;
}

static void
node_free(struct node *n)
{
	if (n->fd >= 0)
		close(n->fd);
	free(n->fh);
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
	if (t->mountfd >= 0)
		close(t->mountfd);
	t->root.fd = t->mountfd = -1;
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
	if (t->handles && !S_ISDIR(st->st_mode)) {
		int mid;

		n->fh = handle_of(fd, &mid);
		if (n->fh != NULL && mid == t->mount_id) {
			close(fd);	/* a file: its handle is enough */
			n->fd = -1;
		} else {
			free(n->fh);
			n->fh = NULL;
		}
	}
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
