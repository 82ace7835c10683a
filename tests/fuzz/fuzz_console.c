/*
 * fuzz_console: libFuzzer target for ingress-console's request path: the input is the bytes a
 * client sends on one connection (a request, several pipelined, or garbage), handed to the real
 * libmicrohttpd daemon of milter/console.c (console_api_start, without a listening socket)
 * through one end of a socketpair (MHD_add_connection), so libmicrohttpd parses it and the
 * console's handler, route table, login, CSRF check and JSON input do what they do for a client.
 * The daemon runs in this thread (MHD_run) until it has answered and closed the connection.
 *
 * The console has a real SQLite store in a temporary directory (removed at exit) with one held
 * message, Q1, whose release and reject commands fail (/bin/false: the message stays held, and no
 * real MTA is ever asked), and a users file with pm (postmaster, password "fuzz-password").  Before
 * each input the sessions and the failed-login table are reset and one postmaster session is
 * seeded, so that inputs reach the routes behind the login:
 *   Cookie: console_session=<FUZZ_TOKEN>     X-CSRF-Token: <FUZZ_CSRF>
 * (the two strings below; the seeds in tests/fuzz/corpus/console/ use them).  FUZZ_CONSOLE_SHOW=1
 * in the environment prints each input's status line.
 *
 * Checked: the daemon closes the connection within a bounded number of rounds; every answer
 * starts with an HTTP status line; no log line of the run holds the session's token, its CSRF
 * token or the password when the input sent them only as such (published), nor the tokens of
 * a session its login made; every log line is printable.  Log lines are caught by pointing
 * stdio's stderr at a memory stream for the run, as fuzz_policy does; sanitizer reports go to
 * descriptor 2.
 *
 *   tests/fuzz/run.sh console 300
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_fixture.h"
#include "console.h"
#include "store.h"
#include "util.h"

#define FUZZ_TOKEN "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f"
#define FUZZ_CSRF "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
#define FUZZ_PASSWORD "fuzz-password"
/* Rounds of MHD_run before the connection must be closed: a request's work is a few rounds. */
#define FUZZ_ROUNDS_MAX 10000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct {
    char dir[64];
    struct console *c;
    struct config *cfg;
    struct console_daemon *daemon;
    struct MHD_Daemon *d; /* daemon's */
    FILE *log;            /* stderr itself while stderr points at the run's memory stream */
} fx;

static void cleanup(void)
{
    console_daemon_stop(fx.daemon);
    store_close(fx.c->ctl.store);
    config_free(fx.cfg);
    free(fx.c);
    static const char *const files[] = {"ingress.db", "ingress.db-wal", "ingress.db-shm", "users"};
    fuzz_remove_dir(fx.dir, files, sizeof files / sizeof files[0]);
}

static void setup(void)
{
    char path[128], why[256];
    struct store_error err;

    strcpy(fx.dir, "/tmp/fuzz_console.XXXXXX");
    if (mkdtemp(fx.dir) == NULL)
        abort();
    fx.c = xcalloc(1, sizeof *fx.c);
    fx.c->static_dir = -1; /* no page files: the fuzzer reaches the routes */
    struct config *cfg = fx.cfg = config_new_defaults();
    snprintf(path, sizeof path, "%s/users", fx.dir);
    fuzz_config_set(cfg, "console_users_file", path);
    fuzz_config_set(cfg, "held_release_command", "/bin/false {queue_id}");
    fuzz_config_set(cfg, "held_reject_command", "/bin/false {queue_id}");
    if (!console_users_set(path, "pm", CONSOLE_ROLE_POSTMASTER, FUZZ_PASSWORD, NULL, why,
                           sizeof why)) {
        fprintf(stderr, "fuzz_console: %s\n", why);
        abort();
    }
    snprintf(path, sizeof path, "%s/ingress.db", fx.dir);
    fx.c->ctl.verb = "console";
    fx.c->ctl.cfg = cfg;
    fx.c->ctl.store = store_open(path, 200, &err);
    if (fx.c->ctl.store == NULL)
        abort();
    struct store_held h = {.queue_id = "Q1",
                           .held_at = 1800000000,
                           .account = "bob",
                           .sender = "bob@example.test",
                           .recipients = "d@example.net",
                           .nrcpt = 1,
                           .subject = "Report",
                           .size = 300,
                           .reason = "1m window: 31 messages > limit 30"};
    if (store_held_add(fx.c->ctl.store, &h, &fx.c->ctl.err) != STORE_OK)
        abort();
    fx.daemon = console_api_start(fx.c, NULL);
    if (fx.daemon == NULL)
        abort();
    fx.d = console_daemon_mhd(fx.daemon);
    atexit(cleanup);
}

/* The sessions as after a postmaster's login, and no failed login counted. */
static void reset_sessions(void)
{
    struct console *c = fx.c;
    memset(c->sessions, 0, sizeof c->sessions);
    memset(c->clients, 0, sizeof c->clients);
    str_copy(c->sessions[0].token, sizeof c->sessions[0].token, FUZZ_TOKEN);
    str_copy(c->sessions[0].csrf, sizeof c->sessions[0].csrf, FUZZ_CSRF);
    str_copy(c->sessions[0].user, sizeof c->sessions[0].user, "pm");
    c->sessions[0].role = CONSOLE_ROLE_POSTMASTER;
    c->sessions[0].expires = INT64_MAX / 2;
}

static size_t occurrences(const char *hay, size_t len, const char *needle)
{
    size_t n = 0, nlen = strlen(needle);
    const char *p = hay, *end = hay + len;
    while ((p = memmem(p, (size_t)(end - p), needle, nlen)) != NULL) {
        n++;
        p += nlen;
    }
    return n;
}

/* in with each %XX decoded, as libmicrohttpd decodes a path; out has room for len bytes. */
static size_t percent_decoded(const char *in, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        if (in[i] == '%' && i + 2 < len && sscanf(in + i + 1, "%2x", &v) == 1) {
            out[n++] = (char)v;
            i += 2;
        } else {
            out[n++] = in[i];
        }
    }
    return n;
}

/* in as a log line shows it (str_printable of each run between NULs); out: 4 * len + 1 bytes. */
static size_t printable(const char *in, size_t len, char *out, size_t outlen)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i += strlen(in + i) + 1) {
        str_printable(out + n, outlen - n, in + i);
        n += strlen(out + n);
    }
    return n;
}

/*
 * Did the input publish secret itself, outside the places that carry it (after prefix: the
 * cookie header, the CSRF header, the login body)?  A path or a reason, which log lines name, may
 * hold it raw, %-encoded, or made by the log's own escapes (a byte 0xf0 before "f1f2..." is shown
 * as "\xf0f1f2..."): then its form holds it more often than the places that carry it.
 */
static bool published(const uint8_t *data, size_t size, const char *secret, const char *prefix)
{
    size_t carried = 0, plen = strlen(prefix), slen = strlen(secret);
    const uint8_t *p = data, *end = data + size;
    while ((p = memmem(p, (size_t)(end - p), secret, slen)) != NULL) {
        if ((size_t)(p - data) >= plen && memcmp(p - plen, prefix, plen) == 0)
            carried++;
        p += slen;
    }
    char *raw = xmalloc(size + 1), *decoded = xmalloc(size + 1);
    size_t outlen = 4 * size + 1;
    char *shown = xmalloc(outlen), *shown_decoded = xmalloc(outlen);
    memcpy(raw, data, size);
    raw[size] = '\0';
    size_t dlen = percent_decoded(raw, size, decoded);
    decoded[dlen] = '\0';
    size_t slen_raw = printable(raw, size, shown, outlen);
    size_t slen_dec = printable(decoded, dlen, shown_decoded, outlen);
    bool more = occurrences(raw, size, secret) > carried ||
                occurrences(decoded, dlen, secret) > carried ||
                occurrences(shown, slen_raw, secret) > carried ||
                occurrences(shown_decoded, slen_dec, secret) > carried;
    free(raw);
    free(decoded);
    free(shown);
    free(shown_decoded);
    return more;
}

static void check_log(const char *text, size_t len, const uint8_t *data, size_t size)
{
    /* Each prefix starts at a line's end, which neither a path nor a reason can hold. */
    const char *secrets[][2] = {{FUZZ_TOKEN, "\nCookie: " CONSOLE_COOKIE "="},
                                {FUZZ_CSRF, "\n" CONSOLE_CSRF_HEADER ": "},
                                {FUZZ_PASSWORD, "\n{\"name\":\"pm\",\"password\":\""}};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        if (memmem(text, len, secrets[i][0], strlen(secrets[i][0])) != NULL &&
            !published(data, size, secrets[i][0], secrets[i][1])) {
            fprintf(fx.log, "fuzz_console: a secret in the log: %.*s\n", (int)len, text);
            abort();
        }
    }
    /* A session a login of this input made has tokens no input can hold. */
    for (size_t i = 1; i < CONSOLE_SESSIONS_MAX; i++) {
        const struct console_session *sess = &fx.c->sessions[i];
        if (sess->expires != 0 && (memmem(text, len, sess->token, strlen(sess->token)) != NULL ||
                                   memmem(text, len, sess->csrf, strlen(sess->csrf)) != NULL)) {
            fprintf(fx.log, "fuzz_console: a new session's token in the log: %.*s\n", (int)len,
                    text);
            abort();
        }
    }
    for (size_t i = 0; i < len; i++)
        if (text[i] != '\n' && (text[i] < 0x20 || text[i] > 0x7e))
            abort();
}

/* Hands the input to the daemon on a new connection and runs it until the connection ends;
 * writes the answer's first bytes to head. */
static void run_connection(const uint8_t *data, size_t size, char *head, size_t headlen)
{
    int sv[2];
    /* A TCP client's address, as the console sees one through its listening socket. */
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(40000)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
        abort();
    if (MHD_add_connection(fx.d, sv[1], (const struct sockaddr *)&sin, sizeof sin) != MHD_YES)
        abort();
    size_t sent = 0, got = 0;
    bool closed = false, shut = false;
    for (int round = 0; round < FUZZ_ROUNDS_MAX && !closed; round++) {
        if (sent < size) {
            ssize_t n = write(sv[0], data + sent, size - sent);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN)
                sent = size; /* the daemon closed its end: the rest is not read */
        }
        if (sent == size && !shut) {
            shutdown(sv[0], SHUT_WR); /* the client has said all it will */
            shut = true;
        }
        MHD_run(fx.d);
        char buf[4096];
        ssize_t n;
        while ((n = read(sv[0], buf, sizeof buf)) > 0) {
            if (got < headlen - 1) {
                size_t k = (size_t)n < headlen - 1 - got ? (size_t)n : headlen - 1 - got;
                memcpy(head + got, buf, k);
                got += k;
                head[got] = '\0';
            }
        }
        if (n == 0 || (n < 0 && errno != EAGAIN))
            closed = true;
    }
    close(sv[0]);
    if (!closed) {
        fprintf(fx.log, "fuzz_console: the connection was not closed\n");
        abort();
    }
    /* The daemon frees its side of the connection in its next rounds. */
    for (int round = 0; round < 100; round++) {
        const union MHD_DaemonInfo *info =
            MHD_get_daemon_info(fx.d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (info == NULL || info->num_connections == 0)
            return;
        MHD_run(fx.d);
    }
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char head[32] = "";
    if (fx.c == NULL)
        setup();
    reset_sessions();
    char *log_text = NULL;
    size_t log_len = 0;
    fx.log = stderr;
    stderr = open_memstream(&log_text, &log_len);
    if (stderr == NULL)
        abort();
    run_connection(data, size, head, sizeof head);
    fclose(stderr);
    stderr = fx.log;
    check_log(log_text, log_len, data, size);
    free(log_text);
    if (getenv("FUZZ_CONSOLE_SHOW") != NULL) /* for whoever writes seeds: what each got */
        fprintf(stderr, "fuzz_console: %.12s\n", head);
    /* An answer, when there is one, is HTTP. */
    if (head[0] != '\0' && strncmp(head, "HTTP/1.", 7) != 0)
        abort();
    return 0;
}
