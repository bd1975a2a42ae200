/* trigger: a command run after a session that changed something. */
#include "trigger.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

static void
put(const char *name, unsigned long long v)
{
	char num[32];

	snprintf(num, sizeof(num), "%llu", v);
	setenv(name, num, 1);
}

void
trigger_run(const char *cmd, const char *what, const char *name,
    const char *dest, const struct result *r)
{
	char key[64];
	int status;
	pid_t pid;

	if (cmd == NULL || r->created + r->replaced + r->purged == 0)
		return;
	pid = fork();
	if (pid == 0) {
		snprintf(key, sizeof(key), "MIRRORFS_%s", what);
		setenv(key, name, 1);
		setenv("MIRRORFS_DEST", dest, 1);
		put("MIRRORFS_CREATED", r->created);
		put("MIRRORFS_REPLACED", r->replaced);
		put("MIRRORFS_PURGED", r->purged);
		put("MIRRORFS_SKIPPED", r->skipped);
		put("MIRRORFS_FAILED", r->failed);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (pid == -1 || waitpid(pid, &status, 0) == -1) {
		log_err("%s: trigger", name);
		return;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		log_warnx("%s: trigger '%s' failed (status %d)", name, cmd,
		    WIFEXITED(status) ? WEXITSTATUS(status) :
		    128 + WTERMSIG(status));
}
