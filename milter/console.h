/*
 * ingress-console's parts (see console.c for the process as a whole):
 *   console.c          main, the staff's API listener, reading a request's body
 *   console_daemon.c   the libmicrohttpd setup both listeners share: limits, the request
 *                      watchdog, the %00 guard
 *   console_http.c     responses, the request's fields, the helpers every handler shares
 *   console_session.c  logins, sessions, the CSRF check, the failed-login limit
 *   console_api.c      the route table and the handlers of why, held and lists
 *   console_reviews.c  the staff's side of the remote sender's page: its review requests and
 *                      the site's explanation per check
 *   console_public.c   the remote sender's page: a listener of its own, sharing nothing above
 *   console_static.c   the web page's files (GET / and /static/NAME)
 *   console_accounts.c accounts, recipient rules, check, and the webmail key's cache
 *   console_held.c     a held message's content, an account's held mail at once, unblock, the
 *                      lists' search, the decision counts
 * A handler takes the call and the rest of the path after its route's prefix (NULL for an exact
 * route), and answers with console_json or console_error.
 */
#ifndef INGRESS_CONSOLE_H
#define INGRESS_CONSOLE_H

#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "console_users.h"
#include "ctl.h"

/* A request body (JSON of a few fields) is small; a bigger one is refused with 413 (console.c). */
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

/* A webmail key verified once (yescrypt takes tens of milliseconds): the SHA-256 of
 * "NAME:KEY", never the key. */
#define CONSOLE_KEYS_CACHED 32
struct console_key {
    unsigned char digest[32]; /* all zero: a free slot */
    char user[CONSOLE_USER_MAX];
    char domains[CONSOLE_DOMAINS_MAX];
};

struct console {
    struct ctl ctl;
    const char *database; /* as the store was opened: `check` opens it again for a dry run */
    struct console_session sessions[CONSOLE_SESSIONS_MAX];
    struct console_client clients[CONSOLE_CLIENTS_MAX];
    int static_dir; /* console_static_dir opened, or -1: the page is not served */
    /* The keys verified since the users file last changed (its mtime, inode and size). */
    struct console_key keys[CONSOLE_KEYS_CACHED];
    size_t keys_next;
    struct timespec keys_mtime;
    ino_t keys_ino;
    off_t keys_size;
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
    /* A webmail key's call: its session (made for this call only) and its domains ("": any). */
    struct console_session key_session;
    char key_domains[CONSOLE_DOMAINS_MAX];
};

typedef enum MHD_Result (*console_handler)(struct console_call *call, const char *rest);

/* ---- console_daemon.c ---- */

/* A request (its headers and body) may take this long; an idle connection ends after it too. */
#define CONSOLE_TIMEOUT_SECONDS 10
/*
 * A body over a listener's bound is read and dropped up to this size, so that a client which
 * sends it all before reading sees the 413 (closing on unread bytes would reset the connection
 * and lose the answer).  A longer one announced by Content-Length is refused before it is read; a
 * longer chunked one ends the connection.
 */
#define CONSOLE_BODY_DRAIN_MAX (1024 * 1024)

struct console_daemon;
/*
 * Starts a libmicrohttpd daemon on listen (ADDRESS:PORT, the value of the option so named) with
 * its own thread and request watchdog: handler(cls) answers each request, done(cls) frees what
 * the handler kept in *req_cls.  At most per_ip connections from one address, 64 in all.  listen
 * NULL: no socket, no thread and no watchdog; connections come through MHD_add_connection and
 * MHD_run on console_daemon_mhd (the fuzz target).  NULL after a message on stderr.
 */
struct console_daemon *console_daemon_start(const char *option, const char *listen, unsigned per_ip,
                                            MHD_AccessHandlerCallback handler,
                                            MHD_RequestCompletedCallback done, void *cls);
/* The daemon itself (borrowed). */
struct MHD_Daemon *console_daemon_mhd(const struct console_daemon *d);
/* Stops the watchdog, then the daemon (every connection closed); NULL is a no-op. */
void console_daemon_stop(struct console_daemon *d);

/* ---- console.c ---- */

/* The staff's API listener on listen (see console_daemon_start; NULL: the fuzz target's). */
struct console_daemon *console_api_start(struct console *c, const char *listen);

/* ---- console_http.c ---- */

/* Sends doc (taken) as JSON with code; cookie, when not NULL, as Set-Cookie. */
enum MHD_Result console_json(struct MHD_Connection *conn, unsigned code, json_t *doc,
                             const char *cookie);
/* The same with one header of the caller's (name and value ours: no request bytes), or none. */
enum MHD_Result console_json_header(struct MHD_Connection *conn, unsigned code, json_t *doc,
                                    const char *name, const char *value);
/* {"error": text}: text is ours, never a secret, never the request's bytes unescaped. */
enum MHD_Result console_error(struct MHD_Connection *conn, unsigned code, const char *text);
/* 503 after a store failure; the store's text goes to the log, not the client. */
enum MHD_Result console_store_failed(struct console_call *call, const char *what);
/* The answer to st, a status other than STORE_OK, once doc (taken; NULL for none) is released:
 * 404 with not_found on STORE_NOTFOUND, otherwise console_store_failed() with failing (a caller
 * that has already answered STORE_NOTFOUND itself passes NULL for not_found). */
enum MHD_Result console_store_answer(struct console_call *call, enum store_status st, json_t *doc,
                                     const char *not_found, const char *failing);
/* One log line: the user, the client, the method, what (made printable), the result. */
void console_log(const struct console_call *call, const char *what, const char *result);
int64_t console_now(void);
/* The body as a JSON object, or NULL (not JSON, or not an object). */
json_t *console_body_json(const struct console_call *call);
/* A string field of obj, or NULL when absent or not a string. */
const char *console_field(json_t *obj, const char *key);
/* A query argument of the request, or NULL. */
const char *console_arg(const struct console_call *call, const char *name);
/* text (NULL: *out untouched, true) as a decimal integer within [min, max]. */
bool console_parse_number(const char *text, int64_t min, int64_t max, int64_t *out);
/* Who made a change, as recorded: "NAME via console from ADDRESS", at most 63 bytes. */
void console_change_by(const struct console_call *call, char *by, size_t bylen);
/* The object's reason: printable, at most CTL_REASON_MAX bytes, required; else NULL. */
const char *console_change_reason(json_t *in);
/* The reason of a body that has only that to say; *in (NULL on failure) owns the string. */
const char *console_body_reason(const struct console_call *call, json_t **in);
/* The peer's address as text ("?" when unknown). */
void console_client_address(struct MHD_Connection *conn, char *out, size_t outlen);
/* The client's address as text: the X-Real-IP header when the peer is 127.0.0.1 or ::1 (a
 * reverse proxy on this host) and the header is an IPv4 or IPv6 address, else the peer's. */
void console_client_real_address(struct MHD_Connection *conn, char *out, size_t outlen);

/* ---- console_http.c ---- */

struct sockaddr_storage;
/* A listen option's ADDRESS:PORT as a socket address for libmicrohttpd. */
bool console_listen_address(const char *spec, struct sockaddr_storage *ss);

/* ---- console_session.c ---- */

/* POST /api/login: {"name", "password"} -> a session cookie and its CSRF token. */
enum MHD_Result console_api_login(struct console_call *call, const char *rest);
/* GET /api/session: the call's session as the login answered it (a reloaded page goes on). */
enum MHD_Result console_api_session(struct console_call *call, const char *rest);
/* POST /api/logout: forgets the call's session. */
enum MHD_Result console_api_logout(struct console_call *call, const char *rest);
/*
 * Sets call->session from the cookie and checks the CSRF header of every request that is not a
 * GET.  true: go on; false: the refusal has been queued in *result.
 */
bool console_authorize(struct console_call *call, enum MHD_Result *result);

/* ---- console_accounts.c ---- */

/*
 * Checks a webmail key, "NAME:KEY" (the Authorization header after "Bearer "): 1 right (the call's
 * key_session and key_domains set, call->session pointing at them), 0 wrong (or not a webmail
 * user's), -1 the users file cannot be read (why).  A key once verified is found again by its
 * SHA-256 until the users file changes.
 */
int console_key_check(struct console_call *call, const char *credentials, char *why, size_t whylen);
enum MHD_Result console_api_accounts(struct console_call *call, const char *rest);
enum MHD_Result console_api_account(struct console_call *call, const char *rest);
enum MHD_Result console_api_account_change(struct console_call *call, const char *rest);
enum MHD_Result console_api_rules_get(struct console_call *call, const char *rest);
enum MHD_Result console_api_rules_add(struct console_call *call, const char *rest);
enum MHD_Result console_api_rules_del(struct console_call *call, const char *rest);
enum MHD_Result console_api_check(struct console_call *call, const char *rest);
/* ---- console_held.c ---- */

/* WHEN of a query (NULL: *out untouched, true): unix seconds, or as why --since takes it (30m,
 * 7d, 2026-12-01, 2026-12-01T08:00: ctl_parse_when). */
bool console_parse_when(const char *text, int64_t now, int64_t *out);
/* The call's user and client address as who makes its changes (ctl->origin). */
void console_origin(struct console_call *call);
/* GET held/QUEUEID: ctl_held_show_json's document. */
enum MHD_Result console_api_held_show(struct console_call *call, const char *queue_id);
/* POST held/release and held/reject {account, reason}: {account, done, failed, ids}. */
enum MHD_Result console_api_held_release_account(struct console_call *call, const char *rest);
enum MHD_Result console_api_held_reject_account(struct console_call *call, const char *rest);
/* POST unblock {ip, reason}: ctl_unblock's document. */
enum MHD_Result console_api_unblock(struct console_call *call, const char *rest);
/* GET lists[?q=TEXT][&kind=KIND]: the entries, those with TEXT only when q is given. */
enum MHD_Result console_api_lists_search(struct console_call *call, const char *rest);
/* GET stats[?since=WHEN]: ctl_stats_json's document. */
enum MHD_Result console_api_stats(struct console_call *call, const char *rest);

/* ---- console_api.c ---- */

/* Answers an /api/ request through the route table. */
enum MHD_Result console_route(struct console_call *call);

/* ---- console_reviews.c ---- */

/* GET /api/reviews[?all=1]: the remote senders' review requests, open ones (all: every one). */
enum MHD_Result console_api_reviews(struct console_call *call, const char *rest);
/* POST /api/reviews/ID/close {reason}. */
enum MHD_Result console_api_review_close(struct console_call *call, const char *rest);
/* GET /api/explanations: every check's explanation (ctl_explain_json's array). */
enum MHD_Result console_api_explanations(struct console_call *call, const char *rest);
/* PUT /api/explanations/CHECK {text, reason}; DELETE /api/explanations/CHECK {reason} (the
 * built-in text again): the postmaster's only; the check's object afterwards. */
enum MHD_Result console_api_explanation_set(struct console_call *call, const char *check);
enum MHD_Result console_api_explanation_unset(struct console_call *call, const char *check);

/* ---- console_public.c ---- */

struct console_public;
/*
 * Starts the remote sender's listener on cfg->console_public_listen with a store connection of
 * its own (database as ingressctl opens it); NULL after a message on stderr.  It shares nothing
 * with the staff's listener: no session, no cookie, no route.
 */
struct console_public *console_public_start(const struct config *cfg, const char *database);
/* Stops the listener and closes its store; NULL is a no-op. */
void console_public_stop(struct console_public *p);
/* ---- console_static.c ---- */

/* console_static_dir as a directory descriptor, or -1 with errno set. */
int console_static_open(const char *dir);
/* Answers a request outside /api/: the page's files, else 404. */
enum MHD_Result console_static(struct console_call *call, const char *url);

#endif
