/* journal: the durable list of a session's commit operations, and its replay. */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "buf.h"
#include "fault.h"
#include "fsutil.h"
#include "log.h"
#include "path.h"
#include "xattr.h"

#define JOURNAL_MAGIC 0x4d524a4cu	/* "MRJL" */
/*
 * 2: SWAP records, the inode of a swap, extended attributes in ATTR;
 * 3: staged names in shards ("sS/nI"). Version 2 is still read.
 */
#define JOURNAL_VERSION 3
#define JOURNAL_VERSION_OLDEST 2
#define JOURNAL_TMP "journal.tmp"
#define JOURNAL_MAX_SIZE (1ull << 32)

/* The arena's pieces: most hold many strings; a big one gets its own. */
#define JOURNAL_CHUNK (64 * 1024)

struct journal_chunk {
	struct journal_chunk *next;
	size_t used;
	size_t cap;
	max_align_t data[];
};

void
journal_init(struct journal *j)
{
	j->v = NULL;
	j->n = j->cap = 0;
	j->arena = NULL;
}

void
journal_release(struct journal *j)
{
	struct journal_chunk *c, *next;

	for (c = j->arena; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(j->v);
	journal_init(j);
}

/* Room for n bytes (aligned for any type) in j's arena, or NULL (ENOMEM). */
static void *
arena_take(struct journal *j, size_t n)
{
	struct journal_chunk *c = j->arena;
	size_t al = _Alignof(max_align_t);
	void *p;

	n = (n + al - 1) & ~(al - 1);
	if (c == NULL || c->cap - c->used < n) {
		size_t cap = n > JOURNAL_CHUNK ? n : JOURNAL_CHUNK;

		c = malloc(sizeof(*c) + cap);
		if (c == NULL)
			return NULL;
		c->used = 0;
		c->cap = cap;
		/* A big piece goes behind the current one, which keeps its room. */
		if (j->arena != NULL && n > JOURNAL_CHUNK) {
			c->next = j->arena->next;
			j->arena->next = c;
		} else {
			c->next = j->arena;
			j->arena = c;
		}
	}
	p = (char *)c->data + c->used;
	c->used += n;
	return p;
}

static const char *
arena_str(struct journal *j, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = arena_take(j, n);

	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

static const struct journal_attr *
arena_attr(struct journal *j, const struct journal_attr *attr)
{
	struct journal_attr *a = arena_take(j, sizeof(*a));

	if (a == NULL)
		return NULL;
	*a = *attr;
	a->xattrs = NULL;
	if (attr->xattrs_len > 0) {
		if ((a->xattrs = arena_take(j, attr->xattrs_len)) == NULL)
			return NULL;
		memcpy(a->xattrs, attr->xattrs, attr->xattrs_len);
	}
	return a;
}

int
journal_add(struct journal *j, int op, int flags, const char *path,
    const char *staged, const struct journal_attr *attr, size_t ref)
{
	struct journal_rec *r;

	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap + j->cap / 2 : 256;

		r = realloc(j->v, cap * sizeof(*r));
		if (r == NULL)
			return -1;
		j->v = r;
		j->cap = cap;
	}
	r = &j->v[j->n];
	memset(r, 0, sizeof(*r));
	r->op = (uint8_t)op;
	r->flags = (uint8_t)flags;
	r->ref = ref;
	/* What fails to be taken stays in the arena until it is released. */
	if ((r->path = arena_str(j, path)) == NULL ||
	    (staged && (r->staged = arena_str(j, staged)) == NULL) ||
	    (attr && (r->attr = arena_attr(j, attr)) == NULL))
		return -1;
	j->n++;
	return 0;
}

int
journal_add_swap(struct journal *j, const char *path, const char *staged,
    uint64_t ino, size_t ref)
{
	if (journal_add(j, JOP_SWAP, 0, path, staged, NULL, ref) == -1)
		return -1;
	j->v[j->n - 1].ino = ino;
	return 0;
}

void
journal_drop(struct journal *j, const uint8_t *drop)
{
	size_t k = 0;

	/* A dropped record's strings stay in the arena until it is released. */
	for (size_t i = 0; i < j->n; i++)
		if (!drop[i])
			j->v[k++] = j->v[i];
	j->n = k;
}

int
journal_encode(const struct journal_rec *rec, struct buf *b)
{
	static const struct journal_attr none;
	const struct journal_attr *a = rec->attr ? rec->attr : &none;

	return (buf_put_u8(b, rec->op) || buf_put_u8(b, rec->flags) ||
	    buf_put_str(b, rec->path) ||
	    buf_put_str(b, rec->staged ? rec->staged : "") ||
	    buf_put_u32(b, a->mode) || buf_put_u32(b, a->uid) ||
	    buf_put_u32(b, a->gid) ||
	    buf_put_u64(b, (uint64_t)a->mtime_sec) ||
	    buf_put_u32(b, a->mtime_nsec) ||
	    buf_put_u64(b, rec->ino) || buf_put_u8(b, (uint8_t)a->ns) ||
	    buf_put_u32(b, a->xattrs_len) ||
	    (a->xattrs_len > 0 && buf_put(b, a->xattrs, a->xattrs_len))) ?
	    -1 : 0;
}

/* Hashes and writes what w holds, then empties it. 0, or -1 with errno. */
static int
put_piece(struct journal_writer *w)
{
	XXH3_64bits_update(w->h, w->b.data, w->b.len);
	if (write_all(w->fd, w->b.data, w->b.len) == -1)
		return -1;
	buf_reset(&w->b);
	return 0;
}

/* Ends w: what is left of journal.tmp is removed unless it became the journal. */
static void
writer_end(struct journal_writer *w, int committed)
{
	if (!committed)
		unlinkat(w->s->metafd, JOURNAL_TMP, 0);
	if (w->fd != -1)
		close(w->fd);
	w->fd = -1;
	XXH3_freeState(w->h);
	w->h = NULL;
	buf_release(&w->b);
}

int
journal_begin(struct journal_writer *w, struct store *s, uint64_t count)
{
	memset(w, 0, sizeof(*w));
	w->s = s;
	w->count = count;
	buf_init(&w->b);
	w->h = XXH3_createState();
	w->fd = openat(s->metafd, JOURNAL_TMP, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC | O_NOFOLLOW, 0600);
	if (w->h == NULL || XXH3_64bits_reset(w->h) == XXH_ERROR)
		errno = ENOMEM;
	if (w->fd == -1 || w->h == NULL || buf_put_u32(&w->b, JOURNAL_MAGIC) ||
	    buf_put_u16(&w->b, JOURNAL_VERSION) || buf_put_u64(&w->b, count)) {
		log_err("%s/%s/%s", s->path, PATH_META, JOURNAL_TMP);
		writer_end(w, 0);
		return -1;
	}
	return 0;
}

int
journal_put(struct journal_writer *w, const struct journal_rec *r)
{
	if (w->done == w->count) {
		errno = EOVERFLOW;	/* more records than announced */
		log_err("%s/%s/%s", w->s->path, PATH_META, JOURNAL_TMP);
		return -1;
	}
	if (journal_encode(r, &w->b) == -1 ||
	    (w->b.len >= JOURNAL_CHUNK && put_piece(w) == -1)) {
		log_err("%s/%s/%s", w->s->path, PATH_META, JOURNAL_TMP);
		return -1;
	}
	w->done++;
	return 0;
}

int
journal_commit(struct journal_writer *w)
{
	struct store *s = w->s;

	if (w->done != w->count)
		errno = EPROTO;		/* fewer records than announced */
	if (w->done != w->count || put_piece(w) == -1 ||
	    buf_put_u64(&w->b, XXH3_64bits_digest(w->h)) ||
	    put_piece(w) == -1 || fsync(w->fd) == -1) {
		log_err("%s/%s/%s", s->path, PATH_META, JOURNAL_TMP);
		writer_end(w, 0);
		return -1;
	}
	if (renameat(s->metafd, JOURNAL_TMP, s->metafd, STORE_JOURNAL) == -1 ||
	    fsync(s->metafd) == -1) {
		log_err("%s/%s/%s: commit", s->path, PATH_META, STORE_JOURNAL);
		writer_end(w, 0);
		return -1;
	}
	writer_end(w, 1);
	fault_point("journal");
	return 0;
}

void
journal_abort(struct journal_writer *w)
{
	if (w->h != NULL || w->fd != -1)
		writer_end(w, 0);
}

/* A name in staging/: one component, or a shard and one component. */
static int
staged_name_ok(const char *name)
{
	const char *slash = strchr(name, '/');
	const char *why;

	if (slash != NULL && strchr(slash + 1, '/') != NULL)
		return 0;
	return path_check(name, &why) == 0;
}

void
journal_dec_release(struct journal_dec *d)
{
	free(d->path);
	free(d->staged);
	memset(d, 0, sizeof(*d));
}

int
journal_decode(struct reader *rd, struct journal_rec *r,
    struct journal_dec *d, const char **why)
{
	struct journal_attr *a = &d->attr;
	const char *xwhy;

	journal_dec_release(d);
	memset(r, 0, sizeof(*r));
	r->op = reader_u8(rd);
	r->flags = reader_u8(rd);
	d->path = reader_str(rd, PATH_MAX - 1);
	d->staged = reader_str(rd, NAME_MAX);
	a->mode = reader_u32(rd);
	a->uid = reader_u32(rd);
	a->gid = reader_u32(rd);
	a->mtime_sec = (int64_t)reader_u64(rd);
	a->mtime_nsec = reader_u32(rd);
	r->ino = reader_u64(rd);
	a->ns = reader_u8(rd);
	a->xattrs_len = reader_u32(rd);
	a->xattrs = (uint8_t *)reader_bytes(rd, a->xattrs_len);
	*why = "bad record";
	if (rd->failed || r->op < JOP_MKDIR || r->op > JOP_MAX ||
	    (!(r->op == JOP_ATTR && strcmp(d->path, ".") == 0) &&
	    (path_check(d->path, why) == -1 || path_is_meta(d->path))) ||
	    ((r->op == JOP_PUT || r->op == JOP_SWAP) &&
	    !staged_name_ok(d->staged)) ||
	    a->mtime_nsec >= 1000000000u || (a->ns & ~XATTR_NS_ALL) ||
	    xattr_check(a->xattrs, a->xattrs_len, a->ns, &xwhy) == -1) {
		*why = "bad record";
		journal_dec_release(d);
		return -1;
	}
	r->path = d->path;
	r->staged = r->op == JOP_PUT || r->op == JOP_SWAP ? d->staged : NULL;
	r->attr = a;
	return 0;
}

int
journal_parse(const uint8_t *p, size_t n, struct journal *j, const char **why)
{
	struct reader rd;
	struct journal_rec rec;
	struct journal_dec d = { .path = NULL };
	uint64_t count, sum;
	int version;

	*why = "truncated or malformed";
	if (n < 8)
		return -1;
	reader_init(&rd, p + n - 8, 8);
	sum = reader_u64(&rd);
	if (sum != XXH3_64bits(p, n - 8)) {
		*why = "checksum mismatch";
		return -1;
	}
	reader_init(&rd, p, n - 8);
	if (reader_u32(&rd) != JOURNAL_MAGIC) {
		*why = "not a mirrorfs journal";
		return -1;
	}
	version = reader_u16(&rd);
	if (version < JOURNAL_VERSION_OLDEST || version > JOURNAL_VERSION) {
		*why = "a journal of another format version (written by "
		    "another release of mirrorfs: recover with that release)";
		return -1;
	}
	count = reader_u64(&rd);
	for (uint64_t i = 0; i < count; i++) {
		if (journal_decode(&rd, &rec, &d, why) == -1)
			goto bad;
		if (journal_add(j, rec.op, rec.flags, rec.path, rec.staged,
		    rec.attr, 0) == -1) {
			*why = strerror(errno);
			goto bad;
		}
		j->v[j->n - 1].ino = rec.ino;
	}
	*why = "truncated or malformed";
	if (reader_finish(&rd) == -1)
		goto bad;
	journal_dec_release(&d);
	return 0;
bad:
	journal_dec_release(&d);
	journal_release(j);
	return -1;
}

int
journal_write(struct store *s, const struct journal *j)
{
	struct journal_writer w;

	if (journal_begin(&w, s, j->n) == -1)
		return -1;
	for (size_t i = 0; i < j->n; i++)
		if (journal_put(&w, &j->v[i]) == -1) {
			journal_abort(&w);
			return -1;
		}
	return journal_commit(&w);
}

/* Makes name's extended attributes in a->ns exactly a's. -1 with errno. */
static int
set_xattrs(int dirfd, const char *name, const struct journal_attr *a)
{
	const char *failed;
	int fd, rc, saved;

	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return -1;
	rc = xattr_apply_fd(fd, a->ns, a->xattrs, a->xattrs_len, &failed);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/*
 * SWAP: exchanges the staged entry with what is at the path, then
 * removes the old one from staging/. Redoing it is harmless: a path
 * that already holds r->ino was exchanged, and nothing of inode r->ino
 * is ever removed.
 */
static int
apply_swap(struct store *s, struct store_dir *d, const struct journal_rec *r)
{
	struct stat st;
	const char *name;
	int dirfd, done;

	dirfd = store_parent(s, d, r->path, &name);
	if (dirfd == -1)
		return -1;
	/* Already there: exchanged by the run that crashed. */
	done = fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_ino == r->ino;
	if (!done && renameat2(s->stagingfd, r->staged, dirfd, name,
	    RENAME_EXCHANGE) == -1) {
		/* Nothing at the path any more: the new entry simply goes there. */
		if (errno != ENOENT || fstatat(s->stagingfd, r->staged, &st,
		    AT_SYMLINK_NOFOLLOW) == -1 || st.st_ino != r->ino)
			return -1;
		return renameat2(s->stagingfd, r->staged, dirfd, name,
		    RENAME_NOREPLACE);
	}
	fault_point("swap");
	if (fstatat(s->stagingfd, r->staged, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return errno == ENOENT ? 0 : -1;
	if (st.st_ino == r->ino) {
		errno = EEXIST;	/* never remove the replacement */
		return -1;
	}
	/* The old entry, a whole tree perhaps, is out of the store now. */
	return store_remove_at(s->stagingfd, r->staged);
}

static int
apply_attr(struct store *s, struct store_dir *d, const struct journal_rec *r)
{
	const struct journal_attr *a = r->attr;
	struct timespec ts[2];
	const char *name;
	int dirfd;

	if (a == NULL) {
		errno = EINVAL;		/* an ATTR made without attributes */
		return -1;
	}
	dirfd = store_parent(s, d, r->path, &name);
	if (dirfd == -1)
		return -1;
	if ((r->flags & JREC_OWNER) && fchownat(dirfd, name, a->uid, a->gid,
	    AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	/* Never through a symlink swapped in since the plan was made. */
	if (!(r->flags & JREC_LINK) && fchmodat(dirfd, name, a->mode,
	    AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	/* After chown and chmod, which clear a file capability. */
	if ((r->flags & JREC_XATTR) && set_xattrs(dirfd, name, a) == -1)
		return -1;
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = a->mtime_sec;
	ts[1].tv_nsec = a->mtime_nsec;
	return utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
}

/*
 * A PUT's rename: over what is at name, but for a tree staged whole,
 * which must not replace a directory somebody made there meanwhile (an
 * empty one would silently go, with whatever was open in it).
 */
static int
put_rename(struct store *s, const char *staged, int dirfd, const char *name)
{
	struct stat st;

	if (staged[0] != JOURNAL_TREE)
		return renameat(s->stagingfd, staged, dirfd, name);
	if (renameat2(s->stagingfd, staged, dirfd, name,
	    RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	/* A filesystem without RENAME_NOREPLACE: look first. */
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	return renameat(s->stagingfd, staged, dirfd, name);
}

/* Carries out one record; 0, or -1 with errno. Redoing a done record is harmless. */
static int
apply_one(struct store *s, struct store_dir *d, const struct journal_rec *r)
{
	const char *name;
	int dirfd;

	switch (r->op) {
	case JOP_MKDIR:
		dirfd = store_parent(s, d, r->path, &name);
		if (dirfd == -1)
			return -1;
		if (mkdirat(dirfd, name, 0700) == -1 && errno != EEXIST)
			return -1;
		return 0;
	case JOP_PUT:
		dirfd = store_parent(s, d, r->path, &name);
		if (dirfd == -1)
			return -1;
		if (put_rename(s, r->staged, dirfd, name) == -1) {
			struct stat st;

			/* Already renamed by the run that crashed. */
			if (errno == ENOENT && fstatat(s->stagingfd, r->staged,
			    &st, AT_SYMLINK_NOFOLLOW) == -1 && errno == ENOENT)
				return 0;
			return -1;
		}
		return 0;
	case JOP_ATTR:
		return apply_attr(s, d, r);
	case JOP_REMOVE:
		return store_remove_tree(s, d, r->path);
	case JOP_SWAP:
		return apply_swap(s, d, r);
	}
	errno = EINVAL;
	return -1;
}

int
journal_apply_rec(struct store *s, struct store_dir *d,
    const struct journal_rec *r)
{
	int rc = apply_one(s, d, r), saved = errno;

	fault_point("commit");
	errno = saved;
	return rc;
}

/*
 * Removes everything in the directory dirfd (prefix: its place below
 * staging/, for messages), counting what it removed; a shard ("sS", a
 * directory) is emptied the same way and counts its entries, not itself.
 */
static int
clear_dir(struct store *s, int dirfd, const char *prefix, int shards,
    unsigned long *removed)
{
	DIR *d;
	struct dirent *de;
	int fd, sub, rc = 0;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		log_err("%s/%s/staging%s", s->path, PATH_META, prefix);
		if (fd != -1)
			close(fd);
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		/* A shard: its entries, then itself (the DT_ hint may be absent). */
		if (shards && de->d_name[0] == 's' && (sub = openat(dirfd,
		    de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC)) != -1) {
			if (clear_dir(s, sub, "/s", 0, removed) == -1)
				rc = -1;
			close(sub);
			if (unlinkat(dirfd, de->d_name, AT_REMOVEDIR) == -1 &&
			    errno != ENOENT) {
				log_err("%s/%s/staging/%s", s->path, PATH_META,
				    de->d_name);
				rc = -1;
			}
			continue;
		}
		/* A tree staged whole ("tI") counts every entry in it. */
		if (store_remove_counted(dirfd, de->d_name, removed) == -1) {
			log_err("%s/%s/staging%s/%s", s->path, PATH_META,
			    prefix, de->d_name);
			rc = -1;
		}
	}
	closedir(d);
	return rc;
}

/* Removes everything in staging/ (a swapped-out old entry may be a tree). */
static int
clear_staging(struct store *s, unsigned long *removed)
{
	*removed = 0;
	return clear_dir(s, s->stagingfd, "", 1, removed);
}

int
journal_finish(struct store *s)
{
	if (store_sync(s) == -1)
		return -1;
	return journal_retire(s);
}

int
journal_retire(struct store *s)
{
	unsigned long removed;

	fault_point("cleanup");
	if (unlinkat(s->metafd, STORE_JOURNAL, 0) == -1 && errno != ENOENT) {
		log_err("%s/%s/%s: retiring the journal", s->path, PATH_META,
		    STORE_JOURNAL);
		return -1;
	}
	if (fsync(s->metafd) == -1) {
		log_err("%s/%s: fsync", s->path, PATH_META);
		return -1;
	}
	return clear_staging(s, &removed);
}

/* Whether path is one of dirs or inside one. */
static int
under_any(const char *path, const char **dirs, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (strcmp(path, dirs[k]) == 0 || path_inside(path, dirs[k]))
			return 1;
	return 0;
}

/* Redoes every record of a committed journal; what cannot be redone is logged. */
static int
replay(struct store *s, const struct journal *j)
{
	struct store_dir d = STORE_DIR_INIT;

	/* The trees whose PUT failed: nothing of the session goes there. */
	const char **failed = NULL;
	size_t nfailed = 0;

	for (size_t i = 0; i < j->n; i++) {
		const struct journal_rec *r = &j->v[i];

		if (under_any(r->path, failed, nfailed))
			continue;
		if (journal_apply_rec(s, &d, r) == 0)
			continue;
		log_warnx("%s: recovery could not redo the change of %s: %s",
		    s->path, r->path, strerror(errno));
		if (r->op == JOP_PUT && r->staged[0] == JOURNAL_TREE) {
			const char **v = realloc(failed, (nfailed + 1) *
			    sizeof(*v));

			if (v == NULL) {
				/* The journal stays for the next recovery. */
				log_err("%s: recovery", s->path);
				free(failed);
				store_dir_release(&d);
				return -1;
			}
			failed = v;
			failed[nfailed++] = r->path;
		}
	}
	free(failed);
	store_dir_release(&d);
	return journal_finish(s);
}

/* Reads the whole journal file; *p is malloc'ed. 0, 1 when absent, -1. */
static int
journal_read_file(struct store *s, uint8_t **p, size_t *n)
{
	struct stat st;
	ssize_t got;
	size_t off = 0;
	int fd, rc = -1;

	*p = NULL;
	fd = openat(s->metafd, STORE_JOURNAL, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return errno == ENOENT ? 1 : -1;
	if (fstat(fd, &st) == -1)
		goto out;
	if ((uint64_t)st.st_size > JOURNAL_MAX_SIZE) {
		errno = EFBIG;
		goto out;
	}
	*n = (size_t)st.st_size;
	*p = malloc(*n ? *n : 1);
	if (*p == NULL)
		goto out;
	while (off < *n) {
		got = read(fd, *p + off, *n - off);
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got == 0)
				errno = EIO;
			goto out;
		}
		off += (size_t)got;
	}
	rc = 0;
out:
	if (rc == -1) {
		free(*p);
		*p = NULL;
	}
	close(fd);
	return rc;
}

int
journal_recover(struct store *s, struct journal *replayed)
{
	struct journal j;
	uint8_t *data = NULL;
	size_t n = 0;
	const char *why;
	unsigned long removed;
	int found, rc = -1;

	journal_init(&j);
	if (unlinkat(s->metafd, JOURNAL_TMP, 0) == -1 && errno != ENOENT) {
		log_err("%s/%s/%s", s->path, PATH_META, JOURNAL_TMP);
		goto out;
	}
	found = journal_read_file(s, &data, &n);
	if (found == -1) {
		log_err("%s/%s/%s", s->path, PATH_META, STORE_JOURNAL);
		goto out;
	}
	if (found == 1) {
		if (clear_staging(s, &removed) == -1)
			goto out;
		if (removed > 0) {
			log_info("%s: recovered an interrupted session: rolled "
			    "back, %lu staged entries discarded", s->path, removed);
			s->recovery = 'b';
			s->recovered = removed;
		}
		rc = 0;
		goto out;
	}
	if (journal_parse(data, n, &j, &why) == -1) {
		log_errx("%s/%s/%s: journal is corrupt (%s); the store was "
		    "left as it is", s->path, PATH_META, STORE_JOURNAL, why);
		goto out;
	}
	if (replay(s, &j) == -1)
		goto out;
	log_info("%s: recovered an interrupted session: rolled forward, "
	    "%zu operations redone", s->path, j.n);
	s->recovery = 'f';
	s->recovered = j.n;
	if (replayed != NULL) {
		journal_release(replayed);
		*replayed = j;
		journal_init(&j);
	}
	rc = 0;
out:
	free(data);
	journal_release(&j);
	return rc;
}
