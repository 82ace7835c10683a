/*
 * ingress-console: the route table, and the handlers of why, held and lists.  Each does its
 * thing through the same functions as ingressctl's verbs (ctl_why_json, ctl_list_entry_valid,
 * ctl_held_decide_one, ...), so the console can do nothing the command line does not.
 *
 * postmaster may do everything; support reads everything, adds allow entries, removes entries
 * (unblocks) and releases held mail.  The rest of the API is in console_held.c.  Every change
 * records the user and the client's address as who did it, and the request's "reason" as why.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "console.h"
#include "ctl_json.h"
#include "lists.h"
#include "store.h"
#include "util.h"

#define CONSOLE_WHY_LIMIT_MAX 1000
#define CONSOLE_HELD_LIMIT_MAX 1000

static enum MHD_Result api_why(struct console_call *call, const char *rest)
{
    (void)rest;
    struct store_decision_query q = {0};
    int64_t limit = 20;
    const char *key = console_arg(call, "key");
    json_t *doc;

    if (key == NULL || !ctl_why_key_valid(key))
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "key: a queue id, reference, IP address, address or domain");
    if (!console_parse_when(console_arg(call, "since"), console_now(), &q.since) ||
        !console_parse_when(console_arg(call, "until"), console_now(), &q.until) ||
        !console_parse_number(console_arg(call, "limit"), 1, CONSOLE_WHY_LIMIT_MAX, &limit))
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "since and until: unix seconds, a duration (30m, 7d) or a UTC date "
                             "(2026-12-01, 2026-12-01T08:00); limit: 1 to 1000");
    q.key = key;
    if (ctl_why_json(&call->c->ctl, &q, (size_t)limit, &doc) != STORE_OK)
        return console_store_failed(call, "reading the decisions");
    return console_json(call->conn, MHD_HTTP_OK, doc, NULL);
}

static void held_collect(const struct store_held *h, void *arg)
{
    ctl_json_append(arg, ctl_held_json(h));
}

/*
 * GET held (state held; ?all=1 every state; ?account=A that account's), oldest first: every row,
 * or with ?limit=N (1 to CONSOLE_HELD_LIMIT_MAX) and ?offset=M a page of them, the same array.
 * X-Total-Count says how many rows the filters match in all.  held/QUEUEID is
 * console_api_held_show.
 */
static enum MHD_Result api_held_get(struct console_call *call, const char *rest)
{
    (void)rest;
    const char *all = console_arg(call, "all"), *account = console_arg(call, "account");
    struct store_held_query q = {.account = account,
                                 .state = all != NULL && strcmp(all, "1") == 0 ? NULL : "held"};
    int64_t total = 0;
    char count[24];

    if (!console_parse_number(console_arg(call, "limit"), 1, CONSOLE_HELD_LIMIT_MAX, &q.limit) ||
        !console_parse_number(console_arg(call, "offset"), 0, INT64_MAX, &q.offset))
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "limit: 1 to 1000; offset: 0 or more");
    if (account != NULL && !ctl_account_name_valid(account))
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST, "account: not an account name");
    json_t *doc = ctl_json_array();
    enum store_status st =
        store_held_list(call->c->ctl.store, &q, held_collect, doc, &total, &call->c->ctl.err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        json_decref(doc);
        return console_store_failed(call, "reading the held messages");
    }
    snprintf(count, sizeof count, "%lld", (long long)total);
    return console_json_header(call->conn, MHD_HTTP_OK, doc, "X-Total-Count", count);
}

/* ---- changing ---- */

static enum MHD_Result api_lists_add(struct console_call *call, const char *rest)
{
    (void)rest;
    enum lists_kind kind;
    enum lists_action action;
    char value[LISTS_VALUE_MAX], why[512], by[64], previous[16];
    json_t *in = console_body_json(call);

    if (in == NULL)
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST, "expected a JSON object");
    const char *kind_text = console_field(in, "kind"), *value_text = console_field(in, "value"),
               *action_text = console_field(in, "action"), *reason = console_change_reason(in),
               *public_text = console_field(in, "public"), *expires = console_field(in, "expires");
    int64_t now = console_now(), expires_at;
    if (kind_text == NULL || value_text == NULL || action_text == NULL || reason == NULL) {
        json_decref(in);
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "expected kind, value, action and reason (printable text, at most "
                             "200 characters)");
    }
    if (!ctl_list_entry_valid(kind_text, value_text, action_text, reason, &kind, value, &action,
                              why, sizeof why) ||
        !ctl_list_extras_valid(action, public_text, expires, now, &expires_at, why, sizeof why)) {
        json_decref(in);
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST, why);
    }
    /* support may allow (a sender for a user, an IP that was blocked), never block. */
    if (call->session->role != CONSOLE_ROLE_POSTMASTER && action != LISTS_ALLOW) {
        json_decref(in);
        console_log(call, "lists add", "forbidden");
        return console_error(call->conn, MHD_HTTP_FORBIDDEN, "support may add allow entries only");
    }
    console_change_by(call, by, sizeof by);
    struct list_entry e = {.kind = lists_kind_name(kind),
                           .value = value,
                           .action = lists_action_name(action),
                           .reason = reason,
                           .public_text = public_text != NULL ? public_text : "",
                           .added_by = by,
                           .added_at = now,
                           .expires = expires_at};
    enum store_status st = ctl_list_add(&call->c->ctl, &e, previous, sizeof previous);
    if (st != STORE_OK) {
        json_decref(in);
        return console_store_failed(call, "adding the entry");
    }
    console_log(call, "lists add", previous[0] != '\0' ? "replaced" : "added");
    json_t *out = ctl_list_entry_json(&e, now); /* before in goes: e borrows its strings */
    ctl_json_set_bool(out, "replaced", previous[0] != '\0');
    json_decref(in);
    return console_json(call->conn, MHD_HTTP_OK, out, NULL);
}

/* DELETE lists/KIND/VALUE (the value may hold '/', as a CIDR does). */
static enum MHD_Result api_lists_del(struct console_call *call, const char *rest)
{
    enum lists_kind kind;
    char kind_text[32], value[LISTS_VALUE_MAX], why[256];
    const char *slash = strchr(rest, '/');

    if (slash == NULL || (size_t)(slash - rest) >= sizeof kind_text)
        return console_error(call->conn, MHD_HTTP_NOT_FOUND, "no such entry");
    memcpy(kind_text, rest, (size_t)(slash - rest));
    kind_text[slash - rest] = '\0';
    if (!lists_kind_parse(kind_text, &kind) ||
        !lists_normalize_value(kind, slash + 1, value, sizeof value, why, sizeof why))
        return console_error(call->conn, MHD_HTTP_NOT_FOUND, "no such entry");
    json_t *in;
    const char *reason = console_body_reason(call, &in);
    if (reason == NULL)
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "expected a JSON object with the reason");
    enum store_status st = ctl_list_del(&call->c->ctl, lists_kind_name(kind), value, reason);
    if (st != STORE_OK)
        return console_store_answer(call, st, in, "no such entry", "deleting the entry");
    char what[LISTS_VALUE_MAX + 300];
    str_printf(what, sizeof what, "lists del %s %s reason=\"%s\"", lists_kind_name(kind), value,
               reason);
    console_log(call, what, "deleted");
    json_decref(in);
    json_t *out = ctl_json_object();
    ctl_json_set_text(out, "deleted", value);
    ctl_json_set_text(out, "kind", lists_kind_name(kind));
    return console_json(call->conn, MHD_HTTP_OK, out, NULL);
}

static void host_collect(const struct store_held *h, void *arg)
{
    str_copy(arg, 256, h->host != NULL ? h->host : "");
}

/* POST held/QUEUEID/release or held/QUEUEID/reject. */
static enum MHD_Result api_held_decide(struct console_call *call, const char *rest)
{
    char id[COMMAND_QUEUE_ID_MAX + 1], host[256] = "", by[64];
    const char *slash = strchr(rest, '/');

    if (slash == NULL || (size_t)(slash - rest) >= sizeof id)
        return console_error(call->conn, MHD_HTTP_NOT_FOUND, "no such held message");
    memcpy(id, rest, (size_t)(slash - rest));
    id[slash - rest] = '\0';
    bool release = strcmp(slash + 1, "release") == 0;
    if (!command_queue_id_valid(id) || (!release && strcmp(slash + 1, "reject") != 0))
        return console_error(call->conn, MHD_HTTP_NOT_FOUND, "no such held message or action");
    if (!release && call->session->role != CONSOLE_ROLE_POSTMASTER) {
        console_log(call, "held reject", "forbidden");
        return console_error(call->conn, MHD_HTTP_FORBIDDEN, "only a postmaster may reject");
    }
    json_t *in;
    const char *reason = console_body_reason(call, &in);
    if (reason == NULL)
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "expected a JSON object with the reason");
    enum store_status st = store_held_each(call->c->ctl.store, id, NULL, "held", host_collect, host,
                                           &call->c->ctl.err);
    if (st != STORE_OK)
        return console_store_answer(call, st, in, "no message held with this id",
                                    "reading the held messages");
    console_change_by(call, by, sizeof by);
    struct ctl_held_action act = ctl_held_action(release, by, reason);
    int done = ctl_held_decide_one(&call->c->ctl, &act, id, host);
    json_decref(in);
    console_log(call, release ? "held release" : "held reject",
                done > 0    ? act.state
                : done == 0 ? "not held"
                            : "failed");
    if (done == 0)
        return console_error(call->conn, MHD_HTTP_CONFLICT, "no longer held");
    if (done < 0)
        return console_error(call->conn, MHD_HTTP_BAD_GATEWAY,
                             "the MTA's command failed: the message stays held (see the log)");
    json_t *out = ctl_json_object();
    ctl_json_set_text(out, "queue_id", id);
    ctl_json_set_text(out, "state", act.state);
    ctl_json_set_text(out, "decided_by", by);
    return console_json(call->conn, MHD_HTTP_OK, out, NULL);
}

/* ---- routing ---- */

struct console_route {
    const char *method;
    const char *path;
    bool prefix; /* path is a prefix: the handler gets the rest */
    bool public; /* answered before the login check */
    console_handler handler;
};

static const struct console_route routes[] = {
    {MHD_HTTP_METHOD_POST, "login", false, true, console_api_login},
    {MHD_HTTP_METHOD_POST, "logout", false, false, console_api_logout},
    {MHD_HTTP_METHOD_GET, "session", false, false, console_api_session},
    {MHD_HTTP_METHOD_GET, "why", false, false, api_why},
    {MHD_HTTP_METHOD_GET, "held", false, false, api_held_get},
    {MHD_HTTP_METHOD_GET, "held/", true, false, console_api_held_show},
    /* before held/QUEUEID/...: the account's messages at once */
    {MHD_HTTP_METHOD_POST, "held/release", false, false, console_api_held_release_account},
    {MHD_HTTP_METHOD_POST, "held/reject", false, false, console_api_held_reject_account},
    {MHD_HTTP_METHOD_POST, "held/", true, false, api_held_decide},
    {MHD_HTTP_METHOD_POST, "unblock", false, false, console_api_unblock},
    {MHD_HTTP_METHOD_GET, "stats", false, false, console_api_stats},
    {MHD_HTTP_METHOD_GET, "lists", false, false, console_api_lists_search},
    {MHD_HTTP_METHOD_POST, "lists", false, false, api_lists_add},
    {MHD_HTTP_METHOD_DELETE, "lists/", true, false, api_lists_del},
    {MHD_HTTP_METHOD_GET, "reviews", false, false, console_api_reviews},
    {MHD_HTTP_METHOD_POST, "reviews/", true, false, console_api_review_close},
    {MHD_HTTP_METHOD_GET, "explanations", false, false, console_api_explanations},
    {MHD_HTTP_METHOD_PUT, "explanations/", true, false, console_api_explanation_set},
    {MHD_HTTP_METHOD_DELETE, "explanations/", true, false, console_api_explanation_unset},
    /* console_accounts.c */
    {MHD_HTTP_METHOD_GET, "accounts", false, false, console_api_accounts},
    {MHD_HTTP_METHOD_GET, "accounts/", true, false, console_api_account},
    {MHD_HTTP_METHOD_POST, "accounts/", true, false, console_api_account_change},
    {MHD_HTTP_METHOD_GET, "rules", false, false, console_api_rules_get},
    {MHD_HTTP_METHOD_POST, "rules", false, false, console_api_rules_add},
    {MHD_HTTP_METHOD_DELETE, "rules", false, false, console_api_rules_del},
    {MHD_HTTP_METHOD_DELETE, "rules/", true, false, console_api_rules_del},
    {MHD_HTTP_METHOD_POST, "check", false, false, console_api_check},
};

/* The routes a webmail key may take: the recipient rules, nothing else. */
static bool webmail_route(console_handler h)
{
    return h == console_api_rules_get || h == console_api_rules_add || h == console_api_rules_del;
}

enum MHD_Result console_route(struct console_call *call)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const struct console_route *r = &routes[i];
        size_t n = strlen(r->path);
        if (strcmp(call->method, r->method) != 0 ||
            (r->prefix ? strncmp(call->path, r->path, n) != 0 : strcmp(call->path, r->path) != 0))
            continue;
        enum MHD_Result refused;
        if (!r->public && !console_authorize(call, &refused))
            return refused;
        if (!r->public && call->session->role == CONSOLE_ROLE_WEBMAIL &&
            !webmail_route(r->handler)) {
            console_log(call, call->path, "forbidden");
            return console_error(call->conn, MHD_HTTP_FORBIDDEN,
                                 "a webmail key may only read and change recipient rules");
        }
        if (!r->public)
            console_origin(call);
        return r->handler(call, r->prefix ? call->path + n : NULL);
    }
    return console_error(call->conn, MHD_HTTP_NOT_FOUND, "no such resource");
}
