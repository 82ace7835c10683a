/*
 * store/sqlite_throttle: send-rate counters and throttle state in SQLite (schema/006_throttle.sql).
 */
#include "sqlite.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "store_migrations.h"
#include "util.h"

const char *const sqlite_throttle_sql[STMT_COUNT] = {
    /* throttle: lookups by the primary key (or its prefix); ?2 = 0 reads every width. */
    [STMT_THROTTLE_GET] = "SELECT throttled, reason, reset_at, msgs_minute, rcpts_minute, "
                          "msgs_hour, rcpts_hour, msgs_day, rcpts_day "
                          "FROM account_throttle WHERE account = ?1",
    [STMT_THROTTLE_BUCKET_EACH] = "SELECT width, start, msgs, rcpts, minutes FROM throttle_buckets "
                                  "WHERE account = ?1 AND (?2 = 0 OR width = ?2) "
                                  "AND start >= ?3 AND start < ?4 ORDER BY width, start",
    [STMT_THROTTLE_BUCKET_ADD] =
        "INSERT INTO throttle_buckets (account, width, start, msgs, rcpts, minutes) "
        "VALUES (?1, ?2, ?3, ?4, ?5, min(?6, 60)) ON CONFLICT (account, width, start) DO UPDATE "
        "SET msgs = msgs + excluded.msgs, rcpts = rcpts + excluded.rcpts, "
        "minutes = min(minutes + excluded.minutes, 60)",
    /* The first reason stays: a throttled account's later messages do not rewrite it. */
    [STMT_THROTTLE_MARK] = "INSERT INTO account_throttle (account, throttled, reason) "
                           "VALUES (?1, ?2, ?3) ON CONFLICT (account) DO UPDATE "
                           "SET throttled = excluded.throttled, reason = excluded.reason "
                           "WHERE account_throttle.throttled IS NULL",
    [STMT_THROTTLE_CLEAR] = "UPDATE account_throttle SET throttled = NULL, reason = '', "
                            "reset_at = ?2 WHERE account = ?1 AND throttled IS NOT NULL",
    /* Per limit ?2..?7: -2 keeps the stored value, -1 (any negative) stores NULL. */
    [STMT_THROTTLE_SET_LIMITS] =
        "INSERT INTO account_throttle (account, msgs_minute, rcpts_minute, msgs_hour, rcpts_hour, "
        "msgs_day, rcpts_day) VALUES (?1, iif(?2 < 0, NULL, ?2), iif(?3 < 0, NULL, ?3), "
        "iif(?4 < 0, NULL, ?4), iif(?5 < 0, NULL, ?5), iif(?6 < 0, NULL, ?6), "
        "iif(?7 < 0, NULL, ?7)) ON CONFLICT (account) DO UPDATE SET "
        "msgs_minute = iif(?2 = -2, msgs_minute, excluded.msgs_minute), "
        "rcpts_minute = iif(?3 = -2, rcpts_minute, excluded.rcpts_minute), "
        "msgs_hour = iif(?4 = -2, msgs_hour, excluded.msgs_hour), "
        "rcpts_hour = iif(?5 = -2, rcpts_hour, excluded.rcpts_hour), "
        "msgs_day = iif(?6 = -2, msgs_day, excluded.msgs_day), "
        "rcpts_day = iif(?7 = -2, rcpts_day, excluded.rcpts_day)",
    [STMT_THROTTLE_EACH] = "SELECT throttled, reason, reset_at, msgs_minute, rcpts_minute, "
                           "msgs_hour, rcpts_hour, msgs_day, rcpts_day, account "
                           "FROM account_throttle WHERE throttled IS NOT NULL "
                           "ORDER BY throttled, account",
    /* Expiry walks the (width, start) index, oldest first, in bounded batches. */
    [STMT_THROTTLE_EXPIRE_FINE] =
        "DELETE FROM throttle_buckets WHERE (account, width, start) IN "
        "(SELECT account, width, start FROM throttle_buckets "
        "WHERE width IN (5, 60) AND start < ?1 ORDER BY width, start LIMIT ?2)",
    [STMT_THROTTLE_EXPIRE_HOURLY] = "DELETE FROM throttle_buckets WHERE (account, width, start) IN "
                                    "(SELECT account, width, start FROM throttle_buckets "
                                    "WHERE width = 3600 AND start < ?1 ORDER BY start LIMIT ?2)",
};

/* Reads columns 0-8 of STMT_THROTTLE_GET / STMT_THROTTLE_EACH into st. */
static void throttle_row(sqlite3_stmt *stmt, struct store_throttle_state *st)
{
    const char *reason = column_text(stmt, 1);

    st->throttled = sqlite3_column_int64(stmt, 0); /* NULL reads as 0: not throttled */
    str_copy(st->reason, sizeof st->reason, reason ? reason : "");
    st->reset_at = sqlite3_column_int64(stmt, 2);
    for (int i = 0; i < STORE_THROTTLE_LIMITS; i++)
        st->limits[i] = sqlite3_column_type(stmt, 3 + i) == SQLITE_NULL
                            ? STORE_THROTTLE_DEFAULT
                            : sqlite3_column_int64(stmt, 3 + i);
}

static void throttle_state_clear(struct store_throttle_state *st)
{
    st->account = NULL;
    st->throttled = 0;
    st->reason[0] = '\0';
    st->reset_at = 0;
    for (int i = 0; i < STORE_THROTTLE_LIMITS; i++)
        st->limits[i] = STORE_THROTTLE_DEFAULT;
}

enum store_status store_throttle_get(struct store *s, const char *account,
                                     struct store_throttle_state *st)
{
    sqlite3_stmt *stmt = s->stmt[STMT_THROTTLE_GET];
    enum store_status status = STORE_NOTFOUND;
    int rc;

    throttle_state_clear(st);
    pthread_mutex_lock(&s->lock);
    rc = sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        throttle_row(stmt, st);
        status = STORE_OK;
        rc = SQLITE_DONE;
    }
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status
store_throttle_bucket_each(struct store *s, const char *account, int64_t width, int64_t since,
                           int64_t before,
                           void (*fn)(const struct store_throttle_bucket *b, void *arg), void *arg)
{
    sqlite3_stmt *stmt = s->stmt[STMT_THROTTLE_BUCKET_EACH];
    enum store_status status = STORE_NOTFOUND;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 2, width);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 3, since);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 4, before);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct store_throttle_bucket b = {
            .account = account,
            .width = sqlite3_column_int64(stmt, 0),
            .start = sqlite3_column_int64(stmt, 1),
            .msgs = sqlite3_column_int64(stmt, 2),
            .rcpts = sqlite3_column_int64(stmt, 3),
            .minutes = sqlite3_column_int64(stmt, 4),
        };
        fn(&b, arg);
        status = STORE_OK;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

/* Binds and runs STMT_THROTTLE_BUCKET_ADD for b; called with the lock held. */
static int throttle_bucket_add_locked(struct store *s, const struct store_throttle_bucket *b)
{
    sqlite3_stmt *stmt = s->stmt[STMT_THROTTLE_BUCKET_ADD];
    const int64_t values[] = {b->width, b->start, b->msgs, b->rcpts, b->minutes};
    int rc = b->account == NULL ? SQLITE_MISUSE
                                : sqlite3_bind_text(stmt, 1, b->account, -1, SQLITE_STATIC);

    for (int i = 0; rc == SQLITE_OK && i < (int)(sizeof values / sizeof values[0]); i++)
        rc = sqlite3_bind_int64(stmt, i + 2, values[i]);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    stmt_done(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

enum store_status store_throttle_bucket_add(struct store *s,
                                            const struct store_throttle_bucket *buckets, size_t n)
{
    enum store_status status = STORE_OK;
    int rc;

    if (n == 0)
        return STORE_OK;
    pthread_mutex_lock(&s->lock);
    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++)
        rc = throttle_bucket_add_locked(s, &buckets[i]);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        if (rc == SQLITE_MISUSE)
            str_copy(s->error, sizeof s->error, "a throttle bucket needs an account");
        status = rc == SQLITE_MISUSE ? STORE_ERROR : store_fail(s, rc);
        rollback(s->db);
    }
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_throttle_mark(struct store *s, const char *account, int64_t since,
                                      const char *reason, bool *marked)
{
    sqlite3_stmt *stmt = s->stmt[STMT_THROTTLE_MARK];
    enum store_status status = STORE_OK;
    int rc;

    if (marked != NULL)
        *marked = false;
    pthread_mutex_lock(&s->lock);
    rc = sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 2, since);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 3, reason ? reason : "", -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    else if (marked != NULL)
        *marked = sqlite3_changes(s->db) > 0;
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_throttle_clear(struct store *s, const char *account, int64_t now)
{
    sqlite3_stmt *stmt = s->stmt[STMT_THROTTLE_CLEAR];
    enum store_status status = STORE_OK;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 2, now);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    else if (sqlite3_changes(s->db) == 0)
        status = STORE_NOTFOUND;
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_throttle_set_limits(struct store *s, const char *account,
                                            const int64_t limits[STORE_THROTTLE_LIMITS])
{
    sqlite3_stmt *stmt = s->stmt[STMT_THROTTLE_SET_LIMITS];
    enum store_status status = STORE_OK;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC);
    for (int i = 0; rc == SQLITE_OK && i < STORE_THROTTLE_LIMITS; i++)
        rc = sqlite3_bind_int64(stmt, i + 2, limits[i] < STORE_THROTTLE_KEEP ? -1 : limits[i]);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_throttle_each(struct store *s,
                                      void (*fn)(const struct store_throttle_state *st, void *arg),
                                      void *arg)
{
    sqlite3_stmt *stmt = s->stmt[STMT_THROTTLE_EACH];
    enum store_status status = STORE_NOTFOUND;
    int rc;

    pthread_mutex_lock(&s->lock);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct store_throttle_state st;
        throttle_row(stmt, &st);
        st.account = column_text(stmt, 9);
        fn(&st, arg);
        status = STORE_OK;
    }
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_throttle_expire(struct store *s, int64_t fine_before, int64_t hourly_before,
                                        size_t batch, size_t *deleted)
{
    enum store_status status;
    size_t left = batch;

    *deleted = 0;
    pthread_mutex_lock(&s->lock);
    status = exec_stmt(s, STMT_BEGIN_IMMEDIATE);
    if (status == STORE_OK) {
        status = bounded_delete(s, STMT_THROTTLE_EXPIRE_FINE, fine_before, &left);
        if (status == STORE_OK)
            status = bounded_delete(s, STMT_THROTTLE_EXPIRE_HOURLY, hourly_before, &left);
        if (status == STORE_OK)
            status = exec_stmt(s, STMT_COMMIT);
        if (status == STORE_OK)
            *deleted = batch - left;
        else
            rollback(s->db);
    }
    pthread_mutex_unlock(&s->lock);
    return status;
}
