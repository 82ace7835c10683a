/*
 * ingress-console: the staff's side of the remote sender's page (console_public.c).  The review
 * requests senders make there: GET /api/reviews lists the open ones (?all=1: every one) for
 * support and postmaster; POST /api/reviews/ID/close {reason} closes one, recorded with who and
 * why, through the same functions as `ingressctl review`.  The site's explanation per check,
 * which the page shows as what to fix: GET /api/explanations for support and postmaster, PUT and
 * DELETE /api/explanations/CHECK for the postmaster only (what every sender reads is policy),
 * through the same functions as `ingressctl explain`.
 */
#include <string.h>

#include "console.h"
#include "ctl_json.h"
#include "util.h"

enum MHD_Result console_api_reviews(struct console_call *call, const char *rest)
{
    (void)rest;
    const char *all = console_arg(call, "all");
    json_t *doc;

    if (ctl_review_list_json(&call->c->ctl, all != NULL && strcmp(all, "1") == 0, &doc) != STORE_OK)
        return console_store_failed(call, "reading the review requests");
    return console_json(call->conn, MHD_HTTP_OK, doc, NULL);
}

/* POST reviews/ID/close */
enum MHD_Result console_api_review_close(struct console_call *call, const char *rest)
{
    char by[64], what[64];
    int64_t id = 0;
    const char *slash = strchr(rest, '/');

    if (slash == NULL || strcmp(slash, "/close") != 0 || slash - rest > 19)
        return console_error(call->conn, MHD_HTTP_NOT_FOUND, "no such review request");
    str_printf(what, sizeof what, "%.*s", (int)(slash - rest), rest);
    if (!console_parse_number(what, 1, INT64_MAX, &id) || id == 0)
        return console_error(call->conn, MHD_HTTP_NOT_FOUND, "no such review request");
    json_t *in;
    const char *reason = console_body_reason(call, &in);
    if (reason == NULL)
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "expected a JSON object with the reason");
    console_change_by(call, by, sizeof by);
    enum store_status st = ctl_review_close(&call->c->ctl, id, by, reason);
    json_decref(in);
    str_printf(what, sizeof what, "review close %lld", (long long)id);
    if (st == STORE_NOTFOUND) {
        console_log(call, what, "not open");
        return console_error(call->conn, MHD_HTTP_NOT_FOUND, "no open review request with this id");
    }
    if (st != STORE_OK)
        return console_store_failed(call, "closing the review request");
    console_log(call, what, "closed");
    json_t *out = ctl_json_object();
    ctl_json_set_int(out, "id", id);
    ctl_json_set_text(out, "state", "closed");
    ctl_json_set_text(out, "closed_by", by);
    return console_json(call->conn, MHD_HTTP_OK, out, NULL);
}

/* GET explanations: every check's text, the site's or the built-in one (ctl_explain_json). */
enum MHD_Result console_api_explanations(struct console_call *call, const char *rest)
{
    (void)rest;
    json_t *doc;

    if (ctl_explain_json(&call->c->ctl, NULL, &doc) != STORE_OK)
        return console_store_failed(call, "reading the explanations");
    return console_json(call->conn, MHD_HTTP_OK, doc, NULL);
}

/* PUT explanations/CHECK {text, reason}, DELETE explanations/CHECK {reason}: the check's object
 * as GET gives it, afterwards. */
static enum MHD_Result explanation_change(struct console_call *call, const char *check, bool set)
{
    char by[64], what[64];
    json_t *in, *out;

    str_printf(what, sizeof what, "explain %s %.16s", set ? "set" : "unset", check);
    if (call->session->role != CONSOLE_ROLE_POSTMASTER) {
        console_log(call, what, "forbidden");
        return console_error(call->conn, MHD_HTTP_FORBIDDEN,
                             "only a postmaster may change the explanations");
    }
    if (!ctl_explain_check_known(check))
        return console_error(call->conn, MHD_HTTP_NOT_FOUND, "no such check");
    const char *reason = console_body_reason(call, &in);
    if (reason == NULL)
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             set ? "expected a JSON object with text and reason (printable, at "
                                   "most 200 characters)"
                                 : "expected a JSON object with the reason");
    const char *text = set ? console_field(in, "text") : NULL;
    if (set && (text == NULL || !ctl_explain_text_valid(text))) {
        json_decref(in);
        str_printf(what, sizeof what, "text: one line of printable UTF-8, 1 to %d bytes",
                   CTL_EXPLANATION_MAX);
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST, what);
    }
    console_change_by(call, by, sizeof by);
    enum store_status st = ctl_explain_set(&call->c->ctl, check, text, by, reason);
    json_decref(in);
    if (st == STORE_NOTFOUND) {
        console_log(call, what, "nothing to do");
        return console_error(call->conn, MHD_HTTP_CONFLICT, "the built-in text is shown already");
    }
    if (st != STORE_OK)
        return console_store_failed(call, "writing the explanation");
    console_log(call, what, set ? "set" : "built-in again");
    if (ctl_explain_json(&call->c->ctl, check, &out) != STORE_OK)
        return console_store_failed(call, "reading the explanations");
    return console_json(call->conn, MHD_HTTP_OK, out, NULL);
}

enum MHD_Result console_api_explanation_set(struct console_call *call, const char *check)
{
    return explanation_change(call, check, true);
}

enum MHD_Result console_api_explanation_unset(struct console_call *call, const char *check)
{
    return explanation_change(call, check, false);
}
