/*
 * test_addr: lib/addr.c, RFC 5321 paths and RFC 5322 address lists, each test named after the
 * rule it proves.  Hostile inputs (NUL, bare CR/LF, 1,000-octet local parts, 100,000 commas)
 * must give an error value with a reason, never a crash; tests/fuzz/fuzz_addr.c covers the rest.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "util.h"

static enum addr_status path(const char *text, struct addr *a, bool *null_path, char *why)
{
    return addr_parse_path(text, strlen(text), a, null_path, why, 128);
}

/* Parses a header value; the list is left in *l for the caller to check and free. */
static enum addr_status list(const char *text, struct addr_list *l, char *why)
{
    return addr_parse_list(text, strlen(text), l, why, 128);
}

static void assert_addr(const struct addr *a, const char *local, const char *domain)
{
    assert_string_equal(a->local, local);
    assert_string_equal(a->domain, domain);
}

/* ---- RFC 5321 paths ---- */

static void test_path_plain_address_lowers_the_domain_only(void **state)
{
    struct addr a;
    bool null_path;
    char why[128];
    (void)state;
    assert_int_equal(path("<Alice@Example.ORG>", &a, &null_path, why), ADDR_OK);
    assert_false(null_path);
    assert_addr(&a, "Alice", "example.org");
}

static void test_path_null_sender_is_ok_and_flagged(void **state)
{
    struct addr a;
    bool null_path;
    char why[128];
    (void)state;
    assert_int_equal(path("<>", &a, &null_path, why), ADDR_OK);
    assert_true(null_path);
    assert_string_equal(a.local, "");
}

static void test_path_source_route_is_dropped(void **state)
{
    struct addr a;
    bool null_path;
    char why[128];
    (void)state;
    assert_int_equal(path("<@relay.example,@b.example:user@d.example>", &a, &null_path, why),
                     ADDR_OK);
    assert_addr(&a, "user", "d.example");
}

static void test_path_quoted_local_part_is_unquoted(void **state)
{
    struct addr a;
    bool null_path;
    char why[128];
    (void)state;
    assert_int_equal(path("<\"john doe\\\"x\"@example.org>", &a, &null_path, why), ADDR_OK);
    assert_addr(&a, "john doe\"x", "example.org");
    assert_int_equal(path("<\"john\"@example.org>", &a, &null_path, why), ADDR_OK);
    assert_addr(&a, "john", "example.org");
}

static void test_path_utf8_is_allowed_when_well_formed(void **state)
{
    struct addr a;
    bool null_path;
    char why[128];
    (void)state;
    assert_int_equal(path("<j\xc3\xb6rg@b\xc3\xbc"
                          "cher.example>",
                          &a, &null_path, why),
                     ADDR_OK);
    assert_addr(&a, "j\xc3\xb6rg",
                "b\xc3\xbc"
                "cher.example");
    assert_int_equal(path("<j\xc3rg@example.org>", &a, &null_path, why), ADDR_SYNTAX);
    assert_int_equal(path("<j\xc0\xafrg@example.org>", &a, &null_path, why), ADDR_SYNTAX);
}

static void test_path_address_literal_is_kept(void **state)
{
    struct addr a;
    bool null_path;
    char why[128];
    (void)state;
    assert_int_equal(path("<postmaster@[192.0.2.1]>", &a, &null_path, why), ADDR_OK);
    assert_addr(&a, "postmaster", "[192.0.2.1]");
}

static void test_path_without_brackets_is_tolerated(void **state)
{
    struct addr a;
    bool null_path;
    char why[128];
    (void)state;
    assert_int_equal(path("bob@example.org", &a, &null_path, why), ADDR_OK);
    assert_addr(&a, "bob", "example.org");
}

static void test_path_syntax_errors_have_a_reason(void **state)
{
    static const char *const bad[] = {
        "<bob@example.org",
        "<bob>",
        "<@example.org>",
        "<bob@>",
        "<a..b@example.org>",
        "<.a@example.org>",
        "<a.@example.org>",
        "<bob@-example.org>",
        "<bob@exa mple.org>",
        "<bob@example..org>",
        "<bob@example.org> x",
        "<\"bob@example.org>",
        "<",
        "<<>>",
        "<bob@example.org.>",
        "< bob@example.org>",
        "<@a.example:>",
        "\"\"@c", /* found by fuzz_addr: an empty quoted local part looked like the null path */
    };
    struct addr a;
    bool null_path;
    char why[128];
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        enum addr_status st = path(bad[i], &a, &null_path, why);
        if (st != ADDR_SYNTAX)
            fail_msg("%s: %s", bad[i], addr_status_name(st));
        assert_true(why[0] != '\0');
        assert_string_equal(a.local, "");
    }
}

static void test_path_local_part_over_64_octets_is_too_long(void **state)
{
    char text[1100], why[128];
    struct addr a;
    bool null_path;
    (void)state;
    text[0] = '<';
    memset(text + 1, 'a', 1000);
    snprintf(text + 1001, sizeof text - 1001, "@example.org>");
    assert_int_equal(path(text, &a, &null_path, why), ADDR_TOO_LONG);
    assert_non_null(strstr(why, "64"));
    /* 64 exactly is fine */
    memset(text + 1, 'a', 64);
    snprintf(text + 65, sizeof text - 65, "@example.org>");
    assert_int_equal(path(text, &a, &null_path, why), ADDR_OK);
    assert_int_equal(strlen(a.local), 64);
}

static void test_path_domain_over_255_octets_is_too_long(void **state)
{
    char text[400], why[128];
    struct addr a;
    bool null_path;
    size_t n = (size_t)snprintf(text, sizeof text, "<a@");
    (void)state;
    for (int i = 0; i < 7; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%s.",
                              "abcdefghijabcdefghijabcdefghijabcdefg");
    snprintf(text + n, sizeof text - n, "example>");
    assert_int_equal(path(text, &a, &null_path, why), ADDR_TOO_LONG);
}

static void test_path_nul_cr_lf_bytes_are_syntax_errors(void **state)
{
    static const char nul[] = "<bob\0@example.org>";
    struct addr a;
    bool null_path;
    char why[128];
    (void)state;
    assert_int_equal(addr_parse_path(nul, sizeof nul - 1, &a, &null_path, why, sizeof why),
                     ADDR_SYNTAX);
    assert_int_equal(path("<bob@example.org\r\n>", &a, &null_path, why), ADDR_SYNTAX);
    assert_int_equal(path("<bob\n@example.org>", &a, &null_path, why), ADDR_SYNTAX);
}

static void test_path_empty_input_is_empty(void **state)
{
    struct addr a;
    bool null_path;
    char why[128];
    (void)state;
    assert_int_equal(path("", &a, &null_path, why), ADDR_EMPTY);
    assert_int_equal(addr_parse_path(NULL, 0, &a, &null_path, NULL, 0), ADDR_EMPTY);
}

/* ---- RFC 5322 address lists ---- */

static void test_list_display_name_and_angle_address(void **state)
{
    struct addr_list l;
    char why[128];
    (void)state;
    assert_int_equal(list("\"Doe, John\" <John.Doe@Example.COM>", &l, why), ADDR_OK);
    assert_int_equal(l.count, 1);
    assert_addr(&l.items[0], "John.Doe", "example.com");
    addr_list_free(&l);
    assert_int_equal(list("=?UTF-8?B?SsO2cmc=?= <jorg@example.com>", &l, why), ADDR_OK);
    assert_addr(&l.items[0], "jorg", "example.com");
    addr_list_free(&l);
    assert_int_equal(list("John Q. Public <jqp@example.com>", &l, why), ADDR_OK);
    assert_addr(&l.items[0], "jqp", "example.com");
    addr_list_free(&l);
}

static void test_list_quoted_local_parts(void **state)
{
    struct addr_list l;
    char why[128];
    (void)state;
    assert_int_equal(list("\"a b\\\"c\"@example.com, <\"x@y\"@example.com>", &l, why), ADDR_OK);
    assert_int_equal(l.count, 2);
    assert_addr(&l.items[0], "a b\"c", "example.com");
    assert_addr(&l.items[1], "x@y", "example.com");
    addr_list_free(&l);
}

static void test_list_comments_nested_are_dropped(void **state)
{
    struct addr_list l;
    char why[128];
    (void)state;
    assert_int_equal(
        list("(one (two (three)) \\) ) bob(x)@(y)example.org (Bob \\( Smith)", &l, why), ADDR_OK);
    assert_int_equal(l.count, 1);
    assert_addr(&l.items[0], "bob", "example.org");
    addr_list_free(&l);
    assert_int_equal(list("bob@example.org (unterminated", &l, why), ADDR_SYNTAX);
    assert_int_equal(l.count, 0);
    assert_null(l.items);
}

static void test_list_comments_nested_too_deep_are_refused(void **state)
{
    char text[200], why[128];
    struct addr_list l;
    (void)state;
    memset(text, '(', 100);
    memset(text + 100, ')', 99);
    text[199] = '\0';
    assert_int_equal(list(text, &l, why), ADDR_SYNTAX);
}

static void test_list_groups_give_their_members(void **state)
{
    struct addr_list l;
    char why[128];
    (void)state;
    assert_int_equal(list("undisclosed-recipients:;", &l, why), ADDR_OK);
    assert_int_equal(l.count, 0);
    addr_list_free(&l);
    assert_int_equal(list("team: a@x.example, Bee <b@y.example>;, c@z.example", &l, why), ADDR_OK);
    assert_int_equal(l.count, 3);
    assert_addr(&l.items[0], "a", "x.example");
    assert_addr(&l.items[1], "b", "y.example");
    assert_addr(&l.items[2], "c", "z.example");
    addr_list_free(&l);
    assert_int_equal(list("team: a@x.example", &l, why), ADDR_SYNTAX);
    assert_int_equal(list("a: b: c@d.example;;", &l, why), ADDR_SYNTAX);
}

static void test_list_several_from_addresses(void **state)
{
    struct addr_list l;
    char why[128];
    (void)state;
    assert_int_equal(list("Alice <alice@example.org>, bob@Example.net,\r\n\tCarol "
                          "<carol@example.com>",
                          &l, why),
                     ADDR_OK);
    assert_int_equal(l.count, 3);
    assert_addr(&l.items[0], "alice", "example.org");
    assert_addr(&l.items[1], "bob", "example.net");
    assert_addr(&l.items[2], "carol", "example.com");
    addr_list_free(&l);
}

static void test_list_obsolete_route_and_empty_elements(void **state)
{
    struct addr_list l;
    char why[128];
    (void)state;
    assert_int_equal(list(", ,<@relay.example:a@b.example>,,", &l, why), ADDR_OK);
    assert_int_equal(l.count, 1);
    assert_addr(&l.items[0], "a", "b.example");
    addr_list_free(&l);
}

static void test_list_utf8_addresses(void **state)
{
    struct addr_list l;
    char why[128];
    (void)state;
    assert_int_equal(list("J\xc3\xb6rg <j\xc3\xb6rg@m\xc3\xbcller.example>", &l, why), ADDR_OK);
    assert_addr(&l.items[0], "j\xc3\xb6rg", "m\xc3\xbcller.example");
    addr_list_free(&l);
    assert_int_equal(list("j\xff@example.org", &l, why), ADDR_SYNTAX);
    assert_int_equal(list("\xed\xa0\x80@example.org", &l, why), ADDR_SYNTAX); /* surrogate */
}

static void test_list_1000_octet_local_part_is_too_long(void **state)
{
    char text[1100], why[128];
    struct addr_list l;
    (void)state;
    memset(text, 'x', 1000);
    snprintf(text + 1000, sizeof text - 1000, "@example.org");
    assert_int_equal(list(text, &l, why), ADDR_TOO_LONG);
    assert_int_equal(l.count, 0);
    assert_null(l.items);
}

static void test_list_nul_cr_lf_bytes(void **state)
{
    static const char nul[] = "a@example.org\0, b@example.org";
    struct addr_list l;
    char why[128];
    (void)state;
    assert_int_equal(addr_parse_list(nul, sizeof nul - 1, &l, why, sizeof why), ADDR_SYNTAX);
    assert_non_null(strstr(why, "NUL"));
    assert_int_equal(list("a@example.org\r, b@example.org", &l, why), ADDR_SYNTAX);
    assert_int_equal(list("a@example.org\n", &l, why), ADDR_SYNTAX);
    assert_int_equal(list("a@example.org\r\nb@example.org", &l, why), ADDR_SYNTAX);
    /* folding is white space */
    assert_int_equal(list("a@example.org,\n b@example.org", &l, why), ADDR_OK);
    assert_int_equal(l.count, 2);
    addr_list_free(&l);
}

static void test_list_100000_commas_are_bounded(void **state)
{
    size_t n = 100000;
    char *text = xmalloc(n + 1);
    struct addr_list l;
    char why[128];
    (void)state;
    memset(text, ',', n);
    text[n] = '\0';
    assert_int_equal(list(text, &l, why), ADDR_TOO_LONG);
    /* below the input bound, only commas: no address */
    text[ADDR_INPUT_MAX] = '\0';
    assert_int_equal(list(text, &l, why), ADDR_EMPTY);
    free(text);
}

static void test_list_more_than_100_addresses_is_too_many(void **state)
{
    char *text = xmalloc(101 * 16 + 1);
    size_t used = 0;
    struct addr_list l;
    char why[128];
    (void)state;
    for (int i = 0; i < 100; i++)
        used += (size_t)sprintf(text + used, "u%d@x.example,", i);
    text[used - 1] = '\0';
    assert_int_equal(list(text, &l, why), ADDR_OK);
    assert_int_equal(l.count, 100);
    addr_list_free(&l);
    sprintf(text + used - 1, ",last@x.example");
    assert_int_equal(list(text, &l, why), ADDR_TOO_MANY);
    assert_int_equal(l.count, 0);
    free(text);
}

static void test_list_empty_input_is_empty(void **state)
{
    struct addr_list l;
    char why[128];
    (void)state;
    assert_int_equal(list("", &l, why), ADDR_EMPTY);
    assert_int_equal(list("  (just a comment) ", &l, why), ADDR_EMPTY);
    assert_int_equal(list("Just A Name", &l, why), ADDR_SYNTAX);
    assert_int_equal(list("<>", &l, why), ADDR_SYNTAX);
    addr_list_free(NULL);
}

/* The From domain: only of exactly one mailbox; the status says why there is none. */
static void test_from_domain_needs_exactly_one_mailbox(void **state)
{
    char domain[ADDR_DOMAIN_MAX + 1], why[128];
    (void)state;
    static const struct {
        const char *from;
        enum addr_status status;
        const char *domain_or_why;
    } cases[] = {
        {"Alice <alice@Example.ORG> (c@other.example)", ADDR_OK, "example.org"},
        {"Team: alice@example.org;", ADDR_OK, "example.org"},
        {"a@[192.0.2.1]", ADDR_OK, "[192.0.2.1]"},
        {"undisclosed-recipients:;", ADDR_EMPTY, "no address"},
        {"a@example.org, b@example.org", ADDR_TOO_MANY, "2 addresses, not one"},
        {"Team: a@example.org, b@example.net;", ADDR_TOO_MANY, "2 addresses, not one"},
        {"alice", ADDR_SYNTAX, "expected"},
        {"", ADDR_EMPTY, "no address"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum addr_status st = addr_from_domain(cases[i].from, strlen(cases[i].from), domain,
                                               sizeof domain, why, sizeof why);
        const char *seen = st == ADDR_OK ? domain : why;
        if (st != cases[i].status || strstr(seen, cases[i].domain_or_why) == NULL)
            fail_msg("From: %s: %s \"%s\", want %s \"%s\"", cases[i].from, addr_status_name(st),
                     seen, addr_status_name(cases[i].status), cases[i].domain_or_why);
        if (st != ADDR_OK)
            assert_string_equal(domain, "");
    }
    /* A buffer too small for the domain gives no truncated domain. */
    assert_int_equal(addr_from_domain("a@example.org", 13, domain, 8, NULL, 0), ADDR_TOO_LONG);
    assert_string_equal(domain, "");
}

static void test_format_and_status_names(void **state)
{
    struct addr a = {"bob", "example.org"}, null = {"", ""};
    char buf[ADDR_TEXT_MAX];
    (void)state;
    assert_string_equal(addr_format(&a, buf, sizeof buf), "bob@example.org");
    assert_string_equal(addr_format(&null, buf, sizeof buf), "");
    assert_string_equal(addr_status_name(ADDR_TOO_MANY), "too_many");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_plain_address_lowers_the_domain_only),
        cmocka_unit_test(test_path_null_sender_is_ok_and_flagged),
        cmocka_unit_test(test_path_source_route_is_dropped),
        cmocka_unit_test(test_path_quoted_local_part_is_unquoted),
        cmocka_unit_test(test_path_utf8_is_allowed_when_well_formed),
        cmocka_unit_test(test_path_address_literal_is_kept),
        cmocka_unit_test(test_path_without_brackets_is_tolerated),
        cmocka_unit_test(test_path_syntax_errors_have_a_reason),
        cmocka_unit_test(test_path_local_part_over_64_octets_is_too_long),
        cmocka_unit_test(test_path_domain_over_255_octets_is_too_long),
        cmocka_unit_test(test_path_nul_cr_lf_bytes_are_syntax_errors),
        cmocka_unit_test(test_path_empty_input_is_empty),
        cmocka_unit_test(test_list_display_name_and_angle_address),
        cmocka_unit_test(test_list_quoted_local_parts),
        cmocka_unit_test(test_list_comments_nested_are_dropped),
        cmocka_unit_test(test_list_comments_nested_too_deep_are_refused),
        cmocka_unit_test(test_list_groups_give_their_members),
        cmocka_unit_test(test_list_several_from_addresses),
        cmocka_unit_test(test_list_obsolete_route_and_empty_elements),
        cmocka_unit_test(test_list_utf8_addresses),
        cmocka_unit_test(test_list_1000_octet_local_part_is_too_long),
        cmocka_unit_test(test_list_nul_cr_lf_bytes),
        cmocka_unit_test(test_list_100000_commas_are_bounded),
        cmocka_unit_test(test_list_more_than_100_addresses_is_too_many),
        cmocka_unit_test(test_list_empty_input_is_empty),
        cmocka_unit_test(test_from_domain_needs_exactly_one_mailbox),
        cmocka_unit_test(test_format_and_status_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
