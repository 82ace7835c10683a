/*
 * store/sqlite_accounts: submission accounts, aliases and suspensions in SQLite
 * (schema/004_accounts.sql).
 */
#include "sqlite.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "store_migrations.h"
#include "util.h"

const char *const sqlite_accounts_sql[STMT_COUNT] = {
    /* accounts: ?1 NULL matches every account. */
    [STMT_ACCOUNT_ADD] = "INSERT INTO accounts (name, created) VALUES (?1, ?2) "
                         "ON CONFLICT (name) DO NOTHING",
    [STMT_ACCOUNT_EACH] = "SELECT a.name, a.created, a.suspended, a.suspend_reason, "
                          "(SELECT count(*) FROM aliases l WHERE l.account = a.name) "
                          "FROM accounts a WHERE ?1 IS NULL OR a.name = ?1 ORDER BY a.name",
    [STMT_ALIAS_ADD] = "INSERT INTO aliases (account, address, added_by, added_at) "
                       "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (account, address) DO NOTHING",
    [STMT_ALIAS_DEL] = "DELETE FROM aliases WHERE account = ?1 AND address = ?2",
    [STMT_ALIAS_EACH] = "SELECT account, address, added_by, added_at FROM aliases "
                        "WHERE ?1 IS NULL OR account = ?1 ORDER BY account, address",
    [STMT_ACCOUNT_SUSPEND] = "UPDATE accounts SET suspended = ?2, suspend_reason = ?3 "
                             "WHERE name = ?1 AND suspended IS NULL",
    [STMT_ACCOUNT_SUSPENDED] = "SELECT suspended, suspend_reason FROM accounts "
                               "WHERE name = ?1 AND suspended IS NOT NULL",
    [STMT_ACCOUNT_RESUME] = "UPDATE accounts SET suspended = NULL, suspend_reason = '' "
                            "WHERE name = ?1 AND suspended IS NOT NULL",
};

/* Runs STMT_ACCOUNT_ADD; called with the lock held.  *created: a row was inserted. */
static int account_add_locked(struct store *s, const char *name, int64_t now, bool *created)
{
    sqlite3_stmt *stmt = s->stmt[STMT_ACCOUNT_ADD];
    int rc = sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 2, now);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE && created != NULL)
        *created = sqlite3_changes(s->db) > 0;
    stmt_done(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

enum store_status store_account_add(struct store *s, const char *name, int64_t now, bool *created)
{
    enum store_status status = STORE_OK;
    int rc;

    if (created != NULL)
        *created = false;
    pthread_mutex_lock(&s->lock);
    if (name == NULL) {
        str_copy(s->error, sizeof s->error, "an account needs a name");
        pthread_mutex_unlock(&s->lock);
        return STORE_ERROR;
    }
    rc = account_add_locked(s, name, now, created);
    if (rc != SQLITE_OK)
        status = store_fail(s, rc);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_account_each(struct store *s, const char *name,
                                     void (*fn)(const struct store_account *a, void *arg),
                                     void *arg)
{
    sqlite3_stmt *stmt = s->stmt[STMT_ACCOUNT_EACH];
    enum store_status status = STORE_NOTFOUND;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = bind_text_or_null(stmt, 1, name);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *reason = column_text(stmt, 3);
        struct store_account a = {
            .name = column_text(stmt, 0),
            .created = sqlite3_column_int64(stmt, 1),
            .suspended = sqlite3_column_int64(stmt, 2), /* NULL reads as 0: not suspended */
            .suspend_reason = reason ? reason : "",
            .alias_count = sqlite3_column_int64(stmt, 4),
        };
        fn(&a, arg);
        status = STORE_OK;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_alias_add(struct store *s, const struct store_alias *alias, bool *created)
{
    sqlite3_stmt *stmt = s->stmt[STMT_ALIAS_ADD];
    enum store_status status = STORE_OK;
    int rc;

    if (created != NULL)
        *created = false;
    pthread_mutex_lock(&s->lock);
    if (alias->account == NULL || alias->address == NULL) {
        str_copy(s->error, sizeof s->error, "an alias needs an account and an address");
        pthread_mutex_unlock(&s->lock);
        return STORE_ERROR;
    }
    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = account_add_locked(s, alias->account, alias->added_at, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 1, alias->account, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 2, alias->address, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 3, alias->added_by ? alias->added_by : "", -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 4, alias->added_at);
    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_DONE) {
        if (created != NULL)
            *created = sqlite3_changes(s->db) > 0;
        rc = SQLITE_OK;
    }
    stmt_done(stmt);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        status = store_fail(s, rc);
        rollback(s->db);
    }
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_alias_del(struct store *s, const char *account, const char *address)
{
    return delete_two_keys(s, STMT_ALIAS_DEL, account, address);
}

enum store_status store_alias_each(struct store *s, const char *account,
                                   void (*fn)(const struct store_alias *a, void *arg), void *arg)
{
    sqlite3_stmt *stmt = s->stmt[STMT_ALIAS_EACH];
    enum store_status status = STORE_NOTFOUND;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = bind_text_or_null(stmt, 1, account);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct store_alias a = {
            .account = column_text(stmt, 0),
            .address = column_text(stmt, 1),
            .added_by = column_text(stmt, 2),
            .added_at = sqlite3_column_int64(stmt, 3),
        };
        fn(&a, arg);
        status = STORE_OK;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_account_suspend(struct store *s, const char *name, int64_t now,
                                        const char *reason, bool *changed)
{
    sqlite3_stmt *stmt = s->stmt[STMT_ACCOUNT_SUSPEND];
    enum store_status status = STORE_OK;
    int rc;

    if (changed != NULL)
        *changed = false;
    pthread_mutex_lock(&s->lock);
    if (name == NULL) {
        str_copy(s->error, sizeof s->error, "an account needs a name");
        pthread_mutex_unlock(&s->lock);
        return STORE_ERROR;
    }
    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = account_add_locked(s, name, now, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 2, now);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 3, reason ? reason : "", -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_DONE) {
        if (changed != NULL)
            *changed = sqlite3_changes(s->db) > 0;
        rc = SQLITE_OK;
    }
    stmt_done(stmt);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        status = store_fail(s, rc);
        rollback(s->db);
    }
    pthread_mutex_unlock(&s->lock);
    return status;
}

static int bind_name(sqlite3_stmt *stmt, const void *arg)
{
    return sqlite3_bind_text(stmt, 1, arg, -1, SQLITE_STATIC);
}

enum store_status store_account_suspended(struct store *s, const char *name, int64_t *since,
                                          char *reason, size_t reason_len)
{
    sqlite3_stmt *stmt = s->stmt[STMT_ACCOUNT_SUSPENDED];
    enum store_status status = STORE_NOTFOUND;

    *since = 0;
    reason[0] = '\0';
    pthread_mutex_lock(&s->lock);
    int rc = sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *why = column_text(stmt, 1);
        *since = sqlite3_column_int64(stmt, 0);
        str_copy(reason, reason_len, why ? why : "");
        status = STORE_OK;
        rc = SQLITE_DONE;
    }
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_account_resume(struct store *s, const char *name)
{
    if (name == NULL)
        return STORE_NOTFOUND;
    return change_one(s, STMT_ACCOUNT_RESUME, bind_name, name);
}
