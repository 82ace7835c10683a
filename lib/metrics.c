/*
 * metrics: relaxed atomic counters, fixed-bucket histograms, and the Prometheus text format
 * (https://prometheus.io/docs/instrumenting/exposition_formats/, version 0.0.4): a # HELP and a
 * # TYPE line per family, then its samples; a histogram's buckets are cumulative, end with
 * le="+Inf", and are followed by _sum and _count.
 */
#include "metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns.h"
#include "log.h"
#include "util.h"

#define PREFIX "milter_ingress_"

/* Every check name a decision row is recorded with (the verdicts' check fields): a name missing
 * here is counted as check="other". */
static const char *const checks[] = {"account", "dmarc",  "dnsbl",   "greylist", "iprev",
                                     "lists",   "milter", "policy",  "rules",    "sender",
                                     "spf",     "store",  "throttle"};
#define CHECK_COUNT (sizeof checks / sizeof checks[0])
#define CHECK_OTHER CHECK_COUNT /* the row of an unknown check name */
#define ACTION_COUNT 6          /* enum verdict_action */

static const char *const greylist_names[METRICS_GREYLIST_COUNT] = {
    "new", "early_retry", "passed", "bypassed", "autoallowed", "store_failure"};
static const char *const dns_result_names[METRICS_DNS_RESULT_COUNT] = {
    "answer", "nxdomain", "nodata", "timeout", "error"};
static const char *const store_result_names[METRICS_STORE_RESULT_COUNT] = {"ok", "busy", "error",
                                                                           "retried"};
const char *const metrics_held_states[4] = {"held", "released", "rejected", "gone"};

static const struct {
    int type;
    const char *name;
} dns_types[] = {{DNS_TYPE_A, "A"},
                 {DNS_TYPE_AAAA, "AAAA"},
                 {DNS_TYPE_MX, "MX"},
                 {DNS_TYPE_TXT, "TXT"},
                 {DNS_TYPE_PTR, "PTR"}};
#define DNS_TYPE_COUNT (sizeof dns_types / sizeof dns_types[0] + 1) /* + "other" */

/* Upper bounds of the buckets, in microseconds (the +Inf bucket follows). */
static const int64_t dns_bounds[] = {500,    1000,   2500,   5000,    10000,   25000,   50000,
                                     100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
static const int64_t store_bounds[] = {100,   250,   500,    1000,   2500,    5000,   10000,
                                       25000, 50000, 100000, 250000, 1000000, 5000000};
#define DNS_BUCKETS (sizeof dns_bounds / sizeof dns_bounds[0] + 1)
#define STORE_BUCKETS (sizeof store_bounds / sizeof store_bounds[0] + 1)
#define BUCKETS_MAX 16

struct histogram {
    atomic_uint_fast64_t bucket[BUCKETS_MAX]; /* not cumulative; the last is +Inf */
    atomic_uint_fast64_t sum_us;
};

static struct {
    atomic_uint_fast64_t connections, transactions, messages;
    atomic_uint_fast64_t decisions[CHECK_COUNT + 1][ACTION_COUNT];
    atomic_uint_fast64_t decisions_refused;
    atomic_uint_fast64_t replies[REPLY_COUNT];
    atomic_uint_fast64_t greylist[METRICS_GREYLIST_COUNT];
    atomic_uint_fast64_t dns[DNS_TYPE_COUNT][METRICS_DNS_RESULT_COUNT];
    atomic_uint_fast64_t dns_cache_hits;
    struct histogram dns_latency;
    atomic_uint_fast64_t store[METRICS_STORE_RESULT_COUNT];
    struct histogram store_latency;
    atomic_uint_fast64_t throttle_holds;
    atomic_uint_fast64_t reloads[2]; /* failed, ok */
    /* For the health check: when the last of each happened (metrics_now_us), 0: never. */
    atomic_int_fast64_t store_failed_at, dns_answer_at, dns_failed_at;
    atomic_int store_failed_result, dns_failed_result;
    atomic_uint_fast64_t dns_failures_in_row; /* since the last answer */
} m;

#define ADD(counter) atomic_fetch_add_explicit(&(counter), 1, memory_order_relaxed)
#define GET(counter) atomic_load_explicit(&(counter), memory_order_relaxed)
#define SET(var, value) atomic_store_explicit(&(var), (value), memory_order_relaxed)

int64_t metrics_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void metrics_connection(void)
{
    ADD(m.connections);
}

void metrics_transaction(void)
{
    ADD(m.transactions);
}

void metrics_message(void)
{
    ADD(m.messages);
}

static size_t check_index(const char *check)
{
    for (size_t i = 0; i < CHECK_COUNT; i++)
        if (strcmp(checks[i], check) == 0)
            return i;
    return CHECK_OTHER;
}

static int action_index(const char *action)
{
    for (int i = 0; i < ACTION_COUNT; i++)
        if (strcmp(verdict_action_name((enum verdict_action)i), action) == 0)
            return i;
    return -1;
}

void metrics_decision(const char *check, const char *action)
{
    int a = action_index(action);
    if (a >= 0)
        ADD(m.decisions[check_index(check)][a]);
}

void metrics_decision_refused(void)
{
    ADD(m.decisions_refused);
}

void metrics_reply(enum reply_id id)
{
    if ((int)id >= 0 && id < REPLY_COUNT)
        ADD(m.replies[id]);
}

void metrics_greylist(enum metrics_greylist outcome)
{
    if ((int)outcome >= 0 && outcome < METRICS_GREYLIST_COUNT)
        ADD(m.greylist[outcome]);
}

static void histogram_add(struct histogram *h, const int64_t *bounds, size_t nbounds,
                          int64_t value_us)
{
    size_t i = 0;
    if (value_us < 0)
        value_us = 0;
    while (i < nbounds && value_us > bounds[i])
        i++;
    ADD(h->bucket[i]);
    atomic_fetch_add_explicit(&h->sum_us, (uint_fast64_t)value_us, memory_order_relaxed);
}

static size_t dns_type_index(int type)
{
    for (size_t i = 0; i < DNS_TYPE_COUNT - 1; i++)
        if (dns_types[i].type == type)
            return i;
    return DNS_TYPE_COUNT - 1;
}

void metrics_dns_query(int type, enum metrics_dns_result result, int64_t latency_us)
{
    if ((int)result < 0 || result >= METRICS_DNS_RESULT_COUNT)
        return;
    ADD(m.dns[dns_type_index(type)][result]);
    histogram_add(&m.dns_latency, dns_bounds, DNS_BUCKETS - 1, latency_us);
    if (result == METRICS_DNS_TIMEOUT || result == METRICS_DNS_ERROR) {
        SET(m.dns_failed_result, (int)result);
        SET(m.dns_failed_at, metrics_now_us());
        ADD(m.dns_failures_in_row);
    } else {
        SET(m.dns_answer_at, metrics_now_us());
        SET(m.dns_failures_in_row, 0);
    }
}

void metrics_dns_cache_hit(void)
{
    ADD(m.dns_cache_hits);
}

void metrics_store_txn(enum metrics_store_result result, int64_t latency_us)
{
    if ((int)result < 0 || result >= METRICS_STORE_RESULT_COUNT)
        return;
    ADD(m.store[result]);
    histogram_add(&m.store_latency, store_bounds, STORE_BUCKETS - 1, latency_us);
    if (result == METRICS_STORE_BUSY || result == METRICS_STORE_ERROR) {
        SET(m.store_failed_result, (int)result);
        SET(m.store_failed_at, metrics_now_us());
    }
}

void metrics_throttle_hold(void)
{
    ADD(m.throttle_holds);
}

void metrics_reload(bool ok)
{
    ADD(m.reloads[ok ? 1 : 0]);
}

/* ---- rendering ---- */

static void family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP " PREFIX "%s %s\n# TYPE " PREFIX "%s %s\n", name, help, name, type);
}

static void sample(FILE *out, const char *name, uint64_t value)
{
    fprintf(out, PREFIX "%s %llu\n", name, (unsigned long long)value);
}

static void histogram_render(FILE *out, const char *name, const char *help,
                             const struct histogram *h, const int64_t *bounds, size_t nbounds)
{
    uint64_t cumulative = 0;

    family(out, name, "histogram", help);
    for (size_t i = 0; i <= nbounds; i++) {
        cumulative += GET(h->bucket[i]);
        if (i < nbounds)
            fprintf(out, PREFIX "%s_bucket{le=\"%g\"} %llu\n", name, (double)bounds[i] / 1e6,
                    (unsigned long long)cumulative);
        else
            fprintf(out, PREFIX "%s_bucket{le=\"+Inf\"} %llu\n", name,
                    (unsigned long long)cumulative);
    }
    fprintf(out, PREFIX "%s_sum %.6f\n", name, (double)GET(h->sum_us) / 1e6);
    fprintf(out, PREFIX "%s_count %llu\n", name, (unsigned long long)cumulative);
}

static void render_traffic(FILE *out, const struct metrics_gauges *g)
{
    family(out, "connections_total", "counter", "SMTP client connections the MTA passed on");
    sample(out, "connections_total", GET(m.connections));
    family(out, "connections_open", "gauge", "Connections open now");
    sample(out, "connections_open", (uint64_t)(g->connections_open > 0 ? g->connections_open : 0));
    family(out, "transactions_total", "counter", "MAIL FROM commands (transactions begun)");
    sample(out, "transactions_total", GET(m.transactions));
    family(out, "transactions_open", "gauge", "Transactions in flight now");
    sample(out, "transactions_open",
           (uint64_t)(g->transactions_open > 0 ? g->transactions_open : 0));
    family(out, "messages_total", "counter", "Messages whose end of data the milter saw");
    sample(out, "messages_total", GET(m.messages));
}

static void render_decisions(FILE *out)
{
    family(out, "decisions_total", "counter",
           "Decision log rows (one per recipient at end of message) by check and action");
    for (size_t c = 0; c <= CHECK_COUNT; c++) {
        for (int a = 0; a < ACTION_COUNT; a++) {
            uint64_t n = GET(m.decisions[c][a]);
            if (n > 0)
                fprintf(out, PREFIX "decisions_total{check=\"%s\",action=\"%s\"} %llu\n",
                        c < CHECK_COUNT ? checks[c] : "other",
                        verdict_action_name((enum verdict_action)a), (unsigned long long)n);
        }
    }
    family(out, "decision_log_refused_total", "counter",
           "Decision rows the decision log did not take (queue full or no database)");
    sample(out, "decision_log_refused_total", GET(m.decisions_refused));
    family(out, "replies_total", "counter", "SMTP replies sent, by reply id");
    for (int r = 1; r < REPLY_COUNT; r++)
        fprintf(out, PREFIX "replies_total{reply=\"%s\"} %llu\n", reply_table[r].name,
                (unsigned long long)GET(m.replies[r]));
    family(out, "greylist_total", "counter", "Greylist outcomes");
    for (int i = 0; i < METRICS_GREYLIST_COUNT; i++)
        fprintf(out, PREFIX "greylist_total{outcome=\"%s\"} %llu\n", greylist_names[i],
                (unsigned long long)GET(m.greylist[i]));
    family(out, "throttle_holds_total", "counter",
           "Messages the submission throttle put in the MTA's hold queue");
    sample(out, "throttle_holds_total", GET(m.throttle_holds));
}

static void render_dns_store(FILE *out)
{
    family(out, "dns_queries_total", "counter",
           "DNS queries sent to the resolver (cache misses), by type and result");
    for (size_t t = 0; t < DNS_TYPE_COUNT; t++)
        for (int r = 0; r < METRICS_DNS_RESULT_COUNT; r++)
            fprintf(out, PREFIX "dns_queries_total{type=\"%s\",result=\"%s\"} %llu\n",
                    t < DNS_TYPE_COUNT - 1 ? dns_types[t].name : "other", dns_result_names[r],
                    (unsigned long long)GET(m.dns[t][r]));
    family(out, "dns_cache_hits_total", "counter", "DNS lookups answered from the cache");
    sample(out, "dns_cache_hits_total", GET(m.dns_cache_hits));
    histogram_render(out, "dns_query_duration_seconds",
                     "Time from sending a DNS query to its answer or its deadline", &m.dns_latency,
                     dns_bounds, DNS_BUCKETS - 1);
    family(out, "store_transactions_total", "counter", "Store transactions by result");
    for (int r = 0; r < METRICS_STORE_RESULT_COUNT; r++)
        fprintf(out, PREFIX "store_transactions_total{result=\"%s\"} %llu\n", store_result_names[r],
                (unsigned long long)GET(m.store[r]));
    histogram_render(out, "store_transaction_duration_seconds",
                     "Time from a store transaction's begin to its commit or rollback",
                     &m.store_latency, store_bounds, STORE_BUCKETS - 1);
}

static void render_state(FILE *out, const struct metrics_gauges *g)
{
    family(out, "decision_log_queue", "gauge", "Decision rows waiting to be written");
    sample(out, "decision_log_queue", (uint64_t)(g->decision_queue > 0 ? g->decision_queue : 0));
    family(out, "decision_log_dropped_total", "counter",
           "Decision rows the database refused for their content, each dropped alone (logged with "
           "its reference and SQLSTATE)");
    sample(out, "decision_log_dropped_total", g->decision_dropped);
    family(out, "held_messages", "gauge", "Rows of the held table by state");
    for (int i = 0; i < 4; i++)
        if (g->held[i] >= 0)
            fprintf(out, PREFIX "held_messages{state=\"%s\"} %ld\n", metrics_held_states[i],
                    g->held[i]);
    family(out, "reloads_total", "counter", "Configuration reloads (SIGHUP) by result");
    fprintf(out, PREFIX "reloads_total{result=\"ok\"} %llu\n",
            (unsigned long long)GET(m.reloads[1]));
    fprintf(out, PREFIX "reloads_total{result=\"failed\"} %llu\n",
            (unsigned long long)GET(m.reloads[0]));
}

/* open_memstream fails only when it cannot allocate: util.h's rule for that. */
static void out_of_memory(void)
{
    log_msg(LOG_CRIT, "out of memory rendering the metrics, aborting");
    abort();
}

char *metrics_render(const struct metrics_gauges *g, size_t *len)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);

    if (out == NULL)
        out_of_memory();
    render_traffic(out, g);
    render_decisions(out);
    render_dns_store(out);
    render_state(out, g);
    if (fclose(out) != 0)
        out_of_memory();
    *len = size;
    return text;
}

/* ---- health ---- */

static bool within(int64_t at, int64_t now_us, int64_t window_us)
{
    return at != 0 && now_us - at <= window_us;
}

bool metrics_store_healthy(int64_t now_us, int64_t window_us, char *why, size_t whylen)
{
    int64_t at = GET(m.store_failed_at);

    if (!within(at, now_us, window_us))
        return true;
    str_printf(why, whylen, "store: a transaction failed (%s) %.1f s ago",
               store_result_names[GET(m.store_failed_result)], (double)(now_us - at) / 1e6);
    return false;
}

bool metrics_dns_healthy(int64_t now_us, int64_t window_us, bool *dns_seen, char *why,
                         size_t whylen)
{
    int64_t failed = GET(m.dns_failed_at);
    uint64_t in_row = GET(m.dns_failures_in_row);

    *dns_seen =
        within(GET(m.dns_answer_at), now_us, window_us) || within(failed, now_us, window_us);
    if (in_row < METRICS_DNS_FAILURES_UNHEALTHY || !within(failed, now_us, window_us))
        return true;
    str_printf(why, whylen, "dns: the last %llu queries failed, the last %.1f s ago (%s)",
               (unsigned long long)in_row, (double)(now_us - failed) / 1e6,
               dns_result_names[GET(m.dns_failed_result)]);
    return false;
}

void metrics_reset(void)
{
    memset(&m, 0, sizeof m);
}
