/* xattr: an entry's extended attributes (POSIX ACLs and file capabilities among them), in one canonical form. */
#ifndef MIRRORFS_XATTR_H
#define MIRRORFS_XATTR_H

#include <stddef.h>
#include <stdint.h>

/*
 * The namespaces a session may carry. POSIX ACLs are the attributes
 * system.posix_acl_access and system.posix_acl_default, whose raw values
 * hold numeric ids (as rsync --numeric-ids); no other system.* name is
 * ever copied. security.capability is a security.* attribute.
 */
#define XATTR_NS_USER     0x1u	/* user.* */
#define XATTR_NS_TRUSTED  0x2u	/* trusted.* (visible to root only) */
#define XATTR_NS_SECURITY 0x4u	/* security.* (written by root only) */
#define XATTR_NS_ACL      0x8u	/* system.posix_acl_access, _default */
#define XATTR_NS_XATTRS   (XATTR_NS_USER | XATTR_NS_TRUSTED | XATTR_NS_SECURITY)
#define XATTR_NS_ALL      (XATTR_NS_XATTRS | XATTR_NS_ACL)

/*
 * Bounds on what a peer may send: the encoded attributes of one entry,
 * and of all the entries of one session (the receiver holds them all).
 */
#define XATTR_MAX_ENTRY   (256u * 1024)
#define XATTR_MAX_SESSION (64u * 1024 * 1024)
#define XATTR_MAX_NAME    255
#define XATTR_MAX_VALUE   65536

/*
 * The canonical form ("blob"), the same on the wire, in the journal and
 * in memory, so two sets are equal exactly when their blobs are:
 *   u16 count, count x (u8 name length, name, u32 value length, value),
 * names strictly ascending (strcmp). No attributes is the empty blob
 * (length 0).
 */

/* The namespace of an attribute name, or 0 for one never copied. */
unsigned xattr_ns_of(const char *name);

/*
 * The namespaces this process can set on files it creates: user.* and
 * ACLs always, trusted.* and security.* as root.
 */
unsigned xattr_ns_settable(void);

/*
 * Reads the attributes of fd's file (an O_PATH descriptor is enough, a
 * symlink's own attributes included) in the namespaces ns into *blob (a
 * new allocation the caller frees, NULL when there are none; *len is its
 * length). A filesystem without attributes has none. Returns 0, or -1
 * with errno (E2BIG: more than XATTR_MAX_ENTRY bytes).
 */
int xattr_read_fd(int fd, unsigned ns, uint8_t **blob, uint32_t *len);
/*
 * xattr_read_fd of name (one component, never followed) in the directory
 * dirfd: a path walk through /proc/self/fd, no descriptor opened.
 */
int xattr_read_at(int dirfd, const char *name, unsigned ns, uint8_t **blob,
    uint32_t *len);

/*
 * Checks a blob from a peer: well formed, names ascending and every one
 * in ns, within the bounds above. 0, or -1 with *why set.
 */
int xattr_check(const uint8_t *blob, size_t len, unsigned ns, const char **why);

/*
 * Makes the attributes of fd's file in namespaces ns exactly those of
 * blob (checked): removes the others, sets the ones that differ,
 * security.capability last (chown and writes clear it, so callers set
 * owners and data first). Redoing it is harmless. Returns 0, or -1 with
 * errno, *failed naming the attribute (static storage, or inside blob)
 * and the errno EOPNOTSUPP when the filesystem holds none.
 */
int xattr_apply_fd(int fd, unsigned ns, const uint8_t *blob, uint32_t len,
    const char **failed);

/* 1 when fd's attributes in ns are exactly blob, 0 when not, -1 with errno. */
int xattr_same_fd(int fd, unsigned ns, const uint8_t *blob, uint32_t len);
/* xattr_same_fd of name in the directory dirfd (as xattr_read_at). */
int xattr_same_at(int dirfd, const char *name, unsigned ns, const uint8_t *blob,
    uint32_t len);

#endif
