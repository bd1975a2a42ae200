/* delta: rsync-style block deltas: a basis file's signature, a delta against it, the patch. */
#ifndef MIRRORFS_DELTA_H
#define MIRRORFS_DELTA_H

#include <stddef.h>
#include <stdint.h>

/*
 * Files smaller than this are sent whole: below it a signature and the
 * rolling search cost more than the bytes they could save.
 */
#define DELTA_MIN_SIZE (64 * 1024)
/*
 * Signature bytes one session may carry to the sender (bounds its
 * memory: it holds about 2.7 bytes for each, indexed), each signature
 * counted DELTA_SIG_OVERHEAD bytes more at both ends: holding one costs
 * that however short it is, so a peer cannot make the sender hold more
 * with many tiny ones.
 */
#define DELTA_MAX_SIG_TOTAL (256u * 1024 * 1024)
#define DELTA_SIG_OVERHEAD 256u

/* Takes bytes a job produced: 0, or -1 to stop the job (errno set). */
typedef int delta_emit_fn(void *arg, const void *p, size_t n);

/* Roughly how many bytes the signature of a size-byte basis takes. */
uint64_t delta_sig_size(uint64_t size);

/*
 * A job: bytes go in with delta_feed, its output comes out through emit.
 *   sig:    in: the basis file,   out: its signature
 *   load:   in: a signature,      out: nothing (delta_load_end gives it)
 *   encode: in: the new file,     out: the delta against a loaded signature
 *   patch:  in: a delta,          out: the new file (the basis read from fd)
 * Each returns NULL with errno (ENOMEM; the patch: fstat of the basis).
 * The formats (delta_impl.h, docs/PROTOCOL.md) are our own: blocks of
 * about the square root of the file's size, rsync's rolling weak sum and
 * a seeded XXH3-64 strong sum, so that a search over an unchanged
 * stretch costs one hash of each block.
 */
struct delta_job;
struct delta_sig;

struct delta_job *delta_sig_begin(uint64_t basis_size);
struct delta_job *delta_load_begin(void);
/* The loaded and indexed signature (the caller frees it), or NULL with err. */
struct delta_sig *delta_load_end(struct delta_job *j, char *err, size_t errlen);
/* The signature must outlive the job. */
struct delta_job *delta_encode_begin(struct delta_sig *sig);
/* Reads the basis from fd (not closed by the job) with pread. */
struct delta_job *delta_patch_begin(int basisfd);

/*
 * Feeds n bytes (eof: no more follow) and passes all output to emit.
 * Returns 1 when the job has finished (a patch: at the delta's end; the
 * others only after eof), 0 when it wants
 * more input, -1 with a message in err when the stream is corrupt or
 * truncated, the basis could not be read, or emit failed (then errno is
 * emit's).
 */
int delta_feed(struct delta_job *j, const void *in, size_t n, int eof,
    delta_emit_fn *emit, void *arg, char *err, size_t errlen);
void delta_free(struct delta_job *j);
void delta_sig_free(struct delta_sig *sig);

/* Streams the signature of the open regular file fd (size bytes) to emit. */
int delta_signature(int fd, uint64_t size, delta_emit_fn *emit, void *arg,
    char *err, size_t errlen);

#endif
