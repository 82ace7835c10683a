/*
 * test_dkim: DKIM verification with libopendkim on our resolver, against the real NSD that
 * tests/dns/with-dns.sh starts (INGRESS_TEST_DNS) serving tests/dns/dkim.test.zone, with
 * messages signed at test time by tests/dkim/sign.py (INGRESS_DKIM_FIXTURES).  Run it through
 * tests/dkim/run-test.sh, which sets both.
 *
 * Messages are fed the way libmilter hands them: each header field as name and value apart
 * (the value without the space after the colon, folds as "\n"), then the body in chunks.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "config.h"
#include "dkim.h"
#include "dns.h"
#include "orgdomain.h"

struct fixture {
    struct config *cfg;
    struct dns_resolver *resolver;
    struct dkim_verifier *verifier;
    struct dkim_check *check;
    struct orgdomain *od; /* the Public Suffix List of the default public_suffix_list */
};

static struct dns_resolver *resolver_for(const char *server, int timeout_ms)
{
    char err[256];
    const char *servers[] = {server};
    struct dns_options opts = {
        .servers = servers,
        .server_count = 1,
        .timeout_ms = timeout_ms,
        .tries = 1,
        .cache_size = 100,
        .cache_max_ttl = 60,
    };
    struct dns_resolver *r = NULL;
    if (dns_resolver_new(&opts, &r, err, sizeof err) != 0)
        fail_msg("dns_resolver_new: %s", err);
    return r;
}

static struct dkim_verifier *verifier_for(struct dns_resolver *r, const struct config *cfg)
{
    char err[256];
    struct dkim_verifier *v = dkim_verifier_new(r, cfg, err, sizeof err);
    if (v == NULL)
        fail_msg("dkim_verifier_new: %s", err);
    return v;
}

static int setup(void **state)
{
    const char *server = getenv("INGRESS_TEST_DNS");
    if (server == NULL || getenv("INGRESS_DKIM_FIXTURES") == NULL)
        fail_msg("INGRESS_TEST_DNS or INGRESS_DKIM_FIXTURES is not set: run under "
                 "tests/dkim/run-test.sh");
    struct fixture *f = calloc(1, sizeof *f);
    f->cfg = config_new_defaults();
    f->resolver = resolver_for(server, 1000);
    f->verifier = verifier_for(f->resolver, f->cfg);
    char err[512];
    f->od = orgdomain_load(f->cfg->public_suffix_list, err, sizeof err);
    if (f->od == NULL)
        fail_msg("%s", err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    dkim_check_free(f->check);
    dkim_verifier_free(f->verifier);
    dns_resolver_free(f->resolver);
    orgdomain_free(f->od);
    config_free(f->cfg);
    free(f);
    return 0;
}

/* ---- reading and feeding fixture messages ---- */

static char *load(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.eml", getenv("INGRESS_DKIM_FIXTURES"), name);
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        fail_msg("cannot open %s", path);
    char *data = malloc(1 << 20);
    *len = fread(data, 1, (1 << 20) - 1, fp);
    data[*len] = '\0';
    fclose(fp);
    return data;
}

/* Feeds one field "Name: value\r\n\tmore" as libmilter would: name, value after ": ", "\n"
 * folds. */
static void feed_milter_field(struct dkim_check *c, const char *field, size_t len)
{
    const char *colon = memchr(field, ':', len);
    assert_non_null(colon);
    char *name = strndup(field, (size_t)(colon - field));
    const char *v = colon + 1;
    if (v < field + len && *v == ' ')
        v++;
    char *value = malloc(len + 1);
    size_t n = 0;
    for (const char *p = v; p < field + len; p++)
        if (*p != '\r')
            value[n++] = *p;
    value[n] = '\0';
    dkim_check_header(c, name, value);
    free(name);
    free(value);
}

enum feed_mode { FEED_MILTER, FEED_WHOLE_FIELDS };

/* Runs one message through a new check of v; chunk is the body chunk size. */
static struct dkim_check *verify_with(struct dkim_verifier *v, const char *name, size_t chunk,
                                      enum feed_mode mode)
{
    size_t len;
    char *msg = load(name, &len);
    char *end = strstr(msg, "\r\n\r\n");
    assert_non_null(end);
    struct dkim_check *c = dkim_check_new(v, "4Y2x7Bz");
    const char *p = msg;
    while (p < end + 2) {
        const char *q = p;
        /* a field ends at a CRLF not followed by white space */
        for (;;) {
            q = strstr(q, "\r\n");
            if (q[2] != ' ' && q[2] != '\t')
                break;
            q += 2;
        }
        if (mode == FEED_MILTER)
            feed_milter_field(c, p, (size_t)(q - p));
        else
            dkim_check_header_field(c, p, (size_t)(q - p));
        p = q + 2;
    }
    dkim_check_eoh(c);
    const unsigned char *body = (const unsigned char *)end + 4;
    size_t body_len = len - (size_t)(end + 4 - msg);
    for (size_t off = 0; off < body_len; off += chunk)
        dkim_check_body(c, body + off, body_len - off < chunk ? body_len - off : chunk);
    dkim_check_eom(c);
    free(msg);
    return c;
}

static const struct dkim_signature *verify(struct fixture *f, const char *name)
{
    f->check = verify_with(f->verifier, name, 65535, FEED_MILTER);
    assert_int_equal(dkim_check_count(f->check), 1);
    return dkim_check_signature(f->check, 0);
}

/* The b= value's first 8 characters as the fixture file has them, for comparison. */
static void fixture_b8(const char *name, size_t index, char out[9])
{
    size_t len;
    char *msg = load(name, &len);
    const char *p = msg;
    for (size_t i = 0; i <= index; i++) {
        p = strstr(p, " b=");
        assert_non_null(p);
        p += 3;
    }
    size_t n = 0;
    for (; *p != '\0' && n < 8; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            out[n++] = *p;
    out[n] = '\0';
    free(msg);
}

/* ---- results ---- */

static void valid_rsa_sha256_signature_passes(void **state)
{
    struct fixture *f = *state;
    const struct dkim_signature *s = verify(f, "valid");
    assert_int_equal(s->result, DKIM_PASS);
    assert_string_equal(s->domain, "dkim.test");
    assert_string_equal(s->selector, "good");
    assert_string_equal(s->algorithm, "rsa-sha256");
    assert_int_equal(s->key_bits, 2048);
    assert_string_equal(s->reason, "");
    char b8[9];
    fixture_b8("valid", 0, b8);
    assert_string_equal(s->b8, b8);
    assert_true(dkim_check_has_signatures(f->check));
    assert_int_equal(dkim_check_result(f->check), DKIM_PASS);
}

static void authres_names_domain_selector_and_first_8_of_b(void **state)
{
    struct fixture *f = *state;
    const struct dkim_signature *s = verify(f, "valid");
    char out[512], want[512];
    assert_true(dkim_check_authres(f->check, out, sizeof out));
    /* '/' and '=' are RFC 2045 tspecials: such a b8 must be quoted. */
    bool quote = strpbrk(s->b8, "/=") != NULL;
    snprintf(want, sizeof want, "dkim=pass header.d=dkim.test header.s=good header.b=%s%s%s",
             quote ? "\"" : "", s->b8, quote ? "\"" : "");
    assert_string_equal(out, want);
}

static void simple_canonicalization_with_folded_header_passes(void **state)
{
    struct fixture *f = *state;
    /* Proves the field is rebuilt as on the wire: "Name: value" with CRLF folds. */
    const struct dkim_signature *s = verify(f, "simple");
    assert_int_equal(s->result, DKIM_PASS);
}

static void whole_fields_as_on_the_wire_pass(void **state)
{
    struct fixture *f = *state;
    f->check = verify_with(f->verifier, "simple", 65535, FEED_WHOLE_FIELDS);
    assert_int_equal(dkim_check_signature(f->check, 0)->result, DKIM_PASS);
}

static void body_in_one_byte_chunks_passes(void **state)
{
    struct fixture *f = *state;
    f->check = verify_with(f->verifier, "valid", 1, FEED_MILTER);
    assert_int_equal(dkim_check_signature(f->check, 0)->result, DKIM_PASS);
}

/* Simple body canonicalization: libopendkim's relaxed one and dkimpy's disagree on a bare CR
 * (both sides' own rule), so the bytes-as-sent rule is shown where the canonicalization keeps
 * every byte. */
static void body_with_bare_cr_is_hashed_as_sent(void **state)
{
    struct fixture *f = *state;
    const struct dkim_signature *s = verify(f, "bare-cr-simple");
    assert_int_equal(s->result, DKIM_PASS);
}

static void body_changed_after_signing_fails(void **state)
{
    struct fixture *f = *state;
    const struct dkim_signature *s = verify(f, "body-altered");
    assert_int_equal(s->result, DKIM_FAIL);
    assert_non_null(strstr(s->reason, "body hash"));
    assert_false(dkim_check_has_valid(f->check, f->od, "dkim.test"));
}

/* ---- who hashes the body ---- */

static void relaxed_body_is_hashed_here_in_any_chunks(void **state)
{
    struct fixture *f = *state;
    for (size_t chunk = 1; chunk <= 65535; chunk = chunk * 7 + 1) {
        f->check = verify_with(f->verifier, "valid", chunk, FEED_MILTER);
        assert_true(dkim_check_body_hashed_here(f->check));
        assert_int_equal(dkim_check_signature(f->check, 0)->result, DKIM_PASS);
        dkim_check_free(f->check);
        f->check = NULL;
    }
}

static void sha256_and_sha1_signatures_each_get_their_digest(void **state)
{
    struct fixture *f = *state;
    f->check = verify_with(f->verifier, "sha256-and-sha1", 65535, FEED_MILTER);
    assert_true(dkim_check_body_hashed_here(f->check));
    assert_int_equal(dkim_check_count(f->check), 2);
    assert_string_equal(dkim_check_signature(f->check, 0)->algorithm, "rsa-sha256");
    assert_int_equal(dkim_check_signature(f->check, 0)->result, DKIM_PASS);
    assert_string_equal(dkim_check_signature(f->check, 1)->algorithm, "rsa-sha1");
    assert_int_equal(dkim_check_signature(f->check, 1)->result, DKIM_POLICY);
}

static void sha1_body_changed_after_signing_fails(void **state)
{
    struct fixture *f = *state;
    const struct dkim_signature *s = verify(f, "sha1-body-altered");
    assert_true(dkim_check_body_hashed_here(f->check));
    assert_int_equal(s->result, DKIM_FAIL);
    assert_non_null(strstr(s->reason, "body hash"));
}

static void body_without_final_crlf_is_neutral(void **state)
{
    struct fixture *f = *state;
    const struct dkim_signature *s = verify(f, "unterminated");
    assert_true(dkim_check_body_hashed_here(f->check));
    assert_int_equal(s->result, DKIM_NEUTRAL);
    assert_non_null(strstr(s->reason, "does not end with CRLF"));
}

static void l_tag_leaves_the_body_to_libopendkim(void **state)
{
    struct fixture *f = *state;
    const struct dkim_signature *s = verify(f, "length-tag");
    assert_false(dkim_check_body_hashed_here(f->check));
    assert_int_equal(s->result, DKIM_PASS);
}

static void a_simple_body_beside_a_relaxed_one_leaves_the_body_to_libopendkim(void **state)
{
    struct fixture *f = *state;
    f->check = verify_with(f->verifier, "simple-and-relaxed", 65535, FEED_MILTER);
    assert_false(dkim_check_body_hashed_here(f->check));
    assert_int_equal(dkim_check_count(f->check), 2);
    assert_int_equal(dkim_check_signature(f->check, 0)->result, DKIM_PASS);
    assert_int_equal(dkim_check_signature(f->check, 1)->result, DKIM_PASS);
}

static void header_changed_after_signing_fails(void **state)
{
    struct fixture *f = *state;
    const struct dkim_signature *s = verify(f, "header-altered");
    assert_int_equal(s->result, DKIM_FAIL);
    assert_non_null(strstr(s->reason, "signature did not verify"));
    char out[512];
    assert_true(dkim_check_authres(f->check, out, sizeof out));
    assert_true(strncmp(out, "dkim=fail reason=\"signature did not verify", 42) == 0);
}

static void missing_key_is_permerror(void **state)
{
    struct fixture *f = *state;
    const struct dkim_signature *s = verify(f, "nokey");
    assert_int_equal(s->result, DKIM_PERMERROR);
    assert_string_equal(s->selector, "missing");
    assert_int_equal(s->key_bits, 0);
}

static void revoked_key_is_permerror(void **state)
{
    struct fixture *f = *state;
    const struct dkim_signature *s = verify(f, "revoked");
    assert_int_equal(s->result, DKIM_PERMERROR);
    assert_non_null(strstr(s->reason, "revoked"));
}

static void key_that_is_not_base64_is_permerror(void **state)
{
    struct fixture *f = *state;
    const struct dkim_signature *s = verify(f, "notb64");
    assert_int_equal(s->result, DKIM_PERMERROR);
}

static void key_record_of_garbage_is_permerror(void **state)
{
    struct fixture *f = *state;
    const struct dkim_signature *s = verify(f, "junk-key");
    assert_int_equal(s->result, DKIM_PERMERROR);
}

static void selector_that_is_no_domain_name_is_permerror(void **state)
{
    struct fixture *f = *state;
    /* Our resolver refuses to ask for "a..b._domainkey.dkim.test": not found, not temperror. */
    const struct dkim_signature *s = verify(f, "bad-selector");
    assert_int_equal(s->result, DKIM_PERMERROR);
    char out[512];
    assert_true(dkim_check_authres(f->check, out, sizeof out));
    assert_null(strstr(out, "header.s="));
    assert_non_null(strstr(out, "header.d=dkim.test"));
}

static void rsa_key_under_1024_bits_fails(void **state)
{
    struct fixture *f = *state;
    const struct dkim_signature *s = verify(f, "small-key");
    assert_int_equal(s->result, DKIM_FAIL);
    assert_int_equal(s->key_bits, 512);
    assert_non_null(strstr(s->reason, "512 bits"));
}

static void rsa_key_of_1024_bits_passes_by_default(void **state)
{
    struct fixture *f = *state;
    const struct dkim_signature *s = verify(f, "key1024");
    assert_int_equal(s->result, DKIM_PASS);
    assert_int_equal(s->key_bits, 1024);
}

static void dkim_min_key_bits_is_applied(void **state)
{
    struct fixture *f = *state;
    char err[256];
    assert_true(config_set(f->cfg, "dkim_min_key_bits", "2048", err, sizeof err));
    struct dkim_verifier *strict = verifier_for(f->resolver, f->cfg);
    struct dkim_check *c = verify_with(strict, "key1024", 65535, FEED_MILTER);
    assert_int_equal(dkim_check_signature(c, 0)->result, DKIM_FAIL);
    dkim_check_free(c);
    c = verify_with(strict, "valid", 65535, FEED_MILTER);
    assert_int_equal(dkim_check_signature(c, 0)->result, DKIM_PASS);
    dkim_check_free(c);
    dkim_verifier_free(strict);
}

static void rsa_sha1_is_policy_not_pass(void **state)
{
    struct fixture *f = *state;
    const struct dkim_signature *s = verify(f, "sha1");
    assert_int_equal(s->result, DKIM_POLICY);
    assert_string_equal(s->algorithm, "rsa-sha1");
    assert_non_null(strstr(s->reason, "RFC 8301"));
    assert_false(dkim_check_has_valid(f->check, f->od, "dkim.test"));
}

static void ed25519_signature_passes(void **state)
{
    struct fixture *f = *state;
    if (!dkim_verifier_has_ed25519(f->verifier))
        fail_msg("the installed libopendkim does not verify ed25519-sha256");
    const struct dkim_signature *s = verify(f, "ed25519");
    assert_int_equal(s->result, DKIM_PASS);
    assert_string_equal(s->algorithm, "ed25519-sha256");
    assert_string_equal(s->selector, "ed");
}

static void two_signatures_are_each_reported(void **state)
{
    struct fixture *f = *state;
    f->check = verify_with(f->verifier, "two-sigs", 65535, FEED_MILTER);
    assert_int_equal(dkim_check_count(f->check), 2);
    /* Top of the header first: the outer signature, with no key. */
    assert_int_equal(dkim_check_signature(f->check, 0)->result, DKIM_PERMERROR);
    assert_string_equal(dkim_check_signature(f->check, 0)->selector, "missing");
    assert_int_equal(dkim_check_signature(f->check, 1)->result, DKIM_PASS);
    assert_null(dkim_check_signature(f->check, 2));
    assert_int_equal(dkim_check_result(f->check), DKIM_PASS);
    assert_true(dkim_check_has_valid(f->check, f->od, "dkim.test"));
    char out[1024];
    assert_true(dkim_check_authres(f->check, out, sizeof out));
    assert_true(strncmp(out, "dkim=permerror reason=", 22) == 0);
    assert_non_null(strstr(out, "header.s=missing"));
    assert_non_null(strstr(out, "; dkim=pass header.d=dkim.test header.s=good header.b="));
}

static void dkim_max_signatures_limits_the_evaluated(void **state)
{
    struct fixture *f = *state;
    char err[256];
    assert_true(config_set(f->cfg, "dkim_max_signatures", "1", err, sizeof err));
    struct dkim_verifier *one = verifier_for(f->resolver, f->cfg);
    struct dkim_check *c = verify_with(one, "two-sigs", 65535, FEED_MILTER);
    assert_int_equal(dkim_check_count(c), 1);
    assert_int_equal(dkim_check_ignored(c), 1);
    assert_string_equal(dkim_check_signature(c, 0)->selector, "missing");
    char detail[512];
    dkim_check_detail(c, detail, sizeof detail);
    assert_non_null(strstr(detail, "1 more not evaluated"));
    dkim_check_free(c);
    dkim_verifier_free(one);
}

static void garbage_tags_are_neutral(void **state)
{
    struct fixture *f = *state;
    const struct dkim_signature *s = verify(f, "garbage-tags");
    assert_int_equal(s->result, DKIM_NEUTRAL);
    assert_non_null(strstr(s->reason, "malformed signature"));
    char out[512];
    assert_true(dkim_check_authres(f->check, out, sizeof out));
    /* Nothing unescaped from the field reaches the header; b= is not base64: left out. */
    for (const char *p = out; *p != '\0'; p++)
        assert_true(*p >= ' ' && *p < 127);
    assert_null(strstr(out, "header.b="));
}

static void signature_without_required_tags_is_neutral(void **state)
{
    struct fixture *f = *state;
    const struct dkim_signature *s = verify(f, "missing-tags");
    assert_int_equal(s->result, DKIM_NEUTRAL);
}

static void signature_of_unknown_version_is_neutral(void **state)
{
    struct fixture *f = *state;
    const struct dkim_signature *s = verify(f, "bad-version");
    assert_int_equal(s->result, DKIM_NEUTRAL);
}

static void header_field_of_16_kib_passes(void **state)
{
    struct fixture *f = *state;
    const struct dkim_signature *s = verify(f, "big-header");
    assert_int_equal(s->result, DKIM_PASS);
}

static void oversized_header_field_is_not_fed_and_nothing_crashes(void **state)
{
    struct fixture *f = *state;
    size_t n = DKIM_HEADER_FIELD_MAX + 10;
    char *value = malloc(n + 1);
    memset(value, 'x', n);
    value[n] = '\0';
    f->check = dkim_check_new(f->verifier, NULL);
    dkim_check_header(f->check, "DKIM-Signature", value);
    dkim_check_header_field(f->check, value, n);
    dkim_check_eoh(f->check);
    dkim_check_eom(f->check);
    assert_false(dkim_check_has_signatures(f->check));
    assert_int_equal(dkim_check_count(f->check), 0);
    free(value);
}

static void message_without_signature_is_none(void **state)
{
    struct fixture *f = *state;
    f->check = verify_with(f->verifier, "unsigned", 65535, FEED_MILTER);
    assert_false(dkim_check_has_signatures(f->check));
    assert_int_equal(dkim_check_count(f->check), 0);
    assert_int_equal(dkim_check_result(f->check), DKIM_NONE);
    char out[64];
    assert_true(dkim_check_authres(f->check, out, sizeof out));
    assert_string_equal(out, "dkim=none");
    assert_false(dkim_check_has_valid(f->check, f->od, "dkim.test"));
}

static void unreachable_dns_is_temperror(void **state)
{
    struct fixture *f = *state;
    struct dns_resolver *down = resolver_for("127.0.0.1:1", 500);
    struct dkim_verifier *v = verifier_for(down, f->cfg);
    struct dkim_check *c = verify_with(v, "valid", 65535, FEED_MILTER);
    assert_int_equal(dkim_check_count(c), 1);
    assert_int_equal(dkim_check_signature(c, 0)->result, DKIM_TEMPERROR);
    assert_false(dkim_check_has_valid(c, f->od, "dkim.test"));
    dkim_check_free(c);
    dkim_verifier_free(v);
    dns_resolver_free(down);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void dns_timeout_is_temperror_within_the_resolver_bound(void **state)
{
    struct fixture *f = *state;
    /* A real UDP socket that never answers: the query times out (no mock involved). */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    socklen_t len = sizeof sin;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    char server[32];
    snprintf(server, sizeof server, "127.0.0.1:%d", ntohs(sin.sin_port));

    struct dns_resolver *silent = resolver_for(server, 300);
    struct dkim_verifier *v = verifier_for(silent, f->cfg);
    int64_t start = now_ms();
    struct dkim_check *c = verify_with(v, "valid", 65535, FEED_MILTER);
    int64_t took = now_ms() - start;
    assert_int_equal(dkim_check_signature(c, 0)->result, DKIM_TEMPERROR);
    /* 300 ms x 1 try, and some slack for a loaded machine under the sanitizers. */
    assert_true(took >= 250);
    assert_true(took < 2000);
    dkim_check_free(c);
    dkim_verifier_free(v);
    dns_resolver_free(silent);
    close(fd);
}

static void keys_of_several_signatures_are_looked_up_in_one_round(void **state)
{
    struct fixture *f = *state;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    socklen_t len = sizeof sin;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    char server[32];
    snprintf(server, sizeof server, "127.0.0.1:%d", ntohs(sin.sin_port));

    struct dns_resolver *silent = resolver_for(server, 400);
    struct dkim_verifier *v = verifier_for(silent, f->cfg);
    int64_t start = now_ms();
    struct dkim_check *c = verify_with(v, "two-sigs", 65535, FEED_MILTER);
    int64_t took = now_ms() - start;
    assert_int_equal(dkim_check_count(c), 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(dkim_check_signature(c, i)->result, DKIM_TEMPERROR);
        assert_string_equal(dkim_check_signature(c, i)->reason, "key lookup failed: timeout");
    }
    /* One 400 ms round, not two after each other. */
    assert_true(took < 750);
    dkim_check_free(c);
    dkim_verifier_free(v);
    dns_resolver_free(silent);
    close(fd);
}

/*
 * A key is looked up once a message: our prefetch asks the resolver (a cache hit here), and
 * libopendkim's own lookup finds the prefetch's query on the check's batch instead of asking the
 * resolver again (which, for an answer that cannot be cached, would be a second query).
 */
static void key_is_looked_up_once_a_message(void **state)
{
    struct fixture *f = *state;
    struct dns_cache_stats before, after;
    dkim_check_free(verify_with(f->verifier, "valid", 65535, FEED_MILTER));
    dns_resolver_stats(f->resolver, &before);
    f->check = verify_with(f->verifier, "valid", 65535, FEED_MILTER);
    dns_resolver_stats(f->resolver, &after);
    assert_int_equal(dkim_check_signature(f->check, 0)->result, DKIM_PASS);
    assert_int_equal(after.hits, before.hits + 1);
    assert_int_equal(after.misses, before.misses);
}

/* ---- the decoded-key cache ---- */

static void key_stats(struct fixture *f, struct dkim_keycache_stats *out)
{
    dkim_verifier_key_stats(f->verifier, out);
}

/* Fails when libopendkim's key decode no longer reaches the cache (d2i_PUBKEY_bio in dkim.c). */
static void decoded_key_is_reused_for_the_next_message(void **state)
{
    struct fixture *f = *state;
    struct dkim_keycache_stats s0, s1, s2;
    key_stats(f, &s0);
    assert_int_equal(s0.entries, 0);
    struct dkim_check *c = verify_with(f->verifier, "valid", 65535, FEED_MILTER);
    assert_int_equal(dkim_check_signature(c, 0)->result, DKIM_PASS);
    dkim_check_free(c);
    key_stats(f, &s1);
    assert_int_equal(s1.misses, s0.misses + 1);
    assert_int_equal(s1.hits, s0.hits);
    assert_int_equal(s1.entries, 1);
    const struct dkim_signature *s = verify(f, "valid");
    assert_int_equal(s->result, DKIM_PASS);
    assert_int_equal(s->key_bits, 2048);
    key_stats(f, &s2);
    assert_int_equal(s2.hits, s1.hits + 1);
    assert_int_equal(s2.misses, s1.misses);
    assert_int_equal(s2.entries, 1);
}

static void cached_key_still_fails_a_changed_message(void **state)
{
    struct fixture *f = *state;
    dkim_check_free(verify_with(f->verifier, "valid", 65535, FEED_MILTER));
    struct dkim_keycache_stats before, after;
    key_stats(f, &before);
    assert_int_equal(verify(f, "body-altered")->result, DKIM_FAIL);
    key_stats(f, &after);
    /* the failure came with the cached key, not from a decode of its own */
    assert_int_equal(after.hits, before.hits + 1);
    assert_int_equal(after.misses, before.misses);
}

/* Two records, two keys: each message verifies with its own key however they alternate, and each
 * key is decoded once.  A cache that mixed them up would fail every other message. */
static void keys_of_different_records_are_kept_apart(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < 6; i++) {
        const char *name = i % 2 ? "key1024" : "valid";
        struct dkim_check *c = verify_with(f->verifier, name, 65535, FEED_MILTER);
        assert_int_equal(dkim_check_count(c), 1);
        assert_int_equal(dkim_check_signature(c, 0)->result, DKIM_PASS);
        assert_int_equal(dkim_check_signature(c, 0)->key_bits, i % 2 ? 1024 : 2048);
        dkim_check_free(c);
    }
    struct dkim_keycache_stats st;
    key_stats(f, &st);
    assert_int_equal(st.misses, 2);
    assert_int_equal(st.hits, 4);
    assert_int_equal(st.entries, 2);
}

/* Bytes that are no key (the record's p= decodes from base64 but is no SubjectPublicKeyInfo)
 * are a permerror every time and are never kept. */
static void key_that_does_not_decode_is_not_kept(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < 2; i++) {
        dkim_check_free(f->check);
        assert_int_equal(verify(f, "notder-key")->result, DKIM_PERMERROR);
    }
    struct dkim_keycache_stats st;
    key_stats(f, &st);
    assert_int_equal(st.invalid, 2);
    assert_int_equal(st.misses, 2);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.hits, 0);
}

/* Outside a verification the milter's d2i_PUBKEY_bio is OpenSSL's: a new key each call, and
 * nothing counted or kept. */
static void d2i_pubkey_bio_outside_a_check_is_openssls_own(void **state)
{
    struct fixture *f = *state;
    EVP_PKEY *gen = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(gen);
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(gen, &der);
    assert_true(len > 0);
    EVP_PKEY *keys[2];
    for (int i = 0; i < 2; i++) {
        BIO *bio = BIO_new_mem_buf(der, len);
        keys[i] = d2i_PUBKEY_bio(bio, NULL);
        assert_non_null(keys[i]);
        assert_int_equal(BIO_pending(bio), 0);
        BIO_free(bio);
        assert_int_equal(EVP_PKEY_eq(keys[i], gen), 1);
    }
    assert_ptr_not_equal(keys[0], keys[1]);
    BIO *junk = BIO_new_mem_buf("not a key", 9);
    assert_null(d2i_PUBKEY_bio(junk, NULL));
    BIO_free(junk);
    struct dkim_keycache_stats st;
    key_stats(f, &st);
    assert_int_equal(st.hits + st.misses + st.invalid, 0);
    EVP_PKEY_free(keys[0]);
    EVP_PKEY_free(keys[1]);
    EVP_PKEY_free(gen);
    OPENSSL_free(der);
}

struct worker {
    struct dkim_verifier *verifier;
    int passes;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 20; i++) {
        struct dkim_check *c =
            verify_with(w->verifier, i % 2 ? "valid" : "ed25519", 4096, FEED_MILTER);
        if (dkim_check_count(c) == 1 && dkim_check_signature(c, 0)->result == DKIM_PASS)
            w->passes++;
        dkim_check_free(c);
    }
    return NULL;
}

static void concurrent_checks_share_one_verifier(void **state)
{
    struct fixture *f = *state;
    enum { THREADS = 4 };
    pthread_t threads[THREADS];
    struct worker workers[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){.verifier = f->verifier};
        assert_int_equal(pthread_create(&threads[i], NULL, worker_run, &workers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(workers[i].passes, 20);
    }
}

/* ---- alignment ---- */

static void valid_signature_aligns_with_a_subdomain_only_of_its_organization(void **state)
{
    struct fixture *f = *state;
    verify(f, "valid");
    assert_true(dkim_check_has_valid(f->check, f->od, "dkim.test"));
    assert_true(dkim_check_has_valid(f->check, f->od, "Mail.DKIM.test"));
    assert_false(dkim_check_has_valid(f->check, f->od, "example.test"));
    assert_false(dkim_check_has_valid(f->check, f->od, "dkim.test.example"));
    assert_false(dkim_check_has_valid(f->check, f->od, ""));
    assert_false(dkim_check_has_valid(f->check, f->od, NULL));
    /* Without a Public Suffix List nothing aligns: could not tell is never a pass. */
    assert_false(dkim_check_has_valid(f->check, NULL, "dkim.test"));
}

static void free_of_null_is_a_no_op(void **state)
{
    (void)state;
    dkim_check_free(NULL);
    dkim_verifier_free(NULL);
    assert_int_equal(dkim_check_count(NULL), 0);
    assert_null(dkim_check_signature(NULL, 0));
}

/* ---- the figure ---- */

static void timing_of_a_20_kib_message_with_a_warm_cache(void **state)
{
    struct fixture *f = *state;
    dkim_check_free(verify_with(f->verifier, "bench-20k", 65535, FEED_MILTER)); /* warm up */
    enum { ROUNDS = 200 };
    int64_t start = now_ms();
    for (int i = 0; i < ROUNDS; i++) {
        struct dkim_check *c = verify_with(f->verifier, "bench-20k", 65535, FEED_MILTER);
        assert_int_equal(dkim_check_signature(c, 0)->result, DKIM_PASS);
        dkim_check_free(c);
    }
    int64_t took = now_ms() - start;
    print_message("dkim: %d verifications of a 20 KiB rsa-sha256 (2048) message, warm DNS "
                  "cache: %.3f ms each (includes reading the file)\n",
                  ROUNDS, (double)took / ROUNDS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(valid_rsa_sha256_signature_passes),
        T(authres_names_domain_selector_and_first_8_of_b),
        T(simple_canonicalization_with_folded_header_passes),
        T(whole_fields_as_on_the_wire_pass),
        T(body_in_one_byte_chunks_passes),
        T(body_with_bare_cr_is_hashed_as_sent),
        T(body_changed_after_signing_fails),
        T(header_changed_after_signing_fails),
        T(relaxed_body_is_hashed_here_in_any_chunks),
        T(sha256_and_sha1_signatures_each_get_their_digest),
        T(sha1_body_changed_after_signing_fails),
        T(body_without_final_crlf_is_neutral),
        T(l_tag_leaves_the_body_to_libopendkim),
        T(a_simple_body_beside_a_relaxed_one_leaves_the_body_to_libopendkim),
        T(missing_key_is_permerror),
        T(revoked_key_is_permerror),
        T(key_that_is_not_base64_is_permerror),
        T(key_record_of_garbage_is_permerror),
        T(selector_that_is_no_domain_name_is_permerror),
        T(rsa_key_under_1024_bits_fails),
        T(rsa_key_of_1024_bits_passes_by_default),
        T(dkim_min_key_bits_is_applied),
        T(rsa_sha1_is_policy_not_pass),
        T(ed25519_signature_passes),
        T(two_signatures_are_each_reported),
        T(dkim_max_signatures_limits_the_evaluated),
        T(garbage_tags_are_neutral),
        T(signature_without_required_tags_is_neutral),
        T(signature_of_unknown_version_is_neutral),
        T(header_field_of_16_kib_passes),
        T(oversized_header_field_is_not_fed_and_nothing_crashes),
        T(message_without_signature_is_none),
        T(unreachable_dns_is_temperror),
        T(dns_timeout_is_temperror_within_the_resolver_bound),
        T(keys_of_several_signatures_are_looked_up_in_one_round),
        T(key_is_looked_up_once_a_message),
        T(concurrent_checks_share_one_verifier),
        T(decoded_key_is_reused_for_the_next_message),
        T(cached_key_still_fails_a_changed_message),
        T(keys_of_different_records_are_kept_apart),
        T(key_that_does_not_decode_is_not_kept),
        T(d2i_pubkey_bio_outside_a_check_is_openssls_own),
        T(valid_signature_aligns_with_a_subdomain_only_of_its_organization),
        T(free_of_null_is_a_no_op),
        T(timing_of_a_20_kib_message_with_a_warm_cache),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
