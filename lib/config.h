/* config: mirrord.conf, an INI file read with inih; every error is FILE:LINE. */
#ifndef MIRRORFS_CONFIG_H
#define MIRRORFS_CONFIG_H

#include <stddef.h>

/* [store NAME]: a store this daemon receives sessions into. */
struct store_conf {
	char *name;
	char *path;		/* path = DIR (required) */
	char *user;		/* user = NAME: run its sessions as that user */
	unsigned line;
};

struct config {
	char *file;
	int listen;		/* a [listen] section was given */
	char *address;		/* [listen] address = HOST:PORT */
	char *key;		/* [listen] key = FILE */
	int timeout;		/* [listen] timeout = SECONDS a silent client is kept */
	struct store_conf *stores;
	size_t nstores;
};

/*
 * Reads file into cfg (zeroed first). An unknown section or key, a bad
 * or missing value, or a duplicate stops it: -1 with "FILE:LINE: what is
 * wrong" logged. cfg is released on failure.
 */
int config_load(struct config *cfg, const char *file);
void config_release(struct config *cfg);
/* The [store NAME] section, or NULL. */
const struct store_conf *config_store(const struct config *cfg,
    const char *name);

#endif
