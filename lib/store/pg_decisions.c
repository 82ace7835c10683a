/*
 * store/pg_decisions: the decision log in PostgreSQL (schema/postgresql/001_init.sql), a table
 * partitioned by day.  The writer's batches are one prepared statement each, whatever their size:
 * the rows go as one array a column (unnest), so the server parses and plans nothing per batch.
 */
#include "pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

/*
 * $1 the key, $2 the reference, $3 the address, $4 the domain, $5 the address in lower case for
 * the header From (migration 017), $6 and $7 the period, $8 the limit.  One branch a column, each
 * the exact expression of its index (the client IP, the addresses, the domains and the header
 * From with the time and id after them, migration 018), so that a branch takes only its newest
 * $8 rows from the start of its index in each day's partition: the newest $8 of all the branches
 * are among them.  A row two branches find (a sender who is also the header From) is kept once.
 *
 * A single WHERE of ORs (this statement before) can use no index for its order: the planner
 * walked each partition's (time, id) index backwards, testing every row, until it had $8 rows of
 * the key, tens of thousands of rows for a sender of one decision in 500.  Prepared: planning
 * nine branches over a month of partitions costs tens of milliseconds, while the generic plan the
 * server keeps after a few calls is the same plan for every key (each branch an index read
 * bounded by $8; a branch whose parameter is empty is skipped by its one-time filter).
 */
#define SEARCH_BRANCH                                                                              \
    "(SELECT id, time, queue_id, ref, client_ip, client_name, helo, sender, recipient, account, "  \
    "check_name, action, reply, detail, host FROM decisions WHERE "
#define SEARCH_PERIOD " AND time >= $6 AND time < $7)"
#define SEARCH_NEWEST " AND time >= $6 AND time < $7 ORDER BY time DESC, id DESC LIMIT $8)"
/* The queue id's and the reference's branches (one message's rows, a few) take every row from
 * their plain index: ordered and limited, a branch whose index lacks the time may walk the time
 * index instead. */
#define DECISION_SEARCH_SQL                                                                        \
    "SELECT DISTINCT ON (time, id) time, queue_id, ref, client_ip, client_name, helo, sender, "    \
    "recipient, account, check_name, action, reply, detail, host FROM (" SEARCH_BRANCH             \
    "queue_id = $1::text" SEARCH_PERIOD " UNION ALL " SEARCH_BRANCH "ref = $2::text" SEARCH_PERIOD \
    " UNION ALL " SEARCH_BRANCH "client_ip = $1::text" SEARCH_NEWEST " UNION ALL " SEARCH_BRANCH   \
    "lower(sender) = lower($3::text)" SEARCH_NEWEST " UNION ALL " SEARCH_BRANCH                    \
    "lower(recipient) = lower($3::text)" SEARCH_NEWEST " UNION ALL " SEARCH_BRANCH                 \
    "lower(account) = lower($3::text)" SEARCH_NEWEST " UNION ALL " SEARCH_BRANCH                   \
    "$4::text <> '' AND lower(substr(sender, strpos(sender, '@') + 1)) = $4::text" SEARCH_NEWEST   \
    " UNION ALL " SEARCH_BRANCH "$4::text <> '' AND lower(substr(recipient, strpos(recipient, "    \
    "'@') + 1)) = $4::text" SEARCH_NEWEST " UNION ALL " SEARCH_BRANCH                              \
    "$5::text <> '' AND header_from = $5::text" SEARCH_NEWEST                                      \
    ") found ORDER BY time DESC, id DESC LIMIT $8"

const struct pg_sql pg_decisions_sql[] = {
    {PG_DECISION_ADD, "INSERT INTO decisions (time, queue_id, ref, client_ip, client_name, helo, "
                      "sender, recipient, account, check_name, action, reply, detail, host, "
                      "header_from) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
                      "$13, $14, $15)"},
    /* Any number of rows, a column an array (array literals built by column_array()). */
    {PG_DECISION_ADD_MANY,
     "INSERT INTO decisions (time, queue_id, ref, client_ip, client_name, helo, sender, "
     "recipient, account, check_name, action, reply, detail, host, header_from) SELECT * FROM "
     "unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
     "$7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], "
     "$14::text[], $15::text[])"},
    /* $1 the key as given, $2 without surrounding <> (for the addresses, compared without ASCII
     * case through lower(), which the indexes of 001 and 005 serve). */
    {PG_DECISION_FIND, "SELECT time, queue_id, ref, client_ip, client_name, helo, sender, "
                       "recipient, account, check_name, action, reply, detail, host FROM decisions "
                       "WHERE queue_id = $1::text OR ref = $1::text OR client_ip = $1::text "
                       "OR lower(sender) = lower($2::text) OR lower(recipient) = lower($2::text) "
                       "OR lower(account) = lower($2::text) ORDER BY time, id LIMIT $3"},
    {PG_DECISION_SEARCH, DECISION_SEARCH_SQL},
    {PG_DECISION_TALLY, "SELECT check_name, action, COUNT(*) FROM decisions WHERE time >= $1 "
                        "GROUP BY check_name, action ORDER BY check_name, action"},
    /* Rows of the default partition only: the days' partitions are dropped whole. */
    {PG_DECISION_EXPIRE, "DELETE FROM decisions_other WHERE (time, id) IN (SELECT time, id FROM "
                         "decisions_other WHERE time < $1 ORDER BY time LIMIT $2)"},
};
const size_t pg_decisions_sql_count = sizeof pg_decisions_sql / sizeof pg_decisions_sql[0];

#define DECISION_COLUMNS 15
static void decision_params(const struct decision *d, struct pg_param *p)
{
    const struct pg_param params[DECISION_COLUMNS] = {
        PG_INT(d->time),       PG_TEXT(d->queue_id),    PG_TEXT(d->ref),
        PG_TEXT(d->client_ip), PG_TEXT(d->client_name), PG_TEXT(d->helo),
        PG_TEXT(d->sender),    PG_TEXT(d->recipient),   PG_TEXT(d->account),
        PG_TEXT(d->check),     PG_TEXT(d->action),      PG_TEXT(d->reply),
        PG_TEXT(d->detail),    PG_TEXT(d->host),        PG_TEXT(d->header_from),
    };
    memcpy(p, params, sizeof params);
}

struct text_buf {
    char *text;
    size_t len, cap;
};

static void buf_put(struct text_buf *b, const char *bytes, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap)
            b->cap = b->cap ? b->cap * 2 : 4096;
        b->text = xrealloc(b->text, b->cap);
    }
    memcpy(b->text + b->len, bytes, n);
    b->len += n;
    b->text[b->len] = '\0';
}

/*
 * Column col of the n rows as an array literal: {1,2} for the time, {"a",NULL} for a text, each
 * text in double quotes with its " and \ escaped, so that the server reads every byte back as
 * sent (the literal is a bound parameter, never SQL).
 */
static char *column_array(const struct decision *const *rows, size_t n, size_t col)
{
    struct text_buf b = {0};
    struct pg_param p[DECISION_COLUMNS];

    buf_put(&b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        decision_params(rows[i], p);
        if (i > 0)
            buf_put(&b, ",", 1);
        if (p[col].is_int) {
            char number[24];
            int len = snprintf(number, sizeof number, "%" PRId64, p[col].value);
            buf_put(&b, number, (size_t)len);
        } else if (p[col].text == NULL) {
            buf_put(&b, "NULL", 4);
        } else {
            buf_put(&b, "\"", 1);
            for (const char *t = p[col].text; *t != '\0';) {
                size_t span = strcspn(t, "\"\\");
                buf_put(&b, t, span);
                t += span;
                if (*t != '\0') {
                    buf_put(&b, "\\", 1);
                    buf_put(&b, t++, 1);
                }
            }
            buf_put(&b, "\"", 1);
        }
    }
    buf_put(&b, "}", 1);
    return b.text;
}

enum store_status pg_decision_insert(struct store_conn *c, const struct decision *const *rows,
                                     size_t n, struct store_error *err)
{
    struct pg_param p[DECISION_COLUMNS];
    char *arrays[DECISION_COLUMNS];
    enum store_status status;

    if (n == 1) {
        decision_params(rows[0], p);
        return pg_run(c, PG_DECISION_ADD, p, DECISION_COLUMNS, NULL, err);
    }
    for (size_t col = 0; col < DECISION_COLUMNS; col++) {
        arrays[col] = column_array(rows, n, col);
        p[col] = PG_TEXT(arrays[col]);
    }
    status = pg_run(c, PG_DECISION_ADD_MANY, p, DECISION_COLUMNS, NULL, err);
    for (size_t col = 0; col < DECISION_COLUMNS; col++)
        free(arrays[col]);
    return status;
}

/*
 * The writer's batch: one statement, which is its own transaction (all rows or none), one round
 * trip.  However many rows it has (as many as wait, up to the queue's size), it costs the server
 * one execution of a prepared statement: the multi-row INSERT it replaced was a new statement of
 * up to 7,000 parameters for the server to parse and plan every batch, and kept the writer behind
 * a milter taking 5,000 messages a second on a loaded 2-CPU machine (the queue filled).
 */
enum store_status pg_decision_batch(struct store_conn *c, const struct decision *const *rows,
                                    size_t n, struct store_error *err)
{
    return pg_decision_insert(c, rows, n, err);
}

static void decision_row(const PGresult *res, int row, const struct pg_visit *v)
{
    struct decision d = {
        .time = pg_int(res, row, 0),
        .queue_id = pg_text(res, row, 1),
        .ref = pg_text(res, row, 2),
        .client_ip = pg_text(res, row, 3),
        .client_name = pg_text(res, row, 4),
        .helo = pg_text(res, row, 5),
        .sender = pg_text(res, row, 6),
        .recipient = pg_text(res, row, 7),
        .account = pg_text(res, row, 8),
        .check = pg_text(res, row, 9),
        .action = pg_text(res, row, 10),
        .reply = pg_text(res, row, 11),
        .detail = pg_text(res, row, 12),
        .host = pg_text(res, row, 13),
    };
    v->fn.decision(&d, v->arg);
}

enum store_status pg_decision_find(struct store_conn *c, const char *key, const char *address,
                                   size_t limit, void (*fn)(const struct decision *d, void *arg),
                                   void *arg, struct store_error *err)
{
    struct pg_visit v = {.row = decision_row, .fn.decision = fn, .arg = arg};

    return pg_each(c, PG_DECISION_FIND,
                   PG_PARAMS(PG_TEXT(key), PG_TEXT(address),
                             PG_INT(limit > INT64_MAX ? INT64_MAX : (int64_t)limit)),
                   &v, err);
}

enum store_status pg_decision_search(struct store_conn *c, const struct store_decision_match *m,
                                     void (*fn)(const struct decision *d, void *arg), void *arg,
                                     struct store_error *err)
{
    struct pg_visit v = {.row = decision_row, .fn.decision = fn, .arg = arg};

    return pg_each(c, PG_DECISION_SEARCH,
                   PG_PARAMS(PG_TEXT(m->key), PG_TEXT(m->ref), PG_TEXT(m->address),
                             PG_TEXT(m->domain), PG_TEXT(m->header_from), PG_INT(m->since),
                             PG_INT(m->until), PG_INT(m->limit)),
                   &v, err);
}

static void tally_row(const PGresult *res, int row, const struct pg_visit *v)
{
    v->fn.tally(pg_text(res, row, 0), pg_text(res, row, 1), pg_int(res, row, 2), v->arg);
}

enum store_status pg_decision_tally(struct store_conn *c, int64_t since,
                                    void (*fn)(const char *check, const char *action, int64_t count,
                                               void *arg),
                                    void *arg, struct store_error *err)
{
    struct pg_visit v = {.row = tally_row, .fn.tally = fn, .arg = arg};

    return pg_each(c, PG_DECISION_TALLY, PG_PARAMS(PG_INT(since)), &v, err);
}

/*
 * The day partitions whose whole day is older than $1 (their upper bound, read from the catalog,
 * at or before it), as (schema, name).  The default partition, decisions_other, has no bound and
 * is never one of them.
 */
#define DUE_PARTITIONS(before)                                                                     \
    "SELECT n.nspname, c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "        \
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE i.inhparent = 'decisions'::regclass "     \
    "AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), "                                       \
    "'TO \\(''?(-?[0-9]+)''?\\)'))[1]::bigint <= " before " ORDER BY c.relname"

/*
 * Drops them, in a transaction of its own.  A table's name cannot be a bound parameter: the block
 * reads the bound from the setting made just before (a bound parameter) and takes the names from
 * the catalog, quoted by format()'s %I; no text from the client becomes SQL.  IF EXISTS: another
 * host may have dropped one since.
 */
#define EXPIRE_BEFORE "current_setting('milter_ingress.expire_before')::bigint"
static const char drop_due_partitions[] = "DO $$DECLARE p record; BEGIN FOR p IN " DUE_PARTITIONS(
    EXPIRE_BEFORE) " LOOP EXECUTE "
                   "format('DROP TABLE IF EXISTS %I.%I', p.nspname, p.relname); END LOOP; END$$";

static enum store_status drop_partitions(struct store_conn *c, int64_t before, const char *names,
                                         struct store_error *err)
{
    const struct store_backend *be = &store_backend_postgresql;
    char text[32];
    enum store_status status = be->begin(c, STORE_TXN_READ, err);

    snprintf(text, sizeof text, "%" PRId64, before);
    if (status == STORE_OK)
        status = pg_exec_params(c, "SELECT set_config('milter_ingress.expire_before', $1, true)",
                                PG_PARAMS(PG_TEXT(text)), NULL, err);
    if (status == STORE_OK)
        status = pg_exec_params(c, drop_due_partitions, NULL, 0, NULL, err);
    if (status == STORE_OK)
        status = be->commit(c, err);
    if (status != STORE_OK)
        be->rollback(c);
    else
        log_msg(LOG_INFO, "decision log expiry: dropped the partitions of whole days before %s: %s",
                time_format_utc(text, sizeof text, before), names);
    return status;
}

/*
 * Expiry on PostgreSQL drops whole days: a day's partition goes when its last second is older
 * than before (so a row is kept up to a day longer than asked), one DROP TABLE however many rows
 * it holds, with no dead rows left for vacuum.  Only the rows of the default partition (days that
 * had no partition when they were written) are deleted row by row, within *left.  The coming
 * days' partitions are made here too, for a database whose milters run no writer.
 */
enum store_status pg_decision_expire(struct store_conn *c, int64_t before, size_t *left,
                                     struct store_error *err)
{
    PGresult *res = NULL;
    enum store_status status;

    pg_decision_days_ahead(c);
    status = pg_exec_params(c, DUE_PARTITIONS("$1"), PG_PARAMS(PG_INT(before)), &res, err);
    if (status == STORE_OK && PQntuples(res) > 0) {
        char names[STORE_ERROR_MAX] = "";
        size_t len = 0;
        for (int i = 0; i < PQntuples(res) && len < sizeof names; i++) {
            int w = snprintf(names + len, sizeof names - len, "%s%s", i ? " " : "",
                             PQgetvalue(res, i, 1));
            len += w > 0 ? (size_t)w : 0;
        }
        status = drop_partitions(c, before, names, err);
    }
    PQclear(res);
    if (status == STORE_OK)
        status = pg_bounded_delete(c, PG_DECISION_EXPIRE, before, left, err);
    return status;
}

/*
 * The partitions of today and of the PG_DAYS_AHEAD days after it, made ahead of their rows (a row
 * of a day without one lands in decisions_other, which expiry can only empty row by row): once a
 * day per open database, by whichever comes first of the writer's thread (its own connection)
 * and the expiry (a connection of the pool).
 */
void pg_decision_days_ahead(struct store_conn *c)
{
    struct store_db *db = c->db;
    int64_t today = (int64_t)time(NULL) / 86400 * 86400;
    struct store_error why;
    enum store_status status = STORE_OK;
    bool done;

    pthread_mutex_lock(&db->lock);
    done = db->partition_day == today;
    pthread_mutex_unlock(&db->lock);
    if (done)
        return;
    for (int64_t day = today; status == STORE_OK && day <= today + PG_DAYS_AHEAD * 86400;
         day += 86400)
        status =
            pg_exec_params(c, "SELECT decisions_add_day($1)", PG_PARAMS(PG_INT(day)), NULL, &why);
    if (status != STORE_OK) {
        log_msg(LOG_WARNING,
                "decision log: cannot add the coming days' partitions (tried again): %s", why.text);
        return;
    }
    pthread_mutex_lock(&db->lock);
    db->partition_day = today;
    pthread_mutex_unlock(&db->lock);
}

void pg_writer_after_batches(struct store_db *db)
{
    pg_decision_days_ahead(&db->writer);
}
