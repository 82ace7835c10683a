/*
 * fuzz_bodyhash: libFuzzer target for lib/dkim_bodyhash.c, differential.  The input's first byte
 * picks the chunk size (0: all at once, else 1..255 bytes a call); the rest is a message body.
 * libopendkim's own signer (relaxed body, rsa-sha256, a 1024-bit key made at start) computes its
 * bh= of the body, and dkim_bodyhash must give the same digest, or refuse exactly the bodies
 * libopendkim refuses ("CRLF at end of body missing").  Any difference aborts.
 *
 *   tests/fuzz/run.sh bodyhash 300
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <opendkim/dkim.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "../dkim/signer.h"
#include "dkim_bodyhash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static DKIM_LIB *lib;
static char *key_pem;

static void start(void)
{
    lib = dkim_init(NULL, NULL);
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    BIO *bio = BIO_new(BIO_s_mem());
    if (lib == NULL || key == NULL || bio == NULL ||
        PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
        abort();
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);
    key_pem = malloc((size_t)n + 1);
    if (key_pem == NULL)
        abort();
    memcpy(key_pem, p, (size_t)n);
    key_pem[n] = '\0';
    BIO_free(bio);
    EVP_PKEY_free(key);
}

/* libopendkim's bh= for the body, decoded into out; false when it refuses the body. */
static bool theirs(const uint8_t *body, size_t len, unsigned char *out, size_t *outlen)
{
    char err[2200];
    enum signer_result r = signer_body_hash(lib, key_pem, DKIM_BODYHASH_SHA256, body, len, out,
                                            EVP_MAX_MD_SIZE, outlen, err, sizeof err);
    if (r == SIGNER_ERROR) {
        fprintf(stderr, "fuzz_bodyhash: libopendkim's signer: %s\n", err);
        abort();
    }
    return r == SIGNER_HASHED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (lib == NULL)
        start();
    if (size < 1)
        return 0;
    size_t chunk = data[0];
    const uint8_t *body = data + 1;
    size_t len = size - 1;

    unsigned char want[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
    size_t want_len = 0, got_len = 0;
    bool them = theirs(body, len, want, &want_len);

    struct dkim_bodyhash *h = dkim_bodyhash_new(DKIM_BODYHASH_SHA256);
    for (size_t off = 0; off < len;) {
        size_t k = chunk == 0 || len - off < chunk ? len - off : chunk;
        dkim_bodyhash_update(h, body + off, k);
        off += k;
    }
    bool us = dkim_bodyhash_final(h, got, &got_len);
    dkim_bodyhash_free(h);
    if (us != them || (us && (got_len != want_len || memcmp(got, want, got_len) != 0))) {
        fprintf(stderr, "fuzz_bodyhash: libopendkim %s, dkim_bodyhash %s\n",
                them ? "hashed" : "refused",
                us ? (them ? "hashed differently" : "hashed") : "refused");
        abort();
    }
    return 0;
}
