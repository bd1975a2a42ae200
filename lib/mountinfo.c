/* mountinfo: which mount a path is on, from /proc/self/mountinfo (is it a mirrorfs mount?). */
#include "mountinfo.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIRRORFS_TYPE "fuse.mirrorfs"

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void
unescape(char *s)
{
	char *w = s;

	for (; *s != '\0'; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			    (s[3] - '0'));
			s += 3;
		} else
			*w++ = *s;
	}
	*w = '\0';
}

/* Whether mount point mp holds path (path is mp or lies below it). */
static int
holds(const char *mp, const char *path)
{
	size_t n = strlen(mp);

	if (strcmp(mp, "/") == 0)
		return 1;
	return strncmp(path, mp, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/*
 * One line: "ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - TYPE
 * SOURCE SUPER". Returns 0 with the fields, -1 for a line of another shape.
 */
static int
parse_line(char *line, char **point, char **type, char **source)
{
	char *save = NULL, *tok;
	int field = 0, after_dash = 0;

	*point = *type = *source = NULL;
	for (tok = strtok_r(line, " \n", &save); tok != NULL;
	    tok = strtok_r(NULL, " \n", &save)) {
		if (after_dash == 0 && strcmp(tok, "-") == 0 && field >= 6) {
			after_dash = 1;
			continue;
		}
		if (after_dash == 1)
			*type = tok;
		else if (after_dash == 2)
			*source = tok;
		else if (field == 4)
			*point = tok;
		after_dash += after_dash > 0;
		field++;
	}
	if (*point == NULL || *type == NULL || *source == NULL)
		return -1;
	unescape(*point);
	unescape(*source);
	return 0;
}

/* The deepest existing directory at or above path, resolved (realpath). */
static int
resolve(const char *path, char *out)
{
	char buf[PATH_MAX], *slash;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	while (realpath(buf, out) == NULL) {
		if (errno != ENOENT && errno != ENOTDIR)
			return -1;
		slash = strrchr(buf, '/');
		if (slash == NULL) {
			snprintf(buf, sizeof(buf), ".");
			continue;
		}
		if (slash == buf)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	return 0;
}

int
mountinfo_mirrorfs(const char *path, char *point, size_t pointlen,
    char *source, size_t sourcelen)
{
	char real[PATH_MAX], *line = NULL, *mp, *type, *src;
	size_t cap = 0, best = 0;
	int found = -1;
	FILE *f;

	if (resolve(path, real) == -1)
		return -1;
	f = fopen("/proc/self/mountinfo", "re");
	if (f == NULL)
		return -1;
	/* The last, longest mount point that holds the path is its mount. */
	while (getline(&line, &cap, f) != -1) {
		if (parse_line(line, &mp, &type, &src) == -1 || !holds(mp, real) ||
		    strlen(mp) < best)
			continue;
		best = strlen(mp);
		snprintf(point, pointlen, "%s", mp);
		snprintf(source, sourcelen, "%s", src);
		found = strcmp(type, MIRRORFS_TYPE) == 0;
	}
	free(line);
	fclose(f);
	if (found == -1)
		errno = ENOENT;
	return found;
}

int
mountinfo_is_mirrorfs_point(const char *dir, char *source, size_t len)
{
	char real[PATH_MAX], point[PATH_MAX];

	if (realpath(dir, real) == NULL)
		return 0;
	return mountinfo_mirrorfs(real, point, sizeof(point), source, len) == 1 &&
	    strcmp(point, real) == 0;
}
