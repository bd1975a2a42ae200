/* progress: a live "files, bytes, rate, ETA" line on a terminal. */
#ifndef MIRRORFS_PROGRESS_H
#define MIRRORFS_PROGRESS_H

#include <stdint.h>

struct progress {
	int enabled;		/* only when asked for and stderr is a terminal */
	uint64_t files_total, files_done;
	uint64_t bytes_total, bytes_done;
	double started;		/* monotonic seconds */
	double last_drawn;
	int drawn;
};

void progress_init(struct progress *p, int wanted);
void progress_start(struct progress *p, uint64_t files, uint64_t bytes);
/* Counts work done; redraws at most a few times a second. */
void progress_add(struct progress *p, uint64_t files, uint64_t bytes);
/* Draws the final line and ends it. Safe to call more than once. */
void progress_finish(struct progress *p);

#endif
