/* timefmt: RFC 3339 timestamps for logs and JSON. */
#ifndef MIRRORFS_TIMEFMT_H
#define MIRRORFS_TIMEFMT_H

#include <stddef.h>
#include <time.h>

/* Room for any timestamp timefmt_rfc3339 writes. */
#define TIMEFMT_LEN 40

/*
 * Writes ts as RFC 3339 local time with its offset from UTC
 * ("2026-11-21T20:35:25+01:00"), with digits (0-9) of fractional seconds.
 * Always NUL-terminates buf (len >= 1); a buf shorter than TIMEFMT_LEN
 * may cut it.
 */
void timefmt_rfc3339(char *buf, size_t len, const struct timespec *ts,
    int digits);

#endif
