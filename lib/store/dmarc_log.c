/*
 * store/dmarc_log: the DMARC aggregate report data of store.h (store_dmarc_add, _each, _expire),
 * the same for every backend.  The backend adds counts to rows, reads and expires them
 * (backend.h: dmarc_upsert, dmarc_each, dmarc_expire); the row key's digest, the counts kept in
 * memory between the decision writer's rounds and their flush live here.
 *
 * Why in memory: a busy milter sees the same few rows (one sender's servers, one day) thousands of
 * times a day.  A write per message would add a write transaction to every message; counting in
 * memory and writing each distinct row once a round costs a hash lookup per message and a handful
 * of upserts per round.
 */
#include <inttypes.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "log.h"
#include "util.h"

#define DMARC_DAY 86400

/* The text fields of struct store_dmarc_row, in key order, for the digest and the copy. */
static const size_t dmarc_texts[] = {
    offsetof(struct store_dmarc_row, policy_domain),
    offsetof(struct store_dmarc_row, header_from),
    offsetof(struct store_dmarc_row, envelope_from),
    offsetof(struct store_dmarc_row, source_ip),
    offsetof(struct store_dmarc_row, p),
    offsetof(struct store_dmarc_row, sp),
    offsetof(struct store_dmarc_row, adkim),
    offsetof(struct store_dmarc_row, aspf),
    offsetof(struct store_dmarc_row, disposition),
    offsetof(struct store_dmarc_row, dkim_aligned),
    offsetof(struct store_dmarc_row, spf_aligned),
    offsetof(struct store_dmarc_row, override),
    offsetof(struct store_dmarc_row, dkim),
    offsetof(struct store_dmarc_row, spf_domain),
    offsetof(struct store_dmarc_row, spf_scope),
    offsetof(struct store_dmarc_row, spf_result),
};
#define DMARC_TEXTS (sizeof dmarc_texts / sizeof dmarc_texts[0])

static const char **dmarc_text(struct store_dmarc_row *r, size_t i)
{
    return (const char **)((char *)r + dmarc_texts[i]);
}

/* One distinct row counted in memory: a copy of the row (strings in the same allocation). */
struct dmarc_entry {
    struct dmarc_entry *next;
    char key[STORE_DMARC_KEY_LEN + 1];
    struct store_dmarc_row row;
};

/*
 * The row key's digest: SHA-256 over the day, pct and every text field, each text preceded by
 * its length (so no choice of bytes in a domain makes two keys read alike), in hexadecimal.  A
 * digest rather than the fields themselves: several long domains and DKIM results would not fit
 * an index entry of PostgreSQL, and the values come from the network (a weak hash could be made
 * to merge two rows).
 */
static void dmarc_key(const struct store_dmarc_row *r, char out[STORE_DMARC_KEY_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[SHA256_DIGEST_LENGTH];
    const char *texts[DMARC_TEXTS];
    size_t cap = 64, len;

    for (size_t i = 0; i < DMARC_TEXTS; i++) {
        texts[i] = *dmarc_text((struct store_dmarc_row *)r, i);
        if (texts[i] == NULL) /* refused by dmarc_row_check() before */
            texts[i] = "";
        cap += strlen(texts[i]) + 24;
    }
    /* One buffer and one call: the digest's own context costs more than the hashing. */
    char *buf = xmalloc(cap);
    len = (size_t)snprintf(buf, cap, "%" PRId64 ":%" PRId64 ":", r->day, r->pct);
    for (size_t i = 0; i < DMARC_TEXTS; i++) {
        size_t n = strlen(texts[i]);
        len += (size_t)snprintf(buf + len, cap - len, "%zu:", n);
        memcpy(buf + len, texts[i], n);
        len += n;
    }
    SHA256((const unsigned char *)buf, len, md);
    free(buf);
    for (size_t i = 0; i < SHA256_DIGEST_LENGTH && 2 * i + 2 <= STORE_DMARC_KEY_LEN; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[STORE_DMARC_KEY_LEN] = '\0';
}

static struct dmarc_entry *dmarc_entry_new(const struct store_dmarc_row *r, const char *key)
{
    size_t len[DMARC_TEXTS], total = sizeof(struct dmarc_entry);

    for (size_t i = 0; i < DMARC_TEXTS; i++) {
        len[i] = strlen(*dmarc_text((struct store_dmarc_row *)r, i)) + 1;
        total += len[i];
    }
    struct dmarc_entry *e = xmalloc(total);
    e->next = NULL;
    memcpy(e->key, key, sizeof e->key);
    e->row = *r;
    char *p = (char *)(e + 1);
    for (size_t i = 0; i < DMARC_TEXTS; i++) {
        const char **text = dmarc_text(&e->row, i);
        memcpy(p, *text, len[i]);
        *text = p;
        p += len[i];
    }
    return e;
}

static size_t dmarc_bucket(const char *key)
{
    /* The key is a digest already: its first hex digits spread the entries. */
    return (size_t)strtoul((char[]){key[0], key[1], key[2], key[3], '\0'}, NULL, 16) %
           STORE_DMARC_BUCKETS;
}

/* Adds r to the counts in memory (lock held); false when the table is full. */
static bool dmarc_count(struct dmarc_pending *pd, const struct store_dmarc_row *r, const char *key)
{
    size_t b = dmarc_bucket(key);

    for (struct dmarc_entry *e = pd->buckets[b]; e != NULL; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            e->row.messages += r->messages;
            return true;
        }
    }
    if (pd->count >= STORE_DMARC_PENDING_MAX)
        return false;
    struct dmarc_entry *e = dmarc_entry_new(r, key);
    e->next = pd->buckets[b];
    pd->buckets[b] = e;
    pd->count++;
    return true;
}

static enum store_status dmarc_row_check(const struct store_dmarc_row *r, struct store_error *err)
{
    for (size_t i = 0; i < DMARC_TEXTS; i++)
        if (*dmarc_text((struct store_dmarc_row *)r, i) == NULL)
            return store_error_set(err, STORE_ERROR, "a DMARC report row lacks a value");
    if (r->messages < 1 || r->day % DMARC_DAY != 0)
        return store_error_set(err, STORE_ERROR, "a DMARC report row needs a day and a count");
    return STORE_OK;
}

struct dmarc_batch {
    const struct store_dmarc_row *const *rows;
    const char *const *keys;
    size_t n;
};

static enum store_status dmarc_batch_body(struct store *s, struct store_conn *c, const void *arg,
                                          struct store_error *err)
{
    const struct dmarc_batch *b = arg;

    return s->be->dmarc_upsert(c, b->rows, b->keys, b->n, err);
}

enum store_status store_dmarc_add(struct store *s, const struct store_dmarc_row *r,
                                  struct store_error *err)
{
    char key[STORE_DMARC_KEY_LEN + 1];

    if (dmarc_row_check(r, err) != STORE_OK)
        return STORE_ERROR;
    dmarc_key(r, key);
    if (s->writer.running) {
        struct dmarc_pending *pd = &s->dmarc;
        pthread_mutex_lock(&pd->lock);
        bool counted = dmarc_count(pd, r, key);
        if (!counted)
            pd->refused += (uint64_t)r->messages;
        pthread_mutex_unlock(&pd->lock);
        if (counted)
            return STORE_OK;
        return store_error_set(err, STORE_BUSY,
                               "the DMARC report counts are full (%d rows wait for the database)",
                               STORE_DMARC_PENDING_MAX);
    }
    const char *keys[1] = {key};
    struct dmarc_batch b = {&r, keys, 1};
    return store_write_txn(s, dmarc_batch_body, &b, err);
}

/* Takes every entry out of the table (a list through next), leaving it empty. */
static struct dmarc_entry *dmarc_take(struct dmarc_pending *pd, size_t *n)
{
    struct dmarc_entry *list = NULL;

    pthread_mutex_lock(&pd->lock);
    for (size_t b = 0; b < STORE_DMARC_BUCKETS; b++) {
        while (pd->buckets[b] != NULL) {
            struct dmarc_entry *e = pd->buckets[b];
            pd->buckets[b] = e->next;
            e->next = list;
            list = e;
        }
    }
    *n = pd->count;
    pd->count = 0;
    pthread_mutex_unlock(&pd->lock);
    return list;
}

/* Puts entries back after a failed write (counted again: the table may have new ones). */
static void dmarc_put_back(struct dmarc_pending *pd, struct dmarc_entry *list)
{
    pthread_mutex_lock(&pd->lock);
    while (list != NULL) {
        struct dmarc_entry *e = list;
        list = e->next;
        if (!dmarc_count(pd, &e->row, e->key))
            pd->refused += (uint64_t)e->row.messages;
        free(e);
    }
    pthread_mutex_unlock(&pd->lock);
}

enum store_status store_dmarc_flush(struct store *s, struct store_error *err)
{
    struct dmarc_pending *pd = &s->dmarc;
    size_t n = 0;

    if (!pd->ready)
        return STORE_OK;
    struct dmarc_entry *list = dmarc_take(pd, &n);
    if (list == NULL)
        return STORE_OK;
    const struct store_dmarc_row **rows = xcalloc(n, sizeof *rows);
    const char **keys = xcalloc(n, sizeof *keys);
    size_t i = 0;
    for (struct dmarc_entry *e = list; e != NULL && i < n; e = e->next, i++) {
        rows[i] = &e->row;
        keys[i] = e->key;
    }
    struct dmarc_batch b = {rows, keys, i};
    enum store_status status = store_write_txn(s, dmarc_batch_body, &b, err);
    free(rows);
    free(keys);
    if (status != STORE_OK) {
        dmarc_put_back(pd, list);
        return status;
    }
    while (list != NULL) {
        struct dmarc_entry *e = list;
        list = e->next;
        free(e);
    }
    return STORE_OK;
}

void store_dmarc_init(struct store *s)
{
    pthread_mutex_init(&s->dmarc.lock, NULL);
    s->dmarc.ready = true;
}

void store_dmarc_stop(struct store *s)
{
    struct store_error why;
    struct dmarc_pending *pd = &s->dmarc;
    size_t n = 0;

    if (!pd->ready)
        return;
    if (store_dmarc_flush(s, &why) != STORE_OK)
        log_msg(LOG_ERR, "DMARC report data: %zu rows lost at close: %s", pd->count, why.text);
    if (pd->refused > 0)
        log_msg(LOG_WARNING, "DMARC report data: %" PRIu64 " messages not counted (table full)",
                pd->refused);
    struct dmarc_entry *list = dmarc_take(pd, &n);
    while (list != NULL) {
        struct dmarc_entry *e = list;
        list = e->next;
        free(e);
    }
    pthread_mutex_destroy(&pd->lock);
    pd->ready = false;
}

enum store_status store_dmarc_each(struct store *s, const char *policy_domain, int64_t since,
                                   int64_t until,
                                   void (*fn)(const struct store_dmarc_row *r, void *arg),
                                   void *arg, struct store_error *err)
{
    /* What is counted is read too; a failure is the read's to report. */
    (void)store_dmarc_flush(s, NULL);
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    enum store_status status = s->be->dmarc_each(c, policy_domain, since, until, fn, arg, err);
    store_conn_put(s, c);
    return status;
}

enum store_status store_dmarc_expire(struct store *s, int64_t before, size_t batch, size_t *deleted,
                                     struct store_error *err)
{
    /* A day that ended at or before `before` began a day earlier: day + 86400 <= before. */
    return store_expire_step(s, s->be->dmarc_expire, before - DMARC_DAY + 1, batch, deleted, err);
}
