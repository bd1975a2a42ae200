/* fsutil: small system-call helpers shared by the sender, receiver and store. */
#ifndef MIRRORFS_FSUTIL_H
#define MIRRORFS_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * openat2(dirfd, path) that stays beneath dirfd and follows no symlink,
 * not even a final one (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS; O_CLOEXEC
 * added). Returns the fd, or -1 with errno (ELOOP for a symlink on the
 * way, EXDEV for an escape attempt).
 */
int open_beneath(int dirfd, const char *path, int flags);

/*
 * Whether some process has the file of fd (a regular file, open for
 * read) open for write: 1 yes, 0 no, -1 when this cannot be told (no
 * lease on this file system, or not our file without CAP_LEASE; errno
 * set). The test is a read lease, which the kernel grants only when no
 * one has the file open for writing; it is released at once, so a
 * writer that comes next is not delayed.
 */
int has_writer(int fd);

struct stat;

/*
 * 1 when a and b are one version of one file (inode, size, mtime and
 * ctime alike): a file read or copied between the two stats was not
 * changed meanwhile, so the copy is not torn.
 */
int same_version(const struct stat *a, const struct stat *b);
/*
 * 1 when fd is on a FUSE filesystem (a mirrorfs mount among them), or
 * when that cannot be told: such a descriptor is not handed to a local
 * receiver, which would read it back through the mount's daemon.
 */
int on_fuse(int fd);

/*
 * Where the next data of fd at or after off starts (*data) and ends
 * (*end), within size; the file position is left at *data. Holes are
 * found with SEEK_DATA/SEEK_HOLE; a filesystem without them is all data.
 */
void next_extent(int fd, uint64_t off, uint64_t size, uint64_t *data,
    uint64_t *end);

/* Writes all n bytes, retrying on EINTR and short writes. 0, or -1 with errno. */
int write_all(int fd, const void *p, size_t n);

/*
 * Writes all n bytes at offset off (pwrite: the file offset stays),
 * retrying on EINTR and short writes, so that ENOSPC shows. 0, or -1
 * with errno (EIO for a write of nothing).
 */
int pwrite_all(int fd, const void *p, size_t n, uint64_t off);

/* Reads until n bytes or end of file. Returns bytes read, or -1 with errno. */
ssize_t read_full(int fd, void *p, size_t n);

/*
 * Raises the open-file limit as far as allowed (root: to fs.nr_open): the
 * mount holds a descriptor per open file. Returns the new soft limit.
 */
long raise_nofile(void);

/*
 * --mkpath: creates each missing directory above path (mode 0755 less the
 * umask), not path itself. 0, or -1 logged with the directory that could
 * not be made.
 */
int mkpath_parents(const char *path);

/*
 * An unnamed file in directory dir, read-write: O_TMPFILE, else a
 * mkstemp one unlinked at once where the filesystem has no O_TMPFILE.
 * Nothing of it outlives the process. Returns the fd, or -1 with errno.
 */
int open_unnamed(const char *dir);
/* open_unnamed in the directory dirfd (which may have moved since it was opened). */
int open_unnamed_at(int dirfd);

#endif
