/*
 * ingress-console: the remote sender's page, on a listener of its own (console_public_listen).
 *
 *   GET  /why/REF          the public part of the refusal REF names (HTML, no JavaScript)
 *   POST /why/REF/review   a review request (a form: contact, text) into the support queue
 *   GET  /why.css          the page's style (a constant)
 *
 * Everything else, and a reference that is malformed, unknown or names no refusal, gets the one
 * "no such refusal" page with 404: the answer never tells a guess that was close from one that
 * was not.  A reference is 16 base32 characters (80 random bits, lib/policy.c): with the rate
 * limit below, guessing one of the decisions kept is out of reach (README "The remote sender's
 * page" has the sum); the 8-character references of older versions (40 bits) are not shown here.
 *
 * What the page shows of a decision: which check refused in plain words, when, the SMTP code,
 * the sending server's address and HELO name (the sender's own, needed for the fix) and the
 * site's explanation of the check.  Never the decision's internal detail or reply text, never a
 * recipient (a reference names a connection, which may have carried several messages to several
 * recipients; a bounce forwarded to a third party must not tell it who the mail was for, and the
 * sender's admin has the recipients in the bounce already), nothing of another reference.
 *
 * It shares nothing with the staff's listener: its own libmicrohttpd daemon and thread, its own
 * store connection, no session, no cookie.  The review form needs no CSRF token: there is no
 * session whose authority another site could borrow; a forged post can only do what anyone can,
 * which the per-client limit and the cap of open requests per reference bound.
 *
 * One thread serves the listener's requests in turn, so the client table needs no lock.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "config.h"
#include "console.h"
#include "policy.h"
#include "util.h"

#define PUBLIC_CONNECTIONS_PER_IP 8
/* A form of a contact and a text, URL-encoded: a bigger body is refused (console.h says how). */
#define PUBLIC_BODY_MAX 8192
/* Requests per client (an IPv4 address, an IPv6 /64) a minute; review requests an hour. */
#define PUBLIC_CLIENTS_MAX 1024
#define PUBLIC_PAGES_PER_WINDOW 20
#define PUBLIC_PAGE_WINDOW 60
#define PUBLIC_REVIEWS_PER_WINDOW 5
#define PUBLIC_REVIEW_WINDOW 3600
/* Review requests of one reference open at once: the support queue is not a sender's to fill. */
#define PUBLIC_OPEN_REVIEWS_PER_REF 3
#define PUBLIC_CONTACT_MAX 254 /* RFC 5321 4.5.3.1.3: a path of 256 with its brackets */
#define PUBLIC_TEXT_MAX 1000
#define PUBLIC_DECISIONS_MAX 1000 /* rows of one connection read at most */

struct public_client {
    char key[INET6_ADDRSTRLEN]; /* the address; an IPv6 one as its /64 */
    int64_t page_window, review_window;
    int pages, reviews;
};

struct console_public {
    struct ctl ctl; /* a store connection of its own */
    struct console_daemon *daemon;
    struct public_client clients[PUBLIC_CLIENTS_MAX];
};

/* One request while its body arrives. */
struct public_request {
    struct MHD_PostProcessor *post;
    char contact[PUBLIC_CONTACT_MAX + 1], text[PUBLIC_TEXT_MAX + 1];
    size_t contact_len, text_len, body_len;
    bool bad; /* too long, or not a form */
};

/* ---- the page ---- */

struct page {
    char *buf;
    size_t len, cap;
};

static void page_raw(struct page *p, const char *s)
{
    size_t n = strlen(s);
    if (p->len + n + 1 > p->cap) {
        p->cap = (p->len + n + 1) * 2;
        p->buf = xrealloc(p->buf, p->cap);
    }
    memcpy(p->buf + p->len, s, n + 1);
    p->len += n;
}

/* Text from the store or the request, HTML-escaped: it can never become markup. */
static void page_text(struct page *p, const char *s)
{
    char one[2] = {0, 0};
    for (; s != NULL && *s != '\0'; s++) {
        switch (*s) {
        case '&':
            page_raw(p, "&amp;");
            break;
        case '<':
            page_raw(p, "&lt;");
            break;
        case '>':
            page_raw(p, "&gt;");
            break;
        case '"':
            page_raw(p, "&quot;");
            break;
        case '\'':
            page_raw(p, "&#39;");
            break;
        default:
            one[0] = *s;
            page_raw(p, one);
        }
    }
}

static void page_begin(struct page *p, const char *title)
{
    page_raw(p, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                "<meta name=\"robots\" content=\"noindex\"><title>");
    page_text(p, title);
    page_raw(p, "</title><link rel=\"stylesheet\" href=\"/why.css\"></head>\n<body><main>\n<h1>");
    page_text(p, title);
    page_raw(p, "</h1>\n");
}

static void page_end(struct page *p)
{
    page_raw(p, "<p class=\"note\">This page shows what concerns one refused delivery, given its "
                "reference, and nothing about any other message.</p>\n</main></body></html>\n");
}

static enum MHD_Result send_body(struct MHD_Connection *conn, unsigned code, char *body,
                                 const char *type, int retry_after)
{
    char retry[24];
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    /* No script, no frame, no request anywhere but the page's own style sheet and form. */
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; style-src 'self'; form-action 'self'; "
                            "base-uri 'none'; frame-ancestors 'none'");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (retry_after > 0) {
        snprintf(retry, sizeof retry, "%d", retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry);
    }
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_page(struct MHD_Connection *conn, unsigned code, struct page *p,
                                 int retry_after)
{
    page_end(p);
    return send_body(conn, code, p->buf, "text/html; charset=utf-8", retry_after);
}

/* The one answer to every reference that names no refusal, and to every other path. */
static enum MHD_Result send_not_found(struct MHD_Connection *conn)
{
    struct page p = {0};
    page_begin(&p, "No refusal with this reference");
    page_raw(&p, "<p>Check the reference in the refusal message (the bounce): it is the 16 "
                 "letters and digits after <code>ref</code>. Refusals are kept for a limited "
                 "time.</p>\n");
    return send_page(conn, MHD_HTTP_NOT_FOUND, &p, 0);
}

/* A short page of one message (bad form input, limits). */
static enum MHD_Result send_message(struct MHD_Connection *conn, unsigned code, const char *title,
                                    const char *text, int retry_after)
{
    struct page p = {0};
    page_begin(&p, title);
    page_raw(&p, "<p>");
    page_text(&p, text);
    page_raw(&p, "</p>\n");
    return send_page(conn, code, &p, retry_after);
}

static const char page_style[] =
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f6f4;color:#222}"
    "main{max-width:40em;margin:0 auto;padding:1em}"
    "h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em}dt{color:#555}dd{margin:0}"
    "code{font-size:1.05em;word-break:break-all}"
    ".fix{background:#fff;border-left:4px solid #2a6;padding:.6em 1em}"
    "form{display:grid;gap:.6em}input,textarea{font:inherit;width:100%;box-sizing:border-box}"
    "textarea{min-height:6em}button{font:inherit;justify-self:start;padding:.3em 1.2em}"
    ".note{color:#666;font-size:.9em;margin-top:2em}";

/* ---- who is asking, and how often ---- */

/*
 * The client the limits count: the peer's address, or, when the peer is this host (a reverse
 * proxy in front), the X-Real-IP it sets.  An IPv6 client counts as its /64: one host has a whole
 * /64 to pick addresses from.
 */
static void client_key(struct MHD_Connection *conn, char *out, size_t outlen)
{
    unsigned char bin[16];
    console_client_real_address(conn, out, outlen);
    if (inet_pton(AF_INET6, out, bin) == 1) {
        memset(bin + 8, 0, 8);
        inet_ntop(AF_INET6, bin, out, (socklen_t)outlen);
    }
}

static struct public_client *client_slot(struct console_public *p, const char *key)
{
    struct public_client *oldest = &p->clients[0];
    for (size_t i = 0; i < PUBLIC_CLIENTS_MAX; i++) {
        struct public_client *k = &p->clients[i];
        if (strcmp(k->key, key) == 0)
            return k;
        if (k->page_window < oldest->page_window)
            oldest = k;
    }
    /* A new client takes the slot idle longest (a free one has window 0). */
    memset(oldest, 0, sizeof *oldest);
    str_copy(oldest->key, sizeof oldest->key, key);
    return oldest;
}

/* Counts one request of the client; the seconds until it may ask again, 0 when it may now. */
static int client_wait(struct public_client *k, bool review, int64_t now)
{
    if (k->page_window + PUBLIC_PAGE_WINDOW <= now) {
        k->page_window = now;
        k->pages = 0;
    }
    if (k->pages >= PUBLIC_PAGES_PER_WINDOW)
        return (int)(k->page_window + PUBLIC_PAGE_WINDOW - now);
    k->pages++;
    if (!review)
        return 0;
    if (k->review_window + PUBLIC_REVIEW_WINDOW <= now) {
        k->review_window = now;
        k->reviews = 0;
    }
    if (k->reviews >= PUBLIC_REVIEWS_PER_WINDOW)
        return (int)(k->review_window + PUBLIC_REVIEW_WINDOW - now);
    k->reviews++;
    return 0;
}

/* ---- the decision ---- */

struct public_decision {
    const char *ref;
    bool found;
    int64_t time;
    char check[32], action[16], code[24], ip[INET6_ADDRSTRLEN], helo[256];
};

/* The reply's "550 5.7.25" (its code and enhanced code), or "" when it does not start so. */
static void reply_code(const char *reply, char *out, size_t outlen)
{
    size_t n = reply != NULL ? strspn(reply, "0123456789") : 0;
    str_copy(out, outlen, "");
    if (n != 3 || (reply[0] != '4' && reply[0] != '5') || reply[3] != ' ')
        return;
    size_t m = strspn(reply + 4, "0123456789.");
    if (m < 5 || m > 11 || reply[4] != reply[0])
        m = 0;
    str_printf(out, outlen, "%.3s%s%.*s", reply, m > 0 ? " " : "", (int)m, reply + 4);
}

/*
 * Keeps the newest refusal of exactly this reference: the store's lookup also matches queue ids,
 * addresses and accounts equal to the key, which are not this page's to show.
 */
static void decision_pick(const struct decision *d, void *arg)
{
    struct public_decision *pd = arg;
    if (d->ref == NULL || strcmp(d->ref, pd->ref) != 0 || d->action == NULL ||
        (strcmp(d->action, "reject") != 0 && strcmp(d->action, "tempfail") != 0))
        return;
    pd->found = true;
    pd->time = d->time;
    str_copy(pd->check, sizeof pd->check, d->check != NULL ? d->check : "");
    str_copy(pd->action, sizeof pd->action, d->action);
    reply_code(d->reply, pd->code, sizeof pd->code);
    str_copy(pd->ip, sizeof pd->ip, d->client_ip != NULL ? d->client_ip : "");
    str_printable(pd->helo, sizeof pd->helo, d->helo != NULL ? d->helo : "");
}

/* The reference of the path: exactly POLICY_REF_LEN base32 characters, any case, into out. */
static bool ref_parse(const char *text, size_t len, char *out)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    if (len != POLICY_REF_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = text[i] >= 'a' && text[i] <= 'z' ? (char)(text[i] - 'a' + 'A') : text[i];
        if (ch == '\0' || strchr(alphabet, ch) == NULL)
            return false;
        out[i] = ch;
    }
    out[len] = '\0';
    return true;
}

/* Reads the refusal ref names; -1 when the store failed. */
static int decision_read(struct console_public *p, const char *ref, struct public_decision *pd)
{
    memset(pd, 0, sizeof *pd);
    pd->ref = ref;
    enum store_status st = store_decision_find(p->ctl.store, ref, PUBLIC_DECISIONS_MAX,
                                               decision_pick, pd, &p->ctl.err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        fprintf(stderr, "ingress-console: public page: reading the decisions: %s\n",
                p->ctl.err.text);
        return -1;
    }
    return pd->found ? 1 : 0;
}

static enum MHD_Result send_store_failed(struct MHD_Connection *conn)
{
    return send_message(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "Please try again later",
                        "This page cannot answer just now.", 60);
}

static enum MHD_Result why_page(struct console_public *p, struct MHD_Connection *conn,
                                const char *ref)
{
    struct public_decision pd;
    char fix[CTL_EXPLANATION_MAX + 1], when[64];
    int found = decision_read(p, ref, &pd);

    if (found < 0)
        return send_store_failed(conn);
    if (found == 0)
        return send_not_found(conn);
    if (ctl_explain_text(&p->ctl, pd.check, fix, sizeof fix) != STORE_OK)
        return send_store_failed(conn);
    struct page pg = {0};
    page_begin(&pg, "Why your mail was refused");
    page_raw(&pg, "<p>Reference <code>");
    page_text(&pg, ref);
    page_raw(&pg, "</code></p>\n<h2>");
    page_text(&pg, ctl_explain_title(pd.check));
    page_raw(&pg, "</h2>\n<dl><dt>When</dt><dd>");
    ctl_format_time(pd.time, when, sizeof when);
    page_text(&pg, when);
    page_raw(&pg, "</dd><dt>Answer</dt><dd>");
    page_text(&pg, strcmp(pd.action, "reject") == 0 ? "refused" : "deferred (temporary: retried)");
    if (pd.code[0] != '\0') {
        page_raw(&pg, " <code>");
        page_text(&pg, pd.code);
        page_raw(&pg, "</code>");
    }
    page_raw(&pg, "</dd><dt>Sending server</dt><dd>");
    page_text(&pg, pd.ip[0] != '\0' ? pd.ip : "unknown");
    if (pd.helo[0] != '\0') {
        page_raw(&pg, ", HELO <code>");
        page_text(&pg, pd.helo);
        page_raw(&pg, "</code>");
    }
    page_raw(&pg, "</dd></dl>\n<h2>What to fix on your side</h2>\n<p class=\"fix\">");
    page_text(&pg, fix);
    page_raw(&pg, "</p>\n<h2>Request a review</h2>\n<p>If you believe this refusal is wrong, "
                  "tell the support desk; they answer at the address you give.</p>\n"
                  "<form method=\"post\" action=\"/why/");
    page_text(&pg, ref);
    page_raw(&pg, "/review\"><label>Your address<br><input type=\"email\" name=\"contact\" "
                  "maxlength=\"254\" required></label><label>What should we look at?<br>"
                  "<textarea name=\"text\" maxlength=\"1000\" required></textarea></label>"
                  "<button type=\"submit\">Send the request</button></form>\n");
    return send_page(conn, MHD_HTTP_OK, &pg, 0);
}

/* ---- the review request ---- */

static enum MHD_Result post_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *filename, const char *content_type,
                                  const char *transfer_encoding, const char *data, uint64_t off,
                                  size_t size)
{
    (void)kind, (void)filename, (void)content_type, (void)transfer_encoding, (void)off;
    struct public_request *req = cls;
    char *dst = NULL;
    size_t *len = NULL, max = 0;

    if (strcmp(key, "contact") == 0) {
        dst = req->contact, len = &req->contact_len, max = PUBLIC_CONTACT_MAX;
    } else if (strcmp(key, "text") == 0) {
        dst = req->text, len = &req->text_len, max = PUBLIC_TEXT_MAX;
    } else {
        return MHD_YES; /* another field: ignored */
    }
    if (*len + size > max)
        return MHD_NO; /* the request is then bad */
    memcpy(dst + *len, data, size);
    *len += size;
    dst[*len] = '\0';
    return MHD_YES;
}

/* An address to answer: local@domain, printable ASCII without blanks, quotes or brackets. */
static bool contact_valid(const char *s, size_t len)
{
    const char *at = strchr(s, '@');
    if (len < 3 || len > PUBLIC_CONTACT_MAX || at == NULL || at == s || at[1] == '\0' ||
        strchr(at + 1, '@') != NULL || strchr(at + 1, '.') == NULL || strlen(s) != len)
        return false;
    for (; *s != '\0'; s++)
        if (*s <= ' ' || *s >= 0x7f || strchr("\"<>()[]\\,;:", *s) != NULL)
            return false;
    return true;
}

/* The sender's words: UTF-8 without control characters but line ends and tabs. */
static bool text_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    if (len == 0 || strlen(s) != len)
        return false;
    while (p < end) {
        size_t n = *p >= 0x80 ? str_utf8_length(p, end)
                   : (*p >= 0x20 && *p != 0x7f) || *p == '\n' || *p == '\r' || *p == '\t' ? 1
                                                                                          : 0;
        if (n == 0)
            return false;
        p += n;
    }
    return true;
}

static enum MHD_Result review_post(struct console_public *p, struct MHD_Connection *conn,
                                   struct public_request *req, const char *ref, const char *client)
{
    struct public_decision pd;
    int found = decision_read(p, ref, &pd);

    if (found < 0)
        return send_store_failed(conn);
    if (found == 0)
        return send_not_found(conn);
    if (req->post == NULL || req->bad || !contact_valid(req->contact, req->contact_len) ||
        !text_valid(req->text, req->text_len))
        return send_message(conn, MHD_HTTP_BAD_REQUEST, "The request was not sent",
                            "Give your e-mail address and a short text (at most 1000 "
                            "characters), then send the form again.",
                            0);
    struct store_review r = {.ref = ref,
                             .at = console_now(),
                             .client = client,
                             .contact = req->contact,
                             .text = req->text};
    enum store_status st =
        store_review_add(p->ctl.store, &r, PUBLIC_OPEN_REVIEWS_PER_REF, &p->ctl.err);
    if (st == STORE_NOTFOUND)
        return send_message(conn, MHD_HTTP_TOO_MANY_REQUESTS, "A review is already waiting",
                            "Requests about this reference are already waiting for the support "
                            "desk; they will answer.",
                            PUBLIC_REVIEW_WINDOW);
    if (st != STORE_OK) {
        fprintf(stderr, "ingress-console: public page: adding a review request: %s\n",
                p->ctl.err.text);
        return send_store_failed(conn);
    }
    fprintf(stderr, "ingress-console: public review request ref=%s from=%s\n", ref, client);
    struct page pg = {0};
    page_begin(&pg, "Your request was sent");
    page_raw(&pg, "<p>The support desk has your request about reference <code>");
    page_text(&pg, ref);
    page_raw(&pg, "</code> and will answer at ");
    page_text(&pg, req->contact);
    page_raw(&pg, ".</p>\n");
    return send_page(conn, MHD_HTTP_OK, &pg, 0);
}

/* ---- the listener ---- */

static enum MHD_Result route(struct console_public *p, struct MHD_Connection *conn, const char *url,
                             const char *method, struct public_request *req)
{
    char client[INET6_ADDRSTRLEN], ref[POLICY_REF_LEN + 1];
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0,
         post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;

    if (get && strcmp(url, "/why.css") == 0)
        return send_body(conn, MHD_HTTP_OK, xstrdup(page_style), "text/css; charset=utf-8", 0);
    client_key(conn, client, sizeof client);
    if (strncmp(url, "/why/", 5) != 0 || !(get || post))
        return send_not_found(conn);
    const char *rest = url + 5, *slash = strchr(rest, '/');
    bool review = post && slash != NULL && strcmp(slash, "/review") == 0;
    int wait = client_wait(client_slot(p, client), review, console_now());
    if (wait > 0) {
        fprintf(stderr, "ingress-console: public from=%s rate-limited\n", client);
        return send_message(conn, MHD_HTTP_TOO_MANY_REQUESTS, "Too many requests",
                            "Too many requests from your address: please wait a little.", wait);
    }
    size_t len = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
    if (!ref_parse(rest, len, ref))
        return send_not_found(conn);
    if (get && slash == NULL)
        return why_page(p, conn, ref);
    if (review)
        return review_post(p, conn, req, ref, client);
    return send_not_found(conn);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    (void)version;
    struct public_request *req = *req_cls;

    if (req == NULL) {
        req = xcalloc(1, sizeof *req);
        *req_cls = req;
        /* NULL for a body that is not a form: the request is then refused whole. */
        if (strcmp(method, MHD_HTTP_METHOD_POST) == 0)
            req->post = MHD_create_post_processor(conn, 1024, post_field, req);
        const char *length =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        int64_t announced = 0;
        if (length != NULL && !console_parse_number(length, 0, CONSOLE_BODY_DRAIN_MAX, &announced))
            return send_message(conn, MHD_HTTP_CONTENT_TOO_LARGE, "The request was not sent",
                                "The form was too long.", 0);
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        req->body_len += *upload_data_size;
        if (req->body_len > CONSOLE_BODY_DRAIN_MAX)
            return MHD_NO;
        if (req->body_len > PUBLIC_BODY_MAX || req->post == NULL ||
            (!req->bad && MHD_post_process(req->post, upload_data, *upload_data_size) != MHD_YES))
            req->bad = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->body_len > PUBLIC_BODY_MAX)
        return send_message(conn, MHD_HTTP_CONTENT_TOO_LARGE, "The request was not sent",
                            "The form was too long.", 0);
    return route(cls, conn, url, method, req);
}

static void request_done(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)conn, (void)code;
    struct public_request *req = *req_cls;
    if (req == NULL)
        return;
    if (req->post != NULL)
        MHD_destroy_post_processor(req->post);
    free(req);
    *req_cls = NULL;
}

struct console_public *console_public_start(const struct config *cfg, const char *database)
{
    struct console_public *p = xcalloc(1, sizeof *p);
    p->ctl.verb = "console";
    p->ctl.cfg = cfg;
    p->ctl.store = store_open_existing(database, cfg->store_busy_timeout, &p->ctl.err);
    if (p->ctl.store == NULL) {
        fprintf(stderr, "ingress-console: public page: %s\n", p->ctl.err.text);
        free(p);
        return NULL;
    }
    p->daemon = console_daemon_start("console_public_listen", cfg->console_public_listen,
                                     PUBLIC_CONNECTIONS_PER_IP, handle, request_done, p);
    if (p->daemon == NULL) {
        store_close(p->ctl.store);
        free(p);
        return NULL;
    }
    fprintf(stderr, "ingress-console: the remote sender's page on %s\n",
            cfg->console_public_listen);
    return p;
}

void console_public_stop(struct console_public *p)
{
    if (p == NULL)
        return;
    console_daemon_stop(p->daemon);
    store_close(p->ctl.store);
    free(p);
}
