/*
 * store/backend.h: the table of functions behind store.h, one table per database engine.  Private
 * to lib/store/: the checks see store.h only.
 *
 * lib/store/store.c (the dispatcher) picks a backend once, at store_open(), and every call of
 * store.h goes through its table.  What every backend does the same way is written once, above
 * the table: argument checks, the transactions of the writes that touch several rows, taking a
 * connection for the call.  A backend holds only what differs: its SQL, its connection, its file.
 *
 * Handles.  struct store_db is a backend's open database (its definition is the backend's own);
 * struct store_conn is one connection of it, taken with acquire() for one call of store.h and
 * given back with release().  Every operation on a connection runs inside that pair, so a
 * backend with one connection serializes the calls in acquire(), and one with a pool hands out
 * a free connection.  A row handed to a callback lives during the callback only, which runs with
 * the connection held and must not call the store.
 *
 * Errors.  An operation that fails returns STORE_BUSY (a lock or a server that did not answer in
 * time: "could not tell") or STORE_ERROR, and writes why into err, which is never NULL.  Ownership
 * of every other argument is as in store.h.
 */
#ifndef INGRESS_STORE_BACKEND_H
#define INGRESS_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STORE_ERROR_MAX 512

/* Why a call failed, written by the call. */
struct store_error {
    char text[STORE_ERROR_MAX];
};

struct store_db;
struct store_conn;

/* What a transaction begins with: a read that the first write may upgrade, or the write lock. */
enum store_txn { STORE_TXN_READ, STORE_TXN_WRITE };

struct store_backend {
    const char *name; /* "SQLite" */

    /* Opens the database (creating it with its schema when missing); NULL with err on failure. */
    struct store_db *(*open)(const char *database, int64_t busy_timeout_ms,
                             struct store_error *err);
    void (*close)(struct store_db *db);
    /* store_check(): the database at the path is still the open one, or it is opened again. */
    enum store_status (*check)(struct store_db *db, bool *reopened, struct store_error *err);

    struct store_conn *(*acquire)(struct store_db *db);
    void (*release)(struct store_conn *c);

    enum store_status (*begin)(struct store_conn *c, enum store_txn kind, struct store_error *err);
    enum store_status (*commit)(struct store_conn *c, struct store_error *err);
    void (*rollback)(struct store_conn *c); /* no-op outside a transaction */

    /* The decision log, with its background writer (store.h). */
    enum store_status (*decision_add)(struct store_db *db, const struct decision *d,
                                      struct store_error *err);
    enum store_status (*decision_writer_start)(struct store_db *db, int64_t interval_ms,
                                               size_t batch, size_t queue_max,
                                               struct store_error *err);
    enum store_status (*decision_flush)(struct store_db *db, struct store_error *err);
    void (*decision_counts)(struct store_db *db, struct store_decision_counts *out);
    /* key as given, and address: key without one pair of surrounding <> */
    enum store_status (*decision_find)(struct store_conn *c, const char *key, const char *address,
                                       size_t limit,
                                       void (*fn)(const struct decision *d, void *arg), void *arg,
                                       struct store_error *err);
    /* One bounded DELETE: at most *left rows; *left is decreased by the rows deleted. */
    enum store_status (*decision_expire)(struct store_conn *c, int64_t before, size_t *left,
                                         struct store_error *err);

    /* Greylisting (store.h "greylist"). */
    enum store_status (*greylist_update)(struct store_db *db, struct store_greylist_txn *t,
                                         void (*decide)(struct store_greylist_txn *t, void *arg),
                                         void *arg, struct store_error *err);
    /* Inside a write transaction; *left as for decision_expire. */
    enum store_status (*greylist_expire)(struct store_conn *c, int64_t pending_before,
                                         int64_t confirmed_before, int64_t autoallow_before,
                                         size_t *left, struct store_error *err);

    /* Lists and rules.  list_put and rule_put give the replaced row's action in previous ("" when
     * new) unless previous is NULL. */
    enum store_status (*lists_version)(struct store_conn *c, int64_t *version,
                                       struct store_error *err);
    enum store_status (*list_each)(struct store_conn *c, const char *kind, int64_t live_at,
                                   void (*fn)(const struct list_entry *e, void *arg), void *arg,
                                   struct store_error *err);
    enum store_status (*list_put)(struct store_conn *c, const struct list_entry *e, char *previous,
                                  size_t previous_len, struct store_error *err);
    enum store_status (*list_del)(struct store_conn *c, const char *kind, const char *value,
                                  struct store_error *err);
    enum store_status (*rule_put)(struct store_conn *c, const struct rcpt_rule *r, char *previous,
                                  size_t previous_len, struct store_error *err);
    enum store_status (*rule_del)(struct store_conn *c, const char *recipient, const char *sender,
                                  struct store_error *err);
    enum store_status (*rule_each)(struct store_conn *c, const char *recipient,
                                   void (*fn)(const struct rcpt_rule *r, void *arg), void *arg,
                                   struct store_error *err);

    /* Accounts.  alias_add inserts the alias only, account_suspend updates an existing row only:
     * the dispatcher adds the account first, in the same transaction. */
    enum store_status (*account_add)(struct store_conn *c, const char *name, int64_t now,
                                     bool *created, struct store_error *err);
    enum store_status (*account_each)(struct store_conn *c, const char *name,
                                      void (*fn)(const struct store_account *a, void *arg),
                                      void *arg, struct store_error *err);
    enum store_status (*alias_add)(struct store_conn *c, const struct store_alias *alias,
                                   bool *created, struct store_error *err);
    enum store_status (*alias_del)(struct store_conn *c, const char *account, const char *address,
                                   struct store_error *err);
    enum store_status (*alias_each)(struct store_conn *c, const char *account,
                                    void (*fn)(const struct store_alias *a, void *arg), void *arg,
                                    struct store_error *err);
    enum store_status (*account_suspend)(struct store_conn *c, const char *name, int64_t now,
                                         const char *reason, bool *changed,
                                         struct store_error *err);
    enum store_status (*account_suspended)(struct store_conn *c, const char *name, int64_t *since,
                                           char *reason, size_t reason_len,
                                           struct store_error *err);
    enum store_status (*account_resume)(struct store_conn *c, const char *name,
                                        struct store_error *err);

    /* Held messages. */
    enum store_status (*held_add)(struct store_conn *c, const struct store_held *h,
                                  struct store_error *err);
    enum store_status (*held_each)(struct store_conn *c, const char *queue_id, const char *account,
                                   const char *state,
                                   void (*fn)(const struct store_held *h, void *arg), void *arg,
                                   struct store_error *err);
    enum store_status (*held_decide)(struct store_conn *c, const char *queue_id, const char *state,
                                     const char *by, const char *reason, int64_t now,
                                     struct store_error *err);
    enum store_status (*held_expire)(struct store_conn *c, int64_t before, size_t *left,
                                     struct store_error *err);

    /* Throttle.  throttle_bucket_add adds one bucket, inside the dispatcher's transaction. */
    enum store_status (*throttle_get)(struct store_conn *c, const char *account,
                                      struct store_throttle_state *st, struct store_error *err);
    enum store_status (*throttle_bucket_each)(struct store_conn *c, const char *account,
                                              int64_t width, int64_t since, int64_t before,
                                              void (*fn)(const struct store_throttle_bucket *b,
                                                         void *arg),
                                              void *arg, struct store_error *err);
    enum store_status (*throttle_bucket_add)(struct store_conn *c,
                                             const struct store_throttle_bucket *b,
                                             struct store_error *err);
    enum store_status (*throttle_mark)(struct store_conn *c, const char *account, int64_t since,
                                       const char *reason, bool *marked, struct store_error *err);
    enum store_status (*throttle_clear)(struct store_conn *c, const char *account, int64_t now,
                                        struct store_error *err);
    enum store_status (*throttle_set_limits)(struct store_conn *c, const char *account,
                                             const int64_t limits[STORE_THROTTLE_LIMITS],
                                             struct store_error *err);
    enum store_status (*throttle_each)(struct store_conn *c,
                                       void (*fn)(const struct store_throttle_state *st, void *arg),
                                       void *arg, struct store_error *err);
    /* Inside a write transaction; *left as for decision_expire. */
    enum store_status (*throttle_expire)(struct store_conn *c, int64_t fine_before,
                                         int64_t hourly_before, size_t *left,
                                         struct store_error *err);
};

extern const struct store_backend store_backend_sqlite;

/* Writes a message into err (printf-style); returns status, so a failure is one line. */
enum store_status store_error_set(struct store_error *err, enum store_status status,
                                  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
