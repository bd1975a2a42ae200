/* trigger: a command run after a session that changed something. */
#include "trigger.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "log.h"

extern char **environ;

#define TRIGGER_VARS 7

/* environ and the session's variables, in env (strings in vars). */
static char **
trigger_env(char vars[TRIGGER_VARS][4200], const char *what,
    const char *name, const char *dest, const struct result *r)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	env = calloc(n + TRIGGER_VARS + 1, sizeof(*env));
	if (env == NULL)
		return NULL;
	snprintf(vars[0], sizeof(vars[0]), "MIRRORFS_%s=%s", what, name);
	snprintf(vars[1], sizeof(vars[1]), "MIRRORFS_DEST=%s", dest);
	snprintf(vars[2], sizeof(vars[2]), "MIRRORFS_CREATED=%llu",
	    (unsigned long long)r->created);
	snprintf(vars[3], sizeof(vars[3]), "MIRRORFS_REPLACED=%llu",
	    (unsigned long long)r->replaced);
	snprintf(vars[4], sizeof(vars[4]), "MIRRORFS_PURGED=%llu",
	    (unsigned long long)r->purged);
	snprintf(vars[5], sizeof(vars[5]), "MIRRORFS_SKIPPED=%llu",
	    (unsigned long long)r->skipped);
	snprintf(vars[6], sizeof(vars[6]), "MIRRORFS_FAILED=%llu",
	    (unsigned long long)r->failed);
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "MIRRORFS_", 9) != 0)
			env[k++] = environ[i];
	for (int i = 0; i < TRIGGER_VARS; i++)
		env[k++] = vars[i];
	return env;
}

/* Waits for pid, up to TRIGGER_TIMEOUT_S; then its process group is killed. */
static int
wait_trigger(pid_t pid, const char *name, int *status)
{
	time_t until = time(NULL) + TRIGGER_TIMEOUT_S;
	pid_t r;

	while ((r = waitpid(pid, status, WNOHANG)) == 0 && time(NULL) < until)
		usleep(20000);
	if (r == 0) {
		log_warnx("%s: trigger still running after %d s: killed", name,
		    TRIGGER_TIMEOUT_S);
		kill(-pid, SIGKILL);
		r = waitpid(pid, status, 0);
	}
	return r == pid ? 0 : -1;
}

void
trigger_run(const char *cmd, const char *what, const char *name,
    const char *dest, const struct result *r)
{
	char vars[TRIGGER_VARS][4200];
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	posix_spawnattr_t attr;
	char **env;
	int status, err;
	pid_t pid;

	if (cmd == NULL || r->created + r->replaced + r->purged == 0)
		return;
	env = trigger_env(vars, what, name, dest, r);
	if (env == NULL) {
		log_err("%s: trigger", name);
		return;
	}
	/* Its own process group, so an overdue one goes with its children. */
	child_attr_init(&attr, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&attr, 0);
	err = posix_spawn(&pid, "/bin/sh", NULL, &attr, argv, env);
	posix_spawnattr_destroy(&attr);
	free(env);
	if (err != 0) {
		errno = err;
		log_err("%s: trigger", name);
		return;
	}
	if (wait_trigger(pid, name, &status) == -1) {
		log_err("%s: trigger", name);
		return;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		log_warnx("%s: trigger '%s' failed (status %d)", name, cmd,
		    WIFEXITED(status) ? WEXITSTATUS(status) :
		    128 + WTERMSIG(status));
}
