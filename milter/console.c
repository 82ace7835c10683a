/*
 * ingress-console: the support desk's JSON API over HTTP (libmicrohttpd: the library parses
 * every request; nothing here reads a byte of one beyond what it hands us).
 *
 *   ingress-console [-c FILE] [-d DATABASE] [-f]
 *
 * It also serves the support desk's web page (console_static.c: GET / and /static/NAME from
 * console_static_dir), which does everything through this same API.
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
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "console.h"
#include "spf.h"
#include "store.h"
#include "util.h"

#ifndef INGRESS_DEFAULT_CONFIG
#define INGRESS_DEFAULT_CONFIG "/etc/milter-ingress/milter-ingress.conf"
#endif

#define CONSOLE_CONNECTIONS_MAX 64
#define CONSOLE_CONNECTIONS_PER_IP 16
#define CONSOLE_TIMEOUT_SECONDS 10
#define CONSOLE_MEMORY_PER_CONNECTION (32 * 1024)

/* One request while its body arrives. */
struct console_request {
    char *body;
    size_t len;
    bool too_big;
};

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
        return console_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
    struct console_call call = {
        .c = cls, .conn = conn, .method = method, .body = req->body, .len = req->len};
    console_client_address(conn, call.addr, sizeof call.addr);
    if (strncmp(url, "/api/", 5) != 0)
        return console_static(&call, url);
    call.path = url + 5;
    return console_route(&call);
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
    struct MHD_Daemon *d =
        MHD_start_daemon(flags, 0, NULL, NULL, handle, c, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONSOLE_CONNECTIONS_MAX,
                         MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)CONSOLE_CONNECTIONS_PER_IP,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONSOLE_TIMEOUT_SECONDS,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONSOLE_MEMORY_PER_CONNECTION,
                         MHD_OPTION_UNESCAPE_CALLBACK, console_unescape, NULL, MHD_OPTION_END);
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
    c->database = database != NULL ? database : cfg->database;
    c->ctl.store = store_open_existing(c->database, cfg->store_busy_timeout, &c->ctl.err);
    if (c->ctl.store == NULL) {
        fprintf(stderr, "ingress-console: %s\n", c->ctl.err.text);
        free(c);
        config_free(cfg);
        return 2;
    }
    c->static_dir = console_static_open(cfg->console_static_dir);
    if (c->static_dir < 0)
        fprintf(stderr, "ingress-console: console_static_dir %s: %s (the web page is not served)\n",
                cfg->console_static_dir, strerror(errno));
    spf_library_init(); /* before any thread: libspf2's handlers are process-wide (check) */
    int status = serve(c);
    if (c->static_dir >= 0)
        close(c->static_dir);
    store_close(c->ctl.store);
    explicit_bzero(c->sessions, sizeof c->sessions);
    free(c);
    config_free(cfg);
    return status;
}
