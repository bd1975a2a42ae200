/* mountinfo: which mount a path is on, from /proc/self/mountinfo (is it a mirrorfs mount?). */
#ifndef MIRRORFS_MOUNTINFO_H
#define MIRRORFS_MOUNTINFO_H

#include <stddef.h>

/*
 * The mount that holds path (an existing path, or the nearest existing
 * directory above it): its mount point and its type into point and type,
 * and its source (for a mirrorfs mount: the store) into source. Returns
 * 1 when that mount is a mirrorfs mount (fuse.mirrorfs), 0 when it is
 * another, -1 with errno when it cannot be told.
 */
int mountinfo_mirrorfs(const char *path, char *point, size_t pointlen,
    char *source, size_t sourcelen);

/* 1 when dir is itself the mount point of a mirrorfs mount (source filled), else 0. */
int mountinfo_is_mirrorfs_point(const char *dir, char *source, size_t len);

#endif
