/*
 * policy: one SMTP connection's checks in callback order (ARCHITECTURE.md "One connection"),
 * independent of the MTA.
 *
 * What runs when:
 *   connect  trusted_networks decided; PTR and DNSBL/DNSWL queries sent together
 *   helo     HELO recorded (bounded, validated); its A/AAAA sent when iprev_helo = resolve
 *   mail     the message's state is reset (no abort follows an early REJECT); DKIM
 *            verification starts; the SPF records of the HELO name and the MAIL FROM domain
 *            sent on the message's batch
 *   rcpt     exempt recipients pass; otherwise, in this order: lists, rules and DNSBL
 *            (lists_verdict), iprev, SPF (HELO and MAIL FROM, once per message), greylisting
 *   header   DKIM feed; forged Authentication-Results (our authserv-id) and X-Ingress-DMARC
 *            marked for removal; each From field's author domains, whose DMARC records are
 *            asked for at once (lib/dmarc.c)
 *   body     DKIM feed, only when the message carries a signature
 *   eom      DKIM result; DMARC (a reject comes first); the deferred greylist decision (SPF-pass
 *            mail: DKIM aligned with the MAIL FROM or header From domain, or with
 *            dmarc_greylist_bypass a DMARC pass, confirms at once: ARCHITECTURE.md
 *            "Greylisting"); DMARC's other actions; Authentication-Results built; the acceptance
 *            recorded per recipient
 * Refusals happen at RCPT so exempt recipients (RFC 5321 4.5.1 postmaster) still get mail.
 */
#include "policy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "authres.h"
#include "cidr.h"
#include "addr.h"
#include "dmarc.h"
#include "dmarc_report.h"
#include "dnsbl.h"
#include "greylist.h"
#include "lists.h"
#include "sender.h"
#include "throttle.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define POLICY_HELO_MAX 256
#define POLICY_QUEUE_ID_MAX 64
#define POLICY_ACCOUNT_MAX 256
/* Accepted recipients remembered for the decision log; more are counted, not listed. */
#define POLICY_RCPT_KEEP 1000
/* The Subject kept for the held table: enough to recognize a message. */
#define POLICY_SUBJECT_MAX 200

/* A recipient accepted at RCPT; greylisting may still be pending until end of message. */
struct accepted {
    char *rcpt;
    bool greylist_pending;
};

struct policy_conn {
    const struct policy_env *env;
    char ref[POLICY_REF_LEN + 1];
    char client_ip[64]; /* "" when unknown or not an address */
    char client_name[POLICY_HELO_MAX];
    char helo[POLICY_HELO_MAX]; /* bounded copy, raw: escape before printing */
    bool trusted;
    struct dns_batch *batch; /* the connection's queries: PTR, HELO address, DNSBL */
    struct iprev iprev;
    bool iprev_checked;
    struct verdict iprev_verdict;
    struct dnsbl *dnsbl; /* NULL when no zones or trusted */
    struct lists *lists; /* the snapshot this connection uses, taken at its first RCPT */
    bool lists_loaded;
    /* the current message */
    char queue_id[POLICY_QUEUE_ID_MAX];
    char sender[POLICY_ADDR_MAX];
    char account[POLICY_ACCOUNT_MAX];
    char rcpt[POLICY_ADDR_MAX];
    bool in_rcpt; /* policy_record is called for the current RCPT */
    struct accepted *accepted;
    size_t naccepted, accepted_total;
    /* The message's SPF queries: its records prefetched at MAIL FROM, and every failure of its
     * evaluations, so that a name that timed out is not asked again for this message; within the
     * connection's batch, whose failures (the PTR, the HELO's address) are answers too (see
     * spf_prefetch).  NULL outside a message and for mail SPF does not check. */
    struct dns_batch *spf_batch;
    bool spf_done;
    struct spf_outcome spf_helo, spf_mail;
    int header_from_count;
    char greylist_note[VERDICT_DETAIL_MAX]; /* how greylisting let the message through */
    /* submission (authenticated sessions): the account and the From/Sender headers seen */
    struct sender_account acct;
    bool acct_loaded;
    char *header_from, *header_sender;
    int sender_header_count;
    int authres_seen;
    struct dkim_check *dkim; /* NULL when not verified (trusted, authenticated, no verifier) */
    /* DMARC: NULL until the first From field of a message DMARC is evaluated for */
    struct dmarc_message *dmarc;
    int dmarc_header_seen;               /* incoming X-Ingress-DMARC fields */
    size_t rcpt_checked, rcpt_allowed;   /* recipients accepted after the checks / by an allow */
    char allow_note[VERDICT_DETAIL_MAX]; /* the allow entry that let a recipient in */
    /* what a held message's row shows (ingressctl held list) */
    char subject[POLICY_SUBJECT_MAX];
    int64_t size;                         /* header and body bytes as libmilter handed them over */
    char hold_reason[VERDICT_DETAIL_MAX]; /* set when the message is to be held */
    bool hold_marks_account; /* holding it marks the account throttled (it is not yet) */
};

static time_t now(const struct policy_conn *c)
{
    return c->env->clock ? c->env->clock(c->env->clock_arg) : time(NULL);
}

/*
 * POLICY_REF_LEN characters of RFC 4648 base32 from 80 random bits.  The reference is also the
 * only key to the remote sender's public page of the decision (ingress-console's public
 * listener), so it must not be guessed: README "The remote sender's page" has the sum (40 bits,
 * the old length, fell to a patient botnet; 80 do not).  getrandom() without GRND_NONBLOCK
 * waits for the pool once at boot and then never fails for 10 bytes; should it fail all the
 * same, the reference is made of the clock: guessable, but a connection is not refused for it.
 */
static void make_ref(char *out)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char bytes[POLICY_REF_LEN * 5 / 8] = {0};
    if (getrandom(bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        memcpy(bytes, &ts.tv_nsec, sizeof ts.tv_nsec < sizeof bytes ? sizeof ts.tv_nsec : 4);
    }
    /* Five bits a character, read across the bytes from the first. */
    for (size_t i = 0; i < POLICY_REF_LEN; i++) {
        size_t bit = i * 5;
        unsigned v =
            (unsigned)bytes[bit / 8] << 8 | (bit / 8 + 1 < sizeof bytes ? bytes[bit / 8 + 1] : 0);
        out[i] = alphabet[(v >> (11 - bit % 8)) & 31];
    }
    out[POLICY_REF_LEN] = '\0';
}

/*
 * Copies an SMTP path without its angle brackets (NULL as "").  A path that does not fit is
 * refused, never cut: the first bytes of an address can be another valid address (a cut
 * "postmaster@example.org.attacker.test..." is a different mailbox), and every check after this
 * one would then judge an address nobody sent.  False with dst "" when it does not fit.
 */
static bool copy_path(char *dst, size_t dstlen, const char *path)
{
    dst[0] = '\0';
    if (path == NULL)
        return true;
    size_t len = strnlen(path, dstlen + 2);
    if (len >= 2 && path[0] == '<' && path[len - 1] == '>') {
        path++;
        len -= 2;
    }
    if (len >= dstlen)
        return false;
    memcpy(dst, path, len);
    dst[len] = '\0';
    return true;
}

/*
 * The refusal of a path copy_path() could not keep.  dst (size dstlen, at least 4) gets its start
 * followed by "...", for the decision's log line and row only: the command is refused, so no
 * check ever reads it, and the dots keep it from reading as a whole address.
 */
static struct verdict path_refused(char *dst, size_t dstlen, enum reply_id reply, const char *what,
                                   const char *path)
{
    struct verdict_args args = {.reason = "path too long"};
    size_t len = strnlen(path, 65536);

    if (path[0] == '<')
        path++;
    memcpy(dst, path, dstlen - 4);
    memcpy(dst + dstlen - 4, "...", 4);
    return verdict_make(VERDICT_REJECT, reply, "policy", &args,
                        "%s path of %zu bytes refused: longer than the %d the milter keeps", what,
                        len, (int)dstlen - 1);
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
    /* A host name, never an address: shown in logs only, so a long one is cut. */
    str_copy(c->client_name, sizeof c->client_name, client_name ? client_name : "unknown");
    c->trusted = c->client_ip[0] != '\0' && network_trusted(env->cfg, c->client_ip);
    if (!c->trusted) {
        c->batch = dns_batch_new(env->resolver);
        iprev_start(&c->iprev, c->batch, c->client_ip, env->cfg->iprev_helo);
        if (c->client_ip[0] != '\0')
            c->dnsbl = dnsbl_start(c->batch, env->cfg, c->client_ip);
    }
    if (c->client_ip[0] == '\0') {
        char shown[128];
        log_msg(LOG_WARNING, "NOQUEUE: connect from %s: client address unknown, ref=%s",
                str_escape_word(shown, sizeof shown, c->client_name), c->ref);
    }
    return c;
}

static void forget_recipients(struct policy_conn *c)
{
    for (size_t i = 0; i < c->naccepted; i++)
        free(c->accepted[i].rcpt);
    free(c->accepted);
    c->accepted = NULL;
    c->naccepted = c->accepted_total = 0;
}

static void reset_message(struct policy_conn *c);

void policy_conn_free(struct policy_conn *c)
{
    if (c == NULL)
        return;
    reset_message(c);
    dnsbl_free(c->dnsbl);
    lists_unref(c->lists);
    dns_batch_free(c->batch);
    free(c);
}

const char *policy_conn_ref(const struct policy_conn *c)
{
    return c->ref;
}

/* DMARC is evaluated for the current message: inbound (not trusted, not authenticated), with a
 * Public Suffix List to align with, and the option on. */
static bool dmarc_wanted(const struct policy_conn *c)
{
    return c->batch != NULL && c->account[0] == '\0' && c->env->cfg->dmarc &&
           c->env->orgdomain != NULL;
}

/* SPF will be evaluated for this connection's mail (trusted clients skip it). */
static bool spf_wanted(const struct policy_conn *c)
{
    return c->batch != NULL && c->env->spf != NULL && c->client_ip[0] != '\0';
}

/*
 * The SPF records of the HELO name and of the MAIL FROM domain are asked for at MAIL FROM, both in
 * one DNS round, on a batch of the message's own; the evaluations at RCPT ask through the same
 * batch (spf_check), so they wait for these queries instead of sending them again, and a name
 * that failed (a server that never answers, or answers garbage) is the failure of every later
 * asking in this message: one query's bound (dns_timeout x dns_tries) for the message, not one per
 * identity and per asking.  The batch is within the connection's, so a name the connection asked
 * already (the client's PTR for a ptr mechanism, the HELO's address for a:%{h}) is not asked again
 * either when it failed: those failures are the connection's, as its iprev and DNSBL results are.
 * The next message starts a new batch, so a failure of a message's own names is never kept beyond
 * it.  Names from the network go no further than a query.
 */
static void spf_prefetch(struct policy_conn *c)
{
    const char *at = strrchr(c->sender, '@');

    if (!spf_wanted(c) || c->account[0] != '\0')
        return;
    c->spf_batch = dns_batch_new_within(c->batch);
    /* The null sender is checked as postmaster@HELO (RFC 7208 2.4): the HELO's record again. */
    if (c->env->cfg->spf_helo_action != SPF_HELO_OFF || c->sender[0] == '\0')
        dns_batch_prefetch(c->spf_batch, c->helo, DNS_TYPE_TXT);
    if (at != NULL && at[1] != '\0')
        dns_batch_prefetch(c->spf_batch, at + 1, DNS_TYPE_TXT);
}

void policy_helo(struct policy_conn *c, const char *helo)
{
    /* Bounded copy for the log; iprev validates the full string itself. */
    str_copy(c->helo, sizeof c->helo, helo ? helo : "");
    if (c->batch != NULL && !c->iprev_checked)
        iprev_helo(&c->iprev, helo);
}

/*
 * The queue id starts every log line and is written as it is, so it is kept to what MTAs use
 * (Postfix: hex or base-52 letters and digits; Sendmail: letters and digits): anything else
 * becomes '?' (found by tests/fuzz/fuzz_policy.c: a raw byte reached the log).
 */
void policy_set_queue_id(struct policy_conn *c, const char *queue_id)
{
    if (queue_id == NULL || queue_id[0] == '\0')
        return;
    size_t i = 0;
    for (; queue_id[i] != '\0' && i + 1 < sizeof c->queue_id; i++) {
        c->queue_id[i] = ascii_alnum(queue_id[i]) ? queue_id[i] : '?';
    }
    c->queue_id[i] = '\0';
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
    c->spf_done = false;
    dns_batch_free(c->spf_batch);
    c->spf_batch = NULL;
    memset(&c->spf_helo, 0, sizeof c->spf_helo);
    memset(&c->spf_mail, 0, sizeof c->spf_mail);
    c->header_from_count = 0;
    c->greylist_note[0] = '\0';
    if (c->acct_loaded)
        sender_account_free(&c->acct);
    c->acct_loaded = false;
    free(c->header_from);
    free(c->header_sender);
    c->header_from = c->header_sender = NULL;
    c->sender_header_count = 0;
    c->subject[0] = c->hold_reason[0] = '\0';
    c->hold_marks_account = false;
    c->size = 0;
    dkim_check_free(c->dkim);
    c->dkim = NULL;
    dmarc_message_free(c->dmarc);
    c->dmarc = NULL;
    c->dmarc_header_seen = 0;
    c->rcpt_checked = c->rcpt_allowed = 0;
    c->allow_note[0] = '\0';
    forget_recipients(c);
}

/*
 * Submission, at MAIL FROM: the envelope sender must be owned by the logged-in
 * account; the null sender is refused, since an account's own mail always has a return path.
 */
static struct verdict submission_mail(struct policy_conn *c, const char *sender)
{
    struct addr a;
    bool null_path = false;
    char why[256], shown[POLICY_ADDR_MAX * 4], account[POLICY_ACCOUNT_MAX * 4];
    const char *raw = sender ? sender : "";

    enum store_status st = sender_account_load(c->env->store, c->account, &c->acct);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        /* Not loaded: end of message must not judge the headers on a partial alias list. */
        sender_account_free(&c->acct);
        if (c->env->cfg->fail_open)
            return verdict_continue();
        return verdict_make(VERDICT_TEMPFAIL, REPLY_STORE_FAILURE, "sender", NULL,
                            "the account's aliases could not be read");
    }
    c->acct_loaded = true;
    enum addr_status as =
        addr_parse_path(raw, strnlen(raw, ADDR_INPUT_MAX), &a, &null_path, why, sizeof why);
    if (as != ADDR_OK || null_path) {
        struct verdict_args args = {.address = null_path ? "" : c->sender};
        return verdict_make(VERDICT_REJECT, REPLY_SENDER_MISMATCH, "sender", &args,
                            "MAIL FROM <%s> of account %s: %s",
                            str_escape_word(shown, sizeof shown, c->sender),
                            str_escape_word(account, sizeof account, c->account),
                            null_path ? "the null sender is not allowed after login" : why);
    }
    return sender_check_addresses(c->env->cfg, &c->acct, &a, 1, "mail_from");
}

/* A suspended account (ingressctl account suspend) gets account_suspended at MAIL FROM. */
static struct verdict suspension_check(struct policy_conn *c)
{
    int64_t since;
    char reason[VERDICT_DETAIL_MAX / 2], shown[POLICY_ACCOUNT_MAX * 4], why[sizeof reason * 4],
        when[32];

    if (c->env->store == NULL)
        return verdict_continue();
    enum store_status st =
        store_account_suspended(c->env->store, c->account, &since, reason, sizeof reason, NULL);
    if (st == STORE_NOTFOUND)
        return verdict_continue();
    if (st != STORE_OK) {
        if (c->env->cfg->fail_open)
            return verdict_continue();
        return verdict_make(VERDICT_TEMPFAIL, REPLY_STORE_FAILURE, "account", NULL,
                            "whether the account is suspended could not be read");
    }
    return verdict_make(
        VERDICT_REJECT, REPLY_ACCOUNT_SUSPENDED, "account", NULL,
        "account %s suspended since %s: %s", str_escape(shown, sizeof shown, c->account),
        time_format_utc(when, sizeof when, since), str_escape(why, sizeof why, reason));
}

struct verdict policy_mail(struct policy_conn *c, const char *sender, const char *auth_account)
{
    reset_message(c);
    if (!copy_path(c->sender, sizeof c->sender, sender))
        return path_refused(c->sender, sizeof c->sender, REPLY_BAD_SENDER_ADDRESS, "MAIL FROM",
                            sender);
    str_copy(c->account, sizeof c->account, auth_account ? auth_account : "");
    /* Inbound mail only: a submission's signature is added after us, if at all. */
    if (c->env->dkim != NULL && !c->trusted && c->account[0] == '\0')
        c->dkim = dkim_check_new(c->env->dkim, c->queue_id);
    spf_prefetch(c);
    if (c->account[0] == '\0')
        return verdict_continue();
    struct verdict v = suspension_check(c);
    if (v.action != VERDICT_CONTINUE || c->env->cfg->sender_check == SENDER_CHECK_OFF)
        return v;
    return submission_mail(c, sender);
}

static void remember_recipient(struct policy_conn *c, bool greylist_pending)
{
    c->accepted_total++;
    if (c->naccepted >= POLICY_RCPT_KEEP)
        return;
    c->accepted = xrealloc(c->accepted, (c->naccepted + 1) * sizeof *c->accepted);
    c->accepted[c->naccepted].rcpt = xstrdup(c->rcpt);
    c->accepted[c->naccepted++].greylist_pending = greylist_pending;
}

/* A recipient accepted after every check: DMARC's actions apply to the message. */
static void remember_checked(struct policy_conn *c, bool greylist_pending)
{
    remember_recipient(c, greylist_pending);
    c->rcpt_checked++;
}

/* SPF of both identities, once per message (RFC 7208 2.3 HELO, 2.4 MAIL FROM). */
static void spf_ensure(struct policy_conn *c)
{
    if (c->spf_done || c->env->spf == NULL || c->client_ip[0] == '\0')
        return;
    c->spf_done = true;
    if (c->env->cfg->spf_helo_action != SPF_HELO_OFF)
        spf_check(c->env->spf, c->spf_batch, c->client_ip, c->helo, c->sender, SPF_IDENTITY_HELO,
                  &c->spf_helo);
    spf_check(c->env->spf, c->spf_batch, c->client_ip, c->helo, c->sender, SPF_IDENTITY_MAILFROM,
              &c->spf_mail);
}

/* The domain SPF passed for MAIL FROM, or NULL. */
static const char *spf_pass_domain(const struct policy_conn *c)
{
    if (c->spf_mail.checked && c->spf_mail.result == SPF_PASS && c->spf_mail.domain[0] != '\0')
        return c->spf_mail.domain;
    return NULL;
}

/* The lists snapshot of this connection; NULL when the store never could give one. */
static struct lists *lists_get(struct policy_conn *c)
{
    if (!c->lists_loaded && c->env->lists != NULL) {
        char err[256];
        c->lists = lists_cache_get(c->env->lists, (int64_t)now(c), err, sizeof err);
        if (c->lists == NULL)
            log_msg(LOG_ERR, "%s: block and allow lists unavailable: %s", c->queue_id, err);
        c->lists_loaded = true;
    }
    return c->lists;
}

/* The client, HELO, SASL login, sender and recipient of a decision line, each a word. */
#define LOG_PARTY_MAX (256 + (POLICY_HELO_MAX + POLICY_ACCOUNT_MAX + 2 * POLICY_ADDR_MAX) * 4 + 64)

/*
 * Writes "ip=... helo=... [sasl_username=...] from=<...> [to=<...>]" for a decision line: the
 * names Postfix's own lines use, so that one grep by queue id reads both.  sasl_username= only for
 * an authenticated session, and to= only when the decision is about a recipient: a decision at
 * MAIL FROM has none, and "to=<>" would read as the null address.
 */
static void log_party(const struct policy_conn *c, const char *recipient, char *out, size_t outlen)
{
    char ip[256], helo[POLICY_HELO_MAX * 4], account[POLICY_ACCOUNT_MAX * 4],
        from[POLICY_ADDR_MAX * 4], to[POLICY_ADDR_MAX * 4];

    str_escape_word(ip, sizeof ip, c->client_ip[0] ? c->client_ip : "unknown");
    str_escape_word(helo, sizeof helo, c->helo);
    str_escape_word(from, sizeof from, c->sender);
    snprintf(out, outlen, "ip=%s helo=%s%s%s from=<%s>%s%s%s", ip, helo,
             c->account[0] ? " sasl_username=" : "",
             c->account[0] ? str_escape_word(account, sizeof account, c->account) : "", from,
             recipient ? " to=<" : "", recipient ? str_escape_word(to, sizeof to, recipient) : "",
             recipient ? ">" : "");
}

/* Lists, recipient rules and DNSBL for the current recipient (lists.h gives the order). */
static struct verdict lists_step(struct policy_conn *c, bool *skip_greylist)
{
    struct lists_hit hit, exempt;
    char matched[POLICY_ADDR_MAX];
    struct lists *l = lists_get(c);
    if (c->env->lists != NULL && l == NULL && !c->env->cfg->fail_open)
        return verdict_make(VERDICT_TEMPFAIL, REPLY_STORE_FAILURE, "lists", NULL,
                            "block and allow lists could not be read");
    struct lists_subject subject = {
        .ip = c->client_ip,
        .ptr_name = c->iprev.result == IPREV_PASS ? c->iprev.name : NULL,
        .helo = c->helo,
        .sender = c->sender,
        .rcpt = c->rcpt,
    };
    matched[0] = '\0';
    if (c->dnsbl != NULL) {
        char party[LOG_PARTY_MAX];
        log_party(c, c->rcpt, party, sizeof party);
        dnsbl_finish(c->dnsbl, c->queue_id, party);
    }
    struct lists_rcpt in = {
        .ip = c->client_ip,
        .match = l ? lists_check(l, &subject, &hit) : LISTS_NONE,
        .hit = &hit,
        .rule =
            c->env->lists ? rules_check(l, c->rcpt, c->sender, matched, sizeof matched) : RULE_NONE,
        .rule_sender = matched,
        .dnsbl = c->dnsbl,
        .exempt = lists_check_exempt(l, &subject, &exempt) ? &exempt : NULL,
    };
    if (in.match == LISTS_NONE)
        in.hit = NULL;
    return lists_verdict(c->env->cfg, &in, skip_greylist);
}

/* Greylisting at RCPT for mail whose MAIL FROM did not pass SPF (ARCHITECTURE.md
 * "Greylisting"). */
static struct verdict greylist_step(struct policy_conn *c)
{
    struct greylist_key key;
    struct greylist_result result;
    greylist_key_make(&key, c->client_ip, c->sender, c->rcpt, c->env->cfg->greylist_ipv4_prefix,
                      c->env->cfg->greylist_ipv6_prefix);
    greylist_check(c->env->store, c->env->cfg, &key, NULL, (int64_t)now(c), &result);
    return greylist_verdict(&result, &key, c->env->cfg);
}

struct verdict policy_rcpt(struct policy_conn *c, const char *recipient)
{
    const struct config *cfg = c->env->cfg;
    bool skip_greylist = false;

    c->in_rcpt = true;
    if (!copy_path(c->rcpt, sizeof c->rcpt, recipient))
        return path_refused(c->rcpt, sizeof c->rcpt, REPLY_BAD_RECIPIENT_ADDRESS, "RCPT TO",
                            recipient);
    if (c->trusted || c->account[0] != '\0' || config_recipient_exempt(cfg, c->rcpt)) {
        remember_recipient(c, false);
        return verdict_continue();
    }
    /* iprev first: lists match the forward-confirmed PTR name, which it provides. */
    if (!c->iprev_checked) {
        c->iprev_verdict = iprev_verdict(&c->iprev, cfg);
        c->iprev_checked = true;
    }
    struct verdict v = lists_step(c, &skip_greylist);
    if (v.action == VERDICT_ACCEPT) {
        /* An allow entry: this recipient skips every further check (allowlist > REJECT), and
         * the message is not refused for DMARC (a known forwarder's mail fails it). */
        remember_recipient(c, false);
        c->rcpt_allowed++;
        str_copy(c->allow_note, sizeof c->allow_note, v.detail);
        return verdict_continue();
    }
    if (v.action != VERDICT_CONTINUE)
        return v;
    v = verdict_combine(&v, &c->iprev_verdict);
    spf_ensure(c);
    struct verdict spf = spf_verdict(&c->spf_helo, &c->spf_mail, cfg, c->client_ip);
    v = verdict_combine(&v, &spf);
    if (v.action != VERDICT_CONTINUE)
        return v;
    if (skip_greylist || !cfg->greylist) {
        remember_checked(c, false);
        return v;
    }
    /* SPF-pass mail may still bypass greylisting with an aligned DKIM signature, known only at
     * end of message: decide there.  Everything else is decided now, before DATA is sent. */
    if (spf_pass_domain(c) != NULL) {
        remember_checked(c, true);
        return v;
    }
    v = greylist_step(c);
    if (v.action == VERDICT_CONTINUE) {
        remember_checked(c, false);
        str_copy(c->greylist_note, sizeof c->greylist_note, v.detail);
    }
    return v;
}

bool policy_header(struct policy_conn *c, const char *name, const char *value, int *index)
{
    if (name == NULL || value == NULL)
        return false;
    c->size += (int64_t)strlen(name) + 2 + (int64_t)strlen(value) + 2; /* "name: value\r\n" */
    if (c->dkim != NULL)
        dkim_check_header(c->dkim, name, value);
    if (c->subject[0] == '\0' && str_casecmp(name, "Subject") == 0)
        str_copy(c->subject, sizeof c->subject, value + strspn(value, " \t"));
    /* One byte over the parser's bound is kept, so that a longer header is refused as too long
     * rather than judged on its first ADDR_INPUT_MAX bytes. */
    if (str_casecmp(name, "From") == 0) {
        c->header_from_count++;
        if (c->header_from == NULL)
            c->header_from = xstrndup(value, ADDR_INPUT_MAX + 1);
        if (dmarc_wanted(c)) {
            if (c->dmarc == NULL)
                c->dmarc = dmarc_message_new(c->batch, c->env->orgdomain);
            dmarc_message_from(c->dmarc, value, strnlen(value, ADDR_INPUT_MAX + 1));
        }
    } else if (str_casecmp(name, DMARC_HEADER_NAME) == 0 && dmarc_wanted(c)) {
        /* Only we may say that a message failed DMARC here: a copy from the sender goes. */
        *index = ++c->dmarc_header_seen;
        return true;
    } else if (str_casecmp(name, "Sender") == 0) {
        c->sender_header_count++;
        if (c->header_sender == NULL)
            c->header_sender = xstrndup(value, ADDR_INPUT_MAX + 1);
    }
    if (str_casecmp(name, "Authentication-Results") != 0)
        return false;
    c->authres_seen++;
    if (!authres_claims_id(value, c->env->authserv_id))
        return false;
    *index = c->authres_seen;
    return true;
}

void policy_eoh(struct policy_conn *c)
{
    c->size += 2; /* the empty line */
    if (c->dkim != NULL)
        dkim_check_eoh(c->dkim);
}

bool policy_body(struct policy_conn *c, const unsigned char *data, size_t len)
{
    c->size += (int64_t)len;
    if (c->dkim == NULL || !dkim_check_has_signatures(c->dkim))
        return false;
    dkim_check_body(c->dkim, data, len);
    return true;
}

/* The evidence of the message's checks, for the accept decision. */
/* Appends "; part" to a detail, bounded. */
static void detail_append(char *out, size_t outlen, const char *part)
{
    size_t len = strlen(out);
    if (part[0] != '\0' && len + 2 < outlen) {
        str_copy(out + len, outlen - len, "; ");
        str_copy(out + len + 2, outlen - len - 2, part);
    }
}

static void accept_detail(struct policy_conn *c, char *out, size_t outlen)
{
    char part[VERDICT_DETAIL_MAX];

    if (c->trusted)
        snprintf(out, outlen, "client in trusted_networks");
    else if (c->account[0] != '\0')
        snprintf(out, outlen, "authenticated session");
    else if (c->iprev_checked)
        snprintf(out, outlen, "%s", c->iprev_verdict.detail);
    else
        snprintf(out, outlen, "iprev=%s: %s (exempt recipients only)",
                 iprev_result_name(c->iprev.result), c->iprev.detail);
    if (c->spf_done) {
        snprintf(part, sizeof part, "spf=%s helo-spf=%s", spf_result_name(c->spf_mail.result),
                 spf_result_name(c->spf_helo.result));
        detail_append(out, outlen, part);
    }
    detail_append(out, outlen, c->greylist_note);
    if (c->dmarc != NULL && c->dmarc->evaluated)
        detail_append(out, outlen, c->dmarc->detail);
    if (c->dkim != NULL) {
        dkim_check_detail(c->dkim, part, sizeof part);
        detail_append(out, outlen, part);
    }
}

void policy_findings(struct policy_conn *c,
                     void (*fn)(const char *check, const char *found, void *arg), void *arg)
{
    char part[VERDICT_DETAIL_MAX + 64];

    if (c->trusted) {
        fn("trusted", "the client is in trusted_networks: no check runs", arg);
        return;
    }
    if (c->account[0] != '\0') {
        fn("account", "an authenticated session: the submission checks run, not the inbound ones",
           arg);
        return;
    }
    if (c->iprev_checked) {
        fn("iprev", c->iprev_verdict.detail, arg);
    } else if (c->batch != NULL) {
        iprev_finish(&c->iprev);
        snprintf(part, sizeof part, "iprev=%s: %s", iprev_result_name(c->iprev.result),
                 c->iprev.detail);
        fn("iprev", part, arg);
    }
    if (c->dnsbl != NULL) {
        dnsbl_authres(c->dnsbl, part, sizeof part);
        if (part[0] != '\0')
            fn("dnsbl", part, arg);
    }
    if (c->spf_helo.checked) {
        snprintf(part, sizeof part, "HELO %s: %s", spf_result_name(c->spf_helo.result),
                 c->spf_helo.detail);
        fn("spf", part, arg);
    }
    if (c->spf_mail.checked) {
        snprintf(part, sizeof part, "MAIL FROM %s: %s", spf_result_name(c->spf_mail.result),
                 c->spf_mail.detail);
        fn("spf", part, arg);
    }
    if (c->greylist_note[0] != '\0')
        fn("greylist", c->greylist_note, arg);
    if (c->dkim != NULL) {
        dkim_check_detail(c->dkim, part, sizeof part);
        fn("dkim", part, arg);
    }
    if (c->dmarc != NULL && c->dmarc->evaluated)
        fn("dmarc", c->dmarc->detail, arg);
}

/*
 * The address of the message's header From for its decisions (struct decision's header_from): its
 * one mailbox in lower case, or NULL before the headers, for several From headers, a group or
 * several mailboxes, or a value the parser refuses.  The support desk is given the author's address
 * (`ingressctl why ADDRESS` looks it up in the column's index).
 */
static const char *author_address(const struct policy_conn *c, char *out, size_t outlen)
{
    struct addr_list list = {0};
    const char *found = NULL;

    if (c->header_from_count != 1 || c->header_from == NULL)
        return NULL;
    if (addr_parse_list(c->header_from, strlen(c->header_from), &list, NULL, 0) == ADDR_OK &&
        list.count == 1 && list.items[0].local[0] != '\0') {
        found = addr_format(&list.items[0], out, outlen);
        for (char *p = out; found != NULL && *p != '\0'; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    addr_list_free(&list);
    return found;
}

/* Records one decision row; why a failure happened goes to err ("no database" without one). */
static enum store_status record_row(struct policy_conn *c, const char *recipient, const char *check,
                                    const char *action, const char *reply, const char *detail,
                                    struct store_error *err)
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
        .host = c->env->host_name,
    };
    char author[ADDR_TEXT_MAX + 1];
    enum store_status status = STORE_ERROR;

    d.header_from = author_address(c, author, sizeof author);

    metrics_decision(check, action);
    if (c->env->store == NULL)
        str_copy(err->text, sizeof err->text, "no database");
    else
        status = store_decision_add(c->env->store, &d, err);
    if (status != STORE_OK)
        metrics_decision_refused();
    return status;
}

/*
 * The RFC 5322.From domain the checks act on: the one mailbox of the one From header, read by
 * lib/addr.c like the submission check reads it; false when there is none (no From header or
 * several, an empty group, several addresses, or a value the parser refuses).
 */
static bool header_from_domain(const struct policy_conn *c, char *out, size_t outlen)
{
    if (c->header_from_count != 1 || c->header_from == NULL)
        return false;
    return addr_from_domain(c->header_from, strlen(c->header_from), out, outlen, NULL, 0) ==
           ADDR_OK;
}

/* A draw from 0 to 99 for a record's pct= (RFC 7489 6.6.4). */
static unsigned dmarc_sample(void)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = (uint32_t)clock();
    return r % 100;
}

/*
 * DMARC for an inbound message (lib/dmarc.c), CONTINUE when it is not evaluated.  A message
 * whose recipients all skipped the checks is not acted on: an allow entry (a known forwarder,
 * whose mail fails DMARC by its nature) or the exempt recipients (postmaster@ must get mail).
 */
static struct verdict dmarc_step(struct policy_conn *c)
{
    char why[VERDICT_DETAIL_MAX + 64];
    struct dmarc_exemption exempt = {NULL, DMARC_OVERRIDE_NONE};

    if (!dmarc_wanted(c))
        return verdict_continue();
    if (c->dmarc == NULL)
        c->dmarc = dmarc_message_new(c->batch, c->env->orgdomain);
    struct dmarc_inputs in = {.source_ip = c->client_ip,
                              .envelope_from = c->sender,
                              .spf = c->spf_done ? &c->spf_mail : NULL,
                              .dkim = c->dkim};
    dmarc_message_evaluate(c->dmarc, &in, dmarc_sample());
    if (c->rcpt_checked == 0 && c->rcpt_allowed > 0) {
        snprintf(why, sizeof why, "the client is on the allow list (%s)", c->allow_note);
        exempt = (struct dmarc_exemption){why, DMARC_OVERRIDE_TRUSTED_FORWARDER};
    } else if (c->rcpt_checked == 0) {
        exempt = (struct dmarc_exemption){"only exempt recipients", DMARC_OVERRIDE_LOCAL_POLICY};
    }
    struct verdict v = dmarc_message_verdict(c->dmarc, c->env->cfg, &exempt, c->hold_reason,
                                             sizeof c->hold_reason);
    /* The author's header as the sender wrote it, bounded like every value of a detail (`ingressctl
     * why ADDRESS` finds the decision by the address, in its own column: record_row). */
    if (v.action != VERDICT_CONTINUE && c->header_from != NULL) {
        char shown[256];
        size_t len = strlen(v.detail);
        snprintf(v.detail + len, sizeof v.detail - len, "; header From: %s",
                 str_escape(shown, sizeof shown, c->header_from));
    }
    return v;
}

/*
 * The message's DMARC aggregate report data (lib/dmarc_report.h), once its fate is decided (not
 * for a deferral: the retry counts).  A failure is logged; it is never the message's.
 */
static void count_dmarc_report(struct policy_conn *c)
{
    struct store_error why;

    if (c->dmarc == NULL || !c->dmarc->evaluated || c->env->store == NULL)
        return;
    if (dmarc_report_note(c->env->store, c->dmarc, (int64_t)now(c), &why) != STORE_OK)
        log_msg(LOG_WARNING, "%s: DMARC report data not counted: %s", c->queue_id, why.text);
}

bool policy_dmarc_header(const struct policy_conn *c, char *value, size_t len)
{
    return dmarc_message_header(c->dmarc, value, len);
}

/*
 * The greylist decision deferred to end of message for SPF-pass mail: a valid
 * DKIM signature aligned with the MAIL FROM or header From domain confirms the triplets at once;
 * otherwise each pending recipient's triplet is checked, and one greylisted recipient defers the
 * whole message (the reply can only be one).
 */
static struct verdict greylist_deferred(struct policy_conn *c)
{
    const struct config *cfg = c->env->cfg;
    const struct orgdomain *od = c->env->orgdomain;
    const char *spf_domain = spf_pass_domain(c);
    char from_domain[ADDR_DOMAIN_MAX + 1];
    bool bypass;
    if (cfg->dmarc_greylist_bypass)
        bypass = spf_domain != NULL && dmarc_message_pass(c->dmarc);
    else
        bypass = c->dkim != NULL && spf_domain != NULL &&
                 (dkim_check_has_valid(c->dkim, od, spf_domain) ||
                  (header_from_domain(c, from_domain, sizeof from_domain) &&
                   dkim_check_has_valid(c->dkim, od, from_domain)));
    struct verdict v = verdict_continue();

    for (size_t i = 0; i < c->naccepted; i++) {
        struct greylist_key key;
        struct greylist_result result;
        if (!c->accepted[i].greylist_pending)
            continue;
        greylist_key_make(&key, c->client_ip, c->sender, c->accepted[i].rcpt,
                          cfg->greylist_ipv4_prefix, cfg->greylist_ipv6_prefix);
        if (bypass)
            greylist_confirm(c->env->store, cfg, &key, spf_domain, (int64_t)now(c), &result);
        else
            greylist_check(c->env->store, cfg, &key, spf_domain, (int64_t)now(c), &result);
        struct verdict one = greylist_verdict(&result, &key, cfg);
        if (bypass && one.action == VERDICT_CONTINUE)
            snprintf(one.detail, sizeof one.detail, "greylist bypass: SPF pass for %s and %s",
                     spf_domain,
                     cfg->dmarc_greylist_bypass ? "DMARC pass" : "an aligned DKIM signature");
        if (one.action == VERDICT_CONTINUE)
            str_copy(c->greylist_note, sizeof c->greylist_note, one.detail);
        v = verdict_combine(&v, &one);
    }
    return v;
}

/* Checks one header's addresses (From or Sender) against the account. */
static struct verdict submission_header(struct policy_conn *c, const char *value, const char *where,
                                        bool single)
{
    struct addr_list list = {0};
    char why[256];
    enum addr_status st = addr_parse_list(value, strlen(value), &list, why, sizeof why);
    struct verdict v;
    if (st != ADDR_OK || list.count == 0 || (single && list.count != 1))
        v = verdict_make(VERDICT_REJECT, REPLY_BAD_FROM, "sender", NULL, "%s: %s", where,
                         st != ADDR_OK ? why : "no single address");
    else
        v = sender_check_addresses(c->env->cfg, &c->acct, list.items, list.count, where);
    addr_list_free(&list);
    return v;
}

/*
 * Submission, at end of message: exactly one From header (RFC 5322 3.6), every
 * address of it owned by the account, and the Sender, when present, a single owned mailbox.
 */
static struct verdict submission_eom(struct policy_conn *c)
{
    if (c->header_from_count != 1)
        return verdict_make(VERDICT_REJECT, REPLY_BAD_FROM, "sender", NULL,
                            "%d From headers in a message of the account", c->header_from_count);
    struct verdict v = submission_header(c, c->header_from, "header_from", false);
    if (v.action != VERDICT_CONTINUE || c->header_sender == NULL)
        return v;
    if (c->sender_header_count != 1)
        return verdict_make(VERDICT_REJECT, REPLY_BAD_FROM, "sender", NULL, "%d Sender headers",
                            c->sender_header_count);
    return submission_header(c, c->header_sender, "header_sender", true);
}

/* The recipients a message counts for in the throttle (bounded: a count, not a loop). */
static unsigned throttle_rcpts(const struct policy_conn *c)
{
    return c->accepted_total > 100000 ? 100000u : (unsigned)c->accepted_total;
}

/*
 * Submission, at end of message: the account's rates with this message counted
 * (lib/throttle.c).  Normal: counted, CONTINUE.  Abnormal, or the account already throttled:
 * throttle_action says HOLD (counted once held), TEMPFAIL or REJECT (not counted).
 */
static struct verdict throttle_step(struct policy_conn *c)
{
    const struct config *cfg = c->env->cfg;
    struct throttle_decision d;
    char shown[POLICY_ACCOUNT_MAX * 4];
    unsigned nrcpt = throttle_rcpts(c);

    enum store_status st =
        throttle_check(c->env->throttle, cfg, c->env->store, c->account, nrcpt, now(c), &d);
    str_escape(shown, sizeof shown, c->account);
    if (st != STORE_OK) {
        if (!cfg->fail_open)
            return verdict_make(VERDICT_TEMPFAIL, REPLY_STORE_FAILURE, "throttle", NULL,
                                "the throttle state of account %s could not be read", shown);
        d.abnormal = false;
    }
    if (!d.abnormal) {
        throttle_add(c->env->throttle, c->account, nrcpt, now(c));
        return verdict_continue();
    }
    const char *why = d.already_throttled ? "account throttled until the postmaster acts" : "";
    switch (cfg->throttle_action) {
    case THROTTLE_ACTION_TEMPFAIL:
        return verdict_make(VERDICT_TEMPFAIL, REPLY_THROTTLED, "throttle", NULL,
                            "account %s: %s%s%s", shown, why, why[0] ? ": " : "", d.reason);
    case THROTTLE_ACTION_REJECT:
        return verdict_make(VERDICT_REJECT, REPLY_THROTTLE_REJECT, "throttle", NULL,
                            "account %s: %s%s%s", shown, why, why[0] ? ": " : "", d.reason);
    case THROTTLE_ACTION_HOLD:
        break;
    }
    c->hold_marks_account = !d.already_throttled;
    snprintf(c->hold_reason, sizeof c->hold_reason, "%s%s%s", why, why[0] ? ": " : "", d.reason);
    return verdict_make(VERDICT_HOLD, REPLY_NONE, "throttle", NULL, "account %s: %s", shown,
                        c->hold_reason);
}

struct verdict policy_eom(struct policy_conn *c, char *authres, size_t authres_len)
{
    char detail[VERDICT_DETAIL_MAX], e_detail[VERDICT_DETAIL_MAX * 4], party[LOG_PARTY_MAX];
    bool stored = true;
    struct store_error why;

    c->in_rcpt = false;
    bool inbound = c->batch != NULL && c->account[0] == '\0';
    if (inbound) {
        iprev_finish(&c->iprev);
        spf_ensure(c);
    }
    if (c->dkim != NULL)
        dkim_check_eom(c->dkim);
    /* A DMARC rejection first (no triplet to write for mail refused anyway); a deferral for DNS
     * comes after greylisting's, whose reason is kept (the first reason for a deferral). */
    struct verdict dmarc = dmarc_step(c);
    if (dmarc.action == VERDICT_REJECT) {
        count_dmarc_report(c);
        return dmarc;
    }
    struct verdict grey = greylist_deferred(c);
    if (grey.action != VERDICT_CONTINUE)
        return grey;
    if (dmarc.action == VERDICT_TEMPFAIL)
        return dmarc;
    count_dmarc_report(c);
    if (c->acct_loaded) {
        struct verdict own = submission_eom(c);
        if (own.action != VERDICT_CONTINUE)
            return own;
    }
    struct verdict held = dmarc.action == VERDICT_HOLD ? dmarc : verdict_continue();
    if (c->account[0] != '\0' && c->env->throttle != NULL && c->env->cfg->throttle) {
        held = throttle_step(c);
        if (held.action != VERDICT_CONTINUE && held.action != VERDICT_HOLD)
            return held;
    }
    authres_build(c->env->authserv_id, inbound ? &c->iprev : NULL, authres, authres_len);
    if (inbound && c->spf_done) {
        char part[512];
        spf_authres(&c->spf_mail, part, sizeof part);
        authres_append(authres, authres_len, part);
        if (c->spf_helo.checked) {
            spf_authres(&c->spf_helo, part, sizeof part);
            authres_append(authres, authres_len, part);
        }
    }
    if (c->dkim != NULL) {
        char part[1024];
        if (dkim_check_authres(c->dkim, part, sizeof part))
            authres_append(authres, authres_len, part);
    }
    if (c->dmarc != NULL && c->dmarc->evaluated) {
        char part[1024];
        dmarc_message_authres(c->dmarc, part, sizeof part);
        authres_append(authres, authres_len, part);
    }
    if (c->dnsbl != NULL) {
        char part[512];
        dnsbl_authres(c->dnsbl, part, sizeof part);
        authres_append(authres, authres_len, part);
    }
    /* A held message is recorded by policy_hold_commit(), once the MTA has taken it. */
    if (held.action == VERDICT_HOLD)
        return held;
    accept_detail(c, detail, sizeof detail);
    for (size_t i = 0; i < c->naccepted; i++)
        if (record_row(c, c->accepted[i].rcpt, "policy", "accept", NULL, detail, &why) != STORE_OK)
            stored = false;
    log_party(c, c->naccepted > 0 ? c->accepted[0].rcpt : NULL, party, sizeof party);
    log_msg(LOG_INFO, "%s: check=policy action=accept %s nrcpt=%zu ref=%s detail=\"%s\"",
            c->queue_id, party, c->accepted_total, c->ref,
            str_escape_quoted(e_detail, sizeof e_detail, detail));
    if (stored)
        return verdict_continue();
    log_msg(LOG_ERR, "%s: cannot record the decision: %s", c->queue_id, why.text);
    if (c->env->cfg->fail_open)
        return verdict_continue();
    return verdict_make(VERDICT_TEMPFAIL, REPLY_STORE_FAILURE, "store", NULL,
                        "decision log write failed: %s", why.text);
}

struct verdict policy_hold_commit(struct policy_conn *c)
{
    size_t len = 1;
    for (size_t i = 0; i < c->naccepted; i++)
        len += strlen(c->accepted[i].rcpt) + 1;
    char *recipients = xmalloc(len), *o = recipients;
    for (size_t i = 0; i < c->naccepted; i++) {
        size_t n = strlen(c->accepted[i].rcpt);
        memcpy(o, c->accepted[i].rcpt, n);
        o += n;
        *o++ = '\n';
    }
    if (o > recipients)
        o--; /* no newline after the last one */
    *o = '\0';
    struct store_held h = {
        .queue_id = c->queue_id,
        .held_at = (int64_t)now(c),
        .account = c->account,
        .sender = c->sender,
        .recipients = recipients,
        .nrcpt = (int64_t)c->accepted_total,
        .subject = c->subject,
        .size = c->size,
        .reason = c->hold_reason,
        .host = c->env->host_name,
    };
    struct store_error why = {.text = "no database"};
    enum store_status st = c->env->store ? store_held_add(c->env->store, &h, &why) : STORE_ERROR;
    free(recipients);
    /* Its following messages are held too, until `ingressctl account unthrottle`. */
    if (st == STORE_OK && c->hold_marks_account)
        st = store_throttle_mark(c->env->store, c->account, h.held_at, c->hold_reason, NULL, &why);
    if (st == STORE_OK) {
        /* An inbound message held for DMARC has no account to count it for. */
        if (c->env->throttle != NULL && c->account[0] != '\0')
            throttle_add(c->env->throttle, c->account, throttle_rcpts(c), now(c));
        return verdict_continue();
    }
    log_msg(LOG_ERR, "%s: cannot record the held message: %s", c->queue_id, why.text);
    /* Not even fail_open accepts it: held mail nobody can find is mail lost for the sender. */
    return verdict_make(VERDICT_TEMPFAIL, REPLY_STORE_FAILURE, "store", NULL,
                        "held table write failed: %s", why.text);
}

void policy_abort(struct policy_conn *c)
{
    reset_message(c);
}

void policy_record(struct policy_conn *c, const struct verdict *v, const char *reply)
{
    char party[LOG_PARTY_MAX], e_reply[1024], e_detail[VERDICT_DETAIL_MAX * 4];
    /* At RCPT the decision is about that recipient; at end of message about all accepted ones;
     * at MAIL FROM about none. */
    const char *recipient = c->in_rcpt ? c->rcpt : c->naccepted > 0 ? c->accepted[0].rcpt : NULL;

    log_party(c, recipient, party, sizeof party);
    log_msg(LOG_INFO, "%s: check=%s action=%s %s ref=%s reply=\"%s\" detail=\"%s\"", c->queue_id,
            v->check, verdict_action_name(v->action), party, c->ref,
            str_escape(e_reply, sizeof e_reply, reply ? reply : ""),
            str_escape_quoted(e_detail, sizeof e_detail, v->detail));
    bool stored = true;
    struct store_error why;
    if (c->in_rcpt || c->naccepted == 0)
        stored = record_row(c, recipient, v->check, verdict_action_name(v->action), reply,
                            v->detail, &why) == STORE_OK;
    for (size_t i = 0; !c->in_rcpt && i < c->naccepted; i++)
        if (record_row(c, c->accepted[i].rcpt, v->check, verdict_action_name(v->action), reply,
                       v->detail, &why) != STORE_OK)
            stored = false;
    if (!stored)
        log_msg(LOG_ERR, "%s: cannot record the decision: %s", c->queue_id, why.text);
}
