/*
 * store/sqlite_accounts: submission accounts, aliases and suspensions in SQLite
 * (schema/sqlite/004_accounts.sql).
 */
#include "sqlite.h"

#include "util.h"

const struct sqlite_sql sqlite_accounts_sql[] = {
    /* accounts: ?1 NULL matches every account. */
    {STMT_ACCOUNT_ADD, "INSERT INTO accounts (name, created) VALUES (?1, ?2) "
                       "ON CONFLICT (name) DO NOTHING"},
    {STMT_ACCOUNT_EACH, "SELECT a.name, a.created, a.suspended, a.suspend_reason, "
                        "(SELECT count(*) FROM aliases l WHERE l.account = a.name) "
                        "FROM accounts a WHERE ?1 IS NULL OR a.name = ?1 ORDER BY a.name"},
    {STMT_ALIAS_ADD, "INSERT INTO aliases (account, address, added_by, added_at) "
                     "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (account, address) DO NOTHING"},
    {STMT_ALIAS_DEL, "DELETE FROM aliases WHERE account = ?1 AND address = ?2"},
    {STMT_ALIAS_EACH, "SELECT account, address, added_by, added_at FROM aliases "
                      "WHERE ?1 IS NULL OR account = ?1 ORDER BY account, address"},
    {STMT_ACCOUNT_SUSPEND, "UPDATE accounts SET suspended = ?2, suspend_reason = ?3 "
                           "WHERE name = ?1 AND suspended IS NULL"},
    {STMT_ACCOUNT_SUSPENDED, "SELECT suspended, suspend_reason FROM accounts "
                             "WHERE name = ?1 AND suspended IS NOT NULL"},
    {STMT_ACCOUNT_RESUME, "UPDATE accounts SET suspended = NULL, suspend_reason = '' "
                          "WHERE name = ?1 AND suspended IS NOT NULL"},
};
const size_t sqlite_accounts_sql_count = sizeof sqlite_accounts_sql / sizeof sqlite_accounts_sql[0];

/* Runs statement id; *changed (may be NULL): it changed a row. */
static enum store_status run_changed(struct store_db *s, enum stmt_id id,
                                     const struct sql_param *params, size_t n, bool *changed,
                                     struct store_error *err)
{
    int changes = 0;
    enum store_status status = sqlite_run(s, id, params, n, &changes, err);

    if (status == STORE_OK && changed != NULL)
        *changed = changes > 0;
    return status;
}

enum store_status sqlite_account_add(struct store_conn *c, const char *name, int64_t now,
                                     bool *created, struct store_error *err)
{
    return run_changed(c->s, STMT_ACCOUNT_ADD, SQL_PARAMS(SQL_TEXT(name), SQL_INT(now)), created,
                       err);
}

static void account_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    const char *reason = column_text(stmt, 3);
    struct store_account a = {
        .name = column_text(stmt, 0),
        .created = sqlite3_column_int64(stmt, 1),
        .suspended = sqlite3_column_int64(stmt, 2), /* NULL reads as 0: not suspended */
        .suspend_reason = reason ? reason : "",
        .alias_count = sqlite3_column_int64(stmt, 4),
    };
    v->fn.account(&a, v->arg);
}

enum store_status sqlite_account_each(struct store_conn *c, const char *name,
                                      void (*fn)(const struct store_account *a, void *arg),
                                      void *arg, struct store_error *err)
{
    struct sqlite_visit v = {.row = account_row, .fn.account = fn, .arg = arg};

    return sqlite_each(c->s, STMT_ACCOUNT_EACH, SQL_PARAMS(SQL_TEXT(name)), &v, err);
}

enum store_status sqlite_alias_add(struct store_conn *c, const struct store_alias *alias,
                                   bool *created, struct store_error *err)
{
    return run_changed(c->s, STMT_ALIAS_ADD,
                       SQL_PARAMS(SQL_TEXT(alias->account), SQL_TEXT(alias->address),
                                  SQL_TEXT_OR_EMPTY(alias->added_by), SQL_INT(alias->added_at)),
                       created, err);
}

enum store_status sqlite_alias_del(struct store_conn *c, const char *account, const char *address,
                                   struct store_error *err)
{
    return sqlite_change(c->s, STMT_ALIAS_DEL, SQL_PARAMS(SQL_TEXT(account), SQL_TEXT(address)),
                         err);
}

static void alias_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    struct store_alias a = {
        .account = column_text(stmt, 0),
        .address = column_text(stmt, 1),
        .added_by = column_text(stmt, 2),
        .added_at = sqlite3_column_int64(stmt, 3),
    };
    v->fn.alias(&a, v->arg);
}

enum store_status sqlite_alias_each(struct store_conn *c, const char *account,
                                    void (*fn)(const struct store_alias *a, void *arg), void *arg,
                                    struct store_error *err)
{
    struct sqlite_visit v = {.row = alias_row, .fn.alias = fn, .arg = arg};

    return sqlite_each(c->s, STMT_ALIAS_EACH, SQL_PARAMS(SQL_TEXT(account)), &v, err);
}

enum store_status sqlite_account_suspend(struct store_conn *c, const char *name, int64_t now,
                                         const char *reason, bool *changed, struct store_error *err)
{
    return run_changed(c->s, STMT_ACCOUNT_SUSPEND,
                       SQL_PARAMS(SQL_TEXT(name), SQL_INT(now), SQL_TEXT_OR_EMPTY(reason)), changed,
                       err);
}

struct suspension {
    int64_t *since;
    char *reason;
    size_t reason_len;
};

static void suspension_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    const struct suspension *out = v->arg;
    const char *why = column_text(stmt, 1);

    *out->since = sqlite3_column_int64(stmt, 0);
    str_copy(out->reason, out->reason_len, why ? why : "");
}

enum store_status sqlite_account_suspended(struct store_conn *c, const char *name, int64_t *since,
                                           char *reason, size_t reason_len, struct store_error *err)
{
    struct suspension out = {since, reason, reason_len};
    struct sqlite_visit v = {.row = suspension_row, .arg = &out};

    return sqlite_each(c->s, STMT_ACCOUNT_SUSPENDED, SQL_PARAMS(SQL_TEXT(name)), &v, err);
}

enum store_status sqlite_account_resume(struct store_conn *c, const char *name,
                                        struct store_error *err)
{
    return sqlite_change(c->s, STMT_ACCOUNT_RESUME, SQL_PARAMS(SQL_TEXT(name)), err);
}
