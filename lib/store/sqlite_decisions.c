/*
 * store/sqlite_decisions: the decision log in SQLite, written directly or by the background writer.
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

const char *const sqlite_decisions_sql[STMT_COUNT] = {
    [STMT_DECISION_ADD] = "INSERT INTO decisions (time, queue_id, ref, client_ip, client_name, "
                          "helo, sender, recipient, account, check_name, action, reply, detail) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    /* ?1 is the key as given, ?2 the key without surrounding <> (for the addresses).  COLLATE
     * NOCASE on the comparison matches the indexes' collation, so SQLite can use them. */
    [STMT_DECISION_FIND] = "SELECT time, queue_id, ref, client_ip, client_name, helo, sender, "
                           "recipient, account, check_name, action, reply, detail "
                           "FROM decisions "
                           "WHERE queue_id = ?1 OR ref = ?1 OR client_ip = ?1 "
                           "OR sender = ?2 COLLATE NOCASE OR recipient = ?2 COLLATE NOCASE "
                           "OR account = ?2 COLLATE NOCASE "
                           "ORDER BY time, id LIMIT ?3",
    /* Bounded batches keep each write transaction short, so the milter's own writes wait at most
     * one batch behind the background expiry. */
    [STMT_DECISION_EXPIRE] = ("DELETE FROM decisions WHERE id IN "
                              "(SELECT id FROM decisions WHERE time < ?1 ORDER BY time LIMIT ?2)"),
};

#define DECISION_TEXTS 12 /* the text fields of struct decision, in its order */

/* A decision copied for the queue: the strings live in the same allocation. */
struct queued_decision {
    int64_t time;
    const char *text[DECISION_TEXTS];
};

/* ------------------------------------------------------------------------------------------ */
/* Decisions                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static void decision_texts(const struct decision *d, const char *text[DECISION_TEXTS])
{
    const char *t[DECISION_TEXTS] = {d->queue_id, d->ref,    d->client_ip, d->client_name,
                                     d->helo,     d->sender, d->recipient, d->account,
                                     d->check,    d->action, d->reply,     d->detail};
    memcpy(text, t, sizeof t);
}

/* Inserts one row with s->lock held; an SQLite code. */
static int decision_insert(struct store *s, int64_t time, const char *const text[DECISION_TEXTS])
{
    sqlite3_stmt *stmt = s->stmt[STMT_DECISION_ADD];
    int rc = sqlite3_bind_int64(stmt, 1, time);

    for (int i = 0; rc == SQLITE_OK && i < DECISION_TEXTS; i++)
        rc = sqlite3_bind_text(stmt, i + 2, text[i], -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    stmt_done(stmt);
    return rc;
}

static struct queued_decision *decision_copy(const struct decision *d)
{
    const char *text[DECISION_TEXTS];
    size_t len[DECISION_TEXTS], total = sizeof(struct queued_decision);

    decision_texts(d, text);
    for (int i = 0; i < DECISION_TEXTS; i++) {
        len[i] = text[i] != NULL ? strlen(text[i]) + 1 : 0;
        total += len[i];
    }
    struct queued_decision *q = xmalloc(total);
    char *p = (char *)(q + 1);
    q->time = d->time;
    for (int i = 0; i < DECISION_TEXTS; i++) {
        q->text[i] = text[i] != NULL ? p : NULL;
        if (text[i] != NULL)
            memcpy(p, text[i], len[i]);
        p += len[i];
    }
    return q;
}

/* Queues d for the writer; STORE_BUSY when the queue is full. */
static enum store_status decision_queue(struct store *s, const struct decision *d)
{
    struct decision_writer *w = &s->writer;
    struct queued_decision *q = decision_copy(d);
    size_t waiting;

    pthread_mutex_lock(&w->lock);
    waiting = w->count;
    if (waiting < w->cap) {
        w->ring[(w->head + w->count) % w->cap] = q;
        w->count++;
        w->counts.queued++;
        if (w->count == w->batch)
            pthread_cond_signal(&w->wake);
        q = NULL;
    } else {
        w->counts.refused++;
    }
    pthread_mutex_unlock(&w->lock);
    if (q == NULL)
        return STORE_OK;
    free(q);
    pthread_mutex_lock(&s->lock);
    str_printf(s->error, sizeof s->error,
               "the decision log queue is full (%zu decisions wait for the database)", waiting);
    pthread_mutex_unlock(&s->lock);
    return STORE_BUSY;
}

enum store_status store_decision_add(struct store *s, const struct decision *d)
{
    const char *text[DECISION_TEXTS];
    enum store_status status = STORE_OK;
    int rc;

    if (d->check == NULL || d->action == NULL) {
        pthread_mutex_lock(&s->lock);
        str_copy(s->error, sizeof s->error, "a decision needs a check and an action");
        pthread_mutex_unlock(&s->lock);
        return STORE_ERROR;
    }
    if (s->writer.running)
        return decision_queue(s, d);
    decision_texts(d, text);
    pthread_mutex_lock(&s->lock);
    rc = decision_insert(s, d->time, text);
    if (rc != SQLITE_OK)
        status = store_fail(s, rc);
    pthread_mutex_unlock(&s->lock);
    return status;
}

/* Writes rows[0..n) in one transaction; nothing is written on failure. */
static enum store_status decision_write_rows(struct store *s, struct queued_decision **rows,
                                             size_t n)
{
    enum store_status status;
    int rc = SQLITE_OK;

    pthread_mutex_lock(&s->lock);
    status = exec_stmt(s, STMT_BEGIN_IMMEDIATE);
    for (size_t i = 0; status == STORE_OK && rc == SQLITE_OK && i < n; i++)
        rc = decision_insert(s, rows[i]->time, rows[i]->text);
    if (status == STORE_OK && rc != SQLITE_OK)
        status = store_fail(s, rc);
    if (status == STORE_OK)
        status = exec_stmt(s, STMT_COMMIT);
    if (status != STORE_OK)
        rollback(s->db);
    pthread_mutex_unlock(&s->lock);
    return status;
}

/* One batch from the head of the queue; *written gets how many rows were committed. */
static enum store_status decision_write_batch(struct store *s, size_t *written)
{
    struct decision_writer *w = &s->writer;
    enum store_status status = STORE_OK;
    size_t n;

    *written = 0;
    pthread_mutex_lock(&w->write_lock);
    pthread_mutex_lock(&w->lock);
    n = w->count < w->batch ? w->count : w->batch;
    for (size_t i = 0; i < n; i++)
        w->scratch[i] = w->ring[(w->head + i) % w->cap];
    pthread_mutex_unlock(&w->lock);
    if (n > 0)
        status = decision_write_rows(s, w->scratch, n);
    pthread_mutex_lock(&w->lock);
    if (status == STORE_OK) {
        for (size_t i = 0; i < n; i++)
            free(w->scratch[i]);
        w->head = (w->head + n) % w->cap;
        w->count -= n;
        w->counts.written += n;
        *written = n;
    } else {
        w->counts.failed_batches++;
    }
    pthread_mutex_unlock(&w->lock);
    pthread_mutex_unlock(&w->write_lock);
    return status;
}

enum store_status store_decision_flush(struct store *s)
{
    enum store_status status = STORE_OK;
    size_t written = 1;

    while (s->writer.running && status == STORE_OK && written > 0)
        status = decision_write_batch(s, &written);
    return status;
}

/* Logs when the writer starts failing and when it recovers, not every retry. */
static void decision_writer_note(struct store *s, enum store_status status)
{
    struct decision_writer *w = &s->writer;
    char why[STORE_ERROR_MAX];

    if ((status == STORE_OK) == !w->failing)
        return;
    w->failing = status != STORE_OK;
    if (w->failing) {
        store_last_error_r(s, why, sizeof why);
        log_msg(LOG_ERR, "decision log: cannot write a batch (kept, retried): %s", why);
    } else {
        log_msg(LOG_INFO, "decision log: writing again");
    }
}

/*
 * SQLite's automatic checkpoint runs inside the commit that crosses the threshold, which may be a
 * callback's greylist transaction; the writer runs it after its batch instead, on a connection of
 * its own (PASSIVE: never waits for readers or writers).
 */
#define DECISION_CHECKPOINT_FRAMES 1000 /* SQLite's default wal_autocheckpoint */

static int decision_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct store *s = arg;
    (void)db;
    (void)name;
    atomic_store(&s->writer.wal_frames, frames);
    return SQLITE_OK;
}

/*
 * The passes on the writer's connection copy what the WAL holds, again while commits keep adding
 * to it, until a pass finds fewer than DECISION_CHECKPOINT_TAIL new frames.  The store lock is
 * taken (below) only once the WAL has grown past DECISION_WAL_FORCE_FRAMES: under it the
 * checkpoint syncs the WAL and the database, which on a slow disk takes tens of milliseconds
 * whatever the number of frames (greylist_bench), and every callback waits for it.  A larger
 * WAL is slower to read (SQLite looks a page up in each 4096 frames of its index).
 */
#define DECISION_CHECKPOINT_PASSES 8
#define DECISION_CHECKPOINT_TAIL 256
#define DECISION_WAL_FORCE_FRAMES 32768 /* 128 MiB of 4 KiB pages */

static void decision_checkpoint(struct store *s)
{
    struct decision_writer *w = &s->writer;

    if (atomic_load(&w->wal_frames) < DECISION_CHECKPOINT_FRAMES)
        return;
    int rc = SQLITE_OK, log = 0, copied = 0, seen = 0;
    for (int pass = 0; pass < DECISION_CHECKPOINT_PASSES; pass++) {
        rc = sqlite3_wal_checkpoint_v2(w->checkpoint_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log,
                                       &copied);
        if (rc != SQLITE_OK || log - seen <= DECISION_CHECKPOINT_TAIL)
            break;
        seen = log;
    }
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        log_msg(LOG_WARNING, "decision log: WAL checkpoint: %s", sqlite3_errmsg(w->checkpoint_db));
    /*
     * The WAL starts again from its beginning only when a write finds every frame copied back,
     * which under steady load the commits made during the passes prevent: when the file has
     * grown large, the store's own connection copies the frames left under the store lock (the
     * next commit then restarts the WAL), or it would grow without bound.  Below that, a pause in
     * the load lets the passes finish and the next commit restart it.
     */
    if (rc == SQLITE_OK && log >= DECISION_WAL_FORCE_FRAMES) {
        pthread_mutex_lock(&s->lock);
        sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_unlock(&s->lock);
    }
    atomic_store(&w->wal_frames, 0);
}

static void *decision_writer_main(void *arg)
{
    struct store *s = arg;
    struct decision_writer *w = &s->writer;

    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        if (w->count < w->batch || w->failing) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += w->interval_ms / 1000;
            until.tv_nsec += (long)(w->interval_ms % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&w->wake, &w->lock, &until);
        }
        if (w->stopping)
            break;
        pthread_mutex_unlock(&w->lock);
        size_t written;
        enum store_status status;
        do
            status = decision_write_batch(s, &written);
        while (status == STORE_OK && written == w->batch);
        decision_writer_note(s, status);
        decision_checkpoint(s);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

enum store_status store_decision_writer_start(struct store *s, int64_t interval_ms, size_t batch,
                                              size_t queue_max)
{
    struct decision_writer *w = &s->writer;
    pthread_condattr_t attr;

    if (w->running || batch == 0 || queue_max < batch || interval_ms <= 0) {
        pthread_mutex_lock(&s->lock);
        str_copy(s->error, sizeof s->error,
                 w->running ? "the decision writer runs already" : "bad decision writer limits");
        pthread_mutex_unlock(&s->lock);
        return STORE_ERROR;
    }
    /* A connection knows that the database is in WAL mode only once it has read it: until then
     * its checkpoints do nothing (and report -1 frames). */
    int64_t version = 0;
    if (sqlite3_open_v2(s->path, &w->checkpoint_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK ||
        exec_int(w->checkpoint_db, "PRAGMA schema_version", &version) != SQLITE_OK) {
        pthread_mutex_lock(&s->lock);
        str_printf(s->error, sizeof s->error, "decision writer: %s",
                   w->checkpoint_db ? sqlite3_errmsg(w->checkpoint_db) : "cannot open");
        pthread_mutex_unlock(&s->lock);
        sqlite3_close(w->checkpoint_db);
        w->checkpoint_db = NULL;
        return STORE_ERROR;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_mutex_init(&w->write_lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &attr);
    pthread_condattr_destroy(&attr);
    w->ring = xcalloc(queue_max, sizeof *w->ring);
    w->scratch = xcalloc(batch, sizeof *w->scratch);
    w->cap = queue_max;
    w->batch = batch;
    w->interval_ms = interval_ms;
    pthread_mutex_lock(&s->lock);
    sqlite3_wal_hook(s->db, decision_wal_hook, s); /* replaces the automatic checkpoint */
    pthread_mutex_unlock(&s->lock);
    w->running = true;
    if (pthread_create(&w->thread, NULL, decision_writer_main, s) != 0) {
        decision_writer_stop(s);
        pthread_mutex_lock(&s->lock);
        str_copy(s->error, sizeof s->error, "cannot start the decision writer thread");
        pthread_mutex_unlock(&s->lock);
        return STORE_ERROR;
    }
    w->thread_started = true;
    return STORE_OK;
}

/* Stops the thread, writes what is left, and frees the queue (store_close). */
void decision_writer_stop(struct store *s)
{
    struct decision_writer *w = &s->writer;

    if (!w->running)
        return;
    if (w->thread_started) {
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
    }
    if (store_decision_flush(s) != STORE_OK) {
        char why[STORE_ERROR_MAX];
        store_last_error_r(s, why, sizeof why);
        log_msg(LOG_ERR, "decision log: %zu decisions lost at close: %s", w->count, why);
    }
    log_msg(LOG_INFO,
            "decision log: %" PRIu64 " decisions written, %" PRIu64
            " refused (queue full), %" PRIu64 " failed batches",
            w->counts.written, w->counts.refused, w->counts.failed_batches);
    for (size_t i = 0; i < w->count; i++)
        free(w->ring[(w->head + i) % w->cap]);
    w->running = false;
    pthread_mutex_lock(&s->lock);
    sqlite3_wal_hook(s->db, NULL, NULL);
    pthread_mutex_unlock(&s->lock);
    sqlite3_close(w->checkpoint_db);
    free(w->ring);
    free(w->scratch);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->write_lock);
    pthread_mutex_destroy(&w->lock);
    memset(w, 0, sizeof *w);
}

void store_decision_counts(struct store *s, struct store_decision_counts *out)
{
    struct decision_writer *w = &s->writer;

    memset(out, 0, sizeof *out);
    if (!w->running)
        return;
    pthread_mutex_lock(&w->lock);
    *out = w->counts;
    out->waiting = w->count;
    pthread_mutex_unlock(&w->lock);
}

static void row_to_decision(sqlite3_stmt *stmt, struct decision *d)
{
    d->time = sqlite3_column_int64(stmt, 0);
    d->queue_id = column_text(stmt, 1);
    d->ref = column_text(stmt, 2);
    d->client_ip = column_text(stmt, 3);
    d->client_name = column_text(stmt, 4);
    d->helo = column_text(stmt, 5);
    d->sender = column_text(stmt, 6);
    d->recipient = column_text(stmt, 7);
    d->account = column_text(stmt, 8);
    d->check = column_text(stmt, 9);
    d->action = column_text(stmt, 10);
    d->reply = column_text(stmt, 11);
    d->detail = column_text(stmt, 12);
}

/* A postmaster pastes addresses as the log shows them, "<a@b>"; the table keeps them bare. */
static char *strip_brackets(const char *key)
{
    size_t len = strlen(key);

    if (len >= 2 && key[0] == '<' && key[len - 1] == '>')
        return xstrndup(key + 1, len - 2);
    return xstrdup(key);
}

enum store_status store_decision_find(struct store *s, const char *key, size_t limit,
                                      void (*fn)(const struct decision *d, void *arg), void *arg)
{
    sqlite3_stmt *stmt = s->stmt[STMT_DECISION_FIND];
    char *address = strip_brackets(key);
    enum store_status status = STORE_NOTFOUND;
    int rc;

    (void)store_decision_flush(s); /* what is queued is found too; a failure is the next read's */
    pthread_mutex_lock(&s->lock);
    rc = sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 2, address, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 3, size_to_int64(limit));
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct decision d;
        row_to_decision(stmt, &d);
        fn(&d, arg);
        status = STORE_OK;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    free(address);
    return status;
}

enum store_status store_decision_expire(struct store *s, int64_t before, size_t batch,
                                        size_t *deleted)
{
    return expire_step(s, STMT_DECISION_EXPIRE, before, batch, deleted);
}
