/*
 * metrics_http: the optional HTTP listener of metrics_listen, serving GET /metrics (lib/metrics.c's
 * Prometheus text) and GET /health, through libmicrohttpd on threads of its own.
 *
 * The socket is bound by metrics_http_bind() before the daemon creates anything (database, unix
 * socket), so a port in use stops the start with nothing left behind; metrics_http_start() serves
 * it once the runtime is live.  The listener reads the live runtime with runtime_acquire(), like a
 * connection, so a reload changes what /health probes but not the listener.
 */
#ifndef INGRESS_METRICS_HTTP_H
#define INGRESS_METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct metrics_http;

/* Listens on spec ("127.0.0.1:9795", "[::1]:9795"); NULL with err naming the option. */
struct metrics_http *metrics_http_bind(const char *spec, char *err, size_t errlen);
/* Serves the bound socket from libmicrohttpd's threads; false with err. */
bool metrics_http_start(struct metrics_http *h, char *err, size_t errlen);
/* Stops serving and closes the socket; NULL is a no-op. */
void metrics_http_free(struct metrics_http *h);

#endif
