/* fault: crash and pause injection for the recovery and race tests (MIRRORFS_CRASH_AT, MIRRORFS_STOP_AT). */
#ifndef MIRRORFS_FAULT_H
#define MIRRORFS_FAULT_H

/*
 * When the environment holds MIRRORFS_CRASH_AT=NAME or NAME:N, the process
 * kills itself with SIGKILL at the N-th call (default first) of
 * fault_point(NAME). With MIRRORFS_STOP_AT=NAME[:N] it stops itself
 * (SIGSTOP) there instead, once, so a test can change the world at that
 * exact moment and let it go on with SIGCONT. MIRRORFS_DELAY_AT=NAME:MS
 * makes every call of fault_point(NAME) sleep MS milliseconds, so a
 * test can catch work in progress. Costs a getenv when unset.
 * Thread-safe.
 */
void fault_point(const char *name);

#endif
