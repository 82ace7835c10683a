/*
 * store_decisions: the store tests' decisions (store_decisions.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

size_t search_refs(struct store *s, const char *key, int64_t since, int64_t until, size_t limit,
                   char refs[16][16])
{
    struct rows rows = {0};
    struct store_error err;
    struct store_decision_query q = {.key = key, .since = since, .until = until, .limit = limit};
    enum store_status st = store_decision_search(s, &q, collect, &rows, &err);
    size_t n = rows.total;

    if (st != STORE_OK && st != STORE_NOTFOUND)
        fail_msg("store_decision_search(%s): %d: %s", key, st, err.text);
    assert_int_equal(st == STORE_NOTFOUND, n == 0);
    for (size_t i = 0; refs != NULL && i < rows.count && i < 16; i++)
        str_copy(refs[i], 16, rows.r[i].field[F_REF]);
    rows_free(&rows);
    return n;
}

void search_refs_text(struct store *s, const char *key, char *out, size_t outlen)
{
    char refs[16][16];
    size_t n = search_refs(s, key, 0, 0, 10, refs), len = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n && i < 16 && len + 1 < outlen; i++)
        len += (size_t)snprintf(out + len, outlen - len, "%s\n", refs[i]);
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

void add_series(struct store *s, int n, int64_t first, const char *ref)
{
    for (int i = 0; i < n; i++)
        add_ok(s, sample(first + i, "Q", ref, "192.0.2.1", "a@example.org", "b@x"));
}

void fill_until_full(struct store *s, const struct decision *d, int queue_max)
{
    struct store_error err;

    for (int i = 0; i < queue_max; i++)
        assert_int_equal(store_decision_add(s, d, NULL), STORE_OK);
    assert_int_equal(store_decision_add(s, d, &err), STORE_BUSY);
    assert_non_null(strstr(err.text, "queue is full"));
}

void assert_kept_unwritten(struct store *s, uint64_t queued)
{
    struct store_decision_counts n;

    store_decision_counts(s, &n);
    assert_int_equal(n.queued, queued);
    assert_int_equal(n.refused, 1);
    assert_int_equal(n.written, 0);
    assert_true(n.failed_batches >= 1);
}

const char older_decisions_sql[] =
    "INSERT INTO decisions (time, ref, check_name, action, detail) VALUES "
    "(10, 'DMARC001', 'dmarc', 'reject', "
    "'dmarc=fail for bank.example; header From: \"Bank\" <Alerts@Bank.example>'), "
    "(20, 'DMARC002', 'dmarc', 'hold', 'dmarc=fail; header From: ceo@bank.example'), "
    "(30, 'SUBMIT01', 'sender', 'reject', "
    "'header_from=<boss@corp.example> not owned by account=eve'), "
    "(40, 'OTHER001', 'policy', 'accept', 'spf=pass for alerts@bank.example')";

void assert_flushed(struct store *s, uint64_t written, uint64_t dropped)
{
    struct store_decision_counts n;
    struct store_error err;

    if (store_decision_flush(s, &err) != STORE_OK)
        fail_msg("store_decision_flush: %s", err.text);
    store_decision_counts(s, &n);
    assert_int_equal(n.waiting, 0);
    assert_int_equal(n.dropped, dropped);
    assert_int_equal(n.written, written);
}
