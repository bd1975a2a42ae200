/* stage: each file the sender sends, written to staging/ and checked whole before it may be committed. */
#ifndef MIRRORFS_STAGE_H
#define MIRRORFS_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "hash.h"
#include "manifest.h"
#include "plan.h"
#include "proto.h"
#include "store/store.h"

/*
 * The file being received: whole, resumed from a part an interrupted
 * session kept (partial.h), or patched from the store's version with a
 * delta. A file that cannot be written is drained all the same (the
 * session goes on) and fails at its end with the reason.
 */
struct stage_file {
	long idx;		/* the entry, or -1 when no file is arriving */
	int fd;			/* staging/NAME */
	char name[PLAN_STAGED_PATH];
	uint64_t got;		/* bytes of the new version so far */
	int werr;		/* errno of the first failed write */
	struct hash_state *h;
	struct file_head head;
	struct delta_job *patch;	/* a delta: the patch, and the version */
	int basisfd;			/* it reads */
	int holes;		/* a HOLE came: the length is set at the end */
	char bad[256];		/* why the file fails, once it does */
};

/*
 * Makes the shard directory of entry i's staged name (plan.h), there or
 * not. Returns 0, or -1 with errno.
 */
int stage_shard(struct store *s, size_t i);

/* No file arriving. */
void stage_init(struct stage_file *f);

/*
 * Starts entry head->index (at path) as staging/NAME (plan_staged_path): whole, from the end of
 * its kept part when head->offset > 0 (FILE_FROM), or as a delta when
 * head->delta. Returns 0, or -1 on ENOMEM (logged).
 */
int stage_begin(struct stage_file *f, struct store *s, const char *path,
    const char *name, const struct file_head *head);

/*
 * Takes n bytes of DATA: the file's bytes, or its delta. Returns 0, or -1
 * when whole-file bytes run past the announced size (the peer broke the
 * protocol; why says so).
 */
int stage_data(struct stage_file *f, const void *p, size_t n, char *why,
    size_t len);

/*
 * Takes a HOLE of n bytes: zeros left unwritten (the file stays sparse).
 * Returns 0, or -1 when it runs past the announced size or comes inside
 * a delta (the peer broke the protocol; why says so).
 */
int stage_hole(struct stage_file *f, uint64_t n, char *why, size_t len);

enum stage_end {
	STAGE_BROKEN = -1,	/* short of the announced size: a protocol error */
	STAGE_FAILED = 0,	/* this file fails (why); the session goes on */
	STAGE_DONE = 1,		/* staged, hash checked, attributes set */
	STAGE_SKIPPED = 2,	/* the store cannot hold its attributes (why) */
};

/*
 * Ends the file with the sender's hash: checks length and hash, gives the
 * staged file the sender's attributes (owners too with o->owner) and e's
 * extended attributes in the namespaces o->ns. The fd is closed; a
 * failed or skipped file's staged data is removed. f is ready for the
 * next.
 */
enum stage_end stage_end(struct stage_file *f, struct store *s,
    const uint8_t digest[HASH_SIZE], const struct entry *e,
    const struct plan_opts *o, char *why, size_t len);

/*
 * Stages entry i as staging/NAME from srcfd, the source file itself (a local sender
 * passed its descriptor, FILE_FD): copied by the kernel (copy_file_range,
 * which shares extents where the filesystem can; read and write where it
 * cannot), its holes left holes. The copy counts only when srcfd's stat
 * is the same before and after it (a file changed meanwhile is copied
 * again, up to 3 times, then skipped), so it is never torn. srcfd must be
 * a regular file open for reading, not on a FUSE filesystem (a mount
 * that does not answer would hold the receiver). *attr gets the version
 * staged (size, mode, owner, mtime); the staged file gets them and e's
 * extended attributes as stage_end gives them. Returns STAGE_DONE,
 * STAGE_SKIPPED or STAGE_FAILED with why set; the caller closes srcfd.
 */
enum stage_end stage_copy(struct store *s, size_t i, const char *name,
    int srcfd, const struct entry *e, const struct plan_opts *o,
    struct entry *attr, char *why, size_t len);

/* Abandons the file in progress, removing what it staged. */
void stage_drop(struct stage_file *f, struct store *s);

/*
 * The connection broke: keeps in partial/ the part of the file in
 * progress and every complete staged regular file of plan p, for the
 * next session to resume from. Entries m released (below m->base) are
 * named by released(arg, i), called for increasing i (NULL: failed,
 * logged; an entry whose path is NULL there is not kept); released NULL:
 * they cannot be named, and are not kept. resume (NULL,
 * or one offset an entry) names the parts this session claimed from
 * partial/ (stage_claim) and had not had the rest of: they are kept again.
 */
void stage_keep_partials(struct stage_file *f, struct store *s,
    const struct manifest *m, const struct plan *p, plan_entry_at *released,
    void *arg, const uint64_t *resume);

/*
 * Takes up what an interrupted session kept of entry i (e), as staging/
 * NAME (plan_staged_path): returns how many bytes it holds (e->size when complete), or 0
 * when nothing is kept for this very version (path, size, mtime). What
 * it holds is verified before use: stage_adopt with the manifest's hash,
 * else by the sender, from stage_kept_hash (NEED_FROM).
 */
uint64_t stage_claim(struct store *s, size_t i, const char *name,
    const struct entry *e);
/* The hash of what staging/NAME holds. 0, or -1 with errno. */
int stage_kept_hash(struct store *s, const char *name, uint8_t out[HASH_SIZE]);
/*
 * A complete kept copy at staging/NAME whose content hashes to e->hash:
 * given its attributes, it is staged (the caller marks it PF_STAGED). -1
 * when it differs or cannot be read: the caller discards it.
 */
int stage_adopt(struct store *s, const char *name, const struct entry *e,
    const struct plan_opts *o);
/* Removes what staging/NAME holds. */
void stage_discard(struct store *s, const char *name);

/*
 * Gives fd (an entry staged or in the store, any descriptor of it) e's
 * extended attributes in the namespaces o->ns, after its owner and mode.
 * Returns 0; or -1 with a reason in why, and 1 when the reason is that
 * the filesystem holds no such attributes (the entry is skipped).
 */
int stage_xattrs(int fd, const struct entry *e, const struct plan_opts *o,
    char *why, size_t len);

/*
 * The signature of the store's version of path, for a delta, appended to
 * sig when that version is a regular file of at least DELTA_MIN_SIZE and
 * its signature fits in budget bytes. Returns 0 with sig filled, 1 when
 * the file should be sent whole instead.
 */
int stage_signature(struct store *s, const char *path, uint64_t budget,
    struct buf *sig);

#endif
