/*
 * store/sqlite_changes: who changed what, from where and why, in SQLite
 * (schema/sqlite/013_changes.sql).
 */
#include "sqlite.h"

const struct sqlite_sql sqlite_changes_sql[] = {
    {STMT_CHANGE_ADD, "INSERT INTO changes (at, who, source, what, key, detail, reason) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
    /* ?1 NULL: any key; the key's column compares without case (COLLATE NOCASE). */
    {STMT_CHANGE_EACH, "SELECT id, at, who, source, what, key, detail, reason FROM changes "
                       "WHERE (?1 IS NULL OR key = ?1) AND at >= ?2 AND at < ?3 "
                       "ORDER BY at DESC, id DESC LIMIT ?4"},
    {STMT_CHANGE_EXPIRE, "DELETE FROM changes WHERE id IN (SELECT id FROM changes "
                         "WHERE at < ?1 LIMIT ?2)"},
};
const size_t sqlite_changes_sql_count = sizeof sqlite_changes_sql / sizeof sqlite_changes_sql[0];

enum store_status sqlite_change_add(struct store_conn *c, const struct store_change *ch,
                                    struct store_error *err)
{
    return sqlite_run(c->s, STMT_CHANGE_ADD,
                      SQL_PARAMS(SQL_INT(ch->at), SQL_TEXT_OR_EMPTY(ch->who),
                                 SQL_TEXT_OR_EMPTY(ch->source), SQL_TEXT_OR_EMPTY(ch->what),
                                 SQL_TEXT_OR_EMPTY(ch->key), SQL_TEXT_OR_EMPTY(ch->detail),
                                 SQL_TEXT_OR_EMPTY(ch->reason)),
                      NULL, err);
}

static void change_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    struct store_change ch = {
        .id = sqlite3_column_int64(stmt, 0),
        .at = sqlite3_column_int64(stmt, 1),
        .who = column_text(stmt, 2),
        .source = column_text(stmt, 3),
        .what = column_text(stmt, 4),
        .key = column_text(stmt, 5),
        .detail = column_text(stmt, 6),
        .reason = column_text(stmt, 7),
    };
    v->fn.change(&ch, v->arg);
}

enum store_status sqlite_change_each(struct store_conn *c, const char *key, int64_t since,
                                     int64_t until, int64_t limit,
                                     void (*fn)(const struct store_change *ch, void *arg),
                                     void *arg, struct store_error *err)
{
    struct sqlite_visit v = {.row = change_row, .fn.change = fn, .arg = arg};

    return sqlite_each(c->s, STMT_CHANGE_EACH,
                       SQL_PARAMS(SQL_TEXT(key), SQL_INT(since), SQL_INT(until), SQL_INT(limit)),
                       &v, err);
}

enum store_status sqlite_change_expire(struct store_conn *c, int64_t before, size_t *left,
                                       struct store_error *err)
{
    return sqlite_bounded_delete(c->s, STMT_CHANGE_EXPIRE, before, left, err);
}
