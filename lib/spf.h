/*
 * spf: Sender Policy Framework (RFC 7208) for the HELO (2.3) and MAIL FROM (2.4) identities,
 * evaluated by libspf2 on our own resolver (ARCHITECTURE.md "DNS").
 *
 * libspf2 compiles records and walks the mechanisms; every DNS query it makes goes through a
 * custom SPF_dns_server_t layer in spf.c that asks dns_batch_lookup(), so SPF shares the servers,
 * timeouts and cache of every other check, and the system's blocking resolver is never used.
 * The layer also enforces what libspf2 gets wrong: the limit of 10 DNS-querying terms across
 * includes, the limit of 2 void lookups and the time limit (4.6.4), record selection (4.5), and it
 * maps libspf2's "no result" cases to temperror/permerror.  tests/spf/DEVIATIONS.md lists what
 * remains.
 *
 * Thread-safety: a struct spf_checker is shared by all threads and immutable after creation;
 * each spf_check() builds its own libspf2 server, DNS layer and evaluation state, so checks run
 * concurrently without locks (the resolver locks its own cache); the batch a check is given is
 * its connection's, used by one thread at a time.
 */
#ifndef INGRESS_SPF_H
#define INGRESS_SPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dns.h"
#include "verdict.h"

/* RFC 7208 2.6 results. */
enum spf_result {
    SPF_NONE,
    SPF_NEUTRAL,
    SPF_PASS,
    SPF_FAIL,
    SPF_SOFTFAIL,
    SPF_TEMPERROR,
    SPF_PERMERROR,
};

enum spf_identity { SPF_IDENTITY_HELO, SPF_IDENTITY_MAILFROM };

/* RFC 7208 4.6.4 */
#define SPF_MAX_DNS_TERMS 10
#define SPF_MAX_VOID_LOOKUPS 2
/* RFC 7208 4.6.4: the elapsed time an evaluation may take (the RFC asks for at least 20 s); past
 * it no query is sent and the result is temperror. */
#define SPF_TIME_LIMIT_MS 20000
/* Longest sender we evaluate: far beyond RFC 5321's 256-octet path, so a hostile 1,000-character
 * local part is still evaluated; longer ones give none without any query. */
#define SPF_SENDER_MAX 2048
#define SPF_EXPLANATION_MAX 256
#define SPF_DETAIL_MAX 320

struct spf_outcome {
    bool checked; /* false: never evaluated (a zeroed struct) */
    enum spf_identity identity;
    enum spf_result result;
    /* The domain whose policy was evaluated (lower case, no final dot); "" when the identity had
     * no usable domain (result none). */
    char domain[DNS_NAME_MAX + 1];
    /* fail only: the domain's explanation (exp=, RFC 7208 6.2), escaped; "" when none. */
    char explanation[SPF_EXPLANATION_MAX];
    /* What happened, escaped: for logs and `ingressctl why`. */
    char detail[SPF_DETAIL_MAX];
    unsigned dns_terms;    /* DNS-querying terms evaluated (RFC 7208 4.6.4) */
    unsigned void_lookups; /* of which answered NXDOMAIN or no data */
};

struct spf_checker;

/*
 * A checker borrows r (which must outlive it).  receiver is the %{r} macro's value (RFC 7208
 * 7.3: the receiving host's domain, e.g. the authserv-id); NULL or "" gives "unknown".
 */
struct spf_checker *spf_checker_new(struct dns_resolver *r, const char *receiver);
void spf_checker_free(struct spf_checker *c); /* NULL is a no-op */
/* The clock the time limit reads, in milliseconds (default CLOCK_MONOTONIC): tests set their own.
 * Call before the checker is shared. */
void spf_checker_set_clock(struct spf_checker *c, int64_t (*clock_ms)(void *arg), void *arg);

/*
 * Evaluates one identity of a connection (RFC 7208 4: check_host()).  ip is the client address
 * ("192.0.2.1", "2001:db8::1"; IPv4-mapped IPv6 is treated as IPv4); helo the HELO/EHLO
 * argument; mailfrom the MAIL FROM address, with or without <>, NULL or "" (or "<>") for the
 * null sender, which is checked as postmaster@HELO (2.4).  All three are untrusted: bounded,
 * validated, never trusted in logs.  Fills *out and returns out->result.
 *
 * Every query goes through batch (borrowed; dns_batch_lookup), so what it holds is the answer:
 * the records prefetched on it, and every failure of an earlier check on it.  The policy gives
 * both identities of a message the message's batch, so a name that timed out costs one query's
 * bound for the whole message.  NULL: a batch of this evaluation's own.
 */
enum spf_result spf_check(struct spf_checker *c, struct dns_batch *batch, const char *ip,
                          const char *helo, const char *mailfrom, enum spf_identity which,
                          struct spf_outcome *out);

/*
 * The connection's SPF verdict from its two outcomes (either may be NULL or unchecked).
 * MAIL FROM: fail -> spf_fail_action (550 5.7.23 spf_fail), permerror -> spf_permerror_action
 * (550 5.7.24 spf_perm), temperror -> spf_temperror_action (451 4.7.24 spf_temp); the tempfail
 * choice of the first two also gives spf_temp.  HELO: the same when spf_helo_action = reject,
 * only in the detail when log, ignored when off.  softfail, neutral, none, pass: CONTINUE.
 * When both identities object, the more severe verdict wins (verdict_combine).
 */
struct verdict spf_verdict(const struct spf_outcome *helo, const struct spf_outcome *mailfrom,
                           const struct config *cfg, const char *ip);

/* "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror". */
const char *spf_result_name(enum spf_result r);

/*
 * Writes one resinfo of an Authentication-Results header (RFC 8601 2.7.2), e.g.
 * "spf=pass smtp.mailfrom=example.org" or "spf=fail smtp.helo=mail.example.org"; just
 * "spf=none" when the identity had no domain.  out is always terminated.
 */
void spf_authres(const struct spf_outcome *o, char *out, size_t outlen);

/*
 * Routes libspf2's own messages (warnings, internal errors before it aborts) to our log instead
 * of stdout/stderr.  libspf2 keeps these handlers in process-wide variables: call once from main
 * before any thread starts.
 */
void spf_library_init(void);

#endif
