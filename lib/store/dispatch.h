/*
 * store/dispatch.h: struct store and what the dispatcher's files (store.c, schema.c,
 * decision_log.c, greylist_txn.c) share.  Private to lib/store/.
 */
#ifndef INGRESS_STORE_DISPATCH_H
#define INGRESS_STORE_DISPATCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

/*
 * The background writer of the decision log (store_decision_writer_start).  Its own mutex guards
 * the queue, so a callback that queues a row never waits for the database; write_lock lets one
 * batch be written at a time (the thread, store_decision_flush, store_close).  The queue is a
 * ring: rows are appended at head + count and leave from head only after their batch committed,
 * so the rows being written stay counted against queue_max and are never touched by the
 * producers.  A batch is at most batch rows, or, on a backend that writes a batch in one statement
 * (decision_batch), as many as wait: a deep queue then goes in a few large batches, back to
 * back.  A batch that failed after running out of the busy timeout was too big for the server
 * of the moment (a loaded server, a statement timeout): the next ones take half as many rows, down
 * to batch, until a batch takes every waiting row again (batch_now).
 */
struct decision_writer {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_mutex_t write_lock;
    pthread_t thread;
    bool running, thread_started, stopping, failing;
    struct decision **ring, **scratch; /* each row a copy made by decision_copy() */
    size_t cap, head, count, batch, batch_max;
    size_t batch_now; /* the most rows of the next batch: batch_max, or less after a timeout */
    int64_t interval_ms;
    int64_t dmarc_next_us; /* the round's DMARC counts are written at most once an interval */
    struct store_decision_counts counts;
};

/*
 * The DMARC report counts kept in memory while the decision writer runs (dmarc_log.c): a hash
 * table of distinct rows, guarded by its own lock (a message adds to a count without waiting for
 * the database), written and emptied after each round of the writer.
 */
#define STORE_DMARC_KEY_LEN 64 /* the row key: SHA-256 in hexadecimal */
#define STORE_DMARC_BUCKETS 1024
struct dmarc_entry;
struct dmarc_pending {
    pthread_mutex_t lock;
    bool ready;    /* lock initialized (store_dmarc_init) */
    bool failing;  /* the writer's last flush failed (logged once) */
    uint64_t seed; /* of the table's hash (dmarc_log.c), random */
    struct dmarc_entry *buckets[STORE_DMARC_BUCKETS];
    size_t count;
    uint64_t refused; /* messages not counted: the table was full */
};

struct store {
    const struct store_backend *be;
    /* store_open_dry_run(): the copy of the backend's table that be points to, whose writes
     * write nothing (dry_run.c); NULL for a store that writes.  Its transactions begin as reads. */
    struct store_backend *dry_run_backend;
    struct store_db *db;
    char *database;          /* as given to store_open() */
    int64_t busy_timeout_ms; /* kept for the reopen of store_check() */
    mode_t mode;             /* the same: of the files a backend creates */
    struct decision_writer writer;
    struct dmarc_pending dmarc;
    /* store_check() found the database gone and none can be opened in its place yet: every call
     * fails with lost_why.  Set and cleared with a connection held (the old one detached);
     * guarded by lost_lock. */
    pthread_mutex_t lost_lock;
    bool lost;
    char lost_why[STORE_ERROR_MAX];
};

/* A connection of s's database for one call (backend.h: acquire, release); NULL with err while
 * the database is lost (store_check). */
struct store_conn *store_conn_get(struct store *s, struct store_error *err);
void store_conn_put(struct store *s, struct store_conn *c);

/* The part of a call that runs inside store_write_txn(). */
typedef enum store_status (*store_txn_body)(struct store *s, struct store_conn *c, const void *arg,
                                            struct store_error *err);
/* Runs body on c inside one transaction of that kind: all of its writes, or none of them on
 * failure. */
enum store_status store_txn(struct store *s, struct store_conn *c, enum store_txn kind,
                            store_txn_body body, const void *arg, struct store_error *err);
/* Counts a transaction of that kind begun at start_us (metrics_now_us()) that ended with status,
 * for the daemon's counters: what store_txn() does for its own. */
void store_txn_count(enum store_txn kind, enum store_status status, int64_t start_us);
/* The same in a write transaction, on a connection of its own. */
enum store_status store_write_txn(struct store *s, store_txn_body body, const void *arg,
                                  struct store_error *err);

/* One bounded expiry step of op (backend.h: decision_expire, held_expire); *deleted gets how many
 * rows went. */
enum store_status store_expire_step(struct store *s,
                                    enum store_status (*op)(struct store_conn *c, int64_t before,
                                                            size_t *left, struct store_error *err),
                                    int64_t before, size_t batch, size_t *deleted,
                                    struct store_error *err);

/*
 * schema.c: brings the database on c up to the schema of this build, every missing migration in
 * one transaction; false with err (naming the database as name) on failure.
 */
bool store_schema_migrate(const struct store_backend *be, struct store_conn *c, const char *name,
                          struct store_error *err);

/* dmarc_log.c: the counts in memory: made at open, written (flush: by the decision writer's
 * thread after its batches) and let go at close (stop: written first). */
void store_dmarc_init(struct store *s);
enum store_status store_dmarc_flush(struct store *s, struct store_error *err);
void store_dmarc_stop(struct store *s);

/* decision_log.c: stops the writer, writing what it still holds (store_close). */
void store_decision_writer_stop(struct store *s);

#endif
