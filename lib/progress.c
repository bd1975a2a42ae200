/* progress: a live "files, bytes, rate, ETA" line on a terminal. */
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_REDRAW 0.25	/* seconds between redraws */

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void
progress_init(struct progress *p, int wanted)
{
	memset(p, 0, sizeof(*p));
	p->enabled = wanted && isatty(STDERR_FILENO);
}

void
progress_start(struct progress *p, uint64_t files, uint64_t bytes)
{
	p->files_total = files;
	p->bytes_total = bytes;
	p->started = now();
}

static void
human(char *out, size_t len, double bytes)
{
	const char *units = "BKMGTP";

	while (bytes >= 1024 && units[1] != '\0') {
		bytes /= 1024;
		units++;
	}
	snprintf(out, len, units[0] == 'B' ? "%.0f%c" : "%.1f%ciB", bytes,
	    units[0]);
}

static void
progress_draw(struct progress *p, double t)
{
	char done[32], total[32], rate[32], eta[32] = "--:--";
	double elapsed = t - p->started, bps = 0, left;

	if (elapsed > 0)
		bps = p->bytes_done / elapsed;
	if (bps > 0 && p->bytes_total >= p->bytes_done) {
		left = (p->bytes_total - p->bytes_done) / bps;
		snprintf(eta, sizeof(eta), "%d:%02d", (int)left / 60,
		    (int)left % 60);
	}
	human(done, sizeof(done), (double)p->bytes_done);
	human(total, sizeof(total), (double)p->bytes_total);
	human(rate, sizeof(rate), bps);
	fprintf(stderr, "\r%llu/%llu files  %s/%s  %s/s  ETA %s   ",
	    (unsigned long long)p->files_done,
	    (unsigned long long)p->files_total, done, total, rate, eta);
	p->last_drawn = t;
	p->drawn = 1;
}

void
progress_add(struct progress *p, uint64_t files, uint64_t bytes)
{
	double t;

	p->files_done += files;
	p->bytes_done += bytes;
	if (!p->enabled)
		return;
	t = now();
	if (t - p->last_drawn >= PROGRESS_REDRAW)
		progress_draw(p, t);
}

void
progress_finish(struct progress *p)
{
	if (!p->enabled || p->files_total == 0)
		return;
	progress_draw(p, now());
	fputc('\n', stderr);
	p->enabled = 0;
}
