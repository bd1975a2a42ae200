/* format: how times, sizes and counts are written for people, logs and JSON. */
#ifndef MIRRORFS_FORMAT_H
#define MIRRORFS_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Room for anything these functions write. */
#define FORMAT_TIME_LEN 40
#define FORMAT_LEN 32

/*
 * Each writes into buf and always NUL-terminates it (len >= 1); a buf
 * shorter than the _LEN above may cut the text.
 */

/*
 * ts as RFC 3339 local time with its offset from UTC
 * ("2026-11-21T20:35:25+01:00"), with digits (0-9) of fractional seconds.
 */
void format_rfc3339(char *buf, size_t len, const struct timespec *ts,
    int digits);
/* bytes for people: "512B", "1.5KiB", "12.0MiB" (powers of 1024). */
void format_bytes(char *buf, size_t len, double bytes);
/* n with thousands separated, as rsync's --stats writes it: "1,234,567". */
void format_count(char *buf, size_t len, uint64_t n);
/* seconds as M:SS, or H:MM:SS from an hour on. */
void format_duration(char *buf, size_t len, double seconds);

#endif
