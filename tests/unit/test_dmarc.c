/*
 * test_dmarc: lib/dmarc.c and lib/dmarc_verdict.c: author domains (RFC 7489 6.6.1), policy
 * discovery over the real test NSD (6.6.3, tests/dns/dmarc.test.zone, INGRESS_TEST_DNS),
 * alignment and policy (3.1, 6.6.2, 6.6.4) with the Public Suffix List Debian ships, and what
 * the site's options make of a failure.  SPF and DKIM results are given as lib/spf.c and
 * lib/dkim.c would give them: these tests are about DMARC, not about those checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "dmarc.h"
#include "dns.h"
#include "orgdomain.h"

struct fixture {
    struct config *cfg;
    struct dns_resolver *resolver;
    struct dns_batch *batch;
    struct orgdomain *od;
};

static int setup(void **state)
{
    char err[256];
    const char *server = getenv("INGRESS_TEST_DNS");
    if (server == NULL)
        fail_msg("INGRESS_TEST_DNS is not set: run under tests/dns/with-dns.sh");
    struct fixture *f = calloc(1, sizeof *f);
    f->cfg = config_new_defaults();
    const char *servers[] = {server};
    struct dns_options opts = {.servers = servers,
                               .server_count = 1,
                               .timeout_ms = 500,
                               .tries = 1,
                               .cache_size = 100,
                               .cache_max_ttl = 60};
    assert_int_equal(dns_resolver_new(&opts, &f->resolver, err, sizeof err), 0);
    f->batch = dns_batch_new(f->resolver);
    f->od = orgdomain_load(f->cfg->public_suffix_list, err, sizeof err);
    if (f->od == NULL)
        fail_msg("%s", err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    orgdomain_free(f->od);
    dns_batch_free(f->batch);
    dns_resolver_free(f->resolver);
    config_free(f->cfg);
    free(f);
    return 0;
}

/* What SPF (MAIL FROM) and DKIM said: spf_result for spf_domain ("" : not checked), and one
 * signature of dkim_domain with dkim_result ("" : none). */
struct seen {
    enum spf_result spf_result;
    const char *spf_domain;
    enum dkim_result dkim_result;
    const char *dkim_domain;
    const char *dkim_reason;
};

/* A message with these From field values (NULL-terminated), evaluated against real DNS. */
static struct dmarc_message *evaluate(struct fixture *f, const char *const *from,
                                      const struct seen *s, unsigned sample)
{
    struct dmarc_message *m = dmarc_message_new(f->batch, f->od);
    for (size_t i = 0; from[i] != NULL; i++)
        dmarc_message_from(m, from[i], strlen(from[i]));
    struct spf_outcome spf = {.checked = s->spf_domain[0] != '\0',
                              .identity = SPF_IDENTITY_MAILFROM,
                              .result = s->spf_result};
    snprintf(spf.domain, sizeof spf.domain, "%s", s->spf_domain);
    struct dmarc_inputs in = {.source_ip = "192.0.2.1",
                              .envelope_from = "bounce@mail.dmarc.test",
                              .spf = &spf,
                              .dkim = NULL};
    dmarc_message_evaluate(m, &in, sample);
    /* DKIM results as lib/dkim.c would have given them (a dkim_check needs a real message). */
    if (s->dkim_domain != NULL && s->dkim_domain[0] != '\0') {
        m->evidence.ndkim = 1;
        m->evidence.dkim = calloc(1, sizeof *m->evidence.dkim);
        m->evidence.dkim[0].result = s->dkim_result;
        snprintf(m->evidence.dkim[0].domain, sizeof m->evidence.dkim[0].domain, "%s",
                 s->dkim_domain);
        snprintf(m->evidence.dkim[0].reason, sizeof m->evidence.dkim[0].reason, "%s",
                 s->dkim_reason ? s->dkim_reason : "");
        for (size_t i = 0; i < m->nauthors; i++)
            if (m->authors[i].domain[0] != '\0' && m->authors[i].have_record)
                dmarc_evaluate(f->od, &m->evidence, &m->authors[i], sample);
    }
    return m;
}

static struct dmarc_message *evaluate_one(struct fixture *f, const char *from, const struct seen *s)
{
    const char *fields[] = {from, NULL};
    return evaluate(f, fields, s, 0);
}

static const struct seen nothing_passes = {SPF_FAIL, "mail.dmarc.test", DKIM_NONE, NULL, NULL};

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* ---- policy discovery (RFC 7489 6.6.3) over real DNS -------------------------------------- */

static void record_of_the_domain_itself_applies_with_p(void **state)
{
    struct fixture *f = *state;
    struct dmarc_message *m = evaluate_one(f, "a@own.dmarc.test", &nothing_passes);
    const struct dmarc_author *a = &m->authors[0];
    assert_int_equal(m->nauthors, 1);
    assert_string_equal(a->domain, "own.dmarc.test");
    assert_true(a->have_record);
    assert_false(a->org_record);
    assert_int_equal(a->result, DMARC_FAIL);
    assert_int_equal(a->policy, DMARC_POLICY_NONE);
    dmarc_message_free(m);

    m = evaluate_one(f, "a@dmarc.test", &nothing_passes);
    assert_false(m->authors[0].org_record);
    assert_int_equal(m->authors[0].policy, DMARC_POLICY_REJECT);
    dmarc_message_free(m);
}

/* 6.6.3 step 3 and 6.3 sp=: a subdomain without a record gets its organizational domain's sp=. */
static void subdomain_without_record_gets_the_organizational_sp(void **state)
{
    struct fixture *f = *state;
    static const char *const subdomains[] = {"a@sub.dmarc.test", "a@deep.sub.dmarc.test",
                                             "a@notdmarc.dmarc.test"};
    for (size_t i = 0; i < 3; i++) {
        struct dmarc_message *m = evaluate_one(f, subdomains[i], &nothing_passes);
        const struct dmarc_author *a = &m->authors[0];
        if (!a->have_record || !a->org_record || a->policy != DMARC_POLICY_QUARANTINE)
            fail_msg("%s: record %d org %d policy %d", subdomains[i], a->have_record, a->org_record,
                     a->policy);
        assert_string_equal(a->org, "dmarc.test");
        dmarc_message_free(m);
    }
}

/* 6.6.3 steps 2 and 5: records that are not DMARC's are discarded; several DMARC records at one
 * name end discovery with no DMARC processing (the organizational record is not asked). */
static void several_records_give_none_and_others_are_discarded(void **state)
{
    struct fixture *f = *state;
    struct dmarc_message *m = evaluate_one(f, "a@several.dmarc.test", &nothing_passes);
    assert_int_equal(m->authors[0].result, DMARC_NONE);
    assert_false(m->authors[0].have_record);
    assert_contains(m->authors[0].why, "2 DMARC records at _dmarc.several.dmarc.test");
    dmarc_message_free(m);

    m = evaluate_one(f, "a@mixed.dmarc.test", &nothing_passes);
    assert_true(m->authors[0].have_record);
    assert_false(m->authors[0].org_record);
    assert_int_equal(m->authors[0].policy, DMARC_POLICY_QUARANTINE);
    assert_int_equal(m->authors[0].record.pct, 0);
    dmarc_message_free(m);

    m = evaluate_one(f, "a@strict.dmarc.test", &nothing_passes);
    assert_int_equal(m->authors[0].record.adkim, ORGDOMAIN_STRICT);
    dmarc_message_free(m);
}

static void invalid_record_is_permerror_and_dns_failure_temperror(void **state)
{
    struct fixture *f = *state;
    struct dmarc_message *m = evaluate_one(f, "a@broken.dmarc.test", &nothing_passes);
    assert_int_equal(m->authors[0].result, DMARC_PERMERROR);
    assert_contains(m->authors[0].why, "_dmarc.broken.dmarc.test is invalid: tag p given twice");
    dmarc_message_free(m);

    /* Outside the test zones NSD refuses: could not tell, never "no record". */
    m = evaluate_one(f, "a@example.org", &nothing_passes);
    assert_int_equal(m->authors[0].result, DMARC_TEMPERROR);
    assert_contains(m->authors[0].why, "_dmarc.example.org could not be looked up");
    dmarc_message_free(m);

    m = evaluate_one(f, "a@x.example.test", &nothing_passes);
    assert_int_equal(m->authors[0].result, DMARC_NONE);
    assert_string_equal(m->authors[0].why,
                        "no DMARC record at _dmarc.x.example.test nor _dmarc.example.test");
    dmarc_message_free(m);
}

/* ---- author domains (RFC 7489 6.6.1) ------------------------------------------------------ */

static void every_author_domain_is_evaluated_once(void **state)
{
    struct fixture *f = *state;
    const char *fields[] = {"Team: A <a@own.dmarc.test>, b@SUB.dmarc.test, c@own.dmarc.test;",
                            "d@own.dmarc.test", NULL};
    struct dmarc_message *m = evaluate(f, fields, &nothing_passes, 0);
    assert_int_equal(m->from_fields, 2);
    assert_int_equal(m->nauthors, 2);
    assert_string_equal(m->authors[0].domain, "own.dmarc.test");
    assert_string_equal(m->authors[1].domain, "sub.dmarc.test");
    dmarc_message_free(m);
}

/* RFC 7489 6.6.1: a U-label is looked up as its A-label, so an internationalized From domain
 * cannot slip past its owner's policy. */
static void internationalized_domain_is_looked_up_as_its_a_label(void **state)
{
    struct fixture *f = *state;
    struct dmarc_message *m = evaluate_one(f,
                                           "x@b\xc3\xbc"
                                           "cher.dmarc.test",
                                           &nothing_passes);
    assert_string_equal(m->authors[0].domain, "xn--bcher-kva.dmarc.test");
    assert_true(m->authors[0].have_record);
    assert_int_equal(m->authors[0].policy, DMARC_POLICY_QUARANTINE);
    dmarc_message_free(m);
}

/* Messages without one author domain: a decision, never a crash or a guess. */
static void messages_without_an_author_domain(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *from; /* NULL: no From field */
        enum dmarc_result result;
        const char *why;
    } cases[] = {
        {NULL, DMARC_NONE, "no From field"},
        {"undisclosed-recipients:;", DMARC_NONE, "a From field has no address"},
        {"x@[192.0.2.1]", DMARC_NONE, "domain [192.0.2.1] is not a domain name"},
        {"<a@own.dmarc.test", DMARC_PERMERROR, "a From field is not an address list"},
        {"alice", DMARC_PERMERROR, "a From field is not an address list"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *fields[] = {cases[i].from, NULL};
        struct dmarc_message *m = evaluate(f, fields, &nothing_passes, 0);
        const struct dmarc_author *a = &m->authors[m->nauthors - 1];
        if (a->domain[0] != '\0' || a->result != cases[i].result ||
            strstr(a->why, cases[i].why) == NULL)
            fail_msg("From %s: domain \"%s\" %s \"%s\"", cases[i].from ? cases[i].from : "(none)",
                     a->domain, dmarc_result_name(a->result), a->why);
        char authres[256];
        dmarc_message_authres(m, authres, sizeof authres);
        assert_string_equal(authres,
                            cases[i].result == DMARC_NONE ? "dmarc=none" : "dmarc=permerror");
        struct verdict v = dmarc_message_verdict(m, f->cfg, NULL, NULL, 0);
        assert_int_equal(v.action, VERDICT_CONTINUE);
        dmarc_message_free(m);
    }
}

/* Hostile From fields: the author is the address lib/addr.c reads, never a comment, a display
 * name or an encoded word; a value over the parser's bound is refused whole (permerror). */
static void author_is_the_address_not_what_surrounds_it(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *from, *domain;
    } cases[] = {
        {"x@own.dmarc.test (ceo@dmarc.test)", "own.dmarc.test"},
        {"\"ceo@dmarc.test\" <x@own.dmarc.test>", "own.dmarc.test"},
        {"=?utf-8?q?ceo=40dmarc.test?= <x@own.dmarc.test>", "own.dmarc.test"},
        {"Board: x@own.dmarc.test;", "own.dmarc.test"},
        {"x@OWN.Dmarc.TEST", "own.dmarc.test"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct dmarc_message *m = evaluate_one(f, cases[i].from, &nothing_passes);
        if (m->nauthors != 1 || strcmp(m->authors[0].domain, cases[i].domain) != 0)
            fail_msg("From %s: %zu authors, first \"%s\"", cases[i].from, m->nauthors,
                     m->nauthors ? m->authors[0].domain : "");
        dmarc_message_free(m);
    }
    size_t len = 64 * 1024;
    char *big = malloc(len + 1);
    memset(big, ' ', len);
    memcpy(big, "a@dmarc.test,", 13);
    memcpy(big + len - 12, "b@dmarc.test", 12);
    big[len] = '\0';
    struct dmarc_message *m = evaluate_one(f, big, &nothing_passes);
    assert_int_equal(m->nauthors, 1);
    assert_int_equal(m->authors[0].result, DMARC_PERMERROR);
    assert_contains(m->authors[0].why, "a From field is not an address list");
    dmarc_message_free(m);
    free(big);
}

/* More than DMARC_AUTHORS_MAX domains: the first eight are evaluated, the message says why. */
static void too_many_author_domains(void **state)
{
    struct fixture *f = *state;
    char from[1024] = "";
    for (int i = 0; i < DMARC_AUTHORS_MAX + 2; i++)
        snprintf(from + strlen(from), sizeof from - strlen(from), "%sa@d%d.dmarc.test",
                 i ? ", " : "", i);
    const char *fields[] = {from, NULL};
    struct dmarc_message *m = evaluate(f, fields, &nothing_passes, 0);
    assert_int_equal(m->nauthors, DMARC_AUTHORS_MAX + 1);
    assert_int_equal(m->authors[DMARC_AUTHORS_MAX].result, DMARC_PERMERROR);
    assert_contains(m->authors[DMARC_AUTHORS_MAX].why, "more than 8 author domains");
    /* the eight evaluated still fail under sp=quarantine: the strictest applies */
    struct verdict v = dmarc_message_verdict(m, f->cfg, NULL, NULL, 0);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_true(m->add_header);
    dmarc_message_free(m);
}

/* ---- alignment and result (RFC 7489 3.1, 6.6.2) ------------------------------------------- */

/* A record by hand, and the result of one author domain under it. */
static enum dmarc_result result_of(struct fixture *f, const char *author, const char *record,
                                   const struct seen *s)
{
    struct dmarc_author a;
    memset(&a, 0, sizeof a);
    snprintf(a.domain, sizeof a.domain, "%s", author);
    assert_int_equal(dmarc_record_parse(record, strlen(record), &a.record, NULL, 0),
                     DMARC_RECORD_OK);
    a.have_record = true;
    struct dmarc_dkim sig = {.result = s->dkim_result};
    snprintf(sig.domain, sizeof sig.domain, "%s", s->dkim_domain ? s->dkim_domain : "");
    struct dmarc_evidence e = {.spf_checked = true,
                               .spf_result = s->spf_result,
                               .ndkim = s->dkim_domain ? 1 : 0,
                               .dkim = &sig};
    snprintf(e.spf_domain, sizeof e.spf_domain, "%s", s->spf_domain);
    dmarc_evaluate(f->od, &e, &a, 0);
    return a.result;
}

static void relaxed_and_strict_identifier_alignment(void **state)
{
    struct fixture *f = *state;
    const struct seen spf_sub = {SPF_PASS, "bounce.example.org", DKIM_NONE, NULL, NULL};
    const struct seen dkim_sub = {SPF_FAIL, "example.org", DKIM_PASS, "mail.example.org", NULL};
    const struct seen dkim_fail = {SPF_FAIL, "example.org", DKIM_FAIL, "example.org", NULL};
    const struct seen spf_other = {SPF_PASS, "lists.other.example", DKIM_NONE, NULL, NULL};

    assert_int_equal(result_of(f, "example.org", "v=DMARC1; p=reject", &spf_sub), DMARC_PASS);
    assert_int_equal(result_of(f, "example.org", "v=DMARC1; p=reject; aspf=s", &spf_sub),
                     DMARC_FAIL);
    assert_int_equal(result_of(f, "example.org", "v=DMARC1; p=reject; adkim=s", &spf_sub),
                     DMARC_PASS); /* adkim does not touch SPF */
    assert_int_equal(result_of(f, "example.org", "v=DMARC1; p=reject", &dkim_sub), DMARC_PASS);
    assert_int_equal(result_of(f, "example.org", "v=DMARC1; p=reject; adkim=s", &dkim_sub),
                     DMARC_FAIL);
    assert_int_equal(result_of(f, "example.org", "v=DMARC1; p=reject", &dkim_fail), DMARC_FAIL);
    assert_int_equal(result_of(f, "example.org", "v=DMARC1; p=reject", &spf_other), DMARC_FAIL);
    /* The Public Suffix List decides what one owner is: github.io's users are not one. */
    const struct seen pages = {SPF_PASS, "mallory.github.io", DKIM_PASS, "mallory.github.io", NULL};
    assert_int_equal(result_of(f, "alice.github.io", "v=DMARC1; p=reject", &pages), DMARC_FAIL);
    const struct seen co_uk = {SPF_PASS, "mail.example.co.uk", DKIM_NONE, NULL, NULL};
    assert_int_equal(result_of(f, "example.co.uk", "v=DMARC1; p=reject", &co_uk), DMARC_PASS);
    assert_int_equal(result_of(f, "other.co.uk", "v=DMARC1; p=reject", &co_uk), DMARC_FAIL);
    /* SPF neutral or softfail for an aligned domain is no pass. */
    const struct seen soft = {SPF_SOFTFAIL, "example.org", DKIM_NONE, NULL, NULL};
    assert_int_equal(result_of(f, "example.org", "v=DMARC1; p=reject", &soft), DMARC_FAIL);
}

/* RFC 7489 6.6.4: pct= applies the policy to that share of failures, the next milder to the
 * rest (sampled out); the draw is the caller's. */
static void pct_samples_the_policy(void **state)
{
    struct fixture *f = *state;
    struct dmarc_author a;
    struct dmarc_evidence e = {.spf_checked = true, .spf_result = SPF_FAIL};
    static const struct {
        const char *record;
        unsigned sample;
        enum dmarc_policy disposition;
        enum dmarc_override override;
    } cases[] = {
        {"v=DMARC1; p=reject; pct=25", 24, DMARC_POLICY_REJECT, DMARC_OVERRIDE_NONE},
        {"v=DMARC1; p=reject; pct=25", 25, DMARC_POLICY_QUARANTINE, DMARC_OVERRIDE_SAMPLED_OUT},
        {"v=DMARC1; p=quarantine; pct=0", 0, DMARC_POLICY_NONE, DMARC_OVERRIDE_SAMPLED_OUT},
        {"v=DMARC1; p=reject; pct=100", 99, DMARC_POLICY_REJECT, DMARC_OVERRIDE_NONE},
        {"v=DMARC1; p=none; pct=0", 50, DMARC_POLICY_NONE, DMARC_OVERRIDE_NONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&a, 0, sizeof a);
        snprintf(a.domain, sizeof a.domain, "example.org");
        dmarc_record_parse(cases[i].record, strlen(cases[i].record), &a.record, NULL, 0);
        a.have_record = true;
        dmarc_evaluate(f->od, &e, &a, cases[i].sample);
        if (a.disposition != cases[i].disposition || a.override != cases[i].override)
            fail_msg("%s, draw %u: disposition %s override %s", cases[i].record, cases[i].sample,
                     dmarc_policy_name(a.disposition), dmarc_override_name(a.override));
    }
}

/* ---- what the site does (dmarc_message_verdict) ------------------------------------------- */

static struct verdict verdict_for(struct fixture *f, const char *from, const struct seen *s,
                                  const struct dmarc_exemption *x, char *detail, size_t len,
                                  bool *header)
{
    char hold[256] = "";
    struct dmarc_message *m = evaluate_one(f, from, s);
    struct verdict v = dmarc_message_verdict(m, f->cfg, x, hold, sizeof hold);
    if (v.action != VERDICT_CONTINUE)
        assert_string_equal(v.detail, m->detail);
    if (detail != NULL)
        snprintf(detail, len, "%s", m->detail);
    if (header != NULL)
        *header = m->add_header;
    if (v.action == VERDICT_HOLD)
        assert_contains(hold, "DMARC:");
    dmarc_message_free(m);
    return v;
}

static void options_decide_what_a_failure_gets(void **state)
{
    struct fixture *f = *state;
    bool header;
    char detail[VERDICT_DETAIL_MAX];

    /* p=reject (dmarc.test), default dmarc_reject_action: 550 5.7.1 naming DMARC and the domain */
    struct verdict v = verdict_for(f, "a@dmarc.test", &nothing_passes, NULL, NULL, 0, &header);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_DMARC_REJECT);
    assert_string_equal(v.check, "dmarc");
    assert_contains(v.text, "DMARC policy of dmarc.test");
    assert_true(verdict_reply_consistent(&v));
    /* sp=quarantine (sub.dmarc.test), default dmarc_quarantine_action: delivered with a header */
    v = verdict_for(f, "a@sub.dmarc.test", &nothing_passes, NULL, detail, sizeof detail, &header);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_true(header);
    assert_contains(detail, "delivered with the X-Ingress-DMARC header");

    assert_true(config_set(f->cfg, "dmarc_reject_action", "hold", NULL, 0));
    v = verdict_for(f, "a@dmarc.test", &nothing_passes, NULL, NULL, 0, &header);
    assert_int_equal(v.action, VERDICT_HOLD);
    assert_true(config_set(f->cfg, "dmarc_reject_action", "log", NULL, 0));
    v = verdict_for(f, "a@dmarc.test", &nothing_passes, NULL, detail, sizeof detail, &header);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_false(header);
    assert_contains(detail, "delivered, only logged (dmarc_reject_action)");
    assert_true(config_set(f->cfg, "dmarc_reject_action", "reject", NULL, 0));
    assert_true(config_set(f->cfg, "dmarc_quarantine_action", "reject", NULL, 0));
    v = verdict_for(f, "a@sub.dmarc.test", &nothing_passes, NULL, NULL, 0, &header);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_contains(v.text, "sub.dmarc.test");

    /* dmarc_domain_actions: the longest label-aligned suffix of the From domain wins */
    assert_true(config_set(f->cfg, "dmarc_domain_actions",
                           "dmarc.test:hold, sub.dmarc.test:log, b.dmarc.test:reject", NULL, 0));
    v = verdict_for(f, "a@dmarc.test", &nothing_passes, NULL, NULL, 0, NULL);
    assert_int_equal(v.action, VERDICT_HOLD);
    v = verdict_for(f, "a@x.sub.dmarc.test", &nothing_passes, NULL, detail, sizeof detail, NULL);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_contains(detail, "only logged (dmarc_domain_actions)");
    v = verdict_for(f, "a@sub.dmarc.test", &nothing_passes, NULL, NULL, 0, NULL);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    v = verdict_for(f, "a@b.dmarc.test", &nothing_passes, NULL, NULL, 0, NULL);
    assert_int_equal(v.action, VERDICT_REJECT);
    /* "sub.dmarc.test" is no label-aligned suffix of "xsub.dmarc.test": dmarc.test's entry */
    v = verdict_for(f, "a@xsub.dmarc.test", &nothing_passes, NULL, NULL, 0, NULL);
    assert_int_equal(v.action, VERDICT_HOLD);
}

/* An allow entry or exempt recipients: evaluated, reported, never enforced. */
static void exemption_keeps_the_result_but_not_the_action(void **state)
{
    struct fixture *f = *state;
    char detail[VERDICT_DETAIL_MAX], authres[256];
    struct dmarc_exemption x = {"the client is on the allow list (cidr 192.0.2.0/24)",
                                DMARC_OVERRIDE_TRUSTED_FORWARDER};
    struct dmarc_message *m = evaluate_one(f, "a@dmarc.test", &nothing_passes);
    struct verdict v = dmarc_message_verdict(m, f->cfg, &x, NULL, 0);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_false(m->add_header);
    assert_int_equal(m->authors[0].result, DMARC_FAIL);
    assert_int_equal(m->authors[0].disposition, DMARC_POLICY_NONE);
    assert_int_equal(m->authors[0].override, DMARC_OVERRIDE_TRUSTED_FORWARDER);
    dmarc_message_detail(m, detail, sizeof detail);
    assert_contains(detail, "not enforced: the client is on the allow list (cidr 192.0.2.0/24)");
    dmarc_message_authres(m, authres, sizeof authres);
    assert_string_equal(authres, "dmarc=fail (p=reject dis=none) header.from=dmarc.test");
    dmarc_message_free(m);
}

/* A failed lookup defers (451), unless an identifier equal to the From domain passed, the
 * options say accept, or the message is exempt; never a rejection. */
static void temperror_defers_but_never_rejects(void **state)
{
    struct fixture *f = *state;
    const struct seen relaxed = {SPF_PASS, "bounce.example.org", DKIM_NONE, NULL, NULL};
    const struct seen exact_spf = {SPF_PASS, "example.org", DKIM_NONE, NULL, NULL};
    const struct seen exact_dkim = {SPF_FAIL, "x.test", DKIM_PASS, "example.org", NULL};
    char detail[VERDICT_DETAIL_MAX];

    struct verdict v = verdict_for(f, "a@example.org", &relaxed, NULL, detail, sizeof detail, NULL);
    assert_int_equal(v.action, VERDICT_TEMPFAIL);
    assert_int_equal(v.reply, REPLY_DMARC_TEMP);
    assert_true(verdict_reply_consistent(&v));
    assert_contains(v.text, "DMARC policy of example.org could not be looked up");
    assert_contains(detail, "dmarc=temperror for example.org: _dmarc.example.org could not be "
                            "looked up");
    assert_int_equal(verdict_for(f, "a@example.org", &exact_spf, NULL, NULL, 0, NULL).action,
                     VERDICT_CONTINUE);
    assert_int_equal(verdict_for(f, "a@example.org", &exact_dkim, NULL, NULL, 0, NULL).action,
                     VERDICT_CONTINUE);
    struct dmarc_exemption x = {"only exempt recipients", DMARC_OVERRIDE_LOCAL_POLICY};
    assert_int_equal(verdict_for(f, "a@example.org", &relaxed, &x, NULL, 0, NULL).action,
                     VERDICT_CONTINUE);
    assert_true(config_set(f->cfg, "dmarc_domain_actions", "example.org:reject", NULL, 0));
    assert_true(config_set(f->cfg, "dmarc_reject_action", "reject", NULL, 0));
    assert_int_equal(verdict_for(f, "a@example.org", &relaxed, NULL, NULL, 0, NULL).action,
                     VERDICT_TEMPFAIL);
    assert_true(config_set(f->cfg, "dmarc_temperror_action", "accept", NULL, 0));
    assert_int_equal(verdict_for(f, "a@example.org", &relaxed, NULL, NULL, 0, NULL).action,
                     VERDICT_CONTINUE);
    assert_true(config_set(f->cfg, "dmarc_temperror_action", "tempfail", NULL, 0));
    assert_true(config_set(f->cfg, "dns_failure", "accept", NULL, 0));
    assert_int_equal(verdict_for(f, "a@example.org", &relaxed, NULL, NULL, 0, NULL).action,
                     VERDICT_CONTINUE);
}

/* RFC 7489 6.6.1: several author domains, the strictest failing policy applies. */
static void strictest_policy_of_several_authors_applies(void **state)
{
    struct fixture *f = *state;
    const char *fields[] = {"a@sub.dmarc.test, b@dmarc.test, c@own.dmarc.test", NULL};
    struct dmarc_message *m = evaluate(f, fields, &nothing_passes, 0);
    struct verdict v = dmarc_message_verdict(m, f->cfg, NULL, NULL, 0);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_contains(v.text, "DMARC policy of dmarc.test:");
    char authres[1024];
    dmarc_message_authres(m, authres, sizeof authres);
    assert_string_equal(authres,
                        "dmarc=fail (p=quarantine dis=quarantine) header.from=sub.dmarc.test; "
                        "dmarc=fail (p=reject dis=reject) header.from=dmarc.test; "
                        "dmarc=fail (p=none dis=none) header.from=own.dmarc.test");
    dmarc_message_free(m);
    /* one author passes, the other fails: the failure decides */
    const struct seen dkim_own = {SPF_FAIL, "x.test", DKIM_PASS, "own.dmarc.test", NULL};
    const char *two[] = {"c@own.dmarc.test", "b@elsewhere.example.test", NULL};
    m = evaluate(f, two, &dkim_own, 0);
    assert_int_equal(m->authors[0].result, DMARC_PASS);
    assert_int_equal(m->authors[1].result, DMARC_NONE);
    assert_false(dmarc_message_pass(m)); /* the greylist bypass needs every author to pass */
    dmarc_message_free(m);
}

/* The decision log explains a failure in words `ingressctl why` prints. */
static void detail_says_which_identities_failed(void **state)
{
    struct fixture *f = *state;
    const struct seen list = {SPF_PASS, "lists.other.example", DKIM_FAIL, "dmarc.test",
                              "body hash did not verify (body changed)"};
    char detail[VERDICT_DETAIL_MAX];
    struct verdict v = verdict_for(f, "a@dmarc.test", &list, NULL, detail, sizeof detail, NULL);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_string_equal(detail, "dmarc=fail for dmarc.test: the From domain dmarc.test publishes "
                                "p=reject; SPF passed for lists.other.example, which does not "
                                "align; DKIM failed for dmarc.test (body hash did not verify "
                                "(body changed)); rejected");
    const struct seen pass = {SPF_PASS, "mail.dmarc.test", DKIM_NONE, NULL, NULL};
    v = verdict_for(f, "a@sub.dmarc.test", &pass, NULL, detail, sizeof detail, NULL);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_string_equal(detail,
                        "dmarc=pass for sub.dmarc.test (sp=quarantine): aligned SPF pass for "
                        "mail.dmarc.test");
}

static void domain_actions_are_validated(void **state)
{
    (void)state;
    static const char *const bad[] = {"example.org",      "example.org:drop", ":reject",
                                      "exa mple.org:log", "example.org.:log", "-x..y:log"};
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct config *cfg = config_new_defaults();
        if (config_set(cfg, "dmarc_domain_actions", bad[i], err, sizeof err))
            fail_msg("dmarc_domain_actions = %s is accepted", bad[i]);
        assert_contains(err, "dmarc_domain_actions:");
        config_free(cfg);
    }
    struct config *cfg = config_new_defaults();
    assert_true(config_set(cfg, "dmarc_domain_actions", "Example.ORG:log lists.example:header", err,
                           sizeof err));
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(record_of_the_domain_itself_applies_with_p, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(subdomain_without_record_gets_the_organizational_sp, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(several_records_give_none_and_others_are_discarded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(invalid_record_is_permerror_and_dns_failure_temperror,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(every_author_domain_is_evaluated_once, setup, teardown),
        cmocka_unit_test_setup_teardown(internationalized_domain_is_looked_up_as_its_a_label, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(messages_without_an_author_domain, setup, teardown),
        cmocka_unit_test_setup_teardown(author_is_the_address_not_what_surrounds_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(too_many_author_domains, setup, teardown),
        cmocka_unit_test_setup_teardown(relaxed_and_strict_identifier_alignment, setup, teardown),
        cmocka_unit_test_setup_teardown(pct_samples_the_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(options_decide_what_a_failure_gets, setup, teardown),
        cmocka_unit_test_setup_teardown(exemption_keeps_the_result_but_not_the_action, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(temperror_defers_but_never_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(strictest_policy_of_several_authors_applies, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(detail_says_which_identities_failed, setup, teardown),
        cmocka_unit_test(domain_actions_are_validated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
