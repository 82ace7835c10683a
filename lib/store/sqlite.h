/*
 * store/sqlite.h: what the sqlite_*.c files of the SQLite store share.  Private to lib/store/.
 */
#ifndef INGRESS_STORE_SQLITE_H
#define INGRESS_STORE_SQLITE_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"

#define STORE_ERROR_MAX 512

enum stmt_id {
    STMT_DECISION_ADD,
    STMT_DECISION_FIND,
    STMT_DECISION_EXPIRE,
    STMT_BEGIN_IMMEDIATE,
    STMT_BEGIN_DEFERRED,
    STMT_COMMIT,
    /* greylist */
    STMT_GREYLIST_GET,
    STMT_GREYLIST_PUT,
    STMT_AUTOALLOW_GET,
    STMT_AUTOALLOW_PUT,
    STMT_GREYLIST_EXPIRE_PENDING,
    STMT_GREYLIST_SWEEP_GET,
    STMT_GREYLIST_SWEEP_SCAN,
    STMT_GREYLIST_SWEEP_SET,
    STMT_GREYLIST_DELETE,
    STMT_AUTOALLOW_EXPIRE,
    /* lists */
    STMT_LISTS_VERSION,
    STMT_LIST_EACH,
    STMT_LIST_GET,
    STMT_LIST_ADD,
    STMT_LIST_DEL,
    STMT_RULE_GET,
    STMT_RULE_ADD,
    STMT_RULE_DEL,
    STMT_RULE_EACH,
    /* accounts */
    STMT_ACCOUNT_ADD,
    STMT_ACCOUNT_EACH,
    STMT_ALIAS_ADD,
    STMT_ALIAS_DEL,
    STMT_ALIAS_EACH,
    STMT_ACCOUNT_SUSPEND,
    STMT_ACCOUNT_SUSPENDED,
    STMT_ACCOUNT_RESUME,
    STMT_HELD_ADD,
    STMT_HELD_EACH,
    STMT_HELD_DECIDE,
    STMT_HELD_EXPIRE,
    /* throttle */
    STMT_THROTTLE_GET,
    STMT_THROTTLE_BUCKET_EACH,
    STMT_THROTTLE_BUCKET_ADD,
    STMT_THROTTLE_MARK,
    STMT_THROTTLE_CLEAR,
    STMT_THROTTLE_SET_LIMITS,
    STMT_THROTTLE_EACH,
    STMT_THROTTLE_EXPIRE_FINE,
    STMT_THROTTLE_EXPIRE_HOURLY,
    STMT_COUNT
};

/* The SQL of each statement, one table per domain file (the other entries NULL); every statement
 * is prepared at open. */
extern const char *const sqlite_core_sql[STMT_COUNT];
extern const char *const sqlite_decisions_sql[STMT_COUNT];
extern const char *const sqlite_greylist_sql[STMT_COUNT];
extern const char *const sqlite_lists_sql[STMT_COUNT];
extern const char *const sqlite_accounts_sql[STMT_COUNT];
extern const char *const sqlite_held_sql[STMT_COUNT];
extern const char *const sqlite_throttle_sql[STMT_COUNT];

struct queued_decision; /* a decision copied for the writer's queue (sqlite_decisions.c) */

/*
 * The background writer of the decision log (store_decision_writer_start).  Its own mutex guards
 * the queue, so a callback that queues a row never waits for SQLite; write_lock lets one batch be
 * written at a time (the thread, store_decision_flush, store_close).  The queue is a ring: rows
 * are appended at head + count and leave from head only after their batch committed, so the rows
 * being written stay counted against queue_max and are never touched by the producers.
 */
struct decision_writer {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_mutex_t write_lock;
    pthread_t thread;
    bool running, thread_started, stopping, failing;
    struct queued_decision **ring, **scratch;
    size_t cap, head, count, batch;
    int64_t interval_ms;
    struct store_decision_counts counts;
    sqlite3 *checkpoint_db; /* a connection of its own: checkpoints need not hold the store lock */
    atomic_int wal_frames;  /* the WAL's size after the last commit (sqlite3_wal_hook) */
};

struct store {
    pthread_mutex_t lock;
    sqlite3 *db;
    char *path;
    int64_t busy_timeout_ms; /* kept for store_check()'s reopen */
    sqlite3_stmt *stmt[STMT_COUNT];
    char error[STORE_ERROR_MAX]; /* why the last call failed; guarded by lock */
    struct decision_writer writer;
};

/* Helpers of sqlite.c, for the sqlite_*.c files.  Each runs with s->lock held. */

/* Records why a call failed (s->error) and maps SQLite's code to a store status. */
enum store_status store_fail(struct store *s, int rc);
/* Resets stmt after use and drops its bindings (text is bound SQLITE_STATIC). */
void stmt_done(sqlite3_stmt *stmt);
int64_t size_to_int64(size_t n);
/* Runs one statement that returns at most one row, giving its first column as an integer. */
int exec_int(sqlite3 *db, const char *sql, int64_t *out);
/* Runs one prepared statement that returns no row (BEGIN, COMMIT). */
enum store_status exec_stmt(struct store *s, enum stmt_id id);
/* Rolls back the open transaction, if any. */
void rollback(sqlite3 *db);
/* One bounded DELETE of expiry: at most *left rows older than before; *left is decreased. */
enum store_status bounded_delete(struct store *s, enum stmt_id id, int64_t before, size_t *left);
const char *column_text(sqlite3_stmt *stmt, int col);
int bind_text_or_null(sqlite3_stmt *stmt, int col, const char *text);
/* These three take the lock themselves. */
enum store_status expire_step(struct store *s, enum stmt_id id, int64_t before, size_t batch,
                              size_t *deleted);
enum store_status change_one(struct store *s, enum stmt_id id,
                             int (*bind)(sqlite3_stmt *stmt, const void *arg), const void *arg);
enum store_status delete_two_keys(struct store *s, enum stmt_id id, const char *key1,
                                  const char *key2);

/* Stops the decision writer, writing what it still holds (sqlite_decisions.c). */
void decision_writer_stop(struct store *s);

#endif
