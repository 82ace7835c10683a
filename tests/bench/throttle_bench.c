/*
 * throttle_bench: what per-account send-rate counting costs (a figure, not a test).
 *
 *   throttle_bench [-a ACCOUNTS] [-H HOURS] [-n OPS] [-t THREADS] [-d DIR] [-k]
 *
 * Fills a fresh database in DIR (default: a new folder under $TMPDIR or /tmp) with HOURS hourly
 * buckets of history per account (default 112: 14 days of 8 busy hours) for ACCOUNTS accounts
 * (default 10,000), then times, through the real lib/throttle.c and the store:
 *   1. first sight: one throttle_check() per account, each loading the account and its history;
 *   2. steady state: OPS (default 200,000) throttle_check() + throttle_add() pairs on random
 *      accounts from THREADS threads (default 1), the clock moving 1 s per 100 messages, no flush;
 *   3. flush: throttle_flush(, NULL) of 10,000 (ACCOUNTS) dirty accounts, one write transaction;
 *   4. hour rollover: one check per account in the next hour (each recomputes its baseline).
 * Prints operations per second and latency percentiles; -k keeps the folder.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "store.h"
#include "throttle.h"
#include "util.h"

#define NOW INT64_C(1700002800) /* an hour boundary */

struct bench {
    struct store *s;
    struct throttle *t;
    const struct config *cfg;
    long accounts, ops;
    int threads;
    double *latency_us;
    long failures;
    pthread_mutex_t lock;
};

struct worker {
    struct bench *b;
    long first, count;
    unsigned seed;
};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void account_name(long i, char *out, size_t outlen)
{
    snprintf(out, outlen, "user%ld@example.org", i);
}

static int fill(const char *path, long accounts, long hours)
{
    sqlite3 *db;
    sqlite3_stmt *stmt = NULL;
    char name[64];
    int rc;

    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO throttle_buckets (account, width, start, msgs, "
                                "rcpts, minutes) VALUES (?1, 3600, ?2, ?3, ?4, ?5)",
                                -1, &stmt, NULL);
    for (long i = 0; rc == SQLITE_OK && i < accounts; i++) {
        account_name(i, name, sizeof name);
        /* Busy hours 8..15 UTC of each past day, newest first. */
        for (long h = 0; rc == SQLITE_OK && h < hours; h++) {
            int64_t day = NOW / 86400 - 1 - h / 8;
            sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
            sqlite3_bind_int64(stmt, 2, day * 86400 + (8 + h % 8) * 3600);
            sqlite3_bind_int64(stmt, 3, 1 + (i + h) % 4);
            sqlite3_bind_int64(stmt, 4, 2 + (i + h) % 10);
            sqlite3_bind_int64(stmt, 5, 1 + (i + h) % 4);
            rc = sqlite3_step(stmt) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
            sqlite3_reset(stmt);
        }
    }
    sqlite3_finalize(stmt);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        fprintf(stderr, "fill: %s\n", sqlite3_errmsg(db));
    sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *lat, long n, double seconds)
{
    qsort(lat, (size_t)n, sizeof *lat, compare_double);
    printf("%s: %ld in %.2f s, %.0f/s; latency p50 %.1f us, p99 %.1f us, p99.9 %.1f us, "
           "max %.1f us\n",
           what, n, seconds, (double)n / seconds, lat[n / 2], lat[n * 99 / 100],
           lat[n * 999 / 1000], lat[n - 1]);
}

/* One check per account at `when`: first sight, or the first message after an hour boundary. */
static void one_pass(struct bench *b, int64_t when, const char *what)
{
    char name[64];
    struct throttle_decision d;
    double t0 = now_us();

    for (long i = 0; i < b->accounts; i++) {
        account_name(i, name, sizeof name);
        double t1 = now_us();
        if (throttle_check(b->t, b->cfg, b->s, name, 1, (time_t)when, &d) != STORE_OK)
            b->failures++;
        b->latency_us[i] = now_us() - t1;
    }
    report(what, b->latency_us, b->accounts, (now_us() - t0) / 1e6);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    struct bench *b = w->b;
    struct throttle_decision d;
    char name[64];
    long failures = 0;

    for (long k = w->first; k < w->first + w->count; k++) {
        long i = (long)(rand_r(&w->seed) % (unsigned)b->accounts);
        unsigned nrcpt = 1 + (unsigned)(rand_r(&w->seed) % 5);
        time_t when = (time_t)(NOW + 100 + k / 100);
        account_name(i, name, sizeof name);
        double t0 = now_us();
        if (throttle_check(b->t, b->cfg, b->s, name, nrcpt, when, &d) != STORE_OK)
            failures++;
        throttle_add(b->t, name, nrcpt, when);
        b->latency_us[k] = now_us() - t0;
    }
    pthread_mutex_lock(&b->lock);
    b->failures += failures;
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* The process's resident memory in KiB (Linux), or -1. */
static long rss_kib(void)
{
    char line[256];
    long kib = -1;
    FILE *fp = fopen("/proc/self/status", "r");

    while (fp != NULL && fgets(line, sizeof line, fp) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (fp != NULL)
        fclose(fp);
    return kib;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: throttle_bench [-a ACCOUNTS] [-H HOURS] [-n OPS] [-t THREADS] [-d DIR] [-k]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct bench b = {.accounts = 10000, .ops = 200000, .threads = 1};
    long hours = 112;
    char dir[512] = "", path[600];
    bool keep = false, made_dir = false;
    int opt;

    while ((opt = getopt(argc, argv, "a:H:n:t:d:k")) != -1) {
        switch (opt) {
        case 'a':
            b.accounts = strtol(optarg, NULL, 10);
            break;
        case 'H':
            hours = strtol(optarg, NULL, 10);
            break;
        case 'n':
            b.ops = strtol(optarg, NULL, 10);
            break;
        case 't':
            b.threads = (int)strtol(optarg, NULL, 10);
            break;
        case 'd':
            snprintf(dir, sizeof dir, "%s", optarg);
            break;
        case 'k':
            keep = true;
            break;
        default:
            usage();
        }
    }
    /* The steady phase must stay within one hour of the injected clock (100 messages a second). */
    if (b.accounts < 1 || hours < 0 || hours > 336 || b.ops < 1 || b.ops > 300000 ||
        b.threads < 1 || b.threads > 64)
        usage();
    if (dir[0] == '\0') {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/throttle_bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (mkdtemp(dir) == NULL) {
            perror(dir);
            return 1;
        }
        made_dir = true;
    }
    snprintf(path, sizeof path, "%s/bench.db", dir);
    unlink(path);

    struct config *cfg = config_new_defaults();
    b.cfg = cfg;
    struct store_error serr;
    b.s = store_open(path, 5000, &serr);
    if (b.s == NULL) {
        fprintf(stderr, "%s\n", serr.text);
        return 1;
    }
    double t = now_us();
    if (fill(path, b.accounts, hours) != 0)
        return 1;
    printf("fill: %ld accounts x %ld hourly rows in %.2f s, database %.1f MB\n", b.accounts, hours,
           (now_us() - t) / 1e6, (double)file_size(path) / 1e6);

    long rss_before = rss_kib();
    b.t = throttle_new();
    long most = b.ops > b.accounts ? b.ops : b.accounts;
    b.latency_us = xcalloc((size_t)most, sizeof *b.latency_us);
    pthread_mutex_init(&b.lock, NULL);

    one_pass(&b, NOW + 50, "first sight (load + baseline + check)");
    printf("memory: %.1f MiB resident more with %zu accounts loaded\n",
           (double)(rss_kib() - rss_before) / 1024.0, throttle_account_count(b.t));

    pthread_t *tids = xcalloc((size_t)b.threads, sizeof *tids);
    struct worker *workers = xcalloc((size_t)b.threads, sizeof *workers);
    t = now_us();
    for (int i = 0; i < b.threads; i++) {
        long per = b.ops / b.threads;
        workers[i] = (struct worker){.b = &b,
                                     .first = i * per,
                                     .count = i == b.threads - 1 ? b.ops - i * per : per,
                                     .seed = 777u + (unsigned)i};
        pthread_create(&tids[i], NULL, work, &workers[i]);
    }
    for (int i = 0; i < b.threads; i++)
        pthread_join(tids[i], NULL);
    char what[96];
    snprintf(what, sizeof what, "check+add, %d thread(s), %ld accounts", b.threads, b.accounts);
    report(what, b.latency_us, b.ops, (now_us() - t) / 1e6);

    /* Everything counted above is dirty; then one message for each account, so all are. */
    char name[64];
    for (long i = 0; i < b.accounts; i++) {
        account_name(i, name, sizeof name);
        throttle_add(b.t, name, 1, (time_t)(NOW + 3000));
    }
    t = now_us();
    enum store_status status = throttle_flush(b.t, b.s, (time_t)(NOW + 3000), NULL);
    double flush_ms = (now_us() - t) / 1e3;
    printf("flush: %ld dirty accounts (every one, after the steady phase) in one transaction: "
           "%.1f ms (%s)\n",
           b.accounts, flush_ms, status == STORE_OK ? "ok" : "FAILED");
    for (long i = 0; i < b.accounts; i++) {
        account_name(i, name, sizeof name);
        throttle_add(b.t, name, 1, (time_t)(NOW + 3002));
    }
    t = now_us();
    status = throttle_flush(b.t, b.s, (time_t)(NOW + 3002), NULL);
    printf("flush: %ld dirty accounts, one message each since the last flush: %.1f ms (%s)\n",
           b.accounts, (now_us() - t) / 1e3, status == STORE_OK ? "ok" : "FAILED");

    one_pass(&b, NOW + 3600 + 10, "hour rollover (baseline recomputed + check)");
    printf("accounts in memory: %zu; database %.1f MB; store failures: %ld\n",
           throttle_account_count(b.t), (double)file_size(path) / 1e6, b.failures);

    throttle_free(b.t);
    store_close(b.s);
    config_free(cfg);
    free(b.latency_us);
    free(tids);
    free(workers);
    pthread_mutex_destroy(&b.lock);
    if (!keep) {
        const char *suffix[] = {"", "-wal", "-shm"};
        for (int i = 0; i < 3; i++) {
            char file[620];
            snprintf(file, sizeof file, "%s%s", path, suffix[i]);
            unlink(file);
        }
        if (made_dir && rmdir(dir) != 0 && errno != ENOENT)
            fprintf(stderr, "%s: left in place\n", dir);
    }
    return b.failures == 0 && status == STORE_OK ? 0 : 1;
}
