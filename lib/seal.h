/* seal: the record layer of mirror:// sessions: a byte stream encrypted and authenticated, in order. */
#ifndef MIRRORFS_SEAL_H
#define MIRRORFS_SEAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#define SEAL_KEY_SIZE 32
/* Plaintext bytes of one record at most; a longer push makes several. */
#define SEAL_RECORD_MAX (64 * 1024)
#define SEAL_TAG_SIZE 16
/* On the wire: u32 length (of ciphertext and tag), then those bytes. */
#define SEAL_HEADER_SIZE 4

/*
 * The AEADs a seal can use (their numbers go on the wire, as a set of
 * bits in the handshake): both with 32-byte keys, 12-byte nonces and
 * 16-byte tags.
 */
enum seal_cipher {
	SEAL_CHACHA20_POLY1305 = 1,	/* RFC 8439; fast everywhere */
	SEAL_AES256_GCM = 2,		/* fastest where the CPU has AES */
};

/*
 * The ciphers this machine runs fast, as bits (1 << cipher):
 * ChaCha20-Poly1305 always, AES-256-GCM when the CPU has AES and
 * carry-less multiply instructions.
 */
unsigned seal_ciphers(void);
/* Of the ciphers both sides offer, the one to use; 0 when none. */
enum seal_cipher seal_choose(unsigned ours, unsigned theirs);
/* "ChaCha20-Poly1305", "AES-256-GCM" or "?". */
const char *seal_cipher_name(int cipher);

/*
 * One direction each way of a connection: records sealed with the send
 * key under nonces 0, 1, 2, ..., records opened with the receive key
 * under the same sequence. A record's length prefix is its additional
 * data, so no byte of the stream can change, move, vanish or appear
 * without the next open failing. The sending half (seal_push) and the
 * receiving half (the rest) share nothing: each is used by one thread at
 * a time, which may be two different threads.
 */
struct seal;

/*
 * A seal with its cipher and two keys (copied; the caller wipes its
 * own), given the wire bytes already read past the handshake (ahead,
 * nahead), which are records. NULL on ENOMEM or a cipher failure
 * (logged).
 */
struct seal *seal_alloc(enum seal_cipher cipher,
    const uint8_t tx[SEAL_KEY_SIZE], const uint8_t rx[SEAL_KEY_SIZE],
    const void *ahead, size_t nahead);
/* Wipes the keys and frees s; NULL is a no-op. */
void seal_free(struct seal *s);

/*
 * Seals n bytes (n may be 0: nothing) into records appended to out.
 * 0, or -1 on ENOMEM, a cipher failure or a worn-out nonce sequence
 * (logged).
 */
int seal_push(struct seal *s, const void *in, size_t n, struct buf *out);

/* Where the next bytes read from the wire go, and how many fit (never 0). */
uint8_t *seal_space(struct seal *s, size_t *room);
/* Accounts for n bytes just read into seal_space(). */
void seal_received(struct seal *s, size_t n);

/*
 * Copies up to cap bytes of plaintext into dst, opening the records
 * buffered as needed. Returns the bytes copied (> 0), 0 when a whole
 * record has yet to arrive, or -1 with a reason in err: a length out of
 * bounds (EPROTO) or a record that fails authentication (EBADMSG). After
 * -1 the stream is dead.
 */
ssize_t seal_pull(struct seal *s, uint8_t *dst, size_t cap, char *err,
    size_t errlen);

/* True when plaintext, or a whole record, waits to be pulled. */
int seal_ready(const struct seal *s);
/* True when part of a record has arrived (an end of stream now is a cut). */
int seal_partial(const struct seal *s);

#endif
