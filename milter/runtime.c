/*
 * runtime: the live config + resolver + store, reference counted across reloads.
 */
#include "runtime.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* Decisions wait at most this long in memory, in batches of at most this many rows. */
#define RUNTIME_DECISION_INTERVAL_MS 200
#define RUNTIME_DECISION_BATCH 256
/* Queued rows beyond which an accepted message gets store_failure: ~160 s of writes failing at
 * 100 messages/s, and at 5,000 messages/s the 3 s of a database server that stalls (PostgreSQL
 * making a new WAL file, zero-filled and synced, stalled inserts for up to 0.7 s on a busy
 * 2-CPU machine: a queue of 4,096 rows then filled); 7 MiB at most (about 400 bytes a row). */
#define RUNTIME_DECISION_QUEUE 16384

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct runtime *live;
/* Runtimes no longer live that a connection still holds, linked by next_retired; each is freed
 * by its last release, or flushed by runtime_shutdown() when the process ends first. */
static struct runtime *retired;
/* The submission counters outlive every runtime: a reload must not reset an account's rates. */
static struct throttle *counters;

void runtime_name_or_host(char *out, size_t outlen, const char *configured)
{
    if (configured[0] != '\0')
        str_copy(out, outlen, configured);
    else if (gethostname(out, outlen - 1) != 0)
        str_copy(out, outlen, "localhost");
}

static void runtime_free(struct runtime *rt)
{
    if (rt == NULL)
        return;
    lists_cache_free(rt->lists);
    store_close(rt->store);
    orgdomain_free(rt->orgdomain);
    spf_checker_free(rt->spf);
    dkim_verifier_free(rt->dkim);
    dns_resolver_free(rt->resolver);
    config_free(rt->cfg);
    free(rt);
}

struct orgdomain *runtime_load_orgdomain(const struct config *cfg, char *err, size_t errlen)
{
    char why[512], where[512];
    struct orgdomain *od = orgdomain_load(cfg->public_suffix_list, why, sizeof why);

    if (od != NULL)
        return od;
    if (config_option_origin(cfg, "public_suffix_list", where, sizeof where))
        str_printf(err, errlen, "%s: public_suffix_list: %s", where, why);
    else
        str_printf(err, errlen,
                   "public_suffix_list: %s (install Debian's publicsuffix package, or name the "
                   "list's file with public_suffix_list)",
                   why);
    return NULL;
}

int runtime_resolver_new(const struct config *cfg, struct dns_resolver **out, char *err,
                         size_t errlen)
{
    struct dns_options opts = {
        .servers = (const char *const *)cfg->dns_servers.items,
        .server_count = cfg->dns_servers.count,
        .timeout_ms = (int)cfg->dns_timeout,
        .tries = (int)cfg->dns_tries,
        .cache_size = (size_t)cfg->dns_cache_size,
        .cache_max_ttl = (uint32_t)(cfg->dns_cache_max_ttl / 1000),
    };

    return dns_resolver_new(&opts, out, err, errlen);
}

mode_t runtime_database_mode(const struct config *cfg)
{
    return cfg->group[0] != '\0' ? 0640 : STORE_MODE_DEFAULT;
}

struct runtime *runtime_new(struct config *cfg, char *err, size_t errlen)
{
    struct runtime *rt = xcalloc(1, sizeof *rt);
    rt->cfg = cfg;

    /* Read first: a bad list path is a config error, found before anything is opened. */
    rt->orgdomain = runtime_load_orgdomain(cfg, err, errlen);
    if (rt->orgdomain == NULL) {
        runtime_free(rt);
        return NULL;
    }
    char described[600];
    orgdomain_describe(rt->orgdomain, described, sizeof described);
    log_msg(LOG_INFO, "public suffix list %s", described);

    if (runtime_resolver_new(cfg, &rt->resolver, err, errlen) != 0) {
        runtime_free(rt);
        return NULL;
    }
    rt->dkim = dkim_verifier_new(rt->resolver, cfg, err, errlen);
    if (rt->dkim == NULL) {
        runtime_free(rt);
        return NULL;
    }
    struct store_error why;
    rt->store =
        store_open_mode(cfg->database, cfg->store_busy_timeout, runtime_database_mode(cfg), &why);
    if (rt->store == NULL) {
        str_copy(err, errlen, why.text);
        runtime_free(rt);
        return NULL;
    }
    /* The decision log is written in batches by the store's own thread (README "Decision log"). */
    if (store_decision_writer_start(rt->store, RUNTIME_DECISION_INTERVAL_MS, RUNTIME_DECISION_BATCH,
                                    RUNTIME_DECISION_QUEUE, &why) != STORE_OK) {
        str_printf(err, errlen, "%s: %s", cfg->database, why.text);
        runtime_free(rt);
        return NULL;
    }
    rt->lists = lists_cache_new(rt->store, cfg->lists_reload_interval);
    runtime_name_or_host(rt->authserv_id, sizeof rt->authserv_id, cfg->authserv_id);
    config_host_name(cfg, rt->host_name, sizeof rt->host_name);
    rt->env.cfg = rt->cfg;
    rt->env.resolver = rt->resolver;
    rt->env.store = rt->store;
    rt->env.dkim = rt->dkim;
    /* %{r} in SPF explanations (RFC 7208 7.3) is the receiving host: our authserv-id. */
    rt->spf = spf_checker_new(rt->resolver, rt->authserv_id);
    rt->env.spf = rt->spf;
    rt->env.lists = rt->lists;
    rt->env.orgdomain = rt->orgdomain;
    rt->env.authserv_id = rt->authserv_id;
    rt->env.host_name = rt->host_name;
    rt->env.throttle = runtime_throttle();
    return rt;
}

/* With live_lock held: old is no longer live; NULL when a connection still holds it (then its
 * last release frees it), else old, for the caller to free. */
static struct runtime *retire(struct runtime *old)
{
    if (old == NULL || old->refs == 0)
        return old;
    old->next_retired = retired;
    retired = old;
    return NULL;
}

void runtime_install(struct runtime *rt)
{
    pthread_mutex_lock(&live_lock);
    struct runtime *old = retire(live);
    live = rt;
    pthread_mutex_unlock(&live_lock);
    runtime_free(old);
}

struct runtime *runtime_acquire(void)
{
    pthread_mutex_lock(&live_lock);
    struct runtime *rt = live;
    if (rt != NULL)
        rt->refs++;
    pthread_mutex_unlock(&live_lock);
    return rt;
}

void runtime_release(struct runtime *rt)
{
    if (rt == NULL)
        return;
    pthread_mutex_lock(&live_lock);
    bool unused = --rt->refs == 0 && rt != live;
    if (unused) {
        struct runtime **p = &retired;
        while (*p != NULL && *p != rt)
            p = &(*p)->next_retired;
        if (*p == rt)
            *p = rt->next_retired;
    }
    pthread_mutex_unlock(&live_lock);
    if (unused)
        runtime_free(rt);
}

/*
 * The process ends after this.  A connection still open (between transactions, or past the
 * shutdown's grace) keeps its runtime; its decision queue is written now under live_lock, so a
 * last release cannot free it meanwhile, and a callback that still runs finds it whole.
 */
void runtime_shutdown(void)
{
    pthread_mutex_lock(&live_lock);
    struct runtime *old = retire(live);
    live = NULL;
    for (struct runtime *rt = retired; rt != NULL; rt = rt->next_retired) {
        struct store_error err;
        if (store_decision_flush(rt->store, &err) != STORE_OK)
            log_msg(LOG_WARNING, "decision log: queued decisions not all written at exit: %s",
                    err.text);
    }
    pthread_mutex_unlock(&live_lock);
    runtime_free(old);
}

struct throttle *runtime_throttle(void)
{
    pthread_mutex_lock(&live_lock);
    if (counters == NULL)
        counters = throttle_new();
    struct throttle *t = counters;
    pthread_mutex_unlock(&live_lock);
    return t;
}

void runtime_throttle_free(void)
{
    pthread_mutex_lock(&live_lock);
    struct throttle *t = counters;
    counters = NULL;
    pthread_mutex_unlock(&live_lock);
    throttle_free(t);
}
