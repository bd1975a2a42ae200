/* promtext: Prometheus's text exposition format, and a textfile written whole for node-exporter. */
#include "promtext.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <stdio.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"

void
promtext_family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s ", name);
	for (const char *p = help; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", f);
		else if (*p == '\n')
			fputs("\\n", f);
		else
			fputc(*p, f);
	}
	fprintf(f, "\n# TYPE %s %s\n", name, type);
}

void
promtext_escape(FILE *f, const char *s)
{
	for (const char *p = s; *p; p++) {
		if (*p == '\\' || *p == '"')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else
			fputc(*p, f);
	}
}

void
promtext_sample(FILE *f, const char *name, const struct promtext_label *labels,
    size_t nlabels, double value)
{
	fputs(name, f);
	for (size_t i = 0; i < nlabels; i++) {
		fprintf(f, "%s%s=\"", i == 0 ? "{" : ",", labels[i].name);
		promtext_escape(f, labels[i].value);
		fputc('"', f);
	}
	if (nlabels > 0)
		fputc('}', f);
	/* Counters and Unix times are integers: never in e-notation. */
	if (value >= 0 && value <= 9007199254740992.0 &&
	    (double)(uint64_t)value == value)
		fprintf(f, " %.0f\n", value);
	else
		fprintf(f, " %.15g\n", value);
}

int
promtext_write_file(const char *path, const char *text, size_t len)
{
	char tmp[PATH_MAX];
	int fd, rc = -1;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		log_err("%s", path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0644);
	if (fd == -1) {
		log_err("%s", tmp);
		return -1;
	}
	if (write_all(fd, text, len) == -1 || fchmod(fd, 0644) == -1) {
		log_err("%s", tmp);
		goto out;
	}
	if (close(fd) == -1) {
		fd = -1;
		log_err("%s", tmp);
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		log_err("%s: renaming %s over it", path, tmp);
		goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	if (rc == -1)
		unlink(tmp);
	return rc;
}
