/*
 * store/pg_reviews: the remote sender's review requests and the site's explanations per check
 * in PostgreSQL (schema/postgresql/014_reviews.sql).
 */
#include "pg.h"

const struct pg_sql pg_reviews_sql[] = {
    /* Added only while fewer than $6 requests of the reference are open: one statement. */
    {PG_REVIEW_ADD, "INSERT INTO review_requests (ref, at, client, contact, text) "
                    "SELECT $1::text, $2, $3, $4, $5 WHERE (SELECT count(*) FROM review_requests "
                    "WHERE ref = $1::text AND state = 'open') < $6"},
    {PG_REVIEW_EACH, "SELECT id, ref, at, client, contact, text, state, closed_by, closed_at, "
                     "reason FROM review_requests WHERE ($1::text IS NULL OR state = $1::text) "
                     "ORDER BY at, id"},
    {PG_REVIEW_CLOSE, "UPDATE review_requests SET state = 'closed', closed_by = $2, "
                      "reason = $3, closed_at = $4 WHERE id = $1 AND state = 'open'"},
    {PG_REVIEW_EXPIRE, "DELETE FROM review_requests WHERE id IN (SELECT id FROM "
                       "review_requests WHERE at < $1 LIMIT $2)"},
    {PG_EXPLANATION_SET,
     "INSERT INTO explanations (check_name, text, set_by, set_at) VALUES ($1, $2, $3, $4) "
     "ON CONFLICT (check_name) DO UPDATE SET text = EXCLUDED.text, set_by = EXCLUDED.set_by, "
     "set_at = EXCLUDED.set_at"},
    {PG_EXPLANATION_DEL, "DELETE FROM explanations WHERE check_name = $1"},
    {PG_EXPLANATION_EACH,
     "SELECT check_name, text, set_by, set_at FROM explanations ORDER BY check_name"},
};
const size_t pg_reviews_sql_count = sizeof pg_reviews_sql / sizeof pg_reviews_sql[0];

enum store_status pg_review_add(struct store_conn *c, const struct store_review *r,
                                int64_t open_max, struct store_error *err)
{
    return pg_change(c, PG_REVIEW_ADD,
                     PG_PARAMS(PG_TEXT(r->ref), PG_INT(r->at), PG_TEXT(r->client),
                               PG_TEXT(r->contact), PG_TEXT(r->text), PG_INT(open_max)),
                     err);
}

static void review_row(const PGresult *res, int row, const struct pg_visit *v)
{
    struct store_review r = {0};

    pg_columns(res, row, &store_review_columns, &r);
    v->fn.review(&r, v->arg);
}

enum store_status pg_review_each(struct store_conn *c, const char *state,
                                 void (*fn)(const struct store_review *r, void *arg), void *arg,
                                 struct store_error *err)
{
    struct pg_visit v = {.row = review_row, .fn.review = fn, .arg = arg};

    return pg_each(c, PG_REVIEW_EACH, PG_PARAMS(PG_TEXT(state)), &v, err);
}

enum store_status pg_review_close(struct store_conn *c, int64_t id, const char *by,
                                  const char *reason, int64_t now, struct store_error *err)
{
    return pg_change(
        c, PG_REVIEW_CLOSE,
        PG_PARAMS(PG_INT(id), PG_TEXT_OR_EMPTY(by), PG_TEXT_OR_EMPTY(reason), PG_INT(now)), err);
}

enum store_status pg_review_expire(struct store_conn *c, int64_t before, size_t *left,
                                   struct store_error *err)
{
    return pg_bounded_delete(c, PG_REVIEW_EXPIRE, before, left, err);
}

enum store_status pg_explanation_set(struct store_conn *c, const char *check, const char *text,
                                     const char *by, int64_t now, struct store_error *err)
{
    if (text == NULL)
        return pg_change(c, PG_EXPLANATION_DEL, PG_PARAMS(PG_TEXT(check)), err);
    return pg_run(c, PG_EXPLANATION_SET,
                  PG_PARAMS(PG_TEXT(check), PG_TEXT(text), PG_TEXT_OR_EMPTY(by), PG_INT(now)), NULL,
                  err);
}

static void explanation_row(const PGresult *res, int row, const struct pg_visit *v)
{
    v->fn.explanation(pg_text(res, row, 0), pg_text(res, row, 1), pg_text(res, row, 2),
                      pg_int(res, row, 3), v->arg);
}

enum store_status pg_explanation_each(struct store_conn *c,
                                      void (*fn)(const char *check, const char *text,
                                                 const char *by, int64_t at, void *arg),
                                      void *arg, struct store_error *err)
{
    struct pg_visit v = {.row = explanation_row, .fn.explanation = fn, .arg = arg};

    return pg_each(c, PG_EXPLANATION_EACH, NULL, 0, &v, err);
}
