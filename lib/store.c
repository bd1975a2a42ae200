/* store: a destination directory and its .mirrorfs metadata; safe path access. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "control.h"
#include "fsutil.h"
#include "journal.h"
#include "log.h"
#include "path.h"
#include "syncfile.h"

/* An empty store: nothing open. */
static void
store_clear(struct store *s)
{
	memset(s, 0, sizeof(*s));
	s->rootfd = s->metafd = s->stagingfd = s->renamedfd = s->partialfd =
	    s->lockfd = s->dirfd = -1;
}

/* Opens or creates the directory name under dirfd, which is at dirpath. */
static int
open_subdir(int dirfd, const char *name, int create, const char *dirpath)
{
	int fd;

	if (create && mkdirat(dirfd, name, 0700) == -1 && errno != EEXIST) {
		log_err("%s/%s: mkdir", dirpath, name);
		return -1;
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1 && (create || errno != ENOENT))
		log_err("%s/%s", dirpath, name);
	return fd;
}

/*
 * Takes the store lock; EBUSY (logged unless try) when a live master
 * holds it. With wait, a master that serves no control socket (another
 * sync, just finishing) is waited for, up to STORE_WAIT_S.
 */
static int
store_lock(struct store *s, int try, int wait)
{
	struct sync_entry e;
	char who[1200];
	int waited = 0;

	s->lockfd = openat(s->metafd, "lock", O_RDWR | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (s->lockfd == -1) {
		log_err("%s/%s/lock", s->path, PATH_META);
		return -1;
	}
	while (flock(s->lockfd, LOCK_EX | LOCK_NB) == -1 &&
	    errno == EWOULDBLOCK && wait && waited < STORE_WAIT_S * 20 &&
	    faccessat(s->metafd, CONTROL_SOCK, F_OK, 0) == -1) {
		if (waited++ == 20)
			log_info("%s: waiting for the sync in progress to end",
			    s->path);
		usleep(50000);
	}
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK) {
		log_err("%s/%s/lock: flock", s->path, PATH_META);
		return -1;
	}
	if (!try) {
		if (sync_entry_read(s->metafd, s->path, &e) == 1) {
			sync_entry_describe(&e, who, sizeof(who));
			log_errx("%s: store is busy: its master is %s", s->path,
			    who);
		} else
			log_errx("%s: store is busy: another mirrorfs process "
			    "holds %s/%s/lock", s->path, s->path, PATH_META);
	}
	errno = EBUSY;
	return -1;
}

/*
 * With the lock held, an entry left in SYNC is a master that ended
 * abnormally. Its own instance, or any process on its host (the lock
 * proves it dead), may take over; another host's entry may belong to a
 * master alive over there (shared storage) and blocks until cleared.
 */
static int
store_claim(struct store *s, const char *instance)
{
	struct sync_entry old, self;
	char who[1200];
	int r;

	sync_entry_self(&self, instance);
	r = sync_entry_read(s->metafd, s->path, &old);
	if (r == -1)
		return -1;
	if (r == 1) {
		sync_entry_describe(&old, who, sizeof(who));
		if (strcmp(old.instance, self.instance) == 0)
			log_info("%s: %s regains control after its abnormal "
			    "end (%s)", s->path, self.instance, who);
		else if (strcmp(old.host, self.host) == 0)
			log_warnx("%s: taking over from %s, which ended "
			    "abnormally (its lock was free)", s->path, who);
		else {
			log_errx("%s: store is controlled by %s, on another "
			    "host. If that master is gone, clear its entry "
			    "with: mirrorctl clear-sync %s", s->path, who,
			    s->path);
			errno = ESTALE;
			return -1;
		}
	}
	if (sync_entry_write(s->metafd, s->path, &self) == -1)
		return -1;
	s->master = 1;
	return 0;
}


/*
 * Old versions in renamed/ are held (shared flock) by the mounts that
 * still have them open; the rest were left by mounts that ended.
 */
static int
clear_renamed(struct store *s)
{
	struct dirent *de;
	DIR *d;
	int fd, f, rc = 0;

	fd = openat(s->renamedfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		log_err("%s/%s/renamed", s->path, PATH_META);
		if (fd != -1)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		f = openat(s->renamedfd, de->d_name, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC | O_NONBLOCK);
		if (f != -1 && flock(f, LOCK_EX | LOCK_NB) == -1) {
			close(f);
			continue;	/* a live mount still holds it */
		}
		if (unlinkat(s->renamedfd, de->d_name, 0) == -1 &&
		    errno != ENOENT && errno != EISDIR) {
			log_err("%s/%s/renamed/%s", s->path, PATH_META,
			    de->d_name);
			rc = -1;
		}
		if (f != -1)
			close(f);
	}
	closedir(d);
	return rc;
}

int
store_open(struct store *s, const char *path, int flags)
{
	return store_open_as(s, path, flags, NULL, NULL, NULL);
}

int
store_open_as(struct store *s, const char *path, int flags,
    const char *instance, store_replayed_fn *replayed, void *arg)
{
	char def[300], host[256], boot[64];
	int saved;
	int ro = flags & STORE_READONLY;
	char meta[PATH_MAX + sizeof(PATH_META) + 1];

	store_clear(s);
	snprintf(meta, sizeof(meta), "%s/%s", path, PATH_META);
	s->path = strdup(path);
	if (s->path == NULL) {
		log_err("%s", path);
		return -1;
	}
	if ((flags & STORE_CREATE) && !ro && mkdir(path, 0755) == -1 &&
	    errno != EEXIST) {
		log_err("%s: cannot create store", path);
		goto fail;
	}
	s->rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->rootfd == -1) {
		if (ro && errno == ENOENT)
			return 0;	/* a dry run into a store not made yet */
		log_err("%s", path);
		goto fail;
	}
	s->metafd = open_subdir(s->rootfd, PATH_META, !ro, path);
	if (s->metafd == -1) {
		if (ro && errno == ENOENT)
			return 0;
		goto fail;
	}
	if (ro) {
		if (faccessat(s->metafd, JOURNAL_NAME, F_OK, 0) == 0)
			log_warnx("%s: an interrupted session awaits recovery "
			    "(run: mirrorctl recover %s)", path, path);
		return 0;
	}
	if (instance == NULL) {
		sync_host(host, sizeof(host), boot, sizeof(boot));
		snprintf(def, sizeof(def), "mirrorctl@%s", host);
		instance = def;
	}
	if (store_lock(s, flags & STORE_TRY, flags & STORE_WAIT) == -1 ||
	    store_claim(s, instance) == -1)
		goto fail;
	s->stagingfd = open_subdir(s->metafd, "staging", 1, meta);
	if (s->stagingfd == -1)
		goto fail;
	if (journal_recover_with(s, replayed, arg) == -1)
		goto fail;
	s->renamedfd = open_subdir(s->metafd, "renamed", 1, meta);
	if (s->renamedfd == -1 || clear_renamed(s) == -1)
		goto fail;
	s->partialfd = open_subdir(s->metafd, "partial", 1, meta);
	if (s->partialfd == -1)
		goto fail;
	return 0;
fail:
	saved = errno;
	store_close(s);
	errno = saved;
	return -1;
}

void
store_close(struct store *s)
{
	store_forget_dir(s);
	if (s->master)
		sync_entry_remove(s->metafd, s->path);
	if (s->stagingfd >= 0)
		close(s->stagingfd);
	if (s->renamedfd >= 0)
		close(s->renamedfd);
	if (s->partialfd >= 0)
		close(s->partialfd);
	if (s->lockfd >= 0)
		close(s->lockfd);
	if (s->metafd >= 0)
		close(s->metafd);
	if (s->rootfd >= 0)
		close(s->rootfd);
	free(s->path);
	store_clear(s);
}

void
store_forget_dir(struct store *s)
{
	if (s->dirfd >= 0)
		close(s->dirfd);
	s->dirfd = -1;
	free(s->dircache);
	s->dircache = NULL;
}

int
store_parent(struct store *s, const char *rel, const char **name)
{
	size_t dlen = path_dirlen(rel);
	char *dir;
	int fd;

	*name = dlen ? rel + dlen + 1 : rel;
	if (s->rootfd < 0) {
		errno = ENOENT;
		return -1;
	}
	if (dlen == 0)
		return s->rootfd;
	if (s->dircache && strlen(s->dircache) == dlen &&
	    memcmp(s->dircache, rel, dlen) == 0)
		return s->dirfd;
	dir = strndup(rel, dlen);
	if (dir == NULL)
		return -1;
	fd = open_beneath(s->rootfd, dir, O_PATH | O_DIRECTORY);
	if (fd == -1) {
		free(dir);
		return -1;
	}
	store_forget_dir(s);
	s->dircache = dir;
	s->dirfd = fd;
	return fd;
}

int
store_lstat(struct store *s, const char *rel, struct stat *st)
{
	const char *name;
	int dirfd = store_parent(s, rel, &name);

	if (dirfd == -1)
		return -1;
	return fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW);
}

int
store_open_at(struct store *s, const char *rel, int flags)
{
	if (s->rootfd < 0) {
		errno = ENOENT;
		return -1;
	}
	return open_beneath(s->rootfd, rel, flags);
}

/* Removes everything inside the directory open as fd, then closes fd. */
static int
remove_contents(int fd)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int sub, rc = 0;

	if (d == NULL) {
		close(fd);
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(fd, de->d_name, 0) == 0 || errno == ENOENT)
			continue;
		if (errno != EISDIR) {
			rc = -1;
			continue;
		}
		sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (sub == -1 || remove_contents(sub) == -1 ||
		    unlinkat(fd, de->d_name, AT_REMOVEDIR) == -1)
			rc = -1;
	}
	if (errno != 0)
		rc = -1;
	closedir(d);
	return rc;
}

int
store_remove_tree(struct store *s, const char *rel)
{
	const char *name;
	int dirfd, fd;

	dirfd = store_parent(s, rel, &name);
	if (dirfd == -1)
		return errno == ENOENT ? 0 : -1;
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR)
		return -1;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT ? 0 : -1;
	if (remove_contents(fd) == -1)
		return -1;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) == -1 && errno != ENOENT)
		return -1;
	/* The cached directory may have been inside the removed tree. */
	if (s->dircache && strncmp(s->dircache, rel, strlen(rel)) == 0 &&
	    (s->dircache[strlen(rel)] == '\0' || s->dircache[strlen(rel)] == '/'))
		store_forget_dir(s);
	return 0;
}

int
store_sync(struct store *s)
{
	if (syncfs(s->rootfd) == -1) {
		log_err("%s: syncfs", s->path);
		return -1;
	}
	return 0;
}

int
store_clear_sync(const char *path, struct sync_entry *e, int *found)
{
	struct store s;
	int r, rc = -1;

	store_clear(&s);
	*found = 0;
	s.path = strdup(path);
	s.rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s.path == NULL || s.rootfd == -1) {
		log_err("%s", path);
		goto out;
	}
	s.metafd = open_subdir(s.rootfd, PATH_META, 0, path);
	if (s.metafd == -1) {
		if (errno == ENOENT) {
			rc = 0;	/* never used as a store: nothing to clear */
		}
		goto out;
	}
	if (store_lock(&s, 0, 0) == -1)
		goto out;
	r = sync_entry_read(s.metafd, path, e);
	if (r == -1)
		log_warnx("%s: removing the unreadable entry", path);
	if (r != 0 && sync_entry_remove(s.metafd, path) == -1)
		goto out;
	*found = r != 0;
	rc = 0;
out:
	store_close(&s);
	return rc;
}
