/* progress: a live line on a terminal: the whole transfer, its rate and ETA, and the file in flight. */
#include "progress.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "clock.h"
#include "format.h"

#define PROGRESS_REDRAW 0.25	/* seconds between redraws */
#define PROGRESS_WIDTH 80	/* when the terminal does not say */
#define PROGRESS_MAX_WIDTH 512

void
progress_init(struct progress *p, int wanted)
{
	memset(p, 0, sizeof(*p));
	p->out = stderr;
	p->enabled = wanted && isatty(STDERR_FILENO);
}

void
progress_start(struct progress *p, uint64_t files, uint64_t bytes)
{
	p->files_total = files;
	p->bytes_total = bytes;
	p->started = clock_now();
}

void
progress_more(struct progress *p, uint64_t files, uint64_t bytes)
{
	p->files_total += files;
	p->bytes_total += bytes;
}

static int
percent(uint64_t done, uint64_t total)
{
	if (total == 0)
		return 100;
	return done >= total ? 100 : (int)(done * 100 / total);
}

/* Appends "file K/N NAME P%" to line (of at most width), cutting NAME's start. */
static void
append_file(const struct progress *p, char *line, size_t width)
{
	char head[64], tail[16];
	size_t used = strlen(line), room, n;
	const char *name = p->path;

	snprintf(head, sizeof(head), "  file %llu/%llu ",
	    (unsigned long long)p->file_index,
	    (unsigned long long)p->files_total);
	snprintf(tail, sizeof(tail), " %d%%", percent(p->file_done,
	    p->file_size));
	if (used + strlen(head) + strlen(tail) + 4 > width)
		return;		/* no room for even a cut name */
	room = width - used - strlen(head) - strlen(tail);
	n = strlen(name);
	strcat(line, head);
	if (n > room) {
		strcat(line, "...");
		name += n - (room - 3);
	}
	strcat(line, name);
	strcat(line, tail);
}

void
progress_format(const struct progress *p, double t, int final, char *buf,
    size_t width)
{
	char done[FORMAT_LEN], total[FORMAT_LEN], rate[FORMAT_LEN];
	char when[FORMAT_LEN], line[PROGRESS_MAX_WIDTH * 2];
	double elapsed = t - p->started, bps = 0;

	if (width > PROGRESS_MAX_WIDTH)
		width = PROGRESS_MAX_WIDTH;
	if (elapsed > 0)
		bps = (double)p->bytes_done / elapsed;
	format_bytes(done, sizeof(done), (double)p->bytes_done);
	format_bytes(total, sizeof(total), (double)p->bytes_total);
	format_bytes(rate, sizeof(rate), bps);
	if (final)
		format_duration(when, sizeof(when), elapsed);
	else if (bps > 0 && p->bytes_total > p->bytes_done)
		format_duration(when, sizeof(when),
		    (double)(p->bytes_total - p->bytes_done) / bps);
	else
		snprintf(when, sizeof(when), "--:--");
	snprintf(line, sizeof(line), "%3d%% %s/%s  %s/s  %s %s",
	    p->bytes_total ? percent(p->bytes_done, p->bytes_total) :
	    percent(p->files_done, p->files_total), done, total, rate,
	    final ? "in" : "ETA", when);
	if (final)
		snprintf(line + strlen(line), sizeof(line) - strlen(line),
		    "  %llu/%llu files", (unsigned long long)p->files_done,
		    (unsigned long long)p->files_total);
	else if (p->path != NULL)
		append_file(p, line, width);
	line[width] = '\0';
	snprintf(buf, width + 1, "%s", line);
}

static size_t
terminal_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return PROGRESS_WIDTH;
}

/* One write per frame; "\033[K" clears what a longer frame left. */
static void
progress_draw(struct progress *p, double t, int final)
{
	char line[PROGRESS_MAX_WIDTH + 1];

	/* The last column is left free: a full row wraps on some terminals. */
	progress_format(p, t, final, line, terminal_width() - 1);
	fprintf(p->out, "\r%s\033[K%s", line, final ? "\n" : "");
	fflush(p->out);
	p->last_drawn = t;
	p->drawn = 1;
}

static void
maybe_draw(struct progress *p)
{
	double t;

	if (!p->enabled)
		return;
	t = clock_now();
	if (t - p->last_drawn >= PROGRESS_REDRAW)
		progress_draw(p, t, 0);
}

void
progress_file(struct progress *p, const char *path, uint64_t size)
{
	if (p->path == NULL || strcmp(p->path, path) != 0)
		p->file_index++;
	p->path = path;
	p->file_size = size;
	p->file_done = 0;
	maybe_draw(p);
}

void
progress_add(struct progress *p, uint64_t files, uint64_t bytes)
{
	p->files_done += files;
	p->bytes_done += bytes;
	p->file_done += bytes;
	maybe_draw(p);
}

void
progress_finish(struct progress *p)
{
	if (!p->enabled || p->files_total == 0)
		return;
	p->path = NULL;
	progress_draw(p, clock_now(), 1);
	p->enabled = 0;
}
