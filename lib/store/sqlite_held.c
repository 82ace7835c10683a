/*
 * store/sqlite_held: messages held for review in SQLite (schema/007_held.sql).
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

const char *const sqlite_held_sql[STMT_COUNT] = {
    /* held: ?N NULL matches any value. */
    [STMT_HELD_ADD] = "INSERT INTO held (queue_id, held_at, account, sender, recipients, nrcpt, "
                      "subject, size, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [STMT_HELD_EACH] = "SELECT id, queue_id, held_at, account, sender, recipients, nrcpt, "
                       "subject, size, reason, state, decided_by, decided_at, decision_reason "
                       "FROM held WHERE (?1 IS NULL OR queue_id = ?1) "
                       "AND (?2 IS NULL OR account = ?2) AND (?3 IS NULL OR state = ?3) "
                       "ORDER BY held_at, id",
    [STMT_HELD_DECIDE] = "UPDATE held SET state = ?2, decided_by = ?3, decision_reason = ?4, "
                         "decided_at = ?5 WHERE queue_id = ?1 AND state = 'held'",
    [STMT_HELD_EXPIRE] = "DELETE FROM held WHERE id IN (SELECT id FROM held "
                         "WHERE state <> 'held' AND decided_at < ?1 LIMIT ?2)",
};

static int bind_text_or_empty(sqlite3_stmt *stmt, int col, const char *text)
{
    return sqlite3_bind_text(stmt, col, text ? text : "", -1, SQLITE_STATIC);
}

static int bind_held(sqlite3_stmt *stmt, const void *arg)
{
    const struct store_held *h = arg;
    int rc = bind_text_or_empty(stmt, 1, h->queue_id);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 2, h->held_at);
    if (rc == SQLITE_OK)
        rc = bind_text_or_empty(stmt, 3, h->account);
    if (rc == SQLITE_OK)
        rc = bind_text_or_empty(stmt, 4, h->sender);
    if (rc == SQLITE_OK)
        rc = bind_text_or_empty(stmt, 5, h->recipients);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 6, h->nrcpt);
    if (rc == SQLITE_OK)
        rc = bind_text_or_empty(stmt, 7, h->subject);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 8, h->size);
    if (rc == SQLITE_OK)
        rc = bind_text_or_empty(stmt, 9, h->reason);
    return rc;
}

enum store_status store_held_add(struct store *s, const struct store_held *h)
{
    if (h->queue_id == NULL || h->queue_id[0] == '\0' || h->account == NULL) {
        pthread_mutex_lock(&s->lock);
        str_copy(s->error, sizeof s->error, "a held message needs a queue id and an account");
        pthread_mutex_unlock(&s->lock);
        return STORE_ERROR;
    }
    enum store_status st = change_one(s, STMT_HELD_ADD, bind_held, h);
    return st == STORE_NOTFOUND ? STORE_ERROR : st;
}

enum store_status store_held_each(struct store *s, const char *queue_id, const char *account,
                                  const char *state,
                                  void (*fn)(const struct store_held *h, void *arg), void *arg)
{
    sqlite3_stmt *stmt = s->stmt[STMT_HELD_EACH];
    enum store_status status = STORE_NOTFOUND;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = bind_text_or_null(stmt, 1, queue_id);
    if (rc == SQLITE_OK)
        rc = bind_text_or_null(stmt, 2, account);
    if (rc == SQLITE_OK)
        rc = bind_text_or_null(stmt, 3, state);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct store_held h = {
            .id = sqlite3_column_int64(stmt, 0),
            .queue_id = column_text(stmt, 1),
            .held_at = sqlite3_column_int64(stmt, 2),
            .account = column_text(stmt, 3),
            .sender = column_text(stmt, 4),
            .recipients = column_text(stmt, 5),
            .nrcpt = sqlite3_column_int64(stmt, 6),
            .subject = column_text(stmt, 7),
            .size = sqlite3_column_int64(stmt, 8),
            .reason = column_text(stmt, 9),
            .state = column_text(stmt, 10),
            .decided_by = column_text(stmt, 11),
            .decided_at = sqlite3_column_int64(stmt, 12), /* NULL reads as 0 */
            .decision_reason = column_text(stmt, 13),
        };
        fn(&h, arg);
        status = STORE_OK;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

struct held_decision {
    const char *queue_id, *state, *by, *reason;
    int64_t now;
};

static int bind_decision(sqlite3_stmt *stmt, const void *arg)
{
    const struct held_decision *d = arg;
    int rc = bind_text_or_empty(stmt, 1, d->queue_id);

    if (rc == SQLITE_OK)
        rc = bind_text_or_empty(stmt, 2, d->state);
    if (rc == SQLITE_OK)
        rc = bind_text_or_empty(stmt, 3, d->by);
    if (rc == SQLITE_OK)
        rc = bind_text_or_empty(stmt, 4, d->reason);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 5, d->now);
    return rc;
}

enum store_status store_held_decide(struct store *s, const char *queue_id, const char *state,
                                    const char *by, const char *reason, int64_t now)
{
    struct held_decision d = {queue_id, state, by, reason, now};
    return change_one(s, STMT_HELD_DECIDE, bind_decision, &d);
}

enum store_status store_held_expire(struct store *s, int64_t before, size_t batch, size_t *deleted)
{
    return expire_step(s, STMT_HELD_EXPIRE, before, batch, deleted);
}
