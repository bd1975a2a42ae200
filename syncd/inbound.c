/* inbound: one session accepted by the listener, in a process of its own started from mirrord's binary. */
#include "inbound.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "child.h"
#include "conn.h"
#include "forward.h"
#include "log.h"
#include "net.h"
#include "proto.h"
#include "relay.h"
#include "result.h"
#include "session.h"
#include "trigger.h"

#define SESSION_TIMEOUT_S 120	/* a silent client is given up ([listen] timeout) */
#define SOCK_FD 3		/* the connection, in the session process */
#define CONF_FD 4		/* NET_KEY_SIZE key bytes, the file's name, its
				   text, the hops of forwarding stores */
#define FD_ABOVE 10		/* dup2 sources kept clear of SOCK_FD and CONF_FD */

extern char **environ;

/*
 * A sealed memfd holding the key, the configuration's name and text (each
 * NUL-terminated), then the hops records (forward.h).
 */
static int
conf_memfd(const struct config *cfg, const uint8_t *key,
    const struct buf *hops)
{
	size_t nlen = strlen(cfg->file) + 1, tlen = strlen(cfg->text) + 1;
	int fd = memfd_create("mirrord-session", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING);

	if (fd == -1) {
		log_err("memfd_create");
		return -1;
	}
	if (write(fd, key, NET_KEY_SIZE) != NET_KEY_SIZE ||
	    write(fd, cfg->file, nlen) != (ssize_t)nlen ||
	    write(fd, cfg->text, tlen) != (ssize_t)tlen ||
	    (hops->len > 0 && write(fd, hops->data, hops->len) !=
	    (ssize_t)hops->len) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
	    F_SEAL_SEAL) == -1) {
		log_err("writing the configuration for a session");
		close(fd);
		return -1;
	}
	return fd;
}

/* The executable we run from: the same version reads what we wrote. */
static int
spawn_self(const char *peer, int sock, int conf, int fwd, pid_t *pid)
{
	char *argv[] = { "mirrord", "--session", (char *)peer, NULL };
	char *verbose[] = { "mirrord", "-v", "--session", (char *)peer, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int err;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sock, SOCK_FD);
	posix_spawn_file_actions_adddup2(&fa, conf, CONF_FD);
	if (fwd != -1)
		posix_spawn_file_actions_adddup2(&fa, fwd, FORWARD_FD);
	child_attr_init(&attr, 0);
	/* mirrord -v: its sessions' debug lines too (the receiver's window). */
	err = posix_spawn(pid, "/proc/self/exe", &fa, &attr,
	    log_get_level() >= LOG_DEBUG ? verbose : argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (err != 0) {
		errno = err;
		log_err("%s: starting its session process", peer);
		return -1;
	}
	return 0;
}

int
inbound_spawn(const struct config *cfg, const uint8_t *key,
    const struct buf *hops, int fd, int fwd, const char *peer, pid_t *pid)
{
	int conf = -1, sock = -1, fwdhigh = -1, rc = -1;

	conf = conf_memfd(cfg, key, hops);
	if (conf == -1)
		goto out;
	/* Above the target numbers, so one dup2 cannot undo the other. */
	sock = fcntl(fd, F_DUPFD_CLOEXEC, FD_ABOVE);
	if (sock == -1) {
		log_err("%s: dup", peer);
		goto out;
	}
	if (conf < FD_ABOVE) {
		int high = fcntl(conf, F_DUPFD_CLOEXEC, FD_ABOVE);

		close(conf);
		conf = high;
		if (conf == -1) {
			log_err("%s: dup", peer);
			goto out;
		}
	}
	/* Above FORWARD_FD as well: dup2 onto it must not close sock or conf. */
	if (fwd != -1 && fwd < FD_ABOVE) {
		fwdhigh = fcntl(fwd, F_DUPFD_CLOEXEC, FD_ABOVE);
		if (fwdhigh == -1) {
			log_err("%s: dup", peer);
			goto out;
		}
		fwd = fwdhigh;
	}
	rc = spawn_self(peer, sock, conf, fwd, pid);
out:
	if (fwdhigh != -1)
		close(fwdhigh);
	if (conf != -1)
		close(conf);
	if (sock != -1)
		close(sock);
	return rc;
}

/* What conf_memfd wrote, mapped. */
struct conf_map {
	char *map;
	size_t len;
	const uint8_t *hops;	/* the hops records, inside map */
	size_t hops_len;
};

/* Reads what conf_memfd wrote: the key into key, the rest into cfg. */
static int
read_conf(struct config *cfg, uint8_t *key, struct conf_map *cm)
{
	struct stat st;
	char *map, *name, *text, *end;
	size_t len;
	int rc = -1;

	if (fstat(CONF_FD, &st) == -1 || st.st_size < NET_KEY_SIZE + 2 ||
	    st.st_size > 2 * CONFIG_MAX_BYTES + PATH_MAX + NET_KEY_SIZE + 2) {
		log_errx("--session: descriptor %d is not a configuration from "
		    "mirrord (it is started by mirrord's listener only)",
		    CONF_FD);
		return -1;
	}
	len = (size_t)st.st_size;
	map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, CONF_FD, 0);
	if (map == MAP_FAILED) {
		log_err("--session: reading descriptor %d", CONF_FD);
		return -1;
	}
	name = map + NET_KEY_SIZE;
	text = memchr(name, '\0', len - NET_KEY_SIZE);
	end = text == NULL ? NULL : memchr(text + 1, '\0',
	    (size_t)(map + len - (text + 1)));
	if (end == NULL) {
		log_errx("--session: descriptor %d holds no configuration",
		    CONF_FD);
		goto out;
	}
	memcpy(key, map, NET_KEY_SIZE);
	rc = config_parse(cfg, name, text + 1);
out:
	close(CONF_FD);
	if (rc == -1) {
		munmap(map, len);
		return -1;
	}
	cm->map = map;
	cm->len = len;
	cm->hops = (const uint8_t *)end + 1;
	cm->hops_len = (size_t)(map + len - (end + 1));
	return 0;
}

/* Takes on the identity of the store's user before touching the store. */
static int
become(const char *user)
{
	struct passwd *pw = getpwnam(user);
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (pw == NULL) {
		log_errx("user '%s' does not exist", user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) == -1 ||
	    setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1) {
		log_err("becoming user %s", user);
		return -1;
	}
	/* Read back: every id is the user's, and root is not to be had again. */
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    ru != pw->pw_uid || eu != pw->pw_uid || su != pw->pw_uid ||
	    rg != pw->pw_gid || eg != pw->pw_gid || sg != pw->pw_gid ||
	    (pw->pw_uid != 0 && setuid(0) != -1)) {
		log_errx("becoming user %s: the switch did not take (uid %lu, "
		    "gid %lu)", user, (unsigned long)geteuid(),
		    (unsigned long)getegid());
		return -1;
	}
	return 0;
}

/*
 * The relay that streams a session into sc on to its hops (relay.h), or
 * NULL: sc forwards nowhere, only after its commits (forward_stream =
 * no), or its key cannot be read (the forward says so). Made before
 * the store's user is taken on: a forward_key may be root's to read.
 */
static struct relay *
relay_for(const struct config *cfg, const struct store_conf *sc,
    const uint8_t *listen_key)
{
	char name[512];
	const struct fileset_conf *fs;
	uint8_t key[NET_KEY_SIZE];
	struct net_opts no = { .key = listen_key, .timeout_s = 60 };

	if (sc->nforward == 0 || sc->forward_after_commit)
		return NULL;
	snprintf(name, sizeof(name), CONFIG_FORWARD_PREFIX "%s", sc->name);
	fs = config_fileset(cfg, name);
	if (fs != NULL)
		no.compress = fs->compress;
	if (sc->forward_key != NULL) {
		if (key_load(sc->forward_key, key) == -1)
			return NULL;
		no.key = key;
	}
	return relay_alloc(sc->path, sc->forward, sc->nforward, &no);
}

/* Authenticate, then receive. Exit status. */
static int
serve_client(const struct config *cfg, const uint8_t *key,
    const struct conf_map *cm, int fd, const char *peer)
{
	const struct store_conf *sc;
	struct result counts;
	struct relay *relay = NULL;
	struct hops hops;
	struct conn c;
	char name[4096], msg[512];
	int rc = 1;

	hops_init(&hops);
	if (conn_init(&c, fd, fd, peer) == -1) {
		close(fd);
		return 1;
	}
	c.timeout_ms = (cfg->timeout ? cfg->timeout : SESSION_TIMEOUT_S) * 1000;
	net_tcp_liveness(fd, c.timeout_ms / 1000);
	/* The frame deadline alone would let each frame take that long. */
	conn_until(&c, INBOUND_HANDSHAKE_S, "finish its handshake");
	if (net_accept(&c, key, name, sizeof(name)) == -1)
		goto out;
	conn_until(&c, 0, NULL);
	sc = config_store(cfg, name);
	if (sc == NULL) {
		log_errx("%s: refused: no store '%s' in %s", peer, name,
		    cfg->file);
		snprintf(msg, sizeof(msg), "no store '%.200s' here", name);
		proto_send_error(&c, msg);
		conn_flush(&c);
		goto out;
	}
	relay = relay_for(cfg, sc, key);
	if (sc->user != NULL && become(sc->user) == -1) {
		snprintf(msg, sizeof(msg), "the store's user is not available: "
		    "%.400s", log_last());
		proto_send_error(&c, msg);
		conn_flush(&c);
		goto out;
	}
	/* What we know of the hops below is the sender's to know too. */
	if (forward_hops_find(cm->hops, cm->hops_len, name, &hops) == -1)
		hops_release(&hops);
	log_info("%s: session into store %s (%s)", peer, name, sc->path);
	result_init(&counts);
	if (relay != NULL)
		forward_relaying(sc, 1);
	rc = session_receive(&c, sc->path, &counts, &hops, relay);
	/* The upstream has its result; the hops finish theirs. */
	if (relay != NULL) {
		relay_free(relay);
		relay = NULL;
		forward_relaying(sc, 0);
	}
	if (rc == 0) {
		char text[RESULT_COUNTS_LEN];

		result_counts(&counts, text, sizeof(text));
		log_info("%s: session into store %s done: %s", peer, name, text);
		/* Its hops next, then its own trigger, with what was done. */
		forward_tell(sc, &counts);
		trigger_run(sc->trigger, "STORE", name, sc->path, &counts);
	} else {
		rc = 1;
		log_errx("%s: session into store %s failed: nothing was "
		    "committed", peer, name);
	}
	result_release(&counts);
out:
	relay_free(relay);
	hops_release(&hops);
	conn_release(&c);
	return rc;
}

int
inbound_main(const char *peer)
{
	uint8_t key[NET_KEY_SIZE];
	struct conf_map cm;
	struct config cfg;
	int rc;

	/* The daemon's pipe, when it gave one, is for us, not our trigger. */
	if (fcntl(FORWARD_FD, F_SETFD, FD_CLOEXEC) == -1 && errno != EBADF)
		log_err("descriptor %d", FORWARD_FD);
	if (read_conf(&cfg, key, &cm) == -1) {
		close(SOCK_FD);
		return 1;
	}
	rc = serve_client(&cfg, key, &cm, SOCK_FD, peer);
	config_release(&cfg);
	munmap(cm.map, cm.len);
	return rc;
}
