/*
 * test_dmarc_record: lib/dmarc_record.c, the DMARC record parser (RFC 7489 6.3, 6.4 over RFC
 * 6376 3.2's tag-list): the RFC's own example records, and what a record that is not one, is
 * broken, huge, has duplicated, unknown or upper-case tags, or odd URIs, gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dmarc_record.h"

static enum dmarc_record_status parse(const char *text, struct dmarc_record *r, char *why,
                                      size_t whylen)
{
    return dmarc_record_parse(text, strlen(text), r, why, whylen);
}

static struct dmarc_record parse_ok(const char *text)
{
    struct dmarc_record r;
    char why[256];
    enum dmarc_record_status st = parse(text, &r, why, sizeof why);
    if (st != DMARC_RECORD_OK)
        fail_msg("\"%s\": status %d (%s), want OK", text, st, why);
    return r;
}

static void parse_is(const char *text, enum dmarc_record_status want, const char *why_part)
{
    struct dmarc_record r;
    char why[256];
    enum dmarc_record_status st = parse(text, &r, why, sizeof why);
    if (st != want)
        fail_msg("\"%s\": status %d (%s), want %d", text, st, why, want);
    if (why_part != NULL && strstr(why, why_part) == NULL)
        fail_msg("\"%s\": reason \"%s\" does not say \"%s\"", text, why, why_part);
}

/* RFC 7489 Appendix B.2 and 7.1: the example records. */
static void rfc_example_records_parse(void **state)
{
    (void)state;
    struct dmarc_record r = parse_ok("v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com");
    assert_int_equal(r.p, DMARC_POLICY_NONE);
    assert_int_equal(r.sp, DMARC_POLICY_NONE);
    assert_int_equal(r.nrua, 1);
    assert_string_equal(r.rua[0], "mailto:dmarc-feedback@example.com");
    assert_int_equal(r.pct, 100);
    assert_int_equal(r.adkim, ORGDOMAIN_RELAXED);
    assert_int_equal(r.aspf, ORGDOMAIN_RELAXED);
    assert_int_equal(r.ri, 86400);
    assert_false(r.p_assumed);
    assert_string_equal(r.notes, "");

    r = parse_ok("v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com; "
                 "ruf=mailto:auth-reports@thirdparty.example.net");
    assert_int_equal(r.nrua, 1);

    r = parse_ok("v=DMARC1; p=quarantine; rua=mailto:dmarc-feedback@example.com, "
                 "mailto:tld-test@thirdparty.example.net!10m; pct=25");
    assert_int_equal(r.p, DMARC_POLICY_QUARANTINE);
    assert_int_equal(r.sp, DMARC_POLICY_QUARANTINE); /* sp= absent: p= (6.3) */
    assert_int_equal(r.pct, 25);
    assert_int_equal(r.nrua, 2);
    assert_string_equal(r.rua[1], "mailto:tld-test@thirdparty.example.net!10m");

    /* 7.1: the record a report receiver publishes to accept another domain's reports is no
     * policy: no p=, no rua=, hence no DMARC processing (6.6.3 step 6). */
    parse_is("v=DMARC1", DMARC_RECORD_INVALID, "no p= tag");
}

static void every_tag_is_read(void **state)
{
    (void)state;
    struct dmarc_record r =
        parse_ok("v=DMARC1; p=reject; sp=none; adkim=s; aspf=s; pct=0; ri=3600; fo=1; rf=afrf");
    assert_int_equal(r.p, DMARC_POLICY_REJECT);
    assert_int_equal(r.sp, DMARC_POLICY_NONE);
    assert_true(r.sp_given);
    assert_int_equal(r.adkim, ORGDOMAIN_STRICT);
    assert_int_equal(r.aspf, ORGDOMAIN_STRICT);
    assert_int_equal(r.pct, 0);
    assert_int_equal(r.ri, 3600);
    assert_string_equal(r.notes, "");
}

/* RFC 6376 3.2: white space around names, '=' and values; RFC 7489 6.4 does not fix the order
 * of the tags after v=; empty elements and a trailing "; " are tolerated. */
static void white_space_order_and_empty_elements(void **state)
{
    (void)state;
    struct dmarc_record r = parse_ok("  v = DMARC1 ;\tpct = 50 ;; sp=reject ; p = quarantine ; ");
    assert_int_equal(r.p, DMARC_POLICY_QUARANTINE);
    assert_int_equal(r.sp, DMARC_POLICY_REJECT);
    assert_int_equal(r.pct, 50);
    r = parse_ok("v=DMARC1;p=reject;");
    assert_int_equal(r.p, DMARC_POLICY_REJECT);
}

/* RFC 5234 2.3: the RFC's quoted names and keywords match without case; "DMARC1" is %x-coded,
 * so exact. */
static void upper_case_names_and_keywords_but_exact_version(void **state)
{
    (void)state;
    struct dmarc_record r = parse_ok("V=DMARC1; P=REJECT; SP=Quarantine; ADKIM=S; Pct=10");
    assert_int_equal(r.p, DMARC_POLICY_REJECT);
    assert_int_equal(r.sp, DMARC_POLICY_QUARANTINE);
    assert_int_equal(r.adkim, ORGDOMAIN_STRICT);
    assert_int_equal(r.pct, 10);
    parse_is("v=dmarc1; p=reject", DMARC_RECORD_NOT_DMARC, "v=DMARC1");
    parse_is("v=DMARC1 ; p=Reject", DMARC_RECORD_OK, NULL);
}

/* RFC 7489 6.6.3 step 2: not starting with v=DMARC1, it is not a DMARC record at all. */
static void version_must_come_first(void **state)
{
    (void)state;
    parse_is("p=reject; v=DMARC1", DMARC_RECORD_NOT_DMARC, "does not start with v=DMARC1");
    parse_is("v=spf1 -all", DMARC_RECORD_NOT_DMARC, NULL);
    parse_is("v=DMARC2; p=reject", DMARC_RECORD_NOT_DMARC, NULL);
    parse_is("v=DMARC1p=reject", DMARC_RECORD_NOT_DMARC, NULL);
    parse_is("x=DMARC1; p=reject", DMARC_RECORD_NOT_DMARC, NULL);
    parse_is("; v=DMARC1; p=reject", DMARC_RECORD_NOT_DMARC, NULL);
    parse_is("", DMARC_RECORD_NOT_DMARC, NULL);
    parse_is("v=", DMARC_RECORD_NOT_DMARC, NULL);
}

/* RFC 6376 3.2: a tag name given twice makes the whole tag-list invalid. */
static void duplicated_tags_make_the_record_invalid(void **state)
{
    (void)state;
    parse_is("v=DMARC1; p=none; p=reject", DMARC_RECORD_INVALID, "tag p given twice");
    parse_is("v=DMARC1; p=none; P=reject", DMARC_RECORD_INVALID, "given twice");
    parse_is("v=DMARC1; v=DMARC1; p=none", DMARC_RECORD_INVALID, "tag v given twice");
    parse_is("v=DMARC1; p=none; x=1; x=2", DMARC_RECORD_INVALID, "tag x given twice");
}

/* RFC 7489 6.3: unknown tags are ignored, whatever their value's shape. */
static void unknown_tags_are_ignored(void **state)
{
    (void)state;
    struct dmarc_record r = parse_ok("v=DMARC1; future=some words here; p=reject; x_1=; np=none");
    assert_int_equal(r.p, DMARC_POLICY_REJECT);
    assert_string_equal(r.notes, "");
}

/* Bytes outside the tag-list grammar: not DMARC in the first tag, invalid after it. */
static void garbage_is_refused(void **state)
{
    (void)state;
    parse_is("\x01\x02\xff garbage", DMARC_RECORD_NOT_DMARC, NULL);
    parse_is("v=DMARC1; p=reject; \x01=1", DMARC_RECORD_INVALID, "must start with a letter");
    parse_is("v=DMARC1; p=reject; x=\x80", DMARC_RECORD_INVALID, "byte 0x80");
    parse_is("v=DMARC1; p=reject; rua", DMARC_RECORD_INVALID, "has no '='");
    parse_is("v=DMARC1; p=reject; =x", DMARC_RECORD_INVALID, NULL);
    parse_is("v=DMARC1; p=reject; 9x=1", DMARC_RECORD_INVALID, NULL);
    /* A NUL is a byte like any other: the length decides, not the terminator. */
    struct dmarc_record r;
    assert_int_equal(dmarc_record_parse("v=DMARC1; p=reject\0; sp=none", 29, &r, NULL, 0),
                     DMARC_RECORD_INVALID);
    assert_int_equal(dmarc_record_parse("v=DMARC1; p=reject; sp=none", 18, &r, NULL, 0),
                     DMARC_RECORD_OK);
    assert_int_equal(r.sp, DMARC_POLICY_REJECT); /* sp=none was past len */
    assert_int_equal(dmarc_record_parse("v=DMARC1; p=reject; x=a\0b", 26, &r, NULL, 0),
                     DMARC_RECORD_INVALID);
}

/* A record of 10 KiB is refused whole; one of DMARC_RECORD_MAX bytes is read. */
static void huge_record_is_invalid(void **state)
{
    (void)state;
    size_t len = 10 * 1024;
    char *text = malloc(len + 1);
    memset(text, ' ', len);
    memcpy(text, "v=DMARC1; p=reject; x=", 22);
    memset(text + 22, 'a', len - 22);
    text[len] = '\0';
    parse_is(text, DMARC_RECORD_INVALID, "longer than 4096 bytes");
    text[DMARC_RECORD_MAX] = '\0';
    parse_is(text, DMARC_RECORD_OK, NULL);
    /* 64 tags are read (v=, p= and 62 more), 65 are too many. */
    char many[2048] = "v=DMARC1; p=none";
    for (int i = 1; i <= 62; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "; t%d=1", i);
    parse_is(many, DMARC_RECORD_OK, NULL);
    strcat(many, "; t63=1");
    parse_is(many, DMARC_RECORD_INVALID, "more than 64 tags");
    free(text);
}

/* RFC 7489 6.6.3 step 6: no valid p= (or an invalid sp=): p=none when rua= has a valid URI,
 * no DMARC processing (invalid) otherwise. */
static void missing_or_bad_policy_follows_the_rua_rule(void **state)
{
    (void)state;
    struct dmarc_record r = parse_ok("v=DMARC1; rua=mailto:r@example.org");
    assert_true(r.p_assumed);
    assert_int_equal(r.p, DMARC_POLICY_NONE);
    assert_non_null(strstr(r.notes, "no p= tag: p=none used"));
    r = parse_ok("v=DMARC1; p=block; rua=mailto:r@example.org");
    assert_true(r.p_assumed);
    r = parse_ok("v=DMARC1; p=reject; sp=maybe; rua=mailto:r@example.org");
    assert_true(r.p_assumed);
    assert_int_equal(r.p, DMARC_POLICY_NONE);
    assert_int_equal(r.sp, DMARC_POLICY_NONE);
    parse_is("v=DMARC1; p=block", DMARC_RECORD_INVALID, "p= is not none, quarantine or reject");
    parse_is("v=DMARC1; p=reject; sp=", DMARC_RECORD_INVALID, "sp= is not");
    parse_is("v=DMARC1; p=reject; sp=maybe; rua=nowhere", DMARC_RECORD_INVALID, "sp= is not");
    parse_is("v=DMARC1; sp=reject", DMARC_RECORD_INVALID, "no p= tag");
}

/* RFC 7489 6.3: other bad values take the default, which the notes say. */
static void bad_values_take_their_defaults(void **state)
{
    (void)state;
    static const struct {
        const char *text, *note;
        unsigned pct;
    } cases[] = {
        {"v=DMARC1; p=reject; pct=101", "pct=101 is not 0 to 100, 100 used", 100},
        {"v=DMARC1; p=reject; pct=200", "pct=200 is not 0 to 100", 100},
        {"v=DMARC1; p=reject; pct=-1", "pct=-1 is not 0 to 100", 100},
        {"v=DMARC1; p=reject; pct=1000", "pct=1000 is not 0 to 100", 100},
        {"v=DMARC1; p=reject; pct=", "pct= is not 0 to 100", 100},
        {"v=DMARC1; p=reject; pct=5 0", "pct=5 0 is not 0 to 100", 100},
        {"v=DMARC1; p=reject; pct=007", "", 7},
        {"v=DMARC1; p=reject; adkim=x", "adkim=x is not r or s, relaxed used", 100},
        {"v=DMARC1; p=reject; aspf=strict", "aspf=strict is not r or s", 100},
        {"v=DMARC1; p=reject; ri=soon", "ri=soon is not a number of seconds", 100},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct dmarc_record r = parse_ok(cases[i].text);
        if (r.pct != cases[i].pct || strstr(r.notes, cases[i].note) == NULL ||
            (cases[i].note[0] == '\0' && r.notes[0] != '\0'))
            fail_msg("\"%s\": pct %u notes \"%s\", want %u \"%s\"", cases[i].text, r.pct, r.notes,
                     cases[i].pct, cases[i].note);
        assert_int_equal(r.p, DMARC_POLICY_REJECT);
        assert_int_equal(r.adkim, ORGDOMAIN_RELAXED);
    }
    struct dmarc_record r = parse_ok("v=DMARC1; p=none; ri=99999999999999999999");
    assert_int_equal(r.ri, UINT32_MAX);
}

/* rua= with odd URIs: the valid ones are kept (at most 4), the others are noted and ignored. */
static void odd_report_uris(void **state)
{
    (void)state;
    struct dmarc_record r = parse_ok("v=DMARC1; p=none; rua=mailto:a@example.org!10m , "
                                     "https://r.example/x?a=1, nothing, mailto:b%2Cc@example.org, "
                                     ":x, mailto:, mailto:d@example.org!, mailto:e@x!5q");
    assert_int_equal(r.nrua, 3);
    assert_string_equal(r.rua[0], "mailto:a@example.org!10m");
    assert_string_equal(r.rua[1], "https://r.example/x?a=1");
    assert_string_equal(r.rua[2], "mailto:b%2Cc@example.org");
    assert_non_null(strstr(r.notes, "rua=nothing is not a URI, ignored"));
    assert_non_null(strstr(r.notes, "rua=:x is not a URI"));
    assert_non_null(strstr(r.notes, "rua=mailto: is not a URI"));

    r = parse_ok("v=DMARC1; p=none; rua=mailto:1@x.example,mailto:2@x.example,mailto:3@x.example,"
                 "mailto:4@x.example,mailto:5@x.example");
    assert_int_equal(r.nrua, 4);
    assert_non_null(strstr(r.notes, "mailto:5@x.example not kept"));

    /* An unencoded comma splits the URI: "c@example.org" alone is no URI. */
    r = parse_ok("v=DMARC1; p=none; rua=mailto:b,c@example.org");
    assert_int_equal(r.nrua, 1);
    assert_string_equal(r.rua[0], "mailto:b");
    /* A bad percent escape. */
    r = parse_ok("v=DMARC1; p=none; rua=mailto:a%zz@example.org");
    assert_int_equal(r.nrua, 0);
}

/* A quote or backslash in a value reaches the notes escaped: they go into log lines. */
static void notes_are_escaped(void **state)
{
    (void)state;
    struct dmarc_record r = parse_ok("v=DMARC1; p=none; pct=\"1\\");
    assert_non_null(strstr(r.notes, "pct=\\x221\\x5c is not 0 to 100"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc_example_records_parse),
        cmocka_unit_test(every_tag_is_read),
        cmocka_unit_test(white_space_order_and_empty_elements),
        cmocka_unit_test(upper_case_names_and_keywords_but_exact_version),
        cmocka_unit_test(version_must_come_first),
        cmocka_unit_test(duplicated_tags_make_the_record_invalid),
        cmocka_unit_test(unknown_tags_are_ignored),
        cmocka_unit_test(garbage_is_refused),
        cmocka_unit_test(huge_record_is_invalid),
        cmocka_unit_test(missing_or_bad_policy_follows_the_rua_rule),
        cmocka_unit_test(bad_values_take_their_defaults),
        cmocka_unit_test(odd_report_uris),
        cmocka_unit_test(notes_are_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
