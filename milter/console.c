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
 *
 * With console_public_listen set, the remote sender's page (console_public.c) runs beside it: a
 * second daemon with its own thread, watchdog and store connection, sharing nothing with this one
 * but the setup of console_daemon.c (limits, timeouts, the %00 guard).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "console.h"
#include "spf.h"
#include "store.h"
#include "util.h"

#ifndef INGRESS_DEFAULT_CONFIG
#define INGRESS_DEFAULT_CONFIG "/etc/milter-ingress/milter-ingress.conf"
#endif

#define CONSOLE_CONNECTIONS_PER_IP 16

/* One request while its body arrives. */
struct console_request {
    char *body;
    size_t len, dropped;
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
        /* Past CONSOLE_BODY_DRAIN_MAX, refused before a byte of the body is read. */
        const char *length =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        int64_t announced = 0;
        if (length != NULL && !console_parse_number(length, 0, CONSOLE_BODY_DRAIN_MAX, &announced))
            return console_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
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
            req->dropped += *upload_data_size;
            if (req->dropped > CONSOLE_BODY_DRAIN_MAX)
                return MHD_NO;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->too_big)
        return console_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
    struct console_call call = {
        .c = cls, .conn = conn, .method = method, .body = req->body, .len = req->len};
    console_client_real_address(conn, call.addr, sizeof call.addr);
    if (strncmp(url, "/api/", 5) != 0)
        return console_static(&call, url);
    call.path = url + 5;
    return console_route(&call);
}

static void request_done(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)conn, (void)code;
    struct console_request *req = *req_cls;
    if (req == NULL)
        return;
    free(req->body);
    free(req);
    *req_cls = NULL;
}

struct console_daemon *console_api_start(struct console *c, const char *listen)
{
    return console_daemon_start("console_listen", listen, CONSOLE_CONNECTIONS_PER_IP, handle,
                                request_done, c);
}

/* The fuzz target links this file's daemon without its main (INGRESS_CONSOLE_NO_MAIN). */
#ifndef INGRESS_CONSOLE_NO_MAIN

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

static int serve(struct console *c, const char *database)
{
    sigset_t stop;
    int sig;

    /* SIGTERM and SIGINT blocked before the libraries' threads start (they inherit the mask), so
     * that only sigwait below takes them. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    struct console_daemon *d = console_api_start(c, c->ctl.cfg->console_listen);
    if (d == NULL)
        return 2;
    int status = 0;
    struct console_public *pub = NULL;
    fprintf(stderr, "ingress-console: listening on %s\n", c->ctl.cfg->console_listen);
    /* The remote sender's page: a daemon, a thread and a store connection of its own. */
    if (c->ctl.cfg->console_public_listen[0] != '\0') {
        pub = console_public_start(c->ctl.cfg, database);
        if (pub == NULL)
            status = 2;
    }
    if (status == 0)
        sigwait(&stop, &sig);
    console_public_stop(pub);
    console_daemon_stop(d);
    return status;
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
                    "  the console's JSON API on console_listen, and the remote sender's page\n"
                    "  on console_public_listen when set (README: Console)\n");
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
    int status = serve(c, c->database);
    if (c->static_dir >= 0)
        close(c->static_dir);
    store_close(c->ctl.store);
    explicit_bzero(c->sessions, sizeof c->sessions);
    free(c);
    config_free(cfg);
    return status;
}
#endif
