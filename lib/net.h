/* net: destinations, pre-shared keys and the opening of a transport. */
#ifndef MIRRORFS_NET_H
#define MIRRORFS_NET_H

#include <stdint.h>

#include "conn.h"

#define NET_KEY_SIZE 32
#define NET_DEFAULT_PORT 7878
#define NET_MAX_COMPRESS 19
/*
 * The transport handshake's own version (NET_OPEN), apart from the
 * session protocol's PROTO_VERSION. 4: sealed mirror:// sessions. Before
 * it NET_OPEN carried PROTO_VERSION (1 to 3) and sessions went in clear:
 * such a peer is refused by name.
 */
#define NET_VERSION 4

enum dest_kind { DEST_LOCAL = 1, DEST_SSH, DEST_MIRROR };

/*
 * Where a session goes: a store path, ssh://[user@]host[:port]/path or
 * [user@]host:path (ssh), mirror://host[:port]/name.
 */
struct dest {
	int kind;
	char text[4096];	/* as given, for messages */
	char user[256];		/* ssh: the login name, or "" */
	char host[256];		/* ssh and mirror: the host (no brackets) */
	char port[16];		/* mirror: always; ssh: "" for the shell's default */
	char path[4096];	/* local and ssh: the store's path; mirror: its name */
};

/*
 * Parses text. As in rsync and scp, [user@]host:path is an ssh
 * destination when the colon comes before any '/' (so ./a:b and /x/a:b
 * stay local); host::module (rsync's daemon syntax) is refused. A user or
 * host that starts with '-' or holds a blank or control character is
 * refused. -1 with a message in err naming what is wrong.
 */
int dest_parse(const char *text, struct dest *d, char *err, size_t errlen);

/*
 * Loads a pre-shared key file: refused when group or others may read it
 * (like ssh), or when it holds fewer than 16 bytes. The key used is the
 * BLAKE2b-256 hash of the file's contents (whitespace at the end ignored).
 * Returns 0, or -1 logged naming the file.
 */
int key_load(const char *file, uint8_t key[NET_KEY_SIZE]);
/* Writes a new random key file (mode 0600, must not exist). -1 logged. */
int key_generate(const char *file);

/* What a client asks of a transport. */
struct net_opts {
	const uint8_t *key;	/* mirror://: the pre-shared key */
	int compress;		/* zstd level, 0 = off */
	int timeout_s;		/* a peer silent this long is given up */
	const char *rsh;	/* ssh: the remote shell with its arguments,
				   split as words_split() does (default "ssh") */
	const char *remote_cmd;	/* ssh://: the server program (default "mirrord") */
	int mkpath;		/* ssh://: --serve --mkpath (make the store's parents) */
};

/*
 * Connects to d (ssh or mirror) and opens the transport. ssh runs, from
 * an argv and no local shell, RSH [-p PORT] [-l USER] HOST 'REMOTE
 * --serve PATH' with PATH quoted for the remote shell. mirror:// proves
 * the key both ways (challenge-response with fresh nonces on both sides
 * over a hash of the whole handshake; the key never crosses the wire),
 * then seals every later byte with session keys derived from the key
 * and that hash (conn_seal), then compresses. Fills c. Returns 0, or -1
 * logged.
 */
int net_connect(const struct dest *d, const struct net_opts *o,
    struct conn *c);

/* A client's NET_OPEN, decoded and checked. */
struct net_open {
	uint16_t version;
	int level;		/* zstd level asked for */
	int auth;		/* the client will prove it holds the key */
	char *store;		/* owned */
	uint8_t nonce[32];
};
/* Decodes a NET_OPEN payload: 0, or -1 (malformed or not mirrorfs). */
int net_decode_open(const uint8_t *p, size_t n, struct net_open *o);

/*
 * The server side of opening a transport on c: with key, checks the
 * client's proof, proves itself and seals the connection; without key
 * (--serve under ssh) just accepts. A client of another NET_VERSION is
 * refused by name. Copies the store name asked for into name. Returns 0,
 * or -1 logged naming the peer; a client that fails authentication
 * learns nothing but "authentication failed".
 */
int net_accept(struct conn *c, const uint8_t *key, char *name, size_t namelen);

/*
 * Makes a TCP connection fail when its peer is gone for about timeout_s:
 * keepalive probes (a third of it idle, then three a third apart) and
 * TCP_USER_TIMEOUT for data sent and not acknowledged.
 */
void net_tcp_liveness(int fd, int timeout_s);

#endif
