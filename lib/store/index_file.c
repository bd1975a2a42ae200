/* index_file: the index saved as STORE/.mirrorfs/index when its master stops, and read back at the next start. */
#include "index.h"
#include "index_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"

/*
 * The file: a header, then the tree in preorder, every integer
 * big-endian.
 *
 *   header   "MIRRORFS-INDEX1\n", u64 dev and u64 inode of the top
 *            directory, u64 records, u64 names, u64 body length, u64
 *            XXH3-64 of the body
 *   record   u8 0 (compact: u64 ino, u64 size, u64 atime, mtime, ctime
 *            in ns, u32 mode, uid, gid, nlink, blocks) or u8 1 (wide: the
 *            same with u64 dev, u64 rdev, u64 nlink, u64 blocks, times as
 *            u64 seconds and u32 ns); u32 xattrs, each a u16-length name,
 *            u32 length and value; a symlink's u16-length target; a
 *            directory's u32 count of names, each a u8-length name, then
 *            u8 0 and its record, or u8 1 and the u32 number of the
 *            earlier record it is a hard link to (records are numbered
 *            as they appear, the top is 0)
 *
 * It describes one machine's store and is never sent anywhere; a file
 * that fails any check is not used, and the index is built again.
 */
#define MAGIC "MIRRORFS-INDEX1\n"
#define MAGIC_LEN 16
#define HEADER_LEN (MAGIC_LEN + 6 * 8)
#define INDEX_TMP "index.tmp"

struct saver {
	const struct index *ix;
	struct buf b;
	uint32_t *number;	/* record -> its number in the file */
	uint32_t next;
};

static int
put_time(struct buf *b, const struct timespec *ts)
{
	return buf_put_u64(b, (uint64_t)ts->tv_sec) |
	    buf_put_u32(b, (uint32_t)ts->tv_nsec);
}

static int
put_stat(struct saver *sv, uint32_t rec)
{
	const struct index_rec *r = ix_rec(sv->ix, rec);
	struct buf *b = &sv->b;
	struct stat st;

	index_stat(sv->ix, rec, &st);
	if (!(r->mode & REC_WIDE))
		return buf_put_u8(b, 0) | buf_put_u64(b, r->ino) |
		    buf_put_u64(b, (uint64_t)st.st_size) |
		    buf_put_u64(b, (uint64_t)r->atime * 1000000000ULL) |
		    buf_put_u64(b, (uint64_t)r->mtime) |
		    buf_put_u64(b, (uint64_t)r->ctime) |
		    buf_put_u32(b, r->mode & REC_TYPEMASK) | buf_put_u32(b, r->uid) |
		    buf_put_u32(b, r->gid) | buf_put_u32(b, r->nlink) |
		    buf_put_u32(b, r->blocks);
	return buf_put_u8(b, 1) | buf_put_u64(b, st.st_ino) |
	    buf_put_u64(b, (uint64_t)st.st_size) | put_time(b, &st.st_atim) |
	    put_time(b, &st.st_mtim) | put_time(b, &st.st_ctim) |
	    buf_put_u32(b, st.st_mode) | buf_put_u32(b, st.st_uid) |
	    buf_put_u32(b, st.st_gid) | buf_put_u64(b, st.st_nlink) |
	    buf_put_u64(b, (uint64_t)st.st_blocks) | buf_put_u64(b, st.st_dev) |
	    buf_put_u64(b, st.st_rdev);
}

static int
put_xattrs(struct saver *sv, uint32_t rec)
{
	const struct index_xattrs *x = ix_xattrs(sv->ix, rec);
	uint32_t off = 0, n = 0, vlen;
	size_t at;
	int rc;

	for (off = 0; x != NULL && off < x->len; n++) {
		off += (uint32_t)strlen((const char *)x->data + off) + 1;
		memcpy(&vlen, x->data + off, sizeof(vlen));
		off += (uint32_t)sizeof(vlen) + vlen;
	}
	rc = buf_put_u32(&sv->b, n);
	for (off = 0; x != NULL && off < x->len && rc == 0;) {
		const char *name = (const char *)x->data + off;

		at = strlen(name) + 1;
		memcpy(&vlen, x->data + off + at, sizeof(vlen));
		rc = buf_put_bytes16(&sv->b, name, at - 1) |
		    buf_put_u32(&sv->b, vlen) |
		    buf_put(&sv->b, x->data + off + at + sizeof(vlen), vlen);
		off += (uint32_t)(at + sizeof(vlen) + vlen);
	}
	return rc;
}

static int
put_rec(struct saver *sv, uint32_t rec)
{
	const struct index *ix = sv->ix;
	const struct index_rec *r = ix_rec(ix, rec);
	const struct index_dir *x;
	uint32_t n = 0;
	int rc;

	sv->number[rec] = sv->next++;
	rc = put_stat(sv, rec) | put_xattrs(sv, rec);
	if (S_ISLNK(r->mode & REC_TYPEMASK))
		rc |= buf_put_str(&sv->b, index_target(ix, rec) ?
		    index_target(ix, rec) : "");
	if (!ix_isdir(r) || rc != 0)
		return rc;
	x = &ix->dirs[r->size];
	for (uint32_t i = 0; i < x->n; i++)
		n += x->kids[i] != INDEX_NONE;
	rc = buf_put_u32(&sv->b, n);
	for (uint32_t i = 0; i < x->n && rc == 0; i++) {
		const struct index_dent *d;

		if (x->kids[i] == INDEX_NONE)
			continue;
		d = ix_dent(ix, x->kids[i]);
		rc = buf_put_u8(&sv->b, (uint8_t)d->len) |
		    buf_put(&sv->b, ix_name(ix, d), d->len);
		if (rc != 0)
			break;
		if (sv->number[d->child] != INDEX_NONE)
			rc = buf_put_u8(&sv->b, 1) |
			    buf_put_u32(&sv->b, sv->number[d->child]);
		else
			rc = buf_put_u8(&sv->b, 0) | put_rec(sv, d->child);
		x = &ix->dirs[r->size];
	}
	return rc;
}

static int
write_file(struct store *s, const struct buf *head, const struct buf *body)
{
	int fd, rc = -1;

	fd = openat(s->metafd, INDEX_TMP, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1 || write_all(fd, head->data, head->len) == -1 ||
	    write_all(fd, body->data, body->len) == -1 || fsync(fd) == -1) {
		log_err("%s/.mirrorfs/%s", s->path, INDEX_TMP);
		goto out;
	}
	if (renameat(s->metafd, INDEX_TMP, s->metafd, INDEX_FILE) == -1 ||
	    fsync(s->metafd) == -1) {
		log_err("%s/.mirrorfs/%s", s->path, INDEX_FILE);
		goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	if (rc == -1)
		unlinkat(s->metafd, INDEX_TMP, 0);
	return rc;
}

int
index_save(const struct index *ix, struct store *s)
{
	struct saver sv = { .ix = ix };
	struct buf head;
	struct stat st;
	int rc = -1;

	buf_init(&sv.b);
	buf_init(&head);
	if (ix->nrecs == 0 || fstat(s->rootfd, &st) == -1) {
		log_errx("%s: no index to save", s->path);
		goto out;
	}
	sv.number = malloc((size_t)ix->nrecs * sizeof(*sv.number));
	if (sv.number == NULL) {
		log_err("%s: saving the index", s->path);
		goto out;
	}
	memset(sv.number, 0xff, (size_t)ix->nrecs * sizeof(*sv.number));
	if (put_rec(&sv, INDEX_ROOT) != 0 ||
	    buf_put(&head, MAGIC, MAGIC_LEN) | buf_put_u64(&head, st.st_dev) |
	    buf_put_u64(&head, st.st_ino) | buf_put_u64(&head, sv.next) |
	    buf_put_u64(&head, ix->entries) | buf_put_u64(&head, sv.b.len) |
	    buf_put_u64(&head, XXH3_64bits(sv.b.data, sv.b.len))) {
		log_err("%s: saving the index", s->path);
		goto out;
	}
	rc = write_file(s, &head, &sv.b);
out:
	free(sv.number);
	buf_release(&sv.b);
	buf_release(&head);
	return rc;
}

int
index_drop(int metafd)
{
	if (unlinkat(metafd, INDEX_FILE, 0) == -1 && errno != ENOENT) {
		log_err(".mirrorfs/%s: removing the saved index", INDEX_FILE);
		return -1;
	}
	return 0;
}

/* --- loading ------------------------------------------------------------------ */

struct loader {
	struct index *ix;
	struct reader r;
	const uint8_t *map;	/* the file, mapped */
	size_t dropped;		/* bytes of it given back so far */
	uint32_t *recs;		/* number -> record */
	uint32_t n, cap;
	struct buf blob;
	const char *why;	/* what was wrong, for the message */
};

static void
get_time(struct reader *r, struct timespec *ts)
{
	ts->tv_sec = (time_t)reader_u64(r);
	ts->tv_nsec = reader_u32(r);
}

static int
get_stat(struct loader *l, struct stat *st)
{
	struct reader *r = &l->r;
	uint8_t kind = reader_u8(r);
	int64_t t[3];

	memset(st, 0, sizeof(*st));
	st->st_dev = l->ix->dev;
	st->st_blksize = l->ix->blksize;
	st->st_ino = reader_u64(r);
	st->st_size = (off_t)reader_u64(r);
	if (kind == 0) {
		for (int i = 0; i < 3; i++)
			t[i] = (int64_t)reader_u64(r);
		st->st_atim.tv_sec = t[0] / 1000000000LL;
		st->st_atim.tv_nsec = t[0] % 1000000000LL;
		st->st_mtim.tv_sec = t[1] / 1000000000LL;
		st->st_mtim.tv_nsec = t[1] % 1000000000LL;
		st->st_ctim.tv_sec = t[2] / 1000000000LL;
		st->st_ctim.tv_nsec = t[2] % 1000000000LL;
		for (int i = 0; i < 3; i++) {
			struct timespec *ts = i == 0 ? &st->st_atim :
			    i == 1 ? &st->st_mtim : &st->st_ctim;

			if (ts->tv_nsec < 0) {
				ts->tv_sec--;
				ts->tv_nsec += 1000000000LL;
			}
		}
		st->st_mode = reader_u32(r);
		st->st_uid = reader_u32(r);
		st->st_gid = reader_u32(r);
		st->st_nlink = reader_u32(r);
		st->st_blocks = reader_u32(r);
	} else if (kind == 1) {
		get_time(r, &st->st_atim);
		get_time(r, &st->st_mtim);
		get_time(r, &st->st_ctim);
		st->st_mode = reader_u32(r);
		st->st_uid = reader_u32(r);
		st->st_gid = reader_u32(r);
		st->st_nlink = reader_u64(r);
		st->st_blocks = (blkcnt_t)reader_u64(r);
		st->st_dev = reader_u64(r);
		st->st_rdev = reader_u64(r);
	} else {
		l->why = "a record of an unknown kind";
		return -1;
	}
	if (r->failed) {
		l->why = "truncated";
		return -1;
	}
	return 0;
}

static int
get_xattrs(struct loader *l, uint32_t rec)
{
	uint32_t n = reader_u32(&l->r), vlen;
	const void *v;
	char *name;

	buf_reset(&l->blob);
	for (uint32_t i = 0; i < n; i++) {
		name = reader_str(&l->r, 255);
		vlen = reader_u32(&l->r);
		v = vlen <= 65536 ? reader_bytes(&l->r, vlen) : NULL;
		if (name == NULL || v == NULL || name[0] == '\0') {
			free(name);
			l->why = "a bad extended attribute";
			return -1;
		}
		if (buf_put(&l->blob, name, strlen(name) + 1) == -1 ||
		    buf_put(&l->blob, &vlen, sizeof(vlen)) == -1 ||
		    buf_put(&l->blob, v, vlen) == -1) {
			free(name);
			return -1;
		}
		free(name);
	}
	return ix_set_xattrs(l->ix, rec, l->blob.data, (uint32_t)l->blob.len);
}

static int
number(struct loader *l, uint32_t rec)
{
	uint32_t *v;

	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 1024;

		v = realloc(l->recs, (size_t)cap * sizeof(*v));
		if (v == NULL)
			return -1;
		l->recs = v;
		l->cap = cap;
	}
	l->recs[l->n++] = rec;
	return 0;
}

/* A name of a directory in the file: 1..255 bytes, no '/', no NUL, not . or .. */
static int
good_name(const char *p, size_t n)
{
	return n > 0 && memchr(p, '/', n) == NULL && memchr(p, '\0', n) == NULL &&
	    !(n == 1 && p[0] == '.') && !(n == 2 && p[0] == '.' && p[1] == '.');
}

static uint32_t get_rec(struct loader *l, int depth);

/*
 * Gives back the pages of the file already read (everything is copied
 * out), so a load's peak memory is the index's, not the index's and the
 * file's.
 */
static void
drop_read(struct loader *l)
{
	size_t done = (size_t)(l->r.p - l->map) & ~((size_t)(1 << 20) - 1);

	if (done > l->dropped) {
		madvise((void *)(l->map + l->dropped), done - l->dropped,
		    MADV_DONTNEED);
		l->dropped = done;
	}
}

static int
get_kids(struct loader *l, uint32_t dir, int depth)
{
	uint32_t n = reader_u32(&l->r), child, num;
	const char *name;
	uint8_t len, kind;

	for (uint32_t i = 0; i < n; i++) {
		len = reader_u8(&l->r);
		name = reader_bytes(&l->r, len);
		kind = reader_u8(&l->r);
		if (name == NULL || !good_name(name, len) ||
		    ix_find(l->ix, dir, name, len) != INDEX_NONE) {
			l->why = "a bad or repeated name";
			return -1;
		}
		if (kind == 0) {
			child = get_rec(l, depth + 1);
		} else {
			num = reader_u32(&l->r);
			child = num < l->n ? l->recs[num] : INDEX_NONE;
			if (child == INDEX_NONE || kind != 1 ||
			    !S_ISREG(ix_rec(l->ix, child)->mode & REC_TYPEMASK)) {
				l->why = "a bad hard link";
				return -1;
			}
		}
		if (child == INDEX_NONE)
			return -1;
		if (ix_link(l->ix, dir, name, len, child) == INDEX_NONE)
			return -1;
	}
	drop_read(l);
	return 0;
}

static uint32_t
get_rec(struct loader *l, int depth)
{
	struct stat st;
	uint32_t rec;
	char *target;

	if (depth > PATH_MAX / 2) {
		l->why = "nested too deep";
		return INDEX_NONE;
	}
	if (get_stat(l, &st) == -1)
		return INDEX_NONE;
	if (depth == 0) {
		if (!S_ISDIR(st.st_mode) || ix_make_root(l->ix, &st) == -1) {
			l->why = l->why ? l->why : "a bad top directory";
			return INDEX_NONE;
		}
		rec = INDEX_ROOT;
	} else if ((rec = ix_rec_new(l->ix, &st)) == INDEX_NONE)
		return INDEX_NONE;
	if (number(l, rec) == -1 || get_xattrs(l, rec) == -1)
		return INDEX_NONE;
	if (S_ISLNK(st.st_mode)) {
		target = reader_str(&l->r, PATH_MAX - 1);
		if (target == NULL || ix_set_target(l->ix, rec, target) == -1) {
			free(target);
			l->why = l->why ? l->why : "a bad symlink";
			return INDEX_NONE;
		}
		free(target);
	}
	if (S_ISDIR(st.st_mode) && get_kids(l, rec, depth) == -1)
		return INDEX_NONE;
	return rec;
}

/* Checks the header against the store's top; points *body at the body. */
static int
check_header(struct loader *l, const uint8_t *p, size_t n,
    const struct stat *top, struct reader *body)
{
	struct reader r;
	uint64_t dev, ino, len, sum;

	if (n < HEADER_LEN || memcmp(p, MAGIC, MAGIC_LEN) != 0) {
		l->why = "not an index of this version";
		return -1;
	}
	reader_init(&r, p + MAGIC_LEN, n - MAGIC_LEN);
	dev = reader_u64(&r);
	ino = reader_u64(&r);
	reader_u64(&r);
	reader_u64(&r);
	len = reader_u64(&r);
	sum = reader_u64(&r);
	if (dev != (uint64_t)top->st_dev || ino != (uint64_t)top->st_ino) {
		l->why = "saved for another top directory";
		return -1;
	}
	if (len != n - HEADER_LEN || XXH3_64bits(p + HEADER_LEN, len) != sum) {
		l->why = "its checksum does not match";
		return -1;
	}
	reader_init(body, p + HEADER_LEN, len);
	return 0;
}

int
index_load(struct index *ix, struct store *s)
{
	struct loader l = { .ix = ix };
	struct stat top, st;
	void *map = MAP_FAILED;
	int fd, rc = -1, saved = 0;

	buf_init(&l.blob);
	fd = openat(s->metafd, INDEX_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		saved = errno;
		if (errno != ENOENT)
			log_err("%s/.mirrorfs/%s", s->path, INDEX_FILE);
		goto out;
	}
	if (fstat(fd, &st) == -1 || fstat(s->rootfd, &top) == -1) {
		saved = errno;
		log_err("%s/.mirrorfs/%s", s->path, INDEX_FILE);
		goto out;
	}
	if (st.st_size > 0)
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (st.st_size > 0 && map == MAP_FAILED) {
		saved = errno;
		log_err("%s/.mirrorfs/%s", s->path, INDEX_FILE);
		goto out;
	}
	if (map != MAP_FAILED)
		madvise(map, (size_t)st.st_size, MADV_WILLNEED);
	ix->dev = top.st_dev;
	ix->blksize = top.st_blksize;
	l.map = map;
	if (check_header(&l, map, (size_t)st.st_size, &top, &l.r) == 0) {
		/* The checksum read it all: let go, parsing reads it in turn. */
		madvise(map, (size_t)st.st_size, MADV_DONTNEED);
		if (get_rec(&l, 0) == INDEX_ROOT && reader_finish(&l.r) == 0)
			rc = 0;
	}
	if (rc == -1) {
		log_warnx("%s/.mirrorfs/%s: not used (%s); the index is built "
		    "again", s->path, INDEX_FILE, l.why ? l.why :
		    l.r.failed ? "truncated" : l.r.left ? "bytes left over" :
		    "out of memory");
		saved = EINVAL;
		goto out;
	}
	ix_trim(ix);
out:
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	if (fd != -1)
		close(fd);
	free(l.recs);
	buf_release(&l.blob);
	if (rc == -1) {
		index_release(ix);
		errno = saved;
	}
	return rc;
}
