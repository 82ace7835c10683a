/*
 * test_spf: SPF (RFC 7208) through libspf2 on our resolver, against the real NSD that
 * tests/dns/with-dns.sh starts with the zones of tests/dns/ (scenarios in spf.test.zone).
 * The temperror test points a checker at 127.0.0.1:1, where nothing listens.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "dns.h"
#include "spf.h"

struct fixture {
    struct config *cfg;
    struct dns_resolver *resolver;
    struct spf_checker *checker;
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
        .cache_size = 1000,
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
    f->resolver = resolver_for(server, 1000);
    f->checker = spf_checker_new(f->resolver, "mx.receiver.test");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    spf_checker_free(f->checker);
    dns_resolver_free(f->resolver);
    config_free(f->cfg);
    free(f);
    return 0;
}

/* The MAIL FROM identity of sender from ip (HELO mail.client.test). */
static enum spf_result from(struct fixture *f, const char *ip, const char *sender,
                            struct spf_outcome *o)
{
    return spf_check(f->checker, NULL, ip, "mail.client.test", sender, SPF_IDENTITY_MAILFROM, o);
}

static void matching_ip4_passes(void **state)
{
    struct spf_outcome o;
    assert_int_equal(from(*state, "192.0.2.10", "alice@pass.spf.test", &o), SPF_PASS);
    assert_true(o.checked);
    assert_string_equal(o.domain, "pass.spf.test");
    assert_string_equal(o.explanation, "");
    assert_string_equal(spf_result_name(o.result), "pass");
}

static void other_ip_fails_with_the_domains_explanation_expanded(void **state)
{
    struct spf_outcome o;
    assert_int_equal(from(*state, "192.0.2.11", "bob@fail.spf.test", &o), SPF_FAIL);
    assert_string_equal(o.explanation, "192.0.2.11 is not one of fail.spf.test's designated mail "
                                       "servers (sender bob@fail.spf.test)");
}

static void fail_without_exp_has_no_explanation(void **state)
{
    struct spf_outcome o;
    assert_int_equal(from(*state, "192.0.2.11", "bob@pass.spf.test", &o), SPF_FAIL);
    assert_string_equal(o.explanation, "");
}

static void explanation_quotes_and_backslashes_are_escaped(void **state)
{
    struct spf_outcome o;
    assert_int_equal(from(*state, "192.0.2.11", "bob@nasty-exp.spf.test", &o), SPF_FAIL);
    assert_string_equal(o.explanation, "say \\x22quoted\\x22 \\x5c back 192.0.2.11");
}

static void explanation_with_control_bytes_is_dropped(void **state)
{
    struct spf_outcome o;
    /* RFC 7208 6.2 and 7.1: not an explanation-string, so no explanation at all. */
    assert_int_equal(from(*state, "192.0.2.11", "bob@ctrl-exp.spf.test", &o), SPF_FAIL);
    assert_string_equal(o.explanation, "");
}

static void softfail_neutral_and_bare_record(void **state)
{
    struct spf_outcome o;
    assert_int_equal(from(*state, "192.0.2.11", "a@softfail.spf.test", &o), SPF_SOFTFAIL);
    assert_int_equal(from(*state, "192.0.2.11", "a@neutral.spf.test", &o), SPF_NEUTRAL);
    /* "v=spf1" alone is a record (RFC 7208 4.5) with no mechanism: neutral (4.7). */
    assert_int_equal(from(*state, "192.0.2.11", "a@bare.spf.test", &o), SPF_NEUTRAL);
}

static void no_record_gives_none(void **state)
{
    struct spf_outcome o;
    /* TXT records that only look like SPF ("v=spf10", "spf1") are not SPF records. */
    assert_int_equal(from(*state, "192.0.2.11", "a@none.spf.test", &o), SPF_NONE);
    assert_int_equal(from(*state, "192.0.2.11", "a@no-such-name.spf.test", &o), SPF_NONE);
    assert_string_equal(o.domain, "no-such-name.spf.test");
}

static void include_and_redirect(void **state)
{
    struct spf_outcome o;
    assert_int_equal(from(*state, "192.0.2.10", "a@include.spf.test", &o), SPF_PASS);
    assert_int_equal(from(*state, "192.0.2.11", "a@include.spf.test", &o), SPF_FAIL);
    assert_int_equal(from(*state, "192.0.2.10", "a@redirect.spf.test", &o), SPF_PASS);
    assert_int_equal(from(*state, "192.0.2.11", "a@redirect.spf.test", &o), SPF_FAIL);
    /* RFC 7208 5.2: an include of a domain without a record is a permerror. */
    assert_int_equal(from(*state, "192.0.2.10", "a@include-none.spf.test", &o), SPF_PERMERROR);
}

static void record_that_does_not_compile_is_permerror(void **state)
{
    struct spf_outcome o;
    assert_int_equal(from(*state, "192.0.2.10", "a@broken.spf.test", &o), SPF_PERMERROR);
    assert_non_null(strstr(o.detail, "broken.spf.test"));
    assert_int_equal(from(*state, "192.0.2.10", "a@unknown-mech.spf.test", &o), SPF_PERMERROR);
}

static void syntax_the_rfc_forbids_is_permerror(void **state)
{
    struct spf_outcome o;
    const char *domains[] = {"a@bad-macro.spf.test", "a@bad-toplabel.spf.test",
                             "a@exp-macro-r.spf.test", "a@cidr-zero-lead.spf.test",
                             "a@nul-byte.spf.test"};
    for (size_t i = 0; i < sizeof domains / sizeof domains[0]; i++)
        assert_int_equal(from(*state, "192.0.2.10", domains[i], &o), SPF_PERMERROR);
}

static void redirect_applies_only_after_the_mechanisms(void **state)
{
    struct spf_outcome o;
    /* RFC 7208 6.1: ignored when "all" is present, evaluated last wherever it is written. */
    assert_int_equal(from(*state, "192.0.2.11", "a@redirect-all.spf.test", &o), SPF_NEUTRAL);
    assert_int_equal(from(*state, "192.0.2.50", "a@redirect-first.spf.test", &o), SPF_PASS);
    assert_int_equal(o.dns_terms, 0);
    assert_int_equal(from(*state, "192.0.2.11", "a@redirect-first.spf.test", &o), SPF_FAIL);
}

static void unknown_modifier_is_ignored(void **state)
{
    struct spf_outcome o;
    assert_int_equal(from(*state, "192.0.2.10", "a@unknown-mod.spf.test", &o), SPF_PASS);
}

static void zero_prefix_matches_every_address(void **state)
{
    struct spf_outcome o;
    assert_int_equal(from(*state, "192.0.2.77", "a@zero-ip4.spf.test", &o), SPF_PASS);
    assert_int_equal(from(*state, "192.0.2.77", "a@zero-a.spf.test", &o), SPF_PASS);
    assert_int_equal(o.dns_terms, 1);
}

static void two_records_or_repeated_redirect_is_permerror(void **state)
{
    struct spf_outcome o;
    assert_int_equal(from(*state, "192.0.2.10", "a@two-records.spf.test", &o), SPF_PERMERROR);
    assert_non_null(strstr(o.detail, "2 SPF records"));
    assert_int_equal(from(*state, "192.0.2.10", "a@dup-redirect.spf.test", &o), SPF_PERMERROR);
}

static void include_loop_is_permerror(void **state)
{
    struct spf_outcome o;
    assert_int_equal(from(*state, "192.0.2.10", "a@loop.spf.test", &o), SPF_PERMERROR);
}

static void ten_dns_terms_are_allowed(void **state)
{
    struct spf_outcome o;
    assert_int_equal(from(*state, "192.0.2.10", "a@ten.spf.test", &o), SPF_FAIL);
    assert_int_equal(o.dns_terms, 10);
}

/* A clock that moves step_ms at each reading. */
struct stepping_clock {
    int64_t now_ms, step_ms;
};

static int64_t stepping_now(void *arg)
{
    struct stepping_clock *k = arg;
    int64_t t = k->now_ms;
    k->now_ms += k->step_ms;
    return t;
}

/*
 * RFC 7208 4.6.4: past its time limit (20 s) an evaluation sends no more queries and is temperror.
 * ten.spf.test takes 11 queries (its record, then 10 a: terms) and the clock is read at the start
 * and before each query: moving 2 s a reading, the 10th query (a:h9) would start at the limit and
 * is not sent; moving 1 s, the last starts at 11 s and the evaluation ends as usual.
 */
static void evaluation_over_its_time_limit_is_temperror(void **state)
{
    struct fixture *f = *state;
    struct spf_outcome o;
    struct stepping_clock slow = {.now_ms = 0, .step_ms = 2000};
    spf_checker_set_clock(f->checker, stepping_now, &slow);
    assert_int_equal(from(f, "192.0.2.10", "a@ten.spf.test", &o), SPF_TEMPERROR);
    assert_non_null(strstr(o.detail, "over the time limit of 20 s (at A h9.spf.test)"));
    assert_int_equal(slow.now_ms, 11 * 2000); /* read at the start and before 10 queries */

    struct stepping_clock fast = {.now_ms = 0, .step_ms = 1000};
    spf_checker_set_clock(f->checker, stepping_now, &fast);
    assert_int_equal(from(f, "192.0.2.10", "a@ten.spf.test", &o), SPF_FAIL);
    assert_int_equal(o.dns_terms, 10);
}

static void eleventh_dns_term_is_permerror(void **state)
{
    struct spf_outcome o;
    assert_int_equal(from(*state, "192.0.2.10", "a@eleven.spf.test", &o), SPF_PERMERROR);
    assert_non_null(strstr(o.detail, "more than 10 DNS-querying terms"));
}

static void terms_inside_includes_count_toward_the_limit(void **state)
{
    struct spf_outcome o;
    /* 2 includes + 5 + 5 "a" terms = 12: libspf2 alone counts each include apart. */
    assert_int_equal(from(*state, "192.0.2.10", "a@split.spf.test", &o), SPF_PERMERROR);
    assert_non_null(strstr(o.detail, "more than 10"));
}

static void two_void_lookups_are_allowed_three_are_permerror(void **state)
{
    struct spf_outcome o;
    assert_int_equal(from(*state, "192.0.2.10", "a@void2.spf.test", &o), SPF_FAIL);
    assert_int_equal(o.void_lookups, 2);
    assert_int_equal(from(*state, "192.0.2.10", "a@void3.spf.test", &o), SPF_PERMERROR);
    assert_non_null(strstr(o.detail, "more than 2 void lookups"));
}

static void mx_and_a_mechanisms(void **state)
{
    struct spf_outcome o;
    assert_int_equal(from(*state, "192.0.2.20", "a@mx.spf.test", &o), SPF_PASS);
    /* mx is one term, whatever the number of MX hosts whose addresses it asks */
    assert_int_equal(o.dns_terms, 1);
    assert_int_equal(from(*state, "2001:db8::20", "a@mx.spf.test", &o), SPF_PASS);
    assert_int_equal(from(*state, "192.0.2.22", "a@mx.spf.test", &o), SPF_FAIL);
    assert_int_equal(from(*state, "192.0.2.21", "a@a.spf.test", &o), SPF_PASS);
    assert_int_equal(from(*state, "198.51.100.5", "a@a.spf.test", &o), SPF_PASS); /* a:/24 */
    assert_int_equal(from(*state, "198.51.101.5", "a@a.spf.test", &o), SPF_FAIL);
}

static void ip6_mechanism(void **state)
{
    struct spf_outcome o;
    assert_int_equal(from(*state, "2001:db8::5", "a@ip6.spf.test", &o), SPF_PASS);
    assert_int_equal(from(*state, "2001:db8:1::5", "a@ip6.spf.test", &o), SPF_FAIL);
    /* An IPv6 client is not matched by ip4 terms. */
    assert_int_equal(from(*state, "2001:db8::5", "a@pass.spf.test", &o), SPF_FAIL);
}

static void ipv4_mapped_client_is_evaluated_as_ipv4(void **state)
{
    struct spf_outcome o;
    assert_int_equal(from(*state, "::ffff:192.0.2.10", "a@pass.spf.test", &o), SPF_PASS);
}

static void macros_i_ir_l_and_d_expand(void **state)
{
    struct spf_outcome o;
    assert_int_equal(from(*state, "192.0.2.10", "a@macro-i.spf.test", &o), SPF_PASS);
    assert_int_equal(from(*state, "192.0.2.11", "a@macro-i.spf.test", &o), SPF_FAIL);
    assert_int_equal(from(*state, "192.0.2.10", "a@macro-ir.spf.test", &o), SPF_PASS);
    assert_int_equal(from(*state, "192.0.2.10", "alice@macro-l.spf.test", &o), SPF_PASS);
    assert_int_equal(from(*state, "192.0.2.10", "bob@macro-l.spf.test", &o), SPF_FAIL);
    assert_int_equal(from(*state, "192.0.2.10", "a@macro-d.spf.test", &o), SPF_PASS);
}

static void null_sender_is_checked_as_postmaster_at_helo(void **state)
{
    struct fixture *f = *state;
    struct spf_outcome o;
    const char *nulls[] = {"", "<>", NULL};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(spf_check(f->checker, NULL, "192.0.2.30", "helo.spf.test", nulls[i],
                                   SPF_IDENTITY_MAILFROM, &o),
                         SPF_PASS);
        assert_string_equal(o.domain, "helo.spf.test");
        assert_non_null(strstr(o.detail, "postmaster@helo.spf.test"));
    }
    assert_int_equal(
        spf_check(f->checker, NULL, "192.0.2.31", "helo.spf.test", "<>", SPF_IDENTITY_MAILFROM, &o),
        SPF_FAIL);
}

static void helo_identity_is_its_own_check(void **state)
{
    struct fixture *f = *state;
    struct spf_outcome o;
    /* The MAIL FROM passes, the HELO identity of the same connection fails. */
    assert_int_equal(spf_check(f->checker, NULL, "192.0.2.10", "helo.spf.test", "a@pass.spf.test",
                               SPF_IDENTITY_MAILFROM, &o),
                     SPF_PASS);
    assert_int_equal(spf_check(f->checker, NULL, "192.0.2.10", "helo.spf.test", "a@pass.spf.test",
                               SPF_IDENTITY_HELO, &o),
                     SPF_FAIL);
    assert_int_equal(o.identity, SPF_IDENTITY_HELO);
    assert_string_equal(o.domain, "helo.spf.test");
    assert_int_equal(
        spf_check(f->checker, NULL, "192.0.2.30", "HELO.spf.test.", NULL, SPF_IDENTITY_HELO, &o),
        SPF_PASS);
}

static void helo_that_is_no_domain_gives_none(void **state)
{
    struct fixture *f = *state;
    struct spf_outcome o;
    const char *helos[] = {"[192.0.2.30]",         "localhost",    "", NULL,
                           "bad\r\nname.spf.test", "a..b.spf.test"};
    for (size_t i = 0; i < sizeof helos / sizeof helos[0]; i++) {
        assert_int_equal(
            spf_check(f->checker, NULL, "192.0.2.30", helos[i], NULL, SPF_IDENTITY_HELO, &o),
            SPF_NONE);
        assert_null(strchr(o.detail, '\r'));
    }
}

static void hostile_senders_give_defined_results(void **state)
{
    struct fixture *f = *state;
    struct spf_outcome o;
    char big[1100];
    memset(big, 'x', 1000);
    snprintf(big + 1000, sizeof big - 1000, "@pass.spf.test");
    assert_int_equal(from(f, "192.0.2.10", big, &o), SPF_PASS);
    /* The local part reaches DNS through %{l}: a 1,000-character label is no name. */
    memcpy(big + 1000, "@macro-l.spf.test", 18);
    assert_int_equal(from(f, "192.0.2.10", big, &o), SPF_FAIL);

    char huge[SPF_SENDER_MAX + 100];
    memset(huge, 'y', sizeof huge - 20);
    snprintf(huge + sizeof huge - 20, 20, "@pass.spf.test");
    assert_int_equal(from(f, "192.0.2.10", huge, &o), SPF_NONE);
    assert_non_null(strstr(o.detail, "too long"));

    assert_int_equal(from(f, "192.0.2.10", "\"a b\\\"c\"@pass.spf.test", &o), SPF_PASS);
    assert_int_equal(from(f, "192.0.2.10", "(comment)a@pass.spf.test", &o), SPF_PASS);
    assert_int_equal(from(f, "192.0.2.10", "j\xc3\xb6rg@pass.spf.test", &o), SPF_PASS);
    assert_null(strstr(o.detail, "\xc3"));
    assert_int_equal(from(f, "192.0.2.10", "j\xc3\xb6rg@macro-l.spf.test", &o), SPF_FAIL);
    assert_int_equal(from(f, "192.0.2.10", "<a@pass.spf.test>", &o), SPF_PASS);
    assert_int_equal(from(f, "192.0.2.10", "@pass.spf.test", &o), SPF_PASS); /* postmaster@ */
    assert_int_equal(from(f, "192.0.2.10", "pass.spf.test", &o), SPF_PASS);
    assert_int_equal(from(f, "192.0.2.10", "a@b@pass.spf.test", &o), SPF_PASS);

    const char *no_domain[] = {"a@",           "a@[192.0.2.1]",
                               "a@localhost",  "a@x\ny.spf.test",
                               "a@-.spf.test", "a@p\xc3\xa4ss.spf.test"};
    for (size_t i = 0; i < sizeof no_domain / sizeof no_domain[0]; i++) {
        assert_int_equal(from(f, "192.0.2.10", no_domain[i], &o), SPF_NONE);
        assert_null(strchr(o.detail, '\n'));
    }
}

static void unknown_client_address_gives_none(void **state)
{
    struct spf_outcome o;
    assert_int_equal(from(*state, NULL, "a@pass.spf.test", &o), SPF_NONE);
    assert_int_equal(from(*state, "not-an-ip", "a@pass.spf.test", &o), SPF_NONE);
}

static void unreachable_server_gives_temperror(void **state)
{
    struct fixture *f = *state;
    (void)f;
    struct dns_resolver *dead = resolver_for("127.0.0.1:1", 200);
    struct spf_checker *c = spf_checker_new(dead, NULL);
    struct spf_outcome o;
    assert_int_equal(spf_check(c, NULL, "192.0.2.10", "helo.spf.test", "a@pass.spf.test",
                               SPF_IDENTITY_MAILFROM, &o),
                     SPF_TEMPERROR);
    assert_non_null(strstr(o.detail, "TXT pass.spf.test"));
    struct verdict v = spf_verdict(NULL, &o, f->cfg, "192.0.2.10");
    assert_int_equal(v.action, VERDICT_TEMPFAIL);
    assert_int_equal(v.reply, REPLY_SPF_TEMP);
    assert_string_equal(reply_table[v.reply].code, "451");
    assert_string_equal(reply_table[v.reply].xcode, "4.7.24");
    spf_checker_free(c);
    dns_resolver_free(dead);
}

static void fail_rejects_with_5_7_23_by_default(void **state)
{
    struct fixture *f = *state;
    struct spf_outcome o;
    from(f, "192.0.2.11", "bob@fail.spf.test", &o);
    struct verdict v = spf_verdict(NULL, &o, f->cfg, "192.0.2.11");
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_SPF_FAIL);
    assert_string_equal(reply_table[v.reply].xcode, "5.7.23");
    assert_non_null(strstr(v.text, "fail.spf.test"));
    assert_non_null(strstr(v.text, "[192.0.2.11]"));
    assert_non_null(strstr(v.detail, "designated mail servers"));
    assert_true(verdict_reply_consistent(&v));
}

static void fail_action_tempfail_and_log(void **state)
{
    struct fixture *f = *state;
    struct spf_outcome o;
    from(f, "192.0.2.11", "bob@fail.spf.test", &o);
    f->cfg->spf_fail_action = ACTION_TEMPFAIL;
    struct verdict v = spf_verdict(NULL, &o, f->cfg, "192.0.2.11");
    assert_int_equal(v.action, VERDICT_TEMPFAIL);
    assert_true(verdict_reply_consistent(&v));
    f->cfg->spf_fail_action = ACTION_LOG;
    v = spf_verdict(NULL, &o, f->cfg, "192.0.2.11");
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_non_null(strstr(v.detail, "spf=fail"));
}

static void permerror_rejects_with_5_7_24_unless_configured(void **state)
{
    struct fixture *f = *state;
    struct spf_outcome o;
    from(f, "192.0.2.10", "a@broken.spf.test", &o);
    struct verdict v = spf_verdict(NULL, &o, f->cfg, "192.0.2.10");
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_SPF_PERM);
    assert_string_equal(reply_table[v.reply].xcode, "5.7.24");
    f->cfg->spf_permerror_action = ACTION_TEMPFAIL;
    v = spf_verdict(NULL, &o, f->cfg, "192.0.2.10");
    assert_int_equal(v.action, VERDICT_TEMPFAIL);
    assert_int_equal(v.reply, REPLY_SPF_TEMP);
    f->cfg->spf_permerror_action = ACTION_LOG;
    v = spf_verdict(NULL, &o, f->cfg, "192.0.2.10");
    assert_int_equal(v.action, VERDICT_CONTINUE);
}

static void temperror_accept_by_configuration(void **state)
{
    struct fixture *f = *state;
    struct spf_outcome o = {.checked = true,
                            .identity = SPF_IDENTITY_MAILFROM,
                            .result = SPF_TEMPERROR,
                            .domain = "x.test"};
    f->cfg->spf_temperror_action = DNS_FAILURE_ACCEPT;
    assert_int_equal(spf_verdict(NULL, &o, f->cfg, "192.0.2.1").action, VERDICT_CONTINUE);
    f->cfg->spf_temperror_action = DNS_FAILURE_TEMPFAIL;
    f->cfg->dns_failure = DNS_FAILURE_ACCEPT;
    assert_int_equal(spf_verdict(NULL, &o, f->cfg, "192.0.2.1").action, VERDICT_CONTINUE);
}

static void softfail_neutral_none_pass_continue(void **state)
{
    struct fixture *f = *state;
    enum spf_result rs[] = {SPF_SOFTFAIL, SPF_NEUTRAL, SPF_NONE, SPF_PASS};
    for (size_t i = 0; i < 4; i++) {
        struct spf_outcome o = {.checked = true,
                                .identity = SPF_IDENTITY_MAILFROM,
                                .result = rs[i],
                                .domain = "x.test"};
        struct verdict v = spf_verdict(NULL, &o, f->cfg, "192.0.2.1");
        assert_int_equal(v.action, VERDICT_CONTINUE);
        assert_non_null(strstr(v.detail, spf_result_name(rs[i])));
    }
}

static void helo_fail_rejects_unless_helo_action_says_otherwise(void **state)
{
    struct fixture *f = *state;
    struct spf_outcome h, m;
    spf_check(f->checker, NULL, "192.0.2.10", "helo.spf.test", "a@pass.spf.test", SPF_IDENTITY_HELO,
              &h);
    spf_check(f->checker, NULL, "192.0.2.10", "helo.spf.test", "a@pass.spf.test",
              SPF_IDENTITY_MAILFROM, &m);
    struct verdict v = spf_verdict(&h, &m, f->cfg, "192.0.2.10");
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_SPF_FAIL);
    assert_non_null(strstr(v.text, "helo.spf.test"));
    f->cfg->spf_helo_action = SPF_HELO_LOG;
    v = spf_verdict(&h, &m, f->cfg, "192.0.2.10");
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_non_null(strstr(v.detail, "helo=helo.spf.test"));
    assert_non_null(strstr(v.detail, "spf=pass mailfrom=pass.spf.test"));
    f->cfg->spf_helo_action = SPF_HELO_OFF;
    v = spf_verdict(&h, &m, f->cfg, "192.0.2.10");
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_null(strstr(v.detail, "helo="));
}

static void authentication_results_property(void **state)
{
    struct fixture *f = *state;
    struct spf_outcome o;
    char buf[256];
    from(f, "192.0.2.10", "a@pass.spf.test", &o);
    spf_authres(&o, buf, sizeof buf);
    assert_string_equal(buf, "spf=pass smtp.mailfrom=pass.spf.test");
    spf_check(f->checker, NULL, "192.0.2.31", "helo.spf.test", NULL, SPF_IDENTITY_HELO, &o);
    spf_authres(&o, buf, sizeof buf);
    assert_string_equal(buf, "spf=fail smtp.helo=helo.spf.test");
    from(f, "192.0.2.10", "a@[192.0.2.1]", &o);
    spf_authres(&o, buf, sizeof buf);
    assert_string_equal(buf, "spf=none");
    spf_authres(NULL, buf, sizeof buf);
    assert_string_equal(buf, "spf=none");
}

struct worker {
    struct spf_checker *checker;
    int wrong;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    static const struct {
        const char *ip, *sender;
        enum spf_result want;
    } cases[] = {
        {"192.0.2.10", "a@pass.spf.test", SPF_PASS},
        {"192.0.2.11", "a@fail.spf.test", SPF_FAIL},
        {"192.0.2.10", "a@split.spf.test", SPF_PERMERROR},
        {"192.0.2.10", "a@void3.spf.test", SPF_PERMERROR},
        {"192.0.2.20", "a@mx.spf.test", SPF_PASS},
        {"192.0.2.10", "alice@macro-l.spf.test", SPF_PASS},
    };
    for (int round = 0; round < 30; round++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            struct spf_outcome o;
            if (spf_check(w->checker, NULL, cases[i].ip, "mail.client.test", cases[i].sender,
                          SPF_IDENTITY_MAILFROM, &o) != cases[i].want)
                w->wrong++;
        }
    }
    return NULL;
}

static void concurrent_checks_on_one_checker_are_independent(void **state)
{
    struct fixture *f = *state;
    enum { THREADS = 8 };
    pthread_t t[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.checker = f->checker};
        assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].wrong, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(matching_ip4_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(other_ip_fails_with_the_domains_explanation_expanded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(fail_without_exp_has_no_explanation, setup, teardown),
        cmocka_unit_test_setup_teardown(explanation_quotes_and_backslashes_are_escaped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(explanation_with_control_bytes_is_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(softfail_neutral_and_bare_record, setup, teardown),
        cmocka_unit_test_setup_teardown(no_record_gives_none, setup, teardown),
        cmocka_unit_test_setup_teardown(include_and_redirect, setup, teardown),
        cmocka_unit_test_setup_teardown(record_that_does_not_compile_is_permerror, setup, teardown),
        cmocka_unit_test_setup_teardown(two_records_or_repeated_redirect_is_permerror, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(include_loop_is_permerror, setup, teardown),
        cmocka_unit_test_setup_teardown(syntax_the_rfc_forbids_is_permerror, setup, teardown),
        cmocka_unit_test_setup_teardown(redirect_applies_only_after_the_mechanisms, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unknown_modifier_is_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(zero_prefix_matches_every_address, setup, teardown),
        cmocka_unit_test_setup_teardown(ten_dns_terms_are_allowed, setup, teardown),
        cmocka_unit_test_setup_teardown(eleventh_dns_term_is_permerror, setup, teardown),
        cmocka_unit_test_setup_teardown(evaluation_over_its_time_limit_is_temperror, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(terms_inside_includes_count_toward_the_limit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(two_void_lookups_are_allowed_three_are_permerror, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(mx_and_a_mechanisms, setup, teardown),
        cmocka_unit_test_setup_teardown(ip6_mechanism, setup, teardown),
        cmocka_unit_test_setup_teardown(ipv4_mapped_client_is_evaluated_as_ipv4, setup, teardown),
        cmocka_unit_test_setup_teardown(macros_i_ir_l_and_d_expand, setup, teardown),
        cmocka_unit_test_setup_teardown(null_sender_is_checked_as_postmaster_at_helo, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(helo_identity_is_its_own_check, setup, teardown),
        cmocka_unit_test_setup_teardown(helo_that_is_no_domain_gives_none, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_senders_give_defined_results, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_client_address_gives_none, setup, teardown),
        cmocka_unit_test_setup_teardown(unreachable_server_gives_temperror, setup, teardown),
        cmocka_unit_test_setup_teardown(fail_rejects_with_5_7_23_by_default, setup, teardown),
        cmocka_unit_test_setup_teardown(fail_action_tempfail_and_log, setup, teardown),
        cmocka_unit_test_setup_teardown(permerror_rejects_with_5_7_24_unless_configured, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(temperror_accept_by_configuration, setup, teardown),
        cmocka_unit_test_setup_teardown(softfail_neutral_none_pass_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(helo_fail_rejects_unless_helo_action_says_otherwise, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(authentication_results_property, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_checks_on_one_checker_are_independent, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
