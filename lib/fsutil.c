/* fsutil: small system-call helpers shared by the sender, receiver and store. */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

int
open_beneath(int dirfd, const char *path, int flags)
{
	struct open_how how;

	memset(&how, 0, sizeof(how));
	/* No O_NOFOLLOW: with O_PATH it would open a final symlink itself;
	   RESOLVE_NO_SYMLINKS refuses it with ELOOP instead. */
	how.flags = (uint64_t)flags | O_CLOEXEC;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
	    RESOLVE_NO_MAGICLINKS;
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

int
has_writer(int fd)
{
	if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
		fcntl(fd, F_SETLEASE, F_UNLCK);
		return 0;
	}
	return errno == EAGAIN ? 1 : -1;
}

int
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, c, n);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int
pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		w = pwrite(fd, c, n, (off_t)off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		c += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

ssize_t
read_full(int fd, void *p, size_t n)
{
	char *c = p;
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = read(fd, c + got, n - got);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

long
raise_nofile(void)
{
	struct rlimit rl;
	long max = 0;
	FILE *f;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -1;
	f = fopen("/proc/sys/fs/nr_open", "re");
	if (f != NULL) {
		if (fscanf(f, "%ld", &max) != 1)
			max = 0;
		fclose(f);
	}
	if (max > 0 && (rlim_t)max > rl.rlim_max) {
		struct rlimit up = { (rlim_t)max, (rlim_t)max };

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return max;	/* root: up to the kernel's own limit */
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return (long)rl.rlim_cur;
}

#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif

int
on_fuse(int fd)
{
	struct statfs sf;

	return fstatfs(fd, &sf) == -1 || sf.f_type == FUSE_SUPER_MAGIC;
}

int
same_version(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

void
next_extent(int fd, uint64_t off, uint64_t size, uint64_t *data,
    uint64_t *end)
{
	off_t d = lseek(fd, (off_t)off, SEEK_DATA), h;

	if (d == -1) {
		*data = errno == ENXIO ? size : off;	/* ENXIO: a hole to EOF */
		*end = size;
	} else {
		h = lseek(fd, d, SEEK_HOLE);
		*data = (uint64_t)d < size ? (uint64_t)d : size;
		*end = h == -1 || (uint64_t)h > size ? size : (uint64_t)h;
	}
	lseek(fd, (off_t)*data, SEEK_SET);
}

int
mkpath_parents(const char *path)
{
	char dir[PATH_MAX];
	size_t len = strlen(path);
	int rc = -1;

	if (len >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		log_err("%s", path);
		return -1;
	}
	memcpy(dir, path, len + 1);
	while (len > 1 && dir[len - 1] == '/')
		dir[--len] = '\0';	/* "a/b/" names b */
	/* Each '/' after the first character ends a parent: make it. */
	for (size_t i = 1; i < len; i++) {
		if (dir[i] != '/' || dir[i - 1] == '/')
			continue;
		dir[i] = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
			log_err("--mkpath: cannot create %s", dir);
			goto out;
		}
		dir[i] = '/';
	}
	rc = 0;
out:
	return rc;
}

int
open_unnamed(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	int dfd, err;

	if (fd != -1 || (errno != EOPNOTSUPP && errno != EISDIR &&
	    errno != EINVAL))
		return fd;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	fd = open_unnamed_at(dfd);
	err = errno;
	close(dfd);
	errno = err;
	return fd;
}

int
open_unnamed_at(int dirfd)
{
	char name[64];
	int fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC,
	    0600);

	if (fd != -1 || (errno != EOPNOTSUPP && errno != EISDIR &&
	    errno != EINVAL))
		return fd;
	/* No O_TMPFILE here: a name of our own, unlinked at once. */
	for (int tries = 0; tries < 100; tries++) {
		snprintf(name, sizeof(name), "mirrorfs-spool.%ld.%d",
		    (long)getpid(), rand());
		fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL |
		    O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd == -1 && errno == EEXIST)
			continue;
		if (fd == -1)
			return -1;
		if (unlinkat(dirfd, name, 0) == -1) {
			int err = errno;

			close(fd);
			errno = err;
			return -1;
		}
		return fd;
	}
	errno = EEXIST;
	return -1;
}
