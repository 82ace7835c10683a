/*
 * metrics: the daemon's counters and histograms, and their rendering in the Prometheus text
 * exposition format (version 0.0.4).  The HTTP listener that serves them is milter/'s
 * (milter/metrics_http.c); nothing here speaks HTTP.
 *
 * The counters are one process-wide set, outside the runtime a reload replaces, so that a reload
 * does not reset them (a counter that drops to zero reads as a restart to Prometheus).  They are
 * the one exception to "no mutable globals besides the live-config pointer": every module that
 * counts (lib/dns.c, lib/store/store.c, lib/greylist.c, the decision record in lib/policy.c, the
 * reply funnel) would otherwise need a pointer threaded through its whole API for a value it
 * never reads.  Nothing decides anything from them.
 *
 * Locking: none.  Every count is a relaxed atomic add (no lock on the callback path; a message
 * costs a few dozen of them); the renderer reads each atomic once, so a scrape during traffic
 * sees each series a little apart in time, but a histogram's _count is computed from the same
 * bucket reads it prints, so _count always equals its +Inf bucket.
 */
#ifndef INGRESS_METRICS_H
#define INGRESS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "verdict.h"

enum metrics_greylist {
    METRICS_GREYLIST_NEW,         /* first sight of a triplet: deferred */
    METRICS_GREYLIST_EARLY_RETRY, /* seen before, within greylist_delay: deferred again */
    METRICS_GREYLIST_PASSED,      /* a confirmed triplet, or a retry after the delay */
    METRICS_GREYLIST_BYPASSED,    /* confirmed at once by SPF pass + aligned DKIM */
    METRICS_GREYLIST_AUTOALLOWED, /* the client network is auto-allowed */
    METRICS_GREYLIST_STORE_FAILURE,
    METRICS_GREYLIST_COUNT
};

enum metrics_dns_result {
    METRICS_DNS_ANSWER,   /* records of the asked type */
    METRICS_DNS_NXDOMAIN, /* the name does not exist */
    METRICS_DNS_NODATA,   /* the name exists, without records of that type */
    METRICS_DNS_TIMEOUT,  /* no answer within dns_timeout x dns_tries */
    METRICS_DNS_ERROR,    /* SERVFAIL, REFUSED, unreachable, malformed */
    METRICS_DNS_RESULT_COUNT
};

enum metrics_store_result {
    METRICS_STORE_OK,
    METRICS_STORE_BUSY, /* a lock held past store_busy_timeout */
    METRICS_STORE_ERROR,
    METRICS_STORE_RETRIED, /* a read whose upgrade to a write lost to another writer: run again */
    METRICS_STORE_RESULT_COUNT
};

/* Microseconds of CLOCK_MONOTONIC, for the latencies given below. */
int64_t metrics_now_us(void);

/* The counting side: each is a few relaxed atomic adds. */
void metrics_connection(void);  /* a connection the milter took (CONNECT) */
void metrics_transaction(void); /* a MAIL FROM */
void metrics_message(void);     /* an end of message */
/* One decision log row: check ("spf", ...) and action ("reject", ...) as recorded; a check this
 * module does not know is counted as "other". */
void metrics_decision(const char *check, const char *action);
void metrics_decision_refused(void);  /* a decision row the decision log did not take */
void metrics_reply(enum reply_id id); /* an SMTP reply sent (4xx or 5xx) */
void metrics_greylist(enum metrics_greylist outcome);
/* A query that went to the network, when it ended (answer or our deadline). */
void metrics_dns_query(int type, enum metrics_dns_result result, int64_t latency_us);
void metrics_dns_cache_hit(void);
/* A store transaction, when it committed or was rolled back. */
void metrics_store_txn(enum metrics_store_result result, int64_t latency_us);
void metrics_throttle_hold(void); /* a message held in the MTA's queue by the throttle */
void metrics_reload(bool ok);

/* What the renderer reads from the live daemon rather than counts (negative: not known). */
struct metrics_gauges {
    long connections_open;
    long transactions_open;
    long decision_queue;       /* decision log rows waiting to be written */
    uint64_t decision_dropped; /* decision rows the database refused for their content */
    long held[4];              /* held messages by state: held, released, rejected, gone */
};
extern const char *const metrics_held_states[4];

/* The whole exposition, NUL-terminated, in a buffer the caller frees; *len its length. */
char *metrics_render(const struct metrics_gauges *g, size_t *len);

/*
 * Health from what the counters saw (the listener adds its own probes): false with why when a
 * store transaction failed (busy or error) within window_us before now_us, or when the last
 * METRICS_DNS_FAILURES_UNHEALTHY DNS queries or more failed (timeout or error, none answered
 * since; NXDOMAIN and NODATA are answers: the resolver spoke), the last within the window.  One
 * or two failures are a broken domain's; more in a row, the resolver's.  *dns_seen tells whether
 * any DNS query ended in the window (else the listener probes).
 */
#define METRICS_DNS_FAILURES_UNHEALTHY 3
bool metrics_store_healthy(int64_t now_us, int64_t window_us, char *why, size_t whylen);
bool metrics_dns_healthy(int64_t now_us, int64_t window_us, bool *dns_seen, char *why,
                         size_t whylen);

/* Zero again (tests). */
void metrics_reset(void);

#endif
