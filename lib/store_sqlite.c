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
#include <sys/stat.h>

#include "store_migrations.h"
#include "util.h"

#define STORE_ERROR_MAX 512

enum stmt_id { STMT_DECISION_ADD, STMT_DECISION_FIND, STMT_DECISION_EXPIRE, STMT_COUNT };

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
                           "ORDER BY time, id LIMIT ?3",
    /* Bounded batches keep each write transaction short, so the milter's own writes wait at most
     * one batch behind the background expiry. */
    [STMT_DECISION_EXPIRE] = ("DELETE FROM decisions WHERE id IN "
                              "(SELECT id FROM decisions WHERE time < ?1 ORDER BY time LIMIT ?2)"),
};

struct store {
    pthread_mutex_t lock;
    sqlite3 *db;
    char *path;
    sqlite3_stmt *stmt[STMT_COUNT];
    char error[STORE_ERROR_MAX]; /* why the last call failed; guarded by lock */
};

int store_schema_version(void)
{
    if (store_migration_count == 0)
        return 0;
    return store_migrations[store_migration_count - 1].version;
}

/* Records why a call failed and maps SQLite's code: a lock held elsewhere is "could not tell". */
static enum store_status store_fail(struct store *s, int rc)
{
    str_copy(s->error, sizeof s->error, sqlite3_errmsg(s->db));
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return STORE_BUSY;
    default:
        return STORE_ERROR;
    }
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

static void open_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void open_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

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
        open_error(err, errlen, "%s: cannot open the database: it is a directory", path);
    else if (stat(dir, &st) != 0)
        open_error(err, errlen, "%s: cannot open the database: directory %s: %s", path, dir,
                   strerror_r(errno, reason, sizeof reason));
    else if (!S_ISDIR(st.st_mode))
        open_error(err, errlen, "%s: cannot open the database: %s is not a directory", path, dir);
    else
        open_error(err, errlen,
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
    open_error(err, errlen, "%s: %s: %s%s", s->path, what, sqlite3_errmsg(s->db), hint);
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
            open_error(err, errlen, "%s: cannot switch the database to WAL mode (it stays in %s)",
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
    static const char *const pragmas[] = {"PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"};

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

    if (rc == SQLITE_OK)
        rc = exec_int(s->db, "PRAGMA user_version", version);
    if (rc != SQLITE_OK) {
        db_error(s, rc, "cannot write to the database", err, errlen);
        rollback(s->db);
        return false;
    }
    if (*version > store_schema_version()) {
        open_error(err, errlen,
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
        open_error(err, errlen,
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
        open_error(err, errlen, "%s: migration %s failed: %s", s->path, m->name,
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
            open_error(err, errlen, "%s: the database does not match this milter-ingress: %s",
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

    open_error(err, errlen, "%s", "");
    if (path == NULL || *path == '\0') {
        open_error(err, errlen, "no database path given");
        return NULL;
    }
    s = xcalloc(1, sizeof *s);
    s->path = xstrdup(path);
    pthread_mutex_init(&s->lock, NULL);

    rc = sqlite3_open_v2(path, &s->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if ((rc & 0xff) == SQLITE_CANTOPEN)
            explain_cantopen(path, sqlite3_errmsg(s->db), err, errlen);
        else
            open_error(err, errlen, "%s: cannot open the database: %s", path,
                       s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        store_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, busy_timeout(busy_timeout_ms));

    /* SQLite quietly falls back to read-only when it cannot open the file for writing (file
     * mode, read-only file system), and even BEGIN IMMEDIATE succeeds then in WAL mode: ask. */
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        open_error(err, errlen,
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

void store_close(struct store *s)
{
    if (s == NULL)
        return;
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

/* ------------------------------------------------------------------------------------------ */
/* Decisions                                                                                  */
/* ------------------------------------------------------------------------------------------ */

enum store_status store_decision_add(struct store *s, const struct decision *d)
{
    sqlite3_stmt *stmt = s->stmt[STMT_DECISION_ADD];
    const char *text[] = {d->queue_id, d->ref,    d->client_ip, d->client_name,
                          d->helo,     d->sender, d->recipient, d->account,
                          d->check,    d->action, d->reply,     d->detail};
    enum store_status status = STORE_OK;
    int rc = SQLITE_OK;

    pthread_mutex_lock(&s->lock);
    if (d->check == NULL || d->action == NULL) {
        str_copy(s->error, sizeof s->error, "a decision needs a check and an action");
        pthread_mutex_unlock(&s->lock);
        return STORE_ERROR;
    }
    rc = sqlite3_bind_int64(stmt, 1, d->time);
    for (int i = 0; rc == SQLITE_OK && i < (int)(sizeof text / sizeof text[0]); i++)
        rc = sqlite3_bind_text(stmt, i + 2, text[i], -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
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
    sqlite3_stmt *stmt = s->stmt[STMT_DECISION_EXPIRE];
    enum store_status status = STORE_OK;
    int rc;

    *deleted = 0;
    pthread_mutex_lock(&s->lock);
    rc = sqlite3_bind_int64(stmt, 1, before);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(stmt, 2, size_to_int64(batch));
    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
        *deleted = (size_t)sqlite3_changes(s->db);
    else
        status = store_fail(s, rc);
    stmt_done(stmt);
    pthread_mutex_unlock(&s->lock);
    return status;
}
