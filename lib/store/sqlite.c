/*
 * store/sqlite: the SQLite implementation of store.h: opening, migrations, the file checks and
 * the helpers the sqlite_*.c files share (each domain of store.h has its sqlite_<domain>.c).
 *
 * One connection per struct store, opened without SQLite's own mutex: our mutex serializes every
 * call, which also keeps a prepared statement and the error text it leaves consistent between the
 * step that failed and the copy we make of its message.  WAL mode lets `ingressctl` read while the
 * milter writes; synchronous=NORMAL is durable across a process crash, and a power loss costs at
 * most the last decisions, never the database.
 *
 * Statements are prepared once, at open, from the domain files' tables (a schema that does not
 * match them is an error at start-up, not on the first message), and reset after each use.  SQL is
 * only ever constant text with bound parameters (STYLE rule 22).
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

const char *const sqlite_core_sql[STMT_COUNT] = {
    /* Transactions of the store's own multi-statement writes (greylist, expiry).  DEFERRED: the
     * greylist's first try, a read upgraded by its first write (store_greylist_update); IMMEDIATE
     * takes the write lock before the read, waiting up to the busy timeout. */
    [STMT_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [STMT_BEGIN_DEFERRED] = "BEGIN",
    [STMT_COMMIT] = "COMMIT",
};

int store_schema_version(void)
{
    if (store_migration_count == 0)
        return 0;
    return store_migrations[store_migration_count - 1].version;
}

/* Records why a call failed and maps SQLite's code: a lock held elsewhere is "could not tell". */
enum store_status store_fail(struct store *s, int rc)
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

void stmt_done(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    /* Text is bound SQLITE_STATIC: drop the borrowed pointers before the caller frees them. */
    sqlite3_clear_bindings(stmt);
}

int64_t size_to_int64(size_t n)
{
    return n > (size_t)INT64_MAX ? INT64_MAX : (int64_t)n;
}

/* Runs one prepared statement that returns no row (BEGIN, COMMIT). */
enum store_status exec_stmt(struct store *s, enum stmt_id id)
{
    sqlite3_stmt *stmt = s->stmt[id];
    int rc = sqlite3_step(stmt);
    enum store_status status = rc == SQLITE_DONE ? STORE_OK : store_fail(s, rc);

    stmt_done(stmt);
    return status;
}

void rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/* One bounded DELETE of expiry: at most *left rows older than before; *left is decreased. */
enum store_status bounded_delete(struct store *s, enum stmt_id id, int64_t before, size_t *left)
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

const char *column_text(sqlite3_stmt *stmt, int col)
{
    return (const char *)sqlite3_column_text(stmt, col);
}
/* One bounded_delete() under the store's lock; *deleted gets how many rows went. */
enum store_status expire_step(struct store *s, enum stmt_id id, int64_t before, size_t batch,
                              size_t *deleted)
{
    size_t left = batch;

    pthread_mutex_lock(&s->lock);
    enum store_status status = bounded_delete(s, id, before, &left);
    pthread_mutex_unlock(&s->lock);
    *deleted = batch - left;
    return status;
}

int bind_text_or_null(sqlite3_stmt *stmt, int col, const char *text)
{
    if (text == NULL)
        return sqlite3_bind_null(stmt, col);
    return sqlite3_bind_text(stmt, col, text, -1, SQLITE_STATIC);
}

/* Runs a one-row UPDATE or DELETE whose parameters are bound by bind(stmt, arg); STORE_NOTFOUND
 * when it changed nothing. */
enum store_status change_one(struct store *s, enum stmt_id id,
                             int (*bind)(sqlite3_stmt *stmt, const void *arg), const void *arg)
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
enum store_status delete_two_keys(struct store *s, enum stmt_id id, const char *key1,
                                  const char *key2)
{
    struct two_keys k = {key1, key2};
    return change_one(s, id, bind_two_keys, &k);
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
int exec_int(sqlite3 *db, const char *sql, int64_t *out)
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

/* Each statement's SQL, from the domain file that uses it. */
static const char *const *const domain_sql[] = {
    sqlite_core_sql,     sqlite_decisions_sql, sqlite_greylist_sql, sqlite_lists_sql,
    sqlite_accounts_sql, sqlite_held_sql,      sqlite_throttle_sql,
};

static bool prepare_all(struct store *s, char *err, size_t errlen)
{
    const char *stmt_sql[STMT_COUNT] = {NULL};

    for (size_t d = 0; d < sizeof domain_sql / sizeof domain_sql[0]; d++)
        for (int i = 0; i < STMT_COUNT; i++)
            if (domain_sql[d][i] != NULL)
                stmt_sql[i] = domain_sql[d][i];
    for (int i = 0; i < STMT_COUNT; i++) {
        if (stmt_sql[i] == NULL) {
            str_printf(err, errlen, "%s: statement %d has no SQL (a bug)", s->path, i);
            return false;
        }
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
