/* config: mirrord.conf, an INI file read with inih; every error is FILE:LINE. */
#ifndef MIRRORFS_CONFIG_H
#define MIRRORFS_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "filter.h"

/* [store NAME]: a store this daemon receives sessions into. */
struct store_conf {
	char *name;
	char *path;		/* path = DIR (required) */
	char *user;		/* user = NAME: run its sessions as that user */
	char *trigger;		/* run after a session that changed something */
	char **forward;		/* forward = URL...: relay each committed
				   generation to these (a file set of its own,
				   FORWARD_PREFIX NAME) */
	size_t nforward;
	char *forward_key;	/* forward_key = FILE for mirror:// hops
				   (default: [listen] key) */
	int forward_retry_min;	/* the hops' backoff (as a file set's) */
	int forward_retry_max;
	/*
	 * forward_stream = no: the hops get each generation after its commit
	 * only (store-and-forward), and the store's own sessions keep their
	 * deltas; a streamed session asks its upstream for whole files.
	 */
	int forward_after_commit;
	int forward_stream_set;
	unsigned line;		/* of its section header */
};

/* The file set that forwards [store NAME]: "forward:NAME". */
#define CONFIG_FORWARD_PREFIX "forward:"


/* [fileset NAME]: a source tree this daemon keeps mirrored. */
struct fileset_conf {
	char *name;
	unsigned line;		/* of its section header */
	char *source;		/* absolute directory (required) */
	char **dests;		/* dest = one or more destinations (required) */
	size_t ndests;
	struct filter filter;	/* include = / exclude =, in the order given */
	char *exclude_from;	/* re-read when it changes */
	int interval;		/* seconds from the end of a run to the next; 0 none */
	int start;		/* minute of the day, -1 none */
	int stop;		/* minute of the day, -1 none */
	int watch;		/* push changes once quiet */
	int quiet;		/* seconds a changed file must stay unchanged */
	int max_defer;		/* seconds before a never-quiet file is pushed anyway */
	int openupdate;		/* seconds: push a file open for write if unchanged that long; -1 off */
	int purge;
	int purge_dirs;
	int xattrs;		/* carry extended attributes (default yes) */
	int acls;		/* carry POSIX ACLs (default yes) */
	int compress;		/* zstd level for ssh:// and mirror:// */
	uint64_t bwlimit;	/* bytes per second on the wire, 0: no limit */
	int whole_file;		/* enum whole_file (sender.h): auto, yes, no */
	char *batch;		/* file sets of one batch run one after another */
	char *user;		/* read the source as this user */
	int suspended;
	char *trigger;		/* run after a session that changed something */
	char *key;		/* pre-shared key file for mirror:// destinations */
	int retry_min;		/* seconds before a failed destination is retried */
	int retry_max;		/* the longest wait between retries (doubling) */
	char *forward_of;	/* the [store NAME] whose commits this file set
				   forwards (made from its forward =), or NULL */
};

#define CONFIG_RETRY_MIN 1
#define CONFIG_RETRY_MAX 300

struct config {
	char *file;
	char *text;		/* the whole text it was read from */
	int listen;		/* a [listen] section was given */
	unsigned listen_line;	/* of its header */
	char *address;		/* [listen] address = HOST:PORT */
	char *key;		/* [listen] key = FILE */
	int timeout;		/* [listen] timeout = SECONDS a silent client is kept */
	int max_sessions;	/* [listen] max_sessions = sessions at once */
	struct store_conf *stores;
	size_t nstores;
	struct fileset_conf *filesets;
	size_t nfilesets;
	char *control;		/* [daemon] control = the daemon's socket */
	char *control_group;	/* [daemon] control_group = its members may use it */
	gid_t control_gid;	/* that group's id, looked up when read */
	char *sessions;		/* [daemon] sessions = the session history */
	char *metrics;		/* [daemon] metrics = the Prometheus textfile */
};

#define CONFIG_DEFAULT_CONTROL "/run/mirrord.sock"
#define CONFIG_MAX_SESSIONS 64		/* [listen] max_sessions by default */
#define CONFIG_MAX_SESSIONS_LIMIT 4096
#define CONFIG_MAX_BYTES (16 << 20)	/* a configuration file at most */

/*
 * Where mirrord keeps its session history (sessionlog.h): [daemon]
 * sessions =, else beside the control socket, its name's ".sock" (if
 * any) replaced by ".sessions" (/run/mirrord.sessions). Into out (len
 * bytes).
 */
void config_sessions_path(const struct config *cfg, char *out, size_t len);

/*
 * Reads file into cfg (zeroed first). An unknown section or key, a bad
 * or missing value, or a duplicate stops it: -1 with "FILE:LINE: what is
 * wrong" logged. cfg is released on failure.
 */
int config_load(struct config *cfg, const char *file);
/*
 * The same from text (what config_load read from file, which only names
 * it in messages): how a session process gets the configuration its
 * daemon runs, not the file as it may have become since.
 */
int config_parse(struct config *cfg, const char *file, const char *text);
void config_release(struct config *cfg);
/* The [fileset NAME] section, or NULL. */
const struct fileset_conf *config_fileset(const struct config *cfg,
    const char *name);
/* The [store NAME] section, or NULL. */
const struct store_conf *config_store(const struct config *cfg,
    const char *name);

#endif
