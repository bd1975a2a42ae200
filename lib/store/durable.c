/* durable: a session's own files and directories made durable in one batch, or the whole filesystem when that is cheaper. */
#include "durable.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

struct durable_item {
	int fd;			/* O_RDONLY: fsync needs a real descriptor */
	int is_dir;
	dev_t dev;
	ino_t ino;
};

void
durable_init(struct durable *d, struct store *s)
{
	d->s = s;
	d->whole = 0;
	d->n = d->cap = 0;
	d->v = NULL;
}

static void
close_all(struct durable *d)
{
	for (size_t i = 0; i < d->n; i++)
		close(d->v[i].fd);
	d->n = 0;
}

void
durable_release(struct durable *d)
{
	close_all(d);
	free(d->v);
	durable_init(d, d->s);
}

/* 1 when the inode of st is in d already (batches are small: a scan). */
static int
have(const struct durable *d, const struct stat *st)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].ino == st->st_ino && d->v[i].dev == st->st_dev)
			return 1;
	return 0;
}

/* Room for one more item; past DURABLE_MAX the batch turns whole. */
static int
room(struct durable *d)
{
	struct durable_item *v;

	if (d->n == DURABLE_MAX) {
		close_all(d);
		d->whole = 1;
		return 0;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;

		if ((v = realloc(d->v, cap * sizeof(*v))) == NULL)
			return -1;
		d->v = v;
		d->cap = cap;
	}
	return 0;
}

int
durable_add(struct durable *d, int dirfd, const char *name)
{
	struct stat st;
	int fd;

	if (d->whole)
		return 0;
	name = name ? name : ".";
	/* Never open a device or a FIFO: its directory holds it. */
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	if ((!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) || have(d, &st))
		return 0;
	/* O_NONBLOCK: should it have become a FIFO since, do not wait. */
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC);
	/*
	 * Out of descriptors (a low ulimit -n, many files held): the batch
	 * turns whole, as past DURABLE_MAX, rather than fail the commit.
	 */
	if (fd == -1 && (errno == EMFILE || errno == ENFILE)) {
		close_all(d);
		d->whole = 1;
		return 0;
	}
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 ||
	    (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))) {
		close(fd);
		return 0;
	}
	if (room(d) == -1) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	if (d->whole) {
		close(fd);
		return 0;
	}
	d->v[d->n].fd = fd;
	d->v[d->n].is_dir = S_ISDIR(st.st_mode);
	d->v[d->n].dev = st.st_dev;
	d->v[d->n].ino = st.st_ino;
	d->n++;
	return 0;
}

int
durable_flush(struct durable *d)
{
	int rc = 0;

	if (d->whole) {
		d->whole = 0;
		return store_sync(d->s);
	}
	/* Start every file's writeback first, so the waits overlap. */
	for (size_t i = 0; i < d->n; i++)
		if (!d->v[i].is_dir)
			sync_file_range(d->v[i].fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	for (size_t i = 0; i < d->n && rc == 0; i++) {
		/* fsync, not fdatasync: a staged file's owner, mode and
		 * mtime are committed with it. */
		if (fsync(d->v[i].fd) == -1) {
			log_err("%s: making the session durable", d->s->path);
			rc = -1;
		}
	}
	close_all(d);
	return rc;
}
