/*
 * store/sqlite.h: what the sqlite_*.c files of the SQLite backend share.  Private to lib/store/.
 *
 * One connection per open database, opened without SQLite's own mutex: the connection's mutex,
 * taken by acquire() for the whole of a store.h call, serializes every use, which also keeps a
 * prepared statement and the error text it leaves consistent between the step that failed and
 * the copy made of its message.
 */
#ifndef INGRESS_STORE_SQLITE_H
#define INGRESS_STORE_SQLITE_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend.h"
#include "columns.h"

enum stmt_id {
    STMT_DECISION_ADD,
    STMT_DECISION_FIND,
    STMT_DECISION_SEARCH,
    STMT_DECISION_TALLY,
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
    STMT_HELD_COUNT,
    STMT_HELD_DECIDE,
    STMT_HELD_EXPIRE,
    STMT_HELD_UNDO,
    STMT_REVIEW_ADD,
    STMT_REVIEW_EACH,
    STMT_REVIEW_CLOSE,
    STMT_REVIEW_EXPIRE,
    STMT_EXPLANATION_SET,
    STMT_EXPLANATION_DEL,
    STMT_EXPLANATION_EACH,
    STMT_CHANGE_ADD,
    STMT_CHANGE_EACH,
    STMT_CHANGE_EXPIRE,
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
    STMT_DMARC_UPSERT,
    STMT_DMARC_EACH,
    STMT_DMARC_EXPIRE,
    STMT_COUNT
};

/* The SQL of each statement, in a table of the domain file that uses it; every statement is
 * prepared after the migrations. */
struct sqlite_sql {
    enum stmt_id id;
    const char *sql;
};
extern const struct sqlite_sql sqlite_core_sql[];
extern const size_t sqlite_core_sql_count;
extern const struct sqlite_sql sqlite_decisions_sql[];
extern const size_t sqlite_decisions_sql_count;
extern const struct sqlite_sql sqlite_greylist_sql[];
extern const size_t sqlite_greylist_sql_count;
extern const struct sqlite_sql sqlite_lists_sql[];
extern const size_t sqlite_lists_sql_count;
extern const struct sqlite_sql sqlite_accounts_sql[];
extern const size_t sqlite_accounts_sql_count;
extern const struct sqlite_sql sqlite_held_sql[];
extern const size_t sqlite_held_sql_count;
extern const struct sqlite_sql sqlite_reviews_sql[];
extern const size_t sqlite_reviews_sql_count;
extern const struct sqlite_sql sqlite_changes_sql[];
extern const size_t sqlite_changes_sql_count;
extern const struct sqlite_sql sqlite_throttle_sql[];
extern const size_t sqlite_throttle_sql_count;
extern const struct sqlite_sql sqlite_dmarc_sql[];
extern const size_t sqlite_dmarc_sql_count;

/* The connection, handed out by acquire() with s->lock held. */
struct store_conn {
    struct store_db *s;
};

/* Which file a path named when it was opened: a file removed or replaced has another. */
struct sqlite_file_id {
    dev_t dev;
    ino_t ino; /* 0: no such file */
};

struct store_db {
    pthread_mutex_t lock;
    sqlite3 *db; /* NULL once detached (sqlite_file.c) */
    char *path;
    int64_t busy_timeout_ms; /* kept for the reopen of sqlite_check() */
    sqlite3_stmt *stmt[STMT_COUNT];
    struct store_conn conn;
    /* The files under the path (sqlite_file.c): the database and its -wal and -shm as opened;
     * moved: a commit found another file at the path (guarded by lock); created: this open made
     * the database file; readonly: opened for reading only (a tool without the right to write). */
    struct sqlite_file_id file, wal, shm;
    bool moved, created, readonly;
    /* The decision writer's checkpoints (sqlite_decisions.c). */
    sqlite3 *checkpoint_db; /* a connection of its own: checkpoints need not hold the lock */
    atomic_int wal_frames;  /* the WAL's size after the last commit (sqlite3_wal_hook) */
};

/* ---- helpers of sqlite.c for the sqlite_*.c files; each runs with s->lock held ---- */

/* Records why a call failed in err and maps SQLite's code: a lock held elsewhere is BUSY. */
enum store_status sqlite_fail(struct store_db *s, int rc, struct store_error *err);
int64_t size_to_int64(size_t n);
/* Runs one statement that returns at most one row, giving its first column as an integer. */
int exec_int(sqlite3 *db, const char *sql, int64_t *out);
const char *column_text(sqlite3_stmt *stmt, int col);
/* Fills out (a struct of the type cols describes) from the current row of stmt. */
void sqlite_columns(sqlite3_stmt *stmt, const struct store_columns *cols, void *out);

/* One parameter of a statement; SQL_TEXT(NULL) binds NULL. */
struct sql_param {
    enum { SQL_PARAM_TEXT, SQL_PARAM_INT, SQL_PARAM_NULL } type;
    const char *text;
    int64_t value;
};
#define SQL_TEXT(t) ((struct sql_param){.type = SQL_PARAM_TEXT, .text = (t)})
#define SQL_TEXT_OR_EMPTY(t) SQL_TEXT((t) != NULL ? (t) : "")
#define SQL_INT(v) ((struct sql_param){.type = SQL_PARAM_INT, .value = (v)})
#define SQL_NULL ((struct sql_param){.type = SQL_PARAM_NULL})
/* The parameter list of a call: two arguments, the array and its length. */
#define SQL_PARAMS(...)                                                                            \
    (const struct sql_param[]){__VA_ARGS__},                                                       \
        sizeof((const struct sql_param[]){__VA_ARGS__}) / sizeof(struct sql_param)

/* What sqlite_each() calls with each row; the row's columns are read from stmt. */
struct sqlite_visit {
    void (*row)(sqlite3_stmt *stmt, const struct sqlite_visit *v);
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

/*
 * The shapes of every statement run here: each binds params[0..n) to ?1..?n, runs the prepared
 * statement id and resets it.  sqlite_run() expects no row and gives how many rows changed
 * (changes may be NULL); sqlite_each() hands every row to v->row and returns STORE_NOTFOUND when
 * there was none.
 */
enum store_status sqlite_run(struct store_db *s, enum stmt_id id, const struct sql_param *params,
                             size_t n, int *changes, struct store_error *err);
enum store_status sqlite_each(struct store_db *s, enum stmt_id id, const struct sql_param *params,
                              size_t n, const struct sqlite_visit *v, struct store_error *err);
/* sqlite_run() of an UPDATE or DELETE of one row: STORE_NOTFOUND when it changed nothing. */
enum store_status sqlite_change(struct store_db *s, enum stmt_id id, const struct sql_param *params,
                                size_t n, struct store_error *err);
/* Copies column 0 of the first row into out (size outlen > 0); "" and STORE_NOTFOUND when none. */
enum store_status sqlite_get_text(struct store_db *s, enum stmt_id id,
                                  const struct sql_param *params, size_t n, char *out,
                                  size_t outlen, struct store_error *err);
/* Column 0 of the first row as an integer into *out (left alone and STORE_NOTFOUND when none). */
enum store_status sqlite_get_int(struct store_db *s, enum stmt_id id,
                                 const struct sql_param *params, size_t n, int64_t *out,
                                 struct store_error *err);
/* A bounded DELETE whose ?1 is before and ?2 the most rows; *left is decreased by those deleted. */
enum store_status sqlite_bounded_delete(struct store_db *s, enum stmt_id id, int64_t before,
                                        size_t *left, struct store_error *err);

/* sqlite_file.c: the file under the path (identity hooks of store_check) and its modes. */
bool sqlite_file_record(struct store_db *s, struct store_error *err);
bool sqlite_identity_changed(struct store_conn *c);
void sqlite_detach(struct store_conn *c);
void sqlite_adopt(struct store_conn *c, struct store_db *fresh, struct store_error *note);
/* Creates a missing database file with mode, whatever the umask; true when it is new. */
bool sqlite_file_create(const char *path, mode_t mode);
/* Logs each of the database's files whose mode is wider than mode. */
void sqlite_file_warn_modes(const char *path, mode_t mode);

enum store_status sqlite_begin(struct store_conn *c, enum store_txn kind, struct store_error *err);
enum store_status sqlite_commit(struct store_conn *c, struct store_error *err);
void sqlite_rollback(struct store_conn *c);

/* ---- the operations of the table, one domain file each ---- */

/* sqlite_decisions.c */
enum store_status sqlite_decision_insert(struct store_conn *c, const struct decision *const *rows,
                                         size_t n, struct store_error *err);
enum store_status sqlite_decision_search(struct store_conn *c, const struct store_decision_match *m,
                                         void (*fn)(const struct decision *d, void *arg), void *arg,
                                         struct store_error *err);
enum store_status sqlite_decision_find(struct store_conn *c, const char *key, const char *address,
                                       size_t limit,
                                       void (*fn)(const struct decision *d, void *arg), void *arg,
                                       struct store_error *err);
enum store_status sqlite_decision_tally(struct store_conn *c, int64_t since,
                                        void (*fn)(const char *check, const char *action,
                                                   int64_t count, void *arg),
                                        void *arg, struct store_error *err);
enum store_status sqlite_decision_expire(struct store_conn *c, int64_t before, size_t *left,
                                         struct store_error *err);
enum store_status sqlite_writer_start(struct store_db *s, struct store_error *err);
void sqlite_writer_after_batches(struct store_db *s);
void sqlite_writer_stop(struct store_db *s);

/* sqlite_copy.c */
enum store_status sqlite_copy_count(struct store_conn *c, size_t table, int64_t *rows,
                                    struct store_error *err);
enum store_status sqlite_copy_each(struct store_conn *c, size_t table,
                                   enum store_status (*fn)(const char *const *values, void *arg,
                                                           struct store_error *err),
                                   void *arg, struct store_error *err);
enum store_status sqlite_copy_insert(struct store_conn *c, size_t table,
                                     const char *const *const *rows, size_t n,
                                     struct store_error *err);
enum store_status sqlite_copy_clear(struct store_conn *c, size_t table, struct store_error *err);

/* sqlite_greylist.c */
enum store_status sqlite_greylist_read(struct store_conn *c, const char *sender,
                                       const char *recipient, struct store_greylist_row *row,
                                       struct store_error *err);
enum store_status sqlite_greylist_write(struct store_conn *c, const char *sender,
                                        const char *recipient, const struct store_greylist_row *row,
                                        struct store_error *err);
enum store_status sqlite_autoallow_read(struct store_conn *c, struct store_autoallow_row *row,
                                        struct store_error *err);
enum store_status sqlite_autoallow_write(struct store_conn *c,
                                         const struct store_autoallow_row *row,
                                         struct store_error *err);
enum store_status sqlite_greylist_expire(struct store_conn *c, int64_t pending_before,
                                         int64_t confirmed_before, int64_t autoallow_before,
                                         size_t *left, struct store_error *err);

/* sqlite_lists.c */
enum store_status sqlite_lists_version(struct store_conn *c, int64_t *version,
                                       struct store_error *err);
enum store_status sqlite_list_each(struct store_conn *c, const char *kind, int64_t live_at,
                                   void (*fn)(const struct list_entry *e, void *arg), void *arg,
                                   struct store_error *err);
enum store_status sqlite_list_put(struct store_conn *c, const struct list_entry *e, char *previous,
                                  size_t previous_len, struct store_error *err);
enum store_status sqlite_list_del(struct store_conn *c, const char *kind, const char *value,
                                  struct store_error *err);
enum store_status sqlite_rule_put(struct store_conn *c, const struct rcpt_rule *r, char *previous,
                                  size_t previous_len, struct store_error *err);
enum store_status sqlite_rule_del(struct store_conn *c, const char *recipient, const char *sender,
                                  struct store_error *err);
enum store_status sqlite_rule_each(struct store_conn *c, const char *recipient,
                                   void (*fn)(const struct rcpt_rule *r, void *arg), void *arg,
                                   struct store_error *err);

/* sqlite_accounts.c */
enum store_status sqlite_account_add(struct store_conn *c, const char *name, int64_t now,
                                     bool *created, struct store_error *err);
enum store_status sqlite_account_each(struct store_conn *c, const char *name,
                                      void (*fn)(const struct store_account *a, void *arg),
                                      void *arg, struct store_error *err);
enum store_status sqlite_alias_add(struct store_conn *c, const struct store_alias *alias,
                                   bool *created, struct store_error *err);
enum store_status sqlite_alias_del(struct store_conn *c, const char *account, const char *address,
                                   struct store_error *err);
enum store_status sqlite_alias_each(struct store_conn *c, const char *account,
                                    void (*fn)(const struct store_alias *a, void *arg), void *arg,
                                    struct store_error *err);
enum store_status sqlite_account_suspend(struct store_conn *c, const char *name, int64_t now,
                                         const char *reason, bool *changed,
                                         struct store_error *err);
enum store_status sqlite_account_suspended(struct store_conn *c, const char *name, int64_t *since,
                                           char *reason, size_t reason_len,
                                           struct store_error *err);
enum store_status sqlite_account_resume(struct store_conn *c, const char *name,
                                        struct store_error *err);

/* sqlite_reviews.c */
enum store_status sqlite_review_add(struct store_conn *c, const struct store_review *r,
                                    int64_t open_max, struct store_error *err);
enum store_status sqlite_review_each(struct store_conn *c, const char *state,
                                     void (*fn)(const struct store_review *r, void *arg), void *arg,
                                     struct store_error *err);
enum store_status sqlite_review_close(struct store_conn *c, int64_t id, const char *by,
                                      const char *reason, int64_t now, struct store_error *err);
enum store_status sqlite_review_expire(struct store_conn *c, int64_t before, size_t *left,
                                       struct store_error *err);
enum store_status sqlite_explanation_set(struct store_conn *c, const char *check, const char *text,
                                         const char *by, int64_t now, struct store_error *err);
enum store_status sqlite_explanation_each(struct store_conn *c,
                                          void (*fn)(const char *check, const char *text,
                                                     const char *by, int64_t at, void *arg),
                                          void *arg, struct store_error *err);
/* sqlite_changes.c */
enum store_status sqlite_change_add(struct store_conn *c, const struct store_change *ch,
                                    struct store_error *err);
enum store_status sqlite_change_each(struct store_conn *c, const char *key, int64_t since,
                                     int64_t until, int64_t limit,
                                     void (*fn)(const struct store_change *ch, void *arg),
                                     void *arg, struct store_error *err);
enum store_status sqlite_change_expire(struct store_conn *c, int64_t before, size_t *left,
                                       struct store_error *err);

/* sqlite_held.c */
enum store_status sqlite_held_add(struct store_conn *c, const struct store_held *h,
                                  struct store_error *err);
enum store_status sqlite_held_each(struct store_conn *c, const struct store_held_query *q,
                                   void (*fn)(const struct store_held *h, void *arg), void *arg,
                                   int64_t *total, struct store_error *err);
enum store_status sqlite_held_decide(struct store_conn *c, const char *queue_id, const char *host,
                                     const char *state, const char *by, const char *reason,
                                     int64_t now, struct store_error *err);
enum store_status sqlite_held_undo(struct store_conn *c, const char *queue_id, const char *host,
                                   const char *state, const char *by, int64_t at,
                                   struct store_error *err);
enum store_status sqlite_held_expire(struct store_conn *c, int64_t before, size_t *left,
                                     struct store_error *err);

/* sqlite_throttle.c */
enum store_status sqlite_throttle_get(struct store_conn *c, const char *account,
                                      struct store_throttle_state *st, struct store_error *err);
enum store_status sqlite_throttle_bucket_each(struct store_conn *c, const char *account,
                                              int64_t width, int64_t since, int64_t before,
                                              void (*fn)(const struct store_throttle_bucket *b,
                                                         void *arg),
                                              void *arg, struct store_error *err);
enum store_status sqlite_throttle_bucket_add(struct store_conn *c,
                                             const struct store_throttle_bucket *b,
                                             struct store_error *err);
enum store_status sqlite_throttle_mark(struct store_conn *c, const char *account, int64_t since,
                                       const char *reason, bool *marked, struct store_error *err);
enum store_status sqlite_throttle_clear(struct store_conn *c, const char *account, int64_t now,
                                        struct store_error *err);
enum store_status sqlite_throttle_set_limits(struct store_conn *c, const char *account,
                                             const int64_t limits[STORE_THROTTLE_LIMITS],
                                             struct store_error *err);
enum store_status sqlite_throttle_each(struct store_conn *c,
                                       void (*fn)(const struct store_throttle_state *st, void *arg),
                                       void *arg, struct store_error *err);
enum store_status sqlite_throttle_expire(struct store_conn *c, int64_t fine_before,
                                         int64_t hourly_before, size_t *left,
                                         struct store_error *err);

/* sqlite_dmarc.c */
enum store_status sqlite_dmarc_upsert(struct store_conn *c,
                                      const struct store_dmarc_row *const *rows,
                                      const char *const *keys, size_t n, struct store_error *err);
enum store_status sqlite_dmarc_each(struct store_conn *c, const char *policy_domain, int64_t since,
                                    int64_t until,
                                    void (*fn)(const struct store_dmarc_row *r, void *arg),
                                    void *arg, struct store_error *err);
enum store_status sqlite_dmarc_expire(struct store_conn *c, int64_t before, size_t *left,
                                      struct store_error *err);

#endif
