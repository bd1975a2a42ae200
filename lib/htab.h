/* htab: an open-addressing hash table from byte-string keys to indexes. */
#ifndef MIRRORFS_HTAB_H
#define MIRRORFS_HTAB_H

#include <stddef.h>
#include <stdint.h>

/*
 * Keys are not copied: the caller keeps each key alive and unchanged
 * while it is in the table (manifests key by their own entry paths).
 */
struct htab {
	struct htab_slot *slots;
	size_t cap;		/* a power of two, or 0 */
	size_t n;
};

void htab_init(struct htab *h);
void htab_release(struct htab *h);
/* Inserts or overwrites. Returns 0, or -1 with errno ENOMEM. */
int htab_put(struct htab *h, const void *key, size_t keylen, size_t value);
/*
 * Iterates: start with *pos = 0; each call returning 1 sets *value to
 * the next entry's value. The table must not change meanwhile.
 */
int htab_next(const struct htab *h, size_t *pos, size_t *value);
/* Removes key; returns 1 when it was there, else 0. */
int htab_del(struct htab *h, const void *key, size_t keylen);
/* Returns 1 and sets *value when found, else 0. */
int htab_get(const struct htab *h, const void *key, size_t keylen,
    size_t *value);

#endif
