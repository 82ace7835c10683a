/*
 * fuzz_policy: libFuzzer target for one whole SMTP connection through lib/policy.c, as
 * milter/callbacks.c drives it: policy_conn_new -> helo -> mail -> rcpt... -> header... -> eoh ->
 * body... -> eom (and abort, a new MAIL, the queue id, the clock), with fuzzed strings.
 *
 * No network: DNS goes to a stub server in this process (a thread on a UDP socket of 127.0.0.1
 * with a port the kernel picks), which answers every query at once and the same way: PTR ->
 * "mx.fuzz.test", A -> 127.0.0.1, TXT -> an SPF record for 127.0.0.0/8 (a DKIM key name gets a
 * revoked key, "v=DKIM1; p=", except selector k1, which gets a real 1024-bit RSA key, so that a
 * signature naming it runs libopendkim's key decode through the decoded-key cache of lib/dkim.c
 * and the RSA verification), other types NODATA, names under "nx.test" NXDOMAIN and names under
 * "fail.test" SERVFAIL.  So iprev, SPF (HELO and MAIL FROM), DKIM key lookups and the DNSBL all
 * run their real code on real packets through c-ares.  The store is a real SQLite file in a
 * temporary directory (removed at exit), with greylisting on, so every accepted RCPT is a real
 * transaction.
 *
 * Input: fields separated by NUL bytes.  Field 0: its first byte's two low bits pick the config
 * (greylisting, fail_open; seeds use '0'..'3'), 1: client name, 2: client IP, 3: HELO; then
 * commands, each field's first byte the verb:
 *   M<sender>  MAIL FROM        U<account>  MAIL FROM authenticated as account (sender: "<>")
 *   R<rcpt>    RCPT TO          H<name>:<value>  a header      E  end of headers
 *   B<bytes>   a body chunk     F  end of message              A  abort
 *   Q<id>      the queue id     T<n>  the clock moves on by n (one byte) minutes
 * Checked: every verdict has a defined action, a check name and a detail within their arrays; a
 * refusal's reply code fits its action and its text (as milter/reply.c builds it) holds no control
 * byte; eom's Authentication-Results is NUL-terminated within its buffer; and every log line the
 * connection wrote is printable ASCII (log lines escape what came from the
 * network).  Log lines are caught by pointing stdio's stderr, which lib/log.c writes to, at a
 * memory stream for the run; sanitizer reports go to file descriptor 2 and are not caught.
 *
 *   tests/fuzz/run.sh policy 300
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_fixture.h"
#include "dkim.h"
#include "dns.h"
#include "lists.h"
#include "orgdomain.h"
#include "policy.h"
#include "spf.h"
#include "store.h"
#include "util.h"
#include "verdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define COMMANDS_MAX 4096

/* ---- the DNS stub ---- */

static int stub_fd = -1;
static char stub_server[32];

static size_t put16(unsigned char *p, size_t o, unsigned v)
{
    p[o] = (unsigned char)(v >> 8);
    p[o + 1] = (unsigned char)v;
    return o + 2;
}

/* The question's name in lower-case presentation form; false when it is not one we can read. */
static bool question_name(const unsigned char *q, size_t len, size_t *end, char *name,
                          size_t namelen)
{
    size_t o = 12, n = 0;
    while (o < len && q[o] != 0) {
        size_t l = q[o];
        if (l > 63 || o + 1 + l >= len || n + l + 2 > namelen)
            return false;
        if (n > 0)
            name[n++] = '.';
        for (size_t i = 0; i < l; i++) {
            unsigned char c = q[o + 1 + i];
            name[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        o += 1 + l;
    }
    if (o + 5 > len)
        return false;
    name[n] = '\0';
    *end = o + 1;
    return true;
}

static bool name_under(const char *name, const char *zone)
{
    size_t n = strlen(name), z = strlen(zone);
    return n >= z && strcmp(name + n - z, zone) == 0 && (n == z || name[n - z - 1] == '.');
}

/* Appends one answer record for the question (name by pointer to offset 12). */
static size_t answer_rr(unsigned char *p, size_t o, int type, const void *rdata, size_t rdlen)
{
    o = put16(p, o, 0xc00c);
    o = put16(p, o, (unsigned)type);
    o = put16(p, o, 1);
    o = put16(p, o, 0);
    o = put16(p, o, 300);
    o = put16(p, o, (unsigned)rdlen);
    memcpy(p + o, rdata, rdlen);
    return o + rdlen;
}

static size_t stub_answer(const unsigned char *q, size_t len, unsigned char *p)
{
    char name[300];
    size_t qend;
    if (len < 12 || !question_name(q, len, &qend, name, sizeof name))
        return 0;
    int type = (q[qend] << 8) | q[qend + 1];
    size_t o = qend + 4;
    memcpy(p, q, o);
    p[2] = 0x85; /* QR AA RD */
    p[3] = 0x80; /* RA, rcode 0 */
    put16(p, 6, 0);
    put16(p, 8, 0);
    put16(p, 10, 0);
    if (name_under(name, "nx.test")) {
        p[3] |= 3;
        return o;
    }
    if (name_under(name, "fail.test")) {
        p[3] |= 2;
        return o;
    }
    static const unsigned char ptr[] = "\x02mx\x04"
                                       "fuzz\x04test";
    static const unsigned char a[] = {127, 0, 0, 1};
    static const char spf[] = "v=spf1 ip4:127.0.0.0/8 ~all";
    static const char dkim[] = "v=DKIM1; p=";
    /* tests/dns/dkim.test.zone's k1024 key */
    static const char dkim_k1[] =
        "v=DKIM1; k=rsa; "
        "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCnHG8yL7xaeRWhblgY9ZV7FtkPGqiBDUmmq"
        "353JaQaKteqgInrkqhVH0RtHRRfN8ztiCSi48PmwMJO1azbIHs4uAHn/p+G3C6Pn5oF/IKPNe4yup/gPYFfC0dmtKF"
        "YCHLdDu8KLYplpm3eGJ6RuW0/LNcItnPkgxiS8orxfpuuuwIDAQAB";
    unsigned char txt[256];
    if (type == DNS_TYPE_PTR) {
        o = answer_rr(p, o, type, ptr, sizeof ptr);
    } else if (type == DNS_TYPE_A) {
        o = answer_rr(p, o, type, a, sizeof a);
    } else if (type == DNS_TYPE_TXT) {
        const char *text = spf;
        if (strstr(name, "._domainkey.") != NULL)
            text = strncmp(name, "k1._domainkey.", 14) == 0 ? dkim_k1 : dkim;
        txt[0] = (unsigned char)strlen(text);
        memcpy(txt + 1, text, txt[0]);
        o = answer_rr(p, o, type, txt, 1 + (size_t)txt[0]);
    } else {
        return o; /* NODATA */
    }
    put16(p, 6, 1);
    return o;
}

static void *stub_thread(void *arg)
{
    (void)arg;
    for (;;) {
        unsigned char q[512], r[1024];
        struct sockaddr_in from;
        socklen_t fromlen = sizeof from;
        ssize_t n = recvfrom(stub_fd, q, sizeof q, 0, (struct sockaddr *)&from, &fromlen);
        if (n < 0)
            continue;
        size_t len = stub_answer(q, (size_t)n, r);
        if (len > 0)
            sendto(stub_fd, r, len, 0, (struct sockaddr *)&from, fromlen);
    }
    return NULL;
}

static void stub_start(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    pthread_t t;
    stub_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (stub_fd < 0 || bind(stub_fd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
        getsockname(stub_fd, (struct sockaddr *)&sin, &len) != 0 ||
        pthread_create(&t, NULL, stub_thread, NULL) != 0)
        abort();
    pthread_detach(t);
    snprintf(stub_server, sizeof stub_server, "127.0.0.1:%u", ntohs(sin.sin_port));
}

/* ---- the daemon's objects, made once ---- */

static struct {
    char dir[64];
    struct config *cfg[4];
    struct dns_resolver *resolver;
    struct store *store;
    struct dkim_verifier *dkim;
    struct spf_checker *spf;
    struct lists_cache *lists;
    struct orgdomain *orgdomain;
    time_t now;
} fx;

static time_t fuzz_clock(void *arg)
{
    (void)arg;
    return fx.now;
}

static void cleanup(void)
{
    static const char *const files[] = {"ingress.db", "ingress.db-wal", "ingress.db-shm"};
    lists_cache_free(fx.lists);
    orgdomain_free(fx.orgdomain);
    spf_checker_free(fx.spf);
    dkim_verifier_free(fx.dkim);
    store_close(fx.store);
    dns_resolver_free(fx.resolver);
    for (int i = 0; i < 4; i++)
        config_free(fx.cfg[i]);
    fuzz_remove_dir(fx.dir, files, sizeof files / sizeof files[0]);
}

/* Four configs (bit 0 and 1 of the input's first byte): greylisting, fail_open. */
static struct config *make_config(int variant)
{
    struct config *cfg = config_new_defaults();
    fuzz_config_set(cfg, "trusted_networks", "192.0.2.0/24"); /* loopback clients are not trusted */
    fuzz_config_set(cfg, "greylist", variant & 1 ? "yes" : "no");
    fuzz_config_set(cfg, "fail_open", variant & 2 ? "yes" : "no");
    fuzz_config_set(cfg, "dnsbl_zones", "bl.nx.test:127.0.0.2");
    fuzz_config_set(cfg, "greylist_delay", "1m");
    return cfg;
}

static void setup(void)
{
    char err[256], db[128];
    stub_start();
    strcpy(fx.dir, "/tmp/fuzz_policy.XXXXXX");
    if (mkdtemp(fx.dir) == NULL)
        abort();
    snprintf(db, sizeof db, "%s/ingress.db", fx.dir);
    for (int i = 0; i < 4; i++)
        fx.cfg[i] = make_config(i);
    const char *servers[] = {stub_server};
    struct dns_options opts = {.servers = servers,
                               .server_count = 1,
                               .timeout_ms = 200,
                               .tries = 1,
                               .cache_size = 1000,
                               .cache_max_ttl = 60};
    struct store_error serr;
    fx.store = store_open(db, 200, &serr);
    if (dns_resolver_new(&opts, &fx.resolver, err, sizeof err) != 0 || fx.store == NULL)
        abort();
    fx.dkim = dkim_verifier_new(fx.resolver, fx.cfg[0], err, sizeof err);
    if (fx.dkim == NULL)
        abort();
    spf_library_init();
    fx.spf = spf_checker_new(fx.resolver, "mx.fuzz.test");
    fx.lists = lists_cache_new(fx.store, 60000);
    fx.orgdomain = orgdomain_load(fx.cfg[0]->public_suffix_list, err, sizeof err);
    if (fx.orgdomain == NULL) {
        fprintf(stderr, "fuzz_policy: %s\n", err);
        abort();
    }
    fx.now = 1800000000;
    atexit(cleanup);
}

/* ---- one connection ---- */

/* The checks milter/reply.c makes before it answers, and the reply text it would send. */
static void check_verdict(struct policy_conn *c, const struct verdict *v)
{
    char text[VERDICT_TEXT_MAX + 256];
    if (v->action > VERDICT_HOLD || memchr(v->check, '\0', sizeof v->check) == NULL ||
        memchr(v->detail, '\0', sizeof v->detail) == NULL)
        abort();
    if (v->action != VERDICT_TEMPFAIL && v->action != VERDICT_REJECT)
        return;
    if (!verdict_reply_consistent(v))
        abort();
    verdict_reply_text(v, policy_conn_ref(c), "see https://help.fuzz.test/{check}/{ref}", text,
                       sizeof text);
    for (const char *p = text; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            abort(); /* no control byte reaches the reply */
}

static void run_command(struct policy_conn *c, const char *field, size_t len)
{
    char authres[1024];
    const char *arg = field + 1;
    struct verdict v;
    int index;
    switch (field[0]) {
    case 'M':
        v = policy_mail(c, arg, NULL);
        break;
    case 'U':
        v = policy_mail(c, "<>", arg);
        break;
    case 'R':
        v = policy_rcpt(c, arg);
        break;
    case 'H': {
        char *name = xstrdup(arg);
        char *colon = strchr(name, ':');
        if (colon != NULL)
            *colon = '\0';
        policy_header(c, name, colon ? colon + 1 : "", &index);
        free(name);
        return;
    }
    case 'E':
        policy_eoh(c);
        return;
    case 'B':
        policy_body(c, (const unsigned char *)arg, len - 1);
        return;
    case 'F':
        authres[sizeof authres - 1] = 'x';
        v = policy_eom(c, authres, sizeof authres - 1);
        if (authres[sizeof authres - 1] != 'x' || memchr(authres, '\0', sizeof authres - 1) == NULL)
            abort();
        break;
    case 'A':
        policy_abort(c);
        return;
    case 'Q':
        policy_set_queue_id(c, arg);
        return;
    case 'T':
        fx.now += 60 * (time_t)(unsigned char)arg[0];
        return;
    default:
        return;
    }
    check_verdict(c, &v);
    if (v.action != VERDICT_CONTINUE)
        policy_record(c, &v, "550 5.7.1 fuzz");
}

/* Every log line printable ASCII: escaped, no control byte but the newline that ends it. */
static void check_log(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch != '\n' && (ch < 0x20 || ch >= 0x7f)) {
            FILE *err = fdopen(dup(2), "w");
            fprintf(err, "unescaped byte 0x%02x in a log line:\n%.*s\n", ch, (int)len, text);
            fclose(err);
            abort();
        }
    }
}

static void run_connection(const char *text, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fx.store == NULL)
        setup();
    char *log_text = NULL;
    size_t log_len = 0;
    FILE *saved = stderr;
    stderr = open_memstream(&log_text, &log_len);
    if (stderr == NULL)
        abort();
    run_connection((const char *)data, size);
    fclose(stderr);
    stderr = saved;
    check_log(log_text, log_len);
    free(log_text);
    return 0;
}

static void run_connection(const char *data, size_t size)
{
    /* A copy with a final NUL, so every field is a string. */
    char *text = xmalloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    const char *fields[4] = {"", "", "", ""};
    size_t off = 0, n = 0;
    while (n < 4 && off <= size) {
        fields[n++] = text + off;
        off += strlen(text + off) + 1;
    }
    struct policy_env env = {.cfg = fx.cfg[(unsigned char)fields[0][0] & 3],
                             .resolver = fx.resolver,
                             .store = fx.store,
                             .dkim = fx.dkim,
                             .spf = fx.spf,
                             .lists = fx.lists,
                             .orgdomain = fx.orgdomain,
                             .authserv_id = "mx.fuzz.test",
                             .clock = fuzz_clock};
    struct policy_conn *c = policy_conn_new(&env, fields[1], fields[2]);
    policy_helo(c, fields[3]);
    for (int i = 0; i < COMMANDS_MAX && off < size; i++) {
        size_t len = strlen(text + off);
        if (len > 0)
            run_command(c, text + off, len);
        off += len + 1;
    }
    policy_conn_free(c);
    free(text);
}
