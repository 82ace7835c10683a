/*
 * store/pg.h: what the pg*.c files of the PostgreSQL backend share.  Private to lib/store/.
 *
 * A pool of connections per open database, one handed out by acquire() for the whole of a store.h
 * call (a connection is never shared by two threads at once), and one more of the decision log's
 * writer, so that its batches never wait for a callback's connection nor hold one.  The pool is
 * sized by the milter's threads: libmilter starts a worker thread whenever every worker is busy,
 * so the pool makes a connection whenever every one it has is in use, and keeps it.  It holds as
 * many connections as threads were in store calls at the same moment, up to PG_POOL_MAX; only
 * past that does a call wait for another's connection.  A connection
 * is made when first needed and made again after the server went away, by the next call that
 * begins outside a transaction: a server that restarts costs the calls made while it was down
 * (STORE_BUSY), never a restart of the milter.
 *
 * Every statement runs with a deadline: the server's statement_timeout and lock_timeout are the
 * busy timeout, and the client waits at most the busy timeout and one second more for an answer
 * (poll() on the socket) before it drops the connection: a server that accepts and never answers,
 * or a network that loses every packet, costs a call that bound, never a hung callback.
 */
#ifndef INGRESS_STORE_PG_H
#define INGRESS_STORE_PG_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "columns.h"

enum pg_stmt {
    PG_DECISION_ADD,
    PG_DECISION_ADD_MANY,
    PG_DECISION_FIND,
    PG_DECISION_SEARCH,
    PG_DECISION_TALLY,
    PG_DECISION_EXPIRE,
    PG_GREYLIST_GET,
    PG_GREYLIST_PUT,
    PG_AUTOALLOW_GET,
    PG_AUTOALLOW_PUT,
    PG_GREYLIST_CHECK_ROWS,
    PG_GREYLIST_CHECK_SAME,
    PG_GREYLIST_EXPIRE_PENDING,
    PG_GREYLIST_SWEEP_GET,
    PG_GREYLIST_SWEEP_SCAN,
    PG_GREYLIST_SWEEP_SET,
    PG_GREYLIST_DELETE,
    PG_AUTOALLOW_EXPIRE,
    PG_LISTS_VERSION,
    PG_LIST_EACH,
    PG_LIST_GET,
    PG_LIST_ADD,
    PG_LIST_DEL,
    PG_RULE_GET,
    PG_RULE_ADD,
    PG_RULE_DEL,
    PG_RULE_EACH,
    PG_ACCOUNT_ADD,
    PG_ACCOUNT_EACH,
    PG_ALIAS_ADD,
    PG_ALIAS_DEL,
    PG_ALIAS_EACH,
    PG_ACCOUNT_SUSPEND,
    PG_ACCOUNT_SUSPENDED,
    PG_ACCOUNT_RESUME,
    PG_HELD_ADD,
    PG_HELD_EACH,
    PG_HELD_COUNT,
    PG_HELD_DECIDE,
    PG_HELD_EXPIRE,
    PG_HELD_UNDO,
    PG_REVIEW_ADD,
    PG_REVIEW_EACH,
    PG_REVIEW_CLOSE,
    PG_REVIEW_EXPIRE,
    PG_EXPLANATION_SET,
    PG_EXPLANATION_DEL,
    PG_EXPLANATION_EACH,
    PG_CHANGE_ADD,
    PG_CHANGE_EACH,
    PG_CHANGE_EXPIRE,
    PG_THROTTLE_GET,
    PG_THROTTLE_BUCKET_EACH,
    PG_THROTTLE_BUCKET_ADD,
    PG_THROTTLE_MARK,
    PG_THROTTLE_CLEAR,
    PG_THROTTLE_SET_LIMITS,
    PG_THROTTLE_EACH,
    PG_THROTTLE_EXPIRE_FINE,
    PG_THROTTLE_EXPIRE_HOURLY,
    PG_DMARC_UPSERT,
    PG_DMARC_EACH,
    PG_DMARC_EXPIRE,
    PG_STMT_COUNT
};

/* The SQL of each statement, in a table of the domain file that uses it; each is prepared on a
 * connection the first time it runs there. */
struct pg_sql {
    enum pg_stmt id;
    const char *sql;
};
extern const struct pg_sql pg_decisions_sql[];
extern const size_t pg_decisions_sql_count;
extern const struct pg_sql pg_greylist_sql[];
extern const size_t pg_greylist_sql_count;
extern const struct pg_sql pg_lists_sql[];
extern const size_t pg_lists_sql_count;
extern const struct pg_sql pg_accounts_sql[];
extern const size_t pg_accounts_sql_count;
extern const struct pg_sql pg_held_sql[];
extern const size_t pg_held_sql_count;
extern const struct pg_sql pg_reviews_sql[];
extern const size_t pg_reviews_sql_count;
extern const struct pg_sql pg_changes_sql[];
extern const size_t pg_changes_sql_count;
extern const struct pg_sql pg_throttle_sql[];
extern const size_t pg_throttle_sql_count;
extern const struct pg_sql pg_dmarc_sql[];
extern const size_t pg_dmarc_sql_count;

/* One connection of the pool (or the writer's); conn is NULL until made, and after it broke. */
struct store_conn {
    struct store_db *db;
    PGconn *conn;
    bool busy;         /* handed out by acquire() */
    bool in_txn;       /* between begin() and commit()/rollback() */
    bool writer;       /* the decision writer's own, or the maintenance lock's: never in the pool */
    uint64_t sessions; /* connections made so far: a session lock ends with its session */
    bool broke; /* the server failed this store.h call once: it is not tried again in the call */
    char broke_why[STORE_ERROR_MAX]; /* why, for the call's later statements */
    uint64_t epoch; /* the database's epoch when this connection was begun (note_down) */
    bool probing;   /* this call is the one that may try the server while it is down */
    int64_t cap_ms; /* that call's own deadline (monotonic ms), which its waits never pass */
    bool migrating; /* between the migration lock and its release: PG_MIGRATION_TIMEOUT_MS */
    bool prepared[PG_STMT_COUNT];
    /* The last day whose partition store_copy made (pg_copy.c), until its table or transaction
     * ends. */
    int64_t copy_day;
    bool copy_day_known;
};

/* How long the migrations at a start may take, and a second host wait for them: not
 * store_busy_timeout (a mail transaction's bound), since one that rebuilds the decision log's
 * indexes takes seconds per million rows and would fail at every start on a big store. */
#define PG_MIGRATION_TIMEOUT_MS (60 * 60 * 1000)

/* The most connections of a pool: a bound on what one milter takes of the server's
 * max_connections, far above the threads a host has in store calls at once. */
#define PG_POOL_MAX 128

struct store_db {
    char *conninfo; /* as given: may hold a password, never printed */
    char *shown;    /* the same without a password, for messages */
    int64_t busy_timeout_ms;
    pthread_mutex_t lock; /* guards busy, down, the pool's size and its waits */
    pthread_cond_t freed;
    bool down;      /* the last attempt to reach the server failed (logged once) */
    uint64_t epoch; /* how many times the server came back: older connections' news is stale */
    char down_why[STORE_ERROR_MAX]; /* why it is down, for the calls that fail at once */
    bool probing;          /* a call tries the server now (one at a time while it is down) */
    pthread_cond_t probed; /* signalled when that call ends (CLOCK_MONOTONIC) */
    struct store_conn *pool[PG_POOL_MAX]; /* pool_len made so far, each its own allocation */
    int pool_len;
    struct store_conn writer;
    /* store_maintenance_lock(): a connection whose session holds the lock while maint_held. */
    pthread_mutex_t maint_lock; /* guards maint and the two below */
    struct store_conn maint;
    bool maint_held;
    uint64_t maint_session; /* maint.sessions when the lock was taken */
    int64_t partition_day;  /* the last day whose decision partitions exist (pg_decisions.c) */
    bool opened;            /* pg_open() has returned: a clock skew is logged, not refused */
    bool skew_logged; /* the last connection's clock skew was logged (once, until it is gone) */
};

/* One parameter of a statement, sent as text; PG_TEXT(NULL) sends NULL. */
struct pg_param {
    const char *text;
    bool is_int;
    int64_t value;
};
#define PG_TEXT(t) ((struct pg_param){.text = (t)})
#define PG_TEXT_OR_EMPTY(t) PG_TEXT((t) != NULL ? (t) : "")
#define PG_INT(v) ((struct pg_param){.is_int = true, .value = (v)})
#define PG_NULL ((struct pg_param){.text = NULL})
#define PG_PARAMS(...)                                                                             \
    (const struct pg_param[]){__VA_ARGS__},                                                        \
        sizeof((const struct pg_param[]){__VA_ARGS__}) / sizeof(struct pg_param)

/* What pg_each() calls with each row of res. */
struct pg_visit {
    void (*row)(const PGresult *res, int row, const struct pg_visit *v);
    union {
        void (*decision)(const struct decision *d, void *arg);
        void (*tally)(const char *check, const char *action, int64_t count, void *arg);
        void (*list)(const struct list_entry *e, void *arg);
        void (*rule)(const struct rcpt_rule *r, void *arg);
        void (*account)(const struct store_account *a, void *arg);
        void (*alias)(const struct store_alias *a, void *arg);
        void (*held)(const struct store_held *h, void *arg);
        void (*review)(const struct store_review *r, void *arg);
        void (*explanation)(const char *check, const char *text, const char *by, int64_t at,
                            void *arg);
        void (*change)(const struct store_change *ch, void *arg);
        void (*throttle)(const struct store_throttle_state *st, void *arg);
        void (*dmarc)(const struct store_dmarc_row *r, void *arg);
    } fn;
    void *arg;
};

/* A column as text (NULL when SQL NULL) or as an integer (0 when NULL). */
const char *pg_text(const PGresult *res, int row, int col);
int64_t pg_int(const PGresult *res, int row, int col);
bool pg_is_null(const PGresult *res, int row, int col);
/* Fills out (a struct of the type cols describes) from row of res. */
void pg_columns(const PGresult *res, int row, const struct store_columns *cols, void *out);

/*
 * The shapes of every statement, as in the SQLite backend: pg_run() expects no row and gives the
 * rows changed (changes may be NULL); pg_each() hands every row to v->row, STORE_NOTFOUND when
 * none; pg_change() is pg_run() of a one-row UPDATE or DELETE, STORE_NOTFOUND when it changed
 * nothing; pg_get_text() and pg_get_int() read column 0 of the first row; pg_bounded_delete() runs
 * a DELETE whose $1 is before and $2 the most rows, decreasing *left by the rows deleted.
 */
enum store_status pg_run(struct store_conn *c, enum pg_stmt id, const struct pg_param *params,
                         size_t n, int64_t *changes, struct store_error *err);
enum store_status pg_each(struct store_conn *c, enum pg_stmt id, const struct pg_param *params,
                          size_t n, const struct pg_visit *v, struct store_error *err);
enum store_status pg_change(struct store_conn *c, enum pg_stmt id, const struct pg_param *params,
                            size_t n, struct store_error *err);
enum store_status pg_get_text(struct store_conn *c, enum pg_stmt id, const struct pg_param *params,
                              size_t n, char *out, size_t outlen, struct store_error *err);
enum store_status pg_get_int(struct store_conn *c, enum pg_stmt id, const struct pg_param *params,
                             size_t n, int64_t *out, struct store_error *err);
enum store_status pg_bounded_delete(struct store_conn *c, enum pg_stmt id, int64_t before,
                                    size_t *left, struct store_error *err);
/* One statement of a pipeline: the prepared statement id, or (id -1) the constant text sql. */
struct pg_step {
    int id;
    const char *sql;
    const struct pg_param *params;
    size_t n;
};
#define PG_STEP(stmt, ...)                                                                         \
    ((struct pg_step){.id = (stmt),                                                                \
                      .params = (const struct pg_param[]){__VA_ARGS__},                            \
                      .n = sizeof((const struct pg_param[]){__VA_ARGS__}) /                        \
                           sizeof(struct pg_param)})
#define PG_STEP_SQL(text) ((struct pg_step){.id = -1, .sql = (text)})
/*
 * Sends the n steps in one round trip (libpq's pipeline mode) and gives each one's result in
 * results[i] (NULL when none; the caller clears them).  The first failure gives the status and
 * err; the server skips the steps after it.  A transaction a step began is the caller's to end.
 */
enum store_status pg_pipeline(struct store_conn *c, const struct pg_step *steps, size_t n,
                              PGresult **results, struct store_error *err);
/* A statement that is not prepared (its text varies, e.g. a multi-row INSERT), with parameters;
 * res (may be NULL) gets the result, which the caller clears. */
enum store_status pg_exec_params(struct store_conn *c, const char *sql,
                                 const struct pg_param *params, size_t n, PGresult **res,
                                 struct store_error *err);

/* ---- the operations of the table, one domain file each ---- */

/* pg_decisions.c */
enum store_status pg_decision_insert(struct store_conn *c, const struct decision *const *rows,
                                     size_t n, struct store_error *err);
enum store_status pg_decision_search(struct store_conn *c, const struct store_decision_match *m,
                                     void (*fn)(const struct decision *d, void *arg), void *arg,
                                     struct store_error *err);
enum store_status pg_decision_batch(struct store_conn *c, const struct decision *const *rows,
                                    size_t n, struct store_error *err);
enum store_status pg_decision_find(struct store_conn *c, const char *key, const char *address,
                                   size_t limit, void (*fn)(const struct decision *d, void *arg),
                                   void *arg, struct store_error *err);
enum store_status pg_decision_tally(struct store_conn *c, int64_t since,
                                    void (*fn)(const char *check, const char *action, int64_t count,
                                               void *arg),
                                    void *arg, struct store_error *err);
enum store_status pg_decision_expire(struct store_conn *c, int64_t before, size_t *left,
                                     struct store_error *err);
void pg_writer_after_batches(struct store_db *db);
#define PG_DAYS_AHEAD 2 /* partitions made ahead of today: tomorrow's and the day after's */
void pg_decision_days_ahead(struct store_conn *c);

/* pg_copy.c */
enum store_status pg_copy_count(struct store_conn *c, size_t table, int64_t *rows,
                                struct store_error *err);
enum store_status pg_copy_each(struct store_conn *c, size_t table,
                               enum store_status (*fn)(const char *const *values, void *arg,
                                                       struct store_error *err),
                               void *arg, struct store_error *err);
enum store_status pg_copy_insert(struct store_conn *c, size_t table, const char *const *const *rows,
                                 size_t n, struct store_error *err);
enum store_status pg_copy_clear(struct store_conn *c, size_t table, struct store_error *err);
enum store_status pg_copy_finish(struct store_conn *c, size_t table, struct store_error *err);

/* pg_greylist.c */
enum store_status pg_greylist_read(struct store_conn *c, const char *sender, const char *recipient,
                                   struct store_greylist_row *row, struct store_error *err);
enum store_status pg_greylist_write(struct store_conn *c, const char *sender, const char *recipient,
                                    const struct store_greylist_row *row, struct store_error *err);
enum store_status pg_autoallow_read(struct store_conn *c, struct store_autoallow_row *row,
                                    struct store_error *err);
enum store_status pg_autoallow_write(struct store_conn *c, const struct store_autoallow_row *row,
                                     struct store_error *err);
enum store_status pg_greylist_txn(struct store_conn *c, struct store_greylist_txn *t,
                                  void (*decide)(struct store_greylist_txn *t, void *arg),
                                  void *arg, struct store_error *err);
enum store_status pg_greylist_expire(struct store_conn *c, int64_t pending_before,
                                     int64_t confirmed_before, int64_t autoallow_before,
                                     size_t *left, struct store_error *err);

/* pg_lists.c */
enum store_status pg_lists_version(struct store_conn *c, int64_t *version, struct store_error *err);
enum store_status pg_list_each(struct store_conn *c, const char *kind, int64_t live_at,
                               void (*fn)(const struct list_entry *e, void *arg), void *arg,
                               struct store_error *err);
enum store_status pg_list_put(struct store_conn *c, const struct list_entry *e, char *previous,
                              size_t previous_len, struct store_error *err);
enum store_status pg_list_del(struct store_conn *c, const char *kind, const char *value,
                              struct store_error *err);
enum store_status pg_rule_put(struct store_conn *c, const struct rcpt_rule *r, char *previous,
                              size_t previous_len, struct store_error *err);
enum store_status pg_rule_del(struct store_conn *c, const char *recipient, const char *sender,
                              struct store_error *err);
enum store_status pg_rule_each(struct store_conn *c, const char *recipient,
                               void (*fn)(const struct rcpt_rule *r, void *arg), void *arg,
                               struct store_error *err);

/* pg_accounts.c */
enum store_status pg_account_add(struct store_conn *c, const char *name, int64_t now, bool *created,
                                 struct store_error *err);
enum store_status pg_account_each(struct store_conn *c, const char *name,
                                  void (*fn)(const struct store_account *a, void *arg), void *arg,
                                  struct store_error *err);
enum store_status pg_alias_add(struct store_conn *c, const struct store_alias *alias, bool *created,
                               struct store_error *err);
enum store_status pg_alias_del(struct store_conn *c, const char *account, const char *address,
                               struct store_error *err);
enum store_status pg_alias_each(struct store_conn *c, const char *account,
                                void (*fn)(const struct store_alias *a, void *arg), void *arg,
                                struct store_error *err);
enum store_status pg_account_suspend(struct store_conn *c, const char *name, int64_t now,
                                     const char *reason, bool *changed, struct store_error *err);
enum store_status pg_account_suspended(struct store_conn *c, const char *name, int64_t *since,
                                       char *reason, size_t reason_len, struct store_error *err);
enum store_status pg_account_resume(struct store_conn *c, const char *name,
                                    struct store_error *err);

/* pg_reviews.c */
enum store_status pg_review_add(struct store_conn *c, const struct store_review *r,
                                int64_t open_max, struct store_error *err);
enum store_status pg_review_each(struct store_conn *c, const char *state,
                                 void (*fn)(const struct store_review *r, void *arg), void *arg,
                                 struct store_error *err);
enum store_status pg_review_close(struct store_conn *c, int64_t id, const char *by,
                                  const char *reason, int64_t now, struct store_error *err);
enum store_status pg_review_expire(struct store_conn *c, int64_t before, size_t *left,
                                   struct store_error *err);
enum store_status pg_explanation_set(struct store_conn *c, const char *check, const char *text,
                                     const char *by, int64_t now, struct store_error *err);
enum store_status pg_explanation_each(struct store_conn *c,
                                      void (*fn)(const char *check, const char *text,
                                                 const char *by, int64_t at, void *arg),
                                      void *arg, struct store_error *err);
/* pg_changes.c */
enum store_status pg_change_add(struct store_conn *c, const struct store_change *ch,
                                struct store_error *err);
enum store_status pg_change_each(struct store_conn *c, const char *key, int64_t since,
                                 int64_t until, int64_t limit,
                                 void (*fn)(const struct store_change *ch, void *arg), void *arg,
                                 struct store_error *err);
enum store_status pg_change_expire(struct store_conn *c, int64_t before, size_t *left,
                                   struct store_error *err);

/* pg_held.c */
enum store_status pg_held_add(struct store_conn *c, const struct store_held *h,
                              struct store_error *err);
enum store_status pg_held_each(struct store_conn *c, const struct store_held_query *q,
                               void (*fn)(const struct store_held *h, void *arg), void *arg,
                               int64_t *total, struct store_error *err);
enum store_status pg_held_decide(struct store_conn *c, const char *queue_id, const char *host,
                                 const char *state, const char *by, const char *reason, int64_t now,
                                 struct store_error *err);
enum store_status pg_held_undo(struct store_conn *c, const char *queue_id, const char *host,
                               const char *state, const char *by, int64_t at,
                               struct store_error *err);
enum store_status pg_held_expire(struct store_conn *c, int64_t before, size_t *left,
                                 struct store_error *err);

/* pg_throttle.c */
enum store_status pg_throttle_get(struct store_conn *c, const char *account,
                                  struct store_throttle_state *st, struct store_error *err);
enum store_status pg_throttle_bucket_each(struct store_conn *c, const char *account, int64_t width,
                                          int64_t since, int64_t before,
                                          void (*fn)(const struct store_throttle_bucket *b,
                                                     void *arg),
                                          void *arg, struct store_error *err);
enum store_status pg_throttle_bucket_add(struct store_conn *c,
                                         const struct store_throttle_bucket *b,
                                         struct store_error *err);
enum store_status pg_throttle_mark(struct store_conn *c, const char *account, int64_t since,
                                   const char *reason, bool *marked, struct store_error *err);
enum store_status pg_throttle_clear(struct store_conn *c, const char *account, int64_t now,
                                    struct store_error *err);
enum store_status pg_throttle_set_limits(struct store_conn *c, const char *account,
                                         const int64_t limits[STORE_THROTTLE_LIMITS],
                                         struct store_error *err);
enum store_status pg_throttle_each(struct store_conn *c,
                                   void (*fn)(const struct store_throttle_state *st, void *arg),
                                   void *arg, struct store_error *err);
enum store_status pg_throttle_expire(struct store_conn *c, int64_t fine_before,
                                     int64_t hourly_before, size_t *left, struct store_error *err);

/* pg_dmarc.c */
enum store_status pg_dmarc_upsert(struct store_conn *c, const struct store_dmarc_row *const *rows,
                                  const char *const *keys, size_t n, struct store_error *err);
enum store_status pg_dmarc_each(struct store_conn *c, const char *policy_domain, int64_t since,
                                int64_t until,
                                void (*fn)(const struct store_dmarc_row *r, void *arg), void *arg,
                                struct store_error *err);
enum store_status pg_dmarc_expire(struct store_conn *c, int64_t before, size_t *left,
                                  struct store_error *err);

#endif
