/*
 * loadgen: the MTA side of the milter protocol (version 6, as libmilter's engine.c and mfdef.h
 * define it), driven hard, for figures (a benchmark, not a test).
 *
 *   loadgen -s inet:PORT@HOST|unix:PATH [-c CONNECTIONS] [-m MESSAGES_PER_CONNECTION]
 *           [-n TOTAL] [-a CLIENT_ADDR,...] [-N CLIENT_NAME] [-H HELO] [-f SENDER,...]
 *           [-r RCPT,...] [-u AUTH_AUTHEN] [-e MESSAGE_FILE] [-t TIMEOUT_MS] [-w HOLD_MS]
 *           [-I QUEUE_ID_PREFIX] [-Q HELD_FILE] [-j] [-q]
 *
 * CONNECTIONS threads (default 32) each open a connection, negotiate options, send CONNECT
 * (client address and name from the pools) and HELO, then up to MESSAGES_PER_CONNECTION messages
 * (default 10): MAIL (macro {auth_authen} when -u is given), RCPT (macro {i}, a fresh queue id),
 * DATA, the headers and body of MESSAGE_FILE (or a small built-in message), EOH, BODYEOB, then
 * ABORT as Postfix does after every transaction; QUIT at the end.  Connections are reopened until
 * TOTAL messages (default CONNECTIONS x MESSAGES_PER_CONNECTION) are done.  Every reply is read and
 * handled, modifications at end of message included; the steps and replies the milter declines
 * at negotiation (SMFIP_NO*, SMFIP_NR_*) are honoured.  Commands that need no reply are sent in
 * one write with the next one that does, as Postfix's buffered stream does.
 *
 * A sender may contain "%n": it becomes a number unique to each message (inbound-new: triplets
 * never seen).  -w HOLD_MS keeps every connection idle that long after HELO (for memory figures at
 * many concurrent connections).  -t bounds every read and write (default 10000 ms): the program
 * never hangs.  -I sets the letters before the queue id's number (default BENCH; the number
 * counts from 0 in every run, so runs against one database want prefixes of their own).
 * -Q HELD_FILE appends the queue id of every message the milter quarantined (SMFIR_QUARANTINE,
 * counted as "quarantine") and then accepted, once that final reply is read: the messages an MTA
 * would have in its hold queue; one a line, written as each arrives.  Prints messages/s, latency
 * per message (MAIL to the final reply) p50/p90/p99/max, the connection set-up latency, counts per
 * reply and errors; -j prints one JSON object instead. Exits 1 when any protocol error, timeout or
 * I/O error happened, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* From libmilter's include/libmilter/mfdef.h (protocol version 6). */
#define PROT_VERSION 6
#define ACTS_ALL 0x000001FFu
#define P_NOCONNECT 0x00000001u
#define P_NOHELO 0x00000002u
#define P_NOMAIL 0x00000004u
#define P_NORCPT 0x00000008u
#define P_NOBODY 0x00000010u
#define P_NOHDRS 0x00000020u
#define P_NOEOH 0x00000040u
#define P_NR_HDR 0x00000080u
#define P_NOUNKNOWN 0x00000100u
#define P_NODATA 0x00000200u
#define P_SKIP 0x00000400u
#define P_NR_CONN 0x00001000u
#define P_NR_HELO 0x00002000u
#define P_NR_MAIL 0x00004000u
#define P_NR_RCPT 0x00008000u
#define P_NR_DATA 0x00010000u
#define P_NR_UNKN 0x00020000u
#define P_NR_EOH 0x00040000u
#define P_NR_BODY 0x00080000u
#define P_HDR_LEADSPC 0x00100000u
/* What we offer: every step may be declined and every reply waived, as Postfix offers. */
#define P_OFFER                                                                                    \
    (P_NOCONNECT | P_NOHELO | P_NOMAIL | P_NORCPT | P_NOBODY | P_NOHDRS | P_NOEOH | P_NR_HDR |     \
     P_NOUNKNOWN | P_NODATA | P_SKIP | P_NR_CONN | P_NR_HELO | P_NR_MAIL | P_NR_RCPT | P_NR_DATA | \
     P_NR_UNKN | P_NR_EOH | P_NR_BODY | P_HDR_LEADSPC)

#define BODY_CHUNK 65535         /* MILTER_CHUNK_SIZE: no SMFIP_MDS_* offered */
#define PACKET_MAX (1024 * 1024) /* a reply longer than this is a protocol error */
#define POOL_MAX 64

enum outcome { OUT_OK, OUT_TEMPFAIL, OUT_REJECT, OUT_QUARANTINE, OUT_DISCARD, OUT_N };
static const char *const outcome_names[OUT_N] = {"continue_accept", "tempfail_4xx", "reject_5xx",
                                                 "quarantine", "discard"};

struct header {
    char *name, *value; /* value without the leading space after the colon */
};

struct opts {
    const char *socket;
    long conns, per_conn, total, timeout_ms, hold_ms;
    const char *addrs[POOL_MAX], *senders[POOL_MAX], *rcpts[POOL_MAX];
    int naddrs, nsenders, nrcpts;
    const char *client_name, *helo, *auth;
    struct header *headers;
    int nheaders;
    char *body; /* CRLF line ends */
    size_t bodylen;
    bool json, quiet;
    const char *qid_prefix;
    FILE *held; /* -Q */
};

struct stats {
    long counts[OUT_N];
    long errors, headers_added, headers_changed, connections;
    double *lat, *setup; /* milliseconds */
    size_t nlat, caplat, nsetup, capsetup;
    char first_error[160];
};

struct conn {
    int fd;
    uint32_t pflags;
    char *out;
    size_t outlen, outcap;
    unsigned char *in;
    size_t incap;
    const struct opts *o;
    struct stats *st;
};

static struct opts opt;
static atomic_long next_message;
static atomic_long queue_id_seq;
static atomic_long next_connection;
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;

static void die(const char *msg)
{
    fprintf(stderr, "loadgen: %s\n", msg);
    exit(2);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL)
        die("out of memory");
    return q;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void push(double **arr, size_t *n, size_t *cap, double v)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        *arr = xrealloc(*arr, *cap * sizeof **arr);
    }
    (*arr)[(*n)++] = v;
}

static void error_note(struct stats *st, const char *what)
{
    st->errors++;
    if (st->first_error[0] == '\0')
        snprintf(st->first_error, sizeof st->first_error, "%s", what);
}

/* ---- packets ---------------------------------------------------------------------------- */

static void out_append(struct conn *c, const void *p, size_t n)
{
    if (c->outlen + n > c->outcap) {
        c->outcap = (c->outlen + n) * 2;
        c->out = xrealloc(c->out, c->outcap);
    }
    memcpy(c->out + c->outlen, p, n);
    c->outlen += n;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Queue one packet: 4-byte length (command included), command, data. */
static void packet(struct conn *c, char cmd, const void *data, size_t len)
{
    unsigned char hdr[5];
    put_u32(hdr, (uint32_t)(len + 1));
    hdr[4] = (unsigned char)cmd;
    out_append(c, hdr, sizeof hdr);
    if (data != NULL && len > 0)
        out_append(c, data, len);
}

/* Queue a MACRO packet for stage STAGE: NULL-terminated name, value, name, value, ... */
static void macros(struct conn *c, char stage, const char *const *kv)
{
    char buf[1024];
    size_t n = 0;
    buf[n++] = stage;
    for (int i = 0; kv[i] != NULL && kv[i + 1] != NULL; i += 2) {
        for (int k = 0; k < 2; k++) {
            size_t l = strlen(kv[i + k]) + 1;
            if (n + l > sizeof buf)
                return;
            memcpy(buf + n, kv[i + k], l);
            n += l;
        }
    }
    packet(c, 'D', buf, n);
}

static bool wait_fd(struct conn *c, short events)
{
    struct pollfd p = {.fd = c->fd, .events = events};
    int r;
    do {
        r = poll(&p, 1, (int)c->o->timeout_ms);
    } while (r < 0 && errno == EINTR);
    return r > 0;
}

static bool flush_out(struct conn *c)
{
    size_t off = 0;
    while (off < c->outlen) {
        if (!wait_fd(c, POLLOUT)) {
            error_note(c->st, "write timeout");
            return false;
        }
        ssize_t w = send(c->fd, c->out + off, c->outlen - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (w <= 0) {
            error_note(c->st, "write failed");
            return false;
        }
        off += (size_t)w;
    }
    c->outlen = 0;
    return true;
}

static bool read_full(struct conn *c, unsigned char *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        if (!wait_fd(c, POLLIN)) {
            error_note(c->st, "read timeout");
            return false;
        }
        ssize_t r = recv(c->fd, p + off, n - off, MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r <= 0) {
            error_note(c->st, r == 0 ? "connection closed by the milter" : "read failed");
            return false;
        }
        off += (size_t)r;
    }
    return true;
}

/* Read one reply packet: its command in *cmd, its data in c->in (NUL-terminated), length *len. */
static bool read_packet(struct conn *c, char *cmd, size_t *len)
{
    unsigned char hdr[4];
    if (!read_full(c, hdr, 4))
        return false;
    uint32_t n = get_u32(hdr);
    if (n < 1 || n > PACKET_MAX) {
        error_note(c->st, "reply length out of bounds");
        return false;
    }
    if (n + 1 > c->incap) {
        c->incap = n + 1;
        c->in = xrealloc(c->in, c->incap);
    }
    if (!read_full(c, c->in, n))
        return false;
    *cmd = (char)c->in[0];
    memmove(c->in, c->in + 1, n - 1);
    c->in[n - 1] = '\0';
    *len = n - 1;
    return true;
}

/*
 * Send what is queued and read the reply to the last command: progress is skipped,
 * modifications are counted (allowed only at end of message), and the final reply is returned
 * as its command letter ('y' becomes 't' or 'r' by its code).  0 on an error.
 */
static char reply(struct conn *c, bool eom, bool *quarantined)
{
    if (!flush_out(c))
        return 0;
    for (;;) {
        char cmd;
        size_t len;
        if (!read_packet(c, &cmd, &len))
            return 0;
        switch (cmd) {
        case 'p':
            continue;
        case 'h':
        case 'i':
        case 'm':
        case 'q':
        case 'e':
        case '+':
        case '-':
        case '2':
        case 'b':
            if (!eom) {
                error_note(c->st, "modification before end of message");
                return 0;
            }
            if (cmd == 'h' || cmd == 'i')
                c->st->headers_added++;
            else if (cmd == 'm')
                c->st->headers_changed++;
            else if (cmd == 'q')
                *quarantined = true;
            continue;
        case 'c':
        case 'a':
        case 'r':
        case 't':
        case 'd':
        case 's':
            return cmd;
        case 'y':
            if (len >= 3 && (c->in[0] == '4' || c->in[0] == '5'))
                return c->in[0] == '4' ? 't' : 'r';
            error_note(c->st, "REPLYCODE without a 4xx or 5xx code");
            return 0;
        case '4':
        case 'f':
            return 't';
        default:
            error_note(c->st, "unknown reply command");
            return 0;
        }
    }
}

/* ---- one connection ---------------------------------------------------------------------- */

static int open_socket(const char *spec)
{
    int fd = -1;
    if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        const char *path = strchr(spec, ':') + 1;
        if (strlen(path) >= sizeof sun.sun_path)
            return -1;
        memcpy(sun.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
            close(fd);
            fd = -1;
        }
        return fd;
    }
    if (strncmp(spec, "inet:", 5) != 0 && strncmp(spec, "inet6:", 6) != 0)
        return -1;
    char port[16], host[256];
    const char *p = strchr(spec, ':') + 1, *at = strchr(p, '@');
    if (at == NULL || (size_t)(at - p) >= sizeof port || strlen(at + 1) >= sizeof host)
        return -1;
    memcpy(port, p, (size_t)(at - p));
    port[at - p] = '\0';
    snprintf(host, sizeof host, "%s", at + 1);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static bool negotiate(struct conn *c)
{
    unsigned char data[12];
    put_u32(data, PROT_VERSION);
    put_u32(data + 4, ACTS_ALL);
    put_u32(data + 8, P_OFFER);
    packet(c, 'O', data, sizeof data);
    if (!flush_out(c))
        return false;
    char cmd;
    size_t len;
    if (!read_packet(c, &cmd, &len))
        return false;
    if (cmd != 'O' || len < 12) {
        error_note(c->st, "bad option negotiation reply");
        return false;
    }
    uint32_t version = get_u32(c->in);
    if (version < 2 || version > PROT_VERSION) {
        error_note(c->st, "unsupported protocol version");
        return false;
    }
    c->pflags = get_u32(c->in + 8);
    if ((c->pflags & ~(uint32_t)P_OFFER & 0x001FFFFFu) != 0) {
        error_note(c->st, "milter asks for protocol steps not offered");
        return false;
    }
    return true;
}

static bool has(const struct conn *c, uint32_t flag)
{
    return (c->pflags & flag) != 0;
}

static enum outcome outcome_of(char r, bool quarantined)
{
    if (quarantined)
        return OUT_QUARANTINE;
    switch (r) {
    case 't':
        return OUT_TEMPFAIL;
    case 'r':
        return OUT_REJECT;
    case 'd':
        return OUT_DISCARD;
    default:
        return OUT_OK;
    }
}

/*
 * "%n" in a sender becomes a number unique to the message and the run (the message's sequence and
 * the process id), so that every message of inbound-new is a triplet never seen.
 */
static const char *expand_seq(const char *pattern, long seq, char *buf, size_t buflen)
{
    const char *at = strstr(pattern, "%n");
    if (at == NULL)
        return pattern;
    snprintf(buf, buflen, "%.*s%ldp%ld%s", (int)(at - pattern), pattern, seq, (long)getpid(),
             at + 2);
    return buf;
}

/* A step that may answer: send it (and what is queued), return its reply, or 'c' when waived. */
static char step(struct conn *c, char cmd, const void *data, size_t len, uint32_t nr_flag)
{
    bool q = false;
    packet(c, cmd, data, len);
    if (nr_flag != 0 && has(c, nr_flag))
        return 'c';
    return reply(c, false, &q);
}

/*
 * One message, MAIL to the final reply.  Returns false on an error (the connection is then
 * dropped).  The outcome is the first reply that is not CONTINUE, or the final one.
 */
static bool message(struct conn *c, long seq, enum outcome *out)
{
    const struct opts *o = c->o;
    char qid[32], arg[600];
    bool quarantined = false;
    char r = 'c';
    char unique[300];
    snprintf(qid, sizeof qid, "%s%010lX", o->qid_prefix,
             (unsigned long)atomic_fetch_add(&queue_id_seq, 1));
    const char *sender = expand_seq(o->senders[seq % o->nsenders], seq, unique, sizeof unique);
    const char *rcpt = o->rcpts[seq % o->nrcpts];

    if (!has(c, P_NOMAIL)) {
        const char *kv[] = {"{mail_addr}", sender, o->auth ? "{auth_authen}" : NULL, o->auth, NULL};
        macros(c, 'M', kv);
        int n = snprintf(arg, sizeof arg, "<%s>", sender);
        r = step(c, 'M', arg, (size_t)n + 1, P_NR_MAIL);
        if (r != 'c')
            goto done;
    }
    if (!has(c, P_NORCPT)) {
        const char *kv[] = {"i", qid, "{rcpt_addr}", rcpt, NULL};
        macros(c, 'R', kv);
        int n = snprintf(arg, sizeof arg, "<%s>", rcpt);
        r = step(c, 'R', arg, (size_t)n + 1, P_NR_RCPT);
        if (r != 'c')
            goto done;
    }
    if (!has(c, P_NODATA)) {
        const char *kv[] = {"i", qid, NULL};
        macros(c, 'T', kv);
        r = step(c, 'T', NULL, 0, P_NR_DATA);
        if (r != 'c')
            goto done;
    }
    if (!has(c, P_NOHDRS)) {
        for (int i = 0; i < o->nheaders; i++) {
            const struct header *h = &o->headers[i];
            size_t nl = strlen(h->name) + 1, vl = strlen(h->value) + 1;
            bool sp = has(c, P_HDR_LEADSPC);
            char *buf = xrealloc(NULL, nl + vl + 1);
            memcpy(buf, h->name, nl);
            if (sp)
                buf[nl] = ' ';
            memcpy(buf + nl + sp, h->value, vl);
            r = step(c, 'L', buf, nl + vl + sp, P_NR_HDR);
            free(buf);
            if (r != 'c')
                goto done;
        }
    }
    if (!has(c, P_NOEOH)) {
        r = step(c, 'N', NULL, 0, P_NR_EOH);
        if (r != 'c')
            goto done;
    }
    if (!has(c, P_NOBODY)) {
        for (size_t off = 0; off < o->bodylen; off += BODY_CHUNK) {
            size_t n = o->bodylen - off < BODY_CHUNK ? o->bodylen - off : BODY_CHUNK;
            r = step(c, 'B', o->body + off, n, P_NR_BODY);
            if (r == 's') {
                r = 'c';
                break;
            }
            if (r != 'c')
                goto done;
        }
    }
    {
        const char *kv[] = {"i", qid, NULL};
        macros(c, 'E', kv);
        packet(c, 'E', NULL, 0);
        r = reply(c, true, &quarantined);
    }
done:
    if (r == 0)
        return false;
    if (r == 's') {
        error_note(c->st, "SKIP outside the body");
        return false;
    }
    *out = outcome_of(r, quarantined);
    if (quarantined && o->held != NULL && (r == 'c' || r == 'a')) {
        pthread_mutex_lock(&held_lock);
        fprintf(o->held, "%s\n", qid);
        fflush(o->held);
        pthread_mutex_unlock(&held_lock);
    }
    packet(c, 'A', NULL, 0); /* ABORT after every transaction, as Postfix does */
    return true;
}

/* One connection: up to per_conn messages claimed from the global count. */
static void connection(struct conn *c, long conn_seq)
{
    const struct opts *o = c->o;
    struct stats *st = c->st;
    double t0 = now_ms();
    const char *addr = o->addrs[conn_seq % o->naddrs];
    bool v6 = strchr(addr, ':') != NULL;
    char r = 'c';

    c->fd = open_socket(o->socket);
    if (c->fd < 0) {
        error_note(st, "cannot connect to the milter");
        return;
    }
    st->connections++;
    c->outlen = 0;
    if (!negotiate(c))
        goto out;
    if (!has(c, P_NOCONNECT)) {
        const char *kv[] = {
            "j", "mx.bench.test", "{daemon_name}", "loadgen", "{if_addr}", "127.0.0.1", NULL};
        char buf[512];
        size_t nl = strlen(o->client_name) + 1, al = strlen(addr) + 1;
        if (nl + al + 3 > sizeof buf)
            goto out;
        macros(c, 'C', kv);
        memcpy(buf, o->client_name, nl);
        buf[nl] = v6 ? '6' : '4';
        buf[nl + 1] = (char)(40000 >> 8);
        buf[nl + 2] = (char)(40000 & 0xff);
        memcpy(buf + nl + 3, addr, al);
        r = step(c, 'C', buf, nl + 3 + al, P_NR_CONN);
    }
    if (r == 'c' && !has(c, P_NOHELO))
        r = step(c, 'H', o->helo, strlen(o->helo) + 1, P_NR_HELO);
    if (r == 0)
        goto out;
    push(&st->setup, &st->nsetup, &st->capsetup, now_ms() - t0);
    if (o->hold_ms > 0)
        usleep((useconds_t)o->hold_ms * 1000);

    for (long i = 0; i < o->per_conn; i++) {
        long seq = atomic_fetch_add(&next_message, 1);
        if (seq >= o->total)
            break;
        double m0 = now_ms();
        enum outcome out = OUT_OK;
        if (r != 'c') {
            /* The milter answered for the whole connection: the MTA applies it to each message. */
            out = outcome_of(r, false);
        } else if (!message(c, seq, &out)) {
            goto out;
        }
        st->counts[out]++;
        push(&st->lat, &st->nlat, &st->caplat, now_ms() - m0);
    }
    packet(c, 'Q', NULL, 0);
    flush_out(c);
out:
    close(c->fd);
    c->fd = -1;
}

static void *worker(void *arg)
{
    struct stats *st = arg;
    struct conn c = {.fd = -1, .o = &opt, .st = st};
    while (atomic_load(&next_message) < opt.total) {
        long before = st->errors;
        connection(&c, atomic_fetch_add(&next_connection, 1));
        if (st->errors > before)
            break; /* an error ends this worker: it is counted, the run goes on without it */
    }
    free(c.out);
    free(c.in);
    return NULL;
}

/* ---- input --------------------------------------------------------------------------------- */

static int split_list(char *s, const char **pool)
{
    int n = 0;
    for (char *save = NULL, *t = strtok_r(s, ",", &save); t != NULL && n < POOL_MAX;
         t = strtok_r(NULL, ",", &save))
        pool[n++] = t;
    return n;
}

static const char builtin_message[] = "From: Bench Sender <bench@e2e.test>\n"
                                      "To: <user@mx.test.example>\n"
                                      "Subject: loadgen message\n"
                                      "Date: Mon, 23 Nov 2026 10:00:00 +0000\n"
                                      "Message-ID: <loadgen@e2e.test>\n"
                                      "MIME-Version: 1.0\n"
                                      "Content-Type: text/plain; charset=us-ascii\n"
                                      "\n"
                                      "A small message from the milter load generator.\n"
                                      "It has a few lines of body, like a short notification.\n"
                                      "\n"
                                      "-- \n"
                                      "loadgen\n";

/* Headers (unfolded continuation lines kept with "\n") and the body with CRLF line ends. */
static void parse_message(const char *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && text[e] != '\n')
            e++;
        size_t l = e - i;
        if (l > 0 && text[i + l - 1] == '\r')
            l--;
        if (l == 0) {
            i = e + 1;
            break;
        }
        if ((text[i] == ' ' || text[i] == '\t') && opt.nheaders > 0) {
            struct header *h = &opt.headers[opt.nheaders - 1];
            size_t old = strlen(h->value);
            h->value = xrealloc(h->value, old + l + 2);
            h->value[old] = '\n';
            memcpy(h->value + old + 1, text + i, l);
            h->value[old + 1 + l] = '\0';
        } else {
            const char *colon = memchr(text + i, ':', l);
            if (colon != NULL) {
                size_t nl = (size_t)(colon - (text + i));
                size_t vs = nl + 1;
                if (vs < l && text[i + vs] == ' ')
                    vs++;
                opt.headers =
                    xrealloc(opt.headers, (size_t)(opt.nheaders + 1) * sizeof *opt.headers);
                struct header *h = &opt.headers[opt.nheaders++];
                h->name = strndup(text + i, nl);
                h->value = strndup(text + i + vs, l - vs);
                if (h->name == NULL || h->value == NULL)
                    die("out of memory");
            }
        }
        i = e + 1;
    }
    opt.body = xrealloc(NULL, 2 * (len - (i < len ? i : len)) + 1);
    opt.bodylen = 0;
    for (; i < len; i++) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
            opt.body[opt.bodylen++] = '\r';
        opt.body[opt.bodylen++] = text[i];
    }
}

static void load_message(const char *path)
{
    if (path == NULL) {
        parse_message(builtin_message, sizeof builtin_message - 1);
        return;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        die("cannot open the message file");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    do {
        if (len + 65536 > cap) {
            cap = (len + 65536) * 2;
            buf = xrealloc(buf, cap);
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0 && len < 64u * 1024 * 1024);
    fclose(f);
    parse_message(buf, len);
    free(buf);
}

/* ---- report --------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0.0;
    size_t k = (size_t)(p * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen -s inet:PORT@HOST|unix:PATH [-c CONNS] [-m PER_CONN] [-n TOTAL]\n"
            "               [-a ADDR,...] [-N CLIENT_NAME] [-H HELO] [-f SENDER,...]\n"
            "               [-r RCPT,...] [-u AUTH] [-e FILE] [-t TIMEOUT_MS] [-w HOLD_MS] [-j] "
            "[-q]\n"
            "               [-I QUEUE_ID_PREFIX] [-Q HELD_FILE]\n");
    exit(2);
}

static long number(const char *s, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s || v < min || v > max)
        usage();
    return v;
}

/* The load generator's own CPU time (user + system, all threads): the benchmark subtracts it
 * from the machine's 2 CPUs to tell what the milter under test costs a message. */
static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
                                             {"socket", required_argument, NULL, 's'},
                                             {NULL, 0, NULL, 0}};
    char def_addr[] = "127.0.0.2", def_sender[] = "bench@e2e.test",
         def_rcpt[] = "user@mx.test.example";
    const char *file = NULL;
    int ch;
    opt.conns = 32;
    opt.per_conn = 10;
    opt.total = -1;
    opt.timeout_ms = 10000;
    opt.client_name = "unknown";
    opt.helo = "good.example.test";
    opt.qid_prefix = "BENCH";
    while ((ch = getopt_long(argc, argv, "s:c:m:n:a:N:H:f:r:u:e:t:w:I:Q:jq", longopts, NULL)) !=
           -1) {
        switch (ch) {
        case 's':
            opt.socket = optarg;
            break;
        case 'c':
            opt.conns = number(optarg, 1, 10000);
            break;
        case 'm':
            opt.per_conn = number(optarg, 1, 100000000);
            break;
        case 'n':
            opt.total = number(optarg, 1, 1000000000);
            break;
        case 'a':
            opt.naddrs = split_list(optarg, opt.addrs);
            break;
        case 'N':
            opt.client_name = optarg;
            break;
        case 'H':
            opt.helo = optarg;
            break;
        case 'f':
            opt.nsenders = split_list(optarg, opt.senders);
            break;
        case 'r':
            opt.nrcpts = split_list(optarg, opt.rcpts);
            break;
        case 'u':
            opt.auth = optarg;
            break;
        case 'e':
            file = optarg;
            break;
        case 't':
            opt.timeout_ms = number(optarg, 1, 3600000);
            break;
        case 'w':
            opt.hold_ms = number(optarg, 0, 3600000);
            break;
        case 'I':
            if (strlen(optarg) > 16 ||
                strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != strlen(optarg))
                die("-I: at most 16 capital letters and digits");
            opt.qid_prefix = optarg;
            break;
        case 'Q':
            opt.held = fopen(optarg, "a");
            if (opt.held == NULL)
                die("-Q: cannot open the file");
            break;
        case 'j':
            opt.json = true;
            break;
        case 'q':
            opt.quiet = true;
            break;
        default:
            usage();
        }
    }
    if (opt.socket == NULL || optind != argc)
        usage();
    if (opt.naddrs == 0)
        opt.naddrs = split_list(def_addr, opt.addrs);
    if (opt.nsenders == 0)
        opt.nsenders = split_list(def_sender, opt.senders);
    if (opt.nrcpts == 0)
        opt.nrcpts = split_list(def_rcpt, opt.rcpts);
    if (opt.total < 0)
        opt.total = opt.conns * opt.per_conn;
    load_message(file);

    struct stats *st = calloc((size_t)opt.conns, sizeof *st);
    pthread_t *th = calloc((size_t)opt.conns, sizeof *th);
    if (st == NULL || th == NULL)
        die("out of memory");
    double t0 = now_ms();
    long started = 0;
    for (long i = 0; i < opt.conns; i++) {
        if (pthread_create(&th[i], NULL, worker, &st[i]) != 0) {
            error_note(&st[0], "cannot create a thread");
            break;
        }
        started++;
    }
    for (long i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    double elapsed = now_ms() - t0;

    struct stats all = {0};
    for (long i = 0; i < opt.conns; i++) {
        for (int k = 0; k < OUT_N; k++)
            all.counts[k] += st[i].counts[k];
        all.errors += st[i].errors;
        all.headers_added += st[i].headers_added;
        all.headers_changed += st[i].headers_changed;
        all.connections += st[i].connections;
        for (size_t k = 0; k < st[i].nlat; k++)
            push(&all.lat, &all.nlat, &all.caplat, st[i].lat[k]);
        for (size_t k = 0; k < st[i].nsetup; k++)
            push(&all.setup, &all.nsetup, &all.capsetup, st[i].setup[k]);
        if (all.first_error[0] == '\0' && st[i].first_error[0] != '\0')
            memcpy(all.first_error, st[i].first_error, sizeof all.first_error);
        free(st[i].lat);
        free(st[i].setup);
    }
    if (all.nlat > 0)
        qsort(all.lat, all.nlat, sizeof *all.lat, cmp_double);
    if (all.nsetup > 0)
        qsort(all.setup, all.nsetup, sizeof *all.setup, cmp_double);
    double rate = elapsed > 0 ? (double)all.nlat * 1000.0 / elapsed : 0.0;

    if (opt.json) {
        printf("{\"socket\":\"%s\",\"connections\":%ld,\"per_connection\":%ld,"
               "\"messages\":%zu,\"seconds\":%.3f,\"messages_per_second\":%.1f,"
               "\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f},"
               "\"setup_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},\"replies\":{",
               opt.socket, opt.conns, opt.per_conn, all.nlat, elapsed / 1000.0, rate,
               pct(all.lat, all.nlat, 0.5), pct(all.lat, all.nlat, 0.9),
               pct(all.lat, all.nlat, 0.99), pct(all.lat, all.nlat, 1.0),
               pct(all.setup, all.nsetup, 0.5), pct(all.setup, all.nsetup, 0.99),
               pct(all.setup, all.nsetup, 1.0));
        for (int k = 0; k < OUT_N; k++)
            printf("%s\"%s\":%ld", k ? "," : "", outcome_names[k], all.counts[k]);
        printf("},\"headers_added\":%ld,\"headers_changed\":%ld,\"milter_connections\":%ld,"
               "\"errors\":%ld,\"cpu_seconds\":%.3f}\n",
               all.headers_added, all.headers_changed, all.connections, all.errors, cpu_seconds());
    } else if (!opt.quiet) {
        printf("loadgen: %s, %ld connections x %ld messages, %zu messages in %.2f s\n", opt.socket,
               opt.conns, opt.per_conn, all.nlat, elapsed / 1000.0);
        printf("throughput      %.1f messages/s\n", rate);
        printf("latency (ms)    p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n",
               pct(all.lat, all.nlat, 0.5), pct(all.lat, all.nlat, 0.9),
               pct(all.lat, all.nlat, 0.99), pct(all.lat, all.nlat, 1.0));
        printf("set-up (ms)     p50 %.3f  p99 %.3f  max %.3f  (%ld connections)\n",
               pct(all.setup, all.nsetup, 0.5), pct(all.setup, all.nsetup, 0.99),
               pct(all.setup, all.nsetup, 1.0), all.connections);
        printf(
            "replies         continue/accept %ld  4xx %ld  5xx %ld  quarantine %ld  discard %ld\n",
            all.counts[OUT_OK], all.counts[OUT_TEMPFAIL], all.counts[OUT_REJECT],
            all.counts[OUT_QUARANTINE], all.counts[OUT_DISCARD]);
        printf("modifications   headers added %ld  changed %ld\n", all.headers_added,
               all.headers_changed);
        printf("errors          %ld%s%s\n", all.errors, all.errors ? "  first: " : "",
               all.first_error);
    }
    if (all.errors > 0 && (opt.json || opt.quiet))
        fprintf(stderr, "loadgen: %ld errors, first: %s\n", all.errors, all.first_error);
    free(all.lat);
    free(all.setup);
    free(st);
    free(th);
    if (opt.held != NULL && fclose(opt.held) != 0)
        die("-Q: cannot write the file");
    return all.errors > 0 ? 1 : 0;
}
