/* view: what opens through the mount may see: frozen during a commit, the index brought up to date, the kernel's caches dropped. */
#include "mount.h"

#include <limits.h>
#include <string.h>

#include "log.h"
#include "path.h"

void
view_freeze(struct mount *m)
{
	pthread_rwlock_wrlock(&m->view);
	pthread_rwlock_wrlock(&m->ns);
}

/* The FUSE inode number of the indexed path rel, or 0 if the kernel does not know it. Under ixlock. */
static fuse_ino_t
ino_of_path(struct mount *m, const char *rel)
{
	uint32_t rec = index_resolve(&m->ix, rel);

	if (rec == INDEX_NONE)
		return 0;
	if (rec == INDEX_ROOT)
		return FUSE_ROOT_ID;
	return index_rec(&m->ix, rec)->uses > 0 ? (fuse_ino_t)rec + 1 : 0;
}

/*
 * The kernel takes each directory's lock to drop a name, so it first
 * waits for lookups in flight there, and drops what they returned too:
 * afterwards no cached name leads to an old version. Lookups never wait
 * on our locks but ixlock, which is not held here, so this cannot
 * deadlock even while opens are frozen.
 */
void
mount_invalidate(struct mount *m, size_t n, const char *const *paths,
    const int *attrs)
{
	char dir[PATH_MAX];
	const char *name;
	fuse_ino_t ino;
	size_t len;

	if (m->se == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		if (attrs[i]) {
			pthread_rwlock_rdlock(&m->ixlock);
			ino = ino_of_path(m, paths[i]);
			pthread_rwlock_unlock(&m->ixlock);
			if (ino != 0)
				fuse_lowlevel_notify_inval_inode(m->se, ino, 0, 0);
			continue;
		}
		len = path_dirlen(paths[i]);
		memcpy(dir, paths[i], len);
		dir[len] = '\0';
		pthread_rwlock_rdlock(&m->ixlock);
		ino = ino_of_path(m, dir);
		pthread_rwlock_unlock(&m->ixlock);
		if (ino == 0)
			continue;	/* the kernel never saw that directory */
		name = paths[i] + len + (len > 0);
		fuse_lowlevel_notify_inval_entry(m->se, ino, name, strlen(name));
		fuse_lowlevel_notify_inval_inode(m->se, ino, 0, 0);
	}
}

/*
 * A record that lost its last name to the commit: if its file is open
 * here, an open that waited for this commit must not open it (mfs_open).
 */
static void
gone(void *arg, const struct index *ix, uint32_t rec)
{
	struct mount *m = arg;
	const struct index_rec *r = index_rec(ix, rec);
	struct node *nd;

	if (!S_ISREG(r->mode & S_IFMT))
		return;
	pthread_mutex_lock(&m->nodes.lock);
	nd = nodes_find(&m->nodes, ix->dev, (ino_t)r->ino);
	if (nd != NULL)
		nd->superseded = m->generation + 1;
	pthread_mutex_unlock(&m->nodes.lock);
}

/* The index takes the commit's changes from the store, path by path. */
static void
index_changed(struct mount *m, size_t n, const char *const *paths)
{
	const struct index_hooks hooks = { m, gone };
	struct store_dir d = STORE_DIR_INIT;
	size_t failed = 0;

	pthread_rwlock_wrlock(&m->ixlock);
	for (size_t i = 0; i < n; i++)
		if (index_refresh(&m->ix, &m->st, &d, paths[i], &hooks) == -1)
			failed++;
	pthread_rwlock_unlock(&m->ixlock);
	store_dir_release(&d);
	if (failed > 0) {
		/* Not saved at the stop: the next start builds it from the tree. */
		__atomic_store_n(&m->ix_suspect, 1, __ATOMIC_SEQ_CST);
		log_errx("%s: %zu changed paths could not be indexed; the "
		    "mount may show their old state until it is mounted again",
		    m->store_path, failed);
	}
}

/*
 * ns is let go while the kernel drops names (it may wait for an rw
 * operation that waits for ns), then taken again for the next batch:
 * rw operations never wait for view, so nothing holds ns meanwhile
 * that waits for us.
 */
void
view_changed(struct mount *m, size_t n, const char *const *paths,
    const int *attrs)
{
	index_changed(m, n, paths);
	pthread_rwlock_unlock(&m->ns);
	mount_invalidate(m, n, paths, attrs);
	pthread_rwlock_wrlock(&m->ns);
}

void
view_thaw(struct mount *m)
{
	pthread_rwlock_unlock(&m->ns);
	__atomic_store_n(&m->generation, m->generation + 1, __ATOMIC_SEQ_CST);
	pthread_rwlock_unlock(&m->view);
}
