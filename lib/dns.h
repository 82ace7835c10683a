/*
 * dns: the one resolver of milter-ingress, over c-ares (ARCHITECTURE.md "DNS").
 *
 * - A struct dns_resolver is shared by all threads: the server list, timeout and tries, one
 *   c-ares channel shared by all its batches (a c-ares 1.18 channel is about 74 KiB and not
 *   thread-safe: one mutex guards it) with an I/O thread of its own that reads every answer as it
 *   arrives (started at the first query that needs the network, joined by dns_resolver_free),
 *   and a TTL-bounded answer cache with its own mutex.  lib/dns.c says how it is locked.
 * - A struct dns_batch belongs to one connection (one thread at a time): queries started on it
 *   are sent at once, run in parallel and are joined by dns_batch_wait() when a decision needs
 *   them, so a connection's DNS cost is its slowest query, not their sum.
 * - dns_lookup() is the synchronous form, and dns_batch_lookup() the one through a batch that
 *   remembers what failed (libspf2's SPF_dns_server_t layer asks through the message's batch):
 *   both give parsed records and the raw answer packet.
 *
 * Every lookup has three outcomes (a failure is never a no): an answer (DNS_OK), a definite no
 * (DNS_NXDOMAIN, DNS_NODATA) and could-not-tell (DNS_TEMPFAIL: timeout, SERVFAIL, REFUSED,
 * server unreachable, malformed answer).  A query never takes longer than timeout x tries.
 */
#ifndef INGRESS_DNS_H
#define INGRESS_DNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* RR types we ask for (the numeric values of RFC 1035 / RFC 3596). */
enum dns_type {
    DNS_TYPE_A = 1,
    DNS_TYPE_NS = 2,
    DNS_TYPE_CNAME = 5,
    DNS_TYPE_SOA = 6,
    DNS_TYPE_PTR = 12,
    DNS_TYPE_MX = 15,
    DNS_TYPE_TXT = 16,
    DNS_TYPE_AAAA = 28,
    DNS_TYPE_SPF = 99,
};

enum dns_status { DNS_OK, DNS_NXDOMAIN, DNS_NODATA, DNS_TEMPFAIL };

/* Bounds on what we accept from the network. */
#define DNS_NAME_MAX 255   /* RFC 1035 2.3.4, presentation form without the final dot */
#define DNS_MAX_RECORDS 64 /* records of the asked type kept from one answer */
#define DNS_TXT_MAX 4096   /* a TXT record's strings joined */
#define DNS_PACKET_MAX 65535

struct dns_record {
    uint32_t ttl;
    /* A: family AF_INET, addr.v4; AAAA: AF_INET6, addr.v6 */
    int family;
    union {
        struct in_addr v4;
        struct in6_addr v6;
    } addr;
    /* PTR, CNAME, NS: the name (lower case, no final dot); MX: the exchange; TXT: the strings
     * joined without separator (RFC 7208 3.3); NULL for A/AAAA. */
    char *text;
    size_t text_len; /* TXT may contain NUL bytes: use text_len, not strlen */
    int preference;  /* MX only */
};

struct dns_answer {
    enum dns_status status;
    int type; /* the asked type */
    char name[DNS_NAME_MAX + 1];
    size_t count; /* records of the asked type */
    struct dns_record *records;
    uint32_t ttl;          /* min TTL of the records, or the negative TTL */
    unsigned char *packet; /* the raw answer as received (NULL on TEMPFAIL without a reply) */
    size_t packet_len;
    char error[96]; /* for DNS_TEMPFAIL: what went wrong ("timeout", "SERVFAIL", ...) */
};

struct dns_options {
    /* "127.0.0.1", "127.0.0.1:5353", "[::1]:53", "::1"; NULL or empty: /etc/resolv.conf */
    const char *const *servers;
    size_t server_count;
    int timeout_ms; /* per try */
    int tries;
    size_t cache_size;      /* entries; 0 disables the cache */
    uint32_t cache_max_ttl; /* seconds: answers are kept at most this long */
    /* Clock for cache expiry, seconds; NULL: CLOCK_MONOTONIC.  Tests set their own. */
    time_t (*clock)(void *arg);
    void *clock_arg;
};

struct dns_resolver;
struct dns_batch;

/* Returns 0, or -1 with a message in err (bad server syntax, c-ares init failure). */
int dns_resolver_new(const struct dns_options *opts, struct dns_resolver **out, char *err,
                     size_t errlen);
void dns_resolver_free(struct dns_resolver *r);

struct dns_cache_stats {
    uint64_t hits, misses, entries;
    /* Queries the resolver's c-ares channel still holds, given up (deadline, freed batch) or
     * not: each is freed when c-ares is done with it, at the latest by dns_resolver_free. */
    uint64_t in_flight;
};
void dns_resolver_stats(struct dns_resolver *r, struct dns_cache_stats *out);

/* A batch borrows r (which must outlive it). */
struct dns_batch *dns_batch_new(struct dns_resolver *r);
/*
 * A batch on outer's resolver whose dns_batch_lookup() also finds what outer holds (a message's
 * batch within its connection's): a failure of outer's is the answer, and a query of outer's still
 * in flight is waited for, not sent again.  outer is borrowed, must outlive the new batch and be
 * used by the same thread.
 */
struct dns_batch *dns_batch_new_within(struct dns_batch *outer);
/* Frees the batch; queries still in flight are abandoned (their answers, should they come, only
 * fill the cache) and freed when c-ares is done with them.  NULL is a no-op. */
void dns_batch_free(struct dns_batch *b);

/*
 * Starts a query (or answers it from the cache) and returns its handle (>= 0).  Asking the same
 * name and type twice on one batch returns the same handle.  A name that is not a valid domain
 * name gives a handle whose answer is DNS_NXDOMAIN without any query.
 */
int dns_batch_start(struct dns_batch *b, const char *name, int type);
/*
 * Starts a query only for the cache, so that a later lookup of the same name and type (by any
 * batch) finds its answer there, and a dns_batch_lookup() on b finds the query itself (also when
 * its answer cannot be cached, or fails): a handle to wait on, or -1 when nothing was sent (an
 * answer already cached, not a valid name).  Lets a connection send the queries it will
 * need as soon as it knows the names, in the same round as the others.
 */
int dns_batch_prefetch(struct dns_batch *b, const char *name, int type);
/* Starts the PTR query for an address ("192.0.2.1", "2001:db8::1"); -1 when not an address. */
int dns_batch_start_ptr(struct dns_batch *b, const char *ip);
/* Waits until the query with handle h is done; the answer lives as long as the batch
 * (its address does not change when more queries are started).  NULL when h is not b's. */
const struct dns_answer *dns_batch_wait(struct dns_batch *b, int h);
/* Waits until every query started so far is done. */
void dns_batch_wait_all(struct dns_batch *b);

/* Synchronous lookup: *out is the caller's, freed with dns_answer_free(). */
enum dns_status dns_lookup(struct dns_resolver *r, const char *name, int type,
                           struct dns_answer **out);
/*
 * Synchronous lookup through a batch, which remembers what failed: a name and type the batch
 * already holds (a query started on it, or an earlier lookup's failure) is answered with what it
 * holds, waited for when still in flight (and a failure its outer batch holds, see
 * dns_batch_new_within); otherwise as dns_lookup(), and a DNS_TEMPFAIL is then held by the batch.
 * So a name that timed out is asked once per batch, not once per check that wants it: one query's
 * bound (timeout x tries), not one per asking.  The failure lives as long as the batch (a message's
 * SPF batch: until the next message).  *out is the caller's, freed with dns_answer_free().
 */
enum dns_status dns_batch_lookup(struct dns_batch *b, const char *name, int type,
                                 struct dns_answer **out);
void dns_answer_free(struct dns_answer *a);

/* Writes the reverse name of an address ("1.0.0.127.in-addr.arpa", RFC 3596 nibbles for v6);
 * false when ip is not an address or out is too small. */
bool dns_reverse_name(const char *ip, char *out, size_t outlen);

/* True when name is a syntactically valid domain name (RFC 1035 lengths, LDH-ish labels; '_'
 * allowed for DKIM/SPF names). */
bool dns_name_valid(const char *name);

/*
 * Parses a raw DNS answer packet for the asked type into *a (status, records, ttl).  The one
 * place that reads bytes from the network; fuzzed.  Returns false when the packet is malformed
 * (then a->status is DNS_TEMPFAIL).  Sets status, type, count, records, ttl and error; name and
 * packet are the caller's.  *a must hold no records (zeroed, or emptied by dns_answer_clear).
 */
bool dns_parse_answer(const unsigned char *packet, size_t len, int type, struct dns_answer *a);
/* Frees what dns_parse_answer allocated inside a (not a itself). */
void dns_answer_clear(struct dns_answer *a);

#endif
