/*
 * dns_faults: lib/dns.c against a misbehaving DNS server (tests/hardening/bad-dns.py, started by
 * tests/hardening/dns-faults.sh, which exports INGRESS_TEST_BAD_DNS=127.0.0.1:PORT and also
 * points a resolver at a closed port: INGRESS_TEST_DEAD_DNS).
 *
 * For each fault a lookup must end with the could-not-tell outcome (DNS_TEMPFAIL), which the
 * checks turn into dns_failure, and must end within timeout x tries (here 300 ms x 2) plus a
 * second of slack for a loaded machine: never a hang.  The one exception is the 500 TXT strings,
 * which arrive in full over TCP and must come back as one record joined and bounded to
 * DNS_TXT_MAX.  Prints one line per case with the time it took (a figure, for
 * tests/RELIABILITY.md); exits 1 when a case failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns.h"

#define TIMEOUT_MS 300
#define TRIES 2
#define SLACK_MS 1000

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static struct dns_resolver *resolver_for(const char *server)
{
    char err[256];
    const char *servers[] = {server};
    struct dns_options opts = {.servers = servers,
                               .server_count = 1,
                               .timeout_ms = TIMEOUT_MS,
                               .tries = TRIES,
                               .cache_size = 0};
    struct dns_resolver *r;
    if (dns_resolver_new(&opts, &r, err, sizeof err) != 0) {
        fprintf(stderr, "dns_resolver_new(%s): %s\n", server, err);
        exit(1);
    }
    return r;
}

static const char *status_name(enum dns_status st)
{
    static const char *const names[] = {"ok", "nxdomain", "nodata", "tempfail"};
    return names[st];
}

/* One lookup; true when it ended as expected within the bound. */
static bool run_case(struct dns_resolver *r, const char *label, const char *name, int type,
                     enum dns_status want)
{
    struct dns_answer *a = NULL;
    double start = now_ms();
    enum dns_status st = dns_lookup(r, name, type, &a);
    double took = now_ms() - start;
    bool ok = st == want && took <= TIMEOUT_MS * TRIES + SLACK_MS;
    if (ok && type == DNS_TYPE_TXT && want == DNS_OK)
        ok = a->count == 1 && a->records[0].text_len == 500 * 4 &&
             memcmp(a->records[0].text, "s000s001", 8) == 0;
    printf("%s - %s: %s in %.0f ms (want %s within %d ms)%s%s\n", ok ? "ok" : "not ok", label,
           status_name(st), took, status_name(want), TIMEOUT_MS * TRIES + SLACK_MS,
           st == DNS_TEMPFAIL ? ", error: " : "", st == DNS_TEMPFAIL ? a->error : "");
    dns_answer_free(a);
    return ok;
}

int main(void)
{
    const char *bad = getenv("INGRESS_TEST_BAD_DNS"), *dead = getenv("INGRESS_TEST_DEAD_DNS");
    if (bad == NULL || dead == NULL) {
        fprintf(stderr, "dns_faults: run it under tests/hardening/dns-faults.sh\n");
        return 2;
    }
    int failed = 0;
    struct dns_resolver *r = resolver_for(bad);
    failed += !run_case(r, "slow answer (after the timeout)", "slow.fault.test", DNS_TYPE_A,
                        DNS_TEMPFAIL);
    failed += !run_case(r, "no answer at all", "drop.fault.test", DNS_TYPE_A, DNS_TEMPFAIL);
    failed += !run_case(r, "SERVFAIL", "servfail.fault.test", DNS_TYPE_TXT, DNS_TEMPFAIL);
    failed += !run_case(r, "truncated over UDP, nothing over TCP", "tc.fault.test", DNS_TYPE_A,
                        DNS_TEMPFAIL);
    failed += !run_case(r, "CNAME loop", "loop.fault.test", DNS_TYPE_A, DNS_TEMPFAIL);
    failed +=
        !run_case(r, "500 TXT strings (TC, then TCP)", "txt500.fault.test", DNS_TYPE_TXT, DNS_OK);
    failed += !run_case(r, "PTR with a slow answer", "slow.2.0.192.in-addr.arpa", DNS_TYPE_PTR,
                        DNS_TEMPFAIL);
    dns_resolver_free(r);
    r = resolver_for(dead);
    failed += !run_case(r, "server down (closed port)", "any.fault.test", DNS_TYPE_A, DNS_TEMPFAIL);
    dns_resolver_free(r);
    printf("# %d failed\n", failed);
    return failed ? 1 : 0;
}
