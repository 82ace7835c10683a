/*
 * ingress-console's libmicrohttpd daemons: the one setup both listeners share (the staff's JSON
 * API of console.c, the remote sender's page of console_public.c), each with its own handler,
 * completion callback, thread and watchdog.
 *
 * What every listener gets: a total and a per-address connection limit, libmicrohttpd's idle
 * timeout, a memory bound per connection, a decoding of %XX that leaves a string holding %00
 * undecoded, and a watchdog that cuts a request which has taken CONSOLE_TIMEOUT_SECONDS.
 *
 * libmicrohttpd's timeout counts idle seconds only: a client that sends its headers a byte every
 * few seconds would hold its connection for ever.  So each connection also has a clock for its
 * request, started when the connection opens and again when an answer is done; the watchdog
 * thread shuts the socket down once a request has taken CONSOLE_TIMEOUT_SECONDS, and
 * libmicrohttpd then closes the connection as it would any the client ended.  The list of
 * connections is shared by the daemon's thread and the watchdog's, under the daemon's lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "console.h"
#include "util.h"

#define CONSOLE_CONNECTIONS_MAX 64
#define CONSOLE_MEMORY_PER_CONNECTION (32 * 1024)

struct console_peer {
    struct console_peer *prev, *next;
    int fd;
    int64_t since; /* monotonic seconds; INT64_MAX once shut down */
};

struct console_daemon {
    struct MHD_Daemon *mhd;
    MHD_RequestCompletedCallback done;
    void *cls;
    bool watching; /* a watchdog thread runs: the fields below are in use */
    pthread_t watcher;
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
    struct console_daemon *d = cls;
    struct console_peer *p = *socket_context;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        p = xcalloc(1, sizeof *p);
        p->fd = info != NULL ? info->connect_fd : -1;
        p->since = monotonic_seconds();
        pthread_mutex_lock(&d->lock);
        p->next = d->peers.next;
        p->prev = &d->peers;
        d->peers.next->prev = p;
        d->peers.next = p;
        pthread_mutex_unlock(&d->lock);
        *socket_context = p;
        return;
    }
    if (p == NULL)
        return;
    /* libmicrohttpd closes the socket after this call: the watchdog never sees a reused fd. */
    pthread_mutex_lock(&d->lock);
    p->prev->next = p->next;
    p->next->prev = p->prev;
    pthread_mutex_unlock(&d->lock);
    free(p);
    *socket_context = NULL;
}

/* The next request's clock starts, then the listener's own completion callback runs. */
static void request_done(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode code)
{
    struct console_daemon *d = cls;
    const union MHD_ConnectionInfo *info =
        d->watching ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
    if (info != NULL && info->socket_context != NULL) {
        struct console_peer *p = info->socket_context;
        pthread_mutex_lock(&d->lock);
        if (p->since != INT64_MAX)
            p->since = monotonic_seconds();
        pthread_mutex_unlock(&d->lock);
    }
    d->done(d->cls, conn, req_cls, code);
}

static void *watchdog(void *arg)
{
    struct console_daemon *d = arg;

    pthread_mutex_lock(&d->lock);
    while (!d->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&d->wake, &d->lock, &until);
        int64_t now = monotonic_seconds();
        for (struct console_peer *p = d->peers.next; p != &d->peers; p = p->next) {
            if (p->fd < 0 || now - p->since < CONSOLE_TIMEOUT_SECONDS)
                continue;
            shutdown(p->fd, SHUT_RDWR);
            p->since = INT64_MAX;
        }
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
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

static void watch_stop(struct console_daemon *d)
{
    pthread_mutex_lock(&d->lock);
    d->stop = true;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->watcher, NULL);
}

struct console_daemon *console_daemon_start(const char *option, const char *listen, unsigned per_ip,
                                            MHD_AccessHandlerCallback handler,
                                            MHD_RequestCompletedCallback done, void *cls)
{
    struct sockaddr_storage ss;
    unsigned flags = MHD_USE_NO_LISTEN_SOCKET;

    if (listen != NULL) {
        if (!console_listen_address(listen, &ss)) {
            fprintf(stderr, "ingress-console: %s: expected ADDRESS:PORT\n", option);
            return NULL;
        }
        flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC;
        if (ss.ss_family == AF_INET6)
            flags |= MHD_USE_IPv6;
    }
    struct console_daemon *d = xcalloc(1, sizeof *d);
    d->done = done;
    d->cls = cls;
    d->watching = listen != NULL;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->wake, NULL);
    d->peers.next = d->peers.prev = &d->peers;
    d->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, handler, cls, MHD_OPTION_SOCK_ADDR,
        listen != NULL ? (struct sockaddr *)&ss : NULL, MHD_OPTION_NOTIFY_COMPLETED, request_done,
        d, MHD_OPTION_NOTIFY_CONNECTION, d->watching ? peer_notify : NULL, d,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)CONSOLE_CONNECTIONS_MAX, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONSOLE_TIMEOUT_SECONDS,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONSOLE_MEMORY_PER_CONNECTION, MHD_OPTION_END);
    if (d->mhd == NULL) {
        fprintf(stderr, "ingress-console: cannot listen on %s: %s\n",
                listen != NULL ? listen : "(no socket)", strerror(errno));
    } else if (d->watching && pthread_create(&d->watcher, NULL, watchdog, d) != 0) {
        fprintf(stderr, "ingress-console: cannot start the request watchdog\n");
        MHD_stop_daemon(d->mhd);
        d->mhd = NULL;
    }
    if (d->mhd == NULL) {
        pthread_cond_destroy(&d->wake);
        pthread_mutex_destroy(&d->lock);
        free(d);
        return NULL;
    }
    return d;
}

struct MHD_Daemon *console_daemon_mhd(const struct console_daemon *d)
{
    return d->mhd;
}

void console_daemon_stop(struct console_daemon *d)
{
    if (d == NULL)
        return;
    if (d->watching)
        watch_stop(d);
    MHD_stop_daemon(d->mhd);
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->lock);
    free(d);
}
