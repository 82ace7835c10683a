/*
 * ingress-console: who is asking.  A user of console_users_file logs in (POST /api/login) and
 * gets a session cookie (HttpOnly, SameSite=Strict) and a CSRF token that every POST and DELETE
 * sends back in the X-CSRF-Token header: another site can make a browser send the cookie, never
 * read the token.  Sessions and the failed-login table live in struct console; one
 * libmicrohttpd thread serves every request in turn, so they need no lock.
 */
#include <stdio.h>
#include <string.h>

#include "console.h"
#include "ctl_json.h"
#include "util.h"

static bool random_hex(char *out)
{
    return console_random_hex(out, CONSOLE_TOKEN_BYTES);
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
    int64_t now = console_now();

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
    int64_t now = console_now();
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
    int64_t now = console_now();
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
    if (k->window_start + CONSOLE_LOGIN_WINDOW <= console_now()) {
        memset(k, 0, sizeof *k);
        return false;
    }
    return k->failures >= CONSOLE_LOGIN_FAILURES_MAX;
}

/* What the page keeps of a session: who, which role, the CSRF token, when it ends. */
static json_t *session_json(const struct console_session *s)
{
    json_t *out = ctl_json_object();
    ctl_json_set_text(out, "user", s->user);
    ctl_json_set_text(out, "role", console_role_name(s->role));
    ctl_json_set_text(out, "csrf_token", s->csrf);
    ctl_json_set_int(out, "expires", s->expires);
    return out;
}

enum MHD_Result console_api_login(struct console_call *call, const char *rest)
{
    (void)rest;
    struct console *c = call->c;
    char why[512], cookie[256];
    enum console_role role;

    if (login_blocked(c, call->addr)) {
        console_log(call, "login", "rate-limited");
        return console_error(call->conn, MHD_HTTP_TOO_MANY_REQUESTS,
                             "too many failed logins from this address: try again later");
    }
    json_t *in = console_body_json(call);
    const char *name = in != NULL ? console_field(in, "name") : NULL;
    const char *password = in != NULL ? console_field(in, "password") : NULL;
    if (name == NULL || password == NULL || !console_user_name_valid(name) ||
        strlen(password) > CONSOLE_PASSWORD_MAX) {
        json_decref(in);
        return console_error(call->conn, MHD_HTTP_BAD_REQUEST,
                             "expected a JSON object with name and password");
    }
    int ok =
        console_users_check(c->ctl.cfg->console_users_file, name, password, &role, why, sizeof why);
    if (ok < 0) {
        json_decref(in);
        fprintf(stderr, "ingress-console: %s\n", why);
        return console_error(call->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                             "the users file cannot be read (see the console's log)");
    }
    if (ok > 0 && role == CONSOLE_ROLE_WEBMAIL) {
        /* A key authenticates each call of a webmail's server; it opens no browser session. */
        json_decref(in);
        console_log(call, "login", "refused-webmail-key");
        return console_error(call->conn, MHD_HTTP_FORBIDDEN,
                             "a webmail key is sent with each call (Authorization: Bearer "
                             "NAME:KEY), it opens no session");
    }
    if (ok == 0) {
        struct console_client *k = client_find(c, call->addr, true);
        k->failures++;
        console_log(call, "login", "refused");
        json_decref(in);
        return console_error(call->conn, MHD_HTTP_UNAUTHORIZED, "wrong name or password");
    }
    struct console_session *s = session_slot(c);
    memset(s, 0, sizeof *s);
    if (!random_hex(s->token) || !random_hex(s->csrf)) {
        json_decref(in);
        memset(s, 0, sizeof *s);
        return console_error(call->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "no random bytes");
    }
    str_copy(s->user, sizeof s->user, name);
    s->role = role;
    int64_t lifetime = c->ctl.cfg->console_session_lifetime / 1000;
    s->expires = console_now() + lifetime;
    json_decref(in);
    call->session = s;
    console_log(call, "login", "ok");
    str_printf(cookie, sizeof cookie,
               CONSOLE_COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%lld", s->token,
               (long long)lifetime);
    return console_json(call->conn, MHD_HTTP_OK, session_json(s), cookie);
}

enum MHD_Result console_api_session(struct console_call *call, const char *rest)
{
    (void)rest;
    return console_json(call->conn, MHD_HTTP_OK, session_json(call->session), NULL);
}

/* ---- reading ---- */

enum MHD_Result console_api_logout(struct console_call *call, const char *rest)
{
    (void)rest;
    console_log(call, "logout", "ok"); /* before the session, and its user, is gone */
    memset((struct console_session *)call->session, 0, sizeof *call->session);
    return console_json(call->conn, MHD_HTTP_OK, ctl_json_object(), NULL);
}

/* A webmail key's call: "Authorization: Bearer NAME:KEY", no cookie and no CSRF token (no
 * browser sends it by itself).  Wrong keys count as failed logins of the client. */
static bool key_authorize(struct console_call *call, const char *header, enum MHD_Result *result)
{
    char why[512];
    if (login_blocked(call->c, call->addr)) {
        console_log(call, "key", "rate-limited");
        *result = console_error(call->conn, MHD_HTTP_TOO_MANY_REQUESTS,
                                "too many failed logins from this address: try again later");
        return false;
    }
    int ok = console_key_check(call, header + 7, why, sizeof why);
    if (ok < 0) {
        fprintf(stderr, "ingress-console: %s\n", why);
        *result = console_error(call->conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                "the users file cannot be read (see the console's log)");
        return false;
    }
    if (ok == 0) {
        client_find(call->c, call->addr, true)->failures++;
        console_log(call, "key", "refused");
        *result = console_error(call->conn, MHD_HTTP_UNAUTHORIZED, "wrong webmail key");
        return false;
    }
    return true;
}

bool console_authorize(struct console_call *call, enum MHD_Result *result)
{
    const char *header =
        MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    /* Another scheme (a proxy's Basic authentication) is not ours: the cookie decides. */
    if (header != NULL && strncmp(header, "Bearer ", 7) == 0)
        return key_authorize(call, header, result);
    call->session = session_find(call->c, call->conn);
    if (call->session == NULL) {
        *result =
            console_error(call->conn, MHD_HTTP_UNAUTHORIZED, "log in first (POST /api/login)");
        return false;
    }
    if (strcmp(call->method, MHD_HTTP_METHOD_GET) == 0)
        return true;
    /* Every change carries the session's CSRF token: a page of another site can make the
     * browser send the cookie, but cannot read the token to send it too. */
    const char *csrf =
        MHD_lookup_connection_value(call->conn, MHD_HEADER_KIND, CONSOLE_CSRF_HEADER);
    if (csrf == NULL || !token_equal(csrf, call->session->csrf)) {
        console_log(call, call->path, "csrf-refused");
        *result = console_error(call->conn, MHD_HTTP_FORBIDDEN,
                                "missing or wrong " CONSOLE_CSRF_HEADER " header");
        return false;
    }
    return true;
}
