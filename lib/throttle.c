/*
 * throttle: per-account send-rate counting, baseline and limits (see throttle.h).
 *
 * Each account in memory has three rings of buckets: 12 of 5 s (the minute window), 60 of 1 min
 * (the hour window) and 24 of 1 h (the day window).  A window's count is the sum of its ring's
 * buckets that are current, so a message leaves the minute window 55 to 60 s after it was
 * counted, the hour window after 59 to 60 min, the day window after 23 to 24 h.
 *
 * The baseline (README "How the throttle baseline is computed") comes from the hourly buckets of
 * the past throttle_history, the current hour excluded: the ones older than the day ring are read
 * from the store, the rest from the ring.  It is computed when the account is loaded and again on
 * its first message after each hour boundary, never per message.
 *
 * Every counted message also goes into the account's list of pending deltas; throttle_flush()
 * takes all of them, adds them to the store in one transaction, and puts them back (in the
 * overflow list, which the next flush takes too) when that fails.  Deltas, not totals: a delta
 * written twice would count twice, so a taken delta is either written or put back, never both.
 *
 * The rings hold the fleet's counts: what the store gave at the account's last read (every host's
 * flushed counts) plus what this host counted since.  A read that refreshes them (account_refresh)
 * holds t->flush_lock, so that no flush moves deltas into the store while it reads: the rings
 * become the stored buckets plus exactly the deltas still pending here, counted once each.  When
 * a flush is running the refresh waits for the next check rather than stall this one.
 *
 * Locking: t->lock guards the table, every account in it and the overflow list; no store call is
 * made with it held (a flush waiting for the database's write lock must not stall the checks).
 * t->flush_lock serializes flushes, the only place accounts are freed, and the refreshes.
 */
#include "throttle.h"

#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define HOUR 3600
#define DAY 86400
#define IDLE_EVICT DAY /* an account idle this long is forgotten once flushed */
#define TABLE_MIN 64

static const struct window_spec {
    int64_t width; /* seconds per bucket, the store's width */
    int slots;     /* buckets in the window */
    int offset;    /* of the window's ring in account.buckets */
    const char *name;
} windows[THROTTLE_WINDOWS] = {
    [THROTTLE_MINUTE] = {5, 12, 0, "1m"},
    [THROTTLE_HOUR] = {60, 60, 12, "1h"},
    [THROTTLE_DAY] = {3600, 24, 72, "1d"},
};
#define RING_SLOTS (12 + 60 + 24)

/* The options of each (window, messages|recipients), in the order of enum store_throttle_limit. */
static const struct limit_spec {
    const char *noun;
    size_t limit_offset, floor_offset; /* of long fields of struct config */
} limit_specs[STORE_THROTTLE_LIMITS] = {
#define LIMIT(noun, window)                                                                        \
    {                                                                                              \
#noun, offsetof(struct config, throttle_##noun##_per_##window),                            \
            offsetof(struct config, throttle_floor_##noun##_per_##window)                          \
    }
    LIMIT(messages, minute), LIMIT(recipients, minute), LIMIT(messages, hour),
    LIMIT(recipients, hour), LIMIT(messages, day),      LIMIT(recipients, day),
#undef LIMIT
};

static long config_long(const struct config *cfg, size_t offset)
{
    return *(const long *)(const void *)((const char *)cfg + offset);
}

struct bucket {
    int64_t start; /* unix seconds, a multiple of the window's width; 0: never used */
    uint32_t msgs, rcpts;
};

/* A count not yet in the store. */
struct pending {
    int64_t width, start;
    uint32_t msgs, rcpts, minutes;
};

struct account {
    struct account *next; /* hash chain */
    char *name;           /* as first seen; compared without ASCII case, as the store does */
    uint32_t hash;
    struct bucket buckets[RING_SLOTS];
    uint8_t hour_minutes[24]; /* per bucket of the day ring: distinct minutes that had mail */
    int64_t last_seen;
    int64_t refreshed_at;  /* when its rings were last read from the store */
    bool throttled;        /* its last check found it throttled: throttle_add() skips it */
    int64_t baseline_hour; /* the hour the baseline was computed for */
    double baseline[THROTTLE_WINDOWS][2]; /* [window][0 messages, 1 recipients] */
    struct pending *pending;
    size_t npending, pending_cap;
};

struct throttle {
    pthread_mutex_t lock;
    pthread_mutex_t flush_lock;
    struct account **table; /* size a power of two */
    size_t size, count;
    /* Deltas whose account was not in memory, or whose write failed: owned account names. */
    struct store_throttle_bucket *overflow;
    size_t noverflow, overflow_cap;
};

/* ---- the table -------------------------------------------------------------------------- */

static uint32_t name_hash(const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a over the ASCII-lowered name */
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
        unsigned char c = *p >= 'A' && *p <= 'Z' ? (unsigned char)(*p + 32) : *p;
        h = (h ^ c) * 16777619u;
    }
    return h;
}

static struct account *table_find(const struct throttle *t, const char *name, uint32_t hash)
{
    for (struct account *a = t->table[hash & (t->size - 1)]; a != NULL; a = a->next)
        if (a->hash == hash && str_casecmp(a->name, name) == 0)
            return a;
    return NULL;
}

static void table_grow(struct throttle *t)
{
    size_t size = t->size * 2;
    struct account **table = xcalloc(size, sizeof *table);

    for (size_t i = 0; i < t->size; i++) {
        struct account *a = t->table[i], *next;
        for (; a != NULL; a = next) {
            next = a->next;
            a->next = table[a->hash & (size - 1)];
            table[a->hash & (size - 1)] = a;
        }
    }
    free(t->table);
    t->table = table;
    t->size = size;
}

static void table_insert(struct throttle *t, struct account *a)
{
    if (t->count >= t->size)
        table_grow(t);
    a->next = t->table[a->hash & (t->size - 1)];
    t->table[a->hash & (t->size - 1)] = a;
    t->count++;
}

static void account_free(struct account *a)
{
    if (a == NULL)
        return;
    free(a->name);
    free(a->pending);
    free(a);
}

struct throttle *throttle_new(void)
{
    struct throttle *t = xcalloc(1, sizeof *t);

    pthread_mutex_init(&t->lock, NULL);
    pthread_mutex_init(&t->flush_lock, NULL);
    t->size = TABLE_MIN;
    t->table = xcalloc(t->size, sizeof *t->table);
    return t;
}

static void overflow_free(struct store_throttle_bucket *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((char *)rows[i].account); /* owned: see struct throttle */
    free(rows);
}

void throttle_free(struct throttle *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->size; i++) {
        struct account *a = t->table[i], *next;
        for (; a != NULL; a = next) {
            next = a->next;
            account_free(a);
        }
    }
    free(t->table);
    overflow_free(t->overflow, t->noverflow);
    pthread_mutex_destroy(&t->lock);
    pthread_mutex_destroy(&t->flush_lock);
    free(t);
}

size_t throttle_account_count(struct throttle *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = t->count;
    pthread_mutex_unlock(&t->lock);
    return n;
}

/* ---- buckets ---------------------------------------------------------------------------- */

static int64_t floor_to(int64_t when, int64_t width)
{
    int64_t r = when % width;
    return when - (r < 0 ? r + width : r);
}

static int slot_index(int w, int64_t start)
{
    const struct window_spec *ws = &windows[w];
    int64_t n = floor_to(start, ws->width) / ws->width % ws->slots;
    return ws->offset + (int)(n < 0 ? n + ws->slots : n);
}

/* The first bucket start of window w at now. */
static int64_t window_first(int w, int64_t now)
{
    return floor_to(now, windows[w].width) - (windows[w].slots - 1) * windows[w].width;
}

static uint32_t add_saturated(uint32_t a, int64_t b)
{
    if (b <= 0)
        return a;
    return b >= (int64_t)(UINT32_MAX - a) ? UINT32_MAX : a + (uint32_t)b;
}

/* Sums window w's current buckets that started after reset_at (an unthrottle).  The bucket in
 * which the reset falls is forgiven whole, even one that starts in its very second: the reset is
 * kept in whole seconds, and that second's counted messages came before it. */
static void window_sum(const struct account *a, int w, int64_t now, int64_t reset_at, int64_t *msgs,
                       int64_t *rcpts)
{
    *msgs = *rcpts = 0;
    for (int64_t start = window_first(w, now); start <= now; start += windows[w].width) {
        const struct bucket *b = &a->buckets[slot_index(w, start)];
        if (b->start != start || start <= reset_at)
            continue;
        *msgs += b->msgs;
        *rcpts += b->rcpts;
    }
}

/* ---- the baseline ----------------------------------------------------------------------- */

/* Sums of hourly buckets, fed in ascending order of start (distinct days are counted by change). */
struct baseline_sum {
    int64_t msgs, rcpts, minutes, hours, days, last_day;
};

static void baseline_sum_add(struct baseline_sum *sum, int64_t start, int64_t msgs, int64_t rcpts,
                             int64_t minutes)
{
    if (msgs <= 0)
        return;
    sum->msgs += msgs;
    sum->rcpts += rcpts;
    /* An hour with mail had at least one minute with mail, whatever an old row says. */
    sum->minutes += minutes > 0 ? minutes : 1;
    sum->hours++;
    int64_t day = floor_to(start, DAY) / DAY;
    if (sum->days == 0 || day != sum->last_day) {
        sum->days++;
        sum->last_day = day;
    }
}

static double ratio(int64_t total, int64_t n)
{
    return n > 0 ? (double)total / (double)n : 0.0;
}

/*
 * Completes sum with the day ring's hours before hour (the ones the store part left out, from
 * hour - 23 h), and sets a's baseline for hour.
 */
static void baseline_finish(struct account *a, struct baseline_sum *sum, int64_t hour)
{
    for (int64_t start = hour - 23 * HOUR; start < hour; start += HOUR) {
        int i = slot_index(THROTTLE_DAY, start);
        const struct bucket *b = &a->buckets[i];
        if (b->start == start)
            baseline_sum_add(sum, start, b->msgs, b->rcpts,
                             a->hour_minutes[i - windows[THROTTLE_DAY].offset]);
    }
    a->baseline[THROTTLE_MINUTE][0] = ratio(sum->msgs, sum->minutes);
    a->baseline[THROTTLE_MINUTE][1] = ratio(sum->rcpts, sum->minutes);
    a->baseline[THROTTLE_HOUR][0] = ratio(sum->msgs, sum->hours);
    a->baseline[THROTTLE_HOUR][1] = ratio(sum->rcpts, sum->hours);
    a->baseline[THROTTLE_DAY][0] = ratio(sum->msgs, sum->days);
    a->baseline[THROTTLE_DAY][1] = ratio(sum->rcpts, sum->days);
    a->baseline_hour = hour;
}

static int64_t history_seconds(const struct config *cfg)
{
    return floor_to(cfg->throttle_history / 1000, HOUR);
}

/* ---- loading ---------------------------------------------------------------------------- */

struct load {
    struct account *a; /* NULL: only the baseline sum is wanted */
    int64_t now, hour;
    struct baseline_sum sum;
};

static int window_of_width(int64_t width)
{
    for (int w = 0; w < THROTTLE_WINDOWS; w++)
        if (windows[w].width == width)
            return w;
    return -1;
}

/* A stored bucket: into its ring when current, into the baseline sum when older than the ring. */
static void load_bucket(const struct store_throttle_bucket *row, void *arg)
{
    struct load *l = arg;
    int w = window_of_width(row->width);

    if (w < 0)
        return;
    if (w == THROTTLE_DAY && row->start < l->hour - 23 * HOUR) {
        baseline_sum_add(&l->sum, row->start, row->msgs, row->rcpts, row->minutes);
        return;
    }
    if (l->a == NULL || row->start < window_first(w, l->now) || row->start > l->now ||
        floor_to(row->start, row->width) != row->start)
        return;
    int i = slot_index(w, row->start);
    struct bucket *b = &l->a->buckets[i];
    b->start = row->start;
    b->msgs = add_saturated(0, row->msgs);
    b->rcpts = add_saturated(0, row->rcpts);
    if (w == THROTTLE_DAY)
        l->a->hour_minutes[i - windows[w].offset] = (uint8_t)(row->minutes > 60  ? 60
                                                              : row->minutes < 0 ? 0
                                                                                 : row->minutes);
}

/* Builds account name's state from the store (not yet in the table): *out owned by the caller. */
static enum store_status account_load(const struct config *cfg, struct store *s, const char *name,
                                      int64_t now, struct account **out)
{
    struct load l = {.now = now, .hour = floor_to(now, HOUR)};
    enum store_status status;

    l.a = xcalloc(1, sizeof *l.a);
    l.a->name = xstrdup(name);
    l.a->hash = name_hash(name);
    l.a->last_seen = now;
    l.a->refreshed_at = now;
    status = store_throttle_bucket_each(s, name, 0, l.hour - history_seconds(cfg), INT64_MAX,
                                        load_bucket, &l, NULL);
    if (status != STORE_OK && status != STORE_NOTFOUND) {
        account_free(l.a);
        return status;
    }
    baseline_finish(l.a, &l.sum, l.hour);
    *out = l.a;
    return STORE_OK;
}

/* The store part of a baseline at a new hour: hourly buckets older than the day ring. */
static enum store_status baseline_read(const struct config *cfg, struct store *s, const char *name,
                                       int64_t hour, struct baseline_sum *sum)
{
    struct load l = {.hour = hour};
    enum store_status status = store_throttle_bucket_each(
        s, name, HOUR, hour - history_seconds(cfg), hour - 23 * HOUR, load_bucket, &l, NULL);

    *sum = l.sum;
    return status == STORE_NOTFOUND ? STORE_OK : status;
}

/* ---- the fleet's counts ----------------------------------------------------------------- */

/* Adds a count of this host's into the ring bucket it belongs to, when that is current. */
static void ring_merge(struct account *a, int64_t now, int64_t width, int64_t start, int64_t msgs,
                       int64_t rcpts, int64_t minutes)
{
    int w = window_of_width(width);

    if (w < 0 || start < window_first(w, now) || start > now)
        return;
    int i = slot_index(w, start);
    struct bucket *b = &a->buckets[i];
    if (b->start > start)
        return;
    if (b->start < start) {
        *b = (struct bucket){.start = start};
        if (w == THROTTLE_DAY)
            a->hour_minutes[i - windows[w].offset] = 0;
    }
    b->msgs = add_saturated(b->msgs, msgs);
    b->rcpts = add_saturated(b->rcpts, rcpts);
    if (w == THROTTLE_DAY) {
        uint8_t *m = &a->hour_minutes[i - windows[w].offset];
        int64_t sum = *m + (minutes > 0 ? minutes : 0);
        *m = (uint8_t)(sum > 60 ? 60 : sum);
    }
}

/*
 * Reads account name's current buckets again (every host's flushed counts) and makes them its
 * rings, with this host's deltas not yet flushed added back.  Skipped (STORE_OK, nothing changed)
 * while a flush runs.  Called without t->lock.
 */
static enum store_status account_refresh(struct throttle *t, struct store *s, const char *name,
                                         uint32_t hash, int64_t now)
{
    if (pthread_mutex_trylock(&t->flush_lock) != 0)
        return STORE_OK;
    struct load l = {.now = now, .hour = floor_to(now, HOUR)};
    l.a = xcalloc(1, sizeof *l.a);
    enum store_status status = store_throttle_bucket_each(
        s, name, 0, window_first(THROTTLE_DAY, now), INT64_MAX, load_bucket, &l, NULL);
    if (status == STORE_OK || status == STORE_NOTFOUND) {
        status = STORE_OK;
        pthread_mutex_lock(&t->lock);
        struct account *a = table_find(t, name, hash);
        if (a != NULL) {
            memcpy(a->buckets, l.a->buckets, sizeof a->buckets);
            memcpy(a->hour_minutes, l.a->hour_minutes, sizeof a->hour_minutes);
            for (size_t i = 0; i < a->npending; i++) {
                const struct pending *p = &a->pending[i];
                ring_merge(a, now, p->width, p->start, p->msgs, p->rcpts, p->minutes);
            }
            for (size_t i = 0; i < t->noverflow; i++) {
                const struct store_throttle_bucket *row = &t->overflow[i];
                if (str_casecmp(row->account, name) == 0)
                    ring_merge(a, now, row->width, row->start, row->msgs, row->rcpts, row->minutes);
            }
            a->refreshed_at = now;
        }
        pthread_mutex_unlock(&t->lock);
    }
    pthread_mutex_unlock(&t->flush_lock);
    account_free(l.a);
    return status;
}

static bool refresh_due(const struct account *a, int64_t now)
{
    return now - a->refreshed_at >= THROTTLE_REFRESH_SECONDS || now < a->refreshed_at;
}

/* ---- deciding --------------------------------------------------------------------------- */

/* Copies the stored reason as printable ASCII without '%' (it is shown in replies and logs). */
static void copy_reason(char *dst, size_t dstlen, const char *src)
{
    size_t o = 0;

    for (; *src != '\0' && o + 1 < dstlen; src++) {
        unsigned char c = (unsigned char)*src;
        dst[o++] = c < 0x20 || c >= 0x7f || c == '%' ? '?' : (char)c;
    }
    dst[o] = '\0';
}

/* Is count over the static or adaptive limit of (window w, k)?  Writes the reason when it is. */
static bool over_limit(const struct account *a, const struct config *cfg,
                       const struct store_throttle_state *st, int w, int k, int64_t count,
                       struct throttle_decision *d)
{
    const struct limit_spec *spec = &limit_specs[w * 2 + k];
    int64_t own = st->limits[w * 2 + k];
    int64_t limit = own >= 0 ? own : config_long(cfg, spec->limit_offset);

    if (limit > 0 && count > limit) {
        snprintf(d->reason, sizeof d->reason, "%s window: %" PRId64 " %s > limit %" PRId64 " (%s)",
                 windows[w].name, count, spec->noun, limit, own >= 0 ? "account's own" : "static");
        return true;
    }
    if (cfg->throttle_factor <= 0)
        return false;
    /* An account's own limit is also its floor: it may send that much from its first day. */
    int64_t floor = own > 0 ? own : config_long(cfg, spec->floor_offset);
    double baseline = a->baseline[w][k];
    double adaptive = (double)cfg->throttle_factor * baseline;
    if ((double)count <= adaptive || count <= floor)
        return false;
    if (adaptive >= (double)floor)
        snprintf(d->reason, sizeof d->reason,
                 "%s window: %" PRId64 " %s > %ld x baseline %.1f (adaptive)", windows[w].name,
                 count, spec->noun, cfg->throttle_factor, baseline);
    else
        snprintf(d->reason, sizeof d->reason,
                 "%s window: %" PRId64 " %s > floor %" PRId64 " (adaptive; %ld x baseline %.1f "
                 "is lower)",
                 windows[w].name, count, spec->noun, floor, cfg->throttle_factor, baseline);
    return true;
}

/* The limits of (window w, k) that over_limit() applies, for the decision's figures. */
static void limits_of(const struct account *a, const struct config *cfg,
                      const struct store_throttle_state *st, int w, int k,
                      struct throttle_decision *d)
{
    const struct limit_spec *spec = &limit_specs[w * 2 + k];
    int64_t own = st->limits[w * 2 + k];
    int64_t floor = own > 0 ? own : config_long(cfg, spec->floor_offset);
    double adaptive = (double)cfg->throttle_factor * a->baseline[w][k];

    d->baseline[w][k] = a->baseline[w][k];
    d->static_limit[w][k] = own >= 0 ? own : config_long(cfg, spec->limit_offset);
    d->adaptive_limit[w][k] = cfg->throttle_factor <= 0  ? 0
                              : adaptive > (double)floor ? adaptive
                                                         : (double)floor;
}

/* Called with t->lock held. */
static void decide(struct account *a, const struct config *cfg,
                   const struct store_throttle_state *st, unsigned nrcpt, int64_t now,
                   struct throttle_decision *d)
{
    for (int w = 0; w < THROTTLE_WINDOWS; w++) {
        window_sum(a, w, now, st->reset_at, &d->msgs[w], &d->rcpts[w]);
        d->msgs[w] += 1;
        d->rcpts[w] += nrcpt;
        limits_of(a, cfg, st, w, 0, d);
        limits_of(a, cfg, st, w, 1, d);
    }
    a->throttled = st->throttled != 0;
    a->last_seen = now;
    if (a->throttled) {
        d->abnormal = d->already_throttled = true;
        copy_reason(d->reason, sizeof d->reason, st->reason[0] ? st->reason : "account throttled");
        return;
    }
    for (int w = 0; w < THROTTLE_WINDOWS; w++) {
        if (over_limit(a, cfg, st, w, 0, d->msgs[w], d) ||
            over_limit(a, cfg, st, w, 1, d->rcpts[w], d)) {
            d->abnormal = true;
            return;
        }
    }
}

enum store_status throttle_check(struct throttle *t, const struct config *cfg, struct store *s,
                                 const char *account, unsigned nrcpt, time_t now,
                                 struct throttle_decision *d)
{
    struct store_throttle_state st;
    int64_t hour = floor_to(now, HOUR);
    uint32_t hash = name_hash(account);
    enum store_status status;

    memset(d, 0, sizeof *d);
    if (!cfg->throttle)
        return STORE_OK;
    if (strlen(account) > THROTTLE_ACCOUNT_MAX)
        return STORE_ERROR;
    status = store_throttle_get(s, account, &st, NULL);
    if (status != STORE_OK && status != STORE_NOTFOUND)
        return status;

    /* Each pass either decides, or does one store read with the lock released and tries again:
     * another thread may load the account, or a flush evict it, in between.  A refresh is tried
     * once: when a flush kept it from running, the check decides on the counts it has. */
    bool refreshed = false;
    for (int attempt = 0; attempt < 4; attempt++) {
        struct account *fresh = NULL;
        struct baseline_sum sum = {0};

        pthread_mutex_lock(&t->lock);
        struct account *a = table_find(t, account, hash);
        bool refresh = a != NULL && !refreshed && refresh_due(a, now);
        if (a != NULL && a->baseline_hour == hour && !refresh) {
            decide(a, cfg, &st, nrcpt, now, d);
            pthread_mutex_unlock(&t->lock);
            return STORE_OK;
        }
        pthread_mutex_unlock(&t->lock);

        if (a != NULL && a->baseline_hour == hour) {
            refreshed = true;
            status = account_refresh(t, s, account, hash, now);
            if (status != STORE_OK)
                return status;
            continue;
        }
        status = a == NULL ? account_load(cfg, s, account, now, &fresh)
                           : baseline_read(cfg, s, account, hour, &sum);
        if (status != STORE_OK)
            return status;

        pthread_mutex_lock(&t->lock);
        a = table_find(t, account, hash);
        if (fresh != NULL && a == NULL)
            table_insert(t, fresh);
        else
            account_free(fresh);
        if (fresh == NULL && a != NULL && a->baseline_hour != hour)
            baseline_finish(a, &sum, hour);
        pthread_mutex_unlock(&t->lock);
    }
    return STORE_BUSY;
}

/* ---- counting --------------------------------------------------------------------------- */

static void pending_add(struct account *a, int64_t width, int64_t start, unsigned nrcpt,
                        uint32_t minutes)
{
    struct pending *p = NULL;

    for (size_t i = 0; i < a->npending && p == NULL; i++)
        if (a->pending[i].width == width && a->pending[i].start == start)
            p = &a->pending[i];
    if (p == NULL) {
        if (a->npending == a->pending_cap) {
            a->pending_cap = a->pending_cap ? a->pending_cap * 2 : 4;
            a->pending = xrealloc(a->pending, a->pending_cap * sizeof *a->pending);
        }
        p = &a->pending[a->npending++];
        *p = (struct pending){.width = width, .start = start};
    }
    p->msgs = add_saturated(p->msgs, 1);
    p->rcpts = add_saturated(p->rcpts, nrcpt);
    p->minutes = add_saturated(p->minutes, minutes);
}

static void overflow_push(struct throttle *t, const struct store_throttle_bucket *row)
{
    if (t->noverflow == t->overflow_cap) {
        t->overflow_cap = t->overflow_cap ? t->overflow_cap * 2 : 16;
        t->overflow = xrealloc(t->overflow, t->overflow_cap * sizeof *t->overflow);
    }
    t->overflow[t->noverflow++] = *row;
}

/* Counts into window w's ring; true when the bucket was empty (a new minute, for w = hour). */
static bool ring_add(struct account *a, int w, int64_t start, unsigned nrcpt)
{
    int i = slot_index(w, start);
    struct bucket *b = &a->buckets[i];

    if (b->start > start) /* the clock went back past the ring: the store still gets it */
        return false;
    if (b->start < start) {
        *b = (struct bucket){.start = start};
        if (w == THROTTLE_DAY)
            a->hour_minutes[i - windows[w].offset] = 0;
    }
    bool was_empty = b->msgs == 0;
    b->msgs = add_saturated(b->msgs, 1);
    b->rcpts = add_saturated(b->rcpts, nrcpt);
    return was_empty;
}

void throttle_add(struct throttle *t, const char *account, unsigned nrcpt, time_t now)
{
    uint32_t hash = name_hash(account);

    if (strlen(account) > THROTTLE_ACCOUNT_MAX)
        return;
    pthread_mutex_lock(&t->lock);
    struct account *a = table_find(t, account, hash);
    if (a == NULL) {
        for (int w = 0; w < THROTTLE_WINDOWS; w++) {
            struct store_throttle_bucket row = {
                .account = xstrdup(account),
                .width = windows[w].width,
                .start = floor_to(now, windows[w].width),
                .msgs = 1,
                .rcpts = nrcpt,
                .minutes = w == THROTTLE_DAY, /* at most one minute too many for that hour */
            };
            overflow_push(t, &row);
        }
    } else if (!a->throttled) {
        int64_t minute = floor_to(now, windows[THROTTLE_HOUR].width);
        int64_t hour = floor_to(now, HOUR);
        bool new_minute = ring_add(a, THROTTLE_HOUR, minute, nrcpt);
        ring_add(a, THROTTLE_MINUTE, floor_to(now, windows[THROTTLE_MINUTE].width), nrcpt);
        ring_add(a, THROTTLE_DAY, hour, nrcpt);
        if (new_minute) {
            uint8_t *m =
                &a->hour_minutes[slot_index(THROTTLE_DAY, hour) - windows[THROTTLE_DAY].offset];
            *m = *m < 60 ? (uint8_t)(*m + 1) : 60;
        }
        pending_add(a, windows[THROTTLE_MINUTE].width,
                    floor_to(now, windows[THROTTLE_MINUTE].width), nrcpt, 0);
        pending_add(a, windows[THROTTLE_HOUR].width, minute, nrcpt, 0);
        pending_add(a, HOUR, hour, nrcpt, new_minute ? 1 : 0);
        a->last_seen = now;
    }
    pthread_mutex_unlock(&t->lock);
}

/* ---- persistence ------------------------------------------------------------------------ */

static int compare_rows(const void *x, const void *y)
{
    const struct store_throttle_bucket *a = x, *b = y;
    int c = strcmp(a->account, b->account);

    if (c != 0)
        return c;
    if (a->width != b->width)
        return a->width < b->width ? -1 : 1;
    return a->start < b->start ? -1 : a->start > b->start;
}

/* Takes every pending delta (the overflow list and each account's), with owned names.  Called
 * with t->lock held. */
static struct store_throttle_bucket *take_pending(struct throttle *t, size_t *n)
{
    struct store_throttle_bucket *rows = t->overflow;
    size_t count = t->noverflow, cap = t->overflow_cap;

    t->overflow = NULL;
    t->noverflow = t->overflow_cap = 0;
    for (size_t i = 0; i < t->size; i++) {
        for (struct account *a = t->table[i]; a != NULL; a = a->next) {
            for (size_t j = 0; j < a->npending; j++) {
                if (count == cap) {
                    cap = cap ? cap * 2 : 64;
                    rows = xrealloc(rows, cap * sizeof *rows);
                }
                const struct pending *p = &a->pending[j];
                rows[count++] = (struct store_throttle_bucket){
                    .account = xstrdup(a->name),
                    .width = p->width,
                    .start = p->start,
                    .msgs = p->msgs,
                    .rcpts = p->rcpts,
                    .minutes = p->minutes,
                };
            }
            a->npending = 0;
        }
    }
    *n = count;
    return rows;
}

/* Frees the accounts idle since before `before` with nothing pending.  With t->lock held. */
static void evict_idle(struct throttle *t, int64_t before)
{
    for (size_t i = 0; i < t->size; i++) {
        struct account **link = &t->table[i];
        while (*link != NULL) {
            struct account *a = *link;
            if (a->last_seen < before && a->npending == 0) {
                *link = a->next;
                account_free(a);
                t->count--;
            } else {
                link = &a->next;
            }
        }
    }
}

enum store_status throttle_flush(struct throttle *t, struct store *s, time_t now,
                                 struct store_error *err)
{
    enum store_status status = STORE_OK;
    size_t n;

    pthread_mutex_lock(&t->flush_lock);
    pthread_mutex_lock(&t->lock);
    struct store_throttle_bucket *rows = take_pending(t, &n);
    pthread_mutex_unlock(&t->lock);

    /* In key order: the B-tree pages are visited once each, in order. */
    if (n > 0) {
        qsort(rows, n, sizeof *rows, compare_rows);
        status = store_throttle_bucket_add(s, rows, n, err);
    }

    pthread_mutex_lock(&t->lock);
    if (status == STORE_OK) {
        overflow_free(rows, n);
        evict_idle(t, (int64_t)now - IDLE_EVICT);
    } else {
        for (size_t i = 0; i < n; i++)
            overflow_push(t, &rows[i]); /* the names move with them */
        free(rows);
    }
    pthread_mutex_unlock(&t->lock);
    pthread_mutex_unlock(&t->flush_lock);
    return status;
}

enum store_status throttle_expire(struct store *s, const struct config *cfg, time_t now,
                                  size_t batch, size_t *deleted, struct store_error *err)
{
    return store_throttle_expire(s, (int64_t)now - HOUR, (int64_t)now - history_seconds(cfg) - DAY,
                                 batch, deleted, err);
}
