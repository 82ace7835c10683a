/*
 * test_verdict: lib/verdict.c, THE reply table and the verdict helpers (ARCHITECTURE.md
 * "Verdicts and replies").
 *
 * The table is walked row by row (ids, unique names and texts, SMTP and RFC 3463 / RFC 7372
 * codes, known placeholders); templates are rendered with hostile arguments; verdicts combine
 * with the one precedence; and the text a sender sees never carries a control byte and never
 * overruns its buffer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "verdict.h"

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static void assert_not_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) != NULL)
        fail_msg("\"%s\" contains \"%s\"", haystack, needle);
}

/* Fails when s holds a byte outside printable ASCII: a reply line must stay one line. */
static void assert_printable(const char *s)
{
    for (const char *p = s; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            fail_msg("byte 0x%02x at %zu in \"%s\"", (unsigned char)*p, (size_t)(p - s), s);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* 1 to 3 digits starting at *p, advancing *p past them. */
static bool digits_1_to_3(const char **p)
{
    int n = 0;
    while (is_digit(**p) && n < 4) {
        (*p)++;
        n++;
    }
    return n >= 1 && n <= 3;
}

/* RFC 3463 2: class "." subject "." detail, class one digit, subject and detail 1 to 3 digits. */
static bool enhanced_code_shaped(const char *xcode)
{
    const char *p = xcode;
    if (!is_digit(*p++) || *p++ != '.')
        return false;
    if (!digits_1_to_3(&p) || *p++ != '.')
        return false;
    return digits_1_to_3(&p) && *p == '\0';
}

/* ---- the reply table -------------------------------------------------------------------- */

static void reply_ids_match_their_indexes(void **state)
{
    (void)state;
    for (int i = 0; i < REPLY_COUNT; i++)
        if ((int)reply_table[i].id != i)
            fail_msg("reply_table[%d] has id %d (%s)", i, (int)reply_table[i].id,
                     reply_table[i].name ? reply_table[i].name : "(no name)");
}

static void reply_names_are_unique_and_lower_snake_case(void **state)
{
    (void)state;
    for (int i = 0; i < REPLY_COUNT; i++) {
        const char *name = reply_table[i].name;
        if (name == NULL || name[0] < 'a' || name[0] > 'z')
            fail_msg("reply %d has a bad name", i);
        for (const char *p = name; *p != '\0'; p++)
            if (!((*p >= 'a' && *p <= 'z') || is_digit(*p) || *p == '_'))
                fail_msg("reply name \"%s\" is not lower_snake_case", name);
        for (int j = i + 1; j < REPLY_COUNT; j++)
            if (reply_table[j].name != NULL && strcmp(name, reply_table[j].name) == 0)
                fail_msg("reply name \"%s\" appears twice (%d and %d)", name, i, j);
    }
}

static void reply_codes_are_three_digits_4xx_or_5xx(void **state)
{
    (void)state;
    for (int i = 0; i < REPLY_COUNT; i++) {
        const char *code = reply_table[i].code;
        if (code == NULL || strlen(code) != 3 || !is_digit(code[0]) || !is_digit(code[1]) ||
            !is_digit(code[2]))
            fail_msg("%s: code \"%s\" is not 3 digits", reply_table[i].name, code ? code : "");
        if (i == REPLY_NONE) {
            assert_string_equal(code, "250");
            continue;
        }
        if (code[0] != '4' && code[0] != '5')
            fail_msg("%s: code %s is neither 4xx nor 5xx", reply_table[i].name, code);
    }
}

static void enhanced_code_is_x_y_z_with_the_code_class(void **state)
{
    (void)state;
    for (int i = 0; i < REPLY_COUNT; i++) {
        const struct reply_entry *r = &reply_table[i];
        if (r->xcode == NULL || !enhanced_code_shaped(r->xcode))
            fail_msg("%s: enhanced code \"%s\" is not X.Y.Z", r->name, r->xcode ? r->xcode : "");
        if (r->xcode[0] != r->code[0])
            fail_msg("%s: %s with %s: the classes differ", r->name, r->code, r->xcode);
    }
}

static void iprev_and_spf_replies_use_rfc7372_codes(void **state)
{
    (void)state;
    /* RFC 7372 3.2: X.7.25 reverse DNS validation failed. */
    assert_string_equal(reply_table[REPLY_IPREV_FAIL].xcode, "5.7.25");
    assert_string_equal(reply_table[REPLY_IPREV_DEFER].xcode, "4.7.25");
    assert_string_equal(reply_table[REPLY_IPREV_TEMP].xcode, "4.7.25");
    /* RFC 7372 3.1: X.7.23 SPF validation failed, X.7.24 SPF validation error. */
    assert_string_equal(reply_table[REPLY_SPF_FAIL].xcode, "5.7.23");
    assert_string_equal(reply_table[REPLY_SPF_PERM].xcode, "5.7.24");
    assert_string_equal(reply_table[REPLY_SPF_TEMP].xcode, "4.7.24");
    /* RFC 3463 3.4: X.3.0 other or undefined mail system status. */
    assert_string_equal(reply_table[REPLY_DNS_FAILURE].xcode, "4.3.0");
    assert_string_equal(reply_table[REPLY_STORE_FAILURE].xcode, "4.3.0");
}

static void reply_texts_are_unique_printable_and_single_line(void **state)
{
    (void)state;
    for (int i = 0; i < REPLY_COUNT; i++) {
        const char *text = reply_table[i].text;
        if (text == NULL || text[0] == '\0')
            fail_msg("%s has no text", reply_table[i].name);
        assert_printable(text);
        for (int j = i + 1; j < REPLY_COUNT; j++)
            if (strcmp(text, reply_table[j].text) == 0)
                fail_msg("%s and %s have the same text", reply_table[i].name, reply_table[j].name);
    }
}

/* A typo in a placeholder would send "{dommain}" to the sender as an empty string. */
static void reply_templates_use_only_known_placeholders(void **state)
{
    (void)state;
    static const char *const known[] = {"ip", "domain", "seconds", "reason", "zone", "address"};
    for (int i = 0; i < REPLY_COUNT; i++) {
        for (const char *p = reply_table[i].text; (p = strchr(p, '{')) != NULL;) {
            const char *close = strchr(p, '}');
            if (close == NULL)
                fail_msg("%s: unclosed '{'", reply_table[i].name);
            size_t len = (size_t)(close - p - 1);
            bool found = false;
            for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
                found = found || (strlen(known[k]) == len && strncmp(known[k], p + 1, len) == 0);
            if (!found)
                fail_msg("%s: unknown placeholder {%.*s}", reply_table[i].name, (int)len, p + 1);
            p = close + 1;
        }
    }
}

static void reply_by_name_finds_every_reply(void **state)
{
    (void)state;
    for (int i = 0; i < REPLY_COUNT; i++) {
        const struct reply_entry *r = reply_by_name(reply_table[i].name);
        assert_non_null(r);
        assert_ptr_equal(r, &reply_table[i]);
    }
    assert_null(reply_by_name("no_such_reply"));
    assert_null(reply_by_name(""));
    assert_null(reply_by_name("IPREV_FAIL"));
}

/* Every reply other than none is sendable with exactly one of TEMPFAIL and REJECT. */
static void every_reply_fits_exactly_one_refusing_action(void **state)
{
    (void)state;
    for (int i = 1; i < REPLY_COUNT; i++) {
        struct verdict t = verdict_make(VERDICT_TEMPFAIL, (enum reply_id)i, "test", NULL, NULL);
        struct verdict r = verdict_make(VERDICT_REJECT, (enum reply_id)i, "test", NULL, NULL);
        if (verdict_reply_consistent(&t) == verdict_reply_consistent(&r))
            fail_msg("%s fits %s", reply_table[i].name,
                     verdict_reply_consistent(&t) ? "both actions" : "neither action");
    }
}

/* ---- verdict_make ------------------------------------------------------------------------- */

static void verdict_make_renders_every_placeholder(void **state)
{
    (void)state;
    struct verdict_args args = {.ip = "192.0.2.1",
                                .domain = "example.org",
                                .reason = "spam source",
                                .zone = "dnsbl.example",
                                .address = "a@example.org",
                                .seconds = 300};
    struct verdict v;

    v = verdict_make(VERDICT_REJECT, REPLY_SPF_FAIL, "spf", &args, "result=fail");
    assert_string_equal(v.text, "SPF: example.org does not allow [192.0.2.1] to send its mail");
    assert_string_equal(v.check, "spf");
    assert_string_equal(v.detail, "result=fail");
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_SPF_FAIL);

    v = verdict_make(VERDICT_TEMPFAIL, REPLY_GREYLISTED, "greylist", &args, NULL);
    assert_string_equal(v.text, "Greylisted, please retry in 300 seconds");
    assert_string_equal(v.detail, "");

    v = verdict_make(VERDICT_REJECT, REPLY_DNSBL, "dnsbl", &args, "%s=%d", "hits", 2);
    assert_string_equal(v.text, "Client [192.0.2.1] listed on dnsbl.example: spam source");
    assert_string_equal(v.detail, "hits=2");

    v = verdict_make(VERDICT_REJECT, REPLY_SENDER_MISMATCH, "sender", &args, NULL);
    assert_string_equal(v.text, "Sender address <a@example.org> not owned by the authenticated "
                                "account");
}

static void verdict_make_without_ip_says_unknown(void **state)
{
    (void)state;
    struct verdict_args args = {0};
    struct verdict v = verdict_make(VERDICT_REJECT, REPLY_IPREV_FAIL, "iprev", &args, NULL);
    assert_string_equal(v.text, "Client [unknown] has no valid reverse DNS (PTR) matching HELO");
}

static void verdict_make_escapes_control_bytes_and_quotes_in_arguments(void **state)
{
    (void)state;
    struct verdict_args args = {.ip = "1.2.3.4\r\nX", .reason = "say \"hi\"\\\x1b[31m\x80"};
    struct verdict v = verdict_make(VERDICT_REJECT, REPLY_DNSBL, "dnsbl", &args, NULL);
    assert_printable(v.text);
    assert_not_contains(v.text, "\"");
    assert_contains(v.text, "1.2.3.4\\x0d\\x0aX");
    assert_contains(v.text, "say \\x22hi\\x22\\x5c\\x1b[31m\\x80");
}

static void verdict_make_bounds_long_arguments(void **state)
{
    (void)state;
    char domain[4000];
    memset(domain, 'a', sizeof domain - 1);
    domain[sizeof domain - 1] = '\0';
    struct verdict_args args = {.domain = domain, .ip = domain};
    char check[100];
    memset(check, 'c', sizeof check - 1);
    check[sizeof check - 1] = '\0';

    struct verdict v = verdict_make(VERDICT_REJECT, REPLY_SPF_FAIL, check, &args, "%s", domain);
    assert_true(strlen(v.text) < sizeof v.text);
    assert_true(strlen(v.check) < sizeof v.check);
    assert_true(strlen(v.detail) < sizeof v.detail);
    assert_true(strncmp(v.text, "SPF: aaa", 8) == 0);
}

static void verdict_make_ignores_an_out_of_range_reply(void **state)
{
    (void)state;
    struct verdict v = verdict_make(VERDICT_REJECT, REPLY_COUNT, "x", NULL, NULL);
    assert_int_equal(v.reply, REPLY_NONE);
    v = verdict_make(VERDICT_REJECT, (enum reply_id) - 1, "x", NULL, NULL);
    assert_int_equal(v.reply, REPLY_NONE);
    assert_false(verdict_reply_consistent(&v)); /* and so is never sent as a rejection */
}

static void verdict_continue_is_empty(void **state)
{
    (void)state;
    struct verdict v = verdict_continue();
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_int_equal(v.reply, REPLY_NONE);
    assert_string_equal(v.check, "");
    assert_string_equal(v.text, "");
    assert_string_equal(v.detail, "");
    assert_true(verdict_reply_consistent(&v));
}

/* ---- verdict_combine ---------------------------------------------------------------------- */

static struct verdict tagged(enum verdict_action action, const char *tag)
{
    return verdict_make(action, REPLY_NONE, tag, NULL, "%s", tag);
}

static void combine_follows_accept_reject_tempfail_hold_discard_continue(void **state)
{
    (void)state;
    /* Strongest first. */
    static const enum verdict_action order[] = {VERDICT_ACCEPT, VERDICT_REJECT,  VERDICT_TEMPFAIL,
                                                VERDICT_HOLD,   VERDICT_DISCARD, VERDICT_CONTINUE};
    size_t n = sizeof order / sizeof order[0];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            struct verdict strong = tagged(order[i], "strong");
            struct verdict weak = tagged(order[j], "weak");
            struct verdict a = verdict_combine(&strong, &weak);
            struct verdict b = verdict_combine(&weak, &strong);
            if (a.action != order[i] || b.action != order[i] || strcmp(a.detail, "strong") != 0 ||
                strcmp(b.detail, "strong") != 0)
                fail_msg("%s does not win over %s", verdict_action_name(order[i]),
                         verdict_action_name(order[j]));
        }
    }
}

/* The first reason for a deferral is the one the sender and the log see. */
static void combine_keeps_the_first_on_a_tie(void **state)
{
    (void)state;
    static const enum verdict_action all[] = {VERDICT_CONTINUE, VERDICT_ACCEPT,  VERDICT_TEMPFAIL,
                                              VERDICT_REJECT,   VERDICT_DISCARD, VERDICT_HOLD};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        struct verdict first = tagged(all[i], "first");
        struct verdict second = tagged(all[i], "second");
        struct verdict c = verdict_combine(&first, &second);
        if (strcmp(c.detail, "first") != 0)
            fail_msg("a tie of %s keeps the second", verdict_action_name(all[i]));
    }
    struct verdict grey = verdict_make(VERDICT_TEMPFAIL, REPLY_GREYLISTED, "greylist", NULL, NULL);
    struct verdict dns = verdict_make(VERDICT_TEMPFAIL, REPLY_DNS_FAILURE, "spf", NULL, NULL);
    struct verdict c = verdict_combine(&grey, &dns);
    assert_int_equal(c.reply, REPLY_GREYLISTED);
    assert_string_equal(c.check, "greylist");
}

static void action_names_are_distinct(void **state)
{
    (void)state;
    static const enum verdict_action all[] = {VERDICT_CONTINUE, VERDICT_ACCEPT,  VERDICT_TEMPFAIL,
                                              VERDICT_REJECT,   VERDICT_DISCARD, VERDICT_HOLD};
    size_t n = sizeof all / sizeof all[0];
    for (size_t i = 0; i < n; i++) {
        assert_string_not_equal(verdict_action_name(all[i]), "unknown");
        for (size_t j = i + 1; j < n; j++)
            assert_string_not_equal(verdict_action_name(all[i]), verdict_action_name(all[j]));
    }
    assert_string_equal(verdict_action_name(VERDICT_REJECT), "reject");
    assert_string_equal(verdict_action_name(VERDICT_TEMPFAIL), "tempfail");
    assert_string_equal(verdict_action_name((enum verdict_action)99), "unknown");
}

/* ---- verdict_reply_consistent --------------------------------------------------------------- */

static void reply_consistent_pairs_4xx_with_tempfail_and_5xx_with_reject(void **state)
{
    (void)state;
    struct verdict v;
    v = verdict_make(VERDICT_REJECT, REPLY_SPF_FAIL, "spf", NULL, NULL);
    assert_true(verdict_reply_consistent(&v));
    v = verdict_make(VERDICT_TEMPFAIL, REPLY_SPF_FAIL, "spf", NULL, NULL);
    assert_false(verdict_reply_consistent(&v)); /* 5xx with TEMPFAIL */
    v = verdict_make(VERDICT_TEMPFAIL, REPLY_GREYLISTED, "greylist", NULL, NULL);
    assert_true(verdict_reply_consistent(&v));
    v = verdict_make(VERDICT_REJECT, REPLY_GREYLISTED, "greylist", NULL, NULL);
    assert_false(verdict_reply_consistent(&v)); /* 4xx with REJECT */
    v = verdict_make(VERDICT_REJECT, REPLY_NONE, "x", NULL, NULL);
    assert_false(verdict_reply_consistent(&v)); /* a rejection needs a 5xx reply */
    v = verdict_make(VERDICT_TEMPFAIL, REPLY_NONE, "x", NULL, NULL);
    assert_false(verdict_reply_consistent(&v));
    v = verdict_make(VERDICT_ACCEPT, REPLY_NONE, "allowlist", NULL, NULL);
    assert_true(verdict_reply_consistent(&v));
    v = verdict_make(VERDICT_ACCEPT, REPLY_SPF_FAIL, "x", NULL, NULL);
    assert_false(verdict_reply_consistent(&v)); /* no refusal text with an accept */
}

/* ---- verdict_reply_text --------------------------------------------------------------------- */

static void reply_text_appends_ref_and_help_with_check_and_ref(void **state)
{
    (void)state;
    struct verdict_args args = {.ip = "192.0.2.1", .domain = "example.org"};
    struct verdict v = verdict_make(VERDICT_REJECT, REPLY_SPF_FAIL, "spf", &args, NULL);
    char out[512];

    verdict_reply_text(&v, "4Y2x7", "see https://help.example/{check}?ref={ref}", out, sizeof out);
    assert_string_equal(out, "SPF: example.org does not allow [192.0.2.1] to send its mail "
                             "(ref 4Y2x7) see https://help.example/spf?ref=4Y2x7");

    verdict_reply_text(&v, NULL, "https://help.example/{check}", out, sizeof out);
    assert_string_equal(out, "SPF: example.org does not allow [192.0.2.1] to send its mail "
                             "https://help.example/spf");
    assert_not_contains(out, "(ref");

    verdict_reply_text(&v, "", NULL, out, sizeof out);
    assert_string_equal(out, "SPF: example.org does not allow [192.0.2.1] to send its mail");

    verdict_reply_text(&v, "R1", "", out, sizeof out);
    assert_string_equal(out, "SPF: example.org does not allow [192.0.2.1] to send its mail "
                             "(ref R1)");
}

static void reply_text_never_holds_control_bytes(void **state)
{
    (void)state;
    struct verdict_args args = {.ip = "1.2.3.4\r\n250 OK"};
    struct verdict v = verdict_make(VERDICT_REJECT, REPLY_IPREV_FAIL, "ipr\r\nev", &args, NULL);
    /* Whatever put it there, a hostile text or check field must not break the reply. */
    strcpy(v.text + strlen(v.text) - 4, "\r\n\t\x7f");
    char out[512];

    verdict_reply_text(&v, "ref\r\n\x01", "help\r\n550 {check}\x1b[0m {ref}\x80\xff", out,
                       sizeof out);
    assert_printable(out);
    assert_contains(out, "ipr??ev"); /* the check, cleaned */
    assert_contains(out, "(ref ref?\?\?)");
}

static void reply_text_is_bounded_by_outlen(void **state)
{
    (void)state;
    struct verdict_args args = {.ip = "192.0.2.1"};
    struct verdict v = verdict_make(VERDICT_REJECT, REPLY_IPREV_FAIL, "iprev", &args, NULL);
    char help[2000];
    memset(help, 'h', sizeof help - 1);
    help[sizeof help - 1] = '\0';
    memcpy(help + 100, "{check}{ref}", 12);

    for (size_t outlen = 1; outlen <= 600; outlen++) {
        char out[640];
        memset(out, '#', sizeof out);
        verdict_reply_text(&v, "REF", help, out, outlen);
        if (strlen(out) != outlen - 1)
            fail_msg("outlen %zu gave %zu bytes", outlen, strlen(out));
        for (size_t k = outlen; k < sizeof out; k++)
            if (out[k] != '#')
                fail_msg("outlen %zu: byte %zu written", outlen, k);
    }
}

/* A zero-sized buffer gets nothing, not even a terminator. */
static void reply_text_writes_nothing_into_an_empty_buffer(void **state)
{
    (void)state;
    struct verdict v = verdict_make(VERDICT_REJECT, REPLY_RULE_REJECT, "rule", NULL, NULL);
    char out[8];
    memset(out, '#', sizeof out);
    verdict_reply_text(&v, "REF", "help {check}", out, 0);
    for (size_t k = 0; k < sizeof out; k++)
        assert_int_equal(out[k], '#');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reply_ids_match_their_indexes),
        cmocka_unit_test(reply_names_are_unique_and_lower_snake_case),
        cmocka_unit_test(reply_codes_are_three_digits_4xx_or_5xx),
        cmocka_unit_test(enhanced_code_is_x_y_z_with_the_code_class),
        cmocka_unit_test(iprev_and_spf_replies_use_rfc7372_codes),
        cmocka_unit_test(reply_texts_are_unique_printable_and_single_line),
        cmocka_unit_test(reply_templates_use_only_known_placeholders),
        cmocka_unit_test(reply_by_name_finds_every_reply),
        cmocka_unit_test(every_reply_fits_exactly_one_refusing_action),
        cmocka_unit_test(verdict_make_renders_every_placeholder),
        cmocka_unit_test(verdict_make_without_ip_says_unknown),
        cmocka_unit_test(verdict_make_escapes_control_bytes_and_quotes_in_arguments),
        cmocka_unit_test(verdict_make_bounds_long_arguments),
        cmocka_unit_test(verdict_make_ignores_an_out_of_range_reply),
        cmocka_unit_test(verdict_continue_is_empty),
        cmocka_unit_test(combine_follows_accept_reject_tempfail_hold_discard_continue),
        cmocka_unit_test(combine_keeps_the_first_on_a_tie),
        cmocka_unit_test(action_names_are_distinct),
        cmocka_unit_test(reply_consistent_pairs_4xx_with_tempfail_and_5xx_with_reject),
        cmocka_unit_test(reply_text_appends_ref_and_help_with_check_and_ref),
        cmocka_unit_test(reply_text_never_holds_control_bytes),
        cmocka_unit_test(reply_text_is_bounded_by_outlen),
        cmocka_unit_test(reply_text_writes_nothing_into_an_empty_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
