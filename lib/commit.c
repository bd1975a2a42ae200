/* commit: a session's planned changes made current in the store at once, with the owner's veto. */
#include "commit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
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

/* Stages the new symlinks and hard links, which carry no data. */
static void
stage_links(struct commit *c)
{
	char name[PLAN_STAGED_NAME], from[PLAN_STAGED_NAME];
	const char *tname;
	int dirfd, sfd = c->s->stagingfd;

	for (size_t i = 0; i < c->m->n; i++) {
		const struct entry *e = &c->m->v[i];
		struct plan_entry *pe = &c->p->v[i];
		struct timespec ts[2] = {
			{ .tv_nsec = UTIME_OMIT },
			{ .tv_sec = e->mtime_sec, .tv_nsec = e->mtime_nsec },
		};

		if ((pe->state != PLAN_CREATE && pe->state != PLAN_REPLACE) ||
		    (pe->flags & PF_ATTR) ||
		    (e->type != ENTRY_LNK && e->type != ENTRY_HARDLINK))
			continue;
		plan_staged_name(name, sizeof(name), i);
		unlinkat(sfd, name, 0);
		if (e->type == ENTRY_LNK) {
			if (symlinkat(e->target, sfd, name) == -1 ||
			    (c->o->owner && fchownat(sfd, name, e->uid, e->gid,
			    AT_SYMLINK_NOFOLLOW) == -1) ||
			    utimensat(sfd, name, ts, AT_SYMLINK_NOFOLLOW) == -1) {
				plan_set(c->p, i, PLAN_FAIL, "symlink: %s",
				    strerror(errno));
				continue;
			}
			pe->flags |= PF_STAGED;
			continue;
		}
		const struct plan_entry *t = &c->p->v[e->link_index];

		if (t->flags & PF_STAGED) {
			plan_staged_name(from, sizeof(from), e->link_index);
			dirfd = sfd;
			tname = from;
		} else if (t->state == PLAN_UNCHANGED ||
		    (t->state == PLAN_REPLACE && (t->flags & PF_ATTR))) {
			dirfd = store_parent(c->s, &c->dir, e->target, &tname);
		} else {
			plan_set(c->p, i, PLAN_FAIL, "the file it links to "
			    "(%s) was not synced", e->target);
			continue;
		}
		if (dirfd == -1 || linkat(dirfd, tname, sfd, name, 0) == -1) {
			plan_set(c->p, i, PLAN_FAIL, "link to %s: %s",
			    e->target, strerror(errno));
			continue;
		}
		pe->flags |= PF_STAGED;
	}
}

static int
any_staged(const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].flags & PF_STAGED)
			return 1;
	return 0;
}

static int
attr_flags(const struct commit *c, const struct entry *e)
{
	return (c->o->owner ? JREC_OWNER : 0) |
	    (e->type == ENTRY_LNK ? JREC_LINK : 0);
}

static int
add_attr(struct commit *c, const struct entry *e, const char *path, size_t ref)
{
	struct journal_attr a = {
		.mode = e->mode, .uid = e->uid, .gid = e->gid,
		.mtime_sec = e->mtime_sec, .mtime_nsec = e->mtime_nsec,
	};

	return journal_add(&c->j, JOP_ATTR, attr_flags(c, e), path, NULL, &a,
	    ref);
}

/* Lists the commit in the order that keeps every step valid. */
static int
build_journal(struct commit *c)
{
	const struct manifest *m = c->m;
	const struct plan *p = c->p;
	char name[PLAN_STAGED_NAME];
	int rc = 0;

	for (size_t i = 0; i < m->n && rc == 0; i++)
		if (m->v[i].type == ENTRY_DIR && p->v[i].state == PLAN_CREATE)
			rc = journal_add(&c->j, JOP_MKDIR, 0, m->v[i].path,
			    NULL, NULL, i);
	for (size_t i = 0; i < m->n && rc == 0; i++) {
		if (p->v[i].flags & PF_STAGED) {
			plan_staged_name(name, sizeof(name), i);
			rc = journal_add(&c->j, JOP_PUT, 0, m->v[i].path, name,
			    NULL, i);
		} else if ((p->v[i].flags & PF_ATTR) &&
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
	if (v->op != JOP_PUT && v->op != JOP_REMOVE)
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
	unlinkat(c->s->stagingfd, r->staged, 0);
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
	/* Staged data must be durable before the journal makes it current. */
	if (any_staged(p) && store_sync(s) == -1)
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
	if (journal_write(s, &c.j) == -1)
		goto end;
	attempted = c.j.n;
	apply(&c);
	rc = 0;
end:
	if (ob != NULL)
		ob->end(ob->arg, c.changes, c.changes ? attempted : 0);
	/* Past the commit point: committed; recovery finishes a journal left. */
	if (attempted > 0 && journal_finish(s) == -1)
		log_warnx("%s: the session is committed; its journal is "
		    "retired by the next recovery", s->path);
out:
	store_dir_release(&c.dir);
	free(c.changes);
	journal_release(&c.j);
	return rc;
}
