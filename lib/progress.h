/* progress: a live line on a terminal: the whole transfer, its rate and ETA, and the file in flight. */
#ifndef MIRRORFS_PROGRESS_H
#define MIRRORFS_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

/*
 *  37% 9.8MiB/26.6MiB  5.1MiB/s  ETA 0:03  file 4/10 lib/big.so 62%
 *
 * redrawn in place at most four times a second, cut to the terminal's
 * width (the file's name loses its start first); at the end:
 *
 * 100% 26.6MiB/26.6MiB  5.1MiB/s  in 0:05  10/10 files
 */
struct progress {
	int enabled;		/* only when asked for and out is a terminal */
	FILE *out;		/* stderr */
	uint64_t files_total, files_done;
	uint64_t bytes_total, bytes_done;
	double started;		/* monotonic seconds */
	double last_drawn;
	int drawn;
	/* the file in flight: */
	const char *path;	/* the caller's, valid until the next file */
	uint64_t file_size, file_done, file_index;
};

void progress_init(struct progress *p, int wanted);
/* The transfer to come: files files of bytes bytes in all. */
void progress_start(struct progress *p, uint64_t files, uint64_t bytes);
/*
 * A file starts (again, when it is read again): path (kept, not copied)
 * of size bytes. The counter of files in flight moves on only for a new
 * path.
 */
void progress_file(struct progress *p, const char *path, uint64_t size);
/* Adds work to the totals, as it becomes known. */
void progress_more(struct progress *p, uint64_t files, uint64_t bytes);
/* Counts work done: whole files, and bytes of the file in flight. */
void progress_add(struct progress *p, uint64_t files, uint64_t bytes);
/* Draws the final line and ends it. Safe to call more than once. */
void progress_finish(struct progress *p);

/*
 * The line for the state of p at time now, at most width columns
 * (without the final line's newline); for tests and for the drawing.
 */
void progress_format(const struct progress *p, double now, int final,
    char *buf, size_t width);

#endif
