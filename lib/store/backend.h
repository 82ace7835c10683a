/*
 * store/backend.h: the table of functions behind store.h, one table per database engine.  Private
 * to lib/store/: the checks see store.h only.
 *
 * lib/store/store.c (the dispatcher) picks a backend once, at store_open(), by the database
 * value, and every call of store.h goes through its table.  What every backend does the same way
 * is written once, above the table: argument checks, the transactions of the writes that touch
 * several rows, taking a connection for the call, the migration loop (schema.c), the decision
 * log's writer (decision_log.c), the greylist driver (greylist_txn.c) and the reopen of
 * store_check().  A backend holds only what differs: its SQL, its connections, its files.  A new
 * backend is a file (or a few) of its own here, a table, and a line in the dispatcher's choice.
 *
 * Handles.  struct store_db is a backend's open database (its definition is the backend's own);
 * struct store_conn is one connection of it, taken with acquire() for one call of store.h and
 * given back with release().  Every operation on a connection runs inside that pair, so a
 * backend with one connection serializes the calls in acquire(), and one with a pool hands out
 * a free connection.  A row handed to a callback lives during the callback only, which runs with
 * the connection held and must not call the store.
 *
 * Errors.  An operation that fails returns STORE_BUSY (a lock or a server that did not answer in
 * time: "could not tell") or STORE_ERROR, and writes why into err with store_error_set() (or a
 * helper of its own that does the same): err may be NULL, when the caller does not want the
 * text, except for open, prepare and the schema_* steps, which always get one.  Ownership of
 * every other argument is as in store.h.
 */
#ifndef INGRESS_STORE_BACKEND_H
#define INGRESS_STORE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct store_db;
struct store_conn;

/*
 * What a transaction begins with: a read that the first write may upgrade, or the write lock; or,
 * for a dry run (store_open_dry_run), a read the engine itself refuses to let write (SQLite's
 * query_only, PostgreSQL's READ ONLY transaction), so that a write the dry run's stubs do not
 * cover fails instead of changing the database.
 */
enum store_txn { STORE_TXN_READ, STORE_TXN_WRITE, STORE_TXN_READ_ONLY };

struct store_migration;

/* A query of store_decision_search() as the backends compare it, derived once from its key. */
struct store_decision_match {
    const char *key;     /* as given: queue id, client IP */
    const char *ref;     /* key in upper case: the reference */
    const char *address; /* key without one pair of <>: sender, recipient, account, without case */
    const char *domain;  /* lower case, no '@': the sender's or recipient's domain; "" for none */
    const char *header_from; /* an address in lower case, for decisions.header_from; "" for none */
    int64_t since, until;    /* time >= since, time < until */
    int64_t limit;
};

struct store_backend {
    const char *name; /* "SQLite", "PostgreSQL" */
    /* This backend's schema (schema/DIALECT/, lib/store/migrations.h). */
    const struct store_migration *migrations;
    const size_t *migration_count;

    /*
     * Before anything is opened (store_check_location, store_set_owner): whether the place the
     * database value names is safe, and giving its files to the daemon's user.  Both may be NULL.
     */
    bool (*check_location)(const char *database, const struct store_runas *who,
                           struct store_error *err);
    void (*set_owner)(const char *database, uid_t uid, gid_t gid);

    /*
     * Opens the database (creating it when missing, if create, with mode for a backend whose
     * database is files) and gets it ready for the migrations; NULL with err on failure.  prepare()
     * runs after the migrations (statements that need the tables).  close() also takes a database
     * whose prepare() failed or never ran.
     */
    struct store_db *(*open)(const char *database, int64_t busy_timeout_ms, bool create,
                             mode_t mode, struct store_error *err);
    enum store_status (*prepare)(struct store_db *db, struct store_error *err);
    void (*close)(struct store_db *db);
    /* How messages name the database: never a password. */
    const char *(*display_name)(struct store_db *db);

    /*
     * store_check(): identity_changed() tells whether what the database value names is still the
     * database open on c (a file removed or replaced under the milter); detach() then lets the
     * old one go (its connection closed: c is used again only by adopt); adopt() takes the
     * connection of fresh (opened, migrated and prepared again) in place of c's, gives c's old
     * one to fresh, which the caller closes, and writes a line for the log into note naming what
     * it opened.  All three NULL for a backend without such files.
     */
    bool (*identity_changed)(struct store_conn *c);
    void (*detach)(struct store_conn *c);
    void (*adopt)(struct store_conn *c, struct store_db *fresh, struct store_error *note);

    struct store_conn *(*acquire)(struct store_db *db);
    void (*release)(struct store_conn *c);
    /* The decision writer's connection (given back with release()), or NULL: acquire() then. */
    struct store_conn *(*acquire_writer)(struct store_db *db);

    enum store_status (*begin)(struct store_conn *c, enum store_txn kind, struct store_error *err);
    enum store_status (*commit)(struct store_conn *c, struct store_error *err);
    void (*rollback)(struct store_conn *c); /* no-op outside a transaction */

    /*
     * The migration loop's steps (lib/store/schema.c), all in one transaction: schema_lock()
     * begins it, takes the write lock that keeps two processes from migrating at once and reads
     * the schema version under it; schema_apply() applies one migration and records its version,
     * without committing; schema_commit() commits them all, which also lets the lock go;
     * schema_unlock() rolls back whatever was applied and lets the lock go.  On failure
     * schema_lock() and schema_commit() leave no lock held; after a failed schema_apply() the
     * loop calls schema_unlock().
     */
    enum store_status (*schema_lock)(struct store_conn *c, int64_t *version,
                                     struct store_error *err);
    enum store_status (*schema_apply)(struct store_conn *c, const struct store_migration *m,
                                      struct store_error *err);
    enum store_status (*schema_commit)(struct store_conn *c, struct store_error *err);
    void (*schema_unlock)(struct store_conn *c);

    /* The decision log.  decision_insert() writes rows[0..n) (inside the caller's transaction
     * when n > 1). */
    enum store_status (*decision_insert)(struct store_conn *c, const struct decision *const *rows,
                                         size_t n, struct store_error *err);
    /* May be NULL.  The writer's batch rows[0..n) in one transaction of the backend's own, in
     * fewer round trips than begin, decision_insert and commit (the same outcome). */
    enum store_status (*decision_batch)(struct store_conn *c, const struct decision *const *rows,
                                        size_t n, struct store_error *err);
    /* key as given, and address: key without one pair of surrounding <> */
    enum store_status (*decision_find)(struct store_conn *c, const char *key, const char *address,
                                       size_t limit,
                                       void (*fn)(const struct decision *d, void *arg), void *arg,
                                       struct store_error *err);
    /* store_decision_search(): m says what to compare with what (store_decision_match). */
    enum store_status (*decision_search)(struct store_conn *c, const struct store_decision_match *m,
                                         void (*fn)(const struct decision *d, void *arg), void *arg,
                                         struct store_error *err);
    /* store_decision_tally(): counts by (check, action) of the rows with time >= since. */
    enum store_status (*decision_tally)(struct store_conn *c, int64_t since,
                                        void (*fn)(const char *check, const char *action,
                                                   int64_t count, void *arg),
                                        void *arg, struct store_error *err);
    /* One bounded DELETE: at most *left rows; *left is decreased by the rows deleted. */
    enum store_status (*decision_expire)(struct store_conn *c, int64_t before, size_t *left,
                                         struct store_error *err);
    /*
     * Hooks of the background writer (lib/store/decision_log.c), each may be NULL: writer_start()
     * when it starts, writer_after_batches() on its thread after each round of batches (the
     * backend's housekeeping, such as SQLite's WAL checkpoints), writer_stop() when it stopped.
     */
    enum store_status (*writer_start)(struct store_db *db, struct store_error *err);
    void (*writer_after_batches)(struct store_db *db);
    void (*writer_stop)(struct store_db *db);
    /* store_maintenance_lock(); NULL: every store holds it (a database of one host). */
    enum store_status (*maintenance_lock)(struct store_db *db, bool *held, struct store_error *err);

    /*
     * DMARC report data (lib/store/dmarc_log.c): dmarc_upsert() adds each row's messages to the
     * row of its (policy_domain, day, key), inserting it when new (inside the caller's
     * transaction); key[i] is rows[i]'s digest.  dmarc_each() as store_dmarc_each();
     * dmarc_expire() deletes rows whose day < before, *left as for decision_expire.
     */
    enum store_status (*dmarc_upsert)(struct store_conn *c,
                                      const struct store_dmarc_row *const *rows,
                                      const char *const *keys, size_t n, struct store_error *err);
    enum store_status (*dmarc_each)(struct store_conn *c, const char *policy_domain, int64_t since,
                                    int64_t until,
                                    void (*fn)(const struct store_dmarc_row *r, void *arg),
                                    void *arg, struct store_error *err);
    enum store_status (*dmarc_expire)(struct store_conn *c, int64_t before, size_t *left,
                                      struct store_error *err);

    /*
     * Greylisting: the rows of one check, read and written inside the transaction of the driver
     * (lib/store/greylist_txn.c).  A read sets found and, when found, the values.
     */
    enum store_status (*greylist_read)(struct store_conn *c, const char *sender,
                                       const char *recipient, struct store_greylist_row *row,
                                       struct store_error *err);
    enum store_status (*greylist_write)(struct store_conn *c, const char *sender,
                                        const char *recipient, const struct store_greylist_row *row,
                                        struct store_error *err);
    enum store_status (*autoallow_read)(struct store_conn *c, struct store_autoallow_row *row,
                                        struct store_error *err);
    enum store_status (*autoallow_write)(struct store_conn *c,
                                         const struct store_autoallow_row *row,
                                         struct store_error *err);
    /*
     * May be NULL.  The driver's first transaction (a read that its first write upgrades: begin
     * STORE_TXN_READ, the reads, decide, the writes it marked, commit) done by the backend in
     * fewer round trips to its server; the same outcomes, STORE_BUSY when the upgrade lost to
     * another writer, and nothing left open on failure.
     */
    enum store_status (*greylist_txn)(struct store_conn *c, struct store_greylist_txn *t,
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
    /* store_held_list(): q's page (a limit of 0 already made INT64_MAX) and, when total is not
     * NULL, the number of rows the filters match. */
    enum store_status (*held_each)(struct store_conn *c, const struct store_held_query *q,
                                   void (*fn)(const struct store_held *h, void *arg), void *arg,
                                   int64_t *total, struct store_error *err);
    /* host NULL: any host */
    enum store_status (*held_decide)(struct store_conn *c, const char *queue_id, const char *host,
                                     const char *state, const char *by, const char *reason,
                                     int64_t now, struct store_error *err);
    enum store_status (*held_expire)(struct store_conn *c, int64_t before, size_t *left,
                                     struct store_error *err);
    enum store_status (*held_undo)(struct store_conn *c, const char *queue_id, const char *host,
                                   const char *state, const char *by, int64_t at,
                                   struct store_error *err);

    /* Review requests and explanations (store_review_*, store_explanation_*). */
    enum store_status (*review_add)(struct store_conn *c, const struct store_review *r,
                                    int64_t open_max, struct store_error *err);
    enum store_status (*review_each)(struct store_conn *c, const char *state,
                                     void (*fn)(const struct store_review *r, void *arg), void *arg,
                                     struct store_error *err);
    enum store_status (*review_close)(struct store_conn *c, int64_t id, const char *by,
                                      const char *reason, int64_t now, struct store_error *err);
    enum store_status (*review_expire)(struct store_conn *c, int64_t before, size_t *left,
                                       struct store_error *err);
    /* text NULL: delete */
    enum store_status (*explanation_set)(struct store_conn *c, const char *check, const char *text,
                                         const char *by, int64_t now, struct store_error *err);
    enum store_status (*explanation_each)(struct store_conn *c,
                                          void (*fn)(const char *check, const char *text,
                                                     const char *by, int64_t at, void *arg),
                                          void *arg, struct store_error *err);
    /* Changes (store_change_*); change_expire as decision_expire. */
    enum store_status (*change_add)(struct store_conn *c, const struct store_change *ch,
                                    struct store_error *err);
    enum store_status (*change_each)(struct store_conn *c, const char *key, int64_t since,
                                     int64_t until, int64_t limit,
                                     void (*fn)(const struct store_change *ch, void *arg),
                                     void *arg, struct store_error *err);
    enum store_status (*change_expire)(struct store_conn *c, int64_t before, size_t *left,
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

    /*
     * store_copy() (lib/store/copy.c); table indexes store_copy_tables[] (lib/store/copy.h), whose
     * constant statements the backend runs.  copy_each() hands each row of the table to fn as its
     * columns' text (NULL for SQL NULL), inside the caller's read transaction, and stops at fn's
     * first failure, returning it; copy_insert() writes rows[0..n) inside the caller's write
     * transaction; copy_finish() (may be NULL) runs after a table's rows.  All NULL for a backend
     * that cannot be copied.
     */
    enum store_status (*copy_count)(struct store_conn *c, size_t table, int64_t *rows,
                                    struct store_error *err);
    enum store_status (*copy_each)(struct store_conn *c, size_t table,
                                   enum store_status (*fn)(const char *const *values, void *arg,
                                                           struct store_error *err),
                                   void *arg, struct store_error *err);
    enum store_status (*copy_insert)(struct store_conn *c, size_t table,
                                     const char *const *const *rows, size_t n,
                                     struct store_error *err);
    enum store_status (*copy_clear)(struct store_conn *c, size_t table, struct store_error *err);
    enum store_status (*copy_finish)(struct store_conn *c, size_t table, struct store_error *err);
};

extern const struct store_backend store_backend_sqlite;
extern const struct store_backend store_backend_postgresql;
/* The PostgreSQL value without its password (store_database_shown). */
void store_pg_shown(const char *database, char *out, size_t outlen);

/* Writes a message into err (printf-style; nothing when err is NULL); returns status, so a
 * failure is one line. */
enum store_status store_error_set(struct store_error *err, enum store_status status,
                                  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
