/* net: destinations, pre-shared keys and the opening of a transport. */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "child.h"
#include "fsutil.h"
#include "log.h"
#include "proto.h"
#include "seal.h"
#include "words.h"

#define NONCE_SIZE 32
#define MAC_SIZE crypto_auth_hmacsha256_BYTES
#define TRANSCRIPT_SIZE 32
/* NET_CHALLENGE: the server's nonce, then the set of ciphers it runs. */
#define CHALLENGE_SIZE (NONCE_SIZE + 1)
/* NET_PROOF: the MAC; the client's also names the cipher it chose. */
#define CLIENT_PROOF_SIZE (MAC_SIZE + 1)
#define NET_MAGIC 0x4d524e54u	/* "MRNT" */

/* A user or host name is one word for the remote shell, never an option. */
static int
name_ok(const char *name, const char *what, const char *text, char *err,
    size_t errlen)
{
	if (name[0] == '\0') {
		snprintf(err, errlen, "%s: the %s is empty", text, what);
		return -1;
	}
	if (name[0] == '-') {
		snprintf(err, errlen, "%s: the %s '%s' starts with '-' (the "
		    "remote shell would take it for an option)", text, what,
		    name);
		return -1;
	}
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p <= ' ' || *p == 0x7f) {
			snprintf(err, errlen, "%s: the %s holds a blank or a "
			    "control character", text, what);
			return -1;
		}
	return 0;
}

/* Copies n bytes of src into dst (size cap) as a string; -1 if too long. */
static int
copy_part(char *dst, size_t cap, const char *src, size_t n, const char *what,
    const char *text, char *err, size_t errlen)
{
	if (n >= cap) {
		snprintf(err, errlen, "%s: %s too long", text, what);
		return -1;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

/*
 * Splits d->host, "host", "host:port", "[v6]" or "[v6]:port", into host
 * and port (left as is when none is given).
 */
static int
split_port(struct dest *d, char *err, size_t errlen)
{
	char *h = d->host, *colon, *end;
	long n;

	if (h[0] == '[') {
		char *close = strchr(h, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
			snprintf(err, errlen, "%s: bad [address]", d->text);
			return -1;
		}
		colon = close[1] == ':' ? close + 1 : NULL;
		*close = '\0';
		/* Only the address moves: the port stays where it is. */
		memmove(h, h + 1, strlen(h));
	} else
		colon = strrchr(h, ':');
	if (colon == NULL)
		return 0;
	*colon = '\0';
	n = strtol(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || n <= 0 ||
	    n > 65535) {
		snprintf(err, errlen, "%s: bad port '%s'", d->text, colon + 1);
		return -1;
	}
	snprintf(d->port, sizeof(d->port), "%ld", n);
	return 0;
}

/* [user@]host of an ssh destination, n bytes at s, into d. */
static int
ssh_login(struct dest *d, const char *s, size_t n, int with_port, char *err,
    size_t errlen)
{
	const char *at = memrchr(s, '@', n);

	if (at != NULL) {
		if (copy_part(d->user, sizeof(d->user), s, (size_t)(at - s),
		    "user name", d->text, err, errlen) == -1 ||
		    name_ok(d->user, "user name", d->text, err, errlen) == -1)
			return -1;
		n -= (size_t)(at + 1 - s);
		s = at + 1;
	}
	if (copy_part(d->host, sizeof(d->host), s, n, "host name", d->text,
	    err, errlen) == -1)
		return -1;
	if (with_port && split_port(d, err, errlen) == -1)
		return -1;
	if (!with_port && d->host[0] == '[') {
		size_t len = strlen(d->host);

		if (len < 3 || d->host[len - 1] != ']') {
			snprintf(err, errlen, "%s: bad [address]", d->text);
			return -1;
		}
		memmove(d->host, d->host + 1, len - 2);
		d->host[len - 2] = '\0';
	}
	return name_ok(d->host, "host name", d->text, err, errlen);
}

/*
 * The colon that ends the host of an scp-style [user@]host:path, or NULL
 * when text is a local path: no colon, a '/' before it, or nothing
 * before it (":x" is a file name, as in scp).
 */
static const char *
scp_colon(const char *text)
{
	const char *host = text, *at, *colon;

	at = strchr(text, '@');
	if (at != NULL && strcspn(text, ":/") > (size_t)(at - text))
		host = at + 1;
	if (host[0] == '[') {
		const char *close = strchr(host, ']');

		if (close == NULL || close[1] != ':' ||
		    memchr(text, '/', (size_t)(close - text)) != NULL)
			return NULL;
		return close + 1;
	}
	colon = strchr(text, ':');
	if (colon == NULL || colon == text ||
	    memchr(text, '/', (size_t)(colon - text)) != NULL)
		return NULL;
	return colon;
}

static int
parse_scp(const char *text, const char *colon, struct dest *d, char *err,
    size_t errlen)
{
	d->kind = DEST_SSH;
	if (colon[1] == ':') {
		snprintf(err, errlen, "%s: HOST::MODULE is rsync's daemon "
		    "syntax; mirrord takes mirror://HOST[:PORT]/STORE", text);
		return -1;
	}
	if (colon[1] == '\0') {
		snprintf(err, errlen, "%s: no path after ':' (HOST:PATH; "
		    "HOST:. is the login directory)", text);
		return -1;
	}
	snprintf(d->path, sizeof(d->path), "%s", colon + 1);
	return ssh_login(d, text, (size_t)(colon - text), 0, err, errlen);
}

int
dest_parse(const char *text, struct dest *d, char *err, size_t errlen)
{
	const char *rest, *slash, *colon;

	memset(d, 0, sizeof(*d));
	if (strlen(text) >= sizeof(d->text)) {
		snprintf(err, errlen, "%.40s...: destination too long", text);
		return -1;
	}
	snprintf(d->text, sizeof(d->text), "%s", text);
	if (strncmp(text, "ssh://", 6) == 0) {
		d->kind = DEST_SSH;
		rest = text + 6;
	} else if (strncmp(text, "mirror://", 9) == 0) {
		d->kind = DEST_MIRROR;
		rest = text + 9;
	} else if ((colon = scp_colon(text)) != NULL) {
		return parse_scp(text, colon, d, err, errlen);
	} else {
		d->kind = DEST_LOCAL;
		snprintf(d->path, sizeof(d->path), "%s", text);
		return 0;
	}
	slash = strchr(rest, '/');
	if (slash == NULL || slash == rest || slash[1] == '\0') {
		snprintf(err, errlen, "%s: expected %s", text,
		    d->kind == DEST_SSH ? "ssh://[USER@]HOST[:PORT]/PATH" :
		    "mirror://HOST[:PORT]/STORE");
		return -1;
	}
	/* As with rsync: ssh://host/dir is relative to the login directory,
	   ssh://host//dir is absolute. */
	snprintf(d->path, sizeof(d->path), "%s", slash + 1);
	if (d->kind == DEST_SSH)
		return ssh_login(d, rest, (size_t)(slash - rest), 1, err,
		    errlen);
	snprintf(d->port, sizeof(d->port), "%d", NET_DEFAULT_PORT);
	if (copy_part(d->host, sizeof(d->host), rest, (size_t)(slash - rest),
	    "host name", text, err, errlen) == -1 ||
	    split_port(d, err, errlen) == -1)
		return -1;
	if (d->host[0] == '\0') {
		snprintf(err, errlen, "%s: the host name is empty", text);
		return -1;
	}
	if (strchr(d->path, '/') != NULL) {
		snprintf(err, errlen, "%s: a store name has no '/'", text);
		return -1;
	}
	return 0;
}

int
key_load(const char *file, uint8_t key[NET_KEY_SIZE])
{
	uint8_t data[4096];
	struct stat st;
	ssize_t n;
	int fd, rc = -1;

	if (sodium_init() < 0) {
		log_errx("libsodium failed to initialise");
		return -1;
	}
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1) {
		log_err("key file %s", file);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		log_errx("key file %s: permissions %04o are too open: others "
		    "could read the key (chmod 600 %s)", file,
		    (unsigned)(st.st_mode & 07777), file);
		goto out;
	}
	n = read_full(fd, data, sizeof(data));
	if (n == -1) {
		log_err("key file %s", file);
		goto out;
	}
	while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == ' ' ||
	    data[n - 1] == '\r' || data[n - 1] == '\t'))
		n--;
	if (n < 16) {
		log_errx("key file %s: holds %zd bytes, at least 16 are needed "
		    "(make one with: mirrorctl genkey FILE)", file, n);
		goto out;
	}
	crypto_generichash(key, NET_KEY_SIZE, data, (size_t)n, NULL, 0);
	rc = 0;
out:
	sodium_memzero(data, sizeof(data));
	if (fd != -1)
		close(fd);
	return rc;
}

int
key_generate(const char *file)
{
	uint8_t raw[32];
	char hex[2 * sizeof(raw) + 2];
	int fd;

	if (sodium_init() < 0)
		return -1;
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
	strcat(hex, "\n");
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1 || write_all(fd, hex, strlen(hex)) == -1 ||
	    fsync(fd) == -1) {
		log_err("key file %s", file);
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(hex, sizeof(hex));
	return 0;
}

/*
 * The handshake transcript: a hash of the client's whole NET_OPEN payload
 * (version, compression, auth, store name, its nonce), the server's whole
 * NET_CHALLENGE (its nonce and ciphers) and the cipher the client chose.
 * Proofs and session keys are bound to it, so neither a replayed exchange
 * nor a changed option or cipher passes. Begun before the NET_PROOF that
 * names the cipher arrives (open points into the receive buffer).
 */
static void
transcript_begin(crypto_generichash_state *st, const uint8_t *open,
    size_t nopen, const uint8_t *challenge)
{
	static const char label[] = "mirrorfs transport 4";
	uint8_t len[4] = { nopen >> 24, nopen >> 16, nopen >> 8, nopen };

	crypto_generichash_init(st, NULL, 0, TRANSCRIPT_SIZE);
	crypto_generichash_update(st, (const uint8_t *)label, sizeof(label));
	crypto_generichash_update(st, len, sizeof(len));
	crypto_generichash_update(st, open, nopen);
	crypto_generichash_update(st, challenge, CHALLENGE_SIZE);
}

static void
transcript_end(crypto_generichash_state *st, uint8_t cipher,
    uint8_t out[TRANSCRIPT_SIZE])
{
	crypto_generichash_update(st, &cipher, 1);
	crypto_generichash_final(st, out, TRANSCRIPT_SIZE);
}

/* The MAC one side shows: HMAC-SHA256 under the key of its role and the transcript. */
static void
proof(uint8_t out[MAC_SIZE], const uint8_t *key, const char *role,
    const uint8_t t[TRANSCRIPT_SIZE])
{
	static const char label[] = "mirrorfs proof 4";
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, NET_KEY_SIZE);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)label,
	    sizeof(label));
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)role,
	    strlen(role) + 1);
	crypto_auth_hmacsha256_update(&st, t, TRANSCRIPT_SIZE);
	crypto_auth_hmacsha256_final(&st, out);
}

/*
 * Seals c with the session keys of this transcript: a master key, keyed
 * BLAKE2b of the transcript under the pre-shared key, then one subkey per
 * direction (crypto_kdf: 1 client to server, 2 server to client).
 */
static int
seal_session(struct conn *c, const uint8_t *key,
    const uint8_t t[TRANSCRIPT_SIZE], int cipher, int client)
{
	uint8_t master[crypto_kdf_KEYBYTES];
	uint8_t c2s[SEAL_KEY_SIZE], s2c[SEAL_KEY_SIZE];
	int rc;

	crypto_generichash(master, sizeof(master), t, TRANSCRIPT_SIZE, key,
	    NET_KEY_SIZE);
	crypto_kdf_derive_from_key(c2s, sizeof(c2s), 1, "mrfsseal", master);
	crypto_kdf_derive_from_key(s2c, sizeof(s2c), 2, "mrfsseal", master);
	rc = client ? conn_seal(c, cipher, c2s, s2c) :
	    conn_seal(c, cipher, s2c, c2s);
	sodium_memzero(master, sizeof(master));
	sodium_memzero(c2s, sizeof(c2s));
	sodium_memzero(s2c, sizeof(s2c));
	if (rc == -1)
		log_errx("%s: the session could not be sealed", c->peer);
	else
		log_debug("%s: session sealed with %s", c->peer,
		    seal_cipher_name(cipher));
	return rc;
}

/* Sends NET_OPEN; its payload stays in b for the transcript. */
static int
send_open(struct conn *c, struct buf *b, const char *name, int level,
    const uint8_t *nonce, int auth)
{
	int r;

	r = buf_put_u32(b, NET_MAGIC) || buf_put_u16(b, NET_VERSION) ||
	    buf_put_u8(b, (uint8_t)level) || buf_put_u8(b, (uint8_t)auth) ||
	    buf_put_str(b, name) || buf_put(b, nonce, NONCE_SIZE);
	if (r == 0)
		r = conn_send(c, MSG_NET_OPEN, b->data, b->len);
	return r ? -1 : conn_flush(c);
}

/*
 * For mirror://: the cipher, the client's proof, the server's, then the
 * seal.
 */
static int
client_prove(struct conn *c, const struct net_opts *o, const struct buf *open)
{
	uint8_t t[TRANSCRIPT_SIZE], mine[CLIENT_PROOF_SIZE], want[MAC_SIZE];
	crypto_generichash_state st;
	const uint8_t *p;
	size_t n;
	int cipher;

	if (proto_expect(c, MSG_NET_CHALLENGE, &p, &n) == -1)
		return -1;
	if (n != CHALLENGE_SIZE) {
		log_errx("%s: malformed challenge", c->peer);
		return -1;
	}
	cipher = seal_choose(seal_ciphers(), p[NONCE_SIZE]);
	if (cipher == 0) {
		log_errx("%s offers no cipher this side runs (set 0x%02x)",
		    c->peer, p[NONCE_SIZE]);
		return -1;
	}
	transcript_begin(&st, open->data, open->len, p);
	transcript_end(&st, (uint8_t)cipher, t);
	proof(mine, o->key, "client", t);
	mine[MAC_SIZE] = (uint8_t)cipher;
	proof(want, o->key, "server", t);
	if (conn_send(c, MSG_NET_PROOF, mine, sizeof(mine)) == -1 ||
	    conn_flush(c) == -1 ||
	    proto_expect(c, MSG_NET_PROOF, &p, &n) == -1)
		return -1;
	if (n != MAC_SIZE || sodium_memcmp(p, want, MAC_SIZE) != 0) {
		log_errx("%s failed to prove it holds the key: not "
		    "the server you meant", c->peer);
		return -1;
	}
	return seal_session(c, o->key, t, cipher, 1);
}

/* The client's half of the handshake on an open connection. */
static int
client_handshake(struct conn *c, const struct dest *d,
    const struct net_opts *o)
{
	uint8_t cn[NONCE_SIZE];
	const uint8_t *p;
	struct buf open;
	size_t n;
	int auth = d->kind == DEST_MIRROR, rc = -1;

	buf_init(&open);
	randombytes_buf(cn, sizeof(cn));
	if (send_open(c, &open, d->path, o->compress, cn, auth) == -1)
		goto out;
	if (!auth ? proto_expect(c, MSG_NET_OK, &p, &n) == -1 :
	    client_prove(c, o, &open) == -1)
		goto out;
	if (o->compress > 0 && conn_compress(c, o->compress) == -1) {
		log_err("compression");
		goto out;
	}
	rc = 0;
out:
	buf_release(&open);
	return rc;
}

static int
tcp_connect(const struct dest *d, int timeout_s)
{
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, one = 1, r, err = 0;
	struct pollfd pfd;
	socklen_t len;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	r = getaddrinfo(d->host, d->port, &hints, &res);
	if (r != 0) {
		log_errx("%s: %s", d->text, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 &&
		    errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			r = poll(&pfd, 1, timeout_s * 1000);
			len = sizeof(err);
			if (r <= 0)
				err = ETIMEDOUT;
			else
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
		} else
			err = errno == EINPROGRESS ? 0 : errno;
		if (err == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		errno = err;
		log_err("%s: connect", d->text);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	net_tcp_liveness(fd, timeout_s);
	return fd;
}

void
net_tcp_liveness(int fd, int timeout_s)
{
	unsigned int tmo = (unsigned int)timeout_s * 1000;
	int one = 1, idle = timeout_s / 3 > 0 ? timeout_s / 3 : 1, count = 3;

	/* A peer gone (a cut cable, a dead host) fails reads and writes both. */
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &tmo, sizeof(tmo));
}

/* Appends a copy of s to the NULL-terminated vector w of k words. */
static int
push_word(char **w, size_t *k, const char *s)
{
	w[*k] = strdup(s);
	if (w[*k] == NULL)
		return -1;
	++*k;
	return 0;
}

/*
 * RSH-WORDS... [-p PORT] [-l USER] HOST 'REMOTE [--mkpath] --serve
 * QUOTED-PATH', as
 * rsync builds its remote shell's command. NULL logged.
 */
static char **
rsh_argv(const struct dest *d, const struct net_opts *o)
{
	const char *remote = o->remote_cmd ? o->remote_cmd : "mirrord";
	char err[128], **v, **w, *quoted, *cmd = NULL;
	size_t n = 0, k = 0;
	int r = -1;

	v = words_split(o->rsh ? o->rsh : "ssh", err, sizeof(err));
	if (v == NULL) {
		log_errx("remote shell '%s': %s", o->rsh, err);
		return NULL;
	}
	while (v[n] != NULL)
		n++;
	w = calloc(n + 7, sizeof(*w));
	quoted = words_quote(d->path);
	if (w != NULL && quoted != NULL &&
	    asprintf(&cmd, "%s%s --serve %s", remote, o->mkpath ?
	    " --mkpath" : "", quoted) != -1) {
		memcpy(w, v, n * sizeof(*w));
		k = n;
		v[0] = NULL;	/* the words are w's now */
		r = 0;
		if (d->port[0] != '\0')
			r = push_word(w, &k, "-p") || push_word(w, &k, d->port);
		if (r == 0 && d->user[0] != '\0')
			r = push_word(w, &k, "-l") || push_word(w, &k, d->user);
		if (r == 0)
			r = push_word(w, &k, d->host) || push_word(w, &k, cmd);
	} else
		cmd = NULL;
	if (r == -1) {
		log_err("%s: the remote shell's command", d->text);
		words_free(w);
		w = NULL;
	}
	words_free(v);
	free(quoted);
	free(cmd);
	return w;
}

/*
 * Runs the remote shell from its argv (no local shell) with stdin and
 * stdout on a socket; returns our end of it.
 */
static int
rsh_spawn(const struct dest *d, const struct net_opts *o, pid_t *child)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char **argv = rsh_argv(d, o);
	int sv[2] = { -1, -1 }, err, rc = -1;

	if (argv == NULL)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_err("socketpair");
		words_free(argv);
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	child_attr_init(&attr, 0);
	posix_spawn_file_actions_adddup2(&fa, sv[1], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, sv[1], STDOUT_FILENO);
	for (size_t i = 0; log_get_level() >= LOG_DEBUG && argv[i]; i++)
		log_debug("%s: remote shell argv[%zu] = %s", d->text, i,
		    argv[i]);
	err = posix_spawnp(child, argv[0], &fa, &attr, argv, environ);
	if (err != 0) {
		errno = err;
		log_err("%s: running the remote shell '%s'", d->text, argv[0]);
		close(sv[0]);
	} else
		rc = sv[0];
	close(sv[1]);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	words_free(argv);
	return rc;
}

int
net_connect(const struct dest *d, const struct net_opts *o, struct conn *c)
{
	pid_t child = 0;
	int fd;

	if (sodium_init() < 0) {
		log_errx("libsodium failed to initialise");
		return -1;
	}
	if (d->kind == DEST_MIRROR && o->key == NULL) {
		log_errx("%s: a mirror:// destination needs a key (--key FILE)",
		    d->text);
		return -1;
	}
	fd = d->kind == DEST_SSH ? rsh_spawn(d, o, &child) :
	    tcp_connect(d, o->timeout_s);
	if (fd == -1)
		return -1;
	if (conn_init(c, fd, fd, d->text) == -1) {
		log_err("%s", d->text);
		close(fd);
		if (child > 0)
			waitpid(child, NULL, 0);
		return -1;
	}
	c->child = child;
	c->timeout_ms = o->timeout_s * 1000;
	if (client_handshake(c, d, o) == -1) {
		conn_release(c);
		return -1;
	}
	/*
	 * What a client sends is mostly file data: sealing it in a thread
	 * of its own lets the next files be read meanwhile, where a core is
	 * free for it. Without the thread the same bytes go out from this
	 * one.
	 */
	if (c->seal != NULL && conn_async_pays(c) && conn_async_writes(c) == -1)
		log_debug("%s: sealing in this thread: %s", d->text,
		    strerror(errno));
	return 0;
}

int
net_decode_open(const uint8_t *p, size_t n, struct net_open *o)
{
	struct reader r;
	const uint8_t *nonce;
	uint32_t magic;

	memset(o, 0, sizeof(*o));
	reader_init(&r, p, n);
	magic = reader_u32(&r);
	o->version = reader_u16(&r);
	o->level = reader_u8(&r);
	o->auth = reader_u8(&r);
	o->store = reader_str(&r, PATH_MAX - 1);
	nonce = reader_bytes(&r, NONCE_SIZE);
	if (reader_finish(&r) == -1 || magic != NET_MAGIC || o->auth > 1) {
		free(o->store);
		o->store = NULL;
		return -1;
	}
	memcpy(o->nonce, nonce, NONCE_SIZE);
	return 0;
}

/* Tells the client why it is refused, and logs it. Returns -1. */
static int
refuse(struct conn *c, const char *told, const char *logged)
{
	log_errx("%s: refused: %s", c->peer, logged);
	proto_send_error(c, told);
	conn_flush(c);
	return -1;
}

/* Offers our ciphers, checks the client's proof and choice, proves ourselves, seals c. */
static int
server_prove(struct conn *c, const uint8_t *key, const struct net_open *o,
    const uint8_t *open, size_t nopen)
{
	uint8_t challenge[CHALLENGE_SIZE], t[TRANSCRIPT_SIZE];
	uint8_t want[MAC_SIZE], mine[MAC_SIZE];
	crypto_generichash_state st;
	unsigned ours = seal_ciphers();
	const uint8_t *p;
	char why[PATH_MAX + 64];
	size_t n;
	int cipher;

	randombytes_buf(challenge, NONCE_SIZE);
	challenge[NONCE_SIZE] = (uint8_t)ours;
	transcript_begin(&st, open, nopen, challenge);
	if (conn_send(c, MSG_NET_CHALLENGE, challenge, sizeof(challenge)) == -1 ||
	    conn_flush(c) == -1 ||
	    proto_expect(c, MSG_NET_PROOF, &p, &n) == -1)
		return -1;
	cipher = n == CLIENT_PROOF_SIZE ? p[MAC_SIZE] : 0;
	if (cipher < 1 || cipher > 7 || (ours & (1u << cipher)) == 0) {
		snprintf(why, sizeof(why), "a proof of %zu bytes or a cipher "
		    "not offered (%d) for store '%s'", n, cipher, o->store);
		return refuse(c, "authentication failed", why);
	}
	transcript_end(&st, (uint8_t)cipher, t);
	proof(want, key, "client", t);
	if (sodium_memcmp(p, want, MAC_SIZE) != 0) {
		snprintf(why, sizeof(why), "authentication failed (wrong key, "
		    "or a replayed or altered handshake) for store '%s'",
		    o->store);
		return refuse(c, "authentication failed", why);
	}
	proof(mine, key, "server", t);
	if (conn_send(c, MSG_NET_PROOF, mine, MAC_SIZE) == -1 ||
	    conn_flush(c) == -1)
		return -1;
	return seal_session(c, key, t, cipher, 0);
}

int
net_accept(struct conn *c, const uint8_t *key, char *name, size_t namelen)
{
	struct net_open o = { 0 };
	const uint8_t *p;
	char told[160], why[160];
	int rc = -1;
	size_t n;

	if (sodium_init() < 0 || proto_expect(c, MSG_NET_OPEN, &p, &n) == -1)
		return -1;
	if (net_decode_open(p, n, &o) == -1) {
		refuse(c, "not a mirrorfs greeting",
		    "not a mirrorfs client (bad greeting)");
		goto out;
	}
	if (o.version != NET_VERSION) {
		snprintf(told, sizeof(told), "transport version %u is not "
		    "spoken here (this side speaks %d%s): upgrade mirrorfs",
		    o.version, NET_VERSION, o.version < NET_VERSION ?
		    ", with sealed sessions" : "");
		snprintf(why, sizeof(why), "transport version %u (this mirrord "
		    "speaks %d%s)", o.version, NET_VERSION, o.version <
		    NET_VERSION ? "; older ones sent sessions in clear" : "");
		refuse(c, told, why);
		goto out;
	}
	if (o.level > NET_MAX_COMPRESS || o.auth != (key != NULL)) {
		snprintf(why, sizeof(why), "compression %d, auth %d", o.level,
		    o.auth);
		refuse(c, "unsupported options", why);
		goto out;
	}
	if (key == NULL) {
		if (conn_send(c, MSG_NET_OK, NULL, 0) == -1 ||
		    conn_flush(c) == -1)
			goto out;
	} else if (server_prove(c, key, &o, p, n) == -1)
		goto out;
	if (o.level > 0 && conn_compress(c, o.level) == -1) {
		log_err("compression");
		goto out;
	}
	snprintf(name, namelen, "%s", o.store);
	rc = 0;
out:
	free(o.store);
	return rc;
}
