/*
 * policy: one SMTP connection's checks in callback order (DESIGN.md §2), independent of the MTA.
 *
 * What runs when:
 *   connect  trusted_networks decided; PTR query sent (iprev)
 *   helo     HELO recorded (bounded, validated); its A/AAAA sent when iprev_helo = resolve
 *   mail     the message's state is reset (STYLE rule 15): sender, account, recipients
 *   rcpt     exempt recipients pass; otherwise the iprev verdict, computed once per connection
 *   header   forged Authentication-Results (our authserv-id) are marked for removal
 *   eom      Authentication-Results built; the acceptance recorded per recipient
 * Refusals happen at RCPT so exempt recipients (RFC 5321 4.5.1 postmaster) still get mail.
 */
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "authres.h"
#include "cidr.h"
#include "log.h"
#include "util.h"

#define POLICY_HELO_MAX 256
#define POLICY_QUEUE_ID_MAX 64
#define POLICY_ACCOUNT_MAX 256
/* Accepted recipients remembered for the decision log; more are counted, not listed. */
#define POLICY_RCPT_KEEP 1000

struct policy_conn {
    const struct policy_env *env;
    char ref[POLICY_REF_LEN + 1];
    char client_ip[64]; /* "" when unknown or not an address */
    char client_name[POLICY_HELO_MAX];
    char helo[POLICY_HELO_MAX]; /* bounded copy, raw: escape before printing */
    bool trusted;
    struct dns_batch *batch;
    struct iprev iprev;
    bool iprev_checked;
    struct verdict iprev_verdict;
    /* the current message */
    char queue_id[POLICY_QUEUE_ID_MAX];
    char sender[POLICY_ADDR_MAX];
    char account[POLICY_ACCOUNT_MAX];
    char rcpt[POLICY_ADDR_MAX];
    bool in_rcpt; /* policy_record is called for the current RCPT */
    char **accepted;
    size_t naccepted, accepted_total;
    int authres_seen;
};

static time_t now(const struct policy_conn *c)
{
    return c->env->clock ? c->env->clock(c->env->clock_arg) : time(NULL);
}

/* Eight characters of RFC 4648 base32 from 40 random bits: short enough to read over the phone. */
static void make_ref(char *out)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char bytes[5] = {0};
    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        memcpy(bytes, &ts.tv_nsec, sizeof bytes < sizeof ts.tv_nsec ? sizeof bytes : 4);
    }
    uint64_t bits = 0;
    for (size_t i = 0; i < sizeof bytes; i++)
        bits = bits << 8 | bytes[i];
    for (int i = 7; i >= 0; i--) {
        out[i] = alphabet[bits & 31];
        bits >>= 5;
    }
    out[8] = '\0';
}

/* Copies an SMTP path without its angle brackets, bounded. */
static void copy_path(char *dst, size_t dstlen, const char *path)
{
    if (path == NULL) {
        dst[0] = '\0';
        return;
    }
    size_t len = strnlen(path, dstlen + 2);
    if (len >= 2 && path[0] == '<' && path[len - 1] == '>') {
        path++;
        len -= 2;
    }
    if (len >= dstlen)
        len = dstlen - 1;
    memcpy(dst, path, len);
    dst[len] = '\0';
}

static bool network_trusted(const struct config *cfg, const char *ip)
{
    for (size_t i = 0; i < cfg->trusted_networks.count; i++) {
        struct cidr net;
        if (cidr_parse(cfg->trusted_networks.items[i], &net) && cidr_contains(&net, ip))
            return true;
    }
    return false;
}

struct policy_conn *policy_conn_new(const struct policy_env *env, const char *client_name,
                                    const char *client_ip)
{
    struct policy_conn *c = xcalloc(1, sizeof *c);
    c->env = env;
    make_ref(c->ref);
    str_copy(c->queue_id, sizeof c->queue_id, "NOQUEUE");
    if (client_ip != NULL && cidr_is_address(client_ip))
        str_copy(c->client_ip, sizeof c->client_ip, client_ip);
    copy_path(c->client_name, sizeof c->client_name, client_name ? client_name : "unknown");
    c->trusted = c->client_ip[0] != '\0' && network_trusted(env->cfg, c->client_ip);
    if (!c->trusted) {
        c->batch = dns_batch_new(env->resolver);
        iprev_start(&c->iprev, c->batch, c->client_ip, env->cfg->iprev_helo);
    }
    if (c->client_ip[0] == '\0') {
        char shown[128];
        log_msg(LOG_WARNING, "NOQUEUE: connect from %s: client address unknown, ref=%s",
                str_escape(shown, sizeof shown, c->client_name), c->ref);
    }
    return c;
}

static void forget_recipients(struct policy_conn *c)
{
    for (size_t i = 0; i < c->naccepted; i++)
        free(c->accepted[i]);
    free(c->accepted);
    c->accepted = NULL;
    c->naccepted = c->accepted_total = 0;
}

void policy_conn_free(struct policy_conn *c)
{
    if (c == NULL)
        return;
    forget_recipients(c);
    dns_batch_free(c->batch);
    free(c);
}

const char *policy_conn_ref(const struct policy_conn *c)
{
    return c->ref;
}

void policy_helo(struct policy_conn *c, const char *helo)
{
    /* Bounded copy for the log; iprev validates the full string itself. */
    str_copy(c->helo, sizeof c->helo, helo ? helo : "");
    if (c->batch != NULL && !c->iprev_checked)
        iprev_helo(&c->iprev, helo);
}

void policy_set_queue_id(struct policy_conn *c, const char *queue_id)
{
    if (queue_id != NULL && queue_id[0] != '\0')
        str_copy(c->queue_id, sizeof c->queue_id, queue_id);
}

const char *policy_queue_id(const struct policy_conn *c)
{
    return c->queue_id;
}

static void reset_message(struct policy_conn *c)
{
    str_copy(c->queue_id, sizeof c->queue_id, "NOQUEUE");
    c->sender[0] = c->account[0] = c->rcpt[0] = '\0';
    c->in_rcpt = false;
    c->authres_seen = 0;
    forget_recipients(c);
}

struct verdict policy_mail(struct policy_conn *c, const char *sender, const char *auth_account)
{
    reset_message(c);
    copy_path(c->sender, sizeof c->sender, sender);
    str_copy(c->account, sizeof c->account, auth_account ? auth_account : "");
    return verdict_continue();
}

static void remember_recipient(struct policy_conn *c)
{
    c->accepted_total++;
    if (c->naccepted >= POLICY_RCPT_KEEP)
        return;
    c->accepted = xrealloc(c->accepted, (c->naccepted + 1) * sizeof *c->accepted);
    c->accepted[c->naccepted++] = xstrdup(c->rcpt);
}

struct verdict policy_rcpt(struct policy_conn *c, const char *recipient)
{
    copy_path(c->rcpt, sizeof c->rcpt, recipient);
    c->in_rcpt = true;
    struct verdict v = verdict_continue();
    if (c->trusted || c->account[0] != '\0' || config_recipient_exempt(c->env->cfg, c->rcpt)) {
        remember_recipient(c);
        return v;
    }
    if (!c->iprev_checked) {
        c->iprev_verdict = iprev_verdict(&c->iprev, c->env->cfg);
        c->iprev_checked = true;
    }
    v = verdict_combine(&v, &c->iprev_verdict);
    if (v.action == VERDICT_CONTINUE)
        remember_recipient(c);
    return v;
}

bool policy_header(struct policy_conn *c, const char *name, const char *value, int *index)
{
    if (name == NULL || value == NULL || str_casecmp(name, "Authentication-Results") != 0)
        return false;
    c->authres_seen++;
    if (!authres_claims_id(value, c->env->authserv_id))
        return false;
    *index = c->authres_seen;
    return true;
}

/* The evidence of the message's checks, for the accept decision. */
static void accept_detail(struct policy_conn *c, char *out, size_t outlen)
{
    if (c->trusted)
        snprintf(out, outlen, "client in trusted_networks");
    else if (c->account[0] != '\0')
        snprintf(out, outlen, "authenticated session");
    else if (c->iprev_checked)
        snprintf(out, outlen, "%s", c->iprev_verdict.detail);
    else
        snprintf(out, outlen, "iprev=%s: %s (exempt recipients only)",
                 iprev_result_name(c->iprev.result), c->iprev.detail);
}

static enum store_status record_row(struct policy_conn *c, const char *recipient, const char *check,
                                    const char *action, const char *reply, const char *detail)
{
    struct decision d = {
        .time = (int64_t)now(c),
        .queue_id = c->queue_id,
        .ref = c->ref,
        .client_ip = c->client_ip[0] ? c->client_ip : "unknown",
        .client_name = c->client_name,
        .helo = c->helo,
        .sender = c->sender,
        .recipient = recipient,
        .account = c->account[0] ? c->account : NULL,
        .check = check,
        .action = action,
        .reply = reply,
        .detail = detail,
    };
    if (c->env->store == NULL)
        return STORE_ERROR;
    return store_decision_add(c->env->store, &d);
}

struct verdict policy_eom(struct policy_conn *c, char *authres, size_t authres_len)
{
    char detail[VERDICT_DETAIL_MAX], e_from[POLICY_ADDR_MAX * 4], e_ip[256];
    bool stored = true;

    if (c->batch != NULL && c->account[0] == '\0')
        iprev_finish(&c->iprev);
    authres_build(c->env->authserv_id, (c->batch && c->account[0] == '\0') ? &c->iprev : NULL,
                  authres, authres_len);
    accept_detail(c, detail, sizeof detail);
    for (size_t i = 0; i < c->naccepted; i++)
        if (record_row(c, c->accepted[i], "policy", "accept", NULL, detail) != STORE_OK)
            stored = false;
    log_msg(LOG_INFO,
            "%s: check=policy action=accept ip=%s from=<%s> nrcpt=%zu ref=%s detail=\"%s\"",
            c->queue_id, str_escape(e_ip, sizeof e_ip, c->client_ip[0] ? c->client_ip : "unknown"),
            str_escape(e_from, sizeof e_from, c->sender), c->accepted_total, c->ref, detail);
    if (stored)
        return verdict_continue();
    char why[256];
    store_last_error_r(c->env->store, why, sizeof why);
    log_msg(LOG_ERR, "%s: cannot record the decision: %s", c->queue_id, why);
    if (c->env->cfg->fail_open)
        return verdict_continue();
    return verdict_make(VERDICT_TEMPFAIL, REPLY_STORE_FAILURE, "store", NULL,
                        "decision log write failed: %s", why);
}

void policy_abort(struct policy_conn *c)
{
    reset_message(c);
}

void policy_record(struct policy_conn *c, const struct verdict *v, const char *reply)
{
    char e_ip[256], e_helo[POLICY_HELO_MAX * 4], e_from[POLICY_ADDR_MAX * 4],
        e_to[POLICY_ADDR_MAX * 4], e_reply[1024];
    const char *recipient = c->in_rcpt ? c->rcpt : NULL;

    log_msg(LOG_INFO,
            "%s: check=%s action=%s ip=%s helo=%s from=<%s> to=<%s> ref=%s reply=\"%s\" "
            "detail=\"%s\"",
            c->queue_id, v->check, verdict_action_name(v->action),
            str_escape(e_ip, sizeof e_ip, c->client_ip[0] ? c->client_ip : "unknown"),
            str_escape(e_helo, sizeof e_helo, c->helo),
            str_escape(e_from, sizeof e_from, c->sender),
            str_escape(e_to, sizeof e_to, recipient ? recipient : ""), c->ref,
            str_escape(e_reply, sizeof e_reply, reply ? reply : ""), v->detail);
    if (record_row(c, recipient, v->check, verdict_action_name(v->action), reply, v->detail) !=
        STORE_OK) {
        char why[256] = "no database";
        if (c->env->store != NULL)
            store_last_error_r(c->env->store, why, sizeof why);
        log_msg(LOG_ERR, "%s: cannot record the decision: %s", c->queue_id, why);
    }
}
