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
	/*
	 * The records are listed again from these for each step instead of
	 * being kept (a few bytes an entry where a record took a hundred):
	 * per entry, which of the listing's passes has a record of it and
	 * what it is (REC_*), fixed before anything changes the plan; per
	 * purge, REC_P2 and REC_V2. n: the records not vetoed.
	 */
	uint8_t *rec;
	uint8_t *prec;
	uint8_t top;
	size_t n;
	struct commit_change *changes;	/* one per record, with an observer */
};

#define REC_P1 0x01		/* pass 1: a directory's MKDIR or PUT */
#define REC_MKDIR 0x02		/* ... that record is a MKDIR */
#define REC_P2 0x04		/* pass 2: a PUT or an ATTR */
#define REC_ATTR 0x08		/* ... that record is an ATTR */
#define REC_P4 0x10		/* pass 4: a directory's ATTR, deepest first */
#define REC_V1 0x20		/* the pass 1 record was vetoed */
#define REC_V2 0x40		/* the pass 2 record (or the purge) was vetoed */

#define INO_STRICT 1
#define INO_BEST 2

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
	if (plan_staged_in_shard(name) && stage_shard(c->s, i) == -1) {
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
	char from[PLAN_STAGED_PATH];
	const struct entry *e = &c->m->v[i];
	const struct plan_entry *t = &c->p->v[e->link_index];
	const char *tname;
	int dirfd, sfd = c->s->stagingfd;

	unlinkat(sfd, name, 0);
	if (t->flags & PF_STAGED) {
		if (plan_staged_path(c->p, c->m, e->link_index, from,
		    sizeof(from)) == -1) {
			plan_set(c->p, i, PLAN_FAIL, "link to %s: %s",
			    e->target, strerror(errno));
			return;
		}
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
	if (dirfd == -1 || (plan_staged_in_shard(name) &&
	    stage_shard(c->s, i) == -1) ||
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
	char name[PLAN_STAGED_PATH], why[512];
	int r;

	for (size_t i = 0; i < c->m->n; i++) {
		const struct entry *e = &c->m->v[i];
		struct plan_entry *pe = &c->p->v[i];

		if ((pe->state != PLAN_CREATE && pe->state != PLAN_REPLACE) ||
		    (pe->flags & (PF_ATTR | PF_STAGED)) || e->type == ENTRY_REG ||
		    (e->type == ENTRY_DIR && !(pe->flags & PF_RETYPE)))
			continue;
		if (plan_staged_path(c->p, c->m, i, name, sizeof(name)) == -1) {
			plan_set(c->p, i, PLAN_FAIL, "staging: %s",
			    strerror(errno));
			continue;
		}
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
	char name[PLAN_STAGED_PATH];
	struct durable d;
	size_t shard = SIZE_MAX;
	int rc = 0, any = 0;

	durable_init(&d, c->s);
	for (size_t i = 0; i < c->p->n && rc == 0; i++) {
		const struct plan_entry *pe = &c->p->v[i];

		/* A tree staged whole: each of its directories too. */
		if (pe->flags & (PF_NEWTREE | PF_INNER)) {
			if (!(pe->flags & (PF_STAGED | PF_NEWTREE)) &&
			    (c->m->v[i].type != ENTRY_DIR ||
			    pe->state != PLAN_CREATE))
				continue;
			any = 1;
			if ((rc = plan_staged_path(c->p, c->m, i, name,
			    sizeof(name))) == 0)
				rc = durable_add(&d, c->s->stagingfd, name);
			continue;
		}
		if (!(pe->flags & PF_STAGED))
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

static int
attr_flags(const struct commit *c, const struct entry *e)
{
	return (c->o->owner ? JREC_OWNER : 0) |
	    (e->type == ENTRY_LNK ? JREC_LINK : 0) |
	    (c->o->ns != 0 ? JREC_XATTR : 0);
}

/* Decides, once, which records the commit has (see struct commit). -1 ENOMEM. */
static int
plan_records(struct commit *c)
{
	const struct manifest *m = c->m;
	const struct plan *p = c->p;

	c->rec = calloc(m->n + 1, 1);
	c->prec = calloc(p->npurges + 1, 1);
	if (c->rec == NULL || c->prec == NULL) {
		log_err("%s: listing the commit", c->s->path);
		return -1;
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct plan_entry *pe = &p->v[i];
		int dir = m->v[i].type == ENTRY_DIR;

		/* A tree staged whole is one rename; its entries have none. */
		if (pe->flags & PF_NEWTREE)
			c->rec[i] |= REC_P1;
		else if (pe->flags & PF_INNER)
			;
		/* Directories first, parents before children. */
		else if (dir && pe->state == PLAN_CREATE)
			c->rec[i] |= REC_P1 | REC_MKDIR;
		else if (dir && (pe->flags & PF_STAGED))
			c->rec[i] |= REC_P1;
		if ((pe->flags & PF_STAGED) && !dir && !(pe->flags & PF_INNER))
			c->rec[i] |= REC_P2;
		else if ((pe->flags & PF_ATTR) && pe->state == PLAN_REPLACE)
			c->rec[i] |= REC_P2 | REC_ATTR;
		/* Directories last, so no later step moves their mtime. */
		if (dir && (pe->flags & PF_DIRATTR) &&
		    (pe->state == PLAN_CREATE || pe->state == PLAN_REPLACE ||
		    pe->state == PLAN_UNCHANGED))
			c->rec[i] |= REC_P4;
		c->n += !!(c->rec[i] & REC_P1) + !!(c->rec[i] & REC_P2) +
		    !!(c->rec[i] & REC_P4);
	}
	for (size_t k = 0; k < p->npurges; k++)
		c->prec[k] = REC_P2;
	c->n += p->npurges;
	c->top = p->top_attr ? REC_P2 : 0;
	c->n += p->top_attr ? 1 : 0;
	return 0;
}

/*
 * One record: r, of which the caller fills the rest. fn returns 0 to go
 * on, -1 on an error, 1 to stop.
 */
struct listing {
	int (*fn)(struct commit *c, size_t pos, const struct journal_rec *r,
	    void *arg);
	void *arg;
	/*
	 * A SWAP's staged inode: not read (0), read or fail (STRICT: the
	 * journal), read or left 0 (BEST: apply, where a staged entry that
	 * is gone makes its SWAP fail, never another record stop).
	 */
	int want_ino;
	size_t pos;
};

static int
give(struct commit *c, struct listing *l, struct journal_rec *r, int vetoed)
{
	int rc;

	if (vetoed)
		return 0;	/* left out: no position */
	rc = l->fn(c, l->pos, r, l->arg);
	l->pos++;
	return rc;
}

static int
give_attr(struct commit *c, struct listing *l, const struct entry *e,
    const char *path, size_t ref)
{
	struct journal_attr a = {
		.mode = e->mode, .uid = e->uid, .gid = e->gid,
		.mtime_sec = e->mtime_sec, .mtime_nsec = e->mtime_nsec,
		.ns = c->o->ns, .xattrs = e->xattrs,
		.xattrs_len = e->xattrs_len,
	};
	struct journal_rec r = { .op = JOP_ATTR, .flags = attr_flags(c, e),
	    .path = path, .attr = &a, .ref = ref };

	return give(c, l, &r, 0);
}

/*
 * The record that puts staged entry i in place: a rename, or a SWAP
 * where a directory is on either side of a type change (its staged
 * inode read when the listing wants it).
 */
static int
give_put(struct commit *c, struct listing *l, size_t i, int vetoed)
{
	char name[PLAN_STAGED_PATH];
	const struct entry *e = &c->m->v[i];
	struct journal_rec r = { .op = JOP_PUT, .path = e->path,
	    .staged = name, .ref = i };
	struct stat st;

	/* Shard names and a tree's "tI" never fail: no PUT for the rest. */
	plan_staged_path(c->p, c->m, i, name, sizeof(name));
	if ((c->p->v[i].flags & PF_RETYPE) && (e->type == ENTRY_DIR ||
	    (c->p->v[i].flags & PF_OLDDIR))) {
		r.op = JOP_SWAP;
		if (l->want_ino && !vetoed && fstatat(c->s->stagingfd, name,
		    &st, AT_SYMLINK_NOFOLLOW) == 0)
			r.ino = st.st_ino;
		else if (l->want_ino == INO_STRICT && !vetoed) {
			log_err("%s/.mirrorfs/staging/%s", c->s->path, name);
			return -1;
		}
	}
	return give(c, l, &r, vetoed);
}

/*
 * Lists the commit in the order that keeps every step valid, the same
 * records each time (struct commit): 0, or fn's first non-zero return.
 */
static int
each_record(struct commit *c, struct listing *l)
{
	const struct manifest *m = c->m;
	const struct plan *p = c->p;
	int rc = 0;

	l->pos = 0;
	for (size_t i = 0; i < m->n && rc == 0; i++) {
		struct journal_rec r = { .op = JOP_MKDIR, .path = m->v[i].path,
		    .ref = i };

		if (!(c->rec[i] & REC_P1))
			continue;
		rc = c->rec[i] & REC_MKDIR ? give(c, l, &r, 0) :
		    give_put(c, l, i, (c->rec[i] & REC_V1) != 0);
	}
	for (size_t i = 0; i < m->n && rc == 0; i++) {
		if (!(c->rec[i] & REC_P2))
			continue;
		rc = c->rec[i] & REC_ATTR ? give_attr(c, l, &m->v[i],
		    m->v[i].path, i) :
		    give_put(c, l, i, (c->rec[i] & REC_V2) != 0);
	}
	for (size_t k = 0; k < p->npurges && rc == 0; k++) {
		struct journal_rec r = { .op = JOP_REMOVE,
		    .path = p->purges[k].path, .ref = m->n + k };

		rc = give(c, l, &r, (c->prec[k] & REC_V2) != 0);
	}
	for (size_t i = m->n; i-- > 0 && rc == 0;)
		if (c->rec[i] & REC_P4)
			rc = give_attr(c, l, &m->v[i], m->v[i].path, i);
	if (rc == 0 && c->top)
		rc = give_attr(c, l, &m->top, ".", TOP_REF);
	return rc < 0 ? -1 : 0;
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

static int
list_one(struct commit *c, size_t pos, const struct journal_rec *r, void *arg)
{
	const char *name;
	int dirfd;

	/* The path is the manifest's or the plan's: it outlives the commit. */
	c->changes[pos].path = r->path;
	c->changes[pos].op = r->op;
	look_old(c, &c->changes[pos], &dirfd, &name);
	return 0;
}

/* The observer's view of every record. -1 on ENOMEM (logged). */
static int
list_changes(struct commit *c)
{
	struct listing l = { .fn = list_one };

	c->changes = calloc(c->n + 1, sizeof(*c->changes));
	if (c->changes == NULL) {
		log_err("%s: listing the commit's changes", c->s->path);
		return -1;
	}
	return each_record(c, &l);
}

/* Leaves out a record the observer vetoed: its entry is skipped. */
static int
take_veto(struct commit *c, size_t pos, const struct journal_rec *r, void *arg)
{
	const char *why = c->changes[pos].veto;

	if (why == NULL || !c->changes[pos].has_old)
		return 0;
	log_warnx("%s/%s: not replaced: %s", c->s->path, r->path, why);
	c->n--;
	if (r->ref >= c->m->n) {
		c->prec[r->ref - c->m->n] |= REC_V2;
		plan_purge_set(c->p, r->ref - c->m->n, PLAN_SKIP, why);
		return 0;
	}
	/* A PUT or SWAP: of a directory in pass 1, else in pass 2. */
	c->rec[r->ref] |= c->rec[r->ref] & REC_P1 &&
	    !(c->rec[r->ref] & REC_MKDIR) ? REC_V1 : REC_V2;
	store_remove_at(c->s->stagingfd, r->staged);
	c->p->v[r->ref].flags &= ~PF_STAGED;
	plan_set(c->p, r->ref, PLAN_SKIP, "%s", why);
	return 0;
}

/* Asks the observer about every change and drops what it vetoes. */
static int
check_changes(struct commit *c)
{
	const struct commit_observer *ob = c->o->observer;
	struct listing l = { .fn = take_veto };
	size_t n = c->n, k = 0;

	ob->check(ob->arg, c->changes, n);
	if (each_record(c, &l) == -1)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (c->changes[i].veto == NULL || !c->changes[i].has_old)
			c->changes[k++] = c->changes[i];
	return 0;
}

static int
put_one(struct commit *c, size_t pos, const struct journal_rec *r, void *arg)
{
	return journal_put(arg, r);
}

/* Writes the journal as it is listed: the commit point. -1 logged. */
static int
write_journal(struct commit *c)
{
	struct journal_writer w;
	struct listing l = { .fn = put_one, .arg = &w,
	    .want_ino = INO_STRICT };

	if (journal_begin(&w, c->s, c->n) == -1)
		return -1;
	if (each_record(c, &l) == -1) {
		journal_abort(&w);
		return -1;
	}
	return journal_commit(&w);
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
	/* A tree staged whole that could not be put in place: all of it. */
	if (r->ref < c->m->n && (c->p->v[r->ref].flags & PF_NEWTREE) &&
	    r->op == JOP_PUT)
		for (size_t j = r->ref + 1, end = plan_tree_end(c->p, r->ref);
		    j <= end; j++)
			if (c->p->v[j].state == PLAN_CREATE)
				plan_set(c->p, j, PLAN_FAIL, "commit: its new "
				    "directory %s: %s", c->m->v[r->ref].path,
				    strerror(err));
}

/* Carries out one record, telling the observer before a replacement. */
static int
apply_one(struct commit *c, size_t pos, const struct journal_rec *r,
    void *arg)
{
	const struct commit_observer *ob = c->o->observer;
	struct commit_change here;
	struct commit_change *v = c->changes ? &c->changes[pos] : &here;
	const char *name;
	int dirfd;

	v->path = r->path;
	v->op = r->op;
	if (ob != NULL && look_old(c, v, &dirfd, &name))
		ob->replacing(ob->arg, v, dirfd, name);
	if (journal_apply_rec(c->s, &c->dir, r) == -1)
		record_failed(c, r, errno);
	return 0;
}

/*
 * Carries out the journal: the plan changes as records fail, not what
 * is listed (struct commit), so these are the records written.
 */
static void
apply(struct commit *c)
{
	struct listing l = { .fn = apply_one, .want_ino = INO_BEST };

	each_record(c, &l);	/* apply_one never stops it */
}

/* What sync_applied keeps: the last directory added. */
struct synced {
	struct durable d;
	const char *last;
	size_t lastlen;
};

static int
sync_one(struct commit *c, size_t pos, const struct journal_rec *r, void *arg)
{
	struct synced *sy = arg;
	size_t dlen = path_dirlen(r->path);
	const char *name;
	int dirfd;

	/* Records run directory by directory: add each once. */
	if (r->op != JOP_ATTR && sy->last != NULL && dlen == sy->lastlen &&
	    memcmp(sy->last, r->path, dlen) == 0)
		return 0;
	dirfd = store_parent(c->s, &c->dir, r->path, &name);
	if (dirfd == -1 || durable_add(&sy->d, dirfd, NULL) == -1 ||
	    (r->op == JOP_ATTR && durable_add(&sy->d, dirfd, name) == -1 &&
	    errno != ENOENT))
		sy->d.whole = 1;
	sy->last = r->path;
	sy->lastlen = dlen;
	return sy->d.whole ? 1 : 0;
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
	struct synced sy = { .last = NULL };
	struct listing l = { .fn = sync_one, .arg = &sy };
	int rc;

	durable_init(&sy.d, c->s);
	if (each_record(c, &l) == -1)
		sy.d.whole = 1;
	rc = durable_flush(&sy.d);
	durable_release(&sy.d);
	return rc;
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

	stage_links(&c);
	if (sync_staged(&c) == -1)
		goto out;
	if (plan_records(&c) == -1)
		goto out;
	if (ob != NULL) {
		ob->begin(ob->arg);
		if (list_changes(&c) == -1 || check_changes(&c) == -1)
			goto end;
	}
	if (c.n == 0) {
		rc = 0;
		goto end;
	}
	/*
	 * A saved index (store/index.h) no longer describes the store once
	 * this commit is made; the journal's sync of .mirrorfs makes its
	 * removal durable with the commit point.
	 */
	if (index_drop(s->metafd) == -1 || write_journal(&c) == -1)
		goto end;
	attempted = c.n;
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
	free(c.rec);
	free(c.prec);
	return rc;
}
