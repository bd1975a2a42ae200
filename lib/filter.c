/* filter: ordered include/exclude glob rules; the first rule that matches wins. */
#include "filter.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void
filter_init(struct filter *f)
{
	f->rules = NULL;
	f->n = 0;
}

void
filter_release(struct filter *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->rules[i].pattern);
	free(f->rules);
	filter_init(f);
}

int
filter_add(struct filter *f, int kind, const char *pattern)
{
	struct filter_rule *r;
	char *copy;

	if (*pattern == '\0' || strcmp(pattern, "/") == 0) {
		errno = EINVAL;
		return -1;
	}
	copy = strdup(pattern);
	if (copy == NULL)
		return -1;
	r = realloc(f->rules, (f->n + 1) * sizeof(*r));
	if (r == NULL) {
		free(copy);
		return -1;
	}
	f->rules = r;
	f->rules[f->n].kind = kind;
	f->rules[f->n].pattern = copy;
	f->n++;
	return 0;
}

int
filter_add_file(struct filter *f, const char *file)
{
	FILE *fp;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned long lineno = 0;
	int rc = -1;

	fp = fopen(file, "re");
	if (fp == NULL) {
		log_err("%s", file);
		return -1;
	}
	while ((n = getline(&line, &cap, fp)) != -1) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		if (filter_add(f, FILTER_EXCLUDE, line) == -1) {
			log_err("%s:%lu: pattern '%s'", file, lineno, line);
			goto out;
		}
	}
	if (ferror(fp)) {
		log_err("%s: read", file);
		goto out;
	}
	rc = 0;
out:
	free(line);
	fclose(fp);
	return rc;
}

static int
filter_rule_matches(const struct filter_rule *r, const char *path, int is_dir)
{
	char pat[4096];
	const char *subject = path, *base;
	size_t n;
	int anchored = 0;

	n = strlen(r->pattern);
	if (n >= sizeof(pat))
		return 0;
	memcpy(pat, r->pattern, n + 1);
	if (pat[n - 1] == '/') {
		if (!is_dir)
			return 0;
		pat[--n] = '\0';
	}
	if (pat[0] == '/') {
		memmove(pat, pat + 1, n);
		anchored = 1;
	}
	if (!anchored && strchr(pat, '/') == NULL) {
		base = strrchr(path, '/');
		subject = base ? base + 1 : path;
		return fnmatch(pat, subject, 0) == 0;
	}
	return fnmatch(pat, subject, FNM_PATHNAME) == 0;
}

int
filter_excluded(const struct filter *f, const char *path, int is_dir)
{
	for (size_t i = 0; i < f->n; i++)
		if (filter_rule_matches(&f->rules[i], path, is_dir))
			return f->rules[i].kind == FILTER_EXCLUDE;
	return 0;
}
