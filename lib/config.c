/* config: mirrord.conf, an INI file read with inih; every error is FILE:LINE. */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "path.h"

struct parse {
	struct config *cfg;
	char err[512];
};

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
		if (strrchr(value, ':') == NULL) {
			snprintf(ps->err, sizeof(ps->err), "address '%s' is "
			    "not HOST:PORT", value);
			return 0;
		}
		return set_once(&ps->cfg->address, value, key, ps);
	}
	if (strcmp(key, "key") == 0)
		return set_once(&ps->cfg->key, value, key, ps);
	if (strcmp(key, "timeout") == 0) {
		char *end;
		long v = strtol(value, &end, 10);

		if (*value == '\0' || *end != '\0' || v < 1 || v > 86400) {
			snprintf(ps->err, sizeof(ps->err), "timeout '%s' is not "
			    "a number of seconds from 1 to 86400", value);
			return 0;
		}
		ps->cfg->timeout = (int)v;
		return 1;
	}
	snprintf(ps->err, sizeof(ps->err), "unknown key '%s' in [listen] "
	    "(known: address, key, timeout)", key);
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
	snprintf(ps->err, sizeof(ps->err), "unknown key '%s' in [store %s] "
	    "(known: path, user)", key, name);
	return 0;
}

static int
on_value(void *arg, const char *section, const char *key, const char *value)
{
	struct parse *ps = arg;

	if (strcmp(section, "listen") == 0)
		return on_listen(ps, key, value);
	if (strncmp(section, "store ", 6) == 0)
		return on_store(ps, section + 6, key, value);
	snprintf(ps->err, sizeof(ps->err), "unknown section [%s] (known: "
	    "[listen], [store NAME])", section);
	return 0;
}

/*
 * inih calls nothing for a section without keys: find unknown section
 * headers, and section lines for messages, in a pass of our own.
 */
static int
check_sections(const char *file)
{
	char line[1024];
	unsigned lineno = 0;
	FILE *f = fopen(file, "re");
	int rc = 0;

	if (f == NULL) {
		log_err("%s", file);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = line + strspn(line, " \t");

		lineno++;
		if (*p != '[')
			continue;
		p[strcspn(p, "]\n")] = '\0';
		p++;
		if (strcmp(p, "listen") == 0 || strncmp(p, "store ", 6) == 0)
			continue;
		log_errx("%s:%u: unknown section [%s] (known: [listen], "
		    "[store NAME])", file, lineno, p);
		rc = -1;
		break;
	}
	fclose(f);
	return rc;
}

static int
check_complete(struct config *cfg)
{
	for (size_t i = 0; i < cfg->nstores; i++)
		if (cfg->stores[i].path == NULL) {
			log_errx("%s: [store %s] has no path", cfg->file,
			    cfg->stores[i].name);
			return -1;
		}
	if (cfg->listen && (cfg->address == NULL || cfg->key == NULL)) {
		log_errx("%s: [listen] needs address and key", cfg->file);
		return -1;
	}
	return 0;
}

int
config_load(struct config *cfg, const char *file)
{
	struct parse ps;
	int line;

	memset(cfg, 0, sizeof(*cfg));
	memset(&ps, 0, sizeof(ps));
	ps.cfg = cfg;
	cfg->file = strdup(file);
	if (cfg->file == NULL || check_sections(file) == -1)
		goto fail;
	line = ini_parse(file, on_value, &ps);
	if (line == -1) {
		log_err("%s", file);
		goto fail;
	}
	if (line == -2) {
		log_errx("%s: out of memory", file);
		goto fail;
	}
	if (line > 0) {
		log_errx("%s:%d: %s", file, line, ps.err[0] ? ps.err :
		    "not a section, a 'key = value' line or a comment");
		goto fail;
	}
	if (check_complete(cfg) == -1)
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
	}
	free(cfg->stores);
	free(cfg->address);
	free(cfg->key);
	free(cfg->file);
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
