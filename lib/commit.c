/* commit: a session's planned changes made current in the store at once, with the owner's veto. */
#include "commit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"
#include "path.h"
#include "stage.h"
#include "store/durable.h"
#include "store/index.h"
#include "store/journal.h"

/* The journal's tag of the top directory's attributes. */
#define TOP_REF SIZE_MAX

struct commit {
	struct store *s;
	struct manifest *m;
	struct plan *p;
	const struct commit_opts *o;
	struct store_dir dir;		/* for every path this commit resolves */
	struct journal j;
	struct commit_change *changes;	/* one per record, with an observer */
};

/* Gives a staged entry without data its owner, mode, attributes and mtime. */
static int
finish_staged(struct commit *c, size_t i, const char *name, char *why,
    size_t len)
{
	const struct entry *e = &c->m->v[i];
	struct plan_opts po = { .owner = c->o->owner, .ns = c->o->ns };
	int sfd = c->s->stagingfd, fd, r;
	struct timespec ts[2] = {
		{ .tv_nsec = UTIME_OMIT },
		{ .tv_sec = e->mtime_sec, .tv_nsec = e->mtime_nsec },
	};

	if ((c->o->owner && fchownat(sfd, name, e->uid, e->gid,
	    AT_SYMLINK_NOFOLLOW) == -1) ||
	    (e->type != ENTRY_LNK && fchmodat(sfd, name, e->mode, 0) == -1)) {
		snprintf(why, len, "set attributes: %s", strerror(errno));
		return -1;
	}
	fd = openat(sfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		snprintf(why, len, "%s", strerror(errno));
		return -1;
	}
	r = stage_xattrs(fd, e, &po, why, len);
	close(fd);
	if (r != 0)
		return r;
	/* A directory gets its mtime last, with the others (PF_DIRATTR). */
	if (e->type != ENTRY_DIR && utimensat(sfd, name, ts,
	    AT_SYMLINK_NOFOLLOW) == -1) {
		snprintf(why, len, "set mtime: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Makes entry i in staging/NAME when it carries no data: a symlink, a
 * FIFO, socket or device, or a directory replacing an entry of another
 * type. 0, or -1 / 1 (skip) with why set.
 */
static int
make_staged(struct commit *c, size_t i, const char *name, char *why,
    size_t len)
{
	const struct entry *e = &c->m->v[i];
	int sfd = c->s->stagingfd, rc;

	store_remove_at(sfd, name);
	if (stage_shard(c->s, i) == -1) {
		snprintf(why, len, "staging: %s", strerror(errno));
		return -1;
	}
	if (e->type == ENTRY_LNK)
		rc = symlinkat(e->target, sfd, name);
	else if (e->type == ENTRY_DIR)
		rc = mkdirat(sfd, name, 0700);
	else
		rc = mknodat(sfd, name, entry_mode_type(e->type) | 0600,
		    makedev(e->rdev_major, e->rdev_minor));
	if (rc == -1) {
		snprintf(why, len, "%s: %s", e->type == ENTRY_LNK ? "symlink" :
		    e->type == ENTRY_DIR ? "mkdir" : "mknod", strerror(errno));
		return -1;
	}
	return finish_staged(c, i, name, why, len);
}

/* Stages a hard link to the version of its target this session commits. */
static void
stage_hardlink(struct commit *c, size_t i, const char *name)
{
	char from[PLAN_STAGED_NAME];
	const struct entry *e = &c->m->v[i];
	const struct plan_entry *t = &c->p->v[e->link_index];
	const char *tname;
	int dirfd, sfd = c->s->stagingfd;

	unlinkat(sfd, name, 0);
	if (t->flags & PF_STAGED) {
		plan_staged_name(from, sizeof(from), e->link_index);
		dirfd = sfd;
		tname = from;
	} else if (t->state == PLAN_UNCHANGED ||
	    (t->state == PLAN_REPLACE && (t->flags & PF_ATTR))) {
		dirfd = store_parent(c->s, &c->dir, e->target, &tname);
	} else {
		plan_set(c->p, i, PLAN_FAIL, "the file it links to (%s) was "
		    "not synced", e->target);
		return;
	}
	if (dirfd == -1 || stage_shard(c->s, i) == -1 ||
	    linkat(dirfd, tname, sfd, name, 0) == -1) {
		plan_set(c->p, i, PLAN_FAIL, "link to %s: %s", e->target,
		    strerror(errno));
		return;
	}
	c->p->v[i].flags |= PF_STAGED;
}

/*
 * Stages every new entry that carries no data: symlinks, hard links,
 * special files, and directories that replace an entry of another type.
 */
static void
stage_links(struct commit *c)
{
	char name[PLAN_STAGED_NAME], why[512];
	int r;

	for (size_t i = 0; i < c->m->n; i++) {
		const struct entry *e = &c->m->v[i];
		struct plan_entry *pe = &c->p->v[i];

		if ((pe->state != PLAN_CREATE && pe->state != PLAN_REPLACE) ||
		    (pe->flags & (PF_ATTR | PF_STAGED)) || e->type == ENTRY_REG ||
		    (e->type == ENTRY_DIR && !(pe->flags & PF_RETYPE)))
			continue;
		plan_staged_name(name, sizeof(name), i);
		if (e->type == ENTRY_HARDLINK) {
			stage_hardlink(c, i, name);
			continue;
		}
		if ((r = make_staged(c, i, name, why, sizeof(why))) != 0) {
			store_remove_at(c->s->stagingfd, name);
			plan_set(c->p, i, r == 1 ? PLAN_SKIP : PLAN_FAIL, "%s",
			    why);
			continue;
		}
		pe->flags |= PF_STAGED;
	}
}

/*
 * Makes what the session staged durable before the journal makes it
 * current: its own files and staging/ (not the whole filesystem, whose
 * other writers a small push must not wait for), or one syncfs past
 * DURABLE_MAX of them. -1 logged.
 */
static int
sync_staged(struct commit *c)
{
	char name[PLAN_STAGED_NAME];
	struct durable d;
	size_t shard = SIZE_MAX;
	int rc = 0, any = 0;

	durable_init(&d, c->s);
	for (size_t i = 0; i < c->p->n && rc == 0; i++) {
		if (!(c->p->v[i].flags & PF_STAGED))
			continue;
		any = 1;
		if (i / PLAN_SHARD != shard) {
			shard = i / PLAN_SHARD;
			plan_staged_shard(name, sizeof(name), i);
			if ((rc = durable_add(&d, c->s->stagingfd, name)) == -1)
				break;
		}
		plan_staged_name(name, sizeof(name), i);
		rc = durable_add(&d, c->s->stagingfd, name);
	}
	if (rc == -1)
		log_err("%s/.mirrorfs/staging/%s", c->s->path, name);
	if (any && rc == 0 && (rc = durable_add(&d, c->s->stagingfd,
	    NULL)) == -1)
		log_err("%s/.mirrorfs/staging", c->s->path);
	if (any && rc == 0)
		rc = durable_flush(&d);
	durable_release(&d);
	return rc;
}

/*
 * Makes the carried-out records durable before the journal goes: the
 * directory of each changed name and each inode whose attributes
 * changed; a record that failed has nothing to keep, and anything that
 * cannot be opened turns the batch into one syncfs. -1 logged.
 */
static int
sync_applied(struct commit *c)
{
	struct durable d;
	const char *name, *last = NULL;
	size_t lastlen = 0, dlen;
	int dirfd, rc;

	durable_init(&d, c->s);
	for (size_t i = 0; i < c->j.n && !d.whole; i++) {
		const struct journal_rec *r = &c->j.v[i];

		dlen = path_dirlen(r->path);
		/* Records run directory by directory: add each once. */
		if (r->op != JOP_ATTR && last != NULL && dlen == lastlen &&
		    memcmp(last, r->path, dlen) == 0)
			continue;
		dirfd = store_parent(c->s, &c->dir, r->path, &name);
		if (dirfd == -1 || durable_add(&d, dirfd, NULL) == -1 ||
		    (r->op == JOP_ATTR && durable_add(&d, dirfd, name) == -1 &&
		    errno != ENOENT))
			d.whole = 1;
		last = r->path;
		lastlen = dlen;
	}
	rc = durable_flush(&d);
	durable_release(&d);
	return rc;
}

static int
attr_flags(const struct commit *c, const struct entry *e)
{
	return (c->o->owner ? JREC_OWNER : 0) |
	    (e->type == ENTRY_LNK ? JREC_LINK : 0) |
	    (c->o->ns != 0 ? JREC_XATTR : 0);
}

static int
add_attr(struct commit *c, const struct entry *e, const char *path, size_t ref)
{
	struct journal_attr a = {
		.mode = e->mode, .uid = e->uid, .gid = e->gid,
		.mtime_sec = e->mtime_sec, .mtime_nsec = e->mtime_nsec,
		.ns = c->o->ns, .xattrs = e->xattrs,
		.xattrs_len = e->xattrs_len,
	};

	return journal_add(&c->j, JOP_ATTR, attr_flags(c, e), path, NULL, &a,
	    ref);
}

/*
 * The record that puts staged entry i in place: a rename, or a SWAP
 * where a directory is on either side of a type change.
 */
static int
add_put(struct commit *c, size_t i)
{
	char name[PLAN_STAGED_NAME];
	const struct entry *e = &c->m->v[i];
	struct stat st;

	plan_staged_name(name, sizeof(name), i);
	if (!(c->p->v[i].flags & PF_RETYPE) || (e->type != ENTRY_DIR &&
	    !(c->p->v[i].flags & PF_OLDDIR)))
		return journal_add(&c->j, JOP_PUT, 0, e->path, name, NULL, i);
	if (fstatat(c->s->stagingfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		log_err("%s/.mirrorfs/staging/%s", c->s->path, name);
		return -1;
	}
	return journal_add_swap(&c->j, e->path, name, st.st_ino, i);
}

/* Lists the commit in the order that keeps every step valid. */
static int
build_journal(struct commit *c)
{
	const struct manifest *m = c->m;
	const struct plan *p = c->p;
	int rc = 0;

	/* Directories first, parents before children. */
	for (size_t i = 0; i < m->n && rc == 0; i++) {
		if (m->v[i].type != ENTRY_DIR)
			continue;
		if (p->v[i].state == PLAN_CREATE)
			rc = journal_add(&c->j, JOP_MKDIR, 0, m->v[i].path,
			    NULL, NULL, i);
		else if (p->v[i].flags & PF_STAGED)
			rc = add_put(c, i);
	}
	for (size_t i = 0; i < m->n && rc == 0; i++) {
		if ((p->v[i].flags & PF_STAGED) && m->v[i].type != ENTRY_DIR)
			rc = add_put(c, i);
		else if ((p->v[i].flags & PF_ATTR) &&
		    p->v[i].state == PLAN_REPLACE)
			rc = add_attr(c, &m->v[i], m->v[i].path, i);
	}
	for (size_t k = 0; k < p->npurges && rc == 0; k++)
		rc = journal_add(&c->j, JOP_REMOVE, 0, p->purges[k].path, NULL,
		    NULL, m->n + k);
	/* Directories last and deepest first, so no later step moves their mtime. */
	for (size_t i = m->n; i-- > 0 && rc == 0;) {
		const struct plan_entry *pe = &p->v[i];

		if (m->v[i].type == ENTRY_DIR && (pe->flags & PF_DIRATTR) &&
		    (pe->state == PLAN_CREATE || pe->state == PLAN_REPLACE ||
		    pe->state == PLAN_UNCHANGED))
			rc = add_attr(c, &m->v[i], m->v[i].path, i);
	}
	if (rc == 0 && p->top_attr)
		rc = add_attr(c, &m->top, ".", TOP_REF);
	if (rc == -1)
		log_err("%s: building the journal", c->s->path);
	return rc;
}

/* Records what the store has at change v's path now; d resolves it. */
static int
look_old(struct commit *c, struct commit_change *v, int *dirfd,
    const char **name)
{
	struct stat st;

	v->has_old = 0;
	if (v->op != JOP_PUT && v->op != JOP_REMOVE && v->op != JOP_SWAP)
		return 0;
	*dirfd = store_parent(c->s, &c->dir, v->path, name);
	if (*dirfd == -1 || fstatat(*dirfd, *name, &st,
	    AT_SYMLINK_NOFOLLOW) == -1)
		return 0;
	v->has_old = 1;
	v->dev = st.st_dev;
	v->ino = st.st_ino;
	v->mode = st.st_mode;
	return 1;
}

/* The observer's view of every record. -1 on ENOMEM (logged). */
static int
list_changes(struct commit *c)
{
	const char *name;
	int dirfd;

	c->changes = calloc(c->j.n + 1, sizeof(*c->changes));
	if (c->changes == NULL) {
		log_err("%s: listing the commit's changes", c->s->path);
		return -1;
	}
	for (size_t i = 0; i < c->j.n; i++) {
		c->changes[i].path = c->j.v[i].path;
		c->changes[i].op = c->j.v[i].op;
		look_old(c, &c->changes[i], &dirfd, &name);
	}
	return 0;
}

/* Leaves out record i, vetoed by the observer: its entry is skipped. */
static void
take_veto(struct commit *c, size_t i)
{
	const struct journal_rec *r = &c->j.v[i];
	const char *why = c->changes[i].veto;

	log_warnx("%s/%s: not replaced: %s", c->s->path, r->path, why);
	if (r->ref >= c->m->n) {
		plan_purge_set(c->p, r->ref - c->m->n, PLAN_SKIP, why);
		return;
	}
	store_remove_at(c->s->stagingfd, r->staged);
	c->p->v[r->ref].flags &= ~PF_STAGED;
	plan_set(c->p, r->ref, PLAN_SKIP, "%s", why);
}

/* Asks the observer about every change and drops what it vetoes. -1 ENOMEM. */
static int
check_changes(struct commit *c)
{
	const struct commit_observer *ob = c->o->observer;
	uint8_t *drop = calloc(c->j.n + 1, 1);
	size_t k = 0;

	if (drop == NULL) {
		log_err("%s: checking the commit's changes", c->s->path);
		return -1;
	}
	ob->check(ob->arg, c->changes, c->j.n);
	for (size_t i = 0; i < c->j.n; i++) {
		drop[i] = c->changes[i].veto != NULL && c->changes[i].has_old;
		if (drop[i])
			take_veto(c, i);
		else
			c->changes[k++] = c->changes[i];
	}
	journal_drop(&c->j, drop);
	free(drop);
	return 0;
}

/* A record that could not be carried out: its entry fails. */
static void
record_failed(struct commit *c, const struct journal_rec *r, int err)
{
	if (r->ref == TOP_REF)
		log_warnx("%s: setting the attributes of the top directory: %s",
		    c->s->path, strerror(err));
	else if (r->ref >= c->m->n)
		plan_purge_set(c->p, r->ref - c->m->n, PLAN_FAIL, strerror(err));
	else if (err == EOPNOTSUPP && r->op == JOP_ATTR)
		plan_set(c->p, r->ref, PLAN_SKIP, "the store's filesystem cannot "
		    "hold extended attributes or ACLs; --no-xattrs and "
		    "--no-acls sync without them");
	else if (c->p->v[r->ref].state != PLAN_FAIL)
		plan_set(c->p, r->ref, PLAN_FAIL, "commit: %s", strerror(err));
}

/* Carries out the journal, telling the observer before each replacement. */
static void
apply(struct commit *c)
{
	const struct commit_observer *ob = c->o->observer;
	struct commit_change here;
	const char *name;
	int dirfd;

	for (size_t i = 0; i < c->j.n; i++) {
		const struct journal_rec *r = &c->j.v[i];
		struct commit_change *v = c->changes ? &c->changes[i] : &here;

		v->path = r->path;
		v->op = r->op;
		if (ob != NULL && look_old(c, v, &dirfd, &name))
			ob->replacing(ob->arg, v, dirfd, name);
		if (journal_apply_rec(c->s, &c->dir, r) == -1)
			record_failed(c, r, errno);
	}
}

int
commit_run(struct store *s, struct manifest *m, struct plan *p,
    const struct commit_opts *o)
{
	const struct commit_observer *ob = o->observer;
	struct commit c = { .s = s, .m = m, .p = p, .o = o,
	    .dir = STORE_DIR_INIT };
	size_t attempted = 0;
	int rc = -1;

	journal_init(&c.j);
	stage_links(&c);
	if (sync_staged(&c) == -1)
		goto out;
	if (build_journal(&c) == -1)
		goto out;
	if (ob != NULL) {
		ob->begin(ob->arg);
		if (list_changes(&c) == -1 || check_changes(&c) == -1)
			goto end;
	}
	if (c.j.n == 0) {
		rc = 0;
		goto end;
	}
	/*
	 * A saved index (store/index.h) no longer describes the store once
	 * this commit is made; the journal's sync of .mirrorfs makes its
	 * removal durable with the commit point.
	 */
	if (index_drop(s->metafd) == -1 || journal_write(s, &c.j) == -1)
		goto end;
	attempted = c.j.n;
	apply(&c);
	rc = 0;
end:
	if (ob != NULL)
		ob->end(ob->arg, c.changes, c.changes ? attempted : 0);
	/* Past the commit point: committed; recovery finishes a journal left. */
	if (attempted > 0 && (sync_applied(&c) == -1 ||
	    journal_retire(s) == -1))
		log_warnx("%s: the session is committed; its journal is "
		    "retired by the next recovery", s->path);
out:
	store_dir_release(&c.dir);
	free(c.changes);
	journal_release(&c.j);
	return rc;
}
