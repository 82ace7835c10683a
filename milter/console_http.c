/*
 * ingress-console: answering a request (JSON responses and errors, the log line) and reading
 * its fields (the JSON body, query arguments, a reason), shared by every handler.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "config.h"
#include "console.h"
#include "ctl_json.h"
#include "lists.h"
#include "util.h"

enum MHD_Result console_json(struct MHD_Connection *conn, unsigned code, json_t *doc,
                             const char *cookie)
{
    return console_json_header(conn, code, doc, cookie != NULL ? MHD_HTTP_HEADER_SET_COOKIE : NULL,
                               cookie);
}

enum MHD_Result console_json_header(struct MHD_Connection *conn, unsigned code, json_t *doc,
                                    const char *name, const char *value)
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
    if (name != NULL && value != NULL)
        MHD_add_response_header(r, name, value);
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result console_error(struct MHD_Connection *conn, unsigned code, const char *text)
{
    json_t *doc = ctl_json_object();
    ctl_json_set_text(doc, "error", text);
    return console_json(conn, code, doc, NULL);
}

enum MHD_Result console_store_failed(struct console_call *call, const char *what)
{
    fprintf(stderr, "ingress-console: %s: %s\n", what, call->c->ctl.err.text);
    return console_error(call->conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                         "the store failed (see the console's log)");
}

enum MHD_Result console_store_answer(struct console_call *call, enum store_status st, json_t *doc,
                                     const char *not_found, const char *failing)
{
    json_decref(doc);
    if (st == STORE_NOTFOUND)
        return console_error(call->conn, MHD_HTTP_NOT_FOUND, not_found);
    return console_store_failed(call, failing);
}

void console_log(const struct console_call *call, const char *what, const char *result)
{
    char user[CONSOLE_USER_MAX * 4], shown[512];
    str_printable(user, sizeof user, call->session != NULL ? call->session->user : "-");
    fprintf(stderr, "ingress-console: user=%s from=%s %s %s result=%s\n", user, call->addr,
            call->method, str_printable(shown, sizeof shown, what), result);
}

int64_t console_now(void)
{
    return (int64_t)time(NULL);
}

json_t *console_body_json(const struct console_call *call)
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

const char *console_field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *console_arg(const struct console_call *call, const char *name)
{
    return MHD_lookup_connection_value(call->conn, MHD_GET_ARGUMENT_KIND, name);
}

bool console_parse_number(const char *text, int64_t min, int64_t max, int64_t *out)
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

void console_change_by(const struct console_call *call, char *by, size_t bylen)
{
    str_printf(by, bylen, "%s via console from %s", call->session->user, call->addr);
}

const char *console_change_reason(json_t *in)
{
    const char *reason = console_field(in, "reason");
    if (reason == NULL || reason[0] == '\0' || strlen(reason) > CTL_REASON_MAX ||
        !lists_reason_valid(reason))
        return NULL;
    return reason;
}

const char *console_body_reason(const struct console_call *call, json_t **in)
{
    *in = console_body_json(call);
    const char *reason = *in != NULL ? console_change_reason(*in) : NULL;
    if (reason == NULL) {
        json_decref(*in);
        *in = NULL;
    }
    return reason;
}

void console_client_address(struct MHD_Connection *conn, char *out, size_t outlen)
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

/*
 * A reverse proxy on this host (the README's nginx) makes every client's peer address its own:
 * what it says in X-Real-IP is the client.  Only a peer on this host is believed (anyone else
 * would name any address to spread their failed logins), and only a well-formed address, written
 * again by inet_ntop so that one client has one spelling and no header byte reaches a log line.
 */
void console_client_real_address(struct MHD_Connection *conn, char *out, size_t outlen)
{
    unsigned char bin[16];
    char real[INET6_ADDRSTRLEN];

    console_client_address(conn, out, outlen);
    if (strcmp(out, "127.0.0.1") != 0 && strcmp(out, "::1") != 0)
        return;
    const char *header = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Real-IP");
    if (header == NULL || strlen(header) >= sizeof real)
        return;
    if (inet_pton(AF_INET, header, bin) == 1)
        inet_ntop(AF_INET, bin, real, sizeof real);
    else if (inet_pton(AF_INET6, header, bin) == 1)
        inet_ntop(AF_INET6, bin, real, sizeof real);
    else
        return;
    str_copy(out, outlen, real);
}

/* console_listen as a socket address for libmicrohttpd. */
bool console_listen_address(const char *spec, struct sockaddr_storage *ss)
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
