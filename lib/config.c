/* config: mirrord.conf, an INI file read with inih; every error is FILE:LINE. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bwlimit.h"
#include "log.h"
#include "path.h"
#include "sender.h"

struct parse {
	struct config *cfg;
	char err[512];		/* the first handler error only */
	int timeout_set;
	int max_sessions_set;
};

static int parse_int(const char *v, long lo, long hi, int *out);
static int add_urls(char ***list, size_t *n, const char *key,
    const char *value, struct parse *ps);
static int bad(struct parse *ps, const char *key, const char *value,
    const char *want);
static int parse_bool(const char *v, int *out);

static int
set_once(char **slot, const char *value, const char *key, struct parse *ps)
{
	if (*slot != NULL) {
		snprintf(ps->err, sizeof(ps->err), "%s given twice", key);
		return 0;
	}
	if (*value == '\0') {
		snprintf(ps->err, sizeof(ps->err), "%s has no value", key);
		return 0;
	}
	*slot = strdup(value);
	return *slot != NULL;
}

static struct store_conf *
store_section(struct parse *ps, const char *name)
{
	struct config *cfg = ps->cfg;
	struct store_conf *v;

	for (size_t i = 0; i < cfg->nstores; i++)
		if (strcmp(cfg->stores[i].name, name) == 0)
			return &cfg->stores[i];
	v = realloc(cfg->stores, (cfg->nstores + 1) * sizeof(*v));
	if (v == NULL)
		return NULL;
	cfg->stores = v;
	v = &cfg->stores[cfg->nstores++];
	memset(v, 0, sizeof(*v));
	v->name = strdup(name);
	return v->name ? v : NULL;
}

static int
on_listen(struct parse *ps, const char *key, const char *value)
{
	ps->cfg->listen = 1;
	if (strcmp(key, "address") == 0) {
		const char *colon = strrchr(value, ':');
		const char *close = strchr(value, ']');
		int port;

		if (colon == NULL || (value[0] == '[' && (close == NULL ||
		    close[1] != ':')) || parse_int(colon + 1, 1, 65535,
		    &port) == -1) {
			snprintf(ps->err, sizeof(ps->err), "address '%s' is "
			    "not HOST:PORT (PORT 1-65535; [V6]:PORT)", value);
			return 0;
		}
		return set_once(&ps->cfg->address, value, key, ps);
	}
	if (strcmp(key, "key") == 0)
		return set_once(&ps->cfg->key, value, key, ps);
	if (strcmp(key, "timeout") == 0) {
		if (ps->timeout_set++) {
			snprintf(ps->err, sizeof(ps->err), "timeout given twice");
			return 0;
		}
		if (parse_int(value, 1, 86400, &ps->cfg->timeout) == -1) {
			snprintf(ps->err, sizeof(ps->err), "timeout '%s' is not "
			    "a number of seconds from 1 to 86400", value);
			return 0;
		}
		return 1;
	}
	if (strcmp(key, "max_sessions") == 0) {
		if (ps->max_sessions_set++) {
			snprintf(ps->err, sizeof(ps->err),
			    "max_sessions given twice");
			return 0;
		}
		if (parse_int(value, 1, CONFIG_MAX_SESSIONS_LIMIT,
		    &ps->cfg->max_sessions) == -1) {
			snprintf(ps->err, sizeof(ps->err), "max_sessions '%s' is "
			    "not a number from 1 to %d", value,
			    CONFIG_MAX_SESSIONS_LIMIT);
			return 0;
		}
		return 1;
	}
	snprintf(ps->err, sizeof(ps->err), "unknown key '%s' in [listen] "
	    "(known: address, key, timeout, max_sessions)", key);
	return 0;
}

static int
on_store(struct parse *ps, const char *name, const char *key,
    const char *value)
{
	struct store_conf *st;
	const char *why;

	if (*name == '\0' || path_check(name, &why) == -1 ||
	    strchr(name, '/') != NULL) {
		snprintf(ps->err, sizeof(ps->err), "bad store name '%s'", name);
		return 0;
	}
	st = store_section(ps, name);
	if (st == NULL)
		return 0;
	if (strcmp(key, "path") == 0) {
		if (value[0] != '/') {
			snprintf(ps->err, sizeof(ps->err), "path '%s' is not "
			    "absolute", value);
			return 0;
		}
		return set_once(&st->path, value, key, ps);
	}
	if (strcmp(key, "user") == 0)
		return set_once(&st->user, value, key, ps);
	if (strcmp(key, "trigger") == 0)
		return set_once(&st->trigger, value, key, ps);
	if (strcmp(key, "forward") == 0)
		return add_urls(&st->forward, &st->nforward, key, value, ps);
	if (strcmp(key, "forward_key") == 0)
		return set_once(&st->forward_key, value, key, ps);
	if (strcmp(key, "forward_retry_min") == 0 ||
	    strcmp(key, "forward_retry_max") == 0)
		return parse_int(value, 1, 86400, strcmp(key + 14, "min") == 0 ?
		    &st->forward_retry_min : &st->forward_retry_max) == 0 ? 1 :
		    bad(ps, key, value, "not a number of seconds (1-86400)");
	if (strcmp(key, "forward_stream") == 0) {
		int yes;

		if (parse_bool(value, &yes) == -1)
			return bad(ps, key, value, "not yes or no");
		st->forward_after_commit = !yes;
		st->forward_stream_set = 1;
		return 1;
	}
	snprintf(ps->err, sizeof(ps->err), "unknown key '%s' in [store %s] "
	    "(known: path, user, trigger, forward, forward_key, "
	    "forward_stream, forward_retry_min, forward_retry_max)", key, name);
	return 0;
}

static int
parse_bool(const char *v, int *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") ||
	    !strcmp(v, "1"))
		*out = 1;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") ||
	    !strcmp(v, "0"))
		*out = 0;
	else
		return -1;
	return 0;
}

/* whole_file = auto | yes | no (yes: never deltas; no: deltas everywhere). */
static int
parse_whole_file(const char *v, int *out)
{
	int yes;

	if (strcmp(v, "auto") == 0) {
		*out = WHOLE_FILE_AUTO;
		return 0;
	}
	if (parse_bool(v, &yes) == -1)
		return -1;
	*out = yes ? WHOLE_FILE_YES : WHOLE_FILE_NO;
	return 0;
}

static int
parse_int(const char *v, long lo, long hi, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno || n < lo || n > hi)
		return -1;
	*out = (int)n;
	return 0;
}

/* HH:MM into minutes of the day. */
static int
parse_hhmm(const char *v, int *out)
{
	int h, m;
	char tail;

	if (sscanf(v, "%d:%d%c", &h, &m, &tail) != 2 || strlen(v) != 5 ||
	    h < 0 || h > 23 || m < 0 || m > 59)
		return -1;
	*out = h * 60 + m;
	return 0;
}

static struct fileset_conf *
fileset_section(struct parse *ps, const char *name)
{
	struct config *cfg = ps->cfg;
	struct fileset_conf *v;

	for (size_t i = 0; i < cfg->nfilesets; i++)
		if (strcmp(cfg->filesets[i].name, name) == 0)
			return &cfg->filesets[i];
	v = realloc(cfg->filesets, (cfg->nfilesets + 1) * sizeof(*v));
	if (v == NULL)
		return NULL;
	cfg->filesets = v;
	v = &cfg->filesets[cfg->nfilesets++];
	memset(v, 0, sizeof(*v));
	filter_init(&v->filter);
	v->start = v->stop = -1;
	v->quiet = 5;
	v->max_defer = 3600;
	v->openupdate = -1;
	v->compress = 3;
	v->xattrs = 1;
	v->acls = 1;
	v->retry_min = CONFIG_RETRY_MIN;
	v->retry_max = CONFIG_RETRY_MAX;
	v->name = strdup(name);
	return v->name ? v : NULL;
}

/* key = URL... (blanks or commas between them) appended to *list. */
static int
add_urls(char ***list, size_t *n, const char *key, const char *value,
    struct parse *ps)
{
	char *copy = strdup(value), *tok, *save = NULL;
	void *v;

	if (copy == NULL)
		return 0;
	for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t,", &save)) {
		v = realloc(*list, (*n + 1) * sizeof(char *));
		if (v == NULL || (((char **)v)[*n] = strdup(tok)) == NULL) {
			if (v != NULL)
				*list = v;
			free(copy);
			return 0;
		}
		*list = v;
		(*n)++;
	}
	free(copy);
	if (*n == 0) {
		snprintf(ps->err, sizeof(ps->err), "%s has no value", key);
		return 0;
	}
	return 1;
}

/* A value of the wrong form: names the key and what it should be. */
static int
bad(struct parse *ps, const char *key, const char *value, const char *want)
{
	snprintf(ps->err, sizeof(ps->err), "%s = '%s': %s", key, value, want);
	return 0;
}

static int
on_fileset(struct parse *ps, const char *name, const char *key,
    const char *value)
{
	struct fileset_conf *fs;
	int *flag = NULL;

	if (*name == '\0' || strchr(name, '/') || strchr(name, ' ')) {
		snprintf(ps->err, sizeof(ps->err), "bad file set name '%s'",
		    name);
		return 0;
	}
	fs = fileset_section(ps, name);
	if (fs == NULL)
		return 0;
	if (strcmp(key, "source") == 0) {
		if (value[0] != '/')
			return bad(ps, key, value, "not an absolute path");
		return set_once(&fs->source, value, key, ps);
	}
	if (strcmp(key, "dest") == 0)
		return add_urls(&fs->dests, &fs->ndests, key, value, ps);
	if (strcmp(key, "include") == 0 || strcmp(key, "exclude") == 0) {
		if (filter_add(&fs->filter, key[0] == 'i' ? FILTER_INCLUDE :
		    FILTER_EXCLUDE, value) == -1)
			return bad(ps, key, value, filter_glob_error(value) ?
			    filter_glob_error(value) : "out of memory");
		return 1;
	}
	if (strcmp(key, "filter") == 0) {
		char err[256];	/* bad() writes it after the key and value */

		if (filter_add_rule(&fs->filter, value, err, sizeof(err)) == -1)
			return bad(ps, key, value, err);
		return 1;
	}
	if (strcmp(key, "exclude_from") == 0)
		return set_once(&fs->exclude_from, value, key, ps);
	if (strcmp(key, "batch") == 0)
		return set_once(&fs->batch, value, key, ps);
	if (strcmp(key, "user") == 0)
		return set_once(&fs->user, value, key, ps);
	if (strcmp(key, "trigger") == 0)
		return set_once(&fs->trigger, value, key, ps);
	if (strcmp(key, "key") == 0)
		return set_once(&fs->key, value, key, ps);
	if (strcmp(key, "interval") == 0)
		return parse_int(value, 0, 31 * 86400, &fs->interval) == 0 ? 1 :
		    bad(ps, key, value, "not a number of seconds");
	if (strcmp(key, "quiet") == 0)
		return parse_int(value, 0, 86400, &fs->quiet) == 0 ? 1 :
		    bad(ps, key, value, "not a number of seconds (0-86400)");
	if (strcmp(key, "max_defer") == 0)
		return parse_int(value, 1, 31 * 86400, &fs->max_defer) == 0 ? 1 :
		    bad(ps, key, value, "not a number of seconds");
	if (strcmp(key, "openupdate") == 0)
		return parse_int(value, 0, 31 * 86400, &fs->openupdate) == 0 ? 1 :
		    bad(ps, key, value, "not a number of seconds");
	if (strcmp(key, "retry_min") == 0 || strcmp(key, "retry_max") == 0)
		return parse_int(value, 1, 86400, key[7] == 'i' ?
		    &fs->retry_min : &fs->retry_max) == 0 ? 1 :
		    bad(ps, key, value, "not a number of seconds (1-86400)");
	if (strcmp(key, "compress") == 0)
		return parse_int(value, 0, 19, &fs->compress) == 0 ? 1 :
		    bad(ps, key, value, "not a zstd level (0-19)");
	if (strcmp(key, "bwlimit") == 0) {
		char err[256];

		if (bwlimit_parse(value, &fs->bwlimit, err, sizeof(err)) == -1)
			return bad(ps, key, value, err);
		return 1;
	}
	if (strcmp(key, "whole_file") == 0)
		return parse_whole_file(value, &fs->whole_file) == 0 ? 1 :
		    bad(ps, key, value, "not auto, yes or no");
	if (strcmp(key, "start") == 0 || strcmp(key, "stop") == 0)
		return parse_hhmm(value, key[2] == 'a' ? &fs->start :
		    &fs->stop) == 0 ? 1 : bad(ps, key, value, "not HH:MM");
	if (strcmp(key, "watch") == 0)
		flag = &fs->watch;
	else if (strcmp(key, "purge") == 0)
		flag = &fs->purge;
	else if (strcmp(key, "purge_dirs") == 0)
		flag = &fs->purge_dirs;
	else if (strcmp(key, "xattrs") == 0)
		flag = &fs->xattrs;
	else if (strcmp(key, "acls") == 0)
		flag = &fs->acls;
	else if (strcmp(key, "suspended") == 0)
		flag = &fs->suspended;
	if (flag != NULL)
		return parse_bool(value, flag) == 0 ? 1 :
		    bad(ps, key, value, "not yes or no");
	snprintf(ps->err, sizeof(ps->err), "unknown key '%s' in [fileset %s] "
	    "(known: source, dest, include, exclude, filter, exclude_from, "
	    "interval, start, stop, watch, quiet, max_defer, openupdate, purge, "
	    "purge_dirs, xattrs, acls, compress, bwlimit, whole_file, batch, "
	    "user, suspended, trigger, key, retry_min, retry_max)", key, name);
	return 0;
}

static int
on_daemon(struct parse *ps, const char *key, const char *value)
{
	if (strcmp(key, "control") == 0) {
		if (value[0] != '/')
			return bad(ps, key, value, "not an absolute path");
		return set_once(&ps->cfg->control, value, key, ps);
	}
	if (strcmp(key, "control_group") == 0) {
		struct group *gr = getgrnam(value);

		if (gr == NULL)
			return bad(ps, key, value, "no such group");
		ps->cfg->control_gid = gr->gr_gid;
		return set_once(&ps->cfg->control_group, value, key, ps);
	}
	if (strcmp(key, "sessions") == 0 || strcmp(key, "metrics") == 0) {
		if (value[0] != '/')
			return bad(ps, key, value, "not an absolute path");
		return set_once(key[0] == 's' ? &ps->cfg->sessions :
		    &ps->cfg->metrics, value, key, ps);
	}
	snprintf(ps->err, sizeof(ps->err), "unknown key '%s' in [daemon] "
	    "(known: control, control_group, sessions, metrics)", key);
	return 0;
}

void
config_sessions_path(const struct config *cfg, char *out, size_t len)
{
	const char *ctl = cfg->control ? cfg->control : CONFIG_DEFAULT_CONTROL;
	size_t n = strlen(ctl);

	if (cfg->sessions != NULL)
		snprintf(out, len, "%s", cfg->sessions);
	else if (n > 5 && strcmp(ctl + n - 5, ".sock") == 0)
		snprintf(out, len, "%.*s.sessions", (int)(n - 5), ctl);
	else
		snprintf(out, len, "%s.sessions", ctl);
}

static int on_section_value(struct parse *ps, const char *section,
    const char *key, const char *value);

/* inih goes on after an error: keep the message of the first one. */
static int
on_value(void *arg, const char *section, const char *key, const char *value)
{
	struct parse *ps = arg;
	char first[sizeof(ps->err)];
	int had = ps->err[0] != '\0', r;

	if (had)
		memcpy(first, ps->err, sizeof(first));
	r = on_section_value(ps, section, key, value);
	if (had)
		memcpy(ps->err, first, sizeof(first));
	return r;
}

static int
on_section_value(struct parse *ps, const char *section, const char *key,
    const char *value)
{
	if (strcmp(section, "listen") == 0)
		return on_listen(ps, key, value);
	if (strcmp(section, "daemon") == 0)
		return on_daemon(ps, key, value);
	if (strncmp(section, "store ", 6) == 0)
		return on_store(ps, section + 6, key, value);
	if (strncmp(section, "fileset ", 8) == 0)
		return on_fileset(ps, section + 8, key, value);
	snprintf(ps->err, sizeof(ps->err), "unknown section [%s] (known: "
	    "[daemon], [listen], [fileset NAME], [store NAME])", section);
	return 0;
}

/*
 * inih calls nothing for a section without keys and goes on after a
 * syntax error: a pass of our own finds unknown sections and lines that
 * are no INI (so the first error inih reports is ours to describe), and
 * notes where each section starts, for later messages.
 */
static int
check_sections(struct config *cfg, const char *file, const char *text)
{
	struct parse ps = { .cfg = cfg };
	char line[4096];
	unsigned lineno = 0;
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	const char *why = NULL;
	char *p, *end;

	if (f == NULL) {
		log_err("%s", file);
		return -1;
	}
	while (why == NULL && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		p = line + strspn(line, " \t");
		p[strcspn(p, "\r\n")] = '\0';
		if (*p == '\0' || *p == ';' || *p == '#')
			continue;
		if (p != line) {
			why = "an indented line (continuation lines are not "
			    "supported)";
			break;
		}
		if (*p != '[') {
			if (strchr(p, '=') == NULL && strchr(p, ':') == NULL)
				why = "not a section, a 'key = value' line or a "
				    "comment";
			continue;
		}
		end = strchr(p, ']');
		if (end == NULL) {
			why = "a section header without ']'";
			break;
		}
		*end = '\0';
		p++;
		if (strncmp(p, "fileset ", 8) == 0) {
			struct fileset_conf *fs = fileset_section(&ps, p + 8);

			if (fs != NULL && fs->line == 0)
				fs->line = lineno;
		} else if (strncmp(p, "store ", 6) == 0) {
			struct store_conf *st = store_section(&ps, p + 6);

			if (st != NULL && st->line == 0)
				st->line = lineno;
		} else if (strcmp(p, "listen") == 0) {
			cfg->listen = 1;
			cfg->listen_line = lineno;
		} else if (strcmp(p, "daemon") != 0) {
			log_errx("%s:%u: unknown section [%s] (known: [daemon], "
			    "[listen], [fileset NAME], [store NAME])", file,
			    lineno, p);
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	if (why != NULL) {
		log_errx("%s:%u: %s", file, lineno, why);
		return -1;
	}
	return 0;
}

static int
check_complete(struct config *cfg)
{
	for (size_t i = 0; i < cfg->nstores; i++)
		if (cfg->stores[i].path == NULL) {
			log_errx("%s:%u: [store %s] has no path", cfg->file,
			    cfg->stores[i].line, cfg->stores[i].name);
			return -1;
		}
	for (size_t i = 0; i < cfg->nfilesets; i++) {
		const struct fileset_conf *fs = &cfg->filesets[i];
		const char *missing = fs->source == NULL ? "source" :
		    fs->ndests == 0 ? "dest" : NULL;

		if (missing != NULL) {
			log_errx("%s:%u: [fileset %s] has no %s", cfg->file,
			    fs->line, fs->name, missing);
			return -1;
		}
		if (fs->retry_max < fs->retry_min) {
			log_errx("%s:%u: [fileset %s] has retry_max %d below "
			    "retry_min %d", cfg->file, fs->line, fs->name,
			    fs->retry_max, fs->retry_min);
			return -1;
		}
		if (fs->stop >= 0 && fs->start < 0) {
			log_errx("%s:%u: [fileset %s] has stop but no start",
			    cfg->file, fs->line, fs->name);
			return -1;
		}
	}
	if (cfg->listen && (cfg->address == NULL || cfg->key == NULL)) {
		log_errx("%s:%u: [listen] needs %s", cfg->file, cfg->listen_line,
		    cfg->address == NULL ? "address" : "key");
		return -1;
	}
	return 0;
}

static int
dup_list(char ***to, size_t *nto, char *const *from, size_t n)
{
	*to = calloc(n, sizeof(char *));
	if (*to == NULL)
		return -1;
	for (*nto = 0; *nto < n; (*nto)++)
		if (((*to)[*nto] = strdup(from[*nto])) == NULL)
			return -1;
	return 0;
}

/*
 * The file set a store's forward = makes: its source is the store (read
 * at one committed generation, readhold.h), driven by its commits (watch),
 * each hop a destination of its own (pending, retries, status), kept a
 * mirror of the store (purge, purge_dirs), read as the store's user.
 */
static int
forward_set(struct config *cfg, const struct store_conf *st)
{
	struct parse ps = { .cfg = cfg };
	char name[512];
	struct fileset_conf *fs;
	const char *key = st->forward_key ? st->forward_key : cfg->key;

	snprintf(name, sizeof(name), CONFIG_FORWARD_PREFIX "%s", st->name);
	if (config_fileset(cfg, name) != NULL) {
		log_errx("%s:%u: [fileset %s] has the name of the file set that "
		    "[store %s] forwards with: rename it", cfg->file,
		    config_fileset(cfg, name)->line, name, st->name);
		return -1;
	}
	fs = fileset_section(&ps, name);
	if (fs == NULL)
		goto nomem;
	fs->line = st->line;
	fs->watch = 1;
	fs->purge = fs->purge_dirs = 1;
	fs->quiet = 0;
	if (st->forward_retry_min)
		fs->retry_min = st->forward_retry_min;
	if (st->forward_retry_max)
		fs->retry_max = st->forward_retry_max;
	if (fs->retry_max < fs->retry_min) {
		log_errx("%s:%u: [store %s] has forward_retry_max %d below "
		    "forward_retry_min %d", cfg->file, st->line, st->name,
		    fs->retry_max, fs->retry_min);
		return -1;
	}
	if ((fs->forward_of = strdup(st->name)) == NULL ||
	    (fs->source = strdup(st->path)) == NULL ||
	    dup_list(&fs->dests, &fs->ndests, st->forward, st->nforward) == -1 ||
	    (st->user && (fs->user = strdup(st->user)) == NULL) ||
	    (key && (fs->key = strdup(key)) == NULL))
		goto nomem;
	return 0;
nomem:
	log_err("%s: [store %s] forward", cfg->file, st->name);
	return -1;
}

/* A file set for each [store NAME] with forward = (after every section). */
static int
forward_sets(struct config *cfg)
{
	for (size_t i = 0; i < cfg->nstores; i++) {
		const struct store_conf *st = &cfg->stores[i];

		if (st->nforward == 0) {
			if (st->forward_key != NULL || st->forward_stream_set) {
				log_errx("%s:%u: [store %s] has %s but no "
				    "forward", cfg->file, st->line, st->name,
				    st->forward_key != NULL ? "forward_key" :
				    "forward_stream");
				return -1;
			}
			continue;
		}
		if (forward_set(cfg, st) == -1)
			return -1;
	}
	return 0;
}

/* The whole file, NUL-terminated, in *text (the caller's to free). */
static int
read_text(const char *file, char **text)
{
	FILE *f = fopen(file, "re");
	size_t len = 0, got;
	char *buf = NULL;
	int rc = -1;

	*text = NULL;
	if (f == NULL) {
		log_err("%s", file);
		return -1;
	}
	buf = malloc(CONFIG_MAX_BYTES + 1);
	if (buf == NULL) {
		log_err("%s", file);
		goto out;
	}
	while ((got = fread(buf + len, 1, CONFIG_MAX_BYTES + 1 - len, f)) > 0)
		len += got;
	if (ferror(f)) {
		log_err("%s", file);
		goto out;
	}
	if (len > CONFIG_MAX_BYTES) {
		log_errx("%s: larger than %d bytes: not a configuration",
		    file, CONFIG_MAX_BYTES);
		goto out;
	}
	if (memchr(buf, '\0', len) != NULL) {
		log_errx("%s: holds a NUL byte: not a configuration", file);
		goto out;
	}
	buf[len] = '\0';
	*text = buf;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	fclose(f);
	return rc;
}

int
config_load(struct config *cfg, const char *file)
{
	char *text;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (read_text(file, &text) == -1)
		return -1;
	rc = config_parse(cfg, file, text);
	free(text);
	return rc;
}

int
config_parse(struct config *cfg, const char *file, const char *text)
{
	struct parse ps;
	int line;

	memset(cfg, 0, sizeof(*cfg));
	memset(&ps, 0, sizeof(ps));
	ps.cfg = cfg;
	cfg->max_sessions = CONFIG_MAX_SESSIONS;
	cfg->file = strdup(file);
	cfg->text = strdup(text);
	if (cfg->file == NULL || cfg->text == NULL) {
		log_err("%s", file);
		goto fail;
	}
	if (check_sections(cfg, file, text) == -1)
		goto fail;
	line = ini_parse_string(text, on_value, &ps);
	if (line == -2) {
		log_errx("%s: out of memory", file);
		goto fail;
	}
	if (line > 0) {
		log_errx("%s:%d: %s", file, line, ps.err[0] ? ps.err :
		    "not a section, a 'key = value' line or a comment");
		goto fail;
	}
	if (check_complete(cfg) == -1 || forward_sets(cfg) == -1)
		goto fail;
	return 0;
fail:
	config_release(cfg);
	return -1;
}

void
config_release(struct config *cfg)
{
	for (size_t i = 0; i < cfg->nstores; i++) {
		free(cfg->stores[i].name);
		free(cfg->stores[i].path);
		free(cfg->stores[i].user);
		free(cfg->stores[i].trigger);
		for (size_t k = 0; k < cfg->stores[i].nforward; k++)
			free(cfg->stores[i].forward[k]);
		free(cfg->stores[i].forward);
		free(cfg->stores[i].forward_key);
	}
	free(cfg->stores);
	for (size_t i = 0; i < cfg->nfilesets; i++) {
		struct fileset_conf *fs = &cfg->filesets[i];

		for (size_t k = 0; k < fs->ndests; k++)
			free(fs->dests[k]);
		free(fs->dests);
		filter_release(&fs->filter);
		free(fs->name);
		free(fs->source);
		free(fs->exclude_from);
		free(fs->batch);
		free(fs->user);
		free(fs->trigger);
		free(fs->key);
		free(fs->forward_of);
	}
	free(cfg->filesets);
	free(cfg->control);
	free(cfg->control_group);
	free(cfg->sessions);
	free(cfg->metrics);
	free(cfg->address);
	free(cfg->key);
	free(cfg->file);
	free(cfg->text);
	memset(cfg, 0, sizeof(*cfg));
}

const struct store_conf *
config_store(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nstores; i++)
		if (strcmp(cfg->stores[i].name, name) == 0)
			return &cfg->stores[i];
	return NULL;
}

const struct fileset_conf *
config_fileset(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nfilesets; i++)
		if (strcmp(cfg->filesets[i].name, name) == 0)
			return &cfg->filesets[i];
	return NULL;
}
