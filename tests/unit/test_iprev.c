/*
 * test_iprev: the iprev check (RFC 8601 2.7.3) and its HELO policy, against the real NSD that
 * tests/dns/with-dns.sh starts with the zones of tests/dns/ (INGRESS_TEST_DNS=127.0.0.1:PORT).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "dns.h"
#include "iprev.h"

struct fixture {
    struct config *cfg;
    struct dns_resolver *resolver;
    struct dns_batch *batch;
    struct iprev iprev;
};

static struct dns_resolver *resolver_for(const char *server)
{
    char err[256];
    const char *servers[] = {server};
    struct dns_options opts = {
        .servers = servers,
        .server_count = 1,
        .timeout_ms = 500,
        .tries = 1,
        .cache_size = 100,
        .cache_max_ttl = 60,
    };
    struct dns_resolver *r = NULL;
    if (dns_resolver_new(&opts, &r, err, sizeof err) != 0)
        fail_msg("dns_resolver_new: %s", err);
    return r;
}

static int setup(void **state)
{
    const char *server = getenv("INGRESS_TEST_DNS");
    if (server == NULL)
        fail_msg("INGRESS_TEST_DNS is not set: run under tests/dns/with-dns.sh");
    struct fixture *f = calloc(1, sizeof *f);
    f->cfg = config_new_defaults();
    f->resolver = resolver_for(server);
    f->batch = dns_batch_new(f->resolver);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    dns_batch_free(f->batch);
    dns_resolver_free(f->resolver);
    config_free(f->cfg);
    free(f);
    return 0;
}

/* Runs the whole check for one client and HELO, as a connection would. */
static struct verdict check(struct fixture *f, const char *ip, const char *helo,
                            enum iprev_helo_mode mode)
{
    iprev_start(&f->iprev, f->batch, ip, mode);
    if (helo != NULL)
        iprev_helo(&f->iprev, helo);
    return iprev_verdict(&f->iprev, f->cfg);
}

static void confirmed_ptr_with_matching_helo_passes(void **state)
{
    struct fixture *f = *state;
    struct verdict v = check(f, "127.0.0.2", "good.example.test", IPREV_HELO_RESOLVE);
    assert_int_equal(f->iprev.result, IPREV_PASS);
    assert_true(f->iprev.helo_match);
    assert_string_equal(f->iprev.name, "good.example.test");
    assert_int_equal(v.action, VERDICT_CONTINUE);
}

static void helo_is_compared_case_insensitively(void **state)
{
    struct fixture *f = *state;
    struct verdict v = check(f, "127.0.0.2", "Good.Example.TEST.", IPREV_HELO_STRICT);
    assert_int_equal(v.action, VERDICT_CONTINUE);
}

static void ptr_that_does_not_resolve_back_fails_with_5_7_25(void **state)
{
    struct fixture *f = *state;
    struct verdict v = check(f, "127.0.0.3", "mismatch.example.test", IPREV_HELO_RESOLVE);
    assert_int_equal(f->iprev.result, IPREV_FAIL);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_IPREV_FAIL);
    assert_string_equal(reply_table[v.reply].code, "550");
    assert_string_equal(reply_table[v.reply].xcode, "5.7.25");
    assert_non_null(strstr(v.text, "[127.0.0.3]"));
    assert_non_null(strstr(v.detail, "mismatch.example.test"));
}

static void missing_ptr_fails(void **state)
{
    struct fixture *f = *state;
    struct verdict v = check(f, "127.0.0.4", "whatever.example.test", IPREV_HELO_RESOLVE);
    assert_int_equal(f->iprev.result, IPREV_FAIL);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_non_null(strstr(v.detail, "no PTR record for 4.0.0.127.in-addr.arpa"));
}

static void second_ptr_name_can_confirm(void **state)
{
    struct fixture *f = *state;
    struct verdict v = check(f, "127.0.0.5", "multi2.example.test", IPREV_HELO_STRICT);
    assert_int_equal(f->iprev.result, IPREV_PASS);
    assert_string_equal(f->iprev.name, "multi2.example.test");
    assert_int_equal(v.action, VERDICT_CONTINUE);
}

static void only_ten_ptr_names_are_tried(void **state)
{
    struct fixture *f = *state;
    /* Twelve PTR names; the only one that confirms is the twelfth. */
    struct verdict v = check(f, "127.0.0.8", "many12.example.test", IPREV_HELO_RESOLVE);
    assert_int_equal(f->iprev.result, IPREV_FAIL);
    assert_int_equal(v.action, VERDICT_REJECT);
}

static void ptr_name_confirmed_through_cname(void **state)
{
    struct fixture *f = *state;
    struct verdict v = check(f, "127.0.0.9", "alias.example.test", IPREV_HELO_STRICT);
    assert_int_equal(f->iprev.result, IPREV_PASS);
    assert_int_equal(v.action, VERDICT_CONTINUE);
}

static void helo_resolving_to_client_passes_in_resolve_mode(void **state)
{
    struct fixture *f = *state;
    struct verdict v = check(f, "127.0.0.6", "helo-other.example.test", IPREV_HELO_RESOLVE);
    assert_int_equal(f->iprev.result, IPREV_PASS);
    assert_true(f->iprev.helo_match);
    assert_int_equal(v.action, VERDICT_CONTINUE);
}

static void helo_resolving_to_client_fails_in_strict_mode(void **state)
{
    struct fixture *f = *state;
    struct verdict v = check(f, "127.0.0.6", "helo-other.example.test", IPREV_HELO_STRICT);
    assert_int_equal(f->iprev.result, IPREV_PASS);
    assert_false(f->iprev.helo_match);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_non_null(strstr(v.detail, "helo-other.example.test"));
}

static void helo_resolving_elsewhere_fails(void **state)
{
    struct fixture *f = *state;
    struct verdict v = check(f, "127.0.0.6", "wrong.example.test", IPREV_HELO_RESOLVE);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_IPREV_FAIL);
}

static void helo_mode_off_ignores_helo(void **state)
{
    struct fixture *f = *state;
    struct verdict v = check(f, "127.0.0.6", "wrong.example.test", IPREV_HELO_OFF);
    assert_int_equal(v.action, VERDICT_CONTINUE);
}

static void helo_address_literal_of_client_passes_in_resolve_mode(void **state)
{
    struct fixture *f = *state;
    struct verdict v = check(f, "127.0.0.6", "[127.0.0.6]", IPREV_HELO_RESOLVE);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    v = check(f, "127.0.0.6", "[127.0.0.7]", IPREV_HELO_RESOLVE);
    assert_int_equal(v.action, VERDICT_REJECT);
}

static void missing_helo_fails_unless_mode_off(void **state)
{
    struct fixture *f = *state;
    struct verdict v = check(f, "127.0.0.2", NULL, IPREV_HELO_RESOLVE);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_non_null(strstr(v.detail, "HELO was not given"));
}

static void overlong_helo_is_invalid_not_a_crash(void **state)
{
    struct fixture *f = *state;
    char helo[1001];
    memset(helo, 'a', sizeof helo - 1);
    helo[sizeof helo - 1] = '\0';
    struct verdict v = check(f, "127.0.0.2", helo, IPREV_HELO_RESOLVE);
    assert_true(f->iprev.helo_invalid);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_non_null(strstr(v.detail, "not a valid host name"));
}

static void helo_with_control_bytes_is_invalid(void **state)
{
    struct fixture *f = *state;
    struct verdict v = check(f, "127.0.0.2", "good.example.test\r\nX-Evil: 1", IPREV_HELO_RESOLVE);
    assert_true(f->iprev.helo_invalid);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_null(strchr(v.detail, '\r'));
    assert_null(strchr(v.detail, '\n'));
    assert_null(strchr(v.text, '\n'));
}

static void ipv6_confirmed_ptr_passes(void **state)
{
    struct fixture *f = *state;
    struct verdict v = check(f, "2001:db8::25", "v6.example.test", IPREV_HELO_STRICT);
    assert_int_equal(f->iprev.result, IPREV_PASS);
    assert_string_equal(f->iprev.name, "v6.example.test");
    assert_int_equal(v.action, VERDICT_CONTINUE);
}

static void ipv6_unconfirmed_ptr_fails(void **state)
{
    struct fixture *f = *state;
    struct verdict v = check(f, "2001:db8::26", "v6bad.example.test", IPREV_HELO_RESOLVE);
    assert_int_equal(f->iprev.result, IPREV_FAIL);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_non_null(strstr(v.text, "[2001:db8::26]"));
}

static void ipv4_mapped_client_is_checked_as_ipv4(void **state)
{
    struct fixture *f = *state;
    struct verdict v = check(f, "::ffff:127.0.0.2", "good.example.test", IPREV_HELO_STRICT);
    assert_int_equal(f->iprev.result, IPREV_PASS);
    assert_int_equal(v.action, VERDICT_CONTINUE);
}

static void unknown_client_address_is_permerror_and_refused(void **state)
{
    struct fixture *f = *state;
    struct verdict v = check(f, NULL, "good.example.test", IPREV_HELO_RESOLVE);
    assert_int_equal(f->iprev.result, IPREV_PERMERROR);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_non_null(strstr(v.text, "[unknown]"));
}

static void iprev_action_tempfail_defers_with_4_7_25(void **state)
{
    struct fixture *f = *state;
    assert_true(config_set(f->cfg, "iprev_action", "tempfail", NULL, 0));
    struct verdict v = check(f, "127.0.0.4", "x.example.test", IPREV_HELO_RESOLVE);
    assert_int_equal(v.action, VERDICT_TEMPFAIL);
    assert_int_equal(v.reply, REPLY_IPREV_DEFER);
    assert_string_equal(reply_table[v.reply].xcode, "4.7.25");
    assert_true(verdict_reply_consistent(&v));
}

static void iprev_action_log_continues_with_evidence(void **state)
{
    struct fixture *f = *state;
    assert_true(config_set(f->cfg, "iprev_action", "log", NULL, 0));
    struct verdict v = check(f, "127.0.0.4", "x.example.test", IPREV_HELO_RESOLVE);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_non_null(strstr(v.detail, "iprev=fail"));
}

/* A server that refuses (nothing listens on the port): could not tell, never pass or fail. */
static void unreachable_dns_is_temperror_with_4_7_25(void **state)
{
    struct fixture *f = *state;
    struct dns_resolver *down = resolver_for("127.0.0.1:1");
    struct dns_batch *batch = dns_batch_new(down);
    iprev_start(&f->iprev, batch, "127.0.0.2", IPREV_HELO_RESOLVE);
    iprev_helo(&f->iprev, "good.example.test");
    struct verdict v = iprev_verdict(&f->iprev, f->cfg);
    assert_int_equal(f->iprev.result, IPREV_TEMPERROR);
    assert_int_equal(v.action, VERDICT_TEMPFAIL);
    assert_int_equal(v.reply, REPLY_IPREV_TEMP);
    assert_string_equal(reply_table[v.reply].code, "451");

    assert_true(config_set(f->cfg, "dns_failure", "accept", NULL, 0));
    f->iprev.done = false;
    v = iprev_verdict(&f->iprev, f->cfg);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_non_null(strstr(v.detail, "temperror"));
    dns_batch_free(batch);
    dns_resolver_free(down);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(confirmed_ptr_with_matching_helo_passes),
        T(helo_is_compared_case_insensitively),
        T(ptr_that_does_not_resolve_back_fails_with_5_7_25),
        T(missing_ptr_fails),
        T(second_ptr_name_can_confirm),
        T(only_ten_ptr_names_are_tried),
        T(ptr_name_confirmed_through_cname),
        T(helo_resolving_to_client_passes_in_resolve_mode),
        T(helo_resolving_to_client_fails_in_strict_mode),
        T(helo_resolving_elsewhere_fails),
        T(helo_mode_off_ignores_helo),
        T(helo_address_literal_of_client_passes_in_resolve_mode),
        T(missing_helo_fails_unless_mode_off),
        T(overlong_helo_is_invalid_not_a_crash),
        T(helo_with_control_bytes_is_invalid),
        T(ipv6_confirmed_ptr_passes),
        T(ipv6_unconfirmed_ptr_fails),
        T(ipv4_mapped_client_is_checked_as_ipv4),
        T(unknown_client_address_is_permerror_and_refused),
        T(iprev_action_tempfail_defers_with_4_7_25),
        T(iprev_action_log_continues_with_evidence),
        T(unreachable_dns_is_temperror_with_4_7_25),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
