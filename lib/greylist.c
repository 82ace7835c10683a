/*
 * greylist: triplets, delay, retry window, auto-allowlist, SPF-domain keys and the SPF+DKIM
 * bypass (ARCHITECTURE.md "Greylisting").  The rules are in greylist.h; this file has two halves:
 *
 *  - the key: greylist_key_make() and its parts, pure functions of untrusted text, bounded and
 *    total (every input gives a defined key), so they can be fuzzed alone;
 *  - the decision: decide() runs inside the store's transaction (store_greylist_update) on the
 *    rows read for one check, and marks the rows to write.  It is the only place that knows the
 *    rules, and it never sees SQL.
 *
 * Greylisting works because RFC 5321 4.5.4.1 asks a client to retry after a 4xx reply, which
 * spam engines that fire and forget do not do.
 */
#include "greylist.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "metrics.h"
#include "util.h"

#define SPF_SOURCE_PREFIX "spf:"
#define UNKNOWN_NETWORK "unknown"
#define NULL_SENDER "<>"
#define TAG_ROUNDS 4 /* nested BATV/SRS forms undone at most this often */

/* ------------------------------------------------------------------------------------------ */
/* The key                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* An address split in two, both parts bounded by the input bound. */
struct addr_parts {
    char local[GREYLIST_INPUT_MAX + 1];
    char domain[GREYLIST_INPUT_MAX + 1];
    bool has_at;
};

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

static bool is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/*
 * Steps 1-4 of greylist.h: the address without brackets, source route, quotes, comments, white
 * space and control bytes, ASCII lowered, split at the last '@' outside quotes.  Returns false
 * when nothing is left (the null sender).
 */
static bool addr_split(const char *in, struct addr_parts *a)
{
    size_t n = in ? strnlen(in, GREYLIST_INPUT_MAX) : 0;
    const char *b = in, *e = in ? in + n : in;
    char clean[GREYLIST_INPUT_MAX + 1];
    size_t len = 0, at = SIZE_MAX;
    bool quoted = false;
    size_t depth = 0;

    a->local[0] = a->domain[0] = '\0';
    a->has_at = false;
    if (in == NULL)
        return false;
    while (b < e && is_space((unsigned char)*b))
        b++;
    while (e > b && is_space((unsigned char)e[-1]))
        e--;
    if (b < e && *b == '<')
        b++;
    if (e > b && e[-1] == '>')
        e--;
    /* RFC 5321 4.1.2 A-d-l: "@relay1,@relay2:local@domain" */
    if (b < e && *b == '@') {
        const char *colon = memchr(b, ':', (size_t)(e - b));
        if (colon != NULL)
            b = colon + 1;
    }
    for (const char *p = b; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if (quoted) {
            if (c == '\\' && p + 1 < e)
                c = (unsigned char)*++p; /* quoted-pair */
            else if (c == '"') {
                quoted = false;
                continue;
            }
            if (!is_control(c))
                clean[len++] = (char)lower(c); /* '@' here is part of the local part */
        } else if (depth > 0) {
            if (c == '\\' && p + 1 < e)
                p++;
            else if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
        } else if (c == '"') {
            quoted = true;
        } else if (c == '(') {
            depth = 1;
        } else if (!is_control(c) && c != ' ') {
            if (c == '@')
                at = len;
            clean[len++] = (char)lower(c);
        }
    }
    clean[len] = '\0';
    if (len == 0)
        return false;
    if (at == SIZE_MAX) {
        memcpy(a->local, clean, len + 1);
        return true;
    }
    a->has_at = true;
    memcpy(a->local, clean, at);
    a->local[at] = '\0';
    memcpy(a->domain, clean + at + 1, len - at);
    return true;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* BATV (draft-levine-smtp-batv 4): "prvs=TAG=local" -> "local". */
static bool strip_batv(struct addr_parts *a)
{
    static const char *const prefixes[] = {"prvs=", "msprvs1="};

    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        const char *tag, *rest;
        if (!starts_with(a->local, prefixes[i]))
            continue;
        tag = a->local + strlen(prefixes[i]);
        rest = strchr(tag, '=');
        if (rest == NULL || rest == tag || rest[1] == '\0')
            return false;
        memmove(a->local, rest + 1, strlen(rest + 1) + 1);
        return true;
    }
    return false;
}

/* SRS0 fields "HASH=TT=domain=local" -> local@domain (the local part may itself hold '='). */
static bool srs0_fields(const char *fields, struct addr_parts *a)
{
    const char *tt, *domain, *local;
    size_t domain_len;

    tt = strchr(fields, '=');
    if (tt == NULL || tt == fields)
        return false;
    tt++;
    domain = strchr(tt, '=');
    if (domain == NULL || domain == tt)
        return false;
    domain++;
    local = strchr(domain, '=');
    if (local == NULL || local == domain || local[1] == '\0')
        return false;
    domain_len = (size_t)(local - domain);
    local++;
    memcpy(a->domain, domain, domain_len); /* distinct buffers: domain points into local */
    a->domain[domain_len] = '\0';
    a->has_at = true;
    memmove(a->local, local, strlen(local) + 1);
    return true;
}

static bool srs_separator(char c)
{
    return c == '=' || c == '+' || c == '-';
}

/*
 * SRS (Shevek, "Sender Rewriting Scheme", 2004): SRS0=HASH=TT=domain=local and
 * SRS1=HASH=forwarder==HASH=TT=domain=local, where the second '=' of "==" is the separator of
 * the SRS0 address the first forwarder made.
 */
static bool strip_srs(struct addr_parts *a)
{
    const char *p, *forwarder;

    if (starts_with(a->local, "srs0") && srs_separator(a->local[4]))
        return srs0_fields(a->local + 5, a);
    if (!starts_with(a->local, "srs1") || !srs_separator(a->local[4]))
        return false;
    p = a->local + 5;
    p = strchr(p, '='); /* end of the hash */
    if (p == NULL || p == a->local + 5)
        return false;
    forwarder = p + 1;
    p = strchr(forwarder, '='); /* end of the first forwarder's domain */
    if (p == NULL || p == forwarder || !srs_separator(p[1]))
        return false;
    return srs0_fields(p + 2, a);
}

/* Subaddress: "user+tag" -> "user" (a leading '+' is the whole name, kept). */
static void strip_subaddress(struct addr_parts *a)
{
    char *plus = a->local[0] != '\0' ? strchr(a->local + 1, '+') : NULL;

    if (plus != NULL)
        *plus = '\0';
}

static bool verp_separator(char c)
{
    return c == '-' || c == '.' || c == '_' || c == '=' || c == '+';
}

/* A part between separators that changes per message: a number, or a hash-like word. */
static bool verp_variable(const char *part, size_t len)
{
    bool digit = false, letter = false;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)part[i];
        if (c >= '0' && c <= '9')
            digit = true;
        else if (c >= 'a' && c <= 'z')
            letter = true;
        else
            return false;
    }
    return digit && (!letter || len >= 8);
}

/* VERP: "bounce-12345-user=example.com" -> "bounce-#-user=example.com", in place. */
static void strip_verp(struct addr_parts *a)
{
    char *w = a->local;
    const char *p = a->local;
    bool separated = false;

    for (const char *q = a->local; *q != '\0'; q++)
        separated |= verp_separator(*q);
    if (!separated)
        return;
    while (*p != '\0') {
        size_t len = 0;
        if (verp_separator(*p)) {
            *w++ = *p++;
            continue;
        }
        while (p[len] != '\0' && !verp_separator(p[len]))
            len++;
        if (verp_variable(p, len)) {
            *w++ = '#';
        } else {
            memmove(w, p, len); /* w never passes p: '#' replaces at least one byte */
            w += len;
        }
        p += len;
    }
    *w = '\0';
}

/* Step 5 of greylist.h. */
static void strip_tags(struct addr_parts *a)
{
    for (int round = 0; round < TAG_ROUNDS; round++) {
        bool changed = strip_batv(a);
        changed |= strip_srs(a);
        if (!changed)
            break;
    }
    strip_subaddress(a);
    strip_verp(a);
}

/* Step 6: a part longer than max becomes "#" and its hash, in place (the buffer is larger). */
static void bound_part(char *part, size_t max)
{
    if (strlen(part) <= max)
        return;
    snprintf(part, 18, "#%016" PRIx64, hash_fnv1a(part, strlen(part)));
}

static void addr_finish(struct addr_parts *a, char *out)
{
    size_t dlen = strlen(a->domain);

    while (dlen > 0 && a->domain[dlen - 1] == '.')
        a->domain[--dlen] = '\0';
    str_utf8_sanitize(a->local);
    str_utf8_sanitize(a->domain);
    bound_part(a->local, GREYLIST_LOCAL_MAX);
    bound_part(a->domain, GREYLIST_DOMAIN_MAX);
    if (a->local[0] == '\0' && a->domain[0] == '\0') {
        str_copy(out, GREYLIST_ADDR_MAX + 1, NULL_SENDER);
        return;
    }
    /* Fits: 64 + 1 + 255 bytes at most. */
    snprintf(out, GREYLIST_ADDR_MAX + 1, "%.*s%s%.*s", GREYLIST_LOCAL_MAX, a->local,
             a->has_at ? "@" : "", GREYLIST_DOMAIN_MAX, a->domain);
}

static void normalize(const char *in, bool sender, char *out)
{
    struct addr_parts a;

    if (!addr_split(in, &a)) {
        str_copy(out, GREYLIST_ADDR_MAX + 1, NULL_SENDER);
        return;
    }
    if (sender)
        strip_tags(&a);
    addr_finish(&a, out);
}

void greylist_normalize_sender(const char *in, char *out)
{
    normalize(in, true, out);
}

void greylist_normalize_recipient(const char *in, char *out)
{
    normalize(in, false, out);
}

static void mask_bits(unsigned char *addr, size_t bytes, long prefix)
{
    for (size_t i = 0; i < bytes; i++) {
        long bits = prefix - (long)i * 8;
        if (bits >= 8)
            continue;
        addr[i] &= bits <= 0 ? 0 : (unsigned char)(0xff << (8 - bits));
    }
}

static long clamp(long v, long lo, long hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void greylist_network(const char *client_ip, long ipv4_prefix, long ipv6_prefix, char *out)
{
    char text[INET6_ADDRSTRLEN + 1];
    const char *ip = client_ip;
    size_t len;
    unsigned char addr[16];
    char shown[INET6_ADDRSTRLEN];

    str_copy(out, GREYLIST_NETWORK_MAX, UNKNOWN_NETWORK);
    if (ip == NULL)
        return;
    len = strnlen(ip, sizeof text + 8);
    if (len > 0 && ip[0] == '[' && ip[len - 1] == ']') {
        ip++;
        len -= 2;
    }
    if (len >= 5 && strncasecmp(ip, "ipv6:", 5) == 0) {
        ip += 5;
        len -= 5;
    }
    if (len == 0 || len >= sizeof text)
        return;
    memcpy(text, ip, len);
    text[len] = '\0';

    if (inet_pton(AF_INET, text, addr) == 1) {
        long prefix = clamp(ipv4_prefix, 1, 32);
        mask_bits(addr, 4, prefix);
        inet_ntop(AF_INET, addr, shown, sizeof shown);
        snprintf(out, GREYLIST_NETWORK_MAX, "%s/%ld", shown, prefix);
        return;
    }
    if (inet_pton(AF_INET6, text, addr) != 1)
        return;
    /* ::ffff:a.b.c.d is the IPv4 client a.b.c.d (a dual-stack MTA reports it so). */
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(addr, mapped, sizeof mapped) == 0) {
        long prefix = clamp(ipv4_prefix, 1, 32);
        mask_bits(addr + 12, 4, prefix);
        inet_ntop(AF_INET, addr + 12, shown, sizeof shown);
        snprintf(out, GREYLIST_NETWORK_MAX, "%s/%ld", shown, prefix);
        return;
    }
    long prefix = clamp(ipv6_prefix, 1, 128);
    mask_bits(addr, 16, prefix);
    inet_ntop(AF_INET6, addr, shown, sizeof shown);
    snprintf(out, GREYLIST_NETWORK_MAX, "%s/%ld", shown, prefix);
}

void greylist_key_make(struct greylist_key *key, const char *client_ip, const char *sender,
                       const char *recipient, long ipv4_prefix, long ipv6_prefix)
{
    greylist_network(client_ip, ipv4_prefix, ipv6_prefix, key->network);
    greylist_normalize_sender(sender, key->sender);
    greylist_normalize_recipient(recipient, key->recipient);
}

/*
 * "spf:" and the domain, lower case; false when the domain is not a plain host name of at most
 * 253 bytes (then no SPF key is used: a strange domain gets no leniency).
 */
static bool spf_source(const char *domain, char *out, size_t outlen)
{
    size_t len, prefix = strlen(SPF_SOURCE_PREFIX);

    if (domain == NULL)
        return false;
    len = strnlen(domain, 254);
    while (len > 0 && domain[len - 1] == '.')
        len--;
    if (len == 0 || len > 253 || prefix + len + 1 > outlen)
        return false;
    memcpy(out, SPF_SOURCE_PREFIX, prefix);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = lower((unsigned char)domain[i]);
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
            return false;
        out[prefix + i] = (char)c;
    }
    out[prefix + len] = '\0';
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* The decision                                                                               */
/* ------------------------------------------------------------------------------------------ */

enum decide_mode { DECIDE_CHECK, DECIDE_CONFIRM };

struct decide_ctx {
    enum decide_mode mode;
    int64_t now;
    int64_t delay, window, max_age; /* seconds */
    long autoallow_after;
    struct greylist_result *result;
};

/* Durations in the config are milliseconds; greylisting counts whole seconds, rounded up. */
static int64_t seconds(int64_t ms)
{
    return ms <= 0 ? 0 : (ms + 999) / 1000;
}

/*
 * The retry window, never shorter than the delay: with a window shorter than the delay no retry
 * could ever pass (each would start over), so the delay wins.
 */
static int64_t window(const struct config *cfg)
{
    int64_t delay = seconds(cfg->greylist_delay), win = seconds(cfg->greylist_retry_window);
    return win > delay ? win : delay;
}

/* Time since then, never negative: a clock stepped back must not make a row look older. */
static int64_t age(int64_t now, int64_t then)
{
    return now > then ? now - then : 0;
}

static bool live_confirmed(const struct decide_ctx *d, const struct store_greylist_row *r)
{
    return r->source != NULL && r->found && r->confirmed_at != 0 &&
           age(d->now, r->last_seen) <= d->max_age;
}

static bool live_pending(const struct decide_ctx *d, const struct store_greylist_row *r)
{
    return r->source != NULL && r->found && r->confirmed_at == 0 &&
           age(d->now, r->first_seen) <= d->window;
}

/*
 * A pass through a confirmed row: its last use and count, written only when the recorded last use
 * is GREYLIST_REFRESH_AFTER old (half of greylist_max_age when that is shorter), so a triplet in
 * steady use costs a read, not a write transaction, per RCPT.  The price: last_seen lags the
 * real last use by less than that, so a triplet expires up to that much before greylist_max_age
 * after its real last use, and count counts passes at most once per that interval.
 */
static void row_use(const struct decide_ctx *d, struct store_greylist_row *r)
{
    int64_t refresh =
        d->max_age / 2 < GREYLIST_REFRESH_AFTER ? d->max_age / 2 : GREYLIST_REFRESH_AFTER;

    if (age(d->now, r->last_seen) < refresh)
        return;
    r->last_seen = d->now;
    r->count++;
    r->write = true;
}

/* The row becomes confirmed now; first is when the delay started. */
static void row_confirm(const struct decide_ctx *d, struct store_greylist_row *r, int64_t first)
{
    r->first_seen = first;
    r->last_seen = d->now;
    r->confirmed_at = d->now;
    r->count = 1;
    r->write = true;
}

static void row_pending(struct store_greylist_row *r, int64_t first)
{
    r->first_seen = first;
    r->last_seen = first;
    r->confirmed_at = 0;
    r->count = 0;
    r->write = true;
}

/*
 * One delivery from the network (a pass).  Counted at most once per GREYLIST_AUTOALLOW_SPACING,
 * as postgrey does for its client auto-whitelist: a host that retried one triplet once and then
 * sends a burst must not be allowed for everything after a few minutes.  So the row is also
 * written at most once an hour per network, which keeps auto-allowed traffic nearly read-only.
 */
static void autoallow_count(const struct decide_ctx *d, struct store_autoallow_row *a)
{
    if (a->network == NULL)
        return;
    if (!a->found || age(d->now, a->last_seen) > d->max_age) {
        a->count = 1;
        a->first_seen = d->now;
        a->last_seen = d->now;
        a->write = true;
    } else if (age(d->now, a->last_seen) >= GREYLIST_AUTOALLOW_SPACING) {
        a->count++;
        a->last_seen = d->now;
        a->write = true;
    }
}

static bool autoallowed(const struct decide_ctx *d, const struct store_autoallow_row *a)
{
    return a->network != NULL && d->autoallow_after > 0 && a->found &&
           a->count >= d->autoallow_after && age(d->now, a->last_seen) <= d->max_age;
}

static void decide_confirm(struct decide_ctx *d, struct store_greylist_txn *t)
{
    for (int i = 0; i < STORE_GREYLIST_ROWS; i++) {
        struct store_greylist_row *r = &t->rows[i];
        if (r->source == NULL)
            continue;
        if (live_confirmed(d, r)) {
            row_use(d, r);
        } else {
            row_confirm(d, r, live_pending(d, r) ? r->first_seen : d->now);
            d->result->confirmed_now = true;
        }
    }
    d->result->outcome = GREYLIST_PASS;
    autoallow_count(d, &t->autoallow);
}

/* The rules of greylist_check(), in the order greylist.h gives them. */
static void decide_check(struct decide_ctx *d, struct store_greylist_txn *t)
{
    struct store_greylist_row *net = &t->rows[0], *spf = &t->rows[1];
    struct greylist_result *res = d->result;
    int64_t first = INT64_MAX;

    if (autoallowed(d, &t->autoallow)) {
        res->outcome = GREYLIST_AUTOALLOWED;
        autoallow_count(d, &t->autoallow);
        return;
    }
    if (live_confirmed(d, net) || live_confirmed(d, spf)) {
        res->outcome = GREYLIST_PASS;
        res->via_spf = !live_confirmed(d, net);
        if (live_confirmed(d, net))
            row_use(d, net);
        /* The SPF twin is kept in step, so the pool's other networks match from now on. */
        if (live_confirmed(d, spf))
            row_use(d, spf);
        else if (spf->source != NULL)
            row_confirm(d, spf, d->now);
        autoallow_count(d, &t->autoallow);
        return;
    }
    /* Pending: the earliest live first attempt, on either key, started the delay. */
    for (int i = 0; i < STORE_GREYLIST_ROWS; i++)
        if (live_pending(d, &t->rows[i]) && t->rows[i].first_seen < first)
            first = t->rows[i].first_seen;
    if (first == INT64_MAX)
        first = d->now;
    if (age(d->now, first) >= d->delay) {
        res->outcome = GREYLIST_PASS;
        res->confirmed_now = true;
        res->via_spf = !live_pending(d, net) && live_pending(d, spf);
        for (int i = 0; i < STORE_GREYLIST_ROWS; i++)
            if (t->rows[i].source != NULL)
                row_confirm(d, &t->rows[i], first);
        autoallow_count(d, &t->autoallow);
        return;
    }
    res->outcome = GREYLIST_GREYLISTED;
    res->retry_in = d->delay - age(d->now, first);
    /* An early retry writes nothing: its first_seen stands (the delay does not restart), and a
     * key it lacks is written when the triplet is confirmed.  A first sight records every key. */
    res->early_retry = live_pending(d, net) || live_pending(d, spf);
    if (res->early_retry)
        return;
    for (int i = 0; i < STORE_GREYLIST_ROWS; i++)
        if (t->rows[i].source != NULL)
            row_pending(&t->rows[i], d->now);
}

static void decide(struct store_greylist_txn *t, void *arg)
{
    struct decide_ctx *d = arg;

    /* The store may call this twice (a read pass, then under the write lock): start clean. */
    memset(d->result, 0, sizeof *d->result);

    if (d->mode == DECIDE_CONFIRM)
        decide_confirm(d, t);
    else
        decide_check(d, t);
}

/* ------------------------------------------------------------------------------------------ */
/* Entry points                                                                               */
/* ------------------------------------------------------------------------------------------ */

/* What the result says, for the log line and `ingressctl why`; now: the clock of the decision,
 * for the date a retry passes (a date, not only seconds: the line is read long after). */
static void result_detail(struct greylist_result *r, const struct greylist_key *key,
                          const char *spf_source_text, int64_t now)
{
    char network[GREYLIST_NETWORK_MAX], from[128], to[128], spf[96], retry_after[32];

    str_escape_word(network, sizeof network, key->network);
    str_escape_word(from, sizeof from, key->sender);
    str_escape_word(to, sizeof to, key->recipient);
    str_escape_word(spf, sizeof spf,
                    spf_source_text ? spf_source_text + strlen(SPF_SOURCE_PREFIX) : "");
    switch (r->outcome) {
    case GREYLIST_GREYLISTED:
        snprintf(r->detail, sizeof r->detail,
                 "greylisted: network=%s from=<%s> to=<%s>%s%s retry_in=%" PRId64
                 "s retry_after=%s",
                 network, from, to, *spf ? " spf=" : "", spf, r->retry_in,
                 time_format_utc(retry_after, sizeof retry_after, now + r->retry_in));
        break;
    case GREYLIST_PASS:
        snprintf(r->detail, sizeof r->detail, "%s: network=%s from=<%s> to=<%s>%s%s%s",
                 r->confirmed_now ? "confirmed" : "pass", network, from, to, *spf ? " spf=" : "",
                 spf, r->via_spf ? " (matched on the SPF domain)" : "");
        break;
    case GREYLIST_AUTOALLOWED:
        snprintf(r->detail, sizeof r->detail, "autoallowed: network=%s", network);
        break;
    case GREYLIST_OFF:
        snprintf(r->detail, sizeof r->detail, "greylisting off");
        break;
    case GREYLIST_STORE_FAILURE:
        snprintf(r->detail, sizeof r->detail, "store %s: network=%s from=<%s> to=<%s>",
                 r->store_status == STORE_BUSY ? "busy" : "error", network, from, to);
        break;
    }
}

/* The outcome in the daemon's counters (lib/metrics.h). */
static void count(const struct greylist_result *r, enum decide_mode mode)
{
    switch (r->outcome) {
    case GREYLIST_GREYLISTED:
        metrics_greylist(r->early_retry ? METRICS_GREYLIST_EARLY_RETRY : METRICS_GREYLIST_NEW);
        break;
    case GREYLIST_PASS:
        metrics_greylist(mode == DECIDE_CONFIRM ? METRICS_GREYLIST_BYPASSED
                                                : METRICS_GREYLIST_PASSED);
        break;
    case GREYLIST_AUTOALLOWED:
        metrics_greylist(METRICS_GREYLIST_AUTOALLOWED);
        break;
    case GREYLIST_STORE_FAILURE:
        metrics_greylist(METRICS_GREYLIST_STORE_FAILURE);
        break;
    case GREYLIST_OFF:
        break;
    }
}

static enum greylist_outcome run(struct store *s, const struct config *cfg,
                                 const struct greylist_key *key, const char *spf_pass_domain,
                                 int64_t now, struct greylist_result *result, enum decide_mode mode)
{
    char spf_text[sizeof SPF_SOURCE_PREFIX + 254];
    bool have_spf = spf_source(spf_pass_domain, spf_text, sizeof spf_text);
    bool known = strcmp(key->network, UNKNOWN_NETWORK) != 0;
    struct decide_ctx d = {
        .mode = mode,
        .now = now,
        .delay = seconds(cfg->greylist_delay),
        .window = window(cfg),
        .max_age = seconds(cfg->greylist_max_age),
        .autoallow_after = cfg->autoallow_after,
        .result = result,
    };
    struct store_greylist_txn t = {
        .sender = key->sender,
        .recipient = key->recipient,
        .rows = {{.source = key->network}, {.source = have_spf ? spf_text : NULL}},
        /* Autoallow off: the table is neither read nor written. */
        .autoallow = {.network = known && cfg->autoallow_after > 0 ? key->network : NULL},
    };
    enum store_status status;
    struct store_error why;

    memset(result, 0, sizeof *result);
    if (!cfg->greylist) {
        result->outcome = GREYLIST_OFF;
        result_detail(result, key, NULL, now);
        return result->outcome;
    }
    status = store_greylist_update(s, &t, decide, &d, &why);
    if (status != STORE_OK) {
        /* Whatever decide said, nothing was written: the outcome is "could not tell". */
        memset(result, 0, sizeof *result);
        result->outcome = GREYLIST_STORE_FAILURE;
        result->store_status = status;
    }
    result_detail(result, key, have_spf ? spf_text : NULL, now);
    count(result, mode);
    if (result->outcome == GREYLIST_STORE_FAILURE) {
        /* The log line and `why` say what the database said: locked, read-only, full, ... */
        char shown[sizeof why.text * 4];
        size_t len = strlen(result->detail);
        snprintf(result->detail + len, sizeof result->detail - len, " (%s)",
                 str_escape(shown, sizeof shown, why.text));
    }
    return result->outcome;
}

enum greylist_outcome greylist_check(struct store *s, const struct config *cfg,
                                     const struct greylist_key *key, const char *spf_pass_domain,
                                     int64_t now, struct greylist_result *result)
{
    return run(s, cfg, key, spf_pass_domain, now, result, DECIDE_CHECK);
}

enum greylist_outcome greylist_confirm(struct store *s, const struct config *cfg,
                                       const struct greylist_key *key, const char *spf_pass_domain,
                                       int64_t now, struct greylist_result *result)
{
    return run(s, cfg, key, spf_pass_domain, now, result, DECIDE_CONFIRM);
}

struct verdict greylist_verdict(const struct greylist_result *result,
                                const struct greylist_key *key, const struct config *cfg)
{
    (void)key; /* the detail already names the triplet */
    switch (result->outcome) {
    case GREYLIST_GREYLISTED: {
        struct verdict_args args = {.seconds = (long)result->retry_in};
        return verdict_make(VERDICT_TEMPFAIL, REPLY_GREYLISTED, "greylist", &args, "%s",
                            result->detail);
    }
    case GREYLIST_STORE_FAILURE:
        if (cfg->fail_open)
            return verdict_make(VERDICT_CONTINUE, REPLY_NONE, "greylist", NULL, "%s (fail_open)",
                                result->detail);
        return verdict_make(VERDICT_TEMPFAIL, REPLY_STORE_FAILURE, "greylist", NULL, "%s",
                            result->detail);
    case GREYLIST_PASS:
    case GREYLIST_AUTOALLOWED:
    case GREYLIST_OFF:
        break;
    }
    return verdict_make(VERDICT_CONTINUE, REPLY_NONE, "greylist", NULL, "%s", result->detail);
}

enum store_status greylist_expire(struct store *s, const struct config *cfg, int64_t now,
                                  size_t batch, size_t *deleted, struct store_error *err)
{
    int64_t max_age = seconds(cfg->greylist_max_age);

    if (batch == 0)
        batch = cfg->greylist_expire_batch > 0 ? (size_t)cfg->greylist_expire_batch : 1;
    /* "Past" means strictly older than the limit, as live_pending() and live_confirmed() say. */
    return store_greylist_expire(s, now - window(cfg), now - max_age, now - max_age, batch, deleted,
                                 err);
}

const char *greylist_outcome_name(enum greylist_outcome outcome)
{
    switch (outcome) {
    case GREYLIST_PASS:
        return "pass";
    case GREYLIST_AUTOALLOWED:
        return "autoallowed";
    case GREYLIST_GREYLISTED:
        return "greylisted";
    case GREYLIST_OFF:
        return "off";
    case GREYLIST_STORE_FAILURE:
        return "store_failure";
    }
    return "unknown";
}
