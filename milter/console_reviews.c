/*
 * ingress-console: the staff's side of the remote senders' review requests (the requests come
 * in through the public listener, console_public.c).  GET /api/reviews lists the open ones
 * (?all=1: every one) for support and postmaster; POST /api/reviews/ID/close {reason} closes
 * one, recorded with who and why, through the same functions as `ingressctl review`.
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
