/*
 * test_greylist: lib/greylist.c against a real SQLite file in a fresh temporary directory.
 *
 * Each rule of greylist.h is one test named after it; the clock is a parameter, so no test
 * sleeps.  A busy store comes from the store's fault wrapper; the tests of SQLite's own locking
 * (a second connection to the same file holds the write lock) read the file directly.  The
 * normalization tests call the pure key functions directly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "greylist.h"
#include "store.h"
#include "tempdir.h"
#include "store/fault.h"
#include "util.h"
#include "verdict.h"

#define T0 INT64_C(1700000000)
#define MINUTE 60
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)

struct fixture {
    char dir[256];
    char db[300];
    struct store *s;
    struct config *cfg;
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof *f);

    if (tempdir_make(f->dir, sizeof f->dir, "test_greylist") != 0) {
        free(f);
        return -1;
    }
    snprintf(f->db, sizeof f->db, "%s/ingress.db", f->dir);
    struct store_error serr;
    f->s = store_open(f->db, 100, &serr);
    if (f->s == NULL) {
        print_error("store_open: %s\n", serr.text);
        return -1;
    }
    f->cfg = config_new_defaults();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    store_close(f->s);
    config_free(f->cfg);
    tempdir_remove(f->dir);
    free(f);
    return 0;
}

/* One RCPT's check, as policy.c will make it. */
static struct greylist_result check(struct fixture *f, const char *ip, const char *from,
                                    const char *to, const char *spf, int64_t now)
{
    struct greylist_key key;
    struct greylist_result r;

    greylist_key_make(&key, ip, from, to, f->cfg->greylist_ipv4_prefix,
                      f->cfg->greylist_ipv6_prefix);
    greylist_check(f->s, f->cfg, &key, spf, now, &r);
    return r;
}

static struct greylist_result confirm(struct fixture *f, const char *ip, const char *from,
                                      const char *to, const char *spf, int64_t now)
{
    struct greylist_key key;
    struct greylist_result r;

    greylist_key_make(&key, ip, from, to, f->cfg->greylist_ipv4_prefix,
                      f->cfg->greylist_ipv6_prefix);
    greylist_confirm(f->s, f->cfg, &key, spf, now, &r);
    return r;
}

/* First sight, then a retry after the delay: the triplet is confirmed at t0 + 300. */
static void confirm_by_retry(struct fixture *f, const char *ip, const char *from, const char *to,
                             int64_t t0)
{
    assert_int_equal(check(f, ip, from, to, NULL, t0).outcome, GREYLIST_GREYLISTED);
    assert_int_equal(check(f, ip, from, to, NULL, t0 + 300).outcome, GREYLIST_PASS);
}

/* Reads one integer from the database file through a connection of the test's own. */
static int64_t raw_int(struct fixture *f, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *stmt;
    int64_t v = -1;

    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        v = sqlite3_column_type(stmt, 0) == SQLITE_NULL ? -2 : sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
}

/* ---- the rules -------------------------------------------------------------------------- */

static void first_sight_is_greylisted_for_the_full_delay(void **state)
{
    struct fixture *f = *state;
    struct greylist_result r =
        check(f, "192.0.2.10", "<Alice@Example.ORG>", "<bob@example.net>", NULL, T0);

    assert_int_equal(r.outcome, GREYLIST_GREYLISTED);
    assert_int_equal(r.retry_in, 300);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM greylist"), 1);
    assert_int_equal(raw_int(f, "SELECT first_seen FROM greylist WHERE source = '192.0.2.0/24' "
                                "AND sender = 'alice@example.org' AND recipient = "
                                "'bob@example.net'"),
                     T0);
    assert_int_equal(raw_int(f, "SELECT confirmed_at FROM greylist"), -2); /* NULL: pending */

    struct verdict v = greylist_verdict(&r, NULL, f->cfg);
    assert_int_equal(v.action, VERDICT_TEMPFAIL);
    assert_int_equal(v.reply, REPLY_GREYLISTED);
    assert_non_null(strstr(v.text, "retry in 300 seconds"));
    assert_true(verdict_reply_consistent(&v));
    assert_non_null(strstr(v.detail, "from=<alice@example.org>"));
}

static void early_retry_is_told_the_seconds_left(void **state)
{
    struct fixture *f = *state;

    check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, T0);
    struct greylist_result r =
        check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, T0 + 100);
    assert_int_equal(r.outcome, GREYLIST_GREYLISTED);
    assert_int_equal(r.retry_in, 200);
    r = check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, T0 + 299);
    assert_int_equal(r.outcome, GREYLIST_GREYLISTED);
    assert_int_equal(r.retry_in, 1);
    /* The early retries did not restart the delay. */
    assert_int_equal(raw_int(f, "SELECT first_seen FROM greylist"), T0);
}

static void retry_after_delay_passes_and_confirms(void **state)
{
    struct fixture *f = *state;

    check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, T0);
    struct greylist_result r =
        check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, T0 + 300);
    assert_int_equal(r.outcome, GREYLIST_PASS);
    assert_true(r.confirmed_now);
    assert_false(r.via_spf);
    assert_int_equal(raw_int(f, "SELECT confirmed_at FROM greylist"), T0 + 300);
    assert_int_equal(raw_int(f, "SELECT last_seen FROM greylist"), T0 + 300);
    assert_int_equal(raw_int(f, "SELECT first_seen FROM greylist"), T0);
    assert_int_equal(raw_int(f, "SELECT count FROM greylist"), 1);

    struct verdict v = greylist_verdict(&r, NULL, f->cfg);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_non_null(strstr(v.detail, "confirmed"));

    /* The next message passes too; within GREYLIST_REFRESH_AFTER of the recorded use it is not
     * written (recent_confirmed_triplet_is_read_not_written), later it counts. */
    r = check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, T0 + 400);
    assert_int_equal(r.outcome, GREYLIST_PASS);
    assert_false(r.confirmed_now);
    assert_int_equal(raw_int(f, "SELECT count FROM greylist"), 1);
    r = check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL,
              T0 + 300 + GREYLIST_REFRESH_AFTER);
    assert_int_equal(r.outcome, GREYLIST_PASS);
    assert_int_equal(raw_int(f, "SELECT count FROM greylist"), 2);
    assert_int_equal(raw_int(f, "SELECT last_seen FROM greylist"),
                     T0 + 300 + GREYLIST_REFRESH_AFTER);
}

/* A confirmed triplet whose last use was recorded less than GREYLIST_REFRESH_AFTER ago passes on
 * a read alone: its row is unchanged, and it passes while another connection holds the write
 * lock (which a write transaction would wait for, and fail with store busy). */
static void recent_confirmed_triplet_is_read_not_written(void **state)
{
    struct fixture *f = *state;
    sqlite3 *other;
    int64_t confirmed = T0 + 300;

    confirm_by_retry(f, "192.0.2.10", "alice@example.org", "bob@example.net", T0);
    assert_int_equal(raw_int(f, "SELECT last_seen FROM greylist"), confirmed);

    assert_int_equal(sqlite3_open(f->db, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    struct greylist_result r = check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL,
                                     confirmed + GREYLIST_REFRESH_AFTER - 1);
    assert_int_equal(r.outcome, GREYLIST_PASS);
    assert_false(r.confirmed_now);
    /* The same at the refresh point needs the write lock: could not tell. */
    r = check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL,
              confirmed + GREYLIST_REFRESH_AFTER);
    assert_int_equal(r.outcome, GREYLIST_STORE_FAILURE);
    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(raw_int(f, "SELECT last_seen FROM greylist"), confirmed);
    assert_int_equal(raw_int(f, "SELECT count FROM greylist"), 1);

    /* With a short greylist_max_age the refresh comes at half of it, so a triplet in steady use
     * never expires. */
    f->cfg->greylist_max_age = 3600 * 1000;
    int64_t t = confirmed;
    for (int i = 1; i <= 10; i++) {
        t += 1000;
        assert_int_equal(
            check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, t).outcome,
            GREYLIST_PASS);
    }
    assert_int_equal(raw_int(f, "SELECT last_seen FROM greylist"), confirmed + 10000);
}

/* Another connection's write transaction, rolled back after 50 ms by a thread of its own. */
struct lock_holder {
    sqlite3 *db;
    pthread_t thread;
};

static void *release_later(void *arg)
{
    struct lock_holder *h = arg;
    usleep(50 * 1000);
    sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    return NULL;
}

/*
 * A check that must write while another connection holds the write lock: the deferred
 * transaction cannot be upgraded (SQLite answers busy at once), so it is done again with BEGIN
 * IMMEDIATE, which waits for the lock (up to the busy timeout: 5 s here) and writes.
 */
static void write_under_another_writer_waits_for_the_lock(void **state)
{
    struct fixture *f = *state;
    struct lock_holder h;
    struct store_error serr;
    struct store *patient = store_open(f->db, 5000, &serr);
    assert_non_null(patient);

    assert_int_equal(sqlite3_open(f->db, &h.db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h.db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(pthread_create(&h.thread, NULL, release_later, &h), 0);
    struct greylist_key key;
    struct greylist_result r;
    greylist_key_make(&key, "192.0.2.10", "alice@example.org", "bob@example.net",
                      f->cfg->greylist_ipv4_prefix, f->cfg->greylist_ipv6_prefix);
    assert_int_equal(greylist_check(patient, f->cfg, &key, NULL, T0, &r), GREYLIST_GREYLISTED);
    pthread_join(h.thread, NULL);
    sqlite3_close(h.db);
    store_close(patient);
    /* The new triplet was written, once. */
    assert_int_equal(raw_int(f, "SELECT count(*) FROM greylist"), 1);
    assert_int_equal(raw_int(f, "SELECT first_seen FROM greylist"), T0);
}

static void retry_at_the_end_of_the_window_still_passes(void **state)
{
    struct fixture *f = *state;

    check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, T0);
    assert_int_equal(
        check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, T0 + 48 * HOUR)
            .outcome,
        GREYLIST_PASS);
}

static void retry_after_window_starts_over(void **state)
{
    struct fixture *f = *state;

    check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, T0);
    int64_t late = T0 + 48 * HOUR + 1;
    struct greylist_result r =
        check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, late);
    assert_int_equal(r.outcome, GREYLIST_GREYLISTED);
    assert_int_equal(r.retry_in, 300);
    assert_int_equal(raw_int(f, "SELECT first_seen FROM greylist"), late);
    /* ... and the new attempt is a normal first sight: its retry passes. */
    assert_int_equal(
        check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, late + 300).outcome,
        GREYLIST_PASS);
}

static void window_shorter_than_delay_counts_as_the_delay(void **state)
{
    struct fixture *f = *state;

    f->cfg->greylist_delay = 10 * 60 * 1000;       /* 10 minutes */
    f->cfg->greylist_retry_window = 2 * 60 * 1000; /* 2 minutes: would refuse every retry */
    check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, T0);
    assert_int_equal(
        check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, T0 + 600).outcome,
        GREYLIST_PASS);
}

static void confirmed_passes_until_max_age_after_last_use(void **state)
{
    struct fixture *f = *state;
    int64_t t = T0 + 300; /* confirmed here */

    confirm_by_retry(f, "192.0.2.10", "alice@example.org", "bob@example.net", T0);
    /* Used after 34 days: passes, and the 35 days run from this use. */
    t += 34 * DAY;
    assert_int_equal(
        check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, t).outcome,
        GREYLIST_PASS);
    assert_int_equal(raw_int(f, "SELECT last_seen FROM greylist"), t);
    t += 35 * DAY;
    assert_int_equal(
        check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, t).outcome,
        GREYLIST_PASS);
    /* 35 days and one second without use: forgotten, greylisted again from the start. */
    t += 35 * DAY + 1;
    struct greylist_result r =
        check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, t);
    assert_int_equal(r.outcome, GREYLIST_GREYLISTED);
    assert_int_equal(r.retry_in, 300);
    assert_int_equal(raw_int(f, "SELECT confirmed_at FROM greylist"), -2);
}

static void network_is_autoallowed_after_n_counted_deliveries(void **state)
{
    struct fixture *f = *state;
    int64_t t = T0 + 300;

    f->cfg->autoallow_after = 3;
    confirm_by_retry(f, "192.0.2.10", "alice@example.org", "bob@example.net", T0); /* 1 */
    assert_int_equal(raw_int(f, "SELECT count FROM autoallow WHERE network = '192.0.2.0/24'"), 1);
    t += HOUR;
    check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, t); /* 2 */
    /* Two deliveries: another sender from that network is still greylisted. */
    assert_int_equal(
        check(f, "192.0.2.20", "carol@example.com", "bob@example.net", NULL, t).outcome,
        GREYLIST_GREYLISTED);
    t += HOUR;
    check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, t); /* 3 */
    assert_int_equal(raw_int(f, "SELECT count FROM autoallow"), 3);
    struct greylist_result r =
        check(f, "192.0.2.77", "dave@example.com", "erin@example.net", NULL, t + 1);
    assert_int_equal(r.outcome, GREYLIST_AUTOALLOWED);
    assert_int_equal(greylist_verdict(&r, NULL, f->cfg).action, VERDICT_CONTINUE);
    /* Another network is not. */
    assert_int_equal(
        check(f, "192.0.3.77", "dave@example.com", "erin@example.net", NULL, t + 1).outcome,
        GREYLIST_GREYLISTED);
    /* The allowance lapses greylist_max_age after the last counted delivery. */
    assert_int_equal(
        check(f, "192.0.2.77", "frank@example.com", "erin@example.net", NULL, t + 35 * DAY + 1)
            .outcome,
        GREYLIST_GREYLISTED);
}

static void burst_of_deliveries_counts_once_an_hour(void **state)
{
    struct fixture *f = *state;

    f->cfg->autoallow_after = 3;
    confirm_by_retry(f, "192.0.2.10", "alice@example.org", "bob@example.net", T0);
    for (int i = 1; i <= 20; i++)
        assert_int_equal(
            check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, T0 + 300 + i * 60)
                .outcome,
            GREYLIST_PASS);
    assert_int_equal(raw_int(f, "SELECT count FROM autoallow"), 1);
    assert_int_equal(
        check(f, "192.0.2.10", "carol@example.com", "bob@example.net", NULL, T0 + HOUR).outcome,
        GREYLIST_GREYLISTED);
}

static void autoallow_disabled_with_zero(void **state)
{
    struct fixture *f = *state;

    f->cfg->autoallow_after = 0;
    confirm_by_retry(f, "192.0.2.10", "alice@example.org", "bob@example.net", T0);
    for (int i = 1; i <= 10; i++)
        check(f, "192.0.2.10", "alice@example.org", "bob@example.net", NULL, T0 + i * DAY);
    assert_int_equal(
        check(f, "192.0.2.10", "carol@example.com", "bob@example.net", NULL, T0 + 11 * DAY).outcome,
        GREYLIST_GREYLISTED);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM autoallow"), 0);
}

static void unknown_client_is_never_autoallowed(void **state)
{
    struct fixture *f = *state;

    f->cfg->autoallow_after = 1;
    confirm_by_retry(f, NULL, "alice@example.org", "bob@example.net", T0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM autoallow"), 0);
    assert_int_equal(
        check(f, "", "carol@example.com", "bob@example.net", NULL, T0 + 2 * HOUR).outcome,
        GREYLIST_GREYLISTED);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM greylist WHERE source = 'unknown'"), 2);
}

static void same_network_other_host_passes_after_confirmation(void **state)
{
    struct fixture *f = *state;

    confirm_by_retry(f, "192.0.2.10", "alice@example.org", "bob@example.net", T0);
    assert_int_equal(
        check(f, "192.0.2.200", "alice@example.org", "bob@example.net", NULL, T0 + 400).outcome,
        GREYLIST_PASS);
    assert_int_equal(
        check(f, "192.0.3.10", "alice@example.org", "bob@example.net", NULL, T0 + 400).outcome,
        GREYLIST_GREYLISTED);
    /* The prefix is an option: /32 keeps hosts apart. */
    f->cfg->greylist_ipv4_prefix = 32;
    assert_int_equal(
        check(f, "192.0.2.200", "alice@example.org", "bob@example.net", NULL, T0 + 500).outcome,
        GREYLIST_GREYLISTED);
}

static void ipv6_clients_group_by_64(void **state)
{
    struct fixture *f = *state;
    struct greylist_key key;

    greylist_key_make(&key, "2001:DB8:1:2::1", "a@b.example", "c@d.example", 24, 64);
    assert_string_equal(key.network, "2001:db8:1:2::/64");
    confirm_by_retry(f, "2001:db8:1:2::1", "alice@example.org", "bob@example.net", T0);
    assert_int_equal(check(f, "2001:db8:1:2:ffff:ffff:ffff:9", "alice@example.org",
                           "bob@example.net", NULL, T0 + 400)
                         .outcome,
                     GREYLIST_PASS);
    assert_int_equal(
        check(f, "2001:db8:1:3::1", "alice@example.org", "bob@example.net", NULL, T0 + 400).outcome,
        GREYLIST_GREYLISTED);
}

static void network_of_each_address_form(void **state)
{
    char out[GREYLIST_NETWORK_MAX];
    (void)state;

    greylist_network("192.0.2.77", 24, 64, out);
    assert_string_equal(out, "192.0.2.0/24");
    greylist_network("::ffff:192.0.2.77", 24, 64, out); /* IPv4-mapped: the IPv4 client */
    assert_string_equal(out, "192.0.2.0/24");
    greylist_network("[192.0.2.77]", 20, 64, out);
    assert_string_equal(out, "192.0.0.0/20");
    greylist_network("IPv6:2001:db8::1", 24, 48, out);
    assert_string_equal(out, "2001:db8::/48");
    greylist_network("2001:db8:aaaa:bbbb:cccc::1", 24, 63, out);
    assert_string_equal(out, "2001:db8:aaaa:bbba::/63");
    greylist_network("192.0.2.77", 99, 64, out); /* clamped */
    assert_string_equal(out, "192.0.2.77/32");
    greylist_network("192.0.2.77", 0, 0, out);
    assert_string_equal(out, "128.0.0.0/1");
    greylist_network("not-an-ip", 24, 64, out);
    assert_string_equal(out, "unknown");
    greylist_network("", 24, 64, out);
    assert_string_equal(out, "unknown");
    greylist_network(NULL, 24, 64, out);
    assert_string_equal(out, "unknown");
    greylist_network("[]", 24, 64, out);
    assert_string_equal(out, "unknown");
    greylist_network("192.0.2.1\n", 24, 64, out);
    assert_string_equal(out, "unknown");
}

static void spf_domain_confirmation_passes_from_another_network(void **state)
{
    struct fixture *f = *state;
    const char *from = "alice@example.org", *to = "bob@example.net";

    /* A pool: first attempt from one network, the retry from another, SPF pass both times. */
    assert_int_equal(check(f, "198.51.100.1", from, to, "example.org", T0).outcome,
                     GREYLIST_GREYLISTED);
    struct greylist_result early = check(f, "203.0.113.7", from, to, "Example.ORG.", T0 + 100);
    assert_int_equal(early.outcome, GREYLIST_GREYLISTED);
    assert_int_equal(early.retry_in, 200); /* the delay runs from the first attempt */
    struct greylist_result r = check(f, "203.0.113.7", from, to, "example.org", T0 + 300);
    assert_int_equal(r.outcome, GREYLIST_PASS);
    assert_true(r.confirmed_now);
    assert_true(r.via_spf);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM greylist WHERE source = 'spf:example.org' "
                                "AND confirmed_at IS NOT NULL"),
                     1);
    /* A later message from yet another network of the pool passes at once... */
    r = check(f, "192.0.2.99", from, to, "example.org", T0 + DAY);
    assert_int_equal(r.outcome, GREYLIST_PASS);
    assert_true(r.via_spf);
    assert_false(r.confirmed_now);
    /* ... but not without SPF pass, nor with SPF pass for another domain. */
    assert_int_equal(check(f, "192.0.2.99", from, to, NULL, T0 + DAY).outcome, GREYLIST_GREYLISTED);
    assert_int_equal(check(f, "192.0.2.98", from, to, "example.com", T0 + DAY).outcome,
                     GREYLIST_GREYLISTED);
}

static void network_confirmation_with_spf_also_keys_the_domain(void **state)
{
    struct fixture *f = *state;
    const char *from = "alice@example.org", *to = "bob@example.net";

    confirm_by_retry(f, "198.51.100.1", from, to, T0); /* no SPF yet */
    /* Passing on the network key with SPF pass creates the domain twin... */
    assert_int_equal(check(f, "198.51.100.1", from, to, "example.org", T0 + 400).outcome,
                     GREYLIST_PASS);
    /* ... so the pool's other networks pass from then on. */
    struct greylist_result r = check(f, "203.0.113.1", from, to, "example.org", T0 + 500);
    assert_int_equal(r.outcome, GREYLIST_PASS);
    assert_true(r.via_spf);
}

static void malformed_spf_domain_gives_no_domain_key(void **state)
{
    struct fixture *f = *state;

    check(f, "198.51.100.1", "a@example.org", "b@example.net", "bad domain\n", T0);
    check(f, "198.51.100.1", "a@example.org", "b@example.net", "", T0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM greylist WHERE source LIKE 'spf:%'"), 0);
}

static void bypass_confirm_passes_without_delay(void **state)
{
    struct fixture *f = *state;
    const char *from = "alice@example.org", *to = "bob@example.net";

    struct greylist_result r = confirm(f, "198.51.100.1", from, to, "example.org", T0);
    assert_int_equal(r.outcome, GREYLIST_PASS);
    assert_true(r.confirmed_now);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM greylist WHERE confirmed_at = 1700000000"),
                     2);
    /* The next message passes the plain check, from the network or (SPF) from another one. */
    assert_int_equal(check(f, "198.51.100.1", from, to, NULL, T0 + 1).outcome, GREYLIST_PASS);
    r = check(f, "203.0.113.1", from, to, "example.org", T0 + 2);
    assert_int_equal(r.outcome, GREYLIST_PASS);
    assert_true(r.via_spf);
    /* A second bypass of a confirmed triplet is a use, not a new confirmation (counted once
     * GREYLIST_REFRESH_AFTER has passed). */
    r = confirm(f, "198.51.100.1", from, to, NULL, T0 + 3);
    assert_int_equal(r.outcome, GREYLIST_PASS);
    assert_false(r.confirmed_now);
    assert_int_equal(raw_int(f, "SELECT count FROM greylist WHERE source = '198.51.100.0/24'"), 1);
    r = confirm(f, "198.51.100.1", from, to, NULL, T0 + GREYLIST_REFRESH_AFTER);
    assert_false(r.confirmed_now);
    assert_int_equal(raw_int(f, "SELECT count FROM greylist WHERE source = '198.51.100.0/24'"), 2);
}

static void bypass_of_pending_triplet_keeps_its_first_attempt(void **state)
{
    struct fixture *f = *state;

    check(f, "198.51.100.1", "a@example.org", "b@example.net", NULL, T0);
    confirm(f, "198.51.100.1", "a@example.org", "b@example.net", NULL, T0 + 10);
    assert_int_equal(raw_int(f, "SELECT first_seen FROM greylist"), T0);
    assert_int_equal(raw_int(f, "SELECT confirmed_at FROM greylist"), T0 + 10);
}

static void zero_delay_passes_first_sight(void **state)
{
    struct fixture *f = *state;

    f->cfg->greylist_delay = 0;
    struct greylist_result r = check(f, "192.0.2.1", "a@example.org", "b@example.net", NULL, T0);
    assert_int_equal(r.outcome, GREYLIST_PASS);
    assert_true(r.confirmed_now);
}

static void clock_stepped_back_never_gives_more_than_the_delay(void **state)
{
    struct fixture *f = *state;

    check(f, "192.0.2.1", "a@example.org", "b@example.net", NULL, T0);
    struct greylist_result r =
        check(f, "192.0.2.1", "a@example.org", "b@example.net", NULL, T0 - 1000);
    assert_int_equal(r.outcome, GREYLIST_GREYLISTED);
    assert_int_equal(r.retry_in, 300);
}

static void greylist_off_touches_nothing(void **state)
{
    struct fixture *f = *state;

    f->cfg->greylist = false;
    struct greylist_result r = check(f, "192.0.2.1", "a@example.org", "b@example.net", NULL, T0);
    assert_int_equal(r.outcome, GREYLIST_OFF);
    assert_int_equal(greylist_verdict(&r, NULL, f->cfg).action, VERDICT_CONTINUE);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM greylist"), 0);
}

static void null_sender_is_its_own_triplet(void **state)
{
    struct fixture *f = *state;

    confirm_by_retry(f, "192.0.2.1", "<>", "b@example.net", T0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM greylist WHERE sender = '<>'"), 1);
    assert_int_equal(check(f, "192.0.2.1", "", "b@example.net", NULL, T0 + 400).outcome,
                     GREYLIST_PASS);
    assert_int_equal(
        check(f, "192.0.2.1", "mailer-daemon@example.org", "b@example.net", NULL, T0 + 400).outcome,
        GREYLIST_GREYLISTED);
}

/* ---- expiry ----------------------------------------------------------------------------- */

static void expiry_removes_only_what_is_due_in_batches(void **state)
{
    struct fixture *f = *state;
    size_t deleted = 0;
    char from[64];

    f->cfg->autoallow_after = 5;
    /* 3 pending triplets from T0: due after 48 h. */
    for (int i = 0; i < 3; i++) {
        snprintf(from, sizeof from, "pending%d@example.org", i);
        check(f, "192.0.2.1", from, "b@example.net", NULL, T0);
    }
    /* 2 confirmed at T0 + 300 on 198.51.100.0/24 (one autoallow row): due after 35 days. */
    for (int i = 0; i < 2; i++) {
        snprintf(from, sizeof from, "old%d@example.org", i);
        confirm_by_retry(f, "198.51.100.1", from, "b@example.net", T0);
    }
    /* 1 confirmed and 1 pending that stay. */
    int64_t now = T0 + 36 * DAY;
    confirm_by_retry(f, "203.0.113.1", "fresh@example.org", "b@example.net", now - DAY);
    check(f, "203.0.113.1", "new@example.org", "b@example.net", NULL, now - HOUR);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM greylist"), 7);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM autoallow"), 2);

    /* Due: 3 pending + 2 confirmed + 1 autoallow row = 6, in batches of 4. */
    assert_int_equal(greylist_expire(f->s, f->cfg, now, 4, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 4);
    assert_int_equal(greylist_expire(f->s, f->cfg, now, 4, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 2);
    assert_int_equal(greylist_expire(f->s, f->cfg, now, 4, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 0);

    assert_int_equal(raw_int(f, "SELECT count(*) FROM greylist"), 2);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM greylist WHERE sender = "
                                "'fresh@example.org' AND confirmed_at IS NOT NULL"),
                     1);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM greylist WHERE sender = 'new@example.org'"),
                     1);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM autoallow"), 1);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM autoallow WHERE network = '203.0.113.0/24'"),
                     1);
}

static void expiry_keeps_rows_exactly_at_their_limit(void **state)
{
    struct fixture *f = *state;
    size_t deleted = 0;

    check(f, "192.0.2.1", "a@example.org", "b@example.net", NULL, T0);
    /* At exactly 48 h the retry would still pass, so the row must still be there. */
    assert_int_equal(greylist_expire(f->s, f->cfg, T0 + 48 * HOUR, 0, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 0);
    assert_int_equal(greylist_expire(f->s, f->cfg, T0 + 48 * HOUR + 1, 0, &deleted, NULL),
                     STORE_OK);
    assert_int_equal(deleted, 1);
}

static void expiry_sweep_of_confirmed_triplets_resumes_and_wraps(void **state)
{
    struct fixture *f = *state;
    size_t deleted = 0, total = 0;
    char from[64];
    int calls = 0;

    f->cfg->autoallow_after = 0;
    /* 10 confirmed at T0 (due at T0 + 35 days), interleaved in key order with 5 fresh ones. */
    for (int i = 0; i < 15; i++) {
        snprintf(from, sizeof from, "s%02d@example.org", i);
        confirm(f, "192.0.2.1", from, "b@example.net", NULL, i % 3 == 2 ? T0 + 30 * DAY : T0);
    }
    int64_t now = T0 + 36 * DAY;
    /* Batches of 4: each step examines 4 rows from where the last one stopped. */
    do {
        assert_int_equal(greylist_expire(f->s, f->cfg, now, 4, &deleted, NULL), STORE_OK);
        assert_true(deleted <= 4);
        total += deleted;
        calls++;
    } while (total < 10 && calls < 20);
    assert_int_equal(total, 10);
    assert_true(calls >= 4); /* 15 rows, 4 a step: the sweep needed several steps */
    assert_int_equal(raw_int(f, "SELECT count(*) FROM greylist"), 5);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM greylist WHERE last_seen = 1700000000"), 0);

    /* The fresh ones fall due later: the sweep wraps around and finds them on its next pass. */
    now = T0 + 66 * DAY;
    total = 0;
    for (int i = 0; i < 6; i++) {
        assert_int_equal(greylist_expire(f->s, f->cfg, now, 4, &deleted, NULL), STORE_OK);
        total += deleted;
    }
    assert_int_equal(total, 5);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM greylist"), 0);
}

/* ---- store failure ---------------------------------------------------------------------- */

/* The store answers busy (the fault wrapper, the same on every backend): could not tell. */
static void store_busy_gives_store_failure(void **state)
{
    struct fixture *f = *state;

    store_fault_wrap(f->s);
    store_fault_set(f->s, STORE_FAULT_BEGIN, STORE_BUSY, 0, -1);

    struct greylist_result r = check(f, "192.0.2.1", "a@example.org", "b@example.net", NULL, T0);
    assert_int_equal(r.outcome, GREYLIST_STORE_FAILURE);
    assert_int_equal(r.store_status, STORE_BUSY);
    assert_non_null(strstr(r.detail, "store busy"));
    struct verdict v = greylist_verdict(&r, NULL, f->cfg);
    assert_int_equal(v.action, VERDICT_TEMPFAIL);
    assert_int_equal(v.reply, REPLY_STORE_FAILURE);
    assert_true(verdict_reply_consistent(&v));
    f->cfg->fail_open = true;
    assert_int_equal(greylist_verdict(&r, NULL, f->cfg).action, VERDICT_CONTINUE);

    r = confirm(f, "192.0.2.1", "a@example.org", "b@example.net", NULL, T0);
    assert_int_equal(r.outcome, GREYLIST_STORE_FAILURE);
    size_t deleted = 99;
    assert_int_equal(greylist_expire(f->s, f->cfg, T0, 0, &deleted, NULL), STORE_BUSY);
    assert_int_equal(deleted, 0);

    store_fault_clear(f->s);
    /* Nothing was written while busy: the next attempt is a first sight. */
    r = check(f, "192.0.2.1", "a@example.org", "b@example.net", NULL, T0 + 400);
    assert_int_equal(r.outcome, GREYLIST_GREYLISTED);
    assert_int_equal(r.retry_in, 300);
}

/* ---- normalization ---------------------------------------------------------------------- */

static void assert_sender(const char *in, const char *want)
{
    char out[GREYLIST_ADDR_MAX + 1];

    greylist_normalize_sender(in, out);
    if (strcmp(out, want) != 0)
        fail_msg("sender \"%s\": got \"%s\", want \"%s\"", in, out, want);
}

static void sender_normalization_cases(void **state)
{
    (void)state;
    /* case and brackets */
    assert_sender("<Alice@Example.ORG>", "alice@example.org");
    assert_sender("  <alice@example.org.>  ", "alice@example.org");
    /* null sender */
    assert_sender("<>", "<>");
    assert_sender("", "<>");
    assert_sender(NULL, "<>");
    assert_sender("< >", "<>");
    /* BATV */
    assert_sender("prvs=1234abcdef=alice@example.org", "alice@example.org");
    assert_sender("PRVS=0123ABCDEF=Alice@Example.org", "alice@example.org");
    assert_sender("msprvs1=19384aBcd=bounces-1234@mail.example.com", "bounces-#@mail.example.com");
    assert_sender("prvs=alice@example.org", "prvs=alice@example.org"); /* no tag: kept */
    /* SRS0 and SRS1 */
    assert_sender("SRS0=HHH=TT=example.org=alice@forwarder.example", "alice@example.org");
    assert_sender("SRS0+xGcT=Yb=example.org=alice@forwarder.example", "alice@example.org");
    assert_sender("srs0=hhh=tt=example.org=a=b@forwarder.example", "a=b@example.org");
    assert_sender("SRS1=HHH=first.example==HHH=TT=example.org=alice@second.example",
                  "alice@example.org");
    assert_sender("SRS0=broken@forwarder.example", "srs0=broken@forwarder.example");
    /* nested: BATV around SRS */
    assert_sender("prvs=1234567890=SRS0=HHH=TT=example.org=alice@fwd.example", "alice@example.org");
    /* VERP and subaddresses */
    assert_sender("bounce-12345-user=example.com@lists.example.org",
                  "bounce-#-user=example.com@lists.example.org");
    assert_sender("list-bounces+user=example.com@lists.example.org",
                  "list-bounces@lists.example.org");
    assert_sender("alice+news@example.org", "alice@example.org");
    assert_sender("+weird@example.org", "+weird@example.org");
    assert_sender("bounce.a1b2c3d4e5f6.x@mail.example", "bounce.#.x@mail.example");
    assert_sender("john.smith@example.org", "john.smith@example.org"); /* words kept */
    assert_sender("12345678@qq.example", "12345678@qq.example");       /* no separator: kept */
    assert_sender("abc2@example.org", "abc2@example.org");
    /* quotes, comments, source routes */
    assert_sender("<\"Alice Smith\"@example.org>", "alice smith@example.org");
    assert_sender("\"a@b\"@example.org", "a@b@example.org");
    assert_sender("\"a\\\"q\"@example.org", "a\"q@example.org");
    assert_sender("alice(comment (nested))@example.org", "alice@example.org");
    assert_sender("<@relay.example,@relay2.example:alice@example.org>", "alice@example.org");
    /* SMTPUTF8: kept byte for byte, ASCII lowered only */
    assert_sender("J\xc3\xb6rg@B\xc3\xbc"
                  "cher.example",
                  "j\xc3\xb6rg@b\xc3\xbc"
                  "cher.example");
}

static void recipient_is_lowered_without_tag_stripping(void **state)
{
    char out[GREYLIST_ADDR_MAX + 1];
    (void)state;

    greylist_normalize_recipient("<Bob+Folder@Example.NET>", out);
    assert_string_equal(out, "bob+folder@example.net");
    greylist_normalize_recipient("<prvs=1234567890=bob@example.net>", out);
    assert_string_equal(out, "prvs=1234567890=bob@example.net");
    greylist_normalize_recipient("<Postmaster>", out);
    assert_string_equal(out, "postmaster");
}

/* Checks the invariants every key holds, whatever the input. */
static void assert_sane(const char *out)
{
    size_t len = strlen(out);
    const unsigned char *p = (const unsigned char *)out;

    assert_true(len > 0 && len <= GREYLIST_ADDR_MAX);
    for (size_t i = 0; i < len; i++)
        assert_false(p[i] < 0x20 || p[i] == 0x7f);
    /* Valid UTF-8: re-normalizing changes nothing (invalid bytes would become '?'). */
    char again[GREYLIST_ADDR_MAX + 1];
    greylist_normalize_recipient(out, again);
    if (strchr(out, '"') == NULL && strchr(out, '(') == NULL && strchr(out, '\\') == NULL &&
        strchr(out, ' ') == NULL && strcmp(out, "<>") != 0 && out[0] != '@' &&
        strchr(out, '<') == NULL)
        assert_string_equal(again, out);
}

static void hostile_senders_give_bounded_defined_keys(void **state)
{
    char out[GREYLIST_ADDR_MAX + 1], out2[GREYLIST_ADDR_MAX + 1];
    char *big = xmalloc(100001);
    (void)state;

    /* A 1,000-character local part: hashed to a bounded, stable, distinct name. */
    memset(big, 'a', 1000);
    strcpy(big + 1000, "@example.org");
    greylist_normalize_sender(big, out);
    assert_sane(out);
    assert_int_equal(out[0], '#');
    assert_int_equal(strlen(out), 17 + strlen("@example.org"));
    greylist_normalize_sender(big, out2);
    assert_string_equal(out, out2);
    big[500] = 'b';
    greylist_normalize_sender(big, out2);
    assert_string_not_equal(out, out2);
    /* 64 bytes are kept as they are, 65 are hashed. */
    memset(big, 'x', 64);
    strcpy(big + 64, "@example.org");
    greylist_normalize_sender(big, out);
    assert_int_equal(strlen(out), 64 + strlen("@example.org"));
    memset(big, 'x', 65);
    strcpy(big + 65, "@example.org");
    greylist_normalize_sender(big, out);
    assert_int_equal(out[0], '#');
    /* A 300-byte domain is hashed too. */
    strcpy(big, "a@");
    memset(big + 2, 'd', 300);
    big[302] = '\0';
    greylist_normalize_sender(big, out);
    assert_sane(out);
    assert_string_equal(strchr(out, '@') + 1 + 17, "");
    /* 100,000 bytes with no structure at all. */
    memset(big, '(', 100000);
    big[100000] = '\0';
    greylist_normalize_sender(big, out);
    assert_string_equal(out, "<>");
    memset(big, '"', 100000);
    greylist_normalize_sender(big, out);
    assert_string_equal(out, "<>");
    memset(big, '@', 100000);
    greylist_normalize_sender(big, out);
    assert_sane(out);
    for (size_t i = 0; i < 100000; i++)
        big[i] = (char)(0x80 + i % 0x80);
    greylist_normalize_sender(big, out);
    assert_sane(out);
    memset(big, '=', 100000);
    memcpy(big, "SRS1=", 5);
    greylist_normalize_sender(big, out);
    assert_sane(out);
    free(big);

    static const char *const cases[] = {
        "\"unterminated@example.org",
        "(unterminated@example.org",
        "a\\",
        "\"\\",
        "<<<>>>",
        "@",
        "@@@",
        "a@",
        "@example.org",
        "a\r\n@exa\tmple.org\x01\x7f",
        "\xff\xfe@\xc0\xaf.example",
        "\xed\xa0\x80@example.org",     /* a UTF-16 surrogate */
        "\xf4\x90\x80\x80@example.org", /* beyond U+10FFFF */
        "\xe2\x82@example.org",         /* truncated sequence */
        "SRS0=====@x",
        "SRS1====@x",
        "prvs===@x",
        "-.-_=+@x",
        "+",
        "<@relay:>",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        greylist_normalize_sender(cases[i], out);
        assert_sane(out);
        greylist_normalize_recipient(cases[i], out);
        assert_sane(out);
    }
    greylist_normalize_sender("\xff\xfe@\xc0\xaf.example", out);
    assert_string_equal(out, "??@??.example");
    greylist_normalize_sender("a\r\n@exa\tmple.org\x01\x7f", out);
    assert_string_equal(out, "a@example.org");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(first_sight_is_greylisted_for_the_full_delay),
        T(early_retry_is_told_the_seconds_left),
        T(retry_after_delay_passes_and_confirms),
        T(retry_at_the_end_of_the_window_still_passes),
        T(retry_after_window_starts_over),
        T(window_shorter_than_delay_counts_as_the_delay),
        T(recent_confirmed_triplet_is_read_not_written),
        T(write_under_another_writer_waits_for_the_lock),
        T(confirmed_passes_until_max_age_after_last_use),
        T(network_is_autoallowed_after_n_counted_deliveries),
        T(burst_of_deliveries_counts_once_an_hour),
        T(autoallow_disabled_with_zero),
        T(unknown_client_is_never_autoallowed),
        T(same_network_other_host_passes_after_confirmation),
        T(ipv6_clients_group_by_64),
        T(spf_domain_confirmation_passes_from_another_network),
        T(network_confirmation_with_spf_also_keys_the_domain),
        T(malformed_spf_domain_gives_no_domain_key),
        T(bypass_confirm_passes_without_delay),
        T(bypass_of_pending_triplet_keeps_its_first_attempt),
        T(zero_delay_passes_first_sight),
        T(clock_stepped_back_never_gives_more_than_the_delay),
        T(greylist_off_touches_nothing),
        T(null_sender_is_its_own_triplet),
        T(expiry_removes_only_what_is_due_in_batches),
        T(expiry_keeps_rows_exactly_at_their_limit),
        T(expiry_sweep_of_confirmed_triplets_resumes_and_wraps),
        T(store_busy_gives_store_failure),
#undef T
        cmocka_unit_test(network_of_each_address_form),
        cmocka_unit_test(sender_normalization_cases),
        cmocka_unit_test(recipient_is_lowered_without_tag_stripping),
        cmocka_unit_test(hostile_senders_give_bounded_defined_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
