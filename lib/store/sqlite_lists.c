/*
 * store/sqlite_lists: block/allow lists and recipient rules in SQLite (schema/003_lists.sql).
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

const char *const sqlite_lists_sql[STMT_COUNT] = {
    /* lists: ?1 NULL matches every kind (or recipient); ORDER BY follows the UNIQUE indexes. */
    [STMT_LISTS_VERSION] = "SELECT version FROM lists_version WHERE id = 1",
    [STMT_LIST_EACH] = "SELECT kind, value, action, reason, added_by, added_at, expires "
                       "FROM list_entries WHERE (?1 IS NULL OR kind = ?1) "
                       "AND (?2 IS NULL OR expires IS NULL OR expires > ?2) ORDER BY kind, value",
    [STMT_LIST_GET] = "SELECT action FROM list_entries WHERE kind = ?1 AND value = ?2",
    [STMT_LIST_ADD] = "INSERT INTO list_entries (kind, value, action, reason, added_by, added_at, "
                      "expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                      "ON CONFLICT (kind, value) DO UPDATE SET action = excluded.action, "
                      "reason = excluded.reason, added_by = excluded.added_by, "
                      "added_at = excluded.added_at, expires = excluded.expires",
    [STMT_LIST_DEL] = "DELETE FROM list_entries WHERE kind = ?1 AND value = ?2",
    [STMT_RULE_GET] = "SELECT action FROM rcpt_rules WHERE recipient = ?1 AND sender = ?2",
    [STMT_RULE_ADD] = "INSERT INTO rcpt_rules (recipient, sender, action, added_by, added_at) "
                      "VALUES (?1, ?2, ?3, ?4, ?5) "
                      "ON CONFLICT (recipient, sender) DO UPDATE SET action = excluded.action, "
                      "added_by = excluded.added_by, added_at = excluded.added_at",
    [STMT_RULE_DEL] = "DELETE FROM rcpt_rules WHERE recipient = ?1 AND sender = ?2",
    [STMT_RULE_EACH] = "SELECT recipient, sender, action, added_by, added_at FROM rcpt_rules "
                       "WHERE ?1 IS NULL OR recipient = ?1 ORDER BY recipient, sender",
};

enum store_status store_lists_version(struct store *s, int64_t *version)
{
    sqlite3_stmt *stmt = s->stmt[STMT_LISTS_VERSION];
    enum store_status status = STORE_OK;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int64(stmt, 0);
    else if (rc == SQLITE_DONE)
        status = STORE_NOTFOUND;
    else
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_list_each(struct store *s, const char *kind, int64_t live_at,
                                  void (*fn)(const struct list_entry *e, void *arg), void *arg)
{
    sqlite3_stmt *stmt = s->stmt[STMT_LIST_EACH];
    enum store_status status = STORE_NOTFOUND;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = bind_text_or_null(stmt, 1, kind);
    if (rc == SQLITE_OK)
        rc = live_at > 0 ? sqlite3_bind_int64(stmt, 2, live_at) : sqlite3_bind_null(stmt, 2);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct list_entry e = {
            .kind = column_text(stmt, 0),
            .value = column_text(stmt, 1),
            .action = column_text(stmt, 2),
            .reason = column_text(stmt, 3),
            .added_by = column_text(stmt, 4),
            .added_at = sqlite3_column_int64(stmt, 5),
            .expires = sqlite3_column_int64(stmt, 6), /* NULL reads as 0: never */
        };
        fn(&e, arg);
        status = STORE_OK;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

/* Runs a two-key SELECT of one text column (STMT_LIST_GET, STMT_RULE_GET) into out; "" when no
 * row.  Called with the lock held. */
static int get_action_locked(sqlite3_stmt *stmt, const char *key1, const char *key2, char *out,
                             size_t outlen)
{
    int rc = sqlite3_bind_text(stmt, 1, key1, -1, SQLITE_STATIC);

    out[0] = '\0';
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 2, key2, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *text = column_text(stmt, 0);
        str_copy(out, outlen, text ? text : "");
        rc = SQLITE_DONE;
    }
    stmt_done(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Binds and runs STMT_LIST_ADD for e; called with the lock held. */
static int list_add_locked(struct store *s, const struct list_entry *e)
{
    sqlite3_stmt *stmt = s->stmt[STMT_LIST_ADD];
    const char *text[] = {e->kind, e->value, e->action, e->reason ? e->reason : "",
                          e->added_by ? e->added_by : ""};
    int rc = SQLITE_OK;

    for (int i = 0; rc == SQLITE_OK && i < (int)(sizeof text / sizeof text[0]); i++)
        rc = sqlite3_bind_text(stmt, i + 1, text[i], -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 6, e->added_at);
    if (rc == SQLITE_OK)
        rc = e->expires > 0 ? sqlite3_bind_int64(stmt, 7, e->expires) : sqlite3_bind_null(stmt, 7);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    stmt_done(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static bool list_entry_complete(struct store *s, const struct list_entry *e)
{
    if (e->kind != NULL && e->value != NULL && e->action != NULL)
        return true;
    str_copy(s->error, sizeof s->error, "a list entry needs a kind, a value and an action");
    return false;
}

enum store_status store_list_add(struct store *s, const struct list_entry *e, char *previous,
                                 size_t previous_len)
{
    enum store_status status = STORE_OK;
    int rc;

    pthread_mutex_lock(&s->lock);
    if (!list_entry_complete(s, e)) {
        pthread_mutex_unlock(&s->lock);
        return STORE_ERROR;
    }
    rc = get_action_locked(s->stmt[STMT_LIST_GET], e->kind, e->value, previous, previous_len);
    if (rc == SQLITE_OK)
        rc = list_add_locked(s, e);
    if (rc != SQLITE_OK)
        status = store_fail(s, rc);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_list_import(struct store *s, const struct list_entry *entries, size_t n)
{
    enum store_status status = STORE_OK;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
        if (!list_entry_complete(s, &entries[i])) {
            rollback(s->db);
            pthread_mutex_unlock(&s->lock);
            return STORE_ERROR;
        }
        rc = list_add_locked(s, &entries[i]);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        status = store_fail(s, rc);
        rollback(s->db);
    }
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_list_del(struct store *s, const char *kind, const char *value)
{
    return delete_two_keys(s, STMT_LIST_DEL, kind, value);
}

enum store_status store_rule_add(struct store *s, const struct rcpt_rule *r, char *previous,
                                 size_t previous_len)
{
    sqlite3_stmt *stmt = s->stmt[STMT_RULE_ADD];
    const char *text[] = {r->recipient, r->sender, r->action, r->added_by ? r->added_by : ""};
    enum store_status status = STORE_OK;
    int rc;

    pthread_mutex_lock(&s->lock);
    if (r->recipient == NULL || r->sender == NULL || r->action == NULL) {
        str_copy(s->error, sizeof s->error, "a rule needs a recipient, a sender and an action");
        pthread_mutex_unlock(&s->lock);
        return STORE_ERROR;
    }
    rc = get_action_locked(s->stmt[STMT_RULE_GET], r->recipient, r->sender, previous, previous_len);
    for (int i = 0; rc == SQLITE_OK && i < (int)(sizeof text / sizeof text[0]); i++)
        rc = sqlite3_bind_text(stmt, i + 1, text[i], -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 5, r->added_at);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_rule_del(struct store *s, const char *recipient, const char *sender)
{
    return delete_two_keys(s, STMT_RULE_DEL, recipient, sender);
}

enum store_status store_rule_each(struct store *s, const char *recipient,
                                  void (*fn)(const struct rcpt_rule *r, void *arg), void *arg)
{
    sqlite3_stmt *stmt = s->stmt[STMT_RULE_EACH];
    enum store_status status = STORE_NOTFOUND;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = bind_text_or_null(stmt, 1, recipient);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct rcpt_rule r = {
            .recipient = column_text(stmt, 0),
            .sender = column_text(stmt, 1),
            .action = column_text(stmt, 2),
            .added_by = column_text(stmt, 3),
            .added_at = sqlite3_column_int64(stmt, 4),
        };
        fn(&r, arg);
        status = STORE_OK;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}
