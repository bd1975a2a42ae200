/* notify: the sd_notify protocol (READY=1, STOPPING=1, ...) to the service manager. */
#ifndef MIRRORFS_NOTIFY_H
#define MIRRORFS_NOTIFY_H

/*
 * Sends state (as "READY=1") to the socket NOTIFY_SOCKET names (a path,
 * or '@' for the abstract namespace), as sd_notify(3) does. Nothing when
 * the variable is unset or malformed; errors are ignored (a manager that
 * does not listen has nothing to be told).
 */
void notify_systemd(const char *state);

#endif
