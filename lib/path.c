/* path: checks on relative paths that come from a peer, and safe printing. */
#include "path.h"

#include <limits.h>
#include <string.h>

int
path_check(const char *path, const char **why)
{
	const char *p = path, *slash;
	size_t n;

	if (*path == '\0') {
		*why = "empty path";
		return -1;
	}
	if (*path == '/') {
		*why = "absolute path";
		return -1;
	}
	if (strlen(path) >= PATH_MAX) {
		*why = "path too long";
		return -1;
	}
	for (;;) {
		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0) {
			*why = "empty path component";
			return -1;
		}
		if ((n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.')) {
			*why = "'.' or '..' component";
			return -1;
		}
		if (n > NAME_MAX) {
			*why = "file name too long";
			return -1;
		}
		if (slash == NULL)
			return 0;
		p = slash + 1;
	}
}

int
path_is_meta(const char *path)
{
	size_t n = strlen(PATH_META);

	return strncmp(path, PATH_META, n) == 0 &&
	    (path[n] == '\0' || path[n] == '/');
}

void
path_fputs(const char *path, FILE *f)
{
	const unsigned char *p;

	for (p = (const unsigned char *)path; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			fprintf(f, "\\%03o", *p);
		else
			fputc(*p, f);
	}
}

int
path_order(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a;
	const unsigned char *y = (const unsigned char *)b;
	unsigned cx, cy;

	for (; *x == *y; x++, y++)
		if (*x == '\0')
			return 0;
	/* The end (0), then '/' (1), then every other byte above it. */
	cx = *x == '/' ? 1u : *x == '\0' ? 0u : *x + 1u;
	cy = *y == '/' ? 1u : *y == '\0' ? 0u : *y + 1u;
	return cx < cy ? -1 : 1;
}

size_t
path_dirlen(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? (size_t)(slash - path) : 0;
}

int
path_inside(const char *path, const char *dir)
{
	size_t len = strlen(dir);

	return strncmp(path, dir, len) == 0 && path[len] == '/';
}
