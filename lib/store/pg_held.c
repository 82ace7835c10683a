/*
 * store/pg_held: messages held for review in PostgreSQL (schema/postgresql/007_held.sql).
 */
#include "pg.h"

const struct pg_sql pg_held_sql[] = {
    /* $N NULL matches any value. */
    {PG_HELD_ADD, "INSERT INTO held (queue_id, held_at, account, sender, recipients, nrcpt, "
                  "subject, size, reason, host) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"},
    {PG_HELD_EACH, "SELECT id, queue_id, held_at, account, sender, recipients, nrcpt, subject, "
                   "size, reason, state, decided_by, decided_at, decision_reason, host FROM held "
                   "WHERE ($1::text IS NULL OR queue_id = $1::text) "
                   "AND ($2::text IS NULL OR lower(account) = lower($2::text)) "
                   "AND ($3::text IS NULL OR state = $3::text) ORDER BY held_at, id "
                   "LIMIT $4 OFFSET $5"},
    {PG_HELD_COUNT, "SELECT count(*) FROM held WHERE ($1::text IS NULL OR queue_id = $1::text) "
                    "AND ($2::text IS NULL OR lower(account) = lower($2::text)) "
                    "AND ($3::text IS NULL OR state = $3::text)"},
    {PG_HELD_DECIDE, "UPDATE held SET state = $2, decided_by = $3, decision_reason = $4, "
                     "decided_at = $5 WHERE queue_id = $1 AND state = 'held' "
                     "AND ($6::text IS NULL OR host = $6::text)"},
    /* The decision just recorded, and only it, given back. */
    {PG_HELD_UNDO, "UPDATE held SET state = 'held', decided_by = '', decision_reason = '', "
                   "decided_at = NULL WHERE queue_id = $1 AND state = $2 AND decided_by = $3 "
                   "AND decided_at = $4 AND ($5::text IS NULL OR host = $5::text)"},
    {PG_HELD_EXPIRE, "DELETE FROM held WHERE id IN (SELECT id FROM held "
                     "WHERE state <> 'held' AND decided_at < $1 LIMIT $2)"},
};
const size_t pg_held_sql_count = sizeof pg_held_sql / sizeof pg_held_sql[0];

enum store_status pg_held_add(struct store_conn *c, const struct store_held *h,
                              struct store_error *err)
{
    return pg_run(c, PG_HELD_ADD,
                  PG_PARAMS(PG_TEXT_OR_EMPTY(h->queue_id), PG_INT(h->held_at),
                            PG_TEXT_OR_EMPTY(h->account), PG_TEXT_OR_EMPTY(h->sender),
                            PG_TEXT_OR_EMPTY(h->recipients), PG_INT(h->nrcpt),
                            PG_TEXT_OR_EMPTY(h->subject), PG_INT(h->size),
                            PG_TEXT_OR_EMPTY(h->reason), PG_TEXT(h->host)),
                  NULL, err);
}

static void held_row(const PGresult *res, int row, const struct pg_visit *v)
{
    struct store_held h = {0};

    pg_columns(res, row, &store_held_columns, &h);
    v->fn.held(&h, v->arg);
}

enum store_status pg_held_each(struct store_conn *c, const struct store_held_query *q,
                               void (*fn)(const struct store_held *h, void *arg), void *arg,
                               int64_t *total, struct store_error *err)
{
    struct pg_visit v = {.row = held_row, .fn.held = fn, .arg = arg};
    enum store_status status =
        pg_each(c, PG_HELD_EACH,
                PG_PARAMS(PG_TEXT(q->queue_id), PG_TEXT(q->account), PG_TEXT(q->state),
                          PG_INT(q->limit), PG_INT(q->offset)),
                &v, err);

    if (total == NULL || (status != STORE_OK && status != STORE_NOTFOUND))
        return status;
    enum store_status counted = pg_get_int(
        c, PG_HELD_COUNT, PG_PARAMS(PG_TEXT(q->queue_id), PG_TEXT(q->account), PG_TEXT(q->state)),
        total, err);
    return counted == STORE_OK ? status : counted;
}

enum store_status pg_held_decide(struct store_conn *c, const char *queue_id, const char *host,
                                 const char *state, const char *by, const char *reason, int64_t now,
                                 struct store_error *err)
{
    return pg_change(c, PG_HELD_DECIDE,
                     PG_PARAMS(PG_TEXT_OR_EMPTY(queue_id), PG_TEXT_OR_EMPTY(state),
                               PG_TEXT_OR_EMPTY(by), PG_TEXT_OR_EMPTY(reason), PG_INT(now),
                               PG_TEXT(host)),
                     err);
}

enum store_status pg_held_undo(struct store_conn *c, const char *queue_id, const char *host,
                               const char *state, const char *by, int64_t at,
                               struct store_error *err)
{
    return pg_change(
        c, PG_HELD_UNDO,
        PG_PARAMS(PG_TEXT(queue_id), PG_TEXT(state), PG_TEXT(by), PG_INT(at), PG_TEXT(host)), err);
}

enum store_status pg_held_expire(struct store_conn *c, int64_t before, size_t *left,
                                 struct store_error *err)
{
    return pg_bounded_delete(c, PG_HELD_EXPIRE, before, left, err);
}
