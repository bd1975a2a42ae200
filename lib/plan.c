/* plan: what a session must do to each entry, decided against the store. */
#include "plan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "hash.h"
#include "log.h"
#include "path.h"
#include "proto.h"
#include "store/journal.h"
#include "xattr.h"

void
plan_staged_name(char *out, size_t len, size_t i)
{
	snprintf(out, len, "s%zu/n%zu", i / PLAN_SHARD, i);
}

void
plan_staged_shard(char *out, size_t len, size_t i)
{
	snprintf(out, len, "s%zu", i / PLAN_SHARD);
}

void
plan_tree_name(char *out, size_t len, size_t i)
{
	snprintf(out, len, "%c%zu", JOURNAL_TREE, i);
}

int
plan_staged_in_shard(const char *name)
{
	return name[0] == 's';
}

/* The PF_NEWTREE directory whose tree holds entry i (PF_INNER). */
static const struct plan_tree *
tree_of(const struct plan *p, size_t i)
{
	size_t lo = 0, hi = p->ntrees;

	/* Trees are in entry order and hold consecutive entries: the last at or before i. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->trees[mid].i <= i)
			lo = mid;
		else
			hi = mid;
	}
	return &p->trees[lo];
}

int
plan_staged_path(const struct plan *p, const struct manifest *m, size_t i,
    char *out, size_t len)
{
	return plan_staged_path_of(p, i, m->v[i].path, out, len);
}

int
plan_staged_path_of(const struct plan *p, size_t i, const char *path,
    char *out, size_t len)
{
	const struct plan_tree *t;
	int n;

	if (p->v[i].flags & PF_NEWTREE) {
		plan_tree_name(out, len, i);
		return 0;
	}
	if (!(p->v[i].flags & PF_INNER)) {
		plan_staged_name(out, len, i);
		return 0;
	}
	t = tree_of(p, i);
	n = snprintf(out, len, "%c%zu%s", JOURNAL_TREE, t->i,
	    path + strlen(t->path));
	if (n < 0 || (size_t)n >= len) {
		out[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

size_t
plan_tree_end(const struct plan *p, size_t i)
{
	size_t j = i;

	while (j + 1 < p->n && (p->v[j + 1].flags & (PF_INNER | PF_UNDER)))
		j++;
	return j;
}

/* The slot of entry i's reason, or the empty one it would take. */
static struct plan_reason *
reason_slot(const struct plan *p, size_t i)
{
	size_t mask = p->reasons_cap - 1, k = (i * 0x9e3779b97f4a7c15u) >> 32;

	for (k &= mask; p->reasons[k].i != 0 && p->reasons[k].i != i + 1;
	    k = (k + 1) & mask)
		;
	return &p->reasons[k];
}

static int
reasons_grow(struct plan *p)
{
	struct plan_reason *old = p->reasons;
	size_t cap = p->reasons_cap, ncap = cap ? cap * 2 : 64;

	if ((p->reasons = calloc(ncap, sizeof(*p->reasons))) == NULL) {
		p->reasons = old;
		return -1;
	}
	p->reasons_cap = ncap;
	for (size_t k = 0; k < cap; k++)
		if (old[k].i != 0)
			*reason_slot(p, old[k].i - 1) = old[k];
	free(old);
	return 0;
}

const char *
plan_reason(const struct plan *p, size_t i)
{
	if (i >= p->n || !(p->v[i].flags & PF_REASON))
		return NULL;
	return reason_slot(p, i)->reason;
}

/* Sets entry i's reason (NULL: none). A reason that cannot be kept is dropped. */
static void
reason_set(struct plan *p, size_t i, char *reason)
{
	struct plan_reason *r;

	if (p->v[i].flags & PF_REASON) {
		r = reason_slot(p, i);
		free(r->reason);
		r->reason = reason;
		return;
	}
	if (reason == NULL)
		return;
	if ((p->reasons_n + 1) * 2 > p->reasons_cap && reasons_grow(p) == -1) {
		log_err("the reason of %zu", i);
		free(reason);
		return;
	}
	r = reason_slot(p, i);
	r->i = i + 1;
	r->reason = reason;
	p->reasons_n++;
	p->v[i].flags |= PF_REASON;
}

void
plan_set(struct plan *p, size_t i, int state, const char *fmt, ...)
{
	char *reason = NULL;
	va_list ap;

	p->v[i].state = (uint8_t)state;
	if (fmt != NULL) {
		va_start(ap, fmt);
		if (vasprintf(&reason, fmt, ap) == -1)
			reason = NULL;
		va_end(ap);
	}
	reason_set(p, i, reason);
}

void
plan_purge_set(struct plan *p, size_t k, int state, const char *reason)
{
	p->purges[k].state = (uint8_t)state;
	free(p->purges[k].reason);
	p->purges[k].reason = reason ? strdup(reason) : NULL;
}

/* Frees nm's names: empty again. */
static void
names_release(struct plan_names *nm)
{
	free(nm->buf);
	free(nm->off);
	memset(nm, 0, sizeof(*nm));
}

/* Appends name (a directory's next entry's). -1 ENOMEM. */
static int
names_add(struct plan_names *nm, const char *name)
{
	size_t len = strlen(name) + 1, cap;
	size_t *off;
	char *buf;

	if (nm->n == nm->ncap) {
		cap = nm->ncap ? nm->ncap * 2 : 16;
		if ((off = realloc(nm->off, cap * sizeof(*off))) == NULL)
			return -1;
		nm->off = off;
		nm->ncap = cap;
	}
	if (nm->len + len > nm->cap) {
		for (cap = nm->cap ? nm->cap * 2 : 256; cap < nm->len + len;
		    cap *= 2)
			;
		if ((buf = realloc(nm->buf, cap)) == NULL)
			return -1;
		nm->buf = buf;
		nm->cap = cap;
	}
	if (nm->n > 0 && strcmp(nm->buf + nm->off[nm->n - 1], name) >= 0)
		nm->unsorted = 1;
	memcpy(nm->buf + nm->len, name, len);
	nm->off[nm->n++] = nm->len;
	nm->len += len;
	return 0;
}

/* Is name one of nm's? */
static int
names_has(const struct plan_names *nm, const char *name)
{
	size_t lo = 0, hi = nm->n, mid;
	int c;

	if (nm->unsorted) {
		for (size_t k = 0; k < nm->n; k++)
			if (strcmp(nm->buf + nm->off[k], name) == 0)
				return 1;
		return 0;
	}
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(nm->buf + nm->off[mid], name);
		if (c == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Forgets every purge. */
static void
plan_drop_purges(struct plan *p)
{
	for (size_t k = 0; k < p->npurges; k++) {
		if (p->purges[k].dir > 0)
			p->v[p->purges[k].dir - 1].flags &= ~PF_PURGED;
		free(p->purges[k].path);
		free(p->purges[k].reason);
	}
	p->npurges = 0;
}

void
plan_release(struct plan *p)
{
	for (size_t k = 0; k < p->reasons_cap; k++)
		free(p->reasons[k].reason);
	free(p->reasons);
	plan_drop_purges(p);
	free(p->v);
	free(p->purges);
	free(p->open);
	for (size_t k = 0; k < p->nopen; k++) {
		free(p->open_path[k]);
		names_release(&p->open_names[k]);
	}
	free(p->open_path);
	free(p->open_names);
	names_release(&p->top_names);
	for (size_t k = 0; k < p->ntrees; k++)
		free(p->trees[k].path);
	free(p->trees);
	store_dir_release(&p->dir);
	plan_init(p);
}

static int
same_mtime(const struct entry *e, const struct stat *st)
{
	return e->mtime_sec == st->st_mtim.tv_sec &&
	    e->mtime_nsec == (uint32_t)st->st_mtim.tv_nsec;
}

static int
same_owner(const struct entry *e, const struct stat *st, int owner)
{
	return !owner || (e->uid == st->st_uid && e->gid == st->st_gid);
}

/*
 * The attribute columns of -i (ITEM_CH_*) in which the store's entry st
 * differs from e: its mtime, its owner and group when they are compared,
 * and its permissions when with_mode (a symlink has none of its own).
 */
static uint16_t
attr_changes(const struct entry *e, const struct stat *st, int owner,
    int with_mode)
{
	uint16_t ch = 0;

	if (!same_mtime(e, st))
		ch |= ITEM_CH_TIME;
	if (with_mode && e->mode != (st->st_mode & 07777))
		ch |= ITEM_CH_PERMS;
	if (owner && e->uid != st->st_uid)
		ch |= ITEM_CH_OWNER;
	if (owner && e->gid != st->st_gid)
		ch |= ITEM_CH_GROUP;
	return ch;
}

/* 1 when the store's file at rel has the content hash of e, 0 if not, -1. */
static int
same_content(struct store *s, const char *rel, const struct entry *e)
{
	uint8_t h[HASH_SIZE];
	int fd, rc;

	fd = store_open_at(s, rel, O_RDONLY);
	if (fd == -1)
		return -1;
	rc = hash_fd(fd, h);
	close(fd);
	if (rc == -1)
		return -1;
	return memcmp(h, e->hash, HASH_SIZE) == 0;
}

static void
plan_file(struct plan *p, size_t i, struct store *s, const struct entry *e,
    const struct stat *st, const struct plan_opts *o)
{
	uint16_t ch = attr_changes(e, st, o->owner, 1);
	int same;

	if (e->size != (uint64_t)st->st_size || !same_mtime(e, st)) {
		plan_set(p, i, PLAN_REPLACE, NULL);
		p->v[i].flags |= PF_DATA;
		p->v[i].changes = ch | ITEM_CH_DATA |
		    (e->size != (uint64_t)st->st_size ? ITEM_CH_SIZE : 0);
		return;
	}
	if ((o->flags & SESSION_CHECKSUM) && e->has_hash) {
		same = same_content(s, e->path, e);
		if (same == -1) {
			plan_set(p, i, PLAN_FAIL, "read for checksum: %s",
			    strerror(errno));
			return;
		}
		if (!same) {
			plan_set(p, i, PLAN_REPLACE, NULL);
			p->v[i].flags |= PF_DATA;
			p->v[i].changes = ch | ITEM_CH_DATA | ITEM_CH_SUM;
			return;
		}
	}
	if (e->mode != (st->st_mode & 07777) || !same_owner(e, st, o->owner)) {
		plan_set(p, i, PLAN_REPLACE, NULL);
		p->v[i].flags |= PF_ATTR;
		p->v[i].changes = ch;
	}
}

static void
plan_symlink(struct plan *p, size_t i, struct store *s, const struct entry *e,
    const struct stat *st, const struct plan_opts *o)
{
	char target[PATH_MAX];
	const char *name;
	ssize_t n = -1;
	int dirfd;

	dirfd = store_parent(s, &p->dir, e->path, &name);
	if (dirfd != -1)
		n = readlinkat(dirfd, name, target, sizeof(target) - 1);
	if (n == -1) {
		plan_set(p, i, PLAN_FAIL, "readlink: %s", strerror(errno));
		return;
	}
	target[n] = '\0';
	if (strcmp(target, e->target) != 0) {
		plan_set(p, i, PLAN_REPLACE, NULL);
		p->v[i].changes = attr_changes(e, st, o->owner, 0) |
		    ITEM_CH_REMADE | ITEM_CH_SUM;
	} else if (!same_mtime(e, st) || !same_owner(e, st, o->owner)) {
		plan_set(p, i, PLAN_REPLACE, NULL);
		p->v[i].flags |= PF_ATTR;
		p->v[i].changes = attr_changes(e, st, o->owner, 0);
	}
}

/* A FIFO, socket or device: a new one when its device differs. */
static void
plan_special(struct plan *p, size_t i, const struct entry *e,
    const struct stat *st, const struct plan_opts *o)
{
	uint16_t ch = attr_changes(e, st, o->owner, 1);

	if (ENTRY_IS_DEVICE(e->type) && (e->rdev_major != major(st->st_rdev) ||
	    e->rdev_minor != minor(st->st_rdev))) {
		plan_set(p, i, PLAN_REPLACE, NULL);
		p->v[i].changes = ch | ITEM_CH_REMADE | ITEM_CH_SUM;
	} else if (ch != 0) {
		plan_set(p, i, PLAN_REPLACE, NULL);
		p->v[i].flags |= PF_ATTR;
		p->v[i].changes = ch;
	}
}

/*
 * 1 when the store's entry i differs from e in the extended attributes
 * the session compares, 0 when not; a store that holds none has none.
 */
static int
xattrs_differ(struct plan *p, struct store *s, const struct entry *e,
    const struct plan_opts *o)
{
	const char *name;
	int dirfd;

	if (o->ns == 0 || e->type == ENTRY_HARDLINK)
		return 0;
	dirfd = store_parent(s, &p->dir, e->path, &name);
	return dirfd == -1 || xattr_same_at(dirfd, name, o->ns, e->xattrs,
	    e->xattrs_len) != 1;
}

static void
plan_dir(struct plan *p, size_t i, const struct entry *e,
    const struct stat *st, const struct plan_opts *o)
{
	p->v[i].changes = attr_changes(e, st, o->owner, 1);
	if (e->mode != (st->st_mode & 07777) || !same_owner(e, st, o->owner)) {
		plan_set(p, i, PLAN_REPLACE, NULL);
		p->v[i].flags |= PF_DIRATTR;
	} else if (!same_mtime(e, st))
		p->v[i].flags |= PF_DIRATTR;	/* not counted: -i shows it */
}

static void
plan_hardlink(struct plan *p, size_t i, struct store *s,
    const struct manifest *m, const struct stat *st)
{
	size_t first = m->v[i].link_index;
	const struct plan_entry *t = &p->v[first];
	struct stat tst;

	/* Its first name is e->target (receiver.c checked): never read it. */
	if (t->state == PLAN_SKIP || t->state == PLAN_FAIL)
		plan_set(p, i, PLAN_SKIP, "the file it links to was not "
		    "synced");
	/*
	 * Already another name of the (unchanged) first name's inode? Its
	 * inode is looked up again: a plan keeps none (hard links are few).
	 */
	/* Its new version waits for data or in staging: a new inode comes. */
	else if ((t->flags & (PF_DATA | PF_STAGED)) ||
	    !(t->flags & PF_EXISTS) ||
	    store_lstat(s, &p->dir, m->v[i].target, &tst) == -1 ||
	    tst.st_ino != st->st_ino || tst.st_dev != st->st_dev) {
		plan_set(p, i, PLAN_REPLACE, NULL);
		p->v[i].changes = ITEM_CH_HLINK;
	}
}

static int
store_type_of(const struct entry *e)
{
	return e->type == ENTRY_HARDLINK ? ENTRY_REG : e->type;
}

/*
 * The plan of the directory holding entry i, or NULL for the top: the
 * innermost open directory (plan_add closed those i is not inside), so
 * no earlier entry is read: they may be released (manifest.h).
 */
static struct plan_entry *
parent_of(struct plan *p, const struct manifest *m, size_t i)
{
	if (path_dirlen(m->v[i].path) == 0 || p->nopen == 0)
		return NULL;
	return &p->v[p->open[p->nopen - 1]];
}

static int plan_add_purge(struct plan *p, struct store *s, const char *path,
    size_t dir, int is_dir, const struct plan_opts *o);

/*
 * excluded_below's walk of path (len bytes of a PATH_MAX buffer, which
 * each level extends and gives back: the stack stays small however deep
 * the tree).
 */
static int
excluded_walk(struct store *s, char *path, size_t len, const struct filter *f,
    char *found, size_t flen)
{
	struct dirent *de;
	struct stat st;
	size_t nlen;
	DIR *d;
	int fd, rc = 0;

	fd = store_open_at(s, path, O_RDONLY | O_DIRECTORY);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		snprintf(found, flen, "%s (unreadable: %s)", path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return 1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		nlen = strlen(de->d_name);
		if (len + 1 + nlen >= PATH_MAX ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
			snprintf(found, flen, "%s/%s (unreadable)", path,
			    de->d_name);
			rc = 1;
			break;
		}
		path[len] = '/';
		memcpy(path + len + 1, de->d_name, nlen + 1);
		if (filter_excluded(f, path, S_ISDIR(st.st_mode))) {
			snprintf(found, flen, "%s", path);
			rc = 1;
		} else if (S_ISDIR(st.st_mode))
			rc = excluded_walk(s, path, len + 1 + nlen, f, found, flen);
		path[len] = '\0';
	}
	closedir(d);
	return rc;
}

/*
 * 1 when the store's directory rel holds an entry the filter excludes
 * (its path to found), or one it cannot read: removed whole, rel would
 * take with it what the filter keeps, so it is not removed (as rsync,
 * which cannot delete a directory it keeps entries in).
 */
static int
holds_excluded(struct store *s, const char *rel, const struct filter *f,
    char *found, size_t flen)
{
	char path[PATH_MAX];
	size_t len = strlen(rel);

	if (f == NULL || f->n == 0)
		return 0;
	if (len >= sizeof(path)) {
		snprintf(found, flen, "%s (too long a path)", rel);
		return 1;
	}
	memcpy(path, rel, len + 1);
	return excluded_walk(s, path, len, f, found, flen);
}

/*
 * Purge k, a directory, is spared (reported as skipped, never removed)
 * when it holds what the filter excludes.
 */
static void
spare_if_excluded(struct plan *p, struct store *s, size_t k,
    const struct plan_opts *o)
{
	char found[PATH_MAX + 64], why[PATH_MAX + 128];

	if (!holds_excluded(s, p->purges[k].path, o->filter, found,
	    sizeof(found)))
		return;
	p->purges[k].spared = 1;
	snprintf(why, sizeof(why), "it holds %s, which the filter excludes: "
	    "not purged", found);
	plan_purge_set(p, k, PLAN_SKIP, why);
}

/* A partial session's entry gone from the source: purged when asked to. */
static void
plan_gone(struct plan *p, size_t i, struct store *s, const struct manifest *m,
    const struct plan_opts *o)
{
	struct plan_entry *parent = parent_of(p, m, i);
	struct stat st;
	int is_dir;

	if (!(o->flags & SESSION_PURGE) ||
	    store_lstat(s, &p->dir, m->v[i].path, &st) == -1)
		return;
	is_dir = S_ISDIR(st.st_mode);
	if ((is_dir && !(o->flags & SESSION_PURGE_DIRS)) ||
	    filter_excluded(o->filter, m->v[i].path, is_dir))
		return;
	if (plan_add_purge(p, s, m->v[i].path, i + 1, is_dir, o) == -1)
		return;
	if (parent)
		parent->flags |= PF_DIRATTR;
	else
		p->top_attr = 1;
}

/* Makes new directory i's place in staging/ (its tree's, or its own). */
static int
tree_mkdir(struct plan *p, size_t i, struct store *s,
    const struct manifest *m)
{
	char name[PLAN_STAGED_PATH];

	if (plan_staged_path(p, m, i, name, sizeof(name)) == -1 ||
	    mkdirat(s->stagingfd, name, 0700) == -1)
		return -1;
	return 0;
}

/*
 * A new entry's place: inside the staged copy of a new tree when its
 * directory is in one (PF_INNER), else, for a new directory, a tree of
 * its own (PF_NEWTREE) when its directory can be made in staging/.
 */
static void
plan_tree(struct plan *p, size_t i, struct store *s, const struct manifest *m)
{
	struct plan_entry *pe = &p->v[i];
	int dir = m->v[i].type == ENTRY_DIR;
	struct plan_tree *t;
	char *path;

	if (pe->flags & PF_INNER) {
		char name[PATH_MAX];

		/* Too long a name for openat: staged as outside a tree. */
		if (plan_staged_path(p, m, i, name, sizeof(name)) == -1) {
			pe->flags = (pe->flags & ~PF_INNER) | PF_UNDER;
			return;
		}
		if (dir && tree_mkdir(p, i, s, m) == -1)
			plan_set(p, i, PLAN_FAIL, "staging: mkdir: %s",
			    strerror(errno));
		return;
	}
	if (!dir || pe->state != PLAN_CREATE ||
	    (pe->flags & (PF_RETYPE | PF_UNDER)))
		return;
	if (p->ntrees == p->trees_cap) {
		size_t cap = p->trees_cap ? p->trees_cap * 2 : 16;

		t = realloc(p->trees, cap * sizeof(*t));
		if (t == NULL)
			return;	/* staged as before: a MKDIR and a file at a time */
		p->trees = t;
		p->trees_cap = cap;
	}
	if ((path = strdup(m->v[i].path)) == NULL)
		return;
	pe->flags |= PF_NEWTREE;
	if (tree_mkdir(p, i, s, m) == -1) {
		pe->flags &= ~PF_NEWTREE;
		free(path);
		return;
	}
	p->trees[p->ntrees].i = i;
	p->trees[p->ntrees].path = path;
	p->ntrees++;
}

/*
 * Entry i replaces a directory of the store: 1 (entry i skipped, with
 * the reason) when that directory holds what the filter excludes.
 */
static int
old_dir_spared(struct plan *p, size_t i, struct store *s,
    const struct entry *e, const struct plan_opts *o)
{
	char found[PATH_MAX + 64];

	if (!holds_excluded(s, e->path, o->filter, found, sizeof(found)))
		return 0;
	plan_set(p, i, PLAN_SKIP, "type conflict: the store's directory holds "
	    "%s, which the filter excludes: not replaced", found);
	return 1;
}

static void
plan_entry(struct plan *p, size_t i, struct store *s, const struct manifest *m,
    const struct plan_opts *o)
{
	const struct entry *e = &m->v[i];
	struct plan_entry *parent = parent_of(p, m, i);
	struct stat st;
	int dtype;

	/* Under a tree staged whole, whatever becomes of it (plan_tree_end). */
	if (parent && (parent->flags & (PF_NEWTREE | PF_INNER)))
		p->v[i].flags |= PF_INNER;
	else if (parent && (parent->flags & PF_UNDER))
		p->v[i].flags |= PF_UNDER;
	if (e->type == ENTRY_GONE) {
		plan_gone(p, i, s, m, o);
		return;
	}
	if (parent && (parent->state == PLAN_SKIP ||
	    parent->state == PLAN_FAIL)) {
		plan_set(p, i, PLAN_SKIP, "its directory was not synced");
		return;
	}
	/* Nothing there yet (a new directory, or one replacing a file). */
	if (parent && (parent->state == PLAN_CREATE ||
	    (parent->flags & PF_RETYPE))) {
		plan_set(p, i, PLAN_CREATE, NULL);
		goto created;
	}
	if (store_lstat(s, &p->dir, e->path, &st) == -1) {
		if (errno == ENOENT) {
			plan_set(p, i, PLAN_CREATE, NULL);
			goto created;
		}
		if (errno == ELOOP || errno == EXDEV || errno == ENOTDIR)
			plan_set(p, i, PLAN_SKIP, "a symlink or non-directory "
			    "in the store is in the way");
		else
			plan_set(p, i, PLAN_FAIL, "stat: %s", strerror(errno));
		return;
	}
	p->v[i].flags |= PF_EXISTS;
	dtype = entry_type_of(st.st_mode);
	if (dtype != store_type_of(e)) {
		/* With purge the store is the source's mirror: replace it. */
		if (!(o->flags & (SESSION_PURGE | SESSION_PURGE_DIRS))) {
			plan_set(p, i, PLAN_SKIP, "type conflict: the source has "
			    "a %s, the store has a %s (--purge replaces it)",
			    entry_type_name(e->type), entry_type_name(dtype));
			return;
		}
		if (dtype == ENTRY_DIR && old_dir_spared(p, i, s, e, o))
			return;
		plan_set(p, i, PLAN_REPLACE, NULL);
		p->v[i].flags |= PF_RETYPE | (dtype == ENTRY_DIR ? PF_OLDDIR : 0);
		goto created;	/* rsync -i shows it as created too */
	}
	switch (e->type) {
	case ENTRY_REG: plan_file(p, i, s, e, &st, o); break;
	case ENTRY_LNK: plan_symlink(p, i, s, e, &st, o); break;
	case ENTRY_DIR: plan_dir(p, i, e, &st, o); break;
	case ENTRY_HARDLINK: plan_hardlink(p, i, s, m, &st); break;
	default: plan_special(p, i, e, &st, o); break;
	}
	/* A change of extended attributes alone replaces them in place. */
	if (p->v[i].state == PLAN_UNCHANGED && xattrs_differ(p, s, e, o)) {
		plan_set(p, i, PLAN_REPLACE, NULL);
		p->v[i].flags |= e->type == ENTRY_DIR ? PF_DIRATTR : PF_ATTR;
		p->v[i].changes |= ITEM_CH_XATTR;
	}
	goto device;
created:
	p->v[i].changes = ITEM_CH_NEW |
	    (e->type == ENTRY_HARDLINK ? ITEM_CH_HLINK : 0);
	if (e->type == ENTRY_REG) {
		p->v[i].flags |= PF_DATA;
		p->v[i].changes |= ITEM_CH_DATA;
	} else if (e->type == ENTRY_DIR)
		p->v[i].flags |= PF_DIRATTR;
	if (o->trees)
		plan_tree(p, i, s, m);
device:
	if (ENTRY_IS_DEVICE(e->type) && !o->owner &&
	    p->v[i].state != PLAN_UNCHANGED)
		plan_set(p, i, PLAN_SKIP, "a %s is made only by root (the "
		    "store is written as uid %u)", entry_type_name(e->type),
		    (unsigned)geteuid());
	/*
	 * A change in a directory moves its mtime: it gets its attributes
	 * set last, known as soon as it is planned (a commit spools a
	 * directory's ATTR once its listing is whole).
	 */
	if (p->v[i].state == PLAN_CREATE || p->v[i].state == PLAN_REPLACE) {
		if (parent)
			parent->flags |= PF_DIRATTR;
		else
			p->top_attr = 1;
	}
}

/*
 * Lists the store's extra entry path (in directory dir: 0 the top, else
 * entry dir - 1) for the purge; a directory is spared when it holds what
 * the filter excludes (spare_if_excluded). -1 on ENOMEM.
 */
static int
plan_add_purge(struct plan *p, struct store *s, const char *path, size_t dir,
    int is_dir, const struct plan_opts *o)
{
	struct plan_purge *v = p->purges;

	/* Doubled, not one more a purge: a million extras were a million reallocs. */
	if (p->npurges == p->purges_cap) {
		size_t cap = p->purges_cap ? 2 * p->purges_cap : 64;

		if ((v = realloc(p->purges, cap * sizeof(*v))) == NULL)
			return -1;
		p->purges = v;
		p->purges_cap = cap;
	}
	memset(&v[p->npurges], 0, sizeof(*v));
	v[p->npurges].path = strdup(path);
	v[p->npurges].dir = dir;
	v[p->npurges].is_dir = is_dir;
	v[p->npurges].state = PLAN_PURGE;
	if (v[p->npurges].path == NULL)
		return -1;
	p->npurges++;
	/* Its directory's mtime may move (PF_DIRATTR once the purges are kept). */
	if (dir > 0)
		p->v[dir - 1].flags |= PF_PURGED;
	if (is_dir)
		spare_if_excluded(p, s, p->npurges - 1, o);
	return 0;
}

/*
 * Lists the extra entries of the store directory rel ("" for the top:
 * dir 0): those not in names, its entries' names.
 */
static int
plan_purge_dir(struct plan *p, struct store *s, const struct plan_names *names,
    const char *rel, size_t dir, const struct plan_opts *o)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd, is_dir, rc = 0;

	fd = *rel ? store_open_at(s, rel, O_RDONLY | O_DIRECTORY) :
	    openat(s->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		log_warn("%s/%s: not purged", s->path, rel);
		if (fd != -1)
			close(fd);
		return 0;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "",
		    de->d_name) >= (int)sizeof(path))
			continue;
		if (path_is_meta(path) || names_has(names, de->d_name))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;	/* gone already */
		is_dir = S_ISDIR(st.st_mode);
		if (filter_excluded(o->filter, path, is_dir))
			continue;	/* excluded entries are never purged */
		if (is_dir && !(o->flags & SESSION_PURGE_DIRS))
			continue;
		rc = plan_add_purge(p, s, path, dir, is_dir, o);
	}
	closedir(d);
	return rc;
}

/* Do o's flags purge a whole session's extra entries? */
static int
purging(const struct plan_opts *o)
{
	return (o->flags & (SESSION_PURGE | SESSION_PURGE_DIRS)) &&
	    !(o->flags & SESSION_PARTIAL);
}

/*
 * Whether the store's directory of entry pe may have entries purged in
 * it: the store has it, and it replaces nothing of another type. Known
 * once pe is planned, before its first entry comes (plan_keep_name).
 */
static int
purges_in(const struct plan_entry *pe)
{
	return (pe->flags & PF_EXISTS) && !(pe->flags & PF_RETYPE);
}

/* Directory entry d's listing is whole: its purges are decided now. */
static int
plan_close_dir(struct plan *p, struct store *s, size_t d, const char *path,
    const struct plan_names *names, const struct plan_opts *o)
{
	const struct plan_entry *pe = &p->v[d];

	if (!purging(o) || s->rootfd < 0 || !purges_in(pe) ||
	    pe->state == PLAN_SKIP || pe->state == PLAN_FAIL)
		return 0;
	return plan_purge_dir(p, s, names, path, d + 1, o);
}

/*
 * Entry i comes: every open directory it is not inside is whole. With
 * i == m->n (the end), all are.
 */
static int
plan_close_dirs(struct plan *p, struct store *s, const struct manifest *m,
    size_t i, const struct plan_opts *o)
{
	while (p->nopen > 0 && (i == m->n ||
	    !path_inside(m->v[i].path, p->open_path[p->nopen - 1]))) {
		int rc;

		p->nopen--;
		rc = plan_close_dir(p, s, p->open[p->nopen],
		    p->open_path[p->nopen], &p->open_names[p->nopen], o);
		free(p->open_path[p->nopen]);
		names_release(&p->open_names[p->nopen]);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/*
 * Purging: entry i's name goes to its directory's names (the innermost
 * open one, or the top's), if that directory may purge: one the store
 * has, not replacing another type (plan_close_dir). A directory's names
 * go when it closes.
 */
static int
plan_keep_name(struct plan *p, const struct store *s,
    const struct manifest *m, size_t i, const struct plan_opts *o)
{
	const char *path = m->v[i].path;
	size_t len = path_dirlen(path);
	const struct plan_entry *pe;
	const char *dir;

	if (!purging(o) || s->rootfd < 0)
		return 0;
	if (len == 0)
		return names_add(&p->top_names, path);
	if (p->nopen == 0)
		return 0;	/* no directory: never purged in */
	dir = p->open_path[p->nopen - 1];
	pe = &p->v[p->open[p->nopen - 1]];
	if (strncmp(dir, path, len) != 0 || dir[len] != '\0' || !purges_in(pe))
		return 0;
	return names_add(&p->open_names[p->nopen - 1], path + len + 1);
}

const char *
plan_open_dir_of(const struct plan *p, const char *path)
{
	/* Those above it close at the next plan_add: at most the tree's depth. */
	for (size_t k = p->nopen; k > 0; k--)
		if (path_inside(path, p->open_path[k - 1]))
			return p->open_path[k - 1];
	return NULL;
}

/* Directory i opens: its path is kept (its entry may be released). */
static int
plan_open_dir(struct plan *p, const struct manifest *m, size_t i)
{
	size_t cap;
	size_t *v;
	char **pv, *path;
	struct plan_names *nv;

	if (p->nopen == p->open_cap) {
		cap = p->open_cap ? p->open_cap * 2 : 16;
		if ((v = realloc(p->open, cap * sizeof(*v))) == NULL)
			return -1;
		p->open = v;
		if ((pv = realloc(p->open_path, cap * sizeof(*pv))) == NULL)
			return -1;
		p->open_path = pv;
		if ((nv = realloc(p->open_names, cap * sizeof(*nv))) == NULL)
			return -1;
		p->open_names = nv;
		p->open_cap = cap;
	}
	if ((path = strdup(m->v[i].path)) == NULL)
		return -1;
	p->open[p->nopen] = i;
	memset(&p->open_names[p->nopen], 0, sizeof(*p->open_names));
	p->open_path[p->nopen++] = path;
	return 0;
}

static int
purge_cmp(const void *a, const void *b)
{
	const struct plan_purge *x = a, *y = b;

	return x->dir < y->dir ? -1 : x->dir > y->dir;
}

/*
 * The purges decided directory by directory, once the whole manifest is
 * in: in the order of their directories (the top's first), each
 * directory's in the order they were found; each directory that loses
 * an entry gets its mtime restored afterwards.
 */
static void
plan_purges_done(struct plan *p)
{
	/*
	 * qsort is not stable: the key is the directory, then the order of
	 * finding (dir < 2^32 entries, k < npurges: no overflow in 64 bits).
	 */
	for (size_t k = 0; k < p->npurges; k++)
		p->purges[k].dir = p->purges[k].dir * p->npurges + k;
	if (p->npurges > 1)
		qsort(p->purges, p->npurges, sizeof(*p->purges), purge_cmp);
	for (size_t k = 0; k < p->npurges; k++) {
		size_t dir = p->purges[k].dir / p->npurges;

		p->purges[k].dir = dir;
		if (dir == 0)
			p->top_attr = 1;
		else
			p->v[dir - 1].flags |= PF_DIRATTR;
	}
}

void
plan_init(struct plan *p)
{
	memset(p, 0, sizeof(*p));
	p->dir.fd = -1;
}

int
plan_add(struct plan *p, struct store *s, const struct manifest *m,
    size_t i, const struct plan_opts *o)
{
	struct plan_entry *v;
	size_t cap;

	if (i >= p->cap) {
		cap = p->cap ? p->cap * 2 : 1024;
		while (cap <= i)
			cap *= 2;
		v = realloc(p->v, cap * sizeof(*v));
		if (v == NULL) {
			log_err("plan");
			return -1;
		}
		memset(v + p->cap, 0, (cap - p->cap) * sizeof(*v));
		p->v = v;
		p->cap = cap;
	}
	if (i >= p->n)
		p->n = i + 1;
	if (plan_close_dirs(p, s, m, i, o) == -1) {
		log_err("planning purges");
		return -1;
	}
	if (plan_keep_name(p, s, m, i, o) == -1) {
		log_err("the names to purge against");
		return -1;
	}
	plan_entry(p, i, s, m, o);
	if (m->v[i].type == ENTRY_DIR && plan_open_dir(p, m, i) == -1) {
		log_err("plan");
		return -1;
	}
	return 0;
}

int
plan_finish(struct plan *p, struct store *s, const struct manifest *m,
    const struct plan_opts *o)
{
	struct stat st;

	if (p->n != m->n) {
		errno = EINVAL;
		log_err("plan of %zu entries for a manifest of %zu", p->n,
		    m->n);
		return -1;
	}
	if (s->rootfd < 0 || fstat(s->rootfd, &st) == -1) {
		p->top_attr = 1;
		p->top_changes = ITEM_CH_NEW;
	} else {
		p->top_changes = attr_changes(&m->top, &st, o->owner, 1);
		if (o->ns != 0 && xattr_same_fd(s->rootfd, o->ns, m->top.xattrs,
		    m->top.xattrs_len) != 1)
			p->top_changes |= ITEM_CH_XATTR;
		p->top_attr |= p->top_changes != 0;
	}
	/* A partial session purges only what it names as gone. */
	if (plan_close_dirs(p, s, m, m->n, o) == -1 || (purging(o) &&
	    s->rootfd >= 0 && plan_purge_dir(p, s, &p->top_names, "", 0,
	    o) == -1)) {
		log_err("planning purges");
		return -1;
	}
	names_release(&p->top_names);
	if (!(o->flags & SESSION_PARTIAL)) {
		/* Purges decided before the walk proved incomplete: none. */
		if (!purging(o))
			plan_drop_purges(p);
		plan_purges_done(p);
	}
	return 0;
}

static int
plan_item_action(int state)
{
	switch (state) {
	case PLAN_CREATE: return ITEM_CREATE;
	case PLAN_REPLACE: return ITEM_REPLACE;
	case PLAN_SKIP: return ITEM_SKIP;
	case PLAN_FAIL: return ITEM_FAIL;
	case PLAN_VANISHED: return ITEM_VANISHED;
	case PLAN_HELD: return ITEM_HELD;
	case PLAN_PURGE: return ITEM_PURGE;
	}
	return 0;
}

/* rsync's X of an entry type (ITEM_KINDS). */
static char
plan_item_kind(int type)
{
	switch (type) {
	case ENTRY_DIR: return 'd';
	case ENTRY_LNK: return 'L';
	case ENTRY_CHR:
	case ENTRY_BLK: return 'D';
	case ENTRY_FIFO:
	case ENTRY_SOCK: return 'S';
	}
	return 'f';
}

int
plan_each_item(const struct plan *p, const struct manifest *m,
    struct result *res, plan_item_fn *fn, void *arg)
{
	return plan_each_item_at(p, m, NULL, NULL, res, fn, arg);
}

int
plan_each_item_at(const struct plan *p, const struct manifest *m,
    plan_entry_at *at, void *aarg, struct result *res, plan_item_fn *fn,
    void *arg)
{
	struct item top = { .action = ITEM_TOUCH, .is_dir = 1, .path = ".",
	    .kind = 'd', .changes = p->top_changes };

	if (p->top_changes != 0 && fn(arg, &top) == -1)
		return -1;
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_entry *pe = &p->v[i];
		const struct entry *e = at != NULL ? at(aarg, i) : &m->v[i];
		struct item it;

		if (e == NULL)
			return -1;
		it = (struct item){ .action = plan_item_action(pe->state),
		    .is_dir = e->type == ENTRY_DIR, .path = e->path,
		    .reason = (char *)plan_reason(p, i), .kind = plan_item_kind(e->type),
		    .changes = pe->changes };
		if (e->type == ENTRY_GONE)
			continue;	/* counted as a purge, if it was one */
		if (pe->state == PLAN_UNCHANGED) {
			res->unchanged++;
			if (pe->changes == 0)
				continue;
			it.action = ITEM_TOUCH;	/* a directory's mtime */
		}
		if (e->type == ENTRY_LNK || e->type == ENTRY_HARDLINK)
			it.target = e->target;
		if (e->path == NULL) {
			/* at kept no line for it: it changed after its end (a bug). */
			log_errx("the report: entry %zu changed after it was "
			    "released", i);
			return -1;
		}
		result_count(res, it.action);
		if (fn(arg, &it) == -1)
			return -1;
	}

	for (size_t k = 0; k < p->npurges; k++) {
		const struct plan_purge *pp = &p->purges[k];
		struct item it = { .action = plan_item_action(pp->state),
		    .is_dir = pp->is_dir, .path = pp->path,
		    .reason = pp->reason };

		result_count(res, it.action);
		if (fn(arg, &it) == -1)
			return -1;
	}
	return 0;
}

/* Keeps a copy of it in res (counted already). */
static int
keep_item(void *arg, const struct item *it)
{
	return result_keep_item(arg, it);	/* plan_each_item counted it */
}

int
plan_result(const struct plan *p, const struct manifest *m, struct result *res)
{
	return plan_each_item(p, m, res, keep_item, res);
}
