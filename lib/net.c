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
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "proto.h"

#define NONCE_SIZE 32
#define MAC_SIZE crypto_auth_hmacsha256_BYTES
#define NET_MAGIC 0x4d524e54u	/* "MRNT" */

int
dest_parse(const char *text, struct dest *d, char *err, size_t errlen)
{
	const char *rest, *slash, *colon;
	size_t hostlen;

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
	} else {
		d->kind = DEST_LOCAL;
		snprintf(d->path, sizeof(d->path), "%s", text);
		return 0;
	}
	slash = strchr(rest, '/');
	if (slash == NULL || slash == rest || slash[1] == '\0') {
		snprintf(err, errlen, "%s: expected %s", text,
		    d->kind == DEST_SSH ? "ssh://[USER@]HOST/PATH" :
		    "mirror://HOST[:PORT]/STORE");
		return -1;
	}
	hostlen = (size_t)(slash - rest);
	if (hostlen >= sizeof(d->host)) {
		snprintf(err, errlen, "%s: host name too long", text);
		return -1;
	}
	memcpy(d->host, rest, hostlen);
	if (d->kind == DEST_SSH) {
		/* As with rsync: ssh://host/dir is relative to the login
		   directory, ssh://host//dir is absolute. */
		snprintf(d->path, sizeof(d->path), "%s", slash + 1);
		return 0;
	}
	snprintf(d->port, sizeof(d->port), "%d", NET_DEFAULT_PORT);
	colon = d->host[0] == '[' ? strstr(d->host, "]:") : strrchr(d->host, ':');
	if (colon != NULL) {
		const char *port = colon + (d->host[0] == '[' ? 2 : 1);
		char *end;
		long n = strtol(port, &end, 10);

		if (*port == '\0' || *end != '\0' || n <= 0 || n > 65535) {
			snprintf(err, errlen, "%s: bad port '%s'", text, port);
			return -1;
		}
		snprintf(d->port, sizeof(d->port), "%ld", n);
		d->host[colon - d->host + (d->host[0] == '[')] = '\0';
	}
	if (d->host[0] == '[') {
		memmove(d->host, d->host + 1, strlen(d->host));
		d->host[strcspn(d->host, "]")] = '\0';
	}
	snprintf(d->path, sizeof(d->path), "%s", slash + 1);
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

/* The MAC one side shows: role, store name and both nonces, in its order. */
static void
proof(uint8_t out[MAC_SIZE], const uint8_t *key, const char *role,
    const char *name, const uint8_t *mine, const uint8_t *theirs)
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, NET_KEY_SIZE);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)"mirrorfs-v1", 12);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)role,
	    strlen(role) + 1);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)name,
	    strlen(name) + 1);
	crypto_auth_hmacsha256_update(&st, mine, NONCE_SIZE);
	crypto_auth_hmacsha256_update(&st, theirs, NONCE_SIZE);
	crypto_auth_hmacsha256_final(&st, out);
}

static int
send_open(struct conn *c, const char *name, int level, const uint8_t *nonce,
    int auth)
{
	struct buf b;
	int r;

	buf_init(&b);
	r = buf_put_u32(&b, NET_MAGIC) || buf_put_u16(&b, PROTO_VERSION) ||
	    buf_put_u8(&b, (uint8_t)level) || buf_put_u8(&b, (uint8_t)auth) ||
	    buf_put_str(&b, name) || buf_put(&b, nonce, NONCE_SIZE);
	if (r == 0)
		r = conn_send(c, MSG_NET_OPEN, b.data, b.len);
	buf_release(&b);
	return r ? -1 : conn_flush(c);
}

/* The client's half of the handshake on an open connection. */
static int
client_handshake(struct conn *c, const struct dest *d,
    const struct net_opts *o)
{
	uint8_t cn[NONCE_SIZE], mine[MAC_SIZE], want[MAC_SIZE];
	const uint8_t *p;
	size_t n;
	int auth = d->kind == DEST_MIRROR;

	randombytes_buf(cn, sizeof(cn));
	if (send_open(c, d->path, o->compress, cn, auth) == -1)
		return -1;
	if (!auth) {
		if (proto_expect(c, MSG_NET_OK, &p, &n) == -1)
			return -1;
	} else {
		if (proto_expect(c, MSG_NET_CHALLENGE, &p, &n) == -1)
			return -1;
		if (n != NONCE_SIZE) {
			log_errx("%s: malformed challenge", c->peer);
			return -1;
		}
		proof(mine, o->key, "client", d->path, cn, p);
		proof(want, o->key, "server", d->path, p, cn);
		if (conn_send(c, MSG_NET_PROOF, mine, MAC_SIZE) == -1 ||
		    conn_flush(c) == -1 ||
		    proto_expect(c, MSG_NET_PROOF, &p, &n) == -1)
			return -1;
		if (n != MAC_SIZE || sodium_memcmp(p, want, MAC_SIZE) != 0) {
			log_errx("%s failed to prove it holds the key: not "
			    "the server you meant", c->peer);
			return -1;
		}
	}
	if (o->compress > 0 && conn_compress(c, o->compress) == -1) {
		log_err("compression");
		return -1;
	}
	return 0;
}

static int
tcp_connect(const struct dest *d, int timeout_s)
{
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, one = 1, r, err = 0;
	unsigned int tmo = (unsigned int)timeout_s * 1000;
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
	/* A peer gone silent (a cut cable) fails the writes too. */
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &tmo, sizeof(tmo));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	return fd;
}

/* Runs RSH HOST REMOTE --serve PATH with its stdin/stdout on a socket. */
static int
rsh_spawn(const struct dest *d, const struct net_opts *o, pid_t *child)
{
	const char *rsh = o->rsh ? o->rsh : "ssh";
	const char *remote = o->remote_cmd ? o->remote_cmd : "mirrord";
	char *cmd;
	int sv[2];
	pid_t pid;

	if (asprintf(&cmd, "%s %s %s --serve '%s'", rsh, d->host, remote,
	    d->path) == -1)
		return -1;
	if (strchr(d->path, '\'') != NULL || strchr(d->host, '\'') != NULL ||
	    strpbrk(d->host, " ;|&$`") != NULL) {
		log_errx("%s: quotes and shell characters are not allowed in "
		    "an ssh destination", d->text);
		free(cmd);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_err("socketpair");
		free(cmd);
		return -1;
	}
	pid = fork();
	if (pid == -1) {
		log_err("fork");
		close(sv[0]);
		close(sv[1]);
		free(cmd);
		return -1;
	}
	if (pid == 0) {
		dup2(sv[1], STDIN_FILENO);
		dup2(sv[1], STDOUT_FILENO);
		signal(SIGPIPE, SIG_DFL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	free(cmd);
	close(sv[1]);
	*child = pid;
	return sv[0];
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

int
net_accept(struct conn *c, const uint8_t *key, char *name, size_t namelen)
{
	uint8_t sn[NONCE_SIZE], want[MAC_SIZE], mine[MAC_SIZE];
	struct net_open o = { 0 };
	const uint8_t *p;
	int rc = -1;
	size_t n;

	if (sodium_init() < 0 || proto_expect(c, MSG_NET_OPEN, &p, &n) == -1)
		return -1;
	if (net_decode_open(p, n, &o) == -1) {
		log_errx("%s: refused: not a mirrorfs client (bad greeting)",
		    c->peer);
		proto_send_error(c, "not a mirrorfs greeting");
		conn_flush(c);
		goto out;
	}
	if (o.version != PROTO_VERSION || o.level > NET_MAX_COMPRESS ||
	    o.auth != (key != NULL)) {
		log_errx("%s: refused: protocol %u, compression %d, auth %d",
		    c->peer, o.version, o.level, o.auth);
		proto_send_error(c, "unsupported protocol version or options");
		conn_flush(c);
		goto out;
	}
	if (key == NULL) {
		if (conn_send(c, MSG_NET_OK, NULL, 0) == -1 ||
		    conn_flush(c) == -1)
			goto out;
	} else {
		randombytes_buf(sn, sizeof(sn));
		if (conn_send(c, MSG_NET_CHALLENGE, sn, NONCE_SIZE) == -1 ||
		    conn_flush(c) == -1 ||
		    proto_expect(c, MSG_NET_PROOF, &p, &n) == -1)
			goto out;
		proof(want, key, "client", o.store, o.nonce, sn);
		if (n != MAC_SIZE || sodium_memcmp(p, want, MAC_SIZE) != 0) {
			log_errx("%s: refused: authentication failed (wrong "
			    "key) for store '%s'", c->peer, o.store);
			proto_send_error(c, "authentication failed");
			conn_flush(c);
			goto out;
		}
		proof(mine, key, "server", o.store, sn, o.nonce);
		if (conn_send(c, MSG_NET_PROOF, mine, MAC_SIZE) == -1 ||
		    conn_flush(c) == -1)
			goto out;
	}
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
