/*
 * store/sqlite_reviews: the remote sender's review requests and the site's explanations per
 * check in SQLite (schema/sqlite/014_reviews.sql).
 */
#include "sqlite.h"

const struct sqlite_sql sqlite_reviews_sql[] = {
    /* Added only while fewer than ?6 requests of the reference are open: one statement. */
    {STMT_REVIEW_ADD, "INSERT INTO review_requests (ref, at, client, contact, text) "
                      "SELECT ?1, ?2, ?3, ?4, ?5 WHERE (SELECT count(*) FROM review_requests "
                      "WHERE ref = ?1 AND state = 'open') < ?6"},
    {STMT_REVIEW_EACH, "SELECT id, ref, at, client, contact, text, state, closed_by, closed_at, "
                       "reason FROM review_requests WHERE (?1 IS NULL OR state = ?1) "
                       "ORDER BY at, id"},
    {STMT_REVIEW_CLOSE, "UPDATE review_requests SET state = 'closed', closed_by = ?2, "
                        "reason = ?3, closed_at = ?4 WHERE id = ?1 AND state = 'open'"},
    {STMT_REVIEW_EXPIRE, "DELETE FROM review_requests WHERE id IN (SELECT id FROM "
                         "review_requests WHERE at < ?1 LIMIT ?2)"},
    {STMT_EXPLANATION_SET,
     "INSERT INTO explanations (check_name, text, set_by, set_at) VALUES (?1, ?2, ?3, ?4) "
     "ON CONFLICT (check_name) DO UPDATE SET text = excluded.text, set_by = excluded.set_by, "
     "set_at = excluded.set_at"},
    {STMT_EXPLANATION_DEL, "DELETE FROM explanations WHERE check_name = ?1"},
    {STMT_EXPLANATION_EACH,
     "SELECT check_name, text, set_by, set_at FROM explanations ORDER BY check_name"},
};
const size_t sqlite_reviews_sql_count = sizeof sqlite_reviews_sql / sizeof sqlite_reviews_sql[0];

enum store_status sqlite_review_add(struct store_conn *c, const struct store_review *r,
                                    int64_t open_max, struct store_error *err)
{
    return sqlite_change(c->s, STMT_REVIEW_ADD,
                         SQL_PARAMS(SQL_TEXT(r->ref), SQL_INT(r->at), SQL_TEXT(r->client),
                                    SQL_TEXT(r->contact), SQL_TEXT(r->text), SQL_INT(open_max)),
                         err);
}

static void review_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    struct store_review r = {0};

    sqlite_columns(stmt, &store_review_columns, &r);
    v->fn.review(&r, v->arg);
}

enum store_status sqlite_review_each(struct store_conn *c, const char *state,
                                     void (*fn)(const struct store_review *r, void *arg), void *arg,
                                     struct store_error *err)
{
    struct sqlite_visit v = {.row = review_row, .fn.review = fn, .arg = arg};

    return sqlite_each(c->s, STMT_REVIEW_EACH, SQL_PARAMS(SQL_TEXT(state)), &v, err);
}

enum store_status sqlite_review_close(struct store_conn *c, int64_t id, const char *by,
                                      const char *reason, int64_t now, struct store_error *err)
{
    return sqlite_change(
        c->s, STMT_REVIEW_CLOSE,
        SQL_PARAMS(SQL_INT(id), SQL_TEXT_OR_EMPTY(by), SQL_TEXT_OR_EMPTY(reason), SQL_INT(now)),
        err);
}

enum store_status sqlite_review_expire(struct store_conn *c, int64_t before, size_t *left,
                                       struct store_error *err)
{
    return sqlite_bounded_delete(c->s, STMT_REVIEW_EXPIRE, before, left, err);
}

enum store_status sqlite_explanation_set(struct store_conn *c, const char *check, const char *text,
                                         const char *by, int64_t now, struct store_error *err)
{
    if (text == NULL)
        return sqlite_change(c->s, STMT_EXPLANATION_DEL, SQL_PARAMS(SQL_TEXT(check)), err);
    return sqlite_run(
        c->s, STMT_EXPLANATION_SET,
        SQL_PARAMS(SQL_TEXT(check), SQL_TEXT(text), SQL_TEXT_OR_EMPTY(by), SQL_INT(now)), NULL,
        err);
}

static void explanation_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    v->fn.explanation(column_text(stmt, 0), column_text(stmt, 1), column_text(stmt, 2),
                      sqlite3_column_int64(stmt, 3), v->arg);
}

enum store_status sqlite_explanation_each(struct store_conn *c,
                                          void (*fn)(const char *check, const char *text,
                                                     const char *by, int64_t at, void *arg),
                                          void *arg, struct store_error *err)
{
    struct sqlite_visit v = {.row = explanation_row, .fn.explanation = fn, .arg = arg};

    return sqlite_each(c->s, STMT_EXPLANATION_EACH, NULL, 0, &v, err);
}
