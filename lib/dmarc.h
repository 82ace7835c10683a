/*
 * dmarc: DMARC (RFC 7489) for one inbound message.
 *
 * - Author domains (RFC 7489 6.6.1): the domains of the From header's addresses, read by
 *   lib/addr.c like every other use of that header; an internationalized domain is looked up in
 *   its A-label form (libidn2).  Several addresses, or several From fields, give several author
 *   domains: each is evaluated and the strictest policy among those that fail applies (6.6.1).
 *   A message with no From field, a From field the parser refuses, a From with no address, or
 *   more than DMARC_AUTHORS_MAX author domains has no author domain to evaluate (RFC 7489 leaves
 *   such messages to the receiver): it gets none (no From, no address) or permerror (refused,
 *   too many), a line in the log and in the decision log, and no action.
 * - Policy discovery (6.6.3): the TXT records at _dmarc.DOMAIN, asked on the connection's DNS
 *   batch as soon as the From field arrives (so the answer is there by end of message), and when
 *   none of them is a DMARC record, those at _dmarc.ORGDOMAIN (asked at the same time).  Records
 *   not starting with v=DMARC1 are discarded; several DMARC records at one name give none; a
 *   DNS error gives temperror, never none (a record may be there); an invalid record permerror.
 * - Identifier alignment (3.1): SPF's MAIL FROM domain when SPF passed, the d= of each DKIM
 *   signature that passed, each against the author domain with lib/orgdomain.c (relaxed: same
 *   organizational domain; strict: same name, per aspf= and adkim=), the same function the
 *   greylist bypass uses.  Either aligned pass is a DMARC pass.
 * - Policy (6.6.4): p=, or sp= when the record is the organizational domain's; pct= below 100
 *   applies the policy to that share of failing messages and the next milder one to the rest.
 *
 * What the site does with a failure is the verdict of dmarc_message_verdict() (the options
 * dmarc_reject_action, dmarc_quarantine_action, dmarc_temperror_action, dmarc_domain_actions).
 *
 * A struct dmarc_message belongs to one message of one connection (one thread at a time); it is
 * the evaluated result an aggregate report (RFC 7489 7.2, Appendix C) is made of: per author
 * domain its record, policy, alignment, result and disposition, and for the message the source
 * address, envelope domain, SPF and DKIM results (struct dmarc_evidence).
 */
#ifndef INGRESS_DMARC_H
#define INGRESS_DMARC_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "dkim.h"
#include "dmarc_record.h"
#include "dns.h"
#include "orgdomain.h"
#include "spf.h"
#include "verdict.h"

#define DMARC_AUTHORS_MAX 8 /* distinct author domains evaluated in one message */
#define DMARC_WHY_MAX 200

/* RFC 7489 11.2 (Authentication-Results "dmarc="). */
enum dmarc_result { DMARC_NONE, DMARC_PASS, DMARC_FAIL, DMARC_TEMPERROR, DMARC_PERMERROR };

/* Why the disposition is not the policy: RFC 7489 Appendix C PolicyOverrideType. */
enum dmarc_override {
    DMARC_OVERRIDE_NONE,
    DMARC_OVERRIDE_SAMPLED_OUT,       /* pct= */
    DMARC_OVERRIDE_TRUSTED_FORWARDER, /* an allow list entry let the client in */
    DMARC_OVERRIDE_LOCAL_POLICY,      /* dmarc_*_action, dmarc_domain_actions, exempt recipients */
};

/* One DKIM signature as DMARC saw it (strings as lib/dkim.c gives them: escaped). */
struct dmarc_dkim {
    enum dkim_result result;
    char domain[DNS_NAME_MAX + 1];
    char selector[DNS_NAME_MAX + 1];
    char reason[128];
};

/* What the message showed, once for all its author domains (Appendix C "row", "auth_results"). */
struct dmarc_evidence {
    char source_ip[64];
    char envelope_domain[DNS_NAME_MAX + 1]; /* the MAIL FROM domain, escaped; "" for <> */
    bool spf_checked;
    enum spf_result spf_result;
    char spf_domain[DNS_NAME_MAX + 1]; /* the domain SPF evaluated (MAIL FROM, or HELO for <>) */
    size_t ndkim;
    struct dmarc_dkim *dkim; /* owned by the message */
};

/* One author domain's evaluation. */
struct dmarc_author {
    char domain[DNS_NAME_MAX + 1]; /* lower case, A-labels, no final dot; "" for a message-wide
                                    * problem (no From, a From refused), which has only a why */
    char org[DNS_NAME_MAX + 1];    /* its organizational domain */
    enum dmarc_result result;
    bool have_record;
    bool org_record; /* the record is the organizational domain's: sp= applies */
    struct dmarc_record record;
    enum dmarc_policy policy;      /* p= or sp=: the policy requested (none without a record) */
    enum dmarc_policy disposition; /* what was done (Appendix C DispositionType) */
    enum dmarc_override override;
    bool spf_aligned, dkim_aligned;
    char dkim_aligned_domain[DNS_NAME_MAX + 1];
    char why[DMARC_WHY_MAX];     /* none, temperror, permerror: what the lookup or record said */
    char outcome[DMARC_WHY_MAX]; /* what dmarc_message_verdict() did about it, for the log */
    int h_domain, h_org;         /* the DNS batch's handles of the two lookups; -1 when not asked */
};

struct dmarc_message {
    struct dns_batch *batch; /* borrowed: the connection's */
    const struct orgdomain *od;
    int from_fields;
    bool problem_noted;
    size_t nauthors;              /* at most DMARC_AUTHORS_MAX + one message-wide problem */
    struct dmarc_author *authors; /* owned, grown one at a time (one author is the rule) */
    struct dmarc_evidence evidence;
    bool evaluated;
    char detail[VERDICT_DETAIL_MAX]; /* dmarc_message_detail() as the verdict left it */
    /* What dmarc_message_verdict() chose: a header for the users' filters (the author in
     * header_author), or not. */
    bool add_header;
    size_t header_author;
};

/* Starts a message's evaluation; batch and od are borrowed (they outlive it).  Never NULL. */
struct dmarc_message *dmarc_message_new(struct dns_batch *batch, const struct orgdomain *od);
void dmarc_message_free(struct dmarc_message *m); /* NULL is a no-op */

/*
 * One From header field's value (len bytes): its author domains are added and their records
 * asked for at once.  A value the parser refuses (lib/addr.c; over ADDR_INPUT_MAX bytes is
 * refused whole) is noted as the message's problem.
 */
void dmarc_message_from(struct dmarc_message *m, const char *value, size_t len);

/* What the other checks found, for the evaluation.  Borrowed during the call only. */
struct dmarc_inputs {
    const char *source_ip;
    const char *envelope_from;     /* MAIL FROM without brackets; "" for the null path */
    const struct spf_outcome *spf; /* the MAIL FROM identity's; NULL: not checked */
    const struct dkim_check *dkim; /* after dkim_check_eom; NULL: not verified */
};

/*
 * End of message: waits for the lookups (at most dns_timeout x dns_tries, the queries having
 * run since the From field), copies the evidence, and evaluates every author domain.  sample is
 * the pct= draw, 0 to 99 (RFC 7489 6.6.4: random in production, set by tests).
 */
void dmarc_message_evaluate(struct dmarc_message *m, const struct dmarc_inputs *in,
                            unsigned sample);

/*
 * The evaluation of one author (exposed for tests): from a->have_record, a->record and
 * a->org_record, or a->result already set to none, temperror or permerror by the lookup,
 * computes the alignment, the result, the policy and the disposition pct= gives (sample 0-99).
 */
void dmarc_evaluate(const struct orgdomain *od, const struct dmarc_evidence *e,
                    struct dmarc_author *a, unsigned sample);

/*
 * Discovery from the TXT answer at one _dmarc name (6.6.3 steps 1-2, 4-5): FOUND with the
 * record, ABSENT (no name, no TXT, no record starting with v=DMARC1), SEVERAL, BROKEN (one
 * DMARC record that is invalid: why says how) or DNS_ERROR (why: the resolver's reason).
 */
enum dmarc_found { DMARC_FOUND, DMARC_ABSENT, DMARC_SEVERAL, DMARC_BROKEN, DMARC_DNS_ERROR };
enum dmarc_found dmarc_record_select(const struct dns_answer *a, struct dmarc_record *out,
                                     char *why, size_t whylen);

/* Why a failure is not acted on, whatever the options say (reason NULL: nothing exempts it). */
struct dmarc_exemption {
    const char *reason; /* for the decision log: "client on the allow list (cidr 192.0.2.7)" */
    enum dmarc_override override;
};

/*
 * The site's answer to the evaluated message, the strictest over its author domains: REJECT
 * (dmarc_reject reply, naming the domain), TEMPFAIL (dmarc_temp: a record lookup failed and no
 * identifier passed that would make any policy a pass; never a REJECT), HOLD (hold_reason gets
 * the reason for the held table), or CONTINUE, with the quarantine header when the action is
 * "header" (dmarc_message_header).  Sets each author's disposition and override, and m->detail
 * (dmarc_message_detail()), which is also the detail of a verdict other than CONTINUE (check
 * "dmarc").
 */
struct verdict dmarc_message_verdict(struct dmarc_message *m, const struct config *cfg,
                                     const struct dmarc_exemption *exempt, char *hold_reason,
                                     size_t hold_len);

/* True when every author domain passed (and there is one): the greylist bypass's test. */
bool dmarc_message_pass(const struct dmarc_message *m);

/*
 * The dmarc part of Authentication-Results (RFC 7489 11.2, RFC 8601), one resinfo per author
 * domain joined by "; ", e.g. "dmarc=fail (p=reject dis=reject) header.from=example.org"; the
 * comment only when a record applied, header.from only for a domain.  out always terminated.
 */
void dmarc_message_authres(const struct dmarc_message *m, char *out, size_t outlen);

/*
 * The decision log's words (escaped), for `ingressctl why`: per author domain what it publishes,
 * what SPF and DKIM showed and whether they align, and what was done, e.g. "dmarc=fail for
 * example.org: the From domain example.org publishes p=reject; SPF passed for lists.other.org,
 * which does not align; DKIM failed for example.org (body hash did not verify (body changed));
 * rejected".
 */
void dmarc_message_detail(const struct dmarc_message *m, char *out, size_t outlen);

/* The quarantine header (name DMARC_HEADER_NAME) chosen by the verdict, or false. */
#define DMARC_HEADER_NAME "X-Ingress-DMARC"
bool dmarc_message_header(const struct dmarc_message *m, char *out, size_t outlen);

/* "none", "pass", "fail", "temperror", "permerror". */
const char *dmarc_result_name(enum dmarc_result r);
/* "none", "sampled_out", "trusted_forwarder", "local_policy". */
const char *dmarc_override_name(enum dmarc_override o);

#endif
