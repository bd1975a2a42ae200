/* sessionlog: a bounded history of past sessions, one line per session, appended and rotated. */
#include "sessionlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"

#define NFIELDS 14

void
sessionlog_set(char *field, size_t len, const char *s)
{
	snprintf(field, len, "%s", s != NULL ? s : "");
}

void
sessionlog_from_result(struct sessionlog_rec *rec, const struct result *r,
    enum result_end end)
{
	memset(rec, 0, sizeof(*rec));
	sessionlog_set(rec->status, sizeof(rec->status), result_status(r, end));
	rec->created = r->created;
	rec->replaced = r->replaced;
	rec->purged = r->purged;
	rec->unchanged = r->unchanged;
	rec->skipped = r->skipped;
	rec->failed = r->failed;
}

/* Appends s escaped to buf at *at (bounded by len); -1 when it does not fit. */
static int
put_text(char *buf, size_t len, size_t *at, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char e[5];
		size_t n;

		if (*p == '\\' || *p == '\t' || *p == '\n')
			n = (size_t)snprintf(e, sizeof(e), "\\%c", *p == '\\' ?
			    '\\' : *p == '\t' ? 't' : 'n');
		else if (*p < 0x20 || *p == 0x7f)
			n = (size_t)snprintf(e, sizeof(e), "\\x%02x", *p);
		else {
			e[0] = (char)*p;
			n = 1;
		}
		if (*at + n >= len)
			return -1;
		memcpy(buf + *at, e, n);
		*at += n;
	}
	return 0;
}

size_t
sessionlog_format(const struct sessionlog_rec *rec, char *buf, size_t len)
{
	size_t at = 0;
	int n;

	n = snprintf(buf, len, "v1\t%.3f\t%.3f\t", rec->start, rec->end);
	if (n < 0 || (size_t)n >= len)
		return 0;
	at = (size_t)n;
	if (put_text(buf, len, &at, rec->status) == -1 || at + 1 >= len)
		return 0;
	buf[at++] = '\t';
	if (put_text(buf, len, &at, rec->fileset) == -1 || at + 1 >= len)
		return 0;
	buf[at++] = '\t';
	if (put_text(buf, len, &at, rec->peer) == -1)
		return 0;
	n = snprintf(buf + at, len - at, "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64
	    "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t",
	    rec->created, rec->replaced, rec->purged, rec->unchanged,
	    rec->skipped, rec->failed, rec->bytes);
	if (n < 0 || (size_t)n >= len - at)
		return 0;
	at += (size_t)n;
	if (put_text(buf, len, &at, rec->error) == -1 || at + 2 > len)
		return 0;
	buf[at++] = '\n';
	buf[at] = '\0';
	return at;
}

/* Unescapes the field s..e into out (len bytes); -1 when malformed or too long. */
static int
get_text(const char *s, const char *e, char *out, size_t len)
{
	size_t at = 0;
	unsigned v;

	while (s < e) {
		char c = *s++;

		if ((unsigned char)c < 0x20 || c == 0x7f)
			return -1;	/* raw control bytes: not ours */
		if (c == '\\') {
			if (s == e)
				return -1;
			c = *s++;
			if (c == 't')
				c = '\t';
			else if (c == 'n')
				c = '\n';
			else if (c == 'x') {
				if (e - s < 2 || sscanf(s, "%2x", &v) != 1 ||
				    v == 0)
					return -1;
				c = (char)v;
				s += 2;
			} else if (c != '\\')
				return -1;
		}
		if (at + 1 >= len)
			return -1;
		out[at++] = c;
	}
	out[at] = '\0';
	return 0;
}

/* A numeric field s..e as a string in tmp (len bytes); -1 when it cannot be one. */
static int
number_field(const char *s, const char *e, char *tmp, size_t len)
{
	if (e - s < 1 || (size_t)(e - s) >= len || *s < '0' || *s > '9')
		return -1;
	memcpy(tmp, s, (size_t)(e - s));
	tmp[e - s] = '\0';
	return 0;
}

/* A decimal field; -1 when it is not one. */
static int
get_u64(const char *s, const char *e, uint64_t *v)
{
	char tmp[24], *end;

	if (number_field(s, e, tmp, sizeof(tmp)) == -1)
		return -1;
	errno = 0;
	*v = strtoull(tmp, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

/* A time field (seconds, a fraction); -1 when it is not one. */
static int
get_time(const char *s, const char *e, double *v)
{
	char tmp[32], *end;

	if (number_field(s, e, tmp, sizeof(tmp)) == -1)
		return -1;
	*v = strtod(tmp, &end);
	return *end != '\0' ? -1 : 0;
}

int
sessionlog_parse(const char *line, size_t len, struct sessionlog_rec *rec)
{
	const char *f[NFIELDS + 1], *end = line + len, *p = line;
	uint64_t *nums[] = { &rec->created, &rec->replaced, &rec->purged,
	    &rec->unchanged, &rec->skipped, &rec->failed, &rec->bytes };
	size_t k = 0;

	memset(rec, 0, sizeof(*rec));
	f[k++] = p;
	for (; p < end; p++) {
		if (*p == '\0')
			return -1;	/* bytes a crash left unwritten */
		if (*p == '\t') {
			if (k == NFIELDS)
				return -1;
			f[k++] = p + 1;
		}
	}
	if (k != NFIELDS)
		return -1;
	f[NFIELDS] = end + 1;	/* each field ends one byte before the next */
#define FIELD(i) f[i], f[(i) + 1] - 1
	if (f[1] - f[0] != 3 || memcmp(line, "v1\t", 3) != 0 ||
	    get_time(FIELD(1), &rec->start) == -1 ||
	    get_time(FIELD(2), &rec->end) == -1 ||
	    get_text(FIELD(3), rec->status, sizeof(rec->status)) == -1 ||
	    get_text(FIELD(4), rec->fileset, sizeof(rec->fileset)) == -1 ||
	    get_text(FIELD(5), rec->peer, sizeof(rec->peer)) == -1 ||
	    get_text(FIELD(13), rec->error, sizeof(rec->error)) == -1)
		return -1;
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		if (get_u64(FIELD(6 + i), nums[i]) == -1)
			return -1;
#undef FIELD
	return 0;
}

/* NAME.1 */
static void
old_name(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s.1", name);
}

/* Opens the history for appending, rotated first when it is full. */
static int
open_for_append(int dirfd, const char *dirname, const char *name,
    size_t max_bytes, off_t *size)
{
	char old[NAME_MAX + 3];
	struct stat st;
	int fd;

	for (int tries = 0; tries < 2; tries++) {
		fd = openat(dirfd, name, O_RDWR | O_CREAT | O_APPEND |
		    O_CLOEXEC | O_NOFOLLOW, 0640);
		if (fd == -1 || fstat(fd, &st) == -1) {
			log_err("%s/%s", dirname, name);
			if (fd != -1)
				close(fd);
			return -1;
		}
		if ((size_t)st.st_size < max_bytes || tries > 0) {
			*size = st.st_size;
			return fd;
		}
		close(fd);
		old_name(old, sizeof(old), name);
		if (renameat(dirfd, name, dirfd, old) == -1) {
			log_err("%s/%s: rotating to %s", dirname, name, old);
			return -1;
		}
	}
	return -1;
}

int
sessionlog_append(int dirfd, const char *dirname, const char *name,
    const struct sessionlog_rec *rec, size_t max_bytes)
{
	char line[SESSIONLOG_LINE + 1];
	size_t n;
	off_t size;
	char last;
	int fd, rc = -1;

	line[0] = '\n';
	n = sessionlog_format(rec, line + 1, sizeof(line) - 1);
	if (n == 0) {
		log_errx("%s/%s: a session's record does not fit a line",
		    dirname, name);
		return -1;
	}
	fd = open_for_append(dirfd, dirname, name, max_bytes ? max_bytes :
	    SESSIONLOG_BYTES, &size);
	if (fd == -1)
		return -1;
	/* After a torn line, a newline first: the new record stands alone. */
	if (size > 0 && (pread(fd, &last, 1, size - 1) != 1 || last != '\n')) {
		if (write_all(fd, line, n + 1) == -1)
			goto fail;
	} else if (write_all(fd, line + 1, n) == -1)
		goto fail;
	rc = 0;
	goto out;
fail:
	log_err("%s/%s", dirname, name);
out:
	close(fd);
	return rc;
}

int
sessionlog_append_path(const char *path, const struct sessionlog_rec *rec,
    size_t max_bytes)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
	int dirfd, rc;

	if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if (slash != NULL)
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else
		snprintf(dir, sizeof(dir), ".");
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd == -1) {
		log_err("%s", dir);
		return -1;
	}
	rc = sessionlog_append(dirfd, dir, name, rec, max_bytes);
	close(dirfd);
	return rc;
}

/* The records of one part, each through keep(); a missing part has none. */
static int
read_part(int dirfd, const char *name, void (*keep)(void *, const
    struct sessionlog_rec *), void *arg)
{
	struct sessionlog_rec rec;
	char *buf = NULL, *p, *nl;
	struct stat st;
	size_t len;
	ssize_t got;
	int fd, rc = -1;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1) {
		if (errno == ENOENT)
			return 0;
		log_err("%s", name);
		return -1;
	}
	/* A part is bounded; one that grew past reason is read in part. */
	if (fstat(fd, &st) == -1) {
		log_err("%s", name);
		goto out;
	}
	len = (size_t)st.st_size < 4 * SESSIONLOG_BYTES + SESSIONLOG_LINE ?
	    (size_t)st.st_size : 4 * SESSIONLOG_BYTES + SESSIONLOG_LINE;
	buf = malloc(len + 1);
	got = buf != NULL ? read_full(fd, buf, len) : -1;
	if (got < 0) {
		log_err("%s", name);
		goto out;
	}
	/* Whole lines only: what follows the last newline is torn. */
	for (p = buf; (nl = memchr(p, '\n', (size_t)(buf + got - p))) != NULL;
	    p = nl + 1)
		if (sessionlog_parse(p, (size_t)(nl - p), &rec) == 0)
			keep(arg, &rec);
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

/* The last max records, in a ring. */
struct ring {
	struct sessionlog_rec *v;
	size_t max, n, next;
	int nomem;
};

static void
ring_keep(void *arg, const struct sessionlog_rec *rec)
{
	struct ring *r = arg;
	struct sessionlog_rec *v;

	if (r->n < r->max || r->max == 0) {
		if (r->n % 64 == 0) {
			v = realloc(r->v, (r->n + 64) * sizeof(*v));
			if (v == NULL) {
				r->nomem = 1;
				return;
			}
			r->v = v;
		}
		r->v[r->n++] = *rec;
		return;
	}
	r->v[r->next] = *rec;
	r->next = (r->next + 1) % r->max;
}

int
sessionlog_read(int dirfd, const char *name, size_t max,
    struct sessionlog_rec **out, size_t *n)
{
	char old[NAME_MAX + 3];
	struct ring r = { .max = max };
	struct sessionlog_rec *v;

	*out = NULL;
	*n = 0;
	old_name(old, sizeof(old), name);
	if (read_part(dirfd, old, ring_keep, &r) == -1 ||
	    read_part(dirfd, name, ring_keep, &r) == -1 || r.nomem) {
		if (r.nomem)
			log_errx("%s: out of memory", name);
		free(r.v);
		return -1;
	}
	/* Oldest first: the ring starts at next once it went round. */
	if (r.next != 0) {
		v = malloc(r.n * sizeof(*v));
		if (v == NULL) {
			log_err("%s", name);
			free(r.v);
			return -1;
		}
		memcpy(v, r.v + r.next, (r.n - r.next) * sizeof(*v));
		memcpy(v + (r.n - r.next), r.v, r.next * sizeof(*v));
		free(r.v);
		r.v = v;
	}
	*out = r.v;
	*n = r.n;
	return 0;
}
