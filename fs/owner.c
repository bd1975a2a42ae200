/* owner: how the mounts of a store take part in each commit (veto, RENAMEOPEN, invalidation). */
#include "owner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "path.h"
#include "store/journal.h"

struct inode_id {
	dev_t dev;
	ino_t ino;
};

/* What one commit has learned so far (session_lock serializes commits). */
struct owner_commit {
	struct inode_id *open;	/* open in a slave mount */
	size_t nopen;
	char **reasons;		/* slaves' veto texts, owned */
	size_t nreasons;
	int *holds;		/* shared flocks on the names kept by this commit */
	char (*names)[16];
	size_t nkept;
	/* For the log: the batches checked and changed, the largest one. */
	size_t nchecked, checks, nchanged, changes, most;
};

/* Counts a batch of n changes (checked or changed) for the log. */
static void
count_batch(struct owner_commit *c, size_t *changes, size_t *batches,
    size_t n)
{
	*changes += n;
	(*batches)++;
	if (n > c->most)
		c->most = n;
}

static void
owner_commit_free(struct owner_commit *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nreasons; i++)
		free(c->reasons[i]);
	for (size_t i = 0; i < c->nkept; i++)
		if (c->holds[i] >= 0)
			close(c->holds[i]);
	free(c->reasons);
	free(c->open);
	free(c->holds);
	free(c->names);
	free(c);
}

/*
 * The verdict on replacing node n's file (NULL: not open here), and why,
 * inside a directory replaced or removed when inner. Caller holds
 * nodes.lock.
 */
static int
node_verdict(const struct mount *m, const struct node *n, int committing,
    int inner, const char **why)
{
	static const char *const writing[2][2] = {
		{ "open for write through another mount; retried by the next "
		  "sync", "open for write through the mount; retried by the "
		  "next sync" },
		{ "a file in it is open for write through another mount; "
		  "retried by the next sync", "a file in it is open for write "
		  "through the mount; retried by the next sync" },
	};
	static const char *const reading[2][2] = {
		{ "open through another mount whose renameopen is off; "
		  "retried by the next sync", "open through the mount and "
		  "renameopen is off; retried by the next sync" },
		{ "a file in it is open through another mount whose "
		  "renameopen is off; retried by the next sync", "a file in it "
		  "is open through the mount and renameopen is off; retried "
		  "by the next sync" },
	};

	if (n != NULL && n->nwrite > 0) {
		*why = writing[inner][committing];
		return VERDICT_VETO;
	}
	if (n != NULL && n->nopen > 0 && !m->renameopen) {
		*why = reading[inner][committing];
		return VERDICT_VETO;
	}
	return n != NULL && n->nopen > 0 ? VERDICT_OPEN : VERDICT_FREE;
}

/* Whether some file open here would be vetoed. Caller holds nodes.lock. */
static int
any_vetoed(struct mount *m)
{
	size_t pos = 0, v;
	const char *why;

	while (htab_next(&m->nodes.map, &pos, &v))
		if (node_verdict(m, (const struct node *)v, 0, 0, &why) ==
		    VERDICT_VETO)
			return 1;
	return 0;
}

/*
 * VERDICT_VETO with *why when a file under the directory open as fd
 * (closed here) would be vetoed, or cannot be looked at: what the
 * directory's removal would delete is then unknown. Caller holds
 * nodes.lock.
 */
static int
tree_verdict(struct mount *m, int fd, int committing, const char **why)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	struct stat st;
	int sub, v = VERDICT_FREE;

	if (d == NULL) {
		close(fd);
		*why = "what is in it could not be read; retried by the next "
		    "sync";
		return VERDICT_VETO;
	}
	while (v != VERDICT_VETO && (errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;	/* gone: nothing to keep */
		if (S_ISREG(st.st_mode))
			v = node_verdict(m, nodes_find(&m->nodes, st.st_dev,
			    st.st_ino), committing, 1, why);
		else if (S_ISDIR(st.st_mode)) {
			sub = openat(dirfd(d), de->d_name, O_RDONLY |
			    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			v = sub == -1 ? VERDICT_FREE :
			    tree_verdict(m, sub, committing, why);
		}
	}
	if (v != VERDICT_VETO && errno != 0) {
		*why = "what is in it could not be read; retried by the next "
		    "sync";
		v = VERDICT_VETO;
	}
	closedir(d);
	return v == VERDICT_VETO ? v : VERDICT_FREE;
}

/* A directory at path with inode (dev, ino): tree_verdict; anything else FREE. */
static int
dir_verdict(struct mount *m, const char *path, dev_t dev, ino_t ino,
    int committing, const char **why)
{
	struct stat st;
	int fd;

	/* Only when some file open here would be vetoed: else the walk is for nothing. */
	if (path == NULL || !any_vetoed(m))
		return VERDICT_FREE;
	fd = store_open_at(&m->st, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1)
		return VERDICT_FREE;	/* not a directory (or gone) */
	if (fstat(fd, &st) == -1 || st.st_dev != dev || st.st_ino != ino) {
		close(fd);
		return VERDICT_FREE;	/* another inode than the one asked of */
	}
	return tree_verdict(m, fd, committing, why);
}

int
owner_verdict(struct mount *m, const char *path, dev_t dev, ino_t ino,
    int committing, const char **why)
{
	int v;

	*why = NULL;
	pthread_mutex_lock(&m->nodes.lock);
	v = node_verdict(m, nodes_find(&m->nodes, dev, ino), committing, 0,
	    why);
	if (v == VERDICT_FREE &&
	    dir_verdict(m, path, dev, ino, committing, why) == VERDICT_VETO)
		v = VERDICT_VETO;
	pthread_mutex_unlock(&m->nodes.lock);
	return v;
}

/* Forgets a slave that failed to follow; it notices and unmounts itself. */
static void
slave_drop(struct mount *m, struct slave *sl)
{
	struct slave **pp;

	log_warnx("%s: dropping the slave mount (%s): it cannot follow "
	    "commits any more", m->store_path, sl->conn.peer);
	for (pp = &m->slaves; *pp != NULL; pp = &(*pp)->next)
		if (*pp == sl) {
			*pp = sl->next;
			break;
		}
	conn_release(&sl->conn);
	free(sl);
}

/* What a slave answers before its ACK, given to the caller with the slave. */
typedef void slave_answer(void *arg, struct slave *sl, const uint8_t *p,
    size_t n);

/* Waits for a slave's ACK, reading (and returning through fn) what comes first. */
static int
slave_wait(struct slave *sl, slave_answer *fn, void *arg)
{
	const uint8_t *p;
	uint8_t type;
	size_t n;

	for (;;) {
		if (conn_recv(&sl->conn, &type, &p, &n) != 1)
			return -1;
		if (type == MSG_SUB_ACK)
			return 0;
		if (type != MSG_SUB_VERDICT || fn == NULL)
			return -1;
		fn(arg, sl, p, n);
	}
}

/* Sends the frame queued by send() to every slave; drops those that fail. */
static void
slaves_ask(struct mount *m, int (*send)(struct conn *, void *), void *sarg,
    slave_answer *fn, void *farg)
{
	struct slave *sl, *next;

	for (sl = m->slaves; sl != NULL; sl = next) {
		next = sl->next;
		if (send(&sl->conn, sarg) == -1 || conn_flush(&sl->conn) == -1)
			slave_drop(m, sl);
	}
	for (sl = m->slaves; sl != NULL; sl = next) {
		next = sl->next;
		sl->answered = 0;
		if (slave_wait(sl, fn, farg) == -1)
			slave_drop(m, sl);
	}
}

static int
send_plain(struct conn *c, void *arg)
{
	return conn_send(c, (uint8_t)(uintptr_t)arg, NULL, 0);
}

static void
owner_begin(void *arg)
{
	struct mount *m = arg;
	uint64_t waited;

	/*
	 * Readers of the store as a source first (never past their holds'
	 * expiry): they may be reading through this very mount, so the view
	 * is frozen only once they are done.
	 */
	waited = holds_commit_begin(&m->holds);
	if (waited >= 1000)
		log_info("%s: the commit waited %.1f s for the sessions "
		    "reading the store", m->store_path, (double)waited / 1000);
	view_freeze(m);
	m->commit = calloc(1, sizeof(*m->commit));
	/* Every mount freezes before the first rename. */
	slaves_ask(m, send_plain, (void *)(uintptr_t)MSG_SUB_BEGIN, NULL, NULL);
}

/* The commit's changes, asked of one slave after another. */
struct check_batch {
	struct mount *m;
	struct commit_change *v;
	size_t n;
};

/* Tells a slave every path the commit changes; those with an inode are questions. */
static int
send_checks(struct conn *c, void *arg)
{
	struct check_batch *b = arg;
	struct sub_path sp;

	for (size_t i = 0; i < b->n; i++) {
		const struct commit_change *v = &b->v[i];

		sp.kind = v->op == JOP_ATTR ? SUB_ATTR : SUB_NAME;
		sp.dev = v->has_old ? v->dev : 0;
		sp.ino = v->has_old ? v->ino : 0;
		sp.path = (char *)v->path;
		if (proto_send_sub_path(c, &sp) == -1)
			return -1;
	}
	return conn_send(c, MSG_SUB_PATHS_END, NULL, 0);
}

/*
 * The change a slave's next verdict answers: the next that asked a
 * question from *at on (the slave's own place); NULL when none is left.
 */
static struct commit_change *
next_question(struct check_batch *b, size_t *at)
{
	while (*at < b->n && !(b->v[*at].has_old && b->v[*at].ino != 0))
		(*at)++;
	return *at < b->n ? &b->v[(*at)++] : NULL;
}

static void
take_verdict(void *arg, struct slave *sl, const uint8_t *p, size_t n)
{
	struct check_batch *b = arg;
	struct owner_commit *c = b->m->commit;
	struct commit_change *v = next_question(b, &sl->answered);
	char err[128], *reason;
	void *nv;
	int verdict;

	if (v == NULL || c == NULL ||
	    proto_decode_sub_verdict(p, n, &verdict, &reason, err,
	    sizeof(err)) == -1)
		return;
	if (verdict == VERDICT_VETO && v->veto == NULL &&
	    (nv = realloc(c->reasons, (c->nreasons + 1) * sizeof(char *)))) {
		c->reasons = nv;
		c->reasons[c->nreasons++] = reason;
		v->veto = reason;
		return;
	}
	if (verdict == VERDICT_OPEN &&
	    (nv = realloc(c->open, (c->nopen + 1) * sizeof(*c->open)))) {
		c->open = nv;
		c->open[c->nopen].dev = v->dev;
		c->open[c->nopen].ino = v->ino;
		c->nopen++;
	}
	free(reason);
}

/* Judges every replacement of a batch here, then asks the slave mounts. */
static void
owner_check(void *arg, struct commit_change *v, size_t n)
{
	struct mount *m = arg;
	struct check_batch b = { m, v, n };
	struct owner_commit *c = m->commit;
	const char *why;

	if (c != NULL)
		count_batch(c, &c->nchecked, &c->checks, n);
	for (size_t i = 0; i < n; i++)
		if (v[i].has_old && owner_verdict(m, S_ISDIR(v[i].mode) ?
		    v[i].path : NULL, v[i].dev, v[i].ino, 1, &why) ==
		    VERDICT_VETO)
			v[i].veto = why;
	slaves_ask(m, send_checks, &b, take_verdict, &b);
}

static int
open_elsewhere(const struct owner_commit *c, dev_t dev, ino_t ino)
{
	for (size_t i = 0; c != NULL && i < c->nopen; i++)
		if (c->open[i].dev == dev && c->open[i].ino == ino)
			return 1;
	return 0;
}

struct kept_msg {
	const struct commit_change *old;
	const char *name;
};

static int
send_kept(struct conn *c, void *arg)
{
	struct kept_msg *k = arg;

	return proto_send_sub_kept(c, k->old->dev, k->old->ino, k->name);
}

/*
 * Links the old version of path, open in some mount, as renamed/NAME
 * (into name), and holds it (shared flock) until the end of the commit,
 * so no mount letting go of it meanwhile removes it from under the
 * others. Caller holds nodes.lock. 0 kept, -1 not (logged).
 */
static int
keep_old_version(struct mount *m, struct node *nd,
    const struct commit_change *old, int dirfd, const char *base,
    char name[16])
{
	struct owner_commit *c = m->commit;
	const char *path = old->path;
	int rc, fd;
	void *v;

	snprintf(name, 16, "AA%06u", ++m->renamed_seq);
	/* Still at its name: the rename comes after this call. */
	rc = linkat(dirfd, base, m->renamedfd, name, 0);
	if (rc == -1) {
		log_warn("%s/%s/renamed/%s: keeping the old version of %s",
		    m->store_path, PATH_META, name, path);
		return -1;
	}
	fd = openat(m->renamedfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd != -1 && flock(fd, LOCK_SH) == -1) {
		close(fd);
		fd = -1;
	}
	if (c != NULL && (v = realloc(c->holds, (c->nkept + 1) * sizeof(int)))) {
		c->holds = v;
		if ((v = realloc(c->names, (c->nkept + 1) * sizeof(*c->names)))) {
			c->names = v;
			c->holds[c->nkept] = fd;
			memcpy(c->names[c->nkept], name, 16);
			c->nkept++;
			fd = -1;
		}
	}
	if (fd != -1)
		close(fd);
	if (nd != NULL)
		mount_hold_kept(m, nd, name, path);
	if ((v = realloc(m->kept, (m->nkept + 1) * sizeof(*m->kept)))) {
		m->kept = v;
		memcpy(m->kept[m->nkept].name, name, 16);
		m->kept[m->nkept].path = strdup(path);
		m->kept[m->nkept].dev = old->dev;
		m->kept[m->nkept].ino = old->ino;
		m->nkept++;
	}
	log_info("%s: replaced while open; old version kept as %s/renamed/%s",
	    path, PATH_META, name);
	return 0;
}

static void
owner_replacing(void *arg, const struct commit_change *old, int dirfd,
    const char *name)
{
	struct mount *m = arg;
	struct kept_msg k = { .old = old };
	char kept[16];
	struct node *nd;
	int here, tell = 0;

	pthread_mutex_lock(&m->nodes.lock);
	nd = nodes_find(&m->nodes, old->dev, old->ino);
	/* An open that waited for this commit gets ESTALE (see mfs_open). */
	if (nd != NULL)
		nd->superseded = m->generation + 1;
	here = nd != NULL && nd->nopen > 0 && nd->renamed[0] == '\0';
	if (S_ISREG(old->mode) && (here ||
	    open_elsewhere(m->commit, old->dev, old->ino)))
		tell = keep_old_version(m, here ? nd : NULL, old, dirfd, name,
		    kept) == 0;
	pthread_mutex_unlock(&m->nodes.lock);
	/* Slaves take their share before the commit ends (no answer needed). */
	k.name = kept;
	for (struct slave *sl = tell ? m->slaves : NULL; sl != NULL;
	    sl = sl->next)
		send_kept(&sl->conn, &k);
}

/*
 * A batch of the commit's changes, carried out: the index and the
 * kernel take the paths, and whether each changed in place.
 */
static void
owner_changed(void *arg, const struct commit_change *v, size_t n)
{
	struct mount *m = arg;
	struct owner_commit *c = m->commit;
	const char **paths = calloc(n + 1, sizeof(*paths));
	int *attrs = calloc(n + 1, sizeof(*attrs));

	if (c != NULL)
		count_batch(c, &c->nchanged, &c->changes, n);
	if (paths == NULL || attrs == NULL) {
		log_errx("%s: out of memory invalidating the kernel's cache",
		    m->store_path);
		n = 0;
	}
	for (size_t i = 0; i < n; i++) {
		paths[i] = v[i].path;
		attrs[i] = v[i].op == JOP_ATTR;
	}
	view_changed(m, n, paths, attrs);
	free(paths);
	free(attrs);
}

static void
owner_end(void *arg, size_t n, int whole)
{
	struct mount *m = arg;
	struct owner_commit *c = m->commit;

	if (!whole) {
		/* Not saved at the stop: the next start builds it from the tree. */
		__atomic_store_n(&m->ix_suspect, 1, __ATOMIC_SEQ_CST);
		log_errx("%s: the commit's changes could not all be indexed; "
		    "the mount may show the old state of some until it is "
		    "mounted again", m->store_path);
	}
	slaves_ask(m, send_plain, (void *)(uintptr_t)MSG_SUB_END, NULL, NULL);
	m->commit = NULL;
	view_thaw(m);
	holds_commit_end(&m->holds);
	if (n > 0)	/* serve.c tells the watchers once the session ends */
		__atomic_add_fetch(&m->commits, 1, __ATOMIC_SEQ_CST);
	if (c == NULL)
		return;
	log_debug("%s: the commit checked %zu changes in %zu batches, made "
	    "%zu in %zu, at most %zu at once", m->store_path, c->nchecked,
	    c->checks, c->nchanged, c->changes, c->most);
	/* Every holder has its share now; one nobody holds goes at once. */
	for (size_t i = 0; i < c->nkept; i++) {
		if (c->holds[i] >= 0)
			close(c->holds[i]);
		c->holds[i] = -1;
		mount_reap(m, c->names[i]);
	}
	owner_commit_free(c);
}

void
owner_init(struct commit_observer *o, struct mount *m)
{
	o->arg = m;
	o->begin = owner_begin;
	o->check = owner_check;
	o->replacing = owner_replacing;
	o->changed = owner_changed;
	o->end = owner_end;
}
