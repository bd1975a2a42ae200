/* knob: the counts a test sets in the environment (MIRRORFS_WINDOW, ...), checked before they are taken. */
#include "knob.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

int
knob_count(const char *name, const char *what, unsigned long long min,
    unsigned long long max, const char *instead, unsigned long long *v)
{
	const char *text = getenv(name);
	unsigned long long n;
	char *end, range[64];

	if (text == NULL || *text == '\0')
		return 0;
	errno = 0;
	n = strtoull(text, &end, 10);
	if (errno == 0 && *end == '\0' && *text != '-' && n >= min && n <= max) {
		*v = n;
		return 1;
	}
	/* A bound no test comes near is no news to the reader. */
	if (max >= 1ull << 31)
		snprintf(range, sizeof(range), "from %llu on", min);
	else
		snprintf(range, sizeof(range), "from %llu to %llu", min, max);
	log_warnx("%s=%s: not a count of %s %s: %s", name, text, what, range,
	    instead);
	return 0;
}
