/*
 * store/sqlite_dmarc: the DMARC aggregate report data in SQLite
 * (schema/sqlite/011_dmarc_report.sql): counts added to a row per (policy domain, day, key).
 */
#include "sqlite.h"

#define DMARC_COLUMNS                                                                              \
    "day, row_key, policy_domain, header_from, envelope_from, source_ip, p, sp, pct, adkim, "      \
    "aspf, disposition, dkim_aligned, spf_aligned, override, dkim, spf_domain, spf_scope, "        \
    "spf_result, messages"

const struct sqlite_sql sqlite_dmarc_sql[] = {
    {STMT_DMARC_UPSERT,
     "INSERT INTO dmarc_rows (" DMARC_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
     "?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20) "
     "ON CONFLICT (policy_domain, day, row_key) "
     "DO UPDATE SET messages = dmarc_rows.messages + excluded.messages"},
    {STMT_DMARC_EACH, "SELECT " DMARC_COLUMNS " FROM dmarc_rows "
                      "WHERE policy_domain = ?1 AND day >= ?2 AND day < ?3 "
                      "ORDER BY day, header_from, source_ip, row_key"},
    {STMT_DMARC_EXPIRE, "DELETE FROM dmarc_rows WHERE rowid IN "
                        "(SELECT rowid FROM dmarc_rows WHERE day < ?1 ORDER BY day LIMIT ?2)"},
};
const size_t sqlite_dmarc_sql_count = sizeof sqlite_dmarc_sql / sizeof sqlite_dmarc_sql[0];

enum store_status sqlite_dmarc_upsert(struct store_conn *c,
                                      const struct store_dmarc_row *const *rows,
                                      const char *const *keys, size_t n, struct store_error *err)
{
    enum store_status status = STORE_OK;

    for (size_t i = 0; status == STORE_OK && i < n; i++) {
        const struct store_dmarc_row *r = rows[i];
        status = sqlite_run(
            c->s, STMT_DMARC_UPSERT,
            SQL_PARAMS(SQL_INT(r->day), SQL_TEXT(keys[i]), SQL_TEXT(r->policy_domain),
                       SQL_TEXT(r->header_from), SQL_TEXT(r->envelope_from), SQL_TEXT(r->source_ip),
                       SQL_TEXT(r->p), SQL_TEXT(r->sp), SQL_INT(r->pct), SQL_TEXT(r->adkim),
                       SQL_TEXT(r->aspf), SQL_TEXT(r->disposition), SQL_TEXT(r->dkim_aligned),
                       SQL_TEXT(r->spf_aligned), SQL_TEXT(r->override), SQL_TEXT(r->dkim),
                       SQL_TEXT(r->spf_domain), SQL_TEXT(r->spf_scope), SQL_TEXT(r->spf_result),
                       SQL_INT(r->messages)),
            NULL, err);
    }
    return status;
}

static const char *text_or_empty(sqlite3_stmt *stmt, int col)
{
    const char *t = column_text(stmt, col);
    return t != NULL ? t : "";
}

static void dmarc_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    struct store_dmarc_row r = {
        .day = sqlite3_column_int64(stmt, 0),
        .policy_domain = text_or_empty(stmt, 2),
        .header_from = text_or_empty(stmt, 3),
        .envelope_from = text_or_empty(stmt, 4),
        .source_ip = text_or_empty(stmt, 5),
        .p = text_or_empty(stmt, 6),
        .sp = text_or_empty(stmt, 7),
        .pct = sqlite3_column_int64(stmt, 8),
        .adkim = text_or_empty(stmt, 9),
        .aspf = text_or_empty(stmt, 10),
        .disposition = text_or_empty(stmt, 11),
        .dkim_aligned = text_or_empty(stmt, 12),
        .spf_aligned = text_or_empty(stmt, 13),
        .override = text_or_empty(stmt, 14),
        .dkim = text_or_empty(stmt, 15),
        .spf_domain = text_or_empty(stmt, 16),
        .spf_scope = text_or_empty(stmt, 17),
        .spf_result = text_or_empty(stmt, 18),
        .messages = sqlite3_column_int64(stmt, 19),
    };
    v->fn.dmarc(&r, v->arg);
}

enum store_status sqlite_dmarc_each(struct store_conn *c, const char *policy_domain, int64_t since,
                                    int64_t until,
                                    void (*fn)(const struct store_dmarc_row *r, void *arg),
                                    void *arg, struct store_error *err)
{
    struct sqlite_visit v = {.row = dmarc_row, .fn.dmarc = fn, .arg = arg};

    return sqlite_each(c->s, STMT_DMARC_EACH,
                       SQL_PARAMS(SQL_TEXT(policy_domain), SQL_INT(since), SQL_INT(until)), &v,
                       err);
}

enum store_status sqlite_dmarc_expire(struct store_conn *c, int64_t before, size_t *left,
                                      struct store_error *err)
{
    return sqlite_bounded_delete(c->s, STMT_DMARC_EXPIRE, before, left, err);
}
