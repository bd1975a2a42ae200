/* control: the store master's Unix socket, .mirrorfs/control.sock. */
#ifndef MIRRORFS_CONTROL_H
#define MIRRORFS_CONTROL_H

#define CONTROL_SOCK "control.sock"

/*
 * Connects to the master of the store at store_path. .mirrorfs and the
 * socket are reached without following any symlink (openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), and the socket must be one.
 * Returns the fd, or -1 with errno: ENOENT, ENOTDIR or ECONNREFUSED when
 * no master serves the store (not logged), anything else (ELOOP for a
 * symlink on the way) logged.
 */
int control_connect(const char *store_path);

/*
 * Binds and listens on metafd/control.sock (any stale socket is
 * replaced), mode 0600. Returns the fd, or -1 (logged).
 */
int control_listen(int metafd, const char *store_path);

/* Removes metafd/control.sock. */
void control_unlink(int metafd);

#endif
