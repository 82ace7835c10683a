/*
 * test_store: the contract of lib/store.h, the same tests for every backend.  Only store.h and
 * the fault wrapper (lib/store/fault.h) are used: nothing here knows the database engine.
 *
 *   test_store [DATABASE]
 *
 * DATABASE (or the environment's INGRESS_TEST_DATABASE) is the database value each test opens;
 * "@TEST@" in it is replaced by a name of the test's own (t1, t2, ...), so that every test starts
 * from an empty database: a file name for SQLite, a database or schema the harness provides for
 * another engine.  Without either, each test gets a fresh SQLite file in a temporary directory.
 *
 * Faults (a busy or failing database at a chosen step) come from the fault wrapper, so they are
 * the same on every backend; what only one engine does (its files, its locks) is tested in
 * tests/unit/test_store_<backend>.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "maintenance.h"
#include "store.h"
#include "tempdir.h"
#include "throttle.h"
#include "store_decisions.h"
#include "store/fault.h"
#include "util.h"

static const char *database_template; /* NULL: a fresh SQLite file per test */
static char temp_dir[256];
static unsigned test_number;

struct fixture {
    char database[1024];
    struct store *s;
};

static void replace_marker(char *out, size_t outlen, const char *template, const char *name)
{
    const char *marker = strstr(template, "@TEST@");

    if (marker == NULL) {
        str_copy(out, outlen, template);
        return;
    }
    snprintf(out, outlen, "%.*s%s%s", (int)(marker - template), template, name,
             marker + strlen("@TEST@"));
}

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof *f);
    char name[32];

    snprintf(name, sizeof name, "t%u", ++test_number);
    if (database_template != NULL)
        replace_marker(f->database, sizeof f->database, database_template, name);
    else
        snprintf(f->database, sizeof f->database, "%s/%s.db", temp_dir, name);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    store_close(f->s);
    free(f);
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    if (database_template != NULL)
        return 0;
    return tempdir_make(temp_dir, sizeof temp_dir, "test_store");
}

static int group_teardown(void **state)
{
    (void)state;
    if (database_template == NULL)
        tempdir_remove(temp_dir);
    return 0;
}

static struct store *open_ok(const char *database)
{
    struct store_error err;
    struct store *s = store_open(database, 2000, &err);

    if (s == NULL)
        fail_msg("store_open: %s", err.text);
    return s;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* ------------------------------------------------------------------------------------------ */
/* Opening                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static void test_reopening_keeps_the_rows_and_applies_no_migration_twice(void **state)
{
    struct fixture *f = *state;

    f->s = open_ok(f->database);
    add_three(f->s);
    store_close(f->s);
    /* A migration applied again would fail ("table decisions already exists") or lose rows. */
    f->s = open_ok(f->database);
    store_close(f->s);
    f->s = open_ok(f->database);
    assert_int_equal(find_count(f->s, "192.0.2.4", 10, NULL), 1);
    assert_int_equal(find_count(f->s, "4Y2x7", 10, NULL), 1);
    assert_int_equal(find_count(f->s, "4Y2x8", 10, NULL), 1);
}

/*
 * A PostgreSQL value that cannot be parsed or whose server cannot be reached is an error naming
 * the database, at once (no server answers there: nothing waits for a timeout), and the message
 * never repeats the password.  Nothing is created in the file system under the value's name.
 */
static void test_postgresql_value_that_fails_never_shows_its_password(void **state)
{
    static const char *const values[] = {
        "postgresql://ingress:s3cret@[::1/ingress",
        "postgres://ingress:s3cret@127.0.0.1:1/ingress?sslmode=disable&connect_timeout=2",
        "host=/nonexistent/ingress dbname=ingress password=s3cret",
        "  dbname = ingress password=s3cret host=/nonexistent/ingress",
    };
    struct store_error err;

    (void)state;
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_null(store_open(values[i], 100, &err));
        assert_contains(err.text, "database");
        assert_null(strstr(err.text, "s3cret"));
        struct store_runas me = {.name = "test", .uid = getuid()};
        assert_true(store_check_location(values[i], &me, &err));
        assert_int_not_equal(access(values[i], F_OK), 0);
    }
}

static void test_empty_database_value_is_refused(void **state)
{
    struct store_error err;

    (void)state;
    assert_null(store_open("", 100, &err));
    assert_contains(err.text, "no database");
    assert_null(store_open_existing("", 100, &err));
}

static void test_check_of_an_unchanged_database_reopens_nothing(void **state)
{
    struct fixture *f = *state;
    bool reopened = true;

    f->s = open_ok(f->database);
    add_three(f->s);
    assert_int_equal(store_check(f->s, &reopened, NULL), STORE_OK);
    assert_false(reopened);
    assert_int_equal(find_count(f->s, "192.0.2.4", 10, NULL), 1);
}

/* ------------------------------------------------------------------------------------------ */
/* Decisions                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static void test_decision_keeps_every_field_and_nulls(void **state)
{
    struct fixture *f = *state;
    struct rows rows = {0};
    struct decision d = {
        .time = 1795424321,
        .queue_id = "4Y2x7",
        .ref = "7KQ2M9XA",
        .client_ip = "127.0.0.4",
        .client_name = "mx.example.org",
        .helo = "mail.example.test",
        .sender = "alice@example.org",
        .recipient = "postmaster@example.test",
        .account = "alice",
        .check = "iprev",
        .action = "reject",
        .reply = "550 5.7.25 Client [127.0.0.4] has no valid reverse DNS (ref 7KQ2M9XA)",
        .detail = "no PTR record for 4.0.0.127.in-addr.arpa",
        .host = "mx2.example.test",
    };
    struct decision sparse = {.time = 5, .ref = "ONLYREF1", .check = "policy", .action = "accept"};
    const char *want[FIELD_COUNT] = {d.queue_id, d.ref,       d.client_ip, d.client_name, d.helo,
                                     d.sender,   d.recipient, d.account,   d.check,       d.action,
                                     d.reply,    d.detail,    d.host};

    f->s = open_ok(f->database);
    assert_int_equal(store_decision_add(f->s, &d, NULL), STORE_OK);
    assert_int_equal(store_decision_add(f->s, &sparse, NULL), STORE_OK);

    assert_int_equal(store_decision_find(f->s, "4Y2x7", 10, collect, &rows, NULL), STORE_OK);
    assert_int_equal(rows.count, 1);
    assert_int_equal(rows.r[0].time, d.time);
    for (int i = 0; i < FIELD_COUNT; i++)
        assert_string_equal(rows.r[0].field[i], want[i]);
    rows_free(&rows);

    assert_int_equal(store_decision_find(f->s, "ONLYREF1", 10, collect, &rows, NULL), STORE_OK);
    assert_int_equal(rows.count, 1);
    assert_null(rows.r[0].field[F_QUEUE_ID]);
    assert_null(rows.r[0].field[F_SENDER]);
    assert_null(rows.r[0].field[F_ACCOUNT]);
    assert_null(rows.r[0].field[F_HOST]);
    assert_string_equal(rows.r[0].field[F_ACTION], "accept");
    rows_free(&rows);
}

static void test_find_by_queue_id_reference_and_client_ip(void **state)
{
    struct fixture *f = *state;
    long long t[4];

    f->s = open_ok(f->database);
    add_three(f->s);
    assert_int_equal(find_count(f->s, "4Y2x8", 10, t), 1);
    assert_int_equal(t[0], 3000);
    /* Queue ids are case-sensitive in Postfix: 4Y2X8 is another message. */
    assert_int_equal(find_count(f->s, "4Y2X8", 10, NULL), 0);
    assert_int_equal(find_count(f->s, "R3F8ZT2W", 10, t), 1);
    assert_int_equal(t[0], 2000);
    assert_int_equal(find_count(f->s, "192.0.2.4", 10, t), 1);
    assert_int_equal(t[0], 1000);
    assert_int_equal(find_count(f->s, "2001:db8::25", 10, t), 1);
    assert_int_equal(t[0], 2000);
    /* Exact match only: no prefix search. */
    assert_int_equal(find_count(f->s, "192.0.2", 10, NULL), 0);
}

static void test_find_by_address_ignores_case_and_one_pair_of_brackets(void **state)
{
    struct fixture *f = *state;
    long long t[4];

    f->s = open_ok(f->database);
    add_three(f->s);
    assert_int_equal(find_count(f->s, "bob@example.net", 10, t), 1);
    assert_int_equal(t[0], 2000);
    assert_int_equal(find_count(f->s, "<BOB@EXAMPLE.NET>", 10, t), 1);
    assert_int_equal(t[0], 2000);
    assert_int_equal(find_count(f->s, "<>", 10, t), 1); /* the null sender, as logged */
    assert_int_equal(t[0], 3000);
    assert_int_equal(find_count(f->s, "<<bob@example.net>>", 10, NULL), 0);
    assert_int_equal(find_count(f->s, "sales@example.test", 10, t), 1);
    assert_int_equal(t[0], 3000);
    assert_int_equal(find_count(f->s, "<Postmaster@Example.Test>", 10, t), 1);
    assert_int_equal(t[0], 1000);
}

static void test_find_nothing_gives_notfound_and_keys_are_data(void **state)
{
    struct fixture *f = *state;
    struct rows rows = {0};

    f->s = open_ok(f->database);
    assert_int_equal(store_decision_find(f->s, "4Y2x7", 10, collect, &rows, NULL), STORE_NOTFOUND);
    add_three(f->s);
    assert_int_equal(find_count(f->s, "nobody@example.org", 10, NULL), 0);
    assert_int_equal(find_count(f->s, "x' OR '1'='1", 10, NULL), 0);
    assert_int_equal(find_count(f->s, "x\" OR 1=1 --", 10, NULL), 0);
    assert_int_equal(find_count(f->s, "%", 10, NULL), 0);
}

static void test_find_respects_limit_oldest_first(void **state)
{
    struct fixture *f = *state;
    long long t[ROWS_MAX];

    f->s = open_ok(f->database);
    /* Added out of order, and two at the same second: the order is time, then insertion. */
    for (int i = 9; i >= 0; i--)
        add_ok(f->s, sample(100 + i, "NOQUEUE", "SAMEREF1", "203.0.113.9", "x@example.org",
                            "y@example.test"));
    add_ok(f->s, sample(100, "NOQUEUE", "SAMEREF1", "203.0.113.9", "x@example.org", "late"));

    assert_int_equal(find_count(f->s, "203.0.113.9", 4, t), 4);
    assert_int_equal(t[0], 100);
    assert_int_equal(t[1], 100);
    assert_int_equal(t[2], 101);
    assert_int_equal(t[3], 102);
    assert_int_equal(find_count(f->s, "203.0.113.9", 100, t), 11);
    for (int i = 1; i < 11; i++)
        assert_true(t[i - 1] <= t[i]);
    assert_int_equal(find_count(f->s, "203.0.113.9", 0, NULL), 0);
}

static void test_search_newest_first_by_reference_domain_header_from_and_period(void **state)
{
    struct fixture *f = *state;
    char refs[16][16];
    struct decision from =
        sample(400, "Q400", "FROMREF1", "192.0.2.4", "list@lists.example", "erin@example.test");

    f->s = open_ok(f->database);
    add_ok(f->s, sample(100, "Q100", "OLDREF01", "192.0.2.1", "ceo@Example.ORG", "a@example.test"));
    add_ok(f->s, sample(200, "Q200", "MIDREF01", "192.0.2.2", "x@other.example", "b@example.org"));
    add_ok(f->s, sample(300, "Q300", "NEWREF01", "192.0.2.3", "axb@example.com", "c@example.test"));
    from.detail = "dmarc=fail for bank.example; header From: \"Bank\" <Alerts@Bank.example>";
    from.header_from = "alerts@bank.example";
    add_ok(f->s, from);

    /* A reference in any case; newest first. */
    assert_int_equal(search_refs(f->s, "newref01", 0, 0, 10, refs), 1);
    assert_string_equal(refs[0], "NEWREF01");
    /* A domain, with or without '@', in any case: the sender's or the recipient's. */
    assert_int_equal(search_refs(f->s, "@example.org", 0, 0, 10, refs), 2);
    assert_string_equal(refs[0], "MIDREF01");
    assert_string_equal(refs[1], "OLDREF01");
    assert_int_equal(search_refs(f->s, "EXAMPLE.org", 0, 0, 10, NULL), 2);
    /* The header From address the milter wrote beside the detail, in any case. */
    assert_int_equal(search_refs(f->s, "Alerts@Bank.example", 0, 0, 10, refs), 1);
    assert_string_equal(refs[0], "FROMREF1");
    /* The period: since inclusive, until exclusive; and the limit keeps the newest. */
    assert_int_equal(search_refs(f->s, "@example.test", 100, 400, 10, refs), 2);
    assert_string_equal(refs[0], "NEWREF01");
    assert_string_equal(refs[1], "OLDREF01");
    assert_int_equal(search_refs(f->s, "@example.test", 0, 0, 1, refs), 1);
    assert_string_equal(refs[0], "FROMREF1");
    /* Text, not patterns. */
    assert_int_equal(search_refs(f->s, "%", 0, 0, 10, NULL), 0);
    assert_int_equal(search_refs(f->s, "a_b@example.com", 0, 0, 10, NULL), 0);
    assert_int_equal(search_refs(f->s, "%@example.com", 0, 0, 10, NULL), 0);
    assert_int_equal(search_refs(f->s, "@%", 0, 0, 10, NULL), 0);
    assert_int_equal(search_refs(f->s, "x' OR '1'='1", 0, 0, 10, NULL), 0);
}

/*
 * A header From address finds the decisions of its message through their header_from column (an
 * index), newest first within the limit, and nothing else: an address written only inside a
 * detail is not looked for there (no search reads every detail of the period).
 */
static void test_search_by_header_from_uses_its_column(void **state)
{
    struct fixture *f = *state;
    char refs[16][16];
    struct decision early =
        sample(100, "QA", "AUTHOR01", "192.0.2.4", "bounce@esp.example", "erin@example.test");
    struct decision late =
        sample(200, "QB", "AUTHOR02", "192.0.2.5", "bounce@esp.example", "fred@example.test");
    struct decision named =
        sample(300, "QC", "NAMED001", "192.0.2.6", "list@lists.example", "gina@example.test");

    f->s = open_ok(f->database);
    early.header_from = late.header_from = "ceo@bank.example";
    early.detail = late.detail = "dmarc=pass";
    named.detail = "dmarc=fail; header From: <ceo@bank.example>";
    add_ok(f->s, early);
    add_ok(f->s, late);
    add_ok(f->s, named);

    assert_int_equal(search_refs(f->s, "<CEO@bank.example>", 0, 0, 10, refs), 2);
    assert_string_equal(refs[0], "AUTHOR02");
    assert_string_equal(refs[1], "AUTHOR01");
    assert_int_equal(search_refs(f->s, "ceo@bank.example", 0, 0, 1, refs), 1);
    assert_string_equal(refs[0], "AUTHOR02");
    assert_int_equal(search_refs(f->s, "ceo@bank.example", 0, 200, 10, refs), 1);
    assert_string_equal(refs[0], "AUTHOR01");
    /* The domain alone is no author's address. */
    assert_int_equal(search_refs(f->s, "@bank.example", 0, 0, 10, NULL), 0);
}

/*
 * An address is looked up as the sender, the recipient, the account and the header From, without
 * case and without one pair of <>: the newest first (at the same second, the later written first)
 * and within the limit across all of them, a row that several of them name once.  A client IP
 * likewise keeps only its newest within the limit.
 */
static void test_search_by_address_finds_each_column_once_newest_first(void **state)
{
    struct fixture *f = *state;
    char refs[16][16];
    struct decision by_sender =
        sample(100, "Q1", "ADDR0001", "192.0.2.10", "Dana@Example.ORG", "x@example.test");
    struct decision by_recipient =
        sample(200, "Q2", "ADDR0002", "192.0.2.11", "list@lists.example", "dana@example.org");
    struct decision by_account =
        sample(300, "Q3", "ADDR0003", "192.0.2.12", "a@b.example", "c@d.example");
    struct decision by_all =
        sample(400, "Q4", "ADDR0004", "192.0.2.10", "dana@example.org", "Dana@Example.org");
    struct decision same_second =
        sample(400, "Q4", "ADDR0005", "192.0.2.13", "dana@example.org", "h@example.test");

    f->s = open_ok(f->database);
    by_account.account = "DANA@example.org";
    by_all.account = "dana@example.org";
    by_all.header_from = "dana@example.org";
    add_ok(f->s, by_sender);
    add_ok(f->s, by_recipient);
    add_ok(f->s, by_account);
    add_ok(f->s, by_all);
    add_ok(f->s, same_second);
    add_ok(f->s, sample(500, "Q5", "OTHER001", "192.0.2.10", "e@f.example", "g@h.example"));

    assert_int_equal(search_refs(f->s, "<DANA@example.ORG>", 0, 0, 10, refs), 5);
    assert_string_equal(refs[0], "ADDR0005");
    assert_string_equal(refs[1], "ADDR0004");
    assert_string_equal(refs[2], "ADDR0003");
    assert_string_equal(refs[3], "ADDR0002");
    assert_string_equal(refs[4], "ADDR0001");
    assert_int_equal(search_refs(f->s, "dana@example.org", 0, 0, 2, refs), 2);
    assert_string_equal(refs[0], "ADDR0005");
    assert_string_equal(refs[1], "ADDR0004");
    assert_int_equal(search_refs(f->s, "dana@example.org", 0, 0, 3, refs), 3);
    assert_string_equal(refs[2], "ADDR0003");
    assert_int_equal(search_refs(f->s, "dana@example.org", 150, 400, 10, refs), 2);
    assert_string_equal(refs[0], "ADDR0003");
    assert_string_equal(refs[1], "ADDR0002");
    assert_int_equal(search_refs(f->s, "dana@example.or", 0, 0, 10, NULL), 0);
    assert_int_equal(search_refs(f->s, "192.0.2.10", 0, 0, 10, refs), 3);
    assert_string_equal(refs[0], "OTHER001");
    assert_string_equal(refs[1], "ADDR0004");
    assert_string_equal(refs[2], "ADDR0001");
    assert_int_equal(search_refs(f->s, "192.0.2.10", 0, 0, 1, refs), 1);
    assert_string_equal(refs[0], "OTHER001");
}

/*
 * Text that is not UTF-8 (a HELO, an address, a client name from the network) is stored with '?'
 * for each byte that does not begin a well-formed sequence, written at once or by the writer:
 * a PostgreSQL database refuses such bytes, an SQLite one would keep them for the JSON output to
 * stumble on.
 */
static void test_decision_texts_are_made_valid_utf8(void **state)
{
    struct fixture *f = *state;
    struct rows rows = {0};
    struct decision d = {
        .time = 7,
        .ref = "UTF8BAD1",
        .client_name = "ptr\xed\xa0\x80.example.test", /* a surrogate */
        .helo = "bad\xffhelo",
        .sender = "lo\xc0\xaf@example.org", /* an overlong '/' */
        .check = "policy",
        .action = "accept",
        .detail = "caf\xc3\xa9 \x80 cut \xe2\x82", /* valid, a lone continuation, cut short */
    };

    f->s = open_ok(f->database);
    for (int writer = 0; writer < 2; writer++) {
        if (writer == 1) {
            d.ref = "UTF8BAD2";
            assert_int_equal(store_decision_writer_start(f->s, 60000, 10, 100, NULL), STORE_OK);
        }
        assert_int_equal(store_decision_add(f->s, &d, NULL), STORE_OK);
        assert_int_equal(store_decision_flush(f->s, NULL), STORE_OK);
        assert_int_equal(store_decision_find(f->s, d.ref, 10, collect, &rows, NULL), STORE_OK);
        assert_int_equal(rows.count, 1);
        assert_string_equal(rows.r[0].field[F_NAME], "ptr???.example.test");
        assert_string_equal(rows.r[0].field[F_HELO], "bad?helo");
        assert_string_equal(rows.r[0].field[F_SENDER], "lo??@example.org");
        assert_string_equal(rows.r[0].field[F_DETAIL], "caf\xc3\xa9 ? cut ??");
        rows_free(&rows);
    }
}

static void test_decision_without_check_or_action_is_an_error(void **state)
{
    struct fixture *f = *state;
    struct decision d = sample(1, "Q", "NOCHECK1", "192.0.2.1", "a@b", "c@d");
    struct store_error err;

    f->s = open_ok(f->database);
    d.check = NULL;
    assert_int_equal(store_decision_add(f->s, &d, &err), STORE_ERROR);
    assert_contains(err.text, "check");
    d.check = "iprev";
    d.action = NULL;
    assert_int_equal(store_decision_add(f->s, &d, &err), STORE_ERROR);
    assert_int_equal(find_count(f->s, "NOCHECK1", 10, NULL), 0);
}

static void test_decision_expiry_deletes_only_older_rows_oldest_first_in_batches(void **state)
{
    struct fixture *f = *state;
    size_t deleted = 99;
    long long t[ROWS_MAX];

    f->s = open_ok(f->database);
    add_series(f->s, 25, 1000, "OLDROW01");
    add_series(f->s, 5, 5000, "NEWROW01");

    assert_int_equal(store_decision_expire(f->s, 5000, 10, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 10);
    assert_int_equal(store_decision_expire(f->s, 5000, 10, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 10);
    /* The oldest went first: 1020..1024 are left of the old ones. */
    assert_int_equal(find_count(f->s, "OLDROW01", 100, t), 5);
    assert_int_equal(t[0], 1020);
    assert_int_equal(store_decision_expire(f->s, 5000, 10, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 5);
    assert_int_equal(store_decision_expire(f->s, 5000, 10, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 0);
    /* "Older than" is strict: the row at 5000 stays. */
    assert_int_equal(find_count(f->s, "NEWROW01", 100, NULL), 5);
    assert_int_equal(find_count(f->s, "OLDROW01", 100, NULL), 0);
}

#define THREADS 4
#define ADDS_PER_THREAD 200

struct worker {
    struct store *s;
    int index;
    int failures;
};

static void *add_many(void *arg)
{
    struct worker *w = arg;
    char sender[64];

    snprintf(sender, sizeof sender, "thread%d@example.org", w->index);
    for (int i = 0; i < ADDS_PER_THREAD; i++) {
        struct decision d = sample(i, "NOQUEUE", "THREADS1", "192.0.2.44", sender, "r@x");
        if (store_decision_add(w->s, &d, NULL) != STORE_OK)
            w->failures++;
    }
    return NULL;
}

/* THREADS threads add ADDS_PER_THREAD decisions each, at once; none may fail. */
static void run_adders(struct store *s)
{
    pthread_t tid[THREADS];
    struct worker w[THREADS];

    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.s = s, .index = i};
        assert_int_equal(pthread_create(&tid[i], NULL, add_many, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(tid[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
}

static void assert_each_adder_landed_once(struct store *s)
{
    for (int i = 0; i < THREADS; i++) {
        char sender[64];
        snprintf(sender, sizeof sender, "<THREAD%d@example.org>", i);
        assert_int_equal(find_count(s, sender, 1000, NULL), ADDS_PER_THREAD);
    }
}

static void test_concurrent_adds_from_four_threads_all_land(void **state)
{
    struct fixture *f = *state;

    f->s = open_ok(f->database);
    run_adders(f->s);
    assert_each_adder_landed_once(f->s);
}

/* ---- the background writer of the decision log ---- */

/* Queued, not yet written (the interval is a minute and the batch far away): another store on
 * the same database does not see the rows; a find on this one writes them first. */
static void test_writer_queues_and_find_sees_what_is_queued(void **state)
{
    struct fixture *f = *state;
    struct store_decision_counts n;

    f->s = open_ok(f->database);
    struct store *other = open_ok(f->database);
    assert_int_equal(store_decision_writer_start(f->s, 60000, 100, 1000, NULL), STORE_OK);
    add_three(f->s);
    assert_int_equal(find_count(other, "192.0.2.4", 100, NULL), 0);
    store_decision_counts(f->s, &n);
    assert_int_equal(n.queued, 3);
    assert_int_equal(n.waiting, 3);
    assert_int_equal(find_count(f->s, "192.0.2.4", 100, NULL), 1);
    assert_int_equal(find_count(other, "4Y2x8", 100, NULL), 1);
    store_decision_counts(f->s, &n);
    assert_int_equal(n.written, 3);
    assert_int_equal(n.waiting, 0);
    store_close(other);
}

struct tally {
    char seen[4][64];
    int64_t counts[4];
    int n;
};

static void tally_one(const char *check, const char *action, int64_t count, void *arg)
{
    struct tally *t = arg;
    if (t->n < 4) {
        snprintf(t->seen[t->n], sizeof t->seen[t->n], "%s/%s", check, action);
        t->counts[t->n++] = count;
    }
}

/* ingressctl stats: the decisions since a time, counted by (check, action), in that order;
 * rows before the time and rows still queued for the writer are counted as they should be. */
static void test_decision_tally_counts_by_check_and_action_since(void **state)
{
    struct fixture *f = *state;
    struct store_error err;
    struct tally t = {0};

    f->s = open_ok(f->database);
    assert_int_equal(store_decision_writer_start(f->s, 60000, 100, 1000, NULL), STORE_OK);
    add_three(f->s); /* iprev/reject at 1000, 2000, 3000 */
    struct decision d = sample(2500, "4Y2x9", "T4LLY001", "192.0.2.9", "a@example.org", "b@x");
    d.check = "spf";
    d.action = "tempfail";
    add_ok(f->s, d);
    assert_int_equal(store_decision_tally(f->s, 1500, tally_one, &t, &err), STORE_OK);
    assert_int_equal(t.n, 2);
    assert_string_equal(t.seen[0], "iprev/reject");
    assert_int_equal(t.counts[0], 2);
    assert_string_equal(t.seen[1], "spf/tempfail");
    assert_int_equal(t.counts[1], 1);
    memset(&t, 0, sizeof t);
    /* Nothing since: STORE_NOTFOUND, as for store_decision_find(). */
    assert_int_equal(store_decision_tally(f->s, 3001, tally_one, &t, &err), STORE_NOTFOUND);
    assert_int_equal(t.n, 0);
}

static void test_writer_close_writes_what_is_queued(void **state)
{
    struct fixture *f = *state;

    f->s = open_ok(f->database);
    assert_int_equal(store_decision_writer_start(f->s, 60000, 100, 1000, NULL), STORE_OK);
    add_series(f->s, 5, 100, "CLOSE001");
    store_close(f->s);
    f->s = open_ok(f->database);
    assert_int_equal(find_count(f->s, "CLOSE001", 100, NULL), 5);
}

static void test_writer_starts_once_and_checks_its_limits(void **state)
{
    struct fixture *f = *state;
    struct store_error err;

    f->s = open_ok(f->database);
    assert_int_equal(store_decision_writer_start(f->s, 200, 10, 5, &err), STORE_ERROR);
    assert_contains(err.text, "limits");
    assert_int_equal(store_decision_writer_start(f->s, 0, 10, 50, NULL), STORE_ERROR);
    assert_int_equal(store_decision_writer_start(f->s, 200, 0, 50, NULL), STORE_ERROR);
    assert_int_equal(store_decision_writer_start(f->s, 200, 10, 50, NULL), STORE_OK);
    assert_int_equal(store_decision_writer_start(f->s, 200, 10, 50, &err), STORE_ERROR);
    assert_contains(err.text, "already");
}

/* Four threads queue at once with batches smaller than what they add: every row lands once. */
static void test_writer_concurrent_adds_all_land_once(void **state)
{
    struct fixture *f = *state;

    f->s = open_ok(f->database);
    assert_int_equal(store_decision_writer_start(f->s, 5, 7, 100000, NULL), STORE_OK);
    run_adders(f->s);
    assert_int_equal(store_decision_flush(f->s, NULL), STORE_OK);
    assert_each_adder_landed_once(f->s);
}

/* ------------------------------------------------------------------------------------------ */
/* Greylisting                                                                                */
/* ------------------------------------------------------------------------------------------ */

/* What a decide function saw and does: it records the rows, and writes want[] when asked. */
struct decider {
    int calls;
    struct store_greylist_row seen[STORE_GREYLIST_ROWS];
    struct store_autoallow_row seen_autoallow;
    bool write[STORE_GREYLIST_ROWS], write_autoallow;
    struct store_greylist_row want[STORE_GREYLIST_ROWS];
    struct store_autoallow_row want_autoallow;
};

static void decide(struct store_greylist_txn *t, void *arg)
{
    struct decider *d = arg;

    d->calls++;
    for (int i = 0; i < STORE_GREYLIST_ROWS; i++) {
        d->seen[i] = t->rows[i];
        if (t->rows[i].source != NULL && d->write[i]) {
            const char *source = t->rows[i].source;
            t->rows[i] = d->want[i];
            t->rows[i].source = source;
            t->rows[i].write = true;
        }
    }
    d->seen_autoallow = t->autoallow;
    if (t->autoallow.network != NULL && d->write_autoallow) {
        const char *network = t->autoallow.network;
        t->autoallow = d->want_autoallow;
        t->autoallow.network = network;
        t->autoallow.write = true;
    }
}

static struct store_greylist_txn triplet(const char *network, const char *spf)
{
    struct store_greylist_txn t = {
        .sender = "alice@example.org",
        .recipient = "bob@example.test",
        .rows = {{.source = network}, {.source = spf}},
        .autoallow = {.network = network},
    };
    return t;
}

/* Reads the rows of (network, spf) without writing; d gets what was seen. */
static enum store_status peek(struct store *s, const char *network, const char *spf,
                              struct decider *d)
{
    struct store_greylist_txn t = triplet(network, spf);

    memset(d, 0, sizeof *d);
    return store_greylist_update(s, &t, decide, d, NULL);
}

/* Row counters for the dry-run test: arg is an int. */
static void count_entry(const struct list_entry *e, void *arg)
{
    (void)e;
    ++*(int *)arg;
}
static void count_held(const struct store_held *h, void *arg)
{
    (void)h;
    ++*(int *)arg;
}
static void count_throttled(const struct store_throttle_state *st, void *arg)
{
    (void)st;
    ++*(int *)arg;
}
static void count_account(const struct store_account *a, void *arg)
{
    (void)a;
    ++*(int *)arg;
}
static void count_bucket(const struct store_throttle_bucket *b, void *arg)
{
    (void)b;
    ++*(int *)arg;
}

/* A dry-run store (ingressctl check) reads what is there and writes nothing at all. */
static void test_dry_run_reads_and_writes_nothing(void **state)
{
    struct fixture *f = *state;
    struct store_error err;
    struct decider d = {0};
    struct store_greylist_txn t = triplet("192.0.2.0/24", NULL);
    struct list_entry e = {.kind = "cidr", .value = "192.0.2.0/24", .action = "block"};
    struct store_held h = {.queue_id = "QDRY",
                           .account = "bob",
                           .sender = "",
                           .recipients = "",
                           .subject = "",
                           .reason = "r"};
    struct store_throttle_bucket b = {.account = "bob", .width = 60, .start = 60, .msgs = 1};
    char previous[16];
    bool flag = true;

    f->s = open_ok(f->database);
    add_ok(f->s, sample(100, "Q100", "SEENREF1", "192.0.2.1", "a@example.org", "b@example.test"));
    store_close(f->s);
    f->s = store_open_dry_run(f->database, 2000, &err);
    if (f->s == NULL)
        fail_msg("store_open_dry_run: %s", err.text);

    assert_int_equal(find_count(f->s, "SEENREF1", 10, NULL), 1);
    add_ok(f->s, sample(200, "Q200", "DRYREF01", "192.0.2.2", "a@example.org", "b@example.test"));
    d.write[0] = true;
    d.want[0] = (struct store_greylist_row){.first_seen = 100, .last_seen = 100};
    assert_int_equal(store_greylist_update(f->s, &t, decide, &d, NULL), STORE_OK);
    assert_int_equal(store_list_add(f->s, &e, previous, sizeof previous, NULL), STORE_OK);
    assert_int_equal(store_held_add(f->s, &h, NULL), STORE_OK);
    assert_int_equal(store_throttle_bucket_add(f->s, &b, 1, NULL), STORE_OK);
    assert_int_equal(store_throttle_mark(f->s, "bob", 100, "r", &flag, NULL), STORE_OK);
    assert_int_equal(store_account_add(f->s, "bob", 100, &flag, NULL), STORE_OK);
    store_close(f->s);

    f->s = open_ok(f->database);
    assert_int_equal(find_count(f->s, "DRYREF01", 10, NULL), 0);
    assert_int_equal(peek(f->s, "192.0.2.0/24", NULL, &d), STORE_OK);
    assert_false(d.seen[0].found);
    int n = 0;
    store_list_each(f->s, NULL, 0, count_entry, &n, NULL);
    store_held_each(f->s, NULL, NULL, NULL, count_held, &n, NULL);
    store_throttle_each(f->s, count_throttled, &n, NULL);
    store_account_each(f->s, NULL, count_account, &n, NULL);
    store_throttle_bucket_each(f->s, "bob", 0, 0, INT64_MAX, count_bucket, &n, NULL);
    assert_int_equal(n, 0);
}

/* The engine refuses a dry run's writes: a write that reaches the database fails, unwritten. */
static void test_dry_run_engine_refuses_a_write_the_stubs_miss(void **state)
{
    struct fixture *f = *state;
    struct store_error err;
    struct list_entry e = {.kind = "cidr",
                           .value = "192.0.2.0/24",
                           .action = "block",
                           .reason = "r",
                           .public_text = "",
                           .added_by = "t",
                           .added_at = 1};
    struct store *writer = open_ok(f->database);
    f->s = store_open_dry_run(f->database, 2000, &err);
    if (f->s == NULL)
        fail_msg("store_open_dry_run: %s", err.text);
    assert_int_equal(store_fault_write_around(f->s, writer, &e, &err), STORE_ERROR);
    store_close(f->s);
    store_close(writer);
    f->s = open_ok(f->database);
    int n = 0;
    store_list_each(f->s, NULL, 0, count_entry, &n, NULL);
    assert_int_equal(n, 0);
}

static void test_greylist_rows_are_read_decided_and_the_marked_ones_written(void **state)
{
    struct fixture *f = *state;
    struct decider d = {0};
    struct store_greylist_txn t = triplet("192.0.2.0/24", "spf:example.org");

    f->s = open_ok(f->database);
    d.write[0] = true;
    d.want[0] = (struct store_greylist_row){.first_seen = 100, .last_seen = 100, .count = 0};
    d.write_autoallow = true;
    d.want_autoallow =
        (struct store_autoallow_row){.count = 1, .first_seen = 100, .last_seen = 100};
    assert_int_equal(store_greylist_update(f->s, &t, decide, &d, NULL), STORE_OK);
    assert_int_equal(d.calls, 1);
    assert_false(d.seen[0].found);
    assert_false(d.seen[1].found);
    assert_false(d.seen_autoallow.found);

    assert_int_equal(peek(f->s, "192.0.2.0/24", "spf:example.org", &d), STORE_OK);
    assert_true(d.seen[0].found);
    assert_int_equal(d.seen[0].first_seen, 100);
    assert_int_equal(d.seen[0].last_seen, 100);
    assert_int_equal(d.seen[0].confirmed_at, 0); /* pending */
    assert_int_equal(d.seen[0].count, 0);
    assert_false(d.seen[1].found); /* not marked: not written */
    assert_true(d.seen_autoallow.found);
    assert_int_equal(d.seen_autoallow.count, 1);

    /* The SPF row, confirmed, and the network row replaced. */
    memset(&d, 0, sizeof d);
    d.write[0] = d.write[1] = true;
    d.want[0] = (struct store_greylist_row){
        .first_seen = 100, .last_seen = 400, .confirmed_at = 400, .count = 1};
    d.want[1] = d.want[0];
    t = triplet("192.0.2.0/24", "spf:example.org");
    assert_int_equal(store_greylist_update(f->s, &t, decide, &d, NULL), STORE_OK);
    assert_int_equal(peek(f->s, "192.0.2.0/24", "spf:example.org", &d), STORE_OK);
    for (int i = 0; i < STORE_GREYLIST_ROWS; i++) {
        assert_true(d.seen[i].found);
        assert_int_equal(d.seen[i].last_seen, 400);
        assert_int_equal(d.seen[i].confirmed_at, 400);
        assert_int_equal(d.seen[i].count, 1);
    }
    /* Another recipient is another triplet. */
    t = triplet("192.0.2.0/24", NULL);
    t.recipient = "carol@example.test";
    memset(&d, 0, sizeof d);
    assert_int_equal(store_greylist_update(f->s, &t, decide, &d, NULL), STORE_OK);
    assert_false(d.seen[0].found);
}

static void test_greylist_expiry_deletes_due_rows_within_the_batch(void **state)
{
    struct fixture *f = *state;
    struct decider d = {0};
    struct store_greylist_txn t;
    size_t deleted = 99;
    static const char *const networks[] = {"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"};

    f->s = open_ok(f->database);
    /* Pending at 100, confirmed and last used at 150, confirmed and used at 5000; autoallow
     * counted at 100 for every network. */
    for (int i = 0; i < 3; i++) {
        memset(&d, 0, sizeof d);
        d.write[0] = true;
        d.want[0] = (struct store_greylist_row){.first_seen = 100, .last_seen = 100};
        if (i > 0)
            d.want[0].confirmed_at = d.want[0].last_seen = i == 1 ? 150 : 5000;
        d.write_autoallow = true;
        d.want_autoallow =
            (struct store_autoallow_row){.count = 1, .first_seen = 100, .last_seen = 100};
        t = triplet(networks[i], NULL);
        assert_int_equal(store_greylist_update(f->s, &t, decide, &d, NULL), STORE_OK);
    }
    /* A batch of one deletes one row (the pending one goes first). */
    assert_int_equal(store_greylist_expire(f->s, 200, 200, 200, 1, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 1);
    assert_int_equal(peek(f->s, networks[0], NULL, &d), STORE_OK);
    assert_false(d.seen[0].found);
    /* Then the autoallow rows and the confirmed triplet last used before 200. */
    size_t total = 0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(store_greylist_expire(f->s, 200, 200, 200, 10, &deleted, NULL), STORE_OK);
        total += deleted;
    }
    assert_int_equal(total, 4);
    assert_int_equal(peek(f->s, networks[1], NULL, &d), STORE_OK);
    assert_false(d.seen[0].found);
    assert_false(d.seen_autoallow.found);
    assert_int_equal(peek(f->s, networks[2], NULL, &d), STORE_OK);
    assert_true(d.seen[0].found); /* used at 5000: kept */
    assert_false(d.seen_autoallow.found);
}

/* ------------------------------------------------------------------------------------------ */
/* Lists and rules                                                                            */
/* ------------------------------------------------------------------------------------------ */

struct entries {
    size_t n;
    char text[16][160]; /* "kind value action reason expires" */
};

static void entry_collect(const struct list_entry *e, void *arg)
{
    struct entries *all = arg;

    if (all->n < 16)
        snprintf(all->text[all->n], sizeof all->text[0], "%s %s %s %s %lld", e->kind, e->value,
                 e->action, e->reason ? e->reason : "(null)", (long long)e->expires);
    all->n++;
}

struct public_entries {
    size_t n;
    char text[4][200]; /* "kind value action reason|public_text" */
};

static void public_collect(const struct list_entry *e, void *arg)
{
    struct public_entries *all = arg;

    if (all->n < 4)
        snprintf(all->text[all->n], sizeof all->text[0], "%s %s %s %s|%s", e->kind, e->value,
                 e->action, e->reason, e->public_text ? e->public_text : "(null)");
    all->n++;
}

static struct list_entry entry(const char *kind, const char *value, const char *action)
{
    struct list_entry e = {.kind = kind,
                           .value = value,
                           .action = action,
                           .reason = "spam",
                           .added_by = "root",
                           .added_at = 1000};
    return e;
}

static void test_list_add_replaces_and_says_what_it_replaced(void **state)
{
    struct fixture *f = *state;
    struct list_entry e = entry("cidr", "192.0.2.0/24", "block");
    char previous[16] = "x";
    struct entries all = {0};

    f->s = open_ok(f->database);
    assert_int_equal(store_list_add(f->s, &e, previous, sizeof previous, NULL), STORE_OK);
    assert_string_equal(previous, "");
    e.action = "allow";
    e.reason = NULL;
    assert_int_equal(store_list_add(f->s, &e, previous, sizeof previous, NULL), STORE_OK);
    assert_string_equal(previous, "block");
    assert_int_equal(store_list_each(f->s, "cidr", 0, entry_collect, &all, NULL), STORE_OK);
    assert_int_equal(all.n, 1);
    assert_string_equal(all.text[0], "cidr 192.0.2.0/24 allow  0");
}

static void test_list_each_by_kind_in_order_and_without_the_expired(void **state)
{
    struct fixture *f = *state;
    struct entries all = {0};
    struct list_entry e[] = {
        entry("sender_domain", "b.example", "block"),
        entry("cidr", "198.51.100.0/24", "block"),
        entry("sender_domain", "a.example", "allow"),
        entry("cidr", "192.0.2.0/24", "block"),
    };

    f->s = open_ok(f->database);
    assert_int_equal(store_list_each(f->s, NULL, 0, entry_collect, &all, NULL), STORE_NOTFOUND);
    e[1].expires = 2000;
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(store_list_add(f->s, &e[i], (char[8]){0}, 8, NULL), STORE_OK);
    assert_int_equal(store_list_each(f->s, NULL, 0, entry_collect, &all, NULL), STORE_OK);
    assert_int_equal(all.n, 4);
    assert_string_equal(all.text[0], "cidr 192.0.2.0/24 block spam 0");
    assert_string_equal(all.text[1], "cidr 198.51.100.0/24 block spam 2000");
    assert_string_equal(all.text[2], "sender_domain a.example allow spam 0");
    assert_string_equal(all.text[3], "sender_domain b.example block spam 0");
    memset(&all, 0, sizeof all);
    assert_int_equal(store_list_each(f->s, "cidr", 2000, entry_collect, &all, NULL), STORE_OK);
    assert_int_equal(all.n, 1); /* expired at 2000 */
    assert_string_equal(all.text[0], "cidr 192.0.2.0/24 block spam 0");
    memset(&all, 0, sizeof all);
    assert_int_equal(store_list_each(f->s, "cidr", 1999, entry_collect, &all, NULL), STORE_OK);
    assert_int_equal(all.n, 2);
}

/* The internal reason and the public text are two columns: each reads back as written, a replace
 * replaces both, and the greylist_exempt action and the regex and recipient kinds are taken (the
 * CHECK constraints of migration 012, on both backends). */
static void test_list_entry_keeps_its_internal_reason_apart_from_its_public_text(void **state)
{
    struct fixture *f = *state;
    struct list_entry e = entry("sender_domain", "spam.example", "block");
    struct list_entry more[] = {
        entry("ptr_regex", "^mail[0-9]+\\.Example\\.net$", "greylist_exempt"),
        entry("helo_regex", "^smtp-out", "block"),
        entry("recipient", "postmaster@", "greylist_exempt"),
    };
    struct public_entries all = {0};
    char previous[16];

    f->s = open_ok(f->database);
    e.reason = "ticket 123";
    e.public_text = "Contact abuse@example.test";
    assert_int_equal(store_list_add(f->s, &e, previous, sizeof previous, NULL), STORE_OK);
    assert_int_equal(store_list_import(f->s, more, 3, NULL), STORE_OK);
    assert_int_equal(store_list_each(f->s, NULL, 0, public_collect, &all, NULL), STORE_OK);
    assert_int_equal(all.n, 4);
    assert_string_equal(all.text[0], "helo_regex ^smtp-out block spam|");
    assert_string_equal(all.text[1],
                        "ptr_regex ^mail[0-9]+\\.Example\\.net$ greylist_exempt spam|");
    assert_string_equal(all.text[2], "recipient postmaster@ greylist_exempt spam|");
    assert_string_equal(all.text[3],
                        "sender_domain spam.example block ticket 123|Contact abuse@example.test");
    e.public_text = NULL;
    assert_int_equal(store_list_add(f->s, &e, previous, sizeof previous, NULL), STORE_OK);
    memset(&all, 0, sizeof all);
    assert_int_equal(store_list_each(f->s, "sender_domain", 0, public_collect, &all, NULL),
                     STORE_OK);
    assert_string_equal(all.text[0], "sender_domain spam.example block ticket 123|");
}

static void test_list_version_moves_with_every_change(void **state)
{
    struct fixture *f = *state;
    struct list_entry e = entry("helo_domain", "bad.example", "block");
    struct rcpt_rule r = {"bob@example.test", "@example.org", "reject", "root", 1000};
    int64_t v0 = -1, v1 = -1, v2 = -1, v3 = -1, v4 = -1;
    char previous[16];

    f->s = open_ok(f->database);
    assert_int_equal(store_lists_version(f->s, &v0, NULL), STORE_OK);
    assert_int_equal(store_list_add(f->s, &e, previous, sizeof previous, NULL), STORE_OK);
    assert_int_equal(store_lists_version(f->s, &v1, NULL), STORE_OK);
    assert_int_equal(store_list_del(f->s, "helo_domain", "bad.example", NULL), STORE_OK);
    assert_int_equal(store_lists_version(f->s, &v2, NULL), STORE_OK);
    assert_int_equal(store_rule_add(f->s, &r, previous, sizeof previous, NULL), STORE_OK);
    assert_int_equal(store_lists_version(f->s, &v3, NULL), STORE_OK);
    assert_int_equal(store_list_del(f->s, "helo_domain", "bad.example", NULL), STORE_NOTFOUND);
    assert_int_equal(store_lists_version(f->s, &v4, NULL), STORE_OK);
    assert_true(v1 != v0 && v2 != v1 && v3 != v2);
    assert_int_equal(v4, v3); /* nothing deleted, nothing changed */
}

static void test_list_entry_without_kind_value_or_action_is_an_error(void **state)
{
    struct fixture *f = *state;
    struct list_entry e = entry("cidr", NULL, "block");
    struct store_error err;
    char previous[16];

    f->s = open_ok(f->database);
    assert_int_equal(store_list_add(f->s, &e, previous, sizeof previous, &err), STORE_ERROR);
    assert_contains(err.text, "a list entry needs");
}

static void test_list_import_is_all_or_none(void **state)
{
    struct fixture *f = *state;
    struct list_entry e[] = {
        entry("cidr", "192.0.2.0/24", "block"),
        entry("cidr", "198.51.100.0/24", "block"),
        entry("cidr", NULL, "block"),
    };
    struct entries all = {0};

    f->s = open_ok(f->database);
    assert_int_equal(store_list_import(f->s, e, 3, NULL), STORE_ERROR);
    assert_int_equal(store_list_each(f->s, NULL, 0, entry_collect, &all, NULL), STORE_NOTFOUND);
    assert_int_equal(store_list_import(f->s, e, 2, NULL), STORE_OK);
    assert_int_equal(store_list_each(f->s, NULL, 0, entry_collect, &all, NULL), STORE_OK);
    assert_int_equal(all.n, 2);
}

struct rules {
    size_t n;
    char text[8][160];
};

static void rule_collect(const struct rcpt_rule *r, void *arg)
{
    struct rules *all = arg;

    if (all->n < 8)
        snprintf(all->text[all->n], sizeof all->text[0], "%s %s %s", r->recipient, r->sender,
                 r->action);
    all->n++;
}

static void test_rules_add_replace_list_and_delete(void **state)
{
    struct fixture *f = *state;
    struct rcpt_rule r1 = {"bob@example.test", "@example.org", "reject", "root", 1000};
    struct rcpt_rule r2 = {"alice@example.test", "x@example.net", "accept", NULL, 1000};
    struct rules all = {0};
    char previous[16] = "x";
    struct store_error err;

    f->s = open_ok(f->database);
    assert_int_equal(store_rule_add(f->s, &r1, previous, sizeof previous, NULL), STORE_OK);
    assert_string_equal(previous, "");
    assert_int_equal(store_rule_add(f->s, &r2, previous, sizeof previous, NULL), STORE_OK);
    r1.action = "accept";
    assert_int_equal(store_rule_add(f->s, &r1, previous, sizeof previous, NULL), STORE_OK);
    assert_string_equal(previous, "reject");
    assert_int_equal(store_rule_each(f->s, NULL, rule_collect, &all, NULL), STORE_OK);
    assert_int_equal(all.n, 2);
    assert_string_equal(all.text[0], "alice@example.test x@example.net accept");
    assert_string_equal(all.text[1], "bob@example.test @example.org accept");
    memset(&all, 0, sizeof all);
    assert_int_equal(store_rule_each(f->s, "bob@example.test", rule_collect, &all, NULL), STORE_OK);
    assert_int_equal(all.n, 1);
    assert_int_equal(store_rule_del(f->s, "bob@example.test", "@example.org", NULL), STORE_OK);
    assert_int_equal(store_rule_del(f->s, "bob@example.test", "@example.org", NULL),
                     STORE_NOTFOUND);
    assert_int_equal(store_rule_each(f->s, "bob@example.test", rule_collect, &all, NULL),
                     STORE_NOTFOUND);
    r1.sender = NULL;
    assert_int_equal(store_rule_add(f->s, &r1, previous, sizeof previous, &err), STORE_ERROR);
    assert_contains(err.text, "a rule needs");
}

/* ------------------------------------------------------------------------------------------ */
/* Accounts, aliases, suspensions                                                             */
/* ------------------------------------------------------------------------------------------ */

struct accounts {
    size_t n;
    char text[8][200];
};

static void account_collect(const struct store_account *a, void *arg)
{
    struct accounts *all = arg;

    if (all->n < 8)
        snprintf(all->text[all->n], sizeof all->text[0], "%s %lld %lld [%s] %lld", a->name,
                 (long long)a->created, (long long)a->suspended, a->suspend_reason,
                 (long long)a->alias_count);
    all->n++;
}

static void alias_collect(const struct store_alias *a, void *arg)
{
    struct accounts *all = arg;

    if (all->n < 8)
        snprintf(all->text[all->n], sizeof all->text[0], "%s %s %s %lld", a->account, a->address,
                 a->added_by, (long long)a->added_at);
    all->n++;
}

static void test_accounts_and_aliases(void **state)
{
    struct fixture *f = *state;
    struct accounts all = {0};
    bool created = false;
    struct store_alias alias = {"alice", "@example.org", "root", 2000};
    struct store_error err;

    f->s = open_ok(f->database);
    assert_int_equal(store_account_each(f->s, NULL, account_collect, &all, NULL), STORE_NOTFOUND);
    assert_int_equal(store_account_add(f->s, "bob", 1000, &created, NULL), STORE_OK);
    assert_true(created);
    assert_int_equal(store_account_add(f->s, "bob", 1500, &created, NULL), STORE_OK);
    assert_false(created);
    /* An alias of an account without a row creates the account, at the alias's time. */
    assert_int_equal(store_alias_add(f->s, &alias, &created, NULL), STORE_OK);
    assert_true(created);
    assert_int_equal(store_alias_add(f->s, &alias, &created, NULL), STORE_OK);
    assert_false(created);
    alias.address = "alice@example.net";
    assert_int_equal(store_alias_add(f->s, &alias, NULL, NULL), STORE_OK);
    assert_int_equal(store_account_each(f->s, NULL, account_collect, &all, NULL), STORE_OK);
    assert_int_equal(all.n, 2);
    assert_string_equal(all.text[0], "alice 2000 0 [] 2");
    assert_string_equal(all.text[1], "bob 1000 0 [] 0");

    memset(&all, 0, sizeof all);
    assert_int_equal(store_alias_each(f->s, "alice", alias_collect, &all, NULL), STORE_OK);
    assert_int_equal(all.n, 2);
    assert_string_equal(all.text[0], "alice @example.org root 2000");
    assert_string_equal(all.text[1], "alice alice@example.net root 2000");
    assert_int_equal(store_alias_del(f->s, "alice", "@example.org", NULL), STORE_OK);
    assert_int_equal(store_alias_del(f->s, "alice", "@example.org", NULL), STORE_NOTFOUND);
    assert_int_equal(store_alias_each(f->s, "bob", alias_collect, &all, NULL), STORE_NOTFOUND);

    assert_int_equal(store_account_add(f->s, NULL, 1, NULL, &err), STORE_ERROR);
    assert_contains(err.text, "an account needs a name");
    alias.account = NULL;
    assert_int_equal(store_alias_add(f->s, &alias, NULL, &err), STORE_ERROR);
    assert_contains(err.text, "an alias needs");
}

static void test_suspension_keeps_the_first_and_is_lifted_once(void **state)
{
    struct fixture *f = *state;
    bool changed = false;
    int64_t since = -1;
    char reason[64] = "x";

    f->s = open_ok(f->database);
    assert_int_equal(store_account_suspended(f->s, "carol", &since, reason, sizeof reason, NULL),
                     STORE_NOTFOUND);
    assert_int_equal(since, 0);
    assert_string_equal(reason, "");
    /* No row yet: suspending creates it. */
    assert_int_equal(store_account_suspend(f->s, "carol", 3000, "phished", &changed, NULL),
                     STORE_OK);
    assert_true(changed);
    assert_int_equal(store_account_suspend(f->s, "carol", 4000, "again", &changed, NULL), STORE_OK);
    assert_false(changed);
    assert_int_equal(store_account_suspended(f->s, "carol", &since, reason, sizeof reason, NULL),
                     STORE_OK);
    assert_int_equal(since, 3000);
    assert_string_equal(reason, "phished");
    assert_int_equal(store_account_resume(f->s, "carol", NULL), STORE_OK);
    assert_int_equal(store_account_resume(f->s, "carol", NULL), STORE_NOTFOUND);
    assert_int_equal(store_account_suspended(f->s, "carol", &since, reason, sizeof reason, NULL),
                     STORE_NOTFOUND);
    assert_int_equal(store_account_resume(f->s, NULL, NULL), STORE_NOTFOUND);
}

/* ------------------------------------------------------------------------------------------ */
/* Held messages                                                                              */
/* ------------------------------------------------------------------------------------------ */

struct helds {
    size_t n;
    char text[8][200];
    char hosts[8][64];
};

static void held_collect(const struct store_held *h, void *arg)
{
    struct helds *all = arg;

    if (all->n < 8)
        snprintf(all->text[all->n], sizeof all->text[0], "%s %s %s %lld %s %s %lld", h->queue_id,
                 h->account, h->state, (long long)h->nrcpt, h->reason,
                 h->decided_by ? h->decided_by : "", (long long)h->decided_at);
    if (all->n < 8)
        str_copy(all->hosts[all->n], sizeof all->hosts[0], h->host ? h->host : "");
    all->n++;
}

static struct store_held held(const char *queue_id, const char *account, int64_t at)
{
    struct store_held h = {.queue_id = queue_id,
                           .held_at = at,
                           .account = account,
                           .sender = "a@example.org",
                           .recipients = "x@example.test\ny@example.test",
                           .nrcpt = 2,
                           .subject = "hello",
                           .size = 1234,
                           .reason = "rate"};
    return h;
}

static void test_held_rows_are_listed_decided_once_and_expired_when_decided(void **state)
{
    struct fixture *f = *state;
    struct store_held h[] = {held("Q1", "alice", 100), held("Q2", "bob", 200),
                             held("Q3", "alice", 300)};
    struct helds all = {0};
    size_t deleted = 99;
    struct store_error err;

    f->s = open_ok(f->database);
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_held_add(f->s, &h[i], NULL), STORE_OK);
    assert_int_equal(store_held_each(f->s, NULL, "alice", "held", held_collect, &all, NULL),
                     STORE_OK);
    assert_int_equal(all.n, 2);
    assert_string_equal(all.text[0], "Q1 alice held 2 rate  0");
    assert_string_equal(all.text[1], "Q3 alice held 2 rate  0");

    assert_int_equal(store_held_decide(f->s, "Q1", NULL, "released", "root", "ok", 1000, NULL),
                     STORE_OK);
    assert_int_equal(store_held_decide(f->s, "Q1", NULL, "rejected", "root", "no", 1001, NULL),
                     STORE_NOTFOUND);
    memset(&all, 0, sizeof all);
    assert_int_equal(store_held_each(f->s, "Q1", NULL, NULL, held_collect, &all, NULL), STORE_OK);
    assert_string_equal(all.text[0], "Q1 alice released 2 rate root 1000");
    assert_int_equal(store_held_each(f->s, "Q9", NULL, NULL, held_collect, &all, NULL),
                     STORE_NOTFOUND);

    /* Expiry takes decided rows decided before the limit, never a held one. */
    assert_int_equal(store_held_expire(f->s, 5000, 10, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 1);
    memset(&all, 0, sizeof all);
    assert_int_equal(store_held_each(f->s, NULL, NULL, NULL, held_collect, &all, NULL), STORE_OK);
    assert_int_equal(all.n, 2);

    struct store_held bad = held("", "alice", 1);
    assert_int_equal(store_held_add(f->s, &bad, &err), STORE_ERROR);
    assert_contains(err.text, "a held message needs");
}

static void held_texts(const struct store_held *h, void *arg)
{
    snprintf(arg, 128, "%s|%s|%s|%s", h->subject, h->sender, h->reason, h->recipients);
}

/* A held row's texts are made valid UTF-8 ('?' for each stray byte): a raw 8-bit Subject is
 * common, and a PostgreSQL database would refuse the row, the message deferred at every try. */
static void test_held_texts_are_made_valid_utf8(void **state)
{
    struct fixture *f = *state;
    struct store_held h = held("QBYTES1", "alice", 100);
    char texts[128] = "";

    h.subject = "caf\xe9 r\xc3\xa9union";
    h.sender = "lo\xc0\xaf@example.org";
    h.reason = "rate \xff";
    h.recipients = "x@example.test\n\xed\xa0\x80@example.test";
    f->s = open_ok(f->database);
    assert_int_equal(store_held_add(f->s, &h, NULL), STORE_OK);
    assert_int_equal(store_held_each(f->s, "QBYTES1", NULL, NULL, held_texts, texts, NULL),
                     STORE_OK);
    assert_string_equal(texts, "caf? r\xc3\xa9union|lo??@example.org|rate ?|x@example.test\n"
                               "???@example.test");
}

/*
 * A page of the held list: the oldest first, limit rows after offset of them, the account and
 * state filters as store_held_each's, and the total of the rows matched whatever the page.
 */
static void test_held_list_pages_filters_and_counts(void **state)
{
    struct fixture *f = *state;
    struct store_held h[] = {held("P1", "alice", 100), held("P2", "bob", 200),
                             held("P3", "alice", 300), held("P4", "alice", 400),
                             held("P5", "bob", 500)};
    struct helds page = {0};
    int64_t total = -1;

    f->s = open_ok(f->database);
    for (int i = 0; i < 5; i++)
        assert_int_equal(store_held_add(f->s, &h[i], NULL), STORE_OK);
    assert_int_equal(store_held_decide(f->s, "P3", NULL, "released", "root", "ok", 1000, NULL),
                     STORE_OK);

    struct store_held_query q = {.state = "held", .limit = 2};
    assert_int_equal(store_held_list(f->s, &q, held_collect, &page, &total, NULL), STORE_OK);
    assert_int_equal(total, 4);
    assert_int_equal(page.n, 2);
    assert_string_equal(page.text[0], "P1 alice held 2 rate  0");
    assert_string_equal(page.text[1], "P2 bob held 2 rate  0");

    memset(&page, 0, sizeof page);
    q.offset = 2;
    assert_int_equal(store_held_list(f->s, &q, held_collect, &page, &total, NULL), STORE_OK);
    assert_int_equal(total, 4);
    assert_int_equal(page.n, 2);
    assert_string_equal(page.text[0], "P4 alice held 2 rate  0");
    assert_string_equal(page.text[1], "P5 bob held 2 rate  0");

    /* Past the end: no row, and still the total. */
    memset(&page, 0, sizeof page);
    q.offset = 4;
    total = -1;
    assert_int_equal(store_held_list(f->s, &q, held_collect, &page, &total, NULL), STORE_NOTFOUND);
    assert_int_equal(page.n, 0);
    assert_int_equal(total, 4);

    /* One account, every state, no limit. */
    memset(&page, 0, sizeof page);
    q = (struct store_held_query){.account = "alice"};
    assert_int_equal(store_held_list(f->s, &q, held_collect, &page, &total, NULL), STORE_OK);
    assert_int_equal(total, 3);
    assert_int_equal(page.n, 3);
    assert_string_equal(page.text[1], "P3 alice released 2 rate root 1000");
}

/* ------------------------------------------------------------------------------------------ */
/* Review requests and explanations (the remote sender's page)                                 */
/* ------------------------------------------------------------------------------------------ */

static void review_collect(const struct store_review *r, void *arg)
{
    struct helds *all = arg;

    if (all->n < 8)
        snprintf(all->text[all->n], sizeof all->text[0], "%s %lld %s %s %s %s %s %lld %s", r->ref,
                 (long long)r->at, r->client, r->contact, r->text, r->state, r->closed_by,
                 (long long)r->closed_at, r->reason);
    all->n++;
}

static void explanation_collect(const char *check, const char *text, const char *by, int64_t at,
                                void *arg)
{
    struct helds *all = arg;

    if (all->n < 8)
        snprintf(all->text[all->n], sizeof all->text[0], "%s=%s by %s at %lld", check, text, by,
                 (long long)at);
    all->n++;
}

static void first_review_id(const struct store_review *r, void *arg)
{
    int64_t *id = arg;
    if (*id == 0)
        *id = r->id;
}

static struct store_review review(const char *ref, int64_t at, const char *text)
{
    struct store_review r = {
        .ref = ref, .at = at, .client = "192.0.2.7", .contact = "admin@example.org", .text = text};
    return r;
}

static void test_review_requests_are_capped_per_reference_closed_once_and_expired(void **state)
{
    struct fixture *f = *state;
    struct helds all = {0};
    size_t deleted = 99;
    struct store_error err;

    f->s = open_ok(f->database);
    struct store_review a = review("ABCDEFGHIJKLMNOP", 100, "please look; it's <ok>"),
                        b = review("ABCDEFGHIJKLMNOP", 200, "again"),
                        c = review("QRSTUVWXYZ234567", 300, "other");
    assert_int_equal(store_review_add(f->s, &a, 2, NULL), STORE_OK);
    assert_int_equal(store_review_add(f->s, &b, 2, NULL), STORE_OK);
    /* A third open request of one reference is refused; another reference still gets in. */
    assert_int_equal(store_review_add(f->s, &b, 2, NULL), STORE_NOTFOUND);
    assert_int_equal(store_review_add(f->s, &c, 2, NULL), STORE_OK);
    assert_int_equal(store_review_each(f->s, "open", review_collect, &all, NULL), STORE_OK);
    assert_int_equal(all.n, 3);
    assert_string_equal(all.text[0], "ABCDEFGHIJKLMNOP 100 192.0.2.7 admin@example.org please "
                                     "look; it's <ok> open  0 ");

    /* Closed once: the first request's id is the oldest row's. */
    int64_t first = 0;
    assert_int_equal(store_review_each(f->s, NULL, first_review_id, &first, NULL), STORE_OK);
    assert_int_equal(store_review_close(f->s, first, "ann", "fixed the PTR", 1000, NULL), STORE_OK);
    assert_int_equal(store_review_close(f->s, first, "bob", "again", 1001, NULL), STORE_NOTFOUND);
    assert_int_equal(store_review_close(f->s, 999999, "bob", "none", 1001, NULL), STORE_NOTFOUND);
    memset(&all, 0, sizeof all);
    assert_int_equal(store_review_each(f->s, "closed", review_collect, &all, NULL), STORE_OK);
    assert_int_equal(all.n, 1);
    assert_string_equal(all.text[0], "ABCDEFGHIJKLMNOP 100 192.0.2.7 admin@example.org please "
                                     "look; it's <ok> closed ann 1000 fixed the PTR");
    /* Closing one makes room for another request of that reference. */
    assert_int_equal(store_review_add(f->s, &b, 2, NULL), STORE_OK);

    /* Expiry takes the requests made before the limit, open or closed. */
    assert_int_equal(store_review_expire(f->s, 250, 10, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 3);
    memset(&all, 0, sizeof all);
    assert_int_equal(store_review_each(f->s, NULL, review_collect, &all, NULL), STORE_OK);
    assert_int_equal(all.n, 1);
    assert_string_equal(all.text[0], "QRSTUVWXYZ234567 300 192.0.2.7 admin@example.org other open  "
                                     "0 ");

    struct store_review bad = review("ABCDEFGHIJKLMNOP", 1, NULL);
    assert_int_equal(store_review_add(f->s, &bad, 2, &err), STORE_ERROR);
    assert_contains(err.text, "a review request needs");
}

static void test_explanations_are_set_replaced_listed_and_deleted(void **state)
{
    struct fixture *f = *state;
    struct helds all = {0};

    f->s = open_ok(f->database);
    assert_int_equal(store_explanation_each(f->s, explanation_collect, &all, NULL), STORE_NOTFOUND);
    assert_int_equal(store_explanation_set(f->s, "spf", "List 192.0.2.1 in SPF.", "root", 10, NULL),
                     STORE_OK);
    assert_int_equal(store_explanation_set(f->s, "iprev", "Fix the PTR.", "root", 11, NULL),
                     STORE_OK);
    assert_int_equal(store_explanation_set(f->s, "spf", "Add ip4:192.0.2.1 to your SPF record.",
                                           "ann", 12, NULL),
                     STORE_OK);
    assert_int_equal(store_explanation_each(f->s, explanation_collect, &all, NULL), STORE_OK);
    assert_int_equal(all.n, 2);
    assert_string_equal(all.text[0], "iprev=Fix the PTR. by root at 11");
    assert_string_equal(all.text[1], "spf=Add ip4:192.0.2.1 to your SPF record. by ann at 12");
    assert_int_equal(store_explanation_set(f->s, "iprev", NULL, "ann", 13, NULL), STORE_OK);
    assert_int_equal(store_explanation_set(f->s, "iprev", NULL, "ann", 14, NULL), STORE_NOTFOUND);
    memset(&all, 0, sizeof all);
    assert_int_equal(store_explanation_each(f->s, explanation_collect, &all, NULL), STORE_OK);
    assert_int_equal(all.n, 1);
}

/* ------------------------------------------------------------------------------------------ */
/* Changes: who changed what, from where and why                                               */
/* ------------------------------------------------------------------------------------------ */

struct changes_seen {
    size_t n;
    char text[8][300];
};

static void change_collect(const struct store_change *ch, void *arg)
{
    struct changes_seen *all = arg;

    if (all->n < 8)
        snprintf(all->text[all->n], sizeof all->text[0], "%lld %s|%s|%s|%s|%s|%s",
                 (long long)ch->at, ch->who, ch->source, ch->what, ch->key, ch->detail, ch->reason);
    all->n++;
}

static struct store_change change(int64_t at, const char *what, const char *key)
{
    struct store_change ch = {.at = at,
                              .who = "ann",
                              .source = "console from 192.0.2.1",
                              .what = what,
                              .key = key,
                              .detail = "cidr 192.0.2.7/32 allow",
                              .reason = "ticket 12"};
    return ch;
}

/* Rows are found by their key without case, newest first, within the period and the limit;
 * expiry takes the old ones only; a row without who, what or key is refused. */
static void test_changes_are_kept_found_by_key_newest_first_and_expired(void **state)
{
    struct fixture *f = *state;
    struct store_change ch[] = {
        change(100, "list add", "192.0.2.7"), change(200, "held release", "Q1"),
        change(300, "unblock", "192.0.2.7"), change(400, "account suspend", "Alice@Example.org")};
    struct changes_seen all = {0};
    size_t deleted = 99;
    struct store_error err;

    f->s = open_ok(f->database);
    for (int i = 0; i < 4; i++)
        assert_int_equal(store_change_add(f->s, &ch[i], NULL), STORE_OK);
    assert_int_equal(store_change_each(f->s, "192.0.2.7", 0, 0, 0, change_collect, &all, NULL),
                     STORE_OK);
    assert_int_equal(all.n, 2);
    assert_string_equal(all.text[0], "300 ann|console from 192.0.2.1|unblock|192.0.2.7|"
                                     "cidr 192.0.2.7/32 allow|ticket 12");
    assert_string_equal(all.text[1], "100 ann|console from 192.0.2.1|list add|192.0.2.7|"
                                     "cidr 192.0.2.7/32 allow|ticket 12");
    memset(&all, 0, sizeof all);
    assert_int_equal(
        store_change_each(f->s, "alice@example.ORG", 0, 0, 0, change_collect, &all, NULL),
        STORE_OK);
    assert_int_equal(all.n, 1);
    memset(&all, 0, sizeof all);
    assert_int_equal(store_change_each(f->s, NULL, 150, 400, 0, change_collect, &all, NULL),
                     STORE_OK);
    assert_int_equal(all.n, 2);
    assert_contains(all.text[0], "300 ");
    memset(&all, 0, sizeof all);
    assert_int_equal(store_change_each(f->s, NULL, 0, 0, 1, change_collect, &all, NULL), STORE_OK);
    assert_int_equal(all.n, 1);
    assert_contains(all.text[0], "400 ");
    assert_int_equal(store_change_each(f->s, "Q9", 0, 0, 0, change_collect, &all, NULL),
                     STORE_NOTFOUND);

    assert_int_equal(store_change_expire(f->s, 250, 10, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 2);
    memset(&all, 0, sizeof all);
    assert_int_equal(store_change_each(f->s, NULL, 0, 0, 0, change_collect, &all, NULL), STORE_OK);
    assert_int_equal(all.n, 2);

    struct store_change bad = change(1, "list add", "");
    assert_int_equal(store_change_add(f->s, &bad, &err), STORE_ERROR);
    assert_contains(err.text, "a change needs");
}

/* ------------------------------------------------------------------------------------------ */
/* Several hosts on one database: a second store opened on the same database is another host   */
/* ------------------------------------------------------------------------------------------ */

static struct store *open_wrapped(struct fixture *f);

/* The held row says which host holds it; a row without a host reads back without one. */
static void test_held_row_keeps_the_host_that_holds_it(void **state)
{
    struct fixture *f = *state;
    struct store_held h = held("QHOST1", "alice", 100), old = held("QHOST2", "bob", 200);
    struct helds all = {0};
    struct store *other;

    f->s = open_ok(f->database);
    other = open_ok(f->database);
    h.host = "mx1.example.test";
    assert_int_equal(store_held_add(f->s, &h, NULL), STORE_OK);
    assert_int_equal(store_held_add(f->s, &old, NULL), STORE_OK);
    assert_int_equal(store_held_each(other, NULL, NULL, "held", held_collect, &all, NULL),
                     STORE_OK);
    assert_int_equal(all.n, 2);
    assert_string_equal(all.hosts[0], "mx1.example.test");
    assert_string_equal(all.hosts[1], "");

    /* Two hosts' MTAs gave one queue id to two messages: a decision on one host's is its own. */
    struct store_held twin = held("QHOST1", "carol", 300);
    twin.host = "mx2.example.test";
    assert_int_equal(store_held_add(other, &twin, NULL), STORE_OK);
    assert_int_equal(
        store_held_decide(other, "QHOST1", "mx2.example.test", "released", "pm", "", 400, NULL),
        STORE_OK);
    assert_int_equal(
        store_held_decide(other, "QHOST1", "mx2.example.test", "released", "pm", "", 401, NULL),
        STORE_NOTFOUND);
    memset(&all, 0, sizeof all);
    assert_int_equal(store_held_each(f->s, "QHOST1", NULL, "held", held_collect, &all, NULL),
                     STORE_OK);
    assert_int_equal(all.n, 1);
    assert_string_equal(all.hosts[0], "mx1.example.test");
    store_close(other);
}

struct claimer {
    struct store *s;
    const char *by;
    pthread_barrier_t *start;
    enum store_status status;
};

static void *claim(void *arg)
{
    struct claimer *c = arg;

    pthread_barrier_wait(c->start);
    c->status = store_held_decide(c->s, "QTWICE", NULL, "released", c->by, "", 1000, NULL);
    return NULL;
}

/*
 * Two hosts release one held message at the same moment: the decision is one conditional UPDATE,
 * so exactly one of them gets it (and runs the MTA's command), the other is told it is no longer
 * held.  A decision taken back (the command failed) makes it held again, and only that decision:
 * one recorded since is not undone.
 */
static void test_a_held_message_is_claimed_once_by_two_hosts_at_once(void **state)
{
    struct fixture *f = *state;
    struct store_held h = held("QTWICE", "alice", 100);
    pthread_barrier_t start;
    struct claimer c[2];
    pthread_t thread[2];
    struct helds all = {0};

    f->s = open_ok(f->database);
    struct store *other = open_ok(f->database);
    assert_int_equal(store_held_add(f->s, &h, NULL), STORE_OK);
    for (int round = 0; round < 5; round++) {
        pthread_barrier_init(&start, NULL, 2);
        c[0] = (struct claimer){.s = f->s, .by = "mx1", .start = &start};
        c[1] = (struct claimer){.s = other, .by = "mx2", .start = &start};
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&thread[i], NULL, claim, &c[i]), 0);
        for (int i = 0; i < 2; i++)
            pthread_join(thread[i], NULL);
        pthread_barrier_destroy(&start);
        assert_int_equal((c[0].status == STORE_OK) + (c[1].status == STORE_OK), 1);
        assert_int_equal((c[0].status == STORE_NOTFOUND) + (c[1].status == STORE_NOTFOUND), 1);
        const char *winner = c[0].status == STORE_OK ? "mx1" : "mx2";
        /* The loser cannot take back the winner's decision. */
        assert_int_equal(store_held_undo(f->s, "QTWICE", NULL, "released",
                                         strcmp(winner, "mx1") == 0 ? "mx2" : "mx1", 1000, NULL),
                         STORE_NOTFOUND);
        assert_int_equal(store_held_undo(other, "QTWICE", NULL, "released", winner, 1000, NULL),
                         STORE_OK);
    }
    assert_int_equal(store_held_each(f->s, "QTWICE", NULL, NULL, held_collect, &all, NULL),
                     STORE_OK);
    assert_string_equal(all.text[0], "QTWICE alice held 2 rate  0");
    store_close(other);
}

/* The fleet's throttle: two hosts, each with its throttle, on one database. */
struct two_hosts {
    struct config *cfg;
    struct store *s[2];
    struct throttle *t[2];
};

#define FLEET_T0 INT64_C(1700002800) /* an hour boundary */

static void two_hosts_open(struct fixture *f, struct two_hosts *h, const char *messages_a_minute)
{
    char err[256];
    static const char *const off[] = {
        "throttle_recipients_per_minute", "throttle_messages_per_hour",
        "throttle_recipients_per_hour",   "throttle_messages_per_day",
        "throttle_recipients_per_day",
    };

    h->cfg = config_new_defaults();
    if (!config_set(h->cfg, "throttle_factor", "0", err, sizeof err) ||
        !config_set(h->cfg, "throttle_floor_messages_per_minute", "1", err, sizeof err) ||
        !config_set(h->cfg, "throttle_messages_per_minute", messages_a_minute, err, sizeof err))
        fail_msg("%s", err);
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++)
        if (!config_set(h->cfg, off[i], "0", err, sizeof err))
            fail_msg("%s", err);
    f->s = h->s[0] = open_ok(f->database);
    h->s[1] = open_ok(f->database);
    h->t[0] = throttle_new();
    h->t[1] = throttle_new();
}

static void two_hosts_close(struct two_hosts *h)
{
    throttle_free(h->t[0]);
    throttle_free(h->t[1]);
    store_close(h->s[1]); /* s[0] is the fixture's */
    config_free(h->cfg);
}

/* One message on host i as the policy does it: checked, counted when not abnormal.  Returns
 * whether it passed; *count gets the minute window's messages the check counted with it. */
static bool fleet_send(struct two_hosts *h, int i, int64_t now, int64_t *count)
{
    struct throttle_decision d;

    assert_int_equal(throttle_check(h->t[i], h->cfg, h->s[i], "flood", 1, (time_t)now, &d),
                     STORE_OK);
    if (count != NULL)
        *count = d.msgs[THROTTLE_MINUTE];
    if (!d.abnormal)
        throttle_add(h->t[i], "flood", 1, (time_t)now);
    return !d.abnormal;
}

static void fleet_flush(struct two_hosts *h, int i, int64_t now)
{
    assert_int_equal(throttle_flush(h->t[i], h->s[i], (time_t)now, NULL), STORE_OK);
}

/*
 * A host's check counts the account's messages on every host: what the store held at its last
 * read plus its own not yet flushed, read again once THROTTLE_REFRESH_SECONDS old.  Host 1 sees
 * host 0's messages once host 0 flushed and its own counts are that old: the limit of 5 a minute
 * then holds for the two together.
 */
static void test_two_hosts_count_one_account_together_after_a_flush(void **state)
{
    struct fixture *f = *state;
    struct two_hosts h;
    int64_t count = 0, t = FLEET_T0 + 10;

    two_hosts_open(f, &h, "5");
    assert_true(fleet_send(&h, 1, t, &count)); /* host 1 knows the account: 1 */
    assert_int_equal(count, 1);
    fleet_flush(&h, 1, t);
    for (int i = 0; i < 4; i++)
        assert_true(fleet_send(&h, 0, t, &count)); /* host 0 read host 1's one */
    assert_int_equal(count, 5);
    assert_false(fleet_send(&h, 0, t, &count));
    fleet_flush(&h, 0, t);

    /* Host 1 within the interval still counts what it read: 1 and this one. */
    assert_true(fleet_send(&h, 1, t + THROTTLE_REFRESH_SECONDS - 1, &count));
    assert_int_equal(count, 2);
    /* Then the fleet's sum: 5 stored, its own 1 not flushed yet, and this one. */
    assert_false(fleet_send(&h, 1, t + THROTTLE_REFRESH_SECONDS, &count));
    assert_int_equal(count, 7);
    /* After its flush the stored 6 are all: its own are not counted twice. */
    fleet_flush(&h, 1, t + THROTTLE_REFRESH_SECONDS);
    assert_false(fleet_send(&h, 1, t + 2 * THROTTLE_REFRESH_SECONDS, &count));
    assert_int_equal(count, 7);
    /* And host 0 sees host 1's late one too. */
    assert_false(fleet_send(&h, 0, t + THROTTLE_REFRESH_SECONDS, &count));
    assert_int_equal(count, 7);
    two_hosts_close(&h);
}

/*
 * The bound the README states: spread over N hosts, an account gets through at most its limit
 * plus what the other hosts let through before they see each other's counts (a flush and a
 * refresh, 2 x THROTTLE_REFRESH_SECONDS), and never more than N x the limit.  Two hosts, a limit
 * of 10 a minute, the flood alternating between them, each flushing every interval: counted over
 * the minute, what passed never exceeds 10 + what one host passed in 2 intervals, nor 2 x 10; a
 * burst on both within one interval gets exactly 2 x 10.
 */
static void test_two_hosts_let_through_at_most_the_stated_bound(void **state)
{
    struct fixture *f = *state;
    struct two_hosts h;
    const int limit = 10;
    int passed = 0, per_tick[2][60] = {{0}};

    two_hosts_open(f, &h, "10");
    /* A steady flood: every second a message on each host, flushes every interval. */
    for (int s = 0; s < 50; s++) {
        int64_t now = FLEET_T0 + s;
        for (int i = 0; i < 2; i++) {
            if (fleet_send(&h, i, now, NULL)) {
                passed++;
                per_tick[i][s]++;
            }
            if (s % THROTTLE_REFRESH_SECONDS == 0)
                fleet_flush(&h, i, now);
        }
    }
    /* The most one host passed in any 2 intervals. */
    int lag_max = 0;
    for (int i = 0; i < 2; i++)
        for (int s = 0; s < 50; s++) {
            int sum = 0;
            for (int k = s; k < s + 2 * THROTTLE_REFRESH_SECONDS && k < 50; k++)
                sum += per_tick[i][k];
            lag_max = sum > lag_max ? sum : lag_max;
        }
    fprintf(stderr,
            "# figure: two hosts, a limit of %d a minute, one message a second on each, a flush "
            "every %d s: %d passed (bound %d + %d, never above %d)\n",
            limit, THROTTLE_REFRESH_SECONDS, passed, limit, lag_max, 2 * limit);
    assert_true(passed > limit);            /* the hosts do lag each other... */
    assert_true(passed <= limit + lag_max); /* ...by no more than the bound */
    assert_true(passed <= 2 * limit);
    two_hosts_close(&h);

    /* A burst on both hosts within one interval: each sees only itself, N x the limit. */
    struct two_hosts b;
    f->s = NULL;
    store_close(h.s[0]);
    two_hosts_open(f, &b, "10");
    passed = 0;
    for (int n = 0; n < 30; n++)
        for (int i = 0; i < 2; i++)
            passed += fleet_send(&b, i, FLEET_T0 + 100, NULL);
    assert_int_equal(passed, 2 * limit);
    two_hosts_close(&b);
}

/*
 * Expiry is a round of lib/maintenance.c that runs only on the store that holds the maintenance
 * turn: a store that could not get it (here: the lock refused by a fault) deletes nothing, and
 * one that holds it expires every table.
 */
static void test_maintenance_round_runs_only_with_the_turn(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_wrapped(f);
    struct config *cfg = config_new_defaults();
    struct maintenance turn = {0};
    struct maintenance_counts counts;
    int64_t now = 100 * 86400;

    struct store_review old = review("OLDOLDOLDOLDOLDO", 1000, "old"),
                        recent = review("NEWNEWNEWNEWNEWN", now - 10, "recent");
    add_series(s, 3, 1000, "EXPIREME");
    assert_int_equal(store_review_add(s, &old, 3, NULL), STORE_OK);
    assert_int_equal(store_review_add(s, &recent, 3, NULL), STORE_OK);
    store_fault_set(s, STORE_FAULT_MAINTENANCE_LOCK, STORE_BUSY, 0, 1);
    assert_false(maintenance_round(&turn, s, cfg, now, NULL, &counts));
    assert_int_equal(counts.decisions, 0);
    assert_int_equal(find_count(s, "EXPIREME", 10, NULL), 3);
    assert_true(maintenance_round(&turn, s, cfg, now, NULL, &counts));
    assert_int_equal(counts.decisions, 3);
    assert_int_equal(find_count(s, "EXPIREME", 10, NULL), 0);
    /* Review requests go with the decisions they are about (decision_retention). */
    assert_int_equal(counts.reviews, 1);
    config_free(cfg);
}

/* The record of changes is kept changes_retention (400 days by default), far longer than the
 * decisions: a round takes the rows older than that, not the younger ones. */
static void test_maintenance_keeps_changes_for_changes_retention(void **state)
{
    struct fixture *f = *state;
    struct config *cfg = config_new_defaults();
    struct maintenance turn = {0};
    struct maintenance_counts counts;
    struct changes_seen all = {0};
    int64_t now = 1000 * 86400;
    struct store_change old = change(now - 401 * 86400, "list add", "192.0.2.7"),
                        young = change(now - 399 * 86400, "list del", "192.0.2.7");

    f->s = open_ok(f->database);
    assert_int_equal(cfg->changes_retention, 400LL * 86400 * 1000);
    assert_int_equal(store_change_add(f->s, &old, NULL), STORE_OK);
    assert_int_equal(store_change_add(f->s, &young, NULL), STORE_OK);
    assert_true(maintenance_round(&turn, f->s, cfg, now, NULL, &counts));
    assert_int_equal(counts.changes, 1);
    assert_int_equal(store_change_each(f->s, NULL, 0, 0, 0, change_collect, &all, NULL), STORE_OK);
    assert_int_equal(all.n, 1);
    assert_contains(all.text[0], "list del");
    config_free(cfg);
}

/* ------------------------------------------------------------------------------------------ */
/* Throttle                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static void test_throttle_state_mark_clear_and_limits(void **state)
{
    struct fixture *f = *state;
    struct store_throttle_state st;
    bool marked = false;
    int64_t limits[STORE_THROTTLE_LIMITS];

    f->s = open_ok(f->database);
    assert_int_equal(store_throttle_get(f->s, "dave", &st, NULL), STORE_NOTFOUND);
    assert_int_equal(st.throttled, 0);
    assert_string_equal(st.reason, "");
    for (int i = 0; i < STORE_THROTTLE_LIMITS; i++)
        assert_int_equal(st.limits[i], STORE_THROTTLE_DEFAULT);

    assert_int_equal(store_throttle_mark(f->s, "dave", 500, "burst", &marked, NULL), STORE_OK);
    assert_true(marked);
    assert_int_equal(store_throttle_mark(f->s, "dave", 600, "later", &marked, NULL), STORE_OK);
    assert_false(marked);
    assert_int_equal(store_throttle_get(f->s, "dave", &st, NULL), STORE_OK);
    assert_int_equal(st.throttled, 500);
    assert_string_equal(st.reason, "burst");

    for (int i = 0; i < STORE_THROTTLE_LIMITS; i++)
        limits[i] = i * 10;
    assert_int_equal(store_throttle_set_limits(f->s, "dave", limits, NULL), STORE_OK);
    limits[0] = STORE_THROTTLE_KEEP;
    limits[1] = STORE_THROTTLE_DEFAULT;
    assert_int_equal(store_throttle_set_limits(f->s, "dave", limits, NULL), STORE_OK);
    assert_int_equal(store_throttle_get(f->s, "dave", &st, NULL), STORE_OK);
    assert_int_equal(st.limits[0], 0); /* kept */
    assert_int_equal(st.limits[1], STORE_THROTTLE_DEFAULT);
    assert_int_equal(st.limits[5], 50);
    assert_int_equal(st.throttled, 500); /* the limits leave the state alone */

    assert_int_equal(store_throttle_clear(f->s, "dave", 700, NULL), STORE_OK);
    assert_int_equal(store_throttle_clear(f->s, "dave", 800, NULL), STORE_NOTFOUND);
    assert_int_equal(store_throttle_get(f->s, "dave", &st, NULL), STORE_OK);
    assert_int_equal(st.throttled, 0);
    assert_int_equal(st.reset_at, 700);
}

static void throttled_collect(const struct store_throttle_state *st, void *arg)
{
    struct accounts *all = arg;

    if (all->n < 8)
        snprintf(all->text[all->n], sizeof all->text[0], "%s %lld %.64s", st->account,
                 (long long)st->throttled, st->reason);
    all->n++;
}

static void test_throttle_each_lists_the_throttled_oldest_first(void **state)
{
    struct fixture *f = *state;
    struct accounts all = {0};

    f->s = open_ok(f->database);
    assert_int_equal(store_throttle_each(f->s, throttled_collect, &all, NULL), STORE_NOTFOUND);
    assert_int_equal(store_throttle_mark(f->s, "late", 900, "b", NULL, NULL), STORE_OK);
    assert_int_equal(store_throttle_mark(f->s, "early", 100, "a", NULL, NULL), STORE_OK);
    assert_int_equal(store_throttle_mark(f->s, "gone", 50, "c", NULL, NULL), STORE_OK);
    assert_int_equal(store_throttle_clear(f->s, "gone", 60, NULL), STORE_OK);
    assert_int_equal(store_throttle_each(f->s, throttled_collect, &all, NULL), STORE_OK);
    assert_int_equal(all.n, 2);
    assert_string_equal(all.text[0], "early 100 a");
    assert_string_equal(all.text[1], "late 900 b");
}

struct buckets {
    size_t n;
    char text[16][120];
};

static void bucket_collect(const struct store_throttle_bucket *b, void *arg)
{
    struct buckets *all = arg;

    if (all->n < 16)
        snprintf(all->text[all->n], sizeof all->text[0], "%s %lld %lld %lld %lld %lld", b->account,
                 (long long)b->width, (long long)b->start, (long long)b->msgs, (long long)b->rcpts,
                 (long long)b->minutes);
    all->n++;
}

static void test_throttle_buckets_add_deltas_and_are_read_by_width_and_range(void **state)
{
    struct fixture *f = *state;
    struct store_throttle_bucket b[] = {
        {"erin", 3600, 7200, 2, 5, 50}, {"erin", 60, 7260, 1, 3, 0}, {"erin", 5, 7265, 1, 3, 0}};
    struct buckets all = {0};
    struct store_error err;

    f->s = open_ok(f->database);
    assert_int_equal(store_throttle_bucket_add(f->s, b, 3, NULL), STORE_OK);
    b[0].minutes = 20;
    assert_int_equal(store_throttle_bucket_add(f->s, b, 1, NULL), STORE_OK);
    assert_int_equal(
        store_throttle_bucket_each(f->s, "erin", 0, 0, INT64_MAX, bucket_collect, &all, NULL),
        STORE_OK);
    assert_int_equal(all.n, 3); /* ordered by width, then start */
    assert_string_equal(all.text[0], "erin 5 7265 1 3 0");
    assert_string_equal(all.text[1], "erin 60 7260 1 3 0");
    assert_string_equal(all.text[2], "erin 3600 7200 4 10 60"); /* minutes capped at 60 */
    memset(&all, 0, sizeof all);
    assert_int_equal(
        store_throttle_bucket_each(f->s, "erin", 60, 7260, 7261, bucket_collect, &all, NULL),
        STORE_OK);
    assert_int_equal(all.n, 1);
    assert_int_equal(
        store_throttle_bucket_each(f->s, "erin", 60, 7261, 9999, bucket_collect, &all, NULL),
        STORE_NOTFOUND);

    b[1].account = NULL;
    assert_int_equal(store_throttle_bucket_add(f->s, b, 3, &err), STORE_ERROR);
    assert_contains(err.text, "a throttle bucket needs an account");
    assert_int_equal(store_throttle_bucket_add(f->s, b, 0, NULL), STORE_OK);
}

static void test_throttle_expiry_takes_the_fine_windows_first_within_the_batch(void **state)
{
    struct fixture *f = *state;
    struct store_throttle_bucket b[] = {{"fay", 5, 100, 1, 1, 0},
                                        {"fay", 60, 120, 1, 1, 0},
                                        {"fay", 3600, 0, 1, 1, 1},
                                        {"fay", 3600, 3600, 1, 1, 1}};
    struct buckets all = {0};
    size_t deleted = 99;

    f->s = open_ok(f->database);
    assert_int_equal(store_throttle_bucket_add(f->s, b, 4, NULL), STORE_OK);
    assert_int_equal(store_throttle_expire(f->s, 1000, 1000, 2, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 2);
    assert_int_equal(
        store_throttle_bucket_each(f->s, "fay", 0, 0, INT64_MAX, bucket_collect, &all, NULL),
        STORE_OK);
    assert_int_equal(all.n, 2); /* the minute-window rows went first */
    assert_string_equal(all.text[0], "fay 3600 0 1 1 1");
    assert_int_equal(store_throttle_expire(f->s, 1000, 1000, 10, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 1); /* the hourly row started before 1000 */
    assert_int_equal(store_throttle_expire(f->s, 1000, 1000, 10, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Faults, through the fault wrapper                                                          */
/* ------------------------------------------------------------------------------------------ */

static struct store *open_wrapped(struct fixture *f)
{
    f->s = open_ok(f->database);
    store_fault_wrap(f->s);
    return f->s;
}

/* The status and the message of a failed operation reach the caller, and the next call, without
 * the fault, works. */
static void test_fault_status_and_message_reach_the_caller(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_wrapped(f);
    struct store_error err;
    struct entries all = {0};

    store_fault_set(s, STORE_FAULT_LIST_EACH, STORE_BUSY, 0, 1);
    assert_int_equal(store_list_each(s, NULL, 0, entry_collect, &all, &err), STORE_BUSY);
    assert_string_equal(err.text, "injected fault: list_each");
    assert_int_equal(store_list_each(s, NULL, 0, entry_collect, &all, &err), STORE_NOTFOUND);
    store_fault_set(s, STORE_FAULT_ACCOUNT_SUSPENDED, STORE_ERROR, 0, -1);
    int64_t since;
    char reason[8];
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_account_suspended(s, "x", &since, reason, sizeof reason, &err),
                         STORE_ERROR);
    store_fault_clear(s);
    assert_int_equal(store_account_suspended(s, "x", &since, reason, sizeof reason, &err),
                     STORE_NOTFOUND);
    assert_int_equal(store_fault_calls(s, STORE_FAULT_ACCOUNT_SUSPENDED), 4);
}

/*
 * The decision writer's batches fail: their rows stay queued, and once the queue is full a
 * decision is refused with STORE_BUSY and a message saying why; when the database works again, a
 * flush writes every kept row.
 */
static void test_writer_keeps_failed_batches_and_refuses_when_full(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_wrapped(f);
    struct decision d = sample(1, "4Y2x9", "FULLQ001", "192.0.2.9", "a@example.org", "b@x");
    struct store_decision_counts n;
    struct store_error err;

    store_fault_set(s, STORE_FAULT_DECISION_INSERT, STORE_BUSY, 0, -1);
    assert_int_equal(store_decision_writer_start(s, 10, 2, 4, NULL), STORE_OK);
    fill_until_full(s, &d, 4);
    assert_int_equal(store_decision_flush(s, &err), STORE_BUSY);
    assert_string_equal(err.text, "injected fault: decision_insert");
    assert_kept_unwritten(s, 4);

    store_fault_clear(s);
    assert_int_equal(store_decision_flush(s, NULL), STORE_OK);
    store_decision_counts(s, &n);
    assert_int_equal(n.written, 4);
    assert_int_equal(n.waiting, 0);
    assert_int_equal(find_count(s, "FULLQ001", 100, NULL), 4);
}

/* A batch is one transaction: a row that fails takes the rows before it back with it. */
static void test_writer_batch_is_all_or_none(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_wrapped(f);

    assert_int_equal(store_decision_writer_start(s, 60000, 10, 100, NULL), STORE_OK);
    add_series(s, 5, 100, "BATCH001");
    store_fault_set(s, STORE_FAULT_COMMIT, STORE_ERROR, 0, 1);
    assert_int_equal(store_decision_flush(s, NULL), STORE_ERROR);
    struct store *other = open_ok(f->database);
    assert_int_equal(find_count(other, "BATCH001", 100, NULL), 0);
    assert_int_equal(store_decision_flush(s, NULL), STORE_OK);
    assert_int_equal(find_count(other, "BATCH001", 100, NULL), 5);
    store_close(other);
}

/*
 * A row the database refuses for its content (SQLSTATE class 22 or 23) is found by halving the
 * batch: the rows before and after it are written, it alone is dropped and counted, the queue
 * empties, and the next decision is written.  A refusal of another class (a timeout, a lock) keeps
 * the whole batch queued, as before.
 */
static void test_writer_drops_only_the_row_the_database_refuses(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_wrapped(f);
    struct store_decision_counts n;
    struct store_error err;

    assert_int_equal(store_decision_writer_start(s, 60000, 10, 100, NULL), STORE_OK);
    add_series(s, 3, 100, "BEFORE01");
    add_ok(s, sample(150, "4Y2xP", "POISON01", "192.0.2.66", "p@example.org", "q@x"));
    add_series(s, 4, 200, "AFTER001");
    store_fault_refuse_row(s, "POISON01", "57014");
    assert_int_equal(store_decision_flush(s, &err), STORE_ERROR);
    store_decision_counts(s, &n);
    assert_int_equal(n.waiting, 8);
    assert_int_equal(n.dropped, 0);
    assert_int_equal(find_count(s, "BEFORE01", 100, NULL), 0);

    store_fault_refuse_row(s, "POISON01", "22021");
    assert_flushed(s, 7, 1);
    assert_int_equal(find_count(s, "BEFORE01", 100, NULL), 3);
    assert_int_equal(find_count(s, "AFTER001", 100, NULL), 4);
    assert_int_equal(find_count(s, "POISON01", 100, NULL), 0);

    store_fault_refuse_row(s, "POISON02", "23514");
    add_ok(s, sample(300, "4Y2xQ", "POISON02", "192.0.2.67", "p@example.org", "q@x"));
    add_series(s, 2, 310, "NEXT0001");
    assert_flushed(s, 9, 2);
    assert_int_equal(find_count(s, "NEXT0001", 100, NULL), 2);
}

/*
 * The greylist driver: a write that fails as busy in the first transaction (another writer got
 * there first) is done again in a transaction that takes the write lock first, decide running
 * again on rows read again; the rows are written once.
 */
static void test_greylist_busy_upgrade_is_done_again_holding_the_write_lock(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_wrapped(f);
    struct decider d = {0};
    struct store_greylist_txn t = triplet("192.0.2.0/24", NULL);

    d.write[0] = true;
    d.want[0] = (struct store_greylist_row){.first_seen = 100, .last_seen = 100};
    store_fault_set(s, STORE_FAULT_GREYLIST_WRITE, STORE_BUSY, 0, 1);
    assert_int_equal(store_greylist_update(s, &t, decide, &d, NULL), STORE_OK);
    assert_int_equal(d.calls, 2);
    assert_int_equal(store_fault_calls(s, STORE_FAULT_BEGIN), 2);
    assert_int_equal(store_fault_calls(s, STORE_FAULT_GREYLIST_WRITE), 2);
    assert_int_equal(peek(s, "192.0.2.0/24", NULL, &d), STORE_OK);
    assert_true(d.seen[0].found);
    assert_int_equal(d.seen[0].first_seen, 100);
}

/* Busy in the second try too: STORE_BUSY, and nothing written, not even the rows before. */
static void test_greylist_failure_writes_nothing(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_wrapped(f);
    struct decider d = {0};
    struct store_greylist_txn t = triplet("198.51.100.0/24", "spf:example.net");
    struct store_error err;

    d.write[0] = d.write[1] = d.write_autoallow = true;
    d.want[0] = d.want[1] = (struct store_greylist_row){.first_seen = 100, .last_seen = 100};
    d.want_autoallow = (struct store_autoallow_row){.count = 1, .first_seen = 1, .last_seen = 1};
    /* Both triplet rows are written, then the autoallow row fails, in both tries. */
    store_fault_set(s, STORE_FAULT_AUTOALLOW_WRITE, STORE_BUSY, 0, -1);
    assert_int_equal(store_greylist_update(s, &t, decide, &d, &err), STORE_BUSY);
    assert_string_equal(err.text, "injected fault: autoallow_write");
    assert_int_equal(d.calls, 2);
    assert_int_equal(store_fault_calls(s, STORE_FAULT_GREYLIST_WRITE), 4);
    store_fault_clear(s);
    assert_int_equal(peek(s, "198.51.100.0/24", "spf:example.net", &d), STORE_OK);
    assert_false(d.seen[0].found);
    assert_false(d.seen[1].found);
    assert_false(d.seen_autoallow.found);
}

/* A check whose decide writes nothing is a read: it passes while every write would fail. */
static void test_greylist_check_that_writes_nothing_takes_no_write(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_wrapped(f);
    struct decider d = {0};

    store_fault_set(s, STORE_FAULT_GREYLIST_WRITE, STORE_ERROR, 0, -1);
    store_fault_set(s, STORE_FAULT_AUTOALLOW_WRITE, STORE_ERROR, 0, -1);
    assert_int_equal(peek(s, "192.0.2.0/24", "spf:example.org", &d), STORE_OK);
    assert_int_equal(d.calls, 1);
    assert_int_equal(store_fault_calls(s, STORE_FAULT_GREYLIST_WRITE), 0);
}

/* The writes of several rows in one call are all made, or none. */
static void test_multi_row_writes_are_all_or_none(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_wrapped(f);
    struct list_entry e[] = {entry("cidr", "192.0.2.0/24", "block"),
                             entry("cidr", "198.51.100.0/24", "block"),
                             entry("cidr", "203.0.113.0/24", "block")};
    struct store_throttle_bucket b[] = {
        {"gus", 5, 100, 1, 1, 0}, {"gus", 60, 60, 1, 1, 0}, {"gus", 3600, 0, 1, 1, 1}};
    struct store_alias alias = {"hal", "hal@example.org", "root", 1};
    struct entries all = {0};
    struct buckets buckets = {0};
    struct accounts accounts = {0};
    size_t deleted = 99;

    store_fault_set(s, STORE_FAULT_LIST_PUT, STORE_ERROR, 2, 1);
    assert_int_equal(store_list_import(s, e, 3, NULL), STORE_ERROR);
    assert_int_equal(store_fault_calls(s, STORE_FAULT_LIST_PUT), 3); /* two were written */
    assert_int_equal(store_list_each(s, NULL, 0, entry_collect, &all, NULL), STORE_NOTFOUND);

    store_fault_set(s, STORE_FAULT_THROTTLE_BUCKET_ADD, STORE_BUSY, 2, 1);
    assert_int_equal(store_throttle_bucket_add(s, b, 3, NULL), STORE_BUSY);
    assert_int_equal(store_fault_calls(s, STORE_FAULT_THROTTLE_BUCKET_ADD), 3);
    assert_int_equal(
        store_throttle_bucket_each(s, "gus", 0, 0, INT64_MAX, bucket_collect, &buckets, NULL),
        STORE_NOTFOUND);

    /* The alias's account is added first, in the same transaction. */
    store_fault_set(s, STORE_FAULT_ALIAS_ADD, STORE_ERROR, 0, 1);
    assert_int_equal(store_alias_add(s, &alias, NULL, NULL), STORE_ERROR);
    assert_int_equal(store_account_each(s, "hal", account_collect, &accounts, NULL),
                     STORE_NOTFOUND);
    store_fault_set(s, STORE_FAULT_ACCOUNT_SUSPEND, STORE_ERROR, 0, 1);
    assert_int_equal(store_account_suspend(s, "hal", 1, "x", NULL, NULL), STORE_ERROR);
    assert_int_equal(store_account_each(s, "hal", account_collect, &accounts, NULL),
                     STORE_NOTFOUND);

    /* An expiry step that fails deleted nothing, and says so. */
    store_fault_set(s, STORE_FAULT_GREYLIST_EXPIRE, STORE_BUSY, 0, 1);
    assert_int_equal(store_greylist_expire(s, 1, 1, 1, 10, &deleted, NULL), STORE_BUSY);
    assert_int_equal(deleted, 0);
    deleted = 99;
    store_fault_set(s, STORE_FAULT_COMMIT, STORE_BUSY, 0, 1);
    assert_int_equal(store_throttle_expire(s, 1, 1, 10, &deleted, NULL), STORE_BUSY);
    assert_int_equal(deleted, 0);
}

/* ------------------------------------------------------------------------------------------ */
/* DMARC aggregate report data                                                                */
/* ------------------------------------------------------------------------------------------ */

#define DAY 86400

static struct store_dmarc_row dmarc_sample(int64_t day, const char *header_from, const char *ip)
{
    struct store_dmarc_row r = {
        .day = day,
        .policy_domain = "example.org",
        .header_from = header_from,
        .envelope_from = "bounce.example.org",
        .source_ip = ip,
        .p = "reject",
        .sp = "quarantine",
        .pct = 50,
        .adkim = "s",
        .aspf = "r",
        .disposition = "quarantine",
        .dkim_aligned = "fail",
        .spf_aligned = "pass",
        .override = "sampled_out",
        .dkim = "pass other.net sel1\nfail example.org s2",
        .spf_domain = "bounce.example.org",
        .spf_scope = "mfrom",
        .spf_result = "pass",
        .messages = 1,
    };
    return r;
}

struct dmarc_seen {
    int n;
    char text[8][1024];
    int64_t messages[8];
};

static void dmarc_collect(const struct store_dmarc_row *r, void *arg)
{
    struct dmarc_seen *seen = arg;
    if (seen->n >= 8)
        return;
    snprintf(seen->text[seen->n], sizeof seen->text[0],
             "%lld %s %s %s %s %s %s %lld %s %s %s %s %s %s [%s] %s %s %s", (long long)r->day,
             r->policy_domain, r->header_from, r->envelope_from, r->source_ip, r->p, r->sp,
             (long long)r->pct, r->adkim, r->aspf, r->disposition, r->dkim_aligned, r->spf_aligned,
             r->override, r->dkim, r->spf_domain, r->spf_scope, r->spf_result);
    seen->messages[seen->n++] = r->messages;
}

/* Each message adds to the row of its key and day; a value that differs makes another row. */
static void test_dmarc_rows_count_messages_per_key_and_day(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f->database);
    struct dmarc_seen seen = {0};
    struct store_dmarc_row r = dmarc_sample(10 * DAY, "example.org", "192.0.2.1");

    for (int i = 0; i < 3; i++)
        assert_int_equal(store_dmarc_add(s, &r, NULL), STORE_OK);
    r.messages = 4;
    assert_int_equal(store_dmarc_add(s, &r, NULL), STORE_OK);
    struct store_dmarc_row other_day = dmarc_sample(11 * DAY, "example.org", "192.0.2.1");
    assert_int_equal(store_dmarc_add(s, &other_day, NULL), STORE_OK);
    struct store_dmarc_row other_dkim = dmarc_sample(10 * DAY, "example.org", "192.0.2.1");
    other_dkim.dkim = "pass other.net sel1";
    assert_int_equal(store_dmarc_add(s, &other_dkim, NULL), STORE_OK);
    struct store_dmarc_row other_domain = dmarc_sample(10 * DAY, "example.org", "192.0.2.1");
    other_domain.policy_domain = "example.net";
    assert_int_equal(store_dmarc_add(s, &other_domain, NULL), STORE_OK);

    assert_int_equal(
        store_dmarc_each(s, "example.org", 10 * DAY, 11 * DAY, dmarc_collect, &seen, NULL),
        STORE_OK);
    assert_int_equal(seen.n, 2);
    int full = strstr(seen.text[0], "\nfail") != NULL ? 0 : 1;
    assert_string_equal(seen.text[full],
                        "864000 example.org example.org bounce.example.org 192.0.2.1 reject "
                        "quarantine 50 s r quarantine fail pass sampled_out [pass other.net "
                        "sel1\nfail example.org s2] bounce.example.org mfrom pass");
    assert_int_equal(seen.messages[full], 7);
    assert_int_equal(seen.messages[1 - full], 1);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(
        store_dmarc_each(s, "example.org", 10 * DAY, 12 * DAY, dmarc_collect, &seen, NULL),
        STORE_OK);
    assert_int_equal(seen.n, 3);
    assert_int_equal(strncmp(seen.text[2], "950400 ", 7), 0); /* by day */
    memset(&seen, 0, sizeof seen);
    assert_int_equal(
        store_dmarc_each(s, "example.org", 12 * DAY, 13 * DAY, dmarc_collect, &seen, NULL),
        STORE_NOTFOUND);
    store_close(s);
}

/* Domains and selectors are data: quotes, semicolons and SQL in them are stored as they are. */
static void test_dmarc_values_are_data(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f->database);
    struct dmarc_seen seen = {0};
    struct store_dmarc_row r = dmarc_sample(DAY, "x'); DROP TABLE dmarc_rows; --", "192.0.2.7");

    r.dkim = "pass <a&b>\"' sel";
    assert_int_equal(store_dmarc_add(s, &r, NULL), STORE_OK);
    assert_int_equal(store_dmarc_each(s, "example.org", 0, 2 * DAY, dmarc_collect, &seen, NULL),
                     STORE_OK);
    assert_int_equal(seen.n, 1);
    assert_non_null(strstr(seen.text[0], " x'); DROP TABLE dmarc_rows; -- "));
    assert_non_null(strstr(seen.text[0], "[pass <a&b>\"' sel]"));
    store_close(s);
}

/* A stray byte in a domain or a DKIM result (a signature's d= as sent) is stored as '?', and the
 * same message counts in the same row again: a PostgreSQL database would refuse the counts. */
static void test_dmarc_texts_are_made_valid_utf8(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f->database);
    struct dmarc_seen seen = {0};
    struct store_dmarc_row r = dmarc_sample(DAY, "example.org", "192.0.2.8");

    r.dkim = "fail ex\xff"
             "ample.net s\xc0\xaf"
             "1";
    r.envelope_from = "b\x80.example.org";
    for (int i = 0; i < 2; i++)
        assert_int_equal(store_dmarc_add(s, &r, NULL), STORE_OK);
    assert_int_equal(store_dmarc_each(s, "example.org", 0, 2 * DAY, dmarc_collect, &seen, NULL),
                     STORE_OK);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.messages[0], 2);
    assert_non_null(strstr(seen.text[0], " b?.example.org "));
    assert_non_null(strstr(seen.text[0], "[fail ex?ample.net s??1]"));
    store_close(s);
}

static void test_dmarc_row_without_a_value_or_count_is_an_error(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f->database);
    struct store_dmarc_row r = dmarc_sample(DAY, "example.org", "192.0.2.1");
    struct store_error err;

    r.dkim = NULL;
    assert_int_equal(store_dmarc_add(s, &r, &err), STORE_ERROR);
    assert_contains(err.text, "lacks a value");
    r = dmarc_sample(DAY, "example.org", "192.0.2.1");
    r.messages = 0;
    assert_int_equal(store_dmarc_add(s, &r, &err), STORE_ERROR);
    r = dmarc_sample(DAY + 5, "example.org", "192.0.2.1");
    assert_int_equal(store_dmarc_add(s, &r, &err), STORE_ERROR);
    store_close(s);
}

/*
 * With the decision writer running, a message only adds to a count in memory: no write until the
 * counts are flushed, then one upsert per distinct row, however many messages.
 */
static void test_dmarc_counts_wait_in_memory_and_are_written_once_per_row(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_wrapped(f);
    struct dmarc_seen seen = {0};
    struct store_dmarc_row a = dmarc_sample(DAY, "example.org", "192.0.2.1");
    struct store_dmarc_row b = dmarc_sample(DAY, "example.org", "192.0.2.2");

    assert_int_equal(store_decision_writer_start(s, 60000, 10, 100, NULL), STORE_OK);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(store_dmarc_add(s, &a, NULL), STORE_OK);
        assert_int_equal(store_dmarc_add(s, &b, NULL), STORE_OK);
    }
    assert_int_equal(store_fault_calls(s, STORE_FAULT_DMARC_UPSERT), 0);
    assert_int_equal(store_dmarc_each(s, "example.org", 0, 2 * DAY, dmarc_collect, &seen, NULL),
                     STORE_OK);
    assert_int_equal(store_fault_calls(s, STORE_FAULT_DMARC_UPSERT), 1); /* one transaction */
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.messages[0], 50);
    assert_int_equal(seen.messages[1], 50);
}

/* A flush that fails keeps the counts for the next one; close writes what is left. */
static void test_dmarc_failed_flush_keeps_the_counts_and_close_writes_them(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_wrapped(f);
    struct dmarc_seen seen = {0};
    struct store_dmarc_row a = dmarc_sample(DAY, "example.org", "192.0.2.1");

    assert_int_equal(store_decision_writer_start(s, 60000, 10, 100, NULL), STORE_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_dmarc_add(s, &a, NULL), STORE_OK);
    store_fault_set(s, STORE_FAULT_DMARC_UPSERT, STORE_BUSY, 0, 1);
    assert_int_equal(store_dmarc_each(s, "example.org", 0, 2 * DAY, dmarc_collect, &seen, NULL),
                     STORE_NOTFOUND);
    assert_int_equal(store_dmarc_add(s, &a, NULL), STORE_OK);
    store_close(s);
    f->s = NULL;
    s = open_ok(f->database);
    assert_int_equal(store_dmarc_each(s, "example.org", 0, 2 * DAY, dmarc_collect, &seen, NULL),
                     STORE_OK);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.messages[0], 4);
    store_close(s);
}

/* Expiry takes the days that ended at or before the limit, at most batch rows a call. */
static void test_dmarc_expiry_deletes_the_days_that_ended_in_batches(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f->database);
    struct dmarc_seen seen = {0};
    size_t deleted = 0;

    for (int64_t day = 0; day < 3; day++) {
        struct store_dmarc_row r = dmarc_sample(day * DAY, "example.org", "192.0.2.1");
        assert_int_equal(store_dmarc_add(s, &r, NULL), STORE_OK);
    }
    assert_int_equal(store_dmarc_expire(s, 2 * DAY - 1, 10, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 1); /* day 1 ends at 2 * DAY: not yet */
    assert_int_equal(store_dmarc_expire(s, 3 * DAY - 1, 10, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 1);
    assert_int_equal(store_dmarc_each(s, "example.org", 0, 3 * DAY, dmarc_collect, &seen, NULL),
                     STORE_OK);
    assert_int_equal(seen.n, 1);
    assert_int_equal(strncmp(seen.text[0], "172800 ", 7), 0);
    for (int64_t day = 3; day < 6; day++) {
        struct store_dmarc_row r = dmarc_sample(day * DAY, "example.org", "192.0.2.1");
        assert_int_equal(store_dmarc_add(s, &r, NULL), STORE_OK);
    }
    assert_int_equal(store_dmarc_expire(s, 10 * DAY, 2, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 2);
    assert_int_equal(store_dmarc_expire(s, 10 * DAY, 2, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 2);
    assert_int_equal(store_dmarc_expire(s, 10 * DAY, 2, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 0);
    store_close(s);
}

/* ------------------------------------------------------------------------------------------ */
/* Copy                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/* A row in every table store_copy() moves. */
static void fill_every_table(struct store *s)
{
    struct list_entry e = entry("cidr", "192.0.2.0/24", "block");
    struct store_dmarc_row dm = dmarc_sample(20000 * 86400, "example.org", "192.0.2.9");
    struct rcpt_rule rule = {"postmaster@example.test", "@example.org", "accept", "admin", 50};
    struct store_alias alias = {"alice", "alice@example.test", "admin", 60};
    struct store_held h = held("QCOPY1", "alice", 70);
    struct store_throttle_bucket b = {"alice", 60, 120, 3, 9, 1};
    const int64_t limits[STORE_THROTTLE_LIMITS] = {5, -1, -1, -1, -1, 100};
    struct store_greylist_txn t = triplet("198.51.100.0/24", NULL);
    struct decider d = {.write = {true}, .write_autoallow = true};

    d.want[0] = (struct store_greylist_row){
        .first_seen = 10, .last_seen = 20, .count = 3, .confirmed_at = 15};
    d.want_autoallow = (struct store_autoallow_row){.count = 4, .first_seen = 11, .last_seen = 21};
    e.public_text = "see https://help.example/block";
    h.host = "mx2.example.test";
    assert_int_equal(store_list_add(s, &e, NULL, 0, NULL), STORE_OK);
    assert_int_equal(store_rule_add(s, &rule, NULL, 0, NULL), STORE_OK);
    assert_int_equal(store_alias_add(s, &alias, NULL, NULL), STORE_OK);
    assert_int_equal(store_account_suspend(s, "alice", 80, "flood", NULL, NULL), STORE_OK);
    assert_int_equal(store_held_add(s, &h, NULL), STORE_OK);
    struct store_change ch = change(90, "list add", "192.0.2.7");
    assert_int_equal(store_change_add(s, &ch, NULL), STORE_OK);
    assert_int_equal(store_throttle_bucket_add(s, &b, 1, NULL), STORE_OK);
    assert_int_equal(store_throttle_set_limits(s, "alice", limits, NULL), STORE_OK);
    assert_int_equal(store_greylist_update(s, &t, decide, &d, NULL), STORE_OK);
    add_ok(s, sample(86400 * 20000 + 5, "QCOPY1", "RCOPY1", "192.0.2.7", "a@example.org", "b@x"));
    add_ok(s, sample(86400 * 20001 + 5, "QCOPY2", "RCOPY2", "192.0.2.7", "a@example.org", "b@x"));
    struct store_review rv = review("RCOPY1RCOPY1RCOP", 95, "copied");
    assert_int_equal(store_review_add(s, &rv, 5, NULL), STORE_OK);
    assert_int_equal(store_explanation_set(s, "iprev", "Fix the PTR.", "root", 96, NULL), STORE_OK);
    assert_int_equal(store_dmarc_add(s, &dm, NULL), STORE_OK);
    assert_int_equal(store_decision_flush(s, NULL), STORE_OK); /* the DMARC rows with it */
}

/* The columns later migrations added, read back after a copy: arg is a char[64]. */
static void public_text_of(const struct list_entry *e, void *arg)
{
    str_copy(arg, 64, e->public_text != NULL ? e->public_text : "");
}

static void host_of(const struct store_held *h, void *arg)
{
    str_copy(arg, 64, h->host != NULL ? h->host : "");
}

static size_t list_count(struct store *s)
{
    int n = 0; /* count_entry's counter */

    (void)store_list_each(s, NULL, 0, count_entry, &n, NULL);
    return (size_t)n;
}

/*
 * Every table's rows reach the target, counted the same on both sides, with their ids and values
 * (read back through store.h); the target then takes new rows (its ids past the copied ones).  A
 * target with rows is refused and left as it was; with replace it gets the source's rows only.
 */
static void test_copy_moves_every_table_then_refuses_a_target_with_rows(void **state)
{
    struct fixture *f = *state;
    char second[1024], name[32];
    struct store_copy_report r;
    struct store_error err;
    struct helds all = {0};
    struct decider d;
    int64_t since = 0, version = 0;
    char reason[64];
    struct store_throttle_state st;

    f->s = open_ok(f->database);
    fill_every_table(f->s);
    snprintf(name, sizeof name, "t%u", ++test_number);
    if (database_template != NULL)
        replace_marker(second, sizeof second, database_template, name);
    else
        snprintf(second, sizeof second, "%s/%s.db", temp_dir, name);
    struct store *to = open_ok(second);

    assert_int_equal(store_copy(f->s, to, false, &r, &err), STORE_OK);
    assert_false(r.not_empty);
    assert_true(r.tables >= 11);
    for (size_t i = 0; i < r.tables; i++) {
        assert_int_equal(r.table[i].source, r.table[i].target);
        if (strcmp(r.table[i].name, "greylist_sweep") != 0 && r.table[i].source == 0)
            fail_msg("table %s: no row copied", r.table[i].name);
    }
    assert_int_equal(find_count(to, "QCOPY1", 10, NULL), 1);
    assert_int_equal(find_count(to, "192.0.2.7", 10, NULL), 2);
    assert_int_equal(list_count(to), 1);
    struct changes_seen changed = {0};
    assert_int_equal(store_change_each(to, "192.0.2.7", 0, 0, 0, change_collect, &changed, NULL),
                     STORE_OK);
    assert_string_equal(changed.text[0], "90 ann|console from 192.0.2.1|list add|192.0.2.7|"
                                         "cidr 192.0.2.7/32 allow|ticket 12");
    assert_int_equal(store_account_suspended(to, "ALICE", &since, reason, sizeof reason, NULL),
                     STORE_OK);
    assert_int_equal(since, 80);
    assert_string_equal(reason, "flood");
    assert_int_equal(store_held_each(to, "QCOPY1", NULL, NULL, held_collect, &all, NULL), STORE_OK);
    assert_string_equal(all.text[0], "QCOPY1 alice held 2 rate  0");
    char column[64] = "";
    assert_int_equal(store_held_each(to, "QCOPY1", NULL, NULL, host_of, column, NULL), STORE_OK);
    assert_string_equal(column, "mx2.example.test");
    assert_int_equal(store_list_each(to, NULL, 0, public_text_of, column, NULL), STORE_OK);
    assert_string_equal(column, "see https://help.example/block");
    assert_int_equal(store_throttle_get(to, "alice", &st, NULL), STORE_OK);
    assert_int_equal(st.limits[0], 5);
    assert_int_equal(st.limits[5], 100);
    assert_int_equal(st.limits[1], STORE_THROTTLE_DEFAULT);
    assert_int_equal(peek(to, "198.51.100.0/24", NULL, &d), STORE_OK);
    assert_true(d.seen[0].found);
    assert_int_equal(d.seen[0].count, 3);
    assert_int_equal(d.seen[0].confirmed_at, 15);
    assert_true(d.seen_autoallow.found);
    assert_int_equal(d.seen_autoallow.count, 4);
    memset(&all, 0, sizeof all);
    assert_int_equal(store_review_each(to, NULL, review_collect, &all, NULL), STORE_OK);
    assert_string_equal(all.text[0],
                        "RCOPY1RCOPY1RCOP 95 192.0.2.7 admin@example.org copied open  0 ");
    memset(&all, 0, sizeof all);
    assert_int_equal(store_explanation_each(to, explanation_collect, &all, NULL), STORE_OK);
    assert_string_equal(all.text[0], "iprev=Fix the PTR. by root at 96");
    assert_int_equal(store_lists_version(to, &version, NULL), STORE_OK);
    assert_true(version > 0); /* moved: the target's milters reload */

    /* New rows after the copied ones (their ids are the target's next). */
    struct list_entry more = entry("cidr", "203.0.113.0/24", "block");
    assert_int_equal(store_list_add(to, &more, NULL, 0, &err), STORE_OK);
    struct store_held h2 = held("QCOPY2", "bob", 90);
    assert_int_equal(store_held_add(to, &h2, &err), STORE_OK);
    add_ok(to, sample(86400 * 20001 + 9, "QCOPY3", "RCOPY3", "192.0.2.8", "a@example.org", "b@x"));

    assert_int_equal(store_copy(f->s, to, false, &r, &err), STORE_ERROR);
    assert_true(r.not_empty);
    assert_contains(err.text, "not empty");
    assert_int_equal(list_count(to), 2);
    assert_int_equal(find_count(to, "QCOPY3", 10, NULL), 1);

    assert_int_equal(store_copy(f->s, to, true, &r, &err), STORE_OK);
    assert_int_equal(list_count(to), 1);
    assert_int_equal(find_count(to, "QCOPY3", 10, NULL), 0);
    assert_int_equal(find_count(to, "QCOPY2", 10, NULL), 1);
    assert_int_equal(store_copy(f->s, f->s, true, &r, &err), STORE_ERROR);
    store_close(to);
}

int main(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "usage: test_store [DATABASE]\n");
        return 2;
    }
    database_template = argc == 2 ? argv[1] : getenv("INGRESS_TEST_DATABASE");
    if (database_template != NULL && *database_template == '\0')
        database_template = NULL;
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_reopening_keeps_the_rows_and_applies_no_migration_twice),
        T(test_postgresql_value_that_fails_never_shows_its_password),
        T(test_empty_database_value_is_refused),
        T(test_check_of_an_unchanged_database_reopens_nothing),
        T(test_decision_keeps_every_field_and_nulls),
        T(test_decision_texts_are_made_valid_utf8),
        T(test_find_by_queue_id_reference_and_client_ip),
        T(test_find_by_address_ignores_case_and_one_pair_of_brackets),
        T(test_find_nothing_gives_notfound_and_keys_are_data),
        T(test_find_respects_limit_oldest_first),
        T(test_search_newest_first_by_reference_domain_header_from_and_period),
        T(test_search_by_header_from_uses_its_column),
        T(test_search_by_address_finds_each_column_once_newest_first),
        T(test_decision_without_check_or_action_is_an_error),
        T(test_decision_expiry_deletes_only_older_rows_oldest_first_in_batches),
        T(test_concurrent_adds_from_four_threads_all_land),
        T(test_writer_queues_and_find_sees_what_is_queued),
        T(test_decision_tally_counts_by_check_and_action_since),
        T(test_writer_close_writes_what_is_queued),
        T(test_writer_starts_once_and_checks_its_limits),
        T(test_writer_concurrent_adds_all_land_once),
        T(test_greylist_rows_are_read_decided_and_the_marked_ones_written),
        T(test_dry_run_reads_and_writes_nothing),
        T(test_dry_run_engine_refuses_a_write_the_stubs_miss),
        T(test_greylist_expiry_deletes_due_rows_within_the_batch),
        T(test_list_add_replaces_and_says_what_it_replaced),
        T(test_list_each_by_kind_in_order_and_without_the_expired),
        T(test_list_entry_keeps_its_internal_reason_apart_from_its_public_text),
        T(test_list_version_moves_with_every_change),
        T(test_list_entry_without_kind_value_or_action_is_an_error),
        T(test_list_import_is_all_or_none),
        T(test_rules_add_replace_list_and_delete),
        T(test_accounts_and_aliases),
        T(test_suspension_keeps_the_first_and_is_lifted_once),
        T(test_held_rows_are_listed_decided_once_and_expired_when_decided),
        T(test_held_texts_are_made_valid_utf8),
        T(test_held_list_pages_filters_and_counts),
        T(test_changes_are_kept_found_by_key_newest_first_and_expired),
        T(test_held_row_keeps_the_host_that_holds_it),
        T(test_review_requests_are_capped_per_reference_closed_once_and_expired),
        T(test_explanations_are_set_replaced_listed_and_deleted),
        T(test_a_held_message_is_claimed_once_by_two_hosts_at_once),
        T(test_two_hosts_count_one_account_together_after_a_flush),
        T(test_two_hosts_let_through_at_most_the_stated_bound),
        T(test_maintenance_round_runs_only_with_the_turn),
        T(test_maintenance_keeps_changes_for_changes_retention),
        T(test_throttle_state_mark_clear_and_limits),
        T(test_throttle_each_lists_the_throttled_oldest_first),
        T(test_throttle_buckets_add_deltas_and_are_read_by_width_and_range),
        T(test_throttle_expiry_takes_the_fine_windows_first_within_the_batch),
        T(test_fault_status_and_message_reach_the_caller),
        T(test_writer_keeps_failed_batches_and_refuses_when_full),
        T(test_writer_batch_is_all_or_none),
        T(test_writer_drops_only_the_row_the_database_refuses),
        T(test_greylist_busy_upgrade_is_done_again_holding_the_write_lock),
        T(test_greylist_failure_writes_nothing),
        T(test_greylist_check_that_writes_nothing_takes_no_write),
        T(test_multi_row_writes_are_all_or_none),
        T(test_dmarc_rows_count_messages_per_key_and_day),
        T(test_dmarc_values_are_data),
        T(test_dmarc_texts_are_made_valid_utf8),
        T(test_dmarc_row_without_a_value_or_count_is_an_error),
        T(test_dmarc_counts_wait_in_memory_and_are_written_once_per_row),
        T(test_dmarc_failed_flush_keeps_the_counts_and_close_writes_them),
        T(test_dmarc_expiry_deletes_the_days_that_ended_in_batches),
        T(test_copy_moves_every_table_then_refuses_a_target_with_rows),
    };
#undef T
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
