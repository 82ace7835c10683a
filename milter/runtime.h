/*
 * runtime: what the daemon runs on: the config, the resolver and the store, bundled so that a
 * reload swaps them as one (ARCHITECTURE.md "Reload").  Each connection holds a reference to
 * the runtime it started with; the old one is freed when its last connection closes.
 *
 * The live pointer is the one mutable global (ARCHITECTURE.md "Threads and locks"), guarded by a
 * mutex.
 */
#ifndef INGRESS_RUNTIME_H
#define INGRESS_RUNTIME_H

#include "config.h"
#include "dkim.h"
#include "lists.h"
#include "spf.h"
#include "dns.h"
#include "orgdomain.h"
#include "policy.h"
#include "store.h"
#include "throttle.h"

struct runtime {
    struct config *cfg;
    struct dns_resolver *resolver;
    struct dkim_verifier *dkim;
    struct spf_checker *spf;
    struct lists_cache *lists;
    struct orgdomain *orgdomain; /* the Public Suffix List read for this config */
    struct store *store;
    char authserv_id[256];
    char host_name[256];
    struct policy_env env;
    unsigned refs;                /* guarded by the live-pointer mutex */
    struct runtime *next_retired; /* the same: in the list of replaced runtimes still held */
};

/*
 * The mode of the database files the milter creates: 0640 when the config names a group (the
 * files get that group, whose members, the postmaster's staff, may read them with ingressctl),
 * else 0600.  The decision log holds addresses and subjects: never readable by every user.
 */
mode_t runtime_database_mode(const struct config *cfg);

/* The resolver of cfg's dns_* options (dns_resolver_new's result). */
int runtime_resolver_new(const struct config *cfg, struct dns_resolver **out, char *err,
                         size_t errlen);
/* The configured name, or this host's name when it is empty (out zeroed by the caller). */
void runtime_name_or_host(char *out, size_t outlen, const char *configured);

/* Builds a runtime over cfg (which it takes over); NULL with a message in err. */
struct runtime *runtime_new(struct config *cfg, char *err, size_t errlen);
/*
 * Reads cfg's public_suffix_list (what runtime_new does, also for -t).  NULL with err naming
 * the option, and FILE:LINE when the config file set it.
 */
struct orgdomain *runtime_load_orgdomain(const struct config *cfg, char *err, size_t errlen);
/* Makes rt the live runtime; the previous one is freed once unused. */
void runtime_install(struct runtime *rt);
/* A reference to the live runtime, for one connection (or the retention thread). */
struct runtime *runtime_acquire(void);
void runtime_release(struct runtime *rt);
/*
 * At exit: drops the live runtime and frees every runtime no connection holds; the decision log
 * queue of those still held is written (their connections are closed by the exit).
 */
void runtime_shutdown(void);

/* The submission throttle's counters, shared by every runtime (created on first use). */
struct throttle *runtime_throttle(void);
/* Frees them (at exit, after the last flush). */
void runtime_throttle_free(void);

#endif
