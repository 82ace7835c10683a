/*
 * store/pg_accounts: submission accounts and their aliases in PostgreSQL
 * (schema/postgresql/004_accounts.sql).  Account names compare without ASCII case: lower() on
 * both sides, the key of both tables.
 */
#include "pg.h"

#include "util.h"

const struct pg_sql pg_accounts_sql[] = {
    {PG_ACCOUNT_ADD, "INSERT INTO accounts (name, created) VALUES ($1, $2) "
                     "ON CONFLICT ((lower(name))) DO NOTHING"},
    {PG_ACCOUNT_EACH, "SELECT a.name, a.created, a.suspended, a.suspend_reason, "
                      "(SELECT count(*) FROM aliases l WHERE lower(l.account) = lower(a.name)) "
                      "FROM accounts a WHERE $1::text IS NULL OR lower(a.name) = lower($1::text) "
                      "ORDER BY lower(a.name) COLLATE \"C\""},
    {PG_ALIAS_ADD, "INSERT INTO aliases (account, address, added_by, added_at) "
                   "VALUES ($1, $2, $3, $4) ON CONFLICT ((lower(account)), address) DO NOTHING"},
    {PG_ALIAS_DEL, "DELETE FROM aliases WHERE lower(account) = lower($1::text) AND address = $2"},
    {PG_ALIAS_EACH, "SELECT account, address, added_by, added_at FROM aliases "
                    "WHERE $1::text IS NULL OR lower(account) = lower($1::text) "
                    "ORDER BY lower(account) COLLATE \"C\", address COLLATE \"C\""},
    {PG_ACCOUNT_SUSPEND, "UPDATE accounts SET suspended = $2, suspend_reason = $3 "
                         "WHERE lower(name) = lower($1::text) AND suspended IS NULL"},
    {PG_ACCOUNT_SUSPENDED, "SELECT suspended, suspend_reason FROM accounts "
                           "WHERE lower(name) = lower($1::text) AND suspended IS NOT NULL"},
    {PG_ACCOUNT_RESUME, "UPDATE accounts SET suspended = NULL, suspend_reason = '' "
                        "WHERE lower(name) = lower($1::text) AND suspended IS NOT NULL"},
};
const size_t pg_accounts_sql_count = sizeof pg_accounts_sql / sizeof pg_accounts_sql[0];

static enum store_status run_changed(struct store_conn *c, enum pg_stmt id,
                                     const struct pg_param *params, size_t n, bool *changed,
                                     struct store_error *err)
{
    int64_t changes = 0;
    enum store_status status = pg_run(c, id, params, n, &changes, err);

    if (status == STORE_OK && changed != NULL)
        *changed = changes > 0;
    return status;
}

enum store_status pg_account_add(struct store_conn *c, const char *name, int64_t now, bool *created,
                                 struct store_error *err)
{
    return run_changed(c, PG_ACCOUNT_ADD, PG_PARAMS(PG_TEXT(name), PG_INT(now)), created, err);
}

static void account_row(const PGresult *res, int row, const struct pg_visit *v)
{
    const char *reason = pg_text(res, row, 3);
    struct store_account a = {
        .name = pg_text(res, row, 0),
        .created = pg_int(res, row, 1),
        .suspended = pg_int(res, row, 2),
        .suspend_reason = reason ? reason : "",
        .alias_count = pg_int(res, row, 4),
    };
    v->fn.account(&a, v->arg);
}

enum store_status pg_account_each(struct store_conn *c, const char *name,
                                  void (*fn)(const struct store_account *a, void *arg), void *arg,
                                  struct store_error *err)
{
    struct pg_visit v = {.row = account_row, .fn.account = fn, .arg = arg};

    return pg_each(c, PG_ACCOUNT_EACH, PG_PARAMS(PG_TEXT(name)), &v, err);
}

enum store_status pg_alias_add(struct store_conn *c, const struct store_alias *alias, bool *created,
                               struct store_error *err)
{
    return run_changed(c, PG_ALIAS_ADD,
                       PG_PARAMS(PG_TEXT(alias->account), PG_TEXT(alias->address),
                                 PG_TEXT_OR_EMPTY(alias->added_by), PG_INT(alias->added_at)),
                       created, err);
}

enum store_status pg_alias_del(struct store_conn *c, const char *account, const char *address,
                               struct store_error *err)
{
    return pg_change(c, PG_ALIAS_DEL, PG_PARAMS(PG_TEXT(account), PG_TEXT(address)), err);
}

static void alias_row(const PGresult *res, int row, const struct pg_visit *v)
{
    struct store_alias a = {
        .account = pg_text(res, row, 0),
        .address = pg_text(res, row, 1),
        .added_by = pg_text(res, row, 2),
        .added_at = pg_int(res, row, 3),
    };
    v->fn.alias(&a, v->arg);
}

enum store_status pg_alias_each(struct store_conn *c, const char *account,
                                void (*fn)(const struct store_alias *a, void *arg), void *arg,
                                struct store_error *err)
{
    struct pg_visit v = {.row = alias_row, .fn.alias = fn, .arg = arg};

    return pg_each(c, PG_ALIAS_EACH, PG_PARAMS(PG_TEXT(account)), &v, err);
}

enum store_status pg_account_suspend(struct store_conn *c, const char *name, int64_t now,
                                     const char *reason, bool *changed, struct store_error *err)
{
    return run_changed(c, PG_ACCOUNT_SUSPEND,
                       PG_PARAMS(PG_TEXT(name), PG_INT(now), PG_TEXT_OR_EMPTY(reason)), changed,
                       err);
}

struct suspension {
    int64_t *since;
    char *reason;
    size_t reason_len;
};

static void suspension_row(const PGresult *res, int row, const struct pg_visit *v)
{
    const struct suspension *out = v->arg;
    const char *why = pg_text(res, row, 1);

    *out->since = pg_int(res, row, 0);
    str_copy(out->reason, out->reason_len, why ? why : "");
}

enum store_status pg_account_suspended(struct store_conn *c, const char *name, int64_t *since,
                                       char *reason, size_t reason_len, struct store_error *err)
{
    struct suspension out = {since, reason, reason_len};
    struct pg_visit v = {.row = suspension_row, .arg = &out};

    return pg_each(c, PG_ACCOUNT_SUSPENDED, PG_PARAMS(PG_TEXT(name)), &v, err);
}

enum store_status pg_account_resume(struct store_conn *c, const char *name, struct store_error *err)
{
    return pg_change(c, PG_ACCOUNT_RESUME, PG_PARAMS(PG_TEXT(name)), err);
}
