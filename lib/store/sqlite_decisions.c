/*
 * store/sqlite_decisions: the decision log in SQLite, and the WAL checkpoints its background
 * writer (lib/store/decision_log.c) runs after its batches.
 */
#include "sqlite.h"

#include "log.h"

const struct sqlite_sql sqlite_decisions_sql[] = {
    {STMT_DECISION_ADD,
     "INSERT INTO decisions (time, queue_id, ref, client_ip, client_name, "
     "helo, sender, recipient, account, check_name, action, reply, detail, host, header_from) "
     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"},
    /* ?1 is the key as given, ?2 the key without surrounding <> (for the addresses).  COLLATE
     * NOCASE on the comparison matches the indexes' collation, so SQLite can use them. */
    {STMT_DECISION_FIND, "SELECT time, queue_id, ref, client_ip, client_name, helo, sender, "
                         "recipient, account, check_name, action, reply, detail, host "
                         "FROM decisions "
                         "WHERE queue_id = ?1 OR ref = ?1 OR client_ip = ?1 "
                         "OR sender = ?2 COLLATE NOCASE OR recipient = ?2 COLLATE NOCASE "
                         "OR account = ?2 COLLATE NOCASE "
                         "ORDER BY time, id LIMIT ?3"},
    /* ?1 the key, ?2 the reference, ?3 the address, ?4 the domain, ?5 the address in lower case
     * for the header From, ?6 and ?7 the period, ?8 the limit.  One indexed
     * lookup a column, their row ids united: a single WHERE of ORs would make SQLite walk the time
     * index through every row of the period (seconds on a million rows), since it cannot know
     * that ?4 and ?5 are empty.  A branch whose parameter is empty costs nothing (SQLite tests a
     * condition on parameters alone once, before the loop).  The client IP, the addresses and
     * the domains, which a busy client, address or domain gives tens of thousands of rows, take
     * only their newest ?8 from their (key, time) indexes of migrations 015, 017 and 018: the
     * newest ?8 of the union are among them. */
    {STMT_DECISION_SEARCH,
     "SELECT time, queue_id, ref, client_ip, client_name, helo, sender, recipient, account, "
     "check_name, action, reply, detail, host FROM decisions WHERE id IN ("
     "SELECT id FROM decisions WHERE queue_id = ?1 "
     "UNION ALL SELECT id FROM decisions WHERE ref = ?2 "
     "UNION ALL SELECT id FROM (SELECT id FROM decisions WHERE client_ip = ?1 "
     "AND time >= ?6 AND time < ?7 ORDER BY time DESC, id DESC LIMIT ?8) "
     "UNION ALL SELECT id FROM (SELECT id FROM decisions WHERE sender = ?3 COLLATE NOCASE "
     "AND time >= ?6 AND time < ?7 ORDER BY time DESC, id DESC LIMIT ?8) "
     "UNION ALL SELECT id FROM (SELECT id FROM decisions WHERE recipient = ?3 COLLATE NOCASE "
     "AND time >= ?6 AND time < ?7 ORDER BY time DESC, id DESC LIMIT ?8) "
     "UNION ALL SELECT id FROM (SELECT id FROM decisions WHERE account = ?3 COLLATE NOCASE "
     "AND time >= ?6 AND time < ?7 ORDER BY time DESC, id DESC LIMIT ?8) "
     "UNION ALL SELECT id FROM (SELECT id FROM decisions "
     "WHERE ?4 <> '' AND lower(substr(sender, instr(sender, '@') + 1)) = ?4 "
     "AND time >= ?6 AND time < ?7 ORDER BY time DESC, id DESC LIMIT ?8) "
     "UNION ALL SELECT id FROM (SELECT id FROM decisions "
     "WHERE ?4 <> '' AND lower(substr(recipient, instr(recipient, '@') + 1)) = ?4 "
     "AND time >= ?6 AND time < ?7 ORDER BY time DESC, id DESC LIMIT ?8) "
     "UNION ALL SELECT id FROM (SELECT id FROM decisions WHERE ?5 <> '' AND header_from = ?5 "
     "AND time >= ?6 AND time < ?7 ORDER BY time DESC, id DESC LIMIT ?8)) "
     "AND time >= ?6 AND time < ?7 ORDER BY time DESC, id DESC LIMIT ?8"},
    /* The time index finds the period; the grouping is over its rows only. */
    {STMT_DECISION_TALLY, "SELECT check_name, action, COUNT(*) FROM decisions WHERE time >= ?1 "
                          "GROUP BY check_name, action ORDER BY check_name, action"},
    /* Bounded batches keep each write transaction short, so the milter's own writes wait at most
     * one batch behind the background expiry. */
    {STMT_DECISION_EXPIRE, ("DELETE FROM decisions WHERE id IN "
                            "(SELECT id FROM decisions WHERE time < ?1 ORDER BY time LIMIT ?2)")},
};
const size_t sqlite_decisions_sql_count =
    sizeof sqlite_decisions_sql / sizeof sqlite_decisions_sql[0];

enum store_status sqlite_decision_insert(struct store_conn *c, const struct decision *const *rows,
                                         size_t n, struct store_error *err)
{
    enum store_status status = STORE_OK;

    for (size_t i = 0; status == STORE_OK && i < n; i++) {
        const struct decision *d = rows[i];
        status = sqlite_run(
            c->s, STMT_DECISION_ADD,
            SQL_PARAMS(SQL_INT(d->time), SQL_TEXT(d->queue_id), SQL_TEXT(d->ref),
                       SQL_TEXT(d->client_ip), SQL_TEXT(d->client_name), SQL_TEXT(d->helo),
                       SQL_TEXT(d->sender), SQL_TEXT(d->recipient), SQL_TEXT(d->account),
                       SQL_TEXT(d->check), SQL_TEXT(d->action), SQL_TEXT(d->reply),
                       SQL_TEXT(d->detail), SQL_TEXT(d->host), SQL_TEXT(d->header_from)),
            NULL, err);
    }
    return status;
}

static void decision_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    struct decision d = {
        .time = sqlite3_column_int64(stmt, 0),
        .queue_id = column_text(stmt, 1),
        .ref = column_text(stmt, 2),
        .client_ip = column_text(stmt, 3),
        .client_name = column_text(stmt, 4),
        .helo = column_text(stmt, 5),
        .sender = column_text(stmt, 6),
        .recipient = column_text(stmt, 7),
        .account = column_text(stmt, 8),
        .check = column_text(stmt, 9),
        .action = column_text(stmt, 10),
        .reply = column_text(stmt, 11),
        .detail = column_text(stmt, 12),
        .host = column_text(stmt, 13),
    };
    v->fn.decision(&d, v->arg);
}

enum store_status sqlite_decision_find(struct store_conn *c, const char *key, const char *address,
                                       size_t limit,
                                       void (*fn)(const struct decision *d, void *arg), void *arg,
                                       struct store_error *err)
{
    struct sqlite_visit v = {.row = decision_row, .fn.decision = fn, .arg = arg};

    return sqlite_each(c->s, STMT_DECISION_FIND,
                       SQL_PARAMS(SQL_TEXT(key), SQL_TEXT(address), SQL_INT(size_to_int64(limit))),
                       &v, err);
}

enum store_status sqlite_decision_search(struct store_conn *c, const struct store_decision_match *m,
                                         void (*fn)(const struct decision *d, void *arg), void *arg,
                                         struct store_error *err)
{
    struct sqlite_visit v = {.row = decision_row, .fn.decision = fn, .arg = arg};

    return sqlite_each(c->s, STMT_DECISION_SEARCH,
                       SQL_PARAMS(SQL_TEXT(m->key), SQL_TEXT(m->ref), SQL_TEXT(m->address),
                                  SQL_TEXT(m->domain), SQL_TEXT(m->header_from), SQL_INT(m->since),
                                  SQL_INT(m->until), SQL_INT(m->limit)),
                       &v, err);
}

static void tally_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    v->fn.tally(column_text(stmt, 0), column_text(stmt, 1), sqlite3_column_int64(stmt, 2), v->arg);
}

enum store_status sqlite_decision_tally(struct store_conn *c, int64_t since,
                                        void (*fn)(const char *check, const char *action,
                                                   int64_t count, void *arg),
                                        void *arg, struct store_error *err)
{
    struct sqlite_visit v = {.row = tally_row, .fn.tally = fn, .arg = arg};

    return sqlite_each(c->s, STMT_DECISION_TALLY, SQL_PARAMS(SQL_INT(since)), &v, err);
}

enum store_status sqlite_decision_expire(struct store_conn *c, int64_t before, size_t *left,
                                         struct store_error *err)
{
    return sqlite_bounded_delete(c->s, STMT_DECISION_EXPIRE, before, left, err);
}

/* ---- WAL checkpoints, on the writer's thread ---- */

/*
 * SQLite's automatic checkpoint runs inside the commit that crosses the threshold, which may be a
 * callback's greylist transaction; the writer runs it after its batch instead, on a connection of
 * its own (PASSIVE: never waits for readers or writers).
 */
#define DECISION_CHECKPOINT_FRAMES 1000 /* SQLite's default wal_autocheckpoint */

static int decision_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct store_db *s = arg;
    (void)db;
    (void)name;
    atomic_store(&s->wal_frames, frames);
    return SQLITE_OK;
}

/*
 * The passes on the writer's connection copy what the WAL holds, again while commits keep adding
 * to it, until a pass finds fewer than DECISION_CHECKPOINT_TAIL new frames.  The store lock is
 * taken (below) only once the WAL has grown past DECISION_WAL_FORCE_FRAMES: under it the
 * checkpoint syncs the WAL and the database, which on a slow disk takes tens of milliseconds
 * whatever the number of frames (greylist_bench), and every callback waits for it.  A larger
 * WAL is slower to read (SQLite looks a page up in each 4096 frames of its index).
 */
#define DECISION_CHECKPOINT_PASSES 8
#define DECISION_CHECKPOINT_TAIL 256
#define DECISION_WAL_FORCE_FRAMES 32768 /* 128 MiB of 4 KiB pages */

void sqlite_writer_after_batches(struct store_db *s)
{
    /* No connection of its own: store_check() reopened the database, and could not open it. */
    if (s->checkpoint_db == NULL || atomic_load(&s->wal_frames) < DECISION_CHECKPOINT_FRAMES)
        return;
    int rc = SQLITE_OK, log = 0, copied = 0, seen = 0;
    for (int pass = 0; pass < DECISION_CHECKPOINT_PASSES; pass++) {
        rc = sqlite3_wal_checkpoint_v2(s->checkpoint_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log,
                                       &copied);
        if (rc != SQLITE_OK || log - seen <= DECISION_CHECKPOINT_TAIL)
            break;
        seen = log;
    }
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        log_msg(LOG_WARNING, "decision log: WAL checkpoint: %s", sqlite3_errmsg(s->checkpoint_db));
    /*
     * The WAL starts again from its beginning only when a write finds every frame copied back,
     * which under steady load the commits made during the passes prevent: when the file has
     * grown large, the store's own connection copies the frames left under the store lock (the
     * next commit then restarts the WAL), or it would grow without bound.  Below that, a pause in
     * the load lets the passes finish and the next commit restart it.
     */
    if (rc == SQLITE_OK && log >= DECISION_WAL_FORCE_FRAMES) {
        pthread_mutex_lock(&s->lock);
        sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_unlock(&s->lock);
    }
    atomic_store(&s->wal_frames, 0);
}

/* A connection knows that the database is in WAL mode only once it has read it: until then its
 * checkpoints do nothing (and report -1 frames). */
enum store_status sqlite_writer_start(struct store_db *s, struct store_error *err)
{
    int64_t version = 0;

    if (sqlite3_open_v2(s->path, &s->checkpoint_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK ||
        exec_int(s->checkpoint_db, "PRAGMA schema_version", &version) != SQLITE_OK) {
        store_error_set(err, STORE_ERROR, "decision writer: %s",
                        s->checkpoint_db ? sqlite3_errmsg(s->checkpoint_db) : "cannot open");
        sqlite3_close(s->checkpoint_db);
        s->checkpoint_db = NULL;
        return STORE_ERROR;
    }
    pthread_mutex_lock(&s->lock);
    sqlite3_wal_hook(s->db, decision_wal_hook, s); /* replaces the automatic checkpoint */
    pthread_mutex_unlock(&s->lock);
    return STORE_OK;
}

void sqlite_writer_stop(struct store_db *s)
{
    pthread_mutex_lock(&s->lock);
    if (s->db != NULL) /* NULL: detached by store_check(), which stopped the writer's part */
        sqlite3_wal_hook(s->db, NULL, NULL);
    pthread_mutex_unlock(&s->lock);
    sqlite3_close(s->checkpoint_db);
    s->checkpoint_db = NULL;
    atomic_store(&s->wal_frames, 0);
}
