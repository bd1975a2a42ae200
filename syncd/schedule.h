/* schedule: when a file set runs next (interval, daily start, start/stop window). */
#ifndef MIRRORFS_SCHEDULE_H
#define MIRRORFS_SCHEDULE_H

#include <time.h>

#include "config.h"

/*
 * 1 when now is inside fs's start/stop window (always 1 without one; a
 * window may cross midnight; start alone is a window of one minute).
 */
int schedule_in_window(const struct fileset_conf *fs, time_t now);

/*
 * The time of fs's next scheduled run after a run that ended at last_end
 * (0: it never ran). interval counts from the end of one run; start alone
 * is once a day; start+stop runs at the window's start and, with an
 * interval, every interval inside it. Returns 0 when nothing is scheduled
 * (a watch-only or run-once file set that already ran). Times are local.
 */
time_t schedule_next(const struct fileset_conf *fs, time_t now, time_t last_end);

/* Now, in seconds of CLOCK_REALTIME with its fraction (deadlines, quiet windows). */
double schedule_now(void);

#endif
