/* fault: crash injection for the recovery tests (MIRRORFS_CRASH_AT). */
#ifndef MIRRORFS_FAULT_H
#define MIRRORFS_FAULT_H

/*
 * When the environment holds MIRRORFS_CRASH_AT=NAME or NAME:N, the process
 * kills itself with SIGKILL at the N-th call (default first) of
 * fault_point(NAME). Costs one string compare when unset. Thread-safe.
 */
void fault_point(const char *name);

#endif
