/* stage: each file the sender sends, written to staging/ and checked whole before it may be committed. */
#include "stage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "delta.h"
#include "fault.h"
#include "fsutil.h"
#include "log.h"
#include "partial.h"
#include "xattr.h"

int
stage_shard(struct store *s, size_t i)
{
	char shard[PLAN_STAGED_NAME];

	plan_staged_shard(shard, sizeof(shard), i);
	if (mkdirat(s->stagingfd, shard, 0700) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

void
stage_init(struct stage_file *f)
{
	memset(f, 0, sizeof(*f));
	f->idx = -1;
	f->fd = -1;
	f->basisfd = -1;
}

/* Opens the staged part of a resumed file and hashes what it holds. */
static int
resume_open(struct stage_file *f, struct store *s)
{
	struct stat st;
	uint8_t buf[65536];
	uint64_t off = 0;
	ssize_t n;

	/* Not O_APPEND: a HOLE moves the offset without writing. */
	f->fd = openat(s->stagingfd, f->name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (f->fd == -1 || fstat(f->fd, &st) == -1 ||
	    (uint64_t)st.st_size != f->head.offset ||
	    lseek(f->fd, 0, SEEK_END) == -1)
		return -1;
	while (off < f->head.offset) {
		n = pread(f->fd, buf, sizeof(buf), (off_t)off);
		if (n <= 0)
			return -1;
		hash_update(f->h, buf, (size_t)n);
		off += (uint64_t)n;
	}
	f->got = f->head.offset;
	return 0;
}

/* Opens the store's version of the file a delta applies to. */
static void
patch_begin(struct stage_file *f, struct store *s, const char *path)
{
	f->basisfd = store_open_at(s, path, O_RDONLY | O_CLOEXEC);
	if (f->basisfd == -1) {
		snprintf(f->bad, sizeof(f->bad), "delta: the old version: %s",
		    strerror(errno));
		return;
	}
	if ((f->patch = delta_patch_begin(f->basisfd)) == NULL)
		snprintf(f->bad, sizeof(f->bad), "delta: %s", strerror(errno));
}

/* Creates staging/NAME afresh (a kept part not resumed, or a void attempt, goes). */
static int
create_staged(struct stage_file *f, struct store *s)
{
	int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW;

	f->fd = openat(s->stagingfd, f->name, flags, 0600);
	if (f->fd == -1 && errno == ENOENT && plan_staged_in_shard(f->name) &&
	    stage_shard(s, (size_t)f->idx) == 0)
		f->fd = openat(s->stagingfd, f->name, flags, 0600);
	if (f->fd == -1 && errno == EEXIST) {
		unlinkat(s->stagingfd, f->name, 0);
		f->fd = openat(s->stagingfd, f->name, flags, 0600);
	}
	return f->fd;
}

int
stage_begin(struct stage_file *f, struct store *s, const char *path,
    const char *name, const struct file_head *head)
{
	stage_init(f);
	f->idx = head->index;
	f->head = *head;
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->h = hash_new();
	if (f->h == NULL) {
		log_err("%s/%s", s->path, path);
		return -1;
	}
	if (head->offset > 0) {
		if (resume_open(f, s) == -1)
			f->werr = errno ? errno : EIO;
		return 0;
	}
	if (create_staged(f, s) == -1)
		f->werr = errno;
	if (head->delta)
		patch_begin(f, s, path);
	return 0;
}

/* Takes bytes of the new version: counted, hashed, and written when we can. */
static void
take_bytes(struct stage_file *f, const void *p, size_t n)
{
	f->got += n;
	hash_update(f->h, p, n);
	if (f->werr == 0 && write_all(f->fd, p, n) == -1)
		f->werr = errno;	/* keep draining: other files may fit */
}

/* A patch's output: the new version's bytes. */
static int
patch_out(void *arg, const void *p, size_t n)
{
	struct stage_file *f = arg;

	if (n > f->head.attr.size - f->got) {
		snprintf(f->bad, sizeof(f->bad), "the delta makes more than "
		    "the %llu bytes announced",
		    (unsigned long long)f->head.attr.size);
		errno = EFBIG;
		return -1;
	}
	take_bytes(f, p, n);
	return 0;
}

/* Feeds delta bytes (eof: the delta's end) to the patch. */
static void
patch_feed(struct stage_file *f, const void *p, size_t n, int eof)
{
	char err[200];
	int r;

	if (f->bad[0] != '\0')
		return;		/* drained: the file fails */
	r = delta_feed(f->patch, p, n, eof, patch_out, f, err, sizeof(err));
	if (r == -1 && f->bad[0] == '\0')
		snprintf(f->bad, sizeof(f->bad), "delta: %s", err);
	if (r == 0 && eof)
		snprintf(f->bad, sizeof(f->bad), "delta: the stream ended "
		    "early");
}

int
stage_data(struct stage_file *f, const void *p, size_t n, char *why,
    size_t len)
{
	if (f->head.delta) {
		patch_feed(f, p, n, 0);
		return 0;
	}
	if (n > f->head.attr.size - f->got) {
		snprintf(why, len, "more data than the %llu bytes announced",
		    (unsigned long long)f->head.attr.size);
		return -1;
	}
	take_bytes(f, p, n);
	return 0;
}

int
stage_hole(struct stage_file *f, uint64_t n, char *why, size_t len)
{
	if (f->head.delta) {
		snprintf(why, len, "a HOLE inside a delta");
		return -1;
	}
	if (n > f->head.attr.size - f->got) {
		snprintf(why, len, "a hole past the %llu bytes announced",
		    (unsigned long long)f->head.attr.size);
		return -1;
	}
	f->got += n;
	hash_zeros(f->h, n);
	f->holes = 1;
	if (f->werr == 0 && lseek(f->fd, (off_t)n, SEEK_CUR) == -1)
		f->werr = errno;
	return 0;
}

int
stage_xattrs(int fd, const struct entry *e, const struct plan_opts *o,
    char *why, size_t len)
{
	const char *name;

	if (o->ns == 0 || xattr_apply_fd(fd, o->ns, e->xattrs, e->xattrs_len,
	    &name) == 0)
		return 0;
	if (errno == EOPNOTSUPP) {
		snprintf(why, len, "the store's filesystem cannot hold "
		    "extended attributes or ACLs (%s); %s syncs without them",
		    name, xattr_ns_of(name) == XATTR_NS_ACL ? "--no-acls" :
		    "--no-xattrs");
		return 1;
	}
	snprintf(why, len, "set extended attribute %s: %s", name,
	    strerror(errno));
	return -1;
}

/*
 * Gives a staged file the attributes the sender read: owner, mode, then
 * extended attributes (a capability survives only after chown and
 * chmod), then mtime. 0, or -1 / 1 as stage_xattrs with why set.
 */
static int
set_staged_attr(int fd, const struct entry *a, const struct entry *e,
    const struct plan_opts *o, char *why, size_t len)
{
	struct timespec ts[2] = {
		{ .tv_nsec = UTIME_OMIT },
		{ .tv_sec = a->mtime_sec, .tv_nsec = a->mtime_nsec },
	};
	int r;

	if ((o->owner && fchown(fd, a->uid, a->gid) == -1) ||
	    fchmod(fd, a->mode) == -1) {
		snprintf(why, len, "set attributes: %s", strerror(errno));
		return -1;
	}
	if ((r = stage_xattrs(fd, e, o, why, len)) != 0)
		return r;
	if (futimens(fd, ts) == -1) {
		snprintf(why, len, "set attributes: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Why the file that just ended fails, or "" when it is good; 1 when it
 * is skipped instead (its attributes do not fit the store).
 */
static int
judge(struct stage_file *f, const uint8_t *digest, const uint8_t *mine,
    const struct entry *e, const struct plan_opts *o, char *why, size_t len)
{
	why[0] = '\0';
	if (f->bad[0] != '\0')
		snprintf(why, len, "%s", f->bad);
	else if (f->werr != 0)
		snprintf(why, len, "write: %s", strerror(f->werr));
	else if (f->holes && ftruncate(f->fd, (off_t)f->got) == -1)
		snprintf(why, len, "write: %s", strerror(errno));
	else if (memcmp(mine, digest, HASH_SIZE) != 0)
		snprintf(why, len, "content hash mismatch: corrupted in "
		    "transit");
	else
		return set_staged_attr(f->fd, &f->head.attr, e, o, why,
		    len) == 1;
	return 0;
}

enum stage_end
stage_end(struct stage_file *f, struct store *s,
    const uint8_t digest[HASH_SIZE], const struct entry *e,
    const struct plan_opts *o, char *why, size_t len)
{
	uint8_t mine[HASH_SIZE];
	int skip;

	if (f->head.delta)
		patch_feed(f, NULL, 0, 1);
	if (f->bad[0] == '\0' && f->got != f->head.attr.size && f->head.delta)
		snprintf(f->bad, sizeof(f->bad), "delta: it made %llu of the "
		    "%llu bytes announced", (unsigned long long)f->got,
		    (unsigned long long)f->head.attr.size);
	if (f->bad[0] == '\0' && f->got != f->head.attr.size) {
		snprintf(why, len, "ended after %llu of %llu bytes",
		    (unsigned long long)f->got,
		    (unsigned long long)f->head.attr.size);
		return STAGE_BROKEN;
	}
	hash_final(f->h, mine);
	f->h = NULL;
	skip = judge(f, digest, mine, e, o, why, len);
	if (why[0] != '\0') {
		stage_drop(f, s);
		return skip ? STAGE_SKIPPED : STAGE_FAILED;
	}
	close(f->fd);
	f->fd = -1;
	stage_drop(f, s);
	fault_point("staging");
	return STAGE_DONE;
}

void
stage_drop(struct stage_file *f, struct store *s)
{
	if (f->fd != -1) {
		close(f->fd);
		unlinkat(s->stagingfd, f->name, 0);
	}
	hash_free(f->h);
	delta_free(f->patch);
	if (f->basisfd != -1)
		close(f->basisfd);
	stage_init(f);
}

/* Attempts at a copy whose source changes under it (as the sender's). */
#define STAGE_COPY_ATTEMPTS 3
/* At most this much in one copy_file_range (it takes a size_t, we keep it sane). */
#define STAGE_COPY_CHUNK (1u << 30)
#define STAGE_COPY_BUF (256 * 1024)

/* Why a peer's descriptor cannot be copied from, or NULL. */
static const char *
copy_refused(int srcfd, const struct stat *st)
{
	int fl = fcntl(srcfd, F_GETFL);

	if (!S_ISREG(st->st_mode))
		return "the descriptor sent is not a regular file";
	if (fl == -1 || (fl & O_PATH) || (fl & O_ACCMODE) == O_WRONLY)
		return "the descriptor sent is not open for reading";
	if (on_fuse(srcfd))
		return "the descriptor sent is on a FUSE filesystem";
	return NULL;
}

/*
 * Copies len bytes at off of src to the same offset of dst: by the
 * kernel, or through buf once it cannot (*slow set). 0, 1 when src ends
 * first (it shrank), -1 with errno.
 */
static int
copy_range(int src, int dst, uint64_t off, uint64_t len, int *slow,
    uint8_t **buf)
{
	ssize_t n;

	while (len > 0) {
		size_t want = len < STAGE_COPY_CHUNK ? (size_t)len :
		    STAGE_COPY_CHUNK;

		if (!*slow) {
			loff_t in = (loff_t)off, out = (loff_t)off;

			n = copy_file_range(src, &in, dst, &out, want, 0);
			if (n == -1 && (errno == EXDEV || errno == EINVAL ||
			    errno == EOPNOTSUPP || errno == ENOSYS)) {
				*slow = 1;
				continue;
			}
		} else {
			if (*buf == NULL && (*buf = malloc(STAGE_COPY_BUF)) == NULL)
				return -1;
			n = pread(src, *buf, want < STAGE_COPY_BUF ? want :
			    STAGE_COPY_BUF, (off_t)off);
			if (n > 0 && pwrite_all(dst, *buf, (size_t)n, off) == -1)
				return -1;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			return 1;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/* Copies every data extent of src (size bytes) into dst; holes stay holes. */
static int
copy_extents(int src, int dst, uint64_t size, uint8_t **buf)
{
	uint64_t off = 0, data, end;
	int slow = 0, r;

	while (off < size) {
		next_extent(src, off, size, &data, &end);
		if (data >= size)
			break;
		if ((r = copy_range(src, dst, data, end - data, &slow, buf)) != 0)
			return r;
		off = end;
	}
	return ftruncate(dst, (off_t)size) == -1 ? -1 : 0;
}

enum stage_end
stage_copy(struct store *s, size_t i, const char *name, int srcfd,
    const struct entry *e, const struct plan_opts *o, struct entry *attr,
    char *why, size_t len)
{
	struct stage_file f;
	struct stat before, after;
	const char *refused;
	uint8_t *buf = NULL;
	enum stage_end rc = STAGE_FAILED;
	int r;

	stage_init(&f);
	f.idx = (long)i;
	snprintf(f.name, sizeof(f.name), "%s", name);
	for (int attempt = 0; attempt < STAGE_COPY_ATTEMPTS; attempt++) {
		if (fstat(srcfd, &before) == -1) {
			snprintf(why, len, "copy: %s", strerror(errno));
			goto out;
		}
		if ((refused = copy_refused(srcfd, &before)) != NULL) {
			snprintf(why, len, "%s", refused);
			goto out;
		}
		if (create_staged(&f, s) == -1) {
			snprintf(why, len, "write: %s", strerror(errno));
			goto out;
		}
		r = copy_extents(srcfd, f.fd, (uint64_t)before.st_size, &buf);
		if (r == -1) {
			snprintf(why, len, "copy: %s", strerror(errno));
			goto out;
		}
		if (r == 0 && fstat(srcfd, &after) == 0 &&
		    same_version(&before, &after))
			break;
		close(f.fd);	/* changed while copied: again */
		f.fd = -1;
		if (attempt + 1 == STAGE_COPY_ATTEMPTS) {
			snprintf(why, len, "changed while being read (%d "
			    "attempts); will be sent by a later sync",
			    STAGE_COPY_ATTEMPTS);
			rc = STAGE_SKIPPED;
			goto out;
		}
	}
	memset(attr, 0, sizeof(*attr));
	entry_set_stat(attr, &before);
	r = set_staged_attr(f.fd, attr, e, o, why, len);
	if (r != 0) {
		rc = r == 1 ? STAGE_SKIPPED : STAGE_FAILED;
		goto out;
	}
	close(f.fd);
	f.fd = -1;
	fault_point("staging");
	rc = STAGE_DONE;
out:
	free(buf);
	if (f.fd != -1) {
		close(f.fd);
		unlinkat(s->stagingfd, f.name, 0);
	} else if (rc != STAGE_DONE) {
		unlinkat(s->stagingfd, f.name, 0);
	}
	return rc;
}

/*
 * Keeps staging/NAME as the part of (path, attr): after one syncfs for
 * them all (synced), or each made durable on its own.
 */
static void
keep_one(struct store *s, const char *name, const char *path,
    const struct entry *attr, int synced)
{
	if (synced)
		partial_keep_synced(s->stagingfd, name, s->partialfd, path, attr);
	else
		partial_keep(s->stagingfd, name, s->partialfd, path, attr);
}

/*
 * Keeps released entry i's complete staged file (e: its path and type,
 * from the caller's spool): m no longer holds its size and mtime, so
 * they are the staged file's, which were set from that version.
 */
static void
keep_released(struct store *s, const struct plan *p, size_t i,
    const struct entry *e, int synced)
{
	char name[PLAN_STAGED_PATH];
	struct entry attr;
	struct stat st;

	if (e->path == NULL || e->type != ENTRY_REG ||
	    plan_staged_path_of(p, i, e->path, name, sizeof(name)) == -1 ||
	    fstatat(s->stagingfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISREG(st.st_mode))
		return;
	memset(&attr, 0, sizeof(attr));
	entry_set_stat(&attr, &st);
	keep_one(s, name, e->path, &attr, synced);
}

/* Released files at least this many: one syncfs, else an fdatasync each. */
#define STAGE_KEEP_SYNCFS_MIN 64

void
stage_keep_partials(struct stage_file *f, struct store *s,
    const struct manifest *m, const struct plan *p, plan_entry_at *released,
    void *arg, const uint64_t *resume)
{
	char name[PLAN_STAGED_PATH];
	const struct entry *e;
	int keep_part = f->idx != -1 && f->fd != -1 && f->werr == 0 &&
	    f->bad[0] == '\0' && f->got > 0;
	int synced = 0;
	size_t nreleased = 0;

	if (keep_part) {
		close(f->fd);
		f->fd = -1;
	}
	for (size_t i = 0; released != NULL && i < m->base; i++)
		nreleased += (p->v[i].flags & PF_STAGED) != 0;
	/*
	 * Released entries can be a million files: one syncfs makes them
	 * durable at once, where an fdatasync each would take minutes. It
	 * waits for all the filesystem's dirty data, not only ours: a few
	 * files are synced each on its own.
	 */
	if (nreleased >= STAGE_KEEP_SYNCFS_MIN && s->partialfd >= 0) {
		if (syncfs(s->stagingfd) == 0)
			synced = 1;
		else
			log_warn("%s: syncfs: the files staged before the cut "
			    "are not kept", s->path);
	}
	if (keep_part)
		keep_one(s, f->name, m->v[f->idx].path, &f->head.attr, synced);
	for (size_t i = 0; nreleased > 0 && (synced ||
	    nreleased < STAGE_KEEP_SYNCFS_MIN) && i < m->base; i++) {
		if (!(p->v[i].flags & PF_STAGED))
			continue;
		if ((e = released(arg, i)) == NULL)
			break;	/* the spool failed (logged) */
		keep_released(s, p, i, e, synced);
	}
	for (size_t i = m->base; i < m->n; i++) {
		/*
		 * A part claimed from partial/ whose rest has not come yet
		 * goes back under the name it was claimed by (m's entry):
		 * else a second cut loses all the first one kept.
		 */
		int claimed = resume != NULL && resume[i] > 0 &&
		    (long)i != f->idx;

		if (!((p->v[i].flags & PF_STAGED) || claimed) ||
		    m->v[i].type != ENTRY_REG ||
		    plan_staged_path(p, m, i, name, sizeof(name)) == -1)
			continue;
		keep_one(s, name, m->v[i].path, &m->v[i], synced);
	}
	partial_sync(s->partialfd);
}

uint64_t
stage_claim(struct store *s, size_t i, const char *name,
    const struct entry *e)
{
	if (plan_staged_in_shard(name) && stage_shard(s, i) == -1)
		return 0;
	return partial_claim(s->partialfd, s->stagingfd, name, e->path, e);
}

/* Opens staging/NAME to read. */
static int
open_staged(struct store *s, const char *name)
{
	return openat(s->stagingfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

int
stage_kept_hash(struct store *s, const char *name, uint8_t out[HASH_SIZE])
{
	int fd = open_staged(s, name), rc;

	if (fd == -1)
		return -1;
	rc = hash_fd(fd, out);
	close(fd);
	return rc;
}

int
stage_adopt(struct store *s, const char *name, const struct entry *e,
    const struct plan_opts *o)
{
	uint8_t h[HASH_SIZE];
	char why[256];
	int fd = open_staged(s, name), rc = -1;

	if (fd == -1)
		return -1;
	if (hash_fd(fd, h) == 0 && memcmp(h, e->hash, HASH_SIZE) == 0 &&
	    set_staged_attr(fd, e, e, o, why, sizeof(why)) == 0)
		rc = 0;
	close(fd);
	return rc;
}

void
stage_discard(struct store *s, const char *name)
{
	unlinkat(s->stagingfd, name, 0);
}

static int
sig_append(void *arg, const void *p, size_t n)
{
	if (buf_put(arg, p, n) != 0) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

int
stage_signature(struct store *s, const char *path, uint64_t budget,
    struct buf *sig)
{
	struct stat st;
	char err[256];
	int fd, rc = 1;

	fd = store_open_at(s, path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return 1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size < DELTA_MIN_SIZE ||
	    delta_sig_size((uint64_t)st.st_size) > budget)
		goto out;
	if (delta_signature(fd, (uint64_t)st.st_size, sig_append, sig, err,
	    sizeof(err)) == -1) {
		log_warnx("%s/%s: sent whole: signature: %s", s->path, path,
		    err);
		goto out;
	}
	rc = sig->len > budget;
out:
	close(fd);
	return rc;
}
