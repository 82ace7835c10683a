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

/* An iprev rejection with these values (all strings borrowed). */
struct decision sample(int64_t time, const char *queue_id, const char *ref, const char *ip,
                       const char *sender, const char *recipient);
void add_ok(struct store *s, struct decision d);
/* Three decisions about different connections, used by the lookup tests. */
void add_three(struct store *s);

#endif
