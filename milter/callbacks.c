/*
 * callbacks: libmilter callbacks -> policy calls -> SMFIS_* (DESIGN.md §2).
 *
 * Per-connection state hangs off smfi_setpriv and is freed in close (STYLE rule 14).  Strings
 * libmilter hands us live only during the callback: policy copies what it keeps.  The queue id
 * ({i}) is read again at every stage because Postfix chooses it only after the first accepted
 * RCPT (STYLE rule 16).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "milter.h"
#include "util.h"

/* Forged Authentication-Results removed per message; more than this are left (and logged). */
#define CONN_REMOVE_MAX 32

struct conn_ctx {
    struct runtime *rt;
    struct policy_conn *policy;
    int remove[CONN_REMOVE_MAX]; /* indexes of our forged A-R headers, in arrival order */
    int nremove;
};

atomic_int milter_active_connections;

static struct conn_ctx *conn_get(SMFICTX *ctx)
{
    return smfi_getpriv(ctx);
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

static sfsistat cb_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
    char ip[INET6_ADDRSTRLEN];
    struct runtime *rt = runtime_acquire();
    if (rt == NULL)
        return SMFIS_TEMPFAIL;
    struct conn_ctx *cc = xcalloc(1, sizeof *cc);
    cc->rt = rt;
    address_text(hostaddr, ip, sizeof ip);
    cc->policy = policy_conn_new(&rt->env, hostname, ip);
    atomic_fetch_add(&milter_active_connections, 1);
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
        return SMFIS_TEMPFAIL;
    policy_helo(cc->policy, helo);
    return SMFIS_CONTINUE;
}

static sfsistat cb_envfrom(SMFICTX *ctx, char **argv)
{
    struct conn_ctx *cc = conn_get(ctx);
    if (cc == NULL)
        return SMFIS_TEMPFAIL;
    cc->nremove = 0;
    struct verdict v = policy_mail(cc->policy, argv[0], smfi_getsymval(ctx, "{auth_authen}"));
    queue_id_refresh(ctx, cc);
    return reply_send(ctx, cc->policy, cc->rt->cfg, &v);
}

static sfsistat cb_envrcpt(SMFICTX *ctx, char **argv)
{
    struct conn_ctx *cc = conn_get(ctx);
    if (cc == NULL)
        return SMFIS_TEMPFAIL;
    queue_id_refresh(ctx, cc);
    struct verdict v = policy_rcpt(cc->policy, argv[0]);
    return reply_send(ctx, cc->policy, cc->rt->cfg, &v);
}

static sfsistat cb_header(SMFICTX *ctx, char *name, char *value)
{
    struct conn_ctx *cc = conn_get(ctx);
    int index;
    if (cc == NULL)
        return SMFIS_TEMPFAIL;
    if (policy_header(cc->policy, name, value, &index)) {
        if (cc->nremove < CONN_REMOVE_MAX)
            cc->remove[cc->nremove++] = index;
        else
            log_msg(LOG_WARNING, "%s: more than %d forged Authentication-Results, rest kept",
                    policy_queue_id(cc->policy), CONN_REMOVE_MAX);
    }
    return SMFIS_CONTINUE;
}

static sfsistat cb_eoh(SMFICTX *ctx)
{
    struct conn_ctx *cc = conn_get(ctx);
    if (cc == NULL)
        return SMFIS_TEMPFAIL;
    policy_eoh(cc->policy);
    return SMFIS_CONTINUE;
}

static sfsistat cb_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
    struct conn_ctx *cc = conn_get(ctx);
    if (cc == NULL)
        return SMFIS_TEMPFAIL;
    policy_body(cc->policy, chunk, len);
    return SMFIS_CONTINUE;
}

static sfsistat cb_eom(SMFICTX *ctx)
{
    char authres[1024];
    struct conn_ctx *cc = conn_get(ctx);
    if (cc == NULL)
        return SMFIS_TEMPFAIL;
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
        if (smfi_chgheader(ctx, "Authentication-Results", cc->remove[i], NULL) != MI_SUCCESS)
            log_msg(LOG_WARNING, "%s: could not remove forged Authentication-Results #%d",
                    policy_queue_id(cc->policy), cc->remove[i]);
        else
            log_msg(LOG_INFO, "%s: removed forged Authentication-Results #%d",
                    policy_queue_id(cc->policy), cc->remove[i]);
    }
    if (smfi_insheader(ctx, 0, "Authentication-Results", authres) != MI_SUCCESS)
        log_msg(LOG_WARNING, "%s: could not add Authentication-Results",
                policy_queue_id(cc->policy));
    cc->nremove = 0;
    return SMFIS_CONTINUE;
}

static sfsistat cb_abort(SMFICTX *ctx)
{
    struct conn_ctx *cc = conn_get(ctx);
    if (cc != NULL) {
        policy_abort(cc->policy);
        cc->nremove = 0;
    }
    return SMFIS_CONTINUE;
}

static sfsistat cb_close(SMFICTX *ctx)
{
    struct conn_ctx *cc = conn_get(ctx);
    if (cc == NULL)
        return SMFIS_CONTINUE;
    smfi_setpriv(ctx, NULL);
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
    .xxfi_negotiate = NULL,
};
