/* owner: the master mount's part in each commit, for itself and its slave mounts. */
#include "owner.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "path.h"
#include "proto.h"

struct inode_id {
	dev_t dev;
	ino_t ino;
};

/* What one commit has learned so far (session_lock serializes commits). */
struct commit {
	struct inode_id *open;	/* open in a slave mount */
	size_t nopen;
	char **reasons;		/* slaves' veto texts, owned */
	size_t nreasons;
	int *holds;		/* shared flocks on the names kept by this commit */
	char (*names)[16];
	size_t nkept;
};

static void
commit_free(struct commit *c)
{
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

/* Waits for a slave's ACK, reading (and returning through fn) what comes first. */
static int
slave_wait(struct slave *sl, void (*fn)(void *, const uint8_t *, size_t),
    void *arg)
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
		fn(arg, p, n);
	}
}

/* Sends the frame queued by send() to every slave; drops those that fail. */
static void
slaves_ask(struct mount *m, int (*send)(struct conn *, void *), void *sarg,
    void (*fn)(void *, const uint8_t *, size_t), void *farg)
{
	struct slave *sl, *next;

	for (sl = m->slaves; sl != NULL; sl = next) {
		next = sl->next;
		if (send(&sl->conn, sarg) == -1 || conn_flush(&sl->conn) == -1)
			slave_drop(m, sl);
	}
	for (sl = m->slaves; sl != NULL; sl = next) {
		next = sl->next;
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

	pthread_rwlock_wrlock(&m->view);
	pthread_rwlock_wrlock(&m->ns);
	m->commit = calloc(1, sizeof(*m->commit));
	/* Every mount freezes before the first rename. */
	slaves_ask(m, send_plain, (void *)(uintptr_t)MSG_SUB_BEGIN, NULL, NULL);
}

struct check_batch {
	struct mount *m;
	size_t n;
	const char *const *paths;
	const struct stat *olds;
	const char **why;
	size_t at;		/* verdicts read from the current slave */
};

static int
send_checks(struct conn *c, void *arg)
{
	struct check_batch *b = arg;
	struct sub_path sp;

	for (size_t i = 0; i < b->n; i++) {
		sp.op = 0;	/* a question: may it change? */
		sp.dev = b->olds[i].st_dev;
		sp.ino = b->olds[i].st_ino;
		sp.path = (char *)b->paths[i];
		if (proto_send_sub_path(c, &sp) == -1)
			return -1;
	}
	b->at = 0;
	return conn_send(c, MSG_SUB_PATHS_END, NULL, 0);
}

static void
take_verdict(void *arg, const uint8_t *p, size_t n)
{
	struct check_batch *b = arg;
	struct commit *c = b->m->commit;
	char err[128], *reason;
	size_t i = b->at++;
	void *v;
	int verdict;

	if (i >= b->n || c == NULL ||
	    proto_decode_sub_verdict(p, n, &verdict, &reason, err,
	    sizeof(err)) == -1)
		return;
	if (verdict == VERDICT_VETO && b->why[i] == NULL &&
	    (v = realloc(c->reasons, (c->nreasons + 1) * sizeof(char *)))) {
		c->reasons = v;
		c->reasons[c->nreasons++] = reason;
		b->why[i] = reason;
		return;
	}
	if (verdict == VERDICT_OPEN &&
	    (v = realloc(c->open, (c->nopen + 1) * sizeof(*c->open)))) {
		c->open = v;
		c->open[c->nopen].dev = b->olds[i].st_dev;
		c->open[c->nopen].ino = b->olds[i].st_ino;
		c->nopen++;
	}
	free(reason);
}

static void
owner_check(void *arg, size_t n, const char *const *paths,
    const struct stat *olds, const char **why)
{
	struct mount *m = arg;
	struct check_batch b = { m, n, paths, olds, why, 0 };
	struct node *nd;

	pthread_mutex_lock(&m->nodes.lock);
	for (size_t i = 0; i < n; i++) {
		nd = nodes_find(&m->nodes, olds[i].st_dev, olds[i].st_ino);
		if (nd != NULL && nd->nwrite > 0)
			why[i] = "open for write through the mount; retried "
			    "by the next sync";
		else if (nd != NULL && nd->nopen > 0 && !m->renameopen)
			why[i] = "open through the mount and renameopen is "
			    "off; retried by the next sync";
	}
	pthread_mutex_unlock(&m->nodes.lock);
	slaves_ask(m, send_checks, &b, take_verdict, &b);
}

struct journal_batch {
	struct mount *m;
	const struct journal *j;
};

/* Tells the slaves every path the commit will change, so a slave that
   outlives a master dying mid-commit knows what to invalidate. */
static int
send_journal(struct conn *c, void *arg)
{
	struct journal_batch *b = arg;
	struct sub_path sp;
	struct stat st;

	for (size_t i = 0; i < b->j->n; i++) {
		const struct journal_rec *r = &b->j->v[i];

		sp.op = r->op;
		sp.dev = sp.ino = 0;
		if ((r->op == JOP_PUT || r->op == JOP_REMOVE) &&
		    store_lstat(&b->m->st, r->path, &st) == 0) {
			sp.dev = st.st_dev;
			sp.ino = st.st_ino;
		}
		sp.path = r->path;
		if (proto_send_sub_path(c, &sp) == -1)
			return -1;
	}
	return conn_send(c, MSG_SUB_PATHS_END, NULL, 0);
}

static void
owner_committing(void *arg, const struct journal *j)
{
	struct mount *m = arg;
	struct journal_batch b = { m, j };

	slaves_ask(m, send_journal, &b, NULL, NULL);
}

static int
open_elsewhere(const struct commit *c, const struct stat *old)
{
	for (size_t i = 0; c != NULL && i < c->nopen; i++)
		if (c->open[i].dev == old->st_dev && c->open[i].ino == old->st_ino)
			return 1;
	return 0;
}

struct kept_msg {
	const struct stat *old;
	const char *name;
};

static int
send_kept(struct conn *c, void *arg)
{
	struct kept_msg *k = arg;

	return proto_send_sub_kept(c, k->old->st_dev, k->old->st_ino, k->name);
}

/*
 * Links the old version of path, open in some mount, as renamed/NAME,
 * and holds it (shared flock) until the end of the commit, so no mount
 * letting go of it meanwhile removes it from under the others.
 */
static void
keep_old_version(struct mount *m, struct node *nd, const char *path,
    const struct stat *old)
{
	struct commit *c = m->commit;
	struct kept_msg k;
	char name[16], proc[64];
	const char *base;
	int dirfd, rc, fd;
	void *v;

	snprintf(name, sizeof(name), "AA%06u", ++m->renamed_seq);
	if (nd != NULL) {
		fd = node_path_fd(&m->nodes, nd);
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		rc = fd == -1 ? -1 : linkat(AT_FDCWD, proc, m->renamedfd, name,
		    AT_SYMLINK_FOLLOW);
		node_put_fd(nd, fd);
	} else {
		dirfd = store_parent(&m->st, path, &base);
		rc = dirfd == -1 ? -1 : linkat(dirfd, base, m->renamedfd, name, 0);
	}
	if (rc == -1) {
		log_warn("%s/%s/renamed/%s: keeping the old version of %s",
		    m->store_path, PATH_META, name, path);
		return;
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
			memcpy(c->names[c->nkept], name, sizeof(name));
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
		memcpy(m->kept[m->nkept].name, name, sizeof(name));
		m->kept[m->nkept].path = strdup(path);
		m->kept[m->nkept].dev = old->st_dev;
		m->kept[m->nkept].ino = old->st_ino;
		m->nkept++;
	}
	log_info("%s: replaced while open; old version kept as %s/renamed/%s",
	    path, PATH_META, name);
	k.old = old;
	k.name = name;
	/* Slaves take their share before the commit ends (no answer needed). */
	for (struct slave *sl = m->slaves; sl != NULL; sl = sl->next)
		send_kept(&sl->conn, &k);
}

static void
owner_replacing(void *arg, const char *path, const struct stat *old)
{
	struct mount *m = arg;
	struct node *nd;
	int here;

	pthread_mutex_lock(&m->nodes.lock);
	nd = nodes_find(&m->nodes, old->st_dev, old->st_ino);
	if (nd == &m->nodes.root)
		nd = NULL;
	/* An open that waited for this commit gets ESTALE (see mfs_open). */
	if (nd != NULL)
		nd->superseded = m->generation + 1;
	here = nd != NULL && nd->nopen > 0 && nd->renamed[0] == '\0';
	if (S_ISREG(old->st_mode) && (here || open_elsewhere(m->commit, old)))
		keep_old_version(m, here ? nd : NULL, path, old);
	pthread_mutex_unlock(&m->nodes.lock);
}

/* The journal's paths, and whether each changed in place, for invalidation. */
static void
invalidate_journal(struct mount *m, const struct journal *j)
{
	const char **paths = calloc(j->n + 1, sizeof(*paths));
	int *attrs = calloc(j->n + 1, sizeof(*attrs));

	if (paths == NULL || attrs == NULL) {
		/* Without memory we cannot say what changed: drop it all. */
		log_errx("%s: out of memory invalidating the kernel's cache",
		    m->store_path);
	} else {
		for (size_t i = 0; i < j->n; i++) {
			paths[i] = j->v[i].path;
			attrs[i] = j->v[i].op == JOP_ATTR;
		}
		mount_invalidate(m, j->n, paths, attrs);
	}
	free(paths);
	free(attrs);
}

static void
owner_end(void *arg, const struct journal *j)
{
	struct mount *m = arg;
	struct commit *c = m->commit;

	pthread_rwlock_unlock(&m->ns);
	if (j != NULL)
		invalidate_journal(m, j);
	slaves_ask(m, send_plain, (void *)(uintptr_t)MSG_SUB_END, NULL, NULL);
	__atomic_store_n(&m->generation, m->generation + 1, __ATOMIC_SEQ_CST);
	m->commit = NULL;
	pthread_rwlock_unlock(&m->view);
	if (c == NULL)
		return;
	/* Every holder has its share now; one nobody holds goes at once. */
	for (size_t i = 0; i < c->nkept; i++) {
		if (c->holds[i] >= 0)
			close(c->holds[i]);
		c->holds[i] = -1;
		mount_reap(m, c->names[i]);
	}
	commit_free(c);
}

void
owner_init(struct store_owner *o, struct mount *m)
{
	o->arg = m;
	o->begin = owner_begin;
	o->check = owner_check;
	o->committing = owner_committing;
	o->replacing = owner_replacing;
	o->end = owner_end;
}
