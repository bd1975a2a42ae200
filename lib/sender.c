/* sender: the source half of a session (scan, manifest, file data). */
#include "sender.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "hash.h"
#include "log.h"
#include "manifest.h"
#include "progress.h"
#include "proto.h"

/* A file that changes while being read is read again this many times. */
#define SEND_ATTEMPTS 3

struct sender {
	struct conn *c;
	int rootfd;
	const char *source;
	struct manifest m;
	uint32_t *need;
	size_t nneed;
	uint8_t *buf;		/* PROTO_DATA_CHUNK bytes */
	struct progress prog;
};

/* After a failed send, the peer may have said why before it hung up. */
static void
sender_peer_error(struct sender *s)
{
	const uint8_t *p;
	size_t n;
	uint8_t type;
	char *msg;

	if (conn_recv(s->c, &type, &p, &n) == 1 && type == MSG_ERROR &&
	    proto_decode_error(p, n, &msg) == 0) {
		log_errx("%s: %s", s->c->peer, msg);
		free(msg);
	}
}

/* Receives one frame of the expected type; logs and fails on anything else. */
static int
expect(struct sender *s, int want, const uint8_t **p, size_t *n)
{
	uint8_t type;
	char *msg;
	int r;

	r = conn_recv(s->c, &type, p, n);
	if (r == 0)
		log_errx("%s closed the connection", s->c->peer);
	if (r != 1)
		return -1;
	if (type == MSG_ERROR) {
		if (proto_decode_error(*p, *n, &msg) == 0) {
			log_errx("%s: %s", s->c->peer, msg);
			free(msg);
		}
		return -1;
	}
	if (want != 0 && type != want) {
		log_errx("%s sent %s where %s was expected", s->c->peer,
		    proto_msg_name(type), proto_msg_name(want));
		return -1;
	}
	return type;
}

static int
send_manifest(struct sender *s, const struct sender_opts *o, uint32_t flags)
{
	if (proto_send_session(s->c, flags, o->filter) == -1)
		return -1;
	for (size_t i = 0; i < s->m.n; i++)
		if (proto_send_entry(s->c, &s->m.v[i]) == -1)
			return -1;
	if (proto_send_end_manifest(s->c, s->m.n, &s->m.top) == -1)
		return -1;
	return conn_flush(s->c);
}

static int
recv_need(struct sender *s)
{
	const uint8_t *p;
	size_t n, cnt, cap = 0;
	uint32_t *v;
	char err[256];
	int type;

	for (;;) {
		type = expect(s, 0, &p, &n);
		if (type == -1)
			return -1;
		if (type == MSG_END_NEED)
			return 0;
		if (type != MSG_NEED) {
			log_errx("%s sent %s during the request list",
			    s->c->peer, proto_msg_name(type));
			return -1;
		}
		if (s->nneed + PROTO_MAX_NEED > cap) {
			cap = cap ? cap * 2 : PROTO_MAX_NEED;
			v = realloc(s->need, cap * sizeof(*v));
			if (v == NULL) {
				log_err("request list");
				return -1;
			}
			s->need = v;
		}
		if (proto_decode_need(p, n, s->need + s->nneed, &cnt, err,
		    sizeof(err)) == -1) {
			log_errx("%s: %s", s->c->peer, err);
			return -1;
		}
		for (size_t i = s->nneed; i < s->nneed + cnt; i++) {
			uint32_t idx = s->need[i];

			if (idx >= s->m.n || s->m.v[idx].type != ENTRY_REG ||
			    (i > 0 && idx <= s->need[i - 1])) {
				log_errx("%s requested entry %u, which is not "
				    "a file it may ask for", s->c->peer, idx);
				return -1;
			}
		}
		s->nneed += cnt;
	}
}

static int
same_version(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

enum attempt { ATTEMPT_SENT, ATTEMPT_CHANGED, ATTEMPT_ABORTED, ATTEMPT_FATAL };

/*
 * Streams the open file fd as entry idx. A change seen between the
 * stat before and after the read (or a short read) abandons the attempt
 * with a FILE_ABORT of ABORT_RETRY, so nothing torn is ever committed.
 */
static enum attempt
send_attempt(struct sender *s, uint32_t idx, int fd, const struct stat *st)
{
	struct file_head head;
	struct hash_state *h;
	uint8_t digest[HASH_SIZE];
	struct stat after;
	uint64_t off = 0;
	ssize_t got;
	size_t want;

	memset(&head, 0, sizeof(head));
	head.index = idx;
	entry_set_stat(&head.attr, st);
	h = hash_new();
	if (h == NULL) {
		log_err("hash");
		return ATTEMPT_FATAL;
	}
	if (proto_send_file(s->c, &head) == -1)
		goto fatal;
	while (off < head.attr.size) {
		want = head.attr.size - off < PROTO_DATA_CHUNK ?
		    (size_t)(head.attr.size - off) : PROTO_DATA_CHUNK;
		got = read_full(fd, s->buf, want);
		if (got == -1) {
			char reason[256];

			hash_free(h);
			snprintf(reason, sizeof(reason), "read: %s",
			    strerror(errno));
			if (proto_send_file_abort(s->c, idx, ITEM_FAIL,
			    reason) == -1)
				return ATTEMPT_FATAL;
			return ATTEMPT_ABORTED;
		}
		if ((size_t)got < want)
			goto changed;	/* shrank while being read */
		hash_update(h, s->buf, (size_t)got);
		if (conn_send(s->c, MSG_DATA, s->buf, (size_t)got) == -1)
			goto fatal;
		off += (uint64_t)got;
		progress_add(&s->prog, 0, (uint64_t)got);
	}
	if (fstat(fd, &after) == -1 || !same_version(st, &after))
		goto changed;
	hash_final(h, digest);
	if (conn_send(s->c, MSG_FILE_END, digest, HASH_SIZE) == -1)
		return ATTEMPT_FATAL;
	progress_add(&s->prog, 1, 0);
	return ATTEMPT_SENT;
changed:
	hash_free(h);
	if (proto_send_file_abort(s->c, idx, ABORT_RETRY,
	    "changed while being read") == -1)
		return ATTEMPT_FATAL;
	return ATTEMPT_CHANGED;
fatal:
	hash_free(h);
	return ATTEMPT_FATAL;
}

/* Sends entry idx, reading it again when it changes under us. 0 or -1 (fatal). */
static int
send_file(struct sender *s, uint32_t idx)
{
	const char *path = s->m.v[idx].path;
	char reason[256];
	struct stat st;
	enum attempt a = ATTEMPT_CHANGED;
	int fd, action;

	for (int attempt = 0; attempt < SEND_ATTEMPTS; attempt++) {
		fd = open_beneath(s->rootfd, path, O_RDONLY | O_NOATIME);
		if (fd == -1 && errno == EPERM)	/* O_NOATIME needs ownership */
			fd = open_beneath(s->rootfd, path, O_RDONLY);
		if (fd == -1 || fstat(fd, &st) == -1) {
			action = errno == ENOENT ? ITEM_VANISHED : ITEM_FAIL;
			snprintf(reason, sizeof(reason), "%s", action ==
			    ITEM_VANISHED ? "vanished before it was read" :
			    strerror(errno));
			if (fd != -1)
				close(fd);
			return proto_send_file_abort(s->c, idx, action, reason);
		}
		if (!S_ISREG(st.st_mode)) {
			close(fd);
			return proto_send_file_abort(s->c, idx, ITEM_SKIP,
			    "changed type during the sync");
		}
		a = send_attempt(s, idx, fd, &st);
		close(fd);
		if (a != ATTEMPT_CHANGED)
			return a == ATTEMPT_FATAL ? -1 : 0;
	}
	snprintf(reason, sizeof(reason), "changed while being read (%d "
	    "attempts); will be sent by a later sync", SEND_ATTEMPTS);
	return proto_send_file_abort(s->c, idx, ITEM_SKIP, reason);
}

static int
send_data(struct sender *s)
{
	uint64_t bytes = 0;

	for (size_t i = 0; i < s->nneed; i++)
		bytes += s->m.v[s->need[i]].size;
	progress_start(&s->prog, s->nneed, bytes);
	for (size_t i = 0; i < s->nneed; i++)
		if (send_file(s, s->need[i]) == -1)
			return -1;
	if (conn_send(s->c, MSG_DONE, NULL, 0) == -1 || conn_flush(s->c) == -1)
		return -1;
	progress_finish(&s->prog);
	return 0;
}

static int
recv_result(struct sender *s, struct result *res)
{
	struct result theirs;
	struct item it;
	const uint8_t *p;
	size_t n;
	char err[256];
	int type;

	for (;;) {
		type = expect(s, 0, &p, &n);
		if (type == -1)
			return -1;
		if (type == MSG_RESULT)
			break;
		if (type != MSG_ITEM) {
			log_errx("%s sent %s in its report", s->c->peer,
			    proto_msg_name(type));
			return -1;
		}
		if (proto_decode_item(p, n, &it, err, sizeof(err)) == -1) {
			log_errx("%s: %s", s->c->peer, err);
			return -1;
		}
		/* Counts come with RESULT; items only carry the lines. */
		if (result_append(res, &it) == -1) {
			log_err("report");
			return -1;
		}
	}
	result_init(&theirs);
	if (proto_decode_result(p, n, &theirs, err, sizeof(err)) == -1) {
		log_errx("%s: %s", s->c->peer, err);
		return -1;
	}
	result_merge_counts(res, &theirs);
	return 0;
}

int
sender_run(struct conn *c, const char *source, const struct sender_opts *o,
    struct result *res)
{
	struct sender s;
	const uint8_t *p;
	size_t n;
	char err[256];
	uint32_t flags;
	int rc = -1;

	memset(&s, 0, sizeof(s));
	s.c = c;
	s.source = source;
	manifest_init(&s.m);
	progress_init(&s.prog, o->progress);
	s.rootfd = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	s.buf = malloc(PROTO_DATA_CHUNK);
	if (s.rootfd == -1 || s.buf == NULL) {
		log_err("%s", source);
		goto out;
	}
	if (proto_send_hello(c) == -1 || conn_flush(c) == -1) {
		sender_peer_error(&s);
		goto out;
	}
	if (expect(&s, MSG_HELLO, &p, &n) == -1)
		goto out;
	if (proto_decode_hello(p, n, err, sizeof(err)) == -1) {
		log_errx("%s: %s", c->peer, err);
		goto out;
	}
	if (manifest_scan(&s.m, s.rootfd, source, o->filter,
	    (o->flags & SESSION_CHECKSUM) != 0, res) == -1)
		goto out;
	/* A tree we could not read whole must not drive deletions (as rsync). */
	flags = o->flags;
	if (res->failed > 0 && (flags & (SESSION_PURGE | SESSION_PURGE_DIRS))) {
		log_warnx("%s: errors while reading the source: nothing is "
		    "purged this time", source);
		flags &= ~(SESSION_PURGE | SESSION_PURGE_DIRS);
	}
	if (send_manifest(&s, o, flags) == -1 || recv_need(&s) == -1 ||
	    send_data(&s) == -1) {
		sender_peer_error(&s);
		goto out;
	}
	if (recv_result(&s, res) == -1)
		goto out;
	res->bytes_sent = c->bytes_out;
	rc = 0;
out:
	progress_finish(&s.prog);
	if (s.rootfd != -1)
		close(s.rootfd);
	free(s.buf);
	free(s.need);
	manifest_release(&s.m);
	return rc;
}
