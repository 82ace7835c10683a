/*
 * test_throttle: lib/throttle.c (per-account rates, baseline, limits) and the throttle section of
 * the store, on a real SQLite file in a fresh temporary directory, with an injected clock.  Each
 * rule is one test named after it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "store.h"
#include "tempdir.h"
#include "store/fault.h"
#include "throttle.h"
#include "util.h"

/* An hour boundary (1700002800 = 2023-11-14 23:00:00 UTC), so tests can place minutes and hours. */
#define T0 INT64_C(1700002800)
#define MIN 60
#define HR 3600

struct fixture {
    char dir[256];
    char db[300];
    struct store *s;
    struct config *cfg;
    struct throttle *t;
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof *f);

    if (tempdir_make(f->dir, sizeof f->dir, "test_throttle") != 0) {
        free(f);
        return -1;
    }
    snprintf(f->db, sizeof f->db, "%s/ingress.db", f->dir);
    /* No busy timeout: a lock held elsewhere gives STORE_BUSY at once, so no test waits. */
    struct store_error serr;
    f->s = store_open(f->db, 0, &serr);
    if (f->s == NULL) {
        fprintf(stderr, "store_open: %s\n", serr.text);
        return -1;
    }
    f->cfg = config_new_defaults();
    f->t = throttle_new();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    throttle_free(f->t);
    store_close(f->s);
    config_free(f->cfg);
    tempdir_remove(f->dir);
    free(f);
    return 0;
}

static void set(struct fixture *f, const char *key, const char *value)
{
    char err[256];
    if (!config_set(f->cfg, key, value, err, sizeof err))
        fail_msg("%s", err);
}

/* Static limits only, every one off: each test turns on the one it proves. */
static void static_only(struct fixture *f)
{
    static const char *const limits[] = {
        "throttle_messages_per_minute", "throttle_recipients_per_minute",
        "throttle_messages_per_hour",   "throttle_recipients_per_hour",
        "throttle_messages_per_day",    "throttle_recipients_per_day",
    };
    set(f, "throttle_factor", "0");
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++)
        set(f, limits[i], "0");
}

/* Static limits off, the adaptive rule on: floors of 1 unless the test raises them. */
static void adaptive_only(struct fixture *f)
{
    static const char *const floors[] = {
        "throttle_floor_messages_per_minute", "throttle_floor_recipients_per_minute",
        "throttle_floor_messages_per_hour",   "throttle_floor_recipients_per_hour",
        "throttle_floor_messages_per_day",    "throttle_floor_recipients_per_day",
    };
    static_only(f);
    set(f, "throttle_factor", "5");
    for (size_t i = 0; i < sizeof floors / sizeof floors[0]; i++)
        set(f, floors[i], "1");
}

/* One message as the policy does it: checked, then counted unless it was refused. */
static struct throttle_decision send_as(struct fixture *f, const char *account, unsigned nrcpt,
                                        int64_t now)
{
    struct throttle_decision d;
    assert_int_equal(throttle_check(f->t, f->cfg, f->s, account, nrcpt, (time_t)now, &d), STORE_OK);
    if (!d.abnormal)
        throttle_add(f->t, account, nrcpt, (time_t)now);
    return d;
}

static struct throttle_decision check(struct fixture *f, const char *account, unsigned nrcpt,
                                      int64_t now)
{
    struct throttle_decision d;
    assert_int_equal(throttle_check(f->t, f->cfg, f->s, account, nrcpt, (time_t)now, &d), STORE_OK);
    return d;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static long long raw_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *stmt;
    long long v = -1;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
}

/* The hourly history of account: hours before `before` back `hours` hours, each with the counts. */
static void history(struct fixture *f, const char *account, int64_t before, int hours, int64_t msgs,
                    int64_t rcpts, int64_t minutes)
{
    struct store_throttle_bucket *rows = xcalloc((size_t)hours, sizeof *rows);
    for (int i = 0; i < hours; i++)
        rows[i] = (struct store_throttle_bucket){.account = account,
                                                 .width = HR,
                                                 .start = before - (int64_t)(i + 1) * HR,
                                                 .msgs = msgs,
                                                 .rcpts = rcpts,
                                                 .minutes = minutes};
    assert_int_equal(store_throttle_bucket_add(f->s, rows, (size_t)hours, NULL), STORE_OK);
    free(rows);
}

/* ---- static limits ------------------------------------------------------------------------ */

static void test_static_messages_per_minute_limit_is_hit_by_the_message_past_it(void **state)
{
    struct fixture *f = *state;
    static_only(f);
    set(f, "throttle_messages_per_minute", "3");

    for (int i = 0; i < 3; i++)
        assert_false(send_as(f, "alice", 1, T0 + i).abnormal);
    struct throttle_decision d = send_as(f, "alice", 1, T0 + 3);
    assert_true(d.abnormal);
    assert_false(d.already_throttled);
    assert_string_equal(d.reason, "1m window: 4 messages > limit 3 (static)");
    assert_int_equal(d.msgs[THROTTLE_MINUTE], 4);
    assert_int_equal(d.msgs[THROTTLE_HOUR], 4);
    assert_int_equal(d.msgs[THROTTLE_DAY], 4);
}

static void test_static_recipients_per_minute_counts_recipients_not_messages(void **state)
{
    struct fixture *f = *state;
    static_only(f);
    set(f, "throttle_recipients_per_minute", "10");

    assert_false(send_as(f, "alice", 6, T0).abnormal);
    assert_false(send_as(f, "alice", 4, T0 + 1).abnormal);
    struct throttle_decision d = check(f, "alice", 1, T0 + 2);
    assert_true(d.abnormal);
    assert_string_equal(d.reason, "1m window: 11 recipients > limit 10 (static)");
    assert_int_equal(d.msgs[THROTTLE_MINUTE], 3);
    assert_int_equal(d.rcpts[THROTTLE_MINUTE], 11);
}

static void test_static_hour_limit_counts_across_minutes(void **state)
{
    struct fixture *f = *state;
    static_only(f);
    set(f, "throttle_messages_per_hour", "5");

    for (int i = 0; i < 5; i++)
        assert_false(send_as(f, "alice", 1, T0 + i * 7 * MIN).abnormal);
    struct throttle_decision d = check(f, "alice", 1, T0 + 40 * MIN);
    assert_true(d.abnormal);
    assert_string_equal(d.reason, "1h window: 6 messages > limit 5 (static)");
    assert_int_equal(d.msgs[THROTTLE_MINUTE], 1);
}

static void test_static_hour_recipients_limit(void **state)
{
    struct fixture *f = *state;
    static_only(f);
    set(f, "throttle_recipients_per_hour", "300");

    assert_false(send_as(f, "alice", 150, T0).abnormal);
    assert_false(send_as(f, "alice", 150, T0 + 10 * MIN).abnormal);
    struct throttle_decision d = check(f, "alice", 12, T0 + 20 * MIN);
    assert_string_equal(d.reason, "1h window: 312 recipients > limit 300 (static)");
}

static void test_static_day_limits_count_across_hours(void **state)
{
    struct fixture *f = *state;
    static_only(f);
    set(f, "throttle_messages_per_day", "3");
    set(f, "throttle_recipients_per_day", "100");

    for (int i = 0; i < 3; i++)
        assert_false(send_as(f, "alice", 1, T0 + i * 5 * HR).abnormal);
    struct throttle_decision d = check(f, "alice", 1, T0 + 20 * HR);
    assert_string_equal(d.reason, "1d window: 4 messages > limit 3 (static)");
    assert_int_equal(d.msgs[THROTTLE_HOUR], 1);

    assert_false(send_as(f, "bob", 60, T0).abnormal);
    d = check(f, "bob", 41, T0 + 12 * HR);
    assert_string_equal(d.reason, "1d window: 101 recipients > limit 100 (static)");
}

static void test_zero_static_limit_means_none(void **state)
{
    struct fixture *f = *state;
    static_only(f);

    for (int i = 0; i < 500; i++)
        assert_false(send_as(f, "alice", 50, T0 + i / 10).abnormal);
}

static void test_accounts_are_counted_apart_and_without_case(void **state)
{
    struct fixture *f = *state;
    static_only(f);
    set(f, "throttle_messages_per_minute", "2");

    assert_false(send_as(f, "alice", 1, T0).abnormal);
    assert_false(send_as(f, "ALICE", 1, T0).abnormal);
    assert_false(send_as(f, "bob", 1, T0).abnormal);
    assert_true(check(f, "Alice", 1, T0).abnormal);
    assert_false(check(f, "bob", 1, T0).abnormal);
    assert_int_equal(throttle_account_count(f->t), 2);
}

/* ---- sliding windows ---------------------------------------------------------------------- */

static void test_counts_leave_the_minute_window_after_sixty_seconds(void **state)
{
    struct fixture *f = *state;
    static_only(f);
    set(f, "throttle_recipients_per_minute", "10");

    assert_false(send_as(f, "alice", 10, T0 + 2).abnormal);
    struct throttle_decision d = check(f, "alice", 1, T0 + 52);
    assert_true(d.abnormal);
    assert_int_equal(d.rcpts[THROTTLE_MINUTE], 11);
    d = check(f, "alice", 1, T0 + 62);
    assert_false(d.abnormal);
    assert_int_equal(d.rcpts[THROTTLE_MINUTE], 1);
    assert_int_equal(d.rcpts[THROTTLE_HOUR], 11); /* still in the hour */
}

static void test_counts_leave_the_hour_and_day_windows(void **state)
{
    struct fixture *f = *state;
    static_only(f);

    assert_false(send_as(f, "alice", 3, T0 + 30).abnormal);
    struct throttle_decision d = check(f, "alice", 1, T0 + 30 + HR);
    assert_int_equal(d.rcpts[THROTTLE_HOUR], 1);
    assert_int_equal(d.rcpts[THROTTLE_DAY], 4);
    d = check(f, "alice", 1, T0 + 30 + 24 * HR);
    assert_int_equal(d.rcpts[THROTTLE_DAY], 1);
}

/* ---- adaptive rule ------------------------------------------------------------------------ */

static void test_adaptive_hour_limit_is_factor_times_the_hourly_baseline(void **state)
{
    struct fixture *f = *state;
    adaptive_only(f);
    set(f, "throttle_floor_messages_per_minute", "1000");
    set(f, "throttle_floor_messages_per_hour", "1000");
    set(f, "throttle_floor_messages_per_day", "1000");
    /* 14 days of 10 recipients an hour, each hour's mail in one minute. */
    history(f, "alice", T0, 14 * 24, 1, 10, 1);

    /* Minute baseline 10 (limit 50), hour baseline 10 (limit 50): spread over minutes. */
    assert_false(send_as(f, "alice", 25, T0 + 1 * MIN).abnormal);
    assert_false(send_as(f, "alice", 25, T0 + 3 * MIN).abnormal);
    struct throttle_decision d = check(f, "alice", 1, T0 + 5 * MIN);
    assert_true(d.abnormal);
    assert_string_equal(d.reason, "1h window: 51 recipients > 5 x baseline 10.0 (adaptive)");
    /* In one minute, the minute's baseline speaks first. */
    d = check(f, "alice", 26, T0 + 3 * MIN + 10);
    assert_string_equal(d.reason, "1m window: 51 recipients > 5 x baseline 10.0 (adaptive)");
}

static void test_adaptive_day_limit_divides_by_days_that_had_mail(void **state)
{
    struct fixture *f = *state;
    adaptive_only(f);
    set(f, "throttle_floor_messages_per_minute", "1000");
    set(f, "throttle_floor_messages_per_hour", "1000");
    set(f, "throttle_floor_messages_per_day", "1000");
    set(f, "throttle_floor_recipients_per_minute", "1000");
    set(f, "throttle_floor_recipients_per_hour", "1000");
    /* One hour of 40 recipients on each of 4 days (days without mail do not count). */
    for (int day = 1; day <= 4; day++)
        history(f, "alice", T0 - day * 2 * 24 * HR + HR, 1, 2, 40, 2);

    assert_false(send_as(f, "alice", 200, T0).abnormal);
    struct throttle_decision d = check(f, "alice", 1, T0 + 30 * MIN);
    assert_string_equal(d.reason, "1d window: 201 recipients > 5 x baseline 40.0 (adaptive)");
}

static void test_new_account_gets_the_floor(void **state)
{
    struct fixture *f = *state;
    static_only(f);
    set(f, "throttle_factor", "5"); /* floors at their defaults: 150 recipients an hour */

    for (int i = 0; i < 5; i++)
        assert_false(send_as(f, "newbie", 30, T0 + i * 2 * MIN).abnormal);
    struct throttle_decision d = check(f, "newbie", 1, T0 + 11 * MIN);
    assert_true(d.abnormal);
    assert_string_equal(
        d.reason, "1h window: 151 recipients > floor 150 (adaptive; 5 x baseline 0.0 is lower)");
}

static void test_baseline_is_recomputed_when_the_hour_rolls_over_not_per_message(void **state)
{
    struct fixture *f = *state;
    adaptive_only(f);
    set(f, "throttle_floor_messages_per_minute", "1000");
    set(f, "throttle_floor_messages_per_hour", "1000");
    set(f, "throttle_floor_messages_per_day", "1000");
    set(f, "throttle_floor_recipients_per_minute", "1000");
    history(f, "alice", T0, 10, 1, 10, 10); /* hour baseline 10: limit 50 */
    assert_false(send_as(f, "alice", 1, T0 + 1).abnormal);

    /* Another process adds an old heavy hour (older than the day ring, which the milter keeps
     * in memory): not seen within this hour... */
    history(f, "alice", T0 - 29 * HR, 1, 1, 1110, 60);
    struct throttle_decision d = check(f, "alice", 50, T0 + 20 * MIN);
    assert_true(d.abnormal);
    assert_contains(d.reason, "5 x baseline 10.0");
    /* ...but from the next hour on: 100 + 1110 + the hour just past (1) over 12 hours. */
    d = check(f, "alice", 400, T0 + HR + 1);
    assert_false(d.abnormal);
    d = check(f, "alice", 520, T0 + HR + 2);
    assert_string_equal(d.reason, "1h window: 520 recipients > 5 x baseline 100.9 (adaptive)");
}

static void test_factor_zero_turns_the_adaptive_rule_off(void **state)
{
    struct fixture *f = *state;
    static_only(f);
    set(f, "throttle_floor_recipients_per_hour", "1");
    assert_false(send_as(f, "alice", 1000, T0).abnormal);
}

/* ---- per-account limits ------------------------------------------------------------------- */

static void test_account_limit_below_the_option_wins(void **state)
{
    struct fixture *f = *state;
    int64_t limits[STORE_THROTTLE_LIMITS] = {2,
                                             STORE_THROTTLE_KEEP,
                                             STORE_THROTTLE_KEEP,
                                             STORE_THROTTLE_KEEP,
                                             STORE_THROTTLE_KEEP,
                                             STORE_THROTTLE_KEEP};
    assert_int_equal(store_throttle_set_limits(f->s, "alice", limits, NULL), STORE_OK);

    assert_false(send_as(f, "alice", 1, T0).abnormal);
    assert_false(send_as(f, "alice", 1, T0 + 1).abnormal);
    struct throttle_decision d = check(f, "alice", 1, T0 + 2);
    assert_string_equal(d.reason, "1m window: 3 messages > limit 2 (account's own)");
    assert_false(check(f, "bob", 1, T0 + 2).abnormal); /* others keep the option's 30 */
}

static void test_account_limit_above_the_option_wins_and_is_its_floor(void **state)
{
    struct fixture *f = *state;
    set(f, "throttle_recipients_per_hour", "200");
    set(f, "throttle_floor_recipients_per_hour", "150");
    int64_t limits[STORE_THROTTLE_LIMITS] = {
        STORE_THROTTLE_DEFAULT, 1000, STORE_THROTTLE_DEFAULT, 5000, STORE_THROTTLE_DEFAULT, 100000};
    assert_int_equal(store_throttle_set_limits(f->s, "newsletter", limits, NULL), STORE_OK);

    /* A new account without a baseline, yet 5000 recipients an hour from its first day. */
    for (int i = 0; i < 10; i++)
        assert_false(send_as(f, "newsletter", 500, T0 + i * 5 * MIN).abnormal);
    struct throttle_decision d = check(f, "newsletter", 1, T0 + 50 * MIN);
    assert_string_equal(d.reason, "1h window: 5001 recipients > limit 5000 (account's own)");
}

/* ---- throttled, unthrottled --------------------------------------------------------------- */

static void test_throttled_account_is_abnormal_with_the_stored_reason(void **state)
{
    struct fixture *f = *state;
    bool marked;
    assert_int_equal(
        store_throttle_mark(f->s, "alice", T0, "1h window: 9 > 8\r\n 100%", &marked, NULL),
        STORE_OK);
    assert_true(marked);

    struct throttle_decision d = check(f, "alice", 1, T0 + 5);
    assert_true(d.abnormal);
    assert_true(d.already_throttled);
    assert_string_equal(d.reason, "1h window: 9 > 8?? 100?");
}

static void test_messages_of_a_throttled_account_are_not_counted(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(store_throttle_mark(f->s, "alice", T0, "test", NULL, NULL), STORE_OK);
    for (int i = 0; i < 3; i++) {
        assert_true(check(f, "alice", 5, T0 + i).already_throttled);
        throttle_add(f->t, "alice", 5, (time_t)(T0 + i)); /* held: the policy counts it */
    }
    assert_int_equal(throttle_flush(f->t, f->s, (time_t)(T0 + 10), NULL), STORE_OK);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM throttle_buckets"), 0);
}

static void test_unthrottle_forgives_the_counts_so_far(void **state)
{
    struct fixture *f = *state;
    static_only(f);
    set(f, "throttle_messages_per_hour", "3");
    for (int i = 0; i < 3; i++)
        assert_false(send_as(f, "alice", 1, T0 + i * MIN).abnormal);
    struct throttle_decision d = check(f, "alice", 1, T0 + 4 * MIN);
    assert_true(d.abnormal);
    assert_int_equal(store_throttle_mark(f->s, "alice", T0 + 4 * MIN, d.reason, NULL, NULL),
                     STORE_OK);
    assert_true(check(f, "alice", 1, T0 + 5 * MIN).already_throttled);

    assert_int_equal(store_throttle_clear(f->s, "alice", T0 + 6 * MIN, NULL), STORE_OK);
    d = check(f, "alice", 1, T0 + 6 * MIN);
    assert_false(d.abnormal);
    assert_int_equal(d.msgs[THROTTLE_HOUR], 1);
    assert_int_equal(d.msgs[THROTTLE_DAY], 1);
    assert_int_equal(store_throttle_clear(f->s, "alice", T0 + 7 * MIN, NULL), STORE_NOTFOUND);
}

/*
 * An unthrottle in the very second a bucket starts forgives that bucket too: the reset is kept in
 * whole seconds, so the messages counted in that second came before it (ingressctl account
 * unthrottle run at hh:mm:00 forgave nothing of that minute, and the account was held again).
 */
static void test_unthrottle_in_a_buckets_first_second_forgives_it(void **state)
{
    struct fixture *f = *state;
    static_only(f);
    set(f, "throttle_messages_per_hour", "3");
    for (int i = 0; i < 3; i++)
        assert_false(send_as(f, "alice", 1, T0 + 6 * MIN).abnormal);
    struct throttle_decision d = check(f, "alice", 1, T0 + 6 * MIN);
    assert_true(d.abnormal);
    assert_int_equal(store_throttle_mark(f->s, "alice", T0 + 6 * MIN, d.reason, NULL, NULL),
                     STORE_OK);

    assert_int_equal(store_throttle_clear(f->s, "alice", T0 + 6 * MIN, NULL), STORE_OK);
    d = check(f, "alice", 1, T0 + 6 * MIN + 1);
    assert_false(d.abnormal);
    assert_int_equal(d.msgs[THROTTLE_MINUTE], 1);
    assert_int_equal(d.msgs[THROTTLE_HOUR], 1);
    assert_int_equal(d.msgs[THROTTLE_DAY], 1);
}

/* ---- persistence -------------------------------------------------------------------------- */

static void test_counts_survive_flush_and_a_new_throttle_on_the_same_file(void **state)
{
    struct fixture *f = *state;
    static_only(f);

    assert_false(send_as(f, "alice", 3, T0 + 10).abnormal);
    assert_false(send_as(f, "alice", 4, T0 + 20 * MIN).abnormal);
    assert_false(send_as(f, "alice", 5, T0 + 40 * MIN).abnormal);
    assert_false(send_as(f, "alice", 6, T0 + 40 * MIN + 30).abnormal);
    struct throttle_decision before = check(f, "alice", 1, T0 + 40 * MIN + 40);
    assert_int_equal(throttle_flush(f->t, f->s, (time_t)(T0 + 40 * MIN + 40), NULL), STORE_OK);

    throttle_free(f->t);
    store_close(f->s);
    struct store_error serr;
    f->s = store_open(f->db, 0, &serr);
    assert_non_null(f->s);
    f->t = throttle_new();
    struct throttle_decision after = check(f, "alice", 1, T0 + 40 * MIN + 40);
    assert_memory_equal(before.msgs, after.msgs, sizeof before.msgs);
    assert_memory_equal(before.rcpts, after.rcpts, sizeof before.rcpts);
    assert_int_equal(after.rcpts[THROTTLE_MINUTE], 12);
    assert_int_equal(after.rcpts[THROTTLE_HOUR], 19);
    /* The hourly row knows 3 distinct minutes had mail (the per-minute baseline's divisor). */
    assert_int_equal(raw_int(f->db, "SELECT minutes FROM throttle_buckets WHERE width = 3600"), 3);
}

static void test_a_flush_adds_only_what_is_new(void **state)
{
    struct fixture *f = *state;
    static_only(f);

    assert_false(send_as(f, "alice", 2, T0).abnormal);
    assert_int_equal(throttle_flush(f->t, f->s, (time_t)T0, NULL), STORE_OK);
    assert_int_equal(throttle_flush(f->t, f->s, (time_t)T0, NULL), STORE_OK); /* nothing new */
    assert_false(send_as(f, "alice", 3, T0 + 1).abnormal);
    assert_int_equal(throttle_flush(f->t, f->s, (time_t)T0 + 1, NULL), STORE_OK);
    assert_int_equal(
        raw_int(f->db, "SELECT rcpts FROM throttle_buckets WHERE account = 'alice' AND width = 60"),
        5);
}

static void test_failed_flush_keeps_the_counts_for_the_next_flush(void **state)
{
    struct fixture *f = *state;
    static_only(f);

    assert_false(send_as(f, "alice", 2, T0).abnormal);
    assert_false(send_as(f, "bob", 3, T0).abnormal);
    store_fault_wrap(f->s);
    store_fault_set(f->s, STORE_FAULT_BEGIN, STORE_BUSY, 0, -1);
    assert_int_equal(throttle_flush(f->t, f->s, (time_t)T0 + 2, NULL), STORE_BUSY);
    assert_false(send_as(f, "alice", 4, T0 + 3).abnormal); /* counted while the flush failed */
    assert_int_equal(throttle_flush(f->t, f->s, (time_t)T0 + 4, NULL), STORE_BUSY);
    store_fault_clear(f->s);

    assert_int_equal(throttle_flush(f->t, f->s, (time_t)T0 + 5, NULL), STORE_OK);
    assert_int_equal(raw_int(f->db, "SELECT sum(rcpts) FROM throttle_buckets WHERE width = 3600"),
                     9);
    assert_int_equal(raw_int(f->db, "SELECT sum(msgs) FROM throttle_buckets WHERE width = 5"), 3);
}

static void test_flush_is_one_transaction_all_or_nothing(void **state)
{
    struct fixture *f = *state;
    static_only(f);
    const char *names[] = {"a1", "a2", "a3", "a4"};

    for (size_t i = 0; i < 4; i++)
        assert_false(send_as(f, names[i], 1, T0).abnormal);
    /* The last row of the flush fails: the first eleven must not stay. */
    store_fault_wrap(f->s);
    store_fault_set(f->s, STORE_FAULT_THROTTLE_BUCKET_ADD, STORE_ERROR, 11, 1);
    assert_int_equal(throttle_flush(f->t, f->s, (time_t)T0 + 1, NULL), STORE_ERROR);
    assert_int_equal(store_fault_calls(f->s, STORE_FAULT_THROTTLE_BUCKET_ADD), 12);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM throttle_buckets"), 0);

    assert_int_equal(throttle_flush(f->t, f->s, (time_t)T0 + 2, NULL), STORE_OK);
    /* 4 accounts x 3 widths, each counted once. */
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM throttle_buckets"), 12);
    assert_int_equal(raw_int(f->db, "SELECT sum(msgs) FROM throttle_buckets"), 12);
}

static void test_idle_accounts_are_evicted_after_a_day_and_reloaded_from_the_store(void **state)
{
    struct fixture *f = *state;
    static_only(f);

    assert_false(send_as(f, "alice", 7, T0).abnormal);
    assert_false(send_as(f, "bob", 1, T0 + 20 * HR).abnormal);
    assert_int_equal(throttle_flush(f->t, f->s, (time_t)(T0 + 24 * HR + 1), NULL), STORE_OK);
    assert_int_equal(throttle_account_count(f->t), 1); /* bob stays */

    /* Loaded again with its history: its hour is the baseline, its day window is over. */
    struct throttle_decision d = check(f, "alice", 1, T0 + 24 * HR + 2);
    assert_int_equal(d.rcpts[THROTTLE_DAY], 1);
    assert_int_equal(throttle_account_count(f->t), 2);
    assert_int_equal(raw_int(f->db, "SELECT rcpts FROM throttle_buckets WHERE account = 'alice' "
                                    "AND width = 3600"),
                     7);
}

static void test_an_account_never_checked_is_counted_in_the_store(void **state)
{
    struct fixture *f = *state;
    static_only(f);

    throttle_add(f->t, "carol", 4, (time_t)T0);
    assert_int_equal(throttle_account_count(f->t), 0);
    assert_int_equal(throttle_flush(f->t, f->s, (time_t)T0 + 1, NULL), STORE_OK);
    struct throttle_decision d = check(f, "carol", 1, T0 + 2);
    assert_int_equal(d.rcpts[THROTTLE_MINUTE], 5);
    assert_int_equal(d.rcpts[THROTTLE_DAY], 5);
}

static void test_throttle_off_decides_nothing_and_reads_nothing(void **state)
{
    struct fixture *f = *state;
    set(f, "throttle", "no");
    set(f, "throttle_messages_per_minute", "1");
    set(f, "throttle_floor_messages_per_minute", "1");
    assert_int_equal(store_throttle_mark(f->s, "alice", T0, "x", NULL, NULL), STORE_OK);
    assert_false(check(f, "alice", 1, T0).abnormal);
    assert_int_equal(throttle_account_count(f->t), 0);
}

static void test_overlong_account_name_is_an_error(void **state)
{
    struct fixture *f = *state;
    char name[THROTTLE_ACCOUNT_MAX + 2];
    struct throttle_decision d;

    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    assert_int_equal(throttle_check(f->t, f->cfg, f->s, name, 1, (time_t)T0, &d), STORE_ERROR);
    assert_false(d.abnormal);
}

static void test_store_failure_is_could_not_tell(void **state)
{
    struct fixture *f = *state;
    struct throttle_decision d;

    store_fault_wrap(f->s);
    store_fault_set(f->s, STORE_FAULT_THROTTLE_GET, STORE_ERROR, 0, -1);
    assert_int_equal(throttle_check(f->t, f->cfg, f->s, "alice", 1, (time_t)T0, &d), STORE_ERROR);
    assert_false(d.abnormal);
}

#define WORKERS 4
#define MESSAGES_PER_WORKER 500

struct worker {
    struct fixture *f;
    int index;
    int failures;
};

static void *count_many(void *arg)
{
    struct worker *w = arg;
    char name[32];

    for (int i = 0; i < MESSAGES_PER_WORKER; i++) {
        struct throttle_decision d;
        int64_t now = T0 + i / 10;
        snprintf(name, sizeof name, "user%d", (i + w->index) % 10); /* shared by the workers */
        if (throttle_check(w->f->t, w->f->cfg, w->f->s, name, 2, (time_t)now, &d) != STORE_OK)
            w->failures++;
        throttle_add(w->f->t, name, 2, (time_t)now);
    }
    return NULL;
}

struct flusher {
    struct fixture *f;
    atomic_int stop; /* set once the workers are joined */
    int flushes;
};

static void *flush_until_stopped(void *arg)
{
    struct flusher *fl = arg;
    while (!atomic_load(&fl->stop)) {
        if (throttle_flush(fl->f->t, fl->f->s, (time_t)T0, NULL) == STORE_OK)
            fl->flushes++;
    }
    return NULL;
}

static void test_concurrent_checks_adds_and_flushes_lose_no_count(void **state)
{
    struct fixture *f = *state;
    pthread_t tid[WORKERS], flush_tid;
    struct worker w[WORKERS];
    struct flusher fl = {.f = f};
    static_only(f);

    assert_int_equal(pthread_create(&flush_tid, NULL, flush_until_stopped, &fl), 0);
    for (int i = 0; i < WORKERS; i++) {
        w[i] = (struct worker){.f = f, .index = i};
        assert_int_equal(pthread_create(&tid[i], NULL, count_many, &w[i]), 0);
    }
    for (int i = 0; i < WORKERS; i++) {
        assert_int_equal(pthread_join(tid[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    atomic_store(&fl.stop, 1);
    assert_int_equal(pthread_join(flush_tid, NULL), 0);
    assert_int_equal(throttle_flush(f->t, f->s, (time_t)T0, NULL), STORE_OK);

    assert_int_equal(raw_int(f->db, "SELECT sum(msgs) FROM throttle_buckets WHERE width = 3600"),
                     WORKERS * MESSAGES_PER_WORKER);
    assert_int_equal(raw_int(f->db, "SELECT sum(rcpts) FROM throttle_buckets WHERE width = 5"),
                     2 * WORKERS * MESSAGES_PER_WORKER);
    assert_int_equal(throttle_account_count(f->t), 10);
}

/* ---- expiry ------------------------------------------------------------------------------- */

static void test_expiry_is_bounded_and_keeps_what_is_still_needed(void **state)
{
    struct fixture *f = *state;
    size_t deleted, total = 0;
    int64_t now = T0 + 30 * 24 * HR;
    struct store_throttle_bucket rows[] = {
        {"alice", 5, now - 2 * HR, 1, 1, 0},          /* old fine rows: go */
        {"alice", 5, now - 2 * HR + 5, 1, 1, 0},      /* */
        {"alice", 60, now - 2 * HR, 1, 1, 0},         /* */
        {"alice", 60, now - 30 * MIN, 1, 1, 0},       /* in the hour window: stays */
        {"alice", 5, now - 30, 1, 1, 0},              /* stays */
        {"alice", 3600, now - 16 * 24 * HR, 1, 1, 1}, /* older than 14 d + 1 d: goes */
        {"bob", 3600, now - 20 * 24 * HR, 1, 1, 1},   /* goes */
        {"bob", 3600, now - 14 * 24 * HR, 1, 1, 1},   /* history: stays */
    };
    assert_int_equal(store_throttle_bucket_add(f->s, rows, sizeof rows / sizeof rows[0], NULL),
                     STORE_OK);

    assert_int_equal(throttle_expire(f->s, f->cfg, (time_t)now, 2, &deleted, NULL), STORE_OK);
    assert_int_equal(deleted, 2);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM throttle_buckets"), 6);
    total += deleted;
    do {
        assert_int_equal(throttle_expire(f->s, f->cfg, (time_t)now, 2, &deleted, NULL), STORE_OK);
        total += deleted;
    } while (deleted > 0);
    assert_int_equal(total, 5);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM throttle_buckets"), 3);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM throttle_buckets WHERE "
                                    "(account = 'alice' AND width IN (5, 60)) OR "
                                    "(account = 'bob' AND width = 3600)"),
                     3);
}

/* ---- the store's throttle section --------------------------------------------------------- */

static void test_store_state_of_an_unknown_account_is_the_default(void **state)
{
    struct fixture *f = *state;
    struct store_throttle_state st;

    assert_int_equal(store_throttle_get(f->s, "nobody", &st, NULL), STORE_NOTFOUND);
    assert_int_equal(st.throttled, 0);
    assert_int_equal(st.reset_at, 0);
    assert_string_equal(st.reason, "");
    for (int i = 0; i < STORE_THROTTLE_LIMITS; i++)
        assert_int_equal(st.limits[i], STORE_THROTTLE_DEFAULT);
}

static void test_store_mark_keeps_the_first_reason_and_needs_no_account_row(void **state)
{
    struct fixture *f = *state;
    struct store_throttle_state st;
    bool marked;

    assert_int_equal(store_throttle_mark(f->s, "Unregistered", 100, "first", &marked, NULL),
                     STORE_OK);
    assert_true(marked);
    assert_int_equal(store_throttle_mark(f->s, "unregistered", 200, "second", &marked, NULL),
                     STORE_OK);
    assert_false(marked);
    assert_int_equal(store_throttle_get(f->s, "UNREGISTERED", &st, NULL), STORE_OK);
    assert_int_equal(st.throttled, 100);
    assert_string_equal(st.reason, "first");
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM accounts"), 0);
}

static void test_store_clear_sets_reset_at_and_lets_a_new_mark_in(void **state)
{
    struct fixture *f = *state;
    struct store_throttle_state st;
    bool marked;

    assert_int_equal(store_throttle_clear(f->s, "alice", 50, NULL), STORE_NOTFOUND);
    assert_int_equal(store_throttle_mark(f->s, "alice", 100, "first", NULL, NULL), STORE_OK);
    assert_int_equal(store_throttle_clear(f->s, "alice", 150, NULL), STORE_OK);
    assert_int_equal(store_throttle_get(f->s, "alice", &st, NULL), STORE_OK);
    assert_int_equal(st.throttled, 0);
    assert_string_equal(st.reason, "");
    assert_int_equal(st.reset_at, 150);
    assert_int_equal(store_throttle_mark(f->s, "alice", 300, "again", &marked, NULL), STORE_OK);
    assert_true(marked);
}

static void test_store_limits_set_keep_and_clear_each_one(void **state)
{
    struct fixture *f = *state;
    struct store_throttle_state st;
    int64_t first[STORE_THROTTLE_LIMITS] = {1, 2, 3, 4, 5, 0};
    int64_t change[STORE_THROTTLE_LIMITS] = {STORE_THROTTLE_KEEP,    9,
                                             STORE_THROTTLE_DEFAULT, STORE_THROTTLE_KEEP,
                                             STORE_THROTTLE_KEEP,    STORE_THROTTLE_KEEP};

    assert_int_equal(store_throttle_mark(f->s, "alice", 100, "kept", NULL, NULL), STORE_OK);
    assert_int_equal(store_throttle_set_limits(f->s, "alice", first, NULL), STORE_OK);
    assert_int_equal(store_throttle_set_limits(f->s, "alice", change, NULL), STORE_OK);
    assert_int_equal(store_throttle_get(f->s, "alice", &st, NULL), STORE_OK);
    int64_t want[STORE_THROTTLE_LIMITS] = {1, 9, STORE_THROTTLE_DEFAULT, 4, 5, 0};
    assert_memory_equal(st.limits, want, sizeof want);
    assert_int_equal(st.throttled, 100); /* limits do not touch the throttle */
    assert_string_equal(st.reason, "kept");
}

struct names {
    char text[256];
    int count;
};

static void collect_name(const struct store_throttle_state *st, void *arg)
{
    struct names *n = arg;
    size_t len = strlen(n->text);
    snprintf(n->text + len, sizeof n->text - len, "%s%s:%lld:%s", n->count ? " " : "", st->account,
             (long long)st->throttled, st->reason);
    n->count++;
}

static void test_store_lists_throttled_accounts_oldest_first(void **state)
{
    struct fixture *f = *state;
    struct names n = {{0}, 0};
    int64_t limits[STORE_THROTTLE_LIMITS] = {1, 1, 1, 1, 1, 1};

    assert_int_equal(store_throttle_each(f->s, collect_name, &n, NULL), STORE_NOTFOUND);
    assert_int_equal(store_throttle_mark(f->s, "bob", 300, "b", NULL, NULL), STORE_OK);
    assert_int_equal(store_throttle_mark(f->s, "alice", 200, "a", NULL, NULL), STORE_OK);
    assert_int_equal(store_throttle_mark(f->s, "carol", 100, "c", NULL, NULL), STORE_OK);
    assert_int_equal(store_throttle_clear(f->s, "carol", 400, NULL), STORE_OK);
    assert_int_equal(store_throttle_set_limits(f->s, "dave", limits, NULL),
                     STORE_OK); /* not throttled */
    assert_int_equal(store_throttle_each(f->s, collect_name, &n, NULL), STORE_OK);
    assert_string_equal(n.text, "alice:200:a bob:300:b");
}

static void count_bucket(const struct store_throttle_bucket *b, void *arg)
{
    int64_t *sum = arg;
    *sum += b->rcpts;
}

static void test_store_buckets_add_up_and_are_read_by_range(void **state)
{
    struct fixture *f = *state;
    struct store_throttle_bucket rows[] = {
        {"alice", 60, 600, 1, 2, 0},     {"ALICE", 60, 600, 1, 3, 0}, /* the same bucket: adds */
        {"alice", 60, 660, 1, 10, 0},    {"alice", 3600, 0, 2, 100, 50},
        {"alice", 3600, 0, 1, 1000, 50}, /* minutes capped at 60 */
        {"bob", 60, 600, 1, 10000, 0},
    };
    int64_t sum = 0;

    assert_int_equal(store_throttle_bucket_add(f->s, rows, sizeof rows / sizeof rows[0], NULL),
                     STORE_OK);
    assert_int_equal(
        store_throttle_bucket_each(f->s, "Alice", 60, 600, 660, count_bucket, &sum, NULL),
        STORE_OK);
    assert_int_equal(sum, 5);
    sum = 0;
    assert_int_equal(
        store_throttle_bucket_each(f->s, "alice", 0, 0, 10000, count_bucket, &sum, NULL), STORE_OK);
    assert_int_equal(sum, 1115);
    assert_int_equal(raw_int(f->db, "SELECT minutes FROM throttle_buckets WHERE width = 3600"), 60);
    assert_int_equal(
        store_throttle_bucket_each(f->s, "alice", 5, 0, 10000, count_bucket, &sum, NULL),
        STORE_NOTFOUND);
    struct store_throttle_bucket bad = {NULL, 60, 600, 1, 1, 0};
    assert_int_equal(store_throttle_bucket_add(f->s, &bad, 1, NULL), STORE_ERROR);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_static_messages_per_minute_limit_is_hit_by_the_message_past_it),
        T(test_static_recipients_per_minute_counts_recipients_not_messages),
        T(test_static_hour_limit_counts_across_minutes),
        T(test_static_hour_recipients_limit),
        T(test_static_day_limits_count_across_hours),
        T(test_zero_static_limit_means_none),
        T(test_accounts_are_counted_apart_and_without_case),
        T(test_counts_leave_the_minute_window_after_sixty_seconds),
        T(test_counts_leave_the_hour_and_day_windows),
        T(test_adaptive_hour_limit_is_factor_times_the_hourly_baseline),
        T(test_adaptive_day_limit_divides_by_days_that_had_mail),
        T(test_new_account_gets_the_floor),
        T(test_baseline_is_recomputed_when_the_hour_rolls_over_not_per_message),
        T(test_factor_zero_turns_the_adaptive_rule_off),
        T(test_account_limit_below_the_option_wins),
        T(test_account_limit_above_the_option_wins_and_is_its_floor),
        T(test_throttled_account_is_abnormal_with_the_stored_reason),
        T(test_messages_of_a_throttled_account_are_not_counted),
        T(test_unthrottle_forgives_the_counts_so_far),
        T(test_unthrottle_in_a_buckets_first_second_forgives_it),
        T(test_counts_survive_flush_and_a_new_throttle_on_the_same_file),
        T(test_a_flush_adds_only_what_is_new),
        T(test_failed_flush_keeps_the_counts_for_the_next_flush),
        T(test_flush_is_one_transaction_all_or_nothing),
        T(test_idle_accounts_are_evicted_after_a_day_and_reloaded_from_the_store),
        T(test_an_account_never_checked_is_counted_in_the_store),
        T(test_throttle_off_decides_nothing_and_reads_nothing),
        T(test_overlong_account_name_is_an_error),
        T(test_store_failure_is_could_not_tell),
        T(test_concurrent_checks_adds_and_flushes_lose_no_count),
        T(test_expiry_is_bounded_and_keeps_what_is_still_needed),
        T(test_store_state_of_an_unknown_account_is_the_default),
        T(test_store_mark_keeps_the_first_reason_and_needs_no_account_row),
        T(test_store_clear_sets_reset_at_and_lets_a_new_mark_in),
        T(test_store_limits_set_keep_and_clear_each_one),
        T(test_store_lists_throttled_accounts_oldest_first),
        T(test_store_buckets_add_up_and_are_read_by_range),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
