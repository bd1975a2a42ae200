/* clock: monotonic time in seconds, for rates, paces and elapsed times. */
#ifndef MIRRORFS_CLOCK_H
#define MIRRORFS_CLOCK_H

/* Seconds on CLOCK_MONOTONIC (unaffected by changes to the wall clock). */
double clock_now(void);

#endif
