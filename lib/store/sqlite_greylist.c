/*
 * store/sqlite_greylist: greylisting triplets and the auto-allowlist in SQLite
 * (schema/002_greylist.sql).
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

const char *const sqlite_greylist_sql[STMT_COUNT] = {
    [STMT_GREYLIST_GET] = "SELECT first_seen, last_seen, confirmed_at, count FROM greylist "
                          "WHERE source = ?1 AND sender = ?2 AND recipient = ?3",
    [STMT_GREYLIST_PUT] = "INSERT INTO greylist (source, sender, recipient, first_seen, last_seen, "
                          "confirmed_at, count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                          "ON CONFLICT (source, sender, recipient) DO UPDATE SET "
                          "first_seen = excluded.first_seen, last_seen = excluded.last_seen, "
                          "confirmed_at = excluded.confirmed_at, count = excluded.count",
    [STMT_AUTOALLOW_GET] = "SELECT count, first_seen, last_seen FROM autoallow WHERE network = ?1",
    [STMT_AUTOALLOW_PUT] = "INSERT INTO autoallow (network, count, first_seen, last_seen) "
                           "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (network) DO UPDATE SET "
                           "count = excluded.count, first_seen = excluded.first_seen, "
                           "last_seen = excluded.last_seen",
    [STMT_GREYLIST_EXPIRE_PENDING] =
        "DELETE FROM greylist WHERE (source, sender, recipient) IN "
        "(SELECT source, sender, recipient FROM greylist "
        "WHERE confirmed_at IS NULL AND first_seen < ?1 ORDER BY first_seen LIMIT ?2)",
    /* The sweep over confirmed triplets: a row-value range on the primary key, in key order. */
    [STMT_GREYLIST_SWEEP_GET] = "SELECT source, sender, recipient FROM greylist_sweep WHERE id = 1",
    [STMT_GREYLIST_SWEEP_SCAN] = "SELECT source, sender, recipient, confirmed_at, last_seen "
                                 "FROM greylist WHERE (source, sender, recipient) > (?1, ?2, ?3) "
                                 "ORDER BY source, sender, recipient LIMIT ?4",
    [STMT_GREYLIST_SWEEP_SET] = "INSERT OR REPLACE INTO greylist_sweep (id, source, sender, "
                                "recipient) VALUES (1, ?1, ?2, ?3)",
    [STMT_GREYLIST_DELETE] = "DELETE FROM greylist WHERE source = ?1 AND sender = ?2 "
                             "AND recipient = ?3",
    [STMT_AUTOALLOW_EXPIRE] = "DELETE FROM autoallow WHERE network IN (SELECT network FROM "
                              "autoallow WHERE last_seen < ?1 ORDER BY last_seen LIMIT ?2)",
};

static int bind_triplet(sqlite3_stmt *stmt, const char *source, const struct store_greylist_txn *t)
{
    int rc = sqlite3_bind_text(stmt, 1, source, -1, SQLITE_STATIC);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 2, t->sender, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 3, t->recipient, -1, SQLITE_STATIC);
    return rc;
}

static enum store_status greylist_row_read(struct store *s, const struct store_greylist_txn *t,
                                           struct store_greylist_row *row)
{
    sqlite3_stmt *stmt = s->stmt[STMT_GREYLIST_GET];
    enum store_status status = STORE_OK;
    int rc = bind_triplet(stmt, row->source, t);

    row->found = false;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        row->found = true;
        row->first_seen = sqlite3_column_int64(stmt, 0);
        row->last_seen = sqlite3_column_int64(stmt, 1);
        row->confirmed_at = sqlite3_column_int64(stmt, 2); /* NULL reads as 0: pending */
        row->count = sqlite3_column_int64(stmt, 3);
    } else if (rc != SQLITE_DONE) {
        status = store_fail(s, rc);
    }
    stmt_done(stmt);
    return status;
}

static enum store_status greylist_row_write(struct store *s, const struct store_greylist_txn *t,
                                            const struct store_greylist_row *row)
{
    sqlite3_stmt *stmt = s->stmt[STMT_GREYLIST_PUT];
    enum store_status status = STORE_OK;
    int rc = bind_triplet(stmt, row->source, t);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 4, row->first_seen);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 5, row->last_seen);
    if (rc == SQLITE_OK)
        rc = row->confirmed_at != 0 ? sqlite3_bind_int64(stmt, 6, row->confirmed_at)
                                    : sqlite3_bind_null(stmt, 6);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 7, row->count);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    return status;
}

static enum store_status autoallow_read(struct store *s, struct store_autoallow_row *row)
{
    sqlite3_stmt *stmt = s->stmt[STMT_AUTOALLOW_GET];
    enum store_status status = STORE_OK;
    int rc = sqlite3_bind_text(stmt, 1, row->network, -1, SQLITE_STATIC);

    row->found = false;
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        row->found = true;
        row->count = sqlite3_column_int64(stmt, 0);
        row->first_seen = sqlite3_column_int64(stmt, 1);
        row->last_seen = sqlite3_column_int64(stmt, 2);
    } else if (rc != SQLITE_DONE) {
        status = store_fail(s, rc);
    }
    stmt_done(stmt);
    return status;
}

static enum store_status autoallow_write(struct store *s, const struct store_autoallow_row *row)
{
    sqlite3_stmt *stmt = s->stmt[STMT_AUTOALLOW_PUT];
    enum store_status status = STORE_OK;
    int rc = sqlite3_bind_text(stmt, 1, row->network, -1, SQLITE_STATIC);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 2, row->count);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 3, row->first_seen);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 4, row->last_seen);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    return status;
}

/* Reads t's rows and calls decide; inside a transaction. */
static enum store_status
greylist_read_decide(struct store *s, struct store_greylist_txn *t,
                     void (*decide)(struct store_greylist_txn *t, void *arg), void *arg)
{
    enum store_status status = STORE_OK;

    t->autoallow.write = false;
    if (t->autoallow.network != NULL)
        status = autoallow_read(s, &t->autoallow);
    for (int i = 0; status == STORE_OK && i < STORE_GREYLIST_ROWS; i++) {
        t->rows[i].write = false;
        if (t->rows[i].source != NULL)
            status = greylist_row_read(s, t, &t->rows[i]);
    }
    if (status == STORE_OK)
        decide(t, arg);
    return status;
}

static bool greylist_has_writes(const struct store_greylist_txn *t)
{
    for (int i = 0; i < STORE_GREYLIST_ROWS; i++)
        if (t->rows[i].source != NULL && t->rows[i].write)
            return true;
    return t->autoallow.network != NULL && t->autoallow.write;
}

/* The writes decide marked; inside the write transaction. */
static enum store_status greylist_write(struct store *s, const struct store_greylist_txn *t)
{
    enum store_status status = STORE_OK;

    for (int i = 0; status == STORE_OK && i < STORE_GREYLIST_ROWS; i++)
        if (t->rows[i].source != NULL && t->rows[i].write)
            status = greylist_row_write(s, t, &t->rows[i]);
    if (status == STORE_OK && t->autoallow.network != NULL && t->autoallow.write)
        status = autoallow_write(s, &t->autoallow);
    return status;
}

/*
 * One transaction in the common case.  It begins deferred (a read), reads the rows and asks
 * decide; when decide writes nothing (a confirmed triplet whose last use is recent:
 * lib/greylist.c) it ends there, having never taken the write lock.  When it writes, the same
 * transaction is upgraded by the first write.  In WAL mode an upgrade fails at once with
 * SQLITE_BUSY when another connection holds the write lock or has committed since the read
 * (the snapshot is stale): then everything is rolled back and done again the safe way, BEGIN
 * IMMEDIATE (waiting up to the busy timeout), read, decide, write.  decide may therefore run
 * twice; only the last run's writes are kept.
 */
enum store_status store_greylist_update(struct store *s, struct store_greylist_txn *t,
                                        void (*decide)(struct store_greylist_txn *t, void *arg),
                                        void *arg)
{
    enum store_status status;

    pthread_mutex_lock(&s->lock);
    status = exec_stmt(s, STMT_BEGIN_DEFERRED);
    if (status == STORE_OK) {
        status = greylist_read_decide(s, t, decide, arg);
        if (status == STORE_OK && greylist_has_writes(t))
            status = greylist_write(s, t);
        if (status == STORE_OK)
            status = exec_stmt(s, STMT_COMMIT);
        if (status != STORE_OK)
            rollback(s->db);
    }
    if (status == STORE_BUSY) {
        status = exec_stmt(s, STMT_BEGIN_IMMEDIATE);
        if (status == STORE_OK) {
            status = greylist_read_decide(s, t, decide, arg);
            if (status == STORE_OK)
                status = greylist_write(s, t);
            if (status == STORE_OK)
                status = exec_stmt(s, STMT_COMMIT);
            if (status != STORE_OK)
                rollback(s->db);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return status;
}

/* A primary key of the greylist table, owned. */
struct greylist_pk {
    char *source, *sender, *recipient;
};

static char *column_copy(sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *)sqlite3_column_text(stmt, col);
    return xstrdup(text ? text : "");
}

/* Copies columns 0-2 of the current row into k. */
static void greylist_pk_set(struct greylist_pk *k, sqlite3_stmt *stmt)
{
    free(k->source);
    free(k->sender);
    free(k->recipient);
    k->source = column_copy(stmt, 0);
    k->sender = column_copy(stmt, 1);
    k->recipient = column_copy(stmt, 2);
}

static void greylist_pk_free(struct greylist_pk *k)
{
    free(k->source);
    free(k->sender);
    free(k->recipient);
    k->source = k->sender = k->recipient = NULL;
}

static int bind_pk(sqlite3_stmt *stmt, const struct greylist_pk *k)
{
    int rc = sqlite3_bind_text(stmt, 1, k->source ? k->source : "", -1, SQLITE_STATIC);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 2, k->sender ? k->sender : "", -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 3, k->recipient ? k->recipient : "", -1, SQLITE_STATIC);
    return rc;
}

/* Runs a statement that takes a primary key (?1-?3) and returns no row. */
static enum store_status greylist_pk_exec(struct store *s, enum stmt_id id,
                                          const struct greylist_pk *k)
{
    sqlite3_stmt *stmt = s->stmt[id];
    int rc = bind_pk(stmt, k);
    enum store_status status = STORE_OK;

    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    return status;
}

/* Where the sweep resumes; an empty key (before every row) when it never ran or wrapped. */
static enum store_status sweep_cursor(struct store *s, struct greylist_pk *cursor)
{
    sqlite3_stmt *stmt = s->stmt[STMT_GREYLIST_SWEEP_GET];
    int rc = sqlite3_step(stmt);
    enum store_status status = STORE_OK;

    if (rc == SQLITE_ROW)
        greylist_pk_set(cursor, stmt);
    else if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    return status;
}

/*
 * Examines at most *left triplets after the cursor, in key order, and deletes the confirmed ones
 * last seen before confirmed_before.  The keys are collected first and deleted after the scan, so
 * the scan never runs over rows it is changing.  *left is decreased by the rows deleted.
 */
static enum store_status sweep_confirmed(struct store *s, int64_t confirmed_before, size_t *left)
{
    sqlite3_stmt *stmt = s->stmt[STMT_GREYLIST_SWEEP_SCAN];
    struct greylist_pk cursor = {0}, last = {0}, *due = NULL;
    size_t ndue = 0, seen = 0;
    enum store_status status;
    int rc;

    if (*left == 0)
        return STORE_OK;
    status = sweep_cursor(s, &cursor);
    if (status != STORE_OK)
        return status;
    rc = bind_pk(stmt, &cursor);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 4, size_to_int64(*left));
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        seen++;
        greylist_pk_set(&last, stmt); /* not cursor: its text is bound to this statement */
        if (sqlite3_column_type(stmt, 3) != SQLITE_NULL &&
            sqlite3_column_int64(stmt, 4) < confirmed_before) {
            due = xrealloc(due, (ndue + 1) * sizeof *due);
            due[ndue] = (struct greylist_pk){0};
            greylist_pk_set(&due[ndue++], stmt);
        }
        rc = SQLITE_OK;
    }
    status = rc == SQLITE_DONE ? STORE_OK : store_fail(s, rc);
    stmt_done(stmt);
    /* Fewer rows than asked for: the sweep reached the end and starts over next time. */
    if (seen < *left)
        greylist_pk_free(&last);
    for (size_t i = 0; status == STORE_OK && i < ndue; i++)
        status = greylist_pk_exec(s, STMT_GREYLIST_DELETE, &due[i]);
    if (status == STORE_OK)
        status = greylist_pk_exec(s, STMT_GREYLIST_SWEEP_SET, &last);
    if (status == STORE_OK)
        *left -= ndue;
    for (size_t i = 0; i < ndue; i++)
        greylist_pk_free(&due[i]);
    free(due);
    greylist_pk_free(&cursor);
    greylist_pk_free(&last);
    return status;
}

enum store_status store_greylist_expire(struct store *s, int64_t pending_before,
                                        int64_t confirmed_before, int64_t autoallow_before,
                                        size_t batch, size_t *deleted)
{
    enum store_status status;
    size_t left = batch;

    *deleted = 0;
    pthread_mutex_lock(&s->lock);
    status = exec_stmt(s, STMT_BEGIN_IMMEDIATE);
    if (status == STORE_OK) {
        status = bounded_delete(s, STMT_GREYLIST_EXPIRE_PENDING, pending_before, &left);
        if (status == STORE_OK)
            status = bounded_delete(s, STMT_AUTOALLOW_EXPIRE, autoallow_before, &left);
        if (status == STORE_OK)
            status = sweep_confirmed(s, confirmed_before, &left);
        if (status == STORE_OK)
            status = exec_stmt(s, STMT_COMMIT);
        if (status == STORE_OK)
            *deleted = batch - left;
        else
            rollback(s->db);
    }
    pthread_mutex_unlock(&s->lock);
    return status;
}
