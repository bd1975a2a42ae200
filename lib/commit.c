/* commit: a session's planned changes made current in the store at once, with the owner's veto. */
#include "commit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "buf.h"
#include "knob.h"
#include "log.h"
#include "path.h"
#include "stage.h"
#include "store/durable.h"
#include "store/index.h"
#include "store/journal.h"
#include "store/jspool.h"

/* The journal's tag of the top directory's attributes. */
#define TOP_REF SIZE_MAX

/*
 * The observer sees a commit's changes this many at a time (commit.h),
 * so what they take in memory does not grow with the session.
 * MIRRORFS_COMMIT_BATCH, a test knob, sets another count.
 */
#define COMMIT_BATCH 4096

/*
 * The records of a commit are spooled as the session goes, each once
 * its entry's outcome is final (commit_entry), in two spools: a, read
 * forward, every MKDIR, PUT, SWAP and in-place ATTR in the order they
 * became final; b, read forward, the ATTR of every directory that needs
 * one, appended once its listing is whole (whether it needs one is
 * known then; and each directory comes after every directory below
 * it). The journal is a, then the purges (the plan's), then b, then the
 * top's ATTR:
 * a directory's MKDIR or SWAP is final when it is planned, before
 * anything inside it; its ATTR (its mtime) comes after every change
 * below it.
 */
struct commit {
	struct store *s;
	struct commit_opts o;
	struct store_dir dir;		/* for every path this commit resolves */
	struct jspool a;
	struct jspool b;
	struct buf waiting;		/* size_t each: hard links whose target waits */
	/*
	 * struct open_dir each: the directories not yet whole, with a copy
	 * of their entries (the manifest's may be released meanwhile).
	 */
	struct buf open;
	size_t planned;			/* the entries commit_entry saw planned */
	/* commit_run's: */
	struct plan *p;
	const struct entry *top;
	/*
	 * Per record, by its place in the listing (a, purges, b,
	 * the top): left out. A directory's ATTR whose plan has none by the
	 * time of the commit, and what the observer vetoed. n: the records
	 * not left out.
	 */
	uint8_t *skip;
	size_t total;
	size_t n;
	size_t batch;		/* the most changes the observer sees at once */
	/*
	 * The records the observer vetoed (struct vetoed each): what was
	 * not replaced keeps its attributes and what is under it.
	 */
	struct buf vetoed;
};

struct vetoed {
	size_t ref;
	char *path;		/* owned */
	const char *why;	/* the observer's, until end() */
};

static void free_vetoed(struct commit *c);

#define INO_STRICT 1
#define INO_BEST 2

/* Gives a staged entry without data its owner, mode, attributes and mtime. */
static int
finish_staged(struct commit *c, const struct entry *e, const char *name,
    char *why, size_t len)
{
	struct plan_opts po = { .owner = c->o.owner, .ns = c->o.ns };
	int sfd = c->s->stagingfd, fd, r;
	struct timespec ts[2] = {
		{ .tv_nsec = UTIME_OMIT },
		{ .tv_sec = e->mtime_sec, .tv_nsec = e->mtime_nsec },
	};

	if ((c->o.owner && fchownat(sfd, name, e->uid, e->gid,
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
 * Makes entry e (number i) in staging/NAME when it carries no data: a
 * symlink, a FIFO, socket or device, or a directory replacing an entry
 * of another type. 0, or -1 / 1 (skip) with why set.
 */
static int
make_staged(struct commit *c, const struct entry *e, size_t i,
    const char *name, char *why, size_t len)
{
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
	return finish_staged(c, e, name, why, len);
}

/* Stages hard link i to the version of its target this session commits. */
static void
stage_hardlink(struct commit *c, const struct manifest *m, struct plan *p,
    size_t i)
{
	char name[PLAN_STAGED_PATH], from[PLAN_STAGED_PATH];
	const struct entry *e = &m->v[i];
	const struct plan_entry *t = &p->v[e->link_index];
	const char *tname;
	int dirfd, sfd = c->s->stagingfd;

	if (plan_staged_path(p, m, i, name, sizeof(name)) == -1) {
		plan_set(p, i, PLAN_FAIL, "staging: %s", strerror(errno));
		return;
	}
	unlinkat(sfd, name, 0);
	if (t->flags & PF_STAGED) {
		/* Named by its path, the target: its entry may be released. */
		if (plan_staged_path_of(p, e->link_index, e->target, from,
		    sizeof(from)) == -1) {
			plan_set(p, i, PLAN_FAIL, "link to %s: %s", e->target,
			    strerror(errno));
			return;
		}
		dirfd = sfd;
		tname = from;
	} else if (t->state == PLAN_UNCHANGED ||
	    (t->state == PLAN_REPLACE && (t->flags & PF_ATTR))) {
		dirfd = store_parent(c->s, &c->dir, e->target, &tname);
	} else {
		plan_set(p, i, PLAN_FAIL, "the file it links to (%s) was "
		    "not synced", e->target);
		return;
	}
	if (dirfd == -1 || (plan_staged_in_shard(name) &&
	    stage_shard(c->s, i) == -1) ||
	    linkat(dirfd, tname, sfd, name, 0) == -1) {
		plan_set(p, i, PLAN_FAIL, "link to %s: %s", e->target,
		    strerror(errno));
		return;
	}
	p->v[i].flags |= PF_STAGED;
}

/*
 * Stages entry i when it is new and carries no data: a symlink, a hard
 * link, a special file, a directory that replaces an entry of another
 * type. Its outcome goes to the plan (PF_STAGED, or a failure).
 */
static void
stage_nodata(struct commit *c, const struct manifest *m, struct plan *p,
    size_t i)
{
	char name[PLAN_STAGED_PATH], why[512];
	int r;

	if (m->v[i].type == ENTRY_HARDLINK) {
		stage_hardlink(c, m, p, i);
		return;
	}
	if (plan_staged_path(p, m, i, name, sizeof(name)) == -1) {
		plan_set(p, i, PLAN_FAIL, "staging: %s", strerror(errno));
		return;
	}
	if ((r = make_staged(c, &m->v[i], i, name, why, sizeof(why))) != 0) {
		store_remove_at(c->s->stagingfd, name);
		plan_set(p, i, r == 1 ? PLAN_SKIP : PLAN_FAIL, "%s", why);
		return;
	}
	p->v[i].flags |= PF_STAGED;
}

/*
 * Adds the staged tree at name in directory at to d: every directory and
 * regular file in it (other types go with their directory), until d is
 * whole anyway. Anything that cannot be read makes it whole.
 */
static void
durable_tree(struct durable *d, int at, const char *name)
{
	struct dirent *de;
	DIR *dir;
	int fd;

	if (d->whole || durable_add(d, at, name) == -1) {
		d->whole = 1;
		return;
	}
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1 || (dir = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		d->whole = 1;
		return;
	}
	while (!d->whole && (de = readdir(dir)) != NULL) {
		unsigned type = de->d_type;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		/* A filesystem without d_type: a directory is still walked. */
		if (type == DT_UNKNOWN && fstatat(dirfd(dir), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0)
			type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ?
			    DT_REG : DT_UNKNOWN;
		if (type == DT_DIR)
			durable_tree(d, dirfd(dir), de->d_name);
		else if ((type == DT_REG || type == DT_UNKNOWN) &&
		    durable_add(d, dirfd(dir), de->d_name) == -1)
			d->whole = 1;
	}
	closedir(dir);
}

/*
 * Makes what the session staged durable before the journal makes it
 * current: its own files and staging/ (not the whole filesystem, whose
 * other writers a small push must not wait for), or one syncfs past
 * DURABLE_MAX of them. The plan says what waits in shards; a new
 * directory staged whole (PF_NEWTREE) is taken from staging/ itself, so
 * no entry of the manifest is needed. -1 logged.
 */
static int
sync_staged(struct commit *c)
{
	char name[PLAN_STAGED_PATH];
	const struct plan *p = c->p;
	struct durable d;
	size_t shard = SIZE_MAX;
	int rc = 0, any = 0;

	durable_init(&d, c->s);
	for (size_t i = 0; i < p->n && rc == 0; i++) {
		if (!(p->v[i].flags & PF_STAGED) ||
		    (p->v[i].flags & (PF_NEWTREE | PF_INNER)))
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
	for (size_t k = 0; k < p->ntrees && rc == 0; k++) {
		if (!(p->v[p->trees[k].i].flags & PF_NEWTREE) ||
		    p->v[p->trees[k].i].state != PLAN_CREATE)
			continue;
		any = 1;
		plan_tree_name(name, sizeof(name), p->trees[k].i);
		durable_tree(&d, c->s->stagingfd, name);
	}
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
	return (c->o.owner ? JREC_OWNER : 0) |
	    (e->type == ENTRY_LNK ? JREC_LINK : 0) |
	    (c->o.ns != 0 ? JREC_XATTR : 0);
}

/* The ATTR record of entry e, tagged ref, into sp. -1 logged. */
static int
spool_attr(struct commit *c, struct jspool *sp, const struct entry *e,
    size_t ref)
{
	struct journal_attr a = {
		.mode = e->mode, .uid = e->uid, .gid = e->gid,
		.mtime_sec = e->mtime_sec, .mtime_nsec = e->mtime_nsec,
		.ns = c->o.ns, .xattrs = e->xattrs,
		.xattrs_len = e->xattrs_len,
	};
	struct journal_rec r = { .op = JOP_ATTR, .flags = attr_flags(c, e),
	    .path = e->path, .attr = &a, .ref = ref };

	return jspool_put(sp, &r);
}

/*
 * The record that puts staged entry i in place: a rename, or a SWAP
 * where a directory is on either side of a type change (its staged
 * inode is read when the journal is written). -1 logged.
 */
static int
spool_put(struct commit *c, const struct manifest *m, const struct plan *p,
    size_t i)
{
	char name[PLAN_STAGED_PATH];
	const struct entry *e = &m->v[i];
	struct journal_rec r = { .op = JOP_PUT, .path = e->path,
	    .staged = name, .ref = i };

	/* Shard names and a tree's "tI" never fail: no PUT for the rest. */
	plan_staged_path(p, m, i, name, sizeof(name));
	if ((p->v[i].flags & PF_RETYPE) && (e->type == ENTRY_DIR ||
	    (p->v[i].flags & PF_OLDDIR)))
		r.op = JOP_SWAP;
	return jspool_put(&c->a, &r);
}

/*
 * A directory's records: its MKDIR, its SWAP, or the PUT of the new
 * tree it tops (PF_NEWTREE, one rename for everything inside it, which
 * has no record: PF_INNER) now; its ATTR in b. -1 logged.
 */
static int
spool_dir(struct commit *c, const struct manifest *m, struct plan *p,
    size_t i)
{
	struct plan_entry *pe = &p->v[i];
	struct journal_rec r = { .op = JOP_MKDIR, .path = m->v[i].path,
	    .ref = i };

	if (pe->flags & PF_NEWTREE) {
		if (pe->state == PLAN_CREATE && spool_put(c, m, p, i) == -1)
			return -1;
	} else if (pe->state == PLAN_CREATE && !(pe->flags & PF_INNER) &&
	    jspool_put(&c->a, &r) == -1)
		return -1;
	if (pe->state == PLAN_REPLACE && (pe->flags & PF_RETYPE) &&
	    !(pe->flags & PF_STAGED)) {
		stage_nodata(c, m, p, i);
		if ((pe->flags & PF_STAGED) && spool_put(c, m, p, i) == -1)
			return -1;
	}
	return 0;	/* its ATTR once it is whole (dir_whole) */
}

/*
 * Directory d's listing is whole, so whether it needs its attributes
 * set is known (a change in it, a purge in it, its own: PF_DIRATTR):
 * its ATTR goes to b, after every directory under it. -1 logged.
 */
struct open_dir {
	size_t d;
	struct entry e;		/* path and xattrs owned, no target */
};

static int
dir_whole(struct commit *c, const struct plan *p, size_t d,
    const struct entry *e)
{
	const struct plan_entry *pe = &p->v[d];

	/* Purged in: spooled, and left out at the commit if they are not kept. */
	if (!(pe->flags & (PF_DIRATTR | PF_PURGED)) ||
	    (pe->state != PLAN_CREATE && pe->state != PLAN_REPLACE &&
	    pe->state != PLAN_UNCHANGED))
		return 0;
	return spool_attr(c, &c->b, e, d);
}

/* The open directories that path is not inside are whole (all, for NULL). */
static int
dirs_whole(struct commit *c, const struct manifest *m, const struct plan *p,
    const char *path)
{
	struct open_dir od;
	int rc;

	while (c->open.len > 0) {
		memcpy(&od, c->open.data + c->open.len - sizeof(od), sizeof(od));
		if (path != NULL && path_inside(path, od.e.path))
			break;
		c->open.len -= sizeof(od);
		rc = dir_whole(c, p, od.d, &od.e);
		entry_release(&od.e);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* Keeps hard link i for commit_data_end. -1 logged. */
static int
wait_link(struct commit *c, size_t i)
{
	if (buf_put(&c->waiting, &i, sizeof(i)) == -1) {
		log_err("%s: the hard links to stage", c->s->path);
		return -1;
	}
	return 0;
}

static int entry_final(struct commit *c, const struct manifest *m,
    struct plan *p, size_t i);

/* Directory i opens: a copy of its entry is kept until it is whole. -1 ENOMEM. */
static int
open_dir(struct commit *c, const struct entry *e, size_t i)
{
	struct open_dir od = { .d = i, .e = *e };

	od.e.target = NULL;
	od.e.xattrs = NULL;
	if ((od.e.path = strdup(e->path)) == NULL)
		return -1;
	if (e->xattrs_len > 0 &&
	    (od.e.xattrs = malloc(e->xattrs_len)) == NULL) {
		free(od.e.path);
		return -1;
	}
	if (e->xattrs_len > 0)
		memcpy(od.e.xattrs, e->xattrs, e->xattrs_len);
	if (buf_put(&c->open, &od, sizeof(od)) == -1) {
		entry_release(&od.e);
		return -1;
	}
	return 0;
}

size_t
commit_first_waiting(const struct commit *c)
{
	size_t i;

	if (c == NULL || c->waiting.len == 0)
		return SIZE_MAX;
	memcpy(&i, c->waiting.data, sizeof(i));	/* appended in order */
	return i;
}

int
commit_entry(struct commit *c, const struct manifest *m, struct plan *p,
    size_t i)
{
	/* Planned now (not its data's end): the directories it closes first. */
	if (i == c->planned) {
		c->planned++;
		if (dirs_whole(c, m, p, m->v[i].path) == -1)
			return -1;
		if (m->v[i].type == ENTRY_DIR && open_dir(c, &m->v[i], i) == -1) {
			log_err("%s: the commit's directories", c->s->path);
			return -1;
		}
	}
	return entry_final(c, m, p, i);
}

/* Entry i's records, once it is final. -1 logged. */
static int
entry_final(struct commit *c, const struct manifest *m, struct plan *p,
    size_t i)
{
	const struct entry *e = &m->v[i];
	struct plan_entry *pe = &p->v[i];

	if (pe->flags & PF_DATA)
		return 0;	/* not final yet: its data ends it */
	if (e->type == ENTRY_DIR)
		return spool_dir(c, m, p, i);
	if ((pe->state == PLAN_CREATE || pe->state == PLAN_REPLACE) &&
	    !(pe->flags & (PF_ATTR | PF_STAGED)) && e->type != ENTRY_REG) {
		/* A link to a file whose data still comes: at the data's end. */
		if (e->type == ENTRY_HARDLINK &&
		    (p->v[e->link_index].flags & PF_DATA))
			return wait_link(c, i);
		stage_nodata(c, m, p, i);
	}
	if (pe->flags & PF_INNER)
		return 0;	/* in place in its tree's staged copy */
	if (pe->flags & PF_STAGED)
		return spool_put(c, m, p, i);
	if ((pe->flags & PF_ATTR) && pe->state == PLAN_REPLACE)
		return spool_attr(c, &c->a, e, i);
	return 0;
}

int
commit_data_end(struct commit *c, const struct manifest *m, struct plan *p)
{
	int rc = dirs_whole(c, m, p, NULL);

	for (size_t off = 0; off < c->waiting.len && rc == 0;
	    off += sizeof(size_t)) {
		size_t i;

		memcpy(&i, c->waiting.data + off, sizeof(i));
		stage_hardlink(c, m, p, i);
		if ((p->v[i].flags & (PF_STAGED | PF_INNER)) == PF_STAGED)
			rc = spool_put(c, m, p, i);
	}
	buf_reset(&c->waiting);
	return rc;
}

/* The observer's batch: MIRRORFS_COMMIT_BATCH (a test knob, >= 1), else COMMIT_BATCH. */
static size_t
commit_batch(void)
{
	char instead[64];
	unsigned long long b;

	snprintf(instead, sizeof(instead), "the batch is %u", COMMIT_BATCH);
	/* Bounded so that a batch's array (b changes) can be sized. */
	if (!knob_count("MIRRORFS_COMMIT_BATCH", "changes", 1, SIZE_MAX / 64,
	    instead, &b))
		return COMMIT_BATCH;
	return (size_t)b;
}

struct commit *
commit_alloc(struct store *s, const struct commit_opts *o)
{
	struct commit *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		log_err("%s: the commit", s->path);
		return NULL;
	}
	c->s = s;
	c->o = *o;
	c->batch = o->observer != NULL ? commit_batch() : 0;
	c->dir = (struct store_dir)STORE_DIR_INIT;
	jspool_init(&c->a, s);
	jspool_init(&c->b, s);
	buf_init(&c->waiting);
	buf_init(&c->open);
	buf_init(&c->vetoed);
	return c;
}

void
commit_free(struct commit *c)
{
	if (c == NULL)
		return;
	store_dir_release(&c->dir);
	jspool_release(&c->a);
	jspool_release(&c->b);
	buf_release(&c->waiting);
	while (c->open.len > 0) {
		struct open_dir od;

		c->open.len -= sizeof(od);
		memcpy(&od, c->open.data + c->open.len, sizeof(od));
		entry_release(&od.e);
	}
	buf_release(&c->open);
	free_vetoed(c);
	free(c);
}

#define SKIPPED(c, k) ((c)->skip[(k) / 8] & (1u << ((k) % 8)))
#define SET_SKIP(c, k) ((c)->skip[(k) / 8] |= (uint8_t)(1u << ((k) % 8)))

/*
 * One record: fn returns 0 to go on, -1 on an error, 1 to stop. pos is
 * the record's place among those not left out, at its place in the
 * whole listing.
 */
struct listing {
	int (*fn)(struct commit *c, struct listing *l,
	    const struct journal_rec *r);
	void *arg;
	/*
	 * A SWAP's staged inode: not read (0), read or fail (STRICT: the
	 * journal), read or left 0 (BEST: apply, where a staged entry that
	 * is gone makes its SWAP fail, never another record stop).
	 */
	int want_ino;
	size_t pos;
	size_t at;
};

static int
give(struct commit *c, struct listing *l, struct journal_rec *r)
{
	struct stat st;
	int rc;

	if (SKIPPED(c, l->at)) {
		l->at++;
		return 0;	/* left out: no position */
	}
	if (r->op == JOP_SWAP && l->want_ino) {
		if (fstatat(c->s->stagingfd, r->staged, &st,
		    AT_SYMLINK_NOFOLLOW) == 0)
			r->ino = st.st_ino;
		else if (l->want_ino == INO_STRICT) {
			log_err("%s/.mirrorfs/staging/%s", c->s->path,
			    r->staged);
			return -1;
		}
	}
	rc = l->fn(c, l, r);
	l->pos++;
	l->at++;
	return rc;
}

/* Gives every record of sp in the direction asked. 0, fn's stop, or -1. */
static int
give_spool(struct commit *c, struct listing *l, struct jspool *sp,
    int backward)
{
	struct journal_rec r;
	int got, rc = 0;

	if (jspool_rewind(sp, backward) == -1)
		return -1;
	while (rc == 0 && (got = jspool_next(sp, &r)) != 0) {
		if (got == -1)
			return -1;
		/* Every record commit_entry spools is an entry's. */
		if (r.ref >= c->p->n) {
			errno = EPROTO;
			log_err("%s: a record of entry %zu of %zu: a bug",
			    sp->name, r.ref, c->p->n);
			return -1;
		}
		rc = give(c, l, &r);
	}
	return rc;
}

/*
 * Lists the commit in the order that keeps every step valid (struct
 * commit), the same records each time: 0, or fn's first non-zero return.
 */
static int
each_record(struct commit *c, struct listing *l)
{
	const struct plan *p = c->p;
	int rc;

	l->pos = l->at = 0;
	rc = give_spool(c, l, &c->a, 0);
	for (size_t k = 0; k < p->npurges && rc == 0; k++) {
		struct journal_rec r = { .op = JOP_REMOVE,
		    .path = p->purges[k].path, .ref = p->n + k };

		rc = give(c, l, &r);
	}
	if (rc == 0)
		rc = give_spool(c, l, &c->b, 0);
	if (rc == 0 && p->top_attr) {
		struct journal_attr a = {
			.mode = c->top->mode, .uid = c->top->uid,
			.gid = c->top->gid, .mtime_sec = c->top->mtime_sec,
			.mtime_nsec = c->top->mtime_nsec, .ns = c->o.ns,
			.xattrs = c->top->xattrs,
			.xattrs_len = c->top->xattrs_len,
		};
		struct journal_rec r = { .op = JOP_ATTR,
		    .flags = attr_flags(c, c->top), .path = ".", .attr = &a,
		    .ref = TOP_REF };

		rc = give(c, l, &r);
	}
	return rc < 0 ? -1 : 0;
}

/*
 * Decides, once, before anything changes the plan, which records the
 * commit has (struct commit): a directory's ATTR only where its plan
 * wants one by now (PF_DIRATTR). -1 logged.
 */
static int
plan_records(struct commit *c)
{
	const struct plan *p = c->p;
	struct journal_rec r;
	size_t at = c->a.n + p->npurges;
	int got;

	c->total = at + c->b.n + (p->top_attr ? 1 : 0);
	c->n = c->total;
	c->skip = calloc(c->total / 8 + 1, 1);
	if (c->skip == NULL) {
		log_err("%s: listing the commit", c->s->path);
		return -1;
	}
	/* A spared purge (plan.h) is reported, never carried out. */
	for (size_t k = 0; k < p->npurges; k++)
		if (p->purges[k].spared) {
			SET_SKIP(c, c->a.n + k);
			c->n--;
		}
	if (jspool_rewind(&c->b, 0) == -1)
		return -1;
	while ((got = jspool_next(&c->b, &r)) == 1) {
		const struct plan_entry *pe;

		if (r.ref >= p->n) {
			errno = EPROTO;	/* not what commit_entry spooled: a bug */
			log_err("%s: %s", c->s->path, c->b.name);
			return -1;
		}
		pe = &p->v[r.ref];
		if (!(pe->flags & PF_DIRATTR) || (pe->state != PLAN_CREATE &&
		    pe->state != PLAN_REPLACE && pe->state != PLAN_UNCHANGED)) {
			SET_SKIP(c, at);
			c->n--;
		}
		at++;
	}
	return got;
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

/*
 * Up to c->batch changes as the observer sees them (v), and what the
 * commit keeps of each change's record (r) to act on its veto. The
 * records' strings live until the next record: the batch keeps copies.
 */
struct batch_rec {
	size_t ref;
	size_t at;		/* its place in the whole listing */
	char *staged;		/* owned; NULL: none */
};

struct batch {
	struct commit_change *v;
	struct batch_rec *r;	/* NULL: the changes alone (changed()) */
	size_t n;
};

/* Room for c->batch changes, with their records' when recs. -1 logged. */
static int
batch_alloc(struct commit *c, struct batch *b, int recs)
{
	b->n = 0;
	b->r = NULL;
	b->v = calloc(c->batch, sizeof(*b->v));
	if (b->v != NULL && recs &&
	    (b->r = calloc(c->batch, sizeof(*b->r))) == NULL) {
		free(b->v);
		b->v = NULL;
	}
	if (b->v == NULL) {
		log_err("%s: listing the commit's changes", c->s->path);
		return -1;
	}
	return 0;
}

/* Empties b, keeping its room. */
static void
batch_clear(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free((char *)b->v[i].path);
		if (b->r != NULL)
			free(b->r[i].staged);
	}
	b->n = 0;
}

static void
batch_free(struct batch *b)
{
	batch_clear(b);
	free(b->v);
	free(b->r);
	b->v = NULL;
	b->r = NULL;
}

/*
 * Adds record r to b (r's place: at) as a change, with what is at its
 * path now when look, keeping its record's ref and staged name when b
 * has room for them. -1 on ENOMEM (logged).
 */
static int
batch_add(struct commit *c, struct batch *b, const struct journal_rec *r,
    size_t at, int look)
{
	struct commit_change *v = &b->v[b->n];
	const char *name;
	int dirfd;

	memset(v, 0, sizeof(*v));
	if ((v->path = strdup(r->path)) == NULL)
		goto nomem;
	v->op = r->op;
	if (b->r != NULL) {
		b->r[b->n].ref = r->ref;
		b->r[b->n].at = at;
		b->r[b->n].staged = NULL;
		if (r->staged != NULL &&
		    (b->r[b->n].staged = strdup(r->staged)) == NULL) {
			free((char *)v->path);
			goto nomem;
		}
	}
	if (look)
		look_old(c, v, &dirfd, &name);
	b->n++;
	return 0;
nomem:
	log_err("%s: listing the commit's changes", c->s->path);
	return -1;
}

/*
 * The veto r goes with: r is a later record of
 * the same entry (a directory's ATTR after its SWAP) or one under that
 * path, which would change what the veto kept. NULL: neither.
 */
static const struct vetoed *
vetoed_with(const struct commit *c, const struct journal_rec *r)
{
	const struct vetoed *v = (const struct vetoed *)c->vetoed.data;
	size_t n = c->vetoed.len / sizeof(*v);

	for (size_t k = 0; k < n; k++)
		if (r->ref == v[k].ref || path_inside(r->path, v[k].path))
			return &v[k];
	return NULL;
}

static void
free_vetoed(struct commit *c)
{
	struct vetoed *v = (struct vetoed *)c->vetoed.data;

	for (size_t k = 0; k < c->vetoed.len / sizeof(*v); k++)
		free(v[k].path);
	buf_release(&c->vetoed);
}

/* Remembers a vetoed record for vetoed_with. -1 on ENOMEM (logged). */
static int
keep_vetoed(struct commit *c, const struct journal_rec *r, const char *why)
{
	struct vetoed v = { .ref = r->ref, .why = why };

	if ((v.path = strdup(r->path)) == NULL ||
	    buf_put(&c->vetoed, &v, sizeof(v)) == -1) {
		free(v.path);
		log_err("%s: the commit's vetoed changes", c->s->path);
		return -1;
	}
	return 0;
}

/* Sets every new entry of the tree staged whole at entry top to state, with reason. */
static void
tree_ends(struct commit *c, size_t top, int state, const char *reason)
{
	struct plan *p = c->p;

	for (size_t j = top + 1, end = plan_tree_end(p, top); j <= end; j++)
		if (p->v[j].state == PLAN_CREATE)
			plan_set(p, j, state, "%s", reason);
}

/* The reason of an entry that goes with a vetoed directory's. */
static void
not_replaced(char *reason, size_t len, const char *path, const char *why)
{
	snprintf(reason, len, "its directory %s was not replaced: %s", path,
	    why);
}

/* Skips entry ref, or a purge, whose record the commit leaves out. */
static void
skip_entry(struct commit *c, const struct journal_rec *r, const char *why)
{
	struct plan *p = c->p;
	char reason[PATH_MAX + 128];

	if (r->ref >= p->n) {
		if (r->ref - p->n < p->npurges)
			plan_purge_set(p, r->ref - p->n, PLAN_SKIP, why);
		return;
	}
	if (r->staged != NULL)
		store_remove_at(c->s->stagingfd, r->staged);
	p->v[r->ref].flags &= ~PF_STAGED;
	plan_set(p, r->ref, PLAN_SKIP, "%s", why);
	if (p->v[r->ref].flags & PF_NEWTREE) {
		not_replaced(reason, sizeof(reason), r->path, why);
		tree_ends(c, r->ref, PLAN_SKIP, reason);
	}
}

/*
 * Leaves out the record of change i of b if the observer vetoed it, and
 * if it goes with a veto so far (vetoed_with: a veto comes before every
 * record that goes with it): its entry is skipped.
 */
static int
take_veto(struct commit *c, const struct batch *b, size_t i)
{
	const struct commit_change *v = &b->v[i];
	const struct batch_rec *br = &b->r[i];
	struct journal_rec r = { .op = (uint8_t)v->op, .path = v->path,
	    .staged = br->staged, .ref = br->ref };
	const char *why = v->has_old ? v->veto : NULL;
	const struct vetoed *with;
	char reason[PATH_MAX + 128];

	if (why != NULL) {
		log_warnx("%s/%s: not replaced: %s", c->s->path, r.path, why);
		if (keep_vetoed(c, &r, why) == -1)
			return -1;
		skip_entry(c, &r, why);
	} else if ((with = vetoed_with(c, &r)) != NULL) {
		/* Its own entry was skipped with the veto's reason. */
		if (r.ref != with->ref) {
			not_replaced(reason, sizeof(reason), with->path,
			    with->why);
			skip_entry(c, &r, reason);
		} else if (r.staged != NULL)
			store_remove_at(c->s->stagingfd, r.staged);
	} else
		return 0;
	SET_SKIP(c, br->at);
	c->n--;
	return 0;
}

/* Asks the observer about the changes of b and drops what it vetoes; b is emptied. */
static int
check_batch(struct commit *c, struct batch *b)
{
	const struct commit_observer *ob = c->o.observer;
	int rc = 0;

	if (b->n > 0)
		ob->check(ob->arg, b->v, b->n);
	for (size_t i = 0; i < b->n && rc == 0; i++)
		rc = take_veto(c, b, i);
	batch_clear(b);
	return rc;
}

static int
check_one(struct commit *c, struct listing *l, const struct journal_rec *r)
{
	struct batch *b = l->arg;

	if (batch_add(c, b, r, l->at, 1) == -1)
		return -1;
	return b->n < c->batch ? 0 : check_batch(c, b);
}

/*
 * Asks the observer about every change, a batch at a time, and drops
 * what it vetoes and what goes with it: c->n counts the records left,
 * even when this fails (-1, logged; nothing is committed then).
 */
static int
check_changes(struct commit *c)
{
	struct batch b;
	struct listing l = { .fn = check_one, .arg = &b };
	int rc;

	if (batch_alloc(c, &b, 1) == -1)
		return -1;
	rc = each_record(c, &l);
	if (rc == 0)
		rc = check_batch(c, &b);
	batch_free(&b);
	return rc;
}

static int
put_one(struct commit *c, struct listing *l, const struct journal_rec *r)
{
	return journal_put(l->arg, r);
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

/* Fails every new entry of the tree staged whole at entry top (path). */
static void
tree_failed(struct commit *c, size_t top, const char *path, const char *why)
{
	char reason[PATH_MAX + 128];

	if (c->p->v[top].state != PLAN_FAIL)
		plan_set(c->p, top, PLAN_FAIL, "commit: %s", why);
	snprintf(reason, sizeof(reason), "commit: its new directory %s: %s",
	    path, why);
	tree_ends(c, top, PLAN_FAIL, reason);
}

/* Whether entry i is of a tree staged whole that failed: none of its records runs. */
static int
in_failed_tree(const struct plan *p, size_t i)
{
	return i < p->n && p->v[i].state == PLAN_FAIL &&
	    (p->v[i].flags & (PF_NEWTREE | PF_INNER | PF_UNDER));
}

/*
 * A tree staged whole goes where nothing is. Something made at its path
 * during the session (a directory through an rw mount) is left as it
 * is: the tree fails with the reason, its records are left out and its
 * staged copy goes; the next session syncs into what is there.
 */
static int
tree_check(struct commit *c, struct listing *l, const struct journal_rec *r)
{
	char why[128];
	const char *name;
	struct stat st;
	int dirfd;

	if (r->op == JOP_PUT && r->ref < c->p->n &&
	    (c->p->v[r->ref].flags & PF_NEWTREE)) {
		dirfd = store_parent(c->s, &c->dir, r->path, &name);
		if (dirfd != -1 && fstatat(dirfd, name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0) {
			snprintf(why, sizeof(why), "a %s was made there during "
			    "the session; the next sync syncs into it",
			    entry_type_name(entry_type_of(st.st_mode)));
			log_warnx("%s/%s: not put in place: %s", c->s->path,
			    r->path, why);
			tree_failed(c, r->ref, r->path, why);
		}
	}
	if (!in_failed_tree(c->p, r->ref))
		return 0;
	SET_SKIP(c, l->at);
	c->n--;
	if (r->staged != NULL)
		store_remove_at(c->s->stagingfd, r->staged);
	return 0;
}

/* The trees' places checked (tree_check), once nothing else may change the store. */
static int
check_trees(struct commit *c)
{
	struct listing l = { .fn = tree_check };

	return c->p->ntrees > 0 ? each_record(c, &l) : 0;
}

/* A record that could not be carried out: its entry fails. */
static void
record_failed(struct commit *c, const struct journal_rec *r, int err)
{
	if (r->ref == TOP_REF)
		log_warnx("%s: setting the attributes of the top directory: %s",
		    c->s->path, strerror(err));
	else if (r->ref >= c->p->n)
		plan_purge_set(c->p, r->ref - c->p->n, PLAN_FAIL, strerror(err));
	else if (err == EOPNOTSUPP && r->op == JOP_ATTR)
		plan_set(c->p, r->ref, PLAN_SKIP, "the store's filesystem cannot "
		    "hold extended attributes or ACLs; --no-xattrs and "
		    "--no-acls sync without them");
	else if (c->p->v[r->ref].state != PLAN_FAIL)
		plan_set(c->p, r->ref, PLAN_FAIL, "commit: %s", strerror(err));
	/* A tree staged whole that could not be put in place: all of it. */
	if (r->ref < c->p->n && (c->p->v[r->ref].flags & PF_NEWTREE) &&
	    r->op == JOP_PUT)
		tree_failed(c, r->ref, r->path, strerror(err));
}

/* Carries out one record, telling the observer before a replacement. */
static int
apply_one(struct commit *c, struct listing *l, const struct journal_rec *r)
{
	const struct commit_observer *ob = c->o.observer;
	struct commit_change v = { .path = r->path, .op = r->op };
	const char *name;
	int dirfd;

	/* Its tree is not there: never the attributes of what is. */
	if (in_failed_tree(c->p, r->ref))
		return 0;
	if (ob != NULL && look_old(c, &v, &dirfd, &name))
		ob->replacing(ob->arg, &v, dirfd, name);
	if (journal_apply_rec(c->s, &c->dir, r) == -1)
		record_failed(c, r, errno);
	return 0;
}

/*
 * Carries out the journal: the plan changes as records fail, not what
 * is listed (struct commit), so these are the records written. -1 when
 * the spool cannot be read back (logged): recovery carries out the rest.
 */
static int
apply(struct commit *c)
{
	struct listing l = { .fn = apply_one, .want_ino = INO_BEST };

	return each_record(c, &l);	/* apply_one never stops it */
}

/* Tells the observer the changes of b as made (b is emptied). */
static void
changed_batch(struct commit *c, struct batch *b)
{
	const struct commit_observer *ob = c->o.observer;

	if (b->n > 0)
		ob->changed(ob->arg, b->v, b->n);
	batch_clear(b);
}

static int
changed_one(struct commit *c, struct listing *l, const struct journal_rec *r)
{
	struct batch *b = l->arg;

	if (batch_add(c, b, r, l->at, 0) == -1)
		return -1;
	if (b->n == c->batch)
		changed_batch(c, b);
	return 0;
}

/*
 * Tells the observer every change made or attempted, a batch at a time:
 * the journal's, listed again from the spool, or those of redone when a
 * recovery carried it out instead (it holds them all anyway). 1 when
 * every one was told, 0 when some could not be (logged).
 */
static int
tell_changed(struct commit *c, const struct journal *redone)
{
	struct batch b;
	struct listing l = { .fn = changed_one, .arg = &b };
	int rc = 0;

	if (batch_alloc(c, &b, 0) == -1)
		return 0;
	if (redone != NULL)
		for (size_t i = 0; i < redone->n && rc == 0; i++) {
			rc = batch_add(c, &b, &redone->v[i], i, 0);
			if (rc == 0 && b.n == c->batch)
				changed_batch(c, &b);
		}
	else
		rc = each_record(c, &l);
	changed_batch(c, &b);
	batch_free(&b);
	return rc == 0;
}

/* What sync_applied keeps: the last directory added. */
struct synced {
	struct durable d;
	char last[PATH_MAX];
	size_t lastlen;		/* SIZE_MAX: none yet */
};

static int
sync_one(struct commit *c, struct listing *l, const struct journal_rec *r)
{
	struct synced *sy = l->arg;
	size_t dlen = path_dirlen(r->path);
	const char *name;
	int dirfd;

	/* Records run directory by directory: add each once. */
	if (r->op != JOP_ATTR && dlen == sy->lastlen &&
	    memcmp(sy->last, r->path, dlen) == 0)
		return 0;
	dirfd = store_parent(c->s, &c->dir, r->path, &name);
	if (dirfd == -1 || durable_add(&sy->d, dirfd, NULL) == -1 ||
	    (r->op == JOP_ATTR && durable_add(&sy->d, dirfd, name) == -1 &&
	    errno != ENOENT))
		sy->d.whole = 1;
	memcpy(sy->last, r->path, dlen);
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
	struct synced sy = { .lastlen = SIZE_MAX };
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
commit_run(struct commit *c, struct plan *p, const struct entry *top)
{
	const struct commit_observer *ob = c->o.observer;
	struct store *s = c->s;
	struct journal redone;
	size_t attempted = 0;
	int rc = -1, applied = 0, recovered = 0, whole = 1;

	c->p = p;
	c->top = top;
	journal_init(&redone);
	if (c->waiting.len > 0) {
		errno = EINVAL;	/* hard links left waiting: a caller's bug */
		log_err("%s: commit before the end of the data", s->path);
		return -1;
	}
	if (sync_staged(c) == -1)
		goto out;
	if (plan_records(c) == -1)
		goto out;
	if (ob != NULL)
		ob->begin(ob->arg);
	/* Once begun: the mount lets nothing new come at a tree's path. */
	if (check_trees(c) == -1)
		goto end;
	if (ob != NULL && check_changes(c) == -1)
		goto end;
	if (c->n == 0) {
		rc = 0;
		goto end;
	}
	/*
	 * A saved index (store/index.h) no longer describes the store once
	 * this commit is made; the journal's sync of .mirrorfs makes its
	 * removal durable with the commit point.
	 */
	if (index_drop(s->metafd) == -1 || write_journal(c) == -1)
		goto end;
	attempted = c->n;
	applied = apply(c) == 0;
	/*
	 * Its spool unreadable: the journal is whole, so it is carried out
	 * now, as a recovery would (a mount runs none between sessions, and
	 * the next session's journal would take its place).
	 */
	if (!applied && journal_recover(s, &redone) == 0)
		recovered = redone.n > 0;	/* else listed from the spool */
	else if (!applied)
		log_warnx("%s: the session is committed; what is left of it "
		    "is carried out by the next recovery", s->path);
	rc = 0;
end:
	if (ob != NULL && attempted > 0)
		whole = tell_changed(c, recovered ? &redone : NULL);
	if (ob != NULL)
		ob->end(ob->arg, attempted, whole);
	/* Past the commit point: committed; recovery finishes a journal left. */
	if (applied && (sync_applied(c) == -1 ||
	    journal_retire(s) == -1))
		log_warnx("%s: the session is committed; its journal is "
		    "retired by the next recovery", s->path);
out:
	journal_release(&redone);
	free(c->skip);
	c->skip = NULL;
	return rc;
}
