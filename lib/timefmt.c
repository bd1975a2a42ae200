/* timefmt: RFC 3339 timestamps for logs and JSON. */
#include "timefmt.h"

#include <stdio.h>
#include <string.h>

void
timefmt_rfc3339(char *buf, size_t len, const struct timespec *ts, int digits)
{
	char date[32], frac[16] = "", zone[8];
	struct tm tm;
	long ns = ts->tv_nsec;

	if (localtime_r(&ts->tv_sec, &tm) == NULL) {
		snprintf(buf, len, "%s", "1970-01-01T00:00:00Z");
		return;
	}
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	if (digits > 9)
		digits = 9;
	if (digits > 0) {
		for (int i = digits; i < 9; i++)
			ns /= 10;
		snprintf(frac, sizeof(frac), ".%0*ld", digits, ns);
	}
	/* strftime's %z is +hhmm; RFC 3339 wants +hh:mm. */
	strftime(zone, sizeof(zone), "%z", &tm);
	snprintf(buf, len, "%s%s%.3s:%.2s", date, frac, zone, zone + 3);
}
