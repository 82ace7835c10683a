/*
 * greylist_bench: how fast greylist_check() is on a large database (a figure, not a test).
 *
 *   greylist_bench [-r ROWS] [-n OPS] [-p HIT_PERCENT] [-u RECENT_PERCENT] [-t THREADS]
 *                  [-a AUTOALLOW] [-d DIR] [-k] [-D DATABASE [-N] [-o FIRST] [-E]]
 *
 * Fills a fresh database in DIR (default: a new folder under $TMPDIR or /tmp) with ROWS
 * triplets (default 1,000,000; 90% confirmed, 10% pending, over 65,536 /24 networks) in one
 * transaction, then runs OPS check+update operations (default 200,000) through the real path:
 * greylist_key_make() on raw SMTP arguments, then greylist_check() in one store transaction.
 * HIT_PERCENT (default 80) of them are messages of confirmed triplets picked at random (a pass,
 * which writes last_seen and the count when the recorded last use is GREYLIST_REFRESH_AFTER old),
 * the rest are new triplets (a first sight, which inserts).  RECENT_PERCENT (default 0) of the
 * confirmed rows were last used a minute before the run (a triplet in steady use: its pass is a
 * read only); the others 1 to 30 days before (each first pass writes).  THREADS (default 1) share
 * the one store, as the milter's callbacks do. -a sets autoallow_after (default: the option's
 * default; 0 leaves the autoallow table alone). Then times 20 expiry steps (greylist_expire,
 * default batch) with every row due. Prints operations per second, p50/p99/p99.9 latency and the
 * database size; -k keeps the folder.
 *
 * -D DATABASE runs the same on that PostgreSQL database instead (a conninfo, as the option
 * `database` takes it): its greylist table is emptied and filled with COPY.  For several
 * processes on one database at once (several milters of a fleet): -N leaves the rows the first
 * one filled, -o FIRST numbers this process's operations from FIRST (its new triplets and its
 * random picks differ from the others'), -E skips the expiry steps (which would delete the rows
 * the others are using).
 */
#include <errno.h>
#include <libpq-fe.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "greylist.h"
#include "store.h"
#include "util.h"

#define NOW INT64_C(1700000000)
#define NETWORKS 65536

struct bench {
    struct store *s;
    const struct config *cfg;
    long rows, ops, first, hit_percent, recent_percent;
    int threads;
    double *latency_us; /* one per operation */
    long failures;      /* store failures seen */
    pthread_mutex_t lock;
};

struct worker {
    struct bench *b;
    int index;
    long first, count;
    unsigned seed;
};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Triplet i of the fill, as the MTA would hand it to the milter. */
static void triplet(long i, char *ip, size_t iplen, char *from, size_t fromlen, char *to,
                    size_t tolen)
{
    long net = i % NETWORKS;
    snprintf(ip, iplen, "10.%ld.%ld.%ld", net / 256, net % 256, 1 + i % 250);
    snprintf(from, fromlen, "<sender%ld@domain%ld.example>", i, i % 5000);
    snprintf(to, tolen, "<rcpt%ld@example.net>", i % 20000);
}

static int fill(const char *path, long rows, long recent_percent)
{
    sqlite3 *db;
    sqlite3_stmt *stmt;
    char ip[64], from[128], to[128];
    struct greylist_key key;
    int rc;

    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(
            db,
            "INSERT INTO greylist (source, sender, recipient, first_seen, "
            "last_seen, confirmed_at, count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            -1, &stmt, NULL);
    for (long i = 0; rc == SQLITE_OK && i < rows; i++) {
        bool confirmed = i % 10 != 0;
        int64_t first = NOW - 30 * 86400 + i % (29 * 86400);
        triplet(i, ip, sizeof ip, from, sizeof from, to, sizeof to);
        greylist_key_make(&key, ip, from, to, 24, 64);
        sqlite3_bind_text(stmt, 1, key.network, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, key.sender, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, key.recipient, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 4, first);
        bool recent = confirmed && (i / 10) % 100 < recent_percent;
        sqlite3_bind_int64(stmt, 5, recent ? NOW - 60 : confirmed ? first + 600 : first);
        if (confirmed)
            sqlite3_bind_int64(stmt, 6, first + 600);
        else
            sqlite3_bind_null(stmt, 6);
        sqlite3_bind_int64(stmt, 7, confirmed ? 1 : 0);
        rc = sqlite3_step(stmt) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        fprintf(stderr, "fill: %s\n", sqlite3_errmsg(db));
    /* Start the measurement with a checkpointed database, as a milter that has run a while. */
    sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* The same rows into PostgreSQL, with COPY (tab-separated text: no value here has a tab, a
 * newline or a backslash). */
static int fill_postgresql(const char *conninfo, long rows, long recent_percent)
{
    PGconn *conn = PQconnectdb(conninfo);
    PGresult *res;
    char ip[64], from[128], to[128], line[512];
    struct greylist_key key;
    int ok = PQstatus(conn) == CONNECTION_OK;

    res = ok ? PQexec(conn, "TRUNCATE greylist, autoallow, greylist_sweep") : NULL;
    ok = ok && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    res = ok ? PQexec(conn, "COPY greylist (source, sender, recipient, first_seen, last_seen, "
                            "confirmed_at, count) FROM STDIN")
             : NULL;
    ok = ok && PQresultStatus(res) == PGRES_COPY_IN;
    PQclear(res);
    for (long i = 0; ok && i < rows; i++) {
        bool confirmed = i % 10 != 0;
        int64_t first = NOW - 30 * 86400 + i % (29 * 86400);
        bool recent = confirmed && (i / 10) % 100 < recent_percent;
        char confirmed_at[32] = "\\N";
        triplet(i, ip, sizeof ip, from, sizeof from, to, sizeof to);
        greylist_key_make(&key, ip, from, to, 24, 64);
        if (confirmed)
            snprintf(confirmed_at, sizeof confirmed_at, "%" PRId64, first + 600);
        int n = snprintf(line, sizeof line, "%s\t%s\t%s\t%" PRId64 "\t%" PRId64 "\t%s\t%d\n",
                         key.network, key.sender, key.recipient, first,
                         recent      ? NOW - 60
                         : confirmed ? first + 600
                                     : first,
                         confirmed_at, confirmed ? 1 : 0);
        ok = PQputCopyData(conn, line, n) == 1;
    }
    ok = PQputCopyEnd(conn, ok ? NULL : "fill failed") == 1 && ok;
    res = PQgetResult(conn);
    ok = ok && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (ok) {
        res = PQexec(conn, "VACUUM ANALYZE greylist");
        PQclear(res);
    } else {
        fprintf(stderr, "fill: %s\n", PQerrorMessage(conn));
    }
    PQfinish(conn);
    return ok ? 0 : -1;
}

/* What the greylist table takes on the server (heap, indexes, TOAST). */
static long long postgresql_size(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    PGresult *res = PQexec(conn, "SELECT pg_total_relation_size('greylist')");
    long long size = PQresultStatus(res) == PGRES_TUPLES_OK ? atoll(PQgetvalue(res, 0, 0)) : 0;

    PQclear(res);
    PQfinish(conn);
    return size;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    struct bench *b = w->b;
    char ip[64], from[128], to[128];
    struct greylist_key key;
    struct greylist_result r;
    long failures = 0;

    for (long k = w->first; k < w->first + w->count; k++) {
        long pick = rand_r(&w->seed) % 100;
        if (pick < b->hit_percent) {
            /* A confirmed triplet of the fill (i % 10 != 0). */
            long i = ((long)rand_r(&w->seed) * 7919 + k) % b->rows;
            if (i % 10 == 0)
                i = (i + 1) % b->rows;
            triplet(i, ip, sizeof ip, from, sizeof from, to, sizeof to);
        } else {
            /* A new sender, never seen. */
            triplet(b->rows + b->first + k, ip, sizeof ip, from, sizeof from, to, sizeof to);
        }
        double t0 = now_us();
        greylist_key_make(&key, ip, from, to, b->cfg->greylist_ipv4_prefix,
                          b->cfg->greylist_ipv6_prefix);
        greylist_check(b->s, b->cfg, &key, NULL, NOW + (b->first + k) / 1000, &r);
        b->latency_us[k] = now_us() - t0;
        if (r.outcome == GREYLIST_STORE_FAILURE)
            failures++;
    }
    pthread_mutex_lock(&b->lock);
    b->failures += failures;
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: greylist_bench [-r ROWS] [-n OPS] [-p HIT_PERCENT] [-u RECENT_PERCENT] "
                    "[-t THREADS] [-a AUTOALLOW] [-d DIR] [-k] [-D DATABASE [-N] [-o FIRST] "
                    "[-E]]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct bench b = {.rows = 1000000, .ops = 200000, .hit_percent = 80, .threads = 1};
    char dir[512] = "", path[600], wal[610];
    bool keep = false, made_dir = false, no_fill = false, no_expiry = false;
    const char *database = NULL;
    long autoallow = -1;
    int opt;

    while ((opt = getopt(argc, argv, "r:n:p:u:t:a:d:kD:No:E")) != -1) {
        switch (opt) {
        case 'r':
            b.rows = strtol(optarg, NULL, 10);
            break;
        case 'n':
            b.ops = strtol(optarg, NULL, 10);
            break;
        case 'p':
            b.hit_percent = strtol(optarg, NULL, 10);
            break;
        case 'u':
            b.recent_percent = strtol(optarg, NULL, 10);
            break;
        case 't':
            b.threads = (int)strtol(optarg, NULL, 10);
            break;
        case 'a':
            autoallow = strtol(optarg, NULL, 10);
            break;
        case 'd':
            snprintf(dir, sizeof dir, "%s", optarg);
            break;
        case 'k':
            keep = true;
            break;
        case 'D':
            database = optarg;
            break;
        case 'N':
            no_fill = true;
            break;
        case 'o':
            b.first = strtol(optarg, NULL, 10);
            break;
        case 'E':
            no_expiry = true;
            break;
        default:
            usage();
        }
    }
    if (b.rows < 10 || b.ops < 1 || b.hit_percent < 0 || b.hit_percent > 100 || b.threads < 1 ||
        b.recent_percent < 0 || b.recent_percent > 100 || b.threads > 64 || b.first < 0 ||
        ((no_fill || no_expiry || b.first > 0) && database == NULL))
        usage();
    if (database != NULL) {
        keep = true; /* no folder of ours */
        snprintf(dir, sizeof dir, ".");
    } else if (dir[0] == '\0') {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/greylist_bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (mkdtemp(dir) == NULL) {
            perror(dir);
            return 1;
        }
        made_dir = true;
    }
    snprintf(path, sizeof path, "%s/bench.db", dir);
    snprintf(wal, sizeof wal, "%s-wal", path);
    if (database == NULL) {
        unlink(path);
        unlink(wal);
    }

    struct config *cfg = config_new_defaults();
    if (autoallow >= 0)
        cfg->autoallow_after = autoallow;
    b.cfg = cfg;
    struct store_error serr;
    b.s = store_open(database != NULL ? database : path, 5000, &serr); /* creates the schema */
    if (b.s == NULL) {
        fprintf(stderr, "%s\n", serr.text);
        return 1;
    }
    double t = now_us();
    if (!no_fill && (database != NULL ? fill_postgresql(database, b.rows, b.recent_percent)
                                      : fill(path, b.rows, b.recent_percent)) != 0)
        return 1;
    double fill_s = (now_us() - t) / 1e6;
    if (!no_fill)
        printf("fill: %ld triplets in %.2f s (%.0f rows/s), %s %.1f MB\n", b.rows, fill_s,
               (double)b.rows / fill_s, database != NULL ? "PostgreSQL table" : "database",
               (double)(database != NULL ? postgresql_size(database) : file_size(path)) / 1e6);

    /* As the milter runs its store (milter/runtime.c): the decision writer thread takes over the
     * WAL checkpoints, which SQLite would otherwise run, with their fsync, inside a check. */
    if (store_decision_writer_start(b.s, 200, 256, 4096, NULL) != STORE_OK) {
        fprintf(stderr, "cannot start the store's writer\n");
        return 1;
    }
    b.latency_us = xcalloc((size_t)b.ops, sizeof *b.latency_us);
    pthread_mutex_init(&b.lock, NULL);
    pthread_t *tids = xcalloc((size_t)b.threads, sizeof *tids);
    struct worker *workers = xcalloc((size_t)b.threads, sizeof *workers);
    t = now_us();
    for (int i = 0; i < b.threads; i++) {
        long per = b.ops / b.threads;
        workers[i] = (struct worker){.b = &b,
                                     .index = i,
                                     .first = i * per,
                                     .count = i == b.threads - 1 ? b.ops - i * per : per,
                                     .seed = 12345u + (unsigned)i};
        pthread_create(&tids[i], NULL, work, &workers[i]);
    }
    for (int i = 0; i < b.threads; i++)
        pthread_join(tids[i], NULL);
    double run_s = (now_us() - t) / 1e6;

    qsort(b.latency_us, (size_t)b.ops, sizeof *b.latency_us, compare_double);
    printf("check+update: %ld operations (%ld%% hits on confirmed triplets, %ld%% of those used "
           "in the last hour; %ld%% new), %d thread(s), %.2f s\n",
           b.ops, b.hit_percent, b.recent_percent, 100 - b.hit_percent, b.threads, run_s);
    printf("  %.0f operations/s; latency p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us\n",
           (double)b.ops / run_s, b.latency_us[b.ops / 2], b.latency_us[b.ops * 99 / 100],
           b.latency_us[b.ops * 999 / 1000], b.latency_us[b.ops - 1]);
    /* Where the time goes: the operations that waited (a checkpoint's sync, a lock) against the
     * rest. */
    double slow_s = 0, all_s = 0;
    long slow = 0;
    for (long i = 0; i < b.ops; i++) {
        all_s += b.latency_us[i] / 1e6;
        if (b.latency_us[i] > 1000) {
            slow++;
            slow_s += b.latency_us[i] / 1e6;
        }
    }
    printf("  operations over 1 ms: %ld, %.2f s of the %.2f s spent in operations\n", slow, slow_s,
           all_s);
    printf("  store failures: %ld\n", b.failures);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("  CPU of this process so far: user %.2f s, system %.2f s\n",
           (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
    /* Expiry steps on the full table, everything due: how long one step holds the store. */
    double step_max = 0, step_total = 0;
    size_t expired = 0, deleted = 0;
    int steps = no_expiry ? 0 : 20;
    for (int i = 0; i < steps; i++) {
        double t1 = now_us();
        if (greylist_expire(b.s, cfg, NOW + 400 * 86400, 0, &deleted, NULL) != STORE_OK)
            b.failures++;
        double us = now_us() - t1;
        step_total += us;
        step_max = us > step_max ? us : step_max;
        expired += deleted;
    }
    if (steps > 0)
        printf("expiry: %d steps of greylist_expire_batch = %ld deleted %zu rows, %.1f ms per step "
               "(max %.1f ms)\n",
               steps, cfg->greylist_expire_batch, expired, step_total / steps / 1e3,
               step_max / 1e3);
    if (database != NULL)
        printf("database: PostgreSQL table %.1f MB\n", (double)postgresql_size(database) / 1e6);
    else
        printf("database: %.1f MB + WAL %.1f MB (%s)\n", (double)file_size(path) / 1e6,
               (double)file_size(wal) / 1e6, keep ? path : "removed");

    store_close(b.s);
    config_free(cfg);
    free(b.latency_us);
    free(tids);
    free(workers);
    pthread_mutex_destroy(&b.lock);
    if (!keep) {
        char shm[610];
        snprintf(shm, sizeof shm, "%s-shm", path);
        unlink(path);
        unlink(wal);
        unlink(shm);
        if (made_dir && rmdir(dir) != 0 && errno != ENOENT)
            fprintf(stderr, "%s: left in place\n", dir);
    }
    return b.failures == 0 ? 0 : 1;
}
