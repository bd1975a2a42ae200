/* hash: the content hash (XXH3-128) used for end-to-end verification. */
#ifndef MIRRORFS_HASH_H
#define MIRRORFS_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_SIZE 16

struct hash_state;

/* NULL on ENOMEM. The state is freed by hash_final or hash_free. */
struct hash_state *hash_new(void);
void hash_update(struct hash_state *h, const void *p, size_t n);
/* hash_update with n zero bytes (a hole of a sparse file). */
void hash_zeros(struct hash_state *h, uint64_t n);
/* Writes the digest (canonical, big-endian) and frees h. */
void hash_final(struct hash_state *h, uint8_t out[HASH_SIZE]);
/* Writes the digest of what h has taken so far; h goes on. */
void hash_digest(const struct hash_state *h, uint8_t out[HASH_SIZE]);
void hash_free(struct hash_state *h);

/*
 * A 64-bit hash of one block, under a seed (XXH3-64): the strong sum of
 * a delta's blocks (delta.c), where the seed is the signature's own.
 */
uint64_t hash_block(const void *p, size_t n, uint64_t seed);

/* Hashes an open file from its start. Returns 0, or -1 with errno. */
int hash_fd(int fd, uint8_t out[HASH_SIZE]);

#endif
