/*
 * store/sqlite_held: messages held for review in SQLite (schema/sqlite/007_held.sql).
 */
#include "sqlite.h"

const struct sqlite_sql sqlite_held_sql[] = {
    /* held: ?N NULL matches any value. */
    {STMT_HELD_ADD,
     "INSERT INTO held (queue_id, held_at, account, sender, recipients, nrcpt, "
     "subject, size, reason, host) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"},
    {STMT_HELD_EACH, "SELECT id, queue_id, held_at, account, sender, recipients, nrcpt, "
                     "subject, size, reason, state, decided_by, decided_at, decision_reason, "
                     "host FROM held WHERE (?1 IS NULL OR queue_id = ?1) "
                     "AND (?2 IS NULL OR account = ?2) AND (?3 IS NULL OR state = ?3) "
                     "ORDER BY held_at, id LIMIT ?4 OFFSET ?5"},
    {STMT_HELD_COUNT, "SELECT count(*) FROM held WHERE (?1 IS NULL OR queue_id = ?1) "
                      "AND (?2 IS NULL OR account = ?2) AND (?3 IS NULL OR state = ?3)"},
    {STMT_HELD_DECIDE, "UPDATE held SET state = ?2, decided_by = ?3, decision_reason = ?4, "
                       "decided_at = ?5 WHERE queue_id = ?1 AND state = 'held' "
                       "AND (?6 IS NULL OR host = ?6)"},
    /* The decision just recorded, and only it, given back. */
    {STMT_HELD_UNDO, "UPDATE held SET state = 'held', decided_by = '', decision_reason = '', "
                     "decided_at = NULL WHERE queue_id = ?1 AND state = ?2 AND decided_by = ?3 "
                     "AND decided_at = ?4 AND (?5 IS NULL OR host = ?5)"},
    {STMT_HELD_EXPIRE, "DELETE FROM held WHERE id IN (SELECT id FROM held "
                       "WHERE state <> 'held' AND decided_at < ?1 LIMIT ?2)"},
};
const size_t sqlite_held_sql_count = sizeof sqlite_held_sql / sizeof sqlite_held_sql[0];

enum store_status sqlite_held_add(struct store_conn *c, const struct store_held *h,
                                  struct store_error *err)
{
    return sqlite_run(c->s, STMT_HELD_ADD,
                      SQL_PARAMS(SQL_TEXT_OR_EMPTY(h->queue_id), SQL_INT(h->held_at),
                                 SQL_TEXT_OR_EMPTY(h->account), SQL_TEXT_OR_EMPTY(h->sender),
                                 SQL_TEXT_OR_EMPTY(h->recipients), SQL_INT(h->nrcpt),
                                 SQL_TEXT_OR_EMPTY(h->subject), SQL_INT(h->size),
                                 SQL_TEXT_OR_EMPTY(h->reason), SQL_TEXT(h->host)),
                      NULL, err);
}

static void held_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    struct store_held h = {0};

    sqlite_columns(stmt, &store_held_columns, &h);
    v->fn.held(&h, v->arg);
}

enum store_status sqlite_held_each(struct store_conn *c, const struct store_held_query *q,
                                   void (*fn)(const struct store_held *h, void *arg), void *arg,
                                   int64_t *total, struct store_error *err)
{
    struct sqlite_visit v = {.row = held_row, .fn.held = fn, .arg = arg};
    enum store_status status =
        sqlite_each(c->s, STMT_HELD_EACH,
                    SQL_PARAMS(SQL_TEXT(q->queue_id), SQL_TEXT(q->account), SQL_TEXT(q->state),
                               SQL_INT(q->limit), SQL_INT(q->offset)),
                    &v, err);

    if (total == NULL || (status != STORE_OK && status != STORE_NOTFOUND))
        return status;
    enum store_status counted = sqlite_get_int(
        c->s, STMT_HELD_COUNT,
        SQL_PARAMS(SQL_TEXT(q->queue_id), SQL_TEXT(q->account), SQL_TEXT(q->state)), total, err);
    return counted == STORE_OK ? status : counted;
}

enum store_status sqlite_held_decide(struct store_conn *c, const char *queue_id, const char *host,
                                     const char *state, const char *by, const char *reason,
                                     int64_t now, struct store_error *err)
{
    return sqlite_change(c->s, STMT_HELD_DECIDE,
                         SQL_PARAMS(SQL_TEXT_OR_EMPTY(queue_id), SQL_TEXT_OR_EMPTY(state),
                                    SQL_TEXT_OR_EMPTY(by), SQL_TEXT_OR_EMPTY(reason), SQL_INT(now),
                                    SQL_TEXT(host)),
                         err);
}

enum store_status sqlite_held_undo(struct store_conn *c, const char *queue_id, const char *host,
                                   const char *state, const char *by, int64_t at,
                                   struct store_error *err)
{
    return sqlite_change(
        c->s, STMT_HELD_UNDO,
        SQL_PARAMS(SQL_TEXT(queue_id), SQL_TEXT(state), SQL_TEXT(by), SQL_INT(at), SQL_TEXT(host)),
        err);
}

enum store_status sqlite_held_expire(struct store_conn *c, int64_t before, size_t *left,
                                     struct store_error *err)
{
    return sqlite_bounded_delete(c->s, STMT_HELD_EXPIRE, before, left, err);
}
