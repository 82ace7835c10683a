/*
 * verdict: what a check decided, and THE reply table (ARCHITECTURE.md "Verdicts and replies").
 *
 * Every reply the milter can give is one row of verdict.c's table: SMTP code, RFC 3463 / RFC 7372
 * enhanced code and a text template.  A verdict carries its reason and evidence so the reply, the
 * log line, the decision log and `ingressctl why` all say the same thing.
 */
#ifndef INGRESS_VERDICT_H
#define INGRESS_VERDICT_H

#include <stdbool.h>
#include <stddef.h>

enum verdict_action {
    VERDICT_CONTINUE, /* no objection */
    VERDICT_ACCEPT,   /* accept, skip further checks (allowlist) */
    VERDICT_TEMPFAIL,
    VERDICT_REJECT,
    VERDICT_DISCARD,
    VERDICT_HOLD,
};

enum reply_id {
    REPLY_NONE = 0,
    REPLY_IPREV_FAIL,
    REPLY_IPREV_DEFER,
    REPLY_IPREV_TEMP,
    REPLY_SPF_FAIL,
    REPLY_SPF_PERM,
    REPLY_SPF_TEMP,
    REPLY_GREYLISTED,
    REPLY_BLACKLISTED,
    REPLY_DNSBL,
    REPLY_RULE_REJECT,
    REPLY_SENDER_MISMATCH,
    REPLY_ACCOUNT_SUSPENDED,
    REPLY_THROTTLED,
    REPLY_THROTTLE_REJECT,
    REPLY_BAD_FROM,
    REPLY_DNS_FAILURE,
    REPLY_STORE_FAILURE,
    REPLY_SHUTTING_DOWN,
    REPLY_DMARC_REJECT,
    REPLY_DMARC_TEMP,
    REPLY_BAD_SENDER_ADDRESS,
    REPLY_BAD_RECIPIENT_ADDRESS,
    REPLY_SENDER_BLOCKED,
    REPLY_SENDER_DOMAIN_BLOCKED,
    REPLY_COUNT
};

struct reply_entry {
    enum reply_id id;
    const char *name;  /* "iprev_fail": used in logs, the store and docs */
    const char *code;  /* "550" */
    const char *xcode; /* "5.7.25" */
    /* Template: {ip} {domain} {seconds} {reason} {zone} {address} are replaced by the verdict's
     * arguments (already escaped). */
    const char *text;
};

extern const struct reply_entry reply_table[REPLY_COUNT];

/* Arguments of a reply template; unset ones are NULL. Strings are copied into the verdict. */
struct verdict_args {
    const char *ip;
    const char *domain;
    const char *reason;
    const char *zone;
    const char *address;
    long seconds;
};

#define VERDICT_CHECK_MAX 24
#define VERDICT_TEXT_MAX 400
#define VERDICT_DETAIL_MAX 512

struct verdict {
    enum verdict_action action;
    enum reply_id reply;
    char check[VERDICT_CHECK_MAX]; /* "iprev", "policy", ... */
    char text[VERDICT_TEXT_MAX];   /* the rendered reply text, escaped, no CR/LF, no '%' escaping */
    char detail[VERDICT_DETAIL_MAX]; /* what the check saw, escaped: for logs and `why` */
};

/* A CONTINUE verdict with empty fields. */
struct verdict verdict_continue(void);

/*
 * Builds a verdict: action, the reply it gives (REPLY_NONE for CONTINUE/ACCEPT), the check's name,
 * template arguments (may be NULL), and a printf-style detail.  Untrusted strings in args are
 * escaped here; the detail's arguments must be escaped by the caller.
 */
struct verdict verdict_make(enum verdict_action action, enum reply_id reply, const char *check,
                            const struct verdict_args *args, const char *detail_fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * Combines two verdicts with the one precedence: ACCEPT (allowlist) > REJECT > TEMPFAIL >
 * HOLD > DISCARD > CONTINUE.  On a tie the first one is kept (the first reason for a deferral).
 */
struct verdict verdict_combine(const struct verdict *first, const struct verdict *second);

/* "continue", "accept", "tempfail", "reject", "discard", "hold". */
const char *verdict_action_name(enum verdict_action action);

/* Looks a reply up by name ("iprev_fail"); NULL when unknown. */
const struct reply_entry *reply_by_name(const char *name);

/*
 * True when the reply's SMTP code class agrees with the action: 4xx only with TEMPFAIL, 5xx only
 * with REJECT.  The milter refuses to send a reply for which this is false.
 */
bool verdict_reply_consistent(const struct verdict *v);

/*
 * Renders the full reply text the sender sees: the verdict's text, "(ref REF)" when ref is set,
 * and help_text with {check} and {ref} replaced.  CR, LF and other control bytes never appear in
 * out.  Does not escape '%': that is libmilter's business (see milter/reply.c).
 */
void verdict_reply_text(const struct verdict *v, const char *ref, const char *help_text, char *out,
                        size_t outlen);

#endif
