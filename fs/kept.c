/* kept: old versions of open files, kept as .mirrorfs/renamed/AAnnnnnn while open in any mount. */
#include "mount.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "log.h"
#include "path.h"

int
mount_reap(struct mount *m, const char *name)
{
	int fd, rc = -1;

	fd = openat(m->renamedfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		if (unlinkat(m->renamedfd, name, 0) == -1 && errno != ENOENT)
			log_warn("%s/%s/renamed/%s", m->store_path, PATH_META,
			    name);
		else
			rc = 0;
	}
	close(fd);
	return rc;
}

void
mount_hold_kept(struct mount *m, struct node *n, const char *name,
    const char *path)
{
	int fd;

	fd = openat(m->renamedfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || flock(fd, LOCK_SH) == -1) {
		log_warn("%s/%s/renamed/%s", m->store_path, PATH_META, name);
		if (fd != -1)
			close(fd);
		return;
	}
	if (n->holder >= 0)
		close(n->holder);
	n->holder = fd;
	snprintf(n->renamed, sizeof(n->renamed), "%s", name);
	free(n->path);
	n->path = strdup(path);
}

void
mount_node_closed(struct mount *m, struct node *n, int was_write)
{
	char name[sizeof(n->renamed)];

	pthread_mutex_lock(&m->nodes.lock);
	n->nopen--;
	if (was_write)
		n->nwrite--;
	name[0] = '\0';
	if (n->nopen == 0 && n->renamed[0] != '\0') {
		/* Let go of our share; the last holder removes the name. */
		snprintf(name, sizeof(name), "%s", n->renamed);
		close(n->holder);
		n->holder = -1;
		n->renamed[0] = '\0';
	}
	nodes_maybe_free_locked(&m->nodes, n);
	pthread_mutex_unlock(&m->nodes.lock);
	if (name[0] != '\0')
		mount_reap(m, name);
}
