/*
 * dkim_bodyhash: the "relaxed" body hash of a DKIM signature (RFC 6376 3.4.4, 3.7), computed the
 * way libopendkim 2.11 computes it, byte for byte, at a fraction of its cost.
 *
 * Why: libopendkim's relaxed body canonicalization appends every byte of the body through a
 * function call (dkim_dstring_cat1); on a 20 KiB message that is most of the DKIM cost of a
 * message (tests/bench/RESULTS.md).  lib/dkim.c lets libopendkim verify everything else (the
 * signature's tags, the header hash, the key, the RSA or Ed25519 signature) and compares the
 * body hash computed here with the signature's bh=.  Only signatures with c=.../relaxed and no
 * l= take this path; the rest are left to libopendkim whole.
 *
 * libopendkim's rules, which this module keeps (tests/unit/test_dkim_bodyhash.c checks them
 * against libopendkim's own signer on random bodies):
 *   - a line ends at CRLF; SP and HTAB are white space; runs of white space become one SP, and
 *     white space before CRLF is dropped; empty lines at the end of the body are dropped;
 *   - a bare CR is kept only when another CR follows it; before anything else it is dropped
 *     (RFC 6376 would keep it: a deviation of libopendkim's, kept so that verdicts do not change);
 *   - a bare CR followed by white space commits the empty lines before it even when the rest of
 *     its line is blank (the same);
 *   - a body that ends inside a line's text (no final CRLF) cannot be hashed: libopendkim
 *     reports "CRLF at end of body missing", and dkim_bodyhash_final() returns false.
 * Any chunking of the body gives the same hash.
 */
#ifndef INGRESS_DKIM_BODYHASH_H
#define INGRESS_DKIM_BODYHASH_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

enum dkim_bodyhash_alg {
    DKIM_BODYHASH_SHA1,   /* rsa-sha1 */
    DKIM_BODYHASH_SHA256, /* rsa-sha256, ed25519-sha256 */
    DKIM_BODYHASH_ALGS,   /* how many there are */
};

struct dkim_bodyhash;

/* Never NULL (allocation failure aborts). */
struct dkim_bodyhash *dkim_bodyhash_new(enum dkim_bodyhash_alg alg);
/* NULL is a no-op. */
void dkim_bodyhash_free(struct dkim_bodyhash *h);

/* Feeds the next len bytes of the body (as the milter protocol hands it over: CRLF lines). */
void dkim_bodyhash_update(struct dkim_bodyhash *h, const unsigned char *data, size_t len);

/*
 * Ends the body: the digest goes to out (EVP_MAX_MD_SIZE bytes), its length to *outlen.  False
 * (and no digest) when the body ends inside a line's text, or when OpenSSL fails.  Once only.
 */
bool dkim_bodyhash_final(struct dkim_bodyhash *h, unsigned char *out, size_t *outlen);

/*
 * Decodes a base64 tag value as DKIM writes them (RFC 6376 2.4's base64string: folding white
 * space anywhere, the '=' padding optional), such as bh= or a key's p=, into out (at most outlen
 * bytes).  The number of bytes, or -1 when the value is not base64, is longer than 2048
 * characters, or does not fit.
 */
long dkim_base64_decode(const char *in, unsigned char *out, size_t outlen);

#endif
