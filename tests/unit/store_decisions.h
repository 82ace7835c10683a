/*
 * store_decisions: decisions to add and a way to read them back, for the store's tests
 * (test_store.c, the contract; test_store_<backend>.c).  cmocka's asserts end the test on failure.
 */
#ifndef INGRESS_TEST_STORE_DECISIONS_H
#define INGRESS_TEST_STORE_DECISIONS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define FIELD_COUNT 13 /* the text fields of struct decision */
#define ROWS_MAX 64

struct row {
    long long time;
    char *field[FIELD_COUNT]; /* in struct decision's order, NULL kept */
};

struct rows {
    size_t total; /* rows reported */
    size_t count; /* rows kept in r, the first ROWS_MAX */
    struct row r[ROWS_MAX];
};

enum {
    F_QUEUE_ID,
    F_REF,
    F_IP,
    F_NAME,
    F_HELO,
    F_SENDER,
    F_RCPT,
    F_ACCOUNT,
    F_CHECK,
    F_ACTION,
    F_REPLY,
    F_DETAIL,
    F_HOST
};

/* A store_decision_find() callback: copies each decision into struct rows (arg). */
void collect(const struct decision *d, void *arg);
void rows_free(struct rows *rows);

/* How many decisions match key, and the times of the first ROWS_MAX in order (times may be NULL).
 */
size_t find_count(struct store *s, const char *key, size_t limit, long long *times);
/* How many decisions a search for key in [since, until) finds, and the refs of the first 16,
 * newest first (refs may be NULL). */
size_t search_refs(struct store *s, const char *key, int64_t since, int64_t until, size_t limit,
                   char refs[16][16]);
/* The refs of what a search for key (limit 10) finds, newest first, one a line, into out. */
void search_refs_text(struct store *s, const char *key, char *out, size_t outlen);

/* An iprev rejection with these values (all strings borrowed). */
struct decision sample(int64_t time, const char *queue_id, const char *ref, const char *ip,
                       const char *sender, const char *recipient);
void add_ok(struct store *s, struct decision d);
/* n decisions of ref (sample()'s, from 192.0.2.1) at the times first, first + 1, ... */
void add_series(struct store *s, int n, int64_t first, const char *ref);
/* Three decisions about different connections, used by the lookup tests. */
void add_three(struct store *s);

/* A writer whose batches fail: fill_until_full() adds queue_max copies of d, accepted, then one
 * more, which must be refused as the queue is full; assert_kept_unwritten() checks the writer's
 * counts say queued kept, one refused, nothing written and a failed batch. */
void fill_until_full(struct store *s, const struct decision *d, int queue_max);
void assert_kept_unwritten(struct store *s, uint64_t queued);
/* A flush writes the whole queue: `written` rows written and `dropped` dropped in all so far. */
void assert_flushed(struct store *s, uint64_t written, uint64_t dropped);

/* The INSERT of four decisions as a database holds them before the header From column: a DMARC
 * rejection and a hold, the submission check's refusal, each naming a header From in its detail,
 * and an SPF accept that names none (no ';' at its end). */
extern const char older_decisions_sql[];

#endif
