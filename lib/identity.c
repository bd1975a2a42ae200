/* identity: this thread reads files as another user (fs ids and groups), and back. */
#include "identity.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

/* setgroups(2) for this thread alone (glibc's wrapper sets every thread's). */
static int
thread_setgroups(int n, const gid_t *groups)
{
	return (int)syscall(SYS_setgroups, (size_t)n, groups);
}

/* The supplementary groups of uid (with gid), malloc'ed into *out. */
static int
groups_of(uid_t uid, gid_t gid, gid_t **out, int *n)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int cap = 32;

	*out = NULL;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || res == NULL) {
		/* A uid with no name has no supplementary groups. */
		*out = malloc(sizeof(gid_t));
		if (*out == NULL)
			return -1;
		(*out)[0] = gid;
		*n = 1;
		return 0;
	}
	for (;;) {
		gid_t *v = realloc(*out, (size_t)cap * sizeof(*v));

		if (v == NULL)
			return -1;
		*out = v;
		*n = cap;
		if (getgrouplist(pw.pw_name, gid, v, n) != -1)
			return 0;
		cap = *n > cap ? *n : cap * 2;
	}
}

/* Saves this thread's supplementary groups. */
static int
save_groups(struct identity *saved)
{
	saved->ngroups = getgroups(0, NULL);
	if (saved->ngroups < 0)
		return -1;
	saved->groups = malloc(((size_t)saved->ngroups + 1) * sizeof(gid_t));
	if (saved->groups == NULL)
		return -1;
	saved->ngroups = getgroups(saved->ngroups, saved->groups);
	return saved->ngroups < 0 ? -1 : 0;
}

/* Whether this thread's groups are exactly v (in any order). */
static int
groups_are(const gid_t *v, int n)
{
	gid_t *now = malloc(((size_t)n + 1) * sizeof(*now));
	int k = now ? getgroups(n + 1, now) : -1, same = k == n;

	for (int i = 0; same && i < n; i++) {
		int found = 0;

		for (int j = 0; j < k && !found; j++)
			found = now[j] == v[i];
		same = found;
	}
	free(now);
	return same;
}

static void
refused(uid_t uid, gid_t gid, const char *call)
{
	log_errx("cannot read the source as user %lu (group %lu): %s was "
	    "refused (mirrord needs CAP_SETUID and CAP_SETGID): nothing is "
	    "read", (unsigned long)uid, (unsigned long)gid, call);
}

int
identity_assume(struct identity *saved, uid_t uid, gid_t gid)
{
	gid_t *groups = NULL;
	int n = 0, rc = -1;

	memset(saved, 0, sizeof(*saved));
	if (save_groups(saved) == -1 || groups_of(uid, gid, &groups, &n) == -1) {
		log_err("the groups of user %lu", (unsigned long)uid);
		goto out;
	}
	if (thread_setgroups(n, groups) == -1 || !groups_are(groups, n)) {
		refused(uid, gid, "setgroups");
		goto out;
	}
	saved->fsgid = (gid_t)setfsgid(gid);
	if ((gid_t)setfsgid((gid_t)-1) != gid) {
		refused(uid, gid, "setfsgid");
		setfsgid(saved->fsgid);
		goto out;
	}
	saved->fsuid = (uid_t)setfsuid(uid);
	if ((uid_t)setfsuid((uid_t)-1) != uid) {
		refused(uid, gid, "setfsuid");
		setfsuid(saved->fsuid);
		setfsgid(saved->fsgid);
		goto out;
	}
	saved->assumed = 1;
	rc = 0;
out:
	if (rc == -1 && saved->groups != NULL) {
		thread_setgroups(saved->ngroups, saved->groups);
		free(saved->groups);
		saved->groups = NULL;
	}
	free(groups);
	return rc;
}

void
identity_restore(struct identity *saved)
{
	if (!saved->assumed)
		return;
	setfsuid(saved->fsuid);
	setfsgid(saved->fsgid);
	thread_setgroups(saved->ngroups, saved->groups);
	free(saved->groups);
	memset(saved, 0, sizeof(*saved));
}
