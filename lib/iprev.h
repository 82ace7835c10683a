/*
 * iprev: the client's reverse DNS, forward-confirmed (RFC 8601 2.7.3), then compared with the
 * HELO name (our policy on top of the RFC's method).
 *
 * Flow: iprev_start() at connect sends the PTR query; iprev_helo() at HELO sends
 * the HELO name's A/AAAA query (mode resolve); iprev_finish() joins them when the first RCPT
 * needs the answer and sends the forward queries of at most IPREV_MAX_NAMES PTR names, in
 * parallel.  Nothing blocks before a decision needs it.
 */
#ifndef INGRESS_IPREV_H
#define INGRESS_IPREV_H

#include "config.h"
#include "dns.h"
#include "verdict.h"

#define IPREV_MAX_NAMES 10

/* RFC 8601 2.7.3 results. */
enum iprev_result { IPREV_NONE, IPREV_PASS, IPREV_FAIL, IPREV_TEMPERROR, IPREV_PERMERROR };

struct iprev {
    /* inputs (copies) */
    char ip[64];                 /* "" when the MTA did not know the address */
    char helo[DNS_NAME_MAX + 1]; /* lower case; "" when none or invalid */
    bool helo_invalid;           /* too long, control bytes, not a name or literal */
    enum iprev_helo_mode helo_mode;
    /* queries in flight on the connection's batch */
    struct dns_batch *batch; /* borrowed */
    int ptr_handle;
    int helo_a_handle, helo_aaaa_handle;
    /* outcome, valid once done */
    bool done;
    enum iprev_result result;
    char name[DNS_NAME_MAX + 1]; /* the forward-confirmed name, when pass */
    bool helo_match;             /* the HELO test of iprev_helo passed (true when mode off) */
    bool helo_temp;              /* the HELO test could not tell (its lookup failed) */
    char detail[384];            /* what was seen, escaped */
};

/* Starts the PTR query; ip may be NULL or "" (unknown client: the result will be permerror). */
void iprev_start(struct iprev *ip, struct dns_batch *batch, const char *client_ip,
                 enum iprev_helo_mode mode);

/* Records the HELO name (untrusted: bounded, validated) and starts its lookups when needed. */
void iprev_helo(struct iprev *ip, const char *helo);

/* Joins the queries and computes the outcome (once; later calls return at once). */
void iprev_finish(struct iprev *ip);

/*
 * The verdict for this connection: CONTINUE when the result is pass and the HELO test passed;
 * otherwise iprev_fail (reject), iprev_defer (iprev_action = tempfail) or iprev_temp (could not
 * tell, per dns_failure); iprev_action = log turns a failure into CONTINUE with the evidence.
 */
struct verdict iprev_verdict(struct iprev *ip, const struct config *cfg);

/* "pass", "fail", "temperror", "permerror", "none". */
const char *iprev_result_name(enum iprev_result r);

#endif
