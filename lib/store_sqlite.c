/*
 * store_sqlite: the SQLite implementation of store.h (DESIGN.md §7).
 *
 * One connection per struct store, opened without SQLite's own mutex: our mutex serializes every
 * call, which also keeps a prepared statement and the error text it leaves consistent between the
 * step that failed and the copy we make of its message.  WAL mode lets `ingressctl` read while the
 * milter writes; synchronous=NORMAL is durable across a process crash, and a power loss costs at
 * most the last decisions, never the database.
 *
 * Statements are prepared once, at open, from one table (a schema that does not match them is an
 * error at start-up, not on the first message), and reset after each use.  SQL is only ever
 * constant text with bound parameters (STYLE rule 22).
 */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
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

static const char *const stmt_sql[STMT_COUNT] = {
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
    /* Transactions of the store's own multi-statement writes (greylist, expiry).  DEFERRED: the
     * greylist's first try, a read upgraded by its first write (store_greylist_update); IMMEDIATE
     * takes the write lock before the read, waiting up to the busy timeout. */
    [STMT_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [STMT_BEGIN_DEFERRED] = "BEGIN",
    [STMT_COMMIT] = "COMMIT",
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
    /* lists: ?1 NULL matches every kind (or recipient); ORDER BY follows the UNIQUE indexes. */
    [STMT_LISTS_VERSION] = "SELECT version FROM lists_version WHERE id = 1",
    [STMT_LIST_EACH] = "SELECT kind, value, action, reason, added_by, added_at, expires "
                       "FROM list_entries WHERE (?1 IS NULL OR kind = ?1) "
                       "AND (?2 IS NULL OR expires IS NULL OR expires > ?2) ORDER BY kind, value",
    [STMT_LIST_GET] = "SELECT action FROM list_entries WHERE kind = ?1 AND value = ?2",
    [STMT_LIST_ADD] = "INSERT INTO list_entries (kind, value, action, reason, added_by, added_at, "
                      "expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                      "ON CONFLICT (kind, value) DO UPDATE SET action = excluded.action, "
                      "reason = excluded.reason, added_by = excluded.added_by, "
                      "added_at = excluded.added_at, expires = excluded.expires",
    [STMT_LIST_DEL] = "DELETE FROM list_entries WHERE kind = ?1 AND value = ?2",
    [STMT_RULE_GET] = "SELECT action FROM rcpt_rules WHERE recipient = ?1 AND sender = ?2",
    [STMT_RULE_ADD] = "INSERT INTO rcpt_rules (recipient, sender, action, added_by, added_at) "
                      "VALUES (?1, ?2, ?3, ?4, ?5) "
                      "ON CONFLICT (recipient, sender) DO UPDATE SET action = excluded.action, "
                      "added_by = excluded.added_by, added_at = excluded.added_at",
    [STMT_RULE_DEL] = "DELETE FROM rcpt_rules WHERE recipient = ?1 AND sender = ?2",
    [STMT_RULE_EACH] = "SELECT recipient, sender, action, added_by, added_at FROM rcpt_rules "
                       "WHERE ?1 IS NULL OR recipient = ?1 ORDER BY recipient, sender",
    /* accounts: ?1 NULL matches every account. */
    [STMT_ACCOUNT_ADD] = "INSERT INTO accounts (name, created) VALUES (?1, ?2) "
                         "ON CONFLICT (name) DO NOTHING",
    [STMT_ACCOUNT_EACH] = "SELECT a.name, a.created, a.suspended, a.suspend_reason, "
                          "(SELECT count(*) FROM aliases l WHERE l.account = a.name) "
                          "FROM accounts a WHERE ?1 IS NULL OR a.name = ?1 ORDER BY a.name",
    [STMT_ALIAS_ADD] = "INSERT INTO aliases (account, address, added_by, added_at) "
                       "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (account, address) DO NOTHING",
    [STMT_ALIAS_DEL] = "DELETE FROM aliases WHERE account = ?1 AND address = ?2",
    [STMT_ALIAS_EACH] = "SELECT account, address, added_by, added_at FROM aliases "
                        "WHERE ?1 IS NULL OR account = ?1 ORDER BY account, address",
    [STMT_ACCOUNT_SUSPEND] = "UPDATE accounts SET suspended = ?2, suspend_reason = ?3 "
                             "WHERE name = ?1 AND suspended IS NULL",
    [STMT_ACCOUNT_SUSPENDED] = "SELECT suspended, suspend_reason FROM accounts "
                               "WHERE name = ?1 AND suspended IS NOT NULL",
    [STMT_ACCOUNT_RESUME] = "UPDATE accounts SET suspended = NULL, suspend_reason = '' "
                            "WHERE name = ?1 AND suspended IS NOT NULL",
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
    /* throttle: lookups by the primary key (or its prefix); ?2 = 0 reads every width. */
    [STMT_THROTTLE_GET] = "SELECT throttled, reason, reset_at, msgs_minute, rcpts_minute, "
                          "msgs_hour, rcpts_hour, msgs_day, rcpts_day "
                          "FROM account_throttle WHERE account = ?1",
    [STMT_THROTTLE_BUCKET_EACH] = "SELECT width, start, msgs, rcpts, minutes FROM throttle_buckets "
                                  "WHERE account = ?1 AND (?2 = 0 OR width = ?2) "
                                  "AND start >= ?3 AND start < ?4 ORDER BY width, start",
    [STMT_THROTTLE_BUCKET_ADD] =
        "INSERT INTO throttle_buckets (account, width, start, msgs, rcpts, minutes) "
        "VALUES (?1, ?2, ?3, ?4, ?5, min(?6, 60)) ON CONFLICT (account, width, start) DO UPDATE "
        "SET msgs = msgs + excluded.msgs, rcpts = rcpts + excluded.rcpts, "
        "minutes = min(minutes + excluded.minutes, 60)",
    /* The first reason stays: a throttled account's later messages do not rewrite it. */
    [STMT_THROTTLE_MARK] = "INSERT INTO account_throttle (account, throttled, reason) "
                           "VALUES (?1, ?2, ?3) ON CONFLICT (account) DO UPDATE "
                           "SET throttled = excluded.throttled, reason = excluded.reason "
                           "WHERE account_throttle.throttled IS NULL",
    [STMT_THROTTLE_CLEAR] = "UPDATE account_throttle SET throttled = NULL, reason = '', "
                            "reset_at = ?2 WHERE account = ?1 AND throttled IS NOT NULL",
    /* Per limit ?2..?7: -2 keeps the stored value, -1 (any negative) stores NULL. */
    [STMT_THROTTLE_SET_LIMITS] =
        "INSERT INTO account_throttle (account, msgs_minute, rcpts_minute, msgs_hour, rcpts_hour, "
        "msgs_day, rcpts_day) VALUES (?1, iif(?2 < 0, NULL, ?2), iif(?3 < 0, NULL, ?3), "
        "iif(?4 < 0, NULL, ?4), iif(?5 < 0, NULL, ?5), iif(?6 < 0, NULL, ?6), "
        "iif(?7 < 0, NULL, ?7)) ON CONFLICT (account) DO UPDATE SET "
        "msgs_minute = iif(?2 = -2, msgs_minute, excluded.msgs_minute), "
        "rcpts_minute = iif(?3 = -2, rcpts_minute, excluded.rcpts_minute), "
        "msgs_hour = iif(?4 = -2, msgs_hour, excluded.msgs_hour), "
        "rcpts_hour = iif(?5 = -2, rcpts_hour, excluded.rcpts_hour), "
        "msgs_day = iif(?6 = -2, msgs_day, excluded.msgs_day), "
        "rcpts_day = iif(?7 = -2, rcpts_day, excluded.rcpts_day)",
    [STMT_THROTTLE_EACH] = "SELECT throttled, reason, reset_at, msgs_minute, rcpts_minute, "
                           "msgs_hour, rcpts_hour, msgs_day, rcpts_day, account "
                           "FROM account_throttle WHERE throttled IS NOT NULL "
                           "ORDER BY throttled, account",
    /* Expiry walks the (width, start) index, oldest first, in bounded batches. */
    [STMT_THROTTLE_EXPIRE_FINE] =
        "DELETE FROM throttle_buckets WHERE (account, width, start) IN "
        "(SELECT account, width, start FROM throttle_buckets "
        "WHERE width IN (5, 60) AND start < ?1 ORDER BY width, start LIMIT ?2)",
    [STMT_THROTTLE_EXPIRE_HOURLY] = "DELETE FROM throttle_buckets WHERE (account, width, start) IN "
                                    "(SELECT account, width, start FROM throttle_buckets "
                                    "WHERE width = 3600 AND start < ?1 ORDER BY start LIMIT ?2)",
};

#define DECISION_TEXTS 12 /* the text fields of struct decision, in its order */

/* A decision copied for the queue: the strings live in the same allocation. */
struct queued_decision {
    int64_t time;
    const char *text[DECISION_TEXTS];
};

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
    char error[STORE_ERROR_MAX]; /* why a caller's last call failed; guarded by lock */
    struct decision_writer writer;
};

int store_schema_version(void)
{
    if (store_migration_count == 0)
        return 0;
    return store_migrations[store_migration_count - 1].version;
}

/* Maps SQLite's code: a lock held elsewhere is "could not tell". */
static enum store_status status_of(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return STORE_BUSY;
    default:
        return STORE_ERROR;
    }
}

/* Records why a caller's call failed (store_last_error) and maps SQLite's code. */
static enum store_status store_fail(struct store *s, int rc)
{
    str_copy(s->error, sizeof s->error, sqlite3_errmsg(s->db));
    return status_of(rc);
}

static void stmt_done(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    /* Text is bound SQLITE_STATIC: drop the borrowed pointers before the caller frees them. */
    sqlite3_clear_bindings(stmt);
}

static int64_t size_to_int64(size_t n)
{
    return n > (size_t)INT64_MAX ? INT64_MAX : (int64_t)n;
}

/* ------------------------------------------------------------------------------------------ */
/* Opening and migrations                                                                     */
/* ------------------------------------------------------------------------------------------ */

/*
 * SQLite says only "unable to open database file" when it cannot create or open the file; the
 * directory is what the admin must look at, so name it and say what is wrong with it.
 */
static void explain_cantopen(const char *path, const char *sqlite_msg, char *err, size_t errlen)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    struct stat st;
    char reason[128];

    if (slash == NULL)
        str_copy(dir, strlen(dir) + 1, ".");
    else if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';

    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        str_printf(err, errlen, "%s: cannot open the database: it is a directory", path);
    else if (stat(dir, &st) != 0)
        str_printf(err, errlen, "%s: cannot open the database: directory %s: %s", path, dir,
                   strerror_r(errno, reason, sizeof reason));
    else if (!S_ISDIR(st.st_mode))
        str_printf(err, errlen, "%s: cannot open the database: %s is not a directory", path, dir);
    else
        str_printf(err, errlen,
                   "%s: cannot open the database: %s (check the permissions of the file and of "
                   "directory %s)",
                   path, sqlite_msg, dir);
    free(dir);
}

/*
 * Reports a failed step of the open as "PATH: what: SQLite's message", with a hint when the cause
 * is the file system: WAL needs to create PATH-wal and PATH-shm beside the database, so a
 * writable file in a read-only directory fails too.
 */
static void db_error(struct store *s, int rc, const char *what, char *err, size_t errlen)
{
    const char *hint = "";

    switch (rc & 0xff) {
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
        hint = " (check the permissions of the file and of its directory)";
        break;
    default:
        break;
    }
    str_printf(err, errlen, "%s: %s: %s%s", s->path, what, sqlite3_errmsg(s->db), hint);
}

/* Runs one statement that returns at most one row, giving its first column as an integer. */
static int exec_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *stmt;
    int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);

    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        if (out != NULL)
            *out = sqlite3_column_int64(stmt, 0);
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    return rc;
}

/* journal_mode answers with the mode it ended in: a database that cannot switch to WAL says so. */
static bool set_wal(struct store *s, char *err, size_t errlen)
{
    sqlite3_stmt *stmt;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &stmt, NULL);
    bool ok = false;

    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(stmt, 0);
        ok = mode != NULL && str_casecmp(mode, "wal") == 0;
        if (!ok)
            str_printf(err, errlen, "%s: cannot switch the database to WAL mode (it stays in %s)",
                       s->path, mode ? mode : "an unknown mode");
    } else {
        db_error(s, rc, "cannot use the database", err, errlen);
    }
    sqlite3_finalize(stmt);
    return ok;
}

static bool set_pragmas(struct store *s, char *err, size_t errlen)
{
    /* PRAGMA takes no bound parameters; these are constants. */
    /* journal_size_limit: when the WAL starts again, the file is cut back to 160 MiB, above the
     * 128 MiB at which the decision writer makes it start again (decision_checkpoint): growing a
     * file that was cut back allocates blocks, and on ext4 such writes wait for the sync of a
     * checkpoint (greylist_bench: 9,400 -> 15,300 operations/s).  mmap_size: pages are read from
     * a mapping of up to 256 MiB instead of one pread() each. */
    static const char *const pragmas[] = {"PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON",
                                          "PRAGMA journal_size_limit=167772160",
                                          "PRAGMA mmap_size=268435456"};

    for (size_t i = 0; i < sizeof pragmas / sizeof pragmas[0]; i++) {
        int rc = exec_int(s->db, pragmas[i], NULL);
        if (rc != SQLITE_OK) {
            db_error(s, rc, pragmas[i], err, errlen);
            return false;
        }
    }
    return true;
}

static void rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/*
 * Takes the write lock and reads the schema version under it, at every open even when nothing is
 * missing: two processes starting together must not both apply a migration, and a lock that
 * cannot be had (another writer that never lets go) is better found now than on the first
 * message.  Returns with the transaction open on success.
 */
static bool begin_and_read_version(struct store *s, int64_t *version, char *err, size_t errlen)
{
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

    *version = 0; /* gcc -O3 cannot see that every use follows a successful read */
    if (rc == SQLITE_OK)
        rc = exec_int(s->db, "PRAGMA user_version", version);
    if (rc != SQLITE_OK) {
        db_error(s, rc, "cannot write to the database", err, errlen);
        rollback(s->db);
        return false;
    }
    if (*version > store_schema_version()) {
        str_printf(err, errlen,
                   "%s: database schema version %" PRId64
                   " is newer than this milter-ingress (knows %d); refusing to open it",
                   s->path, *version, store_schema_version());
        rollback(s->db);
        return false;
    }
    return true;
}

/* Applies migration m inside the transaction begin_and_read_version() opened, and commits. */
static bool apply_migration(struct store *s, const struct store_migration *m, char *err,
                            size_t errlen)
{
    char *msg = NULL;
    int rc = sqlite3_exec(s->db, m->sql, NULL, NULL, &msg);

    if (rc == SQLITE_OK && sqlite3_get_autocommit(s->db)) {
        /* The file ended our transaction: its first half is committed without a version. */
        str_printf(err, errlen,
                   "%s: migration %s ended the transaction itself (migrations must not contain "
                   "BEGIN or COMMIT)",
                   s->path, m->name);
        return false;
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, m->set_version, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        str_printf(err, errlen, "%s: migration %s failed: %s", s->path, m->name,
                   msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        rollback(s->db);
        return false;
    }
    return true;
}

/*
 * Each missing migration in its own transaction, re-reading the version each time: another
 * process may have applied some while we waited for the lock.
 */
static bool migrate(struct store *s, char *err, size_t errlen)
{
    for (size_t i = 0;; i++) {
        int64_t version;

        if (!begin_and_read_version(s, &version, err, errlen))
            return false;
        while (i < store_migration_count && store_migrations[i].version <= version)
            i++;
        if (i == store_migration_count) {
            rollback(s->db);
            return true;
        }
        if (!apply_migration(s, &store_migrations[i], err, errlen))
            return false;
    }
}

static bool prepare_all(struct store *s, char *err, size_t errlen)
{
    for (int i = 0; i < STMT_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                               NULL) != SQLITE_OK) {
            str_printf(err, errlen, "%s: the database does not match this milter-ingress: %s",
                       s->path, sqlite3_errmsg(s->db));
            return false;
        }
    }
    return true;
}

static int busy_timeout(int64_t ms)
{
    if (ms < 0)
        return 0;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

struct store *store_open(const char *path, int64_t busy_timeout_ms, char *err, size_t errlen)
{
    struct store *s;
    int rc;

    str_printf(err, errlen, "%s", "");
    if (path == NULL || *path == '\0') {
        str_printf(err, errlen, "no database path given");
        return NULL;
    }
    s = xcalloc(1, sizeof *s);
    s->path = xstrdup(path);
    s->busy_timeout_ms = busy_timeout_ms;
    pthread_mutex_init(&s->lock, NULL);

    rc = sqlite3_open_v2(path, &s->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if ((rc & 0xff) == SQLITE_CANTOPEN)
            explain_cantopen(path, sqlite3_errmsg(s->db), err, errlen);
        else
            str_printf(err, errlen, "%s: cannot open the database: %s", path,
                       s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        store_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, busy_timeout(busy_timeout_ms));

    /* SQLite quietly falls back to read-only when it cannot open the file for writing (file
     * mode, read-only file system), and even BEGIN IMMEDIATE succeeds then in WAL mode: ask. */
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        str_printf(err, errlen,
                   "%s: the database is read-only (check the permissions of the file and of its "
                   "directory)",
                   path);
        store_close(s);
        return NULL;
    }
    if (!set_wal(s, err, errlen) || !set_pragmas(s, err, errlen) || !migrate(s, err, errlen) ||
        !prepare_all(s, err, errlen)) {
        store_close(s);
        return NULL;
    }
    return s;
}

static void decision_writer_stop(struct store *s);

void store_close(struct store *s)
{
    if (s == NULL)
        return;
    decision_writer_stop(s);
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    free(s->path);
    free(s);
}

const char *store_last_error(struct store *s)
{
    return s->error;
}

void store_last_error_r(struct store *s, char *buf, size_t buflen)
{
    pthread_mutex_lock(&s->lock);
    str_copy(buf, buflen, s->error);
    pthread_mutex_unlock(&s->lock);
}

/*
 * A database file removed (or replaced by a rename) under a running milter is a silent fault:
 * SQLite keeps reading and writing the unlinked inode, so every greylist confirmation and decision
 * would vanish at the next restart, and rows ingressctl adds to the new file would never be seen.
 * SQLITE_FCNTL_HAS_MOVED compares the path's inode with the open one (one stat()).  The new
 * connection is made aside by store_open() (schema and statements), then swapped in under the
 * lock, so callers keep their struct store.
 */
enum store_status store_check(struct store *s, bool *reopened, char *err, size_t errlen)
{
    int moved = 0;
    *reopened = false;
    str_printf(err, errlen, "%s", "");
    pthread_mutex_lock(&s->lock);
    if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK ||
        !moved) {
        pthread_mutex_unlock(&s->lock);
        return STORE_OK;
    }
    struct store *fresh = store_open(s->path, s->busy_timeout_ms, err, errlen);
    if (fresh == NULL) {
        str_copy(s->error, sizeof s->error, err);
        pthread_mutex_unlock(&s->lock);
        return STORE_ERROR;
    }
    sqlite3 *old_db = s->db;
    s->db = fresh->db;
    fresh->db = old_db;
    for (int i = 0; i < STMT_COUNT; i++) {
        sqlite3_stmt *old_stmt = s->stmt[i];
        s->stmt[i] = fresh->stmt[i];
        fresh->stmt[i] = old_stmt;
    }
    pthread_mutex_unlock(&s->lock);
    store_close(fresh); /* now the old connection */
    *reopened = true;
    return STORE_OK;
}

/* ---- greylist ---- */
/* ------------------------------------------------------------------------------------------ */
/* Greylisting (store.h "greylist"): rows read, decided by the caller, written, one transaction */
/* ------------------------------------------------------------------------------------------ */

/* Runs one prepared statement that returns no row (BEGIN, COMMIT): SQLITE_OK or SQLite's code. */
static int step_stmt(struct store *s, enum stmt_id id)
{
    sqlite3_stmt *stmt = s->stmt[id];
    int rc = sqlite3_step(stmt);

    stmt_done(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static enum store_status exec_stmt(struct store *s, enum stmt_id id)
{
    int rc = step_stmt(s, id);

    return rc == SQLITE_OK ? STORE_OK : store_fail(s, rc);
}

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

/* One bounded DELETE of expiry: at most *left rows older than before; *left is decreased. */
static enum store_status bounded_delete(struct store *s, enum stmt_id id, int64_t before,
                                        size_t *left)
{
    sqlite3_stmt *stmt = s->stmt[id];
    enum store_status status = STORE_OK;
    int rc;

    if (*left == 0)
        return STORE_OK;
    rc = sqlite3_bind_int64(stmt, 1, before);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 2, size_to_int64(*left));
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) {
        size_t n = (size_t)sqlite3_changes(s->db);
        *left -= n < *left ? n : *left;
    } else {
        status = store_fail(s, rc);
    }
    stmt_done(stmt);
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
/* ---- end greylist ---- */

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

/*
 * Writes rows[0..n) in one transaction; nothing is written on failure, and why gets SQLite's
 * message.  The text store_last_error() lends belongs to the callers: the writer thread must
 * never rewrite it, or a caller reading it without the lock reads it while it changes.
 */
static enum store_status decision_write_rows(struct store *s, struct queued_decision **rows,
                                             size_t n, char *why, size_t whylen)
{
    pthread_mutex_lock(&s->lock);
    int rc = step_stmt(s, STMT_BEGIN_IMMEDIATE);
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++)
        rc = decision_insert(s, rows[i]->time, rows[i]->text);
    if (rc == SQLITE_OK)
        rc = step_stmt(s, STMT_COMMIT);
    if (rc != SQLITE_OK) {
        str_copy(why, whylen, sqlite3_errmsg(s->db));
        rollback(s->db);
    }
    pthread_mutex_unlock(&s->lock);
    return rc == SQLITE_OK ? STORE_OK : status_of(rc);
}

/*
 * One batch from the head of the queue; *written gets how many rows were committed, why the
 * reason of a failure.
 */
static enum store_status decision_write_batch(struct store *s, size_t *written, char *why,
                                              size_t whylen)
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
        status = decision_write_rows(s, w->scratch, n, why, whylen);
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
    char why[STORE_ERROR_MAX] = "";

    while (s->writer.running && status == STORE_OK && written > 0)
        status = decision_write_batch(s, &written, why, sizeof why);
    if (status != STORE_OK) {
        pthread_mutex_lock(&s->lock);
        str_copy(s->error, sizeof s->error, why);
        pthread_mutex_unlock(&s->lock);
    }
    return status;
}

/* Logs when the writer starts failing and when it recovers, not every retry. */
static void decision_writer_note(struct store *s, enum store_status status, const char *why)
{
    struct decision_writer *w = &s->writer;

    if ((status == STORE_OK) == !w->failing)
        return;
    w->failing = status != STORE_OK;
    if (w->failing) {
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
        char why[STORE_ERROR_MAX] = "";
        do
            status = decision_write_batch(s, &written, why, sizeof why);
        while (status == STORE_OK && written == w->batch);
        decision_writer_note(s, status, why);
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
static void decision_writer_stop(struct store *s)
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

static const char *column_text(sqlite3_stmt *stmt, int col)
{
    return (const char *)sqlite3_column_text(stmt, col);
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

/* One bounded_delete() under the store's lock; *deleted gets how many rows went. */
static enum store_status expire_step(struct store *s, enum stmt_id id, int64_t before, size_t batch,
                                     size_t *deleted)
{
    size_t left = batch;

    pthread_mutex_lock(&s->lock);
    enum store_status status = bounded_delete(s, id, before, &left);
    pthread_mutex_unlock(&s->lock);
    *deleted = batch - left;
    return status;
}

enum store_status store_decision_expire(struct store *s, int64_t before, size_t batch,
                                        size_t *deleted)
{
    return expire_step(s, STMT_DECISION_EXPIRE, before, batch, deleted);
}

/* ---- lists ---- */
/* ------------------------------------------------------------------------------------------ */
/* Block/allow lists and recipient rules (schema/003_lists.sql)                               */
/* ------------------------------------------------------------------------------------------ */

enum store_status store_lists_version(struct store *s, int64_t *version)
{
    sqlite3_stmt *stmt = s->stmt[STMT_LISTS_VERSION];
    enum store_status status = STORE_OK;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int64(stmt, 0);
    else if (rc == SQLITE_DONE)
        status = STORE_NOTFOUND;
    else
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

static int bind_text_or_null(sqlite3_stmt *stmt, int col, const char *text)
{
    if (text == NULL)
        return sqlite3_bind_null(stmt, col);
    return sqlite3_bind_text(stmt, col, text, -1, SQLITE_STATIC);
}

enum store_status store_list_each(struct store *s, const char *kind, int64_t live_at,
                                  void (*fn)(const struct list_entry *e, void *arg), void *arg)
{
    sqlite3_stmt *stmt = s->stmt[STMT_LIST_EACH];
    enum store_status status = STORE_NOTFOUND;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = bind_text_or_null(stmt, 1, kind);
    if (rc == SQLITE_OK)
        rc = live_at > 0 ? sqlite3_bind_int64(stmt, 2, live_at) : sqlite3_bind_null(stmt, 2);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct list_entry e = {
            .kind = column_text(stmt, 0),
            .value = column_text(stmt, 1),
            .action = column_text(stmt, 2),
            .reason = column_text(stmt, 3),
            .added_by = column_text(stmt, 4),
            .added_at = sqlite3_column_int64(stmt, 5),
            .expires = sqlite3_column_int64(stmt, 6), /* NULL reads as 0: never */
        };
        fn(&e, arg);
        status = STORE_OK;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

/* Runs a two-key SELECT of one text column (STMT_LIST_GET, STMT_RULE_GET) into out; "" when no
 * row.  Called with the lock held. */
static int get_action_locked(sqlite3_stmt *stmt, const char *key1, const char *key2, char *out,
                             size_t outlen)
{
    int rc = sqlite3_bind_text(stmt, 1, key1, -1, SQLITE_STATIC);

    out[0] = '\0';
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 2, key2, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *text = column_text(stmt, 0);
        str_copy(out, outlen, text ? text : "");
        rc = SQLITE_DONE;
    }
    stmt_done(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Binds and runs STMT_LIST_ADD for e; called with the lock held. */
static int list_add_locked(struct store *s, const struct list_entry *e)
{
    sqlite3_stmt *stmt = s->stmt[STMT_LIST_ADD];
    const char *text[] = {e->kind, e->value, e->action, e->reason ? e->reason : "",
                          e->added_by ? e->added_by : ""};
    int rc = SQLITE_OK;

    for (int i = 0; rc == SQLITE_OK && i < (int)(sizeof text / sizeof text[0]); i++)
        rc = sqlite3_bind_text(stmt, i + 1, text[i], -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 6, e->added_at);
    if (rc == SQLITE_OK)
        rc = e->expires > 0 ? sqlite3_bind_int64(stmt, 7, e->expires) : sqlite3_bind_null(stmt, 7);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    stmt_done(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static bool list_entry_complete(struct store *s, const struct list_entry *e)
{
    if (e->kind != NULL && e->value != NULL && e->action != NULL)
        return true;
    str_copy(s->error, sizeof s->error, "a list entry needs a kind, a value and an action");
    return false;
}

enum store_status store_list_add(struct store *s, const struct list_entry *e, char *previous,
                                 size_t previous_len)
{
    enum store_status status = STORE_OK;
    int rc;

    pthread_mutex_lock(&s->lock);
    if (!list_entry_complete(s, e)) {
        pthread_mutex_unlock(&s->lock);
        return STORE_ERROR;
    }
    rc = get_action_locked(s->stmt[STMT_LIST_GET], e->kind, e->value, previous, previous_len);
    if (rc == SQLITE_OK)
        rc = list_add_locked(s, e);
    if (rc != SQLITE_OK)
        status = store_fail(s, rc);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_list_import(struct store *s, const struct list_entry *entries, size_t n)
{
    enum store_status status = STORE_OK;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
        if (!list_entry_complete(s, &entries[i])) {
            rollback(s->db);
            pthread_mutex_unlock(&s->lock);
            return STORE_ERROR;
        }
        rc = list_add_locked(s, &entries[i]);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        status = store_fail(s, rc);
        rollback(s->db);
    }
    pthread_mutex_unlock(&s->lock);
    return status;
}

/* Runs a one-row UPDATE or DELETE whose parameters are bound by bind(stmt, arg); STORE_NOTFOUND
 * when it changed nothing. */
static enum store_status change_one(struct store *s, enum stmt_id id,
                                    int (*bind)(sqlite3_stmt *stmt, const void *arg),
                                    const void *arg)
{
    sqlite3_stmt *stmt = s->stmt[id];
    enum store_status status = STORE_OK;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = bind(stmt, arg);
    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_DONE) {
        status = sqlite3_changes(s->db) > 0 ? STORE_OK : STORE_NOTFOUND;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

struct two_keys {
    const char *first, *second;
};

static int bind_two_keys(sqlite3_stmt *stmt, const void *arg)
{
    const struct two_keys *k = arg;
    int rc = sqlite3_bind_text(stmt, 1, k->first, -1, SQLITE_STATIC);
    return rc == SQLITE_OK ? sqlite3_bind_text(stmt, 2, k->second, -1, SQLITE_STATIC) : rc;
}

/* Runs a two-key DELETE; STORE_NOTFOUND when it deleted nothing. */
static enum store_status delete_two_keys(struct store *s, enum stmt_id id, const char *key1,
                                         const char *key2)
{
    struct two_keys k = {key1, key2};
    return change_one(s, id, bind_two_keys, &k);
}

enum store_status store_list_del(struct store *s, const char *kind, const char *value)
{
    return delete_two_keys(s, STMT_LIST_DEL, kind, value);
}

enum store_status store_rule_add(struct store *s, const struct rcpt_rule *r, char *previous,
                                 size_t previous_len)
{
    sqlite3_stmt *stmt = s->stmt[STMT_RULE_ADD];
    const char *text[] = {r->recipient, r->sender, r->action, r->added_by ? r->added_by : ""};
    enum store_status status = STORE_OK;
    int rc;

    pthread_mutex_lock(&s->lock);
    if (r->recipient == NULL || r->sender == NULL || r->action == NULL) {
        str_copy(s->error, sizeof s->error, "a rule needs a recipient, a sender and an action");
        pthread_mutex_unlock(&s->lock);
        return STORE_ERROR;
    }
    rc = get_action_locked(s->stmt[STMT_RULE_GET], r->recipient, r->sender, previous, previous_len);
    for (int i = 0; rc == SQLITE_OK && i < (int)(sizeof text / sizeof text[0]); i++)
        rc = sqlite3_bind_text(stmt, i + 1, text[i], -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 5, r->added_at);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_rule_del(struct store *s, const char *recipient, const char *sender)
{
    return delete_two_keys(s, STMT_RULE_DEL, recipient, sender);
}

enum store_status store_rule_each(struct store *s, const char *recipient,
                                  void (*fn)(const struct rcpt_rule *r, void *arg), void *arg)
{
    sqlite3_stmt *stmt = s->stmt[STMT_RULE_EACH];
    enum store_status status = STORE_NOTFOUND;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = bind_text_or_null(stmt, 1, recipient);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct rcpt_rule r = {
            .recipient = column_text(stmt, 0),
            .sender = column_text(stmt, 1),
            .action = column_text(stmt, 2),
            .added_by = column_text(stmt, 3),
            .added_at = sqlite3_column_int64(stmt, 4),
        };
        fn(&r, arg);
        status = STORE_OK;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

/* ---- accounts ---- */
/* ------------------------------------------------------------------------------------------ */
/* Accounts and aliases (schema/004_accounts.sql)                                             */
/* ------------------------------------------------------------------------------------------ */

/* Runs STMT_ACCOUNT_ADD; called with the lock held.  *created: a row was inserted. */
static int account_add_locked(struct store *s, const char *name, int64_t now, bool *created)
{
    sqlite3_stmt *stmt = s->stmt[STMT_ACCOUNT_ADD];
    int rc = sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);

    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 2, now);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE && created != NULL)
        *created = sqlite3_changes(s->db) > 0;
    stmt_done(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

enum store_status store_account_add(struct store *s, const char *name, int64_t now, bool *created)
{
    enum store_status status = STORE_OK;
    int rc;

    if (created != NULL)
        *created = false;
    pthread_mutex_lock(&s->lock);
    if (name == NULL) {
        str_copy(s->error, sizeof s->error, "an account needs a name");
        pthread_mutex_unlock(&s->lock);
        return STORE_ERROR;
    }
    rc = account_add_locked(s, name, now, created);
    if (rc != SQLITE_OK)
        status = store_fail(s, rc);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_account_each(struct store *s, const char *name,
                                     void (*fn)(const struct store_account *a, void *arg),
                                     void *arg)
{
    sqlite3_stmt *stmt = s->stmt[STMT_ACCOUNT_EACH];
    enum store_status status = STORE_NOTFOUND;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = bind_text_or_null(stmt, 1, name);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *reason = column_text(stmt, 3);
        struct store_account a = {
            .name = column_text(stmt, 0),
            .created = sqlite3_column_int64(stmt, 1),
            .suspended = sqlite3_column_int64(stmt, 2), /* NULL reads as 0: not suspended */
            .suspend_reason = reason ? reason : "",
            .alias_count = sqlite3_column_int64(stmt, 4),
        };
        fn(&a, arg);
        status = STORE_OK;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_alias_add(struct store *s, const struct store_alias *alias, bool *created)
{
    sqlite3_stmt *stmt = s->stmt[STMT_ALIAS_ADD];
    enum store_status status = STORE_OK;
    int rc;

    if (created != NULL)
        *created = false;
    pthread_mutex_lock(&s->lock);
    if (alias->account == NULL || alias->address == NULL) {
        str_copy(s->error, sizeof s->error, "an alias needs an account and an address");
        pthread_mutex_unlock(&s->lock);
        return STORE_ERROR;
    }
    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = account_add_locked(s, alias->account, alias->added_at, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 1, alias->account, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 2, alias->address, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 3, alias->added_by ? alias->added_by : "", -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 4, alias->added_at);
    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_DONE) {
        if (created != NULL)
            *created = sqlite3_changes(s->db) > 0;
        rc = SQLITE_OK;
    }
    stmt_done(stmt);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        status = store_fail(s, rc);
        rollback(s->db);
    }
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_alias_del(struct store *s, const char *account, const char *address)
{
    return delete_two_keys(s, STMT_ALIAS_DEL, account, address);
}

enum store_status store_alias_each(struct store *s, const char *account,
                                   void (*fn)(const struct store_alias *a, void *arg), void *arg)
{
    sqlite3_stmt *stmt = s->stmt[STMT_ALIAS_EACH];
    enum store_status status = STORE_NOTFOUND;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = bind_text_or_null(stmt, 1, account);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct store_alias a = {
            .account = column_text(stmt, 0),
            .address = column_text(stmt, 1),
            .added_by = column_text(stmt, 2),
            .added_at = sqlite3_column_int64(stmt, 3),
        };
        fn(&a, arg);
        status = STORE_OK;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_account_suspend(struct store *s, const char *name, int64_t now,
                                        const char *reason, bool *changed)
{
    sqlite3_stmt *stmt = s->stmt[STMT_ACCOUNT_SUSPEND];
    enum store_status status = STORE_OK;
    int rc;

    if (changed != NULL)
        *changed = false;
    pthread_mutex_lock(&s->lock);
    if (name == NULL) {
        str_copy(s->error, sizeof s->error, "an account needs a name");
        pthread_mutex_unlock(&s->lock);
        return STORE_ERROR;
    }
    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = account_add_locked(s, name, now, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 2, now);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 3, reason ? reason : "", -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_DONE) {
        if (changed != NULL)
            *changed = sqlite3_changes(s->db) > 0;
        rc = SQLITE_OK;
    }
    stmt_done(stmt);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        status = store_fail(s, rc);
        rollback(s->db);
    }
    pthread_mutex_unlock(&s->lock);
    return status;
}

static int bind_name(sqlite3_stmt *stmt, const void *arg)
{
    return sqlite3_bind_text(stmt, 1, arg, -1, SQLITE_STATIC);
}

enum store_status store_account_suspended(struct store *s, const char *name, int64_t *since,
                                          char *reason, size_t reason_len)
{
    sqlite3_stmt *stmt = s->stmt[STMT_ACCOUNT_SUSPENDED];
    enum store_status status = STORE_NOTFOUND;

    *since = 0;
    reason[0] = '\0';
    pthread_mutex_lock(&s->lock);
    int rc = sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *why = column_text(stmt, 1);
        *since = sqlite3_column_int64(stmt, 0);
        str_copy(reason, reason_len, why ? why : "");
        status = STORE_OK;
        rc = SQLITE_DONE;
    }
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_account_resume(struct store *s, const char *name)
{
    if (name == NULL)
        return STORE_NOTFOUND;
    return change_one(s, STMT_ACCOUNT_RESUME, bind_name, name);
}

/* ------------------------------------------------------------------------------------------ */
/* Held messages (schema/007_held.sql)                                                        */
/* ------------------------------------------------------------------------------------------ */

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

/* ---- throttle ---- */
/* ------------------------------------------------------------------------------------------ */
/* Send-rate counters and throttle state (schema/006_throttle.sql)                           */
/* ------------------------------------------------------------------------------------------ */

/* Reads columns 0-8 of STMT_THROTTLE_GET / STMT_THROTTLE_EACH into st. */
static void throttle_row(sqlite3_stmt *stmt, struct store_throttle_state *st)
{
    const char *reason = column_text(stmt, 1);

    st->throttled = sqlite3_column_int64(stmt, 0); /* NULL reads as 0: not throttled */
    str_copy(st->reason, sizeof st->reason, reason ? reason : "");
    st->reset_at = sqlite3_column_int64(stmt, 2);
    for (int i = 0; i < STORE_THROTTLE_LIMITS; i++)
        st->limits[i] = sqlite3_column_type(stmt, 3 + i) == SQLITE_NULL
                            ? STORE_THROTTLE_DEFAULT
                            : sqlite3_column_int64(stmt, 3 + i);
}

static void throttle_state_clear(struct store_throttle_state *st)
{
    st->account = NULL;
    st->throttled = 0;
    st->reason[0] = '\0';
    st->reset_at = 0;
    for (int i = 0; i < STORE_THROTTLE_LIMITS; i++)
        st->limits[i] = STORE_THROTTLE_DEFAULT;
}

enum store_status store_throttle_get(struct store *s, const char *account,
                                     struct store_throttle_state *st)
{
    sqlite3_stmt *stmt = s->stmt[STMT_THROTTLE_GET];
    enum store_status status = STORE_NOTFOUND;
    int rc;

    throttle_state_clear(st);
    pthread_mutex_lock(&s->lock);
    rc = sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        throttle_row(stmt, st);
        status = STORE_OK;
        rc = SQLITE_DONE;
    }
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status
store_throttle_bucket_each(struct store *s, const char *account, int64_t width, int64_t since,
                           int64_t before,
                           void (*fn)(const struct store_throttle_bucket *b, void *arg), void *arg)
{
    sqlite3_stmt *stmt = s->stmt[STMT_THROTTLE_BUCKET_EACH];
    enum store_status status = STORE_NOTFOUND;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 2, width);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 3, since);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 4, before);
    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct store_throttle_bucket b = {
            .account = account,
            .width = sqlite3_column_int64(stmt, 0),
            .start = sqlite3_column_int64(stmt, 1),
            .msgs = sqlite3_column_int64(stmt, 2),
            .rcpts = sqlite3_column_int64(stmt, 3),
            .minutes = sqlite3_column_int64(stmt, 4),
        };
        fn(&b, arg);
        status = STORE_OK;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

/* Binds and runs STMT_THROTTLE_BUCKET_ADD for b; called with the lock held. */
static int throttle_bucket_add_locked(struct store *s, const struct store_throttle_bucket *b)
{
    sqlite3_stmt *stmt = s->stmt[STMT_THROTTLE_BUCKET_ADD];
    const int64_t values[] = {b->width, b->start, b->msgs, b->rcpts, b->minutes};
    int rc = b->account == NULL ? SQLITE_MISUSE
                                : sqlite3_bind_text(stmt, 1, b->account, -1, SQLITE_STATIC);

    for (int i = 0; rc == SQLITE_OK && i < (int)(sizeof values / sizeof values[0]); i++)
        rc = sqlite3_bind_int64(stmt, i + 2, values[i]);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    stmt_done(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

enum store_status store_throttle_bucket_add(struct store *s,
                                            const struct store_throttle_bucket *buckets, size_t n)
{
    enum store_status status = STORE_OK;
    int rc;

    if (n == 0)
        return STORE_OK;
    pthread_mutex_lock(&s->lock);
    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++)
        rc = throttle_bucket_add_locked(s, &buckets[i]);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        if (rc == SQLITE_MISUSE)
            str_copy(s->error, sizeof s->error, "a throttle bucket needs an account");
        status = rc == SQLITE_MISUSE ? STORE_ERROR : store_fail(s, rc);
        rollback(s->db);
    }
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_throttle_mark(struct store *s, const char *account, int64_t since,
                                      const char *reason, bool *marked)
{
    sqlite3_stmt *stmt = s->stmt[STMT_THROTTLE_MARK];
    enum store_status status = STORE_OK;
    int rc;

    if (marked != NULL)
        *marked = false;
    pthread_mutex_lock(&s->lock);
    rc = sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 2, since);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(stmt, 3, reason ? reason : "", -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    else if (marked != NULL)
        *marked = sqlite3_changes(s->db) > 0;
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_throttle_clear(struct store *s, const char *account, int64_t now)
{
    sqlite3_stmt *stmt = s->stmt[STMT_THROTTLE_CLEAR];
    enum store_status status = STORE_OK;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 2, now);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    else if (sqlite3_changes(s->db) == 0)
        status = STORE_NOTFOUND;
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_throttle_set_limits(struct store *s, const char *account,
                                            const int64_t limits[STORE_THROTTLE_LIMITS])
{
    sqlite3_stmt *stmt = s->stmt[STMT_THROTTLE_SET_LIMITS];
    enum store_status status = STORE_OK;
    int rc;

    pthread_mutex_lock(&s->lock);
    rc = sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC);
    for (int i = 0; rc == SQLITE_OK && i < STORE_THROTTLE_LIMITS; i++)
        rc = sqlite3_bind_int64(stmt, i + 2, limits[i] < STORE_THROTTLE_KEEP ? -1 : limits[i]);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_throttle_each(struct store *s,
                                      void (*fn)(const struct store_throttle_state *st, void *arg),
                                      void *arg)
{
    sqlite3_stmt *stmt = s->stmt[STMT_THROTTLE_EACH];
    enum store_status status = STORE_NOTFOUND;
    int rc;

    pthread_mutex_lock(&s->lock);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct store_throttle_state st;
        throttle_row(stmt, &st);
        st.account = column_text(stmt, 9);
        fn(&st, arg);
        status = STORE_OK;
    }
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}

enum store_status store_throttle_expire(struct store *s, int64_t fine_before, int64_t hourly_before,
                                        size_t batch, size_t *deleted)
{
    enum store_status status;
    size_t left = batch;

    *deleted = 0;
    pthread_mutex_lock(&s->lock);
    status = exec_stmt(s, STMT_BEGIN_IMMEDIATE);
    if (status == STORE_OK) {
        status = bounded_delete(s, STMT_THROTTLE_EXPIRE_FINE, fine_before, &left);
        if (status == STORE_OK)
            status = bounded_delete(s, STMT_THROTTLE_EXPIRE_HOURLY, hourly_before, &left);
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
/* ---- end throttle ---- */
