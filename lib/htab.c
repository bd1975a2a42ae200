/* htab: an open-addressing hash table from byte-string keys to indexes. */
#include "htab.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

struct htab_slot {
	const void *key;	/* NULL when the slot is empty */
	size_t keylen;
	size_t value;
	uint64_t hash;
};

void
htab_init(struct htab *h)
{
	h->slots = NULL;
	h->cap = 0;
	h->n = 0;
}

void
htab_release(struct htab *h)
{
	free(h->slots);
	htab_init(h);
}

static struct htab_slot *
htab_find(const struct htab *h, const void *key, size_t keylen, uint64_t hash)
{
	size_t mask = h->cap - 1, i = hash & mask;

	for (;;) {
		struct htab_slot *s = &h->slots[i];

		if (s->key == NULL || (s->hash == hash && s->keylen == keylen &&
		    memcmp(s->key, key, keylen) == 0))
			return s;
		i = (i + 1) & mask;
	}
}

static int
htab_grow(struct htab *h)
{
	struct htab old = *h;
	size_t cap = h->cap ? h->cap * 2 : 64;

	h->slots = calloc(cap, sizeof(*h->slots));
	if (h->slots == NULL) {
		h->slots = old.slots;
		return -1;
	}
	h->cap = cap;
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].key != NULL)
			*htab_find(h, old.slots[i].key, old.slots[i].keylen,
			    old.slots[i].hash) = old.slots[i];
	free(old.slots);
	return 0;
}

int
htab_put(struct htab *h, const void *key, size_t keylen, size_t value)
{
	uint64_t hash = XXH3_64bits(key, keylen);
	struct htab_slot *s;

	if ((h->n + 1) * 4 > h->cap * 3 && htab_grow(h) == -1)
		return -1;
	s = htab_find(h, key, keylen, hash);
	if (s->key == NULL) {
		s->key = key;
		s->keylen = keylen;
		s->hash = hash;
		h->n++;
	}
	s->value = value;
	return 0;
}

int
htab_get(const struct htab *h, const void *key, size_t keylen, size_t *value)
{
	struct htab_slot *s;

	if (h->cap == 0)
		return 0;
	s = htab_find(h, key, keylen, XXH3_64bits(key, keylen));
	if (s->key == NULL)
		return 0;
	*value = s->value;
	return 1;
}

int
htab_del(struct htab *h, const void *key, size_t keylen)
{
	size_t mask, i, j, home;
	struct htab_slot *s;

	if (h->cap == 0)
		return 0;
	s = htab_find(h, key, keylen, XXH3_64bits(key, keylen));
	if (s->key == NULL)
		return 0;
	/* Backward-shift deletion keeps every probe chain unbroken. */
	mask = h->cap - 1;
	i = (size_t)(s - h->slots);
	j = i;
	for (;;) {
		h->slots[i].key = NULL;
		for (;;) {
			j = (j + 1) & mask;
			if (h->slots[j].key == NULL) {
				h->n--;
				return 1;
			}
			home = h->slots[j].hash & mask;
			/* Can slot j move back to i? Only if home is not in (i, j]. */
			if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
				break;
		}
		h->slots[i] = h->slots[j];
		i = j;
	}
}

int
htab_next(const struct htab *h, size_t *pos, size_t *value)
{
	while (*pos < h->cap) {
		const struct htab_slot *s = &h->slots[(*pos)++];

		if (s->key != NULL) {
			*value = s->value;
			return 1;
		}
	}
	return 0;
}
