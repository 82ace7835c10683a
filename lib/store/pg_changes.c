/*
 * store/pg_changes: who changed what, from where and why, in PostgreSQL
 * (schema/postgresql/013_changes.sql).
 */
#include "pg.h"

const struct pg_sql pg_changes_sql[] = {
    {PG_CHANGE_ADD, "INSERT INTO changes (at, who, source, what, key, detail, reason) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7)"},
    /* $1 NULL: any key, compared without case (the index is on lower(key)); $4 -1: no limit. */
    {PG_CHANGE_EACH, "SELECT id, at, who, source, what, key, detail, reason FROM changes "
                     "WHERE ($1::text IS NULL OR lower(key) = lower($1::text)) "
                     "AND at >= $2 AND at < $3 ORDER BY at DESC, id DESC "
                     "LIMIT NULLIF($4::bigint, -1)"},
    {PG_CHANGE_EXPIRE, "DELETE FROM changes WHERE id IN (SELECT id FROM changes "
                       "WHERE at < $1 LIMIT $2)"},
};
const size_t pg_changes_sql_count = sizeof pg_changes_sql / sizeof pg_changes_sql[0];

enum store_status pg_change_add(struct store_conn *c, const struct store_change *ch,
                                struct store_error *err)
{
    return pg_run(c, PG_CHANGE_ADD,
                  PG_PARAMS(PG_INT(ch->at), PG_TEXT_OR_EMPTY(ch->who), PG_TEXT_OR_EMPTY(ch->source),
                            PG_TEXT_OR_EMPTY(ch->what), PG_TEXT_OR_EMPTY(ch->key),
                            PG_TEXT_OR_EMPTY(ch->detail), PG_TEXT_OR_EMPTY(ch->reason)),
                  NULL, err);
}

static void change_row(const PGresult *res, int row, const struct pg_visit *v)
{
    struct store_change ch = {
        .id = pg_int(res, row, 0),
        .at = pg_int(res, row, 1),
        .who = pg_text(res, row, 2),
        .source = pg_text(res, row, 3),
        .what = pg_text(res, row, 4),
        .key = pg_text(res, row, 5),
        .detail = pg_text(res, row, 6),
        .reason = pg_text(res, row, 7),
    };
    v->fn.change(&ch, v->arg);
}

enum store_status pg_change_each(struct store_conn *c, const char *key, int64_t since,
                                 int64_t until, int64_t limit,
                                 void (*fn)(const struct store_change *ch, void *arg), void *arg,
                                 struct store_error *err)
{
    struct pg_visit v = {.row = change_row, .fn.change = fn, .arg = arg};

    return pg_each(c, PG_CHANGE_EACH,
                   PG_PARAMS(PG_TEXT(key), PG_INT(since), PG_INT(until), PG_INT(limit)), &v, err);
}

enum store_status pg_change_expire(struct store_conn *c, int64_t before, size_t *left,
                                   struct store_error *err)
{
    return pg_bounded_delete(c, PG_CHANGE_EXPIRE, before, left, err);
}
