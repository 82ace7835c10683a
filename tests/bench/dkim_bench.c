/*
 * dkim_bench: what verifying one DKIM-signed message costs, and what it could cost (figures, not
 * a test).
 *
 *   dkim_bench -m MESSAGE -k KEY_BASE64 [-n COUNT] [-t THREADS]
 *
 * MESSAGE is a signed message with CRLF line ends (tests/bench/message.py writes the benchmark's),
 * KEY_BASE64 the p= value of its key record.  Prints, per message:
 *   - libopendkim's whole verification as lib/dkim.c drives it (header fields, end of header, body,
 *     end of message; the key record handed over by a lookup callback, so no DNS is timed), on one
 *     thread and on THREADS threads (CPU time a verification, as the milter's connections run);
 *   - the pieces a verifier cannot avoid, with OpenSSL directly: decoding the key (what
 *     libopendkim does for every message), SHA-256 over the whole message, and the RSA
 *     verification with a key decoded once.
 * The difference between the first and the sum of the last two is what a verifier with a cache
 * of decoded keys could save.  Then the body alone: libopendkim's relaxed body canonicalization
 * and hash (its dkim_body, inside a verification), and lib/dkim_bodyhash.c's of the same body,
 * which the milter uses instead.
 */
#include <opendkim/dkim.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dkim_bodyhash.h"

#define MESSAGE_MAX (1024 * 1024)
#define KEY_MAX 4096

static char message[MESSAGE_MAX];
static size_t message_len;
static char key_b64[KEY_MAX];
static DKIM_LIB *lib;
static long count = 2000;

static double now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static DKIM_CBSTAT key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, unsigned char *buf, size_t buflen)
{
    (void)dkim;
    (void)sig;
    int n = snprintf((char *)buf, buflen, "v=DKIM1; k=rsa; p=%s", key_b64);
    return n > 0 && (size_t)n < buflen ? DKIM_CBSTAT_CONTINUE : DKIM_CBSTAT_ERROR;
}

/* The message's header fields, up to end (its blank line), one field a call. */
static void feed_header(DKIM *d, const char *end)
{
    const char *p = message;
    while (p < end + 2) {
        const char *q = strstr(p, "\r\n");
        while (q != NULL && q < end && (q[2] == ' ' || q[2] == '\t'))
            q = strstr(q + 2, "\r\n");
        if (q == NULL || q > end)
            q = end;
        dkim_header(d, (unsigned char *)(uintptr_t)p, (size_t)(q - p));
        p = q + 2;
    }
}

/* One verification of the message; false unless it passes. */
static bool verify_once(void)
{
    DKIM_STAT st;
    DKIM *d = dkim_verify(lib, (unsigned char *)"bench", NULL, &st);
    if (d == NULL)
        return false;
    const char *end = strstr(message, "\r\n\r\n");
    if (end != NULL)
        feed_header(d, end);
    bool ok = end != NULL && dkim_eoh(d) == DKIM_STAT_OK;
    if (ok) {
        const char *body = end + 4;
        dkim_body(d, (unsigned char *)(uintptr_t)body, message_len - (size_t)(body - message));
        _Bool testkey;
        ok = dkim_eom(d, &testkey) == DKIM_STAT_OK;
    }
    dkim_free(d);
    return ok;
}

static long failures;
static pthread_mutex_t failures_lock = PTHREAD_MUTEX_INITIALIZER;

static void *verify_loop(void *arg)
{
    long n = *(const long *)arg, bad = 0;
    for (long i = 0; i < n; i++)
        bad += !verify_once();
    pthread_mutex_lock(&failures_lock);
    failures += bad;
    pthread_mutex_unlock(&failures_lock);
    return NULL;
}

static void libopendkim_figure(int threads)
{
    pthread_t th[64];
    long per = count / threads;
    double wall = now(CLOCK_MONOTONIC), cpu = now(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < threads; i++)
        if (pthread_create(&th[i], NULL, verify_loop, &per) != 0)
            exit(1);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    wall = now(CLOCK_MONOTONIC) - wall;
    cpu = now(CLOCK_PROCESS_CPUTIME_ID) - cpu;
    long done = per * threads;
    printf("libopendkim verification, %2d thread(s): %7.1f us CPU a message, %6.0f messages/s"
           "%s\n",
           threads, cpu / (double)done * 1e6, (double)done / wall,
           failures ? " (SOME DID NOT PASS)" : "");
}

static EVP_PKEY *decode_key(const unsigned char *der, long len)
{
    const unsigned char *p = der;
    return d2i_PUBKEY(NULL, &p, len);
}

static void openssl_figures(void)
{
    unsigned char der[KEY_MAX];
    long n = dkim_base64_decode(key_b64, der, sizeof der);
    EVP_PKEY *key = n > 0 ? decode_key(der, n) : NULL;
    if (key == NULL) {
        printf("openssl: the key does not decode\n");
        return;
    }
    double t = now(CLOCK_PROCESS_CPUTIME_ID);
    for (long i = 0; i < count; i++)
        EVP_PKEY_free(decode_key(der, n));
    printf("OpenSSL: decoding the key (d2i_PUBKEY):      %7.1f us\n",
           (now(CLOCK_PROCESS_CPUTIME_ID) - t) / (double)count * 1e6);

    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len;
    t = now(CLOCK_PROCESS_CPUTIME_ID);
    for (long i = 0; i < count; i++)
        EVP_Digest(message, message_len, digest, &digest_len, EVP_sha256(), NULL);
    printf("OpenSSL: SHA-256 of the %zu-byte message:   %7.1f us\n", message_len,
           (now(CLOCK_PROCESS_CPUTIME_ID) - t) / (double)count * 1e6);

    /* The public-key operation costs the same whether the signature matches or not. */
    unsigned char sig[512];
    memset(sig, 0x5a, sizeof sig);
    size_t sig_len = (size_t)EVP_PKEY_get_size(key);
    t = now(CLOCK_PROCESS_CPUTIME_ID);
    for (long i = 0; i < count; i++) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
        if (ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
            EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1)
            (void)EVP_PKEY_verify(ctx, sig, sig_len, digest, 32);
        EVP_PKEY_CTX_free(ctx);
    }
    printf("OpenSSL: RSA-%d verification, key decoded once: %5.1f us\n", EVP_PKEY_get_bits(key),
           (now(CLOCK_PROCESS_CPUTIME_ID) - t) / (double)count * 1e6);
    EVP_PKEY_free(key);
}

/* The body's hash alone: in libopendkim (dkim_body of a verification) and in dkim_bodyhash. */
static void body_figures(void)
{
    const char *end = strstr(message, "\r\n\r\n");
    if (end == NULL)
        return;
    const unsigned char *body = (const unsigned char *)end + 4;
    size_t body_len = message_len - (size_t)(end + 4 - message);
    double in_body = 0;
    for (long i = 0; i < count; i++) {
        DKIM_STAT st;
        DKIM *d = dkim_verify(lib, (unsigned char *)"bench", NULL, &st);
        if (d == NULL)
            return;
        feed_header(d, end);
        dkim_eoh(d);
        double t = now(CLOCK_PROCESS_CPUTIME_ID);
        dkim_body(d, (unsigned char *)(uintptr_t)body, body_len);
        in_body += now(CLOCK_PROCESS_CPUTIME_ID) - t;
        dkim_eom(d, NULL);
        dkim_free(d);
    }
    printf(
        "libopendkim: the %zu-byte body's relaxed canonicalization + hash (dkim_body): %7.1f us\n",
        body_len, in_body / (double)count * 1e6);
    unsigned char digest[EVP_MAX_MD_SIZE];
    size_t digest_len;
    double t = now(CLOCK_PROCESS_CPUTIME_ID);
    for (long i = 0; i < count; i++) {
        struct dkim_bodyhash *h = dkim_bodyhash_new(DKIM_BODYHASH_SHA256);
        dkim_bodyhash_update(h, body, body_len);
        (void)dkim_bodyhash_final(h, digest, &digest_len);
        dkim_bodyhash_free(h);
    }
    printf("milter-ingress: the same body hash (lib/dkim_bodyhash.c):                  %7.1f us\n",
           (now(CLOCK_PROCESS_CPUTIME_ID) - t) / (double)count * 1e6);
}

int main(int argc, char **argv)
{
    const char *path = NULL, *key = NULL;
    int threads = 32, ch;
    while ((ch = getopt(argc, argv, "m:k:n:t:")) != -1) {
        switch (ch) {
        case 'm':
            path = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'n':
            count = atol(optarg);
            break;
        case 't':
            threads = atoi(optarg);
            break;
        default:
            path = NULL;
            break;
        }
    }
    if (path == NULL || key == NULL || strlen(key) >= sizeof key_b64 || count < 64 || threads < 1 ||
        threads > 64) {
        fprintf(stderr, "usage: dkim_bench -m MESSAGE -k KEY_BASE64 [-n COUNT>=64] "
                        "[-t THREADS<=64]\n");
        return 2;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 2;
    }
    message_len = fread(message, 1, sizeof message - 1, f);
    fclose(f);
    memcpy(key_b64, key, strlen(key) + 1);

    lib = dkim_init(NULL, NULL);
    if (lib == NULL || dkim_set_key_lookup(lib, key_lookup) != DKIM_STAT_OK) {
        fprintf(stderr, "dkim_bench: libopendkim did not start\n");
        return 1;
    }
    if (!verify_once()) {
        fprintf(stderr, "dkim_bench: the message does not verify with this key\n");
        return 1;
    }
    libopendkim_figure(1);
    libopendkim_figure(threads);
    openssl_figures();
    body_figures();
    dkim_close(lib);
    return failures ? 1 : 0;
}
