/*
 * store/pg_dmarc: the DMARC aggregate report data in PostgreSQL
 * (schema/postgresql/011_dmarc_report.sql): counts added to a row per (policy domain, day, key).
 */
#include "pg.h"

#define DMARC_COLUMNS                                                                              \
    "day, row_key, policy_domain, header_from, envelope_from, source_ip, p, sp, pct, adkim, "      \
    "aspf, disposition, dkim_aligned, spf_aligned, override, dkim, spf_domain, spf_scope, "        \
    "spf_result, messages"
#define DMARC_PARAMS 20

const struct pg_sql pg_dmarc_sql[] = {
    {PG_DMARC_UPSERT,
     "INSERT INTO dmarc_rows (" DMARC_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
     "$11, $12, $13, $14, $15, $16, $17, $18, $19, $20) "
     "ON CONFLICT (policy_domain, day, row_key) "
     "DO UPDATE SET messages = dmarc_rows.messages + excluded.messages"},
    {PG_DMARC_EACH, "SELECT " DMARC_COLUMNS " FROM dmarc_rows "
                    "WHERE policy_domain = $1 AND day >= $2 AND day < $3 "
                    "ORDER BY day, header_from, source_ip, row_key"},
    {PG_DMARC_EXPIRE, "DELETE FROM dmarc_rows WHERE (policy_domain, day, row_key) IN "
                      "(SELECT policy_domain, day, row_key FROM dmarc_rows WHERE day < $1 "
                      "ORDER BY day LIMIT $2)"},
};
const size_t pg_dmarc_sql_count = sizeof pg_dmarc_sql / sizeof pg_dmarc_sql[0];

enum store_status pg_dmarc_upsert(struct store_conn *c, const struct store_dmarc_row *const *rows,
                                  const char *const *keys, size_t n, struct store_error *err)
{
    enum store_status status = STORE_OK;

    for (size_t i = 0; status == STORE_OK && i < n; i++) {
        const struct store_dmarc_row *r = rows[i];
        const struct pg_param p[DMARC_PARAMS] = {
            PG_INT(r->day),
            PG_TEXT(keys[i]),
            PG_TEXT(r->policy_domain),
            PG_TEXT(r->header_from),
            PG_TEXT(r->envelope_from),
            PG_TEXT(r->source_ip),
            PG_TEXT(r->p),
            PG_TEXT(r->sp),
            PG_INT(r->pct),
            PG_TEXT(r->adkim),
            PG_TEXT(r->aspf),
            PG_TEXT(r->disposition),
            PG_TEXT(r->dkim_aligned),
            PG_TEXT(r->spf_aligned),
            PG_TEXT(r->override),
            PG_TEXT(r->dkim),
            PG_TEXT(r->spf_domain),
            PG_TEXT(r->spf_scope),
            PG_TEXT(r->spf_result),
            PG_INT(r->messages),
        };
        status = pg_run(c, PG_DMARC_UPSERT, p, DMARC_PARAMS, NULL, err);
    }
    return status;
}

static const char *text_or_empty(const PGresult *res, int row, int col)
{
    const char *t = pg_text(res, row, col);
    return t != NULL ? t : "";
}

static void dmarc_row(const PGresult *res, int row, const struct pg_visit *v)
{
    struct store_dmarc_row r = {
        .day = pg_int(res, row, 0),
        .policy_domain = text_or_empty(res, row, 2),
        .header_from = text_or_empty(res, row, 3),
        .envelope_from = text_or_empty(res, row, 4),
        .source_ip = text_or_empty(res, row, 5),
        .p = text_or_empty(res, row, 6),
        .sp = text_or_empty(res, row, 7),
        .pct = pg_int(res, row, 8),
        .adkim = text_or_empty(res, row, 9),
        .aspf = text_or_empty(res, row, 10),
        .disposition = text_or_empty(res, row, 11),
        .dkim_aligned = text_or_empty(res, row, 12),
        .spf_aligned = text_or_empty(res, row, 13),
        .override = text_or_empty(res, row, 14),
        .dkim = text_or_empty(res, row, 15),
        .spf_domain = text_or_empty(res, row, 16),
        .spf_scope = text_or_empty(res, row, 17),
        .spf_result = text_or_empty(res, row, 18),
        .messages = pg_int(res, row, 19),
    };
    v->fn.dmarc(&r, v->arg);
}

enum store_status pg_dmarc_each(struct store_conn *c, const char *policy_domain, int64_t since,
                                int64_t until,
                                void (*fn)(const struct store_dmarc_row *r, void *arg), void *arg,
                                struct store_error *err)
{
    struct pg_visit v = {.row = dmarc_row, .fn.dmarc = fn, .arg = arg};

    return pg_each(c, PG_DMARC_EACH,
                   PG_PARAMS(PG_TEXT(policy_domain), PG_INT(since), PG_INT(until)), &v, err);
}

enum store_status pg_dmarc_expire(struct store_conn *c, int64_t before, size_t *left,
                                  struct store_error *err)
{
    return pg_bounded_delete(c, PG_DMARC_EXPIRE, before, left, err);
}
