/* seal: the record layer of mirror:// sessions: a byte stream encrypted and authenticated, in order. */
#include "seal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "log.h"

#define NONCE_SIZE 12
#define RECORD_WIRE_MAX (SEAL_HEADER_SIZE + SEAL_RECORD_MAX + SEAL_TAG_SIZE)
/* Ciphertext read ahead: several records per read() keeps syscalls few. */
#define IN_SIZE (256 * 1024 + RECORD_WIRE_MAX)
/* Nonces are never reused: a direction ends before its counter wraps. */
#define SEQ_LAST UINT64_MAX

struct seal {
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
	uint64_t tx_seq;	/* nonce of the next record sealed */
	uint64_t rx_seq;	/* nonce of the next record opened */
	uint8_t *in;		/* records received, not yet opened */
	size_t in_cap;
	size_t in_start;
	size_t in_end;
	uint8_t *plain;		/* one opened record that did not fit the reader */
	size_t plain_start;
	size_t plain_end;
	int dead;		/* a record failed: nothing more is opened */
};

static void
nonce_of(uint8_t nonce[NONCE_SIZE], uint64_t seq)
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(seq >> (56 - 8 * i));
}

unsigned
seal_ciphers(void)
{
	unsigned set = 1u << SEAL_CHACHA20_POLY1305;

	/* libsodium's probe: AES-NI and PCLMUL (x86). */
	if (sodium_init() >= 0 && crypto_aead_aes256gcm_is_available())
		set |= 1u << SEAL_AES256_GCM;
	return set;
}

enum seal_cipher
seal_choose(unsigned ours, unsigned theirs)
{
	unsigned both = ours & theirs;

	if (both & (1u << SEAL_AES256_GCM))
		return SEAL_AES256_GCM;
	if (both & (1u << SEAL_CHACHA20_POLY1305))
		return SEAL_CHACHA20_POLY1305;
	return 0;
}

const char *
seal_cipher_name(int cipher)
{
	switch (cipher) {
	case SEAL_CHACHA20_POLY1305: return "ChaCha20-Poly1305";
	case SEAL_AES256_GCM: return "AES-256-GCM";
	}
	return "?";
}

struct seal *
seal_alloc(enum seal_cipher cipher, const uint8_t tx[SEAL_KEY_SIZE],
    const uint8_t rx[SEAL_KEY_SIZE], const void *ahead, size_t nahead)
{
	struct seal *s = calloc(1, sizeof(*s));
	const EVP_CIPHER *aead = cipher == SEAL_AES256_GCM ? EVP_aes_256_gcm() :
	    cipher == SEAL_CHACHA20_POLY1305 ? EVP_chacha20_poly1305() : NULL;

	if (s == NULL)
		return NULL;
	s->in_cap = nahead + RECORD_WIRE_MAX > IN_SIZE ?
	    nahead + RECORD_WIRE_MAX : IN_SIZE;
	s->in = malloc(s->in_cap);
	s->plain = malloc(SEAL_RECORD_MAX);
	s->enc = EVP_CIPHER_CTX_new();
	s->dec = EVP_CIPHER_CTX_new();
	if (s->in == NULL || s->plain == NULL || s->enc == NULL ||
	    s->dec == NULL) {
		errno = ENOMEM;
		goto fail;
	}
	if (aead == NULL || EVP_EncryptInit_ex(s->enc, aead, NULL, tx,
	    NULL) != 1 || EVP_DecryptInit_ex(s->dec, aead, NULL, rx,
	    NULL) != 1) {
		log_errx("%s is not available from libcrypto",
		    seal_cipher_name(cipher));
		errno = ENOSYS;
		goto fail;
	}
	if (nahead > 0)
		memcpy(s->in, ahead, nahead);
	s->in_end = nahead;
	return s;
fail:
	seal_free(s);
	return NULL;
}

void
seal_free(struct seal *s)
{
	if (s == NULL)
		return;
	/* Freeing a context wipes its key schedule. */
	EVP_CIPHER_CTX_free(s->enc);
	EVP_CIPHER_CTX_free(s->dec);
	if (s->plain != NULL)
		sodium_memzero(s->plain, SEAL_RECORD_MAX);
	free(s->plain);
	free(s->in);
	free(s);
}

/* Seals one record of n <= SEAL_RECORD_MAX bytes onto out (room reserved). */
static int
seal_one(struct seal *s, const uint8_t *m, size_t n, struct buf *out)
{
	uint8_t nonce[NONCE_SIZE], *hdr = out->data + out->len;
	uint8_t *c = hdr + SEAL_HEADER_SIZE;
	uint32_t len = (uint32_t)(n + SEAL_TAG_SIZE);
	int l1, l2;

	if (s->tx_seq == SEQ_LAST) {
		log_errx("sealed stream: %llu records sent, a new session is "
		    "needed", (unsigned long long)s->tx_seq);
		return -1;
	}
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	nonce_of(nonce, s->tx_seq);
	if (EVP_EncryptInit_ex(s->enc, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_EncryptUpdate(s->enc, NULL, &l1, hdr, SEAL_HEADER_SIZE) != 1 ||
	    EVP_EncryptUpdate(s->enc, c, &l1, m, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(s->enc, c + l1, &l2) != 1 ||
	    EVP_CIPHER_CTX_ctrl(s->enc, EVP_CTRL_AEAD_GET_TAG, SEAL_TAG_SIZE,
	    c + n) != 1) {
		log_errx("sealing a record failed (libcrypto)");
		return -1;
	}
	s->tx_seq++;
	out->len += SEAL_HEADER_SIZE + len;
	return 0;
}

int
seal_push(struct seal *s, const void *in, size_t n, struct buf *out)
{
	const uint8_t *m = in;
	size_t k;

	while (n > 0) {
		k = n < SEAL_RECORD_MAX ? n : SEAL_RECORD_MAX;
		if (buf_reserve(out, SEAL_HEADER_SIZE + k + SEAL_TAG_SIZE) == -1) {
			log_err("sealing");
			return -1;
		}
		if (seal_one(s, m, k, out) == -1)
			return -1;
		m += k;
		n -= k;
	}
	return 0;
}

uint8_t *
seal_space(struct seal *s, size_t *room)
{
	size_t have = s->in_end - s->in_start;

	if (s->in_start > 0 && (have == 0 ||
	    s->in_cap - s->in_end < RECORD_WIRE_MAX)) {
		memmove(s->in, s->in + s->in_start, have);
		s->in_start = 0;
		s->in_end = have;
	}
	*room = s->in_cap - s->in_end;
	return s->in + s->in_end;
}

void
seal_received(struct seal *s, size_t n)
{
	s->in_end += n;
}

/* Opens the record at in_start (len bytes after its header) into out. */
static int
open_one(struct seal *s, uint32_t len, uint8_t *out)
{
	uint8_t nonce[NONCE_SIZE], *hdr = s->in + s->in_start;
	uint8_t *c = hdr + SEAL_HEADER_SIZE;
	size_t n = len - SEAL_TAG_SIZE;
	int l1, l2;

	nonce_of(nonce, s->rx_seq);
	if (EVP_DecryptInit_ex(s->dec, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_DecryptUpdate(s->dec, NULL, &l1, hdr, SEAL_HEADER_SIZE) != 1 ||
	    EVP_DecryptUpdate(s->dec, out, &l1, c, (int)n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(s->dec, EVP_CTRL_AEAD_SET_TAG, SEAL_TAG_SIZE,
	    c + n) != 1 || EVP_DecryptFinal_ex(s->dec, out + l1, &l2) != 1)
		return -1;
	s->rx_seq++;
	s->in_start += SEAL_HEADER_SIZE + len;
	return 0;
}

static size_t
copy_plain(struct seal *s, uint8_t *dst, size_t cap)
{
	size_t k = s->plain_end - s->plain_start;

	if (k > cap)
		k = cap;
	memcpy(dst, s->plain + s->plain_start, k);
	s->plain_start += k;
	return k;
}

ssize_t
seal_pull(struct seal *s, uint8_t *dst, size_t cap, char *err, size_t errlen)
{
	size_t have = s->in_end - s->in_start;
	uint32_t len;
	uint8_t *out;

	if (s->dead) {
		snprintf(err, errlen, "the sealed stream already failed");
		errno = EPROTO;
		return -1;
	}
	if (s->plain_start < s->plain_end)
		return (ssize_t)copy_plain(s, dst, cap);
	if (have < SEAL_HEADER_SIZE)
		return 0;
	len = buf_load_u32(s->in + s->in_start);
	if (len <= SEAL_TAG_SIZE || len > SEAL_RECORD_MAX + SEAL_TAG_SIZE) {
		snprintf(err, errlen, "record %llu: a length of %u bytes (%u to "
		    "%u allowed)", (unsigned long long)s->rx_seq, len,
		    SEAL_TAG_SIZE + 1, SEAL_RECORD_MAX + SEAL_TAG_SIZE);
		s->dead = 1;
		errno = EPROTO;
		return -1;
	}
	if (have < SEAL_HEADER_SIZE + (size_t)len)
		return 0;
	out = cap >= len - SEAL_TAG_SIZE ? dst : s->plain;
	if (open_one(s, len, out) == -1) {
		snprintf(err, errlen, "record %llu failed authentication",
		    (unsigned long long)s->rx_seq);
		s->dead = 1;
		errno = EBADMSG;
		return -1;
	}
	if (out == dst)
		return (ssize_t)(len - SEAL_TAG_SIZE);
	s->plain_start = 0;
	s->plain_end = len - SEAL_TAG_SIZE;
	return (ssize_t)copy_plain(s, dst, cap);
}

int
seal_ready(const struct seal *s)
{
	size_t have = s->in_end - s->in_start;
	uint32_t len;

	if (s->plain_start < s->plain_end)
		return 1;
	if (have < SEAL_HEADER_SIZE)
		return 0;
	len = buf_load_u32(s->in + s->in_start);
	/* A bad length is "ready" too: the pull reports it. */
	return len <= SEAL_TAG_SIZE || len > SEAL_RECORD_MAX + SEAL_TAG_SIZE ||
	    have >= SEAL_HEADER_SIZE + (size_t)len;
}

int
seal_partial(const struct seal *s)
{
	return s->in_end > s->in_start;
}
