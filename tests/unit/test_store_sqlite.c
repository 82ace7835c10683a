/*
 * test_store_sqlite: what only the SQLite backend (lib/store/sqlite*.c) does, against real SQLite
 * files in a fresh temporary directory; what every backend must do is tests/unit/test_store.c.
 *
 * The file itself: WAL mode, the embedded migrations and PRAGMA user_version, refusals of files
 * and directories SQLite cannot use (read-only, missing, not a database), a file removed under
 * the store, the directory check made before the daemon opens anything, and SQLite's own locks:
 * another connection's write lock and the writer's WAL checkpoints.  The permission tests run
 * the open as "nobody" in a child process when the test runs as root, since root ignores file
 * modes.  This file may use sqlite3 directly: it tests the engine's own behaviour.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "tempdir.h"
#include "store_decisions.h"
#include "store/migrations.h"
#include "util.h"

#define EXIT_SKIP 77
#define NOBODY 65534

struct fixture {
    char dir[256];
    char db[300];
    struct store *s;
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof *f);

    if (tempdir_make(f->dir, sizeof f->dir, "test_store") != 0) {
        free(f);
        return -1;
    }
    snprintf(f->db, sizeof f->db, "%s/ingress.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    store_close(f->s);
    sqlite3_reset_auto_extension(); /* test_writer_checkpoints_the_wal_into_the_database's */
    tempdir_remove(f->dir);
    free(f);
    return 0;
}

static struct store *open_ok(const char *path, int64_t busy_ms)
{
    struct store_error err;
    struct store *s = store_open(path, busy_ms, &err);

    if (s == NULL)
        fail_msg("store_open: %s", err.text);
    return s;
}

/* Runs one statement on a separate connection and returns its first column as an integer. */
static long long raw_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *stmt;
    long long v = -1;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
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

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* ------------------------------------------------------------------------------------------ */
/* Collecting what store_decision_find(, NULL) reports */
/* ------------------------------------------------------------------------------------------ */

#define ROWS_MAX 64

/* ------------------------------------------------------------------------------------------ */
/* Opening and migrations                                                                     */
/* ------------------------------------------------------------------------------------------ */

static void test_migration_table_runs_one_to_n(void **state)
{
    (void)state;
    assert_true(store_migration_count_sqlite >= 1);
    for (size_t i = 0; i < store_migration_count_sqlite; i++) {
        assert_int_equal(store_migrations_sqlite[i].version, (int)i + 1);
        assert_non_null(store_migrations_sqlite[i].name);
        assert_non_null(store_migrations_sqlite[i].sql);
        char want[64];
        snprintf(want, sizeof want, "PRAGMA user_version=%d", (int)i + 1);
        assert_string_equal(store_migrations_sqlite[i].set_version, want);
    }
    assert_int_equal(store_schema_version(), (int)store_migration_count_sqlite);
}

static void test_new_database_gets_current_version_and_wal_mode(void **state)
{
    struct fixture *f = *state;
    sqlite3 *db;
    sqlite3_stmt *stmt;

    f->s = open_ok(f->db, 1000);
    assert_int_equal(raw_int(f->db, "PRAGMA user_version"), store_schema_version());
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_master WHERE name='decisions'"),
                     1);

    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "wal");
    sqlite3_finalize(stmt);
    sqlite3_close(db);
}

static void test_newer_schema_version_is_refused_naming_the_version(void **state)
{
    struct fixture *f = *state;
    struct store_error err;
    char want[128];
    int newer = store_schema_version() + 6;
    char sql[64];

    snprintf(sql, sizeof sql, "PRAGMA user_version=%d", newer);
    raw_exec(f->db, sql);
    assert_null(store_open(f->db, 1000, &err));
    assert_contains(err.text, f->db);
    snprintf(want, sizeof want,
             "database schema version %d is newer than this milter-ingress "
             "(knows %d); refusing to open it",
             newer, store_schema_version());
    assert_contains(err.text, want);
    /* Refused means untouched. */
    assert_int_equal(raw_int(f->db, "PRAGMA user_version"), newer);
}

/* The database at path as the migrations before the first whose name contains before made it. */
static void make_older_schema(const char *path, const char *before)
{
    size_t upto = 0;

    while (upto < store_migration_count_sqlite &&
           strstr(store_migrations_sqlite[upto].name, before) == NULL)
        upto++;
    assert_true(upto < store_migration_count_sqlite);
    for (size_t i = 0; i < upto; i++) {
        raw_exec(path, store_migrations_sqlite[i].sql);
        raw_exec(path, store_migrations_sqlite[i].set_version);
    }
}

/*
 * Migration 017 on a database of older rows: the header From a DMARC decision's detail or the
 * submission check's named is copied into the column (so `why` finds them by the address), a
 * detail of another form leaves it empty.
 */
static void test_migration_017_backfills_header_from_from_the_detail(void **state)
{
    struct fixture *f = *state;
    make_older_schema(f->db, "_header_from");
    raw_exec(f->db, older_decisions_sql);
    f->s = open_ok(f->db, 1000);
    assert_int_equal(raw_int(f->db, "PRAGMA user_version"), store_schema_version());
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM decisions WHERE ref = 'DMARC001' AND "
                                    "header_from = 'alerts@bank.example'"),
                     1);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM decisions WHERE ref = 'DMARC002' AND "
                                    "header_from = 'ceo@bank.example'"),
                     1);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM decisions WHERE ref = 'SUBMIT01' AND "
                                    "header_from = 'boss@corp.example'"),
                     1);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM decisions WHERE header_from IS NULL"), 1);
    assert_int_equal(search_refs(f->s, "alerts@bank.example", 0, 0, 10, NULL), 1);
}

/*
 * Migration 018 on a database of version 17 with rows: the sender's, recipient's and account's
 * indexes are made again with the time, and a search finds the same rows by an address in any
 * case, newest first, and by a client IP.
 */
static void test_migration_018_keeps_answering_on_rows_of_017(void **state)
{
    struct fixture *f = *state;
    char out[256];

    make_older_schema(f->db, "_key_time");
    raw_exec(f->db,
             "INSERT INTO decisions (time, ref, client_ip, sender, recipient, account, "
             "header_from, check_name, action) VALUES "
             "(10, 'OLD00001', '192.0.2.7', 'Dana@Example.ORG', 'x@example.test', NULL, NULL, "
             "'iprev', 'reject'), "
             "(20, 'MID00001', '192.0.2.7', 'a@b.example', 'dana@example.org', NULL, NULL, "
             "'spf', 'reject'), "
             "(30, 'NEW00001', '192.0.2.8', 'c@d.example', 'e@f.example', 'DANA@example.org', "
             "'dana@example.org', 'policy', 'accept')");
    f->s = open_ok(f->db, 1000);
    assert_int_equal(raw_int(f->db, "PRAGMA user_version"), store_schema_version());
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                                    "name IN ('decisions_sender', 'decisions_recipient', "
                                    "'decisions_account') AND sql LIKE '%COLLATE NOCASE, time)'"),
                     3);
    search_refs_text(f->s, "<dana@EXAMPLE.org>", out, sizeof out);
    assert_string_equal(out, "NEW00001\nMID00001\nOLD00001\n");
    search_refs_text(f->s, "192.0.2.7", out, sizeof out);
    assert_string_equal(out, "MID00001\nOLD00001\n");
}

static void test_failed_migration_rolls_back_and_names_the_file(void **state)
{
    struct fixture *f = *state;
    struct store_error err;

    /* 001_init.sql ends by creating index decisions_time: an object of that name already there
     * makes the migration fail after it has created the table and the other indexes. */
    raw_exec(f->db, "CREATE TABLE other (x); CREATE INDEX decisions_time ON other (x);");
    assert_null(store_open(f->db, 1000, &err));
    assert_contains(err.text, f->db);
    assert_contains(err.text, store_migrations_sqlite[0].name);
    assert_contains(err.text, "decisions_time already exists");
    assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 0);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_master WHERE name='decisions'"),
                     0);
}

static void test_path_in_missing_directory_is_refused_naming_the_path(void **state)
{
    struct fixture *f = *state;
    struct store_error err;
    char path[300];

    snprintf(path, sizeof path, "%s/missing/ingress.db", f->dir);
    assert_null(store_open(path, 1000, &err));
    assert_contains(err.text, path);
    assert_contains(err.text, "No such file or directory");
}

static void test_path_that_is_a_directory_is_refused_naming_the_path(void **state)
{
    struct fixture *f = *state;
    struct store_error err;

    assert_null(store_open(f->dir, 1000, &err));
    assert_contains(err.text, f->dir);
}

static void test_file_that_is_not_a_database_is_refused_naming_the_path(void **state)
{
    struct fixture *f = *state;
    struct store_error err;
    FILE *fp = fopen(f->db, "w");

    assert_non_null(fp);
    for (int i = 0; i < 200; i++)
        fputs("this is a config file, not a database\n", fp);
    fclose(fp);
    assert_null(store_open(f->db, 1000, &err));
    assert_contains(err.text, f->db);
    assert_contains(err.text, "not a database");
}

/*
 * Runs check(f) with the rights of an ordinary user: in a child that became "nobody" when we are
 * root (root reads and writes whatever the modes say), directly otherwise.  check returns 0 when
 * the store behaved, EXIT_SKIP when the setting could not be arranged, anything else on failure.
 */
static void run_unprivileged(struct fixture *f, int (*check)(struct fixture *f))
{
    pid_t pid;
    int status;

    if (geteuid() != 0) {
        status = check(f);
    } else {
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
                _exit(EXIT_SKIP);
            _exit(check(f));
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        status = WEXITSTATUS(status);
    }
    if (status == EXIT_SKIP) {
        print_message("cannot arrange an unwritable path here (as uid %d); skipped\n",
                      (int)geteuid());
        skip();
    }
    assert_int_equal(status, 0);
}

/* The open must fail and say which path; the child has no cmocka, so it reports on stderr. */
static int expect_refused(const char *path)
{
    struct store_error err;
    struct store *s = store_open(path, 100, &err);

    if (s != NULL) {
        fprintf(stderr, "store_open(%s) succeeded on an unwritable path\n", path);
        store_close(s);
        return 1;
    }
    if (strstr(err.text, path) == NULL) {
        fprintf(stderr, "error does not name the path: %s\n", err.text);
        return 1;
    }
    return 0;
}

static int check_read_only_file(struct fixture *f)
{
    int fd = open(f->db, O_RDONLY);

    /* Preconditions: we can read the file but not write it, and can write the directory. */
    if (fd < 0 || access(f->dir, W_OK) != 0) {
        if (fd >= 0)
            close(fd);
        return EXIT_SKIP;
    }
    close(fd);
    fd = open(f->db, O_RDWR);
    if (fd >= 0) {
        close(fd);
        return EXIT_SKIP;
    }
    return expect_refused(f->db);
}

static void test_read_only_file_is_refused_at_open(void **state)
{
    struct fixture *f = *state;

    f->s = open_ok(f->db, 1000);
    add_three(f->s);
    store_close(f->s);
    f->s = NULL;
    /* The directory stays writable for everyone, so that only the file's mode is in the way. */
    assert_int_equal(chmod(f->dir, 0777), 0);
    assert_int_equal(chmod(f->db, 0444), 0);
    run_unprivileged(f, check_read_only_file);
}

static int check_read_only_directory(struct fixture *f)
{
    char fresh[300];

    if (access(f->dir, W_OK) == 0 || access(f->dir, X_OK) != 0 || access(f->db, W_OK) != 0)
        return EXIT_SKIP;
    /* A new database cannot be created there, and an existing one cannot get its WAL files. */
    snprintf(fresh, sizeof fresh, "%s/fresh.db", f->dir);
    if (expect_refused(fresh) != 0)
        return 1;
    return expect_refused(f->db);
}

static void test_read_only_directory_is_refused_at_open(void **state)
{
    struct fixture *f = *state;

    f->s = open_ok(f->db, 1000);
    add_three(f->s);
    store_close(f->s);
    f->s = NULL;
    assert_int_equal(chmod(f->db, 0666), 0);
    assert_int_equal(chmod(f->dir, 0555), 0);
    run_unprivileged(f, check_read_only_directory);
}

/* An admin's rm under a running milter: store_check() notices and writes go to the new file. */
static void test_removed_file_is_noticed_and_reopened(void **state)
{
    struct fixture *f = *state;
    struct store_error err;
    char wal[320], shm[320];
    bool reopened = true;
    struct store *s = store_open(f->db, 1000, &err);
    assert_non_null(s);
    add_three(s);
    assert_int_equal(store_check(s, &reopened, &err), STORE_OK);
    assert_false(reopened);

    snprintf(wal, sizeof wal, "%s-wal", f->db);
    snprintf(shm, sizeof shm, "%s-shm", f->db);
    assert_int_equal(unlink(f->db), 0);
    unlink(wal);
    unlink(shm);
    assert_int_equal(store_check(s, &reopened, &err), STORE_OK);
    assert_true(reopened);
    assert_int_equal(access(f->db, F_OK), 0);
    add_ok(s,
           sample(4000, "4Y2x9", "Q2W4E6R8", "192.0.2.9", "carol@example.org", "x@example.test"));
    store_close(s);

    /* What the reopened store wrote is in the file at the path, and only that. */
    s = store_open(f->db, 1000, &err);
    assert_non_null(s);
    assert_int_equal(find_count(s, "192.0.2.9", 10, NULL), 1);
    assert_int_equal(find_count(s, "192.0.2.4", 10, NULL), 0);
    store_close(s);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_write_lock_held_elsewhere_gives_busy_after_timeout(void **state)
{
    struct fixture *f = *state;
    struct decision d = sample(1, "4Y2x9", "LOCKED01", "192.0.2.9", "a@example.org", "b@x");
    sqlite3 *other;
    double start, waited;
    struct store_error err;

    f->s = open_ok(f->db, 100);
    add_three(f->s);
    assert_int_equal(sqlite3_open(f->db, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);

    start = now_seconds();
    assert_int_equal(store_decision_add(f->s, &d, &err), STORE_BUSY);
    waited = now_seconds() - start;
    assert_true(waited >= 0.09);
    assert_true(waited < 5.0);
    assert_contains(err.text, "locked");

    /* WAL: a writer elsewhere does not stop `ingressctl why` from reading. */
    assert_int_equal(find_count(f->s, "192.0.2.4", 10, NULL), 1);

    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(store_decision_add(f->s, &d, NULL), STORE_OK);
}

/*
 * SQLite's automatic checkpoint, turned off on every connection opened after
 * sqlite3_auto_extension(no_automatic_checkpoint) (teardown removes it).  The extension cannot
 * turn it off itself, since sqlite3_open sets it after running the extensions: it watches for the
 * connection's first statement and turns it off there, before the store's writer replaces it.
 */
static int automatic_checkpoint_off(unsigned type, void *db, void *stmt, void *sql)
{
    (void)type;
    (void)stmt;
    (void)sql;
    sqlite3_trace_v2(db, 0, NULL, NULL);
    sqlite3_wal_autocheckpoint(db, 0);
    return 0;
}

static int no_automatic_checkpoint(sqlite3 *db, const char **err,
                                   const struct sqlite3_api_routines *api)
{
    (void)err;
    (void)api;
    return sqlite3_trace_v2(db, SQLITE_TRACE_STMT, automatic_checkpoint_off, db);
}

/*
 * The writer's checkpoints copy the WAL back into the database file from a connection of its
 * own, without the store lock: the file grows while the store stays open.  SQLite's automatic
 * checkpoint is off on every connection of the test, so only the writer's own can do it (with it
 * on, a commit that crossed 1000 frames copied the WAL back as well, and the test passed with the
 * writer's checkpoint code deleted).  (A connection that has never read the database does not
 * know it is in WAL mode and checkpoints nothing: this failed so.)
 */
static void test_writer_checkpoints_the_wal_into_the_database(void **state)
{
    struct fixture *f = *state;
    char detail[401];
    struct stat st;

    memset(detail, 'x', sizeof detail - 1);
    detail[sizeof detail - 1] = '\0';
    assert_int_equal(sqlite3_auto_extension((void (*)(void))no_automatic_checkpoint), SQLITE_OK);
    f->s = open_ok(f->db, 1000);
    assert_int_equal(stat(f->db, &st), 0);
    off_t before = st.st_size;
    assert_int_equal(store_decision_writer_start(f->s, 20, 100, 10000, NULL), STORE_OK);
    /* about 1.5 MiB of rows with their index entries: well over 1000 WAL frames */
    for (int i = 0; i < 3000; i++) {
        struct decision d = sample(1000 + i, "Q", "WAL00001", "192.0.2.1", "a@example.org", "b@x");
        d.detail = detail;
        add_ok(f->s, d);
    }
    assert_int_equal(store_decision_flush(f->s, NULL), STORE_OK);
    off_t after = before;
    for (int i = 0; i < 250 && after < before + 1024 * 1024; i++) {
        struct timespec ms20 = {0, 20 * 1000 * 1000};
        nanosleep(&ms20, NULL);
        assert_int_equal(stat(f->db, &st), 0);
        after = st.st_size;
    }
    if (after < before + 1024 * 1024)
        fail_msg("the database file stayed at %lld bytes (was %lld): nothing was checkpointed",
                 (long long)after, (long long)before);
}

/*
 * Another connection holds the write lock: batches fail and their rows stay queued; once the queue
 * is full a decision is refused with STORE_BUSY and a message saying why; when the lock goes, a
 * flush writes every kept row.
 */
static void test_writer_keeps_failed_batches_and_refuses_when_full(void **state)
{
    struct fixture *f = *state;
    struct decision d = sample(1, "4Y2x9", "FULLQ001", "192.0.2.9", "a@example.org", "b@x");
    struct store_decision_counts n;
    sqlite3 *other;

    f->s = open_ok(f->db, 10);
    assert_int_equal(sqlite3_open(f->db, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(store_decision_writer_start(f->s, 10, 2, 4, NULL), STORE_OK);
    fill_until_full(f->s, &d, 4);
    assert_int_not_equal(store_decision_flush(f->s, NULL), STORE_OK);
    assert_kept_unwritten(f->s, 4);

    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(store_decision_flush(f->s, NULL), STORE_OK);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM decisions"), 4);
    store_decision_counts(f->s, &n);
    assert_int_equal(n.written, 4);
    assert_int_equal(n.waiting, 0);
}

/* ---- the database value and the daemon's checks ---- */

/* ingressctl opens, never creates: a typo must not become an empty database. */
static void test_open_existing_refuses_a_missing_file_and_creates_none(void **state)
{
    struct fixture *f = *state;
    struct store_error err;

    assert_null(store_open_existing(f->db, 1000, &err));
    assert_contains(err.text, f->db);
    assert_contains(err.text, "No such file or directory");
    assert_int_not_equal(access(f->db, F_OK), 0);

    f->s = open_ok(f->db, 1000);
    store_close(f->s);
    f->s = store_open_existing(f->db, 1000, &err);
    assert_non_null(f->s);
}

/* Whoever can create files in the directory can plant the -wal or -shm file beside the
 * database: refused whether or not the sticky bit is set; a directory of the milter's own is
 * fine. */
static void test_directory_writable_by_every_user_is_refused_as_location(void **state)
{
    struct fixture *f = *state;
    struct store_error err;
    struct store_runas me = {.name = "test", .uid = getuid()};

    assert_int_equal(chmod(f->dir, 0777), 0);
    assert_false(store_check_location(f->db, &me, &err));
    assert_contains(err.text, f->dir);
    assert_contains(err.text, "writable by every user");
    assert_int_equal(chmod(f->dir, 01777), 0);
    assert_false(store_check_location(f->db, &me, &err));
    assert_int_equal(chmod(f->dir, 0750), 0);
    assert_true(store_check_location(f->db, &me, &err));
    assert_int_equal(chmod(f->dir, 0770), 0);
    assert_true(store_check_location(f->db, &me, &err));
}

/*
 * store_copy() moves every table of the schema but the lists' version counter (a database keeps
 * its own): a migration that adds a table without adding it to the copy fails here.
 */
static void test_copy_moves_every_table_of_the_schema(void **state)
{
    struct fixture *f = *state;
    struct store_copy_report r;
    char second[600], tables[2048] = "", copied[2048] = "";
    sqlite3 *db;
    sqlite3_stmt *stmt;

    f->s = open_ok(f->db, 1000);
    snprintf(second, sizeof second, "%s.copy", f->db);
    struct store *to = open_ok(second, 1000);
    assert_int_equal(store_copy(f->s, to, false, &r, NULL), STORE_OK);
    store_close(to);
    unlink(second);
    for (size_t i = 0; i < r.tables; i++)
        snprintf(copied + strlen(copied), sizeof copied - strlen(copied), " %s", r.table[i].name);
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT name FROM sqlite_master WHERE type = 'table' AND "
                                        "name NOT LIKE 'sqlite_%' AND name <> 'lists_version'",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(stmt, 0);
        char word[128];
        snprintf(word, sizeof word, " %s", name);
        if (strstr(copied, word) == NULL)
            snprintf(tables + strlen(tables), sizeof tables - strlen(tables), " %s", name);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    if (tables[0] != '\0')
        fail_msg("tables store_copy() leaves behind:%s (copied:%s)", tables, copied);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_migration_table_runs_one_to_n),
        T(test_new_database_gets_current_version_and_wal_mode),
        T(test_newer_schema_version_is_refused_naming_the_version),
        T(test_migration_017_backfills_header_from_from_the_detail),
        T(test_migration_018_keeps_answering_on_rows_of_017),
        T(test_failed_migration_rolls_back_and_names_the_file),
        T(test_path_in_missing_directory_is_refused_naming_the_path),
        T(test_path_that_is_a_directory_is_refused_naming_the_path),
        T(test_file_that_is_not_a_database_is_refused_naming_the_path),
        T(test_read_only_file_is_refused_at_open),
        T(test_read_only_directory_is_refused_at_open),
        T(test_removed_file_is_noticed_and_reopened),
        T(test_write_lock_held_elsewhere_gives_busy_after_timeout),
        T(test_writer_checkpoints_the_wal_into_the_database),
        T(test_writer_keeps_failed_batches_and_refuses_when_full),
        T(test_open_existing_refuses_a_missing_file_and_creates_none),
        T(test_directory_writable_by_every_user_is_refused_as_location),
        T(test_copy_moves_every_table_of_the_schema),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
