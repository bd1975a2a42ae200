/* syncfile: STORE/.mirrorfs/SYNC, the entry naming the master of a store. */
#include "syncfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "path.h"

#define SYNC_TMP "SYNC.tmp"

void
sync_host(char *host, size_t hostlen, char *boot, size_t bootlen)
{
	FILE *f;

	if (gethostname(host, hostlen) == -1)
		snprintf(host, hostlen, "unknown");
	host[hostlen - 1] = '\0';
	snprintf(boot, bootlen, "unknown");
	f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (f != NULL) {
		if (fgets(boot, (int)bootlen, f) != NULL)
			boot[strcspn(boot, "\n")] = '\0';
		fclose(f);
	}
}

void
sync_entry_self(struct sync_entry *e, const char *instance)
{
	time_t now = time(NULL);
	struct tm tm;

	memset(e, 0, sizeof(*e));
	snprintf(e->instance, sizeof(e->instance), "%s", instance);
	e->pid = getpid();
	sync_host(e->host, sizeof(e->host), e->boot_id, sizeof(e->boot_id));
	gmtime_r(&now, &tm);
	strftime(e->started, sizeof(e->started), "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
set_field(struct sync_entry *e, const char *key, const char *val)
{
	char *end;
	long pid;

	if (strcmp(key, "instance") == 0)
		snprintf(e->instance, sizeof(e->instance), "%s", val);
	else if (strcmp(key, "host") == 0)
		snprintf(e->host, sizeof(e->host), "%s", val);
	else if (strcmp(key, "boot_id") == 0)
		snprintf(e->boot_id, sizeof(e->boot_id), "%s", val);
	else if (strcmp(key, "started") == 0)
		snprintf(e->started, sizeof(e->started), "%s", val);
	else if (strcmp(key, "pid") == 0) {
		errno = 0;
		pid = strtol(val, &end, 10);
		if (errno || *end || pid <= 0)
			return -1;
		e->pid = (pid_t)pid;
	}
	/* Unknown keys are kept for later versions: ignored here. */
	return 0;
}

int
sync_entry_read(int metafd, const char *store_path, struct sync_entry *e)
{
	char *line = NULL, *eq;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;
	FILE *f;
	int fd, rc = -1;

	memset(e, 0, sizeof(*e));
	fd = openat(metafd, SYNC_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT)
			return 0;
		log_err("%s/%s/%s", store_path, PATH_META, SYNC_NAME);
		return -1;
	}
	f = fdopen(fd, "r");
	if (f == NULL) {
		close(fd);
		return -1;
	}
	while ((n = getline(&line, &cap, f)) != -1) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		eq = strchr(line, '=');
		if (eq == NULL || (*eq = '\0', set_field(e, line, eq + 1)) == -1) {
			log_errx("%s/%s/%s:%u: malformed line", store_path,
			    PATH_META, SYNC_NAME, lineno);
			goto out;
		}
	}
	if (e->instance[0] == '\0' || e->pid == 0 || e->host[0] == '\0') {
		log_errx("%s/%s/%s: entry lacks instance, pid or host",
		    store_path, PATH_META, SYNC_NAME);
		goto out;
	}
	rc = 1;
out:
	free(line);
	fclose(f);
	return rc;
}

int
sync_entry_write(int metafd, const char *store_path, const struct sync_entry *e)
{
	char text[1024];
	int fd, len, rc = -1;

	len = snprintf(text, sizeof(text), "instance=%s\npid=%ld\nhost=%s\n"
	    "boot_id=%s\nstarted=%s\n", e->instance, (long)e->pid, e->host,
	    e->boot_id, e->started);
	fd = openat(metafd, SYNC_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	if (fd == -1 || write_all(fd, text, (size_t)len) == -1 ||
	    fsync(fd) == -1 ||
	    renameat(metafd, SYNC_TMP, metafd, SYNC_NAME) == -1 ||
	    fsync(metafd) == -1)
		log_err("%s/%s/%s", store_path, PATH_META, SYNC_NAME);
	else
		rc = 0;
	if (fd != -1)
		close(fd);
	return rc;
}

int
sync_entry_remove(int metafd, const char *store_path)
{
	if (unlinkat(metafd, SYNC_NAME, 0) == -1 && errno != ENOENT) {
		log_err("%s/%s/%s", store_path, PATH_META, SYNC_NAME);
		return -1;
	}
	fsync(metafd);
	return 0;
}

void
sync_entry_describe(const struct sync_entry *e, char *buf, size_t len)
{
	snprintf(buf, len, "instance %s (pid %ld on host %s since %s)",
	    e->instance, (long)e->pid, e->host,
	    e->started[0] ? e->started : "an unknown time");
}
