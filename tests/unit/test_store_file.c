/*
 * test_store_file: the SQLite database file under a store (lib/store/sqlite_file.c and the reopen
 * of store_check in lib/store/store.c), with real SQLite files in a fresh temporary directory.
 * SQLite only, and it uses sqlite3 directly: a VFS of its own, and rows read behind the store.
 *
 * - A database is migrated whole or not at all: a disk that fills at any write of the creation
 *   (a VFS shim below fails every write from the Nth on with SQLITE_FULL, SQLite's own way of
 *   testing I/O faults) leaves the version it had, never one in between, and the next open ends
 *   the job.
 * - A file removed (rm -rf of its directory) or replaced (a backup renamed over it) under an open
 *   store: no write is acknowledged into the old file, every call fails while no file can be
 *   opened at the path, the old file is let go, and the store comes back without being reopened
 *   by its owner; the file at the path wins, and the old one's WAL is not read as its own.
 * - Modes: the files are created 0600 (or the mode asked for) whatever the umask; a reader
 *   without write access (a member of the files' group) reads through store_open_existing() and
 *   cannot write.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "tempdir.h"
#include "store/migrations.h"
#include "util.h"

struct fixture {
    char dir[256];   /* the test's own */
    char state[300]; /* dir/state: the database's directory, removed by some tests */
    char db[320];    /* dir/state/ingress.db */
    struct store *s;
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof *f);

    if (tempdir_make(f->dir, sizeof f->dir, "test_store_file") != 0) {
        free(f);
        return -1;
    }
    snprintf(f->state, sizeof f->state, "%s/state", f->dir);
    snprintf(f->db, sizeof f->db, "%s/ingress.db", f->state);
    if (mkdir(f->state, 0700) != 0)
        return -1;
    *state = f;
    return 0;
}

static void fault_uninstall(void);

static int teardown(void **state)
{
    struct fixture *f = *state;

    fault_uninstall(); /* a failed assertion leaves the test before its own call */
    store_close(f->s);
    tempdir_remove(f->dir);
    free(f);
    return 0;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static struct store *open_ok(const char *path)
{
    struct store_error err;
    struct store *s = store_open(path, 1000, &err);

    if (s == NULL)
        fail_msg("store_open: %s", err.text);
    return s;
}

/* Runs one statement on a connection of its own; its first column as an integer, or -1. */
static long long raw_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *stmt;
    long long v = -1;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(stmt) == SQLITE_ROW)
        v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static void remove_database(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char name[400];

    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(name, sizeof name, "%s%s", path, suffixes[i]);
        unlink(name);
    }
}

static mode_t file_mode(const char *path, const char *suffix)
{
    char name[400];
    struct stat st;

    snprintf(name, sizeof name, "%s%s", path, suffix);
    if (stat(name, &st) != 0)
        fail_msg("stat %s: %m", name);
    return st.st_mode & 07777;
}

static ino_t inode_of(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_ino;
}

/*
 * How many descriptors of this process are on path itself (each connection has its own), or,
 * with deleted_under, on a deleted file under that directory (what an old connection holds).
 */
static int descriptors(const char *path, bool deleted_under)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char link[300], target[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        if (deleted_under)
            n += strncmp(target, path, strlen(path)) == 0 && strstr(target, " (deleted)") != NULL;
        else
            n += strcmp(target, path) == 0;
    }
    closedir(d);
    return n;
}

static int descriptors_on(const char *path)
{
    return descriptors(path, false);
}

static int deleted_files_held(const char *dir)
{
    return descriptors(dir, true);
}

static struct list_entry entry(const char *value)
{
    struct list_entry e = {
        .kind = "sender", .value = value, .action = "block", .added_by = "test", .added_at = 1};
    return e;
}

static enum store_status add_entry_err(struct store *s, const char *value, struct store_error *err)
{
    char previous[16];
    struct list_entry e = entry(value);
    return store_list_add(s, &e, previous, sizeof previous, err);
}

static enum store_status add_entry(struct store *s, const char *value)
{
    return add_entry_err(s, value, NULL);
}

/* The values of the list entries, comma-separated in order, into out. */
struct joined {
    char text[256];
};

static void join_value(const struct list_entry *e, void *arg)
{
    struct joined *j = arg;
    size_t len = strlen(j->text);
    snprintf(j->text + len, sizeof j->text - len, "%s%s", len ? "," : "", e->value);
}

static const char *entries_of(struct store *s, struct joined *j)
{
    j->text[0] = '\0';
    enum store_status st = store_list_each(s, NULL, 0, join_value, j, NULL);
    assert_true(st == STORE_OK || st == STORE_NOTFOUND);
    return j->text;
}

/* ------------------------------------------------------------------------------------------ */
/* A disk that fills at the Nth write (a VFS shim over the default one)                       */
/* ------------------------------------------------------------------------------------------ */

static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;
static long fault_after = -1; /* writes allowed before every write fails; -1: no fault */
static long fault_writes;     /* writes seen since the last fault_arm() */

struct fault_file {
    sqlite3_file base;
    sqlite3_file *real; /* the default VFS's file, right after this struct */
};

#define REAL(f) (((struct fault_file *)(f))->real)

static int fault_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}
static int fault_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}
static int fault_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    if (fault_after >= 0 && fault_writes++ >= fault_after)
        return SQLITE_FULL;
    return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}
static int fault_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int fault_sync(sqlite3_file *f, int flags)
{
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int fault_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int fault_lock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xLock(REAL(f), level);
}
static int fault_unlock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), level);
}
static int fault_check_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int fault_file_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int fault_sector_size(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int fault_device(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int fault_shm_map(sqlite3_file *f, int page, int size, int extend, void volatile **out)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), page, size, extend, out);
}
static int fault_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}
static void fault_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int fault_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), delete_flag);
}
static int fault_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **out)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, out);
}
static int fault_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods fault_io = {
    3,
    fault_close,
    fault_read,
    fault_write,
    fault_truncate,
    fault_sync,
    fault_file_size,
    fault_lock,
    fault_unlock,
    fault_check_reserved,
    fault_file_control,
    fault_sector_size,
    fault_device,
    fault_shm_map,
    fault_shm_lock,
    fault_shm_barrier,
    fault_shm_unmap,
    fault_fetch,
    fault_unfetch,
};

static int fault_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    struct fault_file *ff = (struct fault_file *)f;
    int rc;

    (void)vfs;
    ff->real = (sqlite3_file *)(ff + 1);
    rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out);
    /* SQLite reads pMethods whatever xOpen returned: NULL when there is nothing to close. */
    ff->base.pMethods = ff->real->pMethods != NULL ? &fault_io : NULL;
    return rc;
}
static int fault_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}
static int fault_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}
static int fault_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}
static int fault_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, n, out);
}
static int fault_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return real_vfs->xSleep(real_vfs, us);
}
static int fault_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, out);
}
static int fault_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xGetLastError(real_vfs, n, out);
}
static int fault_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

/* Makes the shim the default VFS (every connection of the process goes through it). */
static void fault_install(void)
{
    /* By name: after a failed test the shim may still be the default. */
    real_vfs = sqlite3_vfs_find("unix");
    assert_non_null(real_vfs);
    fault_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct fault_file) + real_vfs->szOsFile,
        .mxPathname = real_vfs->mxPathname,
        .zName = "fault",
        .xOpen = fault_open,
        .xDelete = fault_delete,
        .xAccess = fault_access,
        .xFullPathname = fault_full_pathname,
        .xRandomness = fault_randomness,
        .xSleep = fault_sleep,
        .xCurrentTime = fault_current_time,
        .xGetLastError = fault_last_error,
        .xCurrentTimeInt64 = fault_current_time64,
    };
    assert_int_equal(sqlite3_vfs_register(&fault_vfs, 1), SQLITE_OK);
}

static void fault_uninstall(void)
{
    fault_after = -1;
    sqlite3_vfs_unregister(&fault_vfs);
}

/* From now on, the first `after` writes succeed and every later one fails (-1: none fails). */
static void fault_arm(long after)
{
    fault_writes = 0;
    fault_after = after;
}

/* ------------------------------------------------------------------------------------------ */
/* Migrations: whole or not at all                                                            */
/* ------------------------------------------------------------------------------------------ */

/* A database at schema version `version`, as earlier builds left it (WAL mode, migrations). */
static void make_version(const char *path, int version)
{
    remove_database(path);
    if (version == 0)
        return;
    raw_exec(path, "PRAGMA journal_mode=WAL");
    for (int i = 0; i < version; i++) {
        raw_exec(path, store_migrations_sqlite[i].sql);
        raw_exec(path, store_migrations_sqlite[i].set_version);
    }
}

/*
 * Opens a database that starts at version `from` with the disk filling at every write of the
 * open in turn.  After each failed open the file must still be at `from` with as many schema
 * objects as before (a new database: none); the open that succeeds, and the one after each
 * failure with the disk free again, must give this build's version.
 */
static void every_write_fault_leaves_whole_or_nothing(struct fixture *f, int from)
{
    struct store_error err;
    long writes, failures = 0;
    long long objects;
    struct store *s;

    make_version(f->db, from);
    objects = from == 0 ? 0 : raw_int(f->db, "SELECT count(*) FROM sqlite_master");
    fault_install();
    fault_arm(LONG_MAX); /* count the writes of an open without fault */
    store_close(open_ok(f->db));
    writes = fault_writes;
    assert_true(writes > 0);
    for (long n = 0; n < writes; n++) {
        make_version(f->db, from);
        fault_arm(n);
        s = store_open(f->db, 1000, &err);
        fault_arm(-1);
        if (s != NULL) {
            store_close(s);
            assert_int_equal(raw_int(f->db, "PRAGMA user_version"), store_schema_version());
            continue;
        }
        failures++;
        long long version = access(f->db, F_OK) == 0 ? raw_int(f->db, "PRAGMA user_version") : 0;
        if (version != from)
            fail_msg("disk full at write %ld of %ld: version %lld left behind, not %d (%s)", n,
                     writes, version, from, err.text);
        if (access(f->db, F_OK) == 0)
            assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_master"), objects);
        store_close(open_ok(f->db));
        assert_int_equal(raw_int(f->db, "PRAGMA user_version"), store_schema_version());
    }
    fault_uninstall();
    print_message("from version %d: %ld writes, %ld of them fatal when the disk was full\n", from,
                  writes, failures);
    assert_true(failures > 0);
}

static void test_new_database_is_created_whole_or_not_at_all(void **state)
{
    every_write_fault_leaves_whole_or_nothing(*state, 0);
}

/* A database an older build left at a version below this one's (one migration per transaction). */
static void test_older_database_is_migrated_whole_or_left_as_it_was(void **state)
{
    every_write_fault_leaves_whole_or_nothing(*state, store_schema_version() > 2 ? 2 : 1);
}

/* ------------------------------------------------------------------------------------------ */
/* The file removed or replaced under an open store                                           */
/* ------------------------------------------------------------------------------------------ */

static void test_write_into_a_removed_file_is_refused_not_acknowledged(void **state)
{
    struct fixture *f = *state;
    struct store_error err;

    f->s = open_ok(f->db);
    assert_int_equal(add_entry(f->s, "before@example.org"), STORE_OK);
    tempdir_remove(f->state);
    /* No store_check yet: the commit itself must find that the file is gone. */
    assert_int_equal(add_entry_err(f->s, "after@example.org", &err), STORE_ERROR);
    assert_contains(err.text, f->db);
    assert_contains(err.text, "removed or replaced");
}

static void test_removed_directory_fails_every_call_until_it_is_back(void **state)
{
    struct fixture *f = *state;
    struct store_error err, read_err;
    struct joined j;
    bool reopened = true;

    f->s = open_ok(f->db);
    assert_int_equal(add_entry(f->s, "before@example.org"), STORE_OK);
    tempdir_remove(f->state);

    assert_int_equal(store_check(f->s, &reopened, &err), STORE_ERROR);
    assert_false(reopened);
    assert_contains(err.text, f->db);
    assert_contains(err.text, "none can be opened there");
    /* Reads fail too (the old file's content is not the truth any more), and it is let go. */
    assert_int_equal(store_list_each(f->s, NULL, 0, join_value, &j, &read_err), STORE_ERROR);
    assert_contains(read_err.text, "none can be opened there");
    assert_int_equal(add_entry(f->s, "meanwhile@example.org"), STORE_ERROR);
    assert_int_equal(deleted_files_held(f->dir), 0);
    assert_int_equal(store_check(f->s, &reopened, &err), STORE_ERROR);

    /* The directory is back: the next check opens a new database there, whole. */
    assert_int_equal(mkdir(f->state, 0700), 0);
    assert_int_equal(store_check(f->s, &reopened, &err), STORE_OK);
    assert_true(reopened);
    assert_contains(err.text, "created a new one");
    assert_int_equal(add_entry(f->s, "after@example.org"), STORE_OK);
    assert_string_equal(entries_of(f->s, &j), "after@example.org");
    assert_int_equal(raw_int(f->db, "PRAGMA user_version"), store_schema_version());
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM list_entries"), 1);
    assert_int_equal(store_check(f->s, &reopened, &err), STORE_OK);
    assert_false(reopened);
}

/*
 * A backup renamed over the database while the store has rows in its WAL that are not yet in the
 * database file: the backup wins, whole, and the old WAL left at the path is not read as its own.
 */
static void test_backup_renamed_over_the_database_wins_intact(void **state)
{
    struct fixture *f = *state;
    char backup[400], want[64];
    struct store_error err;
    struct joined j;
    bool reopened;
    struct store *b;

    f->s = open_ok(f->db);
    assert_int_equal(add_entry(f->s, "old1@example.org"), STORE_OK);
    snprintf(backup, sizeof backup, "%s/backup.db", f->dir);
    b = open_ok(backup);
    assert_int_equal(add_entry(b, "backup@example.org"), STORE_OK);
    store_close(b);
    for (int i = 0; i < 20; i++) {
        char value[64];
        snprintf(value, sizeof value, "old-wal-%d@example.org", i);
        assert_int_equal(add_entry(f->s, value), STORE_OK);
    }
    ino_t old = inode_of(f->db), restored = inode_of(backup);
    assert_int_equal(rename(backup, f->db), 0);

    assert_int_equal(add_entry(f->s, "lost@example.org"), STORE_ERROR);
    assert_int_equal(store_check(f->s, &reopened, &err), STORE_OK);
    assert_true(reopened);
    assert_contains(err.text, "opened the file now at that path");
    snprintf(want, sizeof want, "inode %ju;", (uintmax_t)restored);
    assert_contains(err.text, want);
    snprintf(want, sizeof want, "inode %ju,", (uintmax_t)old);
    assert_contains(err.text, want);

    assert_string_equal(entries_of(f->s, &j), "backup@example.org");
    assert_int_equal(add_entry(f->s, "new@example.org"), STORE_OK);
    store_close(f->s);
    f->s = NULL;
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM list_entries"), 2);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM list_entries WHERE value LIKE 'old%'"),
                     0);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM pragma_integrity_check "
                                    "WHERE integrity_check = 'ok'"),
                     1);
}

/*
 * The directory removed and made again, and another process (here a connection of its own)
 * creating a database there before the store looks: closing the old connection must not delete
 * the -wal and -shm at the path, which are the new database's, with rows only its WAL holds.
 */
static void test_new_database_made_by_another_process_keeps_its_wal(void **state)
{
    struct fixture *f = *state;
    struct joined j;
    struct store_error err;
    bool reopened;
    sqlite3 *other;

    f->s = open_ok(f->db);
    assert_int_equal(add_entry(f->s, "old@example.org"), STORE_OK);
    tempdir_remove(f->state);
    assert_int_equal(mkdir(f->state, 0700), 0);
    store_close(open_ok(f->db)); /* the other process's database, with the schema */
    assert_int_equal(sqlite3_open(f->db, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other,
                                  "INSERT INTO list_entries (kind, value, action, added_by, "
                                  "added_at) VALUES ('sender', 'other@example.org', 'block', "
                                  "'test', 1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);

    char wal[400], shm[400];
    snprintf(wal, sizeof wal, "%s-wal", f->db);
    snprintf(shm, sizeof shm, "%s-shm", f->db);
    ino_t wal_ino = inode_of(wal), shm_ino = inode_of(shm);

    assert_int_equal(store_check(f->s, &reopened, &err), STORE_OK);
    assert_true(reopened);
    /* Still the other process's files: a -shm deleted under it would part its locks from ours. */
    assert_int_equal(access(wal, F_OK), 0);
    assert_int_equal(access(shm, F_OK), 0);
    assert_int_equal(inode_of(wal), wal_ino);
    assert_int_equal(inode_of(shm), shm_ino);
    assert_string_equal(entries_of(f->s, &j), "other@example.org");
    sqlite3_close(other);
    assert_string_equal(entries_of(f->s, &j), "other@example.org");
}

/* The decision writer's queue waits out the fault and lands in the new file; its own
 * connection (checkpoints) follows, and nothing holds the old file. */
static void test_decision_writer_follows_the_new_file(void **state)
{
    struct fixture *f = *state;
    struct store_error err;
    bool reopened;
    struct decision d = {
        .time = 1, .client_ip = "192.0.2.1", .check = "policy", .action = "accept"};

    f->s = open_ok(f->db);
    assert_int_equal(store_decision_writer_start(f->s, 10000, 64, 1000, NULL), STORE_OK);
    assert_int_equal(store_decision_add(f->s, &d, NULL), STORE_OK);
    assert_int_equal(store_decision_flush(f->s, NULL), STORE_OK);
    int connections = descriptors_on(f->db); /* the store's and the writer's */
    assert_int_equal(connections, 2);
    tempdir_remove(f->state);
    d.client_ip = "192.0.2.2";
    assert_int_equal(store_decision_add(f->s, &d, NULL), STORE_OK); /* queued */
    assert_int_equal(store_decision_flush(f->s, NULL), STORE_ERROR);
    assert_int_equal(store_check(f->s, &reopened, &err), STORE_ERROR);
    assert_int_equal(deleted_files_held(f->dir), 0);

    assert_int_equal(mkdir(f->state, 0700), 0);
    assert_int_equal(store_check(f->s, &reopened, &err), STORE_OK);
    assert_true(reopened);
    assert_int_equal(store_decision_flush(f->s, NULL), STORE_OK);
    /* The writer's checkpoint connection is on the new file too (counted before raw_int: SQLite
     * keeps a closed connection's descriptor while others of the process hold locks). */
    assert_int_equal(deleted_files_held(f->dir), 0);
    assert_int_equal(descriptors_on(f->db), connections);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM decisions WHERE client_ip = '192.0.2.2'"),
                     1);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM decisions"), 1);
}

/* ------------------------------------------------------------------------------------------ */
/* Modes                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* Opens path with mode under umask 0 (the most permissive) and checks the three files. */
static void assert_created_with(struct fixture *f, mode_t mode)
{
    struct store_error err;
    mode_t old = umask(0);

    f->s = store_open_mode(f->db, 1000, mode, &err);
    umask(old);
    if (f->s == NULL)
        fail_msg("store_open_mode: %s", err.text);
    assert_int_equal(file_mode(f->db, ""), mode);
    assert_int_equal(file_mode(f->db, "-wal"), mode);
    assert_int_equal(file_mode(f->db, "-shm"), mode);
}

static void test_new_database_files_are_0600_whatever_the_umask(void **state)
{
    struct fixture *f = *state;
    mode_t old = umask(0);

    f->s = open_ok(f->db);
    umask(old);
    assert_int_equal(file_mode(f->db, ""), 0600);
    assert_int_equal(file_mode(f->db, "-wal"), 0600);
    assert_int_equal(file_mode(f->db, "-shm"), 0600);
}

static void test_database_files_get_the_mode_asked_for(void **state)
{
    assert_created_with(*state, 0640);
}

static void test_existing_database_keeps_its_mode(void **state)
{
    struct fixture *f = *state;

    store_close(open_ok(f->db));
    assert_int_equal(chmod(f->db, 0660), 0);
    f->s = open_ok(f->db);
    assert_int_equal(file_mode(f->db, ""), 0660);
}

static void test_database_made_again_gets_the_same_mode(void **state)
{
    struct fixture *f = *state;
    struct store_error err;
    bool reopened;
    mode_t old;

    assert_created_with(f, 0640);
    remove_database(f->db);
    old = umask(0);
    assert_int_equal(store_check(f->s, &reopened, &err), STORE_OK);
    umask(old);
    assert_true(reopened);
    assert_int_equal(file_mode(f->db, ""), 0640);
    assert_int_equal(file_mode(f->db, "-wal"), 0640);
    assert_int_equal(file_mode(f->db, "-shm"), 0640);
}

#define NOBODY 65534
#define EXIT_SKIP 77

/*
 * What a member of the files' group does, in a child that became nobody with the files' group
 * (root reads and writes whatever the modes say); no cmocka there: it says on stderr.
 */
static int read_as_group_member(struct fixture *f)
{
    struct store_error err;
    struct joined j;
    struct store *r;

    if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
        return EXIT_SKIP;
    if (access(f->db, R_OK) != 0 || access(f->db, W_OK) == 0)
        return EXIT_SKIP;
    r = store_open_existing(f->db, 1000, &err);
    if (r == NULL) {
        fprintf(stderr, "store_open_existing: %s\n", err.text);
        return 1;
    }
    int rc = 0;
    if (strcmp(entries_of(r, &j), "listed@example.org") != 0) {
        fprintf(stderr, "read \"%s\"\n", j.text);
        rc = 1;
    }
    if (add_entry_err(r, "other@example.org", &err) != STORE_ERROR ||
        strstr(err.text, "readonly") == NULL) {
        fprintf(stderr, "a write did not fail as read-only: %s\n", err.text);
        rc = 1;
    }
    store_close(r);
    return rc;
}

static int refuse_old_schema_as_group_member(struct fixture *f)
{
    struct store_error err;
    struct store *r;

    if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
        return EXIT_SKIP;
    r = store_open_existing(f->db, 1000, &err);
    if (r != NULL) {
        fprintf(stderr, "a database at version 1 was opened read-only\n");
        store_close(r);
        return 1;
    }
    if (strstr(err.text, "read-only") == NULL || strstr(err.text, "cannot be migrated") == NULL) {
        fprintf(stderr, "the refusal does not say why: %s\n", err.text);
        return 1;
    }
    return 0;
}

static void run_as_group_member(struct fixture *f, int (*check)(struct fixture *f))
{
    int status;
    pid_t pid;

    if (geteuid() != 0)
        skip(); /* needs root to become another user */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(check(f));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == EXIT_SKIP)
        skip();
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* The milter's files 0640 in the group nobody's group, owned by root: readable, not writable. */
static void test_readonly_store_reads_and_refuses_writes(void **state)
{
    struct fixture *f = *state;
    static const char *const suffixes[] = {"", "-wal", "-shm"};

    assert_created_with(f, 0640); /* the milter: its -wal and -shm exist while it runs */
    assert_int_equal(add_entry(f->s, "listed@example.org"), STORE_OK);
    assert_int_equal(chmod(f->dir, 0755), 0);
    assert_int_equal(chmod(f->state, 0755), 0);
    for (size_t i = 0; i < 3; i++) {
        char name[400];
        snprintf(name, sizeof name, "%s%s", f->db, suffixes[i]);
        assert_int_equal(chown(name, 0, NOBODY), 0);
    }
    run_as_group_member(f, read_as_group_member);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM list_entries"), 1);

    /* A schema that lacks a migration is not read: it cannot be migrated read-only. */
    raw_exec(f->db, "PRAGMA user_version=1");
    run_as_group_member(f, refuse_old_schema_as_group_member);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_new_database_is_created_whole_or_not_at_all),
        T(test_older_database_is_migrated_whole_or_left_as_it_was),
        T(test_write_into_a_removed_file_is_refused_not_acknowledged),
        T(test_removed_directory_fails_every_call_until_it_is_back),
        T(test_backup_renamed_over_the_database_wins_intact),
        T(test_new_database_made_by_another_process_keeps_its_wal),
        T(test_decision_writer_follows_the_new_file),
        T(test_new_database_files_are_0600_whatever_the_umask),
        T(test_database_files_get_the_mode_asked_for),
        T(test_existing_database_keeps_its_mode),
        T(test_database_made_again_gets_the_same_mode),
        T(test_readonly_store_reads_and_refuses_writes),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
