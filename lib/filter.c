/* filter: ordered include/exclude rules (globs, and rsync's "- PATTERN" / "+ PATTERN"); the first that matches wins. */
#include "filter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pattern.h"

void
filter_init(struct filter *f)
{
	f->rules = NULL;
	f->n = 0;
}

void
filter_release(struct filter *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->rules[i].pattern);
		pattern_free(f->rules[i].glob);
	}
	free(f->rules);
	filter_init(f);
}

/* Compiles pattern into r: -1 with errno (EINVAL: *why says what is wrong). */
static int
rule_compile(struct filter_rule *r, const char *pattern, const char **why)
{
	char body[4096];
	size_t n = strlen(pattern);
	const char *start = pattern;

	*why = NULL;
	r->dir_only = n > 0 && pattern[n - 1] == '/';
	if (r->dir_only)
		n--;
	r->whole_path = *start == '/';
	if (r->whole_path) {
		start++;
		n--;
	}
	if (n == 0 || n >= sizeof(body)) {
		*why = n == 0 ? "an empty pattern" : "a pattern longer than any path";
		errno = EINVAL;
		return -1;
	}
	memcpy(body, start, n);
	body[n] = '\0';
	r->whole_path |= strchr(body, '/') != NULL || strstr(body, "**") != NULL;
	r->glob = pattern_compile(body, why);
	return r->glob == NULL ? -1 : 0;
}

/* filter_add, with the reason for a bad pattern in *why. */
static int
add_glob(struct filter *f, int kind, const char *pattern, const char **why)
{
	struct filter_rule *v, r = { .kind = kind };

	if (rule_compile(&r, pattern, why) == -1)
		return -1;
	r.pattern = strdup(pattern);
	v = r.pattern ? realloc(f->rules, (f->n + 1) * sizeof(*v)) : NULL;
	if (v == NULL) {
		free(r.pattern);
		pattern_free(r.glob);
		return -1;
	}
	f->rules = v;
	f->rules[f->n++] = r;
	return 0;
}

int
filter_add(struct filter *f, int kind, const char *pattern)
{
	const char *why;

	return add_glob(f, kind, pattern, &why);
}

const char *
filter_glob_error(const char *pattern)
{
	struct filter_rule r = { .kind = FILTER_EXCLUDE };
	const char *why;

	if (rule_compile(&r, pattern, &why) == 0) {
		pattern_free(r.glob);
		return NULL;
	}
	return why != NULL ? why : "out of memory";
}

/* rsync's rules that this filter does not do, by their first word. */
static const char *const unsupported[] = {
	"merge", "dir-merge", "hide", "show", "protect", "risk", "clear",
	".", ":", "H", "S", "P", "R", "!", NULL
};

/*
 * How line reads: 1 a rule (*kind and *pattern set), 0 a plain glob, -1
 * neither (why in err). A '-' or '+' that does not start a rule, or the
 * first word of another rsync rule followed by a space, is refused
 * rather than taken for a glob: it is almost surely a rule misread.
 */
static int
classify(const char *line, int *kind, const char **pattern, char *err,
    size_t errlen)
{
	size_t w = strcspn(line, " ,");

	if ((line[0] == '-' || line[0] == '+') && line[1] == ' ') {
		*kind = line[0] == '-' ? FILTER_EXCLUDE : FILTER_INCLUDE;
		*pattern = line + 2;
	} else if (line[0] == '-' || line[0] == '+') {
		snprintf(err, errlen, "'%s' is no rule: '%c' takes a space "
		    "before its pattern ('%c PATTERN'; rsync's rule modifiers "
		    "are not supported); a glob for a name that starts with "
		    "'%c' is written \\%s", line, line[0], line[0], line[0],
		    line);
		return -1;
	} else if (w == 7 && (line[w] == ' ' || line[w] == ',') &&
	    (strncmp(line, "exclude", 7) == 0 ||
	    strncmp(line, "include", 7) == 0)) {
		if (line[w] == ',') {
			snprintf(err, errlen, "'%s': rsync's rule modifiers are "
			    "not supported", line);
			return -1;
		}
		*kind = line[0] == 'e' ? FILTER_EXCLUDE : FILTER_INCLUDE;
		*pattern = line + w + 1;
	} else {
		for (size_t i = 0; unsupported[i] != NULL; i++)
			if (strlen(unsupported[i]) == w &&
			    strncmp(line, unsupported[i], w) == 0 &&
			    (line[w] != '\0' || line[0] == '!')) {
				snprintf(err, errlen, "'%s': rsync's '%s' rule "
				    "is not supported (only '- PATTERN' and "
				    "'+ PATTERN'); a glob for a name that "
				    "starts so is written \\%s", line,
				    unsupported[i], line);
				return -1;
			}
		return 0;
	}
	if (**pattern == '\0') {
		snprintf(err, errlen, "'%s': a rule without a pattern", line);
		return -1;
	}
	return 1;
}

/*
 * Adds the pattern of a rule, read as rsync reads it: a floating pattern
 * with a '/' inside or a '**' matches at the end of the path.
 */
static int
add_rule_pattern(struct filter *f, int kind, const char *pattern, char *err,
    size_t errlen)
{
	char floating[4096 + 3];
	size_t n = strlen(pattern);
	const char *use = pattern, *why;
	int inner_slash = memchr(pattern, '/', n ? n - 1 : 0) != NULL;

	if (pattern[0] != '/' && strncmp(pattern, "**", 2) != 0 &&
	    (inner_slash || strstr(pattern, "**") != NULL) &&
	    n < sizeof(floating) - 3) {
		snprintf(floating, sizeof(floating), "**/%s", pattern);
		use = floating;
	}
	if (add_glob(f, kind, use, &why) == 0)
		return 0;
	if (errno == ENOMEM)
		snprintf(err, errlen, "%s", strerror(errno));
	else
		snprintf(err, errlen, "'%s': %s", pattern, why);
	return -1;
}

int
filter_add_rule(struct filter *f, const char *text, char *err, size_t errlen)
{
	const char *pattern;
	int kind, r = classify(text, &kind, &pattern, err, errlen);

	if (r == 0)
		snprintf(err, errlen, "'%s' is no rule: write '- %s' to leave "
		    "it out or '+ %s' to keep it", text, text, text);
	if (r != 1)
		return -1;
	return add_rule_pattern(f, kind, pattern, err, errlen);
}

/* One line of an exclude file: a rule, a plain glob, or an error (err). */
static int
add_line(struct filter *f, const char *line, char *err, size_t errlen)
{
	const char *pattern, *why;
	int kind, r = classify(line, &kind, &pattern, err, errlen);

	if (r == 1)
		return add_rule_pattern(f, kind, pattern, err, errlen);
	if (r == -1)
		return -1;
	if (add_glob(f, FILTER_EXCLUDE, line, &why) == 0)
		return 0;
	snprintf(err, errlen, "'%s': %s", line, errno == ENOMEM ?
	    strerror(errno) : why);
	return -1;
}

int
filter_add_file(struct filter *f, const char *file)
{
	FILE *fp;
	char *line = NULL, err[1024];
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
		if (line[strspn(line, " \t")] == '\0' || line[0] == '#' ||
		    line[0] == ';')
			continue;
		if ((size_t)n != strlen(line)) {
			log_errx("%s:%lu: a NUL byte in the line", file, lineno);
			goto out;
		}
		if (add_line(f, line, err, sizeof(err)) == -1) {
			log_errx("%s:%lu: %s", file, lineno, err);
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
rule_matches(const struct filter_rule *r, const char *path, int is_dir)
{
	const char *base;

	if (r->dir_only && !is_dir)
		return 0;
	if (!r->whole_path) {
		base = strrchr(path, '/');
		path = base ? base + 1 : path;
	}
	return pattern_match(r->glob, path);
}

int
filter_excluded(const struct filter *f, const char *path, int is_dir)
{
	for (size_t i = 0; i < f->n; i++)
		if (rule_matches(&f->rules[i], path, is_dir))
			return f->rules[i].kind == FILTER_EXCLUDE;
	return 0;
}
