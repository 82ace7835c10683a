/*
 * metrics_http: /metrics and /health over libmicrohttpd (Debian's libmicrohttpd-dev).  The HTTP
 * parsing is the library's: nothing here reads a byte of a request beyond the method and path it
 * hands us.  Hostile or slow clients are bounded by the library's options below: a few
 * connections at a time, a short idle timeout, a small memory pool per connection.
 */
#include "metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "milter.h"
#include "util.h"

/* Prometheus and a health checker need one or two connections; a scan gets no more. */
#define HTTP_CONNECTIONS_MAX 16
#define HTTP_CONNECTIONS_PER_IP 8
/* A client silent this long is dropped (a scrape answers in milliseconds). */
#define HTTP_TIMEOUT_SECONDS 5
/* Request line and headers of a GET fit easily; anything longer is refused by the library. */
#define HTTP_MEMORY_PER_CONNECTION (16 * 1024)
/* Two threads: a /health whose store probe waits for a lock does not hold up /metrics. */
#define HTTP_THREADS 2
/* A store failure, or DNS queries failing in a row, this recent make /health say 503. */
#define HEALTH_WINDOW_US (30 * INT64_C(1000000))
/* A name every resolver can answer (RFC 6761 6.3: the loopback's reverse zone), asked when no
 * DNS query ended within the window. */
#define HEALTH_DNS_PROBE "1.0.0.127.in-addr.arpa"
#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"

struct metrics_http {
    int fd;
    struct MHD_Daemon *daemon;
};

struct metrics_http *metrics_http_bind(const char *spec, char *err, size_t errlen)
{
    char host[64];
    int port, one = 1;
    struct sockaddr_storage ss = {0};
    socklen_t sslen;

    if (!config_split_listen(spec, host, sizeof host, &port)) {
        str_printf(err, errlen, "metrics_listen %s: expected ADDRESS:PORT", spec);
        return NULL;
    }
    if (strchr(host, ':') != NULL) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, host, &sin6->sin6_addr);
        sslen = sizeof *sin6;
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, host, &sin->sin_addr);
        sslen = sizeof *sin;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        str_printf(err, errlen, "metrics_listen %s: socket: %s", spec, strerror(errno));
        return NULL;
    }
    /* SO_REUSEADDR: a restart finds the port free while the old connections sit in TIME_WAIT;
     * a listener still there is refused by bind() all the same. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sslen) != 0 || listen(fd, 16) != 0) {
        str_printf(err, errlen, "metrics_listen %s: cannot listen: %s%s", spec, strerror(errno),
                   errno == EADDRINUSE ? " (another program has this port: choose another)" : "");
        close(fd);
        return NULL;
    }
    struct metrics_http *h = xcalloc(1, sizeof *h);
    h->fd = fd;
    return h;
}

static void count_row(const struct store_held *row, void *arg)
{
    (void)row;
    (*(long *)arg)++;
}

static void gauges_read(struct runtime *rt, struct metrics_gauges *g)
{
    g->connections_open = atomic_load(&milter_active_connections);
    g->transactions_open = atomic_load(&milter_transactions);
    g->decision_queue = 0;
    g->decision_dropped = 0;
    for (int i = 0; i < 4; i++)
        g->held[i] = -1;
    if (rt == NULL)
        return;
    struct store_decision_counts counts;
    store_decision_counts(rt->store, &counts);
    g->decision_queue = (long)counts.waiting;
    g->decision_dropped = counts.dropped;
    for (int i = 0; i < 4; i++) {
        long n = 0;
        enum store_status st =
            store_held_each(rt->store, NULL, NULL, metrics_held_states[i], count_row, &n, NULL);
        if (st == STORE_OK || st == STORE_NOTFOUND)
            g->held[i] = n;
    }
}

/*
 * The store: the database file still the one opened (store_check), and a write transaction
 * that deletes nothing (greylist expiry before the epoch) gets the write lock; then no store
 * transaction failed within the window (a full disk or an immutable file fails only real writes).
 */
static bool store_healthy(struct runtime *rt, char *why, size_t whylen)
{
    struct store_error err;
    bool reopened;
    size_t deleted;

    if (store_check(rt->store, &reopened, &err) != STORE_OK ||
        store_greylist_expire(rt->store, 0, 0, 0, 1, &deleted, &err) != STORE_OK) {
        str_printf(why, whylen, "store: %s", err.text);
        return false;
    }
    return metrics_store_healthy(metrics_now_us(), HEALTH_WINDOW_US, why, whylen);
}

static bool dns_healthy(struct runtime *rt, char *why, size_t whylen)
{
    bool seen;
    if (!metrics_dns_healthy(metrics_now_us(), HEALTH_WINDOW_US, &seen, why, whylen))
        return false;
    if (seen)
        return true;
    struct dns_answer *a = NULL;
    enum dns_status st = dns_lookup(rt->resolver, HEALTH_DNS_PROBE, DNS_TYPE_PTR, &a);
    if (st == DNS_TEMPFAIL)
        str_printf(why, whylen, "dns: the resolver does not answer (%s for %s PTR)", a->error,
                   HEALTH_DNS_PROBE);
    dns_answer_free(a);
    return st != DNS_TEMPFAIL;
}

static char *health_text(int *code, size_t *len)
{
    char why[600], body[1300];
    struct runtime *rt = runtime_acquire();

    *code = MHD_HTTP_OK;
    str_copy(body, sizeof body, "ok\n");
    if (rt == NULL) {
        *code = MHD_HTTP_SERVICE_UNAVAILABLE;
        str_copy(body, sizeof body, "stopping\n");
    } else {
        body[0] = '\0';
        if (!store_healthy(rt, why, sizeof why))
            str_printf(body, sizeof body, "%s\n", why);
        if (!dns_healthy(rt, why, sizeof why))
            str_printf(body + strlen(body), sizeof body - strlen(body), "%s\n", why);
        if (body[0] != '\0')
            *code = MHD_HTTP_SERVICE_UNAVAILABLE;
        else
            str_copy(body, sizeof body, "ok\n");
        runtime_release(rt);
    }
    *len = strlen(body);
    return xstrdup(body);
}

static enum MHD_Result respond(struct MHD_Connection *conn, int code, const char *type, char *text,
                               size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    (void)cls;
    (void)version;
    (void)upload_data;
    (void)req_cls;
    size_t len;
    int code = MHD_HTTP_OK;

    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
                       xstrdup("only GET and HEAD\n"), 17);
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* a GET with a body: the body is ignored */
        return MHD_YES;
    }
    if (strcmp(url, "/metrics") == 0) {
        struct metrics_gauges g;
        struct runtime *rt = runtime_acquire();
        gauges_read(rt, &g);
        runtime_release(rt);
        char *text = metrics_render(&g, &len);
        return respond(conn, code, CONTENT_TYPE_METRICS, text, len);
    }
    if (strcmp(url, "/health") == 0) {
        char *text = health_text(&code, &len);
        return respond(conn, code, "text/plain; charset=utf-8", text, len);
    }
    return respond(conn, MHD_HTTP_NOT_FOUND, "text/plain", xstrdup("/metrics or /health\n"), 20);
}

bool metrics_http_start(struct metrics_http *h, char *err, size_t errlen)
{
    /* The listening socket is ours (bound before anything was created), so the port given here
     * is unused; MHD_USE_INTERNAL_POLLING_THREAD + a pool: the library's threads do all I/O.
     * MHD_USE_ITC: MHD_stop_daemon() wakes its threads through a pipe; without it they sleep in
     * poll() on a socket they were given, and the stop waits for ever. */
    h->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC, 0, NULL, NULL, handle, NULL,
        MHD_OPTION_LISTEN_SOCKET, h->fd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)HTTP_THREADS,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS_MAX,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTIONS_PER_IP,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_SECONDS,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_PER_CONNECTION, MHD_OPTION_END);
    if (h->daemon == NULL) {
        str_copy(err, errlen, "metrics_listen: libmicrohttpd could not start its threads");
        return false;
    }
    return true;
}

void metrics_http_free(struct metrics_http *h)
{
    if (h == NULL)
        return;
    if (h->daemon != NULL)
        MHD_stop_daemon(h->daemon); /* also closes the listening socket it was given */
    else
        close(h->fd);
    free(h);
}
