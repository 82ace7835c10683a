/*
 * store/pg_lists: block/allow lists and recipient rules in PostgreSQL
 * (schema/postgresql/003_lists.sql).  Rules compare without ASCII case (lower(), the key of
 * rcpt_rules); ORDER BY ... COLLATE "C" gives SQLite's byte order whatever the database's locale.
 */
#include "pg.h"

const struct pg_sql pg_lists_sql[] = {
    {PG_LISTS_VERSION, "SELECT version FROM lists_version WHERE id = 1"},
    {PG_LIST_EACH, "SELECT kind, value, action, reason, added_by, added_at, expires, public_text "
                   "FROM list_entries WHERE ($1::text IS NULL OR kind = $1::text) "
                   "AND ($2::bigint IS NULL OR expires IS NULL OR expires > $2::bigint) "
                   "ORDER BY kind COLLATE \"C\", value COLLATE \"C\""},
    {PG_LIST_GET, "SELECT action FROM list_entries WHERE kind = $1 AND value = $2"},
    {PG_LIST_ADD, "INSERT INTO list_entries (kind, value, action, reason, added_by, added_at, "
                  "expires, public_text) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                  "ON CONFLICT (kind, value) DO UPDATE SET action = excluded.action, "
                  "reason = excluded.reason, added_by = excluded.added_by, "
                  "added_at = excluded.added_at, expires = excluded.expires, "
                  "public_text = excluded.public_text"},
    {PG_LIST_DEL, "DELETE FROM list_entries WHERE kind = $1 AND value = $2"},
    {PG_RULE_GET, "SELECT action FROM rcpt_rules WHERE lower(recipient) = lower($1::text) "
                  "AND lower(sender) = lower($2::text)"},
    {PG_RULE_ADD, "INSERT INTO rcpt_rules (recipient, sender, action, added_by, added_at) "
                  "VALUES ($1, $2, $3, $4, $5) "
                  "ON CONFLICT ((lower(recipient)), (lower(sender))) DO UPDATE SET "
                  "action = excluded.action, added_by = excluded.added_by, "
                  "added_at = excluded.added_at"},
    {PG_RULE_DEL, "DELETE FROM rcpt_rules WHERE lower(recipient) = lower($1::text) "
                  "AND lower(sender) = lower($2::text)"},
    {PG_RULE_EACH, "SELECT recipient, sender, action, added_by, added_at FROM rcpt_rules "
                   "WHERE $1::text IS NULL OR lower(recipient) = lower($1::text) "
                   "ORDER BY lower(recipient) COLLATE \"C\", lower(sender) COLLATE \"C\""},
};
const size_t pg_lists_sql_count = sizeof pg_lists_sql / sizeof pg_lists_sql[0];

enum store_status pg_lists_version(struct store_conn *c, int64_t *version, struct store_error *err)
{
    return pg_get_int(c, PG_LISTS_VERSION, NULL, 0, version, err);
}

static void list_row(const PGresult *res, int row, const struct pg_visit *v)
{
    struct list_entry e = {
        .kind = pg_text(res, row, 0),
        .value = pg_text(res, row, 1),
        .action = pg_text(res, row, 2),
        .reason = pg_text(res, row, 3),
        .added_by = pg_text(res, row, 4),
        .added_at = pg_int(res, row, 5),
        .expires = pg_int(res, row, 6), /* NULL reads as 0: never */
        .public_text = pg_text(res, row, 7),
    };
    v->fn.list(&e, v->arg);
}

enum store_status pg_list_each(struct store_conn *c, const char *kind, int64_t live_at,
                               void (*fn)(const struct list_entry *e, void *arg), void *arg,
                               struct store_error *err)
{
    struct pg_visit v = {.row = list_row, .fn.list = fn, .arg = arg};

    return pg_each(c, PG_LIST_EACH,
                   PG_PARAMS(PG_TEXT(kind), live_at > 0 ? PG_INT(live_at) : PG_NULL), &v, err);
}

enum store_status pg_list_put(struct store_conn *c, const struct list_entry *e, char *previous,
                              size_t previous_len, struct store_error *err)
{
    enum store_status status = STORE_OK;

    if (previous != NULL)
        status = pg_get_text(c, PG_LIST_GET, PG_PARAMS(PG_TEXT(e->kind), PG_TEXT(e->value)),
                             previous, previous_len, err);
    if (status != STORE_OK && status != STORE_NOTFOUND)
        return status;
    return pg_run(c, PG_LIST_ADD,
                  PG_PARAMS(PG_TEXT(e->kind), PG_TEXT(e->value), PG_TEXT(e->action),
                            PG_TEXT_OR_EMPTY(e->reason), PG_TEXT_OR_EMPTY(e->added_by),
                            PG_INT(e->added_at), e->expires > 0 ? PG_INT(e->expires) : PG_NULL,
                            PG_TEXT_OR_EMPTY(e->public_text)),
                  NULL, err);
}

enum store_status pg_list_del(struct store_conn *c, const char *kind, const char *value,
                              struct store_error *err)
{
    return pg_change(c, PG_LIST_DEL, PG_PARAMS(PG_TEXT(kind), PG_TEXT(value)), err);
}

enum store_status pg_rule_put(struct store_conn *c, const struct rcpt_rule *r, char *previous,
                              size_t previous_len, struct store_error *err)
{
    enum store_status status = STORE_OK;

    if (previous != NULL)
        status = pg_get_text(c, PG_RULE_GET, PG_PARAMS(PG_TEXT(r->recipient), PG_TEXT(r->sender)),
                             previous, previous_len, err);
    if (status != STORE_OK && status != STORE_NOTFOUND)
        return status;
    return pg_run(c, PG_RULE_ADD,
                  PG_PARAMS(PG_TEXT(r->recipient), PG_TEXT(r->sender), PG_TEXT(r->action),
                            PG_TEXT_OR_EMPTY(r->added_by), PG_INT(r->added_at)),
                  NULL, err);
}

enum store_status pg_rule_del(struct store_conn *c, const char *recipient, const char *sender,
                              struct store_error *err)
{
    return pg_change(c, PG_RULE_DEL, PG_PARAMS(PG_TEXT(recipient), PG_TEXT(sender)), err);
}

static void rule_row(const PGresult *res, int row, const struct pg_visit *v)
{
    struct rcpt_rule r = {
        .recipient = pg_text(res, row, 0),
        .sender = pg_text(res, row, 1),
        .action = pg_text(res, row, 2),
        .added_by = pg_text(res, row, 3),
        .added_at = pg_int(res, row, 4),
    };
    v->fn.rule(&r, v->arg);
}

enum store_status pg_rule_each(struct store_conn *c, const char *recipient,
                               void (*fn)(const struct rcpt_rule *r, void *arg), void *arg,
                               struct store_error *err)
{
    struct pg_visit v = {.row = rule_row, .fn.rule = fn, .arg = arg};

    return pg_each(c, PG_RULE_EACH, PG_PARAMS(PG_TEXT(recipient)), &v, err);
}
