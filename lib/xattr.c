/* xattr: an entry's extended attributes (POSIX ACLs and file capabilities among them), in one canonical form. */
#include "xattr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "buf.h"

#define CAP_NAME "security.capability"

/* One attribute of a parsed blob or of a file: name and value point elsewhere. */
struct xattr_one {
	const char *name;
	size_t namelen;
	const uint8_t *value;
	uint32_t vlen;
};

/* The attribute a failed apply names (one per thread: messages only). */
static __thread char failed_name[XATTR_MAX_NAME + 1];

unsigned
xattr_ns_of(const char *name)
{
	if (strncmp(name, "user.", 5) == 0)
		return XATTR_NS_USER;
	if (strncmp(name, "trusted.", 8) == 0)
		return XATTR_NS_TRUSTED;
	if (strncmp(name, "security.", 9) == 0)
		return XATTR_NS_SECURITY;
	if (strcmp(name, "system.posix_acl_access") == 0 ||
	    strcmp(name, "system.posix_acl_default") == 0)
		return XATTR_NS_ACL;
	return 0;
}

unsigned
xattr_ns_settable(void)
{
	return geteuid() == 0 ? XATTR_NS_ALL : XATTR_NS_USER | XATTR_NS_ACL;
}

/*
 * How the xattr calls reach a file: through its own descriptor (the f*
 * calls: no path walk), through /proc/self/fd/FD when that descriptor
 * is O_PATH (the f* calls say EBADF; following the magic link reaches
 * the file itself, a symlink's own inode included), or as NAME inside the
 * directory FD, not following NAME (the l* calls): one path walk, no open
 * and close. A walk through /proc was 3% of a receiver's time.
 */
struct xpath {
	char p[64 + XATTR_MAX_NAME + 1];
	int fd;			/* -1: by p */
	int nofollow;
};

/* By fd's own calls; p is written only if they say EBADF (by_path_now). */
static int
xpath_fd(struct xpath *x, int fd)
{
	x->p[0] = '\0';
	x->fd = fd;
	x->nofollow = 0;
	return 0;
}

static int
xpath_at(struct xpath *x, int dirfd, const char *name)
{
	if (strchr(name, '/') != NULL || strlen(name) > XATTR_MAX_NAME) {
		errno = EINVAL;
		return -1;
	}
	snprintf(x->p, sizeof(x->p), "/proc/self/fd/%d/%s", dirfd, name);
	x->fd = -1;
	x->nofollow = 1;
	return 0;
}

/* 1 when a call through x's descriptor failed only for being O_PATH: go by p. */
static int
by_path_now(struct xpath *x, ssize_t r)
{
	if (r != -1 || errno != EBADF || x->fd == -1)
		return 0;
	snprintf(x->p, sizeof(x->p), "/proc/self/fd/%d", x->fd);
	x->fd = -1;
	return 1;
}

static ssize_t
x_list(struct xpath *x, char *buf, size_t n)
{
	ssize_t r;

	if (x->fd != -1 && !by_path_now(x, r = flistxattr(x->fd, buf, n)))
		return r;
	return x->nofollow ? llistxattr(x->p, buf, n) : listxattr(x->p, buf, n);
}

static ssize_t
x_get(struct xpath *x, const char *name, void *buf, size_t n)
{
	ssize_t r;

	if (x->fd != -1 &&
	    !by_path_now(x, r = fgetxattr(x->fd, name, buf, n)))
		return r;
	return x->nofollow ? lgetxattr(x->p, name, buf, n) :
	    getxattr(x->p, name, buf, n);
}

/* Only through a descriptor (xpath_fd): the l* forms are never needed. */
static int
x_set(struct xpath *x, const char *name, const void *v, size_t n)
{
	int r;

	if (x->fd != -1 && !by_path_now(x, r = fsetxattr(x->fd, name, v, n, 0)))
		return r;
	return setxattr(x->p, name, v, n, 0);
}

static int
x_remove(struct xpath *x, const char *name)
{
	int r;

	if (x->fd != -1 && !by_path_now(x, r = fremovexattr(x->fd, name)))
		return r;
	return removexattr(x->p, name);
}

static int
one_cmp(const void *a, const void *b)
{
	return strcmp(((const struct xattr_one *)a)->name,
	    ((const struct xattr_one *)b)->name);
}

/* The names of the file at x, NUL-separated in *list (malloc'ed). */
static ssize_t
list_names(struct xpath *x, char **list)
{
	ssize_t n;

	*list = NULL;
	for (int tries = 0; tries < 5; tries++) {
		n = x_list(x, NULL, 0);
		if (n == -1 && (errno == ENOTSUP || errno == ENODATA))
			return 0;	/* a filesystem without attributes */
		if (n <= 0)
			return n;
		free(*list);
		if ((*list = malloc((size_t)n)) == NULL)
			return -1;
		n = x_list(x, *list, (size_t)n);
		if (n >= 0 || errno != ERANGE)
			return n;	/* ERANGE: it grew meanwhile */
	}
	errno = EAGAIN;
	return -1;
}

/* Reads the value of name into *v (malloc'ed); -1 with errno (ENODATA: gone). */
static ssize_t
get_value(struct xpath *x, const char *name, uint8_t **v)
{
	ssize_t n;

	*v = NULL;
	for (int tries = 0; tries < 5; tries++) {
		n = x_get(x, name, NULL, 0);
		if (n < 0)
			return -1;
		if (n > XATTR_MAX_VALUE) {
			errno = E2BIG;
			return -1;
		}
		free(*v);
		if ((*v = malloc(n ? (size_t)n : 1)) == NULL)
			return -1;
		n = x_get(x, name, *v, (size_t)n);
		if (n >= 0 || errno != ERANGE)
			return n;
	}
	errno = EAGAIN;
	return -1;
}

static int
encode(struct xattr_one *v, size_t n, uint8_t **blob, uint32_t *len)
{
	struct buf b;
	int r;

	*blob = NULL;
	*len = 0;
	if (n == 0)
		return 0;
	if (n > 1)
		qsort(v, n, sizeof(*v), one_cmp);
	buf_init(&b);
	r = buf_put_u16(&b, (uint16_t)n);
	for (size_t i = 0; i < n && r == 0; i++)
		r = buf_put_u8(&b, (uint8_t)v[i].namelen) ||
		    buf_put(&b, v[i].name, v[i].namelen) ||
		    buf_put_u32(&b, v[i].vlen) ||
		    buf_put(&b, v[i].value, v[i].vlen);
	if (r != 0 || b.len > XATTR_MAX_ENTRY) {
		buf_release(&b);
		errno = r != 0 ? ENOMEM : E2BIG;
		return -1;
	}
	*blob = b.data;
	*len = (uint32_t)b.len;
	return 0;
}

/* xattr_read_fd of the file x reaches. */
static int
read_x(struct xpath *x, unsigned ns, uint8_t **blob, uint32_t *len)
{
	char *list = NULL;
	struct xattr_one *v = NULL;
	uint8_t **values = NULL;
	size_t n = 0, cap = 0;
	ssize_t got, total;
	int rc = -1;

	*blob = NULL;
	*len = 0;
	if ((total = list_names(x, &list)) == -1)
		goto out;
	for (char *name = list; name < list + total; name += strlen(name) + 1) {
		uint8_t *val;

		if (!(xattr_ns_of(name) & ns) || strlen(name) > XATTR_MAX_NAME)
			continue;
		got = get_value(x, name, &val);
		if (got == -1) {
			free(val);
			if (errno == ENODATA)
				continue;	/* removed since the listing */
			goto out;
		}
		if (n == cap) {
			void *nv, *nvals;

			cap = cap ? cap * 2 : 8;
			nv = realloc(v, cap * sizeof(*v));
			if (nv != NULL)
				v = nv;
			nvals = realloc(values, cap * sizeof(*values));
			if (nvals != NULL)
				values = nvals;
			if (nv == NULL || nvals == NULL) {
				free(val);
				goto out;
			}
		}
		values[n] = val;
		v[n].name = name;
		v[n].namelen = strlen(name);
		v[n].value = val;
		v[n].vlen = (uint32_t)got;
		n++;
	}
	rc = encode(v, n, blob, len);
out:
	for (size_t i = 0; i < n; i++)
		free(values[i]);
	free(values);
	free(v);
	free(list);
	return rc;
}

int
xattr_read_fd(int fd, unsigned ns, uint8_t **blob, uint32_t *len)
{
	struct xpath x;

	xpath_fd(&x, fd);
	return read_x(&x, ns, blob, len);
}

int
xattr_read_at(int dirfd, const char *name, unsigned ns, uint8_t **blob,
    uint32_t *len)
{
	struct xpath x;

	*blob = NULL;
	*len = 0;
	if (xpath_at(&x, dirfd, name) == -1)
		return -1;
	return read_x(&x, ns, blob, len);
}

/*
 * Parses a blob into *v (malloc'ed; names point into a copy of each name
 * in *names). 0, or -1 with *why.
 */
static int
parse(const uint8_t *blob, size_t len, unsigned ns, struct xattr_one **v,
    size_t *n, char **names, const char **why)
{
	struct reader r;
	size_t cnt, at = 0;
	char *nm;

	*v = NULL;
	*names = NULL;
	*n = 0;
	if (len == 0)
		return 0;
	*why = "malformed extended attributes";
	if (len > XATTR_MAX_ENTRY) {
		*why = "extended attributes over the limit of one entry";
		return -1;
	}
	reader_init(&r, blob, len);
	cnt = reader_u16(&r);
	if (r.failed || cnt == 0)
		return -1;
	*v = calloc(cnt, sizeof(**v));
	*names = malloc(len);	/* more than the names and their NULs need */
	if (*v == NULL || *names == NULL) {
		*why = "out of memory";
		goto bad;
	}
	nm = *names;
	for (size_t i = 0; i < cnt; i++) {
		size_t nl = reader_u8(&r);
		const void *np = reader_bytes(&r, nl);
		uint32_t vl = reader_u32(&r);
		const void *vp = reader_bytes(&r, vl);

		if (r.failed || nl == 0 || memchr(np, '\0', nl) != NULL ||
		    vl > XATTR_MAX_VALUE)
			goto bad;
		memcpy(nm + at, np, nl);
		nm[at + nl] = '\0';
		(*v)[i].name = nm + at;
		(*v)[i].namelen = nl;
		(*v)[i].value = vp;
		(*v)[i].vlen = vl;
		at += nl + 1;
		if (!(xattr_ns_of((*v)[i].name) & ns)) {
			*why = "an extended attribute outside the session's "
			    "namespaces";
			goto bad;
		}
		if (i > 0 && strcmp((*v)[i - 1].name, (*v)[i].name) >= 0) {
			*why = "extended attribute names not in order";
			goto bad;
		}
	}
	if (reader_finish(&r) == -1)
		goto bad;
	*n = cnt;
	return 0;
bad:
	free(*v);
	free(*names);
	*v = NULL;
	*names = NULL;
	return -1;
}

int
xattr_check(const uint8_t *blob, size_t len, unsigned ns, const char **why)
{
	struct xattr_one *v;
	char *names;
	size_t n;

	if (parse(blob, len, ns, &v, &n, &names, why) == -1)
		return -1;
	free(v);
	free(names);
	return 0;
}

static int
find(const struct xattr_one *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Sets one attribute unless the file has that value already. */
static int
set_one(struct xpath *x, const struct xattr_one *a)
{
	uint8_t *cur;
	ssize_t got = get_value(x, a->name, &cur);
	int same = got == (ssize_t)a->vlen &&
	    (a->vlen == 0 || memcmp(cur, a->value, a->vlen) == 0);

	free(cur);
	if (same)
		return 0;
	return x_set(x, a->name, a->value, a->vlen);
}

static int
apply_failed(const char *name, const char **failed)
{
	snprintf(failed_name, sizeof(failed_name), "%s", name);
	*failed = failed_name;
	if (errno == ENOTSUP)
		errno = EOPNOTSUPP;
	return -1;
}

int
xattr_apply_fd(int fd, unsigned ns, const uint8_t *blob, uint32_t len,
    const char **failed)
{
	char *list = NULL, *names = NULL;
	struct xattr_one *v = NULL;
	struct xpath x;
	const char *why;
	ssize_t total;
	size_t n;
	int cap = -1, rc = -1;

	*failed = "";
	if (parse(blob, len, ns, &v, &n, &names, &why) == -1) {
		errno = EINVAL;
		goto out;
	}
	xpath_fd(&x, fd);
	total = list_names(&x, &list);
	if (total == -1)
		goto out;
	for (char *nm = list; nm < list + total; nm += strlen(nm) + 1)
		if ((xattr_ns_of(nm) & ns) && find(v, n, nm) == -1 &&
		    x_remove(&x, nm) == -1 && errno != ENODATA) {
			apply_failed(nm, failed);
			goto out;
		}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].name, CAP_NAME) == 0) {
			cap = (int)i;
			continue;
		}
		if (set_one(&x, &v[i]) == -1) {
			apply_failed(v[i].name, failed);
			goto out;
		}
	}
	if (cap >= 0 && set_one(&x, &v[cap]) == -1) {
		apply_failed(CAP_NAME, failed);
		goto out;
	}
	rc = 0;
out:
	free(list);
	free(names);
	free(v);
	return rc;
}

static int
same_x(struct xpath *x, unsigned ns, const uint8_t *blob, uint32_t len)
{
	uint8_t *mine;
	uint32_t n;
	int same;

	if (read_x(x, ns, &mine, &n) == -1)
		return -1;
	same = n == len && (n == 0 || memcmp(mine, blob, n) == 0);
	free(mine);
	return same;
}

int
xattr_same_fd(int fd, unsigned ns, const uint8_t *blob, uint32_t len)
{
	struct xpath x;

	xpath_fd(&x, fd);
	return same_x(&x, ns, blob, len);
}

int
xattr_same_at(int dirfd, const char *name, unsigned ns, const uint8_t *blob,
    uint32_t len)
{
	struct xpath x;

	if (xpath_at(&x, dirfd, name) == -1)
		return -1;
	return same_x(&x, ns, blob, len);
}
