/*
 * spf: RFC 7208 check_host() for the HELO (2.3) and MAIL FROM (2.4) identities, with libspf2
 * doing the record compilation and mechanism walk and this file doing everything around it:
 *
 * - Our DNS layer (an SPF_dns_server_t whose lookup and get_spf hooks call dns_batch_lookup()):
 *   the system resolver layer of libspf2 is never created (SPF_server_new_dns with our layer), so
 *   no res_query() runs in this process, and its cache layer (not thread-safe) is not used either.
 *   The batch is the message's (both identities share it) or the check's own: a name that could
 *   not be resolved is asked once, and its failure answers every later term that names it.
 * - Record selection (4.5): TXT only (type SPF is never asked, 3.1), exactly one record that is
 *   "v=spf1" alone or followed by a space, else none (no record) or permerror (several).
 * - The processing limits of 4.6.4, counted across include and redirect (libspf2 restarts its
 *   count in each include): more than 10 DNS-querying terms, or more than 2 void lookups, is a
 *   permerror.  The layer sees every query, so it counts there (see layer_lookup for how the
 *   address queries of one mx or ptr term are told apart from new terms).
 * - The time limit of 4.6.4 (SPF_TIME_LIMIT_MS): no query is sent past it, and the result is
 *   temperror.
 * - libspf2's "no result" cases: a DNS error is temperror, a record that does not compile is
 *   permerror.
 * - Record syntax (12) checked before libspf2 compiles, and the record normalized for what
 *   libspf2 gets wrong (see record_normalize: redirect= placement, unknown modifiers, /0).
 * - Expanded names longer than 253 characters lose labels on the left (7.3).
 * - The explanation (6.2) is fetched and macro-expanded here (libspf2 1.2.10 mangles it): one
 *   TXT record of visible ASCII, or no explanation at all.
 * - Initial processing (4.3): a malformed or single-label domain gives none without a query; an
 *   IPv4-mapped IPv6 client is evaluated as the IPv4 address it carries (RFC 7208 5).
 *
 * Each check builds its own libspf2 server and layer (0.55 us measured, see
 * tests/spf/README.md) whose hook is the check's own state: no state is shared between
 * threads, and no thread-local storage is needed.  libspf2 itself keeps no mutable globals
 * besides its message handlers (set once by spf_library_init()).
 */
#include "spf.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <spf2/spf.h>

#include "log.h"
#include "util.h"

struct spf_checker {
    struct dns_resolver *resolver; /* borrowed */
    char receiver[DNS_NAME_MAX + 1];
    int64_t (*clock_ms)(void *arg); /* NULL: CLOCK_MONOTONIC */
    void *clock_arg;
};

/* What a record fetch (RFC 7208 4.5) found. */
enum fetch_status { FETCH_NOT_DONE, FETCH_OK, FETCH_NONE, FETCH_TEMP, FETCH_PERM };

/* The address queries of one mx or ptr term are bounded by 10 (RFC 7208 4.6.4). */
#define PENDING_MAX 10

/* One evaluation: the layer's hook, owned by spf_check()'s stack frame. */
struct eval {
    struct dns_batch *batch; /* every lookup goes through it (see spf_check in spf.h) */
    const struct spf_checker *checker;
    int64_t deadline_ms; /* of the checker's clock: SPF_TIME_LIMIT_MS after the start */
    bool over_time;
    unsigned fetches;   /* record fetches: the first is the identity's own record */
    unsigned dns_terms; /* include, a, mx, ptr, exists, redirect evaluated */
    unsigned voids;
    bool over_terms, over_voids;
    enum fetch_status top; /* what the identity's own record fetch found */
    char problem[192];     /* the first thing that went wrong, escaped */
    /* The names of the last mx/ptr answer, in answer order: libspf2 asks their addresses next,
     * one after the other, and those queries belong to the mx/ptr term already counted. */
    char pending[PENDING_MAX][DNS_NAME_MAX + 1];
    size_t npending, next_pending;
    bool pending_from_ptr; /* the pending names came from a PTR answer (RFC 7208 5.5) */
    /* The explanation (RFC 7208 6.2) of the record being evaluated, expanded here because
     * libspf2 1.2.10 mangles explanation strings (spaces become '%', later macros stay). */
    SPF_request_t *request;
    const char *receiver;
    char explanation[SPF_EXPLANATION_MAX];
};

static void oom(void)
{
    log_msg(LOG_CRIT, "out of memory in libspf2, aborting");
    abort();
}

static void note(struct eval *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Keeps the first problem only: later ones are usually its consequences. */
static void note(struct eval *e, const char *fmt, ...)
{
    va_list ap;
    if (e->problem[0] != '\0')
        return;
    va_start(ap, fmt);
    vsnprintf(e->problem, sizeof e->problem, fmt, ap);
    va_end(ap);
}

static const char *type_name(int type)
{
    switch (type) {
    case DNS_TYPE_A:
        return "A";
    case DNS_TYPE_AAAA:
        return "AAAA";
    case DNS_TYPE_MX:
        return "MX";
    case DNS_TYPE_PTR:
        return "PTR";
    case DNS_TYPE_TXT:
        return "TXT";
    default:
        return "?";
    }
}

static int64_t checker_now_ms(const struct spf_checker *c)
{
    if (c->clock_ms != NULL)
        return c->clock_ms(c->clock_arg);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * RFC 7208 4.6.4: "MTAs or other processors SHOULD impose a limit on the maximum amount of elapsed
 * time to evaluate check_host() ... at least 20 seconds", and past it the result is temperror.
 * Read before each query: none is sent once the limit has passed, so an evaluation ends at most
 * one query's bound (dns_timeout x dns_tries) after it.  Without it, a zone whose servers answer
 * each query just in time could hold a callback for its 10 DNS terms of up to 11 queries each.
 */
static bool out_of_time(struct eval *e, int type, const char *domain)
{
    if (e->over_time)
        return true;
    if (checker_now_ms(e->checker) < e->deadline_ms)
        return false;
    char shown[DNS_NAME_MAX * 4 + 1];
    e->over_time = true;
    note(e, "over the time limit of %d s (at %s %s)", SPF_TIME_LIMIT_MS / 1000, type_name(type),
         str_escape(shown, 128, domain));
    return true;
}

/* RFC 7208 7.3: an expanded name longer than 253 characters loses labels on its left until it
 * fits.  Returns name itself or the truncated tail inside it. */
static const char *query_name(const char *name)
{
    size_t len = strlen(name);
    if (len > 0 && name[len - 1] == '.')
        len--;
    while (len > 253) {
        const char *dot = strchr(name, '.');
        if (dot == NULL)
            break;
        len -= (size_t)(dot + 1 - name);
        name = dot + 1;
    }
    return name;
}

/* ---- the DNS layer ---- */

static SPF_dns_rr_t *rr_new(SPF_dns_server_t *layer, const char *domain, ns_type type,
                            SPF_dns_stat_t herrno, uint32_t ttl)
{
    SPF_dns_rr_t *rr =
        SPF_dns_rr_new_init(layer, domain, type, (int)(ttl > 86400 ? 86400 : ttl), herrno);
    if (rr == NULL)
        oom();
    return rr;
}

static void rr_append(SPF_dns_rr_t *rr, const void *data, size_t len)
{
    int i = rr->num_rr;
    if (SPF_dns_rr_buf_realloc(rr, i, len) != SPF_E_SUCCESS)
        oom();
    memcpy(rr->rr[i], data, len);
    rr->num_rr = i + 1;
}

/* The answer's records in libspf2's form; MX and PTR names become the pending list. */
static SPF_dns_rr_t *rr_from_answer(SPF_dns_server_t *layer, struct eval *e, const char *domain,
                                    const struct dns_answer *a, bool secondary)
{
    SPF_dns_rr_t *rr = rr_new(layer, domain, (ns_type)a->type, NETDB_SUCCESS, a->ttl);
    size_t count = a->count;
    /* RFC 7208 4.6.4: names beyond the first 10 PTR records are ignored. */
    if (a->type == DNS_TYPE_PTR && count > PENDING_MAX)
        count = PENDING_MAX;
    if (!secondary && (a->type == DNS_TYPE_MX || a->type == DNS_TYPE_PTR)) {
        e->npending = e->next_pending = 0;
        e->pending_from_ptr = a->type == DNS_TYPE_PTR;
    }
    for (size_t i = 0; i < count; i++) {
        const struct dns_record *r = &a->records[i];
        switch (a->type) {
        case DNS_TYPE_A:
            if (r->family == AF_INET)
                rr_append(rr, &r->addr.v4, sizeof r->addr.v4);
            break;
        case DNS_TYPE_AAAA:
            if (r->family == AF_INET6)
                rr_append(rr, &r->addr.v6, sizeof r->addr.v6);
            break;
        case DNS_TYPE_MX:
        case DNS_TYPE_PTR:
            rr_append(rr, r->text, strlen(r->text) + 1);
            if (!secondary && e->npending < PENDING_MAX)
                str_copy(e->pending[e->npending++], DNS_NAME_MAX + 1, r->text);
            break;
        default:
            break;
        }
    }
    return rr;
}

/* ---- explanation strings (RFC 7208 6.2, 7) ---- */

struct text {
    char *buf;
    size_t len, size; /* size > 0; len < size */
};

static void text_add(struct text *t, const char *s, size_t n)
{
    size_t room = t->size - 1 - t->len;
    if (n > room)
        n = room;
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

/* The value of a macro letter (RFC 7208 7.3); false for a letter that is not one. */
static bool macro_value(struct eval *e, char letter, char *out, size_t outlen)
{
    const SPF_request_t *r = e->request;
    const char *v = NULL;
    switch (letter) {
    case 's':
        v = r->env_from;
        break;
    case 'l':
        v = r->env_from_lp;
        break;
    case 'o':
        v = r->env_from_dp;
        break;
    case 'd':
        v = r->cur_dom;
        break;
    case 'h':
        v = r->helo_dom;
        break;
    case 'r':
        v = e->receiver;
        break;
    case 'v':
        v = r->client_ver == AF_INET ? "in-addr" : "ip6";
        break;
    case 'p':
        v = SPF_request_get_client_dom(e->request);
        break;
    case 't':
        snprintf(out, outlen, "%lld", (long long)time(NULL));
        return true;
    case 'c':
    case 'i':
        if (r->client_ver == AF_INET) {
            inet_ntop(AF_INET, &r->ipv4, out, (socklen_t)outlen);
        } else if (letter == 'c') {
            inet_ntop(AF_INET6, &r->ipv6, out, (socklen_t)outlen);
        } else {
            /* "i" of an IPv6 client: dot-separated nibbles (7.3) */
            size_t n = 0;
            for (int i = 0; i < 16 && n + 4 < outlen; i++)
                n += (size_t)snprintf(out + n, outlen - n, "%s%x.%x", i ? "." : "",
                                      r->ipv6.s6_addr[i] >> 4, r->ipv6.s6_addr[i] & 15);
        }
        return true;
    default:
        return false;
    }
    str_copy(out, outlen, v != NULL ? v : "unknown");
    return true;
}

/* One "%{...}" (after "%{"); returns the position after '}', or NULL on a syntax error. */
static const char *expand_macro(struct eval *e, const char *p, struct text *t)
{
    char value[1024], lower = (char)(*p | 0x20);
    bool url = *p >= 'A' && *p <= 'Z';
    if (!macro_value(e, lower, value, sizeof value))
        return NULL;
    p++;
    unsigned keep = 0;
    bool digits = false, reverse = false;
    while (*p >= '0' && *p <= '9') {
        keep = keep * 10 + (unsigned)(*p++ - '0');
        digits = true;
        if (keep > 128)
            keep = 128;
    }
    if (digits && keep == 0)
        return NULL;
    if (*p == 'r' || *p == 'R') {
        reverse = true;
        p++;
    }
    char delims[8] = "";
    while (*p != '\0' && strchr(".-+,/_=", *p) != NULL) {
        if (strlen(delims) < sizeof delims - 1)
            strncat(delims, p, 1);
        p++;
    }
    if (*p != '}')
        return NULL;
    if (delims[0] == '\0')
        strcpy(delims, ".");

    /* Split on the delimiters, reverse, keep the rightmost parts, join with dots. */
    char *parts[128];
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(value, delims, &save); tok != NULL && n < 128;
         tok = strtok_r(NULL, delims, &save))
        parts[n++] = tok;
    if (reverse)
        for (size_t i = 0; i < n / 2; i++) {
            char *tmp = parts[i];
            parts[i] = parts[n - 1 - i];
            parts[n - 1 - i] = tmp;
        }
    size_t first = digits && keep < n ? n - keep : 0;
    for (size_t i = first; i < n; i++) {
        if (i > first)
            text_add(t, ".", 1);
        for (const char *c = parts[i]; *c != '\0'; c++) {
            bool plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                         (*c >= '0' && *c <= '9') || strchr("-._~", *c) != NULL;
            if (url && !plain) {
                char hex[4];
                snprintf(hex, sizeof hex, "%%%02X", (unsigned char)*c);
                text_add(t, hex, 3);
            } else {
                text_add(t, c, 1);
            }
        }
    }
    return p + 1;
}

/* RFC 7208 6.2 and 7.1: expands an explanation string; false on a syntax error. */
static bool expand_explanation(struct eval *e, const char *src, char *out, size_t outlen)
{
    struct text t = {.buf = out, .len = 0, .size = outlen};
    out[0] = '\0';
    for (const char *p = src; *p != '\0';) {
        if (*p != '%') {
            if (*p < 0x20 || *p > 0x7e)
                return false; /* 7.1: macro-literal is visible ASCII (and SP, 6.2) */
            text_add(&t, p++, 1);
            continue;
        }
        switch (p[1]) {
        case '%':
            text_add(&t, "%", 1);
            p += 2;
            break;
        case '_':
            text_add(&t, " ", 1);
            p += 2;
            break;
        case '-':
            text_add(&t, "%20", 3);
            p += 2;
            break;
        case '{':
            p = expand_macro(e, p + 2, &t);
            if (p == NULL)
                return false;
            break;
        default:
            return false;
        }
    }
    return true;
}

/* RFC 7208 6.2: the explanation is the one TXT record at the exp= name; anything else (an
 * error, no record, several, a syntax error) means no explanation.  Not a DNS term (4.6.4).
 * libspf2 always gets "no data" back, so it falls back to its (empty) default explanation. */
static SPF_dns_rr_t *lookup_explanation(SPF_dns_server_t *layer, struct eval *e, const char *domain)
{
    struct dns_answer *a = NULL;
    e->explanation[0] = '\0';
    if (e->over_terms || e->over_voids || out_of_time(e, DNS_TYPE_TXT, domain))
        return rr_new(layer, domain, ns_t_txt, NO_DATA, 0);
    dns_batch_lookup(e->batch, query_name(domain), DNS_TYPE_TXT, &a);
    /* A NUL byte inside the record ends the text (strlen). */
    if (a->status == DNS_OK && a->count == 1 &&
        !expand_explanation(e, a->records[0].text, e->explanation, sizeof e->explanation))
        e->explanation[0] = '\0';
    dns_answer_free(a);
    return rr_new(layer, domain, ns_t_txt, NO_DATA, 0);
}

/*
 * libspf2's lookup hook: every A, AAAA, MX, PTR and TXT query of an evaluation comes here.
 *
 * Counting terms (RFC 7208 4.6.4) at this level needs one inference: a, mx, ptr and exists
 * each start with exactly one query (A/AAAA, MX, PTR, A), and mx and ptr then ask the
 * addresses of the names they got, in answer order.  So an A/AAAA query for the next name of
 * the last MX/PTR answer continues that term; any other query starts a new term.  (A record
 * whose next term is "a:" naming exactly that next host is counted one short; harmless.)
 * include and redirect are counted in layer_get_spf.  The %{p} macro's PTR lookups are counted
 * like a ptr term (they look the same from here); RFC 7208 5.5 already asks publishers not to
 * use it.
 */
static SPF_dns_rr_t *layer_lookup(SPF_dns_server_t *layer, const char *domain, ns_type rr_type,
                                  int should_cache)
{
    struct eval *e = layer->hook;
    int type = (int)rr_type;
    (void)should_cache; /* our resolver's cache decides */

    if (type == DNS_TYPE_TXT)
        return lookup_explanation(layer, e, domain);
    if (type != DNS_TYPE_A && type != DNS_TYPE_AAAA && type != DNS_TYPE_MX && type != DNS_TYPE_PTR)
        return rr_new(layer, domain, rr_type, NO_DATA, 0); /* type SPF: RFC 7208 3.1 */

    bool secondary = (type == DNS_TYPE_A || type == DNS_TYPE_AAAA) &&
                     e->next_pending < e->npending &&
                     str_casecmp(domain, e->pending[e->next_pending]) == 0;
    if (secondary)
        e->next_pending++;
    else
        e->npending = e->next_pending = 0;

    /* Past a limit the evaluation must end: a temporary error makes libspf2 stop at once, and
     * spf_check() turns the outcome into the permerror of 4.6.4. */
    if (e->over_terms || e->over_voids || e->over_time)
        return rr_new(layer, domain, rr_type, TRY_AGAIN, 0);
    char shown[DNS_NAME_MAX * 4 + 1];
    if (!secondary) {
        if (e->dns_terms >= SPF_MAX_DNS_TERMS) {
            e->over_terms = true;
            note(e, "more than %d DNS-querying terms (at %s %s)", SPF_MAX_DNS_TERMS,
                 type_name(type), str_escape(shown, 128, domain));
            return rr_new(layer, domain, rr_type, TRY_AGAIN, 0);
        }
        e->dns_terms++;
    }

    if (out_of_time(e, type, domain))
        return rr_new(layer, domain, rr_type, TRY_AGAIN, 0);
    struct dns_answer *a = NULL;
    dns_batch_lookup(e->batch, query_name(domain), type, &a);
    SPF_dns_rr_t *rr;
    if (a->status == DNS_TEMPFAIL && secondary && e->pending_from_ptr) {
        /* RFC 7208 5.5: "If a DNS error occurs while doing an A RR lookup, then that domain
         * name is skipped and the search continues" (the suite's ptr-cname-loop). */
        rr = rr_new(layer, domain, rr_type, NO_DATA, 0);
    } else if (a->status == DNS_TEMPFAIL) {
        note(e, "%s %s: %s", type_name(type), str_escape(shown, 128, domain), a->error);
        rr = rr_new(layer, domain, rr_type, TRY_AGAIN, 0);
    } else if (a->status == DNS_OK && a->count > 0) {
        rr = rr_from_answer(layer, e, domain, a, secondary);
    } else if (!secondary && ++e->voids > SPF_MAX_VOID_LOOKUPS) {
        /* RFC 7208 4.6.4: more than two "void" answers (NXDOMAIN or no data). */
        e->over_voids = true;
        note(e, "more than %d void lookups (at %s %s)", SPF_MAX_VOID_LOOKUPS, type_name(type),
             str_escape(shown, 128, domain));
        rr = rr_new(layer, domain, rr_type, TRY_AGAIN, 0);
    } else {
        rr = rr_new(layer, domain, rr_type, a->status == DNS_NXDOMAIN ? HOST_NOT_FOUND : NO_DATA,
                    a->ttl);
    }
    dns_answer_free(a);
    return rr;
}

/* "v=spf1" alone or followed by a space, any case (RFC 7208 4.5). */
static bool is_spf_record(const char *text)
{
    return strncasecmp(text, "v=spf1", 6) == 0 && (text[6] == '\0' || text[6] == ' ');
}

/* ---- record syntax (RFC 7208 4.6.1, 5, 6, 7.1, 12) ----
 *
 * libspf2 1.2.10 accepts records the RFC makes permerrors (unknown macro letters, "%" before
 * anything, domain-specs without a top label, control bytes, leading zeros in CIDR lengths),
 * refuses some it must accept (unknown modifiers with '.', '-' or '_' in their names, a /0
 * prefix), and evaluates redirect= where it stands instead of after the mechanisms.  So each
 * record is checked against the ABNF first and handed to libspf2 normalized: mechanisms in
 * order, exp= and then redirect= at the end (redirect= dropped when an "all" mechanism makes
 * it unreachable, 6.1), unknown modifiers dropped (6), and the CIDR lengths that do not apply
 * to the client's address family removed.  A /0 prefix, which libspf2 cannot represent (it
 * reads 0 as "no prefix"), is rewritten as an equivalent: ip4:x/0 as two /1 networks, and for
 * an IPv4 client "a:D/0" as "exists:D" (both match when D has any A record).
 */

struct record_out {
    char *buf;
    size_t len, size;
    bool overflow;
};

static void out_add(struct record_out *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->size) {
        o->overflow = true;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void out_str(struct record_out *o, const char *s)
{
    out_add(o, s, strlen(s));
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* One macro-expand at p ("%{", "%%", "%_", "%-"); returns its length, 0 when invalid.  letters
 * are the macro letters allowed here (7.1; c, r and t only in explanations, 7.3). */
static size_t macro_expand_len(const char *p, const char *end, const char *letters)
{
    if (end - p < 2 || p[0] != '%')
        return 0;
    if (p[1] == '%' || p[1] == '_' || p[1] == '-')
        return 2;
    if (p[1] != '{' || end - p < 4 || strchr(letters, p[2] | 0x20) == NULL || !is_alpha(p[2]))
        return 0;
    const char *q = p + 3;
    bool digits = false, nonzero = false;
    while (q < end && is_digit(*q)) {
        digits = true;
        nonzero = nonzero || *q != '0';
        q++;
    }
    if (digits && !nonzero)
        return 0; /* 7.3: the DIGIT transformer must be nonzero */
    if (q < end && (*q == 'r' || *q == 'R'))
        q++;
    while (q < end && strchr(".-+,/_=", *q) != NULL)
        q++;
    return q < end && *q == '}' ? (size_t)(q + 1 - p) : 0;
}

/* macro-string (7.1): literals %x21-24 / %x26-7E and macro-expands. */
static bool macro_string_valid(const char *p, const char *end, const char *letters)
{
    while (p < end) {
        if (*p != '%') {
            if (*p < 0x21 || *p > 0x7e)
                return false;
            p++;
            continue;
        }
        size_t n = macro_expand_len(p, end, letters);
        if (n == 0)
            return false;
        p += n;
    }
    return true;
}

/* toplabel (7.1): alphanumeric with at least one letter, or with an inner hyphen. */
static bool toplabel_valid(const char *p, const char *end)
{
    if (p >= end || end[-1] == '-' || *p == '-')
        return false;
    bool alpha = false, hyphen = false;
    for (const char *q = p; q < end; q++) {
        if (is_alpha(*q))
            alpha = true;
        else if (*q == '-')
            hyphen = true;
        else if (!is_digit(*q))
            return false;
    }
    return alpha || hyphen;
}

/* domain-spec = macro-string domain-end; domain-end = ( "." toplabel [ "." ] ) / macro-expand */
static bool domain_spec_valid(const char *p, const char *end)
{
    static const char letters[] = "slodiphv";
    if (p >= end || !macro_string_valid(p, end, letters))
        return false;
    if (end[-1] == '}') {
        /* ends with a macro-expand when the last "%{" starts a valid one reaching the end */
        for (const char *q = end - 1; q > p; q--)
            if (q[-1] == '%' && q[0] == '{')
                return macro_expand_len(q - 1, end, letters) == (size_t)(end - (q - 1));
        return false;
    }
    const char *e = end[-1] == '.' ? end - 1 : end;
    const char *dot = e;
    while (dot > p && dot[-1] != '.')
        dot--;
    return dot > p && toplabel_valid(dot, e);
}

/* "/" ("0" / %x31-39 0*N DIGIT) with a value <= max; *len gets the digits' value. */
static bool cidr_valid(const char *p, const char *end, unsigned max, unsigned *len)
{
    if (p >= end || (*p == '0' && end - p > 1))
        return false;
    unsigned v = 0;
    for (const char *q = p; q < end; q++) {
        if (!is_digit(*q) || v > 1000)
            return false;
        v = v * 10 + (unsigned)(*q - '0');
    }
    *len = v;
    return v <= max;
}

/* ip4-network: four dec-octets without leading zeros (12). */
static bool ip4_network_valid(const char *p, const char *end)
{
    for (int octet = 0; octet < 4; octet++) {
        const char *start = p;
        unsigned v = 0;
        while (p < end && is_digit(*p) && p - start < 3)
            v = v * 10 + (unsigned)(*p++ - '0');
        if (p == start || v > 255 || (*start == '0' && p - start > 1))
            return false;
        if (octet < 3 && (p >= end || *p++ != '.'))
            return false;
    }
    return p == end;
}

static bool ip6_network_valid(const char *p, const char *end)
{
    char buf[INET6_ADDRSTRLEN];
    struct in6_addr a;
    if (end - p <= 0 || (size_t)(end - p) >= sizeof buf)
        return false;
    memcpy(buf, p, (size_t)(end - p));
    buf[end - p] = '\0';
    return inet_pton(AF_INET6, buf, &a) == 1;
}

/* Where the dual-cidr-length suffix of an a or mx term starts (5.3, 5.4): "/" DIGITs, then
 * "//" DIGITs, both optional, at the very end; every other '/' belongs to the domain-spec. */
static const char *dual_cidr_start(const char *p, const char *end)
{
    const char *q = end, *d = end;
    while (d > p && is_digit(d[-1]))
        d--;
    if (d < q && d - p >= 2 && d[-1] == '/' && d[-2] == '/') {
        q = d - 2;
        d = q;
        while (d > p && is_digit(d[-1]))
            d--;
    }
    if (d < q && d - p >= 1 && d[-1] == '/' && !(d - p >= 2 && d[-2] == '/'))
        q = d - 1;
    return q;
}

/* a and mx: [":" domain-spec] [ip4-cidr] ["/" ip6-cidr] (5.3, 5.4); writes the normalized term. */
static bool a_mx_normalize(const char *q, size_t qlen, const char *name, const char *p,
                           const char *end, int family, struct record_out *o)
{
    const char *dom = NULL, *dom_end = NULL, *cidr = dual_cidr_start(p, end);
    if (p < cidr) {
        if (*p != ':' || !domain_spec_valid(p + 1, cidr))
            return false;
        dom = p + 1;
        dom_end = cidr;
        p = cidr;
    }
    bool has4 = false, has6 = false;
    unsigned c4 = 0, c6 = 0;
    if (p < end && p + 1 < end && p[0] == '/' && p[1] != '/') {
        const char *s = p + 1, *e = s;
        while (e < end && *e != '/')
            e++;
        if (!cidr_valid(s, e, 32, &c4))
            return false;
        has4 = true;
        p = e;
    }
    if (p < end) {
        if (end - p < 3 || p[0] != '/' || p[1] != '/' || !cidr_valid(p + 2, end, 128, &c6))
            return false;
        has6 = true;
    }
    char length[8] = "";
    if (family == AF_INET && has4)
        snprintf(length, sizeof length, "/%u", c4);
    else if (family == AF_INET6 && has6)
        snprintf(length, sizeof length, "//%u", c6);
    out_str(o, " ");
    out_add(o, q, qlen);
    if (family == AF_INET && has4 && c4 == 0 && strcmp(name, "a") == 0) {
        out_str(o, "exists:");
        if (dom != NULL)
            out_add(o, dom, (size_t)(dom_end - dom));
        else
            out_str(o, "%{d}");
        return true;
    }
    out_str(o, name);
    if (dom != NULL) {
        out_str(o, ":");
        out_add(o, dom, (size_t)(dom_end - dom));
    }
    out_str(o, length);
    return true;
}

/* ip4 and ip6 (5.6); a /0 network becomes its two /1 halves. */
static bool ip_normalize(const char *q, size_t qlen, bool v6, const char *p, const char *end,
                         struct record_out *o)
{
    if (p >= end || *p != ':')
        return false;
    p++;
    const char *slash = end;
    for (const char *s = p; s < end; s++)
        if (*s == '/')
            slash = s;
    unsigned len = v6 ? 128 : 32;
    if (slash < end && !cidr_valid(slash + 1, end, v6 ? 128 : 32, &len))
        return false;
    if (v6 ? !ip6_network_valid(p, slash) : !ip4_network_valid(p, slash))
        return false;
    const char *halves[2] = {v6 ? "ip6:::/1" : "ip4:0.0.0.0/1",
                             v6 ? "ip6:8000::/1" : "ip4:128.0.0.0/1"};
    if (len == 0) {
        for (int i = 0; i < 2; i++) {
            out_str(o, " ");
            out_add(o, q, qlen);
            out_str(o, halves[i]);
        }
        return true;
    }
    out_str(o, " ");
    out_add(o, q, qlen);
    out_str(o, v6 ? "ip6:" : "ip4:");
    out_add(o, p, (size_t)(end - p));
    return true;
}

/* One mechanism (5); false when it is not one the RFC defines, or malformed. */
static bool mechanism_normalize(const char *t, const char *end, int family, bool *has_all,
                                struct record_out *o)
{
    const char *q = t;
    size_t qlen = strchr("+-~?", *t) != NULL ? 1 : 0;
    const char *p = t + qlen, *n = p;
    while (p < end && (is_alpha(*p) || is_digit(*p)))
        p++;
    char name[8];
    size_t nlen = (size_t)(p - n);
    if (nlen == 0 || nlen >= sizeof name)
        return false;
    for (size_t i = 0; i < nlen; i++)
        name[i] = (char)(n[i] | 0x20);
    name[nlen] = '\0';
    if (strcmp(name, "all") == 0) {
        if (p != end)
            return false;
        *has_all = true;
        out_str(o, " ");
        out_add(o, q, qlen);
        out_str(o, "all");
        return true;
    }
    if (strcmp(name, "include") == 0 || strcmp(name, "exists") == 0) {
        if (p >= end || *p != ':' || !domain_spec_valid(p + 1, end))
            return false;
    } else if (strcmp(name, "ptr") == 0) {
        if (p < end && (*p != ':' || !domain_spec_valid(p + 1, end)))
            return false;
    } else if (strcmp(name, "a") == 0 || strcmp(name, "mx") == 0) {
        return a_mx_normalize(q, qlen, name, p, end, family, o);
    } else if (strcmp(name, "ip4") == 0 || strcmp(name, "ip6") == 0) {
        return ip_normalize(q, qlen, strcmp(name, "ip6") == 0, p, end, o);
    } else {
        return false;
    }
    out_str(o, " ");
    out_add(o, q, qlen);
    out_str(o, name);
    out_add(o, p, (size_t)(end - p));
    return true;
}

/*
 * Checks record (text_len bytes, the whole TXT record) and writes the normalized record that
 * libspf2 compiles to out.  false with *why set when the record is a permerror.
 */
static bool record_normalize(const char *record, size_t text_len, int family, char *out,
                             size_t outlen, const char **why)
{
    struct record_out o = {.buf = out, .size = outlen};
    const char *redirect = NULL, *redirect_end = NULL, *exp = NULL, *exp_end = NULL;
    bool has_all = false;

    out[0] = '\0';
    if (strlen(record) != text_len) {
        *why = "contains a NUL byte";
        return false;
    }
    for (const char *p = record; *p != '\0'; p++)
        if (*p < 0x20 || *p > 0x7e) {
            *why = "contains a byte that is not printable ASCII";
            return false;
        }
    out_str(&o, "v=spf1");
    const char *p = record + 6; /* after "v=spf1", checked by is_spf_record */
    while (*p != '\0') {
        while (*p == ' ')
            p++;
        const char *t = p;
        while (*p != '\0' && *p != ' ')
            p++;
        if (t == p)
            break;
        /* modifier: name "=" macro-string, name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) */
        const char *eq = t;
        if (is_alpha(*eq))
            while (eq < p && (is_alpha(*eq) || is_digit(*eq) || strchr("-_.", *eq) != NULL))
                eq++;
        if (eq > t && eq < p && *eq == '=') {
            size_t nlen = (size_t)(eq - t);
            bool is_redirect = nlen == 8 && strncasecmp(t, "redirect", 8) == 0;
            bool is_exp = nlen == 3 && strncasecmp(t, "exp", 3) == 0;
            if ((is_redirect && redirect != NULL) || (is_exp && exp != NULL)) {
                *why = "repeats redirect= or exp=";
                return false;
            }
            if ((is_redirect || is_exp) ? !domain_spec_valid(eq + 1, p)
                                        : !macro_string_valid(eq + 1, p, "slodiphcrtv")) {
                *why = "has a modifier with a malformed value";
                return false;
            }
            if (is_redirect) {
                redirect = eq + 1;
                redirect_end = p;
            } else if (is_exp) {
                exp = eq + 1;
                exp_end = p;
            }
            continue; /* unknown modifiers are ignored (6) */
        }
        if (!mechanism_normalize(t, p, family, &has_all, &o)) {
            *why = "has an unknown or malformed mechanism";
            return false;
        }
    }
    if (exp != NULL) {
        out_str(&o, " exp=");
        out_add(&o, exp, (size_t)(exp_end - exp));
    }
    if (redirect != NULL && !has_all) {
        out_str(&o, " redirect=");
        out_add(&o, redirect, (size_t)(redirect_end - redirect));
    }
    if (o.overflow) {
        *why = "is too long";
        return false;
    }
    return true;
}

/* RFC 7208 4.5: the one SPF record of domain, copied to out. */
static enum fetch_status fetch_record(struct eval *e, const char *domain, char *out, size_t outlen,
                                      size_t *out_len)
{
    char shown[DNS_NAME_MAX * 4 + 1];
    str_escape(shown, 128, domain);
    if (!dns_name_valid(query_name(domain))) {
        note(e, "%s is not a valid domain name", shown);
        return FETCH_NONE;
    }
    if (out_of_time(e, DNS_TYPE_TXT, domain))
        return FETCH_TEMP;
    struct dns_answer *a = NULL;
    dns_batch_lookup(e->batch, query_name(domain), DNS_TYPE_TXT, &a);
    enum fetch_status st = FETCH_NONE;
    size_t found = 0, index = 0;
    if (a->status == DNS_TEMPFAIL) {
        note(e, "TXT %s: %s", shown, a->error);
        st = FETCH_TEMP;
    } else {
        for (size_t i = 0; a->status == DNS_OK && i < a->count; i++)
            if (is_spf_record(a->records[i].text)) {
                found++;
                index = i;
            }
        if (found == 0) {
            note(e, "no SPF record at %s", shown);
        } else if (found > 1) {
            note(e, "%zu SPF records at %s", found, shown);
            st = FETCH_PERM;
        } else {
            /* kept whole, NUL bytes included: record_normalize() refuses them */
            *out_len =
                a->records[index].text_len < outlen ? a->records[index].text_len : outlen - 1;
            memcpy(out, a->records[index].text, *out_len);
            out[*out_len] = '\0';
            st = FETCH_OK;
        }
    }
    dns_answer_free(a);
    return st;
}

/*
 * libspf2's record hook: the identity's record, then each include and redirect target.  An
 * include or redirect is a DNS term (4.6.4).  Errors: SPF_E_DNS_ERROR makes libspf2 give
 * temperror, anything else permerror (an include or redirect of a domain without a record is a
 * permerror, RFC 7208 5.2 and 6.1).
 */
static SPF_errcode_t layer_get_spf(SPF_server_t *server, SPF_request_t *request,
                                   SPF_response_t *response, SPF_record_t **recordp)
{
    struct eval *e = server->resolver->hook;
    const char *domain = request->cur_dom;
    bool top = e->fetches++ == 0;
    char shown[DNS_NAME_MAX * 4 + 1];

    *recordp = NULL;
    e->npending = e->next_pending = 0;
    /* A new record: an explanation fetched for an earlier one no longer applies. */
    e->explanation[0] = '\0';
    if (!top) {
        if (e->over_terms || e->over_voids || e->over_time)
            return SPF_E_DNS_ERROR;
        if (e->dns_terms >= SPF_MAX_DNS_TERMS) {
            e->over_terms = true;
            note(e, "more than %d DNS-querying terms (at include/redirect %s)", SPF_MAX_DNS_TERMS,
                 str_escape(shown, 128, domain));
            return SPF_E_DNS_ERROR;
        }
        e->dns_terms++;
    }
    char text[DNS_TXT_MAX + 1], normal[2 * DNS_TXT_MAX];
    size_t text_len = 0;
    const char *why = NULL;
    enum fetch_status st = fetch_record(e, domain, text, sizeof text, &text_len);
    if (st == FETCH_OK &&
        !record_normalize(text, text_len, request->client_ver, normal, sizeof normal, &why)) {
        note(e, "SPF record of %s %s", str_escape(shown, 128, domain), why);
        st = FETCH_PERM;
    }
    if (top)
        e->top = st;
    switch (st) {
    case FETCH_TEMP:
        return SPF_E_DNS_ERROR;
    case FETCH_NONE:
        return SPF_E_NOT_SPF;
    case FETCH_PERM:
        return SPF_E_MULTIPLE_RECORDS;
    case FETCH_OK:
    case FETCH_NOT_DONE:
        break;
    }
    SPF_errcode_t err = SPF_record_compile(server, response, recordp, normal);
    if (err == SPF_E_SUCCESS)
        return SPF_E_SUCCESS;
    if (*recordp != NULL) {
        SPF_record_free(*recordp);
        *recordp = NULL;
    }
    note(e, "SPF record of %s: %s", str_escape(shown, 128, domain), SPF_strerror(err));
    if (top)
        e->top = FETCH_PERM;
    return err == SPF_E_DNS_ERROR ? SPF_E_SYNTAX : err;
}

/* ---- one evaluation ---- */

struct identity {
    int family; /* AF_INET or AF_INET6 */
    struct in_addr v4;
    struct in6_addr v6;
    const char *sender; /* local@domain, as given (untrusted) */
    const char *domain; /* as given, no final dot: what libspf2 evaluates */
    const char *helo;   /* for %{h} */
};

static enum spf_result map_result(SPF_result_t r, SPF_errcode_t err)
{
    switch (r) {
    case SPF_RESULT_NEUTRAL:
        return SPF_NEUTRAL;
    case SPF_RESULT_PASS:
        return SPF_PASS;
    case SPF_RESULT_FAIL:
        return SPF_FAIL;
    case SPF_RESULT_SOFTFAIL:
        return SPF_SOFTFAIL;
    case SPF_RESULT_NONE:
        return SPF_NONE;
    case SPF_RESULT_TEMPERROR:
        return SPF_TEMPERROR;
    case SPF_RESULT_PERMERROR:
        return SPF_PERMERROR;
    case SPF_RESULT_INVALID:
        break;
    }
    /* libspf2 gave no result: a DNS error is a temperror, anything else (a record that does
     * not compile, a macro that does not expand) a permerror. */
    return err == SPF_E_DNS_ERROR ? SPF_TEMPERROR : SPF_PERMERROR;
}

static SPF_server_t *server_new(struct spf_checker *c, struct eval *e)
{
    SPF_dns_server_t *layer = xcalloc(1, sizeof *layer);
    /* destroy stays NULL: libspf2 then leaves the layer to us (evaluate frees it). */
    layer->lookup = layer_lookup;
    layer->get_spf = layer_get_spf;
    layer->name = "milter-ingress";
    layer->hook = e;
    SPF_server_t *server = SPF_server_new_dns(layer, 0);
    if (server == NULL)
        oom();
    if (SPF_server_set_rec_dom(server, c->receiver) != SPF_E_SUCCESS)
        oom();
    /* No explanation unless the domain gives one (RFC 7208 6.2): libspf2's default points at
     * openspf.org, which is gone. */
    SPF_response_t *errors = NULL;
    SPF_server_set_explanation(server, "", &errors);
    if (errors != NULL)
        SPF_response_free(errors);
    return server;
}
/*
 * Which mechanism of the domain's record decided, for the detail a support desk reads ("the
 * mechanism -all matched"): libspf2 says only that a mechanism matched, so the record is read
 * back and its mechanisms with the qualifier of the result are the candidates (RFC 7208 4.6.2):
 * one names it, several are listed as "one of".  Nothing when the record has a redirect= (the
 * result is then the other record's).
 */
static void matched_mechanism(SPF_record_t *record, SPF_result_t result, char *out, size_t outlen)
{
    char *text = NULL, *save = NULL, found[4][64], escaped[4 * 64];
    size_t len = 0, n = 0;
    char want = result == SPF_RESULT_PASS       ? '+'
                : result == SPF_RESULT_FAIL     ? '-'
                : result == SPF_RESULT_SOFTFAIL ? '~'
                : result == SPF_RESULT_NEUTRAL  ? '?'
                                                : '\0';

    out[0] = '\0';
    if (want == '\0' || SPF_record_stringify(record, &text, &len) != SPF_E_SUCCESS ||
        text == NULL) {
        free(text);
        return;
    }
    for (char *t = strtok_r(text, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save)) {
        size_t name = strcspn(t, ":/=");
        if (strncmp(t, "redirect=", 9) == 0) {
            n = 0;
            break;
        }
        if (strncmp(t, "v=spf1", 6) == 0 || t[name] == '=')
            continue; /* the version and the modifiers (exp=) */
        char q = strchr("+-~?", t[0]) != NULL ? t[0] : '+';
        if (q == want && n < sizeof found / sizeof found[0])
            str_copy(found[n], sizeof found[n], t[0] == '+' ? t + 1 : t);
        n += q == want;
    }
    free(text);
    if (n == 1)
        snprintf(out, outlen, "the mechanism %s matched",
                 str_escape_word(escaped, sizeof escaped, found[0]));
    else if (n > 1 && n <= sizeof found / sizeof found[0]) {
        char list[4 * 64 + 8] = "";
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s", i > 0 ? ", " : "", found[i]);
        }
        snprintf(out, outlen, "one of the mechanisms %s matched",
                 str_escape(escaped, sizeof escaped, list));
    }
}

static void evaluate(struct spf_checker *c, struct dns_batch *batch, const struct identity *id,
                     struct spf_outcome *out)
{
    struct dns_batch *own = batch == NULL ? dns_batch_new(c->resolver) : NULL;
    struct eval e = {.batch = batch != NULL ? batch : own,
                     .checker = c,
                     .deadline_ms = checker_now_ms(c) + SPF_TIME_LIMIT_MS,
                     .receiver = c->receiver};
    SPF_server_t *server = server_new(c, &e);
    SPF_request_t *req = SPF_request_new(server);
    if (req == NULL)
        oom();
    if (id->family == AF_INET)
        SPF_request_set_ipv4(req, id->v4);
    else
        SPF_request_set_ipv6(req, id->v6);
    if (SPF_request_set_env_from(req, id->sender) != SPF_E_SUCCESS ||
        SPF_request_set_helo_dom(req, id->helo) != SPF_E_SUCCESS)
        oom();
    req->cur_dom = id->domain;
    e.request = req;

    SPF_response_t *resp = SPF_response_new(req);
    if (resp == NULL)
        oom();
    SPF_record_t *record = NULL;
    SPF_errcode_t err = SPF_server_get_record(server, req, resp, &record);
    char mechanism[256] = "";
    if (err == SPF_E_SUCCESS) {
        resp->spf_record_exp = record;
        err = SPF_record_interpret(record, req, resp, 0);
        if (resp->reason == SPF_REASON_MECH)
            matched_mechanism(record, resp->result, mechanism, sizeof mechanism);
        SPF_record_free(record);
    }

    if (e.top == FETCH_NONE)
        out->result = SPF_NONE;
    else if (e.top == FETCH_TEMP || e.over_time)
        out->result = SPF_TEMPERROR; /* a DNS error, or over the time limit of 4.6.4 */
    else if (e.top == FETCH_PERM || e.over_terms || e.over_voids)
        out->result = SPF_PERMERROR; /* a broken record, or over a limit of RFC 7208 4.6.4 */
    else
        out->result = map_result(resp->result, err);

    if (out->result == SPF_FAIL)
        str_escape(out->explanation, sizeof out->explanation, e.explanation);
    out->dns_terms = e.dns_terms;
    out->void_lookups = e.voids;

    char sender[128];
    const char *why = e.problem;
    if (why[0] == '\0')
        why = (out->result == SPF_PASS || out->result == SPF_FAIL || out->result == SPF_SOFTFAIL ||
               (out->result == SPF_NEUTRAL && resp->reason == SPF_REASON_MECH)) &&
                      mechanism[0] != '\0'
                  ? mechanism
              : out->result == SPF_PASS || out->result == SPF_FAIL || out->result == SPF_SOFTFAIL ||
                      (out->result == SPF_NEUTRAL && resp->reason == SPF_REASON_MECH)
                  ? "a mechanism matched"
              : out->result == SPF_NEUTRAL ? "no mechanism matched"
                                           : SPF_strerror(err);
    snprintf(out->detail, sizeof out->detail, "%s (sender %s, %u DNS terms, %u void)", why,
             str_escape(sender, sizeof sender, id->sender), e.dns_terms, e.voids);

    SPF_response_free(resp);
    SPF_request_free(req);
    SPF_dns_server_t *layer = server->resolver;
    SPF_server_free(server);
    free(layer);
    dns_batch_free(own);
}

/* ---- spf_check: RFC 7208 4.3 initial processing ---- */

/* Parses the client address; an IPv4-mapped IPv6 address is its IPv4 address. */
static bool client_parse(const char *ip, struct identity *id)
{
    if (ip == NULL || strlen(ip) >= INET6_ADDRSTRLEN)
        return false;
    if (inet_pton(AF_INET, ip, &id->v4) == 1) {
        id->family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, ip, &id->v6) != 1)
        return false;
    if (IN6_IS_ADDR_V4MAPPED(&id->v6)) {
        memcpy(&id->v4, &id->v6.s6_addr[12], 4);
        id->family = AF_INET;
    } else {
        id->family = AF_INET6;
    }
    return true;
}

/* A domain SPF can evaluate: a valid name with at least two labels (RFC 7208 4.3). */
static bool domain_usable(const char *domain)
{
    return dns_name_valid(domain) && strchr(domain, '.') != NULL &&
           domain[strlen(domain) - 1] != '.';
}

/* Copies name without its final dot; false when it does not fit. */
static bool copy_name(char *dst, size_t dstlen, const char *name)
{
    if (!str_copy(dst, dstlen, name))
        return false;
    size_t len = strlen(dst);
    if (len > 1 && dst[len - 1] == '.')
        dst[len - 1] = '\0';
    return true;
}

static void lower_copy(char *dst, size_t dstlen, const char *src)
{
    str_copy(dst, dstlen, src);
    for (char *p = dst; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + ('a' - 'A'));
}

/* RFC 7208 4.3: nothing to evaluate is "none"; the detail says why ("HELO x is not ..."). */
static enum spf_result finish_none(struct spf_outcome *out, const char *label, const char *value,
                                   const char *why)
{
    char shown[128];
    out->result = SPF_NONE;
    snprintf(out->detail, sizeof out->detail, "%s %s %s", label,
             str_escape(shown, sizeof shown, value), why);
    return out->result;
}

enum spf_result spf_check(struct spf_checker *c, struct dns_batch *batch, const char *ip,
                          const char *helo, const char *mailfrom, enum spf_identity which,
                          struct spf_outcome *out)
{
    struct identity id;
    char helo_name[DNS_NAME_MAX + 2];
    char sender_buf[SPF_SENDER_MAX + 16];
    char domain[DNS_NAME_MAX + 2];

    memset(out, 0, sizeof *out);
    memset(&id, 0, sizeof id);
    out->checked = true;
    out->identity = which;
    if (!client_parse(ip, &id))
        return finish_none(out, "client address", ip ? ip : "",
                           "unknown or invalid: nothing to check");

    bool helo_ok =
        helo != NULL && copy_name(helo_name, sizeof helo_name, helo) && domain_usable(helo_name);
    id.helo = helo_ok ? helo_name : "unknown";

    /* The MAIL FROM path as the MTA gives it, without one pair of angle brackets. */
    const char *from = mailfrom != NULL ? mailfrom : "";
    size_t from_len = strnlen(from, SPF_SENDER_MAX + 3);
    if (from_len >= 2 && from[0] == '<' && from[from_len - 1] == '>') {
        from++;
        from_len -= 2;
    }
    if (which == SPF_IDENTITY_MAILFROM && from_len > SPF_SENDER_MAX)
        return finish_none(out, "sender", from, "too long: not evaluated");

    /* RFC 7208 2.3 (HELO) and 2.4 (null sender): the identity is postmaster@HELO. */
    if (which == SPF_IDENTITY_HELO || from_len == 0) {
        if (!helo_ok)
            return finish_none(out, "HELO", helo ? helo : "",
                               "is not a fully qualified domain name");
        snprintf(sender_buf, sizeof sender_buf, "postmaster@%s", helo_name);
        str_copy(domain, sizeof domain, helo_name);
    } else {
        memcpy(sender_buf, from, from_len);
        sender_buf[from_len] = '\0';
        const char *at = strrchr(sender_buf, '@');
        const char *dom = at != NULL ? at + 1 : sender_buf;
        if (!copy_name(domain, sizeof domain, dom) || !domain_usable(domain))
            return finish_none(out, "sender domain", dom, "is not a fully qualified domain name");
        if (at == NULL || at == sender_buf) {
            /* RFC 7208 4.3: no local part means "postmaster". */
            char whole[DNS_NAME_MAX + 16];
            snprintf(whole, sizeof whole, "postmaster@%s", domain);
            str_copy(sender_buf, sizeof sender_buf, whole);
        }
    }
    id.sender = sender_buf;
    id.domain = domain;
    lower_copy(out->domain, sizeof out->domain, domain);
    evaluate(c, batch, &id, out);
    return out->result;
}

/* ---- checker, verdict, names ---- */

struct spf_checker *spf_checker_new(struct dns_resolver *r, const char *receiver)
{
    struct spf_checker *c = xcalloc(1, sizeof *c);
    c->resolver = r;
    str_copy(c->receiver, sizeof c->receiver,
             receiver != NULL && receiver[0] != '\0' ? receiver : "unknown");
    return c;
}

void spf_checker_set_clock(struct spf_checker *c, int64_t (*clock_ms)(void *arg), void *arg)
{
    c->clock_ms = clock_ms;
    c->clock_arg = arg;
}

void spf_checker_free(struct spf_checker *c)
{
    free(c);
}

const char *spf_result_name(enum spf_result r)
{
    switch (r) {
    case SPF_NEUTRAL:
        return "neutral";
    case SPF_PASS:
        return "pass";
    case SPF_FAIL:
        return "fail";
    case SPF_SOFTFAIL:
        return "softfail";
    case SPF_TEMPERROR:
        return "temperror";
    case SPF_PERMERROR:
        return "permerror";
    case SPF_NONE:
        break;
    }
    return "none";
}

static const char *identity_name(enum spf_identity id)
{
    return id == SPF_IDENTITY_HELO ? "helo" : "mailfrom";
}

/* The verdict of one enforced identity. */
static struct verdict identity_verdict(const struct spf_outcome *o, const struct config *cfg,
                                       const char *ip)
{
    struct verdict_args args = {.ip = ip != NULL && ip[0] != '\0' ? ip : "unknown",
                                .domain = o->domain[0] != '\0' ? o->domain : "unknown"};
    const char *name = spf_result_name(o->result);
    const char *idn = identity_name(o->identity);
    char exp[SPF_EXPLANATION_MAX + 32] = "";
    if (o->explanation[0] != '\0')
        snprintf(exp, sizeof exp, "; explanation \"%s\"", o->explanation);

    switch (o->result) {
    case SPF_FAIL:
        if (cfg->spf_fail_action == ACTION_REJECT)
            return verdict_make(VERDICT_REJECT, REPLY_SPF_FAIL, "spf", &args,
                                "spf=fail %s=%s: %s%s", idn, o->domain, o->detail, exp);
        if (cfg->spf_fail_action == ACTION_TEMPFAIL)
            return verdict_make(VERDICT_TEMPFAIL, REPLY_SPF_TEMP, "spf", &args,
                                "spf=fail %s=%s (spf_fail_action=tempfail): %s%s", idn, o->domain,
                                o->detail, exp);
        break;
    case SPF_PERMERROR:
        if (cfg->spf_permerror_action == ACTION_REJECT)
            return verdict_make(VERDICT_REJECT, REPLY_SPF_PERM, "spf", &args,
                                "spf=permerror %s=%s: %s", idn, o->domain, o->detail);
        if (cfg->spf_permerror_action == ACTION_TEMPFAIL)
            return verdict_make(VERDICT_TEMPFAIL, REPLY_SPF_TEMP, "spf", &args,
                                "spf=permerror %s=%s (spf_permerror_action=tempfail): %s", idn,
                                o->domain, o->detail);
        break;
    case SPF_TEMPERROR:
        if (cfg->spf_temperror_action == DNS_FAILURE_TEMPFAIL &&
            cfg->dns_failure == DNS_FAILURE_TEMPFAIL)
            return verdict_make(VERDICT_TEMPFAIL, REPLY_SPF_TEMP, "spf", &args,
                                "spf=temperror %s=%s: %s", idn, o->domain, o->detail);
        break;
    case SPF_NONE:
    case SPF_NEUTRAL:
    case SPF_PASS:
    case SPF_SOFTFAIL:
        break;
    }
    return verdict_make(VERDICT_CONTINUE, REPLY_NONE, "spf", NULL, "spf=%s %s=%s: %s%s", name, idn,
                        o->domain, o->detail, exp);
}

struct verdict spf_verdict(const struct spf_outcome *helo, const struct spf_outcome *mailfrom,
                           const struct config *cfg, const char *ip)
{
    bool helo_used = helo != NULL && helo->checked && cfg->spf_helo_action != SPF_HELO_OFF;
    bool from_used = mailfrom != NULL && mailfrom->checked;
    struct verdict hv = verdict_continue(), fv = verdict_continue();

    if (helo_used) {
        char shown[sizeof helo->domain * 4];
        hv = identity_verdict(helo, cfg, ip);
        if (cfg->spf_helo_action == SPF_HELO_LOG && hv.action != VERDICT_CONTINUE)
            hv = verdict_make(VERDICT_CONTINUE, REPLY_NONE, "spf", NULL,
                              "spf=%s helo=%s (spf_helo_action=log): %s",
                              spf_result_name(helo->result),
                              str_escape_word(shown, sizeof shown, helo->domain), helo->detail);
    }
    if (from_used)
        fv = identity_verdict(mailfrom, cfg, ip);
    if (!helo_used)
        return fv;
    if (!from_used)
        return hv;
    struct verdict v = verdict_combine(&hv, &fv);
    if (v.action == VERDICT_CONTINUE) {
        /* Both are recorded: the decision log then shows the whole SPF picture. */
        char both[2 * VERDICT_DETAIL_MAX + 4];
        snprintf(both, sizeof both, "%s | %s", fv.detail, hv.detail);
        str_copy(v.detail, sizeof v.detail, both);
    }
    return v;
}

void spf_authres(const struct spf_outcome *o, char *out, size_t outlen)
{
    if (o == NULL || !o->checked) {
        snprintf(out, outlen, "spf=none");
        return;
    }
    /* RFC 8601 2.7.2; the domain was validated (dns_name_valid), so it is a plain pvalue. */
    if (o->domain[0] != '\0' && dns_name_valid(o->domain))
        snprintf(out, outlen, "spf=%s %s=%s", spf_result_name(o->result),
                 o->identity == SPF_IDENTITY_HELO ? "smtp.helo" : "smtp.mailfrom", o->domain);
    else
        snprintf(out, outlen, "spf=%s", spf_result_name(o->result));
}

/* ---- libspf2's messages ---- */

static void library_message(int priority, const char *file, int line, const char *msg)
{
    char shown[256];
    log_msg(priority, "libspf2 %s:%d: %s", file ? file : "?", line,
            str_escape(shown, sizeof shown, msg));
}

static void library_error(const char *file, int line, const char *msg) __attribute__((noreturn));

static void library_error(const char *file, int line, const char *msg)
{
    library_message(LOG_CRIT, file, line, msg);
    abort();
}

static void library_warning(const char *file, int line, const char *msg)
{
    library_message(LOG_WARNING, file, line, msg);
}

static void library_info(const char *file, int line, const char *msg)
{
    library_message(LOG_DEBUG, file, line, msg);
}

void spf_library_init(void)
{
    SPF_error_handler = library_error;
    SPF_warning_handler = library_warning;
    SPF_info_handler = library_info;
    SPF_debug_handler = NULL;
}
