/*
 * store/sqlite_throttle: send-rate counters and throttle state in SQLite
 * (schema/sqlite/006_throttle.sql).
 */
#include "sqlite.h"

#include "util.h"

const struct sqlite_sql sqlite_throttle_sql[] = {
    /* throttle: lookups by the primary key (or its prefix); ?2 = 0 reads every width. */
    {STMT_THROTTLE_GET, "SELECT throttled, reason, reset_at, msgs_minute, rcpts_minute, "
                        "msgs_hour, rcpts_hour, msgs_day, rcpts_day "
                        "FROM account_throttle WHERE account = ?1"},
    {STMT_THROTTLE_BUCKET_EACH, "SELECT width, start, msgs, rcpts, minutes FROM throttle_buckets "
                                "WHERE account = ?1 AND (?2 = 0 OR width = ?2) "
                                "AND start >= ?3 AND start < ?4 ORDER BY width, start"},
    {STMT_THROTTLE_BUCKET_ADD,
     "INSERT INTO throttle_buckets (account, width, start, msgs, rcpts, minutes) "
     "VALUES (?1, ?2, ?3, ?4, ?5, min(?6, 60)) ON CONFLICT (account, width, start) DO UPDATE "
     "SET msgs = msgs + excluded.msgs, rcpts = rcpts + excluded.rcpts, "
     "minutes = min(minutes + excluded.minutes, 60)"},
    /* The first reason stays: a throttled account's later messages do not rewrite it. */
    {STMT_THROTTLE_MARK, "INSERT INTO account_throttle (account, throttled, reason) "
                         "VALUES (?1, ?2, ?3) ON CONFLICT (account) DO UPDATE "
                         "SET throttled = excluded.throttled, reason = excluded.reason "
                         "WHERE account_throttle.throttled IS NULL"},
    {STMT_THROTTLE_CLEAR, "UPDATE account_throttle SET throttled = NULL, reason = '', "
                          "reset_at = ?2 WHERE account = ?1 AND throttled IS NOT NULL"},
    /* Per limit ?2..?7: -2 keeps the stored value, -1 (any negative) stores NULL. */
    {STMT_THROTTLE_SET_LIMITS,
     "INSERT INTO account_throttle (account, msgs_minute, rcpts_minute, msgs_hour, rcpts_hour, "
     "msgs_day, rcpts_day) VALUES (?1, iif(?2 < 0, NULL, ?2), iif(?3 < 0, NULL, ?3), "
     "iif(?4 < 0, NULL, ?4), iif(?5 < 0, NULL, ?5), iif(?6 < 0, NULL, ?6), "
     "iif(?7 < 0, NULL, ?7)) ON CONFLICT (account) DO UPDATE SET "
     "msgs_minute = iif(?2 = -2, msgs_minute, excluded.msgs_minute), "
     "rcpts_minute = iif(?3 = -2, rcpts_minute, excluded.rcpts_minute), "
     "msgs_hour = iif(?4 = -2, msgs_hour, excluded.msgs_hour), "
     "rcpts_hour = iif(?5 = -2, rcpts_hour, excluded.rcpts_hour), "
     "msgs_day = iif(?6 = -2, msgs_day, excluded.msgs_day), "
     "rcpts_day = iif(?7 = -2, rcpts_day, excluded.rcpts_day)"},
    {STMT_THROTTLE_EACH, "SELECT throttled, reason, reset_at, msgs_minute, rcpts_minute, "
                         "msgs_hour, rcpts_hour, msgs_day, rcpts_day, account "
                         "FROM account_throttle WHERE throttled IS NOT NULL "
                         "ORDER BY throttled, account"},
    /* Expiry walks the (width, start) index, oldest first, in bounded batches. */
    {STMT_THROTTLE_EXPIRE_FINE,
     "DELETE FROM throttle_buckets WHERE (account, width, start) IN "
     "(SELECT account, width, start FROM throttle_buckets "
     "WHERE width IN (5, 60) AND start < ?1 ORDER BY width, start LIMIT ?2)"},
    {STMT_THROTTLE_EXPIRE_HOURLY, "DELETE FROM throttle_buckets WHERE (account, width, start) IN "
                                  "(SELECT account, width, start FROM throttle_buckets "
                                  "WHERE width = 3600 AND start < ?1 ORDER BY start LIMIT ?2)"},
};
const size_t sqlite_throttle_sql_count = sizeof sqlite_throttle_sql / sizeof sqlite_throttle_sql[0];

/* Reads columns 0-8 of STMT_THROTTLE_GET / STMT_THROTTLE_EACH into st. */
static void throttle_columns(sqlite3_stmt *stmt, struct store_throttle_state *st)
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

static void throttle_get_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    throttle_columns(stmt, v->arg);
}

enum store_status sqlite_throttle_get(struct store_conn *c, const char *account,
                                      struct store_throttle_state *st, struct store_error *err)
{
    struct sqlite_visit v = {.row = throttle_get_row, .arg = st};

    return sqlite_each(c->s, STMT_THROTTLE_GET, SQL_PARAMS(SQL_TEXT(account)), &v, err);
}

struct bucket_visit {
    const char *account;
    void (*fn)(const struct store_throttle_bucket *b, void *arg);
    void *arg;
};

static void bucket_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    const struct bucket_visit *bv = v->arg;
    struct store_throttle_bucket b = {
        .account = bv->account,
        .width = sqlite3_column_int64(stmt, 0),
        .start = sqlite3_column_int64(stmt, 1),
        .msgs = sqlite3_column_int64(stmt, 2),
        .rcpts = sqlite3_column_int64(stmt, 3),
        .minutes = sqlite3_column_int64(stmt, 4),
    };
    bv->fn(&b, bv->arg);
}

enum store_status sqlite_throttle_bucket_each(struct store_conn *c, const char *account,
                                              int64_t width, int64_t since, int64_t before,
                                              void (*fn)(const struct store_throttle_bucket *b,
                                                         void *arg),
                                              void *arg, struct store_error *err)
{
    struct bucket_visit bv = {account, fn, arg};
    struct sqlite_visit v = {.row = bucket_row, .arg = &bv};

    return sqlite_each(
        c->s, STMT_THROTTLE_BUCKET_EACH,
        SQL_PARAMS(SQL_TEXT(account), SQL_INT(width), SQL_INT(since), SQL_INT(before)), &v, err);
}

enum store_status sqlite_throttle_bucket_add(struct store_conn *c,
                                             const struct store_throttle_bucket *b,
                                             struct store_error *err)
{
    return sqlite_run(c->s, STMT_THROTTLE_BUCKET_ADD,
                      SQL_PARAMS(SQL_TEXT(b->account), SQL_INT(b->width), SQL_INT(b->start),
                                 SQL_INT(b->msgs), SQL_INT(b->rcpts), SQL_INT(b->minutes)),
                      NULL, err);
}

enum store_status sqlite_throttle_mark(struct store_conn *c, const char *account, int64_t since,
                                       const char *reason, bool *marked, struct store_error *err)
{
    int changes = 0;
    enum store_status status = sqlite_run(
        c->s, STMT_THROTTLE_MARK,
        SQL_PARAMS(SQL_TEXT(account), SQL_INT(since), SQL_TEXT_OR_EMPTY(reason)), &changes, err);

    if (status == STORE_OK && marked != NULL)
        *marked = changes > 0;
    return status;
}

enum store_status sqlite_throttle_clear(struct store_conn *c, const char *account, int64_t now,
                                        struct store_error *err)
{
    return sqlite_change(c->s, STMT_THROTTLE_CLEAR, SQL_PARAMS(SQL_TEXT(account), SQL_INT(now)),
                         err);
}

/* -2 keeps the stored limit, -1 stores NULL (the option's default). */
static struct sql_param limit_param(int64_t limit)
{
    return SQL_INT(limit < STORE_THROTTLE_KEEP ? -1 : limit);
}

enum store_status sqlite_throttle_set_limits(struct store_conn *c, const char *account,
                                             const int64_t limits[STORE_THROTTLE_LIMITS],
                                             struct store_error *err)
{
    return sqlite_run(c->s, STMT_THROTTLE_SET_LIMITS,
                      SQL_PARAMS(SQL_TEXT(account), limit_param(limits[STORE_THROTTLE_MSGS_MINUTE]),
                                 limit_param(limits[STORE_THROTTLE_RCPTS_MINUTE]),
                                 limit_param(limits[STORE_THROTTLE_MSGS_HOUR]),
                                 limit_param(limits[STORE_THROTTLE_RCPTS_HOUR]),
                                 limit_param(limits[STORE_THROTTLE_MSGS_DAY]),
                                 limit_param(limits[STORE_THROTTLE_RCPTS_DAY])),
                      NULL, err);
}

static void throttle_each_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    struct store_throttle_state st;

    throttle_columns(stmt, &st);
    st.account = column_text(stmt, 9);
    v->fn.throttle(&st, v->arg);
}

enum store_status sqlite_throttle_each(struct store_conn *c,
                                       void (*fn)(const struct store_throttle_state *st, void *arg),
                                       void *arg, struct store_error *err)
{
    struct sqlite_visit v = {.row = throttle_each_row, .fn.throttle = fn, .arg = arg};

    return sqlite_each(c->s, STMT_THROTTLE_EACH, NULL, 0, &v, err);
}

enum store_status sqlite_throttle_expire(struct store_conn *c, int64_t fine_before,
                                         int64_t hourly_before, size_t *left,
                                         struct store_error *err)
{
    enum store_status status =
        sqlite_bounded_delete(c->s, STMT_THROTTLE_EXPIRE_FINE, fine_before, left, err);

    if (status == STORE_OK)
        status = sqlite_bounded_delete(c->s, STMT_THROTTLE_EXPIRE_HOURLY, hourly_before, left, err);
    return status;
}
