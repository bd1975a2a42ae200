/* schedule: when a file set runs next (interval, daily start, start/stop window). */
#include "schedule.h"

/* Minute of the local day of t. */
static int
minute_of(time_t t)
{
	struct tm tm;

	localtime_r(&t, &tm);
	return tm.tm_hour * 60 + tm.tm_min;
}

/* The next time at or after t whose local time is minute m (seconds 0). */
static time_t
next_minute(time_t t, int m)
{
	struct tm tm;
	time_t at;

	localtime_r(&t, &tm);
	tm.tm_hour = m / 60;
	tm.tm_min = m % 60;
	tm.tm_sec = 0;
	tm.tm_isdst = -1;
	at = mktime(&tm);
	if (at < t) {
		tm.tm_mday++;
		tm.tm_isdst = -1;
		at = mktime(&tm);
	}
	return at;
}

int
schedule_in_window(const struct fileset_conf *fs, time_t now)
{
	int m = minute_of(now);

	if (fs->start < 0)
		return 1;
	if (fs->stop < 0)
		return m == fs->start;
	if (fs->start <= fs->stop)
		return m >= fs->start && m < fs->stop;
	return m >= fs->start || m < fs->stop;	/* across midnight */
}

time_t
schedule_next(const struct fileset_conf *fs, time_t now, time_t last_end)
{
	time_t t;

	if (fs->start < 0) {
		if (fs->interval > 0)
			return last_end == 0 ? now : last_end + fs->interval;
		/* watch only, or run once: the first run is at start-up */
		return last_end == 0 ? now : 0;
	}
	if (fs->stop < 0 || fs->interval <= 0) {
		/* At each start (a run within the same minute is not repeated). */
		t = next_minute(now, fs->start);
		if (last_end != 0 && last_end >= t - 60 && last_end < t + 60)
			t = next_minute(t + 60, fs->start);
		return t;
	}
	/* A window with an interval: every interval while inside it. */
	if (schedule_in_window(fs, now)) {
		if (last_end == 0 || !schedule_in_window(fs, last_end) ||
		    now - last_end > 86400)
			return now;
		t = last_end + fs->interval;
		if (schedule_in_window(fs, t))
			return t;
	}
	return next_minute(now, fs->start);
}

double
schedule_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
