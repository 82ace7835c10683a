/*
 * ingress-console: accounts (show, rate, suspend, resume, limits, unthrottle), the recipients'
 * own rules, the dry-run check, and the webmail integration's key.  Each change goes through the
 * function the ingressctl verb calls (ctl_account_change, ctl_rule_valid, ctl_check_json), so the
 * console can do nothing the command line does not.
 *
 * Who may do what here: postmaster everything; support reads, unthrottles ("I'm being throttled"
 * is a help-desk case, and the held mail stays held for a postmaster to judge), adds accept rules
 * (allows a sender for a user) and deletes rules, never suspends, resumes or changes limits, never
 * adds a reject rule; a webmail key reads, adds and deletes the rules of the mailbox each call
 * names (within its domains, when its users file line lists some), and nothing else.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "console.h"
#include "ctl_json.h"
#include "lists.h"
#include "store.h"
#include "throttle.h"
#include "util.h"

/* ---- the webmail key ---- */

/* Forgets every verified key when the users file changed (a key deleted or replaced). */
static void keys_refresh(struct console *c)
{
    struct stat st;
    if (stat(c->ctl.cfg->console_users_file, &st) != 0)
        memset(&st, 0, sizeof st);
    if (st.st_mtim.tv_sec == c->keys_mtime.tv_sec && st.st_mtim.tv_nsec == c->keys_mtime.tv_nsec &&
        st.st_ino == c->keys_ino && st.st_size == c->keys_size)
        return;
    memset(c->keys, 0, sizeof c->keys);
    c->keys_mtime = st.st_mtim;
    c->keys_ino = st.st_ino;
    c->keys_size = st.st_size;
}

int console_key_check(struct console_call *call, const char *credentials, char *why, size_t whylen)
{
    static const unsigned char zero[32];
    struct console *c = call->c;
    unsigned char digest[32];
    char name[CONSOLE_USER_MAX];
    enum console_role role;
    const char *colon = strchr(credentials, ':');

    if (colon == NULL || (size_t)(colon - credentials) >= sizeof name ||
        strlen(colon + 1) > CONSOLE_PASSWORD_MAX)
        return 0;
    memcpy(name, credentials, (size_t)(colon - credentials));
    name[colon - credentials] = '\0';
    if (!console_user_name_valid(name) ||
        EVP_Digest(credentials, strlen(credentials), digest, NULL, EVP_sha256(), NULL) != 1)
        return 0;
    keys_refresh(c);
    struct console_key *hit = NULL;
    for (size_t i = 0; i < CONSOLE_KEYS_CACHED && hit == NULL; i++)
        if (CRYPTO_memcmp(c->keys[i].digest, zero, sizeof zero) != 0 &&
            CRYPTO_memcmp(c->keys[i].digest, digest, sizeof digest) == 0 &&
            strcmp(c->keys[i].user, name) == 0)
            hit = &c->keys[i];
    if (hit == NULL) {
        char domains[CONSOLE_DOMAINS_MAX];
        int ok = console_users_check_domains(c->ctl.cfg->console_users_file, name, colon + 1, &role,
                                             domains, why, whylen);
        /* A password of a person is never a key: it would skip the CSRF check. */
        if (ok <= 0 || role != CONSOLE_ROLE_WEBMAIL)
            return ok < 0 ? -1 : 0;
        hit = &c->keys[c->keys_next++ % CONSOLE_KEYS_CACHED];
        memcpy(hit->digest, digest, sizeof digest);
        str_copy(hit->user, sizeof hit->user, name);
        str_copy(hit->domains, sizeof hit->domains, domains);
    }
    memset(&call->key_session, 0, sizeof call->key_session);
    str_copy(call->key_session.user, sizeof call->key_session.user, hit->user);
    call->key_session.role = CONSOLE_ROLE_WEBMAIL;
    str_copy(call->key_domains, sizeof call->key_domains, hit->domains);
    call->session = &call->key_session;
    return 1;
}

/* ---- accounts ---- */

enum MHD_Result console_api_accounts(struct console_call *call, const char *rest)
{
    (void)rest;
    json_t *doc;
    enum store_status st = ctl_account_json(&call->c->ctl, NULL, &doc);
    if (st != STORE_OK && st != STORE_NOTFOUND)
        return console_store_failed(call, "reading the accounts");
    return console_json(call->conn, MHD_HTTP_OK, doc, NULL);
}

/* The start of the UTC hour or day of t. */
static int64_t floor_to(int64_t t, int64_t width)
{
    return t - t % width;
}

struct rate_points {
    json_t *points;
    int64_t start, step;
};

static void rate_collect(const struct store_throttle_bucket *b, void *arg)
{
    struct rate_points *r = arg;
    if (b->start < r->start)
        return;
    json_t *p = json_array_get(r->points, (size_t)((b->start - r->start) / r->step));
    if (p == NULL)
        return;
    ctl_json_set_int(p, "messages", json_integer_value(json_object_get(p, "messages")) + b->msgs);
    ctl_json_set_int(p, "recipients",
                     json_integer_value(json_object_get(p, "recipients")) + b->rcpts);
}

/* {messages, recipients} of a window's values; a static limit of 0 (none) is null. */
static json_t *pair(double messages, double recipients, bool zero_is_none)
{
    json_t *o = ctl_json_object();
    if (zero_is_none && messages == 0)
        ctl_json_set(o, "messages", json_null());
    else
        json_object_set_new(o, "messages", json_real(messages));
    if (zero_is_none && recipients == 0)
        ctl_json_set(o, "recipients", json_null());
    else
        json_object_set_new(o, "recipients", json_real(recipients));
    return o;
}

/*
 * GET accounts/NAME/rate?span=day|week: the account's messages and recipients from the
 * throttle's hourly buckets (kept throttle_history and a day; they count what was accepted or
 * held, never what was refused), as 24 hourly points for a day or 7 daily points (UTC days) for a
 * week, beside the limit and baseline of the window of the same width (the throttle's hour or
 * day window).
 */
static enum MHD_Result account_rate(struct console_call *call, const char *account)
{
    const char *span = console_arg(call, "span");
    bool week = span != NULL && strcmp(span, "week") == 0;
    struct throttle_decision d;
    int64_t now = console_now();

    if (span != NULL && !week && strcmp(span, "day") != 0)
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST, "span: day or week");
    struct rate_points r = {ctl_json_array(), 0, week ? 86400 : 3600};
    int n = week ? 7 : 24;
    r.start = floor_to(now, r.step) - (n - 1) * r.step;
    for (int i = 0; i < n; i++) {
        json_t *p = ctl_json_object();
        ctl_json_set_int(p, "t", r.start + i * r.step);
        ctl_json_set_int(p, "messages", 0);
        ctl_json_set_int(p, "recipients", 0);
        ctl_json_append(r.points, p);
    }
    struct throttle *t = throttle_new();
    enum store_status st =
        throttle_check(t, call->c->ctl.cfg, call->c->ctl.store, account, 0, (time_t)now, &d);
    throttle_free(t);
    if (st == STORE_OK || st == STORE_NOTFOUND)
        st = store_throttle_bucket_each(call->c->ctl.store, account, 3600, r.start, now + 1,
                                        rate_collect, &r, &call->c->ctl.err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        json_decref(r.points);
        return console_store_failed(call, "reading the account's rate");
    }
    int w = week ? THROTTLE_DAY : THROTTLE_HOUR;
    json_t *doc = ctl_json_object();
    ctl_json_set_text(doc, "account", account);
    ctl_json_set_text(doc, "span", week ? "week" : "day");
    ctl_json_set_int(doc, "step", r.step);
    ctl_json_set(doc, "limit",
                 pair((double)d.static_limit[w][0], (double)d.static_limit[w][1], true));
    ctl_json_set(doc, "adaptive_limit", pair(d.adaptive_limit[w][0], d.adaptive_limit[w][1], true));
    ctl_json_set(doc, "baseline", pair(d.baseline[w][0], d.baseline[w][1], false));
    ctl_json_set(doc, "points", r.points);
    return console_json(call->conn, MHD_HTTP_OK, doc, NULL);
}

/* GET accounts/NAME (account show --json) or accounts/NAME/rate. */
enum MHD_Result console_api_account(struct console_call *call, const char *rest)
{
    char name[CTL_ACCOUNT_MAX + 1];
    size_t len = strlen(rest);
    bool rate = len > 5 && strcmp(rest + len - 5, "/rate") == 0;

    if (!str_copy(name, sizeof name, rest))
        return console_error(call->conn, MHD_HTTP_NOT_FOUND, "no such account");
    if (rate)
        name[len - 5] = '\0';
    if (!ctl_account_name_valid(name))
        return console_error(call->conn, MHD_HTTP_NOT_FOUND, "no such account");
    if (rate)
        return account_rate(call, name);
    json_t *doc = NULL;
    enum store_status st = ctl_account_json(&call->c->ctl, name, &doc);
    if (st != STORE_OK)
        return console_store_answer(call, st, doc, "no such account", "reading the account");
    return console_json(call->conn, MHD_HTTP_OK, doc, NULL);
}

/* The body's limits ({"minute": "M/R", "hour": ..., "day": ...}, each "default" or "M/R") into
 * limits[] as `account limits ACCOUNT minute=M/R ...` reads them; false on a bad one. */
static bool body_limits(json_t *in, int64_t limits[STORE_THROTTLE_LIMITS], bool *any)
{
    static const char *const windows[3] = {"minute", "hour", "day"};
    char word[64];

    *any = false;
    for (int i = 0; i < STORE_THROTTLE_LIMITS; i++)
        limits[i] = STORE_THROTTLE_KEEP;
    for (int w = 0; w < 3; w++) {
        json_t *v = json_object_get(in, windows[w]);
        if (v == NULL)
            continue;
        const char *text = json_string_value(v);
        if (text == NULL || strlen(text) > 32)
            return false;
        str_printf(word, sizeof word, "%s=%s", windows[w], text);
        if (!ctl_account_limits_parse(word, limits))
            return false;
        *any = true;
    }
    return true;
}

static const char *const change_names[] = {"suspend", "resume", "unthrottle", "limits"};

/* POST accounts/NAME/suspend|resume|unthrottle|limits {reason[, minute, hour, day]}. */
enum MHD_Result console_api_account_change(struct console_call *call, const char *rest)
{
    char name[CTL_ACCOUNT_MAX + 1], by[64], what[CTL_ACCOUNT_MAX + CTL_REASON_MAX + 64];
    const char *slash = strrchr(rest, '/');
    struct ctl_account_change ch = {0};
    int op = -1;

    for (int i = 0; slash != NULL && i < 4; i++)
        if (strcmp(slash + 1, change_names[i]) == 0)
            op = i;
    if (op < 0 || (size_t)(slash - rest) >= sizeof name)
        return console_error(call->conn, MHD_HTTP_NOT_FOUND, "no such account or action");
    memcpy(name, rest, (size_t)(slash - rest));
    name[slash - rest] = '\0';
    if (!ctl_account_name_valid(name))
        return console_error(call->conn, MHD_HTTP_NOT_FOUND, "no such account");
    ch.op = (enum ctl_account_op)op;
    /* support unthrottles (a help-desk case); suspending, resuming and limits are the
     * postmaster's. */
    if (ch.op != CTL_ACCOUNT_UNTHROTTLE && call->session->role != CONSOLE_ROLE_POSTMASTER) {
        console_log(call, change_names[op], "forbidden");
        return console_error(call->conn, MHD_HTTP_FORBIDDEN,
                             "only a postmaster may suspend, resume or change limits");
    }
    json_t *in = console_body_json(call);
    const char *reason = in != NULL ? console_change_reason(in) : NULL;
    bool any = false;
    if (reason == NULL ||
        (ch.op == CTL_ACCOUNT_LIMITS && (!body_limits(in, ch.limits, &any) || !any))) {
        json_decref(in);
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             ch.op == CTL_ACCOUNT_LIMITS
                                 ? "expected reason and minute, hour or day (\"M/R\": messages / "
                                   "recipients, 0 for none; or \"default\")"
                                 : "expected a JSON object with the reason");
    }
    console_change_by(call, by, sizeof by);
    ch.account = name;
    ch.by = by;
    ch.reason = reason;
    enum store_status st = ctl_account_change(&call->c->ctl, &ch);
    str_printf(what, sizeof what, "account %s %s reason=\"%s\"", change_names[op], name, reason);
    json_decref(in);
    if (st != STORE_OK && st != STORE_NOTFOUND)
        return console_store_failed(call, "changing the account");
    static const char *const done[] = {"suspended", "resumed", "unthrottled", "limits set"};
    static const char *const nothing[] = {"already suspended", "not suspended", "not throttled",
                                          ""};
    console_log(call, what, st == STORE_OK ? done[op] : nothing[op]);
    if (st == STORE_NOTFOUND)
        return console_error(call->conn, MHD_HTTP_CONFLICT, nothing[op]);
    json_t *doc;
    st = ctl_account_json(&call->c->ctl, name, &doc);
    if (st != STORE_OK && st != STORE_NOTFOUND)
        return console_store_failed(call, "reading the account");
    json_t *out = json_incref(json_array_get(doc, 0));
    json_decref(doc);
    if (out == NULL)
        out = ctl_json_object();
    ctl_json_set_text(out, "done", done[op]);
    ctl_json_set_text(out, "by", by);
    return console_json(call->conn, MHD_HTTP_OK, out, NULL);
}

/* ---- recipient rules ---- */

/* May the call touch mailbox's rules (normalized)?  A webmail key with domains: only theirs. */
static bool mailbox_allowed(const struct console_call *call, const char *mailbox)
{
    if (call->session->role != CONSOLE_ROLE_WEBMAIL || call->key_domains[0] == '\0')
        return true;
    const char *domain = strrchr(mailbox, '@');
    if (domain == NULL)
        return false;
    domain++;
    size_t len = strlen(domain);
    for (const char *p = call->key_domains; *p != '\0';) {
        size_t n = strcspn(p, ",");
        if (n == len && strncmp(p, domain, n) == 0)
            return true;
        p += n + (p[n] == ',');
    }
    return false;
}

static void rule_collect(const struct rcpt_rule *r, void *arg)
{
    json_t *row = ctl_rule_json(r);
    ctl_json_set_text(row, "mailbox", r->recipient);
    ctl_json_append(arg, row);
}

/* GET rules?mailbox=RCPT (staff may leave it out: every rule). */
enum MHD_Result console_api_rules_get(struct console_call *call, const char *rest)
{
    (void)rest;
    char rcpt[LISTS_VALUE_MAX], why[256];
    const char *mailbox = console_arg(call, "mailbox");

    if (mailbox == NULL && call->session->role == CONSOLE_ROLE_WEBMAIL)
        return console_error(call->conn, MHD_HTTP_FORBIDDEN,
                             "a webmail key names the mailbox (?mailbox=ADDRESS)");
    if (mailbox != NULL &&
        (strlen(mailbox) >= LISTS_VALUE_MAX ||
         !rules_normalize_recipient(mailbox, rcpt, sizeof rcpt, why, sizeof why)))
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST, "mailbox: an address");
    if (mailbox != NULL && !mailbox_allowed(call, rcpt)) {
        console_log(call, "rules list", "forbidden");
        return console_error(call->conn, MHD_HTTP_FORBIDDEN, "not a mailbox of this key's domains");
    }
    json_t *doc = ctl_json_array();
    enum store_status st = store_rule_each(call->c->ctl.store, mailbox != NULL ? rcpt : NULL,
                                           rule_collect, doc, &call->c->ctl.err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        json_decref(doc);
        return console_store_failed(call, "reading the rules");
    }
    return console_json(call->conn, MHD_HTTP_OK, doc, NULL);
}

/* POST rules {mailbox, sender, action, reason}. */
enum MHD_Result console_api_rules_add(struct console_call *call, const char *rest)
{
    (void)rest;
    char rcpt[LISTS_VALUE_MAX], sender[LISTS_VALUE_MAX], why[512], by[64], previous[16];
    char what[2 * LISTS_VALUE_MAX + CTL_REASON_MAX + 64];
    json_t *in = console_body_json(call);
    const char *mailbox = in != NULL ? console_field(in, "mailbox") : NULL,
               *sender_text = in != NULL ? console_field(in, "sender") : NULL,
               *action = in != NULL ? console_field(in, "action") : NULL,
               *reason = in != NULL ? console_change_reason(in) : NULL;

    if (mailbox == NULL || sender_text == NULL || action == NULL || reason == NULL) {
        json_decref(in);
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "expected mailbox, sender, action and reason (printable text, at "
                             "most 200 characters)");
    }
    if (strlen(mailbox) >= LISTS_VALUE_MAX || strlen(sender_text) >= LISTS_VALUE_MAX ||
        !ctl_rule_valid(mailbox, sender_text, action, rcpt, sender, why, sizeof why)) {
        json_decref(in);
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             strlen(mailbox) >= LISTS_VALUE_MAX ||
                                     strlen(sender_text) >= LISTS_VALUE_MAX
                                 ? "mailbox or sender too long"
                                 : why);
    }
    /* support allows a sender for a user; refusing one is the user's (webmail) or the
     * postmaster's choice. */
    bool reject = strcmp(action, "reject") == 0;
    if ((reject && call->session->role == CONSOLE_ROLE_SUPPORT) || !mailbox_allowed(call, rcpt)) {
        json_decref(in);
        console_log(call, "rules add", "forbidden");
        return console_error(call->conn, MHD_HTTP_FORBIDDEN,
                             reject && call->session->role == CONSOLE_ROLE_SUPPORT
                                 ? "support may add accept rules only"
                                 : "not a mailbox of this key's domains");
    }
    console_change_by(call, by, sizeof by);
    struct rcpt_rule r = {.recipient = rcpt,
                          .sender = sender,
                          .action = reject ? "reject" : "accept",
                          .added_by = by,
                          .added_at = console_now()};
    if (ctl_rule_add(&call->c->ctl, &r, reason, previous, sizeof previous) != STORE_OK) {
        json_decref(in);
        return console_store_failed(call, "adding the rule");
    }
    str_printf(what, sizeof what, "rules add %s %s %s reason=\"%s\"", rcpt, sender, r.action,
               reason);
    json_decref(in);
    console_log(call, what, previous[0] != '\0' ? "replaced" : "added");
    json_t *out = ctl_rule_json(&r);
    ctl_json_set_text(out, "mailbox", rcpt);
    ctl_json_set_bool(out, "replaced", previous[0] != '\0');
    return console_json(call->conn, MHD_HTTP_OK, out, NULL);
}

/*
 * Where MAILBOX ends in rules/MAILBOX/SENDER: at the first '/' after its '@'.  A local part may
 * hold '/' (RFC 5321 4.1.2: it is an atext character) and libmicrohttpd decodes %2F in the path,
 * so the first '/' of the path is not the end; a domain holds no '/', so the first one after the
 * '@' is.  NULL when there is none.  A local part holding '@' as well (quoted, RFC 5321 4.1.2)
 * can be ambiguous here: DELETE rules with the mailbox and sender in the body takes any.
 */
static const char *rule_path_end(const char *rest)
{
    const char *at = strchr(rest, '@');
    return at != NULL ? strchr(at, '/') : NULL;
}

/*
 * DELETE rules/MAILBOX/SENDER {reason}, or DELETE rules {mailbox, sender, reason} (rest NULL):
 * the body form names any mailbox and sender, the path form those whose text splits as
 * rule_path_end says.
 */
enum MHD_Result console_api_rules_del(struct console_call *call, const char *rest)
{
    char mailbox[LISTS_VALUE_MAX], rcpt[LISTS_VALUE_MAX], sender[LISTS_VALUE_MAX];
    char why[512] = "sender too long", what[2 * LISTS_VALUE_MAX + CTL_REASON_MAX + 64];
    const char *sender_text = NULL;
    json_t *in = NULL;

    if (rest != NULL) {
        const char *slash = rule_path_end(rest);
        if (slash == NULL || (size_t)(slash - rest) >= sizeof mailbox)
            return console_error(call->conn, MHD_HTTP_NOT_FOUND, "no such rule");
        memcpy(mailbox, rest, (size_t)(slash - rest));
        mailbox[slash - rest] = '\0';
        sender_text = slash + 1;
    } else {
        in = console_body_json(call);
        const char *m = in != NULL ? console_field(in, "mailbox") : NULL;
        sender_text = in != NULL ? console_field(in, "sender") : NULL;
        if (m == NULL || sender_text == NULL || !str_copy(mailbox, sizeof mailbox, m)) {
            json_decref(in);
            return console_error(call->conn, MHD_HTTP_BAD_REQUEST,
                                 "expected mailbox, sender and reason");
        }
    }
    if (strlen(sender_text) >= LISTS_VALUE_MAX ||
        !ctl_rule_valid(mailbox, sender_text, NULL, rcpt, sender, why, sizeof why)) {
        json_decref(in);
        /* A path that names no rule is not found; a body's fields are wrong. */
        return rest != NULL ? console_error(call->conn, MHD_HTTP_NOT_FOUND, "no such rule")
                            : console_error(call->conn, MHD_HTTP_BAD_REQUEST, why);
    }
    if (!mailbox_allowed(call, rcpt)) {
        json_decref(in);
        console_log(call, "rules del", "forbidden");
        return console_error(call->conn, MHD_HTTP_FORBIDDEN, "not a mailbox of this key's domains");
    }
    const char *reason = in != NULL ? console_change_reason(in) : console_body_reason(call, &in);
    if (reason == NULL) {
        json_decref(in);
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "expected a JSON object with the reason");
    }
    enum store_status st = ctl_rule_del(&call->c->ctl, rcpt, sender, reason);
    str_printf(what, sizeof what, "rules del %s %s reason=\"%s\"", rcpt, sender, reason);
    json_decref(in);
    if (st != STORE_OK)
        return console_store_answer(call, st, NULL, "no such rule", "deleting the rule");
    console_log(call, what, "deleted");
    json_t *out = ctl_json_object();
    ctl_json_set_text(out, "mailbox", rcpt);
    ctl_json_set_text(out, "sender", sender);
    ctl_json_set_text(out, "deleted", "rule");
    return console_json(call->conn, MHD_HTTP_OK, out, NULL);
}

/* ---- check ---- */

/*
 * POST check {ip, helo?, from?, rcpt?: [...], auth?}: `ingressctl check --json` on a dry-run
 * store opened for this call, so nothing is recorded.  Its DNS goes through c-ares like the
 * milter's, each query bounded by dns_timeout x dns_tries; the console answers other requests
 * after it (one thread), so a check costs at most what the milter's own session would.
 */
enum MHD_Result console_api_check(struct console_call *call, const char *rest)
{
    (void)rest;
    const char *rcpt[CTL_CHECK_RCPT_MAX];
    char why[1024];
    json_t *in = console_body_json(call), *list = in != NULL ? json_object_get(in, "rcpt") : NULL;
    struct ctl_check_request req = {0};

    if (in == NULL || (list != NULL && !json_is_array(list))) {
        json_decref(in);
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "expected {ip, helo?, from?, rcpt?: [...], auth?}");
    }
    req.ip = console_field(in, "ip");
    req.helo = console_field(in, "helo");
    req.from = console_field(in, "from");
    req.auth = console_field(in, "auth");
    bool bad = json_array_size(list) > CTL_CHECK_RCPT_MAX;
    for (size_t i = 0; !bad && i < json_array_size(list); i++) {
        json_t *v = json_array_get(list, i);
        bad = !json_is_string(v);
        if (!bad)
            rcpt[req.nrcpt++] = json_string_value(v);
    }
    req.rcpt = rcpt;
    if (bad || !ctl_check_valid(&req, why, sizeof why)) {
        json_decref(in);
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             bad ? "rcpt: at most 100 addresses" : why);
    }
    struct ctl dry = {.verb = "check", .cfg = call->c->ctl.cfg};
    dry.store = store_open_dry_run(call->c->database, dry.cfg->store_busy_timeout, &dry.err);
    if (dry.store == NULL) {
        json_decref(in);
        fprintf(stderr, "ingress-console: check: %s\n", dry.err.text);
        return console_error(call->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                             "the store failed (see the console's log)");
    }
    json_t *doc = NULL;
    bool refused = false;
    bool ok = ctl_check_json(&dry, &req, &doc, &refused, why, sizeof why);
    store_close(dry.store);
    json_decref(in);
    if (!ok) {
        fprintf(stderr, "ingress-console: check: %s\n", why);
        return console_error(call->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                             "the checks cannot be set up (see the console's log)");
    }
    console_log(call, "check", refused ? "refused" : "accepted");
    return console_json(call->conn, MHD_HTTP_OK, doc, NULL);
}
