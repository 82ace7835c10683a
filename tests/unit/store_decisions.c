/*
 * store_decisions: the store tests' decisions (store_decisions.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "store_decisions.h"
#include "util.h"

void collect(const struct decision *d, void *arg)
{
    struct rows *rows = arg;
    const char *field[FIELD_COUNT] = {
        d->queue_id, d->ref,   d->client_ip, d->client_name, d->helo,   d->sender, d->recipient,
        d->account,  d->check, d->action,    d->reply,       d->detail, d->host};
    struct row *r;

    rows->total++;
    if (rows->count == ROWS_MAX)
        return;
    r = &rows->r[rows->count++];
    r->time = d->time;
    for (int i = 0; i < FIELD_COUNT; i++)
        r->field[i] = xstrdup(field[i]);
}

void rows_free(struct rows *rows)
{
    for (size_t i = 0; i < rows->count; i++)
        for (int j = 0; j < FIELD_COUNT; j++)
            free(rows->r[i].field[j]);
    rows->count = 0;
    rows->total = 0;
}

size_t find_count(struct store *s, const char *key, size_t limit, long long *times)
{
    struct rows rows = {0};
    struct store_error err;
    enum store_status st = store_decision_find(s, key, limit, collect, &rows, &err);
    size_t n = rows.total;

    if (st != STORE_OK && st != STORE_NOTFOUND)
        fail_msg("store_decision_find(%s): %d: %s", key, st, err.text);
    assert_int_equal(st == STORE_NOTFOUND, n == 0);
    for (size_t i = 0; times != NULL && i < rows.count; i++)
        times[i] = rows.r[i].time;
    rows_free(&rows);
    return n;
}

struct decision sample(int64_t time, const char *queue_id, const char *ref, const char *ip,
                       const char *sender, const char *recipient)
{
    struct decision d = {
        .time = time,
        .queue_id = queue_id,
        .ref = ref,
        .client_ip = ip,
        .client_name = "unknown",
        .helo = "mail.example.test",
        .sender = sender,
        .recipient = recipient,
        .check = "iprev",
        .action = "reject",
        .reply = "550 5.7.25 no PTR",
        .detail = "no PTR record",
    };
    return d;
}

void add_ok(struct store *s, struct decision d)
{
    struct store_error err;
    enum store_status st = store_decision_add(s, &d, &err);

    if (st != STORE_OK)
        fail_msg("store_decision_add: %d: %s", st, err.text);
}

void add_three(struct store *s)
{
    add_ok(s, sample(1000, "NOQUEUE", "7KQ2M9XA", "192.0.2.4", "alice@example.org",
                     "postmaster@example.test"));
    add_ok(s, sample(2000, "4Y2x7", "R3F8ZT2W", "2001:db8::25", "Bob@Example.NET",
                     "info@example.test"));
    add_ok(s, sample(3000, "4Y2x8", "P9W4HQ6N", "198.51.100.7", "", "Sales@Example.test"));
}
