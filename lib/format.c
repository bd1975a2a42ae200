/* format: how times, sizes and counts are written for people, logs and JSON. */
#include "format.h"

#include <stdio.h>
#include <string.h>

void
format_rfc3339(char *buf, size_t len, const struct timespec *ts, int digits)
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

void
format_bytes(char *buf, size_t len, double bytes)
{
	const char *units = "BKMGTP";

	while (bytes >= 1024 && units[1] != '\0') {
		bytes /= 1024;
		units++;
	}
	snprintf(buf, len, units[0] == 'B' ? "%.0f%c" : "%.1f%ciB", bytes,
	    units[0]);
}

void
format_count(char *buf, size_t len, uint64_t n)
{
	char digits[24], out[32];
	size_t nd, o = 0;

	nd = (size_t)snprintf(digits, sizeof(digits), "%llu",
	    (unsigned long long)n);
	for (size_t i = 0; i < nd; i++) {
		if (i > 0 && (nd - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
	snprintf(buf, len, "%s", out);
}

void
format_duration(char *buf, size_t len, double seconds)
{
	unsigned long s = seconds > 0 ? (unsigned long)(seconds + 0.5) : 0;

	if (s >= 3600)
		snprintf(buf, len, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60,
		    s % 60);
	else
		snprintf(buf, len, "%lu:%02lu", s / 60, s % 60);
}
