/* control: the store master's Unix socket, .mirrorfs/control.sock. */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "path.h"

/*
 * A store path may be longer than sun_path allows, so the socket is
 * named through /proc/self/fd/N of the open .mirrorfs directory.
 */
static void
sock_addr(struct sockaddr_un *sa, int metafd)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s",
	    metafd, CONTROL_SOCK);
}

int
control_connect(const char *store_path)
{
	struct sockaddr_un sa;
	struct stat st;
	int rootfd, sockfd = -1, fd = -1, saved;

	rootfd = open(store_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd == -1)
		return -1;
	/* Planted symlinks must not lead a session to another master. */
	sockfd = open_beneath(rootfd, PATH_META "/" CONTROL_SOCK, O_PATH);
	if (sockfd == -1) {
		if (errno == ELOOP || errno == EXDEV)
			log_errx("%s/%s/%s: a symlink on the way: refused (the "
			    "master's socket is never reached through one)",
			    store_path, PATH_META, CONTROL_SOCK);
		else if (errno != ENOENT && errno != ENOTDIR)
			log_err("%s/%s/%s", store_path, PATH_META, CONTROL_SOCK);
		goto fail;
	}
	if (fstat(sockfd, &st) == -1 || !S_ISSOCK(st.st_mode)) {
		log_errx("%s/%s/%s: not a socket: refused", store_path,
		    PATH_META, CONTROL_SOCK);
		errno = ENOTSOCK;
		goto fail;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_err("socket");
		goto fail;
	}
	/* The very inode opened above, through its descriptor. */
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", sockfd);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		if (errno != ENOENT && errno != ECONNREFUSED)
			log_err("%s/%s/%s", store_path, PATH_META, CONTROL_SOCK);
		goto fail;
	}
	close(sockfd);
	close(rootfd);
	return fd;
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	if (sockfd != -1)
		close(sockfd);
	close(rootfd);
	errno = saved;
	return -1;
}

int
control_listen(int metafd, const char *store_path)
{
	struct sockaddr_un sa;
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_err("socket");
		return -1;
	}
	/* We hold the store lock: a socket left here is a dead master's. */
	control_unlink(metafd);
	sock_addr(&sa, metafd);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    fchmodat(metafd, CONTROL_SOCK, 0600, 0) == -1 ||
	    listen(fd, 16) == -1) {
		log_err("%s/%s/%s", store_path, PATH_META, CONTROL_SOCK);
		close(fd);
		return -1;
	}
	return fd;
}

void
control_unlink(int metafd)
{
	unlinkat(metafd, CONTROL_SOCK, 0);
}
