/*
 * store/sqlite_lists: block/allow lists and recipient rules in SQLite
 * (schema/sqlite/003_lists.sql).
 */
#include "sqlite.h"

const struct sqlite_sql sqlite_lists_sql[] = {
    /* lists: ?1 NULL matches every kind (or recipient); ORDER BY follows the UNIQUE indexes. */
    {STMT_LISTS_VERSION, "SELECT version FROM lists_version WHERE id = 1"},
    {STMT_LIST_EACH, "SELECT kind, value, action, reason, added_by, added_at, expires, public_text "
                     "FROM list_entries WHERE (?1 IS NULL OR kind = ?1) "
                     "AND (?2 IS NULL OR expires IS NULL OR expires > ?2) ORDER BY kind, value"},
    {STMT_LIST_GET, "SELECT action FROM list_entries WHERE kind = ?1 AND value = ?2"},
    {STMT_LIST_ADD, "INSERT INTO list_entries (kind, value, action, reason, added_by, added_at, "
                    "expires, public_text) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                    "ON CONFLICT (kind, value) DO UPDATE SET action = excluded.action, "
                    "reason = excluded.reason, added_by = excluded.added_by, "
                    "added_at = excluded.added_at, expires = excluded.expires, "
                    "public_text = excluded.public_text"},
    {STMT_LIST_DEL, "DELETE FROM list_entries WHERE kind = ?1 AND value = ?2"},
    {STMT_RULE_GET, "SELECT action FROM rcpt_rules WHERE recipient = ?1 AND sender = ?2"},
    {STMT_RULE_ADD, "INSERT INTO rcpt_rules (recipient, sender, action, added_by, added_at) "
                    "VALUES (?1, ?2, ?3, ?4, ?5) "
                    "ON CONFLICT (recipient, sender) DO UPDATE SET action = excluded.action, "
                    "added_by = excluded.added_by, added_at = excluded.added_at"},
    {STMT_RULE_DEL, "DELETE FROM rcpt_rules WHERE recipient = ?1 AND sender = ?2"},
    {STMT_RULE_EACH, "SELECT recipient, sender, action, added_by, added_at FROM rcpt_rules "
                     "WHERE ?1 IS NULL OR recipient = ?1 ORDER BY recipient, sender"},
};
const size_t sqlite_lists_sql_count = sizeof sqlite_lists_sql / sizeof sqlite_lists_sql[0];

enum store_status sqlite_lists_version(struct store_conn *c, int64_t *version,
                                       struct store_error *err)
{
    return sqlite_get_int(c->s, STMT_LISTS_VERSION, NULL, 0, version, err);
}

static void list_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    struct list_entry e = {
        .kind = column_text(stmt, 0),
        .value = column_text(stmt, 1),
        .action = column_text(stmt, 2),
        .reason = column_text(stmt, 3),
        .added_by = column_text(stmt, 4),
        .added_at = sqlite3_column_int64(stmt, 5),
        .expires = sqlite3_column_int64(stmt, 6), /* NULL reads as 0: never */
        .public_text = column_text(stmt, 7),
    };
    v->fn.list(&e, v->arg);
}

enum store_status sqlite_list_each(struct store_conn *c, const char *kind, int64_t live_at,
                                   void (*fn)(const struct list_entry *e, void *arg), void *arg,
                                   struct store_error *err)
{
    struct sqlite_visit v = {.row = list_row, .fn.list = fn, .arg = arg};

    return sqlite_each(c->s, STMT_LIST_EACH,
                       SQL_PARAMS(SQL_TEXT(kind), live_at > 0 ? SQL_INT(live_at) : SQL_NULL), &v,
                       err);
}

enum store_status sqlite_list_put(struct store_conn *c, const struct list_entry *e, char *previous,
                                  size_t previous_len, struct store_error *err)
{
    enum store_status status = STORE_OK;

    if (previous != NULL)
        status =
            sqlite_get_text(c->s, STMT_LIST_GET, SQL_PARAMS(SQL_TEXT(e->kind), SQL_TEXT(e->value)),
                            previous, previous_len, err);
    if (status != STORE_OK && status != STORE_NOTFOUND)
        return status;
    return sqlite_run(c->s, STMT_LIST_ADD,
                      SQL_PARAMS(SQL_TEXT(e->kind), SQL_TEXT(e->value), SQL_TEXT(e->action),
                                 SQL_TEXT_OR_EMPTY(e->reason), SQL_TEXT_OR_EMPTY(e->added_by),
                                 SQL_INT(e->added_at),
                                 e->expires > 0 ? SQL_INT(e->expires) : SQL_NULL,
                                 SQL_TEXT_OR_EMPTY(e->public_text)),
                      NULL, err);
}

enum store_status sqlite_list_del(struct store_conn *c, const char *kind, const char *value,
                                  struct store_error *err)
{
    return sqlite_change(c->s, STMT_LIST_DEL, SQL_PARAMS(SQL_TEXT(kind), SQL_TEXT(value)), err);
}

enum store_status sqlite_rule_put(struct store_conn *c, const struct rcpt_rule *r, char *previous,
                                  size_t previous_len, struct store_error *err)
{
    enum store_status status = STORE_OK;

    if (previous != NULL)
        status = sqlite_get_text(c->s, STMT_RULE_GET,
                                 SQL_PARAMS(SQL_TEXT(r->recipient), SQL_TEXT(r->sender)), previous,
                                 previous_len, err);
    if (status != STORE_OK && status != STORE_NOTFOUND)
        return status;
    return sqlite_run(c->s, STMT_RULE_ADD,
                      SQL_PARAMS(SQL_TEXT(r->recipient), SQL_TEXT(r->sender), SQL_TEXT(r->action),
                                 SQL_TEXT_OR_EMPTY(r->added_by), SQL_INT(r->added_at)),
                      NULL, err);
}

enum store_status sqlite_rule_del(struct store_conn *c, const char *recipient, const char *sender,
                                  struct store_error *err)
{
    return sqlite_change(c->s, STMT_RULE_DEL, SQL_PARAMS(SQL_TEXT(recipient), SQL_TEXT(sender)),
                         err);
}

static void rule_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    struct rcpt_rule r = {
        .recipient = column_text(stmt, 0),
        .sender = column_text(stmt, 1),
        .action = column_text(stmt, 2),
        .added_by = column_text(stmt, 3),
        .added_at = sqlite3_column_int64(stmt, 4),
    };
    v->fn.rule(&r, v->arg);
}

enum store_status sqlite_rule_each(struct store_conn *c, const char *recipient,
                                   void (*fn)(const struct rcpt_rule *r, void *arg), void *arg,
                                   struct store_error *err)
{
    struct sqlite_visit v = {.row = rule_row, .fn.rule = fn, .arg = arg};

    return sqlite_each(c->s, STMT_RULE_EACH, SQL_PARAMS(SQL_TEXT(recipient)), &v, err);
}
