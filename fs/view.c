/* view: what opens through the mount may see: frozen during a commit, then the kernel's caches dropped. */
#include "mount.h"

#include <limits.h>
#include <string.h>

#include "path.h"

void
view_freeze(struct mount *m)
{
	pthread_rwlock_wrlock(&m->view);
	pthread_rwlock_wrlock(&m->ns);
}

/* The FUSE inode number of the store's file at rel, or 0 if the kernel never saw it. */
static fuse_ino_t
ino_of_path(struct mount *m, struct store_dir *d, const char *rel)
{
	struct stat st;
	struct node *n;
	fuse_ino_t ino = 0;

	if (rel[0] == '\0' || strcmp(rel, ".") == 0)
		return FUSE_ROOT_ID;
	if (store_lstat(&m->st, d, rel, &st) == -1)
		return 0;
	pthread_mutex_lock(&m->nodes.lock);
	n = nodes_find(&m->nodes, st.st_dev, st.st_ino);
	if (n != NULL)
		ino = n == &m->nodes.root ? FUSE_ROOT_ID : (fuse_ino_t)n;
	pthread_mutex_unlock(&m->nodes.lock);
	return ino;
}

/*
 * The kernel takes each directory's lock to drop a name, so it first
 * waits for lookups in flight there, and drops what they returned too:
 * afterwards no cached name leads to an old version. Lookups never wait
 * on our locks, so this cannot deadlock even while opens are frozen.
 */
void
mount_invalidate(struct mount *m, size_t n, const char *const *paths,
    const int *attrs)
{
	struct store_dir d = STORE_DIR_INIT;
	char dir[PATH_MAX];
	const char *name;
	fuse_ino_t ino;
	size_t len;

	if (m->se == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		if (attrs[i]) {
			ino = ino_of_path(m, &d, paths[i]);
			if (ino != 0)
				fuse_lowlevel_notify_inval_inode(m->se, ino, 0, 0);
			continue;
		}
		len = path_dirlen(paths[i]);
		memcpy(dir, paths[i], len);
		dir[len] = '\0';
		ino = ino_of_path(m, &d, dir);
		if (ino == 0)
			continue;	/* the kernel never saw that directory */
		name = paths[i] + len + (len > 0);
		fuse_lowlevel_notify_inval_entry(m->se, ino, name, strlen(name));
		fuse_lowlevel_notify_inval_inode(m->se, ino, 0, 0);
	}
	store_dir_release(&d);
}

void
view_changed(struct mount *m, size_t n, const char *const *paths,
    const int *attrs)
{
	pthread_rwlock_unlock(&m->ns);
	mount_invalidate(m, n, paths, attrs);
}

void
view_thaw(struct mount *m)
{
	__atomic_store_n(&m->generation, m->generation + 1, __ATOMIC_SEQ_CST);
	pthread_rwlock_unlock(&m->view);
}
