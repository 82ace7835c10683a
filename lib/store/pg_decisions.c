/*
 * store/pg_decisions: the decision log in PostgreSQL (schema/postgresql/001_init.sql), a table
 * partitioned by day.  The writer's batches are multi-row INSERTs: one statement, one round trip
 * to the server, for a batch.
 */
#include "pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

/* $1 the key, $2 the reference, $3 the address, $4 the domain, $5 the address in lower case for
 * the header From (migration 016), $6 and $7 the period, $8 the limit.  Run unprepared
 * (pg_decision_search): planned for each call with its values, the branches whose parameter is
 * empty drop out and each partition answers with a BitmapOr of its indexes.  A prepared statement
 * turns to a generic plan after a few calls, which keeps every branch and may read every row. */
#define DECISION_SEARCH_SQL                                                                        \
    "SELECT time, queue_id, ref, client_ip, client_name, helo, sender, recipient, account, "       \
    "check_name, action, reply, detail, host FROM decisions "                                      \
    "WHERE time >= $6 AND time < $7 AND (queue_id = $1::text OR ref = $2::text "                   \
    "OR client_ip = $1::text OR lower(sender) = lower($3::text) "                                  \
    "OR lower(recipient) = lower($3::text) OR lower(account) = lower($3::text) "                   \
    "OR ($4::text <> '' AND (lower(substr(sender, strpos(sender, '@') + 1)) = $4::text "           \
    "OR lower(substr(recipient, strpos(recipient, '@') + 1)) = $4::text)) "                        \
    "OR ($5::text <> '' AND header_from = $5::text)) "                                             \
    "ORDER BY time DESC, id DESC LIMIT $8"

const struct pg_sql pg_decisions_sql[] = {
    {PG_DECISION_ADD, "INSERT INTO decisions (time, queue_id, ref, client_ip, client_name, helo, "
                      "sender, recipient, account, check_name, action, reply, detail, host, "
                      "header_from) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
                      "$13, $14, $15)"},
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
#define DECISION_ROWS_PER_INSERT 500 /* 7,500 parameters; libpq allows 65,535 */

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

/* "INSERT ... VALUES ($1, ..., $13), ($14, ...)" for n rows: placeholders only, no data. */
static char *multi_row_insert(size_t n)
{
    static const char head[] = "INSERT INTO decisions (time, queue_id, ref, client_ip, "
                               "client_name, helo, sender, recipient, account, check_name, "
                               "action, reply, detail, host, header_from) VALUES ";
    size_t cap = sizeof head + n * DECISION_COLUMNS * 9 + n * 4, len = sizeof head - 1;
    char *sql = xmalloc(cap);

    memcpy(sql, head, len);
    for (size_t r = 0; r < n; r++)
        for (size_t col = 0; col < DECISION_COLUMNS; col++)
            len += (size_t)snprintf(
                sql + len, cap - len, "%s$%zu%s", col == 0 ? (r ? ", (" : "(") : ", ",
                r * DECISION_COLUMNS + col + 1, col == DECISION_COLUMNS - 1 ? ")" : "");
    return sql;
}

static enum store_status insert_rows(struct store_conn *c, const struct decision *const *rows,
                                     size_t n, struct store_error *err)
{
    struct pg_param *params = xcalloc(n * DECISION_COLUMNS, sizeof *params);
    char *sql = multi_row_insert(n);
    enum store_status status;

    for (size_t i = 0; i < n; i++)
        decision_params(rows[i], &params[i * DECISION_COLUMNS]);
    status = pg_exec_params(c, sql, params, n * DECISION_COLUMNS, NULL, err);
    free(sql);
    free(params);
    return status;
}

enum store_status pg_decision_insert(struct store_conn *c, const struct decision *const *rows,
                                     size_t n, struct store_error *err)
{
    enum store_status status = STORE_OK;

    if (n == 1) {
        struct pg_param p[DECISION_COLUMNS];
        decision_params(rows[0], p);
        return pg_run(c, PG_DECISION_ADD, p, DECISION_COLUMNS, NULL, err);
    }
    for (size_t i = 0; status == STORE_OK && i < n; i += DECISION_ROWS_PER_INSERT)
        status = insert_rows(
            c, rows + i, n - i < DECISION_ROWS_PER_INSERT ? n - i : DECISION_ROWS_PER_INSERT, err);
    return status;
}

/*
 * The writer's batch in one round trip (pipelined): BEGIN, the multi-row INSERTs, COMMIT.  Three
 * round trips a batch kept the writer behind a busy milter on a loaded machine, where each one
 * waits for the server's process to be scheduled: the queue filled at 4,000 decisions a second.
 */
enum store_status pg_decision_batch(struct store_conn *c, const struct decision *const *rows,
                                    size_t n, struct store_error *err)
{
    size_t inserts = (n + DECISION_ROWS_PER_INSERT - 1) / DECISION_ROWS_PER_INSERT;
    struct pg_step *steps = xcalloc(inserts + 2, sizeof *steps);
    struct pg_param *params = xcalloc(n * DECISION_COLUMNS, sizeof *params);
    char **sql = xcalloc(inserts, sizeof *sql);
    PGresult **res = xcalloc(inserts + 2, sizeof *res);
    size_t nsteps = 0;
    enum store_status status;

    steps[nsteps++] = PG_STEP_SQL("BEGIN");
    for (size_t i = 0; i < n; i++)
        decision_params(rows[i], &params[i * DECISION_COLUMNS]);
    for (size_t k = 0; k < inserts; k++) {
        size_t first = k * DECISION_ROWS_PER_INSERT;
        size_t count = n - first < DECISION_ROWS_PER_INSERT ? n - first : DECISION_ROWS_PER_INSERT;
        sql[k] = multi_row_insert(count);
        steps[nsteps++] = (struct pg_step){.id = -1,
                                           .sql = sql[k],
                                           .params = &params[first * DECISION_COLUMNS],
                                           .n = count * DECISION_COLUMNS};
    }
    steps[nsteps++] = PG_STEP_SQL("COMMIT");
    status = pg_pipeline(c, steps, nsteps, res, err);
    c->in_txn = c->conn != NULL;
    /* COMMIT of a transaction that failed earlier answers ROLLBACK, without an error. */
    if (status == STORE_OK && strcmp(PQcmdStatus(res[nsteps - 1]), "COMMIT") != 0)
        status = store_error_set(err, STORE_ERROR, "database %s: the transaction was rolled back",
                                 c->db->shown);
    if (status == STORE_OK)
        c->in_txn = false;
    else
        store_backend_postgresql.rollback(c);
    for (size_t i = 0; i < nsteps; i++)
        PQclear(res[i]);
    for (size_t k = 0; k < inserts; k++)
        free(sql[k]);
    free(res);
    free(sql);
    free(params);
    free(steps);
    return status;
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
    PGresult *res = NULL;
    enum store_status status = pg_exec_params(
        c, DECISION_SEARCH_SQL,
        PG_PARAMS(PG_TEXT(m->key), PG_TEXT(m->ref), PG_TEXT(m->address), PG_TEXT(m->domain),
                  PG_TEXT(m->header_from), PG_INT(m->since), PG_INT(m->until), PG_INT(m->limit)),
        &res, err);

    if (status == STORE_OK) {
        int rows = PQntuples(res);
        for (int i = 0; i < rows; i++)
            v.row(res, i, &v);
        status = rows > 0 ? STORE_OK : STORE_NOTFOUND;
    }
    PQclear(res);
    return status;
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
