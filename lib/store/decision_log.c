/*
 * store/decision_log: the decision log's calls of store.h and its background writer, the same for
 * every backend.  The backend inserts, finds and expires rows (backend.h: decision_insert,
 * decision_find, decision_expire) and may do its own housekeeping after the writer's batches
 * (writer_after_batches); the queue, the batches, the thread, the flush and the counts live here.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dispatch.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

/* The text fields of struct decision, for decision_copy(). */
static const size_t decision_texts[] = {
    offsetof(struct decision, queue_id),  offsetof(struct decision, ref),
    offsetof(struct decision, client_ip), offsetof(struct decision, client_name),
    offsetof(struct decision, helo),      offsetof(struct decision, sender),
    offsetof(struct decision, recipient), offsetof(struct decision, account),
    offsetof(struct decision, check),     offsetof(struct decision, action),
    offsetof(struct decision, reply),     offsetof(struct decision, detail),
    offsetof(struct decision, host),      offsetof(struct decision, header_from),
};
#define DECISION_TEXTS (sizeof decision_texts / sizeof decision_texts[0])

static const char **decision_text(struct decision *d, size_t i)
{
    return (const char **)((char *)d + decision_texts[i]);
}

/*
 * A copy of d for the queue, its strings in the same allocation: one free() frees it.  Its texts
 * are made valid UTF-8 (str_utf8_sanitize: '?' for each byte that is not): a HELO, an address, a
 * name the MTA looked up or a quoted DNS record may carry any byte, and a PostgreSQL database
 * refuses a statement with a byte its encoding has not, the whole batch with it.
 */
static struct decision *decision_copy(const struct decision *d)
{
    struct decision *q;
    size_t len[DECISION_TEXTS], total = sizeof *q;

    for (size_t i = 0; i < DECISION_TEXTS; i++) {
        const char *text = *decision_text((struct decision *)d, i);
        len[i] = text != NULL ? strlen(text) + 1 : 0;
        total += len[i];
    }
    q = xmalloc(total);
    *q = *d;
    char *p = (char *)(q + 1);
    for (size_t i = 0; i < DECISION_TEXTS; i++) {
        const char **text = decision_text(q, i);
        if (*text == NULL)
            continue;
        memcpy(p, *text, len[i]);
        str_utf8_sanitize(p);
        *text = p;
        p += len[i];
    }
    return q;
}

/* Queues d for the writer; STORE_BUSY when the queue is full. */
static enum store_status decision_queue(struct store *s, const struct decision *d,
                                        struct store_error *err)
{
    struct decision_writer *w = &s->writer;
    struct decision *q = decision_copy(d);
    size_t waiting;

    pthread_mutex_lock(&w->lock);
    waiting = w->count;
    if (waiting < w->cap) {
        w->ring[(w->head + w->count) % w->cap] = q;
        w->count++;
        w->counts.queued++;
        if (w->count == w->batch)
            pthread_cond_signal(&w->wake);
        q = NULL;
    } else {
        w->counts.refused++;
    }
    pthread_mutex_unlock(&w->lock);
    if (q == NULL)
        return STORE_OK;
    free(q);
    return store_error_set(err, STORE_BUSY,
                           "the decision log queue is full (%zu decisions wait for the database)",
                           waiting);
}

enum store_status store_decision_add(struct store *s, const struct decision *d,
                                     struct store_error *err)
{
    enum store_status status;

    if (d->check == NULL || d->action == NULL)
        return store_error_set(err, STORE_ERROR, "a decision needs a check and an action");
    if (s->writer.running)
        return decision_queue(s, d, err);
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    struct decision *valid = decision_copy(d);
    status = s->be->decision_insert(c, (const struct decision *const *)&valid, 1, err);
    store_conn_put(s, c);
    free(valid);
    return status;
}

struct batch {
    struct decision **rows;
    size_t n;
};

static enum store_status batch_body(struct store *s, struct store_conn *c, const void *arg,
                                    struct store_error *err)
{
    const struct batch *b = arg;

    return s->be->decision_insert(c, (const struct decision *const *)b->rows, b->n, err);
}

/*
 * After a batch of n rows that took took_us: one that failed once the busy timeout had passed
 * (the server's statement timeout, or the client's deadline) would fail again as it is, the
 * same rows retried whole for as long as the server stays that slow: the next batches take half
 * as many, down to the batch size.  One that took every waiting row gives back the full size.
 * The lock held.
 */
static void decision_batch_size(struct store *s, enum store_status status, size_t n, size_t waiting,
                                int64_t took_us)
{
    struct decision_writer *w = &s->writer;
    bool timed_out = status != STORE_OK && took_us >= s->busy_timeout_ms * 1000;

    if (status == STORE_OK && n == waiting)
        w->batch_now = w->batch_max;
    else if (timed_out)
        w->batch_now = n / 2 > w->batch ? n / 2 : w->batch;
}

/* A refusal of the rows themselves by the server: SQLSTATE class 22 (data exception: a byte its
 * encoding has not, a value too long) or 23 (a constraint).  The same rows would be refused
 * again however often they were tried. */
static bool refused_for_content(const struct store_error *err)
{
    return strncmp(err->sqlstate, "22", 2) == 0 || strncmp(err->sqlstate, "23", 2) == 0;
}

/* rows[0..n) in one transaction (one statement on a backend with decision_batch). */
static enum store_status batch_try(struct store *s, struct store_conn *c, struct decision **rows,
                                   size_t n, struct store_error *err)
{
    struct batch b = {rows, n};
    int64_t start = metrics_now_us();

    err->sqlstate[0] = '\0';
    if (s->be->decision_batch == NULL)
        return store_txn(s, c, STORE_TXN_WRITE, batch_body, &b, err);
    enum store_status status =
        s->be->decision_batch(c, (const struct decision *const *)rows, n, err);
    store_txn_count(STORE_TXN_WRITE, status, start);
    return status;
}

/*
 * Writes rows[0..n); *done gets how many of them, from the first, are written or dropped.  A
 * batch the server refuses for its content is tried again in halves, each its own transaction,
 * down to the rows at fault: the others are written, and a row refused alone is dropped with one
 * log line and counted (*dropped).  Kept and retried, it would hold every decision after it in
 * the queue, and once the queue is full the milter would refuse mail.  Any other failure (the
 * connection, a timeout, a lock) stops there: the rows from that one on stay queued.  A bad row
 * in a batch of k costs about 2 log2(k) statements.
 */
static enum store_status batch_split(struct store *s, struct store_conn *c, struct decision **rows,
                                     size_t n, size_t *done, uint64_t *dropped,
                                     struct store_error *err)
{
    enum store_status status = batch_try(s, c, rows, n, err);
    size_t second = 0;

    *done = 0;
    if (status == STORE_OK || !refused_for_content(err)) {
        *done = status == STORE_OK ? n : 0;
        return status;
    }
    if (n == 1) {
        /* The queue id is the MTA's word, the reference ours: both escaped all the same. */
        char shown[STORE_ERROR_MAX], queue_id[64], ref[64];
        log_msg(LOG_ERR,
                "decision log: %s: ref=%s dropped: the database refused the row (SQLSTATE %s): %s",
                str_escape(queue_id, sizeof queue_id,
                           rows[0]->queue_id != NULL ? rows[0]->queue_id : "NOQUEUE"),
                str_escape(ref, sizeof ref, rows[0]->ref != NULL ? rows[0]->ref : "-"),
                err->sqlstate, str_printable(shown, sizeof shown, err->text));
        (*dropped)++;
        *done = 1;
        return STORE_OK;
    }
    status = batch_split(s, c, rows, n / 2, done, dropped, err);
    if (status == STORE_OK)
        status = batch_split(s, c, rows + n / 2, n - n / 2, &second, dropped, err);
    *done += second;
    return status;
}

/* One batch from the head of the queue, in one transaction (split when the server refuses a row
 * of it: batch_split); *written gets how many rows left the queue, written or dropped (on
 * failure the rest stay queued). */
static enum store_status decision_write_batch(struct store *s, size_t *written,
                                              struct store_error *err)
{
    struct decision_writer *w = &s->writer;
    enum store_status status = STORE_OK;
    struct store_error why = {0};
    size_t n, done = 0;
    uint64_t dropped = 0;

    *written = 0;
    pthread_mutex_lock(&w->write_lock);
    pthread_mutex_lock(&w->lock);
    size_t waiting = w->count;
    n = waiting < w->batch_now ? waiting : w->batch_now;
    for (size_t i = 0; i < n; i++)
        w->scratch[i] = w->ring[(w->head + i) % w->cap];
    pthread_mutex_unlock(&w->lock);
    int64_t start = metrics_now_us();
    if (n > 0) {
        /* A backend with a connection of the writer's own (PostgreSQL) writes the batches on it. */
        struct store_conn *c =
            s->be->acquire_writer != NULL ? s->be->acquire_writer(s->db) : store_conn_get(s, &why);
        if (c == NULL) {
            status = STORE_ERROR;
        } else {
            status = batch_split(s, c, w->scratch, n, &done, &dropped, &why);
            store_conn_put(s, c);
        }
    }
    pthread_mutex_lock(&w->lock);
    decision_batch_size(s, status, n, waiting, metrics_now_us() - start);
    for (size_t i = 0; i < done; i++)
        free(w->scratch[i]);
    w->head = (w->head + done) % w->cap;
    w->count -= done;
    w->counts.written += done - dropped;
    w->counts.dropped += dropped;
    *written = done;
    if (status == STORE_OK && n > 0) {
        w->counts.batches++;
        w->counts.batch_us += (uint64_t)(metrics_now_us() - start);
        if (n > w->counts.largest)
            w->counts.largest = n;
    } else if (status != STORE_OK) {
        w->counts.failed_batches++;
        if (err != NULL)
            *err = why;
    }
    pthread_mutex_unlock(&w->lock);
    pthread_mutex_unlock(&w->write_lock);
    return status;
}

static enum store_status decision_flush(struct store *s, struct store_error *err)
{
    enum store_status status = STORE_OK;
    size_t written = 1;

    while (s->writer.running && status == STORE_OK && written > 0)
        status = decision_write_batch(s, &written, err);
    return status;
}

enum store_status store_decision_flush(struct store *s, struct store_error *err)
{

    return decision_flush(s, err);
}

/* Logs when the writer starts failing and when it recovers, not every retry. */
static void decision_writer_note(struct store *s, enum store_status status,
                                 const struct store_error *why)
{
    struct decision_writer *w = &s->writer;

    if ((status == STORE_OK) == !w->failing)
        return;
    w->failing = status != STORE_OK;
    if (w->failing)
        log_msg(LOG_ERR, "decision log: cannot write a batch (kept, retried): %s", why->text);
    else
        log_msg(LOG_INFO, "decision log: writing again");
}

static void *decision_writer_main(void *arg)
{
    struct store *s = arg;
    struct decision_writer *w = &s->writer;

    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        if (w->count < w->batch || w->failing) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += w->interval_ms / 1000;
            until.tv_nsec += (long)(w->interval_ms % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            if (pthread_cond_timedwait(&w->wake, &w->lock, &until) == ETIMEDOUT)
                w->counts.sleeps++;
        }
        w->counts.rounds++;
        if (w->stopping)
            break;
        pthread_mutex_unlock(&w->lock);
        size_t written;
        enum store_status status;
        struct store_error why;
        do
            status = decision_write_batch(s, &written, &why);
        while (status == STORE_OK && written >= w->batch);
        decision_writer_note(s, status, &why);
        int64_t housekeep = metrics_now_us();
        /* The DMARC report counts, in one transaction under the store's write lock (kept when it
         * fails): once an interval, not after every round of a busy writer. */
        if (housekeep >= w->dmarc_next_us) {
            w->dmarc_next_us = housekeep + w->interval_ms * 1000;
            bool dmarc_failed = store_dmarc_flush(s, &why) != STORE_OK;
            if (dmarc_failed != s->dmarc.failing) {
                s->dmarc.failing = dmarc_failed;
                if (dmarc_failed)
                    log_msg(LOG_WARNING, "DMARC report data: cannot write (kept, retried): %s",
                            why.text);
            }
        }
        /* write_lock: store_check() may stop and start the backend's part of the writer (its
         * connection follows the database it reopens). */
        pthread_mutex_lock(&w->write_lock);
        if (s->be->writer_after_batches != NULL)
            s->be->writer_after_batches(s->db);
        pthread_mutex_unlock(&w->write_lock);
        pthread_mutex_lock(&w->lock);
        w->counts.housekeep_us += (uint64_t)(metrics_now_us() - housekeep);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

enum store_status store_decision_writer_start(struct store *s, int64_t interval_ms, size_t batch,
                                              size_t queue_max, struct store_error *err)
{
    struct decision_writer *w = &s->writer;
    pthread_condattr_t attr;

    if (w->running)
        return store_error_set(err, STORE_ERROR, "the decision writer runs already");
    if (batch == 0 || queue_max < batch || interval_ms <= 0)
        return store_error_set(err, STORE_ERROR, "bad decision writer limits");
    if (s->be->writer_start != NULL && s->be->writer_start(s->db, err) != STORE_OK)
        return STORE_ERROR;
    pthread_mutex_init(&w->lock, NULL);
    pthread_mutex_init(&w->write_lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &attr);
    pthread_condattr_destroy(&attr);
    w->ring = xcalloc(queue_max, sizeof *w->ring);
    w->batch_max = s->be->decision_batch != NULL ? queue_max : batch;
    w->batch_now = w->batch_max;
    w->scratch = xcalloc(w->batch_max, sizeof *w->scratch);
    w->cap = queue_max;
    w->batch = batch;
    w->interval_ms = interval_ms;
    w->running = true;
    if (pthread_create(&w->thread, NULL, decision_writer_main, s) != 0) {
        store_decision_writer_stop(s);
        return store_error_set(err, STORE_ERROR, "cannot start the decision writer thread");
    }
    w->thread_started = true;
    return STORE_OK;
}

void store_decision_writer_stop(struct store *s)
{
    struct decision_writer *w = &s->writer;
    struct store_error why;

    if (!w->running)
        return;
    if (w->thread_started) {
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
    }
    /* A batch that ran out of the busy timeout leaves a smaller size for the next ones
     * (decision_batch_size): at close they are tried while each failure still halves it, rather
     * than the whole queue counted lost at the first timeout. */
    enum store_status status;
    size_t size;
    do {
        size = w->batch_now;
        status = decision_flush(s, &why);
    } while (status != STORE_OK && w->batch_now < size);
    if (status != STORE_OK)
        log_msg(LOG_ERR, "decision log: %zu decisions lost at close: %s", w->count, why.text);
    /* Nothing to say when nothing was queued: a failed start, or a reload's short-lived store. */
    if (w->counts.written + w->counts.refused + w->counts.dropped + w->counts.failed_batches > 0)
        log_msg(LOG_INFO,
                "decision log: %" PRIu64 " decisions written, %" PRIu64
                " refused (queue full), %" PRIu64 " dropped (refused by the database), %" PRIu64
                " failed batches; %" PRIu64 " batches (%" PRIu64 " us, largest %" PRIu64
                " rows), %" PRIu64 " rounds, %" PRIu64 " whole-interval waits, %" PRIu64
                " us after the batches",
                w->counts.written, w->counts.refused, w->counts.dropped, w->counts.failed_batches,
                w->counts.batches, w->counts.batch_us, w->counts.largest, w->counts.rounds,
                w->counts.sleeps, w->counts.housekeep_us);
    for (size_t i = 0; i < w->count; i++)
        free(w->ring[(w->head + i) % w->cap]);
    w->running = false;
    if (s->be->writer_stop != NULL)
        s->be->writer_stop(s->db);
    free(w->ring);
    free(w->scratch);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->write_lock);
    pthread_mutex_destroy(&w->lock);
    memset(w, 0, sizeof *w);
}

void store_decision_counts(struct store *s, struct store_decision_counts *out)
{
    struct decision_writer *w = &s->writer;

    memset(out, 0, sizeof *out);
    if (!w->running)
        return;
    pthread_mutex_lock(&w->lock);
    *out = w->counts;
    out->waiting = w->count;
    pthread_mutex_unlock(&w->lock);
}

/* A postmaster pastes addresses as the log shows them, "<a@b>"; the table keeps them bare. */
static char *strip_brackets(const char *key)
{
    size_t len = strlen(key);

    if (len >= 2 && key[0] == '<' && key[len - 1] == '>')
        return xstrndup(key + 1, len - 2);
    return xstrdup(key);
}

/* The key as a domain: "@example.org", or a name with a dot that is neither an address nor an
 * IP; "" otherwise.  Lower case (a domain has no case). */
static char *key_domain(const char *key)
{
    char *domain;

    if (key[0] == '@')
        domain = xstrdup(key + 1);
    else if (strchr(key, '@') == NULL && strchr(key, '.') != NULL && strchr(key, ':') == NULL &&
             strspn(key, "0123456789.") != strlen(key))
        domain = xstrdup(key);
    else
        return xstrdup("");
    for (char *p = domain; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return domain;
}

enum store_status store_decision_search(struct store *s, const struct store_decision_query *q,
                                        void (*fn)(const struct decision *d, void *arg), void *arg,
                                        struct store_error *err)
{
    char *address = strip_brackets(q->key), *ref = xstrdup(q->key), *domain = key_domain(q->key);
    char *author = xstrdup(strchr(address, '@') != NULL && address[0] != '@' ? address : "");
    struct store_decision_match m = {
        .key = q->key,
        .ref = ref,
        .address = address,
        .domain = domain,
        .header_from = author,
        .since = q->since > 0 ? q->since : INT64_MIN,
        .until = q->until > 0 ? q->until : INT64_MAX,
        .limit = q->limit > INT64_MAX ? INT64_MAX : (int64_t)q->limit,
    };
    enum store_status status = STORE_ERROR;

    for (char *p = ref; *p != '\0'; p++)
        *p = (char)toupper((unsigned char)*p);
    for (char *p = author; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    (void)decision_flush(s, NULL);
    struct store_conn *c = store_conn_get(s, err);
    if (c != NULL) {
        status = s->be->decision_search(c, &m, fn, arg, err);
        store_conn_put(s, c);
    }
    free(address);
    free(ref);
    free(domain);
    free(author);
    return status;
}

enum store_status store_decision_find(struct store *s, const char *key, size_t limit,
                                      void (*fn)(const struct decision *d, void *arg), void *arg,
                                      struct store_error *err)
{
    char *address;
    enum store_status status;

    /* What is queued is found too; a failure is the next read's. */
    (void)decision_flush(s, NULL);
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    address = strip_brackets(key);
    status = s->be->decision_find(c, key, address, limit, fn, arg, err);
    store_conn_put(s, c);
    free(address);
    return status;
}

enum store_status store_decision_tally(struct store *s, int64_t since,
                                       void (*fn)(const char *check, const char *action,
                                                  int64_t count, void *arg),
                                       void *arg, struct store_error *err)
{
    enum store_status status;

    (void)decision_flush(s, NULL);
    struct store_conn *c = store_conn_get(s, err);
    if (c == NULL)
        return STORE_ERROR;
    status = s->be->decision_tally(c, since, fn, arg, err);
    store_conn_put(s, c);
    return status;
}

enum store_status store_decision_expire(struct store *s, int64_t before, size_t batch,
                                        size_t *deleted, struct store_error *err)
{
    return store_expire_step(s, s->be->decision_expire, before, batch, deleted, err);
}
