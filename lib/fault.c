/* fault: crash injection for the recovery tests (MIRRORFS_CRASH_AT). */
#include "fault.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long fault_count;

void
fault_point(const char *name)
{
	const char *spec = getenv("MIRRORFS_CRASH_AT");
	size_t n = strlen(name);
	unsigned long at = 1;

	if (spec == NULL || strncmp(spec, name, n) != 0)
		return;
	if (spec[n] == ':')
		at = strtoul(spec + n + 1, NULL, 10);
	else if (spec[n] != '\0')
		return;
	pthread_mutex_lock(&fault_lock);
	if (++fault_count >= at)
		kill(getpid(), SIGKILL);
	pthread_mutex_unlock(&fault_lock);
}
