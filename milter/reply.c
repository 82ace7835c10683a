/*
 * reply: the single place where a verdict becomes an SMTP reply (Postfix funnels
 * every rejection through smtpd_check_reject() the same way).
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "milter.h"

/* libmilter reads '%' in reply text as a format escape (smfi_setreply(3)): double it. */
static void escape_percent(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    for (; *in != '\0' && o + 2 < outlen; in++) {
        if (*in == '\r' || *in == '\n')
            continue;
        if (*in == '%')
            out[o++] = '%';
        out[o++] = *in;
    }
    out[o] = '\0';
}

/*
 * A message to hold (end of message only): the MTA is asked to put it in its hold queue with
 * the reason, then the held table gets its row.  When either fails the message is deferred
 * (451), so the sender keeps it: nothing is lost, nothing is held that nobody can find.
 */
static sfsistat hold(SMFICTX *ctx, struct policy_conn *conn, const struct config *cfg,
                     const struct verdict *v)
{
    char reason[VERDICT_DETAIL_MAX + 64];

    snprintf(reason, sizeof reason, "milter-ingress %s: %s (ref %s)", v->check, v->detail,
             policy_conn_ref(conn));
    if (smfi_quarantine(ctx, reason) != MI_SUCCESS) {
        log_msg(LOG_ERR, "%s: the MTA refused to hold the message (smfi_quarantine)",
                policy_queue_id(conn));
        struct verdict fail = verdict_make(VERDICT_TEMPFAIL, REPLY_STORE_FAILURE, v->check, NULL,
                                           "the MTA refused smfi_quarantine");
        return reply_send(ctx, conn, cfg, &fail);
    }
    struct verdict committed = policy_hold_commit(conn);
    if (committed.action != VERDICT_CONTINUE)
        return reply_send(ctx, conn, cfg, &committed);
    policy_record(conn, v, NULL);
    metrics_throttle_hold();
    return SMFIS_CONTINUE;
}

sfsistat reply_send(SMFICTX *ctx, struct policy_conn *conn, const struct config *cfg,
                    const struct verdict *v)
{
    char text[VERDICT_TEXT_MAX + 256], escaped[2 * sizeof text], full[sizeof text + 16];

    switch (v->action) {
    case VERDICT_CONTINUE:
        return SMFIS_CONTINUE;
    case VERDICT_ACCEPT:
        policy_record(conn, v, NULL);
        return SMFIS_ACCEPT;
    case VERDICT_DISCARD:
        policy_record(conn, v, NULL);
        return SMFIS_DISCARD;
    case VERDICT_HOLD:
        return hold(ctx, conn, cfg, v);
    case VERDICT_TEMPFAIL:
    case VERDICT_REJECT:
        break;
    }
    const struct reply_entry *r = &reply_table[v->reply];
    metrics_reply(v->reply);
    if (!verdict_reply_consistent(v)) {
        /* A programming error: never send a 5xx with a tempfail or the reverse. */
        log_msg(LOG_ERR, "%s: internal: reply %s does not fit action %s, answering 451",
                policy_queue_id(conn), r->name, verdict_action_name(v->action));
        policy_record(conn, v, NULL);
        return SMFIS_TEMPFAIL;
    }
    verdict_reply_text(v, policy_conn_ref(conn), cfg->help_text, text, sizeof text);
    escape_percent(text, escaped, sizeof escaped);
    if (smfi_setreply(ctx, (char *)r->code, (char *)r->xcode, escaped) != MI_SUCCESS)
        log_msg(LOG_WARNING, "%s: smfi_setreply refused the reply for %s; the MTA sends its own",
                policy_queue_id(conn), r->name);
    snprintf(full, sizeof full, "%s %s %s", r->code, r->xcode, text);
    policy_record(conn, v, full);
    return v->action == VERDICT_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
}
