/* manifest: the list of entries of a file set, and the scan that builds it. */
#ifndef MIRRORFS_MANIFEST_H
#define MIRRORFS_MANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "filter.h"
#include "hash.h"
#include "htab.h"
#include "result.h"

enum entry_type {
	ENTRY_REG = 1,
	ENTRY_DIR = 2,
	ENTRY_LNK = 3,
	ENTRY_HARDLINK = 4,	/* another name of an earlier ENTRY_REG */
	ENTRY_GONE = 5,		/* partial sessions: no longer at the source */
	ENTRY_FIFO = 6,		/* the special files of rsync --specials */
	ENTRY_SOCK = 7,
	ENTRY_CHR = 8,		/* and the devices of --devices (with rdev) */
	ENTRY_BLK = 9,
	ENTRY_TYPE_MAX = ENTRY_BLK
};

/* Is type a FIFO, socket or device (an entry made with mknod)? */
#define ENTRY_IS_SPECIAL(t) ((t) >= ENTRY_FIFO && (t) <= ENTRY_BLK)
#define ENTRY_IS_DEVICE(t) ((t) == ENTRY_CHR || (t) == ENTRY_BLK)

/* What manifest_scan reads besides the attributes of stat. */
#define MANIFEST_SCAN_HASH   0x1u	/* the content hash of every file */
#define MANIFEST_SCAN_XATTRS 0x2u	/* user.*, trusted.*, security.* */
#define MANIFEST_SCAN_ACLS   0x4u	/* system.posix_acl_access, _default */
/* The top is a store read as a source: its .mirrorfs is left out unsaid. */
#define MANIFEST_SCAN_STORE  0x8u
/*
 * manifest_scan_emit only: each entry goes to emit and is not kept (the
 * manifest gets the top's attributes, no entries): the walk's memory is
 * a directory's listing per level and the first name of each file with
 * several, whatever the size of the tree.
 */
#define MANIFEST_SCAN_STREAM 0x10u

struct entry {
	char *path;		/* relative to the top, owned (in a manifest: its) */
	char *target;		/* LNK: the link text; HARDLINK: the path it links to */
	uint8_t *xattrs;	/* canonical attributes (xattr.h), owned; NULL: none */
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint32_t link_index;	/* HARDLINK: index of the entry it links to */
	uint32_t uid;
	uint32_t gid;
	uint32_t rdev_major;	/* CHR, BLK: the device */
	uint32_t rdev_minor;
	uint32_t xattrs_len;
	/* Small fields last: a manifest holds millions of entries (96 bytes each). */
	uint16_t mode;		/* permission bits only (07777) */
	uint8_t type;		/* enum entry_type */
	uint8_t has_hash;
	/*
	 * REG: the first name of a file with several (st_nlink > 1), so a
	 * receiver keeps that name for the later ones (on the wire since
	 * protocol 10).
	 */
	uint8_t linked;
	uint8_t hash[HASH_SIZE];
};

/*
 * Entries come in path_order (path.h): the order of a depth-first walk,
 * parents first, siblings in byte order, so a HARDLINK always follows
 * the entry it names and a directory's listing is whole once an entry
 * outside it comes. The top directory's own attributes
 * are kept in top (its path is "").
 */
struct manifest {
	struct entry *v;
	size_t n;
	size_t cap;
	struct entry top;
	int mapped;		/* v is reserved address space (manifest_reserve) */
	int borrowed;		/* v and its entries are another manifest's */
	/*
	 * The entries' paths, packed end to end in chunks that never move:
	 * a path of 14 bytes takes 15 here where malloc takes 32.
	 */
	struct manifest_chunk *paths;
	/*
	 * Entries below base are released (manifest_release_below): their
	 * indices stay, their memory is gone. released: bytes of v given
	 * back (whole pages, made unreadable).
	 */
	size_t base;
	size_t released;
};

void manifest_init(struct manifest *m);
/* Frees what m owns (not a borrowed manifest's entries) and inits it. */
void manifest_release(struct manifest *m);
/*
 * Makes m (empty) hold at most max entries that never move: the address
 * space is reserved at once (MAP_NORESERVE), the memory taken as entries
 * come. Another thread may then read the entries pushed so far while
 * more are pushed (manifest_borrow). -1 with errno (then m is as it was).
 */
int manifest_reserve(struct manifest *m, size_t max);
/* Releases every entry, the top's attributes and the index; keeps the storage. */
void manifest_reset(struct manifest *m);
/*
 * Makes m a view of from's entries (reserved: they never move), m->n of
 * them, counted in by manifest_borrow_next as the caller learns that
 * from holds them; m's index and top are its own. Nothing may be pushed.
 */
void manifest_borrow(struct manifest *m, const struct manifest *from);
void manifest_borrow_next(struct manifest *m);
/*
 * A reserved manifest's reader is done with every entry below mark: their
 * strings are freed, the path chunks that hold only theirs too, and the
 * whole pages of v below it are given back and made unreadable (a read
 * there is a bug, and crashes). Indices do not change: entry i stays
 * m->v[i], and manifest_find searches the entries from base on. Nothing
 * for a manifest that is not reserved.
 */
void manifest_release_below(struct manifest *m, size_t mark);
/*
 * Appends e, taking ownership of its strings (freed on failure too):
 * its path moves into m's own storage (e->path is freed; the entry in
 * m->v has the copy, which lives as long as m). -1 with ENOMEM (a
 * reserved manifest: full).
 */
int manifest_push(struct manifest *m, struct entry *e);
/*
 * Position of path among m's entries (from base on), or -1 when absent: a binary
 * search, so the entries must be in path_order (path.h), as a scan makes
 * them and the receiver checks them (entries that are not find nothing
 * for sure).
 */
long manifest_find(const struct manifest *m, const char *path);

/* Frees an entry's strings and attributes. */
void entry_release(struct entry *e);
/* Fills the attribute fields of e from st. */
void entry_set_stat(struct entry *e, const struct stat *st);
/* The entry type of st, or 0 for a type that is not mirrored. */
int entry_type_of(mode_t mode);
/* The S_IF* file type of an entry type (HARDLINK: S_IFREG), 0 for GONE. */
mode_t entry_mode_type(int type);
/* A word for messages: "file", "directory", "symlink", "fifo"... */
const char *entry_type_name(int type);

/*
 * Walks the tree under rootfd (an open directory) into m, applying
 * filter; with MANIFEST_SCAN_* in what, hashes every regular file and
 * reads extended attributes and ACLs (of every entry but a hard link's
 * later names). Entries that cannot be mirrored (unreadable directories
 * or attributes, a top-level ".mirrorfs") are recorded in res as skipped
 * or failed, never silently dropped; but with MANIFEST_SCAN_STORE the
 * top-level ".mirrorfs" is the store's own metadata, left out unsaid. Returns 0, or -1 on a fatal error
 * (ENOMEM; logged).
 */
int manifest_scan(struct manifest *m, int rootfd, const char *rootname,
    const struct filter *filter, unsigned what, struct result *res);

/*
 * manifest_scan that hands each entry to emit as soon as it is found, in
 * manifest order (so it can go on the wire while the walk goes on); the
 * entry is emit's to read during the call only (with
 * MANIFEST_SCAN_STREAM it is freed after). The top's attributes are in
 * m->top before the first call. emit returns 0, or -1 to stop the walk
 * (it logged why): manifest_scan_emit then returns -1 and logs nothing.
 */
typedef int manifest_emit_fn(void *arg, const struct entry *e);
int manifest_scan_emit(struct manifest *m, int rootfd, const char *rootname,
    const struct filter *filter, unsigned what, struct result *res,
    manifest_emit_fn *emit, void *arg);

/*
 * Like manifest_scan, but only for the given paths (what a watcher saw
 * change) and the directories that hold them: a path that is gone is an
 * ENTRY_GONE. Returns 0, 1 when a partial manifest cannot be exact (a
 * changed file with several names: the caller sends the whole tree), or
 * -1 on a fatal error (logged).
 */
int manifest_scan_paths(struct manifest *m, int rootfd, const char *rootname,
    const char *const *paths, size_t npaths, const struct filter *filter,
    unsigned what, struct result *res);

#endif
