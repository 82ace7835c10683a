/*
 * test_dkim_bodyhash: the relaxed body hash against two references.
 *   - Hand-written bodies whose canonical form is written out here (RFC 6376 3.4.4 and its
 *     example in 3.4.5, and libopendkim's own rules for bare CRs, dkim_bodyhash.h): the hash must
 *     be the SHA-256 (or SHA-1) of that form.
 *   - libopendkim's signer: it computes bh= with the canonicalization that its verifier uses, so
 *     thousands of random bodies (text, SP, HTAB, CR, LF, CRLF, empty lines, in any order) are
 *     signed by it and hashed here, in random chunks, and the hashes must be equal.  A body that
 *     libopendkim refuses ("CRLF at end of body missing") must be refused here too.
 * The signer uses the 1024-bit test key (its smallest signing key): only its bh= is read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <opendkim/dkim.h>
#include <openssl/evp.h>

#include "../dkim/signer.h"
#include "dkim_bodyhash.h"
#include "util.h"

#ifndef INGRESS_SOURCE_DIR
#error "INGRESS_SOURCE_DIR must be defined"
#endif

static DKIM_LIB *lib;
static char signing_key[4096];

static int setup(void **state)
{
    (void)state;
    FILE *f = fopen(INGRESS_SOURCE_DIR "/tests/dkim/keys/rsa1024.pem", "r");
    if (f == NULL)
        return -1;
    size_t n = fread(signing_key, 1, sizeof signing_key - 1, f);
    fclose(f);
    signing_key[n] = '\0';
    lib = dkim_init(NULL, NULL);
    return lib != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    dkim_close(lib);
    return 0;
}

/* Our hash of body, fed in chunks of at most chunk bytes (0: all at once). */
static bool ours(enum dkim_bodyhash_alg alg, const unsigned char *body, size_t len, size_t chunk,
                 unsigned char *out, size_t *outlen)
{
    struct dkim_bodyhash *h = dkim_bodyhash_new(alg);
    size_t off = 0;
    while (off < len) {
        size_t k = chunk == 0 || len - off < chunk ? len - off : chunk;
        dkim_bodyhash_update(h, body + off, k);
        off += k;
    }
    bool ok = dkim_bodyhash_final(h, out, outlen);
    dkim_bodyhash_free(h);
    return ok;
}

/* libopendkim's signer's bh= for body, decoded; false when it refuses the body. */
static bool libopendkim(enum dkim_bodyhash_alg alg, const unsigned char *body, size_t len,
                        unsigned char *out, size_t *outlen)
{
    char err[2200];
    enum signer_result r = signer_body_hash(lib, signing_key, alg, body, len, out, EVP_MAX_MD_SIZE,
                                            outlen, err, sizeof err);
    if (r == SIGNER_ERROR)
        fail_msg("libopendkim's signer: %s", err);
    return r == SIGNER_HASHED;
}

static void digest_of(enum dkim_bodyhash_alg alg, const char *canon, unsigned char *out,
                      size_t *outlen)
{
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(canon, strlen(canon), out, &n,
                                alg == DKIM_BODYHASH_SHA1 ? EVP_sha1() : EVP_sha256(), NULL),
                     1);
    *outlen = n;
}

struct known {
    const char *body;
    const char *canon; /* NULL: refused */
};

static const struct known known_bodies[] = {
    /* RFC 6376 3.4.5's example */
    {" C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n"},
    {"", ""},
    {"\r\n", ""},
    {"\r\n\r\n\r\n", ""},
    {"a\r\n", "a\r\n"},
    {"a  \t b\t\r\n", "a b\r\n"},
    {"\t lead\r\n", " lead\r\n"},
    {"a\r\n \t \r\n\r\nb\r\n \r\n\r\n", "a\r\n\r\n\r\nb\r\n"},
    {"line\r\n\r\n", "line\r\n"},
    /* a bare LF is text */
    {"a\nb\r\n", "a\nb\r\n"},
    /* libopendkim: a bare CR before text is dropped, before a CR kept */
    {"x\ry\r\n", "xy\r\n"},
    {"x\r\r\n", "x\r\r\n"},
    {"x\r y\r\n", "x y\r\n"},
    /* libopendkim: CR + white space commits the empty lines before it */
    {"a\r\n\r\n\r \r\n", "a\r\n\r\n"},
    /* no CRLF at the end */
    {"a", NULL},
    {"a\r\nb", NULL},
    {"a\r", NULL},
    {"a\r\n \t", "a\r\n"},
    {"a\r\n\r", "a\r\n"},
};

static void known_bodies_hash_to_their_canonical_form(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof known_bodies / sizeof known_bodies[0]; i++) {
        const struct known *k = &known_bodies[i];
        for (int alg = DKIM_BODYHASH_SHA1; alg <= DKIM_BODYHASH_SHA256; alg++) {
            unsigned char got[EVP_MAX_MD_SIZE], want[EVP_MAX_MD_SIZE];
            size_t got_len = 0, want_len = 0;
            for (size_t chunk = 0; chunk <= 3; chunk++) {
                bool ok = ours((enum dkim_bodyhash_alg)alg, (const unsigned char *)k->body,
                               strlen(k->body), chunk, got, &got_len);
                if (k->canon == NULL) {
                    if (ok)
                        fail_msg("body %zu was hashed, but it has no final CRLF", i);
                    continue;
                }
                if (!ok)
                    fail_msg("body %zu was refused (chunks of %zu)", i, chunk);
                digest_of((enum dkim_bodyhash_alg)alg, k->canon, want, &want_len);
                assert_int_equal(got_len, want_len);
                if (memcmp(got, want, want_len) != 0)
                    fail_msg("body %zu: wrong hash (chunks of %zu, alg %d)", i, chunk, alg);
            }
        }
    }
}

/* The same bodies through libopendkim's signer: the hand-written forms are libopendkim's. */
static void known_bodies_agree_with_libopendkim(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof known_bodies / sizeof known_bodies[0]; i++) {
        const struct known *k = &known_bodies[i];
        unsigned char got[EVP_MAX_MD_SIZE], want[EVP_MAX_MD_SIZE];
        size_t got_len = 0, want_len = 0;
        bool theirs = libopendkim(DKIM_BODYHASH_SHA256, (const unsigned char *)k->body,
                                  strlen(k->body), want, &want_len);
        bool mine = ours(DKIM_BODYHASH_SHA256, (const unsigned char *)k->body, strlen(k->body), 0,
                         got, &got_len);
        if (theirs != mine)
            fail_msg("body %zu: libopendkim %s it, we %s it", i, theirs ? "hashed" : "refused",
                     mine ? "hashed" : "refused");
        if (theirs) {
            assert_int_equal(got_len, want_len);
            if (memcmp(got, want, want_len) != 0)
                fail_msg("body %zu: not libopendkim's hash", i);
        }
    }
}

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint32_t next_random(void)
{
    /* xorshift64*: reproducible, so a failure names a body that can be made again */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545f4914f6cdd1dULL) >> 32);
}

static size_t random_body(unsigned char *out, size_t max, bool crlf_end)
{
    static const char *const pieces[] = {"a", "bc", " ", "\t", "\r", "\n", "\r\n", "\r\n",
                                         "\r\n\r\n", "  ", " \t", "word", "\r\r", "\xc3\xa9",
                                         /* runs longer than the eight bytes read at once */
                                         "quick brown fox", "abcdefghijklmnopq", "x y z w v u"};
    size_t n = 0, count = next_random() % 60;
    for (size_t i = 0; i < count; i++) {
        const char *p = pieces[next_random() % (sizeof pieces / sizeof pieces[0])];
        size_t len = strlen(p);
        if (n + len + 2 > max)
            break;
        memcpy(out + n, p, len);
        n += len;
    }
    if (crlf_end) {
        out[n++] = '\r';
        out[n++] = '\n';
    }
    return n;
}

static void random_bodies(enum dkim_bodyhash_alg alg, int count, bool crlf_end)
{
    int refused = 0;
    for (int i = 0; i < count; i++) {
        uint64_t seed = rng;
        unsigned char body[512];
        size_t len = random_body(body, sizeof body, crlf_end);
        unsigned char got[EVP_MAX_MD_SIZE], want[EVP_MAX_MD_SIZE];
        size_t got_len = 0, want_len = 0;
        bool theirs = libopendkim(alg, body, len, want, &want_len);
        size_t chunk = next_random() % 8; /* 0: whole; else 1..7 bytes a call */
        bool mine = ours(alg, body, len, chunk, got, &got_len);
        if (theirs != mine || (theirs && (got_len != want_len || memcmp(got, want, want_len))))
            fail_msg("random body %d (seed %#llx, %zu bytes, chunks of %zu): libopendkim %s, "
                     "we %s",
                     i, (unsigned long long)seed, len, chunk, theirs ? "hashed" : "refused",
                     mine ? (theirs ? "hashed differently" : "hashed") : "refused");
        refused += !theirs;
    }
    if (crlf_end)
        assert_int_equal(refused, 0);
    else
        assert_true(refused > 0 && refused < count); /* both kinds were tried */
}

static void random_bodies_sha256_match_libopendkim(void **state)
{
    (void)state;
    random_bodies(DKIM_BODYHASH_SHA256, 4000, true);
}

static void random_bodies_sha1_match_libopendkim(void **state)
{
    (void)state;
    random_bodies(DKIM_BODYHASH_SHA1, 1000, true);
}

/* Without a final CRLF some bodies end in text: both refuse exactly those. */
static void random_unterminated_bodies_are_refused_as_libopendkim_refuses_them(void **state)
{
    (void)state;
    random_bodies(DKIM_BODYHASH_SHA256, 2000, false);
}

/* A body larger than the module's buffer, in chunks that straddle it. */
static void a_large_body_matches_libopendkim(void **state)
{
    (void)state;
    size_t len = 0, max = 200 * 1024;
    unsigned char *body = xmalloc(max);
    while (len + 80 < max) {
        int n = snprintf((char *)body + len, max - len, "line %zu  with\t\ttabs and trailing  \r\n",
                         len);
        len += (size_t)n;
    }
    unsigned char got[EVP_MAX_MD_SIZE], want[EVP_MAX_MD_SIZE];
    size_t got_len = 0, want_len = 0;
    assert_true(libopendkim(DKIM_BODYHASH_SHA256, body, len, want, &want_len));
    for (size_t chunk = 0; chunk <= 65536; chunk = chunk == 0 ? 8191 : chunk * 8) {
        assert_true(ours(DKIM_BODYHASH_SHA256, body, len, chunk, got, &got_len));
        assert_int_equal(got_len, want_len);
        assert_memory_equal(got, want, want_len);
    }
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_bodies_hash_to_their_canonical_form),
        cmocka_unit_test(known_bodies_agree_with_libopendkim),
        cmocka_unit_test(random_bodies_sha256_match_libopendkim),
        cmocka_unit_test(random_bodies_sha1_match_libopendkim),
        cmocka_unit_test(random_unterminated_bodies_are_refused_as_libopendkim_refuses_them),
        cmocka_unit_test(a_large_body_matches_libopendkim),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
