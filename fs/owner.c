/* owner: how the mount takes part in each commit (view lock, RENAMEOPEN, invalidation). */
#include "owner.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "path.h"

static void
owner_begin(void *arg)
{
	struct mount *m = arg;

	pthread_rwlock_wrlock(&m->view);
	pthread_rwlock_wrlock(&m->ns);
}

static const char *
owner_check(void *arg, const char *path, const struct stat *old)
{
	struct mount *m = arg;
	const char *why = NULL;
	struct node *n;

	pthread_mutex_lock(&m->nodes.lock);
	n = nodes_find(&m->nodes, old->st_dev, old->st_ino);
	if (n != NULL && n->nwrite > 0)
		why = "open for write through the mount; retried by the next sync";
	else if (n != NULL && n->nopen > 0 && !m->renameopen)
		why = "open through the mount and renameopen is off; retried "
		    "by the next sync";
	pthread_mutex_unlock(&m->nodes.lock);
	return why;
}

/*
 * Keeps the old version of an open file visible as renamed/AAnnnnnn
 * until its last handle closes. The handles need no help to go on
 * reading it (each holds its own fd); the name makes it listable and
 * lets the next start reclaim it after a crash.
 */
static void
keep_old_version(struct mount *m, struct node *n, const char *path)
{
	char proc[64];

	snprintf(n->renamed, sizeof(n->renamed), "AA%06u", ++m->renamed_seq);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", n->fd);
	if (linkat(AT_FDCWD, proc, m->st.renamedfd, n->renamed,
	    AT_SYMLINK_FOLLOW) == -1) {
		log_warn("%s/%s/renamed/%s: keeping the old version of %s",
		    m->st.path, PATH_META, n->renamed, path);
		n->renamed[0] = '\0';
		return;
	}
	free(n->path);
	n->path = strdup(path);
	log_info("%s: replaced while open (%u handles); old version kept as "
	    "%s/renamed/%s", path, n->nopen, PATH_META, n->renamed);
}

static void
owner_replacing(void *arg, const char *path, const struct stat *old)
{
	struct mount *m = arg;
	struct node *n;

	pthread_mutex_lock(&m->nodes.lock);
	n = nodes_find(&m->nodes, old->st_dev, old->st_ino);
	if (n != NULL && n != &m->nodes.root) {
		/* An open that waited for this commit gets ESTALE and
		   looks the path up again (see mfs_open). */
		n->superseded = m->generation + 1;
		if (n->nopen > 0 && n->renamed[0] == '\0' && S_ISREG(old->st_mode))
			keep_old_version(m, n, path);
	}
	pthread_mutex_unlock(&m->nodes.lock);
}

/* The FUSE inode number of the store directory holding path, or 0 if unknown. */
static fuse_ino_t
parent_ino(struct mount *m, const char *path)
{
	char dir[PATH_MAX];
	size_t len = path_dirlen(path);
	struct stat st;
	struct node *n;
	fuse_ino_t ino = 0;

	if (len == 0)
		return FUSE_ROOT_ID;
	memcpy(dir, path, len);
	dir[len] = '\0';
	if (store_lstat(&m->st, dir, &st) == -1)
		return 0;
	pthread_mutex_lock(&m->nodes.lock);
	n = nodes_find(&m->nodes, st.st_dev, st.st_ino);
	if (n != NULL)
		ino = n == &m->nodes.root ? FUSE_ROOT_ID : (fuse_ino_t)n;
	pthread_mutex_unlock(&m->nodes.lock);
	return ino;
}

/*
 * Drops the kernel's cached names (and negative entries) for every path
 * the commit changed, and the attributes of what it changed in place.
 * The kernel takes each directory's lock to do it, so it first waits for
 * lookups in flight there, and drops what they returned: after this, no
 * cached name leads to an old version. Lookups never wait on our locks,
 * so this cannot deadlock.
 */
static void
invalidate(struct mount *m, const struct journal *j)
{
	const char *name;
	fuse_ino_t parent;
	struct stat st;
	struct node *n;

	for (size_t i = 0; i < j->n; i++) {
		const struct journal_rec *r = &j->v[i];

		if (r->op == JOP_ATTR) {
			if (strcmp(r->path, ".") == 0) {
				fuse_lowlevel_notify_inval_inode(m->se,
				    FUSE_ROOT_ID, 0, 0);
				continue;
			}
			if (store_lstat(&m->st, r->path, &st) == -1)
				continue;
			pthread_mutex_lock(&m->nodes.lock);
			n = nodes_find(&m->nodes, st.st_dev, st.st_ino);
			pthread_mutex_unlock(&m->nodes.lock);
			if (n != NULL)
				fuse_lowlevel_notify_inval_inode(m->se,
				    n == &m->nodes.root ? FUSE_ROOT_ID :
				    (fuse_ino_t)n, 0, 0);
			continue;
		}
		parent = parent_ino(m, r->path);
		if (parent == 0)
			continue;	/* the kernel never saw that directory */
		name = r->path + path_dirlen(r->path);
		if (*name == '/')
			name++;
		fuse_lowlevel_notify_inval_entry(m->se, parent, name,
		    strlen(name));
		fuse_lowlevel_notify_inval_inode(m->se, parent, 0, 0);
	}
}

static void
owner_end(void *arg, const struct journal *j)
{
	struct mount *m = arg;

	pthread_rwlock_unlock(&m->ns);
	if (j != NULL && m->se != NULL)
		invalidate(m, j);
	__atomic_store_n(&m->generation, m->generation + 1, __ATOMIC_SEQ_CST);
	pthread_rwlock_unlock(&m->view);
}

void
owner_init(struct store_owner *o, struct mount *m)
{
	o->arg = m;
	o->begin = owner_begin;
	o->check = owner_check;
	o->replacing = owner_replacing;
	o->end = owner_end;
}
