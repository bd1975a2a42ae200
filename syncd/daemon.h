/* daemon: mirrord's event loop: file sets on their schedules and watches, the listener, control. */
#ifndef MIRRORFS_DAEMON_H
#define MIRRORFS_DAEMON_H

/*
 * Runs mirrord as configured in conf until SIGTERM or SIGINT (exit 0,
 * within a couple of seconds: a session in progress is abandoned, which
 * commits nothing) and re-reads conf on SIGHUP (a bad file is reported
 * and the running configuration kept). Returns the exit status.
 */
int daemon_run(const char *conf);

#endif
