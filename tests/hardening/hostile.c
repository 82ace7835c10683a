/*
 * hostile: a hostile MTA.  Speaks the MTA side of milter protocol version 6 (libmilter's
 * mfdef.h) to a running milter and sends what no sane MTA sends, one case after another:
 *
 *   hostile -s inet:PORT@HOST|unix:PATH [-a CLIENT_ADDR] [-r RCPT] [-t TIMEOUT_MS] [-l | -p]
 *           [CASE...]
 *
 * Every case runs on its own connection and ends with an outcome: the last reply the milter gave
 * ("continue", "accept", "reject", "tempfail", "reply:4xx", "reply:5xx", "discard"), "closed"
 * when the milter closed the connection, "dropped" when the case itself hung up, or "timeout".
 * A case passes when its outcome is one it allows (a final reply for every case except the
 * drops, and "closed" as well for a packet over libmilter's size limit); after every case a
 * normal message on a new connection must still be accepted (the milter is still up).  -l lists
 * the cases; -p sends one normal message only and prints "probe outcome=..." with the reply text
 * (exit 0 when it was accepted, 1 otherwise: the fault tests use it).  Prints one line per case,
 * "case=NAME outcome=... ok=yes|no replies=N", and exits 1 when any case failed, 2 on bad usage. -t
 * bounds every read and write (default 30000 ms).
 *
 * The client address (-a, default 127.0.0.2) is the one the normal messages claim, and -r (default
 * <postmaster@example.test>) their recipient: a persona of
 * the test DNS zones whose mail passes.  tests/hardening/hostile.sh runs it against milter-ingress.
 * The probe's HELO (-H), MAIL FROM and header From (-f), client name (-N: the name the MTA
 * reports at CONNECT, its reverse lookup) and one more header field (-x "Name: value", e.g. a
 * DKIM-Signature) can be chosen too, and -T prints a second line, "probe times
 * mail_rcpt_ms=N eoh_eom_ms=N": the wall time from sending MAIL to the RCPT reply (what the milter
 * spends at MAIL and RCPT) and from sending end-of-header to the end-of-message reply (end of
 * header, body and end of message).  tests/hardening/dns-bound.sh uses them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
#define P_NR_CONN 0x00001000u
#define P_NR_HELO 0x00002000u
#define P_NR_MAIL 0x00004000u
#define P_NR_RCPT 0x00008000u
#define P_NR_DATA 0x00010000u
#define P_NR_UNKN 0x00020000u
#define P_NR_EOH 0x00040000u
#define P_NR_BODY 0x00080000u
/* What we offer: every step may be declined and every reply waived, as Postfix offers. */
#define P_OFFER 0x001FF7FFu

#define MILTER_DATA_MAX 65535 /* libmilter's MILTER_MAX_DATA_SIZE without SMFIP_MDS_* */
#define REPLY_MAX (1024 * 1024)

static const char *server_spec;
static const char *client_addr = "127.0.0.2";
static const char *probe_rcpt = "<postmaster@example.test>";
static const char *probe_helo = "good.example.test";
static const char *probe_client_name = "good.example.test";
static const char *probe_sender = "<probe@e2e.test>";
static const char *probe_extra; /* "Name: value", or NULL */
static bool probe_times;
static int timeout_ms = 30000;

struct conn {
    int fd;
    uint32_t proto; /* what the milter chose at negotiation */
    char outcome[32];
    char reply_text[512]; /* the text of the last 'y' reply */
    long replies;
};

/* ---- the wire ---- */

static int connect_spec(const char *spec)
{
    if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(sun.sun_path, sizeof sun.sun_path, "%s", strchr(spec, ':') + 1);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char port[16], host[256];
    if (strncmp(spec, "inet:", 5) != 0 || sscanf(spec + 5, "%15[0-9]@%255s", port, host) != 2)
        return -1;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* Waits for fd to be ready; false on timeout or error. */
static bool wait_fd(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    return poll(&p, 1, timeout_ms) == 1;
}

static bool write_all(struct conn *c, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        if (!wait_fd(c->fd, POLLOUT)) {
            snprintf(c->outcome, sizeof c->outcome, "timeout");
            return false;
        }
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(c->outcome, sizeof c->outcome, "closed");
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool read_all(struct conn *c, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        if (!wait_fd(c->fd, POLLIN)) {
            snprintf(c->outcome, sizeof c->outcome, "timeout");
            return false;
        }
        ssize_t n = recv(c->fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(c->outcome, sizeof c->outcome, "closed");
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* One packet: 4-byte big-endian length (command byte included), command, data. */
static bool send_packet(struct conn *c, char cmd, const void *data, size_t len)
{
    unsigned char head[5];
    uint32_t n = htonl((uint32_t)(len + 1));
    memcpy(head, &n, 4);
    head[4] = (unsigned char)cmd;
    return write_all(c, head, 5) && (len == 0 || write_all(c, data, len));
}

/* Reads one packet into a malloc'ed buffer (*data, *len); returns its command or 0. */
static char read_packet(struct conn *c, char **data, size_t *len)
{
    uint32_t n;
    char cmd;
    *data = NULL;
    if (!read_all(c, &n, 4))
        return 0;
    n = ntohl(n);
    if (n == 0 || n > REPLY_MAX) {
        snprintf(c->outcome, sizeof c->outcome, "bad_packet");
        return 0;
    }
    if (!read_all(c, &cmd, 1))
        return 0;
    *len = n - 1;
    *data = malloc(*len + 1);
    if (*data == NULL || !read_all(c, *data, *len)) {
        free(*data);
        *data = NULL;
        return 0;
    }
    (*data)[*len] = '\0';
    return cmd;
}

/* ---- replies ---- */

static bool final_reply(struct conn *c, char cmd, const char *data)
{
    switch (cmd) {
    case 'c':
        snprintf(c->outcome, sizeof c->outcome, "continue");
        return true;
    case 'a':
        snprintf(c->outcome, sizeof c->outcome, "accept");
        return true;
    case 'r':
        snprintf(c->outcome, sizeof c->outcome, "reject");
        return true;
    case 't':
        snprintf(c->outcome, sizeof c->outcome, "tempfail");
        return true;
    case 'd':
        snprintf(c->outcome, sizeof c->outcome, "discard");
        return true;
    case 's':
        snprintf(c->outcome, sizeof c->outcome, "skip");
        return true;
    case 'y':
        snprintf(c->reply_text, sizeof c->reply_text, "%s", data);
        snprintf(c->outcome, sizeof c->outcome, "reply:%c%c%c", data[0] ? data[0] : '?',
                 data[0] && data[1] ? data[1] : '?', data[0] && data[1] ? data[2] : '?');
        return true;
    default:
        return false;
    }
}

/* Reads until a final reply (progress and end-of-message modifications are read past). */
static bool read_reply(struct conn *c)
{
    for (;;) {
        char *data;
        size_t len;
        char cmd = read_packet(c, &data, &len);
        if (cmd == 0)
            return false;
        bool done = final_reply(c, cmd, data);
        free(data);
        if (done) {
            c->replies++;
            return true;
        }
        if (strchr("p+-2bhimeqlf", cmd) == NULL) {
            snprintf(c->outcome, sizeof c->outcome, "unknown_reply:%c", cmd);
            return false;
        }
    }
}

/* Does the milter want this step, and does it answer it? */
static bool step_skipped(const struct conn *c, char cmd)
{
    static const struct {
        char cmd;
        uint32_t flag;
    } no[] = {{'C', P_NOCONNECT}, {'H', P_NOHELO}, {'M', P_NOMAIL}, {'R', P_NORCPT},
              {'L', P_NOHDRS},    {'N', P_NOEOH},  {'B', P_NOBODY}, {'T', P_NODATA}};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (no[i].cmd == cmd)
            return (c->proto & no[i].flag) != 0;
    return false;
}

static bool step_answered(const struct conn *c, char cmd)
{
    static const struct {
        char cmd;
        uint32_t flag;
    } nr[] = {{'C', P_NR_CONN}, {'H', P_NR_HELO}, {'M', P_NR_MAIL}, {'R', P_NR_RCPT},
              {'L', P_NR_HDR},  {'N', P_NR_EOH},  {'B', P_NR_BODY}, {'T', P_NR_DATA}};
    if (cmd == 'E')
        return true;
    if (strchr("ADQK", cmd) != NULL)
        return false;
    for (size_t i = 0; i < sizeof nr / sizeof nr[0]; i++)
        if (nr[i].cmd == cmd)
            return (c->proto & nr[i].flag) == 0;
    return true;
}

/* Sends one command and reads its reply when one is due; false when the connection is gone. */
static bool step(struct conn *c, char cmd, const void *data, size_t len)
{
    if (step_skipped(c, cmd))
        return true;
    if (!send_packet(c, cmd, data, len))
        return false;
    return !step_answered(c, cmd) || read_reply(c);
}

static bool step_str(struct conn *c, char cmd, const char *s)
{
    return step(c, cmd, s, strlen(s) + 1);
}

/* Two strings, each with its NUL: a header, or a macro pair. */
static bool step_pair(struct conn *c, char cmd, const char *a, size_t alen, const char *b,
                      size_t blen)
{
    char *buf = malloc(alen + blen + 2);
    if (buf == NULL)
        abort();
    memcpy(buf, a, alen);
    buf[alen] = '\0';
    memcpy(buf + alen + 1, b, blen);
    buf[alen + 1 + blen] = '\0';
    bool ok = step(c, cmd, buf, alen + blen + 2);
    free(buf);
    return ok;
}

static bool macro(struct conn *c, char stage, const char *name, const char *value, size_t vlen)
{
    size_t nlen = strlen(name);
    char *buf = malloc(1 + nlen + 1 + vlen + 1);
    if (buf == NULL)
        abort();
    buf[0] = stage;
    memcpy(buf + 1, name, nlen + 1);
    memcpy(buf + 2 + nlen, value, vlen);
    buf[2 + nlen + vlen] = '\0';
    bool ok = send_packet(c, 'D', buf, 2 + nlen + vlen + 1);
    free(buf);
    return ok;
}

/* CONNECT with a name and an IPv4 address as text (any bytes: the address is not checked). */
static bool connect_step(struct conn *c, const char *name, size_t nlen, const char *addr,
                         size_t alen)
{
    char *buf = malloc(nlen + alen + 5);
    if (buf == NULL)
        abort();
    memcpy(buf, name, nlen);
    buf[nlen] = '\0';
    buf[nlen + 1] = '4';
    buf[nlen + 2] = 0x19; /* port 6400 */
    buf[nlen + 3] = 0x00;
    memcpy(buf + nlen + 4, addr, alen);
    buf[nlen + 4 + alen] = '\0';
    bool ok = step(c, 'C', buf, nlen + alen + 5);
    free(buf);
    return ok;
}

/* The protocol steps negotiate() offers (P_OFFER, but for the case of an MTA without them). */
static uint32_t offer_steps = P_OFFER;

static bool negotiate(struct conn *c)
{
    uint32_t offer[3] = {htonl(PROT_VERSION), htonl(ACTS_ALL), htonl(offer_steps)};
    char *data;
    size_t len;
    c->fd = connect_spec(server_spec);
    if (c->fd < 0) {
        snprintf(c->outcome, sizeof c->outcome, "no_connection");
        return false;
    }
    if (!send_packet(c, 'O', offer, sizeof offer))
        return false;
    char cmd = read_packet(c, &data, &len);
    if (cmd != 'O' || len < 12) {
        free(data);
        if (cmd != 0)
            snprintf(c->outcome, sizeof c->outcome, "bad_negotiation");
        return false;
    }
    uint32_t proto;
    memcpy(&proto, data + 8, 4);
    c->proto = ntohl(proto);
    free(data);
    return true;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0) {
        send_packet(c, 'Q', NULL, 0);
        close(c->fd);
    }
    c->fd = -1;
}

/* ---- a normal message, and the start every case shares ---- */

static bool hello(struct conn *c, const char *helo)
{
    return macro(c, 'C', "j", "mx.test.example", 15) &&
           connect_step(c, probe_client_name, strlen(probe_client_name), client_addr,
                        strlen(client_addr)) &&
           step_str(c, 'H', helo);
}

static bool envelope(struct conn *c)
{
    return macro(c, 'M', "i", "4HOSTILE1", 9) && step_str(c, 'M', probe_sender) &&
           step_str(c, 'R', probe_rcpt) && step(c, 'T', NULL, 0);
}

static bool header(struct conn *c, const char *name, const char *value)
{
    return step_pair(c, 'L', name, strlen(name), value, strlen(value));
}

static bool end_of_message(struct conn *c, const char *body)
{
    return step(c, 'N', NULL, 0) && (body == NULL || step(c, 'B', body, strlen(body))) &&
           step(c, 'E', NULL, 0);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* The -x header field, "Name: value" split at its first colon. */
static bool extra_header(struct conn *c)
{
    const char *colon = probe_extra != NULL ? strchr(probe_extra, ':') : NULL;
    if (colon == NULL)
        return true;
    const char *value = colon + 1 + strspn(colon + 1, " ");
    return step_pair(c, 'L', probe_extra, (size_t)(colon - probe_extra), value, strlen(value));
}

/* One normal message; its outcome (and reply text, when it has one) in outcome. */
static bool probe(char *outcome, size_t outlen)
{
    struct conn c = {.fd = -1};
    bool ok = negotiate(&c) && hello(&c, probe_helo);
    double mail_at = now_ms();
    ok = ok && envelope(&c);
    double rcpt_at = now_ms();
    /* The header From is the envelope sender's (-f), so that each probe's DMARC lookup asks a
     * name of its own; the null sender's message is from the default address. */
    const char *from = strcmp(probe_sender, "<>") == 0 ? "<probe@e2e.test>" : probe_sender;
    ok = ok && extra_header(&c) && header(&c, "From", from) && header(&c, "Subject", "probe");
    double eoh_at = now_ms();
    ok = ok && end_of_message(&c, "probe\r\n");
    double eom_at = now_ms();
    if (c.reply_text[0] != '\0')
        snprintf(outcome, outlen, "%s reply=\"%s\"", c.outcome, c.reply_text);
    else
        snprintf(outcome, outlen, "%s", c.outcome);
    if (probe_times)
        snprintf(outcome + strlen(outcome), outlen - strlen(outcome),
                 "\nprobe times mail_rcpt_ms=%.0f eoh_eom_ms=%.0f", rcpt_at - mail_at,
                 eom_at - eoh_at);
    conn_close(&c);
    return ok && (strcmp(c.outcome, "continue") == 0 || strcmp(c.outcome, "accept") == 0);
}

/* ---- the cases ---- */

static bool case_helo_64k(struct conn *c)
{
    size_t n = MILTER_DATA_MAX - 2; /* with the NUL and the command byte: the largest packet */
    char *helo = malloc(n + 1);
    if (helo == NULL)
        abort();
    memset(helo, 'h', n);
    helo[n] = '\0';
    bool ok = hello(c, helo) && envelope(c) && end_of_message(c, NULL);
    free(helo);
    return ok;
}

/* A packet over libmilter's limit: libmilter closes the connection (the MTA's default applies). */
static bool case_helo_over_limit(struct conn *c)
{
    size_t n = 70000;
    char *helo = malloc(n + 1);
    if (helo == NULL)
        abort();
    memset(helo, 'h', n);
    helo[n] = '\0';
    bool ok = hello(c, helo) && envelope(c) && end_of_message(c, NULL);
    free(helo);
    return ok;
}

/*
 * NUL, CR and LF inside every macro value and every argument.  A NUL inside a string of the
 * protocol ends that string (the MTA cannot send one), so where a packet holds one string (HELO)
 * or several (MAIL and RCPT arguments, macro pairs) the NUL makes more strings; the CONNECT
 * name and the header packets, whose layout a NUL would break, are in the cases below.
 */
static bool case_nul_crlf(struct conn *c)
{
    static const char bad[] = "a\r\nb\0c\r\n\0";
    static const char crlf[] = "a\r\nb\rc\n";
    size_t blen = sizeof bad - 1;
    static const char *const macros[] = {"j",
                                         "_",
                                         "{daemon_name}",
                                         "{if_addr}",
                                         "{client_addr}",
                                         "{client_name}",
                                         "{auth_authen}",
                                         "{auth_type}",
                                         "i",
                                         "{mail_addr}",
                                         "{rcpt_addr}"};
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
        for (const char *stage = "CHMRTLNBE"; *stage != '\0'; stage++)
            if (!macro(c, *stage, macros[i], bad, blen))
                return false;
    return connect_step(c, crlf, strlen(crlf), client_addr, strlen(client_addr)) &&
           step(c, 'H', bad, blen + 1) && step(c, 'M', "<a\r\n@e2e.test>\0SIZE=1\r\n\0", 25) &&
           step(c, 'R', "<b\0@example.test>\r\n", 20) && step(c, 'T', NULL, 0) &&
           step_pair(c, 'L', "From\r\n", 6, crlf, strlen(crlf)) &&
           step_pair(c, 'L', crlf, strlen(crlf), crlf, strlen(crlf)) && step(c, 'N', NULL, 0) &&
           step(c, 'B', bad, blen) && step(c, 'E', NULL, 0);
}

/* CONNECT whose address is not one (CR LF, a NUL, text): libmilter's parser may refuse it. */
static bool case_connect_bad_address(struct conn *c)
{
    return connect_step(c, "a\r\nb", 4, "127.0.0.2\r\n\0x", 13) &&
           step_str(c, 'H', "good.example.test") && envelope(c) && end_of_message(c, NULL);
}

/* A NUL in the CONNECT name shifts the family byte: libmilter's parser may refuse it. */
static bool case_connect_nul_name(struct conn *c)
{
    return connect_step(c, "a\0b", 3, client_addr, strlen(client_addr)) &&
           step_str(c, 'H', "good.example.test") && envelope(c) && end_of_message(c, NULL);
}
static bool case_rcpt_10000(struct conn *c)
{
    if (!hello(c, "good.example.test") || !macro(c, 'M', "i", "4HOSTILE2", 9) ||
        !step_str(c, 'M', "<probe@e2e.test>"))
        return false;
    for (int i = 0; i < 10000; i++) {
        char rcpt[64];
        snprintf(rcpt, sizeof rcpt, "<user%d@example.test>", i);
        if (!step_str(c, 'R', rcpt))
            return false;
    }
    return step(c, 'T', NULL, 0) && header(c, "From", "<probe@e2e.test>") &&
           end_of_message(c, "ten thousand\r\n");
}

static bool case_headers_100000(struct conn *c)
{
    if (!hello(c, "good.example.test") || !envelope(c))
        return false;
    for (int i = 0; i < 100000; i++) {
        char value[64];
        snprintf(value, sizeof value, "value %d", i);
        if (!header(c, i % 1000 == 0 ? "From" : "X-Hostile", value))
            return false;
    }
    return end_of_message(c, "many headers\r\n");
}

static bool case_headers_no_value(struct conn *c)
{
    return hello(c, "good.example.test") && envelope(c) && header(c, "From", "") &&
           header(c, "Sender", "") && header(c, "Authentication-Results", "") &&
           header(c, "DKIM-Signature", "") && header(c, "Subject", " ") && end_of_message(c, NULL);
}

/* Header packets with an empty name, one string, none, or three: libmilter's parser may refuse
 * them (it closes the connection at the empty name). */
static bool case_header_packets_malformed(struct conn *c)
{
    return hello(c, "good.example.test") && envelope(c) && header(c, "", "") &&
           step(c, 'L', "Subject", 8) && step(c, 'L', NULL, 0) &&
           step(c, 'L', "From\0a@b\0c@d", sizeof "From\0a@b\0c@d") && end_of_message(c, NULL);
}

static bool case_body_mid_line(struct conn *c)
{
    return hello(c, "good.example.test") && envelope(c) &&
           header(c, "DKIM-Signature", "v=1; a=rsa-sha256; d=e2e.test; s=x; h=from; bh=; b=") &&
           header(c, "From", "<probe@e2e.test>") &&
           end_of_message(c, "first line\r\nno line end, and a lone \r in it\rlast");
}

/* An unknown command, and a packet of length 0 (no command byte at all). */
/* True when the milter sent nothing more than it was asked for: a reply to a step the MTA was
 * told needs none would sit unread here and be taken for the answer to a later command. */
static bool nothing_pending(struct conn *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    if (poll(&p, 1, 200) == 0)
        return true;
    snprintf(c->outcome, sizeof c->outcome, "unasked_reply");
    return false;
}

/* A message of two header fields and a body; true when every reply came in step. */
static bool plain_message(struct conn *c)
{
    return hello(c, "good.example.test") && envelope(c) && header(c, "From", "<probe@e2e.test>") &&
           header(c, "Subject", "steps") && end_of_message(c, "steps\r\n") && nothing_pending(c);
}

/*
 * With Postfix's offer the milter asks for no reply to HELO, header, end-of-header and body
 * steps (it decides at MAIL, RCPT and end of message), and for no DATA or unknown commands
 * (it has no callback for them); it answers CONNECT, MAIL, RCPT and end of message only.
 */
static bool case_no_reply_steps(struct conn *c)
{
    const uint32_t no_reply = P_NR_HELO | P_NR_HDR | P_NR_EOH | P_NR_BODY;
    const uint32_t replied = P_NR_CONN | P_NR_MAIL | P_NR_RCPT;
    if ((c->proto & no_reply) != no_reply || (c->proto & replied) != 0 ||
        (c->proto & (P_NODATA | P_NOUNKNOWN)) != (P_NODATA | P_NOUNKNOWN)) {
        snprintf(c->outcome, sizeof c->outcome, "steps:%08x", (unsigned)c->proto);
        return false;
    }
    if (!plain_message(c))
        return false;
    if (c->replies != 4) { /* CONNECT, MAIL, RCPT, end of message */
        snprintf(c->outcome, sizeof c->outcome, "replies:%ld", c->replies);
        return false;
    }
    return true;
}

/* An MTA that offers no reply-less steps (an older Sendmail or Postfix) gets a reply to each. */
static bool case_no_reply_steps_not_offered(struct conn *c)
{
    conn_close(c);
    offer_steps = P_OFFER & ~(uint32_t)(P_NR_HDR | P_NR_CONN | P_NR_HELO | P_NR_MAIL | P_NR_RCPT |
                                        P_NR_DATA | P_NR_UNKN | P_NR_EOH | P_NR_BODY);
    bool ok = negotiate(c);
    offer_steps = P_OFFER;
    if (!ok || !plain_message(c))
        return false;
    if (c->replies != 9) { /* CONNECT, HELO, MAIL, RCPT, 2 headers, EOH, body, end of message */
        snprintf(c->outcome, sizeof c->outcome, "replies:%ld", c->replies);
        return false;
    }
    return true;
}

static bool case_bad_packets(struct conn *c)
{
    static const unsigned char zero[4] = {0, 0, 0, 0};
    if (!hello(c, "good.example.test") || !step(c, 'Z', "??", 3))
        return false;
    return write_all(c, zero, 4) && read_reply(c);
}

/*
 * The steps of one message; drop_at and abort_at say where a case hangs up or sends ABORT
 * (then starts the message over and finishes it).  -1: never.
 */
enum stage { S_CONNECT, S_HELO, S_MAIL, S_RCPT, S_DATA, S_HEADER, S_EOH, S_BODY, S_EOM, S_N };
static const char *const stage_names[S_N] = {"connect", "helo", "mail", "rcpt", "data",
                                             "header",  "eoh",  "body", "eom"};

static bool message_stage(struct conn *c, enum stage s)
{
    switch (s) {
    case S_CONNECT:
        return macro(c, 'C', "j", "mx.test.example", 15) &&
               connect_step(c, "good.example.test", 17, client_addr, strlen(client_addr));
    case S_HELO:
        return step_str(c, 'H', "good.example.test");
    case S_MAIL:
        return macro(c, 'M', "i", "4HOSTILE3", 9) && step_str(c, 'M', "<probe@e2e.test>");
    case S_RCPT:
        return step_str(c, 'R', "<postmaster@example.test>");
    case S_DATA:
        return step(c, 'T', NULL, 0);
    case S_HEADER:
        return header(c, "From", "<probe@e2e.test>");
    case S_EOH:
        return step(c, 'N', NULL, 0);
    case S_BODY:
        return step(c, 'B', "body\r\n", 6);
    case S_EOM:
        return step(c, 'E', NULL, 0);
    case S_N:
        break;
    }
    return false;
}

static bool run_drop(struct conn *c, int at)
{
    for (int s = 0; s < at; s++)
        if (!message_stage(c, (enum stage)s))
            return false;
    /* Half the command of this stage, then gone: the milter must clean up mid-packet too. */
    static const unsigned char partial[] = {0, 0, 0, 20, 'M', '<', 'x'};
    if (at % 2 == 1)
        write_all(c, partial, sizeof partial);
    close(c->fd);
    c->fd = -1;
    snprintf(c->outcome, sizeof c->outcome, "dropped");
    return true;
}

static bool run_abort(struct conn *c, int at)
{
    for (int s = 0; s <= at; s++)
        if (!message_stage(c, (enum stage)s))
            return false;
    if (!send_packet(c, 'A', NULL, 0))
        return false;
    /* Start over: a new message on the same connection must be handled in full. */
    for (int s = at < S_MAIL ? at + 1 : S_MAIL; s < S_N; s++)
        if (!message_stage(c, (enum stage)s))
            return false;
    return true;
}

struct hostile_case {
    char name[32];
    bool (*run)(struct conn *c);
    int drop_at, abort_at;
    bool may_close; /* "closed" is a defined outcome (libmilter's packet limit) */
};

static const struct hostile_case fixed_cases[] = {
    {"helo_64k", case_helo_64k, -1, -1, false},
    {"helo_over_limit", case_helo_over_limit, -1, -1, true},
    {"nul_crlf_everywhere", case_nul_crlf, -1, -1, false},
    {"connect_bad_address", case_connect_bad_address, -1, -1, true},
    {"connect_nul_name", case_connect_nul_name, -1, -1, true},
    {"rcpt_10000", case_rcpt_10000, -1, -1, false},
    {"headers_100000", case_headers_100000, -1, -1, false},
    {"headers_without_value", case_headers_no_value, -1, -1, false},
    {"header_packets_malformed", case_header_packets_malformed, -1, -1, true},
    {"body_ends_mid_line", case_body_mid_line, -1, -1, false},
    {"bad_packets", case_bad_packets, -1, -1, true},
    {"no_reply_steps", case_no_reply_steps, -1, -1, false},
    {"no_reply_steps_not_offered", case_no_reply_steps_not_offered, -1, -1, false},
};

#define CASES_MAX (sizeof fixed_cases / sizeof fixed_cases[0] + 2 * S_N)
static struct hostile_case cases[CASES_MAX];
static size_t ncases;

static void cases_build(void)
{
    for (size_t i = 0; i < sizeof fixed_cases / sizeof fixed_cases[0]; i++)
        cases[ncases++] = fixed_cases[i];
    for (int s = 0; s < S_N; s++) {
        struct hostile_case *d = &cases[ncases++];
        snprintf(d->name, sizeof d->name, "drop_at_%s", stage_names[s]);
        d->drop_at = s;
        d->abort_at = -1;
    }
    for (int s = 0; s < S_EOM; s++) {
        struct hostile_case *a = &cases[ncases++];
        snprintf(a->name, sizeof a->name, "abort_at_%s", stage_names[s]);
        a->drop_at = -1;
        a->abort_at = s;
    }
}

static bool outcome_defined(const struct hostile_case *k, const char *outcome)
{
    static const char *const finals[] = {"continue", "accept",  "reject", "tempfail",
                                         "reply:4",  "reply:5", "discard"};
    if (k->drop_at >= 0)
        return strcmp(outcome, "dropped") == 0;
    if (k->may_close && strcmp(outcome, "closed") == 0)
        return true;
    for (size_t i = 0; i < sizeof finals / sizeof finals[0]; i++)
        if (strncmp(outcome, finals[i], strlen(finals[i])) == 0)
            return true;
    return false;
}

static bool run_case(const struct hostile_case *k)
{
    struct conn c = {.fd = -1};
    char probe_outcome[600];
    bool done = negotiate(&c);
    if (done && k->run != NULL)
        done = k->run(&c);
    else if (done && k->drop_at >= 0)
        done = run_drop(&c, k->drop_at);
    else if (done)
        done = run_abort(&c, k->abort_at);
    (void)done; /* the outcome says what happened */
    conn_close(&c);
    bool defined = outcome_defined(k, c.outcome);
    bool up = probe(probe_outcome, sizeof probe_outcome);
    printf("case=%s outcome=%s replies=%ld probe=%s ok=%s\n", k->name, c.outcome, c.replies,
           probe_outcome, defined && up ? "yes" : "no");
    fflush(stdout);
    return defined && up;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: hostile -s SOCKET [-a ADDR] [-r RCPT] [-t MS] [-l | -p [-H HELO] [-N NAME] "
            "[-f SENDER] [-x HEADER] [-T]] [CASE...]\n");
    return 2;
}

int main(int argc, char **argv)
{
    int ch;
    bool list = false, probe_only = false;
    while ((ch = getopt(argc, argv, "s:a:r:t:lpH:N:f:x:T")) != -1) {
        switch (ch) {
        case 's':
            server_spec = optarg;
            break;
        case 'a':
            client_addr = optarg;
            break;
        case 'r':
            probe_rcpt = optarg;
            break;
        case 't':
            timeout_ms = atoi(optarg);
            break;
        case 'l':
            list = true;
            break;
        case 'p':
            probe_only = true;
            break;
        case 'H':
            probe_helo = optarg;
            break;
        case 'N':
            probe_client_name = optarg;
            break;
        case 'f':
            probe_sender = optarg;
            break;
        case 'x':
            probe_extra = optarg;
            break;
        case 'T':
            probe_times = true;
            break;
        default:
            return usage();
        }
    }
    cases_build();
    if (list) {
        for (size_t i = 0; i < ncases; i++)
            printf("%s\n", cases[i].name);
        return 0;
    }
    if (server_spec == NULL || timeout_ms <= 0) {
        return usage();
    }
    if (probe_only) {
        char outcome[700];
        bool accepted = probe(outcome, sizeof outcome);
        printf("probe outcome=%s\n", outcome);
        return accepted ? 0 : 1;
    }
    int failed = 0, run = 0;
    for (size_t i = 0; i < ncases; i++) {
        bool wanted = optind == argc;
        for (int a = optind; a < argc; a++)
            wanted = wanted || strcmp(argv[a], cases[i].name) == 0;
        if (!wanted)
            continue;
        run++;
        if (!run_case(&cases[i]))
            failed++;
    }
    printf("hostile: %d cases, %d failed\n", run, failed);
    return failed > 0 || run == 0 ? 1 : 0;
}
