/* master: the one process that writes a store: its lock, its SYNC entry, recovery. */
#include "master.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "clock.h"
#include "control.h"
#include "log.h"
#include "path.h"

/*
 * How often a sync waiting for the store's lock looks again: often, as
 * the lock is free only between two syncs, and the next of a loop of
 * them may take it a few milliseconds after the last let go (a poll of
 * 50 ms waited behind all of them).
 */
#define REACH_RETRY_MS 5

/* Whether a mount serves the store (its socket answers): then nobody waits for the lock. */
static int
served(const struct store *s)
{
	int fd = control_connect(s->path);

	if (fd == -1)
		return 0;
	close(fd);
	return 1;
}

/*
 * Waits for a master that serves no control socket (a one-shot sync, or
 * a mount still starting, or one that died leaving its socket), up to
 * MASTER_WAIT_S; a mount that serves the store is never waited for.
 */
static int
wait_for_lock(struct store *s)
{
	double start = clock_now(), look = start, now;
	int told = 0;

	while (flock(s->lockfd, LOCK_EX | LOCK_NB) == -1) {
		now = clock_now();
		if (errno != EWOULDBLOCK || now - start >= MASTER_WAIT_S)
			return -1;
		/* A mount that came meanwhile is never waited for: once a second. */
		if (now >= look) {
			if (served(s))
				return -1;
			look = now + 1;
		}
		if (!told && now - start >= 1) {
			log_info("%s: waiting for the sync in progress to end",
			    s->path);
			told = 1;
		}
		usleep(REACH_RETRY_MS * 1000);
	}
	return 0;
}

/*
 * Takes the store lock; EBUSY (logged unless try) when a live master
 * holds it. With wait, a master that serves no control socket (another
 * sync, just finishing) is waited for, up to MASTER_WAIT_S.
 */
static int
take_lock(struct store *s, int try, int wait)
{
	struct sync_entry e;
	char who[1200];

	s->lockfd = openat(s->metafd, STORE_LOCK, O_RDWR | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (s->lockfd == -1) {
		log_err("%s/%s/%s", s->path, PATH_META, STORE_LOCK);
		return -1;
	}
	if ((wait && wait_for_lock(s) == 0) ||
	    flock(s->lockfd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK) {
		log_err("%s/%s/%s: flock", s->path, PATH_META, STORE_LOCK);
		return -1;
	}
	if (!try) {
		if (sync_entry_read(s->metafd, s->path, &e) == 1) {
			sync_entry_describe(&e, who, sizeof(who));
			log_errx("%s: store is busy: its master is %s", s->path,
			    who);
		} else
			log_errx("%s: store is busy: another mirrorfs process "
			    "holds %s/%s/%s", s->path, s->path, PATH_META,
			    STORE_LOCK);
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
claim(struct store *s, const char *instance)
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
reap_renamed(struct store *s)
{
	struct dirent *de;
	DIR *d;
	int fd, f, rc = 0;

	fd = openat(s->renamedfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		log_err("%s/%s/%s", s->path, PATH_META, STORE_RENAMED);
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
			log_err("%s/%s/%s/%s", s->path, PATH_META,
			    STORE_RENAMED, de->d_name);
			rc = -1;
		}
		if (f != -1)
			close(f);
	}
	closedir(d);
	return rc;
}

/* The default instance name of a one-shot master: mirrorctl@HOST. */
static void
default_instance(char *out, size_t len)
{
	char host[256], boot[64];

	sync_host(host, sizeof(host), boot, sizeof(boot));
	snprintf(out, len, "mirrorctl@%s", host);
}

int
master_open(struct store *s, const char *path, int flags,
    const char *instance, struct journal *replayed)
{
	char def[300];
	int saved;

	if (store_open_dirs(s, path, flags & MASTER_CREATE) == -1)
		return -1;
	if (instance == NULL) {
		default_instance(def, sizeof(def));
		instance = def;
	}
	if (take_lock(s, flags & MASTER_TRY, flags & MASTER_WAIT) == -1 ||
	    claim(s, instance) == -1)
		goto fail;
	s->stagingfd = store_open_meta(s, STORE_STAGING);
	if (s->stagingfd == -1 || journal_recover(s, replayed) == -1)
		goto fail;
	s->renamedfd = store_open_meta(s, STORE_RENAMED);
	if (s->renamedfd == -1 || reap_renamed(s) == -1)
		goto fail;
	s->partialfd = store_open_meta(s, STORE_PARTIAL);
	if (s->partialfd == -1)
		goto fail;
	return 0;
fail:
	saved = errno;
	master_close(s);
	errno = saved;
	return -1;
}

int
master_recover(struct store *s)
{
	return journal_recover(s, NULL);
}

void
master_close(struct store *s)
{
	if (s->master)
		sync_entry_remove(s->metafd, s->path);
	store_close(s);
}

int
master_daemonized(struct store *s)
{
	struct sync_entry e;

	if (!s->master)
		return 0;
	if (sync_entry_read(s->metafd, s->path, &e) != 1) {
		log_errx("%s: the SYNC entry of this master is gone", s->path);
		return -1;
	}
	e.pid = getpid();
	return sync_entry_write(s->metafd, s->path, &e);
}

int
master_clear_sync(const char *path, struct sync_entry *e, int *found)
{
	struct store s;
	int r, rc = -1;

	*found = 0;
	store_init(&s);
	if (store_open_view(&s, path) == -1)
		goto out;
	if (s.metafd == -1) {
		if (s.rootfd == -1) {
			errno = ENOENT;
			log_err("%s", path);
		} else
			rc = 0;	/* never used as a store: nothing to clear */
		goto out;
	}
	if (take_lock(&s, 0, 0) == -1)
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

int
master_reach(struct store *s, const char *path, int flags, int *fd)
{
	double start = clock_now();
	int told = 0;

	for (;;) {
		*fd = control_connect(path);
		if (*fd >= 0)
			return 1;
		if (errno != ENOENT && errno != ECONNREFUSED && errno != ENOTDIR)
			return -1;
		if (master_open(s, path, flags | MASTER_TRY, NULL, NULL) == 0)
			return 0;
		if (errno != EBUSY)
			return -1;
		if (clock_now() - start >= MASTER_WAIT_S)
			/* Once more, to say who holds it. */
			return master_open(s, path, flags & ~MASTER_TRY, NULL,
			    NULL) == 0 ? 0 : -1;
		if (!told && clock_now() - start >= 1) {
			log_info("%s: waiting for its master (a sync in "
			    "progress, or a mount starting)", path);
			told = 1;
		}
		usleep(REACH_RETRY_MS * 1000);
	}
}
