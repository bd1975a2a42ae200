/* identity: this thread reads files as another user (fs ids and groups), and back. */
#ifndef MIRRORFS_IDENTITY_H
#define MIRRORFS_IDENTITY_H

#include <sys/types.h>

/* What a thread was before identity_assume: restored by identity_restore. */
struct identity {
	uid_t fsuid;
	gid_t fsgid;
	gid_t *groups;		/* owned */
	int ngroups;
	int assumed;
};

/*
 * From now on the calling thread (only it: the raw setgroups, setfsuid
 * and setfsgid calls are per thread) checks file access as uid, with gid
 * and uid's supplementary groups, so it reads only what that user may.
 * Each switch is read back: the kernel does not always say it refused
 * one, and a refused switch would read with our own ids (root's). Fills
 * saved. Returns 0, or -1 logged with everything as it was.
 */
int identity_assume(struct identity *saved, uid_t uid, gid_t gid);
/* Puts back what identity_assume changed, and frees saved's groups. */
void identity_restore(struct identity *saved);

#endif
