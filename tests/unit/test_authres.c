/*
 * test_authres: lib/authres.c, the Authentication-Results field we add and the recognition of
 * incoming ones that claim our authserv-id (RFC 8601 2.2, 2.7.3 and 5).
 *
 * struct iprev is filled in directly: these tests are about the header, not the lookups.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authres.h"
#include "dmarc.h"
#include "iprev.h"

#define ID "mx.example.org"

static struct iprev iprev_with(enum iprev_result result, const char *ip, const char *name)
{
    struct iprev ip_state;
    memset(&ip_state, 0, sizeof ip_state);
    ip_state.done = true;
    ip_state.result = result;
    snprintf(ip_state.ip, sizeof ip_state.ip, "%s", ip);
    snprintf(ip_state.name, sizeof ip_state.name, "%s", name);
    return ip_state;
}

static void build_is(const struct iprev *ip_state, const char *expected)
{
    char out[512];
    memset(out, '#', sizeof out);
    authres_build(ID, ip_state, out, sizeof out);
    assert_string_equal(out, expected);
}

/* ---- authres_build ------------------------------------------------------------------------ */

/* RFC 8601 2.7.3: policy.iprev is the address checked; the confirmed name is only a comment. */
static void build_pass_names_the_confirmed_host_in_a_comment(void **state)
{
    (void)state;
    struct iprev r = iprev_with(IPREV_PASS, "192.0.2.1", "mail.example.com");
    build_is(&r, ID "; iprev=pass policy.iprev=192.0.2.1 (mail.example.com)");
    r = iprev_with(IPREV_PASS, "2001:db8::25", "mail6.example.com");
    build_is(&r, ID "; iprev=pass policy.iprev=2001:db8::25 (mail6.example.com)");
}

static void build_fail_names_the_address_only(void **state)
{
    (void)state;
    /* A name seen but not confirmed means nothing: it is not shown. */
    struct iprev r = iprev_with(IPREV_FAIL, "192.0.2.1", "forged.example.com");
    build_is(&r, ID "; iprev=fail policy.iprev=192.0.2.1");
}

static void build_temperror_names_the_address(void **state)
{
    (void)state;
    struct iprev r = iprev_with(IPREV_TEMPERROR, "192.0.2.1", "");
    build_is(&r, ID "; iprev=temperror policy.iprev=192.0.2.1");
}

static void build_permerror_for_an_unknown_client_has_no_policy_iprev(void **state)
{
    (void)state;
    struct iprev r = iprev_with(IPREV_PERMERROR, "", "");
    build_is(&r, ID "; iprev=permerror");
}

/* RFC 8601 2.2: "none" when no method ran. */
static void build_without_iprev_says_none(void **state)
{
    (void)state;
    build_is(NULL, ID "; none");
    struct iprev r = iprev_with(IPREV_NONE, "192.0.2.1", "mail.example.com");
    build_is(&r, ID "; none");
}

/* A name that is not a plain host name could close the comment and forge a result. */
static void build_leaves_an_invalid_name_out_of_the_comment(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "mail.example.com) iprev=pass (",
        "mail example.com",
        "mail.example.com\r\nX-Injected: 1",
        "mail(x).example.com",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct iprev r = iprev_with(IPREV_PASS, "192.0.2.1", bad[i]);
        build_is(&r, ID "; iprev=pass policy.iprev=192.0.2.1");
    }
}

static void build_is_bounded_and_terminated(void **state)
{
    (void)state;
    struct iprev r = iprev_with(IPREV_PASS, "192.0.2.1", "mail.example.com");
    for (size_t outlen = 1; outlen < 80; outlen++) {
        char out[96];
        memset(out, '#', sizeof out);
        authres_build(ID, &r, out, outlen);
        assert_true(strlen(out) < outlen);
        for (size_t k = outlen; k < sizeof out; k++)
            if (out[k] != '#')
                fail_msg("outlen %zu: byte %zu written", outlen, k);
    }
}

/* ---- the dmarc resinfo, parsed back (RFC 8601 2.2, RFC 7489 11.2) ------------------------- */

/* One resinfo as a reader sees it: method=result, an optional comment, ptype.property=value. */
struct resinfo {
    char method[32], result[32], comment[128], property[32], value[256];
};

/* Copies a token (up to a space, ';', '(' or the end) and returns what follows it. */
static const char *token(const char *p, char *out, size_t outlen, const char *stop)
{
    size_t n = 0;
    while (*p != '\0' && strchr(stop, *p) == NULL) {
        if (n + 1 < outlen)
            out[n++] = *p;
        p++;
    }
    out[n] = '\0';
    return p;
}

/*
 * A minimal RFC 8601 reader: "authserv-id; resinfo; resinfo ...", each resinfo "method=result
 * [(comment)] [ptype.property=value]".  Returns how many resinfos it read into out.
 */
static size_t parse_authres(const char *value, struct resinfo *out, size_t max, char *id,
                            size_t idlen)
{
    const char *p = token(value, id, idlen, "; ");
    size_t n = 0;
    while (*p == ';' && n < max) {
        struct resinfo *r = &out[n++];
        memset(r, 0, sizeof *r);
        p = token(p + 1 + strspn(p + 1, " "), r->method, sizeof r->method, "=; ");
        if (*p == '=')
            p = token(p + 1, r->result, sizeof r->result, " ;(");
        /* then comments and properties in any order, up to the next ';' */
        for (p += strspn(p, " "); *p != ';' && *p != '\0'; p += strspn(p, " ")) {
            if (*p == '(') {
                p = token(p + 1, r->comment, sizeof r->comment, ")");
                p += *p == ')';
            } else {
                char property[32], pvalue[256] = "";
                p = token(p, property, sizeof property, "=; (");
                if (*p == '=')
                    p = token(p + 1, pvalue, sizeof pvalue, " ;(");
                if (r->property[0] == '\0') {
                    snprintf(r->property, sizeof r->property, "%s", property);
                    snprintf(r->value, sizeof r->value, "%s", pvalue);
                }
            }
        }
    }
    return n;
}

static void dmarc_results_read_back_from_the_header(void **state)
{
    (void)state;
    struct dmarc_message *m = calloc(1, sizeof *m);
    m->nauthors = 3;
    m->authors = calloc(3, sizeof *m->authors);
    struct dmarc_author *a = &m->authors[0];
    snprintf(a->domain, sizeof a->domain, "example.org");
    a->result = DMARC_FAIL;
    a->have_record = true;
    a->policy = DMARC_POLICY_REJECT;
    a->disposition = DMARC_POLICY_QUARANTINE;
    a = &m->authors[1];
    snprintf(a->domain, sizeof a->domain, "lists.example.net");
    a->result = DMARC_TEMPERROR;
    m->authors[2].result = DMARC_PERMERROR; /* a From field the parser refused */

    char part[512], header[1024], id[64];
    struct iprev r = iprev_with(IPREV_PASS, "192.0.2.1", "mail.example.com");
    dmarc_message_authres(m, part, sizeof part);
    authres_build(ID, &r, header, sizeof header);
    authres_append(header, sizeof header, part);
    free(m->authors);
    free(m);

    struct resinfo got[8];
    size_t n = parse_authres(header, got, 8, id, sizeof id);
    assert_string_equal(id, ID);
    assert_int_equal(n, 4);
    assert_string_equal(got[0].method, "iprev");
    assert_string_equal(got[1].method, "dmarc");
    assert_string_equal(got[1].result, "fail");
    assert_string_equal(got[1].comment, "p=reject dis=quarantine");
    assert_string_equal(got[1].property, "header.from");
    assert_string_equal(got[1].value, "example.org");
    assert_string_equal(got[2].method, "dmarc");
    assert_string_equal(got[2].result, "temperror");
    assert_string_equal(got[2].comment, "");
    assert_string_equal(got[2].property, "header.from");
    assert_string_equal(got[2].value, "lists.example.net");
    assert_string_equal(got[3].method, "dmarc");
    assert_string_equal(got[3].result, "permerror");
    assert_string_equal(got[3].property, "");
}

/* ---- authres_claims_id ------------------------------------------------------------------- */

static void claims_exact_id(void **state)
{
    (void)state;
    assert_true(authres_claims_id(ID "; iprev=pass policy.iprev=192.0.2.1", ID));
    assert_true(authres_claims_id(ID ";spf=pass", ID));
    assert_true(authres_claims_id(ID, ID));
}

static void claims_id_case_insensitively(void **state)
{
    (void)state;
    assert_true(authres_claims_id("MX.Example.ORG; spf=pass", ID));
    assert_true(authres_claims_id(ID "; none", "MX.EXAMPLE.ORG"));
}

/* RFC 8601 2.2: the authserv-id may be preceded by CFWS (RFC 5322 3.2.2). */
static void claims_id_after_white_space_and_comments(void **state)
{
    (void)state;
    assert_true(authres_claims_id(" \t" ID "; none", ID));
    assert_true(authres_claims_id("\r\n\t" ID "; none", ID)); /* folded */
    assert_true(authres_claims_id("(forged) " ID "; spf=pass", ID));
    assert_true(authres_claims_id("(a (nested (twice)) comment)(another)" ID "; none", ID));
    assert_true(authres_claims_id("(a \\) quoted paren) " ID "; none", ID));
    assert_true(authres_claims_id(" ( x ) \r\n ( y ) " ID "; none", ID));
}

static void claims_quoted_string_id(void **state)
{
    (void)state;
    assert_true(authres_claims_id("\"" ID "\"; spf=pass", ID));
    assert_true(authres_claims_id("(c) \"MX.example.org\" 1; none", ID));
    assert_true(authres_claims_id("\"mx.exa\\mple.org\"; none", ID)); /* quoted-pair */
    assert_false(authres_claims_id("\"mx.example.org x\"; none", ID));
}

/* RFC 8601 2.2: authserv-id [ CFWS authres-version ] ";" */
static void claims_id_followed_by_semicolon_version_or_comment(void **state)
{
    (void)state;
    assert_true(authres_claims_id(ID " 1; spf=pass", ID));
    assert_true(authres_claims_id(ID "\t1 ; spf=pass", ID));
    assert_true(authres_claims_id(ID "(comment); none", ID));
    assert_true(authres_claims_id(ID " ; none", ID));
}

static void does_not_claim_a_different_id(void **state)
{
    (void)state;
    assert_false(authres_claims_id("other.example.org; spf=pass", ID));
    assert_false(authres_claims_id("(" ID ") other.example.org; none", ID)); /* in a comment */
    assert_false(authres_claims_id("other.example.org; iprev=pass (" ID ")", ID));
}

/* Equal, not a prefix or an extension of ours, in either direction. */
static void does_not_claim_a_prefix_or_extension_of_our_id(void **state)
{
    (void)state;
    assert_false(authres_claims_id("mx.test; spf=pass", "mx.test.example"));
    assert_false(authres_claims_id("mx.test.example; spf=pass", "mx.test"));
    assert_false(authres_claims_id("mx.testx; spf=pass", "mx.test"));
    assert_false(authres_claims_id("xmx.test; spf=pass", "mx.test"));
}

static void does_not_claim_an_empty_or_missing_id(void **state)
{
    (void)state;
    assert_false(authres_claims_id("", ID));
    assert_false(authres_claims_id(" \t\r\n", ID));
    assert_false(authres_claims_id("; spf=pass", ID));
    assert_false(authres_claims_id("\"\"; none", ID));
    assert_false(authres_claims_id("(only a comment)", ID));
    assert_false(authres_claims_id("(unterminated " ID "; none", ID));
    /* Nor does an empty id of ours match a header without one. */
    assert_false(authres_claims_id("; spf=pass", ""));
    assert_false(authres_claims_id("\"\"; spf=pass", ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(build_pass_names_the_confirmed_host_in_a_comment),
        cmocka_unit_test(build_fail_names_the_address_only),
        cmocka_unit_test(build_temperror_names_the_address),
        cmocka_unit_test(build_permerror_for_an_unknown_client_has_no_policy_iprev),
        cmocka_unit_test(build_without_iprev_says_none),
        cmocka_unit_test(build_leaves_an_invalid_name_out_of_the_comment),
        cmocka_unit_test(build_is_bounded_and_terminated),
        cmocka_unit_test(dmarc_results_read_back_from_the_header),
        cmocka_unit_test(claims_exact_id),
        cmocka_unit_test(claims_id_case_insensitively),
        cmocka_unit_test(claims_id_after_white_space_and_comments),
        cmocka_unit_test(claims_quoted_string_id),
        cmocka_unit_test(claims_id_followed_by_semicolon_version_or_comment),
        cmocka_unit_test(does_not_claim_a_different_id),
        cmocka_unit_test(does_not_claim_a_prefix_or_extension_of_our_id),
        cmocka_unit_test(does_not_claim_an_empty_or_missing_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
