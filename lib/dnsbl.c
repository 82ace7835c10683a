/*
 * dnsbl: DNS block and allow lists (RFC 5782), the queries and their verdict (dnsbl.h); the
 * options' syntax is lib/dnsbl_zone.c.
 *
 * RFC 5782 2.1 and 2.4: the client's IPv4 address with its octets reversed, or its IPv6 address
 * as reversed nibbles, is looked up as an A record below the zone; an A answer means listed, and
 * the TXT record at the same name says why.  RFC 5782 2.1 lets lists use the answer's value as a
 * code, and real lists also answer errors this way (Spamhaus: 127.255.255.254 for queries through
 * public resolvers), so only the codes configured for the zone count as listings; any other
 * answer is logged and ignored: a list's error is not a listing.  A lookup that could not tell
 * (timeout, SERVFAIL) never lists: it is logged, and the mail goes on to the other checks.
 *
 * The A queries of all zones start at connect on the connection's batch, together with iprev's
 * PTR query; TXT queries are sent only for the zones that list the client, in parallel, when the
 * verdict is needed: most clients are not listed, and a listed one is refused anyway.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsbl.h"

#include "cidr.h"
#include "lists.h"
#include "log.h"
#include "util.h"

enum dnsbl_result { DNSBL_PENDING, DNSBL_LISTED, DNSBL_NOT_LISTED, DNSBL_TEMPFAIL };

struct dnsbl_query {
    struct dnsbl_zone zone;
    bool allow; /* a DNSWL zone */
    char name[DNS_NAME_MAX + 1];
    int a_handle, txt_handle;
    enum dnsbl_result result;
    char code[INET_ADDRSTRLEN];     /* the listing answer */
    char ignored[INET_ADDRSTRLEN];  /* the first answer that is not a listing code */
    char txt[LISTS_REASON_MAX + 1]; /* raw, bounded: escaped wherever it is shown */
    char error[96];                 /* why a lookup failed, as struct dns_answer says */
};

struct dnsbl {
    struct dns_batch *batch; /* borrowed */
    char ip[64];
    size_t count;
    struct dnsbl_query queries[2 * DNSBL_ZONES_MAX];
    bool done;
};

/* ------------------------------------------------------------------------------------------ */
/* Queries                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* The reversed address without its in-addr.arpa / ip6.arpa suffix (RFC 5782 2.1, 2.4). */
static bool reversed_address(const char *ip, char *out, size_t outlen)
{
    static const char *const suffixes[] = {".in-addr.arpa", ".ip6.arpa"};
    char name[DNS_NAME_MAX + 1];

    if (!dns_reverse_name(ip, name, sizeof name))
        return false;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t len = strlen(name), slen = strlen(suffixes[i]);
        if (len > slen && strcmp(name + len - slen, suffixes[i]) == 0) {
            name[len - slen] = '\0';
            return str_copy(out, outlen, name);
        }
    }
    return false;
}

static void add_zones(struct dnsbl *d, const struct config_list *list, bool allow,
                      const char *reversed)
{
    struct dnsbl_zone zones[DNSBL_ZONES_MAX];
    size_t count;
    char why[512];

    if (!dnsbl_zones_parse(list->items, list->count, zones, &count, why, sizeof why)) {
        /* The config table's check refuses this as the value is set; should a config come
         * from elsewhere, a log line instead of a crash. */
        log_msg(LOG_ERR, "%s: %s (ignored)", allow ? "dnswl_zones" : "dnsbl_zones", why);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        struct dnsbl_query *q = &d->queries[d->count];
        int n = snprintf(q->name, sizeof q->name, "%s.%s", reversed, zones[i].name);
        if (n < 0 || (size_t)n >= sizeof q->name)
            continue;
        q->zone = zones[i];
        q->allow = allow;
        q->txt_handle = -1;
        q->a_handle = dns_batch_start(d->batch, q->name, DNS_TYPE_A);
        d->count++;
    }
}

struct dnsbl *dnsbl_start(struct dns_batch *batch, const struct config *cfg, const char *ip)
{
    char reversed[DNS_NAME_MAX + 1];
    struct dnsbl *d;

    if (batch == NULL || cfg == NULL ||
        (cfg->dnsbl_zones.count == 0 && cfg->dnswl_zones.count == 0))
        return NULL;
    if (ip == NULL || !cidr_is_address(ip) || !reversed_address(ip, reversed, sizeof reversed))
        return NULL;
    d = xcalloc(1, sizeof *d);
    d->batch = batch;
    str_copy(d->ip, sizeof d->ip, ip);
    add_zones(d, &cfg->dnswl_zones, true, reversed);
    add_zones(d, &cfg->dnsbl_zones, false, reversed);
    if (d->count == 0) {
        free(d);
        return NULL;
    }
    return d;
}

void dnsbl_free(struct dnsbl *d)
{
    free(d);
}

static bool code_accepted(const struct dnsbl_zone *z, uint32_t code)
{
    for (size_t i = 0; i < z->ncodes; i++)
        if (code >= z->codes[i].low && code <= z->codes[i].high)
            return true;
    return false;
}

/* Reads the A answer of q: listed when a record carries one of the zone's codes. */
static void read_a_answer(struct dnsbl_query *q, const struct dns_answer *a)
{
    if (a == NULL) {
        q->result = DNSBL_TEMPFAIL;
        str_copy(q->error, sizeof q->error, "no query");
        return;
    }
    switch (a->status) {
    case DNS_NXDOMAIN:
    case DNS_NODATA:
        q->result = DNSBL_NOT_LISTED;
        return;
    case DNS_TEMPFAIL:
        q->result = DNSBL_TEMPFAIL;
        str_copy(q->error, sizeof q->error, a->error[0] ? a->error : "temporary failure");
        return;
    case DNS_OK:
        break;
    }
    q->result = DNSBL_NOT_LISTED;
    for (size_t i = 0; i < a->count; i++) {
        const struct dns_record *r = &a->records[i];
        char text[INET_ADDRSTRLEN];
        if (r->family != AF_INET || inet_ntop(AF_INET, &r->addr.v4, text, sizeof text) == NULL)
            continue;
        if (code_accepted(&q->zone, ntohl(r->addr.v4.s_addr))) {
            q->result = DNSBL_LISTED;
            str_copy(q->code, sizeof q->code, text);
            return;
        }
        if (q->ignored[0] == '\0')
            str_copy(q->ignored, sizeof q->ignored, text);
    }
}

/* The first string of the TXT answer, up to a NUL byte and LISTS_REASON_MAX bytes. */
static void read_txt_answer(struct dnsbl_query *q, const struct dns_answer *a)
{
    if (a == NULL || a->status != DNS_OK || a->count == 0 || a->records[0].text == NULL)
        return;
    size_t len = strnlen(a->records[0].text, a->records[0].text_len);
    if (len > LISTS_REASON_MAX)
        len = LISTS_REASON_MAX;
    memcpy(q->txt, a->records[0].text, len);
    q->txt[len] = '\0';
}

/* One evidence line of q: the party fields of the decision lines (party), or "ip=" alone. */
static void log_query(const struct dnsbl *d, const struct dnsbl_query *q, const char *log_id,
                      const char *party)
{
    char word[256], ip[sizeof word + 3], txt[LISTS_REASON_MAX * 4 + 1];
    const char *kind = q->allow ? "dnswl" : "dnsbl";

    if (party == NULL) {
        snprintf(ip, sizeof ip, "ip=%s", str_escape_word(word, sizeof word, d->ip));
        party = ip;
    }
    if (q->result == DNSBL_TEMPFAIL)
        log_msg(LOG_WARNING,
                "%s: check=%s action=ignore %s zone=%s detail=\"lookup of %s failed (%s): "
                "not a listing\"",
                log_id, kind, party, q->zone.name, q->name, q->error);
    else if (q->ignored[0] != '\0' && q->result != DNSBL_LISTED)
        log_msg(LOG_WARNING,
                "%s: check=%s action=ignore %s zone=%s answer=%s detail=\"answer is not one "
                "of the zone's listing codes: an error of the list, not a listing\"",
                log_id, kind, party, q->zone.name, q->ignored);
    else if (q->result == DNSBL_LISTED)
        log_msg(LOG_INFO, "%s: check=%s action=listed %s zone=%s answer=%s%s%s%s", log_id, kind,
                party, q->zone.name, q->code, q->txt[0] ? " txt=\"" : "",
                q->txt[0] ? str_escape(txt, sizeof txt, q->txt) : "", q->txt[0] ? "\"" : "");
}

void dnsbl_finish(struct dnsbl *d, const char *log_id, const char *party)
{
    if (d == NULL || d->done)
        return;
    d->done = true;
    if (log_id == NULL || log_id[0] == '\0')
        log_id = "NOQUEUE";
    for (size_t i = 0; i < d->count; i++)
        read_a_answer(&d->queries[i], dns_batch_wait(d->batch, d->queries[i].a_handle));
    /* The reasons of the listings, all asked at once. */
    for (size_t i = 0; i < d->count; i++)
        if (d->queries[i].result == DNSBL_LISTED && !d->queries[i].allow)
            d->queries[i].txt_handle = dns_batch_start(d->batch, d->queries[i].name, DNS_TYPE_TXT);
    for (size_t i = 0; i < d->count; i++) {
        struct dnsbl_query *q = &d->queries[i];
        if (q->txt_handle >= 0)
            read_txt_answer(q, dns_batch_wait(d->batch, q->txt_handle));
        log_query(d, q, log_id, party);
    }
}

bool dnsbl_allowlisted(struct dnsbl *d)
{
    if (d == NULL)
        return false;
    dnsbl_finish(d, NULL, NULL);
    for (size_t i = 0; i < d->count; i++)
        if (d->queries[i].allow && d->queries[i].result == DNSBL_LISTED)
            return true;
    return false;
}

/* Appends "zone=outcome" of every query to out (the verdict's detail). */
static void describe(const struct dnsbl *d, char *out, size_t outlen)
{
    size_t o = 0;

    out[0] = '\0';
    for (size_t i = 0; i < d->count && o < outlen; i++) {
        const struct dnsbl_query *q = &d->queries[i];
        char txt[LISTS_REASON_MAX * 4 + 1];
        int n = 0;
        const char *sep = i ? " " : "";
        const char *kind = q->allow ? "dnswl" : "dnsbl";

        switch (q->result) {
        case DNSBL_LISTED:
            n = snprintf(out + o, outlen - o, "%s%s:%s=listed(%s)%s%s%s", sep, kind, q->zone.name,
                         q->code, q->txt[0] ? " txt=\"" : "",
                         q->txt[0] ? str_escape(txt, sizeof txt, q->txt) : "",
                         q->txt[0] ? "\"" : "");
            break;
        case DNSBL_NOT_LISTED:
            n = snprintf(out + o, outlen - o, "%s%s:%s=none%s%s%s", sep, kind, q->zone.name,
                         q->ignored[0] ? "(ignored answer " : "", q->ignored,
                         q->ignored[0] ? ")" : "");
            break;
        case DNSBL_TEMPFAIL:
            n = snprintf(out + o, outlen - o, "%s%s:%s=temperror(%s)", sep, kind, q->zone.name,
                         q->error);
            break;
        case DNSBL_PENDING:
            break;
        }
        if (n < 0)
            break;
        o += (size_t)n;
    }
}

struct verdict dnsbl_verdict(struct dnsbl *d)
{
    char detail[VERDICT_DETAIL_MAX], reason[LISTS_REASON_MAX + 32];

    if (d == NULL)
        return verdict_continue();
    dnsbl_finish(d, NULL, NULL);
    describe(d, detail, sizeof detail);
    for (size_t i = 0; i < d->count; i++) {
        const struct dnsbl_query *q = &d->queries[i];
        if (q->allow || q->result != DNSBL_LISTED)
            continue;
        if (q->txt[0] != '\0')
            str_copy(reason, sizeof reason, q->txt);
        else
            snprintf(reason, sizeof reason, "answer %s", q->code);
        struct verdict_args args = {.ip = d->ip, .zone = q->zone.name, .reason = reason};
        return verdict_make(VERDICT_REJECT, REPLY_DNSBL, "dnsbl", &args, "%s", detail);
    }
    return verdict_make(VERDICT_CONTINUE, REPLY_NONE, "dnsbl", NULL, "%s", detail);
}

void dnsbl_authres(struct dnsbl *d, char *out, size_t outlen)
{
    size_t o = 0;

    if (outlen == 0)
        return;
    out[0] = '\0';
    if (d == NULL)
        return;
    dnsbl_finish(d, NULL, NULL);
    for (size_t i = 0; i < d->count && o < outlen; i++) {
        const struct dnsbl_query *q = &d->queries[i];
        const char *sep = o ? "; " : "";
        int n = 0;
        if (!q->allow)
            continue;
        /* RFC 8904 2: dns.zone, and policy.ip the answer that listed the client. */
        if (q->result == DNSBL_LISTED)
            n = snprintf(out + o, outlen - o, "%sdnswl=pass dns.zone=%s policy.ip=%s", sep,
                         q->zone.name, q->code);
        else if (q->result == DNSBL_TEMPFAIL)
            n = snprintf(out + o, outlen - o, "%sdnswl=temperror dns.zone=%s", sep, q->zone.name);
        if (n < 0)
            break;
        o += (size_t)n;
    }
    if (o >= outlen)
        out[0] = '\0'; /* a cut result would be a malformed header: give none */
}
