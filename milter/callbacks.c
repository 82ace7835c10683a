/*
 * callbacks: libmilter callbacks -> policy calls -> SMFIS_* (ARCHITECTURE.md "One connection").
 *
 * Per-connection state hangs off smfi_setpriv and is freed in close.  Strings
 * libmilter hands us live only during the callback: policy copies what it keeps.  The queue id
 * ({i}) is read again at every stage because Postfix chooses it only after the first accepted
 * RCPT.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "milter.h"
#include "util.h"

/* Forged headers (Authentication-Results, X-Ingress-DMARC) removed per message; more than this
 * are left (and logged). */
#define CONN_REMOVE_MAX 32

/*
 * Steps whose callback always answers CONTINUE: when the MTA offers it (milter protocol 6:
 * Postfix 2.6+, Sendmail 8.14+), it sends them without waiting for a reply.  A message with 20
 * header fields then costs 20 round trips less; policy decides at MAIL, RCPT and end of message
 * only, so nothing is lost.  CONNECT keeps its reply: it refuses the connection when no
 * configuration can be had.
 */
#define CONN_NO_REPLY_STEPS (SMFIP_NR_HELO | SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY)
/* Steps we have no callback for: the MTA need not send them at all. */
#define CONN_UNUSED_STEPS (SMFIP_NOUNKNOWN | SMFIP_NODATA)

struct conn_ctx {
    struct runtime *rt;
    struct policy_conn *policy;
    unsigned long no_reply; /* the CONN_NO_REPLY_STEPS the MTA granted at negotiation */
    struct {
        const char *name;      /* one of the two names above (a constant) */
        int index;             /* among the headers of that name */
    } remove[CONN_REMOVE_MAX]; /* forged headers, in arrival order */
    int nremove;
    bool in_transaction; /* counted in milter_transactions */
};

atomic_int milter_active_connections;
atomic_int milter_transactions;
/* Set once at SIGTERM: no new connection or transaction is taken (milter_drain_begin). */
static atomic_bool draining;

void milter_drain_begin(void)
{
    atomic_store(&draining, true);
}

/*
 * A transaction runs from an accepted MAIL FROM to its end of message, its abort, or a verdict
 * that ends the message early (accept or discard at RCPT); a new MAIL FROM ends the one before.
 * At SIGTERM the daemon waits for the transactions in flight, not for idle connections.
 */
static void transaction_mark(struct conn_ctx *cc, bool open)
{
    if (cc->in_transaction == open)
        return;
    cc->in_transaction = open;
    if (open)
        atomic_fetch_add(&milter_transactions, 1);
    else
        atomic_fetch_sub(&milter_transactions, 1);
}

/*
 * What negotiation granted, kept until CONNECT without an allocation of its own: libmilter does
 * not call close for a connection the MTA leaves before CONNECT (hostile.c's drop cases under
 * LeakSanitizer showed it), so anything allocated at negotiation could leak.  The private
 * pointer then points into this table, one entry per combination of the four no-reply steps,
 * which nobody frees.
 */
#define GRANT(i)                                                                                   \
    (((i)&1 ? SMFIP_NR_HELO : 0UL) | ((i)&2 ? SMFIP_NR_HDR : 0UL) | ((i)&4 ? SMFIP_NR_EOH : 0UL) | \
     ((i)&8 ? SMFIP_NR_BODY : 0UL))
static const unsigned long grants[16] = {
    GRANT(0), GRANT(1), GRANT(2),  GRANT(3),  GRANT(4),  GRANT(5),  GRANT(6),  GRANT(7),
    GRANT(8), GRANT(9), GRANT(10), GRANT(11), GRANT(12), GRANT(13), GRANT(14), GRANT(15)};

static const unsigned long *grant_of(const void *priv)
{
    uintptr_t p = (uintptr_t)priv, first = (uintptr_t)&grants[0], last = (uintptr_t)&grants[15];
    return p >= first && p <= last ? (const unsigned long *)priv : NULL;
}

static const unsigned long *grant_for(unsigned long steps)
{
    for (size_t i = 0; i < sizeof grants / sizeof grants[0]; i++)
        if (grants[i] == (steps & CONN_NO_REPLY_STEPS))
            return &grants[i];
    return &grants[0];
}

/* The connection's state, or NULL when CONNECT did not complete (then every decision step
 * answers TEMPFAIL). */
static struct conn_ctx *conn_get(SMFICTX *ctx)
{
    void *priv = smfi_getpriv(ctx);
    return grant_of(priv) == NULL ? priv : NULL;
}

/* The answer of a step without state: TEMPFAIL, or no reply where the MTA expects none (a reply
 * it does not wait for would be read as the answer to its next command). */
static sfsistat step_without_state(SMFICTX *ctx, unsigned long step)
{
    const unsigned long *granted = grant_of(smfi_getpriv(ctx));
    return granted != NULL && (*granted & step) != 0 ? SMFIS_NOREPLY : SMFIS_TEMPFAIL;
}

static void queue_id_refresh(SMFICTX *ctx, struct conn_ctx *cc)
{
    policy_set_queue_id(cc->policy, smfi_getsymval(ctx, "i"));
}

static void address_text(const _SOCK_ADDR *sa, char *out, size_t outlen)
{
    out[0] = '\0';
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &sin->sin_addr, out, (socklen_t)outlen);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, out, (socklen_t)outlen);
    }
}

/* CONTINUE, or NOREPLY when the MTA was told that step gets no reply. */
static sfsistat step_continue(const struct conn_ctx *cc, unsigned long step)
{
    return (cc->no_reply & step) != 0 ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/*
 * Option negotiation, before CONNECT: the actions we use, the steps we need no reply for and the
 * steps we have no callback for, each only as far as the MTA offers it.  The granted steps are
 * kept as a pointer into grants[] until cb_connect makes the connection's state.
 */
static sfsistat cb_negotiate(SMFICTX *ctx, unsigned long actions, unsigned long steps,
                             unsigned long unused2, unsigned long unused3,
                             unsigned long *want_actions, unsigned long *want_steps,
                             unsigned long *want2, unsigned long *want3)
{
    (void)unused2;
    (void)unused3;
    const unsigned long our_actions = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE;
    if ((actions & our_actions) != our_actions) {
        log_msg(LOG_ERR, "NOQUEUE: the MTA does not offer the header and quarantine actions "
                         "milter-ingress needs; refusing the connection");
        return SMFIS_REJECT;
    }
    const unsigned long *granted = grant_for(steps);
    bool kept = smfi_setpriv(ctx, (void *)(uintptr_t)granted) == MI_SUCCESS;
    *want_actions = our_actions;
    /* Without the grant kept, every step is answered: the callbacks could not tell otherwise. */
    *want_steps = (kept ? *granted : 0) | (steps & CONN_UNUSED_STEPS);
    *want2 = 0;
    *want3 = 0;
    return SMFIS_CONTINUE;
}

static sfsistat cb_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
    char ip[INET6_ADDRSTRLEN];
    const unsigned long *granted = grant_of(smfi_getpriv(ctx));
    if (atomic_load(&draining))
        return SMFIS_TEMPFAIL; /* accepted just before the listener closed */
    struct runtime *rt = runtime_acquire();
    if (rt == NULL)
        return SMFIS_TEMPFAIL;
    struct conn_ctx *cc = xcalloc(1, sizeof *cc);
    cc->no_reply = granted != NULL ? *granted : 0;
    cc->rt = rt;
    address_text(hostaddr, ip, sizeof ip);
    cc->policy = policy_conn_new(&rt->env, hostname, ip);
    atomic_fetch_add(&milter_active_connections, 1);
    metrics_connection();
    if (smfi_setpriv(ctx, cc) != MI_SUCCESS) {
        log_msg(LOG_ERR, "NOQUEUE: smfi_setpriv failed; refusing the connection");
        policy_conn_free(cc->policy);
        runtime_release(rt);
        free(cc);
        atomic_fetch_sub(&milter_active_connections, 1);
        return SMFIS_TEMPFAIL;
    }
    return SMFIS_CONTINUE;
}

static sfsistat cb_helo(SMFICTX *ctx, char *helo)
{
    struct conn_ctx *cc = conn_get(ctx);
    if (cc == NULL)
        return step_without_state(ctx, SMFIP_NR_HELO);
    policy_helo(cc->policy, helo);
    return step_continue(cc, SMFIP_NR_HELO);
}

static sfsistat cb_envfrom(SMFICTX *ctx, char **argv)
{
    struct conn_ctx *cc = conn_get(ctx);
    if (cc == NULL)
        return SMFIS_TEMPFAIL;
    metrics_transaction();
    cc->nremove = 0;
    if (atomic_load(&draining)) {
        /* The milter is stopping: no new transaction, and the 421 ends the SMTP session. */
        struct verdict stop = verdict_make(VERDICT_TEMPFAIL, REPLY_SHUTTING_DOWN, "milter", NULL,
                                           "the milter is stopping (SIGTERM)");
        transaction_mark(cc, false);
        return reply_send(ctx, cc->policy, cc->rt->cfg, &stop);
    }
    struct verdict v = policy_mail(cc->policy, argv[0], smfi_getsymval(ctx, "{auth_authen}"));
    queue_id_refresh(ctx, cc);
    sfsistat r = reply_send(ctx, cc->policy, cc->rt->cfg, &v);
    transaction_mark(cc, r == SMFIS_CONTINUE);
    return r;
}

static sfsistat cb_envrcpt(SMFICTX *ctx, char **argv)
{
    struct conn_ctx *cc = conn_get(ctx);
    if (cc == NULL)
        return SMFIS_TEMPFAIL;
    queue_id_refresh(ctx, cc);
    struct verdict v = policy_rcpt(cc->policy, argv[0]);
    sfsistat r = reply_send(ctx, cc->policy, cc->rt->cfg, &v);
    if (r == SMFIS_ACCEPT || r == SMFIS_DISCARD)
        transaction_mark(cc, false); /* the message is done: no end of message follows */
    return r;
}

static sfsistat cb_header(SMFICTX *ctx, char *name, char *value)
{
    struct conn_ctx *cc = conn_get(ctx);
    int index;
    if (cc == NULL)
        return step_without_state(ctx, SMFIP_NR_HDR);
    if (policy_header(cc->policy, name, value, &index)) {
        if (cc->nremove < CONN_REMOVE_MAX) {
            bool dmarc = str_casecmp(name, DMARC_HEADER_NAME) == 0;
            cc->remove[cc->nremove].name = dmarc ? DMARC_HEADER_NAME : "Authentication-Results";
            cc->remove[cc->nremove++].index = index;
        } else {
            log_msg(LOG_WARNING, "%s: more than %d forged headers, rest kept",
                    policy_queue_id(cc->policy), CONN_REMOVE_MAX);
        }
    }
    return step_continue(cc, SMFIP_NR_HDR);
}

static sfsistat cb_eoh(SMFICTX *ctx)
{
    struct conn_ctx *cc = conn_get(ctx);
    if (cc == NULL)
        return step_without_state(ctx, SMFIP_NR_EOH);
    policy_eoh(cc->policy);
    return step_continue(cc, SMFIP_NR_EOH);
}

static sfsistat cb_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
    struct conn_ctx *cc = conn_get(ctx);
    if (cc == NULL)
        return step_without_state(ctx, SMFIP_NR_BODY);
    policy_body(cc->policy, chunk, len);
    return step_continue(cc, SMFIP_NR_BODY);
}

static sfsistat end_of_message(SMFICTX *ctx, struct conn_ctx *cc)
{
    char authres[2048], dmarc[512];
    queue_id_refresh(ctx, cc);
    struct verdict v = policy_eom(cc->policy, authres, sizeof authres);
    if (v.action != VERDICT_CONTINUE) {
        /* A held message is still accepted (into the hold queue): it gets its header too. */
        sfsistat held = reply_send(ctx, cc->policy, cc->rt->cfg, &v);
        if (v.action != VERDICT_HOLD || held != SMFIS_CONTINUE)
            return held;
    }
    /* Remove from the last to the first, so earlier indexes stay valid. */
    for (int i = cc->nremove - 1; i >= 0; i--) {
        const char *name = cc->remove[i].name;
        if (smfi_chgheader(ctx, (char *)name, cc->remove[i].index, NULL) != MI_SUCCESS)
            log_msg(LOG_WARNING, "%s: could not remove forged %s #%d", policy_queue_id(cc->policy),
                    name, cc->remove[i].index);
        else
            log_msg(LOG_INFO, "%s: removed forged %s #%d", policy_queue_id(cc->policy), name,
                    cc->remove[i].index);
    }
    if (policy_dmarc_header(cc->policy, dmarc, sizeof dmarc) &&
        smfi_insheader(ctx, 0, DMARC_HEADER_NAME, dmarc) != MI_SUCCESS)
        log_msg(LOG_WARNING, "%s: could not add %s", policy_queue_id(cc->policy),
                DMARC_HEADER_NAME);
    if (smfi_insheader(ctx, 0, "Authentication-Results", authres) != MI_SUCCESS)
        log_msg(LOG_WARNING, "%s: could not add Authentication-Results",
                policy_queue_id(cc->policy));
    cc->nremove = 0;
    return SMFIS_CONTINUE;
}

static sfsistat cb_eom(SMFICTX *ctx)
{
    struct conn_ctx *cc = conn_get(ctx);
    if (cc == NULL)
        return SMFIS_TEMPFAIL;
    metrics_message();
    sfsistat r = end_of_message(ctx, cc);
    transaction_mark(cc, false);
    return r;
}

static sfsistat cb_abort(SMFICTX *ctx)
{
    struct conn_ctx *cc = conn_get(ctx);
    if (cc != NULL) {
        policy_abort(cc->policy);
        cc->nremove = 0;
        transaction_mark(cc, false);
    }
    return SMFIS_CONTINUE;
}

static sfsistat cb_close(SMFICTX *ctx)
{
    struct conn_ctx *cc = conn_get(ctx);
    smfi_setpriv(ctx, NULL);
    if (cc == NULL)
        return SMFIS_CONTINUE;
    transaction_mark(cc, false);
    policy_conn_free(cc->policy);
    runtime_release(cc->rt);
    free(cc);
    atomic_fetch_sub(&milter_active_connections, 1);
    return SMFIS_CONTINUE;
}

struct smfiDesc milter_desc = {
    .xxfi_name = "milter-ingress",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE,
    .xxfi_connect = cb_connect,
    .xxfi_helo = cb_helo,
    .xxfi_envfrom = cb_envfrom,
    .xxfi_envrcpt = cb_envrcpt,
    .xxfi_header = cb_header,
    .xxfi_eoh = cb_eoh,
    .xxfi_body = cb_body,
    .xxfi_eom = cb_eom,
    .xxfi_abort = cb_abort,
    .xxfi_close = cb_close,
    .xxfi_unknown = NULL,
    .xxfi_data = NULL,
    .xxfi_negotiate = cb_negotiate,
};
