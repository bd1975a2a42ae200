/* index: the in-memory index of a store's tree: records, names, directories, and what readers ask of them. */
#include "index.h"
#include "index_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define NS 1000000000LL

void
index_init(struct index *ix)
{
	memset(ix, 0, sizeof(*ix));
	ix->freerec = ix->freedent = ix->freedir = INDEX_NONE;
	htab_init(&ix->xattrs);
	htab_init(&ix->wide);
	htab_init(&ix->links);
}

static void
free_side(struct htab *h)
{
	size_t pos = 0, v;

	while (htab_next(h, &pos, &v))
		free((void *)v);
	htab_release(h);
}

void
index_release(struct index *ix)
{
	for (uint32_t i = 0; i < ix->ndirs; i++)
		free(ix->dirs[i].kids);
	for (uint32_t i = 0; i < (ix->nrecs + IX_CHUNK - 1) / IX_CHUNK; i++)
		free(ix->recs[i]);
	for (uint32_t i = 0; i < (ix->ndents + IX_CHUNK - 1) / IX_CHUNK; i++)
		free(ix->dents[i]);
	free(ix->recs);
	free(ix->dents);
	free(ix->dirs);
	free(ix->hash);
	free(ix->names);
	free_side(&ix->xattrs);
	free_side(&ix->wide);
	htab_release(&ix->links);
	index_init(ix);
}

/* Grows a chunked array whose next element is number n. -1 ENOMEM. */
static int
chunk_grow(void ***chunks, uint32_t n, size_t elsize)
{
	void **v, *c;

	if (n == INDEX_NONE - 1) {
		errno = ENOMEM;
		return -1;
	}
	if (n % IX_CHUNK != 0)
		return 0;
	v = realloc(*chunks, (n / IX_CHUNK + 1) * sizeof(*v));
	if (v == NULL)
		return -1;
	*chunks = v;
	c = malloc(IX_CHUNK * elsize);
	if (c == NULL)
		return -1;
	v[n / IX_CHUNK] = c;
	return 0;
}

/* --- the names arena ------------------------------------------------------- */

static uint32_t
name_add(struct index *ix, const char *s, size_t len)
{
	size_t need = (size_t)ix->nlen + len + 1, cap;
	char *v;

	if (need > UINT32_MAX) {
		errno = ENOMEM;
		return INDEX_NONE;
	}
	if (need > ix->ncap) {
		cap = ix->ncap ? (size_t)ix->ncap * 3 / 2 : 4096;
		if (cap < need)
			cap = need;
		if (cap > UINT32_MAX)
			cap = UINT32_MAX;
		v = realloc(ix->names, cap);
		if (v == NULL)
			return INDEX_NONE;
		ix->names = v;
		ix->ncap = (uint32_t)cap;
	}
	memcpy(ix->names + ix->nlen, s, len);
	ix->names[ix->nlen + len] = '\0';
	ix->nlen += (uint32_t)len + 1;
	return ix->nlen - (uint32_t)len - 1;
}

static void
name_drop(struct index *ix, uint32_t off)
{
	ix->ngarbage += (uint32_t)strlen(ix->names + off) + 1;
}

static void
copy_name(char *to, uint32_t *at, const char *from, uint32_t *off)
{
	size_t n = strlen(from) + 1;

	memcpy(to + *at, from, n);
	*off = *at;
	*at += (uint32_t)n;
}

void
ix_compact_names(struct index *ix)
{
	uint32_t at = 0;
	char *to;

	if (ix->ngarbage < 65536 || ix->ngarbage < ix->nlen / 2)
		return;
	to = malloc(ix->nlen - ix->ngarbage + 1);
	if (to == NULL)
		return;		/* stays as it is: garbage costs memory only */
	for (uint32_t i = 0; i < ix->ndents; i++) {
		struct index_dent *d = ix_dent(ix, i);

		if (d->child != INDEX_NONE)
			copy_name(to, &at, ix->names + d->name, &d->name);
	}
	for (uint32_t i = 0; i < ix->nrecs; i++) {
		struct index_rec *r = ix_rec(ix, i);

		if (!(r->mode & REC_FREE) && S_ISLNK(r->mode & REC_TYPEMASK) &&
		    r->size != INDEX_NONE) {
			uint32_t off;

			copy_name(to, &at, ix->names + r->size, &off);
			r->size = off;
		}
	}
	free(ix->names);
	ix->names = to;
	ix->nlen = ix->ncap = at;
	ix->ngarbage = 0;
}

/* --- the (parent, name) hash ------------------------------------------------ */

static uint64_t
hash_of(uint32_t dir, const char *name, size_t len)
{
	return XXH3_64bits_withSeed(name, len, dir);
}

/* The slot holding the dentry of (dir, name), or the empty slot where it goes. */
static uint32_t
slot_of(const struct index *ix, uint32_t dir, const char *name, size_t len,
    uint64_t h)
{
	uint32_t mask = ix->hcap - 1, i = (uint32_t)h & mask;

	for (;; i = (i + 1) & mask) {
		const struct index_dent *d;

		if (ix->hash[i] == INDEX_NONE)
			return i;
		d = ix_dent(ix, ix->hash[i]);
		if (d->parent == dir && d->len == len &&
		    memcmp(ix_name(ix, d), name, len) == 0)
			return i;
	}
}

static int
hash_grow(struct index *ix)
{
	uint32_t cap = ix->hcap ? ix->hcap * 2 : 1024, *old = ix->hash;
	uint32_t oldcap = ix->hcap;

	if (cap == 0 || (ix->hash = malloc((size_t)cap * sizeof(uint32_t))) ==
	    NULL) {
		ix->hash = old;
		errno = ENOMEM;
		return -1;
	}
	memset(ix->hash, 0xff, (size_t)cap * sizeof(uint32_t));
	ix->hcap = cap;
	for (uint32_t i = 0; i < oldcap; i++) {
		const struct index_dent *d;

		if (old[i] == INDEX_NONE)
			continue;
		d = ix_dent(ix, old[i]);
		ix->hash[slot_of(ix, d->parent, ix_name(ix, d), d->len,
		    hash_of(d->parent, ix_name(ix, d), d->len))] = old[i];
	}
	free(old);
	return 0;
}

static void
hash_del(struct index *ix, uint32_t i)
{
	uint32_t mask = ix->hcap - 1, j = i, home;

	/* Backward shift: every probe chain stays unbroken. */
	for (;;) {
		ix->hash[i] = INDEX_NONE;
		for (;;) {
			const struct index_dent *d;

			j = (j + 1) & mask;
			if (ix->hash[j] == INDEX_NONE) {
				ix->hn--;
				return;
			}
			d = ix_dent(ix, ix->hash[j]);
			home = (uint32_t)hash_of(d->parent, ix_name(ix, d),
			    d->len) & mask;
			if (i <= j ? (home <= i || home > j) :
			    (home <= i && home > j))
				break;
		}
		ix->hash[i] = ix->hash[j];
		i = j;
	}
}

uint32_t
ix_find(const struct index *ix, uint32_t dir, const char *name, size_t len)
{
	uint32_t i;

	if (ix->hcap == 0 || len > NAME_MAX)
		return INDEX_NONE;
	i = slot_of(ix, dir, name, len, hash_of(dir, name, len));
	return ix->hash[i];
}

/* --- directories -------------------------------------------------------------- */

static uint32_t
dir_new(struct index *ix)
{
	struct index_dir *v;
	uint32_t id;

	if (ix->freedir != INDEX_NONE) {
		id = ix->freedir;
		ix->freedir = ix->dirs[id].n;
	} else {
		if (ix->ndirs == ix->capdirs) {
			uint32_t cap = ix->capdirs ? ix->capdirs * 2 : 64;

			v = realloc(ix->dirs, (size_t)cap * sizeof(*v));
			if (v == NULL)
				return INDEX_NONE;
			ix->dirs = v;
			ix->capdirs = cap;
		}
		id = ix->ndirs++;
	}
	memset(&ix->dirs[id], 0, sizeof(ix->dirs[id]));
	return id;
}

static void
dir_free(struct index *ix, uint32_t id)
{
	free(ix->dirs[id].kids);
	memset(&ix->dirs[id], 0, sizeof(ix->dirs[id]));
	ix->dirs[id].n = ix->freedir;
	ix->freedir = id;
}

static int
dir_add(struct index *ix, uint32_t dir, uint32_t d)
{
	struct index_dir *x = &ix->dirs[ix_rec(ix, dir)->size];
	uint32_t *v;

	if (x->n == x->cap) {
		uint32_t cap = x->cap ? x->cap + x->cap / 2 + 1 : 4;

		v = realloc(x->kids, (size_t)cap * sizeof(*v));
		if (v == NULL)
			return -1;
		x->kids = v;
		x->cap = cap;
	}
	ix_dent(ix, d)->pos = x->n < IXPOS_NONE ? x->n : IXPOS_NONE;
	x->kids[x->n++] = d;
	return 0;
}

void
ix_trim(struct index *ix)
{
	/* A directory listed whole keeps no room to grow: most never do. */
	for (uint32_t i = 0; i < ix->ndirs; i++) {
		struct index_dir *x = &ix->dirs[i];
		uint32_t *v;

		if (x->kids == NULL || x->cap == x->n || x->n == 0)
			continue;
		v = realloc(x->kids, (size_t)x->n * sizeof(*v));
		if (v != NULL) {
			x->kids = v;
			x->cap = x->n;
		}
	}
}

/* Closes the gaps of removed names (only while no listing is open). */
static void
dir_compact(struct index *ix, struct index_dir *x)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < x->n; i++) {
		if (x->kids[i] == INDEX_NONE)
			continue;
		ix_dent(ix, x->kids[i])->pos = k < IXPOS_NONE ? k : IXPOS_NONE;
		x->kids[k++] = x->kids[i];
	}
	x->n = k;
	x->dead = 0;
}

static void
dir_del(struct index *ix, uint32_t dir, uint32_t d)
{
	struct index_dir *x = &ix->dirs[ix_rec(ix, dir)->size];
	uint32_t p = ix_dent(ix, d)->pos;

	if (p == IXPOS_NONE || p >= x->n || x->kids[p] != d)
		for (p = 0; p < x->n && x->kids[p] != d; p++)
			;
	if (p == x->n)
		return;
	x->kids[p] = INDEX_NONE;
	x->dead++;
	if (__atomic_load_n(&x->pins, __ATOMIC_SEQ_CST) == 0 && x->dead > 16 &&
	    x->dead > x->n / 2)
		dir_compact(ix, x);
}

/* --- records ------------------------------------------------------------------ */

static uint32_t
rec_alloc(struct index *ix)
{
	struct index_rec *r;
	uint32_t id;

	if (ix->freerec != INDEX_NONE) {
		id = ix->freerec;
		ix->freerec = ix_rec(ix, id)->dent;
	} else {
		if (chunk_grow((void ***)&ix->recs, ix->nrecs, sizeof(*r)) == -1)
			return INDEX_NONE;
		id = ix->nrecs++;
	}
	r = ix_rec(ix, id);
	memset(r, 0, sizeof(*r));
	r->dent = INDEX_NONE;
	r->size = INDEX_NONE;
	ix->live++;
	return id;
}

static void
side_drop(struct htab *h, uint32_t *key)
{
	size_t v;

	if (htab_get(h, key, sizeof(*key), &v)) {
		htab_del(h, key, sizeof(*key));
		free((void *)v);
	}
}

static void
links_drop(struct index *ix, uint32_t id)
{
	struct index_rec *r = ix_rec(ix, id);
	size_t v;

	if (!(r->mode & REC_LINKED))
		return;
	if (htab_get(&ix->links, &r->ino, sizeof(r->ino), &v) && v == id)
		htab_del(&ix->links, &r->ino, sizeof(r->ino));
	r->mode &= ~REC_LINKED;
}

static void
rec_free(struct index *ix, uint32_t id)
{
	struct index_rec *r = ix_rec(ix, id);

	if (r->mode & REC_XATTR)
		side_drop(&ix->xattrs, &id);
	if (r->mode & REC_WIDE)
		side_drop(&ix->wide, &id);
	links_drop(ix, id);
	if (ix_isdir(r) && r->size != INDEX_NONE)
		dir_free(ix, (uint32_t)r->size);
	if (S_ISLNK(r->mode & REC_TYPEMASK) && r->size != INDEX_NONE)
		name_drop(ix, (uint32_t)r->size);
	r->mode = REC_FREE;
	r->dent = ix->freerec;
	ix->freerec = id;
	ix->live--;
}

/* Nanoseconds since the epoch of (sec, nsec), or 0 when they do not fit. */
static int
to_ns(const struct timespec *ts, int64_t *ns)
{
	if (ts->tv_sec <= INT64_MIN / NS + 1 || ts->tv_sec >= INT64_MAX / NS - 1)
		return 0;
	*ns = (int64_t)ts->tv_sec * NS + ts->tv_nsec;
	return 1;
}

static int
set_wide(struct index *ix, uint32_t id, const struct stat *st)
{
	struct index_rec *r = ix_rec(ix, id);
	struct index_wide *w;
	size_t v;

	if (r->mode & REC_WIDE) {
		htab_get(&ix->wide, &id, sizeof(id), &v);
		((struct index_wide *)v)->st = *st;
		return 0;
	}
	w = malloc(sizeof(*w));
	if (w == NULL)
		return -1;
	w->rec = id;
	w->st = *st;
	if (htab_put(&ix->wide, &w->rec, sizeof(w->rec), (size_t)w) == -1) {
		free(w);
		return -1;
	}
	r->mode |= REC_WIDE;
	return 0;
}

int
ix_set_stat(struct index *ix, uint32_t id, const struct stat *st)
{
	struct index_rec *r = ix_rec(ix, id);
	int fits;

	/* atime is kept to the second: the mount serves the store's at indexing. */
	fits = st->st_dev == ix->dev && st->st_rdev == 0 &&
	    st->st_blocks >= 0 && st->st_blocks <= UINT32_MAX &&
	    st->st_nlink <= UINT32_MAX && st->st_size >= 0 &&
	    st->st_atim.tv_sec >= 0 && st->st_atim.tv_sec <= UINT32_MAX &&
	    to_ns(&st->st_mtim, &r->mtime) && to_ns(&st->st_ctim, &r->ctime);
	if (fits)
		r->atime = (uint32_t)st->st_atim.tv_sec;
	if (!fits && set_wide(ix, id, st) == -1)
		return -1;
	if (fits && (r->mode & REC_WIDE)) {
		side_drop(&ix->wide, &id);
		r->mode &= ~REC_WIDE;
	}
	if (r->ino != (uint64_t)st->st_ino)
		links_drop(ix, id);
	r->ino = st->st_ino;
	/* A directory keeps its dir slot there, a symlink its target. */
	if (S_ISDIR(st->st_mode) && r->size != INDEX_NONE)
		ix->dirs[r->size].size = (uint64_t)st->st_size;
	else if (!S_ISLNK(st->st_mode))
		r->size = (uint64_t)st->st_size;
	r->mode = (r->mode & ~REC_TYPEMASK) | (st->st_mode & REC_TYPEMASK);
	r->uid = st->st_uid;
	r->gid = st->st_gid;
	r->nlink = (uint32_t)st->st_nlink;
	r->blocks = (uint32_t)st->st_blocks;
	if (S_ISREG(st->st_mode) && st->st_nlink > 1 && !(r->mode & REC_LINKED) &&
	    r->dent != INDEX_NONE) {
		if (htab_put(&ix->links, &r->ino, sizeof(r->ino), id) == -1)
			return -1;
		r->mode |= REC_LINKED;
	} else if ((r->mode & REC_LINKED) && st->st_nlink <= 1)
		links_drop(ix, id);
	return 0;
}

uint32_t
ix_rec_new(struct index *ix, const struct stat *st)
{
	uint32_t id = rec_alloc(ix);
	struct index_rec *r;

	if (id == INDEX_NONE)
		return INDEX_NONE;
	r = ix_rec(ix, id);
	r->mode = st->st_mode & REC_TYPEMASK;
	if (S_ISDIR(st->st_mode) && (r->size = dir_new(ix)) == INDEX_NONE)
		goto fail;
	/* Not in links until named (ix_link calls ix_set_stat again). */
	r->dent = INDEX_NONE;
	if (ix_set_stat(ix, id, st) == -1)
		goto fail;
	return id;
fail:
	rec_free(ix, id);
	return INDEX_NONE;
}

int
ix_make_root(struct index *ix, const struct stat *st)
{
	ix->dev = st->st_dev;
	ix->blksize = st->st_blksize;
	if (ix_rec_new(ix, st) != INDEX_ROOT) {
		errno = ENOMEM;
		return -1;
	}
	ix_rec(ix, INDEX_ROOT)->dent = INDEX_NONE;
	return 0;
}

int
ix_set_target(struct index *ix, uint32_t id, const char *target)
{
	uint32_t off = name_add(ix, target, strlen(target));
	struct index_rec *r = ix_rec(ix, id);

	if (off == INDEX_NONE)
		return -1;
	if (r->size != INDEX_NONE)
		name_drop(ix, (uint32_t)r->size);
	r->size = off;
	return 0;
}

int
ix_set_xattrs(struct index *ix, uint32_t id, const void *blob, uint32_t len)
{
	struct index_rec *r = ix_rec(ix, id);
	struct index_xattrs *x;

	if (r->mode & REC_XATTR) {
		side_drop(&ix->xattrs, &id);
		r->mode &= ~REC_XATTR;
	}
	if (len == 0)
		return 0;
	x = malloc(sizeof(*x) + len);
	if (x == NULL)
		return -1;
	x->rec = id;
	x->len = len;
	memcpy(x->data, blob, len);
	if (htab_put(&ix->xattrs, &x->rec, sizeof(x->rec), (size_t)x) == -1) {
		free(x);
		return -1;
	}
	r->mode |= REC_XATTR;
	return 0;
}

const struct index_xattrs *
ix_xattrs(const struct index *ix, uint32_t id)
{
	size_t v;

	if (!(ix_rec(ix, id)->mode & REC_XATTR) ||
	    !htab_get(&ix->xattrs, &id, sizeof(id), &v))
		return NULL;
	return (const struct index_xattrs *)v;
}

uint32_t
ix_linked(const struct index *ix, uint64_t ino)
{
	size_t v;

	if (!htab_get(&ix->links, &ino, sizeof(ino), &v))
		return INDEX_NONE;
	return (uint32_t)v;
}

/* --- names -------------------------------------------------------------------- */

static uint32_t
dent_alloc(struct index *ix)
{
	uint32_t id;

	if (ix->freedent != INDEX_NONE) {
		id = ix->freedent;
		ix->freedent = ix_dent(ix, id)->name;
		return id;
	}
	if (chunk_grow((void ***)&ix->dents, ix->ndents,
	    sizeof(struct index_dent)) == -1)
		return INDEX_NONE;
	return ix->ndents++;
}

static void
dent_free(struct index *ix, uint32_t id)
{
	struct index_dent *d = ix_dent(ix, id);

	d->child = INDEX_NONE;
	d->name = ix->freedent;
	ix->freedent = id;
}

uint32_t
ix_link(struct index *ix, uint32_t dir, const char *name, size_t len,
    uint32_t rec)
{
	struct index_rec *r;
	struct index_dent *d;
	uint32_t id, off;

	if (len == 0 || len > NAME_MAX) {
		errno = EINVAL;
		return INDEX_NONE;
	}
	if ((ix->hn + 1) * 5 > ix->hcap * 4 && hash_grow(ix) == -1)
		return INDEX_NONE;
	off = name_add(ix, name, len);
	if (off == INDEX_NONE)
		return INDEX_NONE;
	id = dent_alloc(ix);
	if (id == INDEX_NONE) {
		name_drop(ix, off);
		return INDEX_NONE;
	}
	d = ix_dent(ix, id);
	d->name = off;
	d->len = (uint32_t)len;
	d->parent = dir;
	d->child = rec;
	if (dir_add(ix, dir, id) == -1) {
		name_drop(ix, off);
		dent_free(ix, id);
		return INDEX_NONE;
	}
	ix->hash[slot_of(ix, dir, name, len, hash_of(dir, name, len))] = id;
	ix->hn++;
	ix->entries++;
	r = ix_rec(ix, rec);
	r->mode &= ~REC_DETACHED;
	if (r->dent == INDEX_NONE) {
		struct stat st;

		r->dent = id;
		/* A file of several links goes into links once it has a name. */
		if (S_ISREG(r->mode & REC_TYPEMASK) && r->nlink > 1 &&
		    !(r->mode & REC_LINKED)) {
			index_stat(ix, rec, &st);
			ix_set_stat(ix, rec, &st);
		}
	} else
		r->mode |= REC_MULTI;
	return id;
}

/* Another name of rec than d, or INDEX_NONE (hard links are rare: a scan). */
static uint32_t
other_name(const struct index *ix, uint32_t rec, uint32_t d)
{
	for (uint32_t i = 0; i < ix->ndents; i++)
		if (i != d && ix_dent(ix, i)->child == rec)
			return i;
	return INDEX_NONE;
}

static void rec_gone(struct index *ix, uint32_t rec,
    const struct index_hooks *h);

void
ix_unlink(struct index *ix, uint32_t id, const struct index_hooks *h)
{
	struct index_dent *d = ix_dent(ix, id);
	uint32_t rec = d->child, dir = d->parent, slot;
	struct index_rec *r;

	slot = slot_of(ix, dir, ix_name(ix, d), d->len,
	    hash_of(dir, ix_name(ix, d), d->len));
	if (ix->hash[slot] == id)
		hash_del(ix, slot);
	dir_del(ix, dir, id);
	name_drop(ix, d->name);
	dent_free(ix, id);
	ix->entries--;
	r = ix_rec(ix, rec);
	if (r->dent == id)
		r->dent = (r->mode & REC_MULTI) ? other_name(ix, rec, id) :
		    INDEX_NONE;
	if (r->dent == INDEX_NONE)
		rec_gone(ix, rec, h);
}

/* rec has no name left: its contents go, then it is detached or freed. */
static void
rec_gone(struct index *ix, uint32_t rec, const struct index_hooks *h)
{
	struct index_rec *r = ix_rec(ix, rec);

	if (ix_isdir(r)) {
		uint32_t x = (uint32_t)r->size;

		/* Pinned meanwhile: removing names must not move the rest. */
		ix->dirs[x].pins++;
		for (uint32_t i = 0; i < ix->dirs[x].n; i++)
			if (ix->dirs[x].kids[i] != INDEX_NONE)
				ix_unlink(ix, ix->dirs[x].kids[i], h);
		ix->dirs[x].pins--;
		dir_compact(ix, &ix->dirs[x]);
		r = ix_rec(ix, rec);
	}
	links_drop(ix, rec);
	if (h != NULL && h->gone != NULL)
		h->gone(h->arg, ix, rec);
	if (__atomic_load_n(&r->uses, __ATOMIC_SEQ_CST) == 0)
		rec_free(ix, rec);
	else
		r->mode |= REC_DETACHED;
}

/* --- what readers ask --------------------------------------------------------- */

int
index_valid(const struct index *ix, uint32_t rec)
{
	return rec < ix->nrecs && !(ix_rec(ix, rec)->mode & REC_FREE);
}

uint32_t
index_parent(const struct index *ix, uint32_t rec)
{
	const struct index_rec *r = ix_rec(ix, rec);

	return r->dent == INDEX_NONE ? rec : ix_dent(ix, r->dent)->parent;
}

int
index_detached(const struct index *ix, uint32_t rec)
{
	return (ix_rec(ix, rec)->mode & REC_DETACHED) != 0;
}

const struct index_rec *
index_rec(const struct index *ix, uint32_t rec)
{
	return ix_rec(ix, rec);
}

uint32_t
index_lookup(const struct index *ix, uint32_t dir, const char *name,
    size_t len)
{
	uint32_t d = ix_find(ix, dir, name, len);

	return d == INDEX_NONE ? INDEX_NONE : ix_dent(ix, d)->child;
}

uint32_t
index_resolve(const struct index *ix, const char *path)
{
	uint32_t rec = INDEX_ROOT;
	const char *p = path, *e;

	if (ix->nrecs == 0)
		return INDEX_NONE;
	while (*p != '\0' && rec != INDEX_NONE) {
		e = strchrnul(p, '/');
		if (!(e - p == 1 && p[0] == '.') && e > p) {
			if (!ix_isdir(ix_rec(ix, rec)))
				return INDEX_NONE;
			rec = index_lookup(ix, rec, p, (size_t)(e - p));
		}
		p = *e ? e + 1 : e;
	}
	return rec;
}

static void
from_ns(int64_t ns, struct timespec *ts)
{
	ts->tv_sec = ns / NS;
	ts->tv_nsec = ns % NS;
	if (ts->tv_nsec < 0) {
		ts->tv_sec--;
		ts->tv_nsec += NS;
	}
}

void
index_stat(const struct index *ix, uint32_t id, struct stat *st)
{
	const struct index_rec *r = ix_rec(ix, id);
	size_t v;

	if ((r->mode & REC_WIDE) && htab_get(&ix->wide, &id, sizeof(id), &v)) {
		*st = ((const struct index_wide *)v)->st;
		return;
	}
	memset(st, 0, sizeof(*st));
	st->st_dev = ix->dev;
	st->st_ino = r->ino;
	st->st_mode = r->mode & REC_TYPEMASK;
	st->st_nlink = r->nlink;
	st->st_uid = r->uid;
	st->st_gid = r->gid;
	if (ix_isdir(r))
		st->st_size = (off_t)ix->dirs[r->size].size;
	else if (S_ISLNK(r->mode & REC_TYPEMASK))
		st->st_size = r->size == INDEX_NONE ? 0 :
		    (off_t)strlen(ix->names + r->size);
	else
		st->st_size = (off_t)r->size;
	st->st_blksize = ix->blksize;
	st->st_blocks = r->blocks;
	st->st_atim.tv_sec = r->atime;
	from_ns(r->mtime, &st->st_mtim);
	from_ns(r->ctime, &st->st_ctim);
}

int
index_set_stat(struct index *ix, uint32_t rec, const struct stat *st)
{
	return ix_set_stat(ix, rec, st);
}

const char *
index_target(const struct index *ix, uint32_t rec)
{
	const struct index_rec *r = ix_rec(ix, rec);

	if (!S_ISLNK(r->mode & REC_TYPEMASK) || r->size == INDEX_NONE)
		return NULL;
	return ix->names + r->size;
}

int
index_path(const struct index *ix, uint32_t rec, char *buf, size_t len)
{
	size_t at = len;

	if (len < 2) {
		errno = ENAMETOOLONG;
		return -1;
	}
	buf[--at] = '\0';
	while (rec != INDEX_ROOT) {
		const struct index_rec *r = ix_rec(ix, rec);
		const struct index_dent *d;

		if (r->dent == INDEX_NONE) {
			errno = ENOENT;
			return -1;
		}
		d = ix_dent(ix, r->dent);
		if (at < d->len + 1u) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (at != len - 1)
			buf[--at] = '/';
		at -= d->len;
		memcpy(buf + at, ix_name(ix, d), d->len);
		rec = d->parent;
	}
	if (at == len - 1)
		buf[--at] = '.';
	memmove(buf, buf + at, len - at);
	return 0;
}

/* Walks an xattr blob: the next (name, value, vlen) at *off; 0 at the end. */
static int
xattr_next(const struct index_xattrs *x, uint32_t *off, const char **name,
    const uint8_t **value, uint32_t *vlen)
{
	size_t n;

	if (x == NULL || *off >= x->len)
		return 0;
	*name = (const char *)x->data + *off;
	n = strlen(*name) + 1;
	memcpy(vlen, x->data + *off + n, sizeof(*vlen));
	*value = x->data + *off + n + sizeof(*vlen);
	*off += (uint32_t)(n + sizeof(*vlen) + *vlen);
	return 1;
}

ssize_t
index_listxattr(const struct index *ix, uint32_t rec, char *buf, size_t size)
{
	const struct index_xattrs *x = ix_xattrs(ix, rec);
	const uint8_t *value;
	const char *name;
	uint32_t off = 0, vlen;
	size_t total = 0, n;

	while (xattr_next(x, &off, &name, &value, &vlen)) {
		n = strlen(name) + 1;
		if (size > 0 && total + n > size) {
			errno = ERANGE;
			return -1;
		}
		if (size > 0)
			memcpy(buf + total, name, n);
		total += n;
	}
	return (ssize_t)total;
}

ssize_t
index_getxattr(const struct index *ix, uint32_t rec, const char *want,
    void *buf, size_t size)
{
	const struct index_xattrs *x = ix_xattrs(ix, rec);
	const uint8_t *value;
	const char *name;
	uint32_t off = 0, vlen;

	while (xattr_next(x, &off, &name, &value, &vlen)) {
		if (strcmp(name, want) != 0)
			continue;
		if (size > 0 && vlen > size) {
			errno = ERANGE;
			return -1;
		}
		if (size > 0)
			memcpy(buf, value, vlen);
		return vlen;
	}
	errno = ENODATA;
	return -1;
}

int
index_dir_next(const struct index *ix, uint32_t dir, uint64_t *pos,
    const char **name, size_t *len, uint32_t *rec)
{
	const struct index_rec *r = ix_rec(ix, dir);
	const struct index_dir *x;

	if (!ix_isdir(r) || r->size == INDEX_NONE)
		return 0;
	x = &ix->dirs[r->size];
	for (; *pos < x->n; (*pos)++) {
		const struct index_dent *d;

		if (x->kids[*pos] == INDEX_NONE)
			continue;
		d = ix_dent(ix, x->kids[*pos]);
		*name = ix_name(ix, d);
		*len = d->len;
		*rec = d->child;
		(*pos)++;
		return 1;
	}
	return 0;
}

void
index_dir_pin(struct index *ix, uint32_t dir, int delta)
{
	const struct index_rec *r = ix_rec(ix, dir);

	if (ix_isdir(r) && r->size != INDEX_NONE)
		__atomic_add_fetch(&ix->dirs[r->size].pins, (uint32_t)delta,
		    __ATOMIC_SEQ_CST);
}

void
index_use(struct index *ix, uint32_t rec, uint64_t n)
{
	uint32_t *u = &ix_rec(ix, rec)->uses, old, new;

	old = __atomic_load_n(u, __ATOMIC_SEQ_CST);
	do {
		new = n >= UINT32_MAX - old ? UINT32_MAX : old + (uint32_t)n;
	} while (!__atomic_compare_exchange_n(u, &old, new, 0,
	    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
}

int
index_unuse(struct index *ix, uint32_t rec, uint64_t n)
{
	struct index_rec *r = ix_rec(ix, rec);
	uint32_t old, new;

	old = __atomic_load_n(&r->uses, __ATOMIC_SEQ_CST);
	do {
		if (old == UINT32_MAX)
			return 0;	/* saturated: kept for good */
		new = n >= old ? 0 : old - (uint32_t)n;
	} while (!__atomic_compare_exchange_n(&r->uses, &old, new, 0,
	    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	return new == 0 && (r->mode & REC_DETACHED);
}

void
index_collect(struct index *ix, uint32_t rec)
{
	struct index_rec *r;

	if (!index_valid(ix, rec))
		return;
	r = ix_rec(ix, rec);
	if ((r->mode & REC_DETACHED) &&
	    __atomic_load_n(&r->uses, __ATOMIC_SEQ_CST) == 0)
		rec_free(ix, rec);
}

size_t
index_memory(const struct index *ix)
{
	size_t n = 0;

	n += (size_t)((ix->nrecs + IX_CHUNK - 1) / IX_CHUNK) * IX_CHUNK *
	    sizeof(struct index_rec);
	n += (size_t)((ix->ndents + IX_CHUNK - 1) / IX_CHUNK) * IX_CHUNK *
	    sizeof(struct index_dent);
	n += (size_t)ix->capdirs * sizeof(struct index_dir);
	for (uint32_t i = 0; i < ix->ndirs; i++)
		n += (size_t)ix->dirs[i].cap * sizeof(uint32_t);
	n += (size_t)ix->hcap * sizeof(uint32_t) + ix->ncap;
	return n;
}

int
index_rename(struct index *ix, uint32_t olddir, const char *oldname,
    uint32_t newdir, const char *newname, int exchange,
    const struct index_hooks *h)
{
	uint32_t o = ix_find(ix, olddir, oldname, strlen(oldname));
	uint32_t n = ix_find(ix, newdir, newname, strlen(newname));
	uint32_t rec, a, b, nd, multi;

	if (o == INDEX_NONE || (exchange && n == INDEX_NONE)) {
		errno = ENOENT;
		return -1;
	}
	if (exchange) {
		a = ix_dent(ix, o)->child;
		b = ix_dent(ix, n)->child;
		ix_dent(ix, o)->child = b;
		ix_dent(ix, n)->child = a;
		if (ix_rec(ix, a)->dent == o)
			ix_rec(ix, a)->dent = n;
		if (ix_rec(ix, b)->dent == n)
			ix_rec(ix, b)->dent = o;
		return 0;
	}
	rec = ix_dent(ix, o)->child;
	if (n != INDEX_NONE && ix_dent(ix, n)->child == rec)
		return 0;	/* two names of one file: rename does nothing */
	if (n != INDEX_NONE)
		ix_unlink(ix, n, h);
	/* The new name first, so the record never goes unnamed. */
	multi = ix_rec(ix, rec)->mode & REC_MULTI;
	nd = ix_link(ix, newdir, newname, strlen(newname), rec);
	if (nd == INDEX_NONE)
		return -1;
	ix_rec(ix, rec)->dent = nd;
	ix_unlink(ix, o, h);
	ix_rec(ix, rec)->mode = (ix_rec(ix, rec)->mode & ~REC_MULTI) | multi;
	return 0;
}
