/*
 * dmarc_verdict: what the site does with an evaluated message (dmarc.h: dmarc_message_verdict and
 * the options dmarc_reject_action, dmarc_quarantine_action, dmarc_temperror_action,
 * dmarc_domain_actions), and the words of the result: Authentication-Results (RFC 7489 11.2),
 * the decision log, the quarantine header.
 *
 * Precedence over several author domains (RFC 7489 6.6.1, "the most strict policy"): reject >
 * defer (a lookup failed) > hold > header > nothing.  A temporary error is never a rejection.
 */
#include "dmarc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define DMARC_ACTION_CHOICES "reject|hold|header|log"

enum act { ACT_NONE, ACT_HEADER, ACT_HOLD, ACT_TEMPFAIL, ACT_REJECT };

/* Appends printf output to out, bounded (a full buffer keeps what fitted). */
static void put(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put(char *out, size_t outlen, const char *fmt, ...)
{
    size_t len = strnlen(out, outlen);
    if (len + 1 >= outlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + len, outlen - len, fmt, ap);
    va_end(ap);
}

static int action_index(const char *word)
{
    static const char *const names[] = {"reject", "hold", "header", "log"};
    for (int i = 0; i < 4; i++)
        if (strcmp(word, names[i]) == 0)
            return i;
    return -1;
}

/* dmarc_domain_actions: the action for domain (the longest label-aligned suffix), or -1. */
static int domain_action(const struct config *cfg, const char *domain)
{
    int best = -1;
    size_t best_len = 0, len = strlen(domain);
    for (size_t i = 0; i < cfg->dmarc_domain_actions.count; i++) {
        const char *item = cfg->dmarc_domain_actions.items[i];
        const char *colon = strrchr(item, ':');
        size_t n = colon != NULL ? (size_t)(colon - item) : 0;
        int action = colon != NULL ? action_index(colon + 1) : -1;
        if (action < 0 || n == 0 || n > len || n <= best_len)
            continue;
        const char *tail = domain + len - n;
        if (strncasecmp(tail, item, n) == 0 && (tail == domain || tail[-1] == '.')) {
            best = action;
            best_len = n;
        }
    }
    return best;
}

/* True when SPF or a DKIM signature passed for exactly domain: a pass whatever the record says
 * (strict alignment is the narrowest there is), so a lookup failure changes nothing. */
static bool passes_exactly(const struct dmarc_evidence *e, const char *domain)
{
    if (e->spf_checked && e->spf_result == SPF_PASS && str_casecmp(e->spf_domain, domain) == 0)
        return true;
    for (size_t i = 0; i < e->ndkim; i++)
        if (e->dkim[i].result == DKIM_PASS && str_casecmp(e->dkim[i].domain, domain) == 0)
            return true;
    return false;
}

/* A failing author: the action its disposition (after pct=) asks for, as the site configured. */
static enum act decide_fail(const struct config *cfg, const struct dmarc_exemption *x,
                            struct dmarc_author *a)
{
    enum dmarc_policy asked = a->disposition;
    if (asked == DMARC_POLICY_NONE) {
        if (a->override == DMARC_OVERRIDE_SAMPLED_OUT)
            str_printf(a->outcome, sizeof a->outcome, "not acted on: pct=%u sampled it out",
                       a->record.pct);
        else
            str_printf(a->outcome, sizeof a->outcome, "delivered (p=none asks for nothing)");
        return ACT_NONE;
    }
    if (x != NULL && x->reason != NULL) {
        a->disposition = DMARC_POLICY_NONE;
        a->override = x->override;
        str_printf(a->outcome, sizeof a->outcome, "not enforced: %s", x->reason);
        return ACT_NONE;
    }
    const char *option =
        asked == DMARC_POLICY_REJECT ? "dmarc_reject_action" : "dmarc_quarantine_action";
    int mode = asked == DMARC_POLICY_REJECT ? (int)cfg->dmarc_reject_action
                                            : (int)cfg->dmarc_quarantine_action;
    int over = domain_action(cfg, a->domain);
    if (over >= 0) {
        mode = over;
        option = "dmarc_domain_actions";
    }
    if (a->override == DMARC_OVERRIDE_SAMPLED_OUT)
        str_printf(a->outcome, sizeof a->outcome,
                   "pct=%u sampled it out, %s applied instead: ", a->record.pct,
                   dmarc_policy_name(asked));
    enum act act = ACT_NONE;
    switch ((enum dmarc_action_mode)mode) {
    case DMARC_ACTION_REJECT:
        a->disposition = DMARC_POLICY_REJECT;
        put(a->outcome, sizeof a->outcome, "rejected");
        act = ACT_REJECT;
        break;
    case DMARC_ACTION_HOLD:
        a->disposition = DMARC_POLICY_QUARANTINE;
        put(a->outcome, sizeof a->outcome, "held in the MTA's hold queue");
        act = ACT_HOLD;
        break;
    case DMARC_ACTION_HEADER:
        a->disposition = DMARC_POLICY_QUARANTINE;
        put(a->outcome, sizeof a->outcome, "delivered with the %s header", DMARC_HEADER_NAME);
        act = ACT_HEADER;
        break;
    case DMARC_ACTION_LOG:
        a->disposition = DMARC_POLICY_NONE;
        put(a->outcome, sizeof a->outcome, "delivered, only logged");
        break;
    }
    if (a->disposition != asked || over >= 0) {
        if (a->override == DMARC_OVERRIDE_NONE && a->disposition != asked)
            a->override = DMARC_OVERRIDE_LOCAL_POLICY;
        put(a->outcome, sizeof a->outcome, " (%s)", option);
    }
    return act;
}

/* A lookup that failed for DNS reasons: deferred, unless nothing could make it fail. */
static enum act decide_temperror(const struct config *cfg, const struct dmarc_exemption *x,
                                 const struct dmarc_evidence *e, struct dmarc_author *a)
{
    if (passes_exactly(e, a->domain)) {
        str_printf(a->outcome, sizeof a->outcome,
                   "not deferred: an identifier equal to %s passed, a pass under any policy",
                   a->domain);
        return ACT_NONE;
    }
    if (x != NULL && x->reason != NULL) {
        str_printf(a->outcome, sizeof a->outcome, "not deferred: %s", x->reason);
        return ACT_NONE;
    }
    if (cfg->dmarc_temperror_action == DNS_FAILURE_ACCEPT ||
        cfg->dns_failure == DNS_FAILURE_ACCEPT) {
        str_printf(a->outcome, sizeof a->outcome, "accepted (%s = accept)",
                   cfg->dmarc_temperror_action == DNS_FAILURE_ACCEPT ? "dmarc_temperror_action"
                                                                     : "dns_failure");
        return ACT_NONE;
    }
    str_printf(a->outcome, sizeof a->outcome, "deferred, to be evaluated again at the retry");
    return ACT_TEMPFAIL;
}

struct verdict dmarc_message_verdict(struct dmarc_message *m, const struct config *cfg,
                                     const struct dmarc_exemption *exempt, char *hold_reason,
                                     size_t hold_len)
{
    enum act best = ACT_NONE;
    size_t who = 0;

    m->add_header = false;
    for (size_t i = 0; i < m->nauthors; i++) {
        struct dmarc_author *a = &m->authors[i];
        enum act act = ACT_NONE;
        a->outcome[0] = '\0';
        if (a->result == DMARC_FAIL)
            act = decide_fail(cfg, exempt, a);
        else if (a->result == DMARC_TEMPERROR && a->domain[0] != '\0')
            act = decide_temperror(cfg, exempt, &m->evidence, a);
        if (act > best) {
            best = act;
            who = i;
        }
    }
    dmarc_message_detail(m, m->detail, sizeof m->detail);
    if (best == ACT_NONE)
        return verdict_continue(); /* the words are in m->detail, for the acceptance's detail */
    const char *detail = m->detail;
    const struct dmarc_author *a = &m->authors[who];
    struct verdict_args args = {.domain = a->domain};
    switch (best) {
    case ACT_REJECT:
        return verdict_make(VERDICT_REJECT, REPLY_DMARC_REJECT, "dmarc", &args, "%s", detail);
    case ACT_TEMPFAIL:
        return verdict_make(VERDICT_TEMPFAIL, REPLY_DMARC_TEMP, "dmarc", &args, "%s", detail);
    case ACT_HOLD:
        str_printf(hold_reason, hold_len,
                   "DMARC: %s publishes p=%s and the message is not authenticated as its mail",
                   a->domain, dmarc_policy_name(a->policy));
        return verdict_make(VERDICT_HOLD, REPLY_NONE, "dmarc", NULL, "%s", detail);
    case ACT_HEADER:
        m->add_header = true;
        m->header_author = who;
        break;
    case ACT_NONE:
        break;
    }
    return verdict_continue();
}

bool dmarc_message_header(const struct dmarc_message *m, char *out, size_t outlen)
{
    if (m == NULL || !m->add_header)
        return false;
    const struct dmarc_author *a = &m->authors[m->header_author];
    str_printf(out, outlen, "fail (p=%s dis=%s) header.from=%s", dmarc_policy_name(a->policy),
               dmarc_policy_name(a->disposition), a->domain);
    return true;
}

/* ---- Authentication-Results (RFC 7489 11.2) ---- */

void dmarc_message_authres(const struct dmarc_message *m, char *out, size_t outlen)
{
    char one[DNS_NAME_MAX + 128];
    str_printf(out, outlen, "%s", "");
    for (size_t i = 0; i < m->nauthors; i++) {
        const struct dmarc_author *a = &m->authors[i];
        const char *result = dmarc_result_name(a->result);
        if (a->have_record)
            snprintf(one, sizeof one, "dmarc=%s (p=%s dis=%s) header.from=%s", result,
                     dmarc_policy_name(a->policy), dmarc_policy_name(a->disposition), a->domain);
        else if (a->domain[0] != '\0')
            snprintf(one, sizeof one, "dmarc=%s header.from=%s", result, a->domain);
        else
            snprintf(one, sizeof one, "dmarc=%s", result);
        size_t len = strlen(out);
        if (len + strlen(one) + 3 > outlen)
            return; /* whole resinfos only */
        put(out, outlen, "%s%s", len > 0 ? "; " : "", one);
    }
}

/* ---- the decision log's words ---- */

static void spf_words(const struct dmarc_evidence *e, const struct dmarc_author *a, char *out,
                      size_t outlen)
{
    if (!e->spf_checked) {
        put(out, outlen, "; SPF not checked");
    } else if (e->spf_result != SPF_PASS) {
        put(out, outlen, "; SPF %s%s%s", spf_result_name(e->spf_result),
            e->spf_domain[0] != '\0' ? " for " : "", e->spf_domain);
    } else {
        put(out, outlen, "; SPF passed for %s, which %s", e->spf_domain,
            a->spf_aligned                       ? "aligns"
            : a->record.aspf == ORGDOMAIN_STRICT ? "does not align (aspf=s)"
                                                 : "does not align");
    }
}

#define DMARC_DKIM_SHOWN 3 /* signatures described in the log; the others are counted */

static void dkim_words(const struct dmarc_evidence *e, const struct dmarc_author *a, char *out,
                       size_t outlen)
{
    if (e->ndkim == 0) {
        put(out, outlen, "; no DKIM signature");
        return;
    }
    for (size_t i = 0; i < e->ndkim && i < DMARC_DKIM_SHOWN; i++) {
        const struct dmarc_dkim *s = &e->dkim[i];
        const char *d = s->domain[0] != '\0' ? s->domain : "(no d=)";
        if (s->result == DKIM_PASS) {
            bool aligned = a->dkim_aligned && strcmp(a->dkim_aligned_domain, s->domain) == 0;
            put(out, outlen, "; DKIM passed for %s, which %s", d,
                aligned                               ? "aligns"
                : a->record.adkim == ORGDOMAIN_STRICT ? "does not align (adkim=s)"
                                                      : "does not align");
        } else {
            put(out, outlen, "; DKIM %s for %s%s%s%s",
                s->result == DKIM_FAIL ? "failed" : dkim_result_name(s->result), d,
                s->reason[0] != '\0' ? " (" : "", s->reason, s->reason[0] != '\0' ? ")" : "");
        }
    }
    if (e->ndkim > DMARC_DKIM_SHOWN)
        put(out, outlen, "; %zu more DKIM signatures", e->ndkim - DMARC_DKIM_SHOWN);
}

/* Who publishes the policy that applied: the From domain, or its organizational domain. */
static void policy_words(const struct dmarc_author *a, char *out, size_t outlen)
{
    const struct dmarc_record *r = &a->record;
    if (!a->org_record)
        put(out, outlen, "the From domain %s publishes p=%s", a->domain, dmarc_policy_name(r->p));
    else if (r->sp_given)
        put(out, outlen,
            "the From domain %s publishes no record; its organizational domain %s publishes "
            "sp=%s",
            a->domain, a->org, dmarc_policy_name(r->sp));
    else
        put(out, outlen,
            "the From domain %s publishes no record; its organizational domain %s publishes "
            "p=%s (no sp=)",
            a->domain, a->org, dmarc_policy_name(r->p));
    if (r->pct < 100)
        put(out, outlen, " pct=%u", r->pct);
}

static void author_words(const struct dmarc_message *m, const struct dmarc_author *a, char *out,
                         size_t outlen)
{
    const char *result = dmarc_result_name(a->result);
    if (a->domain[0] == '\0') {
        put(out, outlen, "dmarc=%s: %s", result, a->why);
        return;
    }
    if (a->result == DMARC_PASS) {
        /* A pass in few words: it is most mail, and the acceptance's detail has more to say. */
        bool both = a->spf_aligned && a->dkim_aligned;
        put(out, outlen, "dmarc=pass for %s (%s=%s): aligned %s%s%s%s%s", a->domain,
            a->org_record ? "sp" : "p", dmarc_policy_name(a->policy),
            a->spf_aligned ? "SPF pass for " : "", a->spf_aligned ? m->evidence.spf_domain : "",
            both ? " and " : "", a->dkim_aligned ? "DKIM pass for " : "", a->dkim_aligned_domain);
    } else if (!a->have_record) {
        put(out, outlen, "dmarc=%s for %s: %s", result, a->domain, a->why);
    } else {
        put(out, outlen, "dmarc=%s for %s: ", result, a->domain);
        policy_words(a, out, outlen);
        spf_words(&m->evidence, a, out, outlen);
        dkim_words(&m->evidence, a, out, outlen);
        if (a->record.notes[0] != '\0')
            put(out, outlen, "; the record: %s", a->record.notes);
    }
    if (a->outcome[0] != '\0')
        put(out, outlen, "; %s", a->outcome);
}

void dmarc_message_detail(const struct dmarc_message *m, char *out, size_t outlen)
{
    str_printf(out, outlen, "%s", "");
    for (size_t i = 0; i < m->nauthors; i++) {
        if (i > 0)
            put(out, outlen, " / ");
        author_words(m, &m->authors[i], out, outlen);
    }
}

const char *dmarc_result_name(enum dmarc_result r)
{
    switch (r) {
    case DMARC_NONE:
        return "none";
    case DMARC_PASS:
        return "pass";
    case DMARC_FAIL:
        return "fail";
    case DMARC_TEMPERROR:
        return "temperror";
    case DMARC_PERMERROR:
        return "permerror";
    }
    return "?";
}

const char *dmarc_override_name(enum dmarc_override o)
{
    switch (o) {
    case DMARC_OVERRIDE_NONE:
        return "none";
    case DMARC_OVERRIDE_SAMPLED_OUT:
        return "sampled_out";
    case DMARC_OVERRIDE_TRUSTED_FORWARDER:
        return "trusted_forwarder";
    case DMARC_OVERRIDE_LOCAL_POLICY:
        return "local_policy";
    }
    return "?";
}
