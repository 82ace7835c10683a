/*
 * store/sqlite_copy: the SQLite side of store_copy() (lib/store/copy.c): the constant statements
 * of lib/store/copy.h, prepared for the call (a copy runs once) and every value bound and read as
 * text.  A value an INTEGER column receives as text ("1700000000") is stored as the integer by
 * the column's affinity, so a copy from PostgreSQL keeps its types.
 */
#include <stdlib.h>

#include "copy.h"
#include "sqlite.h"
#include "util.h"

/* copy_sql is one of store_copy_tables[]'s statements, constants made at compile time. */
static enum store_status prepare_copy(struct store_db *s, const char *copy_sql, sqlite3_stmt **stmt,
                                      struct store_error *err)
{
    int rc = sqlite3_prepare_v2(s->db, copy_sql, -1, stmt, NULL);

    return rc == SQLITE_OK ? STORE_OK : sqlite_fail(s, rc, err);
}

enum store_status sqlite_copy_count(struct store_conn *c, size_t table, int64_t *rows,
                                    struct store_error *err)
{
    sqlite3_stmt *stmt;
    enum store_status status = prepare_copy(c->s, store_copy_tables[table].count, &stmt, err);
    int rc;

    *rows = 0;
    if (status != STORE_OK)
        return status;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *rows = sqlite3_column_int64(stmt, 0);
    else
        status = sqlite_fail(c->s, rc, err);
    sqlite3_finalize(stmt);
    return status;
}

enum store_status sqlite_copy_each(struct store_conn *c, size_t table,
                                   enum store_status (*fn)(const char *const *values, void *arg,
                                                           struct store_error *err),
                                   void *arg, struct store_error *err)
{
    const struct store_copy_table *t = &store_copy_tables[table];
    const char **values = xcalloc(t->columns, sizeof *values);
    sqlite3_stmt *stmt;
    enum store_status status = prepare_copy(c->s, t->select, &stmt, err);
    int rc = SQLITE_DONE;

    while (status == STORE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        for (size_t col = 0; col < t->columns; col++)
            values[col] = (const char *)sqlite3_column_text(stmt, (int)col);
        status = fn(values, arg, err);
    }
    if (status == STORE_OK && rc != SQLITE_DONE)
        status = sqlite_fail(c->s, rc, err);
    sqlite3_finalize(stmt);
    free(values);
    return status;
}

enum store_status sqlite_copy_insert(struct store_conn *c, size_t table,
                                     const char *const *const *rows, size_t n,
                                     struct store_error *err)
{
    const struct store_copy_table *t = &store_copy_tables[table];
    sqlite3_stmt *stmt;
    enum store_status status = prepare_copy(c->s, t->insert, &stmt, err);

    for (size_t i = 0; status == STORE_OK && i < n; i++) {
        for (size_t col = 0; col < t->columns; col++) {
            if (rows[i][col] != NULL)
                sqlite3_bind_text(stmt, (int)col + 1, rows[i][col], -1, SQLITE_STATIC);
            else
                sqlite3_bind_null(stmt, (int)col + 1);
        }
        int rc = sqlite3_step(stmt);
        if (rc != SQLITE_DONE)
            status = sqlite_fail(c->s, rc, err);
        sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    return status;
}

enum store_status sqlite_copy_clear(struct store_conn *c, size_t table, struct store_error *err)
{
    sqlite3_stmt *stmt;
    enum store_status status = prepare_copy(c->s, store_copy_tables[table].clear, &stmt, err);

    if (status == STORE_OK) {
        int rc = sqlite3_step(stmt);
        if (rc != SQLITE_DONE)
            status = sqlite_fail(c->s, rc, err);
        sqlite3_finalize(stmt);
    }
    return status;
}
