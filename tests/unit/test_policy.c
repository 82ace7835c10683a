/*
 * test_policy: whole connections driven through lib/policy without an MTA (ARCHITECTURE.md
 * "Layout": a test of a check needs no MTA), with the real test NSD (INGRESS_TEST_DNS) and a real
 * SQLite file in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <opendkim/dkim.h>

#include "addr.h"
#include "config.h"
#include "dkim.h"
#include "dns.h"
#include "lists.h"
#include "orgdomain.h"
#include "policy.h"
#include "store.h"
#include "store/fault.h"
#include "throttle.h"

struct fixture {
    char dir[64];
    char db[128];
    struct config *cfg;
    struct dns_resolver *resolver;
    struct store *store;
    struct orgdomain *orgdomain;
    struct policy_env env;
};

/* The test's clock: starts at 2027-01-15 and moves only when a test says so: no test sleeps. */
static time_t test_now = 1800000000;

static time_t fixed_clock(void *arg)
{
    (void)arg;
    return test_now;
}

static int setup(void **state)
{
    char err[256];
    const char *server = getenv("INGRESS_TEST_DNS");
    if (server == NULL)
        fail_msg("INGRESS_TEST_DNS is not set: run under tests/dns/with-dns.sh");
    struct fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/test_policy.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        fail_msg("mkdtemp");
    snprintf(f->db, sizeof f->db, "%s/ingress.db", f->dir);
    f->cfg = config_new_defaults();
    /* Loopback is trusted by default; the test clients are 127.0.0.N personas. */
    assert_true(config_set(f->cfg, "trusted_networks", "", err, sizeof err));
    /* These tests are about iprev, the records and the headers; greylisting has its own below. */
    assert_true(config_set(f->cfg, "greylist", "no", err, sizeof err));
    const char *servers[] = {server};
    struct dns_options opts = {.servers = servers,
                               .server_count = 1,
                               .timeout_ms = 500,
                               .tries = 1,
                               .cache_size = 100,
                               .cache_max_ttl = 60};
    assert_int_equal(dns_resolver_new(&opts, &f->resolver, err, sizeof err), 0);
    struct store_error serr;
    f->store = store_open(f->db, 200, &serr);
    if (f->store == NULL)
        fail_msg("store_open: %s", serr.text);
    f->orgdomain = orgdomain_load(f->cfg->public_suffix_list, err, sizeof err);
    if (f->orgdomain == NULL)
        fail_msg("%s", err);
    f->env = (struct policy_env){.cfg = f->cfg,
                                 .resolver = f->resolver,
                                 .store = f->store,
                                 .orgdomain = f->orgdomain,
                                 .authserv_id = "mx.test.example",
                                 .host_name = "mx2.test.example",
                                 .clock = fixed_clock};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char path[160];
    test_now = 1800000000;
    lists_cache_free(f->env.lists);
    spf_checker_free(f->env.spf);
    dkim_verifier_free(f->env.dkim);
    orgdomain_free(f->orgdomain);
    store_close(f->store);
    dns_resolver_free(f->resolver);
    config_free(f->cfg);
    static const char *const files[] = {"ingress.db", "ingress.db-wal", "ingress.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", f->dir, files[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

struct found {
    int count;
    char actions[8][16];
    char recipients[8][64];
    char checks[8][16];
    char hosts[8][64];
    int64_t time;
};

static void collect(const struct decision *d, void *arg)
{
    struct found *found = arg;
    if (found->count < 8) {
        snprintf(found->actions[found->count], 16, "%s", d->action);
        snprintf(found->recipients[found->count], 64, "%s", d->recipient ? d->recipient : "");
        snprintf(found->checks[found->count], 16, "%s", d->check);
        snprintf(found->hosts[found->count], 64, "%s", d->host ? d->host : "(none)");
        found->time = d->time;
    }
    found->count++;
}

static struct found find(struct fixture *f, const char *key)
{
    struct found found = {0};
    store_decision_find(f->store, key, 100, collect, &found, NULL);
    return found;
}

static void client_without_ptr_is_refused_at_rcpt_and_recorded(void **state)
{
    struct fixture *f = *state;
    struct policy_conn *c = policy_conn_new(&f->env, "unknown", "127.0.0.4");
    policy_helo(c, "mail.example.org");
    assert_int_equal(policy_mail(c, "<alice@example.org>", NULL).action, VERDICT_CONTINUE);
    struct verdict v = policy_rcpt(c, "<bob@example.test>");
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_string_equal(v.check, "iprev");
    policy_record(c, &v, "550 5.7.25 test reply");
    policy_conn_free(c);

    struct found found = find(f, "127.0.0.4");
    assert_int_equal(found.count, 1);
    assert_string_equal(found.actions[0], "reject");
    assert_string_equal(found.checks[0], "iprev");
    assert_string_equal(found.recipients[0], "bob@example.test");
    assert_string_equal(found.hosts[0], "mx2.test.example"); /* the option host_name */
    assert_int_equal(found.time, 1800000000);
}

static void postmaster_is_exempt_and_acceptance_is_recorded(void **state)
{
    struct fixture *f = *state;
    char authres[512];
    struct policy_conn *c = policy_conn_new(&f->env, "unknown", "127.0.0.4");
    policy_helo(c, "mail.example.org");
    policy_mail(c, "<alice@example.org>", NULL);
    assert_int_equal(policy_rcpt(c, "<Postmaster@example.test>").action, VERDICT_CONTINUE);
    policy_set_queue_id(c, "4QX1");
    struct verdict v = policy_eom(c, authres, sizeof authres);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    /* No From field: no author domain, DMARC none (RFC 7489 11.2). */
    assert_string_equal(authres, "mx.test.example; iprev=fail policy.iprev=127.0.0.4; dmarc=none");
    policy_conn_free(c);

    struct found found = find(f, "4QX1");
    assert_int_equal(found.count, 1);
    assert_string_equal(found.actions[0], "accept");
    assert_string_equal(found.recipients[0], "Postmaster@example.test");
}

static void good_client_gets_pass_in_authentication_results(void **state)
{
    struct fixture *f = *state;
    char authres[512];
    struct policy_conn *c = policy_conn_new(&f->env, "good.example.test", "127.0.0.2");
    policy_helo(c, "good.example.test");
    policy_mail(c, "<alice@example.org>", NULL);
    assert_int_equal(policy_rcpt(c, "<bob@example.test>").action, VERDICT_CONTINUE);
    assert_int_equal(policy_rcpt(c, "<carol@example.test>").action, VERDICT_CONTINUE);
    struct verdict v = policy_eom(c, authres, sizeof authres);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_string_equal(authres, "mx.test.example; iprev=pass policy.iprev=127.0.0.2 "
                                 "(good.example.test); dmarc=none");
    policy_conn_free(c);
    assert_int_equal(find(f, "127.0.0.2").count, 2); /* one row per recipient */
}

static void trusted_network_is_not_checked(void **state)
{
    struct fixture *f = *state;
    char authres[512];
    assert_true(config_set(f->cfg, "trusted_networks", "127.0.0.0/29", NULL, 0));
    struct policy_conn *c = policy_conn_new(&f->env, "unknown", "127.0.0.4");
    policy_helo(c, "whatever");
    policy_mail(c, "<alice@example.org>", NULL);
    assert_int_equal(policy_rcpt(c, "<bob@example.test>").action, VERDICT_CONTINUE);
    policy_eom(c, authres, sizeof authres);
    assert_string_equal(authres, "mx.test.example; none");
    policy_conn_free(c);
}

static void authenticated_session_is_not_checked(void **state)
{
    struct fixture *f = *state;
    struct policy_conn *c = policy_conn_new(&f->env, "unknown", "127.0.0.4");
    policy_helo(c, "laptop");
    policy_mail(c, "<alice@example.test>", "alice@example.test");
    assert_int_equal(policy_rcpt(c, "<bob@example.org>").action, VERDICT_CONTINUE);
    policy_conn_free(c);
}

static void forged_authentication_results_are_marked_by_position(void **state)
{
    struct fixture *f = *state;
    int index = 0;
    struct policy_conn *c = policy_conn_new(&f->env, "good.example.test", "127.0.0.2");
    policy_mail(c, "<a@example.org>", NULL);
    assert_false(policy_header(c, "Subject", "mx.test.example; iprev=pass", &index));
    assert_false(policy_header(c, "Authentication-Results", "other.example; spf=pass", &index));
    assert_true(policy_header(c, "authentication-results", " MX.test.example; iprev=pass", &index));
    assert_int_equal(index, 2);
    /* A new message starts counting again (no abort comes after an early REJECT). */
    policy_mail(c, "<a@example.org>", NULL);
    assert_true(policy_header(c, "Authentication-Results", "mx.test.example; none", &index));
    assert_int_equal(index, 1);
    policy_conn_free(c);
}

/*
 * A new MAIL FROM starts a new message with none of the last one's recipients.  libmilter calls
 * abort only inside a transaction: never after the end of a message or a refused MAIL FROM (and
 * after a refused RCPT it calls abort itself only when the MTA goes on to a new MAIL FROM), so
 * the policy sees this: a message with a recipient refused early at RCPT and one accepted ends,
 * and the next MAIL FROM follows with no abort between.
 */
static void new_message_forgets_previous_recipients(void **state)
{
    struct fixture *f = *state;
    char authres[512];
    /* 127.0.0.4 has no PTR: only the exempt recipients get past RCPT. */
    struct policy_conn *c = policy_conn_new(&f->env, "unknown", "127.0.0.4");
    policy_helo(c, "mail.example.org");
    policy_mail(c, "<a@example.org>", NULL);
    assert_int_equal(policy_rcpt(c, "<postmaster@example.test>").action, VERDICT_CONTINUE);
    assert_int_equal(policy_rcpt(c, "<bob@example.test>").action, VERDICT_REJECT);
    policy_set_queue_id(c, "Q1");
    assert_int_equal(policy_eom(c, authres, sizeof authres).action, VERDICT_CONTINUE);
    policy_mail(c, "<a@example.org>", NULL);
    assert_int_equal(policy_rcpt(c, "<abuse@example.test>").action, VERDICT_CONTINUE);
    policy_set_queue_id(c, "Q2");
    policy_eom(c, authres, sizeof authres);
    policy_conn_free(c);
    struct found found = find(f, "Q2");
    assert_int_equal(found.count, 1);
    assert_string_equal(found.recipients[0], "abuse@example.test");
    assert_int_equal(find(f, "postmaster@example.test").count, 1);
}

/* The database is busy (another writer holds it): the acceptance cannot be recorded, so 451
 * 4.3.0, or accept with fail_open.  The fault comes from the store's fault wrapper, the same for
 * every backend. */
static void busy_database_gives_store_failure_unless_fail_open(void **state)
{
    struct fixture *f = *state;
    char authres[512];
    store_fault_wrap(f->store);
    store_fault_set(f->store, STORE_FAULT_DECISION_INSERT, STORE_BUSY, 0, -1);

    struct policy_conn *c = policy_conn_new(&f->env, "good.example.test", "127.0.0.2");
    policy_helo(c, "good.example.test");
    policy_mail(c, "<a@example.org>", NULL);
    policy_rcpt(c, "<b@example.test>");
    struct verdict v = policy_eom(c, authres, sizeof authres);
    assert_int_equal(v.action, VERDICT_TEMPFAIL);
    assert_int_equal(v.reply, REPLY_STORE_FAILURE);
    assert_true(verdict_reply_consistent(&v));

    assert_non_null(strstr(v.detail, "injected fault: decision_insert"));

    assert_true(config_set(f->cfg, "fail_open", "yes", NULL, 0));
    v = policy_eom(c, authres, sizeof authres);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    policy_conn_free(c);
}

/*
 * With the background writer of the decision log (as the milter runs): a busy database no
 * longer stops an accepted message, whose decision waits in the queue; only a full queue gives
 * store_failure.  The queued decision is written once the database works again.
 */
static void queued_decision_log_defers_only_when_the_queue_is_full(void **state)
{
    struct fixture *f = *state;
    char authres[512];
    store_fault_wrap(f->store);
    assert_int_equal(store_decision_writer_start(f->store, 60000, 1, 1, NULL), STORE_OK);
    store_fault_set(f->store, STORE_FAULT_DECISION_INSERT, STORE_BUSY, 0, -1);

    struct policy_conn *c = policy_conn_new(&f->env, "good.example.test", "127.0.0.2");
    policy_helo(c, "good.example.test");
    policy_mail(c, "<a@example.org>", NULL);
    policy_rcpt(c, "<queued@example.test>");
    struct verdict v = policy_eom(c, authres, sizeof authres);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    v = policy_eom(c, authres, sizeof authres);
    assert_int_equal(v.action, VERDICT_TEMPFAIL);
    assert_int_equal(v.reply, REPLY_STORE_FAILURE);
    assert_non_null(strstr(v.detail, "queue is full"));
    policy_conn_free(c);

    store_fault_clear(f->store);
    assert_int_equal(find(f, "queued@example.test").count, 1);
}

static void unknown_client_address_is_refused_not_crashed(void **state)
{
    struct fixture *f = *state;
    struct policy_conn *c = policy_conn_new(&f->env, NULL, NULL);
    policy_helo(c, NULL);
    policy_mail(c, NULL, NULL);
    struct verdict v = policy_rcpt(c, NULL);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_non_null(strstr(v.text, "[unknown]"));
    policy_record(c, &v, "550 5.7.25 x");
    policy_conn_free(c);
}

/* A reference is 16 base32 characters (80 random bits: the public page's only key), one of its
 * own per connection. */
static void reference_is_sixteen_base32_characters_and_new_per_connection(void **state)
{
    struct fixture *f = *state;
    char seen[64][POLICY_REF_LEN + 1];

    for (size_t i = 0; i < 64; i++) {
        struct policy_conn *c = policy_conn_new(&f->env, "mail.example.org", "127.0.0.1");
        const char *ref = policy_conn_ref(c);
        assert_int_equal(strlen(ref), 16);
        assert_int_equal(strspn(ref, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 16);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(ref, seen[j]);
        snprintf(seen[i], sizeof seen[i], "%s", ref);
        policy_conn_free(c);
    }
}

/* Greylisting at RCPT (ARCHITECTURE.md "Greylisting"): first sight deferred, a retry after the
 * delay passes. */
static void unknown_sender_is_greylisted_at_rcpt_then_passes_after_the_delay(void **state)
{
    struct fixture *f = *state;
    assert_true(config_set(f->cfg, "greylist", "yes", NULL, 0));
    struct policy_conn *c = policy_conn_new(&f->env, "good.example.test", "127.0.0.2");
    policy_helo(c, "good.example.test");
    policy_mail(c, "<alice@example.org>", NULL);
    struct verdict v = policy_rcpt(c, "<bob@example.test>");
    assert_int_equal(v.action, VERDICT_TEMPFAIL);
    assert_int_equal(v.reply, REPLY_GREYLISTED);
    assert_non_null(strstr(v.text, "300 seconds"));
    /* postmaster@ is never greylisted. */
    assert_int_equal(policy_rcpt(c, "<postmaster@example.test>").action, VERDICT_CONTINUE);
    policy_conn_free(c);

    test_now += 301;
    c = policy_conn_new(&f->env, "good.example.test", "127.0.0.2");
    policy_helo(c, "good.example.test");
    policy_mail(c, "<alice@example.org>", NULL);
    assert_int_equal(policy_rcpt(c, "<bob@example.test>").action, VERDICT_CONTINUE);
    policy_conn_free(c);
}

/* SPF pass for MAIL FROM: greylisting waits for end of message, where DKIM is known. */
static void spf_pass_mail_is_greylisted_at_end_of_message_without_dkim(void **state)
{
    struct fixture *f = *state;
    char authres[1024];
    assert_true(config_set(f->cfg, "greylist", "yes", NULL, 0));
    assert_true(config_set(f->cfg, "iprev_action", "log", NULL, 0)); /* 192.0.2.10 has no PTR */
    f->env.spf = spf_checker_new(f->resolver, "mx.test.example");
    struct policy_conn *c = policy_conn_new(&f->env, "unknown", "192.0.2.10");
    policy_helo(c, "mail.pass.spf.test");
    policy_mail(c, "<alice@pass.spf.test>", NULL);
    assert_int_equal(policy_rcpt(c, "<bob@example.test>").action, VERDICT_CONTINUE);
    struct verdict v = policy_eom(c, authres, sizeof authres);
    assert_int_equal(v.action, VERDICT_TEMPFAIL);
    assert_int_equal(v.reply, REPLY_GREYLISTED);
    /* The deferral at end of message is recorded for the recipients it concerns. */
    policy_record(c, &v, "451 4.7.1 Greylisted");
    struct found found = find(f, "bob@example.test");
    assert_int_equal(found.count, 1);
    assert_string_equal(found.checks[0], "greylist");
    assert_string_equal(found.actions[0], "tempfail");
    policy_conn_free(c);
}

/* SPF fail refuses at RCPT with 5.7.23; postmaster@ still gets the mail. */
static void spf_fail_is_refused_at_rcpt_except_postmaster(void **state)
{
    struct fixture *f = *state;
    char authres[1024];
    assert_true(config_set(f->cfg, "iprev_action", "log", NULL, 0));
    f->env.spf = spf_checker_new(f->resolver, "mx.test.example");
    struct policy_conn *c = policy_conn_new(&f->env, "unknown", "192.0.2.99");
    policy_helo(c, "mail.example.test");
    policy_mail(c, "<alice@fail.spf.test>", NULL);
    struct verdict v = policy_rcpt(c, "<bob@example.test>");
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_SPF_FAIL);
    assert_string_equal(reply_table[v.reply].xcode, "5.7.23");
    assert_int_equal(policy_rcpt(c, "<postmaster@example.test>").action, VERDICT_CONTINUE);
    assert_int_equal(policy_eom(c, authres, sizeof authres).action, VERDICT_CONTINUE);
    assert_non_null(strstr(authres, "spf=fail smtp.mailfrom=fail.spf.test"));
    policy_conn_free(c);
}

static void add_entry(struct fixture *f, const char *kind, const char *value, const char *action,
                      const char *reason)
{
    struct list_entry e = {.kind = kind,
                           .value = value,
                           .action = action,
                           .reason = reason,
                           .added_by = "test",
                           .added_at = test_now};
    char previous[16];
    assert_int_equal(store_list_add(f->store, &e, previous, sizeof previous, NULL), STORE_OK);
}

/* A blocked network gets 554 5.7.1 and the reply table's text, never the entry's internal reason;
 * an allow inside it skips every check. */
static void blocked_network_refused_and_allow_entry_skips_checks(void **state)
{
    struct fixture *f = *state;
    assert_true(config_set(f->cfg, "greylist", "yes", NULL, 0));
    add_entry(f, "cidr", "127.0.0.0/29", "block", "compromised hosts");
    add_entry(f, "cidr", "127.0.0.4/32", "allow", "partner relay");
    f->env.lists = lists_cache_new(f->store, 0);

    struct policy_conn *c = policy_conn_new(&f->env, "good.example.test", "127.0.0.2");
    policy_helo(c, "good.example.test");
    policy_mail(c, "<alice@example.org>", NULL);
    struct verdict v = policy_rcpt(c, "<bob@example.test>");
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_BLACKLISTED);
    assert_string_equal(v.text, "Client [127.0.0.2] blocked by local policy");
    assert_non_null(strstr(v.detail, "compromised hosts"));
    policy_conn_free(c);

    /* 127.0.0.4 has no PTR and is unknown to greylisting, yet its allow entry lets it through. */
    c = policy_conn_new(&f->env, "unknown", "127.0.0.4");
    policy_helo(c, "whatever.example.test");
    policy_mail(c, "<alice@example.org>", NULL);
    assert_int_equal(policy_rcpt(c, "<bob@example.test>").action, VERDICT_CONTINUE);
    policy_conn_free(c);
}

/* A greylist_exempt entry lets a new client past greylisting, and nothing else: a client beside
 * it is greylisted, an exempt client without reverse DNS is refused by iprev, and a block entry of
 * its sender still refuses it. */
static void greylist_exempt_entry_skips_greylisting_and_no_other_check(void **state)
{
    struct fixture *f = *state;
    assert_true(config_set(f->cfg, "greylist", "yes", NULL, 0));
    add_entry(f, "cidr", "127.0.0.2/32", "greylist_exempt", "postgrey whitelist_clients");
    add_entry(f, "cidr", "127.0.0.4/32", "greylist_exempt", "no PTR, exempt anyway");
    add_entry(f, "sender_domain", "spam.example", "block", "ticket 77");
    f->env.lists = lists_cache_new(f->store, 0);

    struct policy_conn *c = policy_conn_new(&f->env, "good.example.test", "127.0.0.2");
    policy_helo(c, "good.example.test");
    policy_mail(c, "<alice@example.org>", NULL);
    assert_int_equal(policy_rcpt(c, "<bob@example.test>").action, VERDICT_CONTINUE);
    policy_mail(c, "<x@spam.example>", NULL);
    struct verdict v = policy_rcpt(c, "<bob@example.test>");
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_SENDER_DOMAIN_BLOCKED);
    policy_conn_free(c);

    c = policy_conn_new(&f->env, "unknown", "127.0.0.4");
    policy_helo(c, "mail.example.org");
    policy_mail(c, "<alice@example.org>", NULL);
    v = policy_rcpt(c, "<bob@example.test>");
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_string_equal(v.check, "iprev");
    policy_conn_free(c);

    c = policy_conn_new(&f->env, "good11.example.test", "127.0.0.11");
    policy_helo(c, "good11.example.test");
    policy_mail(c, "<alice@example.org>", NULL);
    v = policy_rcpt(c, "<bob@example.test>");
    assert_int_equal(v.action, VERDICT_TEMPFAIL);
    assert_int_equal(v.reply, REPLY_GREYLISTED);
    policy_conn_free(c);
}

/*
 * DMARC at end of message (lib/dmarc.c through lib/policy.c): one inbound message from client
 * ip (iprev checked, SPF when the env has a checker), MAIL FROM sender, one recipient, these
 * headers (name, value pairs, NULL-terminated).  *c_out keeps the connection when not NULL.
 */
static struct verdict dmarc_message(struct fixture *f, const char *ip, const char *sender,
                                    const char *rcpt, const char *const *headers, char *authres,
                                    size_t authres_len, struct policy_conn **c_out)
{
    int index;
    struct policy_conn *c = policy_conn_new(&f->env, "unknown", ip);
    policy_helo(c, "mail.dmarc.test");
    policy_mail(c, sender, NULL);
    assert_int_equal(policy_rcpt(c, rcpt).action, VERDICT_CONTINUE);
    for (size_t i = 0; headers[i] != NULL; i += 2)
        policy_header(c, headers[i], headers[i + 1], &index);
    policy_eoh(c);
    struct verdict v = policy_eom(c, authres, authres_len);
    if (c_out != NULL)
        *c_out = c;
    else
        policy_conn_free(c);
    return v;
}

/* A From of a p=reject domain that nothing authenticates: 550 5.7.1 at end of DATA; the same
 * through an allow entry, or to exempt recipients only, is delivered with the result. */
static void dmarc_reject_unless_allowed_or_exempt(void **state)
{
    struct fixture *f = *state;
    char authres[1024];
    static const char *const spoof[] = {"From", "CEO <ceo@dmarc.test>", NULL};
    assert_true(config_set(f->cfg, "iprev_action", "log", NULL, 0)); /* 192.0.2.x: no PTR */
    f->env.lists = lists_cache_new(f->store, 0);

    struct verdict v = dmarc_message(f, "192.0.2.10", "<news@lists.example.test>",
                                     "<bob@example.test>", spoof, authres, sizeof authres, NULL);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_DMARC_REJECT);
    assert_string_equal(v.check, "dmarc");
    assert_non_null(strstr(v.detail, "the From domain dmarc.test publishes p=reject"));

    v = dmarc_message(f, "192.0.2.10", "<news@lists.example.test>", "<postmaster@example.test>",
                      spoof, authres, sizeof authres, NULL);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_non_null(strstr(authres, "; dmarc=fail (p=reject dis=none) header.from=dmarc.test"));

    add_entry(f, "cidr", "192.0.2.11/32", "allow", "list server");
    struct policy_conn *c;
    v = dmarc_message(f, "192.0.2.11", "<news@lists.example.test>", "<bob@example.test>", spoof,
                      authres, sizeof authres, &c);
    policy_set_queue_id(c, "4QDMARC1");
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_non_null(strstr(authres, "; dmarc=fail (p=reject dis=none) header.from=dmarc.test"));
    policy_conn_free(c);
    /* the acceptance's detail says why it was not refused */
    struct found found = find(f, "192.0.2.11");
    assert_int_equal(found.count, 1);
    assert_string_equal(found.actions[0], "accept");
    /* The recorded decisions (the acceptances to postmaster@ and through the allow entry) carry
     * the header From's address, which `why` finds them by, in any case. */
    struct store_decision_query q = {.key = "Ceo@Dmarc.test", .limit = 10};
    found = (struct found){0};
    assert_int_equal(store_decision_search(f->store, &q, collect, &found, NULL), STORE_OK);
    assert_int_equal(found.count, 2);
    assert_string_equal(found.recipients[0], "bob@example.test");
    assert_string_equal(found.recipients[1], "postmaster@example.test");
}

/* The other actions: a header for users' filters, the hold queue. */
static void dmarc_quarantine_header_and_hold(void **state)
{
    struct fixture *f = *state;
    char authres[1024], value[256];
    static const char *const sub[] = {"From", "a@sub.dmarc.test", NULL};
    assert_true(config_set(f->cfg, "iprev_action", "log", NULL, 0));
    struct policy_conn *c;
    struct verdict v = dmarc_message(f, "192.0.2.10", "<x@example.test>", "<bob@example.test>", sub,
                                     authres, sizeof authres, &c);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_true(policy_dmarc_header(c, value, sizeof value));
    assert_string_equal(value, "fail (p=quarantine dis=quarantine) header.from=sub.dmarc.test");
    policy_conn_free(c);

    assert_true(config_set(f->cfg, "dmarc_quarantine_action", "hold", NULL, 0));
    v = dmarc_message(f, "192.0.2.10", "<x@example.test>", "<bob@example.test>", sub, authres,
                      sizeof authres, &c);
    assert_int_equal(v.action, VERDICT_HOLD);
    assert_false(policy_dmarc_header(c, value, sizeof value));
    policy_set_queue_id(c, "4QHELD1");
    assert_int_equal(policy_hold_commit(c).action, VERDICT_CONTINUE);
    policy_conn_free(c);

    assert_true(config_set(f->cfg, "dmarc", "no", NULL, 0));
    v = dmarc_message(f, "192.0.2.10", "<x@example.test>", "<bob@example.test>", sub, authres,
                      sizeof authres, NULL);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_null(strstr(authres, "dmarc="));
}

/* An X-Ingress-DMARC from the sender is removed where DMARC is evaluated, counted by name. */
static void forged_dmarc_header_is_marked_for_removal(void **state)
{
    struct fixture *f = *state;
    int index = 0;
    struct policy_conn *c = policy_conn_new(&f->env, "unknown", "192.0.2.10");
    policy_mail(c, "<x@example.test>", NULL);
    assert_false(policy_header(c, "Authentication-Results", "other.example; none", &index));
    assert_true(policy_header(c, "x-ingress-dmarc", "pass", &index));
    assert_int_equal(index, 1);
    assert_true(policy_header(c, DMARC_HEADER_NAME, "pass", &index));
    assert_int_equal(index, 2);
    policy_conn_free(c);
    /* a trusted client's (another of our hosts, say) is kept */
    assert_true(config_set(f->cfg, "trusted_networks", "192.0.2.0/24", NULL, 0));
    c = policy_conn_new(&f->env, "unknown", "192.0.2.10");
    policy_mail(c, "<x@example.test>", NULL);
    assert_false(policy_header(c, DMARC_HEADER_NAME, "pass", &index));
    policy_conn_free(c);
}

/* dmarc_greylist_bypass: SPF pass and a DMARC pass confirm the triplet without DKIM. */
static void dmarc_pass_bypasses_greylisting_when_asked(void **state)
{
    struct fixture *f = *state;
    char authres[1024];
    static const char *const from[] = {"From", "a@dmarc.test", NULL};
    assert_true(config_set(f->cfg, "greylist", "yes", NULL, 0));
    assert_true(config_set(f->cfg, "iprev_action", "log", NULL, 0));
    f->env.spf = spf_checker_new(f->resolver, "mx.test.example");
    /* SPF pass for mail.dmarc.test, which aligns with dmarc.test: DMARC pass, no DKIM */
    struct verdict v = dmarc_message(f, "192.0.2.10", "<bounce@mail.dmarc.test>",
                                     "<bob@example.test>", from, authres, sizeof authres, NULL);
    assert_int_equal(v.reply, REPLY_GREYLISTED);
    assert_true(config_set(f->cfg, "dmarc_greylist_bypass", "yes", NULL, 0));
    v = dmarc_message(f, "192.0.2.10", "<bounce@mail.dmarc.test>", "<carol@example.test>", from,
                      authres, sizeof authres, NULL);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_non_null(strstr(authres, "; dmarc=pass (p=reject dis=none) header.from=dmarc.test"));
    /* a From whose DMARC does not pass gets no bypass */
    static const char *const other[] = {"From", "a@example.test", NULL};
    v = dmarc_message(f, "192.0.2.10", "<bounce@mail.dmarc.test>", "<dave@example.test>", other,
                      authres, sizeof authres, NULL);
    assert_int_equal(v.reply, REPLY_GREYLISTED);
}

/* Submission (ARCHITECTURE.md "Submission"): one authenticated message, MAIL FROM then the given
 * headers. */
static struct policy_conn *submit(struct fixture *f, const char *account, const char *mail_from,
                                  struct verdict *at_mail)
{
    struct policy_conn *c = policy_conn_new(&f->env, "laptop.example.org", "192.0.2.50");
    policy_helo(c, "laptop");
    *at_mail = policy_mail(c, mail_from, account);
    return c;
}

static void submission_sender_must_be_owned_by_the_account(void **state)
{
    struct fixture *f = *state;
    struct verdict v;
    struct store_alias alias = {.account = "alice@example.test",
                                .address = "sales@example.test",
                                .added_by = "test",
                                .added_at = test_now};
    assert_int_equal(store_alias_add(f->store, &alias, NULL, NULL), STORE_OK);

    struct policy_conn *c = submit(f, "alice@example.test", "<Alice@Example.TEST>", &v);
    assert_int_equal(v.action, VERDICT_CONTINUE); /* the login, compared without case */
    policy_conn_free(c);
    c = submit(f, "alice@example.test", "<sales@example.test>", &v);
    assert_int_equal(v.action, VERDICT_CONTINUE); /* an alias */
    policy_conn_free(c);
    c = submit(f, "alice@example.test", "<bob@example.test>", &v);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_SENDER_MISMATCH);
    assert_string_equal(reply_table[v.reply].code, "553");
    assert_non_null(strstr(v.text, "<bob@example.test>"));
    policy_conn_free(c);
    c = submit(f, "alice@example.test", "<>", &v);
    assert_int_equal(v.action, VERDICT_REJECT); /* no null sender after login */
    policy_conn_free(c);
}

static void submission_header_from_must_be_single_and_owned(void **state)
{
    struct fixture *f = *state;
    char authres[1024];
    int index;
    struct verdict v;

    struct policy_conn *c = submit(f, "alice@example.test", "<alice@example.test>", &v);
    assert_int_equal(policy_rcpt(c, "<carol@example.org>").action, VERDICT_CONTINUE);
    policy_header(c, "From", "Alice <alice@example.test>", &index);
    assert_int_equal(policy_eom(c, authres, sizeof authres).action, VERDICT_CONTINUE);
    policy_conn_free(c);

    c = submit(f, "alice@example.test", "<alice@example.test>", &v);
    policy_rcpt(c, "<carol@example.org>");
    policy_header(c, "From", "\"The Boss\" <boss@example.test>", &index);
    v = policy_eom(c, authres, sizeof authres);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_SENDER_MISMATCH);
    assert_non_null(strstr(v.text, "boss@example.test"));
    policy_conn_free(c);

    c = submit(f, "alice@example.test", "<alice@example.test>", &v);
    policy_rcpt(c, "<carol@example.org>");
    policy_header(c, "From", "alice@example.test", &index);
    policy_header(c, "From", "alice@example.test", &index);
    v = policy_eom(c, authres, sizeof authres);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_BAD_FROM);
    assert_string_equal(reply_table[v.reply].xcode, "5.6.0");
    policy_conn_free(c);

    c = submit(f, "alice@example.test", "<alice@example.test>", &v);
    policy_rcpt(c, "<carol@example.org>");
    v = policy_eom(c, authres, sizeof authres); /* no From at all */
    assert_int_equal(v.reply, REPLY_BAD_FROM);
    policy_conn_free(c);
}

static void suspended_account_is_refused_at_mail_from(void **state)
{
    struct fixture *f = *state;
    struct verdict v;
    assert_int_equal(
        store_account_suspend(f->store, "alice@example.test", test_now, "leaked", NULL, NULL),
        STORE_OK);
    struct policy_conn *c = submit(f, "Alice@example.test", "<alice@example.test>", &v);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_ACCOUNT_SUSPENDED);
    assert_string_equal(reply_table[v.reply].code, "554");
    assert_string_equal(reply_table[v.reply].xcode, "5.7.1");
    assert_non_null(strstr(v.detail, "leaked"));
    policy_conn_free(c);
    assert_int_equal(store_account_resume(f->store, "alice@example.test", NULL), STORE_OK);
    c = submit(f, "alice@example.test", "<alice@example.test>", &v);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    policy_conn_free(c);
}

/* ---- the RFC 5322.From domain: one parser for every use ---------------------------------- */

/*
 * From headers and what each use of the header acts on: the From domain (lib/addr.c's
 * addr_from_domain, NULL for none), the submission check (a substring of its verdict for an
 * account that owns none of these addresses), and the greylist bypass (a DKIM signature of
 * d=dkim.test over an SPF pass for pass.spf.test: it aligns only through a From domain under
 * dkim.test).  A parser of its own in any use would answer another domain for one of them.
 */
static const struct {
    const char *from;
    const char *domain;
    const char *submission;
    bool bypass;
} from_cases[] = {
    /* comments are not addresses */
    {"x@bad.example (c@dkim.test)", "bad.example", "header_from=<x@bad.example>", false},
    {"x@dkim.test (c@bad.example)", "dkim.test", "header_from=<x@dkim.test>", true},
    {"x(a (nested) c@bad.example)@Mail.DKIM.test", "mail.dkim.test",
     "header_from=<x@mail.dkim.test>", true},
    /* display names, quoted or not, are not addresses */
    {"\"c@dkim.test\" <x@bad.example>", "bad.example", "header_from=<x@bad.example>", false},
    {"Alice <X@DKIM.Test>", "dkim.test", "header_from=<X@dkim.test>", true},
    /* a quoted local part holds an '@' of its own */
    {"\"x@bad.example\"@dkim.test", "dkim.test", "header_from=<x@bad.example@dkim.test>", true},
    {"\"x@dkim.test\"@bad.example", "bad.example", "header_from=<x@dkim.test@bad.example>", false},
    /* encoded words (RFC 2047) are display names; an '@' may not appear in one unencoded */
    {"=?utf-8?q?c=40dkim.test?= <x@bad.example>", "bad.example", "header_from=<x@bad.example>",
     false},
    {"=?utf-8?b?Y0BiYWQuZXhhbXBsZQ==?= <x@dkim.test>", "dkim.test", "header_from=<x@dkim.test>",
     true},
    {"=?utf-8?q?c@dkim.test?= <x@bad.example>", NULL, "header_from: ", false},
    /* groups give their members */
    {"Team: x@dkim.test;", "dkim.test", "header_from=<x@dkim.test>", true},
    {"undisclosed-recipients:;", NULL, "header_from: no single address", false},
    /* several addresses: no one author domain */
    {"x@dkim.test, y@dkim.test", NULL, "header_from=<x@dkim.test>", false},
    {"Team: x@dkim.test, y@bad.example;", NULL, "header_from=<x@dkim.test>", false},
    /* no domain, an address literal */
    {"alice", NULL, "header_from: ", false},
    {"x@[192.0.2.1]", "[192.0.2.1]", "header_from=<x@[192.0.2.1]>", false},
    {"x@dkim.test (unterminated", NULL, "header_from: ", false},
};

/* The DKIM-Signature value (no name) of d=dkim.test s=good over From, Subject and body, made
 * with libopendkim's signer and the key of tests/dns/dkim.test.zone's good._domainkey. */
static void sign_message(const char *from, const char *body, char *sig, size_t siglen)
{
    static char key[4096];
    if (key[0] == '\0') {
        FILE *fp = fopen(INGRESS_SOURCE_DIR "/tests/dkim/keys/rsa2048.pem", "r");
        assert_non_null(fp);
        size_t n = fread(key, 1, sizeof key - 1, fp);
        key[n] = '\0';
        fclose(fp);
    }
    DKIM_STAT st;
    DKIM_LIB *lib = dkim_init(NULL, NULL);
    DKIM *d = dkim_sign(lib, (const unsigned char *)"test", NULL, (dkim_sigkey_t)key,
                        (const unsigned char *)"good", (const unsigned char *)"dkim.test",
                        DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, DKIM_SIGN_RSASHA256, -1, &st);
    assert_non_null(d);
    size_t fieldlen = strlen(from) + 16;
    char *field = malloc(fieldlen);
    snprintf(field, fieldlen, "From: %s", from);
    assert_int_equal(dkim_header(d, (unsigned char *)field, strlen(field)), DKIM_STAT_OK);
    free(field);
    static const char subject[] = "Subject: one parser";
    assert_int_equal(dkim_header(d, (unsigned char *)(uintptr_t)subject, sizeof subject - 1),
                     DKIM_STAT_OK);
    assert_int_equal(dkim_eoh(d), DKIM_STAT_OK);
    assert_int_equal(dkim_body(d, (unsigned char *)(uintptr_t)body, strlen(body)), DKIM_STAT_OK);
    assert_int_equal(dkim_eom(d, NULL), DKIM_STAT_OK);
    assert_int_equal(dkim_getsighdr(d, (unsigned char *)sig, siglen, strlen("DKIM-Signature: ")),
                     DKIM_STAT_OK);
    dkim_free(d);
    dkim_close(lib);
}

static const char signed_body[] = "One parser for every use.\r\n";

/* The signature verifies over this From (checked apart, since a deferred message gets no
 * Authentication-Results): a bypass that does not happen is then alignment's doing. */
static bool signature_passes(struct fixture *f, const char *from, const char *sig)
{
    struct dkim_check *check = dkim_check_new(f->env.dkim, NULL);
    dkim_check_header(check, "DKIM-Signature", sig);
    dkim_check_header(check, "From", from);
    dkim_check_header(check, "Subject", "one parser");
    dkim_check_eoh(check);
    dkim_check_body(check, (const unsigned char *)signed_body, strlen(signed_body));
    dkim_check_eom(check);
    bool pass = dkim_check_result(check) == DKIM_PASS &&
                strcmp(dkim_check_signature(check, 0)->domain, "dkim.test") == 0;
    dkim_check_free(check);
    return pass;
}

/* An inbound SPF-pass message signed by dkim.test with this From: its verdict at end of DATA. */
static struct verdict inbound_signed(struct fixture *f, const char *from, const char *sig,
                                     const char *rcpt)
{
    char authres[2048];
    int index;
    struct policy_conn *c = policy_conn_new(&f->env, "unknown", "192.0.2.10");
    policy_helo(c, "mail.pass.spf.test");
    policy_mail(c, "<alice@pass.spf.test>", NULL);
    assert_int_equal(policy_rcpt(c, rcpt).action, VERDICT_CONTINUE);
    policy_header(c, "DKIM-Signature", sig, &index);
    policy_header(c, "From", from, &index);
    policy_header(c, "Subject", "one parser", &index);
    policy_eoh(c);
    policy_body(c, (const unsigned char *)signed_body, strlen(signed_body));
    struct verdict v = policy_eom(c, authres, sizeof authres);
    policy_conn_free(c);
    return v;
}

static void from_domain_is_the_same_for_every_use(void **state)
{
    struct fixture *f = *state;
    char err[256], domain[ADDR_DOMAIN_MAX + 1], authres[2048], rcpt[64], sig[4096];
    int index;
    assert_true(config_set(f->cfg, "greylist", "yes", NULL, 0));
    assert_true(config_set(f->cfg, "iprev_action", "log", NULL, 0)); /* 192.0.2.10 has no PTR */
    f->env.spf = spf_checker_new(f->resolver, "mx.test.example");
    f->env.dkim = dkim_verifier_new(f->resolver, f->cfg, err, sizeof err);
    assert_non_null(f->env.dkim);

    for (size_t i = 0; i < sizeof from_cases / sizeof from_cases[0]; i++) {
        const char *from = from_cases[i].from;
        /* the From domain itself */
        enum addr_status st = addr_from_domain(from, strlen(from), domain, sizeof domain, NULL, 0);
        if (from_cases[i].domain != NULL && (st != ADDR_OK || strcmp(domain, from_cases[i].domain)))
            fail_msg("From: %s: domain \"%s\" (%s), want %s", from, domain, addr_status_name(st),
                     from_cases[i].domain);
        if (from_cases[i].domain == NULL && st == ADDR_OK)
            fail_msg("From: %s: domain %s, want none", from, domain);

        /* the submission check, for an account that owns none of these addresses */
        struct verdict v;
        struct policy_conn *c = submit(f, "alice@example.test", "<alice@example.test>", &v);
        policy_rcpt(c, "<carol@example.org>");
        policy_header(c, "From", from, &index);
        v = policy_eom(c, authres, sizeof authres);
        policy_conn_free(c);
        if (v.action != VERDICT_REJECT || strstr(v.detail, from_cases[i].submission) == NULL)
            fail_msg("From: %s: submission %s \"%s\", want reject with \"%s\"", from,
                     verdict_action_name(v.action), v.detail, from_cases[i].submission);

        /* the greylist bypass, with a valid signature of dkim.test (a new triplet each time) */
        snprintf(rcpt, sizeof rcpt, "<case%zu@example.test>", i);
        sign_message(from, signed_body, sig, sizeof sig);
        if (!signature_passes(f, from, sig))
            fail_msg("From: %s: the signature of dkim.test does not verify", from);
        v = inbound_signed(f, from, sig, rcpt);
        bool bypassed = v.action == VERDICT_CONTINUE;
        if (bypassed != from_cases[i].bypass)
            fail_msg("From: %s: greylist bypass %s, want %s (%s)", from, bypassed ? "yes" : "no",
                     from_cases[i].bypass ? "yes" : "no", v.detail);
        if (!bypassed)
            assert_int_equal(v.reply, REPLY_GREYLISTED);
    }
}

/*
 * A From header longer than the parser reads (ADDR_INPUT_MAX) is refused whole, not judged on
 * its first 32 KiB: here an owned address first and an unowned one past the bound.
 */
static void from_header_over_the_parser_bound_is_refused_whole(void **state)
{
    struct fixture *f = *state;
    char authres[1024], domain[ADDR_DOMAIN_MAX + 1];
    int index;
    struct verdict v;
    size_t pad = ADDR_INPUT_MAX + 100;
    char *from = malloc(pad + 64);
    int n = snprintf(from, pad + 64, "alice@example.test,");
    memset(from + n, ' ', pad);
    strcpy(from + n + pad, "boss@example.test");

    assert_int_equal(addr_from_domain(from, strlen(from), domain, sizeof domain, NULL, 0),
                     ADDR_TOO_LONG);
    struct policy_conn *c = submit(f, "alice@example.test", "<alice@example.test>", &v);
    policy_rcpt(c, "<carol@example.org>");
    policy_header(c, "From", from, &index);
    v = policy_eom(c, authres, sizeof authres);
    policy_conn_free(c);
    free(from);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_BAD_FROM);
    assert_non_null(strstr(v.detail, "longer than 32768"));
}

/* One authenticated message of alice with one recipient, through end of message. */
static struct verdict send_one(struct fixture *f, struct policy_conn **out)
{
    char authres[1024];
    int index;
    struct verdict v;
    struct policy_conn *c = submit(f, "alice@example.test", "<alice@example.test>", &v);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    policy_set_queue_id(c, "4QTEST1");
    assert_int_equal(policy_rcpt(c, "<carol@example.org>").action, VERDICT_CONTINUE);
    policy_header(c, "From", "alice@example.test", &index);
    policy_header(c, "Subject", "  quarterly figures", &index);
    policy_eoh(c);
    policy_body(c, (const unsigned char *)"hello\r\n", 7);
    v = policy_eom(c, authres, sizeof authres);
    if (out != NULL)
        *out = c;
    else
        policy_conn_free(c);
    return v;
}

struct held_seen {
    int count;
    char subject[64], reason[128], recipients[64];
    int64_t size;
};

static void held_seen(const struct store_held *h, void *arg)
{
    struct held_seen *s = arg;
    s->count++;
    snprintf(s->subject, sizeof s->subject, "%s", h->subject);
    snprintf(s->reason, sizeof s->reason, "%s", h->reason);
    snprintf(s->recipients, sizeof s->recipients, "%s", h->recipients);
    s->size = h->size;
}

/*
 * Over the account's limit (2 messages a minute here) the third message gets throttle_action:
 * hold (VERDICT_HOLD, then the held row and the account marked throttled once the MTA took it),
 * tempfail (451 4.7.1) or reject (550 5.7.1); refused messages are not counted.
 */
static void throttle_actions_over_the_limit(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct policy_conn *c;
    f->env.throttle = throttle_new();
    assert_true(config_set(f->cfg, "throttle_messages_per_minute", "2", err, sizeof err));
    assert_true(config_set(f->cfg, "throttle_floor_messages_per_minute", "2", err, sizeof err));

    assert_int_equal(send_one(f, NULL).action, VERDICT_CONTINUE);
    assert_int_equal(send_one(f, NULL).action, VERDICT_CONTINUE);

    assert_true(config_set(f->cfg, "throttle_action", "tempfail", err, sizeof err));
    struct verdict v = send_one(f, NULL);
    assert_int_equal(v.action, VERDICT_TEMPFAIL);
    assert_int_equal(v.reply, REPLY_THROTTLED);
    assert_string_equal(reply_table[v.reply].code, "451");
    assert_non_null(strstr(v.detail, "1m window: 3 messages > "));

    assert_true(config_set(f->cfg, "throttle_action", "reject", err, sizeof err));
    v = send_one(f, NULL);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_THROTTLE_REJECT);
    assert_string_equal(reply_table[v.reply].code, "550");
    /* Still 3 > 2: the refused messages were not counted. */
    assert_non_null(strstr(v.detail, "1m window: 3 messages > "));

    assert_true(config_set(f->cfg, "throttle_action", "hold", err, sizeof err));
    v = send_one(f, &c);
    assert_int_equal(v.action, VERDICT_HOLD);
    assert_string_equal(v.check, "throttle");
    assert_int_equal(policy_hold_commit(c).action, VERDICT_CONTINUE);
    policy_conn_free(c);
    struct held_seen seen = {0};
    assert_int_equal(store_held_each(f->store, "4QTEST1", NULL, "held", held_seen, &seen, NULL),
                     STORE_OK);
    assert_int_equal(seen.count, 1);
    assert_string_equal(seen.subject, "quarterly figures");
    assert_string_equal(seen.recipients, "carol@example.org");
    assert_non_null(strstr(seen.reason, "1m window: 3 messages > "));
    /* "From: alice@example.test\r\n" 26 + "Subject:   quarterly figures\r\n" 30 + 2 + 7 */
    assert_int_equal(seen.size, 26 + 30 + 2 + 7);
    struct store_throttle_state st;
    assert_int_equal(store_throttle_get(f->store, "alice@example.test", &st, NULL), STORE_OK);
    assert_true(st.throttled > 0);

    /* Throttled: the next message is held too, even a minute later under the limit. */
    test_now += 120;
    v = send_one(f, &c);
    assert_int_equal(v.action, VERDICT_HOLD);
    assert_non_null(strstr(v.detail, "account throttled until the postmaster acts"));
    policy_conn_free(c);
    /* Unthrottled (ingressctl account unthrottle): it passes. */
    assert_int_equal(store_throttle_clear(f->store, "alice@example.test", test_now, NULL),
                     STORE_OK);
    test_now += 10;
    assert_int_equal(send_one(f, NULL).action, VERDICT_CONTINUE);
    throttle_free(f->env.throttle);
    f->env.throttle = NULL;
}

/*
 * Log lines are "QUEUEID: check=..." and then key=value pairs, a value either "..."
 * with no '"' inside or a word with no space.  Each pair of the line goes to keys[] (at most 16).
 * False when a part of the line is not such a pair.
 */
static bool log_pairs(const char *line, char keys[][32], char values[][512], int *n)
{
    const char *p = strstr(line, ": check="); /* after -f logging's "TIME LEVEL: QUEUEID" */
    *n = 0;
    if (p == NULL)
        return false;
    for (p += 2; *p != '\0' && *p != '\n';) {
        size_t k = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
        if (k == 0 || k >= 32 || p[k] != '=' || *n == 16)
            return false;
        const char *v = p + k + 1, *end;
        if (*v == '"') {
            end = strchr(v + 1, '"');
            if (end == NULL)
                return false;
            end++;
        } else {
            end = v + strcspn(v, " \n\"");
            if (*end == '"')
                return false;
        }
        if ((size_t)(end - v) >= 512)
            return false;
        memcpy(keys[*n], p, k);
        keys[*n][k] = '\0';
        memcpy(values[*n], v, (size_t)(end - v));
        values[*n][end - v] = '\0';
        (*n)++;
        p = *end == ' ' ? end + 1 : end;
    }
    return true;
}

/*
 * The next decision line (one with "check=") of text (the log for the first call, then NULL, as
 * strtok_r), parsed into keys and values (log_pairs); NULL at the end.  A decision line the quoting
 * rule cannot read fails the test.
 */
static char *next_decision(char *text, char **save, char keys[][32], char values[][512], int *n)
{
    for (char *line; (line = strtok_r(text, "\n", save)) != NULL; text = NULL) {
        if (strstr(line, "check=") == NULL)
            continue;
        if (!log_pairs(line, keys, values, n))
            fail_msg("not key=value pairs: %s", line);
        return line;
    }
    return NULL;
}

/* What the policy logs while fn runs (log.c writes to stderr in tests), into buf. */
static void capture_log(void (*fn)(struct fixture *), struct fixture *f, char *buf, size_t len)
{
    char path[160];
    snprintf(path, sizeof path, "%s/log.txt", f->dir);
    fflush(stderr);
    int saved = dup(2);
    FILE *out = fopen(path, "w+");
    assert_non_null(out);
    assert_true(saved >= 0 && dup2(fileno(out), 2) == 2);
    fn(f);
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    rewind(out);
    size_t got = fread(buf, 1, len - 1, out);
    buf[got] = '\0';
    fclose(out);
    unlink(path);
}

/* A hostile HELO, sender and recipient, with spaces, '"' and '=': refused at RCPT, then a message
 * accepted for postmaster at end of message. */
static void hostile_connection(struct fixture *f)
{
    char authres[512];
    struct policy_conn *c = policy_conn_new(&f->env, "unknown", "127.0.0.4");
    policy_helo(c, "x iprev=pass");
    policy_mail(c, "<\"a spf=pass action=accept\"@example.org>", NULL);
    struct verdict v = policy_rcpt(c, "<\"b check=none\"@example.test>");
    assert_int_equal(v.action, VERDICT_REJECT);
    policy_record(c, &v, "550 5.7.25 test reply");
    assert_int_equal(policy_rcpt(c, "<postmaster@example.test>").action, VERDICT_CONTINUE);
    policy_set_queue_id(c, "4QX2");
    assert_int_equal(policy_eom(c, authres, sizeof authres).action, VERDICT_CONTINUE);
    policy_conn_free(c);
}

static void hostile_values_cannot_forge_a_log_pair(void **state)
{
    struct fixture *f = *state;
    static char log[16384];
    char keys[16][32], values[16][512];
    static const char *const refusal[] = {"check", "action", "ip",    "helo",  "from",
                                          "to",    "ref",    "reply", "detail"};
    static const char *const accept[] = {"check", "action", "ip",  "helo",  "from",
                                         "to",    "nrcpt",  "ref", "detail"};
    int n, lines = 0;

    capture_log(hostile_connection, f, log, sizeof log);
    char *save = NULL;
    for (char *line = next_decision(log, &save, keys, values, &n); line != NULL;
         line = next_decision(NULL, &save, keys, values, &n)) {
        lines++;
        bool refused = strstr(line, "check=iprev") != NULL;
        const char *const *want = refused ? refusal : accept;
        int nwant = 9;
        if (n != nwant)
            fail_msg("%d pairs, not %d: %s", n, nwant, line);
        for (int i = 0; i < n; i++) {
            assert_string_equal(keys[i], want[i]);
            if (strcmp(keys[i], "from") == 0)
                assert_string_equal(values[i], "<\\x22a\\x20spf=pass\\x20action=accept\\x22"
                                               "@example.org>");
            if (strcmp(keys[i], "helo") == 0)
                assert_string_equal(values[i], "x\\x20iprev=pass");
            if (strcmp(keys[i], "to") == 0)
                assert_string_equal(values[i], refused ? "<\\x22b\\x20check=none\\x22@example.test>"
                                                       : "<postmaster@example.test>");
        }
    }
    assert_int_equal(lines, 2);
}

/* The value of key in a parsed line, NULL when the line has no such key. */
static const char *log_value(char keys[][32], char values[][512], int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcmp(keys[i], key) == 0)
            return values[i];
    return NULL;
}

/* A message from 127.0.0.2 to rcpt, refused there with action; its decision line logged. */
static void inbound_refusal(struct fixture *f, const char *rcpt, enum verdict_action action,
                            const char *reply)
{
    struct policy_conn *c = policy_conn_new(&f->env, "good.example.test", "127.0.0.2");
    policy_helo(c, "good.example.test");
    policy_mail(c, "<carol@example.org>", NULL);
    struct verdict v = policy_rcpt(c, rcpt);
    assert_int_equal(v.action, action);
    policy_record(c, &v, reply);
    policy_conn_free(c);
}

/*
 * A decision at each stage: an authenticated account refused at MAIL FROM (suspended), an
 * inbound client greylisted at RCPT, then refused at RCPT by a block entry whose reason holds
 * quotes and spaces, and an authenticated message accepted at end of message (send_one).
 */
static void decisions_at_every_stage(struct fixture *f)
{
    struct verdict v;
    assert_int_equal(store_account_suspend(f->store, "alice@example.test", test_now,
                                           "\"leaked\" password", NULL, NULL),
                     STORE_OK);
    struct policy_conn *c = submit(f, "alice@example.test", "<alice@example.test>", &v);
    assert_int_equal(v.action, VERDICT_REJECT);
    policy_record(c, &v, "554 5.7.1 suspended");
    policy_conn_free(c);
    assert_int_equal(store_account_resume(f->store, "alice@example.test", NULL), STORE_OK);

    assert_true(config_set(f->cfg, "greylist", "yes", NULL, 0));
    inbound_refusal(f, "<dave@example.test>", VERDICT_TEMPFAIL, "451 4.7.1 greylisted");
    add_entry(f, "cidr", "127.0.0.0/29", "block", "spam \"run\" from x");
    f->env.lists = lists_cache_new(f->store, 0);
    inbound_refusal(f, "<bob@example.test>", VERDICT_REJECT, "554 5.7.1 blocked");
    assert_int_equal(send_one(f, NULL).action, VERDICT_CONTINUE);
}

/*
 * Every decision line, read back with the quoting rule (log_pairs), names the HELO, the
 * recipient only when the decision is about one (none at MAIL FROM: to= is absent, not to=<>),
 * the SASL login as Postfix writes it (sasl_username=), times as dates (a suspension, when a
 * greylisted retry passes), and keeps a block
 * entry's quoted reason inside detail=.
 */
static void decision_lines_carry_helo_recipient_login_and_dates(void **state)
{
    static char log[16384];
    capture_log(decisions_at_every_stage, *state, log, sizeof log);

    char keys[16][32], values[16][512], *save = NULL;
    int n, lines = 0;
    for (char *line = next_decision(log, &save, keys, values, &n); line != NULL;
         line = next_decision(NULL, &save, keys, values, &n)) {
        lines++;
        const char *check = log_value(keys, values, n, "check");
        const char *helo = log_value(keys, values, n, "helo");
        const char *to = log_value(keys, values, n, "to");
        const char *login = log_value(keys, values, n, "sasl_username");
        const char *detail = log_value(keys, values, n, "detail");
        assert_non_null(check);
        assert_non_null(helo);
        assert_non_null(detail);
        if (strcmp(check, "account") == 0) { /* MAIL FROM */
            assert_string_equal(helo, "laptop");
            if (to != NULL)
                fail_msg("to= at MAIL FROM: %s", line);
            assert_non_null(login);
            assert_string_equal(login, "alice@example.test");
            if (strstr(detail, "since 2027-01-15T08:00:00Z:") == NULL ||
                strstr(line, "1800000000") != NULL)
                fail_msg("suspension time not a date: %s", line);
        } else if (strcmp(check, "greylist") == 0) { /* RCPT */
            assert_string_equal(to, "<dave@example.test>");
            if (strstr(detail, " retry_after=2027-01-15T08:05:00Z") == NULL)
                fail_msg("no date for the retry: %s", line);
        } else if (strcmp(check, "lists") == 0) { /* RCPT */
            assert_string_equal(helo, "good.example.test");
            assert_non_null(to);
            assert_string_equal(to, "<bob@example.test>");
            if (login != NULL)
                fail_msg("sasl_username= for an inbound client: %s", line);
            if (n != 9 || strstr(detail, "reason=\\x22spam \\x22run\\x22 from x\\x22\"") == NULL)
                fail_msg("the reason left detail=: %s", line);
        } else { /* end of message */
            assert_string_equal(check, "policy");
            assert_string_equal(helo, "laptop");
            assert_non_null(to);
            assert_string_equal(to, "<carol@example.org>");
            assert_non_null(login);
            assert_string_equal(login, "alice@example.test");
        }
    }
    assert_int_equal(lines, 4);
}

/* A client whose DNSBL answer is not one of the zone's codes (tests/dns/dnsbl.test.zone), to one
 * recipient. */
static void dnsbl_answer_ignored(struct fixture *f)
{
    assert_true(config_set(f->cfg, "dnsbl_zones", "dnsbl.test:127.0.0.2", NULL, 0));
    struct policy_conn *c = policy_conn_new(&f->env, "unknown", "127.0.0.21");
    policy_helo(c, "odd.example.test");
    policy_mail(c, "<erin@example.org>", NULL);
    (void)policy_rcpt(c, "<frank@example.test>");
    policy_conn_free(c);
}

/* The DNSBL's evidence line (an answer that is no listing) names the same party as a decision
 * line: client, HELO, sender and the recipient being checked. */
static void dnsbl_evidence_line_carries_helo_and_recipient(void **state)
{
    static char log[16384];
    capture_log(dnsbl_answer_ignored, *state, log, sizeof log);

    char keys[16][32], values[16][512], *save = NULL;
    int n, lines = 0;
    for (char *line = next_decision(log, &save, keys, values, &n); line != NULL;
         line = next_decision(NULL, &save, keys, values, &n)) {
        if (strcmp(log_value(keys, values, n, "check"), "dnsbl") != 0)
            continue;
        lines++;
        assert_string_equal(log_value(keys, values, n, "action"), "ignore");
        const char *ip = log_value(keys, values, n, "ip");
        const char *helo = log_value(keys, values, n, "helo");
        const char *from = log_value(keys, values, n, "from");
        const char *to = log_value(keys, values, n, "to");
        if (ip == NULL || helo == NULL || from == NULL || to == NULL)
            fail_msg("a party field missing: %s", line);
        assert_string_equal(ip, "127.0.0.21");
        assert_string_equal(helo, "odd.example.test");
        assert_string_equal(from, "<erin@example.org>");
        assert_string_equal(to, "<frank@example.test>");
        assert_string_equal(log_value(keys, values, n, "answer"), "127.255.255.254");
    }
    assert_int_equal(lines, 1);
}

/*
 * A path longer than the milter keeps (POLICY_ADDR_MAX - 1 bytes without its brackets) is
 * refused with the reply for a malformed address, never cut: its first bytes can be another,
 * valid address, and every check after would judge an address nobody sent.  An authenticated
 * session, which no check refuses, shows it: a cut path would pass.
 */
static void over_long_path_is_refused_not_cut(void **state)
{
    struct fixture *f = *state;
    static const char domain[] = "@example.test";
    char kept[POLICY_ADDR_MAX + 2], too_long[POLICY_ADDR_MAX + 3];
    size_t local = POLICY_ADDR_MAX - 1 - strlen(domain);

    /* "<" local domain ">": the longest path kept, and the same with one byte more. */
    kept[0] = too_long[0] = '<';
    memset(kept + 1, 'a', local);
    memset(too_long + 1, 'a', local + 1);
    snprintf(kept + 1 + local, sizeof kept - 1 - local, "%s>", domain);
    snprintf(too_long + 2 + local, sizeof too_long - 2 - local, "%s>", domain);
    assert_int_equal(strlen(kept), POLICY_ADDR_MAX + 1);
    assert_int_equal(strlen(too_long), POLICY_ADDR_MAX + 2);

    struct policy_conn *c = policy_conn_new(&f->env, "unknown", "127.0.0.4");
    policy_helo(c, "laptop");
    assert_int_equal(policy_mail(c, "<alice@example.test>", "alice@example.test").action,
                     VERDICT_CONTINUE);
    assert_int_equal(policy_rcpt(c, kept).action, VERDICT_CONTINUE);
    struct verdict v = policy_rcpt(c, too_long);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_BAD_RECIPIENT_ADDRESS);
    assert_string_equal(reply_table[v.reply].code, "501");
    assert_string_equal(reply_table[v.reply].xcode, "5.1.3");
    assert_string_equal(v.text, "Bad recipient address syntax: path too long");
    assert_string_equal(v.check, "policy");
    assert_true(verdict_reply_consistent(&v));
    policy_record(c, &v, "501 5.1.3 Bad recipient address syntax: path too long");
    /* The recipient after it is judged on its own. */
    assert_int_equal(policy_rcpt(c, "<bob@example.org>").action, VERDICT_CONTINUE);

    v = policy_mail(c, too_long, "alice@example.test");
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_BAD_SENDER_ADDRESS);
    assert_string_equal(reply_table[v.reply].code, "501");
    assert_string_equal(reply_table[v.reply].xcode, "5.1.7");
    char expected[96];
    snprintf(expected, sizeof expected, "MAIL FROM path of %d bytes refused", POLICY_ADDR_MAX + 2);
    assert_non_null(strstr(v.detail, expected));
    policy_record(c, &v, "501 5.1.7 Bad sender address syntax: path too long");
    policy_conn_free(c);

    /* Both refusals are in the decision log, the cut start of each marked with "...", never the
     * null sender <> nor a whole address. */
    struct found found = find(f, "127.0.0.4");
    assert_int_equal(found.count, 2);
    assert_string_equal(found.checks[0], "policy");
    assert_string_equal(found.actions[0], "reject");
    assert_string_equal(found.actions[1], "reject");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(client_without_ptr_is_refused_at_rcpt_and_recorded),
        T(reference_is_sixteen_base32_characters_and_new_per_connection),
        T(postmaster_is_exempt_and_acceptance_is_recorded),
        T(good_client_gets_pass_in_authentication_results),
        T(trusted_network_is_not_checked),
        T(authenticated_session_is_not_checked),
        T(forged_authentication_results_are_marked_by_position),
        T(new_message_forgets_previous_recipients),
        T(busy_database_gives_store_failure_unless_fail_open),
        T(queued_decision_log_defers_only_when_the_queue_is_full),
        T(unknown_client_address_is_refused_not_crashed),
        T(unknown_sender_is_greylisted_at_rcpt_then_passes_after_the_delay),
        T(spf_pass_mail_is_greylisted_at_end_of_message_without_dkim),
        T(spf_fail_is_refused_at_rcpt_except_postmaster),
        T(blocked_network_refused_and_allow_entry_skips_checks),
        T(greylist_exempt_entry_skips_greylisting_and_no_other_check),
        T(dmarc_reject_unless_allowed_or_exempt),
        T(dmarc_quarantine_header_and_hold),
        T(forged_dmarc_header_is_marked_for_removal),
        T(dmarc_pass_bypasses_greylisting_when_asked),
        T(submission_sender_must_be_owned_by_the_account),
        T(submission_header_from_must_be_single_and_owned),
        T(from_domain_is_the_same_for_every_use),
        T(from_header_over_the_parser_bound_is_refused_whole),
        T(suspended_account_is_refused_at_mail_from),
        T(throttle_actions_over_the_limit),
        T(hostile_values_cannot_forge_a_log_pair),
        T(decision_lines_carry_helo_recipient_login_and_dates),
        T(dnsbl_evidence_line_carries_helo_and_recipient),
        T(over_long_path_is_refused_not_cut),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
