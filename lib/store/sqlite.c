/*
 * store/sqlite: the SQLite backend of store.h (lib/store/backend.h): opening, the steps of the
 * migrations, the file checks, connections and transactions, and the helpers the sqlite_*.c files
 * share (each domain of store.h has its sqlite_<domain>.c).
 *
 * One connection per open database (sqlite.h says how it is locked).  WAL mode lets `ingressctl`
 * read while the milter writes; synchronous=NORMAL is durable across a process crash, and a power
 * loss costs at most the last decisions, never the database.
 *
 * Statements are prepared once, after the migrations, from the domain files' tables (a schema
 * that does not match them is an error at start-up, not on the first message), and reset after
 * each use.  SQL is only ever constant text with bound parameters: no value is ever written into
 * SQL text.
 */
#include "sqlite.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "migrations.h"
#include "util.h"

const struct sqlite_sql sqlite_core_sql[] = {
    /* Transactions (backend.h: begin).  DEFERRED (STORE_TXN_READ): the greylist's first try, a
     * read upgraded by its first write (lib/store/greylist_txn.c); IMMEDIATE (STORE_TXN_WRITE)
     * takes the write lock before the read, waiting up to the busy timeout. */
    {STMT_BEGIN_IMMEDIATE, "BEGIN IMMEDIATE"},
    {STMT_BEGIN_DEFERRED, "BEGIN"},
    {STMT_COMMIT, "COMMIT"},
};
const size_t sqlite_core_sql_count = sizeof sqlite_core_sql / sizeof sqlite_core_sql[0];

enum store_status sqlite_fail(struct store_db *s, int rc, struct store_error *err)
{
    if (s->moved) /* the commit guard refused (sqlite_file.c) */
        store_error_set(err, STORE_ERROR,
                        "database file %s was removed or replaced under the running milter: "
                        "nothing more is written to the old file",
                        s->path);
    else if (err != NULL)
        str_copy(err->text, sizeof err->text, sqlite3_errmsg(s->db));
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return STORE_BUSY;
    default:
        return STORE_ERROR;
    }
}

int64_t size_to_int64(size_t n)
{
    return n > (size_t)INT64_MAX ? INT64_MAX : (int64_t)n;
}

const char *column_text(sqlite3_stmt *stmt, int col)
{
    return (const char *)sqlite3_column_text(stmt, col);
}

static const char *reader_text(void *stmt, int col)
{
    return column_text(stmt, col);
}

static int64_t reader_integer(void *stmt, int col)
{
    return sqlite3_column_int64(stmt, col);
}

void sqlite_columns(sqlite3_stmt *stmt, const struct store_columns *cols, void *out)
{
    static const struct store_column_reader reader = {reader_text, reader_integer};

    store_columns_read(cols, &reader, stmt, out);
}

/* Text is bound SQLITE_STATIC (borrowed): statement_done() drops it before the caller frees it. */
static int bind_params(sqlite3_stmt *stmt, const struct sql_param *params, size_t n)
{
    int rc = SQLITE_OK;

    for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
        const struct sql_param *p = &params[i];
        int col = (int)i + 1;
        if (p->type == SQL_PARAM_INT)
            rc = sqlite3_bind_int64(stmt, col, p->value);
        else if (p->type == SQL_PARAM_TEXT && p->text != NULL)
            rc = sqlite3_bind_text(stmt, col, p->text, -1, SQLITE_STATIC);
        else
            rc = sqlite3_bind_null(stmt, col);
    }
    return rc;
}

static void statement_done(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

enum store_status sqlite_run(struct store_db *s, enum stmt_id id, const struct sql_param *params,
                             size_t n, int *changes, struct store_error *err)
{
    sqlite3_stmt *stmt = s->stmt[id];
    int rc = bind_params(stmt, params, n);
    enum store_status status = STORE_OK;

    if (rc == SQLITE_OK)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        status = sqlite_fail(s, rc, err);
    else if (changes != NULL)
        *changes = sqlite3_changes(s->db);
    statement_done(stmt);
    return status;
}

enum store_status sqlite_each(struct store_db *s, enum stmt_id id, const struct sql_param *params,
                              size_t n, const struct sqlite_visit *v, struct store_error *err)
{
    sqlite3_stmt *stmt = s->stmt[id];
    int rc = bind_params(stmt, params, n);
    enum store_status status = STORE_NOTFOUND;

    while (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        v->row(stmt, v);
        status = STORE_OK;
        rc = SQLITE_OK;
    }
    if (rc != SQLITE_DONE)
        status = sqlite_fail(s, rc, err);
    statement_done(stmt);
    return status;
}

enum store_status sqlite_change(struct store_db *s, enum stmt_id id, const struct sql_param *params,
                                size_t n, struct store_error *err)
{
    int changes = 0;
    enum store_status status = sqlite_run(s, id, params, n, &changes, err);

    return status == STORE_OK && changes == 0 ? STORE_NOTFOUND : status;
}

struct text_out {
    char *text;
    size_t len;
};

static void text_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    struct text_out *out = v->arg;
    const char *text = column_text(stmt, 0);

    str_copy(out->text, out->len, text != NULL ? text : "");
}

enum store_status sqlite_get_text(struct store_db *s, enum stmt_id id,
                                  const struct sql_param *params, size_t n, char *out,
                                  size_t outlen, struct store_error *err)
{
    struct text_out to = {out, outlen};
    struct sqlite_visit v = {.row = text_row, .arg = &to};

    out[0] = '\0';
    return sqlite_each(s, id, params, n, &v, err);
}

static void int_row(sqlite3_stmt *stmt, const struct sqlite_visit *v)
{
    *(int64_t *)v->arg = sqlite3_column_int64(stmt, 0);
}

enum store_status sqlite_get_int(struct store_db *s, enum stmt_id id,
                                 const struct sql_param *params, size_t n, int64_t *out,
                                 struct store_error *err)
{
    struct sqlite_visit v = {.row = int_row, .arg = out};

    return sqlite_each(s, id, params, n, &v, err);
}

enum store_status sqlite_bounded_delete(struct store_db *s, enum stmt_id id, int64_t before,
                                        size_t *left, struct store_error *err)
{
    int changes = 0;
    enum store_status status;

    if (*left == 0)
        return STORE_OK;
    status = sqlite_run(s, id, SQL_PARAMS(SQL_INT(before), SQL_INT(size_to_int64(*left))), &changes,
                        err);
    if (status == STORE_OK)
        *left -= (size_t)changes < *left ? (size_t)changes : *left;
    return status;
}

/* ---- connections and transactions ---- */

static struct store_conn *sqlite_acquire(struct store_db *s)
{
    pthread_mutex_lock(&s->lock);
    return &s->conn;
}

static void sqlite_release(struct store_conn *c)
{
    pthread_mutex_unlock(&c->s->lock);
}

static void rollback(sqlite3 *db)
{
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

enum store_status sqlite_begin(struct store_conn *c, enum store_txn kind, struct store_error *err)
{
    /* STORE_TXN_READ_ONLY: the connection of a dry run refuses every write from then on.  Not a
     * prepared statement: a flag pragma takes effect when it is prepared, not when it runs. */
    if (kind == STORE_TXN_READ_ONLY &&
        sqlite3_exec(c->s->db, "PRAGMA query_only = ON", NULL, NULL, NULL) != SQLITE_OK)
        return store_error_set(err, STORE_ERROR, "database %s: %s", c->s->path,
                               sqlite3_errmsg(c->s->db));
    return sqlite_run(c->s, kind == STORE_TXN_WRITE ? STMT_BEGIN_IMMEDIATE : STMT_BEGIN_DEFERRED,
                      NULL, 0, NULL, err);
}

enum store_status sqlite_commit(struct store_conn *c, struct store_error *err)
{
    return sqlite_run(c->s, STMT_COMMIT, NULL, 0, NULL, err);
}

void sqlite_rollback(struct store_conn *c)
{
    rollback(c->s->db);
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
static void db_error(struct store_db *s, int rc, const char *what, char *err, size_t errlen)
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
static bool set_wal(struct store_db *s, char *err, size_t errlen)
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

static bool set_pragmas(struct store_db *s, char *err, size_t errlen)
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

/* The migration loop's lock: BEGIN IMMEDIATE, then the version under it (lib/store/schema.c). */
static enum store_status sqlite_schema_lock(struct store_conn *c, int64_t *version,
                                            struct store_error *err)
{
    struct store_db *s = c->s;
    /* A read-only connection cannot take the write lock: it only reads the version. */
    int rc = s->readonly ? sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL)
                         : sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

    if (rc == SQLITE_OK)
        rc = exec_int(s->db, "PRAGMA user_version", version);
    if (rc != SQLITE_OK && s->readonly) {
        /* The -wal and -shm of a writer (quiet_database_uri) that the reader cannot read. */
        store_error_set(err, STORE_ERROR,
                        "%s: cannot read the database: %s (a reader without the right to write "
                        "it needs read permission on its -wal and -shm files too)",
                        s->path, sqlite3_errmsg(s->db));
    } else if (rc != SQLITE_OK) {
        db_error(s, rc, "cannot write to the database", err->text, sizeof err->text);
    }
    if (rc != SQLITE_OK) {
        rollback(s->db);
        return STORE_ERROR;
    }
    return STORE_OK;
}

/* Applies migration m inside the transaction sqlite_schema_lock() opened; the loop commits. */
static enum store_status sqlite_schema_apply(struct store_conn *c, const struct store_migration *m,
                                             struct store_error *err)
{
    struct store_db *s = c->s;
    char *msg = NULL;
    int rc;

    if (s->readonly)
        return store_error_set(err, STORE_ERROR,
                               "%s: the database lacks migration %s, and it is opened read-only "
                               "(no right to write it): it cannot be migrated here",
                               s->path, m->name);
    rc = sqlite3_exec(s->db, m->sql, NULL, NULL, &msg);

    if (rc == SQLITE_OK && sqlite3_get_autocommit(s->db)) {
        /* The file ended our transaction: what came before it is committed without a version. */
        return store_error_set(err, STORE_ERROR,
                               "%s: migration %s ended the transaction itself (migrations must "
                               "not contain BEGIN or COMMIT)",
                               s->path, m->name);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(s->db, m->set_version, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        store_error_set(err, STORE_ERROR, "%s: migration %s failed: %s", s->path, m->name,
                        msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return STORE_ERROR;
    }
    return STORE_OK;
}

static enum store_status sqlite_schema_commit(struct store_conn *c, struct store_error *err)
{
    struct store_db *s = c->s;
    int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);

    if (rc == SQLITE_OK)
        return STORE_OK;
    db_error(s, rc, "cannot commit the schema migrations", err->text, sizeof err->text);
    rollback(s->db);
    return STORE_ERROR;
}

static void sqlite_schema_unlock(struct store_conn *c)
{
    rollback(c->s->db);
}

/* Each statement's SQL, from the domain file that uses it. */
static const struct {
    const struct sqlite_sql *table;
    const size_t *count;
} domain_sql[] = {
    {sqlite_core_sql, &sqlite_core_sql_count},
    {sqlite_decisions_sql, &sqlite_decisions_sql_count},
    {sqlite_greylist_sql, &sqlite_greylist_sql_count},
    {sqlite_lists_sql, &sqlite_lists_sql_count},
    {sqlite_accounts_sql, &sqlite_accounts_sql_count},
    {sqlite_held_sql, &sqlite_held_sql_count},
    {sqlite_reviews_sql, &sqlite_reviews_sql_count},
    {sqlite_changes_sql, &sqlite_changes_sql_count},
    {sqlite_throttle_sql, &sqlite_throttle_sql_count},
    {sqlite_dmarc_sql, &sqlite_dmarc_sql_count},
};

static bool prepare_all(struct store_db *s, char *err, size_t errlen)
{
    const char *stmt_sql[STMT_COUNT] = {NULL};

    for (size_t d = 0; d < sizeof domain_sql / sizeof domain_sql[0]; d++)
        for (size_t i = 0; i < *domain_sql[d].count; i++)
            stmt_sql[domain_sql[d].table[i].id] = domain_sql[d].table[i].sql;
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

static void sqlite_close(struct store_db *s);

static int busy_timeout(int64_t ms)
{
    if (ms < 0)
        return 0;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/*
 * A reader who may not write the files reads a database in WAL mode through the -wal and -shm
 * that a writer keeps beside it (SQLite 3.22: both may be read-only for it).  While no writer has
 * the database open (milter-ingress stopped: its last close checkpointed the log and removed
 * both), there is no -wal, the file holds everything, and SQLite could only read it by creating
 * the -shm, which the reader may not do in the milter's directory.  Then the file is opened as
 * immutable (no locks, no -shm): the URI returned (NULL when a -wal exists, so the normal open
 * reads through the writer's files).  The path is percent-encoded as RFC 3986 wants.
 */
static char *quiet_database_uri(const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    char wal[PATH_MAX];
    size_t len = strlen(path), o;

    if ((size_t)snprintf(wal, sizeof wal, "%s-wal", path) >= sizeof wal || access(wal, F_OK) == 0 ||
        errno != ENOENT)
        return NULL;
    char *uri = xmalloc(len * 3 + sizeof "file:?immutable=1");
    str_copy(uri, len * 3 + sizeof "file:?immutable=1", "file:");
    o = strlen(uri);
    for (const char *p = path; *p != '\0'; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ascii_alnum((char)ch) || strchr("/-._~", ch) != NULL) {
            uri[o++] = (char)ch;
        } else {
            uri[o++] = '%';
            uri[o++] = hex[ch >> 4];
            uri[o++] = hex[ch & 15];
        }
    }
    memcpy(uri + o, "?immutable=1", sizeof "?immutable=1");
    return uri;
}

/*
 * Opens path: created with mode when missing and create is set; for reading only when readonly.
 * An existing file with a wider mode than the store's is logged.
 */
static struct store_db *open_database(const char *path, int64_t busy_timeout_ms, bool create,
                                      mode_t mode, bool readonly, char *err, size_t errlen)
{
    struct store_db *s;
    int rc;

    str_printf(err, errlen, "%s", "");
    if (path == NULL || *path == '\0') {
        str_printf(err, errlen, "no database path given");
        return NULL;
    }
    s = xcalloc(1, sizeof *s);
    s->path = xstrdup(path);
    s->busy_timeout_ms = busy_timeout_ms;
    s->conn.s = s;
    s->readonly = readonly;
    pthread_mutex_init(&s->lock, NULL);

    if (create) {
        s->created = sqlite_file_create(path, mode);
        if (!s->created)
            sqlite_file_warn_modes(path, mode);
    }
    char *uri = readonly ? quiet_database_uri(path) : NULL;
    rc = sqlite3_open_v2(
        uri != NULL ? uri : path, &s->db,
        (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
            SQLITE_OPEN_NOMUTEX | (uri != NULL ? SQLITE_OPEN_URI : 0),
        NULL);
    free(uri);
    if (rc != SQLITE_OK) {
        if ((rc & 0xff) == SQLITE_CANTOPEN)
            explain_cantopen(path, sqlite3_errmsg(s->db), err, errlen);
        else
            str_printf(err, errlen, "%s: cannot open the database: %s", path,
                       s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        sqlite_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, busy_timeout(busy_timeout_ms));
    if (readonly)
        return s;

    /* SQLite quietly falls back to read-only when it cannot open the file for writing (file
     * mode, read-only file system), and even BEGIN IMMEDIATE succeeds then in WAL mode: ask. */
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        str_printf(err, errlen,
                   "%s: the database is read-only (check the permissions of the file and of its "
                   "directory)",
                   path);
        sqlite_close(s);
        return NULL;
    }
    if (!set_wal(s, err, errlen) || !set_pragmas(s, err, errlen)) {
        sqlite_close(s);
        return NULL;
    }
    return s;
}

static void sqlite_close(struct store_db *s)
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

static struct store_db *sqlite_open(const char *database, int64_t busy_timeout_ms, bool create,
                                    mode_t mode, struct store_error *err)
{
    bool readonly = false;

    /* Without create (a tool): a missing file is a typo to report, not a database to create, and
     * one created by root that the milter then cannot write. */
    if (!create && access(database, F_OK) != 0) {
        char shown[512], reason[128];
        store_error_set(err, STORE_ERROR,
                        "%s: %s (milter-ingress creates the database when it starts, or with "
                        "milter-ingress --init)",
                        str_printable(shown, sizeof shown, database),
                        strerror_r(errno, reason, sizeof reason));
        return NULL;
    }
    /* A tool run by a member of the files' group (mode 0640) may read the database, not write
     * it: it gets a read-only connection, on which every write fails with SQLite's "attempt to
     * write a readonly database". */
    if (!create && access(database, W_OK) != 0 && errno == EACCES)
        readonly = true;
    return open_database(database, busy_timeout_ms, create, mode, readonly, err->text,
                         sizeof err->text);
}

static bool account_in_group(const struct store_runas *who, gid_t gid)
{
    for (int i = 0; i < who->ngroups; i++)
        if (who->groups[i] == gid)
            return true;
    return false;
}

/* Can the account create files in a directory of this owner and mode? */
static bool account_can_write(const struct store_runas *who, const struct stat *st)
{
    if (who->uid == 0)
        return true;
    if (st->st_uid == who->uid)
        return (st->st_mode & (S_IWUSR | S_IXUSR)) == (S_IWUSR | S_IXUSR);
    if (account_in_group(who, st->st_gid))
        return (st->st_mode & (S_IWGRP | S_IXGRP)) == (S_IWGRP | S_IXGRP);
    return (st->st_mode & (S_IWOTH | S_IXOTH)) == (S_IWOTH | S_IXOTH);
}

static void owner_name(uid_t uid, char *out, size_t outlen)
{
    char buf[1024];
    struct passwd pw, *found = NULL;
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != NULL)
        str_copy(out, outlen, found->pw_name);
    else
        str_printf(out, outlen, "uid %u", (unsigned)uid);
}

/*
 * Checked before anything is opened, as root.  The database's directory, the state directory:
 * whoever can create files there can plant the -wal or -shm file SQLite opens beside the database,
 * or replace the database itself, and the milter would read greylisting and lists from it.  So it
 * must not be writable by every user (sticky bit or not), and must belong to root or to the
 * account the milter runs as, another owner being able to do the same.  And it must be writable by
 * that account, since SQLite creates the database and its -wal and -shm files there, again at
 * each reopening after a start as root.  Group-writable is the admin's choice (a shared group
 * with ingressctl's users).
 */
static bool sqlite_check_location(const char *database, const struct store_runas *who,
                                  struct store_error *err)
{
    char dir[4096], owner[64];
    struct stat st;
    str_copy(dir, sizeof dir, database);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        str_copy(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        store_error_set(err, STORE_ERROR,
                        "database %s: its directory %s does not exist (create it for %s, mode "
                        "0750)",
                        database, dir, who->name);
        return false;
    }
    if ((st.st_mode & S_IWOTH) != 0) {
        store_error_set(err, STORE_ERROR,
                        "database %s: its directory %s is writable by every user (mode %04o): "
                        "another account could plant or replace the database files; use a "
                        "directory of the milter's own (mode 0750 or 0700)",
                        database, dir, (unsigned)(st.st_mode & 07777));
        return false;
    }
    owner_name(st.st_uid, owner, sizeof owner);
    if (st.st_uid != 0 && st.st_uid != who->uid) {
        store_error_set(err, STORE_ERROR,
                        "database %s: its directory %s is owned by %s, but milter-ingress runs as "
                        "%s: the owner could replace the database files; give it to %s (chown %s "
                        "%s)",
                        database, dir, owner, who->name, who->name, who->name, dir);
        return false;
    }
    if (!account_can_write(who, &st)) {
        store_error_set(err, STORE_ERROR,
                        "database %s: its directory %s (owner %s, mode %04o) is not writable by "
                        "%s, the account milter-ingress runs as, and SQLite creates the database "
                        "and its -wal and -shm files there (chown %s %s)",
                        database, dir, owner, (unsigned)(st.st_mode & 07777), who->name, who->name,
                        dir);
        return false;
    }
    return true;
}

/* The database and its WAL companions must stay writable after the daemon gives up root. */
static void sqlite_set_owner(const char *database, uid_t uid, gid_t gid)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char path[4096], reason[128];
        snprintf(path, sizeof path, "%s%s", database, suffixes[i]);
        if (chown(path, uid, gid) != 0 && errno != ENOENT)
            log_msg(LOG_WARNING, "chown %s: %s", path, strerror_r(errno, reason, sizeof reason));
    }
}

static enum store_status sqlite_prepare(struct store_db *s, struct store_error *err)
{
    if (!prepare_all(s, err->text, sizeof err->text) || !sqlite_file_record(s, err))
        return STORE_ERROR;
    return STORE_OK;
}

static const char *sqlite_display_name(struct store_db *s)
{
    return s->path;
}

const struct store_backend store_backend_sqlite = {
    .name = "SQLite",
    .migrations = store_migrations_sqlite,
    .migration_count = &store_migration_count_sqlite,
    .check_location = sqlite_check_location,
    .set_owner = sqlite_set_owner,
    .open = sqlite_open,
    .prepare = sqlite_prepare,
    .close = sqlite_close,
    .display_name = sqlite_display_name,
    .identity_changed = sqlite_identity_changed,
    .detach = sqlite_detach,
    .adopt = sqlite_adopt,
    .acquire = sqlite_acquire,
    .release = sqlite_release,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .schema_lock = sqlite_schema_lock,
    .schema_apply = sqlite_schema_apply,
    .schema_commit = sqlite_schema_commit,
    .schema_unlock = sqlite_schema_unlock,
    .decision_insert = sqlite_decision_insert,
    .decision_find = sqlite_decision_find,
    .decision_search = sqlite_decision_search,
    .decision_tally = sqlite_decision_tally,
    .decision_expire = sqlite_decision_expire,
    .dmarc_upsert = sqlite_dmarc_upsert,
    .dmarc_each = sqlite_dmarc_each,
    .dmarc_expire = sqlite_dmarc_expire,
    .writer_start = sqlite_writer_start,
    .writer_after_batches = sqlite_writer_after_batches,
    .writer_stop = sqlite_writer_stop,
    .greylist_read = sqlite_greylist_read,
    .greylist_write = sqlite_greylist_write,
    .autoallow_read = sqlite_autoallow_read,
    .autoallow_write = sqlite_autoallow_write,
    .greylist_expire = sqlite_greylist_expire,
    .lists_version = sqlite_lists_version,
    .list_each = sqlite_list_each,
    .list_put = sqlite_list_put,
    .list_del = sqlite_list_del,
    .rule_put = sqlite_rule_put,
    .rule_del = sqlite_rule_del,
    .rule_each = sqlite_rule_each,
    .account_add = sqlite_account_add,
    .account_each = sqlite_account_each,
    .alias_add = sqlite_alias_add,
    .alias_del = sqlite_alias_del,
    .alias_each = sqlite_alias_each,
    .account_suspend = sqlite_account_suspend,
    .account_suspended = sqlite_account_suspended,
    .account_resume = sqlite_account_resume,
    .held_add = sqlite_held_add,
    .held_each = sqlite_held_each,
    .held_decide = sqlite_held_decide,
    .held_expire = sqlite_held_expire,
    .held_undo = sqlite_held_undo,
    .review_add = sqlite_review_add,
    .review_each = sqlite_review_each,
    .review_close = sqlite_review_close,
    .review_expire = sqlite_review_expire,
    .explanation_set = sqlite_explanation_set,
    .explanation_each = sqlite_explanation_each,
    .change_add = sqlite_change_add,
    .change_each = sqlite_change_each,
    .change_expire = sqlite_change_expire,
    .throttle_get = sqlite_throttle_get,
    .throttle_bucket_each = sqlite_throttle_bucket_each,
    .throttle_bucket_add = sqlite_throttle_bucket_add,
    .throttle_mark = sqlite_throttle_mark,
    .throttle_clear = sqlite_throttle_clear,
    .throttle_set_limits = sqlite_throttle_set_limits,
    .throttle_each = sqlite_throttle_each,
    .throttle_expire = sqlite_throttle_expire,
    .copy_count = sqlite_copy_count,
    .copy_each = sqlite_copy_each,
    .copy_insert = sqlite_copy_insert,
    .copy_clear = sqlite_copy_clear,
};
