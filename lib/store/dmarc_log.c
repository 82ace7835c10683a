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
#include <sys/random.h>
#include <time.h>

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
    uint64_t hash;                     /* dmarc_hash(): the table's bucket */
    char key[STORE_DMARC_KEY_LEN + 1]; /* dmarc_key(), made when the entry is written */
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

static struct dmarc_entry *dmarc_entry_new(const struct store_dmarc_row *r, uint64_t hash)
{
    size_t len[DMARC_TEXTS], total = sizeof(struct dmarc_entry);

    for (size_t i = 0; i < DMARC_TEXTS; i++) {
        len[i] = strlen(*dmarc_text((struct store_dmarc_row *)r, i)) + 1;
        total += len[i];
    }
    struct dmarc_entry *e = xmalloc(total);
    e->next = NULL;
    e->hash = hash;
    e->key[0] = '\0';
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

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

/*
 * The table's hash of a row: FNV-1a over the same values as the digest, from a random seed of
 * the store's (the values come from the network: a seed nobody knows keeps a sender from filling
 * one bucket).  Counting a message costs this and a comparison, not a digest: the SHA-256 of
 * dmarc_key() is made once per distinct row when it is written.
 */
static uint64_t dmarc_hash(uint64_t seed, const struct store_dmarc_row *r)
{
    uint64_t h = fnv1a(seed, &r->day, sizeof r->day);

    h = fnv1a(h, &r->pct, sizeof r->pct);
    for (size_t i = 0; i < DMARC_TEXTS; i++) {
        const char *text = *dmarc_text((struct store_dmarc_row *)r, i);
        size_t len = text != NULL ? strlen(text) : 0;
        h = fnv1a(h, &len, sizeof len);
        h = fnv1a(h, text, len);
    }
    return h;
}

static bool dmarc_same(const struct store_dmarc_row *a, const struct store_dmarc_row *b)
{
    if (a->day != b->day || a->pct != b->pct)
        return false;
    for (size_t i = 0; i < DMARC_TEXTS; i++)
        if (strcmp(*dmarc_text((struct store_dmarc_row *)a, i),
                   *dmarc_text((struct store_dmarc_row *)b, i)) != 0)
            return false;
    return true;
}

/* Adds r to the counts in memory (lock held); false when the table is full. */
static bool dmarc_count(struct dmarc_pending *pd, const struct store_dmarc_row *r, uint64_t hash)
{
    size_t b = (size_t)(hash % STORE_DMARC_BUCKETS);

    for (struct dmarc_entry *e = pd->buckets[b]; e != NULL; e = e->next) {
        if (e->hash == hash && dmarc_same(&e->row, r)) {
            e->row.messages += r->messages;
            return true;
        }
    }
    if (pd->count >= STORE_DMARC_PENDING_MAX)
        return false;
    struct dmarc_entry *e = dmarc_entry_new(r, hash);
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

static enum store_status dmarc_add_valid(struct store *s, const struct store_dmarc_row *r,
                                         struct store_error *err)
{
    char key[STORE_DMARC_KEY_LEN + 1];

    if (s->writer.running) {
        struct dmarc_pending *pd = &s->dmarc;
        uint64_t hash = dmarc_hash(pd->seed, r);
        pthread_mutex_lock(&pd->lock);
        bool counted = dmarc_count(pd, r, hash);
        if (!counted)
            pd->refused += (uint64_t)r->messages;
        pthread_mutex_unlock(&pd->lock);
        if (counted)
            return STORE_OK;
        return store_error_set(err, STORE_BUSY,
                               "the DMARC report counts are full (%d rows wait for the database)",
                               STORE_DMARC_PENDING_MAX);
    }
    dmarc_key(r, key);
    const char *keys[1] = {key};
    struct dmarc_batch b = {&r, keys, 1};
    return store_write_txn(s, dmarc_batch_body, &b, err);
}

/*
 * The domains and DKIM results come from the network (a signature's d= and s= as sent): they are
 * made valid UTF-8 first ('?' for a stray byte, str_utf8_sanitize) on a copy, before the row is
 * counted or keyed, so that one message always counts in one row, and a PostgreSQL database in
 * UTF8 never refuses the counts, which would be kept and tried again at every round for good.
 */
enum store_status store_dmarc_add(struct store *s, const struct store_dmarc_row *r,
                                  struct store_error *err)
{
    if (dmarc_row_check(r, err) != STORE_OK)
        return STORE_ERROR;
    struct dmarc_entry *valid = dmarc_entry_new(r, 0);
    for (size_t i = 0; i < DMARC_TEXTS; i++)
        str_utf8_sanitize((char *)*dmarc_text(&valid->row, i));
    enum store_status status = dmarc_add_valid(s, &valid->row, err);
    free(valid);
    return status;
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
        if (!dmarc_count(pd, &e->row, e->hash))
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
        if (e->key[0] == '\0')
            dmarc_key(&e->row, e->key);
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
    uint64_t seed = 0;

    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)s;
    s->dmarc.seed = seed ^ 0xcbf29ce484222325ULL; /* FNV-1a's offset basis, made secret */
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
