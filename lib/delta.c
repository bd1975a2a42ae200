/* delta: rsync-style block deltas (librsync): a basis file's signature, a delta against it, the patch. */
#include "delta.h"

#include <errno.h>
#include <librsync.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define DELTA_OUT (64 * 1024)		/* output handed to emit at a time */
#define DELTA_READ (256 * 1024)		/* basis read per step of a signature */
#define SIG_HEADER 12			/* magic, block length, strong length */

struct delta_job {
	rs_job_t *job;
	rs_signature_t *sig;	/* load: filled by the job */
	int fd;			/* patch: the basis */
	int read_errno;		/* patch: why the basis could not be read */
	int done;
	char out[DELTA_OUT];
};

struct delta_sig {
	rs_signature_t *sig;
};

static pthread_once_t trace_once = PTHREAD_ONCE_INIT;

/* librsync's own messages go to our debug log; we report its errors. */
static void
trace_to_log(rs_loglevel level, char const *msg)
{
	log_debug("librsync: %s", msg);
}

static void
trace_init(void)
{
	rs_trace_set_level(RS_LOG_ERR);
	rs_trace_to(trace_to_log);
}

/* The signature's parameters for a basis of size bytes. */
static void
sig_args(uint64_t size, rs_magic_number *magic, size_t *block_len,
    size_t *strong_len)
{
	*magic = RS_RK_BLAKE2_SIG_MAGIC;
	*block_len = 0;
	/*
	 * The shortest strong sum safe against chance collisions: every file
	 * is also checked whole (XXH3-128) before it may be committed.
	 */
	*strong_len = (size_t)-1;
	rs_sig_args((rs_long_t)size, magic, block_len, strong_len);
}

uint64_t
delta_sig_size(uint64_t size)
{
	rs_magic_number magic;
	size_t block_len, strong_len;

	sig_args(size, &magic, &block_len, &strong_len);
	return SIG_HEADER + (size + block_len - 1) / block_len *
	    (4 + strong_len);
}

static struct delta_job *
job_new(void)
{
	struct delta_job *j;

	pthread_once(&trace_once, trace_init);
	j = calloc(1, sizeof(*j));
	if (j != NULL)
		j->fd = -1;
	return j;
}

static struct delta_job *
job_started(struct delta_job *j)
{
	if (j->job == NULL) {
		free(j);
		errno = ENOMEM;
		return NULL;
	}
	return j;
}

struct delta_job *
delta_sig_begin(uint64_t basis_size)
{
	struct delta_job *j = job_new();
	rs_magic_number magic;
	size_t block_len, strong_len;

	if (j == NULL)
		return NULL;
	sig_args(basis_size, &magic, &block_len, &strong_len);
	j->job = rs_sig_begin(block_len, strong_len, magic);
	return job_started(j);
}

struct delta_job *
delta_load_begin(void)
{
	struct delta_job *j = job_new();

	if (j == NULL)
		return NULL;
	j->job = rs_loadsig_begin(&j->sig);
	return job_started(j);
}

struct delta_sig *
delta_load_end(struct delta_job *j, char *err, size_t errlen)
{
	struct delta_sig *s = NULL;
	rs_result r;

	if (!j->done) {
		snprintf(err, errlen, "the signature ended early");
		goto out;
	}
	if ((r = rs_build_hash_table(j->sig)) != RS_DONE) {
		snprintf(err, errlen, "indexing the signature: %s",
		    rs_strerror(r));
		goto out;
	}
	if ((s = malloc(sizeof(*s))) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto out;
	}
	s->sig = j->sig;
	j->sig = NULL;
out:
	delta_free(j);
	return s;
}

struct delta_job *
delta_encode_begin(struct delta_sig *sig)
{
	struct delta_job *j = job_new();

	if (j == NULL)
		return NULL;
	j->job = rs_delta_begin(sig->sig);
	return job_started(j);
}

/* The patch's view of the basis: COPY commands read it here. */
static rs_result
patch_read(void *arg, rs_long_t pos, size_t *len, void **buf)
{
	struct delta_job *j = arg;
	ssize_t got;

	if (pos < 0)
		return RS_CORRUPT;
	got = pread(j->fd, *buf, *len, (off_t)pos);
	if (got == -1) {
		j->read_errno = errno;
		return RS_IO_ERROR;
	}
	if (got == 0)
		return RS_INPUT_ENDED;	/* a copy from past the basis's end */
	*len = (size_t)got;
	return RS_DONE;
}

struct delta_job *
delta_patch_begin(int basisfd)
{
	struct delta_job *j = job_new();

	if (j == NULL)
		return NULL;
	j->fd = basisfd;
	j->job = rs_patch_begin(patch_read, j);
	return job_started(j);
}

static int
job_error(struct delta_job *j, rs_result r, char *err, size_t errlen)
{
	if (r == RS_IO_ERROR && j->read_errno != 0)
		snprintf(err, errlen, "reading the old version: %s",
		    strerror(j->read_errno));
	else if (r == RS_INPUT_ENDED && j->fd != -1)
		snprintf(err, errlen, "a copy from past the end of the old "
		    "version, or the stream ended early");
	else
		snprintf(err, errlen, "%s", rs_strerror(r));
	return -1;
}

int
delta_feed(struct delta_job *j, const void *in, size_t n, int eof,
    delta_emit_fn *emit, void *arg, char *err, size_t errlen)
{
	rs_buffers_t b = {
		.next_in = (char *)(uintptr_t)in,
		.avail_in = n,
		.eof_in = eof,
	};
	rs_result r;
	size_t made, before;

	if (j->done) {
		if (n > 0) {
			snprintf(err, errlen, "bytes after the end of the "
			    "stream");
			return -1;
		}
		return 1;
	}
	for (;;) {
		before = b.avail_in;
		b.next_out = j->out;
		b.avail_out = sizeof(j->out);
		r = rs_job_iter(j->job, &b);
		made = sizeof(j->out) - b.avail_out;
		if (made > 0 && emit != NULL && emit(arg, j->out, made) == -1) {
			snprintf(err, errlen, "%s", strerror(errno));
			return -1;
		}
		if (r == RS_DONE) {
			j->done = 1;
			if (b.avail_in > 0) {
				snprintf(err, errlen, "bytes after the end of "
				    "the stream");
				return -1;
			}
			return 1;
		}
		if (r != RS_BLOCKED)
			return job_error(j, r, err, errlen);
		if (made == sizeof(j->out))
			continue;	/* more output waits */
		if (b.avail_in == 0 && !eof)
			return 0;
		if (made == 0 && b.avail_in == before) {
			snprintf(err, errlen, "the stream ended early");
			return -1;
		}
	}
}

void
delta_free(struct delta_job *j)
{
	if (j == NULL)
		return;
	if (j->job != NULL)
		rs_job_free(j->job);
	if (j->sig != NULL)
		rs_free_sumset(j->sig);
	free(j);
}

void
delta_sig_free(struct delta_sig *s)
{
	if (s == NULL)
		return;
	rs_free_sumset(s->sig);
	free(s);
}

int
delta_signature(int fd, uint64_t size, delta_emit_fn *emit, void *arg,
    char *err, size_t errlen)
{
	struct delta_job *j = delta_sig_begin(size);
	uint8_t *buf = malloc(DELTA_READ);
	uint64_t off = 0;
	ssize_t got;
	int rc = -1;

	if (j == NULL || buf == NULL) {
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		goto out;
	}
	while (off < size) {
		size_t want = size - off < DELTA_READ ? (size_t)(size - off) :
		    DELTA_READ;

		got = pread(fd, buf, want, (off_t)off);
		if (got == -1) {
			snprintf(err, errlen, "read: %s", strerror(errno));
			goto out;
		}
		if (got == 0) {
			snprintf(err, errlen, "shrank while being read");
			goto out;
		}
		if (delta_feed(j, buf, (size_t)got, 0, emit, arg, err,
		    errlen) == -1)
			goto out;
		off += (uint64_t)got;
	}
	if (delta_feed(j, NULL, 0, 1, emit, arg, err, errlen) != 1) {
		if (!j->done)
			snprintf(err, errlen, "the signature did not finish");
		goto out;
	}
	rc = 0;
out:
	free(buf);
	delta_free(j);
	return rc;
}
