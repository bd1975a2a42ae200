/*
 * Unit tests for net.h: destinations, pre-shared key files, the NET_OPEN
 * decoder, and net_accept() driven by hand over a socketpair (the server
 * runs in a thread, the test plays the client frame by frame). The good
 * mirror:// path runs net_connect() against net_accept() over loopback TCP.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "conn.h"
#include "log.h"
#include "net.h"
#include "proto.h"
#include "seal.h"
#include "unit.h"

#define NET_MAGIC 0x4d524e54u	/* "MRNT", documented in net.h's users */

/* Every test's directory is made in base, which main() removes at the end
 * even when a failed test skipped its teardown. */
static char base[] = "/tmp/test_net.XXXXXX";
static char top[sizeof(base) + 16];


static void
setup(void)
{
	log_init("test_net", LOG_SILENT);
	snprintf(top, sizeof(top), "%s/t.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(top));
}

static void
teardown(void)
{
	rm_rf(top);
}

/* A copy of p[0..n) in an allocation of exactly n bytes (ASan sees overreads). */
static uint8_t *
exact_copy(const void *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(c);
	if (n)
		memcpy(c, p, n);
	return c;
}

/* ---- dest_parse ----------------------------------------------------- */

static void
parses_user(const char *text, int kind, const char *user, const char *host,
    const char *port, const char *path)
{
	struct dest d;
	char err[256] = "";

	ck_assert_msg(dest_parse(text, &d, err, sizeof(err)) == 0,
	    "%s refused: %s", text, err);
	ck_assert_int_eq(d.kind, kind);
	ck_assert_str_eq(d.text, text);
	ck_assert_str_eq(d.user, user);
	ck_assert_str_eq(d.host, host);
	ck_assert_str_eq(d.port, port);
	ck_assert_str_eq(d.path, path);
}

static void
parses(const char *text, int kind, const char *host, const char *port,
    const char *path)
{
	parses_user(text, kind, "", host, port, path);
}

static void
refused(const char *text)
{
	struct dest d;
	char err[256] = "";

	ck_assert_msg(dest_parse(text, &d, err, sizeof(err)) == -1,
	    "%s accepted (host '%s' port '%s' path '%s')", text, d.host,
	    d.port, d.path);
	ck_assert_msg(strstr(err, text) != NULL, "message '%s' does not name "
	    "'%s'", err, text);
}

START_TEST(test_dest_local)
{
	parses("/srv/store", DEST_LOCAL, "", "", "/srv/store");
	parses("relative/dir", DEST_LOCAL, "", "", "relative/dir");
	parses(".", DEST_LOCAL, "", "", ".");
	/* A colon after a '/', or first: a local name, as in rsync and scp. */
	parses("./a:b", DEST_LOCAL, "", "", "./a:b");
	parses("/srv/a:b", DEST_LOCAL, "", "", "/srv/a:b");
	parses("dir/host:x", DEST_LOCAL, "", "", "dir/host:x");
	parses(":x", DEST_LOCAL, "", "", ":x");
	parses("[::1]", DEST_LOCAL, "", "", "[::1]");
}
END_TEST

START_TEST(test_dest_ssh)
{
	parses_user("ssh://user@host/rel", DEST_SSH, "user", "host", "", "rel");
	parses("ssh://host/rel/deeper", DEST_SSH, "host", "", "rel/deeper");
	parses("ssh://host//abs", DEST_SSH, "host", "", "/abs");
	parses_user("ssh://u@h//srv/store", DEST_SSH, "u", "h", "",
	    "/srv/store");
	/* The port goes to the remote shell as -p, not as part of the host. */
	parses_user("ssh://deploy@host:2222//p", DEST_SSH, "deploy", "host",
	    "2222", "/p");
	parses("ssh://[::1]:22/x", DEST_SSH, "::1", "22", "x");
	parses("ssh://[fe80::1]/x", DEST_SSH, "fe80::1", "", "x");
	/* The path is the remote shell's to quote, whatever it holds. */
	parses("ssh://h//a;b $(c) 'd'", DEST_SSH, "h", "", "/a;b $(c) 'd'");
}
END_TEST

START_TEST(test_dest_scp_style)
{
	parses("host:app", DEST_SSH, "host", "", "app");
	parses("host:/srv/app", DEST_SSH, "host", "", "/srv/app");
	parses_user("deploy@host:app", DEST_SSH, "deploy", "host", "", "app");
	parses_user("d@[::1]:/s", DEST_SSH, "d", "::1", "", "/s");
	parses("[fe80::1]:s", DEST_SSH, "fe80::1", "", "s");
	parses("ssh:/x", DEST_SSH, "ssh", "", "/x");
	/* Only the first colon ends the host. */
	parses("h:a:b", DEST_SSH, "h", "", "a:b");
	parses("h:a/b:c", DEST_SSH, "h", "", "a/b:c");
}
END_TEST

START_TEST(test_dest_mirror)
{
	char port[16];

	snprintf(port, sizeof(port), "%d", NET_DEFAULT_PORT);
	parses("mirror://host/name", DEST_MIRROR, "host", port, "name");
	parses("mirror://host:7000/name", DEST_MIRROR, "host", "7000", "name");
	parses("mirror://10.1.2.3:1/n", DEST_MIRROR, "10.1.2.3", "1", "n");
	parses("mirror://h:65535/n", DEST_MIRROR, "h", "65535", "n");
	parses("mirror://[::1]:7000/name", DEST_MIRROR, "::1", "7000", "name");
	parses("mirror://[::1]/name", DEST_MIRROR, "::1", port, "name");
	parses("mirror://[fe80::1]:9/s", DEST_MIRROR, "fe80::1", "9", "s");
}
END_TEST

START_TEST(test_dest_refused)
{
	/* rsync's daemon syntax, and no path. */
	refused("host::module");
	refused("host:");
	refused("u@host:");
	/* A user or host the remote shell would take for an option. */
	refused("-oProxyCommand=x:p");
	refused("ssh://-oProxyCommand=x/p");
	refused("ssh://-l@h/p");
	refused("-u@h:p");
	/* Blanks and control characters in a user or host. */
	refused("ssh://a b/p");
	refused("ssh://a\tb/p");
	refused("ssh://u\nx@h/p");
	refused("ssh://h\x7f/p");
	refused("a\x01b:p");
	refused("ssh://@h/p");
	refused("ssh://u@/p");
	refused("ssh://h:0/p");
	refused("ssh://h:22x/p");
	refused("ssh://[::1/p");
	refused("ssh://");
	refused("ssh://host");
	refused("ssh://host/");
	refused("ssh:///path");
	refused("mirror://");
	refused("mirror://host");
	refused("mirror://host/");
	refused("mirror:///name");
	refused("mirror://h/a/b");
	refused("mirror://h:7000/a/b");
	refused("mirror://h:0/n");
	refused("mirror://h:65536/n");
	refused("mirror://h:x/n");
	refused("mirror://h:/n");
	refused("mirror://h:-1/n");
	refused("mirror://h:70x/n");
	refused("mirror://[::1]:0/n");
	refused("mirror://[::1]:65536/n");
	refused("mirror://[::1]:x/n");
}
END_TEST

START_TEST(test_dest_too_long)
{
	char text[5000];
	struct dest d;
	char err[256] = "";

	memset(text, 'a', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	ck_assert_int_eq(dest_parse(text, &d, err, sizeof(err)), -1);
	ck_assert(err[0] != '\0');
	/* A host name that does not fit in d.host. */
	memcpy(text, "mirror://", 9);
	text[9 + 300] = '/';
	text[9 + 301] = 'n';
	text[9 + 302] = '\0';
	err[0] = '\0';
	ck_assert_int_eq(dest_parse(text, &d, err, sizeof(err)), -1);
	ck_assert(err[0] != '\0');
}
END_TEST

/* ---- key_load / key_generate ---------------------------------------- */

/* Writes TOP/name with exactly n bytes of data and the given mode. */
static const char *
key_file(const char *name, const void *data, size_t n, mode_t mode)
{
	static char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", top, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_msg(fd != -1, "%s: %s", p, strerror(errno));
	ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	ck_assert_int_eq(close(fd), 0);
	return p;
}

START_TEST(test_key_load_too_open)
{
	static const char secret[] = "0123456789abcdef0123456789abcdef";
	static const mode_t modes[] = { 0640, 0604, 0644, 0660, 0666, 0601,
	    0610 };
	uint8_t key[NET_KEY_SIZE];
	const char *p;

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		p = key_file("k", secret, sizeof(secret) - 1, modes[i]);
		ck_assert_msg(key_load(p, key) == -1, "mode %04o accepted",
		    (unsigned)modes[i]);
		ck_assert_msg(strstr(log_last(), "too open") != NULL,
		    "message '%s'", log_last());
		ck_assert_msg(strstr(log_last(), p) != NULL, "message '%s'",
		    log_last());
	}
	p = key_file("k", secret, sizeof(secret) - 1, 0600);
	ck_assert_int_eq(key_load(p, key), 0);
	p = key_file("k", secret, sizeof(secret) - 1, 0400);
	ck_assert_int_eq(key_load(p, key), 0);
}
END_TEST

START_TEST(test_key_load_too_short)
{
	uint8_t key[NET_KEY_SIZE];
	const char *p;

	p = key_file("k", "0123456789abcde", 15, 0600);
	ck_assert_int_eq(key_load(p, key), -1);
	ck_assert_msg(strstr(log_last(), p) != NULL, "message '%s'",
	    log_last());
	p = key_file("k", "", 0, 0600);
	ck_assert_int_eq(key_load(p, key), -1);
	/* Whitespace at the end does not count. */
	p = key_file("k", "0123456789abcde\n\n \t\r\n", 21, 0600);
	ck_assert_int_eq(key_load(p, key), -1);
	p = key_file("k", "0123456789abcdef", 16, 0600);
	ck_assert_int_eq(key_load(p, key), 0);
}
END_TEST

START_TEST(test_key_load_missing)
{
	uint8_t key[NET_KEY_SIZE];
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/none", top);
	ck_assert_int_eq(key_load(p, key), -1);
	ck_assert_msg(strstr(log_last(), p) != NULL, "message '%s'",
	    log_last());
}
END_TEST

START_TEST(test_key_load_same_and_different)
{
	static const char secret[] = "correct horse battery staple";
	uint8_t a[NET_KEY_SIZE], b[NET_KEY_SIZE], c[NET_KEY_SIZE];
	uint8_t want[NET_KEY_SIZE];
	const char *p;

	ck_assert_int_ge(sodium_init(), 0);
	p = key_file("a", secret, strlen(secret), 0600);
	ck_assert_int_eq(key_load(p, a), 0);
	p = key_file("b", "correct horse battery staple\n", strlen(secret) + 1,
	    0600);
	ck_assert_int_eq(key_load(p, b), 0);
	ck_assert_mem_eq(a, b, NET_KEY_SIZE);
	p = key_file("b", "correct horse battery staple \r\n\t\n",
	    strlen(secret) + 5, 0600);
	ck_assert_int_eq(key_load(p, b), 0);
	ck_assert_mem_eq(a, b, NET_KEY_SIZE);
	/* The documented derivation: BLAKE2b-256 of the contents. */
	crypto_generichash(want, sizeof(want), (const uint8_t *)secret,
	    strlen(secret), NULL, 0);
	ck_assert_mem_eq(a, want, NET_KEY_SIZE);

	p = key_file("c", "correct horse battery stapler", strlen(secret) + 1,
	    0600);
	ck_assert_int_eq(key_load(p, c), 0);
	ck_assert_int_ne(memcmp(a, c, NET_KEY_SIZE), 0);
	/* Leading whitespace is part of the key. */
	p = key_file("c", " correct horse battery staple", strlen(secret) + 1,
	    0600);
	ck_assert_int_eq(key_load(p, c), 0);
	ck_assert_int_ne(memcmp(a, c, NET_KEY_SIZE), 0);
}
END_TEST

START_TEST(test_key_generate)
{
	char p[PATH_MAX], q[PATH_MAX], text[256];
	uint8_t a[NET_KEY_SIZE], b[NET_KEY_SIZE];
	struct stat st;
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "%s/gen", top);
	snprintf(q, sizeof(q), "%s/gen2", top);
	umask(0);	/* the mode must not depend on the umask */
	ck_assert_int_eq(key_generate(p), 0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_ge(st.st_size, 16);
	ck_assert_int_eq(key_load(p, a), 0);

	/* An existing file is never overwritten. */
	fd = open(p, O_RDONLY);
	ck_assert_int_ne(fd, -1);
	n = read(fd, text, sizeof(text));
	close(fd);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(key_generate(p), -1);
	ck_assert_msg(strstr(log_last(), p) != NULL, "message '%s'",
	    log_last());
	ck_assert_int_eq(key_load(p, b), 0);
	ck_assert_mem_eq(a, b, NET_KEY_SIZE);

	/* Each key is new. */
	ck_assert_int_eq(key_generate(q), 0);
	ck_assert_int_eq(key_load(q, b), 0);
	ck_assert_int_ne(memcmp(a, b, NET_KEY_SIZE), 0);

	/* Nor a symlink to where a file would be created. */
	snprintf(q, sizeof(q), "%s/link", top);
	ck_assert_int_eq(symlink("target", q), 0);
	ck_assert_int_eq(key_generate(q), -1);
	snprintf(q, sizeof(q), "%s/target", top);
	ck_assert_int_eq(access(q, F_OK), -1);
}
END_TEST

/* ---- net_decode_open ------------------------------------------------ */

struct raw_open {
	uint32_t magic;
	uint16_t version;
	uint8_t level;
	uint8_t auth;
	const char *store;
	size_t storelen;
	uint8_t nonce[32];
};

static void
raw_open_init(struct raw_open *ro, const char *store)
{
	memset(ro, 0, sizeof(*ro));
	ro->magic = NET_MAGIC;
	ro->version = NET_VERSION;
	ro->level = 3;
	ro->auth = 1;
	ro->store = store;
	ro->storelen = strlen(store);
	for (int i = 0; i < 32; i++)
		ro->nonce[i] = (uint8_t)(0xa0 + i);
}

static void
raw_open_encode(const struct raw_open *ro, struct buf *b)
{
	buf_init(b);
	ck_assert_int_eq(buf_put_u32(b, ro->magic), 0);
	ck_assert_int_eq(buf_put_u16(b, ro->version), 0);
	ck_assert_int_eq(buf_put_u8(b, ro->level), 0);
	ck_assert_int_eq(buf_put_u8(b, ro->auth), 0);
	ck_assert_int_eq(buf_put_bytes16(b, ro->store, ro->storelen), 0);
	ck_assert_int_eq(buf_put(b, ro->nonce, sizeof(ro->nonce)), 0);
}

/* Decodes ro's encoding (plus extra trailing bytes) from an exact copy. */
static int
raw_open_decode(const struct raw_open *ro, size_t extra, struct net_open *o)
{
	struct buf b;
	uint8_t *c;
	int rc;

	raw_open_encode(ro, &b);
	for (size_t i = 0; i < extra; i++)
		ck_assert_int_eq(buf_put_u8(&b, 0), 0);
	c = exact_copy(b.data, b.len);
	rc = net_decode_open(c, b.len, o);
	free(c);
	buf_release(&b);
	return rc;
}

START_TEST(test_open_round_trip)
{
	struct raw_open ro;
	struct net_open o;

	raw_open_init(&ro, "photos");
	ck_assert_int_eq(raw_open_decode(&ro, 0, &o), 0);
	ck_assert_uint_eq(o.version, NET_VERSION);
	ck_assert_int_eq(o.level, 3);
	ck_assert_int_eq(o.auth, 1);
	ck_assert_str_eq(o.store, "photos");
	ck_assert_mem_eq(o.nonce, ro.nonce, 32);
	free(o.store);

	/* Version and level are the caller's to judge (net_accept does). */
	ro.version = 77;
	ro.level = 255;
	ro.auth = 0;
	ro.store = "";
	ro.storelen = 0;
	ck_assert_int_eq(raw_open_decode(&ro, 0, &o), 0);
	ck_assert_uint_eq(o.version, 77);
	ck_assert_int_eq(o.level, 255);
	ck_assert_int_eq(o.auth, 0);
	ck_assert_str_eq(o.store, "");
	free(o.store);
}
END_TEST

START_TEST(test_open_refused)
{
	struct raw_open ro;
	struct net_open o;
	struct buf b;
	uint8_t *c;

	raw_open_init(&ro, "photos");
	ro.magic = 0x4d524653u;	/* a session's HELLO magic */
	ck_assert_int_eq(raw_open_decode(&ro, 0, &o), -1);
	ck_assert_ptr_null(o.store);
	ro.magic = NET_MAGIC ^ 1;
	ck_assert_int_eq(raw_open_decode(&ro, 0, &o), -1);

	raw_open_init(&ro, "photos");
	for (int auth = 2; auth < 256; auth += 50) {
		ro.auth = (uint8_t)auth;
		ck_assert_int_eq(raw_open_decode(&ro, 0, &o), -1);
		ck_assert_ptr_null(o.store);
	}

	/* Trailing bytes. */
	raw_open_init(&ro, "photos");
	ck_assert_int_eq(raw_open_decode(&ro, 1, &o), -1);
	ck_assert_ptr_null(o.store);
	ck_assert_int_eq(raw_open_decode(&ro, 32, &o), -1);

	/* A NUL in the store name. */
	ro.store = "pho\0tos";
	ro.storelen = 7;
	ck_assert_int_eq(raw_open_decode(&ro, 0, &o), -1);
	ck_assert_ptr_null(o.store);

	/* Every truncated prefix, from an exact-size copy. */
	raw_open_init(&ro, "photos");
	raw_open_encode(&ro, &b);
	for (size_t n = 0; n < b.len; n++) {
		c = exact_copy(b.data, n);
		if (net_decode_open(c, n, &o) != -1)
			ck_abort_msg("prefix of %zu of %zu bytes accepted", n,
			    b.len);
		if (o.store != NULL)
			ck_abort_msg("prefix %zu: store not freed", n);
		free(c);
	}
	buf_release(&b);
}
END_TEST

START_TEST(test_open_long_store)
{
	struct raw_open ro;
	struct net_open o;
	char *name = malloc(PATH_MAX + 1);

	ck_assert_ptr_nonnull(name);
	memset(name, 'n', PATH_MAX);
	name[PATH_MAX] = '\0';
	raw_open_init(&ro, name);
	ro.storelen = PATH_MAX;
	ck_assert_int_eq(raw_open_decode(&ro, 0, &o), -1);
	ck_assert_ptr_null(o.store);
	ro.storelen = PATH_MAX - 1;
	ck_assert_int_eq(raw_open_decode(&ro, 0, &o), 0);
	ck_assert_uint_eq(strlen(o.store), PATH_MAX - 1);
	free(o.store);
	free(name);
}
END_TEST

/* ---- net_accept, the client played by hand -------------------------- */

/* The server half runs net_accept() in a thread on srv. */
struct server {
	struct conn srv;
	const uint8_t *key;
	char name[64];
	int rc;
	char last[2048];	/* log_last() of the server thread */
	pthread_t th;
};

static struct server sv;
static struct conn cli;

static void *
server_main(void *p)
{
	struct server *s = p;

	s->rc = net_accept(&s->srv, s->key, s->name, sizeof(s->name));
	snprintf(s->last, sizeof(s->last), "%s", log_last());
	return NULL;
}

/* Starts the server thread on one end of a socketpair; cli is the other. */
static void
server_start(const uint8_t *key)
{
	int fds[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    fds), 0);
	ck_assert_int_eq(conn_init(&sv.srv, fds[0], fds[0], "client"), 0);
	ck_assert_int_eq(conn_init(&cli, fds[1], fds[1], "server"), 0);
	/* A hung handshake fails the test instead of blocking it. */
	sv.srv.timeout_ms = 5000;
	cli.timeout_ms = 5000;
	sv.key = key;
	sv.rc = 99;
	sv.name[0] = sv.last[0] = '\0';
	ck_assert_int_eq(pthread_create(&sv.th, NULL, server_main, &sv), 0);
}

/* Waits for net_accept() to return, and returns what it returned. */
static int
server_join(void)
{
	ck_assert_int_eq(pthread_join(sv.th, NULL), 0);
	return sv.rc;
}

static void
net_setup(void)
{
	setup();
	memset(&sv, 0, sizeof(sv));
	sv.srv.rfd = sv.srv.wfd = -1;
	memset(&cli, 0, sizeof(cli));
	cli.rfd = cli.wfd = -1;
}

static void
net_teardown(void)
{
	conn_release(&sv.srv);
	conn_release(&cli);
	teardown();
}

static void
client_send_open(const struct raw_open *ro)
{
	struct buf b;

	raw_open_encode(ro, &b);
	ck_assert_int_eq(conn_send(&cli, MSG_NET_OPEN, b.data, b.len), 0);
	ck_assert_int_eq(conn_flush(&cli), 0);
	buf_release(&b);
}

/* The client's next frame must be of type want. */
static void
client_expect(int want, const uint8_t **p, size_t *n)
{
	uint8_t type;

	ck_assert_int_eq(conn_recv(&cli, &type, p, n), 1);
	ck_assert_msg(type == want, "got %s, expected %s",
	    proto_msg_name(type), proto_msg_name(want));
}

/* The client's next frame is an ERROR saying exactly text. */
static void
client_expect_error(const char *text)
{
	const uint8_t *p;
	size_t n;
	char *msg;

	client_expect(MSG_ERROR, &p, &n);
	ck_assert_int_eq(proto_decode_error(p, n, &msg), 0);
	ck_assert_str_eq(msg, text);
	free(msg);
}

static const uint8_t test_key[NET_KEY_SIZE] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
};

START_TEST(test_accept_serve)
{
	struct raw_open ro;
	const uint8_t *p;
	size_t n;
	uint8_t type;

	/* Without a key (mirrord --serve under ssh): NET_OK, no challenge. */
	server_start(NULL);
	raw_open_init(&ro, "photos");
	ro.auth = 0;
	ro.level = 0;
	client_send_open(&ro);
	client_expect(MSG_NET_OK, &p, &n);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(server_join(), 0);
	ck_assert_str_eq(sv.name, "photos");

	/* The transport is open: frames pass both ways. */
	ck_assert_int_eq(proto_send_hello(&cli), 0);
	ck_assert_int_eq(conn_flush(&cli), 0);
	ck_assert_int_eq(conn_recv(&sv.srv, &type, &p, &n), 1);
	ck_assert_uint_eq(type, MSG_HELLO);
	ck_assert_int_eq(proto_send_error(&sv.srv, "fine"), 0);
	ck_assert_int_eq(conn_flush(&sv.srv), 0);
	client_expect_error("fine");
}
END_TEST

START_TEST(test_accept_serve_compressed)
{
	struct raw_open ro;
	const uint8_t *p;
	size_t n;
	uint8_t type;
	static uint8_t big[300000];

	server_start(NULL);
	raw_open_init(&ro, "docs");
	ro.auth = 0;
	ro.level = NET_MAX_COMPRESS;
	client_send_open(&ro);
	client_expect(MSG_NET_OK, &p, &n);
	ck_assert_int_eq(server_join(), 0);
	ck_assert_str_eq(sv.name, "docs");
	/* The server compresses after NET_OK: so must the client. */
	ck_assert_int_eq(conn_compress(&cli, 1), 0);
	ck_assert_int_eq(conn_send(&cli, MSG_DATA, big, sizeof(big)), 0);
	ck_assert_int_eq(conn_flush(&cli), 0);
	ck_assert_int_eq(conn_recv(&sv.srv, &type, &p, &n), 1);
	ck_assert_uint_eq(type, MSG_DATA);
	ck_assert_uint_eq(n, sizeof(big));
	ck_assert_uint_lt(cli.bytes_out, 10000);
}
END_TEST

START_TEST(test_accept_serve_refuses_auth)
{
	struct raw_open ro;

	/* A client that wants to authenticate where no key is configured. */
	server_start(NULL);
	raw_open_init(&ro, "photos");
	ro.auth = 1;
	client_send_open(&ro);
	ck_assert_int_eq(server_join(), -1);
	ck_assert_msg(strstr(sv.last, "refused") != NULL, "server said '%s'",
	    sv.last);
	ck_assert_str_eq(sv.name, "");
}
END_TEST

START_TEST(test_accept_bad_magic)
{
	struct raw_open ro;

	server_start(test_key);
	raw_open_init(&ro, "photos");
	ro.magic = 0x48545450u;	/* "HTTP" */
	client_send_open(&ro);
	ck_assert_int_eq(server_join(), -1);
	ck_assert_msg(strstr(sv.last, "bad greeting") != NULL, "server said "
	    "'%s'", sv.last);
	ck_assert_str_eq(sv.name, "");
}
END_TEST

START_TEST(test_accept_bad_magic_told)
{
	struct raw_open ro;

	/*
	 * Regression test (was a bug, fixed): lib/net.c net_accept() queues "not a mirrorfs greeting" (and
	 * "unsupported protocol version or options") with proto_send_error()
	 * but never flushes it; its caller (syncd/main.c) then releases the
	 * conn, and conn_release() does not flush: the client gets end of
	 * stream instead of the ERROR (expected an ERROR frame, got EOF).
	 */
	server_start(test_key);
	raw_open_init(&ro, "photos");
	ro.magic = 0;
	client_send_open(&ro);
	ck_assert_int_eq(server_join(), -1);
	conn_release(&sv.srv);	/* as syncd does after a refusal */
	client_expect_error("not a mirrorfs greeting");
}
END_TEST

START_TEST(test_accept_wrong_auth_flag)
{
	struct raw_open ro;

	/* With a key, a client that will not authenticate is refused. */
	server_start(test_key);
	raw_open_init(&ro, "photos");
	ro.auth = 0;
	client_send_open(&ro);
	ck_assert_int_eq(server_join(), -1);
	ck_assert_msg(strstr(sv.last, "refused") != NULL, "server said '%s'",
	    sv.last);

	/* auth > 1 is not a greeting at all. */
	conn_release(&sv.srv);
	conn_release(&cli);
	server_start(test_key);
	raw_open_init(&ro, "photos");
	ro.auth = 2;
	client_send_open(&ro);
	ck_assert_int_eq(server_join(), -1);
	ck_assert_msg(strstr(sv.last, "bad greeting") != NULL, "server said "
	    "'%s'", sv.last);
}
END_TEST

START_TEST(test_accept_bad_version_or_level)
{
	struct raw_open ro;

	server_start(NULL);
	raw_open_init(&ro, "photos");
	ro.auth = 0;
	ro.version = NET_VERSION + 1;
	client_send_open(&ro);
	ck_assert_int_eq(server_join(), -1);
	ck_assert_msg(strstr(sv.last, "refused") != NULL, "server said '%s'",
	    sv.last);
	/* Regression test (was a bug, fixed): as test_accept_bad_magic_told (the ERROR was never flushed). */
	conn_release(&sv.srv);
	client_expect_error("transport version 5 is not spoken here (this "
	    "side speaks 4): upgrade mirrorfs");

	/* A client of the handshake before sealed sessions sent the frame
	   protocol's version (1 to 3) there: refused by name. */
	for (uint16_t v = 1; v < NET_VERSION; v++) {
		char want[160];

		conn_release(&sv.srv);
		conn_release(&cli);
		server_start(test_key);
		raw_open_init(&ro, "photos");
		ro.version = v;
		client_send_open(&ro);
		ck_assert_int_eq(server_join(), -1);
		snprintf(want, sizeof(want), "transport version %u (", v);
		ck_assert_msg(strstr(sv.last, want) != NULL &&
		    strstr(sv.last, "in clear") != NULL, "server said '%s'",
		    sv.last);
		conn_release(&sv.srv);
		snprintf(want, sizeof(want), "transport version %u is not "
		    "spoken here (this side speaks 4, with sealed sessions): "
		    "upgrade mirrorfs", v);
		client_expect_error(want);
	}

	conn_release(&sv.srv);
	conn_release(&cli);
	server_start(NULL);
	raw_open_init(&ro, "photos");
	ro.auth = 0;
	ro.level = NET_MAX_COMPRESS + 1;
	client_send_open(&ro);
	ck_assert_int_eq(server_join(), -1);
}
END_TEST

/*
 * Opens a session with the server (test_key), checks its challenge (its
 * nonce, then the ciphers it runs: ChaCha20-Poly1305 always), answers
 * with proof (n bytes) and expects the refusal every failed proof gets.
 */
static void
refused_proof(const void *proof, size_t n)
{
	struct raw_open ro;
	const uint8_t *p;
	size_t len;

	server_start(test_key);
	raw_open_init(&ro, "photos");
	client_send_open(&ro);
	client_expect(MSG_NET_CHALLENGE, &p, &len);
	ck_assert_uint_eq(len, 33);
	ck_assert_uint_eq(p[32], seal_ciphers());
	ck_assert(p[32] & (1u << SEAL_CHACHA20_POLY1305));
	ck_assert_int_eq(conn_send(&cli, MSG_NET_PROOF, proof, n), 0);
	ck_assert_int_eq(conn_flush(&cli), 0);
	/* The client learns nothing but this. */
	client_expect_error("authentication failed");
	ck_assert_int_eq(server_join(), -1);
	ck_assert_str_eq(sv.name, "");
}

START_TEST(test_accept_wrong_proof)
{
	/* A MAC of zeros and a cipher every server runs. */
	static const uint8_t zeros[33] = { [32] = SEAL_CHACHA20_POLY1305 };

	refused_proof(zeros, sizeof(zeros));
	ck_assert_msg(strstr(sv.last, "authentication failed") != NULL,
	    "server said '%s'", sv.last);
}
END_TEST

START_TEST(test_accept_short_proof)
{
	refused_proof("x", 1);
}
END_TEST

/* A proof naming a cipher the server did not offer is refused. */
START_TEST(test_accept_cipher_not_offered)
{
	static const uint8_t bad[] = { 0, 3, 7, 8, 200 };

	for (size_t i = 0; i < sizeof(bad); i++) {
		uint8_t proof[33] = { 0 };

		proof[32] = bad[i];
		refused_proof(proof, sizeof(proof));
		ck_assert_msg(strstr(sv.last, "cipher not offered") != NULL,
		    "server said '%s'", sv.last);
		conn_release(&sv.srv);
		conn_release(&cli);
	}
}
END_TEST

START_TEST(test_accept_no_proof)
{
	struct raw_open ro;
	const uint8_t *p;
	size_t n;

	/* The client sends something else, then goes away. */
	server_start(test_key);
	raw_open_init(&ro, "photos");
	client_send_open(&ro);
	client_expect(MSG_NET_CHALLENGE, &p, &n);
	ck_assert_int_eq(proto_send_hello(&cli), 0);
	ck_assert_int_eq(conn_flush(&cli), 0);
	ck_assert_int_eq(server_join(), -1);

	conn_release(&sv.srv);
	conn_release(&cli);
	server_start(test_key);
	client_send_open(&ro);
	client_expect(MSG_NET_CHALLENGE, &p, &n);
	conn_release(&cli);
	ck_assert_int_eq(server_join(), -1);
}
END_TEST

START_TEST(test_accept_not_open)
{
	/* A first frame that is not NET_OPEN. */
	server_start(test_key);
	ck_assert_int_eq(proto_send_hello(&cli), 0);
	ck_assert_int_eq(conn_flush(&cli), 0);
	ck_assert_int_eq(server_join(), -1);
	ck_assert_str_eq(sv.name, "");

	/* Nothing at all. */
	conn_release(&sv.srv);
	conn_release(&cli);
	server_start(test_key);
	conn_release(&cli);
	ck_assert_int_eq(server_join(), -1);

	/* The client's ERROR is logged. */
	conn_release(&sv.srv);
	server_start(test_key);
	ck_assert_int_eq(proto_send_error(&cli, "client gives up"), 0);
	ck_assert_int_eq(conn_flush(&cli), 0);
	ck_assert_int_eq(server_join(), -1);
	ck_assert_msg(strstr(sv.last, "client gives up") != NULL, "server "
	    "said '%s'", sv.last);
}
END_TEST

START_TEST(test_accept_garbage_open)
{
	struct raw_open ro;
	struct buf b;

	/* Every truncated NET_OPEN is refused as a bad greeting. */
	raw_open_init(&ro, "photos");
	raw_open_encode(&ro, &b);
	for (size_t n = 0; n < b.len; n += 7) {
		server_start(test_key);
		ck_assert_int_eq(conn_send(&cli, MSG_NET_OPEN, b.data, n), 0);
		ck_assert_int_eq(conn_flush(&cli), 0);
		ck_assert_int_eq(server_join(), -1);
		conn_release(&sv.srv);
		conn_release(&cli);
	}
	buf_release(&b);
}
END_TEST

/* ---- net_connect against net_accept over loopback TCP --------------- */

/* Listens on 127.0.0.1 on a free port; returns the fd, the port in *port. */
static int
tcp_listen(int *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ne(fd, -1);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

struct tcp_server {
	int lfd;
	struct server s;
};

static void *
tcp_server_main(void *p)
{
	struct tcp_server *t = p;
	int fd = accept4(t->lfd, NULL, NULL, SOCK_CLOEXEC);

	t->s.rc = -1;
	if (fd == -1 || conn_init(&t->s.srv, fd, fd, "tcp client") == -1)
		return NULL;
	t->s.srv.timeout_ms = 5000;
	t->s.rc = net_accept(&t->s.srv, t->s.key, t->s.name,
	    sizeof(t->s.name));
	snprintf(t->s.last, sizeof(t->s.last), "%s", log_last());
	return NULL;
}

/* Runs net_connect(mirror://127.0.0.1:PORT/store) against net_accept(). */
static int
tcp_handshake(struct tcp_server *t, const uint8_t *server_key,
    const uint8_t *client_key, int level, struct conn *c)
{
	struct net_opts o;
	struct dest d;
	char text[128], err[256];
	pthread_t th;
	int port, rc;

	memset(t, 0, sizeof(*t));
	t->s.srv.rfd = t->s.srv.wfd = -1;
	t->lfd = tcp_listen(&port);
	t->s.key = server_key;
	snprintf(text, sizeof(text), "mirror://127.0.0.1:%d/photos", port);
	ck_assert_int_eq(dest_parse(text, &d, err, sizeof(err)), 0);
	memset(&o, 0, sizeof(o));
	o.key = client_key;
	o.compress = level;
	o.timeout_s = 5;
	ck_assert_int_eq(pthread_create(&th, NULL, tcp_server_main, t), 0);
	rc = net_connect(&d, &o, c);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	close(t->lfd);
	return rc;
}

START_TEST(test_connect_accept)
{
	struct tcp_server t;
	struct conn c;
	const uint8_t *p;
	size_t n;
	uint8_t type;

	ck_assert_int_eq(tcp_handshake(&t, test_key, test_key, 0, &c), 0);
	ck_assert_int_eq(t.s.rc, 0);
	ck_assert_str_eq(t.s.name, "photos");
	/* Both ends sealed the session (tests/unit/test_seal.c). */
	ck_assert_ptr_nonnull(c.seal);
	ck_assert_ptr_nonnull(t.s.srv.seal);
	ck_assert_int_eq(proto_send_hello(&c), 0);
	ck_assert_int_eq(conn_flush(&c), 0);
	ck_assert_int_eq(conn_recv(&t.s.srv, &type, &p, &n), 1);
	ck_assert_uint_eq(type, MSG_HELLO);
	conn_release(&c);
	conn_release(&t.s.srv);
}
END_TEST

START_TEST(test_connect_accept_compressed)
{
	static uint8_t zeros[512 * 1024];
	struct tcp_server t;
	struct conn c;
	const uint8_t *p;
	size_t n;
	uint8_t type;

	ck_assert_int_eq(tcp_handshake(&t, test_key, test_key, 5, &c), 0);
	ck_assert_int_eq(t.s.rc, 0);
	ck_assert_ptr_nonnull(c.zc);
	ck_assert_ptr_nonnull(t.s.srv.zd);
	ck_assert_int_eq(conn_send(&c, MSG_DATA, zeros, sizeof(zeros)), 0);
	ck_assert_int_eq(conn_flush(&c), 0);
	ck_assert_int_eq(conn_recv(&t.s.srv, &type, &p, &n), 1);
	ck_assert_uint_eq(type, MSG_DATA);
	ck_assert_uint_eq(n, sizeof(zeros));
	ck_assert_int_eq(memcmp(p, zeros, n), 0);
	ck_assert_int_eq(proto_send_error(&t.s.srv, "back"), 0);
	ck_assert_int_eq(conn_flush(&t.s.srv), 0);
	ck_assert_int_eq(conn_recv(&c, &type, &p, &n), 1);
	ck_assert_uint_eq(type, MSG_ERROR);
	conn_release(&c);
	conn_release(&t.s.srv);
}
END_TEST

START_TEST(test_connect_wrong_key)
{
	uint8_t other[NET_KEY_SIZE];
	struct tcp_server t;
	struct conn c;

	memcpy(other, test_key, sizeof(other));
	other[31] ^= 1;
	ck_assert_int_eq(tcp_handshake(&t, test_key, other, 0, &c), -1);
	ck_assert_int_eq(t.s.rc, -1);
	ck_assert_msg(strstr(t.s.last, "authentication failed") != NULL,
	    "server said '%s'", t.s.last);
	/* The client hears the server's reason. */
	ck_assert_msg(strstr(log_last(), "authentication failed") != NULL,
	    "client said '%s'", log_last());
	conn_release(&t.s.srv);
}
END_TEST

START_TEST(test_connect_needs_key)
{
	struct net_opts o;
	struct dest d;
	struct conn c;
	char err[256];

	ck_assert_int_eq(dest_parse("mirror://127.0.0.1:1/x", &d, err,
	    sizeof(err)), 0);
	memset(&o, 0, sizeof(o));
	o.timeout_s = 1;
	ck_assert_int_eq(net_connect(&d, &o, &c), -1);
	ck_assert_msg(strstr(log_last(), "key") != NULL, "said '%s'",
	    log_last());
}
END_TEST

/* A server that answers the client's proof with 32 zero bytes. */
static void *
fake_server_main(void *p)
{
	/* A nonce of zeros offering ChaCha20-Poly1305. */
	static const uint8_t zeros[33] = { [32] = 1u << SEAL_CHACHA20_POLY1305 };
	struct tcp_server *t = p;
	const uint8_t *q;
	uint8_t type;
	size_t n;
	int fd = accept4(t->lfd, NULL, NULL, SOCK_CLOEXEC);

	t->s.rc = -1;
	if (fd == -1 || conn_init(&t->s.srv, fd, fd, "tcp client") == -1)
		return NULL;
	t->s.srv.timeout_ms = 5000;
	if (conn_recv(&t->s.srv, &type, &q, &n) != 1 || type != MSG_NET_OPEN ||
	    conn_send(&t->s.srv, MSG_NET_CHALLENGE, zeros, 33) == -1 ||
	    conn_flush(&t->s.srv) == -1 ||
	    conn_recv(&t->s.srv, &type, &q, &n) != 1 ||
	    type != MSG_NET_PROOF || n != 33 ||
	    q[32] != SEAL_CHACHA20_POLY1305 ||
	    conn_send(&t->s.srv, MSG_NET_PROOF, zeros, 32) == -1 ||
	    conn_flush(&t->s.srv) == -1)
		return NULL;
	t->s.rc = 0;
	return NULL;
}

START_TEST(test_connect_impostor)
{
	struct tcp_server t;
	struct net_opts o;
	struct dest d;
	struct conn c;
	char text[128], err[256];
	pthread_t th;
	int port;

	/* The client authenticates the server too. */
	memset(&t, 0, sizeof(t));
	t.s.srv.rfd = t.s.srv.wfd = -1;
	t.lfd = tcp_listen(&port);
	snprintf(text, sizeof(text), "mirror://127.0.0.1:%d/photos", port);
	ck_assert_int_eq(dest_parse(text, &d, err, sizeof(err)), 0);
	memset(&o, 0, sizeof(o));
	o.key = test_key;
	o.timeout_s = 5;
	ck_assert_int_eq(pthread_create(&th, NULL, fake_server_main, &t), 0);
	ck_assert_int_eq(net_connect(&d, &o, &c), -1);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(t.s.rc, 0);
	ck_assert_msg(strstr(log_last(), "prove") != NULL, "client said '%s'",
	    log_last());
	close(t.lfd);
	conn_release(&t.s.srv);
}
END_TEST

static Suite *
net_suite(void)
{
	Suite *su = suite_create("net");
	TCase *tc = tcase_create("core");
	TCase *ac = tcase_create("accept");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_dest_local);
	tcase_add_test(tc, test_dest_ssh);
	tcase_add_test(tc, test_dest_scp_style);
	tcase_add_test(tc, test_dest_mirror);
	tcase_add_test(tc, test_dest_refused);
	tcase_add_test(tc, test_dest_too_long);
	tcase_add_test(tc, test_key_load_too_open);
	tcase_add_test(tc, test_key_load_too_short);
	tcase_add_test(tc, test_key_load_missing);
	tcase_add_test(tc, test_key_load_same_and_different);
	tcase_add_test(tc, test_key_generate);
	tcase_add_test(tc, test_open_round_trip);
	tcase_add_test(tc, test_open_refused);
	tcase_add_test(tc, test_open_long_store);
	suite_add_tcase(su, tc);

	tcase_add_checked_fixture(ac, net_setup, net_teardown);
	tcase_set_timeout(ac, 20);
	tcase_add_test(ac, test_accept_serve);
	tcase_add_test(ac, test_accept_serve_compressed);
	tcase_add_test(ac, test_accept_serve_refuses_auth);
	tcase_add_test(ac, test_accept_bad_magic);
	tcase_add_test(ac, test_accept_bad_magic_told);
	tcase_add_test(ac, test_accept_wrong_auth_flag);
	tcase_add_test(ac, test_accept_bad_version_or_level);
	tcase_add_test(ac, test_accept_wrong_proof);
	tcase_add_test(ac, test_accept_short_proof);
	tcase_add_test(ac, test_accept_cipher_not_offered);
	tcase_add_test(ac, test_accept_no_proof);
	tcase_add_test(ac, test_accept_not_open);
	tcase_add_test(ac, test_accept_garbage_open);
	tcase_add_test(ac, test_connect_accept);
	tcase_add_test(ac, test_connect_accept_compressed);
	tcase_add_test(ac, test_connect_wrong_key);
	tcase_add_test(ac, test_connect_needs_key);
	tcase_add_test(ac, test_connect_impostor);
	suite_add_tcase(su, ac);
	return su;
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);	/* a refused peer may have gone */
	return unit_main(net_suite(), base);
}
