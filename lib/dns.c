/*
 * dns: lookups over c-ares on a few shared channels driven by one I/O thread per resolver, our
 * own answer parser and a TTL-bounded cache.
 *
 * RFC 1035 4.1 (message format; 4.1.4 compression is expanded by ares_expand_name), 3.3 and 3.4
 * (the RDATA of A, CNAME, MX, NS, PTR, SOA, TXT), RFC 3596 2.1 and 2.5 (AAAA, ip6.arpa nibbles),
 * RFC 1035 3.5 (in-addr.arpa), RFC 2308 3 and 5 (a negative answer is cached for the lesser of the
 * SOA's TTL and its MINIMUM field), RFC 2181 8 (a TTL with the top bit set counts as 0),
 * RFC 7208 3.3 (a TXT record's strings are joined without a separator).
 *
 * Why shared channels: a c-ares 1.18 channel carries fixed tables (2048 query-id and 1024
 * timeout list heads, about 74 KiB).  Lending one to each batch while its queries were in flight
 * made an idle connection with a cold cache (its answers unread in its channel's socket) cost
 * about 83 KiB; 256 such connections held 256 channels.  Now a resolver has DNS_CHANNELS
 * channels for all its batches, and its I/O thread reads every answer as it arrives.
 *
 * Locking: c-ares 1.18 channels are not thread-safe, so the resolver's one mutex (lock) guards
 * its channels and everything their callbacks touch: each sent query's done, in_ares, batch and
 * answer (until done), each batch's pending count, and the I/O thread's state.  ares_query runs
 * under it in the batch's thread (1.18 sends synchronously: a query is on the wire when
 * dns_batch_start returns); everything else of c-ares (ares_getsock, ares_timeout,
 * ares_process_fd, and so every callback) runs under it in the I/O thread, which lets go of it
 * only while it sits in poll().  A batch's thread waits on the batch's condition variable with
 * the resolver's mutex, until its query is done or its own deadline.  The cache has its own
 * mutex, taken inside the resolver's (callbacks put answers) and never the other way round.
 * A batch's query array and sent count, and a query's type, key and sent flag, belong to the
 * batch's thread alone: a batch whose queries were all answered at the start (cache hits, the
 * warm path) never takes the resolver's mutex.
 *
 * Lifetimes: a query sent to c-ares is its callback's argument until the callback runs (in_ares).
 * dns_batch_free frees the queries c-ares no longer holds and marks the others abandoned (batch
 * NULL): their callback frees them, when the answer comes, when c-ares gives up (its own timeouts
 * outlast ours), or at ares_destroy (ARES_EDESTRUCTION) in dns_resolver_free.  The I/O thread is
 * started by the first query that goes to the network and joined by dns_resolver_free, which runs
 * after every batch of the resolver is freed.
 */
#include "dns.h"

#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include "metrics.h"
#include "util.h"

/*
 * c-ares channels of a resolver, shared by all its batches (queries go to them in turn).  One is
 * enough: a 1.18 channel holds any number of queries (its tables are hash heads) and gives each
 * a query id unique in the channel; more would only add their 74 KiB and sockets.
 */
#define DNS_CHANNELS 1
/* A negative answer without an SOA in its authority section is cached this long (seconds). */
#define DNS_NEGATIVE_TTL_DEFAULT 60
/*
 * Packets larger than this are answered but not cached: a UDP answer without EDNS is at most 512
 * bytes, so only rare TCP answers are left out, and a cache of N entries stays under N x 4 KiB
 * however large the answers a hostile zone serves.
 */
#define DNS_CACHE_PACKET_MAX 4096
/*
 * A hash chain never grows past this: names come from the network (HELO, PTR), and a crafted set
 * of colliding names must not turn each lookup into a walk of the whole cache under its mutex.
 */
#define DNS_CACHE_CHAIN_MAX 32
#define DNS_CACHE_BUCKETS_MAX ((size_t)1 << 22)

#define DNS_HEADER_LEN 12
#define DNS_CLASS_IN 1

/* ---- the resolver: servers, shared channels, cache ---- */

struct cache_entry {
    struct cache_entry *chain;         /* next in the hash bucket */
    struct cache_entry *older, *newer; /* insertion order, for evicting the oldest */
    size_t hash;
    int type;
    time_t expires; /* fresh while now < expires */
    unsigned char *packet;
    size_t packet_len;
    char name[]; /* lower case, no final dot */
};

struct dns_cache {
    pthread_mutex_t lock;
    struct cache_entry **buckets;
    size_t nbuckets; /* a power of two */
    struct cache_entry *oldest, *newest;
    size_t count, max;
    uint32_t max_ttl;
    time_t next_sweep; /* no entry expires before this: sweeping earlier would find nothing */
    uint64_t seed;
    uint64_t hits, misses;
};

struct dns_resolver {
    int timeout_ms, tries;
    struct ares_addr_port_node *servers; /* an array linked through next; NULL: resolv.conf */
    time_t (*clock)(void *arg);
    void *clock_arg;

    /* Guards everything below (see Locking at the top). */
    pthread_mutex_t lock;
    ares_channel channels[DNS_CHANNELS];
    size_t next_channel;
    uint64_t in_flight; /* queries c-ares holds */
    /* The I/O thread: started at the first query that needs the network. */
    pthread_t io_thread;
    bool io_started, io_stop;
    int wake_fd;    /* eventfd: wakes the I/O thread from poll() (new sockets, timeouts, stop) */
    bool wake_sent; /* written and not yet read: one write is enough */

    struct dns_cache cache;
};

/* ---- a batch and its queries ---- */

struct dns_query {
    struct dns_resolver *resolver;
    /* The batch's thread alone reads these (the dedup key); never written after the start. */
    int type;
    char key[DNS_NAME_MAX + 1];
    /* Under the resolver's lock while the query is sent and not done; then the batch's. */
    struct dns_batch *batch; /* NULL once abandoned: dns_batch_free ran while c-ares held it */
    struct dns_answer answer;
    bool done;
    bool in_ares;        /* c-ares holds the query as its callback's argument */
    bool sent;           /* the batch's: given to c-ares (else done at the start, unlocked) */
    int64_t deadline_ms; /* CLOCK_MONOTONIC; the query is given up at this time */
    int64_t sent_us;     /* metrics_now_us() when it was sent: its latency in the counters */
};

struct dns_batch {
    struct dns_resolver *resolver;
    /*
     * Each query is allocated on its own so that an answer returned by dns_batch_wait() keeps its
     * address while more queries are started (iprev reads the PTR answer while it starts the
     * forward lookups of its names).
     */
    struct dns_query **queries;
    size_t count, cap;
    size_t sent;             /* the batch's: queries given to c-ares, ever */
    size_t pending;          /* sent and not yet done; under the resolver's lock */
    pthread_cond_t done;     /* CLOCK_MONOTONIC; broadcast under the resolver's lock */
    struct dns_batch *outer; /* dns_batch_new_within: borrowed, used by the same thread */
};

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static time_t cache_now(const struct dns_resolver *r)
{
    if (r->clock != NULL)
        return r->clock(r->clock_arg);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static void set_error(char *err, size_t errlen, const char *msg, const char *detail)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s%s%s", msg, detail ? ": " : "", detail ? detail : "");
}

/* ---- names ---- */

static int ascii_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static bool label_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* RFC 1035 2.3.4: labels of 1 to 63 octets, 255 octets on the wire, i.e. 253 characters. */
bool dns_name_valid(const char *name)
{
    if (name == NULL)
        return false;
    size_t len = strnlen(name, DNS_NAME_MAX + 2);
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (!label_char((unsigned char)name[i]) || ++label > 63) {
            return false;
        }
    }
    return label > 0;
}

/* The cache and dedup key of a valid name: lower case, without the final dot. */
static void name_normalize(const char *name, char out[DNS_NAME_MAX + 1])
{
    size_t len = strlen(name);
    if (len > 0 && name[len - 1] == '.')
        len--;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)ascii_lower((unsigned char)name[i]);
    out[len] = '\0';
}

/* RFC 1035 3.5 and RFC 3596 2.5; an IPv4-mapped IPv6 address is its IPv4 address. */
bool dns_reverse_name(const char *ip, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    unsigned char b[16];

    if (ip == NULL || out == NULL || outlen == 0)
        return false;
    if (inet_pton(AF_INET, ip, b + 12) == 1) {
        memcpy(b, v4_mapped, sizeof v4_mapped);
    } else if (inet_pton(AF_INET6, ip, b) != 1) {
        return false;
    }
    if (memcmp(b, v4_mapped, sizeof v4_mapped) == 0) {
        int n = snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa", b[15], b[14], b[13], b[12]);
        return n > 0 && (size_t)n < outlen;
    }
    static const char suffix[] = "ip6.arpa";
    if (outlen < 16 * 4 + sizeof suffix)
        return false;
    char *p = out;
    for (int i = 15; i >= 0; i--) {
        *p++ = hex[b[i] & 0x0f];
        *p++ = '.';
        *p++ = hex[b[i] >> 4];
        *p++ = '.';
    }
    memcpy(p, suffix, sizeof suffix);
    return true;
}

/* ---- the answer parser: the one place that reads bytes from the network ---- */

static uint16_t get16(const unsigned char *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/*
 * Steps over a name at *off without following compression pointers (RFC 1035 4.1.4): enough for
 * owner names we never read.  Names we keep go through ares_expand_name, which follows pointers
 * and detects loops.
 */
static bool skip_name(const unsigned char *p, size_t end, size_t *off)
{
    size_t o = *off;
    for (;;) {
        if (o >= end)
            return false;
        unsigned len = p[o];
        if ((len & 0xc0) == 0xc0) {
            if (o + 2 > end)
                return false;
            *off = o + 2;
            return true;
        }
        if ((len & 0xc0) != 0) /* the extended label types of RFC 6891 are not for us */
            return false;
        if (len == 0) {
            *off = o + 1;
            return true;
        }
        o += 1 + len;
    }
}

struct rr {
    int type, class_;
    uint32_t ttl;
    size_t rdata, rdlen; /* offset and length of the RDATA */
};

/* Reads the resource record at *off (RFC 1035 4.1.3) and moves *off past it. */
static bool read_rr(const unsigned char *p, size_t len, size_t *off, struct rr *rr)
{
    size_t o = *off;
    if (!skip_name(p, len, &o) || len - o < 10)
        return false;
    rr->type = get16(p + o);
    rr->class_ = get16(p + o + 2);
    rr->ttl = get32(p + o + 4);
    if (rr->ttl & 0x80000000u) /* RFC 2181 8 */
        rr->ttl = 0;
    rr->rdlen = get16(p + o + 8);
    rr->rdata = o + 10;
    if (rr->rdlen > len - rr->rdata)
        return false;
    *off = rr->rdata + rr->rdlen;
    return true;
}

enum rdata_result { RDATA_KEPT, RDATA_SKIPPED, RDATA_MALFORMED };

/*
 * Expands the name at off, which must end exactly at end.  A name longer than we keep is not
 * malformed, only unusable: RDATA_SKIPPED.
 */
static enum rdata_result expand_name(const unsigned char *p, size_t len, size_t off, size_t end,
                                     struct dns_record *rec)
{
    char *s = NULL;
    long enclen = 0;
    if (off >= end || ares_expand_name(p + off, p, (int)len, &s, &enclen) != ARES_SUCCESS)
        return RDATA_MALFORMED;
    if (enclen <= 0 || (size_t)enclen != end - off) {
        ares_free_string(s);
        return RDATA_MALFORMED;
    }
    /* c-ares writes no final dot (the root is "") and escapes odd bytes: "\." for a dot inside
     * a label, "\DDD" for unprintable ones (a space stays a space).  dns_name_valid() refuses
     * such a name when someone tries to look it up, and log lines escape it again. */
    size_t n = strlen(s);
    if (n > DNS_NAME_MAX) {
        ares_free_string(s);
        return RDATA_SKIPPED;
    }
    rec->text = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        rec->text[i] = (char)ascii_lower((unsigned char)s[i]);
    rec->text[n] = '\0';
    rec->text_len = n;
    ares_free_string(s);
    return RDATA_KEPT;
}

/* RFC 1035 3.3.14: one or more <character-string>s, joined here up to DNS_TXT_MAX bytes. */
static enum rdata_result parse_txt(const unsigned char *p, const struct rr *rr,
                                   struct dns_record *rec)
{
    size_t o = rr->rdata, end = rr->rdata + rr->rdlen, n = 0;
    char buf[DNS_TXT_MAX];
    while (o < end) {
        size_t slen = p[o++];
        if (slen > end - o)
            return RDATA_MALFORMED;
        size_t take = slen < sizeof buf - n ? slen : sizeof buf - n;
        memcpy(buf + n, p + o, take);
        n += take;
        o += slen;
    }
    rec->text = xmalloc(n + 1);
    memcpy(rec->text, buf, n);
    rec->text[n] = '\0';
    rec->text_len = n;
    return RDATA_KEPT;
}

static enum rdata_result parse_rdata(const unsigned char *p, size_t len, const struct rr *rr,
                                     struct dns_record *rec)
{
    size_t end = rr->rdata + rr->rdlen;
    memset(rec, 0, sizeof *rec);
    rec->ttl = rr->ttl;
    switch (rr->type) {
    case DNS_TYPE_A:
        if (rr->rdlen != 4)
            return RDATA_MALFORMED;
        rec->family = AF_INET;
        memcpy(&rec->addr.v4, p + rr->rdata, 4);
        return RDATA_KEPT;
    case DNS_TYPE_AAAA:
        if (rr->rdlen != 16)
            return RDATA_MALFORMED;
        rec->family = AF_INET6;
        memcpy(&rec->addr.v6, p + rr->rdata, 16);
        return RDATA_KEPT;
    case DNS_TYPE_PTR:
    case DNS_TYPE_CNAME:
    case DNS_TYPE_NS:
        return expand_name(p, len, rr->rdata, end, rec);
    case DNS_TYPE_MX:
        if (rr->rdlen < 3)
            return RDATA_MALFORMED;
        rec->preference = get16(p + rr->rdata);
        return expand_name(p, len, rr->rdata + 2, end, rec);
    case DNS_TYPE_TXT:
    case DNS_TYPE_SPF:
        return parse_txt(p, rr, rec);
    case DNS_TYPE_SOA: {
        /* MNAME as the text; RNAME and the five counters must fill the rest. */
        size_t mname_end = rr->rdata;
        if (!skip_name(p, end, &mname_end))
            return RDATA_MALFORMED;
        size_t o = mname_end;
        if (!skip_name(p, end, &o) || end - o != 20)
            return RDATA_MALFORMED;
        return expand_name(p, len, rr->rdata, mname_end, rec);
    }
    default:
        return RDATA_KEPT; /* counted, with its TTL; nothing we read */
    }
}

/* RFC 2308 5: the lesser of the SOA record's TTL and its MINIMUM field; false when malformed. */
static bool soa_negative_ttl(const unsigned char *p, const struct rr *rr, uint32_t *ttl)
{
    size_t o = rr->rdata, end = rr->rdata + rr->rdlen;
    if (!skip_name(p, end, &o) || !skip_name(p, end, &o) || end - o != 20)
        return false;
    uint32_t minimum = get32(p + o + 16);
    if (minimum & 0x80000000u)
        minimum = 0;
    *ttl = rr->ttl < minimum ? rr->ttl : minimum;
    return true;
}

static const char *rcode_text(int rcode)
{
    switch (rcode) {
    case 1:
        return "FORMERR";
    case 2:
        return "SERVFAIL";
    case 4:
        return "NOTIMP";
    case 5:
        return "REFUSED";
    default:
        return NULL;
    }
}

#define CNAME_CHAIN_MAX 16 /* CNAME records of one answer looked at for a loop */

/* The name at off in presentation form (compression followed, loops refused); NULL when bad. */
static char *name_at(const unsigned char *p, size_t len, size_t off)
{
    char *s = NULL;
    long enclen = 0;
    if (off >= len || ares_expand_name(p + off, p, (int)len, &s, &enclen) != ARES_SUCCESS)
        return NULL;
    char *copy = xstrdup(s);
    ares_free_string(s);
    return copy;
}

/*
 * True when the answer section holds a CNAME chain from the question's name that comes back to a
 * name it already passed (a -> b -> a).  A recursive server that gives up on a loop may answer
 * NOERROR with the loop and no record of the asked type; that is not "no such data" but a broken
 * zone, so it is could-not-tell (never a pass, never a fail), as Unbound's SERVFAIL would be.
 */
static bool cname_loop(const unsigned char *p, size_t len, unsigned qdcount, unsigned ancount)
{
    char *owner[CNAME_CHAIN_MAX], *target[CNAME_CHAIN_MAX];
    size_t n = 0, off = DNS_HEADER_LEN;
    bool loop = false;
    char *qname = qdcount > 0 ? name_at(p, len, off) : NULL;
    if (qname == NULL)
        return false;
    for (unsigned i = 0; i < qdcount; i++) {
        if (!skip_name(p, len, &off) || len - off < 4)
            goto done;
        off += 4;
    }
    for (unsigned i = 0; i < ancount && n < CNAME_CHAIN_MAX; i++) {
        size_t start = off;
        struct rr rr;
        if (!read_rr(p, len, &off, &rr))
            goto done;
        if (rr.type != DNS_TYPE_CNAME || rr.class_ != DNS_CLASS_IN)
            continue;
        owner[n] = name_at(p, len, start);
        target[n] = name_at(p, len, rr.rdata);
        if (owner[n] == NULL || target[n] == NULL) {
            free(owner[n]);
            free(target[n]);
            goto done;
        }
        n++;
    }
    /* Follow the chain from the question: more steps than records means a name came back. */
    const char *name = qname;
    for (size_t steps = 0; steps <= n; steps++) {
        size_t k = 0;
        while (k < n && str_casecmp(owner[k], name) != 0)
            k++;
        if (k == n)
            goto done; /* the chain ends */
        name = target[k];
    }
    loop = true;
done:
    for (size_t k = 0; k < n; k++) {
        free(owner[k]);
        free(target[k]);
    }
    free(qname);
    return loop;
}

static bool parse_malformed(struct dns_answer *a)
{
    dns_answer_clear(a);
    a->status = DNS_TEMPFAIL;
    a->ttl = 0;
    snprintf(a->error, sizeof a->error, "malformed answer");
    return false;
}

/* The answer section: records of the asked type (class IN) are kept; CNAMEs are stepped over. */
static bool parse_answer_section(const unsigned char *p, size_t len, size_t *off, unsigned ancount,
                                 int type, struct dns_answer *a)
{
    uint32_t min_ttl = UINT32_MAX;
    for (unsigned i = 0; i < ancount; i++) {
        struct rr rr;
        if (!read_rr(p, len, off, &rr))
            return false;
        if (rr.type != type || rr.class_ != DNS_CLASS_IN || a->count >= DNS_MAX_RECORDS)
            continue;
        if (a->records == NULL)
            a->records =
                xcalloc(ancount < DNS_MAX_RECORDS ? ancount : DNS_MAX_RECORDS, sizeof *a->records);
        switch (parse_rdata(p, len, &rr, &a->records[a->count])) {
        case RDATA_MALFORMED:
            return false;
        case RDATA_SKIPPED:
            break;
        case RDATA_KEPT:
            a->count++;
            if (rr.ttl < min_ttl)
                min_ttl = rr.ttl;
            break;
        }
    }
    a->ttl = a->count > 0 ? min_ttl : 0;
    return true;
}

/*
 * Layout: header, question, answer, authority, additional (RFC 1035 4.1).  Every section is
 * walked, also those we do not need, so that a packet whose counts promise more than it holds is
 * refused as a whole rather than half-read.
 */
bool dns_parse_answer(const unsigned char *packet, size_t len, int type, struct dns_answer *a)
{
    a->type = type;
    a->status = DNS_TEMPFAIL;
    a->count = 0;
    a->records = NULL;
    a->ttl = 0;
    a->error[0] = '\0';
    if (packet == NULL || len < DNS_HEADER_LEN || len > DNS_PACKET_MAX)
        return parse_malformed(a);

    const unsigned char *p = packet;
    unsigned flags = get16(p + 2);
    if ((flags & 0x8000) == 0) /* QR: a query is not an answer */
        return parse_malformed(a);
    int rcode = (int)(flags & 0x000f);
    unsigned qdcount = get16(p + 4), ancount = get16(p + 6);
    unsigned nscount = get16(p + 8), arcount = get16(p + 10);
    if (rcode != 0 && rcode != 3) {
        const char *text = rcode_text(rcode);
        if (text != NULL)
            snprintf(a->error, sizeof a->error, "%s", text);
        else
            snprintf(a->error, sizeof a->error, "rcode %d", rcode);
        return true;
    }

    size_t off = DNS_HEADER_LEN;
    for (unsigned i = 0; i < qdcount; i++) {
        if (!skip_name(p, len, &off) || len - off < 4)
            return parse_malformed(a);
        off += 4;
    }
    if (!parse_answer_section(p, len, &off, ancount, type, a))
        return parse_malformed(a);

    uint32_t negative_ttl = DNS_NEGATIVE_TTL_DEFAULT;
    bool have_soa = false;
    for (unsigned i = 0; i < nscount; i++) {
        struct rr rr;
        if (!read_rr(p, len, &off, &rr))
            return parse_malformed(a);
        if (rr.type == DNS_TYPE_SOA && rr.class_ == DNS_CLASS_IN && !have_soa) {
            if (!soa_negative_ttl(p, &rr, &negative_ttl))
                return parse_malformed(a);
            have_soa = true;
        }
    }
    for (unsigned i = 0; i < arcount; i++) {
        struct rr rr;
        if (!read_rr(p, len, &off, &rr))
            return parse_malformed(a);
    }

    if (rcode == 0 && a->count == 0 && type != DNS_TYPE_CNAME &&
        cname_loop(p, len, qdcount, ancount)) {
        a->status = DNS_TEMPFAIL;
        snprintf(a->error, sizeof a->error, "CNAME loop");
        return true;
    }
    if (rcode == 3 || a->count == 0) {
        /* RFC 6604 2.1: NXDOMAIN is about the end of a CNAME chain, so it stands as it is. */
        dns_answer_clear(a);
        a->status = rcode == 3 ? DNS_NXDOMAIN : DNS_NODATA;
        a->ttl = negative_ttl;
        return true;
    }
    a->status = DNS_OK;
    return true;
}

void dns_answer_clear(struct dns_answer *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->count; i++)
        free(a->records[i].text);
    free(a->records);
    a->records = NULL;
    a->count = 0;
}

void dns_answer_free(struct dns_answer *a)
{
    if (a == NULL)
        return;
    dns_answer_clear(a);
    free(a->packet);
    free(a);
}

/* ---- the cache ---- */

static size_t cache_hash(const struct dns_cache *c, int type, const char *name)
{
    /* FNV-1a, seeded per resolver; DNS_CACHE_CHAIN_MAX bounds the damage of collisions. */
    uint64_t h = (14695981039346656037ULL ^ c->seed) + (uint64_t)(unsigned)type;
    for (const unsigned char *s = (const unsigned char *)name; *s != '\0'; s++) {
        h ^= *s;
        h *= 1099511628211ULL;
    }
    return (size_t)(h ^ (h >> 29));
}

static void cache_init(struct dns_cache *c, size_t max, uint32_t max_ttl)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->max = max;
    c->max_ttl = max_ttl;
    if (max == 0)
        return;
    c->nbuckets = 16;
    while (c->nbuckets < max && c->nbuckets < DNS_CACHE_BUCKETS_MAX)
        c->nbuckets <<= 1;
    c->buckets = xcalloc(c->nbuckets, sizeof *c->buckets);
    if (getrandom(&c->seed, sizeof c->seed, GRND_NONBLOCK) != (ssize_t)sizeof c->seed)
        c->seed = (uint64_t)monotonic_ms() ^ (uint64_t)(uintptr_t)c;
}

static void entry_free(struct cache_entry *e)
{
    free(e->packet);
    free(e);
}

/* Unlinks e from its bucket and from the age list; the caller holds the lock and frees e. */
static void cache_unlink(struct dns_cache *c, struct cache_entry *e)
{
    struct cache_entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    c->count--;
}

/* Drops every expired entry; runs only when one has expired, so at most once a clock second. */
static void cache_sweep(struct dns_cache *c, time_t now)
{
    if (c->count == 0 || now < c->next_sweep)
        return;
    time_t next = 0;
    bool any = false;
    struct cache_entry *e = c->oldest;
    while (e != NULL) {
        struct cache_entry *newer = e->newer;
        if (e->expires <= now) {
            cache_unlink(c, e);
            entry_free(e);
        } else if (!any || e->expires < next) {
            next = e->expires;
            any = true;
        }
        e = newer;
    }
    c->next_sweep = next;
}

static struct cache_entry *cache_find(struct dns_cache *c, size_t hash, int type, const char *name,
                                      size_t *chain_len)
{
    size_t n = 0;
    for (struct cache_entry *e = c->buckets[hash & (c->nbuckets - 1)]; e; e = e->chain, n++)
        if (e->hash == hash && e->type == type && strcmp(e->name, name) == 0)
            return e;
    if (chain_len != NULL)
        *chain_len = n;
    return NULL;
}

/* A copy of the cached packet for (type, name) and its remaining lifetime; false on a miss. */
static bool cache_get(struct dns_resolver *r, int type, const char *name, unsigned char **packet,
                      size_t *packet_len, uint32_t *remaining)
{
    struct dns_cache *c = &r->cache;
    if (c->max == 0)
        return false;
    time_t now = cache_now(r);
    size_t hash = cache_hash(c, type, name);
    bool hit = false;

    pthread_mutex_lock(&c->lock);
    struct cache_entry *e = cache_find(c, hash, type, name, NULL);
    if (e != NULL && e->expires <= now) {
        cache_unlink(c, e);
        entry_free(e);
        e = NULL;
    }
    if (e != NULL) {
        *packet = xmalloc(e->packet_len);
        memcpy(*packet, e->packet, e->packet_len);
        *packet_len = e->packet_len;
        *remaining = (uint32_t)(e->expires - now);
        c->hits++;
        hit = true;
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

/* Whether the cache holds a fresh answer for (type, name); counts neither a hit nor a miss. */
static bool cache_fresh(struct dns_resolver *r, int type, const char *name)
{
    struct dns_cache *c = &r->cache;
    if (c->max == 0)
        return false;
    time_t now = cache_now(r);
    size_t hash = cache_hash(c, type, name);

    pthread_mutex_lock(&c->lock);
    struct cache_entry *e = cache_find(c, hash, type, name, NULL);
    bool fresh = e != NULL && e->expires > now;
    pthread_mutex_unlock(&c->lock);
    return fresh;
}

static void cache_put(struct dns_resolver *r, int type, const char *name,
                      const unsigned char *packet, size_t packet_len, uint32_t ttl)
{
    struct dns_cache *c = &r->cache;
    if (c->max == 0 || packet_len > DNS_CACHE_PACKET_MAX)
        return;
    if (ttl > c->max_ttl)
        ttl = c->max_ttl;
    if (ttl == 0)
        return;
    time_t now = cache_now(r);
    size_t name_len = strlen(name);
    struct cache_entry *e = xcalloc(1, sizeof *e + name_len + 1);
    memcpy(e->name, name, name_len + 1);
    e->type = type;
    e->hash = cache_hash(c, type, name);
    e->expires = now + (time_t)ttl;
    e->packet = xmalloc(packet_len);
    memcpy(e->packet, packet, packet_len);
    e->packet_len = packet_len;

    pthread_mutex_lock(&c->lock);
    size_t chain_len = 0;
    struct cache_entry *old = cache_find(c, e->hash, type, name, &chain_len);
    if (old != NULL) {
        cache_unlink(c, old);
        entry_free(old);
    } else if (chain_len >= DNS_CACHE_CHAIN_MAX) {
        pthread_mutex_unlock(&c->lock);
        entry_free(e);
        return;
    }
    if (c->count >= c->max)
        cache_sweep(c, now);
    if (c->count >= c->max) {
        struct cache_entry *oldest = c->oldest;
        cache_unlink(c, oldest);
        entry_free(oldest);
    }
    if (c->count == 0 || e->expires < c->next_sweep)
        c->next_sweep = e->expires;
    struct cache_entry **bucket = &c->buckets[e->hash & (c->nbuckets - 1)];
    e->chain = *bucket;
    *bucket = e;
    e->older = c->newest;
    if (c->newest)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
    c->count++;
    pthread_mutex_unlock(&c->lock);
}

static void cache_destroy(struct dns_cache *c)
{
    struct cache_entry *e = c->oldest;
    while (e != NULL) {
        struct cache_entry *newer = e->newer;
        entry_free(e);
        e = newer;
    }
    free(c->buckets);
    pthread_mutex_destroy(&c->lock);
}

void dns_resolver_stats(struct dns_resolver *r, struct dns_cache_stats *out)
{
    pthread_mutex_lock(&r->cache.lock);
    out->hits = r->cache.hits;
    out->misses = r->cache.misses;
    out->entries = r->cache.count;
    pthread_mutex_unlock(&r->cache.lock);
    pthread_mutex_lock(&r->lock);
    out->in_flight = r->in_flight;
    pthread_mutex_unlock(&r->lock);
}

/* ---- servers and channels ---- */

/* "192.0.2.1", "192.0.2.1:5353", "2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:5353" */
static bool parse_server(const char *spec, struct ares_addr_port_node *node)
{
    char host[INET6_ADDRSTRLEN];
    const char *port = NULL;
    const char *start = spec;
    size_t len;

    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':'))
            return false;
        start = spec + 1;
        len = (size_t)(close - start);
        if (close[1] == ':')
            port = close + 2;
    } else {
        const char *colon = strchr(spec, ':');
        bool v6 = colon != NULL && strchr(colon + 1, ':') != NULL;
        len = (colon != NULL && !v6) ? (size_t)(colon - spec) : strlen(spec);
        if (colon != NULL && !v6)
            port = colon + 1;
    }
    if (len == 0 || len >= sizeof host)
        return false;
    memcpy(host, start, len);
    host[len] = '\0';

    memset(node, 0, sizeof *node);
    struct in6_addr v6;
    if (inet_pton(AF_INET, host, &node->addr.addr4) == 1) {
        node->family = AF_INET;
    } else if (inet_pton(AF_INET6, host, &v6) == 1) {
        node->family = AF_INET6;
        memcpy(&node->addr.addr6, &v6, sizeof v6);
    } else {
        return false;
    }
    long number = 53;
    if (port != NULL) {
        char *end;
        errno = 0;
        number = strtol(port, &end, 10);
        if (errno != 0 || end == port || *end != '\0' || number < 1 || number > 65535)
            return false;
    }
    node->udp_port = node->tcp_port = (int)number;
    return true;
}

static int channel_new(const struct dns_resolver *r, ares_channel *out)
{
    struct ares_options o;
    memset(&o, 0, sizeof o);
    /* No search list and no HOSTALIASES: every name we ask is absolute.  No rotation: the
     * admin's first server is the one asked first. */
    o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    o.timeout = r->timeout_ms;
    o.tries = r->tries;
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_NOROTATE;
    int rc = ares_init_options(out, &o, mask);
    if (rc != ARES_SUCCESS)
        return rc;
    if (r->servers != NULL) {
        rc = ares_set_servers_ports(*out, r->servers);
        if (rc != ARES_SUCCESS) {
            ares_destroy(*out);
            *out = NULL;
        }
    }
    return rc;
}

/* ---- the I/O thread ---- */

static int poll_timeout_ms(const struct timeval *t)
{
    /* Round up: waking a millisecond early would only spin once more. */
    int64_t ms = (int64_t)t->tv_sec * 1000 + (t->tv_usec + 999) / 1000;
    if (ms < 0)
        return 0;
    return ms > 60000 ? 60000 : (int)ms;
}

/* With r->lock held: makes the I/O thread leave poll() and look at the channels again. */
static void io_wake(struct dns_resolver *r)
{
    if (r->wake_sent)
        return;
    uint64_t one = 1;
    if (write(r->wake_fd, &one, sizeof one) == (ssize_t)sizeof one)
        r->wake_sent = true;
}

/*
 * The one reader of the channels' sockets.  poll(), not select(): a busy milter has descriptors
 * past FD_SETSIZE.  Between the snapshot of the sockets and poll() a batch's thread may open a
 * socket (ares_query), and it then wakes us; c-ares may also close one, and a descriptor number
 * reused meanwhile is at worst one spurious turn (ares_process_fd ignores a descriptor that is not
 * one of its sockets).
 */
static void *io_run(void *arg)
{
    struct dns_resolver *r = arg;
    struct pollfd pfd[1 + DNS_CHANNELS * ARES_GETSOCK_MAXNUM];
    size_t owner[1 + DNS_CHANNELS * ARES_GETSOCK_MAXNUM]; /* the channel of each descriptor */

    pthread_mutex_lock(&r->lock);
    while (!r->io_stop) {
        nfds_t n = 1;
        pfd[0] = (struct pollfd){.fd = r->wake_fd, .events = POLLIN};
        int timeout = -1; /* no query anywhere: only a wake-up can bring work */
        for (size_t c = 0; c < DNS_CHANNELS; c++) {
            ares_socket_t socks[ARES_GETSOCK_MAXNUM];
            int bits = ares_getsock(r->channels[c], socks, ARES_GETSOCK_MAXNUM);
            for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
                short events = 0;
                if (ARES_GETSOCK_READABLE(bits, i))
                    events |= POLLIN;
                if (ARES_GETSOCK_WRITABLE(bits, i))
                    events |= POLLOUT;
                if (events == 0)
                    break;
                pfd[n] = (struct pollfd){.fd = socks[i], .events = events};
                owner[n++] = c;
            }
            struct timeval tv;
            const struct timeval *t = ares_timeout(r->channels[c], NULL, &tv);
            if (t != NULL && (timeout < 0 || poll_timeout_ms(t) < timeout))
                timeout = poll_timeout_ms(t);
        }
        pthread_mutex_unlock(&r->lock);
        int ready = poll(pfd, n, timeout);
        pthread_mutex_lock(&r->lock);
        if (ready < 0)
            continue; /* EINTR: look again */
        if (pfd[0].revents & POLLIN) {
            uint64_t count;
            /* Resets the eventfd's counter.  Either it reads the 8 bytes or it finds the counter
             * already 0 (EAGAIN): nothing is left to do in both cases.  The result is still taken,
             * because glibc's _FORTIFY_SOURCE (Debian's default build flags) marks read()
             * warn_unused_result, which a (void) cast does not silence. */
            ssize_t got = read(r->wake_fd, &count, sizeof count);
            (void)got;
            r->wake_sent = false;
        }
        for (size_t c = 0; c < DNS_CHANNELS; c++) {
            bool any = false;
            for (nfds_t i = 1; i < n; i++) {
                short rev = pfd[i].revents;
                if (owner[i] != c || rev == 0 || (rev & POLLNVAL))
                    continue;
                bool rd = (rev & (POLLIN | POLLERR | POLLHUP)) != 0;
                bool wr = (rev & POLLOUT) != 0;
                ares_process_fd(r->channels[c], rd ? pfd[i].fd : ARES_SOCKET_BAD,
                                wr ? pfd[i].fd : ARES_SOCKET_BAD);
                any = true;
            }
            /* Nothing to read or write: c-ares still resends or gives up what is due (every
             * call of ares_process_fd does that). */
            if (!any)
                ares_process_fd(r->channels[c], ARES_SOCKET_BAD, ARES_SOCKET_BAD);
        }
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* With r->lock held: starts the I/O thread unless it runs; false when it cannot. */
static bool io_start(struct dns_resolver *r)
{
    if (r->io_started)
        return true;
    r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->wake_fd < 0)
        return false;
    /* The thread takes no signal: the daemon's signal handling stays where it was set up. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&r->io_thread, NULL, io_run, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        close(r->wake_fd);
        r->wake_fd = -1;
        return false;
    }
    r->io_started = true;
    return true;
}

/* ---- the resolver ---- */

int dns_resolver_new(const struct dns_options *opts, struct dns_resolver **out, char *err,
                     size_t errlen)
{
    *out = NULL;
    if (opts == NULL || opts->timeout_ms < 1 || opts->tries < 1) {
        set_error(err, errlen, "dns: timeout and tries must be at least 1", NULL);
        return -1;
    }
    int rc = ares_library_init(ARES_LIB_INIT_ALL);
    if (rc != ARES_SUCCESS) {
        set_error(err, errlen, "dns: c-ares initialisation failed", ares_strerror(rc));
        return -1;
    }
    struct dns_resolver *r = xcalloc(1, sizeof *r);
    r->timeout_ms = opts->timeout_ms;
    r->tries = opts->tries;
    r->clock = opts->clock;
    r->clock_arg = opts->clock_arg;
    r->wake_fd = -1;
    pthread_mutex_init(&r->lock, NULL);
    cache_init(&r->cache, opts->cache_size, opts->cache_max_ttl);

    if (opts->servers != NULL && opts->server_count > 0) {
        r->servers = xcalloc(opts->server_count, sizeof *r->servers);
        for (size_t i = 0; i < opts->server_count; i++) {
            const char *spec = opts->servers[i] ? opts->servers[i] : "";
            if (!parse_server(spec, &r->servers[i])) {
                char shown[80];
                set_error(err, errlen,
                          "dns: not a server address (192.0.2.1, 192.0.2.1:5353, "
                          "2001:db8::1 or [2001:db8::1]:5353)",
                          str_escape(shown, sizeof shown, spec));
                dns_resolver_free(r);
                return -1;
            }
            r->servers[i].next = i + 1 < opts->server_count ? &r->servers[i + 1] : NULL;
        }
    }
    /* The channels now, so that a c-ares or resolv.conf problem shows at startup, not per mail. */
    for (size_t c = 0; c < DNS_CHANNELS; c++) {
        rc = channel_new(r, &r->channels[c]);
        if (rc != ARES_SUCCESS) {
            r->channels[c] = NULL;
            set_error(err, errlen, "dns: c-ares initialisation failed", ares_strerror(rc));
            dns_resolver_free(r);
            return -1;
        }
    }
    *out = r;
    return 0;
}

void dns_resolver_free(struct dns_resolver *r)
{
    if (r == NULL)
        return;
    if (r->io_started) {
        pthread_mutex_lock(&r->lock);
        r->io_stop = true;
        r->wake_sent = false; /* this write must go out */
        io_wake(r);
        pthread_mutex_unlock(&r->lock);
        pthread_join(r->io_thread, NULL);
        close(r->wake_fd);
    }
    /* Every batch is freed: what c-ares still holds is abandoned, and ares_destroy runs its
     * callbacks (ARES_EDESTRUCTION), which free it.  Under the lock, as callbacks expect. */
    pthread_mutex_lock(&r->lock);
    for (size_t c = 0; c < DNS_CHANNELS; c++)
        if (r->channels[c] != NULL)
            ares_destroy(r->channels[c]);
    pthread_mutex_unlock(&r->lock);
    pthread_mutex_destroy(&r->lock);
    cache_destroy(&r->cache);
    free(r->servers);
    free(r);
    ares_library_cleanup();
}

/* ---- batches ---- */

struct dns_batch *dns_batch_new(struct dns_resolver *r)
{
    struct dns_batch *b = xcalloc(1, sizeof *b);
    b->resolver = r;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&b->done, &attr);
    pthread_condattr_destroy(&attr);
    return b;
}

struct dns_batch *dns_batch_new_within(struct dns_batch *outer)
{
    struct dns_batch *b = dns_batch_new(outer->resolver);
    b->outer = outer;
    return b;
}

static void query_free(struct dns_query *q)
{
    dns_answer_clear(&q->answer);
    free(q->answer.packet);
    free(q);
}

void dns_batch_free(struct dns_batch *b)
{
    if (b == NULL)
        return;
    struct dns_resolver *r = b->resolver;
    if (b->sent > 0) {
        /* Queries c-ares still holds (in flight, or given up at our deadline) are left to their
         * callback; the others are ours to free. */
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < b->count; i++) {
            if (b->queries[i]->in_ares) {
                b->queries[i]->batch = NULL;
                b->queries[i] = NULL;
            }
        }
        pthread_mutex_unlock(&r->lock);
    }
    for (size_t i = 0; i < b->count; i++)
        if (b->queries[i] != NULL)
            query_free(b->queries[i]);
    pthread_cond_destroy(&b->done);
    free(b->queries);
    free(b);
}

static void answer_tempfail(struct dns_answer *a, const char *why)
{
    dns_answer_clear(a);
    a->status = DNS_TEMPFAIL;
    a->ttl = 0;
    snprintf(a->error, sizeof a->error, "%s", why);
}

static const char *ares_status_text(int status)
{
    switch (status) {
    case ARES_ETIMEOUT:
        return "timeout";
    case ARES_ESERVFAIL:
        return "SERVFAIL";
    case ARES_EREFUSED:
        return "REFUSED";
    case ARES_EFORMERR:
        return "FORMERR";
    case ARES_ENOTIMP:
        return "NOTIMP";
    case ARES_ECONNREFUSED:
        /* c-ares 1.18 retries SERVFAIL and REFUSED answers and, once the tries are spent,
         * reports them like an unreachable server, without the packet. */
        return "SERVFAIL, REFUSED or unreachable";
    case ARES_EBADRESP:
        return "malformed answer";
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
        return "cancelled";
    default:
        return ares_strerror(status); /* a constant string */
    }
}

/* Parses a packet into q's answer; false when it is not a usable answer. */
static bool answer_from_packet(struct dns_query *q, const unsigned char *packet, size_t len)
{
    struct dns_answer *a = &q->answer;
    free(a->packet);
    a->packet = xmalloc(len);
    memcpy(a->packet, packet, len);
    a->packet_len = len;
    return dns_parse_answer(packet, len, a->type, a);
}

/* With the resolver's lock held: q is done, and its waiter (if any) is told. */
static void query_finish(struct dns_query *q)
{
    q->done = true;
    if (q->batch != NULL) {
        q->batch->pending--;
        pthread_cond_broadcast(&q->batch->done);
    }
}

/* With the resolver's lock held: the answer of a query c-ares is done with. */
static void query_answer(struct dns_query *q, int status, const unsigned char *abuf, int alen)
{
    bool answered = status == ARES_SUCCESS || status == ARES_ENODATA || status == ARES_ENOTFOUND;
    if (abuf == NULL || alen <= 0) {
        answer_tempfail(&q->answer, ares_status_text(status));
        return;
    }
    bool parsed = answer_from_packet(q, abuf, (size_t)alen);
    if (!answered) {
        answer_tempfail(&q->answer, ares_status_text(status));
        return;
    }
    if (parsed && q->answer.status != DNS_TEMPFAIL)
        cache_put(q->resolver, q->answer.type, q->answer.name, abuf, (size_t)alen, q->answer.ttl);
}

/*
 * An answer that came after its query was given up at our deadline: its waiter may be reading
 * the query's TEMPFAIL, so it is parsed aside, only for the cache (the MTA's retry finds it).
 */
static void late_answer(struct dns_query *q, int status, const unsigned char *abuf, int alen)
{
    bool answered = status == ARES_SUCCESS || status == ARES_ENODATA || status == ARES_ENOTFOUND;
    if (!answered || abuf == NULL || alen <= 0 || q->resolver->cache.max == 0)
        return;
    struct dns_answer a;
    memset(&a, 0, sizeof a);
    if (dns_parse_answer(abuf, (size_t)alen, q->type, &a) && a.status != DNS_TEMPFAIL)
        cache_put(q->resolver, q->type, q->key, abuf, (size_t)alen, a.ttl);
    dns_answer_clear(&a);
}

/*
 * c-ares's callback: in the I/O thread, or in ares_query or ares_destroy, always with the
 * resolver's lock held.  A good answer goes to the cache also when nobody waits for it any more
 * (given up at our deadline, or its batch freed: a prefetch is for the cache).  An abandoned
 * query is then freed: c-ares no longer holds it and no batch does.
 */
static enum metrics_dns_result query_result(const struct dns_query *q, int status)
{
    switch (q->answer.status) {
    case DNS_OK:
        return METRICS_DNS_ANSWER;
    case DNS_NXDOMAIN:
        return METRICS_DNS_NXDOMAIN;
    case DNS_NODATA:
        return METRICS_DNS_NODATA;
    case DNS_TEMPFAIL:
        break;
    }
    return status == ARES_ETIMEOUT ? METRICS_DNS_TIMEOUT : METRICS_DNS_ERROR;
}

static void query_callback(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct dns_query *q = arg;
    (void)timeouts;
    q->in_ares = false;
    q->resolver->in_flight--;
    if (!q->done) {
        query_answer(q, status, abuf, alen);
        metrics_dns_query(q->type, query_result(q, status), metrics_now_us() - q->sent_us);
        query_finish(q);
    } else {
        late_answer(q, status, abuf, alen);
    }
    if (q->batch == NULL)
        query_free(q);
}

/* A hit gives the query its own parsed copy of the cached packet. */
static bool answer_from_cache(struct dns_resolver *r, struct dns_query *q)
{
    unsigned char *packet;
    size_t len;
    uint32_t remaining;
    if (!cache_get(r, q->answer.type, q->answer.name, &packet, &len, &remaining))
        return false;
    struct dns_answer *a = &q->answer;
    a->packet = packet;
    a->packet_len = len;
    if (!dns_parse_answer(packet, len, a->type, a) || a->status == DNS_TEMPFAIL) {
        free(a->packet);
        a->packet = NULL;
        a->packet_len = 0;
        dns_answer_clear(a);
        return false;
    }
    if (a->ttl > remaining)
        a->ttl = remaining;
    metrics_dns_cache_hit();
    return true;
}

static int batch_add(struct dns_batch *b, struct dns_query *q)
{
    if (b->count == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        b->queries = xrealloc(b->queries, b->cap * sizeof *b->queries);
    }
    b->queries[b->count] = q;
    return (int)b->count++;
}

/* A batch's key for a name: lower case without the final dot when valid, else the name as given
 * (bounded).  Returns whether the name is valid. */
static bool query_key(const char *name, char key[DNS_NAME_MAX + 1])
{
    bool valid = dns_name_valid(name);
    if (valid)
        name_normalize(name, key);
    else
        str_copy(key, DNS_NAME_MAX + 1, name ? name : "");
    return valid;
}

/* The handle of b's query of key and type, or -1. */
static int batch_find(const struct dns_batch *b, const char *key, int type)
{
    for (size_t i = 0; i < b->count; i++) {
        const struct dns_query *q = b->queries[i];
        if (q->type == type && strcmp(q->key, key) == 0)
            return (int)i;
    }
    return -1;
}

int dns_batch_start(struct dns_batch *b, const char *name, int type)
{
    char key[DNS_NAME_MAX + 1];
    bool valid = query_key(name, key);
    int found = batch_find(b, key, type);
    if (found >= 0)
        return found;

    struct dns_resolver *r = b->resolver;
    struct dns_query *q = xcalloc(1, sizeof *q);
    q->resolver = r;
    q->batch = b;
    q->type = type;
    memcpy(q->key, key, sizeof key);
    q->answer.type = type;
    memcpy(q->answer.name, key, sizeof key);
    int h = batch_add(b, q);

    if (!valid) {
        /* Not a name anyone could own: a definite no, and nothing is sent. */
        q->answer.status = DNS_NXDOMAIN;
        q->done = true;
        return h;
    }
    if (type < 1 || type > 65535) {
        answer_tempfail(&q->answer, "bad query type");
        q->done = true;
        return h;
    }
    if (answer_from_cache(r, q)) {
        q->done = true;
        return h;
    }
    q->deadline_ms = monotonic_ms() + (int64_t)r->timeout_ms * r->tries;
    pthread_mutex_lock(&r->lock);
    if (!io_start(r)) {
        answer_tempfail(&q->answer, "cannot start the DNS thread");
        q->done = true;
        pthread_mutex_unlock(&r->lock);
        return h;
    }
    ares_channel ch = r->channels[r->next_channel++ % DNS_CHANNELS];
    b->pending++;
    b->sent++;
    q->sent = true;
    q->sent_us = metrics_now_us();
    q->in_ares = true;
    r->in_flight++;
    /* Sends now; may call query_callback before it returns (e.g. when no socket can be
     * opened).  The I/O thread then polls the channel's sockets with this query's timeout. */
    ares_query(ch, key, DNS_CLASS_IN, type, query_callback, q);
    io_wake(r);
    pthread_mutex_unlock(&r->lock);
    return h;
}

int dns_batch_prefetch(struct dns_batch *b, const char *name, int type)
{
    char key[DNS_NAME_MAX + 1];

    if (b == NULL || !dns_name_valid(name))
        return -1;
    name_normalize(name, key);
    if (cache_fresh(b->resolver, type, key))
        return -1;
    return dns_batch_start(b, name, type);
}

int dns_batch_start_ptr(struct dns_batch *b, const char *ip)
{
    char name[DNS_NAME_MAX + 1];
    if (!dns_reverse_name(ip, name, sizeof name))
        return -1;
    return dns_batch_start(b, name, DNS_TYPE_PTR);
}

/*
 * c-ares doubles the timeout at each round of tries (1.18: timeout << (try / servers)), so a
 * query of 2 tries to one server would take 3 x timeout.  Our own deadline keeps the promise of
 * timeout x tries: the waiter gives the query up then, whatever the channel does.  c-ares's query
 * stays in the channel until c-ares is done with it, and its callback finds the query done.
 */
static void query_expire(struct dns_query *q)
{
    query_finish(q);
    answer_tempfail(&q->answer, "timeout");
    metrics_dns_query(q->type, METRICS_DNS_TIMEOUT, metrics_now_us() - q->sent_us);
}

static struct timespec monotonic_at(int64_t ms)
{
    return (struct timespec){.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
}

const struct dns_answer *dns_batch_wait(struct dns_batch *b, int h)
{
    if (h < 0 || (size_t)h >= b->count)
        return NULL;
    struct dns_query *q = b->queries[h];
    struct dns_resolver *r = b->resolver;
    if (!q->sent)
        return &q->answer; /* done at the start (cache, invalid name): nothing to lock */
    pthread_mutex_lock(&r->lock);
    while (!q->done) {
        if (monotonic_ms() >= q->deadline_ms) {
            query_expire(q);
            break;
        }
        struct timespec until = monotonic_at(q->deadline_ms);
        pthread_cond_timedwait(&b->done, &r->lock, &until);
    }
    pthread_mutex_unlock(&r->lock);
    return &q->answer;
}

void dns_batch_wait_all(struct dns_batch *b)
{
    struct dns_resolver *r = b->resolver;
    if (b->sent == 0)
        return;
    pthread_mutex_lock(&r->lock);
    while (b->pending > 0) {
        int64_t now = monotonic_ms(), next = INT64_MAX;
        for (size_t i = 0; i < b->count && b->pending > 0; i++) {
            struct dns_query *q = b->queries[i];
            if (q->done)
                continue;
            if (q->deadline_ms <= now)
                query_expire(q);
            else if (q->deadline_ms < next)
                next = q->deadline_ms;
        }
        if (b->pending > 0 && next != INT64_MAX) {
            struct timespec until = monotonic_at(next);
            pthread_cond_timedwait(&b->done, &r->lock, &until);
        }
    }
    pthread_mutex_unlock(&r->lock);
}

/* A deep copy: records, their text and the packet are the copy's own. */
static struct dns_answer *answer_copy(const struct dns_answer *src)
{
    struct dns_answer *a = xmalloc(sizeof *a);
    *a = *src;
    a->records = NULL;
    a->packet = NULL;
    if (src->count > 0) {
        a->records = xcalloc(src->count, sizeof *a->records);
        for (size_t i = 0; i < src->count; i++) {
            a->records[i] = src->records[i];
            if (src->records[i].text == NULL)
                continue;
            /* text is NUL-terminated at text_len (a TXT may hold NUL bytes before it) */
            a->records[i].text = xmalloc(src->records[i].text_len + 1);
            memcpy(a->records[i].text, src->records[i].text, src->records[i].text_len + 1);
        }
    }
    if (src->packet != NULL) {
        a->packet = xmalloc(src->packet_len);
        memcpy(a->packet, src->packet, src->packet_len);
    }
    return a;
}

/* b holds the failure of key and type from now on: asked again, it is the answer. */
static void batch_hold_failure(struct dns_batch *b, const char *key, int type, const char *why)
{
    struct dns_query *q = xcalloc(1, sizeof *q);
    q->resolver = b->resolver;
    q->batch = b;
    q->type = type;
    str_copy(q->key, sizeof q->key, key);
    q->answer.type = type;
    str_copy(q->answer.name, sizeof q->answer.name, key);
    answer_tempfail(&q->answer, why);
    q->done = true;
    batch_add(b, q);
}

/*
 * What the batch holds is the answer, waited for if still in flight: a query started on it (a
 * prefetch) or a failure of an earlier lookup.  Of what the outer batch holds, only a failure is
 * the answer (its answers may be older than their TTL: the cache has them while they are good),
 * and a query still in flight there is waited for rather than sent again.  Anything else is a
 * plain dns_lookup() (the cache, else the network), and only its failure is kept: answers live
 * in the cache, and a batch that kept every answer of a message's SPF evaluation would hold up to
 * a few hundred packets.
 */
enum dns_status dns_batch_lookup(struct dns_batch *b, const char *name, int type,
                                 struct dns_answer **out)
{
    char key[DNS_NAME_MAX + 1];
    query_key(name, key);
    int h = batch_find(b, key, type);
    if (h >= 0) {
        *out = answer_copy(dns_batch_wait(b, h));
        return (*out)->status;
    }
    h = b->outer != NULL ? batch_find(b->outer, key, type) : -1;
    if (h >= 0) {
        const struct dns_answer *a = dns_batch_wait(b->outer, h);
        if (a->status == DNS_TEMPFAIL) {
            *out = answer_copy(a);
            return DNS_TEMPFAIL;
        }
    }
    enum dns_status st = dns_lookup(b->resolver, name, type, out);
    if (st == DNS_TEMPFAIL)
        batch_hold_failure(b, key, type, (*out)->error);
    return st;
}

enum dns_status dns_lookup(struct dns_resolver *r, const char *name, int type,
                           struct dns_answer **out)
{
    struct dns_batch *b = dns_batch_new(r);
    int h = dns_batch_start(b, name, type);
    struct dns_query *q = b->queries[h];
    dns_batch_wait(b, h);
    /* The answer moves to the caller; the query keeps only its done flag for c-ares (which no
     * longer writes an answer once a query is done). */
    struct dns_answer *a = xmalloc(sizeof *a);
    *a = q->answer;
    memset(&q->answer, 0, sizeof q->answer);
    dns_batch_free(b);
    *out = a;
    return a->status;
}
