/*
 * dkim: DKIM verification (RFC 6376) with libopendkim over our resolver; see dkim.h for the
 * results, their meaning (RFC 8601 2.7.1, RFC 8301) and the alignment rule.
 *
 * The DNS glue: libopendkim asks for a key with query_start (we start the query on the batch the
 * message's keys were prefetched on, where it finds that query, or on a batch of its own,
 * answered from the shared cache when it can be), waits with waitreply (we join the batch and hand
 * over the raw answer packet, which libopendkim parses itself), and always ends with cancel (we
 * free a batch of its own).  The service handle is the verifier, shared by all threads;
 * everything per query lives in the query handle, so lookups of different messages never share
 * state.  OpenDKIM's own glue for libar and libunbound (opendkim/opendkim-dns.c) has the same
 * shape.
 */
#include "dkim.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/x509.h>
#include <opendkim/dkim.h>

#include "dkim_bodyhash.h"
#include "dkim_keycache.h"
#include "log.h"
#include "util.h"

struct dkim_verifier {
    DKIM_LIB *lib;
    struct dns_resolver *resolver; /* borrowed */
    struct dkim_keycache *keys;    /* decoded keys, see d2i_PUBKEY_bio below */
    unsigned min_key_bits;
    size_t max_signatures;
    bool ed25519;
};

struct dkim_query {
    struct dns_batch *batch;
    bool own_batch; /* else the check's key batch, freed with the check */
    int handle;
    unsigned char *buf; /* libopendkim's answer buffer */
    size_t buflen;
};

/* A signature whose key lookup could not tell at the prefetch (see prescreen). */
struct dkim_prefail {
    DKIM_SIGINFO *sig;
    char error[96];
};

struct dkim_check {
    struct dkim_verifier *v;
    struct dns_batch *keys;       /* the keys prefetched at end of header; NULL before */
    struct dkim_prefail *prefail; /* dkim_max_signatures entries at most */
    size_t prefail_count;
    DKIM *dkim; /* NULL when libopendkim refused to start: every result is then temperror */
    char start_error[64];
    bool has_signatures, eoh_done, eom_done;
    size_t header_count, header_bytes;
    bool header_truncated;
    struct dkim_signature *sigs;
    size_t count, ignored;
    /* Our own body hashes (own_body: libopendkim is given no body), by enum dkim_bodyhash_alg;
     * NULL where no signature needs that digest. */
    bool own_body;
    struct dkim_bodyhash *bodyhash[DKIM_BODYHASH_ALGS];
    bool digest_ok[DKIM_BODYHASH_ALGS];
    unsigned char digest[DKIM_BODYHASH_ALGS][EVP_MAX_MD_SIZE];
    size_t digest_len[DKIM_BODYHASH_ALGS];
};

/* ---- the decoded-key cache ---- */

/*
 * libopendkim cannot be handed a decoded key: for every signature it verifies, it base64-decodes
 * the key record's p= into a memory BIO and calls OpenSSL's d2i_PUBKEY_bio() on it
 * (dkim_sig_process, libopendkim 2.11), which costs four times the RSA verification (see
 * dkim_keycache.h).  So this file defines d2i_PUBKEY_bio itself.  The executable's definition
 * comes first in the dynamic linker's search, so libopendkim's call lands here (ELF symbol
 * interposition, the way a malloc replacement works).
 *
 * Only while a thread is inside libopendkim's end of header or end of message on behalf of one
 * of our checks does check_in_use point to that check (and so to its verifier's cache), and only
 * then, for a memory BIO and no object to reuse, is the key answered from the cache.  Every other
 * call, from any code on any thread, goes to OpenSSL's own function unchanged.  The pointer is set
 * and cleared around one library call on one thread; it carries nothing from one callback to the
 * next.  The DNS glue reads it too, to find the check's key batch (glue_start). Should libopendkim
 * stop calling d2i_PUBKEY_bio, verification stays right and only the saving is lost; the test
 * decoded_key_is_reused_for_the_next_message then fails.
 */
static _Thread_local struct dkim_check *check_in_use;

typedef EVP_PKEY *d2i_pubkey_bio_fn(BIO *bp, EVP_PKEY **a);
static d2i_pubkey_bio_fn *openssl_d2i_pubkey_bio;
static pthread_once_t openssl_d2i_once = PTHREAD_ONCE_INIT;

static void find_openssl_d2i(void)
{
    /* POSIX's way to turn dlsym's object pointer into a function pointer. */
    void *sym = dlsym(RTLD_NEXT, "d2i_PUBKEY_bio");
    memcpy(&openssl_d2i_pubkey_bio, &sym, sizeof openssl_d2i_pubkey_bio);
}

/* Reads past the n bytes the key took, as OpenSSL's function leaves the BIO. */
static void bio_skip(BIO *bp, size_t n)
{
    unsigned char scratch[256];
    while (n > 0) {
        int got = BIO_read(bp, scratch, (int)(n < sizeof scratch ? n : sizeof scratch));
        if (got <= 0)
            return;
        n -= (size_t)got;
    }
}

EVP_PKEY *d2i_PUBKEY_bio(BIO *bp, EVP_PKEY **a)
{
    struct dkim_keycache *kc = check_in_use != NULL ? check_in_use->v->keys : NULL;
    if (kc != NULL && a == NULL && bp != NULL && BIO_method_type(bp) == BIO_TYPE_MEM) {
        char *data = NULL;
        long len = BIO_get_mem_data(bp, &data);
        if (len > 0 && data != NULL) {
            size_t used = 0;
            EVP_PKEY *key = dkim_keycache_get(kc, (const unsigned char *)data, (size_t)len, &used);
            if (key != NULL)
                bio_skip(bp, used);
            return key;
        }
    }
    pthread_once(&openssl_d2i_once, find_openssl_d2i);
    return openssl_d2i_pubkey_bio != NULL ? openssl_d2i_pubkey_bio(bp, a) : NULL;
}

/* ---- DNS glue ---- */

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int glue_start(void *service, int type, unsigned char *query, unsigned char *buf,
                      size_t buflen, void **qh)
{
    struct dkim_verifier *v = service;
    if (v == NULL || query == NULL || buf == NULL || qh == NULL || buflen == 0)
        return DKIM_DNS_INVALID;
    struct dkim_query *q = xcalloc(1, sizeof *q);
    /* The check's key batch holds the prefetched query of this name: its answer is the answer
     * (also one that cannot be cached: TTL 0, over 4 KiB, dns_cache_size = 0), not a second
     * query.  check_in_use is set around the libopendkim calls that look keys up (see above). */
    struct dkim_check *c = check_in_use;
    q->own_batch = c == NULL || c->v != v || c->keys == NULL;
    q->batch = q->own_batch ? dns_batch_new(v->resolver) : c->keys;
    /* Never blocks: the query is sent, or answered from the cache; the wait is in waitreply. */
    q->handle = dns_batch_start(q->batch, (const char *)query, type);
    q->buf = buf;
    q->buflen = buflen;
    *qh = q;
    return DKIM_DNS_SUCCESS;
}

/*
 * The answer to a name our resolver refused to ask (not a valid domain name: libopendkim builds
 * it from untrusted s= and d=) is NXDOMAIN without a packet; libopendkim needs one, so this
 * writes the smallest: a header with rcode NXDOMAIN (RFC 1035 4.1.1) and one question for the
 * root name, type TXT, class IN.  The key is then "not found": permerror.
 */
static int nxdomain_packet(struct dkim_query *q, size_t *bytes)
{
    static const unsigned char packet[] = {
        0x00, 0x00, 0x81, 0x83, /* id 0; QR, RD, RA; rcode 3 (NXDOMAIN) */
        0x00, 0x01, 0x00, 0x00, /* one question, no answer */
        0x00, 0x00, 0x00, 0x00, /* no authority, no additional */
        0x00,                   /* the root name */
        0x00, 0x10, 0x00, 0x01, /* TXT, IN */
    };
    if (q->buflen < sizeof packet)
        return DKIM_DNS_ERROR;
    memcpy(q->buf, packet, sizeof packet);
    if (bytes != NULL)
        *bytes = sizeof packet;
    return DKIM_DNS_SUCCESS;
}

/*
 * Waits for the answer.  The wait is bounded by the resolver: a query never takes longer than
 * dns_timeout x dns_tries, and dkim_verifier_new() sets libopendkim's own timeout to at least
 * that, so the timeout given here is respected.  A failed query that still overran it counts
 * as expired, as libopendkim expects; either way the result is temperror.
 */
static int glue_waitreply(void *service, void *qh, struct timeval *timeout, size_t *bytes,
                          int *error, int *dnssec)
{
    struct dkim_query *q = qh;
    (void)service;
    if (dnssec != NULL)
        *dnssec = DKIM_DNSSEC_UNKNOWN;
    if (q == NULL)
        return DKIM_DNS_INVALID;
    int64_t start = monotonic_ms();
    const struct dns_answer *a = dns_batch_wait(q->batch, q->handle);
    int64_t waited = monotonic_ms() - start;
    if (a != NULL && a->status == DNS_NXDOMAIN && a->packet == NULL)
        return nxdomain_packet(q, bytes);
    /* A TEMPFAIL may carry a packet (SERVFAIL): libopendkim reads only NXDOMAIN from the rcode
     * and would take it for "no key", so it must be an error here. */
    if (a == NULL || a->status == DNS_TEMPFAIL || a->packet == NULL || a->packet_len > q->buflen) {
        if (error != NULL)
            *error = -1;
        if (timeout != NULL && waited > (int64_t)timeout->tv_sec * 1000 + timeout->tv_usec / 1000)
            return DKIM_DNS_EXPIRED;
        return DKIM_DNS_ERROR;
    }
    memcpy(q->buf, a->packet, a->packet_len);
    if (bytes != NULL)
        *bytes = a->packet_len;
    return DKIM_DNS_SUCCESS;
}

static int glue_cancel(void *service, void *qh)
{
    struct dkim_query *q = qh;
    (void)service;
    if (q != NULL) {
        if (q->own_batch)
            dns_batch_free(q->batch);
        free(q);
    }
    return DKIM_DNS_SUCCESS;
}

/* libopendkim's own resolver must never start: our service handle is set before any query, and
 * these replace its res_ninit()/res_nclose() defaults. */
static int glue_init(void **service)
{
    (void)service;
    return -1;
}

static void glue_close(void *service)
{
    (void)service;
}

/*
 * Looks up the keys of the evaluated signatures together, on one batch, so that a message's DNS
 * wait is one round (dns_timeout x dns_tries at worst) whatever its number of signatures:
 * libopendkim itself asks one key after the other.  The batch stays with the check, where
 * libopendkim's own lookups find these queries (glue_start).  A signature whose lookup could not
 * tell is taken away from libopendkim (its lookup would only wait again) and reported as
 * temperror.
 */
static void prefetch_keys(struct dkim_check *c, DKIM_SIGINFO **sigs, int nsigs)
{
    if (c->keys == NULL)
        c->keys = dns_batch_new(c->v->resolver);
    struct dns_batch *batch = c->keys;
    int handles[64];
    size_t n = (size_t)nsigs < c->v->max_signatures ? (size_t)nsigs : c->v->max_signatures;
    if (n > sizeof handles / sizeof handles[0])
        n = sizeof handles / sizeof handles[0];
    for (size_t i = 0; i < n; i++) {
        const char *selector = (const char *)dkim_sig_getselector(sigs[i]);
        const char *domain = (const char *)dkim_sig_getdomain(sigs[i]);
        char name[DNS_NAME_MAX + 2];
        handles[i] = -1;
        /* Before processing the error is UNKNOWN; one already set means a malformed field. */
        int err = dkim_sig_geterror(sigs[i]);
        if ((err != DKIM_SIGERROR_UNKNOWN && err != DKIM_SIGERROR_OK) || selector == NULL ||
            domain == NULL)
            continue;
        int len = snprintf(name, sizeof name, "%s._domainkey.%s", selector, domain);
        if (len > 0 && (size_t)len < sizeof name)
            handles[i] = dns_batch_start(batch, name, DNS_TYPE_TXT);
    }
    dns_batch_wait_all(batch);
    for (size_t i = 0; i < n; i++) {
        const struct dns_answer *a = handles[i] >= 0 ? dns_batch_wait(batch, handles[i]) : NULL;
        if (a == NULL || a->status != DNS_TEMPFAIL)
            continue;
        if (c->prefail == NULL)
            c->prefail = xcalloc(c->v->max_signatures, sizeof *c->prefail);
        struct dkim_prefail *p = &c->prefail[c->prefail_count++];
        p->sig = sigs[i];
        str_copy(p->error, sizeof p->error, a->error);
        dkim_sig_ignore(sigs[i]);
    }
}

/* Called by libopendkim at end of header with the signatures in header order, before any key
 * lookup: only the first dkim_max_signatures are processed (each costs a key lookup and an RSA
 * operation), and their keys are fetched together. */
static DKIM_CBSTAT prescreen(DKIM *dkim, DKIM_SIGINFO **sigs, int nsigs)
{
    struct dkim_check *c = dkim_get_user_context(dkim);
    if (c == NULL || sigs == NULL || nsigs <= 0)
        return DKIM_CBSTAT_CONTINUE;
    for (int i = 0; i < nsigs; i++) {
        if ((size_t)i >= c->v->max_signatures) {
            dkim_sig_ignore(sigs[i]);
            c->ignored++;
        }
    }
    prefetch_keys(c, sigs, nsigs);
    return DKIM_CBSTAT_CONTINUE;
}

/* ---- the verifier ---- */

static bool lib_option(DKIM_LIB *lib, int opt, void *value, size_t len)
{
    return dkim_options(lib, DKIM_OP_SETOPT, opt, value, len) == DKIM_STAT_OK;
}

struct dkim_verifier *dkim_verifier_new(struct dns_resolver *r, const struct config *cfg, char *err,
                                        size_t errlen)
{
    DKIM_LIB *lib = dkim_init(NULL, NULL);
    if (lib == NULL) {
        snprintf(err, errlen, "dkim_init failed");
        return NULL;
    }
    struct dkim_verifier *v = xcalloc(1, sizeof *v);
    v->lib = lib;
    v->resolver = r;
    v->keys = dkim_keycache_new();
    v->min_key_bits = (unsigned)cfg->dkim_min_key_bits;
    v->max_signatures = (size_t)cfg->dkim_max_signatures;
    v->ed25519 = dkim_libfeature(lib, DKIM_FEATURE_ED25519);

    /* Keep the signatures libopendkim cannot parse, so each gets a result (neutral) instead of
     * vanishing.  No DKIM_LIBFLAGS_FIXCRLF: the milter protocol hands the body over with CRLF
     * line ends (Postfix and Sendmail both), so the bytes are hashed as the signer saw them
     * (RFC 6376 5.3) -- a "repaired" bare CR would fail a good signature -- and libopendkim's
     * repair copies every body byte on its own (measured: ~90 us of CPU a 20 KiB message at 32
     * connections, tests/bench/RESULTS.md).  opendkim's own FixCRLF is off by default too. */
    unsigned int flags = DKIM_LIBFLAGS_BADSIGHANDLES;
    /* The query timeout in whole seconds, at least the resolver's own bound, plus one. */
    unsigned int timeout = (unsigned int)((cfg->dns_timeout * cfg->dns_tries + 999) / 1000) + 1;
    /* The key size floor is ours (RSA only; an Ed25519 key is 256 bits by nature), so
     * libopendkim's own is lowered out of the way. */
    unsigned int minkeybits = 1;
    dkim_query_t method = DKIM_QUERY_DNS;
    bool ok = lib_option(lib, DKIM_OPTS_FLAGS, &flags, sizeof flags) &&
              lib_option(lib, DKIM_OPTS_TIMEOUT, &timeout, sizeof timeout) &&
              lib_option(lib, DKIM_OPTS_MINKEYBITS, &minkeybits, sizeof minkeybits) &&
              lib_option(lib, DKIM_OPTS_QUERYMETHOD, &method, sizeof method) &&
              dkim_set_prescreen(lib, prescreen) == DKIM_STAT_OK;
    if (!ok) {
        snprintf(err, errlen, "libopendkim refused an option");
        dkim_close(lib);
        dkim_keycache_free(v->keys);
        free(v);
        return NULL;
    }
    dkim_dns_set_init(lib, glue_init);
    dkim_dns_set_close(lib, glue_close);
    dkim_dns_set_query_service(lib, v);
    dkim_dns_set_query_start(lib, glue_start);
    dkim_dns_set_query_waitreply(lib, glue_waitreply);
    dkim_dns_set_query_cancel(lib, glue_cancel);
    return v;
}

void dkim_verifier_free(struct dkim_verifier *v)
{
    if (v == NULL)
        return;
    struct dkim_keycache_stats st;
    dkim_keycache_stats(v->keys, &st);
    /* Not at every reload or failed start of a verifier that never looked up a key. */
    if (st.hits + st.misses + st.invalid > 0)
        log_msg(LOG_INFO,
                "dkim key cache: %" PRIu64 " hits, %" PRIu64 " decoded (%" PRIu64
                " not a key), %zu keys held",
                st.hits, st.misses, st.invalid, st.entries);
    dkim_close(v->lib);
    dkim_keycache_free(v->keys);
    free(v);
}

void dkim_verifier_key_stats(const struct dkim_verifier *v, struct dkim_keycache_stats *out)
{
    dkim_keycache_stats(v->keys, out);
}

bool dkim_verifier_has_ed25519(const struct dkim_verifier *v)
{
    return v != NULL && v->ed25519;
}

/* ---- one message ---- */

struct dkim_check *dkim_check_new(struct dkim_verifier *v, const char *queue_id)
{
    struct dkim_check *c = xcalloc(1, sizeof *c);
    c->v = v;
    /* libopendkim prints the id in its errors: keep it printable and short. */
    char id[64];
    str_escape(id, sizeof id, queue_id != NULL && queue_id[0] != '\0' ? queue_id : "NOQUEUE");
    DKIM_STAT status = DKIM_STAT_OK;
    c->dkim = dkim_verify(v->lib, (const unsigned char *)id, NULL, &status);
    if (c->dkim == NULL) {
        snprintf(c->start_error, sizeof c->start_error, "libopendkim: %s",
                 dkim_getresultstr(status));
        return c;
    }
    dkim_set_user_context(c->dkim, c);
    return c;
}

void dkim_check_free(struct dkim_check *c)
{
    if (c == NULL)
        return;
    if (c->dkim != NULL)
        dkim_free(c->dkim);
    for (size_t i = 0; i < DKIM_BODYHASH_ALGS; i++)
        dkim_bodyhash_free(c->bodyhash[i]);
    free(c->sigs);
    free(c->prefail);
    dns_batch_free(c->keys);
    free(c);
}

static bool is_signature_field(const char *field, size_t len)
{
    static const char name[] = "DKIM-Signature";
    size_t n = sizeof name - 1;
    if (len < n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char a = field[i], b = name[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (char)(b - 'A' + 'a');
        if (a != b)
            return false;
    }
    /* RFC 5322 allows white space before the colon (obs-optional). */
    size_t i = n;
    while (i < len && (field[i] == ' ' || field[i] == '\t'))
        i++;
    return i < len && field[i] == ':';
}

/* Feeds a field rebuilt in buf (len bytes, CRLF folds). */
static void feed_field(struct dkim_check *c, unsigned char *buf, size_t len)
{
    if (c->eoh_done || len > DKIM_HEADER_FIELD_MAX || c->header_count >= DKIM_HEADER_COUNT_MAX ||
        c->header_bytes + len > DKIM_HEADER_TOTAL_MAX) {
        c->header_truncated = true;
        return;
    }
    c->header_count++;
    c->header_bytes += len;
    if (is_signature_field((const char *)buf, len))
        c->has_signatures = true;
    if (c->dkim != NULL)
        (void)dkim_header(c->dkim, buf, len);
}

/* Appends src to dst (at *n), turning each bare LF into CRLF: folds from libmilter are "\n". */
static size_t copy_crlf(unsigned char *dst, size_t n, const char *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\n' && (i == 0 || src[i - 1] != '\r'))
            dst[n++] = '\r';
        dst[n++] = (unsigned char)src[i];
    }
    return n;
}

void dkim_check_header_field(struct dkim_check *c, const char *field, size_t len)
{
    if (c == NULL || field == NULL || len > DKIM_HEADER_FIELD_MAX) {
        if (c != NULL)
            c->header_truncated = true;
        return;
    }
    /* At most every byte doubles (LF -> CRLF). */
    unsigned char *buf = xmalloc(2 * len + 1);
    size_t n = copy_crlf(buf, 0, field, len);
    feed_field(c, buf, n);
    free(buf);
}

void dkim_check_header(struct dkim_check *c, const char *name, const char *value)
{
    if (c == NULL || name == NULL)
        return;
    if (value == NULL)
        value = "";
    size_t nlen = strnlen(name, DKIM_HEADER_FIELD_MAX + 1);
    size_t vlen = strnlen(value, DKIM_HEADER_FIELD_MAX + 1);
    if (nlen + vlen > DKIM_HEADER_FIELD_MAX) {
        c->header_truncated = true;
        return;
    }
    unsigned char *buf = xmalloc(nlen + 2 + 2 * vlen + 1);
    memcpy(buf, name, nlen);
    buf[nlen] = ':';
    buf[nlen + 1] = ' ';
    size_t n = copy_crlf(buf, nlen + 2, value, vlen);
    feed_field(c, buf, n);
    free(buf);
}

bool dkim_check_has_signatures(const struct dkim_check *c)
{
    return c != NULL && c->has_signatures;
}

/*
 * The body hash of a relaxed signature without l= is ours (dkim_bodyhash.h: libopendkim's own
 * rules at about a seventh of its cost); libopendkim still checks everything else.  Any other
 * kind of signature in the message (simple body, l=, an unknown algorithm) leaves the whole body
 * to libopendkim, as before.
 */
static void choose_body_hashing(struct dkim_check *c)
{
    DKIM_SIGINFO **sigs = NULL;
    int nsigs = 0;
    if (dkim_getsiglist(c->dkim, &sigs, &nsigs) != DKIM_STAT_OK || sigs == NULL || nsigs <= 0)
        return;
    bool need[DKIM_BODYHASH_ALGS] = {false};
    for (int i = 0; i < nsigs; i++) {
        dkim_canon_t hc = DKIM_CANON_UNKNOWN, bc = DKIM_CANON_UNKNOWN;
        dkim_alg_t alg = DKIM_SIGN_UNKNOWN;
        if (dkim_sig_getcanons(sigs[i], &hc, &bc) != DKIM_STAT_OK || bc != DKIM_CANON_RELAXED ||
            dkim_sig_gettagvalue(sigs[i], 0, (u_char *)"l") != NULL ||
            dkim_sig_getsignalg(sigs[i], &alg) != DKIM_STAT_OK)
            return;
        if (alg == DKIM_SIGN_RSASHA1)
            need[DKIM_BODYHASH_SHA1] = true;
        else if (alg == DKIM_SIGN_RSASHA256 || alg == DKIM_SIGN_ED25519SHA256)
            need[DKIM_BODYHASH_SHA256] = true;
        else
            return;
    }
    c->own_body = true;
    for (int a = 0; a < DKIM_BODYHASH_ALGS; a++)
        if (need[a])
            c->bodyhash[a] = dkim_bodyhash_new((enum dkim_bodyhash_alg)a);
}

void dkim_check_eoh(struct dkim_check *c)
{
    if (c == NULL || c->eoh_done)
        return;
    c->eoh_done = true;
    if (c->dkim == NULL)
        return;
    check_in_use = c; /* libopendkim looks up and decodes the keys here (dkim_sig_process) */
    (void)dkim_eoh(c->dkim);
    check_in_use = NULL;
    choose_body_hashing(c);
}

bool dkim_check_body_hashed_here(const struct dkim_check *c)
{
    return c != NULL && c->own_body;
}

void dkim_check_body(struct dkim_check *c, const unsigned char *data, size_t len)
{
    if (c == NULL || data == NULL || len == 0 || c->dkim == NULL || c->eom_done)
        return;
    if (!c->eoh_done)
        dkim_check_eoh(c);
    if (c->own_body) {
        for (size_t a = 0; a < DKIM_BODYHASH_ALGS; a++)
            if (c->bodyhash[a] != NULL)
                dkim_bodyhash_update(c->bodyhash[a], data, len);
        return;
    }
    /* dkim_body does not change its input; the cast is its old prototype's. */
    (void)dkim_body(c->dkim, (unsigned char *)(uintptr_t)data, len);
}

/* ---- results ---- */

const char *dkim_result_name(enum dkim_result r)
{
    switch (r) {
    case DKIM_PASS:
        return "pass";
    case DKIM_FAIL:
        return "fail";
    case DKIM_POLICY:
        return "policy";
    case DKIM_NEUTRAL:
        return "neutral";
    case DKIM_TEMPERROR:
        return "temperror";
    case DKIM_PERMERROR:
        return "permerror";
    case DKIM_NONE:
    default:
        return "none";
    }
}

/* Copies a tag value without folding white space, escaped, bounded by out. */
static void tag_copy(char *out, size_t outlen, const unsigned char *value, size_t max_chars,
                     bool lower)
{
    char raw[DNS_NAME_MAX + 2];
    size_t n = 0;
    if (value != NULL) {
        for (const unsigned char *p = value; *p != '\0' && n < max_chars && n + 1 < sizeof raw;
             p++) {
            if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
                continue;
            raw[n++] = (char)(lower && *p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        }
    }
    raw[n] = '\0';
    str_escape(out, outlen, raw);
}

static bool is_key_error(int err)
{
    switch (err) {
    case DKIM_SIGERROR_NOKEY:
    case DKIM_SIGERROR_DNSSYNTAX:
    case DKIM_SIGERROR_MULTIREPLY:
    case DKIM_SIGERROR_KEYVERSION:
    case DKIM_SIGERROR_KEYUNKNOWNHASH:
    case DKIM_SIGERROR_KEYHASHMISMATCH:
    case DKIM_SIGERROR_NOTEMAILKEY:
    case DKIM_SIGERROR_KEYTYPEMISSING:
    case DKIM_SIGERROR_KEYTYPEUNKNOWN:
    case DKIM_SIGERROR_KEYREVOKED:
    case DKIM_SIGERROR_KEYDECODE:
    case DKIM_SIGERROR_SUBDOMAIN:
        return true;
    default:
        return false;
    }
}

static void set_result(struct dkim_signature *s, enum dkim_result r, const char *why,
                       const char *detail)
{
    s->result = r;
    if (detail != NULL && detail[0] != '\0')
        snprintf(s->reason, sizeof s->reason, "%s: %s", why, detail);
    else
        snprintf(s->reason, sizeof s->reason, "%s", why);
}

/* Whether sig's bh= (base64, RFC 6376 3.5) is our digest a of the body. */
static bool body_hash_matches(const struct dkim_check *c, int a, DKIM_SIGINFO *sig)
{
    const unsigned char *tag = dkim_sig_gettagvalue(sig, 0, (u_char *)"bh");
    unsigned char raw[EVP_MAX_MD_SIZE];
    long len = tag != NULL ? dkim_base64_decode((const char *)tag, raw, sizeof raw) : -1;
    return len >= 0 && (size_t)len == c->digest_len[a] &&
           memcmp(raw, c->digest[a], (size_t)len) == 0;
}

/* RFC 6376 6.1 outcomes, mapped to RFC 8601 2.7.1 results; RFC 8301 on top. */
static void evaluate(const struct dkim_check *c, DKIM_SIGINFO *sig, struct dkim_signature *s)
{
    const struct dkim_verifier *v = c->v;
    unsigned int flags = dkim_sig_getflags(sig);
    int bh = dkim_sig_getbh(sig);
    int err = dkim_sig_geterror(sig);
    dkim_alg_t alg = DKIM_SIGN_UNKNOWN;
    (void)dkim_sig_getsignalg(sig, &alg);

    unsigned int bits = 0;
    if (dkim_sig_getkeysize(sig, &bits) == DKIM_STAT_OK)
        s->key_bits = bits;
    if (s->key_bits == 0 && alg == DKIM_SIGN_ED25519SHA256 && (flags & DKIM_SIGFLAG_PASSED) != 0)
        s->key_bits = 256; /* libopendkim reports no size for Ed25519 keys (RFC 8463: 32 bytes) */
    bool passed = (flags & DKIM_SIGFLAG_PASSED) != 0;
    bool unterminated = false;
    if (c->own_body && passed) {
        /* libopendkim saw no body: its body hash is of nothing, and a mismatch there is all its
         * BADSIG can mean once the header hash verified (PASSED).  Ours decides. */
        int a = alg == DKIM_SIGN_RSASHA1 ? DKIM_BODYHASH_SHA1 : DKIM_BODYHASH_SHA256;
        if (!c->digest_ok[a])
            unterminated = true;
        else
            bh = body_hash_matches(c, a, sig) ? DKIM_SIGBH_MATCH : DKIM_SIGBH_MISMATCH;
        if (err == DKIM_SIGERROR_BADSIG)
            err = bh == DKIM_SIGBH_MATCH || unterminated ? DKIM_SIGERROR_OK : DKIM_SIGERROR_BADSIG;
    }
    const char *errstr = err != DKIM_SIGERROR_OK ? dkim_sig_geterrorstr(err) : NULL;

    if (err == DKIM_SIGERROR_KEYFAIL) {
        set_result(s, DKIM_TEMPERROR, "key lookup failed (DNS timeout or server failure)", NULL);
    } else if (is_key_error(err)) {
        set_result(s, DKIM_PERMERROR, "unusable key", errstr);
    } else if (err == DKIM_SIGERROR_KEYTOOSMALL) {
        set_result(s, DKIM_FAIL, "key too small", NULL);
    } else if (unterminated) {
        /* libopendkim: "CRLF at end of body missing" (the milter protocol always has one) */
        set_result(s, DKIM_NEUTRAL, "malformed signature", "the body does not end with CRLF");
    } else if (passed && bh == DKIM_SIGBH_MISMATCH) {
        /* The header hash (which covers bh=) verified: the body changed after signing. */
        set_result(s, DKIM_FAIL, "body hash did not verify (body changed)", NULL);
    } else if (err == DKIM_SIGERROR_BADSIG ||
               (err == DKIM_SIGERROR_OK && (flags & DKIM_SIGFLAG_PROCESSED) != 0 && !passed)) {
        set_result(s, DKIM_FAIL, "signature did not verify (header changed?)", NULL);
    } else if (err != DKIM_SIGERROR_OK) {
        set_result(s, DKIM_NEUTRAL, "malformed signature", errstr != NULL ? errstr : "unknown");
    } else if (!passed || bh != DKIM_SIGBH_MATCH) {
        set_result(s, DKIM_NEUTRAL, "signature not processed", NULL);
    } else if (alg == DKIM_SIGN_RSASHA1) {
        /* RFC 8301 3.1: verifiers MUST NOT consider rsa-sha1 signatures valid. */
        set_result(s, DKIM_POLICY, "rsa-sha1 is not acceptable (RFC 8301)", NULL);
    } else if (alg != DKIM_SIGN_ED25519SHA256 && s->key_bits < v->min_key_bits) {
        /* RFC 8301 3.2: RSA keys of at least 1024 bits. */
        char why[64];
        snprintf(why, sizeof why, "RSA key of %u bits, under %u", s->key_bits, v->min_key_bits);
        set_result(s, DKIM_FAIL, why, NULL);
    } else {
        s->result = DKIM_PASS;
        s->reason[0] = '\0';
    }
}

static const struct dkim_prefail *find_prefail(const struct dkim_check *c, const DKIM_SIGINFO *sig)
{
    for (size_t i = 0; i < c->prefail_count; i++)
        if (c->prefail[i].sig == sig)
            return &c->prefail[i];
    return NULL;
}

void dkim_check_eom(struct dkim_check *c)
{
    if (c == NULL || c->eom_done)
        return;
    dkim_check_eoh(c);
    c->eom_done = true;
    if (c->dkim == NULL) {
        /* libopendkim could not start (out of its resources): signatures there are, but
         * nothing could tell about them. */
        if (c->has_signatures) {
            c->sigs = xcalloc(1, sizeof *c->sigs);
            c->count = 1;
            set_result(&c->sigs[0], DKIM_TEMPERROR, "verification not started", c->start_error);
        }
        return;
    }
    /* at eoh unless DKIM_LIBFLAGS_DELAYSIGPROC (not set) moves it here: covered both ways */
    check_in_use = c;
    (void)dkim_eom(c->dkim, NULL);
    check_in_use = NULL;
    for (size_t a = 0; a < DKIM_BODYHASH_ALGS; a++)
        if (c->bodyhash[a] != NULL)
            c->digest_ok[a] = dkim_bodyhash_final(c->bodyhash[a], c->digest[a], &c->digest_len[a]);

    DKIM_SIGINFO **sigs = NULL;
    int nsigs = 0;
    if (dkim_getsiglist(c->dkim, &sigs, &nsigs) != DKIM_STAT_OK || sigs == NULL || nsigs <= 0)
        return;
    c->sigs = xcalloc((size_t)nsigs, sizeof *c->sigs);
    for (int i = 0; i < nsigs; i++) {
        const struct dkim_prefail *prefail = find_prefail(c, sigs[i]);
        if ((dkim_sig_getflags(sigs[i]) & DKIM_SIGFLAG_IGNORE) != 0 && prefail == NULL)
            continue;
        struct dkim_signature *s = &c->sigs[c->count++];
        tag_copy(s->domain, sizeof s->domain, dkim_sig_gettagvalue(sigs[i], 0, (u_char *)"d"),
                 DNS_NAME_MAX, true);
        tag_copy(s->selector, sizeof s->selector, dkim_sig_gettagvalue(sigs[i], 0, (u_char *)"s"),
                 DNS_NAME_MAX, false);
        tag_copy(s->b8, sizeof s->b8, dkim_sig_gettagvalue(sigs[i], 0, (u_char *)"b"), 8, false);
        tag_copy(s->algorithm, sizeof s->algorithm, dkim_sig_gettagvalue(sigs[i], 0, (u_char *)"a"),
                 24, true);
        if (prefail != NULL)
            set_result(s, DKIM_TEMPERROR, "key lookup failed", prefail->error);
        else
            evaluate(c, sigs[i], s);
    }
}

size_t dkim_check_count(const struct dkim_check *c)
{
    return c != NULL ? c->count : 0;
}

const struct dkim_signature *dkim_check_signature(const struct dkim_check *c, size_t i)
{
    if (c == NULL || i >= c->count)
        return NULL;
    return &c->sigs[i];
}

size_t dkim_check_ignored(const struct dkim_check *c)
{
    return c != NULL ? c->ignored : 0;
}

static int result_rank(enum dkim_result r)
{
    switch (r) {
    case DKIM_PASS:
        return 6;
    case DKIM_POLICY:
        return 5;
    case DKIM_FAIL:
        return 4;
    case DKIM_NEUTRAL:
        return 3;
    case DKIM_PERMERROR:
        return 2;
    case DKIM_TEMPERROR:
        return 1;
    case DKIM_NONE:
    default:
        return 0;
    }
}

enum dkim_result dkim_check_result(const struct dkim_check *c)
{
    enum dkim_result best = DKIM_NONE;
    for (size_t i = 0; c != NULL && i < c->count; i++)
        if (result_rank(c->sigs[i].result) > result_rank(best))
            best = c->sigs[i].result;
    return best;
}

/* ---- alignment ---- */

bool dkim_check_has_valid(const struct dkim_check *c, const struct orgdomain *od,
                          const char *domain)
{
    if (c == NULL || domain == NULL || domain[0] == '\0')
        return false;
    for (size_t i = 0; i < c->count; i++)
        if (c->sigs[i].result == DKIM_PASS &&
            orgdomain_aligned(od, c->sigs[i].domain, domain, ORGDOMAIN_RELAXED))
            return true;
    return false;
}

/* ---- Authentication-Results ---- */

/* RFC 2045 token characters: anything printable but tspecials and space. */
static bool is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (*s <= ' ' || *s >= 127 || strchr("()<>@,;:\\\"/[]?=", *s) != NULL)
            return false;
    return true;
}

/* True when every byte of s is in set (and s is not empty). */
static bool only_chars(const char *s, const char *set)
{
    return s[0] != '\0' && strspn(s, set) == strlen(s);
}

/*
 * Appends " ptype.property=value", quoted when value is not a token.  A value that is not what
 * its property holds (a d= or s= that is no domain name, a b= that is not base64) is left out
 * rather than written escaped: an Authentication-Results reader would take the escapes for data.
 */
static void append_prop(char *buf, size_t buflen, const char *prop, const char *value, bool is_name)
{
    static const char base64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    size_t n = strlen(buf);
    if (n >= buflen || !(is_name ? dns_name_valid(value) : only_chars(value, base64)))
        return;
    if (is_token(value))
        snprintf(buf + n, buflen - n, " %s=%s", prop, value);
    else
        snprintf(buf + n, buflen - n, " %s=\"%s\"", prop, value);
}

/* RFC 8601 2.7.1, RFC 6008 2 (header.b). */
bool dkim_check_authres(const struct dkim_check *c, char *out, size_t outlen)
{
    if (outlen == 0)
        return false;
    out[0] = '\0';
    if (c == NULL || c->count == 0)
        return str_copy(out, outlen, "dkim=none");
    size_t used = 0;
    for (size_t i = 0; i < c->count; i++) {
        const struct dkim_signature *s = &c->sigs[i];
        char one[1024];
        snprintf(one, sizeof one, "dkim=%s", dkim_result_name(s->result));
        if (s->reason[0] != '\0') {
            size_t n = strlen(one);
            snprintf(one + n, sizeof one - n, " reason=\"%s\"", s->reason);
        }
        append_prop(one, sizeof one, "header.d", s->domain, true);
        append_prop(one, sizeof one, "header.s", s->selector, true);
        append_prop(one, sizeof one, "header.b", s->b8, false);
        size_t len = strlen(one), sep = i > 0 ? 2 : 0;
        if (used + sep + len + 1 > outlen)
            return false;
        if (sep > 0)
            memcpy(out + used, "; ", 2);
        memcpy(out + used + sep, one, len + 1);
        used += sep + len;
    }
    return true;
}

void dkim_check_detail(const struct dkim_check *c, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    out[0] = '\0';
    if (c == NULL || c->count == 0) {
        snprintf(out, outlen, "dkim=none%s", c != NULL && c->dkim == NULL ? " (not started)" : "");
        return;
    }
    size_t used = 0;
    for (size_t i = 0; i < c->count && used < outlen; i++) {
        const struct dkim_signature *s = &c->sigs[i];
        int n = snprintf(out + used, outlen - used, "%sdkim=%s d=%s s=%s a=%s bits=%u%s%s%s",
                         i > 0 ? ", " : "", dkim_result_name(s->result), s->domain, s->selector,
                         s->algorithm, s->key_bits, s->reason[0] != '\0' ? " (" : "", s->reason,
                         s->reason[0] != '\0' ? ")" : "");
        if (n < 0)
            return;
        used += (size_t)n;
    }
    if (c->ignored > 0 && used < outlen)
        snprintf(out + used, outlen - used, ", %zu more not evaluated", c->ignored);
}
