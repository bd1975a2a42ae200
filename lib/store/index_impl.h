/* index_impl: what index.c, index_scan.c and index_file.c share inside the index module. */
#ifndef MIRRORFS_INDEX_IMPL_H
#define MIRRORFS_INDEX_IMPL_H

/* Included after index.h (not from it, so the module has no include cycle). */

#define IX_SHIFT 12
#define IX_CHUNK (1u << IX_SHIFT)

#define REC_TYPEMASK 0xffffu	/* st_mode */
#define REC_FREE     (1u << 16)
#define REC_DETACHED (1u << 17)
#define REC_XATTR    (1u << 18)	/* has an entry in xattrs */
#define REC_WIDE     (1u << 19)	/* has an entry in wide: st does not fit */
#define REC_MULTI    (1u << 20)	/* may have more than one name */
#define REC_LINKED   (1u << 21)	/* in links */

#define IXPOS_NONE 0xffffffu

/* A record's extended attributes: name NUL, u32 length, value; repeated. */
struct index_xattrs {
	uint32_t rec;		/* the table's key */
	uint32_t len;
	uint8_t data[];
};

struct index_wide {
	uint32_t rec;		/* the table's key */
	struct stat st;
};

static inline struct index_rec *
ix_rec(const struct index *ix, uint32_t id)
{
	return &ix->recs[id >> IX_SHIFT][id & (IX_CHUNK - 1)];
}

static inline struct index_dent *
ix_dent(const struct index *ix, uint32_t id)
{
	return &ix->dents[id >> IX_SHIFT][id & (IX_CHUNK - 1)];
}

static inline const char *
ix_name(const struct index *ix, const struct index_dent *d)
{
	return ix->names + d->name;
}

static inline int
ix_isdir(const struct index_rec *r)
{
	return S_ISDIR(r->mode & REC_TYPEMASK);
}

/* A new record with attributes st, or INDEX_NONE (ENOMEM). Not named yet. */
uint32_t ix_rec_new(struct index *ix, const struct stat *st);
/* Sets the attributes of rec from st. -1 ENOMEM. */
int ix_set_stat(struct index *ix, uint32_t rec, const struct stat *st);
/* Sets a symlink's target. -1 ENOMEM. */
int ix_set_target(struct index *ix, uint32_t rec, const char *target);
/* Replaces rec's xattrs with blob (len 0: none; the blob is copied). -1 ENOMEM. */
int ix_set_xattrs(struct index *ix, uint32_t rec, const void *blob,
    uint32_t len);
/* The xattrs of rec, or NULL. */
const struct index_xattrs *ix_xattrs(const struct index *ix, uint32_t rec);
/* Names rec as name in directory dir. The new dentry, or INDEX_NONE (ENOMEM). */
uint32_t ix_link(struct index *ix, uint32_t dir, const char *name, size_t len,
    uint32_t rec);
/* Removes dentry d; a record left without a name goes (a directory with all below it). */
void ix_unlink(struct index *ix, uint32_t d, const struct index_hooks *h);
/* The dentry of name in dir, or INDEX_NONE. */
uint32_t ix_find(const struct index *ix, uint32_t dir, const char *name,
    size_t len);
/* A regular file with more than one link, by its inode, or INDEX_NONE. */
uint32_t ix_linked(const struct index *ix, uint64_t ino);
/* Makes the top record (record 0) from st. -1 ENOMEM. */
int ix_make_root(struct index *ix, const struct stat *st);
/* Gives back the room directories kept to grow (after a build or a load). */
void ix_trim(struct index *ix);
/* Gives the names arena back its garbage when it is mostly garbage. */
void ix_compact_names(struct index *ix);

#endif
