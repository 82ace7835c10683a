/*
 * test_store_postgresql: what only the PostgreSQL backend does, on the private server of
 * tests/pg/with-pg.sh (INGRESS_TEST_DATABASE, INGRESS_TEST_PG_TCP, INGRESS_TEST_PG_DIR and
 * INGRESS_TEST_PG_CTL): a server stopped under an open store, a server that never answers, a
 * wrong password, tables of another application, two processes migrating one database at once.
 * Only store.h is used; the server is driven through pg-ctl.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <inttypes.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "maintenance.h"
#include "store.h"
#include "store/migrations.h"
#include "store_decisions.h"
#include "util.h"

#define BUSY_MS 1000
/* The promised bound: the busy timeout and the client's second past it; 2 s more of margin for a
 * loaded machine. */
#define BOUND_MS (BUSY_MS + 1000 + 2000)

static const char *ctl, *dir;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The database of the schema name (INGRESS_TEST_DATABASE with @TEST@ replaced). */
static void database_of(char *out, size_t outlen, const char *schema)
{
    const char *template = getenv("INGRESS_TEST_DATABASE");
    const char *marker = strstr(template, "@TEST@");

    assert_non_null(marker);
    snprintf(out, outlen, "%.*s%s%s", (int)(marker - template), template, schema,
             marker + strlen("@TEST@"));
}

/* Runs pg-ctl.sh with verb (and psql's -c SQL when sql is not NULL); its exit status. */
static int pg_ctl(const char *verb, const char *sql)
{
    pid_t pid = fork();
    int status = 0;

    if (pid == 0) {
        if (sql != NULL)
            execl(ctl, ctl, verb, dir, "-c", sql, (char *)NULL);
        else
            execl(ctl, ctl, verb, dir, (char *)NULL);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs psql -At -c sql through pg-ctl.sh and gives what it printed in out (one value a line). */
static void psql_output(const char *sql, char *out, size_t outlen)
{
    int fds[2], status = 0;
    size_t len = 0;
    ssize_t n;

    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(ctl, ctl, "psql", dir, "-At", "-c", sql, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    while (len + 1 < outlen && (n = read(fds[0], out + len, outlen - len - 1)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(fds[0]);
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* A listening TCP socket on a free port of 127.0.0.1 (its port in *port), that accepts nothing
 * by itself: the kernel completes a client's handshake and queues it. */
static int listen_on_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;

    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

/*
 * The server stopped under an open store: a call fails (BUSY or ERROR, never OK) within the
 * bound; started again, the same store works again without being reopened.
 */
static void test_server_stopped_then_restarted_fails_within_the_bound_then_recovers(void **state)
{
    char database[1024];
    struct store_error err;
    int64_t since = 0;
    char reason[64];

    (void)state;
    database_of(database, sizeof database, "t1");
    struct store *s = store_open(database, BUSY_MS, &err);
    if (s == NULL)
        fail_msg("store_open: %s", err.text);
    assert_int_equal(store_account_suspend(s, "hal", 100, "test", NULL, &err), STORE_OK);

    assert_int_equal(pg_ctl("stop", NULL), 0);
    int64_t t0 = now_ms();
    enum store_status status =
        store_account_suspended(s, "hal", &since, reason, sizeof reason, &err);
    int64_t took = now_ms() - t0;
    assert_true(status == STORE_BUSY || status == STORE_ERROR);
    assert_true(took < BOUND_MS);
    assert_contains(err.text, "database");

    assert_int_equal(pg_ctl("start", NULL), 0);
    int64_t t1 = now_ms();
    assert_int_equal(store_account_suspended(s, "hal", &since, reason, sizeof reason, &err),
                     STORE_OK);
    /* Figures for tests/RELIABILITY.md, not asserted beyond the bound. */
    fprintf(stderr,
            "# figure: server stopped: the call failed after %" PRId64 " ms; "
            "started again: the next call worked after %" PRId64 " ms\n",
            took, now_ms() - t1);
    assert_int_equal(since, 100);
    store_close(s);
}

/* A server that accepts the connection and never answers (a listening socket nobody accepts on:
 * the kernel completes the handshake): store_open fails within the bound, and says why. */
static void test_server_that_never_answers_fails_within_the_bound(void **state)
{
    int port, fd = listen_on_loopback(&port);
    char database[256];
    struct store_error err;

    (void)state;
    snprintf(database, sizeof database,
             "host=127.0.0.1 port=%d dbname=ingress user=ingress password=s3cret "
             "sslmode=disable gssencmode=disable",
             port);
    int64_t t0 = now_ms();
    assert_null(store_open(database, BUSY_MS, &err));
    int64_t took = now_ms() - t0;
    fprintf(stderr,
            "# figure: a server that never answers: store_open failed after %" PRId64
            " ms (store_busy_timeout %d ms)\n",
            took, BUSY_MS);
    assert_true(took < BOUND_MS);
    assert_contains(err.text, "no answer");
    assert_null(strstr(err.text, "s3cret"));
    close(fd);
}

/* Appends a message of the PostgreSQL protocol (type, length, body) to out at *len. */
static void put_message(char *out, size_t *len, char type, const char *body, size_t body_len)
{
    uint32_t n = htonl((uint32_t)(body_len + 4));

    out[(*len)++] = type;
    memcpy(out + *len, &n, 4);
    memcpy(out + *len + 4, body, body_len);
    *len += 4 + body_len;
}

/*
 * A fake server on fd: reads the client's startup message and answers as a PostgreSQL 9.6 that
 * trusts it (AuthenticationOk, its parameters, ReadyForQuery), then waits for the client to go.
 * Enough of the protocol for libpq to finish connecting and report server_version 9.6.24.
 */
static void serve_as_postgresql_9_6(int listener)
{
    static const char params[] = "server_version\0009.6.24\0";
    static const char encoding[] = "client_encoding\0UTF8\0";
    static const char auth_ok[4] = {0, 0, 0, 0};
    static const char key[8] = {0, 0, 0, 1, 0, 0, 0, 2};
    char buf[4096], reply[256];
    size_t len = 0;
    int fd = accept(listener, NULL, NULL);

    if (fd < 0 || read(fd, buf, sizeof buf) <= 0)
        _exit(1);
    put_message(reply, &len, 'R', auth_ok, sizeof auth_ok);
    put_message(reply, &len, 'S', params, sizeof params - 1);
    put_message(reply, &len, 'S', encoding, sizeof encoding - 1);
    put_message(reply, &len, 'K', key, sizeof key);
    put_message(reply, &len, 'Z', "I", 1);
    if (write(fd, reply, len) != (ssize_t)len)
        _exit(1);
    while (read(fd, buf, sizeof buf) > 0)
        ;
    _exit(0);
}

/* A server older than the schema needs: store_open fails at once, naming its version and the
 * oldest one that works, never reaching the migrations. */
static void test_server_too_old_is_refused_naming_its_version(void **state)
{
    int port, fd = listen_on_loopback(&port);
    char database[256];
    struct store_error err;
    int status;

    (void)state;
    pid_t pid = fork();
    if (pid == 0)
        serve_as_postgresql_9_6(fd);
    close(fd);
    snprintf(database, sizeof database,
             "host=127.0.0.1 port=%d dbname=ingress user=ingress sslmode=disable "
             "gssencmode=disable",
             port);
    struct store *s = store_open(database, BUSY_MS, &err);
    store_close(s);
    waitpid(pid, &status, 0);
    assert_null(s);
    assert_contains(err.text, "PostgreSQL 9.6, too old");
    assert_contains(err.text, "11 or later");
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A database value libpq cannot parse: store_open says it cannot be parsed and why, without a
 * password or any other part of the value that is not a setting's name. */
static void test_malformed_uri_is_a_clear_error(void **state)
{
    static const struct {
        const char *value, *why;
    } cases[] = {
        {"postgresql://ingress:s3cret@[::1/ingress", "IPv6"},
        {"postgresql://ingress:s3cret@127.0.0.1/ingress?sslmode", "sslmode"},
        {"postgresql://ingress:s3cret@127.0.0.1/ingress?colour=red", "invalid URI query"},
        {"postgresql://ingress:s3%zzcret@127.0.0.1/ingress", "percent-encoded"},
        {"host=127.0.0.1 password='s3cret", "unterminated quoted string"},
    };
    struct store_error err;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_null(store_open(cases[i].value, BUSY_MS, &err));
        assert_contains(err.text, "cannot be parsed");
        assert_contains(err.text, cases[i].why);
        if (strstr(err.text, "s3") != NULL || strstr(err.text, "colour") != NULL)
            fail_msg("%s: shows a part of the value: %s", cases[i].value, err.text);
    }
}

static void test_wrong_password_is_a_clear_error_without_the_password(void **state)
{
    char database[1024];
    struct store_error err;
    const char *tcp = getenv("INGRESS_TEST_PG_TCP");
    const char *at = strchr(tcp + strlen("postgresql://"), '@');

    (void)state;
    /* postgresql://ingress:PASSWORD@... with another password */
    snprintf(database, sizeof database, "postgresql://ingress:wr0ng-s3cret%s", at);
    int64_t t0 = now_ms();
    assert_null(store_open(database, BUSY_MS, &err));
    fprintf(stderr, "# figure: a wrong password: store_open failed after %" PRId64 " ms\n",
            now_ms() - t0);
    assert_contains(err.text, "password authentication failed");
    assert_null(strstr(err.text, "wr0ng-s3cret"));
}

/* A schema with a table of ours made by someone else: the migration fails and says so. */
static void test_tables_of_another_application_are_named(void **state)
{
    char database[1024];
    struct store_error err;

    (void)state;
    assert_int_equal(pg_ctl("psql", "CREATE TABLE t2.decisions (x int);"), 0);
    database_of(database, sizeof database, "t2");
    assert_null(store_open(database, BUSY_MS, &err));
    assert_contains(err.text, "decisions");
    assert_contains(err.text, "not made by milter-ingress");
}

/*
 * Two processes opening one empty database at once: both open it, and each migration was
 * applied once (one row per version in milter_ingress_schema: a second apply would fail on the
 * tables the first made, or add a second row).
 */
static void test_two_processes_starting_at_once_migrate_once(void **state)
{
    char database[1024], sql[256];
    pid_t pids[2];
    int status;

    (void)state;
    database_of(database, sizeof database, "t3");
    int64_t t0 = now_ms();
    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            struct store_error err;
            struct store *s = store_open(database, 5000, &err);
            if (s == NULL)
                fprintf(stderr, "child %d: %s\n", i, err.text);
            store_close(s);
            _exit(s != NULL ? 0 : 1);
        }
    }
    for (int i = 0; i < 2; i++) {
        waitpid(pids[i], &status, 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    fprintf(stderr, "# figure: two processes migrating at once: both open after %" PRId64 " ms\n",
            now_ms() - t0);
    snprintf(sql, sizeof sql,
             "DO $$ BEGIN IF (SELECT count(*) <> count(DISTINCT version) OR "
             "count(*) <> %d FROM t3.milter_ingress_schema) THEN RAISE EXCEPTION 'twice'; "
             "END IF; END $$;",
             store_schema_version());
    assert_int_equal(pg_ctl("psql", sql), 0);
}

static struct store *open_schema(const char *schema)
{
    char database[1024];
    struct store_error err;

    database_of(database, sizeof database, schema);
    struct store *s = store_open(database, 5000, &err);
    if (s == NULL)
        fail_msg("store_open: %s", err.text);
    return s;
}

/*
 * The schema as the migrations before the first whose name contains before made it (as the
 * milter's role, in schema), then the statements rows: a database of an older version with rows.
 */
static void make_older_schema(const char *schema, const char *before, const char *rows)
{
    size_t upto = 0, len = 0, cap = 1 << 20;
    char *sql = xmalloc(cap);

    while (upto < store_migration_count_postgresql &&
           strstr(store_migrations_postgresql[upto].name, before) == NULL)
        upto++;
    assert_true(upto < store_migration_count_postgresql);
    len += (size_t)snprintf(sql + len, cap - len,
                            "SET ROLE ingress; SET search_path TO %s; CREATE TABLE "
                            "milter_ingress_schema (version INTEGER NOT NULL);\n",
                            schema);
    for (size_t i = 0; i < upto; i++)
        len += (size_t)snprintf(
            sql + len, cap - len, "%s\nINSERT INTO milter_ingress_schema VALUES (%d);\n",
            store_migrations_postgresql[i].sql, store_migrations_postgresql[i].version);
    snprintf(sql + len, cap - len, "%s", rows);
    assert_true(len < cap - 1024);
    assert_int_equal(pg_ctl("psql", sql), 0);
    free(sql);
}

/*
 * Migration 017 on a database of older rows (the migrations before it applied as the milter's
 * role, rows in the partitioned table): the header From a DMARC decision's detail or the
 * submission check's named is copied into the column, and `why` finds the row by it; a detail of
 * another form leaves it empty.
 */
static void test_migration_017_backfills_header_from_from_the_detail(void **state)
{
    char out[256], rows[1024];

    (void)state;
    snprintf(rows, sizeof rows, "%s;", older_decisions_sql);
    make_older_schema("t17", "_header_from", rows);

    struct store *s = open_schema("t17");
    psql_output("SELECT ref || '=' || coalesce(header_from, '') FROM t17.decisions ORDER BY time",
                out, sizeof out);
    assert_string_equal(out, "DMARC001=alerts@bank.example\nDMARC002=ceo@bank.example\n"
                             "SUBMIT01=boss@corp.example\nOTHER001=\n");
    assert_int_equal(search_refs(s, "Alerts@bank.example", 0, 0, 10, NULL), 1);
    store_close(s);
}

/*
 * Migration 018 on a database of version 17 with rows, in a day's partition and in the default
 * one: the indexes of the searched columns are made again with the time, and a search finds the
 * same rows by an address in any case, a client IP and a domain.
 */
static void test_migration_018_keeps_answering_on_rows_of_017(void **state)
{
    char out[512];

    (void)state;
    /* 1728000000 is the start of a day (2024-10-04 UTC). */
    make_older_schema(
        "t18", "_key_time",
        "SELECT decisions_add_day(1728000000); "
        "INSERT INTO decisions (time, ref, client_ip, sender, recipient, account, header_from, "
        "check_name, action) VALUES "
        "(10, 'OLD00001', '192.0.2.7', 'Dana@Example.ORG', 'x@example.test', NULL, NULL, "
        "'iprev', 'reject'), "
        "(1728000100, 'DAY00001', '192.0.2.7', 'a@b.example', 'dana@example.org', NULL, NULL, "
        "'spf', 'reject'), "
        "(1728000200, 'DAY00002', '192.0.2.8', 'c@d.example', 'e@f.example', 'DANA@example.org', "
        "'dana@example.org', 'policy', 'accept');");

    struct store *s = open_schema("t18");
    psql_output("SELECT indexname FROM pg_indexes WHERE schemaname = 't18' AND tablename = "
                "'decisions' AND indexdef LIKE '%, \"time\", id)' ORDER BY indexname",
                out, sizeof out);
    assert_string_equal(out, "decisions_account\ndecisions_client_ip_time\ndecisions_header_from\n"
                             "decisions_recipient\ndecisions_recipient_domain\n"
                             "decisions_sender\ndecisions_sender_domain\n");
    search_refs_text(s, "<dana@EXAMPLE.org>", out, sizeof out);
    assert_string_equal(out, "DAY00002\nDAY00001\nOLD00001\n");
    search_refs_text(s, "192.0.2.7", out, sizeof out);
    assert_string_equal(out, "DAY00001\nOLD00001\n");
    search_refs_text(s, "@Example.org", out, sizeof out);
    assert_string_equal(out, "DAY00001\nOLD00001\n");
    store_close(s);
}

/*
 * Migrations are not bound by store_busy_timeout: 018 on a store of version 17 needs the decision
 * log's table to itself (it rebuilds its indexes), and another session holds it for 3 s, three
 * times the store's 1 s.  The start waits and migrates (with the busy timeout as the bound, a
 * million decisions' 7 s made every start of the new version fail), and afterwards the session's
 * statements are bound by the busy timeout again.
 */
static void ignore_decision(const struct decision *d, void *arg)
{
    (void)d;
    (void)arg;
}

/* A process that holds t19.decisions in mode ("SHARE", "ACCESS EXCLUSIVE") for 3 s, once it has
 * it (lock, the name pg_locks gives that mode); its exit status is 0 when psql succeeded. */
static pid_t hold_decisions(const char *mode, const char *lock)
{
    char sql[256], query[512], out[16] = "";
    pid_t holder;

    snprintf(sql, sizeof sql,
             "BEGIN; LOCK TABLE t19.decisions IN %s MODE; SELECT pg_sleep(3); COMMIT;", mode);
    holder = fork();
    if (holder == 0)
        _exit(pg_ctl("psql", sql) == 0 ? 0 : 1);
    snprintf(query, sizeof query,
             "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN "
             "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 't19' AND c.relname = "
             "'decisions' AND l.mode = '%s' AND l.granted",
             lock);
    for (int i = 0; i < 200 && strcmp(out, "1\n") != 0; i++) {
        psql_output(query, out, sizeof out);
        if (strcmp(out, "1\n") != 0)
            usleep(50 * 1000);
    }
    assert_string_equal(out, "1\n");
    return holder;
}

static void test_migration_longer_than_the_busy_timeout_completes(void **state)
{
    char database[1024], out[64];
    struct store_error err;
    int status;

    (void)state;
    make_older_schema("t19", "_key_time", "");
    pid_t holder = hold_decisions("SHARE", "ShareLock");
    database_of(database, sizeof database, "t19");
    int64_t t0 = now_ms();
    struct store *s = store_open(database, 1000, &err);
    if (s == NULL)
        fail_msg("store_open: %s", err.text);
    assert_true(now_ms() - t0 >= 1500);
    waitpid(holder, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    psql_output("SELECT max(version) FROM t19.milter_ingress_schema", out, sizeof out);
    assert_int_equal(atoi(out), store_schema_version());
    /* The connection that migrated is back to the busy timeout: a read that waits for a table
     * held for 3 s is cut by the server's timeout after 1 s. */
    holder = hold_decisions("ACCESS EXCLUSIVE", "AccessExclusiveLock");
    assert_int_not_equal(store_decision_find(s, "NOBODY01", 1, ignore_decision, NULL, &err),
                         STORE_OK);
    /* The server's own timeout (the session's again), not the client's deadline a second
     * later (which would mean the session kept the migrations' timeouts). */
    if (strstr(err.text, "canceling statement due to") == NULL)
        fail_msg("not the server's timeout: %s", err.text);
    waitpid(holder, &status, 0);
    store_close(s);
}

/*
 * Two milters on one database (two stores: two sessions, as two hosts have): the maintenance
 * turn is held by the first that asks and by no other while it lives, so only its rounds expire;
 * when its store closes (its session ends), the other takes the turn at its next round.
 */
static void test_maintenance_runs_on_one_host_at_a_time_and_passes_on(void **state)
{
    struct store *s1 = open_schema("t4"), *s2 = open_schema("t4");
    struct config *cfg = config_new_defaults();
    struct maintenance m1 = {0}, m2 = {0};
    bool held = false;
    int64_t now = 100 * 86400;

    (void)state;
    assert_int_equal(store_maintenance_lock(s1, &held, NULL), STORE_OK);
    assert_true(held);
    assert_int_equal(store_maintenance_lock(s2, &held, NULL), STORE_OK);
    assert_false(held);
    assert_int_equal(store_maintenance_lock(s1, &held, NULL), STORE_OK);
    assert_true(held); /* still, and still only there */
    assert_int_equal(store_maintenance_lock(s2, &held, NULL), STORE_OK);
    assert_false(held);
    /* The turn is a lock of its own: the decision log's day partitions (decisions_add_day's
     * advisory lock) are still made by every host while one holds it. */
    assert_int_equal(pg_ctl("psql", "DO $$ BEGIN IF NOT pg_try_advisory_xact_lock("
                                    "7306916016250863619) THEN RAISE EXCEPTION 'taken'; END IF; "
                                    "END $$;"),
                     0);

    add_series(s1, 3, 1000, "OLDTURN1");
    assert_false(maintenance_round(&m2, s2, cfg, now, NULL, NULL));
    assert_int_equal(find_count(s2, "OLDTURN1", 100, NULL), 3);
    assert_true(maintenance_round(&m1, s1, cfg, now, NULL, NULL));
    assert_int_equal(find_count(s2, "OLDTURN1", 100, NULL), 0);

    /* The server lets the lock go when the closed session's process ends, a moment after. */
    store_close(s1);
    bool ran = false;
    for (int i = 0; i < 50 && !ran; i++) {
        ran = maintenance_round(&m2, s2, cfg, now, NULL, NULL);
        if (!ran)
            usleep(100 * 1000);
    }
    assert_true(ran);

    /* A restart of the server ends every session, the turn's too: the first to ask afterwards
     * holds it, and the former holder, on a new session, knows it no longer does. */
    struct store *s3 = open_schema("t4");
    assert_int_equal(pg_ctl("stop", NULL), 0);
    assert_int_equal(pg_ctl("start", NULL), 0);
    for (int i = 0; i < 50 && store_maintenance_lock(s3, &held, NULL) != STORE_OK; i++)
        usleep(100 * 1000);
    assert_true(held);
    /* s2's connection of before the restart is found gone at its first call, which may fail. */
    enum store_status st = STORE_BUSY;
    for (int i = 0; i < 50 && (st = store_maintenance_lock(s2, &held, NULL)) != STORE_OK; i++)
        usleep(100 * 1000);
    assert_int_equal(st, STORE_OK);
    assert_false(held);
    store_close(s3);
    store_close(s2);
    config_free(cfg);
}

/* Each thread of the pool test: one write transaction, which waits for the store's write lock. */
struct pool_call {
    struct store *s;
    char name[32];
    enum store_status status;
    char why[STORE_ERROR_MAX];
};

static void *pool_call_main(void *arg)
{
    struct pool_call *call = arg;
    struct store_error err = {0};

    call->status = store_account_suspend(call->s, call->name, 100, "pool", NULL, &err);
    snprintf(call->why, sizeof call->why, "%s", err.text);
    return NULL;
}

/*
 * The pool follows the milter's threads: with another session holding the store's write lock,
 * POOL_THREADS threads (more than the 16 connections the pool once had) each wait in a write
 * transaction on a connection of their own: the server shows that many of the milter's sessions
 * waiting on the lock at once.  Once the lock is let go every call succeeds.
 */
#define POOL_THREADS 24
static void test_pool_grows_with_the_threads_in_store_calls(void **state)
{
    char database[1024], sql[512];
    struct store_error err;
    struct pool_call calls[POOL_THREADS];
    pthread_t threads[POOL_THREADS];
    bool all_waiting = false;

    (void)state;
    database_of(database, sizeof database, "t4");
    struct store *s = store_open(database, 15000, &err);
    if (s == NULL)
        fail_msg("store_open: %s", err.text);
    /* The write lock (lib/store/pg.c PG_LOCK_WRITE), held by a psql session for 6 s. */
    pid_t holder = fork();
    if (holder == 0) {
        execl(ctl, ctl, "psql", dir, "-c",
              "SELECT pg_advisory_lock(7306916016250863618), pg_sleep(6)", (char *)NULL);
        _exit(127);
    }
    /* The holder has the lock before the threads start. */
    for (int i = 0; i < 100 && pg_ctl("psql", "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_locks "
                                              "WHERE locktype = 'advisory' AND granted) THEN "
                                              "RAISE EXCEPTION 'not yet'; END IF; END $$;") != 0;
         i++)
        usleep(50 * 1000);
    for (int i = 0; i < POOL_THREADS; i++) {
        calls[i] = (struct pool_call){.s = s};
        snprintf(calls[i].name, sizeof calls[i].name, "pool%d", i);
        assert_int_equal(pthread_create(&threads[i], NULL, pool_call_main, &calls[i]), 0);
    }
    snprintf(sql, sizeof sql,
             "DO $$ BEGIN IF (SELECT count(*) FROM pg_stat_activity WHERE application_name = "
             "'milter-ingress' AND wait_event_type = 'Lock') <> %d THEN RAISE EXCEPTION "
             "'not all waiting'; END IF; END $$;",
             POOL_THREADS);
    for (int i = 0; i < 60 && !all_waiting; i++) {
        all_waiting = pg_ctl("psql", sql) == 0;
        if (!all_waiting)
            usleep(50 * 1000);
    }
    for (int i = 0; i < POOL_THREADS; i++)
        pthread_join(threads[i], NULL);
    int status;
    waitpid(holder, &status, 0);
    assert_true(all_waiting);
    for (int i = 0; i < POOL_THREADS; i++)
        if (calls[i].status != STORE_OK)
            fail_msg("%s: %s", calls[i].name, calls[i].why);
    store_close(s);
}

/* The partitions of schema's decision log, by name, one a line, from the catalog. */
static void partitions_of(const char *schema, char *out, size_t outlen)
{
    char sql[512];

    snprintf(sql, sizeof sql,
             "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
             "WHERE i.inhparent = '%s.decisions'::regclass ORDER BY 1",
             schema);
    psql_output(sql, out, outlen);
}

/* decisions_YYYYMMDD of the day that starts at day (unix seconds). */
static void partition_name(int64_t day, char *out, size_t outlen)
{
    struct tm tm;
    time_t t = (time_t)day;

    gmtime_r(&t, &tm);
    snprintf(out, outlen, "decisions_%04d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

static void assert_partition(const char *list, int64_t day, bool present)
{
    char name[64];

    partition_name(day, name, sizeof name);
    if ((strstr(list, name) != NULL) != present)
        fail_msg("partition %s is %s: %s", name, present ? "missing" : "still there", list);
}

/*
 * Expiry drops the partitions of whole days before the bound, keeps the day the bound falls in
 * (today's), and deletes row by row only what the default partition holds; the store makes the
 * coming days' partitions when it opens.  The old days' partitions are made as the writer or
 * `store copy` would make them (decisions_add_day), and their rows go in through the store.
 */
static void test_decision_expiry_drops_whole_old_days_and_keeps_today(void **state)
{
    char database[1024], list[4096], sql[256];
    int64_t today = (int64_t)time(NULL) / 86400 * 86400, day = 86400;
    const int64_t old_days[] = {today - 40 * day, today - 39 * day, today - day};
    struct store_error err;
    size_t deleted = 0;

    (void)state;
    database_of(database, sizeof database, "t4");
    struct store *s = store_open(database, BUSY_MS, &err);
    if (s == NULL)
        fail_msg("store_open: %s", err.text);
    partitions_of("t4", list, sizeof list);
    for (int64_t d = today; d <= today + 2 * day; d += day)
        assert_partition(list, d, true);
    for (size_t i = 0; i < sizeof old_days / sizeof old_days[0]; i++) {
        snprintf(sql, sizeof sql, "SET search_path = t4; SELECT decisions_add_day(%" PRId64 ");",
                 old_days[i]);
        assert_int_equal(pg_ctl("psql", sql), 0);
        add_ok(s, sample(old_days[i] + 10, "Q", "OLD", "192.0.2.1", "a@example.org", "b@x"));
        add_ok(s, sample(old_days[i] + day - 1, "Q", "OLD", "192.0.2.1", "a@example.org", "b@x"));
    }
    add_ok(s, sample(today + 5, "Q", "TODAY", "192.0.2.1", "a@example.org", "b@x"));
    add_ok(s, sample(1000, "Q", "DEFAULT", "192.0.2.1", "a@example.org", "b@x"));
    assert_int_equal(find_count(s, "OLD", 100, NULL), 6);

    /* Thirty days back: the days 40 and 39 days old go whole; of the rest only the one row of the
     * default partition is deleted, and counted. */
    assert_int_equal(store_decision_expire(s, today - 30 * day + 3600, 100, &deleted, &err),
                     STORE_OK);
    assert_int_equal(deleted, 1);
    partitions_of("t4", list, sizeof list);
    assert_partition(list, old_days[0], false);
    assert_partition(list, old_days[1], false);
    assert_partition(list, old_days[2], true);
    assert_int_equal(find_count(s, "OLD", 100, NULL), 2);
    assert_int_equal(find_count(s, "DEFAULT", 100, NULL), 0);

    /* Up to now: yesterday goes whole, today's partition and its row stay (the bound falls in
     * today), and so do the coming days'. */
    assert_int_equal(store_decision_expire(s, today + 60, 100, &deleted, &err), STORE_OK);
    partitions_of("t4", list, sizeof list);
    assert_partition(list, old_days[2], false);
    for (int64_t d = today; d <= today + 2 * day; d += day)
        assert_partition(list, d, true);
    assert_int_equal(find_count(s, "OLD", 100, NULL), 0);
    assert_int_equal(find_count(s, "TODAY", 100, NULL), 1);
    store_close(s);
}

/* The greylist check of a second host, run from inside the first one's decide. */
struct racing_check {
    struct store *other; /* the second host's store */
    int calls;
};

/* Counts a pass on the row: one more than found, or 1 when new. */
static void count_pass(struct store_greylist_txn *t, void *arg)
{
    (void)arg;
    t->rows[0].write = true;
    t->rows[0].count = t->rows[0].found ? t->rows[0].count + 1 : 1;
    t->rows[0].first_seen = t->rows[0].found ? t->rows[0].first_seen : 100;
    t->rows[0].last_seen = 200;
}

/* The first time: the other host counts 100 passes of the same triplet, and commits, after this
 * host read it as new and before it writes. */
static void count_pass_while_another_host_writes(struct store_greylist_txn *t, void *arg)
{
    struct racing_check *r = arg;

    if (r->calls++ == 0) {
        struct store_greylist_txn other = {.sender = t->sender, .recipient = t->recipient};
        other.rows[0].source = t->rows[0].source;
        for (int i = 0; i < 100; i++)
            assert_int_equal(store_greylist_update(r->other, &other, count_pass, NULL, NULL),
                             STORE_OK);
    }
    count_pass(t, NULL);
}

/*
 * Two hosts on one database, one check each on the same triplet: the second commits between the
 * first's read and its write.  The first's write must not overwrite what it never saw: it fails
 * as stale and is done again (decide runs twice), so the row counts every pass, 101.
 */
static void test_greylist_write_over_a_row_changed_since_the_read_is_done_again(void **state)
{
    char database[1024];
    struct store_error err;
    struct racing_check r = {0};
    struct store_greylist_txn t = {.sender = "a@example.org", .recipient = "b@example.net"};
    struct store_greylist_txn read = t;

    (void)state;
    database_of(database, sizeof database, "t5");
    struct store *s = store_open(database, BUSY_MS, &err);
    if (s == NULL)
        fail_msg("store_open: %s", err.text);
    r.other = store_open(database, BUSY_MS, &err);
    assert_non_null(r.other);
    t.rows[0].source = "192.0.2.0/24";
    assert_int_equal(store_greylist_update(s, &t, count_pass_while_another_host_writes, &r, &err),
                     STORE_OK);
    assert_int_equal(r.calls, 2);
    read.rows[0].source = "192.0.2.0/24";
    assert_int_equal(store_greylist_update(s, &read, count_pass, NULL, &err), STORE_OK);
    assert_int_equal(read.rows[0].count, 102); /* 101 found, and this pass */
    store_close(r.other);
    store_close(s);
}

/*
 * The decision writer's batches do not wait for the store's write lock (another host's greylist
 * write holding it): a psql session holds that advisory lock past the busy timeout, and the flush
 * of a queued decision still commits within it.
 */
static void test_decision_batches_do_not_wait_for_the_write_lock(void **state)
{
    char database[1024], out[64];
    struct store_error err;
    pid_t holder;
    int status;

    (void)state;
    database_of(database, sizeof database, "t6");
    struct store *s = store_open(database, BUSY_MS, &err);
    if (s == NULL)
        fail_msg("store_open: %s", err.text);
    assert_int_equal(store_decision_writer_start(s, 60000, 256, 4096, &err), STORE_OK);
    holder = fork();
    if (holder == 0) {
        execl(ctl, ctl, "psql", dir, "-c",
              "SELECT pg_advisory_lock(7306916016250863618), pg_sleep(4)", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        psql_output("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted", out,
                    sizeof out);
        if (atoi(out) > 0)
            break;
    }
    assert_true(atoi(out) > 0);
    add_ok(s, sample(1000, "Q", "LOCKED", "192.0.2.1", "a@example.org", "b@x"));
    assert_int_equal(store_decision_flush(s, &err), STORE_OK);
    assert_int_equal(find_count(s, "LOCKED", 10, NULL), 1);
    waitpid(holder, &status, 0);
    store_close(s);
}

/*
 * A queue deeper than a batch goes to the server in one batch of every waiting row, not in
 * batches of the batch size: the writer's inserts fail (INSERT revoked from the role) while 40
 * rows queue behind a batch size of 4, and once they work again one flush writes all 40 in one
 * statement.  Its rows keep their text byte for byte (quotes, backslashes, braces and commas are
 * what an array literal escapes) and their NULLs.
 */
static void test_deep_queue_is_written_in_one_batch(void **state)
{
    static const char odd[] = "say \"no\" {a,b} C:\\dir\\ NULL";
    char database[1024];
    struct store_error err;
    struct store_decision_counts n;
    struct rows rows = {0};

    (void)state;
    database_of(database, sizeof database, "t7");
    struct store *s = store_open(database, BUSY_MS, &err);
    if (s == NULL)
        fail_msg("store_open: %s", err.text);
    assert_int_equal(store_decision_writer_start(s, 60000, 4, 64, &err), STORE_OK);
    assert_int_equal(pg_ctl("psql", "REVOKE INSERT ON t7.decisions FROM ingress"), 0);
    add_series(s, 39, 1000, "DEEPQ");
    struct decision d = sample(2000, "Q", "DEEPQ", "192.0.2.1", odd, NULL);
    d.detail = odd;
    add_ok(s, d);
    assert_int_equal(pg_ctl("psql", "GRANT INSERT ON t7.decisions TO ingress"), 0);
    assert_int_equal(store_decision_flush(s, &err), STORE_OK);
    store_decision_counts(s, &n);
    assert_int_equal(n.written, 40);
    assert_int_equal(n.batches, 1);
    assert_int_equal(n.largest, 40);
    assert_int_equal(store_decision_find(s, odd, 10, collect, &rows, &err), STORE_OK);
    assert_int_equal(rows.total, 1);
    assert_string_equal(rows.r[0].field[F_SENDER], odd);
    assert_string_equal(rows.r[0].field[F_DETAIL], odd);
    assert_null(rows.r[0].field[F_RCPT]);
    assert_null(rows.r[0].field[F_ACCOUNT]);
    rows_free(&rows);
    store_close(s);
}

/*
 * A batch the server answers "INSERT 0 n" for and then fails to commit is not written: the
 * writer's batch is one statement in a transaction of its own, which the server commits only at
 * the end of the exchange (the protocol's Sync), after it has sent the statement's result; a
 * failure there (a deferred check, the server stopping, a timeout) comes as a second result.  A
 * deferred constraint trigger on the table that holds the rows refuses every commit: the flush
 * fails, nothing is counted written and every row stays queued; once the trigger is gone the
 * next flush writes them all.
 */
static void test_batch_whose_commit_fails_stays_queued(void **state)
{
    char database[1024];
    struct store_error err;
    struct store_decision_counts n;

    (void)state;
    database_of(database, sizeof database, "t8");
    struct store *s = store_open(database, BUSY_MS, &err);
    if (s == NULL)
        fail_msg("store_open: %s", err.text);
    assert_int_equal(store_decision_writer_start(s, 60000, 4, 64, &err), STORE_OK);
    assert_int_equal(pg_ctl("psql",
                            "CREATE FUNCTION t8.refuse() RETURNS trigger LANGUAGE plpgsql AS "
                            "$$BEGIN RAISE EXCEPTION 'refused at commit'; END$$; "
                            "CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON "
                            "t8.decisions_other DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                            "EXECUTE FUNCTION t8.refuse()"),
                     0);
    add_series(s, 10, 1000, "ATCOMMIT");
    assert_int_not_equal(store_decision_flush(s, &err), STORE_OK);
    assert_contains(err.text, "refused at commit");
    store_decision_counts(s, &n);
    assert_int_equal(n.written, 0);
    assert_int_equal(n.waiting, 10);
    assert_int_equal(find_count(s, "ATCOMMIT", 100, NULL), 0);

    assert_int_equal(pg_ctl("psql", "DROP TRIGGER refuse_at_commit ON t8.decisions_other"), 0);
    assert_int_equal(store_decision_flush(s, &err), STORE_OK);
    store_decision_counts(s, &n);
    assert_int_equal(n.written, 10);
    assert_int_equal(n.waiting, 0);
    assert_int_equal(find_count(s, "ATCOMMIT", 100, NULL), 10);
    store_close(s);
}

/*
 * A store on schema with a writer of batch size 2, and 8 rows (ref SLOWROWS) queued while INSERT
 * is revoked (failures that are quick: the batch keeps its size); then INSERT is granted again
 * and every row costs the server 0.3 s (a trigger that sleeps), so the 8 rows in one batch always
 * hit the 1 s statement timeout.
 */
static struct store *store_with_slow_rows(const char *schema)
{
    char database[1024], sql[512];
    struct store_error err;

    database_of(database, sizeof database, schema);
    struct store *s = store_open(database, BUSY_MS, &err);
    if (s == NULL)
        fail_msg("store_open: %s", err.text);
    assert_int_equal(store_decision_writer_start(s, 60000, 2, 64, &err), STORE_OK);
    snprintf(sql, sizeof sql, "REVOKE INSERT ON %s.decisions FROM ingress", schema);
    assert_int_equal(pg_ctl("psql", sql), 0);
    add_series(s, 8, 1000, "SLOWROWS");
    snprintf(sql, sizeof sql,
             "GRANT INSERT ON %s.decisions TO ingress; CREATE FUNCTION %s.slow() RETURNS trigger "
             "LANGUAGE plpgsql AS $$BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END$$; CREATE TRIGGER "
             "slow BEFORE INSERT ON %s.decisions_other FOR EACH ROW EXECUTE FUNCTION %s.slow()",
             schema, schema, schema, schema);
    assert_int_equal(pg_ctl("psql", sql), 0);
    return s;
}

/*
 * A batch too big to be written within the busy timeout is split, not retried whole for ever:
 * after the 8 rows' batch times out, the next take 4 rows (1.2 s: too slow again), then 2 (0.6 s),
 * which are written: every row is in the table within a few flushes.
 */
static void test_batch_that_times_out_is_split(void **state)
{
    struct store_error err;
    struct store_decision_counts n;
    enum store_status status = STORE_ERROR;

    (void)state;
    struct store *s = store_with_slow_rows("t9");
    for (int i = 0; i < 6 && status != STORE_OK; i++)
        status = store_decision_flush(s, &err);
    assert_int_equal(status, STORE_OK);
    store_decision_counts(s, &n);
    assert_int_equal(n.written, 8);
    assert_true(n.largest <= 2);
    assert_int_equal(pg_ctl("psql", "DROP TRIGGER slow ON t9.decisions_other"), 0);
    assert_int_equal(find_count(s, "SLOWROWS", 100, NULL), 8);
    store_close(s);
}

/* The same at close: the queue that times out whole is written in smaller batches by
 * store_close, not counted lost at the first timeout. */
static void test_batch_that_times_out_at_close_is_split(void **state)
{
    char out[64];

    (void)state;
    store_close(store_with_slow_rows("t11"));
    psql_output("SELECT count(*) FROM t11.decisions WHERE ref = 'SLOWROWS'", out, sizeof out);
    assert_string_equal(out, "8\n");
}

/*
 * A day whose rows are already in the default partition (written while it had none) still gets
 * its partition, and the rows move into it: two rows 10 days ahead (beyond the days made ahead)
 * and one of another day, then decisions_add_day() of that day, as the writer calls it.
 */
static void test_add_day_moves_the_default_partitions_rows_of_that_day(void **state)
{
    char database[1024], sql[512], out[64];
    int64_t day = ((int64_t)time(NULL) / 86400 + 10) * 86400;
    struct store_error err;

    (void)state;
    database_of(database, sizeof database, "t10");
    struct store *s = store_open(database, BUSY_MS, &err);
    if (s == NULL)
        fail_msg("store_open: %s", err.text);
    add_ok(s, sample(day + 10, "Q", "EARLY", "192.0.2.1", "a@example.org", "b@x"));
    add_ok(s, sample(day + 86399, "Q", "EARLY", "192.0.2.1", "a@example.org", "b@x"));
    add_ok(s, sample(day + 86400, "Q", "LATER", "192.0.2.1", "a@example.org", "b@x"));
    snprintf(sql, sizeof sql, "SET search_path = t10; SELECT decisions_add_day(%" PRId64 ");", day);
    assert_int_equal(pg_ctl("psql", sql), 0);
    /* The partition's name is its day's date. */
    char name[32];
    time_t t = (time_t)day;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(name, sizeof name, "%Y%m%d", &tm);
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM t10.decisions_other)::text || ' ' || "
             "(SELECT count(*) FROM t10.decisions_%s WHERE ref = 'EARLY')::text",
             name);
    psql_output(sql, out, sizeof out);
    assert_string_equal(out, "1 2\n");
    assert_int_equal(find_count(s, "EARLY", 10, NULL), 2);
    /* New rows of that day go to it. */
    add_ok(s, sample(day + 20, "Q", "EARLY", "192.0.2.1", "a@example.org", "b@x"));
    assert_int_equal(find_count(s, "EARLY", 10, NULL), 3);
    store_close(s);
}

/*
 * A row the server itself refuses for its content, in the writer's one-statement batch: a CHECK
 * constraint (SQLSTATE 23514) refuses the row whose HELO is "poison".  The batch is split down to
 * that row, the other rows are written, it alone is dropped and counted, and the queue is empty:
 * nothing is retried forever.  (A byte that is not UTF-8, SQLSTATE 22021, never gets this far:
 * store_decision_add() replaces it; the hardening test pg-poison sends those.)
 */
static void test_row_the_server_refuses_is_dropped_alone(void **state)
{
    char database[1024];
    struct store_error err;

    (void)state;
    database_of(database, sizeof database, "t12");
    struct store *s = store_open(database, BUSY_MS, &err);
    if (s == NULL)
        fail_msg("store_open: %s", err.text);
    assert_int_equal(pg_ctl("psql", "ALTER TABLE t12.decisions ADD CONSTRAINT no_poison "
                                    "CHECK (helo IS DISTINCT FROM 'poison')"),
                     0);
    assert_int_equal(store_decision_writer_start(s, 60000, 4, 64, &err), STORE_OK);
    add_series(s, 5, 1000, "GOODROW");
    struct decision d = sample(1500, "4Y2xP", "POISONED", "192.0.2.66", "p@example.org", "q@x");
    d.helo = "poison";
    add_ok(s, d);
    add_series(s, 6, 2000, "GOODROW");
    assert_flushed(s, 11, 1);
    assert_int_equal(find_count(s, "GOODROW", 100, NULL), 11);
    assert_int_equal(find_count(s, "POISONED", 100, NULL), 0);
    store_close(s);
}

int main(void)
{
    ctl = getenv("INGRESS_TEST_PG_CTL");
    setenv("PG_CTL_DBNAME", "ingress", 1); /* pg_ctl("psql", ...) on the milter's database */
    dir = getenv("INGRESS_TEST_PG_DIR");
    if (ctl == NULL || dir == NULL || getenv("INGRESS_TEST_DATABASE") == NULL ||
        getenv("INGRESS_TEST_PG_TCP") == NULL) {
        fprintf(stderr, "test_store_postgresql: run it under tests/pg/with-pg.sh\n");
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_stopped_then_restarted_fails_within_the_bound_then_recovers),
        cmocka_unit_test(test_server_that_never_answers_fails_within_the_bound),
        cmocka_unit_test(test_server_too_old_is_refused_naming_its_version),
        cmocka_unit_test(test_malformed_uri_is_a_clear_error),
        cmocka_unit_test(test_wrong_password_is_a_clear_error_without_the_password),
        cmocka_unit_test(test_tables_of_another_application_are_named),
        cmocka_unit_test(test_two_processes_starting_at_once_migrate_once),
        cmocka_unit_test(test_maintenance_runs_on_one_host_at_a_time_and_passes_on),
        cmocka_unit_test(test_pool_grows_with_the_threads_in_store_calls),
        cmocka_unit_test(test_decision_expiry_drops_whole_old_days_and_keeps_today),
        cmocka_unit_test(test_greylist_write_over_a_row_changed_since_the_read_is_done_again),
        cmocka_unit_test(test_decision_batches_do_not_wait_for_the_write_lock),
        cmocka_unit_test(test_deep_queue_is_written_in_one_batch),
        cmocka_unit_test(test_batch_whose_commit_fails_stays_queued),
        cmocka_unit_test(test_batch_that_times_out_is_split),
        cmocka_unit_test(test_batch_that_times_out_at_close_is_split),
        cmocka_unit_test(test_add_day_moves_the_default_partitions_rows_of_that_day),
        cmocka_unit_test(test_migration_017_backfills_header_from_from_the_detail),
        cmocka_unit_test(test_migration_018_keeps_answering_on_rows_of_017),
        cmocka_unit_test(test_migration_longer_than_the_busy_timeout_completes),
        cmocka_unit_test(test_row_the_server_refuses_is_dropped_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
