/*
 * verdict: THE reply table (ARCHITECTURE.md "Verdicts and replies") and the verdict helpers.
 *
 * Enhanced status codes: RFC 3463 (X.7.1 delivery not authorized, X.6.0 media error, X.3.0 system
 * error, X.3.2 system not accepting network messages) and RFC 7372 (X.7.23 SPF validation failed,
 * X.7.24 SPF validation error, X.7.25 reverse DNS validation failed).  DMARC has no code of its
 * own: X.7.1, naming DMARC and the domain.  Every rejection names its check and carries the help
 * text.
 */
#include "verdict.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

const struct reply_entry reply_table[REPLY_COUNT] = {
    [REPLY_NONE] = {REPLY_NONE, "none", "250", "2.0.0", "OK"},
    [REPLY_IPREV_FAIL] = {REPLY_IPREV_FAIL, "iprev_fail", "550", "5.7.25",
                          "Client [{ip}] has no valid reverse DNS (PTR) matching HELO"},
    [REPLY_IPREV_DEFER] = {REPLY_IPREV_DEFER, "iprev_defer", "451", "4.7.25",
                           "Client [{ip}] has no valid reverse DNS (PTR) matching HELO, "
                           "please retry after fixing it"},
    [REPLY_IPREV_TEMP] = {REPLY_IPREV_TEMP, "iprev_temp", "451", "4.7.25",
                          "Reverse DNS lookup for [{ip}] failed temporarily, please retry"},
    [REPLY_SPF_FAIL] = {REPLY_SPF_FAIL, "spf_fail", "550", "5.7.23",
                        "SPF: {domain} does not allow [{ip}] to send its mail"},
    [REPLY_SPF_PERM] = {REPLY_SPF_PERM, "spf_perm", "550", "5.7.24",
                        "SPF record of {domain} is invalid"},
    [REPLY_SPF_TEMP] = {REPLY_SPF_TEMP, "spf_temp", "451", "4.7.24",
                        "SPF lookup for {domain} failed temporarily, please retry"},
    [REPLY_GREYLISTED] = {REPLY_GREYLISTED, "greylisted", "451", "4.7.1",
                          "Greylisted, please retry in {seconds} seconds"},
    /* A block list entry: the client's own (cidr, PTR, HELO), or the sender's (address, domain),
     * so that the reply says which one is refused.  The entry's public text, when it has one,
     * follows after ": "; its internal reason never does (lib/lists.c). */
    [REPLY_BLACKLISTED] = {REPLY_BLACKLISTED, "blacklisted", "554", "5.7.1",
                           "Client [{ip}] blocked by local policy"},
    [REPLY_DNSBL] = {REPLY_DNSBL, "dnsbl", "554", "5.7.1",
                     "Client [{ip}] listed on {zone}: {reason}"},
    [REPLY_RULE_REJECT] = {REPLY_RULE_REJECT, "rule_reject", "550", "5.7.1",
                           "Recipient does not accept mail from this sender"},
    [REPLY_SENDER_MISMATCH] = {REPLY_SENDER_MISMATCH, "sender_mismatch", "553", "5.7.1",
                               "Sender address <{address}> not owned by the authenticated account"},
    [REPLY_ACCOUNT_SUSPENDED] = {REPLY_ACCOUNT_SUSPENDED, "account_suspended", "554", "5.7.1",
                                 "Account suspended, contact the postmaster"},
    [REPLY_THROTTLED] = {REPLY_THROTTLED, "throttled", "451", "4.7.1",
                         "Sending rate exceeded, retry later"},
    [REPLY_THROTTLE_REJECT] = {REPLY_THROTTLE_REJECT, "throttle_reject", "550", "5.7.1",
                               "Sending rate exceeded, contact the postmaster"},
    [REPLY_BAD_FROM] = {REPLY_BAD_FROM, "bad_from", "550", "5.6.0",
                        "Message must have exactly one valid From header"},
    [REPLY_DNS_FAILURE] = {REPLY_DNS_FAILURE, "dns_failure", "451", "4.3.0",
                           "Temporary local problem (DNS), please retry"},
    [REPLY_STORE_FAILURE] = {REPLY_STORE_FAILURE, "store_failure", "451", "4.3.0",
                             "Temporary local problem (storage), please retry"},
    /* 421: Postfix and Sendmail close the SMTP session after it, so the client comes back to a
     * milter that runs (RFC 3463 X.3.2: system not accepting network messages). */
    [REPLY_SHUTTING_DOWN] = {REPLY_SHUTTING_DOWN, "shutting_down", "421", "4.3.2",
                             "Mail filter shutting down, please retry later"},
    [REPLY_DMARC_REJECT] = {REPLY_DMARC_REJECT, "dmarc_reject", "550", "5.7.1",
                            "Rejected by the DMARC policy of {domain}: not authenticated as mail "
                            "of that domain"},
    [REPLY_DMARC_TEMP] = {REPLY_DMARC_TEMP, "dmarc_temp", "451", "4.7.1",
                          "DMARC policy of {domain} could not be looked up, please retry"},
    /* A malformed path: 501 (RFC 5321 4.5.3.1.10 "501 Path too long"), RFC 3463 X.1.7 and X.1.3
     * (bad sender's / destination mailbox address syntax). */
    [REPLY_BAD_SENDER_ADDRESS] = {REPLY_BAD_SENDER_ADDRESS, "bad_sender_address", "501", "5.1.7",
                                  "Bad sender address syntax: {reason}"},
    [REPLY_BAD_RECIPIENT_ADDRESS] = {REPLY_BAD_RECIPIENT_ADDRESS, "bad_recipient_address", "501",
                                     "5.1.3", "Bad recipient address syntax: {reason}"},
    [REPLY_SENDER_BLOCKED] = {REPLY_SENDER_BLOCKED, "sender_blocked", "550", "5.7.1",
                              "Sender <{address}> refused by local policy"},
    [REPLY_SENDER_DOMAIN_BLOCKED] = {REPLY_SENDER_DOMAIN_BLOCKED, "sender_domain_blocked", "550",
                                     "5.7.1", "Mail from domain {domain} refused by local policy"},
};

struct verdict verdict_continue(void)
{
    struct verdict v;
    memset(&v, 0, sizeof v);
    v.action = VERDICT_CONTINUE;
    v.reply = REPLY_NONE;
    return v;
}

/* Appends s to out at *o, keeping room for the terminator. */
static void append(char *out, size_t outlen, size_t *o, const char *s)
{
    size_t len = strlen(s);
    if (*o + 1 >= outlen)
        return;
    if (len > outlen - 1 - *o)
        len = outlen - 1 - *o;
    memcpy(out + *o, s, len);
    *o += len;
    out[*o] = '\0';
}

/* The value of a template placeholder, escaped into buf. */
static const char *placeholder(const char *name, size_t len, const struct verdict_args *args,
                               char *buf, size_t buflen)
{
    const char *value = NULL;
    if (args == NULL)
        return "";
    if (len == 2 && strncmp(name, "ip", 2) == 0)
        value = args->ip ? args->ip : "unknown";
    else if (len == 6 && strncmp(name, "domain", 6) == 0)
        value = args->domain;
    else if (len == 6 && strncmp(name, "reason", 6) == 0)
        value = args->reason;
    else if (len == 4 && strncmp(name, "zone", 4) == 0)
        value = args->zone;
    else if (len == 7 && strncmp(name, "address", 7) == 0)
        value = args->address;
    else if (len == 7 && strncmp(name, "seconds", 7) == 0) {
        snprintf(buf, buflen, "%ld", args->seconds);
        return buf;
    }
    return value ? str_escape(buf, buflen, value) : "";
}

static void render_template(const char *template, const struct verdict_args *args, char *out,
                            size_t outlen)
{
    size_t o = 0;
    out[0] = '\0';
    for (const char *p = template; *p != '\0';) {
        const char *open = strchr(p, '{');
        const char *close = open ? strchr(open, '}') : NULL;
        if (open == NULL || close == NULL) {
            append(out, outlen, &o, p);
            return;
        }
        char chunk[VERDICT_TEXT_MAX];
        size_t n = (size_t)(open - p) < sizeof chunk - 1 ? (size_t)(open - p) : sizeof chunk - 1;
        memcpy(chunk, p, n);
        chunk[n] = '\0';
        append(out, outlen, &o, chunk);
        char value[256];
        append(out, outlen, &o,
               placeholder(open + 1, (size_t)(close - open - 1), args, value, sizeof value));
        p = close + 1;
    }
}

struct verdict verdict_make(enum verdict_action action, enum reply_id reply, const char *check,
                            const struct verdict_args *args, const char *detail_fmt, ...)
{
    struct verdict v = verdict_continue();
    va_list ap;

    v.action = action;
    v.reply = (reply > REPLY_NONE && reply < REPLY_COUNT) ? reply : REPLY_NONE;
    str_copy(v.check, sizeof v.check, check ? check : "policy");
    if (v.reply != REPLY_NONE)
        render_template(reply_table[v.reply].text, args, v.text, sizeof v.text);
    if (detail_fmt != NULL) {
        va_start(ap, detail_fmt);
        vsnprintf(v.detail, sizeof v.detail, detail_fmt, ap);
        va_end(ap);
    }
    return v;
}

static int precedence(enum verdict_action action)
{
    switch (action) {
    case VERDICT_ACCEPT:
        return 5;
    case VERDICT_REJECT:
        return 4;
    case VERDICT_TEMPFAIL:
        return 3;
    case VERDICT_HOLD:
        return 2;
    case VERDICT_DISCARD:
        return 1;
    case VERDICT_CONTINUE:
        return 0;
    }
    return 0;
}

struct verdict verdict_combine(const struct verdict *first, const struct verdict *second)
{
    return precedence(second->action) > precedence(first->action) ? *second : *first;
}

const char *verdict_action_name(enum verdict_action action)
{
    static const char *const names[] = {
        [VERDICT_CONTINUE] = "continue", [VERDICT_ACCEPT] = "accept",
        [VERDICT_TEMPFAIL] = "tempfail", [VERDICT_REJECT] = "reject",
        [VERDICT_DISCARD] = "discard",   [VERDICT_HOLD] = "hold",
    };
    if ((unsigned)action < sizeof names / sizeof names[0])
        return names[action];
    return "unknown";
}

const struct reply_entry *reply_by_name(const char *name)
{
    for (int i = 0; i < REPLY_COUNT; i++)
        if (strcmp(reply_table[i].name, name) == 0)
            return &reply_table[i];
    return NULL;
}

bool verdict_reply_consistent(const struct verdict *v)
{
    const struct reply_entry *r = &reply_table[v->reply];
    switch (v->action) {
    case VERDICT_TEMPFAIL:
        return r->code[0] == '4' && r->xcode[0] == '4';
    case VERDICT_REJECT:
        return r->code[0] == '5' && r->xcode[0] == '5';
    default:
        return v->reply == REPLY_NONE;
    }
}

/* Copies s, replacing control bytes and non-ASCII with '?' so a reply never breaks a line. */
static void append_clean(char *out, size_t outlen, size_t *o, const char *s)
{
    for (; *s != '\0' && *o + 1 < outlen; s++) {
        unsigned char c = (unsigned char)*s;
        out[(*o)++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    out[*o] = '\0';
}

void verdict_reply_text(const struct verdict *v, const char *ref, const char *help_text, char *out,
                        size_t outlen)
{
    size_t o = 0;
    if (outlen == 0)
        return;
    out[0] = '\0';
    append_clean(out, outlen, &o, v->text);
    if (ref != NULL && ref[0] != '\0') {
        append(out, outlen, &o, " (ref ");
        append_clean(out, outlen, &o, ref);
        append(out, outlen, &o, ")");
    }
    if (help_text == NULL || help_text[0] == '\0')
        return;
    append(out, outlen, &o, " ");
    for (const char *p = help_text; *p != '\0';) {
        if (strncmp(p, "{check}", 7) == 0) {
            append_clean(out, outlen, &o, v->check);
            p += 7;
        } else if (strncmp(p, "{ref}", 5) == 0) {
            append_clean(out, outlen, &o, ref ? ref : "");
            p += 5;
        } else {
            char one[2] = {*p, '\0'};
            append_clean(out, outlen, &o, one);
            p++;
        }
    }
}
