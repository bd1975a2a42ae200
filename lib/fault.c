/* fault: crash and pause injection for the recovery and race tests (MIRRORFS_CRASH_AT, MIRRORFS_STOP_AT). */
#include "fault.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long crash_count, stop_count;

/* Whether spec (NAME or NAME:N) names this point; *at is N (default 1). */
static int
names(const char *spec, const char *name, unsigned long *at)
{
	size_t n = strlen(name);

	*at = 1;
	if (spec == NULL || strncmp(spec, name, n) != 0)
		return 0;
	if (spec[n] == ':')
		*at = strtoul(spec + n + 1, NULL, 10);
	else if (spec[n] != '\0')
		return 0;
	return 1;
}

void
fault_point(const char *name)
{
	unsigned long at;
	int stop = 0;

	if (names(getenv("MIRRORFS_CRASH_AT"), name, &at)) {
		pthread_mutex_lock(&fault_lock);
		if (++crash_count >= at)
			kill(getpid(), SIGKILL);
		pthread_mutex_unlock(&fault_lock);
	}
	if (names(getenv("MIRRORFS_DELAY_AT"), name, &at))
		usleep((useconds_t)(at * 1000));
	if (names(getenv("MIRRORFS_STOP_AT"), name, &at)) {
		pthread_mutex_lock(&fault_lock);
		stop = ++stop_count == at;
		pthread_mutex_unlock(&fault_lock);
		if (stop)
			kill(getpid(), SIGSTOP);
	}
}
