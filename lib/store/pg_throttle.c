/*
 * store/pg_throttle: per-account send-rate counters and throttle state in PostgreSQL
 * (schema/postgresql/006_throttle.sql).  Account names compare without ASCII case (lower(), the
 * tables' keys).
 */
#include "pg.h"

#include "util.h"

#define THROTTLE_COLUMNS                                                                           \
    "throttled, reason, reset_at, msgs_minute, rcpts_minute, msgs_hour, rcpts_hour, msgs_day, "    \
    "rcpts_day"
/* A limit $N of set_limits: -2 keeps the stored value, any other negative stores NULL. */
#define LIMIT_VALUE(n) "CASE WHEN $" #n "::bigint < 0 THEN NULL ELSE $" #n "::bigint END"
#define LIMIT_KEEP(col, n)                                                                         \
    col " = CASE WHEN $" #n "::bigint = -2 THEN account_throttle." col " ELSE excluded." col " EN" \
        "D"

const struct pg_sql pg_throttle_sql[] =
    {
        {PG_THROTTLE_GET, "SELECT " THROTTLE_COLUMNS
                          " FROM account_throttle WHERE lower(account) = lower($1::text)"},
        {PG_THROTTLE_BUCKET_EACH, "SELECT width, start, msgs, rcpts, minutes FROM throttle_buckets "
                                  "WHERE lower(account) = lower($1::text) "
                                  "AND ($2::bigint = 0 OR width = $2::bigint) "
                                  "AND start >= $3 AND start < $4 ORDER BY width, start"},
        {PG_THROTTLE_BUCKET_ADD,
         "INSERT INTO throttle_buckets (account, width, start, msgs, rcpts, minutes) "
         "VALUES ($1, $2, $3, $4, $5, LEAST($6::bigint, 60)) "
         "ON CONFLICT ((lower(account)), width, start) DO UPDATE "
         "SET msgs = throttle_buckets.msgs + excluded.msgs, "
         "rcpts = throttle_buckets.rcpts + excluded.rcpts, "
         "minutes = LEAST(throttle_buckets.minutes + excluded.minutes, 60)"},
        /* The first reason stays: a throttled account's later messages do not rewrite it. */
        {PG_THROTTLE_MARK, "INSERT INTO account_throttle (account, throttled, reason) "
                           "VALUES ($1, $2, $3) ON CONFLICT ((lower(account))) DO UPDATE "
                           "SET throttled = excluded.throttled, reason = excluded.reason "
                           "WHERE account_throttle.throttled IS NULL"},
        {PG_THROTTLE_CLEAR, "UPDATE account_throttle SET throttled = NULL, reason = '', "
                            "reset_at = $2 WHERE lower(account) = lower($1::text) "
                            "AND throttled IS NOT NULL"},
        {PG_THROTTLE_SET_LIMITS,
         "INSERT INTO account_throttle (account, msgs_minute, rcpts_minute, msgs_hour, rcpts_hour, "
         "msgs_day, rcpts_day) VALUES ($1, " LIMIT_VALUE(2) ", " LIMIT_VALUE(3) ", " LIMIT_VALUE(4) ", " LIMIT_VALUE(5) ", " LIMIT_VALUE(6) ", " LIMIT_VALUE(
             7) ") "
                "ON CONFLICT ((lower(account))) DO UPDATE SET " LIMIT_KEEP(
                    "msgs_minute",
                    2) ", " LIMIT_KEEP("rcpts_minute",
                                       3) ", " LIMIT_KEEP("msgs_hour",
                                                          4) ", " LIMIT_KEEP("rcpts_hour",
                                                                             5) ", " LIMIT_KEEP("ms"
                                                                                                "gs"
                                                                                                "_d"
                                                                                                "a"
                                                                                                "y",
                                                                                                6) ", " LIMIT_KEEP("rcpts_day",
                                                                                                                   7)},
        {PG_THROTTLE_EACH, "SELECT " THROTTLE_COLUMNS ", account FROM account_throttle "
                           "WHERE throttled IS NOT NULL ORDER BY throttled, account COLLATE \"C\""},
        {PG_THROTTLE_EXPIRE_FINE,
         "DELETE FROM throttle_buckets WHERE (lower(account), width, start) IN "
         "(SELECT lower(account), width, start FROM throttle_buckets "
         "WHERE width IN (5, 60) AND start < $1 ORDER BY width, start LIMIT $2)"},
        {PG_THROTTLE_EXPIRE_HOURLY,
         "DELETE FROM throttle_buckets WHERE (lower(account), width, start) IN "
         "(SELECT lower(account), width, start FROM throttle_buckets "
         "WHERE width = 3600 AND start < $1 ORDER BY start LIMIT $2)"},
};
const size_t pg_throttle_sql_count = sizeof pg_throttle_sql / sizeof pg_throttle_sql[0];

static void throttle_columns(const PGresult *res, int row, struct store_throttle_state *st)
{
    const char *reason = pg_text(res, row, 1);

    st->throttled = pg_int(res, row, 0);
    str_copy(st->reason, sizeof st->reason, reason ? reason : "");
    st->reset_at = pg_int(res, row, 2);
    for (int i = 0; i < STORE_THROTTLE_LIMITS; i++)
        st->limits[i] =
            pg_is_null(res, row, 3 + i) ? STORE_THROTTLE_DEFAULT : pg_int(res, row, 3 + i);
}

static void throttle_get_row(const PGresult *res, int row, const struct pg_visit *v)
{
    throttle_columns(res, row, v->arg);
}

enum store_status pg_throttle_get(struct store_conn *c, const char *account,
                                  struct store_throttle_state *st, struct store_error *err)
{
    struct pg_visit v = {.row = throttle_get_row, .arg = st};

    return pg_each(c, PG_THROTTLE_GET, PG_PARAMS(PG_TEXT(account)), &v, err);
}

struct bucket_visit {
    const char *account;
    void (*fn)(const struct store_throttle_bucket *b, void *arg);
    void *arg;
};

static void bucket_row(const PGresult *res, int row, const struct pg_visit *v)
{
    const struct bucket_visit *bv = v->arg;
    struct store_throttle_bucket b = {
        .account = bv->account,
        .width = pg_int(res, row, 0),
        .start = pg_int(res, row, 1),
        .msgs = pg_int(res, row, 2),
        .rcpts = pg_int(res, row, 3),
        .minutes = pg_int(res, row, 4),
    };
    bv->fn(&b, bv->arg);
}

enum store_status pg_throttle_bucket_each(struct store_conn *c, const char *account, int64_t width,
                                          int64_t since, int64_t before,
                                          void (*fn)(const struct store_throttle_bucket *b,
                                                     void *arg),
                                          void *arg, struct store_error *err)
{
    struct bucket_visit bv = {account, fn, arg};
    struct pg_visit v = {.row = bucket_row, .arg = &bv};

    return pg_each(c, PG_THROTTLE_BUCKET_EACH,
                   PG_PARAMS(PG_TEXT(account), PG_INT(width), PG_INT(since), PG_INT(before)), &v,
                   err);
}

enum store_status pg_throttle_bucket_add(struct store_conn *c,
                                         const struct store_throttle_bucket *b,
                                         struct store_error *err)
{
    return pg_run(c, PG_THROTTLE_BUCKET_ADD,
                  PG_PARAMS(PG_TEXT(b->account), PG_INT(b->width), PG_INT(b->start),
                            PG_INT(b->msgs), PG_INT(b->rcpts), PG_INT(b->minutes)),
                  NULL, err);
}

enum store_status pg_throttle_mark(struct store_conn *c, const char *account, int64_t since,
                                   const char *reason, bool *marked, struct store_error *err)
{
    int64_t changes = 0;
    enum store_status status =
        pg_run(c, PG_THROTTLE_MARK,
               PG_PARAMS(PG_TEXT(account), PG_INT(since), PG_TEXT_OR_EMPTY(reason)), &changes, err);

    if (status == STORE_OK && marked != NULL)
        *marked = changes > 0;
    return status;
}

enum store_status pg_throttle_clear(struct store_conn *c, const char *account, int64_t now,
                                    struct store_error *err)
{
    return pg_change(c, PG_THROTTLE_CLEAR, PG_PARAMS(PG_TEXT(account), PG_INT(now)), err);
}

static struct pg_param limit_param(int64_t limit)
{
    return PG_INT(limit < STORE_THROTTLE_KEEP ? -1 : limit);
}

enum store_status pg_throttle_set_limits(struct store_conn *c, const char *account,
                                         const int64_t limits[STORE_THROTTLE_LIMITS],
                                         struct store_error *err)
{
    return pg_run(c, PG_THROTTLE_SET_LIMITS,
                  PG_PARAMS(PG_TEXT(account), limit_param(limits[STORE_THROTTLE_MSGS_MINUTE]),
                            limit_param(limits[STORE_THROTTLE_RCPTS_MINUTE]),
                            limit_param(limits[STORE_THROTTLE_MSGS_HOUR]),
                            limit_param(limits[STORE_THROTTLE_RCPTS_HOUR]),
                            limit_param(limits[STORE_THROTTLE_MSGS_DAY]),
                            limit_param(limits[STORE_THROTTLE_RCPTS_DAY])),
                  NULL, err);
}

static void throttle_each_row(const PGresult *res, int row, const struct pg_visit *v)
{
    struct store_throttle_state st;

    throttle_columns(res, row, &st);
    st.account = pg_text(res, row, 9);
    v->fn.throttle(&st, v->arg);
}

enum store_status pg_throttle_each(struct store_conn *c,
                                   void (*fn)(const struct store_throttle_state *st, void *arg),
                                   void *arg, struct store_error *err)
{
    struct pg_visit v = {.row = throttle_each_row, .fn.throttle = fn, .arg = arg};

    return pg_each(c, PG_THROTTLE_EACH, NULL, 0, &v, err);
}

enum store_status pg_throttle_expire(struct store_conn *c, int64_t fine_before,
                                     int64_t hourly_before, size_t *left, struct store_error *err)
{
    enum store_status status =
        pg_bounded_delete(c, PG_THROTTLE_EXPIRE_FINE, fine_before, left, err);

    if (status == STORE_OK)
        status = pg_bounded_delete(c, PG_THROTTLE_EXPIRE_HOURLY, hourly_before, left, err);
    return status;
}
