/*
 * store/pg: the PostgreSQL backend's connections, statements, transactions and migrations, and its
 * table of functions (lib/store/backend.h).  The SQL of each domain is in pg_*.c, beside the
 * SQLite backend's sqlite_*.c.  How connections are pooled and bounded in time: lib/store/pg.h.
 */
#include "pg.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "migrations.h"
#include "util.h"

/* Advisory lock keys (per database): the migrations, the write lock of STORE_TXN_WRITE, and the
 * fleet's maintenance turn (store_maintenance_lock). */
#define PG_LOCK_SCHEMA "7306916016250863617" /* "milter" 0x01 */
#define PG_LOCK_WRITE "7306916016250863618"
/* 7306916016250863619: decisions_add_day() (schema/postgresql/001_init.sql) */
#define PG_LOCK_MAINTENANCE "7306916016250863620"

/* The oldest server the schema runs on: identity columns, default partitions, EXECUTE FUNCTION. */
#define PG_MIN_SERVER_VERSION 110000

/*
 * The most the clocks of this host and of the server may differ.  Every time in the store is the
 * writing host's clock (a greylist triplet's first sighting, a throttle window, a decision), and
 * the hosts of a fleet read each other's: a skew of S seconds makes a triplet first seen on one
 * host pass S seconds early or late on another, and moves throttle windows.  Hosts that keep
 * their time with NTP differ by milliseconds; 30 s is far past that, and well within a minute
 * window of the throttle.
 */
#define PG_MAX_CLOCK_SKEW_S 30

/* While the server is down, how long after a thread's call failed its next call fails at once
 * rather than try the server again (may_try()). */
#define PG_RETRY_MS 100

/* When this thread's last call failed for want of the server (monotonic ms). */
static _Thread_local int64_t thread_failed_at = INT64_MIN / 2;

/* ---- time ---- */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How long the client waits for the server: the server's own timeouts, and a second more, so that
 * the server's answer (a timeout error, which keeps the connection) normally comes first. */
static int64_t deadline_after(const struct store_db *db)
{
    return now_ms() + (db->busy_timeout_ms > 0 ? db->busy_timeout_ms : 0) + 1000;
}

/* The deadline of a wait on c: deadline_after(), or the end of the call's own bound when it tries
 * a server that is down (may_try()). */
static int64_t conn_deadline(const struct store_conn *c)
{
    int64_t deadline =
        c->migrating ? now_ms() + PG_MIGRATION_TIMEOUT_MS + 1000 : deadline_after(c->db);

    return c->cap_ms > 0 && c->cap_ms < deadline ? c->cap_ms : deadline;
}

/* Waits until the socket is ready for events or the deadline passes; false on the deadline. */
static bool wait_socket(PGconn *conn, short events, int64_t deadline)
{
    struct pollfd p = {.fd = PQsocket(conn), .events = events};

    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0 || p.fd < 0)
            return false;
        int rc = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (rc > 0)
            return true;
        if (rc < 0 && errno != EINTR)
            return false;
    }
}

/* ---- the server's state, logged when it changes ---- */

/* libpq's messages end in a newline, and may span lines: one line for ours. */
static void copy_message(char *out, size_t outlen, const char *msg)
{
    str_copy(out, outlen, msg != NULL && *msg ? msg : "no message");
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = p[1] ? ' ' : '\0';
}

/*
 * The server went (one line), or came back (one line).  A failure of a connection begun before the
 * server last came back (c->epoch older than the database's) is old news, not a new outage: when
 * a server restarts, the pool's connections of the old one find out one by one, some after a new
 * connection already worked, and attempts begun while it was starting up answer later.
 */
static void note_down(struct store_conn *c, const char *why)
{
    struct store_db *db = c->db;
    bool news;

    pthread_mutex_lock(&db->lock);
    news = !db->down && c->epoch == db->epoch;
    if (c->epoch == db->epoch) {
        db->down = true;
        if (news)
            snprintf(db->down_why, sizeof db->down_why, "database %s: %s", db->shown, why);
    }
    /* At the open, the caller reports the error. */
    news = news && db->opened;
    pthread_mutex_unlock(&db->lock);
    if (news)
        log_msg(LOG_ERR, "database %s: PostgreSQL cannot be used: %s (calls fail until it is back)",
                db->shown, why);
}

static void note_up(struct store_conn *c)
{
    struct store_db *db = c->db;
    bool was;

    pthread_mutex_lock(&db->lock);
    was = db->down;
    if (was)
        db->epoch++;
    db->down = false;
    c->epoch = db->epoch; /* the connection that found the server back is of the new epoch */
    pthread_mutex_unlock(&db->lock);
    if (was)
        log_msg(LOG_INFO, "database %s: PostgreSQL reachable again", db->shown);
}

/* The call's first failure: its later statements fail at once with the same reason. */
static enum store_status broke(struct store_conn *c, const char *msg, struct store_error *err)
{
    struct store_error why;

    c->broke = true;
    store_error_set(&why, STORE_BUSY, "database %s: %s", c->db->shown, msg);
    str_copy(c->broke_why, sizeof c->broke_why, why.text);
    return store_error_set(err, STORE_BUSY, "%s", why.text);
}

static void drop_connection(struct store_conn *c)
{
    PQfinish(c->conn);
    c->conn = NULL;
    memset(c->prepared, 0, sizeof c->prepared);
}

/* ---- connecting ---- */

/*
 * Our settings come before the database value in the keyword list, so that what the value says
 * (its own connect_timeout, keepalives, application_name) wins: libpq lets later keywords
 * override earlier ones, and expands the dbname keyword into the value's own settings.
 * tcp_user_timeout and the keepalives find a server that vanished (a dead host, a lost network)
 * while a statement waits; the poll() deadline finds one that is there and never answers.
 */
static PGconn *start_connection(struct store_db *db)
{
    char user_timeout[32];
    int64_t ms = db->busy_timeout_ms + 1000;

    snprintf(user_timeout, sizeof user_timeout, "%" PRId64, ms);
    const char *const keys[] = {"keepalives",
                                "keepalives_idle",
                                "keepalives_interval",
                                "keepalives_count",
                                "tcp_user_timeout",
                                "application_name",
                                "dbname",
                                NULL};
    const char *const values[] = {"1",          "5", "2", "3", user_timeout, "milter-ingress",
                                  db->conninfo, NULL};
    return PQconnectStartParams(keys, values, 1);
}

/*
 * The server's clock against ours, read at each new connection: beyond PG_MAX_CLOCK_SKEW_S, the
 * store's open fails (exit 2 at start-up, naming both clocks); a connection made later, while the
 * milter runs, logs it once and is used: a greylist delay off by the skew is better than mail
 * refused for a clock.  STORE_ERROR only at the open.
 */
static enum store_status check_clock(struct store_conn *c, double server_s, struct store_error *err)
{
    struct store_db *db = c->db;
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    double skew = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - server_s;
    bool skewed = skew > PG_MAX_CLOCK_SKEW_S || skew < -PG_MAX_CLOCK_SKEW_S;
    char why[STORE_ERROR_MAX];

    snprintf(why, sizeof why,
             "the clock of this host is %.0f s %s the PostgreSQL server's (more than %d s: every "
             "host of a shared database must keep its time with NTP, or greylist delays and "
             "throttle windows are off by the difference)",
             skew < 0 ? -skew : skew, skew < 0 ? "behind" : "ahead of", PG_MAX_CLOCK_SKEW_S);
    pthread_mutex_lock(&db->lock);
    bool opened = db->opened, log_it = skewed != db->skew_logged;
    db->skew_logged = skewed;
    pthread_mutex_unlock(&db->lock);
    if (!opened && skewed)
        return store_error_set(err, STORE_ERROR, "database %s: %s", db->shown, why);
    if (log_it && skewed)
        log_msg(LOG_WARNING, "database %s: %s", db->shown, why);
    else if (log_it)
        log_msg(LOG_INFO, "database %s: the clocks of this host and the server agree again",
                db->shown);
    return STORE_OK;
}

/* Sends the session's timeouts (a statement or a lock wait the server ends by itself; notices
 * such as "already exists, skipping" would go to stderr) and reads the server's clock. */
static enum store_status session_setup(struct store_conn *c, struct store_error *err)
{
    char ms[32];
    PGresult *res = NULL;
    enum store_status status;

    snprintf(ms, sizeof ms, "%" PRId64, c->db->busy_timeout_ms);
    status = pg_exec_params(c,
                            "SELECT set_config('statement_timeout', $1, false), "
                            "set_config('lock_timeout', $1, false), "
                            "set_config('client_min_messages', 'warning', false), "
                            "extract(epoch FROM clock_timestamp())::text",
                            PG_PARAMS(PG_TEXT(ms)), &res, err);
    if (status == STORE_OK && PQntuples(res) == 1)
        status = check_clock(c, strtod(PQgetvalue(res, 0, 3), NULL), err);
    PQclear(res);
    return status;
}

static enum store_status connect_fail(struct store_conn *c, PGconn *conn, enum store_status status,
                                      const char *why, struct store_error *err)
{
    char msg[STORE_ERROR_MAX];

    copy_message(msg, sizeof msg, why);
    PQfinish(conn);
    if (status != STORE_BUSY)
        return store_error_set(err, status, "database %s: %s", c->db->shown, msg);
    note_down(c, msg);
    return broke(c, msg, err);
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static enum store_status connect_conn(struct store_conn *c, struct store_error *err)
{
    struct store_db *db = c->db;
    int64_t deadline = conn_deadline(c);

    pthread_mutex_lock(&db->lock);
    c->epoch = db->epoch;
    pthread_mutex_unlock(&db->lock);
    PGconn *conn = start_connection(db);
    PostgresPollingStatusType poll_status = PGRES_POLLING_WRITING;

    if (conn == NULL)
        return store_error_set(err, STORE_ERROR, "database %s: out of memory", db->shown);
    if (PQstatus(conn) == CONNECTION_BAD)
        return connect_fail(c, conn, STORE_ERROR, PQerrorMessage(conn), err);
    while (poll_status != PGRES_POLLING_OK) {
        if (poll_status == PGRES_POLLING_FAILED)
            return connect_fail(c, conn, PQconnectionNeedsPassword(conn) ? STORE_ERROR : STORE_BUSY,
                                PQerrorMessage(conn), err);
        short events = poll_status == PGRES_POLLING_READING ? POLLIN : POLLOUT;
        if (!wait_socket(conn, events, deadline))
            return connect_fail(c, conn, STORE_BUSY,
                                "no answer from the server within the busy timeout", err);
        poll_status = PQconnectPoll(conn);
    }
    if (PQserverVersion(conn) < PG_MIN_SERVER_VERSION) {
        char why[128];
        snprintf(why, sizeof why,
                 "the server is PostgreSQL %d.%d, too old: milter-ingress needs 11 or later",
                 PQserverVersion(conn) / 10000, PQserverVersion(conn) / 100 % 100);
        return connect_fail(c, conn, STORE_ERROR, why, err);
    }
    /* What the server says outside an answer (a restart's "terminating connection" FATAL while
     * idle, a notice) is read with the next statement's error; libpq would print it on stderr. */
    PQsetNoticeProcessor(conn, ignore_notice, NULL);
    c->conn = conn;
    c->sessions++;
    memset(c->prepared, 0, sizeof c->prepared);
    enum store_status status = session_setup(c, err);
    if (status != STORE_OK) {
        drop_connection(c);
        return status == STORE_ERROR && !c->db->opened ? STORE_ERROR : STORE_BUSY;
    }
    note_up(c);
    return STORE_OK;
}

/*
 * While the server is down, one call at a time tries it, on a new connection.  A call that comes
 * meanwhile waits for that try and goes on when it found the server back; when it did not, the
 * call tries next, within what is left of its own bound (a try that failed at once, such as a
 * server still starting up, leaves it most of it).  A thread's call within PG_RETRY_MS of its own
 * call that failed fails at once.  So a server that never answers costs a call the bound once,
 * not once per connection of the pool, and a message whose calls follow one another (the lists,
 * the greylist) waits it once.  False when c may not use the server now (err says why).
 */
static bool may_try(struct store_conn *c, struct store_error *err)
{
    struct store_db *db = c->db;
    bool fail_now = false, start = false, waited = false;
    int64_t deadline = deadline_after(db);

    pthread_mutex_lock(&db->lock);
    while (db->down && db->probing && !c->probing && !fail_now) {
        struct timespec until = {.tv_sec = deadline / 1000,
                                 .tv_nsec = (long)(deadline % 1000) * 1000000L};
        waited = true;
        fail_now = pthread_cond_timedwait(&db->probed, &db->lock, &until) != 0 && db->probing;
    }
    if (db->down && !c->probing && !fail_now) {
        fail_now = waited ? now_ms() >= deadline : now_ms() - thread_failed_at < PG_RETRY_MS;
        start = !fail_now;
        if (start) {
            db->probing = c->probing = true;
            c->cap_ms = deadline;
        }
    }
    if (fail_now)
        store_error_set(err, STORE_BUSY, "%s", db->down_why);
    pthread_mutex_unlock(&db->lock);
    if (fail_now)
        thread_failed_at = now_ms();
    if (start && c->conn != NULL)
        drop_connection(c); /* a connection of before: the try is a new one */
    return !fail_now;
}

/* The end of a call: one that failed for want of the server, or tried it while it was down. */
static void tried(struct store_conn *c)
{
    struct store_db *db = c->db;

    if (c->broke)
        thread_failed_at = now_ms();
    if (!c->probing)
        return;
    c->cap_ms = 0;
    pthread_mutex_lock(&db->lock);
    db->probing = c->probing = false;
    pthread_cond_broadcast(&db->probed);
    pthread_mutex_unlock(&db->lock);
}

/* A connection for the next statement: made again when it broke, but never in the middle of a
 * transaction, whose earlier statements the server has forgotten with the old connection. */
static enum store_status ensure_connected(struct store_conn *c, struct store_error *err)
{
    if (!c->in_txn && !may_try(c, err)) {
        if (c->conn != NULL)
            drop_connection(c);
        return STORE_BUSY;
    }

    struct pollfd p = {.fd = c->conn != NULL ? PQsocket(c->conn) : -1, .events = POLLIN};

    /* An idle connection has nothing to read unless the server closed it (a restart's
     * "terminating connection" and end of file): read it, so that it is made again now rather
     * than found broken by the statement sent next. */
    if (p.fd >= 0 && !c->in_txn && poll(&p, 1, 0) > 0)
        (void)PQconsumeInput(c->conn);
    if (c->conn != NULL && PQstatus(c->conn) == CONNECTION_OK)
        return STORE_OK;
    if (c->conn != NULL)
        drop_connection(c);
    /* A call that waited its bound once (a statement without an answer, a connection that failed)
     * fails now rather than wait once more: the greylist's second try, after a read that came back
     * busy, would double the time the message waits. */
    if (c->broke)
        return store_error_set(err, STORE_BUSY, "%s", c->broke_why);
    if (c->in_txn)
        return store_error_set(
            err, STORE_BUSY, "database %s: the connection was lost in a transaction", c->db->shown);
    return connect_conn(c, err);
}

/* ---- statements ---- */

/* SQLSTATE classes that mean "could not tell": a lock, a timeout, a conflict, a server going. */
static bool busy_state(const char *state)
{
    static const char *const busy[] = {"40001", "40P01", "55P03", "57014", "57P01",
                                       "57P02", "57P03", "53300", "53400"};

    if (state == NULL)
        return true; /* no SQLSTATE: the connection broke */
    if (strncmp(state, "08", 2) == 0)
        return true;
    for (size_t i = 0; i < sizeof busy / sizeof busy[0]; i++)
        if (strcmp(state, busy[i]) == 0)
            return true;
    return false;
}

static bool result_ok(const PGresult *res)
{
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* Reads until libpq has a result ready or the connection is idle (PQgetResult would not block),
 * within the deadline; false when the deadline passed or the connection broke. */
static bool read_ready(PGconn *conn, int64_t deadline)
{
    while (PQisBusy(conn))
        if (!wait_socket(conn, POLLIN, deadline) || !PQconsumeInput(conn))
            return false;
    return true;
}

/*
 * Waits for the answer of what was sent on c, within the deadline, and gives its first result
 * (the caller clears it), or the first that failed after it.  A statement outside a transaction
 * block is committed by the server only at the end of the exchange (the protocol's Sync), after
 * it sent the statement's own result: a commit that fails there (a deferred constraint, a
 * statement timeout that fires in between, a server shutting down) comes as a later error
 * result, and that is the statement's outcome: read only the first, an INSERT the server rolled
 * back would count as written.  On a deadline or a broken connection, before the exchange's end,
 * the connection is dropped (the next call outside a transaction makes a new one) and the call
 * is STORE_BUSY: whether it was committed cannot be told.
 */
static enum store_status wait_result(struct store_conn *c, PGresult **out, struct store_error *err)
{
    int64_t deadline = conn_deadline(c);
    PGconn *conn = c->conn;
    PGresult *first = NULL, *res;
    int flushed;
    bool ended = false;

    *out = NULL;
    while ((flushed = PQflush(conn)) == 1)
        if (!wait_socket(conn, POLLOUT, deadline))
            break;
    while (flushed == 0 && !ended) {
        if (!read_ready(conn, deadline)) {
            flushed = -1;
            break;
        }
        res = PQgetResult(conn);
        ended = res == NULL;
        if (res == NULL)
            break;
        if (first == NULL || (result_ok(first) && !result_ok(res))) {
            PQclear(first);
            first = res;
        } else {
            PQclear(res);
        }
    }
    if (flushed != 0) {
        bool timed_out = PQstatus(conn) == CONNECTION_OK;
        char msg[STORE_ERROR_MAX];
        copy_message(msg, sizeof msg,
                     timed_out ? "no answer from the server within the busy timeout"
                               : PQerrorMessage(conn));
        PQclear(first);
        drop_connection(c);
        note_down(c, msg);
        return broke(c, msg, err);
    }
    *out = first;
    if (result_ok(first))
        return STORE_OK;
    const char *state = first != NULL ? PQresultErrorField(first, PG_DIAG_SQLSTATE) : NULL;
    char msg[STORE_ERROR_MAX];
    const char *primary = first != NULL ? PQresultErrorField(first, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    copy_message(msg, sizeof msg, primary != NULL ? primary : PQerrorMessage(conn));
    enum store_status status = busy_state(state) ? STORE_BUSY : STORE_ERROR;
    if (PQstatus(conn) != CONNECTION_OK) {
        drop_connection(c);
        note_down(c, msg);
        return broke(c, msg, err);
    }
    store_error_set(err, status, "database %s: %s", c->db->shown, msg);
    if (err != NULL && state != NULL)
        str_copy(err->sqlstate, sizeof err->sqlstate, state);
    return status;
}

/* The parameters as libpq's text values; ints are written into buf (PG_INT_LEN bytes each). */
#define PG_INT_LEN 24
static const char **param_values(const struct pg_param *params, size_t n, char *buf)
{
    const char **values = xcalloc(n ? n : 1, sizeof *values);

    for (size_t i = 0; i < n; i++) {
        if (params[i].is_int) {
            snprintf(buf + i * PG_INT_LEN, PG_INT_LEN, "%" PRId64, params[i].value);
            values[i] = buf + i * PG_INT_LEN;
        } else {
            values[i] = params[i].text;
        }
    }
    return values;
}

/* Prepares statement id (its text sql) on c, the first time it runs there. */
static enum store_status prepare_once(struct store_conn *c, int id, const char *sql,
                                      struct store_error *err)
{
    PGresult *res = NULL;
    char name[32];
    enum store_status status;

    if (id < 0 || c->prepared[id])
        return STORE_OK;
    snprintf(name, sizeof name, "ingress_%d", id);
    (void)PQsendPrepare(c->conn, name, sql, 0, NULL); /* a failed send: the wait says why */
    status = wait_result(c, &res, err);
    PQclear(res);
    if (status == STORE_OK)
        c->prepared[id] = true;
    return status;
}

/* Sends sql (the prepared statement id when id >= 0) with params, without waiting; a send that
 * failed is found by the wait for its result (the connection's state). */
static void send_statement(struct store_conn *c, int id, const char *sql,
                           const struct pg_param *params, size_t n)
{
    char name[32];
    char *buf = xcalloc(n ? n : 1, PG_INT_LEN);
    const char **values = param_values(params, n, buf);

    snprintf(name, sizeof name, "ingress_%d", id);
    if (id >= 0)
        (void)PQsendQueryPrepared(c->conn, name, (int)n, values, NULL, NULL, 0);
    else
        (void)PQsendQueryParams(c->conn, sql, (int)n, NULL, values, NULL, NULL, 0);
    free(values);
    free(buf);
}

/* Sends sql (prepared as statement id when id >= 0) with params and waits for its result. */
static enum store_status send_and_wait(struct store_conn *c, int id, const char *sql,
                                       const struct pg_param *params, size_t n, PGresult **res,
                                       struct store_error *err)
{
    enum store_status status = ensure_connected(c, err);

    *res = NULL;
    if (status == STORE_OK)
        status = prepare_once(c, id, sql, err);
    if (status != STORE_OK)
        return status;
    send_statement(c, id, sql, params, n);
    return wait_result(c, res, err);
}

/* Each statement's SQL by id, from the domain files' tables. */
static const char *stmt_sql[PG_STMT_COUNT];
static pthread_once_t stmt_sql_once = PTHREAD_ONCE_INIT;

static void stmt_sql_init(void)
{
    static const struct {
        const struct pg_sql *table;
        const size_t *count;
    } domains[] = {
        {pg_decisions_sql, &pg_decisions_sql_count}, {pg_greylist_sql, &pg_greylist_sql_count},
        {pg_lists_sql, &pg_lists_sql_count},         {pg_accounts_sql, &pg_accounts_sql_count},
        {pg_held_sql, &pg_held_sql_count},           {pg_changes_sql, &pg_changes_sql_count},
        {pg_throttle_sql, &pg_throttle_sql_count},   {pg_dmarc_sql, &pg_dmarc_sql_count},
        {pg_reviews_sql, &pg_reviews_sql_count},
    };

    for (size_t d = 0; d < sizeof domains / sizeof domains[0]; d++)
        for (size_t i = 0; i < *domains[d].count; i++)
            stmt_sql[domains[d].table[i].id] = domains[d].table[i].sql;
}

static enum store_status run_prepared(struct store_conn *c, enum pg_stmt id,
                                      const struct pg_param *params, size_t n, PGresult **res,
                                      struct store_error *err)
{
    *res = NULL;
    pthread_once(&stmt_sql_once, stmt_sql_init);
    if (stmt_sql[id] == NULL)
        return store_error_set(err, STORE_ERROR, "statement %d has no SQL (a bug)", (int)id);
    return send_and_wait(c, (int)id, stmt_sql[id], params, n, res, err);
}

/*
 * Pipelining (libpq's pipeline mode): the n steps are sent at once, followed by one sync, and
 * their results read back in order, so that a transaction of several short statements costs one
 * round trip to the server instead of one per statement.  The first step that fails gives the
 * status and err; the server skips the steps after it (their results are aborted), and a
 * transaction begun by an earlier step is left for the caller to roll back.  results[i] gets
 * step i's result (NULL when none), which the caller clears.
 */
static enum store_status pipeline_read(struct store_conn *c, size_t n, PGresult **results,
                                       struct store_error *err)
{
    enum store_status status = STORE_OK;
    PGresult *sync = NULL;

    for (size_t i = 0; i < n && c->conn != NULL; i++) {
        struct store_error why;
        enum store_status st = wait_result(c, &results[i], &why);
        if (st != STORE_OK && status == STORE_OK) {
            status = st;
            if (err != NULL)
                *err = why;
        }
    }
    if (c->conn == NULL) /* dropped by a wait that timed out or broke: err says why */
        return status != STORE_OK ? status : STORE_BUSY;
    /* The sync's own result, then the connection is idle and leaves pipeline mode. */
    if (wait_result(c, &sync, NULL) != STORE_OK && c->conn == NULL)
        return status != STORE_OK ? status : STORE_BUSY;
    PQclear(sync);
    if (!PQexitPipelineMode(c->conn))
        drop_connection(c); /* results left over: a connection in an unknown state */
    return status;
}

enum store_status pg_pipeline(struct store_conn *c, const struct pg_step *steps, size_t n,
                              PGresult **results, struct store_error *err)
{
    enum store_status status = ensure_connected(c, err);

    pthread_once(&stmt_sql_once, stmt_sql_init);
    memset(results, 0, n * sizeof *results);
    for (size_t i = 0; status == STORE_OK && i < n; i++)
        if (steps[i].id >= 0)
            status = prepare_once(c, steps[i].id, stmt_sql[steps[i].id], err);
    if (status != STORE_OK)
        return status;
    if (!PQenterPipelineMode(c->conn))
        return store_error_set(err, STORE_ERROR, "database %s: cannot pipeline: %s", c->db->shown,
                               PQerrorMessage(c->conn));
    for (size_t i = 0; i < n; i++)
        send_statement(c, steps[i].id, steps[i].sql, steps[i].params, steps[i].n);
    (void)PQpipelineSync(c->conn);
    return pipeline_read(c, n, results, err);
}

enum store_status pg_exec_params(struct store_conn *c, const char *sql,
                                 const struct pg_param *params, size_t n, PGresult **res,
                                 struct store_error *err)
{
    PGresult *own = NULL;
    enum store_status status = send_and_wait(c, -1, sql, params, n, &own, err);

    if (res != NULL)
        *res = own;
    else
        PQclear(own);
    return status;
}

const char *pg_text(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

int64_t pg_int(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

bool pg_is_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) != 0;
}

struct result_row {
    const PGresult *res;
    int row;
};

static const char *reader_text(void *src, int col)
{
    const struct result_row *r = src;
    return pg_text(r->res, r->row, col);
}

static int64_t reader_integer(void *src, int col)
{
    const struct result_row *r = src;
    return pg_int(r->res, r->row, col);
}

void pg_columns(const PGresult *res, int row, const struct store_columns *cols, void *out)
{
    static const struct store_column_reader reader = {reader_text, reader_integer};
    struct result_row r = {res, row};

    store_columns_read(cols, &reader, &r, out);
}

enum store_status pg_run(struct store_conn *c, enum pg_stmt id, const struct pg_param *params,
                         size_t n, int64_t *changes, struct store_error *err)
{
    PGresult *res = NULL;
    enum store_status status = run_prepared(c, id, params, n, &res, err);

    if (status == STORE_OK && changes != NULL)
        *changes = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return status;
}

enum store_status pg_each(struct store_conn *c, enum pg_stmt id, const struct pg_param *params,
                          size_t n, const struct pg_visit *v, struct store_error *err)
{
    PGresult *res = NULL;
    enum store_status status = run_prepared(c, id, params, n, &res, err);

    if (status == STORE_OK) {
        int rows = PQntuples(res);
        for (int i = 0; i < rows; i++)
            v->row(res, i, v);
        status = rows > 0 ? STORE_OK : STORE_NOTFOUND;
    }
    PQclear(res);
    return status;
}

enum store_status pg_change(struct store_conn *c, enum pg_stmt id, const struct pg_param *params,
                            size_t n, struct store_error *err)
{
    int64_t changes = 0;
    enum store_status status = pg_run(c, id, params, n, &changes, err);

    return status == STORE_OK && changes == 0 ? STORE_NOTFOUND : status;
}

struct text_out {
    char *text;
    size_t len;
};

static void text_row(const PGresult *res, int row, const struct pg_visit *v)
{
    const struct text_out *out = v->arg;
    const char *text = pg_text(res, row, 0);

    str_copy(out->text, out->len, text != NULL ? text : "");
}

enum store_status pg_get_text(struct store_conn *c, enum pg_stmt id, const struct pg_param *params,
                              size_t n, char *out, size_t outlen, struct store_error *err)
{
    struct text_out to = {out, outlen};
    struct pg_visit v = {.row = text_row, .arg = &to};

    out[0] = '\0';
    return pg_each(c, id, params, n, &v, err);
}

static void int_row(const PGresult *res, int row, const struct pg_visit *v)
{
    *(int64_t *)v->arg = pg_int(res, row, 0);
}

enum store_status pg_get_int(struct store_conn *c, enum pg_stmt id, const struct pg_param *params,
                             size_t n, int64_t *out, struct store_error *err)
{
    struct pg_visit v = {.row = int_row, .arg = out};

    return pg_each(c, id, params, n, &v, err);
}

enum store_status pg_bounded_delete(struct store_conn *c, enum pg_stmt id, int64_t before,
                                    size_t *left, struct store_error *err)
{
    int64_t changes = 0;
    enum store_status status;

    if (*left == 0)
        return STORE_OK;
    status = pg_run(
        c, id, PG_PARAMS(PG_INT(before), PG_INT(*left > INT64_MAX ? INT64_MAX : (int64_t)*left)),
        &changes, err);
    if (status == STORE_OK && changes > 0)
        *left -= (size_t)changes < *left ? (size_t)changes : *left;
    return status;
}

/* ---- connections and transactions ---- */

/* A new member of the pool, not connected yet (its first statement connects it); the lock held,
 * or no other thread yet (pg_open). */
static struct store_conn *pool_add(struct store_db *db)
{
    struct store_conn *c = xcalloc(1, sizeof *c);

    c->db = db;
    db->pool[db->pool_len++] = c;
    return c;
}

/* An idle connection of the pool; a new one when every one is in use (another thread of the
 * milter is in a store call), up to PG_POOL_MAX; past that, the next one given back. */
static struct store_conn *pg_acquire(struct store_db *db)
{
    struct store_conn *c = NULL;

    pthread_mutex_lock(&db->lock);
    while (c == NULL) {
        for (int i = 0; i < db->pool_len && c == NULL; i++)
            if (!db->pool[i]->busy)
                c = db->pool[i];
        if (c == NULL && db->pool_len < PG_POOL_MAX)
            c = pool_add(db);
        if (c == NULL)
            pthread_cond_wait(&db->freed, &db->lock);
    }
    c->busy = true;
    pthread_mutex_unlock(&db->lock);
    return c;
}

/* The writer's connection is its own: one thread writes batches at a time (decision_log.c). */
static struct store_conn *pg_acquire_writer(struct store_db *db)
{
    return &db->writer;
}

static void pg_rollback(struct store_conn *c);

static void pg_release(struct store_conn *c)
{
    struct store_db *db = c->db;

    pg_rollback(c);
    tried(c);
    c->broke = false;
    if (c->writer)
        return;
    pthread_mutex_lock(&db->lock);
    c->busy = false;
    pthread_cond_signal(&db->freed);
    pthread_mutex_unlock(&db->lock);
}

/*
 * STORE_TXN_READ: REPEATABLE READ, so that a write after the read fails (serialization failure,
 * STORE_BUSY) when another connection changed the rows since: the greylist's driver then does it
 * again as STORE_TXN_WRITE (lib/store/greylist_txn.c).  STORE_TXN_WRITE: READ COMMITTED under the
 * store's write lock (a transaction-scoped advisory lock), so that such writers run one at a time
 * across every host of the database, as they do on SQLite's one file.  Except the decision
 * writer's batches: inserts of new rows, which conflict with nothing and need no such lock; behind
 * it they waited for every greylist write of every host, and a milter's queue of decisions filled
 * up in the first second of a burst from one network (whose autoallow row they all write).
 * STORE_TXN_READ_ONLY (a dry run): REPEATABLE READ and READ ONLY, where the server refuses writes.
 */
static enum store_status pg_begin(struct store_conn *c, enum store_txn kind,
                                  struct store_error *err)
{
    enum store_status status = pg_exec_params(
        c,
        kind == STORE_TXN_READ        ? "BEGIN ISOLATION LEVEL REPEATABLE READ"
        : kind == STORE_TXN_READ_ONLY ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                                      : "BEGIN",
        NULL, 0, NULL, err);

    if (status != STORE_OK)
        return status;
    c->in_txn = true;
    if (kind == STORE_TXN_WRITE && !c->writer)
        status = pg_exec_params(c, "SELECT pg_advisory_xact_lock(" PG_LOCK_WRITE ")", NULL, 0, NULL,
                                err);
    if (status != STORE_OK)
        pg_rollback(c);
    return status;
}

static enum store_status pg_commit(struct store_conn *c, struct store_error *err)
{
    PGresult *res = NULL;
    enum store_status status = pg_exec_params(c, "COMMIT", NULL, 0, &res, err);

    /* COMMIT of a transaction that failed earlier answers ROLLBACK, without an error. */
    if (status == STORE_OK && strcmp(PQcmdStatus(res), "COMMIT") != 0)
        status = store_error_set(err, STORE_ERROR, "database %s: the transaction was rolled back",
                                 c->db->shown);
    PQclear(res);
    c->in_txn = false;
    return status;
}

static void pg_rollback(struct store_conn *c)
{
    c->copy_day_known = false; /* the partitions a copy made are rolled back too */
    if (!c->in_txn)
        return;
    c->in_txn = false;
    if (c->conn != NULL && pg_exec_params(c, "ROLLBACK", NULL, 0, NULL, NULL) != STORE_OK &&
        c->conn != NULL)
        drop_connection(c); /* a connection in an unknown state is not used again */
}

/* ---- the fleet's maintenance turn ---- */

/*
 * A session advisory lock on a connection of its own (never the pool's, whose sessions every
 * thread shares): the first host to ask holds it until its connection ends.  While held, each call
 * checks that the session is still the one that took it (a restarted server or a dropped
 * connection ended it: ensure_connected() made a new one), and asks again when it is not.
 */
static enum store_status pg_maintenance_lock(struct store_db *db, bool *held,
                                             struct store_error *err)
{
    struct store_conn *c = &db->maint;
    PGresult *res = NULL;
    enum store_status status = STORE_OK;

    pthread_mutex_lock(&db->maint_lock);
    if (db->maint_held) {
        status = pg_exec_params(c, "SELECT 1", NULL, 0, NULL, err);
        db->maint_held = status == STORE_OK && c->sessions == db->maint_session;
    }
    if (!db->maint_held) {
        status = pg_exec_params(c, "SELECT pg_try_advisory_lock(" PG_LOCK_MAINTENANCE ")", NULL, 0,
                                &res, err);
        db->maint_held = status == STORE_OK && PQntuples(res) == 1 && *PQgetvalue(res, 0, 0) == 't';
        db->maint_session = c->sessions;
        PQclear(res);
    }
    *held = db->maint_held;
    /* The end of a call, as pg_release() ends a pool connection's: the next one may try again. */
    tried(c);
    c->broke = false;
    pthread_mutex_unlock(&db->maint_lock);
    return status;
}

/* ---- migrations ---- */

/*
 * The migration loop's lock (lib/store/schema.c): a session-level advisory lock, so that two
 * hosts starting at once do not both migrate; the second waits and then reads the version the
 * first one left.  The lock's wait and the migrations have PG_MIGRATION_TIMEOUT_MS, not
 * store_busy_timeout: migration 018 rebuilds the decision log's indexes, seconds a million rows.
 * Every migration then runs in the one transaction begun here, committed by pg_schema_commit: a
 * database is migrated whole or not at all.  The version is a table of ours, milter_ingress_schema,
 * absent (version 0) in a database never migrated.
 */
static void pg_schema_unlock(struct store_conn *c);

/* The session's statement and lock timeouts: ms, or store_busy_timeout again (ms < 0). */
static enum store_status session_timeouts(struct store_conn *c, int64_t ms, struct store_error *err)
{
    char text[32];

    snprintf(text, sizeof text, "%" PRId64, ms >= 0 ? ms : c->db->busy_timeout_ms);
    return pg_exec_params(c,
                          "SELECT set_config('statement_timeout', $1, false), "
                          "set_config('lock_timeout', $1, false)",
                          PG_PARAMS(PG_TEXT(text)), NULL, err);
}

static enum store_status pg_schema_lock(struct store_conn *c, int64_t *version,
                                        struct store_error *err)
{
    PGresult *res = NULL;
    enum store_status status;

    /* The lock, and the migrations after it, within PG_MIGRATION_TIMEOUT_MS. */
    c->migrating = true;
    status = session_timeouts(c, PG_MIGRATION_TIMEOUT_MS, err);
    if (status == STORE_OK)
        status =
            pg_exec_params(c, "SELECT pg_advisory_lock(" PG_LOCK_SCHEMA ")", NULL, 0, NULL, err);
    if (status != STORE_OK) {
        c->migrating = false;
        session_timeouts(c, -1, NULL);
        return status;
    }
    status = pg_exec_params(c, "BEGIN", NULL, 0, NULL, err);
    if (status != STORE_OK) {
        pg_exec_params(c, "SELECT pg_advisory_unlock(" PG_LOCK_SCHEMA ")", NULL, 0, NULL, NULL);
        return status;
    }
    c->in_txn = true;
    *version = 0;
    status = pg_exec_params(c, "SELECT to_regclass('milter_ingress_schema') IS NOT NULL", NULL, 0,
                            &res, err);
    bool exists = status == STORE_OK && PQntuples(res) == 1 && *PQgetvalue(res, 0, 0) == 't';
    PQclear(res);
    res = NULL;
    if (exists)
        status =
            pg_exec_params(c, "SELECT max(version) FROM milter_ingress_schema", NULL, 0, &res, err);
    if (exists && status == STORE_OK)
        *version = pg_int(res, 0, 0);
    PQclear(res);
    if (status != STORE_OK)
        pg_schema_unlock(c);
    return status;
}

static void pg_schema_unlock(struct store_conn *c)
{
    pg_rollback(c);
    pg_exec_params(c, "SELECT pg_advisory_unlock(" PG_LOCK_SCHEMA ")", NULL, 0, NULL, NULL);
    c->migrating = false;
    session_timeouts(c, -1, NULL);
}

static enum store_status pg_schema_commit(struct store_conn *c, struct store_error *err)
{
    enum store_status status = pg_commit(c, err);

    pg_schema_unlock(c);
    return status;
}

/* A migration's text is several statements: the simple query protocol, without parameters. */
static enum store_status exec_script(struct store_conn *c, const char *sql, PGresult **res,
                                     struct store_error *err)
{
    *res = NULL;
    if (!PQsendQuery(c->conn, sql))
        return store_error_set(err, STORE_ERROR, "%s", PQerrorMessage(c->conn));
    return wait_result(c, res, err);
}

static enum store_status pg_schema_apply(struct store_conn *c, const struct store_migration *m,
                                         struct store_error *err)
{
    PGresult *res = NULL;
    struct store_error why;
    enum store_status status = exec_script(c, m->sql, &res, &why);

    if (status == STORE_OK && PQtransactionStatus(c->conn) != PQTRANS_INTRANS) {
        PQclear(res);
        return store_error_set(err, STORE_ERROR,
                               "database %s: migration %s ended the transaction itself (migrations "
                               "must not contain BEGIN or COMMIT)",
                               c->db->shown, m->name);
    }
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    bool taken = state != NULL && strcmp(state, "42P07") == 0; /* duplicate_table */
    PQclear(res);
    if (status == STORE_OK)
        status = pg_exec_params(c,
                                "CREATE TABLE IF NOT EXISTS milter_ingress_schema "
                                "(version INTEGER NOT NULL)",
                                NULL, 0, NULL, &why);
    if (status == STORE_OK)
        status = pg_exec_params(c, "INSERT INTO milter_ingress_schema (version) VALUES ($1)",
                                PG_PARAMS(PG_INT(m->version)), NULL, &why);
    if (status != STORE_OK)
        store_error_set(err, status, "migration %s failed: %s%s", m->name, why.text,
                        taken ? " (the database has tables of that name already, not made by "
                                "milter-ingress: give it a database, or a schema, of its own)"
                              : "");
    return status;
}

/* ---- opening ---- */

/*
 * The database value without its password, for every message: libpq's own parser reads both
 * forms (URI and key=value), and the value shown is rebuilt from the keywords that name the
 * server, never from the text given.  NULL when libpq cannot parse it.
 */
static char *shown_name(const char *conninfo)
{
    static const char *const shown_keys[] = {"host", "hostaddr", "port", "dbname", "user"};
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    char out[1024] = "";
    size_t len = 0;

    if (opts == NULL)
        return NULL;
    for (size_t k = 0; k < sizeof shown_keys / sizeof shown_keys[0]; k++) {
        for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
            if (strcmp(o->keyword, shown_keys[k]) != 0 || o->val == NULL || *o->val == '\0')
                continue;
            int w = snprintf(out + len, sizeof out - len, "%s%s=%s", len ? " " : "", o->keyword,
                             o->val);
            if (w > 0 && (size_t)w < sizeof out - len)
                len += (size_t)w;
        }
    }
    PQconninfoFree(opts);
    return xstrdup(len ? out : "(libpq's defaults)");
}

/* True when name (len bytes) is one of libpq's setting names, which are safe to show. */
static bool is_setting_name(const char *name, size_t len)
{
    PQconninfoOption *defaults = PQconndefaults();
    bool found = false;

    for (PQconninfoOption *o = defaults; o != NULL && o->keyword != NULL && !found; o++)
        found = strlen(o->keyword) == len && strncmp(o->keyword, name, len) == 0;
    PQconninfoFree(defaults);
    return found;
}

/*
 * Why libpq cannot parse database, for the message.  libpq quotes the part it stumbled on, which
 * may be the whole URI or a percent-encoded password: a quoted part is shown only when it is a
 * setting's name ("sslmode"), and is "..." otherwise.
 */
static void parse_error(const char *database, char *out, size_t outlen)
{
    char *errmsg = NULL, msg[STORE_ERROR_MAX];
    PQconninfoOption *opts = PQconninfoParse(database, &errmsg);
    size_t len = 0;

    PQconninfoFree(opts);
    copy_message(msg, sizeof msg, errmsg);
    PQfreemem(errmsg);
    for (const char *p = msg; *p && len + 4 < outlen;) {
        const char *end = *p == '"' ? strchr(p + 1, '"') : NULL;
        if (end == NULL) {
            out[len++] = *p++;
            continue;
        }
        bool shown = is_setting_name(p + 1, (size_t)(end - p - 1));
        int w = snprintf(out + len, outlen - len, "\"%.*s\"", shown ? (int)(end - p - 1) : 3,
                         shown ? p + 1 : "...");
        len += w > 0 && (size_t)w < outlen - len ? (size_t)w : 0;
        p = end + 1;
    }
    out[len] = '\0';
}

void store_pg_shown(const char *database, char *out, size_t outlen)
{
    char *shown = shown_name(database);

    str_copy(out, outlen, shown != NULL ? shown : "(a PostgreSQL connection libpq cannot parse)");
    free(shown);
}

static void pg_close(struct store_db *db)
{
    if (db == NULL)
        return;
    for (int i = 0; i < db->pool_len; i++) {
        drop_connection(db->pool[i]);
        free(db->pool[i]);
    }
    drop_connection(&db->writer);
    drop_connection(&db->maint); /* lets the maintenance lock go, if held */
    pthread_mutex_destroy(&db->maint_lock);
    pthread_cond_destroy(&db->freed);
    pthread_cond_destroy(&db->probed);
    pthread_mutex_destroy(&db->lock);
    free(db->conninfo);
    free(db->shown);
    free(db);
}

/*
 * Opening connects once, so that a wrong password, an unknown database or a server that cannot be
 * reached is an error at start-up (exit 2), not at the first message.  create is for SQLite's
 * files: a PostgreSQL database is made by its administrator (README "Several MX hosts"), and
 * the tables in it by the migrations, for the milter and ingressctl alike.
 */
static struct store_db *pg_open(const char *database, int64_t busy_timeout_ms, bool create,
                                mode_t mode, struct store_error *err)
{
    (void)mode; /* no files */
    struct store_db *db;
    char *shown = shown_name(database);

    (void)create;
    if (shown == NULL) {
        char why[256];
        parse_error(database, why, sizeof why);
        store_error_set(err, STORE_ERROR,
                        "database: the PostgreSQL connection cannot be parsed: %s (a "
                        "postgresql:// URI or libpq's key=value settings: see libpq's "
                        "\"Connection Strings\")",
                        why);
        return NULL;
    }
    db = xcalloc(1, sizeof *db);
    db->conninfo = xstrdup(database);
    db->shown = shown;
    db->busy_timeout_ms = busy_timeout_ms;
    pthread_mutex_init(&db->lock, NULL);
    pthread_cond_init(&db->freed, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&db->probed, &attr);
    pthread_condattr_destroy(&attr);
    db->writer.db = db;
    db->writer.writer = true;
    pthread_mutex_init(&db->maint_lock, NULL);
    db->maint.db = db;
    db->maint.writer = true;
    if (connect_conn(pool_add(db), err) != STORE_OK) {
        pg_close(db);
        return NULL;
    }
    db->opened = true;
    return db;
}

static enum store_status pg_prepare(struct store_db *db, struct store_error *err)
{
    (void)db;
    (void)err;
    pg_writer_after_batches(db); /* the decision log's partitions of today and the coming days */
    return STORE_OK;
}

static const char *pg_display_name(struct store_db *db)
{
    return db->shown;
}

const struct store_backend store_backend_postgresql = {
    .name = "PostgreSQL",
    .migrations = store_migrations_postgresql,
    .migration_count = &store_migration_count_postgresql,
    .open = pg_open,
    .prepare = pg_prepare,
    .close = pg_close,
    .display_name = pg_display_name,
    .acquire = pg_acquire,
    .acquire_writer = pg_acquire_writer,
    .release = pg_release,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .schema_lock = pg_schema_lock,
    .schema_apply = pg_schema_apply,
    .schema_commit = pg_schema_commit,
    .schema_unlock = pg_schema_unlock,
    .decision_insert = pg_decision_insert,
    .decision_batch = pg_decision_batch,
    .decision_find = pg_decision_find,
    .decision_search = pg_decision_search,
    .decision_tally = pg_decision_tally,
    .decision_expire = pg_decision_expire,
    .dmarc_upsert = pg_dmarc_upsert,
    .dmarc_each = pg_dmarc_each,
    .dmarc_expire = pg_dmarc_expire,
    .writer_after_batches = pg_writer_after_batches,
    .maintenance_lock = pg_maintenance_lock,
    .greylist_read = pg_greylist_read,
    .greylist_write = pg_greylist_write,
    .autoallow_read = pg_autoallow_read,
    .autoallow_write = pg_autoallow_write,
    .greylist_txn = pg_greylist_txn,
    .greylist_expire = pg_greylist_expire,
    .lists_version = pg_lists_version,
    .list_each = pg_list_each,
    .list_put = pg_list_put,
    .list_del = pg_list_del,
    .rule_put = pg_rule_put,
    .rule_del = pg_rule_del,
    .rule_each = pg_rule_each,
    .account_add = pg_account_add,
    .account_each = pg_account_each,
    .alias_add = pg_alias_add,
    .alias_del = pg_alias_del,
    .alias_each = pg_alias_each,
    .account_suspend = pg_account_suspend,
    .account_suspended = pg_account_suspended,
    .account_resume = pg_account_resume,
    .held_add = pg_held_add,
    .held_each = pg_held_each,
    .held_decide = pg_held_decide,
    .held_expire = pg_held_expire,
    .held_undo = pg_held_undo,
    .review_add = pg_review_add,
    .review_each = pg_review_each,
    .review_close = pg_review_close,
    .review_expire = pg_review_expire,
    .explanation_set = pg_explanation_set,
    .explanation_each = pg_explanation_each,
    .change_add = pg_change_add,
    .change_each = pg_change_each,
    .change_expire = pg_change_expire,
    .throttle_get = pg_throttle_get,
    .throttle_bucket_each = pg_throttle_bucket_each,
    .throttle_bucket_add = pg_throttle_bucket_add,
    .throttle_mark = pg_throttle_mark,
    .throttle_clear = pg_throttle_clear,
    .throttle_set_limits = pg_throttle_set_limits,
    .throttle_each = pg_throttle_each,
    .throttle_expire = pg_throttle_expire,
    .copy_count = pg_copy_count,
    .copy_each = pg_copy_each,
    .copy_insert = pg_copy_insert,
    .copy_clear = pg_copy_clear,
    .copy_finish = pg_copy_finish,
};
