/*
 * ingress-console: the support desk's fixes and lookups beyond a single message: a held
 * message's content, release and reject of an account's held mail at once, "unblock this IP",
 * searching the lists, and the decision counts.  Each goes through the function its ingressctl
 * verb uses (ctl_held_show_json, ctl_held_decide_account, ctl_unblock, ctl_stats_json), and every
 * change is recorded by those functions with the console user, the client's address and the
 * request's reason (ctl_change_record).
 *
 * support may release (one message or an account's), unblock and search; only a postmaster may
 * reject.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "command.h"
#include "console.h"
#include "ctl_json.h"
#include "lists.h"
#include "store.h"
#include "util.h"

#define CONSOLE_SEARCH_MAX 200 /* bytes of a search text */

bool console_parse_when(const char *text, int64_t now, int64_t *out)
{
    if (text == NULL)
        return true;
    if (text[0] != '\0' && strspn(text, "0123456789") == strlen(text))
        return console_parse_number(text, 0, INT64_MAX, out);
    return strlen(text) < 64 && ctl_parse_when(text, now, out);
}

void console_origin(struct console_call *call)
{
    struct ctl_origin *o = &call->c->ctl.origin;

    str_copy(o->who, sizeof o->who, call->session != NULL ? call->session->user : "-");
    str_printf(o->source, sizeof o->source, "console from %s", call->addr);
}

/* GET held/QUEUEID: held show's document, with the message's header fields and body's start. */
enum MHD_Result console_api_held_show(struct console_call *call, const char *queue_id)
{
    json_t *doc;

    if (!command_queue_id_valid(queue_id))
        return console_error(call->conn, MHD_HTTP_NOT_FOUND, "no such held message");
    enum store_status st = ctl_held_show_json(&call->c->ctl, queue_id, &doc);
    if (st != STORE_OK)
        return console_store_answer(call, st, NULL, "no such held message",
                                    "reading the held messages");
    return console_json(call->conn, MHD_HTTP_OK, doc, NULL);
}

/* POST held/release or held/reject {account, reason}: every message of the account still held. */
static enum MHD_Result held_by_account(struct console_call *call, bool release)
{
    char by[64];
    json_t *in = console_body_json(call);

    if (!release && call->session->role != CONSOLE_ROLE_POSTMASTER) {
        json_decref(in);
        console_log(call, "held reject --account", "forbidden");
        return console_error(call->conn, MHD_HTTP_FORBIDDEN, "only a postmaster may reject");
    }
    const char *account = in != NULL ? console_field(in, "account") : NULL;
    const char *reason = in != NULL ? console_change_reason(in) : NULL;
    if (account == NULL || reason == NULL || !ctl_account_name_valid(account)) {
        json_decref(in);
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "expected account (1 to 255 characters, no blanks) and reason "
                             "(printable text, at most 200 characters)");
    }
    console_change_by(call, by, sizeof by);
    struct ctl_held_action act = ctl_held_action(release, by, reason);
    struct ctl_held_tally t = {0};
    json_t *ids = ctl_json_array();
    enum store_status st = ctl_held_decide_account(&call->c->ctl, &act, account, ids, &t);
    if (st != STORE_OK) {
        json_decref(ids);
        return console_store_answer(call, st, in, "no messages of this account are held",
                                    "reading the held messages");
    }
    char what[400];
    str_printf(what, sizeof what, "held %s --account %s done=%d failed=%d", act.verb, account,
               t.done, t.failed);
    console_log(call, what, t.failed > 0 ? "partly failed" : act.state);
    json_t *out = ctl_json_object();
    ctl_json_set_text(out, "account", account);
    ctl_json_set_int(out, "done", t.done);
    ctl_json_set_int(out, "failed", t.failed);
    ctl_json_set_int(out, "no_longer_held", t.missing);
    ctl_json_set(out, "ids", ids);
    json_decref(in);
    return console_json(call->conn, MHD_HTTP_OK, out, NULL);
}

enum MHD_Result console_api_held_release_account(struct console_call *call, const char *rest)
{
    (void)rest;
    return held_by_account(call, true);
}

enum MHD_Result console_api_held_reject_account(struct console_call *call, const char *rest)
{
    (void)rest;
    return held_by_account(call, false);
}

/* POST unblock {ip, reason}: ingressctl unblock. */
enum MHD_Result console_api_unblock(struct console_call *call, const char *rest)
{
    (void)rest;
    json_t *in = console_body_json(call), *doc;
    const char *ip = in != NULL ? console_field(in, "ip") : NULL;
    const char *reason = in != NULL ? console_change_reason(in) : NULL;

    if (ip == NULL || reason == NULL || strlen(ip) > 64) {
        json_decref(in);
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "expected ip and reason (printable text, at most 200 characters)");
    }
    enum store_status st = ctl_unblock(&call->c->ctl, ip, reason, &doc);
    if (st == STORE_NOTFOUND) { /* ctl_unblock's "not an address": the request's fault */
        json_decref(in);
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST, "ip: not an IP address");
    }
    if (st != STORE_OK)
        return console_store_answer(call, st, in, NULL, "unblocking");
    char what[200];
    str_printf(what, sizeof what, "unblock %s", ip);
    console_log(call, what, json_is_true(json_object_get(doc, "changed")) ? "done" : "nothing");
    json_decref(in);
    return console_json(call->conn, MHD_HTTP_OK, doc, NULL);
}

/* The entries of GET lists?q=TEXT&kind=KIND: q found in the value, the reason, the public text
 * or who added it, without ASCII case. */
struct lists_search {
    json_t *doc;
    int64_t now;
    const char *q;
};

static bool found_in(const char *text, const char *q)
{
    return text != NULL && strcasestr(text, q) != NULL;
}

static void search_collect(const struct list_entry *e, void *arg)
{
    struct lists_search *l = arg;

    if (l->q != NULL && !found_in(e->value, l->q) && !found_in(e->reason, l->q) &&
        !found_in(e->public_text, l->q) && !found_in(e->added_by, l->q))
        return;
    ctl_json_append(l->doc, ctl_list_entry_json(e, l->now));
}

enum MHD_Result console_api_lists_search(struct console_call *call, const char *rest)
{
    (void)rest;
    enum lists_kind kind;
    const char *kind_text = console_arg(call, "kind"), *q = console_arg(call, "q");

    if (kind_text != NULL && !lists_kind_parse(kind_text, &kind))
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST, "kind: an entry kind (cidr, ...)");
    if (q != NULL && (strlen(q) > CONSOLE_SEARCH_MAX || !lists_reason_valid(q)))
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "q: printable text, at most 200 characters");
    struct lists_search l = {ctl_json_array(), console_now(), q != NULL && q[0] != '\0' ? q : NULL};
    enum store_status st =
        store_list_each(call->c->ctl.store, kind_text != NULL ? lists_kind_name(kind) : NULL, 0,
                        search_collect, &l, &call->c->ctl.err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        json_decref(l.doc);
        return console_store_failed(call, "reading the lists");
    }
    return console_json(call->conn, MHD_HTTP_OK, l.doc, NULL);
}

/* GET stats?since=WHEN: ingressctl stats --json (WHEN as why takes it; none: all). */
enum MHD_Result console_api_stats(struct console_call *call, const char *rest)
{
    (void)rest;
    int64_t since = 0;
    json_t *doc;

    if (!console_parse_when(console_arg(call, "since"), console_now(), &since))
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "since: unix seconds, a duration (30m, 24h, 7d) or a UTC date "
                             "(2026-12-01, 2026-12-01T08:00)");
    if (ctl_stats_json(&call->c->ctl, since, &doc) != STORE_OK)
        return console_store_failed(call, "reading the decisions");
    return console_json(call->conn, MHD_HTTP_OK, doc, NULL);
}
