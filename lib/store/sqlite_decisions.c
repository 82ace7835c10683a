/*
 * store/sqlite_decisions: the decision log in SQLite, written directly or by the background writer.
 */
#include "sqlite.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
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

struct decision_text {
    const char *text[DECISION_TEXTS];
};

/* A decision copied for the queue: the strings live in the same allocation. */
struct queued_decision {
    int64_t time;
    const char *text[DECISION_TEXTS];
};

static struct decision_text decision_texts(const struct decision *d)
{
    struct decision_text t = {{d->queue_id, d->ref, d->client_ip, d->client_name, d->helo,
                               d->sender, d->recipient, d->account, d->check, d->action, d->reply,
                               d->detail}};
    return t;
}

/* Inserts one row; with s->lock held. */
static enum store_status decision_insert(struct store_db *s, int64_t time,
                                         const char *const text[DECISION_TEXTS],
                                         struct store_error *err)
{
    return sqlite_run(s, STMT_DECISION_ADD,
                      SQL_PARAMS(SQL_INT(time), SQL_TEXT(text[0]), SQL_TEXT(text[1]),
                                 SQL_TEXT(text[2]), SQL_TEXT(text[3]), SQL_TEXT(text[4]),
                                 SQL_TEXT(text[5]), SQL_TEXT(text[6]), SQL_TEXT(text[7]),
                                 SQL_TEXT(text[8]), SQL_TEXT(text[9]), SQL_TEXT(text[10]),
                                 SQL_TEXT(text[11])),
                      NULL, err);
}

static struct queued_decision *decision_copy(const struct decision *d)
{
    struct decision_text t = decision_texts(d);
    const char *const *text = t.text;
    size_t len[DECISION_TEXTS], total = sizeof(struct queued_decision);

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
static enum store_status decision_queue(struct store_db *s, const struct decision *d,
                                        struct store_error *err)
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
    return store_error_set(err, STORE_BUSY,
                           "the decision log queue is full (%zu decisions wait for the database)",
                           waiting);
}

enum store_status sqlite_decision_add(struct store_db *s, const struct decision *d,
                                      struct store_error *err)
{
    struct decision_text t = decision_texts(d);
    enum store_status status;

    if (s->writer.running)
        return decision_queue(s, d, err);
    pthread_mutex_lock(&s->lock);
    status = decision_insert(s, d->time, t.text, err);
    pthread_mutex_unlock(&s->lock);
    return status;
}

/* Writes rows[0..n) in one transaction; nothing is written on failure. */
static enum store_status decision_write_rows(struct store_db *s, struct queued_decision **rows,
                                             size_t n, struct store_error *err)
{
    enum store_status status;

    pthread_mutex_lock(&s->lock);
    status = sqlite_begin(&s->conn, STORE_TXN_WRITE, err);
    for (size_t i = 0; status == STORE_OK && i < n; i++)
        status = decision_insert(s, rows[i]->time, rows[i]->text, err);
    if (status == STORE_OK)
        status = sqlite_commit(&s->conn, err);
    if (status != STORE_OK)
        sqlite_rollback(&s->conn);
    pthread_mutex_unlock(&s->lock);
    return status;
}

/* One batch from the head of the queue; *written gets how many rows were committed. */
static enum store_status decision_write_batch(struct store_db *s, size_t *written,
                                              struct store_error *err)
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
        status = decision_write_rows(s, w->scratch, n, err);
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

enum store_status sqlite_decision_flush(struct store_db *s, struct store_error *err)
{
    enum store_status status = STORE_OK;
    size_t written = 1;

    while (s->writer.running && status == STORE_OK && written > 0)
        status = decision_write_batch(s, &written, err);
    return status;
}

/* Logs when the writer starts failing and when it recovers, not every retry. */
static void decision_writer_note(struct store_db *s, enum store_status status,
                                 const struct store_error *why)
{
    struct decision_writer *w = &s->writer;

    if ((status == STORE_OK) == !w->failing)
        return;
    w->failing = status != STORE_OK;
    if (w->failing) {
        log_msg(LOG_ERR, "decision log: cannot write a batch (kept, retried): %s", why->text);
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
    struct store_db *s = arg;
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

static void decision_checkpoint(struct store_db *s)
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
    struct store_db *s = arg;
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
        struct store_error why;
        do
            status = decision_write_batch(s, &written, &why);
        while (status == STORE_OK && written == w->batch);
        decision_writer_note(s, status, &why);
        decision_checkpoint(s);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

enum store_status sqlite_decision_writer_start(struct store_db *s, int64_t interval_ms,
                                               size_t batch, size_t queue_max,
                                               struct store_error *err)
{
    struct decision_writer *w = &s->writer;
    pthread_condattr_t attr;

    if (w->running)
        return store_error_set(err, STORE_ERROR, "the decision writer runs already");
    /* A connection knows that the database is in WAL mode only once it has read it: until then
     * its checkpoints do nothing (and report -1 frames). */
    int64_t version = 0;
    if (sqlite3_open_v2(s->path, &w->checkpoint_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK ||
        exec_int(w->checkpoint_db, "PRAGMA schema_version", &version) != SQLITE_OK) {
        store_error_set(err, STORE_ERROR, "decision writer: %s",
                        w->checkpoint_db ? sqlite3_errmsg(w->checkpoint_db) : "cannot open");
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
        sqlite_decision_writer_stop(s);
        return store_error_set(err, STORE_ERROR, "cannot start the decision writer thread");
    }
    w->thread_started = true;
    return STORE_OK;
}

/* Stops the thread, writes what is left, and frees the queue (store_close). */
void sqlite_decision_writer_stop(struct store_db *s)
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
    struct store_error why;
    if (sqlite_decision_flush(s, &why) != STORE_OK)
        log_msg(LOG_ERR, "decision log: %zu decisions lost at close: %s", w->count, why.text);
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

void sqlite_decision_counts(struct store_db *s, struct store_decision_counts *out)
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

static void decision_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    struct decision d = {
        .time = sqlite3_column_int64(stmt, 0),
        .queue_id = column_text(stmt, 1),
        .ref = column_text(stmt, 2),
        .client_ip = column_text(stmt, 3),
        .client_name = column_text(stmt, 4),
        .helo = column_text(stmt, 5),
        .sender = column_text(stmt, 6),
        .recipient = column_text(stmt, 7),
        .account = column_text(stmt, 8),
        .check = column_text(stmt, 9),
        .action = column_text(stmt, 10),
        .reply = column_text(stmt, 11),
        .detail = column_text(stmt, 12),
    };
    v->fn.decision(&d, v->arg);
}

enum store_status sqlite_decision_find(struct store_conn *c, const char *key, const char *address,
                                       size_t limit,
                                       void (*fn)(const struct decision *d, void *arg), void *arg,
                                       struct store_error *err)
{
    struct sqlite_visit v = {.row = decision_row, .fn.decision = fn, .arg = arg};

    return sqlite_each(c->s, STMT_DECISION_FIND,
                       SQL_PARAMS(SQL_TEXT(key), SQL_TEXT(address), SQL_INT(size_to_int64(limit))),
                       &v, err);
}

enum store_status sqlite_decision_expire(struct store_conn *c, int64_t before, size_t *left,
                                         struct store_error *err)
{
    return sqlite_bounded_delete(c->s, STMT_DECISION_EXPIRE, before, left, err);
}
