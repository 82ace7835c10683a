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
 * second daemon with its own thread and store connection, sharing nothing with this one.
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
#include <time.h>
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
/*
 * A body over CONSOLE_BODY_MAX is read and dropped up to this size, so that a client which sends
 * it all before reading sees the 413 (closing on unread bytes would reset the connection and lose
 * the answer).  A longer one announced by Content-Length is refused before it is read; a longer
 * chunked one ends the connection.
 */
#define CONSOLE_BODY_DRAIN_MAX (1024 * 1024)

/*
 * libmicrohttpd's timeout counts idle seconds only: a client that sends its headers a byte every
 * few seconds would hold its connection for ever.  So each connection also has a clock for its
 * request, started when the connection opens and again when an answer is done; a watchdog thread
 * shuts the socket down once a request has taken CONSOLE_TIMEOUT_SECONDS, and libmicrohttpd then
 * closes the connection as it would any the client ended.
 */
struct console_peer {
    struct console_peer *prev, *next;
    int fd;
    int64_t since; /* monotonic seconds; INT64_MAX once shut down */
};

struct console_watch {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
    struct console_peer peers; /* the head of a circular list */
};

static int64_t monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

static void peer_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                        enum MHD_ConnectionNotificationCode code)
{
    struct console_watch *w = cls;
    struct console_peer *p = *socket_context;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        p = xcalloc(1, sizeof *p);
        p->fd = info != NULL ? info->connect_fd : -1;
        p->since = monotonic_seconds();
        pthread_mutex_lock(&w->lock);
        p->next = w->peers.next;
        p->prev = &w->peers;
        w->peers.next->prev = p;
        w->peers.next = p;
        pthread_mutex_unlock(&w->lock);
        *socket_context = p;
        return;
    }
    if (p == NULL)
        return;
    /* libmicrohttpd closes the socket after this call: the watchdog never sees a reused fd. */
    pthread_mutex_lock(&w->lock);
    p->prev->next = p->next;
    p->next->prev = p->prev;
    pthread_mutex_unlock(&w->lock);
    free(p);
    *socket_context = NULL;
}

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
    console_client_address(conn, call.addr, sizeof call.addr);
    if (strncmp(url, "/api/", 5) != 0)
        return console_static(&call, url);
    call.path = url + 5;
    return console_route(&call);
}

static void request_done(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)code;
    struct console_watch *w = cls;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (w != NULL && info != NULL && info->socket_context != NULL) {
        struct console_peer *p = info->socket_context;
        pthread_mutex_lock(&w->lock);
        if (p->since != INT64_MAX)
            p->since = monotonic_seconds(); /* the next request's clock */
        pthread_mutex_unlock(&w->lock);
    }
    struct console_request *req = *req_cls;
    if (req == NULL)
        return;
    free(req->body);
    free(req);
    *req_cls = NULL;
}

/*
 * libmicrohttpd decodes %XX in the path and the arguments in place, and a %00 would end the
 * decoded text there: "/api/held%00/x" would be answered as "/api/held".  A string holding %00 is
 * left undecoded instead, so it matches no route and no valid value.
 */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    if (strstr(s, "%00") != NULL)
        return strlen(s);
    return MHD_http_unescape(s);
}

struct MHD_Daemon *console_daemon_start(struct console *c, unsigned flags,
                                        const struct sockaddr *sa, void *watch)
{
    return MHD_start_daemon(
        flags, 0, NULL, NULL, handle, c, MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_NOTIFY_COMPLETED,
        request_done, watch, MHD_OPTION_NOTIFY_CONNECTION, watch != NULL ? peer_notify : NULL,
        watch, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)CONSOLE_CONNECTIONS_MAX, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)CONSOLE_CONNECTIONS_PER_IP, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)CONSOLE_TIMEOUT_SECONDS, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)CONSOLE_MEMORY_PER_CONNECTION, MHD_OPTION_END);
}

/* The fuzz target links this file's daemon without its main (INGRESS_CONSOLE_NO_MAIN). */
#ifndef INGRESS_CONSOLE_NO_MAIN

static void *watchdog(void *arg)
{
    struct console_watch *w = arg;

    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&w->wake, &w->lock, &until);
        int64_t now = monotonic_seconds();
        for (struct console_peer *p = w->peers.next; p != &w->peers; p = p->next) {
            if (p->fd < 0 || now - p->since < CONSOLE_TIMEOUT_SECONDS)
                continue;
            shutdown(p->fd, SHUT_RDWR);
            p->since = INT64_MAX;
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
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

static int serve(struct console *c, const char *database)
{
    struct sockaddr_storage ss;
    sigset_t stop;
    int sig;

    if (!console_listen_address(c->ctl.cfg->console_listen, &ss)) {
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
    struct console_watch w = {.stop = false};
    pthread_t watcher;
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.wake, NULL);
    w.peers.next = w.peers.prev = &w.peers;
    struct MHD_Daemon *d = console_daemon_start(c, flags, (struct sockaddr *)&ss, &w);
    if (d == NULL) {
        fprintf(stderr, "ingress-console: cannot listen on %s: %s\n", c->ctl.cfg->console_listen,
                strerror(errno));
        return 2;
    }
    int status = 0;
    struct console_public *pub = NULL;
    if (pthread_create(&watcher, NULL, watchdog, &w) != 0) {
        fprintf(stderr, "ingress-console: cannot start the request watchdog\n");
        MHD_stop_daemon(d);
        pthread_cond_destroy(&w.wake);
        pthread_mutex_destroy(&w.lock);
        return 2;
    }
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
    pthread_mutex_lock(&w.lock);
    w.stop = true;
    pthread_cond_signal(&w.wake);
    pthread_mutex_unlock(&w.lock);
    pthread_join(watcher, NULL);
    MHD_stop_daemon(d);
    pthread_cond_destroy(&w.wake);
    pthread_mutex_destroy(&w.lock);
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
