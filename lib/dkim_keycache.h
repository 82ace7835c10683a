/*
 * dkim_keycache: decoded DKIM public keys, kept by the exact bytes of their DER encoding (the
 * base64-decoded p= of a key record, RFC 6376 3.6.1), so that a key that signs many messages is
 * decoded once and not for every message.
 *
 * Why: libopendkim hands every signature's key bytes to OpenSSL's d2i_PUBKEY_bio() and OpenSSL 3
 * builds a decoder context for each call; with a 2048-bit RSA key that is about 80 us of CPU, four
 * times the RSA verification itself (tests/bench/RESULTS.md).  The cache knows nothing of names:
 * a key is found only by its whole byte string, so a rotated or revoked key record is never
 * answered from it (the record's own freshness is the DNS cache's business), and a byte string
 * that does not decode is never stored.
 *
 * Bounded: DKIM_KEYCACHE_SETS sets of DKIM_KEYCACHE_WAYS keys each; a key's set is
 * hash_fnv1a(bytes) % DKIM_KEYCACHE_SETS (util.h), and a new key replaces the least recently used
 * of its set.  Keys larger than
 * DKIM_KEYCACHE_MAX_DER are decoded but not kept.  Safe for any number of threads (one mutex,
 * held only for the lookup and the insert, never while decoding); a returned key is shared
 * with the cache and with other threads and must only be read (verification), never changed.
 */
#ifndef INGRESS_DKIM_KEYCACHE_H
#define INGRESS_DKIM_KEYCACHE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

enum {
    DKIM_KEYCACHE_SETS = 256,
    DKIM_KEYCACHE_WAYS = 2,
    /* A 4096-bit RSA SubjectPublicKeyInfo is 550 bytes; RFC 8301 caps verifiers at 4096. */
    DKIM_KEYCACHE_MAX_DER = 1024,
};

struct dkim_keycache;

struct dkim_keycache_stats {
    uint64_t hits;    /* answered from the cache */
    uint64_t misses;  /* decoded by OpenSSL (whether kept or not) */
    uint64_t invalid; /* byte strings OpenSSL could not decode (never kept) */
    size_t entries;   /* keys held now */
};

/* Never NULL (allocation failure aborts). */
struct dkim_keycache *dkim_keycache_new(void);
/* Drops the cache's references; keys still held by callers live on.  NULL is a no-op. */
void dkim_keycache_free(struct dkim_keycache *kc);

/*
 * The key whose DER encoding is der[0..len), as d2i_PUBKEY() decodes it, with one reference
 * handed to the caller (EVP_PKEY_free it); NULL when the bytes are no public key.  *used is set
 * to the number of bytes the encoding took (d2i_PUBKEY stops at the end of the first ASN.1
 * object), also on a hit.  der is copied.
 */
EVP_PKEY *dkim_keycache_get(struct dkim_keycache *kc, const unsigned char *der, size_t len,
                            size_t *used);

void dkim_keycache_stats(struct dkim_keycache *kc, struct dkim_keycache_stats *out);

#endif
