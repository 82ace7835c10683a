/*
 * ingress-console: the support desk's JSON API over HTTP (libmicrohttpd: the library parses
 * every request; nothing here reads a byte of one beyond what it hands us).
 *
 *   ingress-console [-c FILE] [-d DATABASE] [-f]
 *
 * A process of its own, never a thread of the milter: a crash, a leak or a hung request here
 * cannot stop mail.  It opens the store as ingressctl does (store_open_existing) and does each
 * thing through the same functions as ingressctl's verbs (ctl_why_json, ctl_list_entry_valid,
 * ctl_held_decide_one, ...), so the console can do nothing the command line does not.
 *
 * Who may do what: a user of console_users_file logs in (POST /api/login) and gets a session
 * cookie (HttpOnly, SameSite=Strict) and a CSRF token that every POST and DELETE sends back in
 * the X-CSRF-Token header: another site can make a browser send the cookie, never read the
 * token.  postmaster may do everything; support reads everything, adds allow entries, removes
 * entries (unblocks) and releases held mail.  Every change records the user and the client's
 * address as who did it, and the request's "reason" as why.
 *
 * One libmicrohttpd thread serves every request in turn, so the sessions and the failed-login
 * table need no lock; a login's yescrypt check is the slowest step (tens of milliseconds).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "config.h"
#include "console_users.h"
#include "ctl.h"
#include "ctl_json.h"
#include "lists.h"
#include "store.h"
#include "util.h"

#ifndef INGRESS_DEFAULT_CONFIG
#define INGRESS_DEFAULT_CONFIG "/etc/milter-ingress/milter-ingress.conf"
#endif

/* A request body (JSON of a few fields) is small; a bigger one is refused with 413 unread. */
#define CONSOLE_BODY_MAX (16 * 1024)
#define CONSOLE_SESSIONS_MAX 256
#define CONSOLE_TOKEN_BYTES 32 /* 256 random bits: never guessed */
#define CONSOLE_TOKEN_HEX (2 * CONSOLE_TOKEN_BYTES + 1)
/* Failed logins: this many from one address within the window, then 429 until it ends. */
#define CONSOLE_LOGIN_FAILURES_MAX 5
#define CONSOLE_LOGIN_WINDOW 300
#define CONSOLE_CLIENTS_MAX 256
#define CONSOLE_COOKIE "console_session"
#define CONSOLE_CSRF_HEADER "X-CSRF-Token"
#define CONSOLE_WHY_LIMIT_MAX 1000
#define CONSOLE_CONNECTIONS_MAX 64
#define CONSOLE_CONNECTIONS_PER_IP 16
#define CONSOLE_TIMEOUT_SECONDS 10
#define CONSOLE_MEMORY_PER_CONNECTION (32 * 1024)

struct console_session {
    char token[CONSOLE_TOKEN_HEX], csrf[CONSOLE_TOKEN_HEX];
    char user[CONSOLE_USER_MAX];
    enum console_role role;
    int64_t expires; /* 0: a free slot */
};

struct console_client {
    char addr[INET6_ADDRSTRLEN];
    int failures;
    int64_t window_start;
};

struct console {
    struct ctl ctl;
    struct console_session sessions[CONSOLE_SESSIONS_MAX];
    struct console_client clients[CONSOLE_CLIENTS_MAX];
};

/* One request while its body arrives. */
struct console_request {
    char *body;
    size_t len;
    bool too_big;
};

/* What a handler needs of the request. */
struct console_call {
    struct console *c;
    struct MHD_Connection *conn;
    const char *method, *path; /* path: after "/api/" */
    const char *body;
    size_t len;
    char addr[INET6_ADDRSTRLEN];
    const struct console_session *session; /* NULL before the login check */
};

/* ---- responses ---- */

static enum MHD_Result respond_json(struct MHD_Connection *conn, unsigned code, json_t *doc,
                                    const char *cookie)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL)
        return MHD_NO;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (cookie != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

/* {"error": text}: text is ours, never a secret, never the request's bytes unescaped. */
static enum MHD_Result respond_error(struct MHD_Connection *conn, unsigned code, const char *text)
{
    json_t *doc = ctl_json_object();
    ctl_json_set_text(doc, "error", text);
    return respond_json(conn, code, doc, NULL);
}

static void console_log(const struct console_call *call, const char *what, const char *result)
{
    char user[CONSOLE_USER_MAX * 4], shown[512];
    str_printable(user, sizeof user, call->session != NULL ? call->session->user : "-");
    fprintf(stderr, "ingress-console: user=%s from=%s %s %s result=%s\n", user, call->addr,
            call->method, str_printable(shown, sizeof shown, what), result);
}

/* ---- sessions and logins ---- */

static int64_t now_seconds(void)
{
    return (int64_t)time(NULL);
}

static bool random_hex(char *out)
{
    unsigned char raw[CONSOLE_TOKEN_BYTES];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return false;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return true;
}

/* Compares two tokens in a time that does not depend on where they differ. */
static bool token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* The session of the request's cookie, or NULL (an expired one is forgotten here). */
static const struct console_session *session_find(struct console *c, struct MHD_Connection *conn)
{
    const char *token = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, CONSOLE_COOKIE);
    int64_t now = now_seconds();

    if (token == NULL || strlen(token) != CONSOLE_TOKEN_HEX - 1)
        return NULL;
    for (size_t i = 0; i < CONSOLE_SESSIONS_MAX; i++) {
        struct console_session *s = &c->sessions[i];
        if (s->expires == 0 || !token_equal(s->token, token))
            continue;
        if (s->expires > now)
            return s;
        memset(s, 0, sizeof *s);
        return NULL;
    }
    return NULL;
}

/* A slot for a new session: a free or expired one, else the one nearest its end. */
static struct console_session *session_slot(struct console *c)
{
    struct console_session *oldest = &c->sessions[0];
    int64_t now = now_seconds();
    for (size_t i = 0; i < CONSOLE_SESSIONS_MAX; i++) {
        struct console_session *s = &c->sessions[i];
        if (s->expires <= now)
            return s;
        if (s->expires < oldest->expires)
            oldest = s;
    }
    return oldest;
}

static struct console_client *client_find(struct console *c, const char *addr, bool create)
{
    struct console_client *free_slot = NULL, *oldest = &c->clients[0];
    int64_t now = now_seconds();
    for (size_t i = 0; i < CONSOLE_CLIENTS_MAX; i++) {
        struct console_client *k = &c->clients[i];
        if (k->addr[0] != '\0' && strcmp(k->addr, addr) == 0)
            return k;
        if (free_slot == NULL &&
            (k->addr[0] == '\0' || k->window_start + CONSOLE_LOGIN_WINDOW <= now))
            free_slot = k;
        if (k->window_start < oldest->window_start)
            oldest = k;
    }
    if (!create)
        return NULL;
    struct console_client *k = free_slot != NULL ? free_slot : oldest;
    memset(k, 0, sizeof *k);
    str_copy(k->addr, sizeof k->addr, addr);
    k->window_start = now;
    return k;
}

/* Has addr failed too often within the window? */
static bool login_blocked(struct console *c, const char *addr)
{
    struct console_client *k = client_find(c, addr, false);
    if (k == NULL)
        return false;
    if (k->window_start + CONSOLE_LOGIN_WINDOW <= now_seconds()) {
        memset(k, 0, sizeof *k);
        return false;
    }
    return k->failures >= CONSOLE_LOGIN_FAILURES_MAX;
}

static json_t *body_json(const struct console_call *call)
{
    json_error_t err;
    json_t *doc =
        json_loadb(call->body != NULL ? call->body : "", call->len, JSON_REJECT_DUPLICATES, &err);
    if (doc != NULL && !json_is_object(doc)) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* A string field of obj, or NULL when absent or not a string. */
static const char *field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static enum MHD_Result api_login(struct console_call *call)
{
    struct console *c = call->c;
    char why[512], cookie[256];
    enum console_role role;

    if (login_blocked(c, call->addr)) {
        console_log(call, "login", "rate-limited");
        return respond_error(call->conn, MHD_HTTP_TOO_MANY_REQUESTS,
                             "too many failed logins from this address: try again later");
    }
    json_t *in = body_json(call);
    const char *name = in != NULL ? field(in, "name") : NULL;
    const char *password = in != NULL ? field(in, "password") : NULL;
    if (name == NULL || password == NULL || !console_user_name_valid(name) ||
        strlen(password) > CONSOLE_PASSWORD_MAX) {
        json_decref(in);
        return respond_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "expected a JSON object with name and password");
    }
    int ok =
        console_users_check(c->ctl.cfg->console_users_file, name, password, &role, why, sizeof why);
    if (ok < 0) {
        json_decref(in);
        fprintf(stderr, "ingress-console: %s\n", why);
        return respond_error(call->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                             "the users file cannot be read (see the console's log)");
    }
    if (ok == 0) {
        struct console_client *k = client_find(c, call->addr, true);
        k->failures++;
        console_log(call, "login", "refused");
        json_decref(in);
        return respond_error(call->conn, MHD_HTTP_UNAUTHORIZED, "wrong name or password");
    }
    struct console_session *s = session_slot(c);
    memset(s, 0, sizeof *s);
    if (!random_hex(s->token) || !random_hex(s->csrf)) {
        json_decref(in);
        memset(s, 0, sizeof *s);
        return respond_error(call->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "no random bytes");
    }
    str_copy(s->user, sizeof s->user, name);
    s->role = role;
    int64_t lifetime = c->ctl.cfg->console_session_lifetime / 1000;
    s->expires = now_seconds() + lifetime;
    json_decref(in);
    call->session = s;
    console_log(call, "login", "ok");
    str_printf(cookie, sizeof cookie,
               CONSOLE_COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%lld", s->token,
               (long long)lifetime);
    json_t *out = ctl_json_object();
    ctl_json_set_text(out, "user", s->user);
    ctl_json_set_text(out, "role", console_role_name(role));
    ctl_json_set_text(out, "csrf_token", s->csrf);
    ctl_json_set_int(out, "expires", s->expires);
    return respond_json(call->conn, MHD_HTTP_OK, out, cookie);
}

/* ---- reading ---- */

static bool parse_number(const char *text, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    if (text == NULL)
        return true;
    errno = 0;
    long long n = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || n < min || n > max)
        return false;
    *out = n;
    return true;
}

static enum MHD_Result store_failed(struct console_call *call, const char *what)
{
    fprintf(stderr, "ingress-console: %s: %s\n", what, call->c->ctl.err.text);
    return respond_error(call->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                         "the store failed (see the console's log)");
}

static enum MHD_Result api_why(struct console_call *call)
{
    struct store_decision_query q = {0};
    int64_t limit = 20;
    const char *key = MHD_lookup_connection_value(call->conn, MHD_GET_ARGUMENT_KIND, "key");
    json_t *doc;

    if (key == NULL || !ctl_why_key_valid(key))
        return respond_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "key: a queue id, reference, IP address, address or domain");
    if (!parse_number(MHD_lookup_connection_value(call->conn, MHD_GET_ARGUMENT_KIND, "since"), 0,
                      INT64_MAX, &q.since) ||
        !parse_number(MHD_lookup_connection_value(call->conn, MHD_GET_ARGUMENT_KIND, "until"), 0,
                      INT64_MAX, &q.until) ||
        !parse_number(MHD_lookup_connection_value(call->conn, MHD_GET_ARGUMENT_KIND, "limit"), 1,
                      CONSOLE_WHY_LIMIT_MAX, &limit))
        return respond_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "since and until: unix seconds; limit: 1 to 1000");
    q.key = key;
    if (ctl_why_json(&call->c->ctl, &q, (size_t)limit, &doc) != STORE_OK)
        return store_failed(call, "reading the decisions");
    return respond_json(call->conn, MHD_HTTP_OK, doc, NULL);
}

static void held_collect(const struct store_held *h, void *arg)
{
    ctl_json_append(arg, ctl_held_json(h));
}

/* GET held (state held; ?all=1 every state) or held/QUEUEID (every row of that queue id). */
static enum MHD_Result api_held_get(struct console_call *call, const char *queue_id)
{
    const char *all = MHD_lookup_connection_value(call->conn, MHD_GET_ARGUMENT_KIND, "all");
    json_t *doc = ctl_json_array();

    if (queue_id != NULL && !command_queue_id_valid(queue_id)) {
        json_decref(doc);
        return respond_error(call->conn, MHD_HTTP_NOT_FOUND, "no such held message");
    }
    enum store_status st =
        store_held_each(call->c->ctl.store, queue_id, NULL,
                        queue_id != NULL || (all != NULL && strcmp(all, "1") == 0) ? NULL : "held",
                        held_collect, doc, &call->c->ctl.err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        json_decref(doc);
        return store_failed(call, "reading the held messages");
    }
    if (queue_id != NULL && json_array_size(doc) == 0) {
        json_decref(doc);
        return respond_error(call->conn, MHD_HTTP_NOT_FOUND, "no such held message");
    }
    return respond_json(call->conn, MHD_HTTP_OK, doc, NULL);
}

struct lists_collect {
    json_t *doc;
    int64_t now;
};

static void list_collect(const struct list_entry *e, void *arg)
{
    struct lists_collect *l = arg;
    ctl_json_append(l->doc, ctl_list_entry_json(e, l->now));
}

static enum MHD_Result api_lists_get(struct console_call *call)
{
    struct lists_collect l = {ctl_json_array(), now_seconds()};
    enum store_status st =
        store_list_each(call->c->ctl.store, NULL, 0, list_collect, &l, &call->c->ctl.err);
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        json_decref(l.doc);
        return store_failed(call, "reading the lists");
    }
    return respond_json(call->conn, MHD_HTTP_OK, l.doc, NULL);
}

/* ---- changing ---- */

/* Who made a change, as recorded: "NAME via console from ADDRESS", at most 63 bytes. */
static void change_by(const struct console_call *call, char *by, size_t bylen)
{
    str_printf(by, bylen, "%s via console from %s", call->session->user, call->addr);
}

/* The request's reason: printable, at most CTL_REASON_MAX bytes, required. */
static const char *change_reason(json_t *in)
{
    const char *reason = field(in, "reason");
    if (reason == NULL || reason[0] == '\0' || strlen(reason) > CTL_REASON_MAX ||
        !lists_reason_valid(reason))
        return NULL;
    return reason;
}

/* The reason of a body that has only that to say; *in (NULL on failure) owns the string. */
static const char *body_reason(const struct console_call *call, json_t **in)
{
    *in = body_json(call);
    const char *reason = *in != NULL ? change_reason(*in) : NULL;
    if (reason == NULL) {
        json_decref(*in);
        *in = NULL;
    }
    return reason;
}

static enum MHD_Result api_lists_add(struct console_call *call)
{
    enum lists_kind kind;
    enum lists_action action;
    char value[LISTS_VALUE_MAX], why[512], by[64], previous[16];
    json_t *in = body_json(call);

    if (in == NULL)
        return respond_error(call->conn, MHD_HTTP_BAD_REQUEST, "expected a JSON object");
    const char *kind_text = field(in, "kind"), *value_text = field(in, "value"),
               *action_text = field(in, "action"), *reason = change_reason(in);
    if (kind_text == NULL || value_text == NULL || action_text == NULL || reason == NULL) {
        json_decref(in);
        return respond_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "expected kind, value, action and reason (printable text, at most "
                             "200 characters)");
    }
    if (!ctl_list_entry_valid(kind_text, value_text, action_text, reason, &kind, value, &action,
                              why, sizeof why)) {
        json_decref(in);
        return respond_error(call->conn, MHD_HTTP_BAD_REQUEST, why);
    }
    /* support may allow (a sender for a user, an IP that was blocked), never block. */
    if (call->session->role != CONSOLE_ROLE_POSTMASTER && action != LISTS_ALLOW) {
        json_decref(in);
        console_log(call, "lists add", "forbidden");
        return respond_error(call->conn, MHD_HTTP_FORBIDDEN, "support may add allow entries only");
    }
    change_by(call, by, sizeof by);
    int64_t now = now_seconds();
    struct list_entry e = {.kind = lists_kind_name(kind),
                           .value = value,
                           .action = lists_action_name(action),
                           .reason = reason,
                           .public_text = "",
                           .added_by = by,
                           .added_at = now};
    enum store_status st =
        store_list_add(call->c->ctl.store, &e, previous, sizeof previous, &call->c->ctl.err);
    if (st != STORE_OK) {
        json_decref(in);
        return store_failed(call, "adding the entry");
    }
    console_log(call, "lists add", previous[0] != '\0' ? "replaced" : "added");
    json_t *out = ctl_list_entry_json(&e, now); /* before in goes: e borrows its strings */
    ctl_json_set_bool(out, "replaced", previous[0] != '\0');
    json_decref(in);
    return respond_json(call->conn, MHD_HTTP_OK, out, NULL);
}

/* DELETE lists/KIND/VALUE (the value may hold '/', as a CIDR does). */
static enum MHD_Result api_lists_del(struct console_call *call, const char *rest)
{
    enum lists_kind kind;
    char kind_text[32], value[LISTS_VALUE_MAX], why[256];
    const char *slash = strchr(rest, '/');

    if (slash == NULL || (size_t)(slash - rest) >= sizeof kind_text)
        return respond_error(call->conn, MHD_HTTP_NOT_FOUND, "no such entry");
    memcpy(kind_text, rest, (size_t)(slash - rest));
    kind_text[slash - rest] = '\0';
    if (!lists_kind_parse(kind_text, &kind) ||
        !lists_normalize_value(kind, slash + 1, value, sizeof value, why, sizeof why))
        return respond_error(call->conn, MHD_HTTP_NOT_FOUND, "no such entry");
    json_t *in;
    const char *reason = body_reason(call, &in);
    if (reason == NULL)
        return respond_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "expected a JSON object with the reason");
    enum store_status st =
        store_list_del(call->c->ctl.store, lists_kind_name(kind), value, &call->c->ctl.err);
    if (st == STORE_NOTFOUND) {
        json_decref(in);
        return respond_error(call->conn, MHD_HTTP_NOT_FOUND, "no such entry");
    }
    if (st != STORE_OK) {
        json_decref(in);
        return store_failed(call, "deleting the entry");
    }
    char what[LISTS_VALUE_MAX + 300];
    str_printf(what, sizeof what, "lists del %s %s reason=\"%s\"", lists_kind_name(kind), value,
               reason);
    console_log(call, what, "deleted");
    json_decref(in);
    json_t *out = ctl_json_object();
    ctl_json_set_text(out, "deleted", value);
    ctl_json_set_text(out, "kind", lists_kind_name(kind));
    return respond_json(call->conn, MHD_HTTP_OK, out, NULL);
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
        return respond_error(call->conn, MHD_HTTP_NOT_FOUND, "no such held message");
    memcpy(id, rest, (size_t)(slash - rest));
    id[slash - rest] = '\0';
    bool release = strcmp(slash + 1, "release") == 0;
    if (!command_queue_id_valid(id) || (!release && strcmp(slash + 1, "reject") != 0))
        return respond_error(call->conn, MHD_HTTP_NOT_FOUND, "no such held message or action");
    if (!release && call->session->role != CONSOLE_ROLE_POSTMASTER) {
        console_log(call, "held reject", "forbidden");
        return respond_error(call->conn, MHD_HTTP_FORBIDDEN, "only a postmaster may reject");
    }
    json_t *in;
    const char *reason = body_reason(call, &in);
    if (reason == NULL)
        return respond_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "expected a JSON object with the reason");
    enum store_status st = store_held_each(call->c->ctl.store, id, NULL, "held", host_collect, host,
                                           &call->c->ctl.err);
    if (st == STORE_NOTFOUND) {
        json_decref(in);
        return respond_error(call->conn, MHD_HTTP_NOT_FOUND, "no message held with this id");
    }
    if (st != STORE_OK) {
        json_decref(in);
        return store_failed(call, "reading the held messages");
    }
    change_by(call, by, sizeof by);
    struct ctl_held_action act = {.release = release,
                                  .verb = release ? "release" : "reject",
                                  .state = release ? "released" : "rejected",
                                  .by = by,
                                  .reason = reason};
    int done = ctl_held_decide_one(&call->c->ctl, &act, id, host);
    json_decref(in);
    console_log(call, release ? "held release" : "held reject",
                done > 0    ? act.state
                : done == 0 ? "not held"
                            : "failed");
    if (done == 0)
        return respond_error(call->conn, MHD_HTTP_CONFLICT, "no longer held");
    if (done < 0)
        return respond_error(call->conn, MHD_HTTP_BAD_GATEWAY,
                             "the MTA's command failed: the message stays held (see the log)");
    json_t *out = ctl_json_object();
    ctl_json_set_text(out, "queue_id", id);
    ctl_json_set_text(out, "state", act.state);
    ctl_json_set_text(out, "decided_by", by);
    return respond_json(call->conn, MHD_HTTP_OK, out, NULL);
}

/* ---- routing ---- */

static bool is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static enum MHD_Result route(struct console_call *call)
{
    const char *p = call->path, *m = call->method;
    bool get = is(m, MHD_HTTP_METHOD_GET), post = is(m, MHD_HTTP_METHOD_POST);

    if (post && is(p, "login"))
        return api_login(call);
    call->session = session_find(call->c, call->conn);
    if (call->session == NULL)
        return respond_error(call->conn, MHD_HTTP_UNAUTHORIZED, "log in first (POST /api/login)");
    if (!get) {
        /* Every change carries the session's CSRF token: a page of another site can make the
         * browser send the cookie, but cannot read the token to send it too. */
        const char *csrf =
            MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND, CONSOLE_CSRF_HEADER);
        if (csrf == NULL || !token_equal(csrf, call->session->csrf)) {
            console_log(call, p, "csrf-refused");
            return respond_error(call->conn, MHD_HTTP_FORBIDDEN,
                                 "missing or wrong " CONSOLE_CSRF_HEADER " header");
        }
    }
    if (get && is(p, "why"))
        return api_why(call);
    if (get && is(p, "held"))
        return api_held_get(call, NULL);
    if (get && strncmp(p, "held/", 5) == 0)
        return api_held_get(call, p + 5);
    if (get && is(p, "lists"))
        return api_lists_get(call);
    if (post && is(p, "lists"))
        return api_lists_add(call);
    if (is(m, MHD_HTTP_METHOD_DELETE) && strncmp(p, "lists/", 6) == 0)
        return api_lists_del(call, p + 6);
    if (post && strncmp(p, "held/", 5) == 0)
        return api_held_decide(call, p + 5);
    if (post && is(p, "logout")) {
        memset((struct console_session *)call->session, 0, sizeof *call->session);
        return respond_json(call->conn, MHD_HTTP_OK, ctl_json_object(), NULL);
    }
    return respond_error(call->conn, MHD_HTTP_NOT_FOUND, "no such resource");
}

static void client_address(struct MHD_Connection *conn, char *out, size_t outlen)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    str_copy(out, outlen, "?");
    if (info == NULL || info->client_addr == NULL)
        return;
    const struct sockaddr *sa = info->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)outlen);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)outlen);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    (void)version;
    struct console_request *req = *req_cls;

    if (req == NULL) {
        *req_cls = xcalloc(1, sizeof *req);
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        /* A body over the bound is read and dropped, then refused whole. */
        if (!req->too_big && req->len + *upload_data_size <= CONSOLE_BODY_MAX) {
            req->body = xrealloc(req->body, req->len + *upload_data_size + 1);
            memcpy(req->body + req->len, upload_data, *upload_data_size);
            req->len += *upload_data_size;
            req->body[req->len] = '\0';
        } else {
            req->too_big = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->too_big)
        return respond_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
    struct console_call call = {
        .c = cls, .conn = conn, .method = method, .body = req->body, .len = req->len};
    client_address(conn, call.addr, sizeof call.addr);
    if (strncmp(url, "/api/", 5) != 0)
        return respond_error(conn, MHD_HTTP_NOT_FOUND, "no such resource (the API is /api/)");
    call.path = url + 5;
    return route(&call);
}

static void request_done(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)conn;
    (void)code;
    struct console_request *req = *req_cls;
    if (req == NULL)
        return;
    free(req->body);
    free(req);
    *req_cls = NULL;
}

/* console_listen as a socket address for libmicrohttpd. */
static bool listen_address(const char *spec, struct sockaddr_storage *ss)
{
    char host[64];
    int port;

    memset(ss, 0, sizeof *ss);
    if (!config_split_listen(spec, host, sizeof host, &port))
        return false;
    if (strchr(host, ':') != NULL) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        return inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1;
    }
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sin->sin_addr) == 1;
}

static struct config *load_config(const char *path, bool given)
{
    char err[1024];
    if (!given && access(path, F_OK) != 0 && errno == ENOENT)
        return config_new_defaults();
    struct config *cfg = config_load(path, err, sizeof err);
    if (cfg == NULL)
        fprintf(stderr, "ingress-console: %s\n", err);
    return cfg;
}

static int serve(struct console *c)
{
    struct sockaddr_storage ss;
    sigset_t stop;
    int sig;

    if (!listen_address(c->ctl.cfg->console_listen, &ss)) {
        fprintf(stderr, "ingress-console: console_listen: expected ADDRESS:PORT\n");
        return 2;
    }
    /* SIGTERM and SIGINT blocked before the library's thread starts (it inherits the mask), so
     * that only sigwait below takes them. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, c, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)CONSOLE_CONNECTIONS_MAX, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)CONSOLE_CONNECTIONS_PER_IP, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)CONSOLE_TIMEOUT_SECONDS, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)CONSOLE_MEMORY_PER_CONNECTION, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "ingress-console: cannot listen on %s: %s\n", c->ctl.cfg->console_listen,
                strerror(errno));
        return 2;
    }
    fprintf(stderr, "ingress-console: listening on %s\n", c->ctl.cfg->console_listen);
    sigwait(&stop, &sig);
    MHD_stop_daemon(d);
    return 0;
}

int main(int argc, char **argv)
{
    const char *config_path = INGRESS_DEFAULT_CONFIG, *database = NULL;
    bool given = false;
    int opt;

    while ((opt = getopt(argc, argv, "c:d:h")) != -1) {
        if (opt == 'c') {
            config_path = optarg;
            given = true;
        } else if (opt == 'd') {
            database = optarg;
        } else {
            fprintf(opt == 'h' ? stdout : stderr,
                    "usage: ingress-console [-c FILE] [-d DATABASE]\n"
                    "  the console's JSON API on console_listen (README: Console)\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "ingress-console: no arguments expected (see -h)\n");
        return 2;
    }
    struct config *cfg = load_config(config_path, given);
    if (cfg == NULL)
        return 2;
    struct console *c = xcalloc(1, sizeof *c);
    c->ctl.verb = "console";
    c->ctl.cfg = cfg;
    c->ctl.store = store_open_existing(database != NULL ? database : cfg->database,
                                       cfg->store_busy_timeout, &c->ctl.err);
    if (c->ctl.store == NULL) {
        fprintf(stderr, "ingress-console: %s\n", c->ctl.err.text);
        free(c);
        config_free(cfg);
        return 2;
    }
    int status = serve(c);
    store_close(c->ctl.store);
    explicit_bzero(c->sessions, sizeof c->sessions);
    free(c);
    config_free(cfg);
    return status;
}
