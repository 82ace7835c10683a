/*
 * store/pg_copy: the PostgreSQL side of store_copy() (lib/store/copy.c): the constant statements
 * of lib/store/copy.h, every value sent and read as text.  A table is read through a cursor in
 * slices (a decision log of millions of rows never sits whole in memory), and a batch of rows is
 * written in one round trip (pipelined).  A decision's day gets its partition before its row, so
 * that a copied log expires by days like the milters' own.
 */
#include <stdlib.h>
#include <string.h>

#include "copy.h"
#include "pg.h"
#include "util.h"

#define COPY_SLICE "1000"

static enum store_status count_row(struct store_conn *c, const char *sql, int64_t *out,
                                   struct store_error *err)
{
    PGresult *res = NULL;
    enum store_status status = pg_exec_params(c, sql, NULL, 0, &res, err);

    *out = status == STORE_OK && PQntuples(res) > 0 ? pg_int(res, 0, 0) : 0;
    PQclear(res);
    return status;
}

enum store_status pg_copy_count(struct store_conn *c, size_t table, int64_t *rows,
                                struct store_error *err)
{
    return count_row(c, store_copy_tables[table].count, rows, err);
}

/* Hands the rows of one slice to fn; *more is false after the last slice. */
static enum store_status each_slice(struct store_conn *c, size_t columns,
                                    enum store_status (*fn)(const char *const *values, void *arg,
                                                            struct store_error *err),
                                    void *arg, bool *more, struct store_error *err)
{
    PGresult *res = NULL;
    const char **values = xcalloc(columns, sizeof *values);
    enum store_status status =
        pg_exec_params(c, "FETCH " COPY_SLICE " FROM ingress_copy", NULL, 0, &res, err);
    int rows = status == STORE_OK ? PQntuples(res) : 0;

    for (int i = 0; status == STORE_OK && i < rows; i++) {
        for (size_t col = 0; col < columns; col++)
            values[col] = pg_text(res, i, (int)col);
        status = fn(values, arg, err);
    }
    *more = status == STORE_OK && rows > 0;
    PQclear(res);
    free(values);
    return status;
}

enum store_status pg_copy_each(struct store_conn *c, size_t table,
                               enum store_status (*fn)(const char *const *values, void *arg,
                                                       struct store_error *err),
                               void *arg, struct store_error *err)
{
    const struct store_copy_table *t = &store_copy_tables[table];
    enum store_status status = pg_exec_params(c, t->cursor, NULL, 0, NULL, err);
    bool more = status == STORE_OK;

    while (more)
        status = each_slice(c, t->columns, fn, arg, &more, err);
    if (status == STORE_OK)
        status = pg_exec_params(c, "CLOSE ingress_copy", NULL, 0, NULL, err);
    return status;
}

/* The partition of the day of each decision in rows, before the rows go in. */
static enum store_status decision_days(struct store_conn *c, const char *const *const *rows,
                                       size_t n, struct store_error *err)
{
    enum store_status status = STORE_OK;

    for (size_t i = 0; status == STORE_OK && i < n; i++) {
        const char *time = rows[i][COPY_DECISIONS_TIME];
        int64_t day = time != NULL ? strtoll(time, NULL, 10) / 86400 * 86400 : 0;
        if (time == NULL || (c->copy_day_known && day == c->copy_day))
            continue;
        status =
            pg_exec_params(c, "SELECT decisions_add_day($1)", PG_PARAMS(PG_INT(day)), NULL, err);
        c->copy_day = day;
        c->copy_day_known = status == STORE_OK;
    }
    return status;
}

enum store_status pg_copy_insert(struct store_conn *c, size_t table, const char *const *const *rows,
                                 size_t n, struct store_error *err)
{
    const struct store_copy_table *t = &store_copy_tables[table];
    const char *sql = t->insert_keeping_id != NULL ? t->insert_keeping_id : t->insert;
    struct pg_param *params = xcalloc(n * t->columns, sizeof *params);
    struct pg_step *steps = xcalloc(n, sizeof *steps);
    PGresult **res = xcalloc(n, sizeof *res);
    enum store_status status = STORE_OK;

    if (strcmp(t->name, "decisions") == 0)
        status = decision_days(c, rows, n, err);
    for (size_t i = 0; i < n; i++) {
        for (size_t col = 0; col < t->columns; col++)
            params[i * t->columns + col] = PG_TEXT(rows[i][col]);
        steps[i] = (struct pg_step){
            .id = -1, .sql = sql, .params = &params[i * t->columns], .n = t->columns};
    }
    if (status == STORE_OK)
        status = pg_pipeline(c, steps, n, res, err);
    for (size_t i = 0; i < n; i++)
        PQclear(res[i]);
    free(res);
    free(steps);
    free(params);
    return status;
}

enum store_status pg_copy_clear(struct store_conn *c, size_t table, struct store_error *err)
{
    return pg_exec_params(c, store_copy_tables[table].clear, NULL, 0, NULL, err);
}

enum store_status pg_copy_finish(struct store_conn *c, size_t table, struct store_error *err)
{
    const char *sql = store_copy_tables[table].sequence_after;

    c->copy_day_known = false;
    return sql != NULL ? pg_exec_params(c, sql, NULL, 0, NULL, err) : STORE_OK;
}
