/* partial: what an interrupted session received, kept in .mirrorfs/partial/ for the next one. */
#include "partial.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

static void
partial_name(char *out, size_t len, const char *path, const struct entry *a)
{
	XXH3_state_t *st = XXH3_createState();
	XXH128_hash_t h;

	XXH3_128bits_reset(st);
	XXH3_128bits_update(st, path, strlen(path) + 1);
	XXH3_128bits_update(st, &a->size, sizeof(a->size));
	XXH3_128bits_update(st, &a->mtime_sec, sizeof(a->mtime_sec));
	XXH3_128bits_update(st, &a->mtime_nsec, sizeof(a->mtime_nsec));
	h = XXH3_128bits_digest(st);
	XXH3_freeState(st);
	snprintf(out, len, "p%016llx%016llx", (unsigned long long)h.high64,
	    (unsigned long long)h.low64);
}

void
partial_keep(int stagingfd, const char *staged, int partialfd,
    const char *path, const struct entry *attr)
{
	int fd;

	if (partialfd < 0)
		return;
	/* Kept only when its bytes are on disk: a later session counts on them. */
	fd = openat(stagingfd, staged, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return;
	if (fdatasync(fd) == 0)
		partial_keep_synced(stagingfd, staged, partialfd, path, attr);
	close(fd);
}

void
partial_keep_synced(int stagingfd, const char *staged, int partialfd,
    const char *path, const struct entry *attr)
{
	char name[64];

	if (partialfd < 0)
		return;
	partial_name(name, sizeof(name), path, attr);
	renameat(stagingfd, staged, partialfd, name);
}

void
partial_sync(int partialfd)
{
	if (partialfd >= 0)
		fsync(partialfd);
}

uint64_t
partial_claim(int partialfd, int stagingfd, const char *staged,
    const char *path, const struct entry *attr)
{
	char name[64];
	struct stat st;

	if (partialfd < 0)
		return 0;
	partial_name(name, sizeof(name), path, attr);
	if (fstatat(partialfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > attr->size) {
		unlinkat(partialfd, name, 0);
		return 0;
	}
	unlinkat(stagingfd, staged, 0);
	if (renameat(partialfd, name, stagingfd, staged) == -1)
		return 0;
	return (uint64_t)st.st_size;
}

/* Opens the partial directory for reading (its own fd), or NULL. */
static DIR *
open_listing(int partialfd)
{
	DIR *d;
	int fd;

	if (partialfd < 0)
		return NULL;
	fd = openat(partialfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return NULL;
	if ((d = fdopendir(fd)) == NULL)
		close(fd);
	return d;
}

int
partial_any(int partialfd)
{
	struct dirent *de;
	DIR *d = open_listing(partialfd);
	int any = 0;

	if (d == NULL)
		return 1;	/* cannot tell: look for each file */
	while (!any && (de = readdir(d)) != NULL)
		any = de->d_name[0] != '.';
	closedir(d);
	return any;
}

void
partial_clear(int partialfd)
{
	struct dirent *de;
	DIR *d = open_listing(partialfd);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			unlinkat(partialfd, de->d_name, 0);
	closedir(d);
}
