/*
 * test_dns: the resolver against a real NSD serving the zones of tests/dns (INGRESS_TEST_DNS, set
 * by tests/dns/with-dns.sh), and the answer parser against crafted and damaged packets.
 *
 * Some tests put a small UDP relay of their own between the resolver and NSD: it counts the
 * queries that reach the network (so a cache hit can be proven to send nothing) and can turn into
 * a black hole (so a timeout is real, not simulated).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dns.h"

/* ---- helpers ---- */

static const char *test_server(void)
{
    const char *s = getenv("INGRESS_TEST_DNS");
    if (s == NULL || s[0] == '\0') {
        print_message("INGRESS_TEST_DNS is not set: run under tests/dns/with-dns.sh\n");
        skip();
    }
    return s;
}

static time_t test_clock(void *arg)
{
    return *(const time_t *)arg;
}

static struct dns_resolver *resolver_for(const char *server, int timeout_ms, int tries,
                                         size_t cache_size, time_t *clock)
{
    const char *servers[] = {server};
    struct dns_options o = {
        .servers = servers,
        .server_count = 1,
        .timeout_ms = timeout_ms,
        .tries = tries,
        .cache_size = cache_size,
        .cache_max_ttl = 3600,
        .clock = clock ? test_clock : NULL,
        .clock_arg = clock,
    };
    struct dns_resolver *r = NULL;
    char err[256];
    int rc = dns_resolver_new(&o, &r, err, sizeof err);
    if (rc != 0)
        print_message("dns_resolver_new: %s\n", err);
    assert_int_equal(rc, 0);
    return r;
}

static struct dns_resolver *nsd_resolver(size_t cache_size, time_t *clock)
{
    return resolver_for(test_server(), 1000, 2, cache_size, clock);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void assert_v4(const struct dns_record *rec, const char *expected)
{
    char buf[INET_ADDRSTRLEN];
    assert_int_equal(rec->family, AF_INET);
    assert_non_null(inet_ntop(AF_INET, &rec->addr.v4, buf, sizeof buf));
    assert_string_equal(buf, expected);
}

static bool answer_has_text(const struct dns_answer *a, const char *text)
{
    for (size_t i = 0; i < a->count; i++)
        if (a->records[i].text != NULL && strcmp(a->records[i].text, text) == 0)
            return true;
    return false;
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sin;
}

/* A UDP socket on 127.0.0.1 at a port of the kernel's choice; *port receives it. */
static int udp_bound(int *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = loopback(0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    socklen_t len = sizeof sin;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

/*
 * ---- the relay: counts queries, forwards them to NSD or drops them ----
 *
 * Answers go back to the socket that sent the query (by DNS id), and the relay counts the
 * distinct source ports it saw: one per c-ares socket, so a count of the channels in use.  It can
 * drop the queries for one name only (drop_label, a label in wire form) and hold every answer
 * delay_ms before passing it on (a slow server).
 */

#define RELAY_HELD_MAX 4096
#define RELAY_HELD_PACKET 512 /* c-ares 1.18 asks without EDNS: UDP answers fit */

struct held {
    int64_t due_ms;
    uint16_t id;
    size_t len;
    unsigned char packet[RELAY_HELD_PACKET];
};

struct relay {
    int sock, upstream, stop[2];
    pthread_t thread;
    atomic_int queries;
    atomic_int sources; /* distinct source ports seen */
    atomic_bool drop;
    char drop_label[64];         /* set before the relay starts; "" drops nothing */
    int delay_ms;                /* likewise */
    struct sockaddr_in *clients; /* by DNS id */
    unsigned char *ports_seen;   /* by port */
    struct held *held;           /* answers held for delay_ms, in arrival order */
    size_t held_head, held_count;
    char spec[32];
};

static void relay_answer(struct relay *rl, const unsigned char *buf, size_t n)
{
    if (n < 2 || atomic_load(&rl->drop))
        return;
    uint16_t id = (uint16_t)((buf[0] << 8) | buf[1]);
    (void)sendto(rl->sock, buf, n, 0, (struct sockaddr *)&rl->clients[id], sizeof rl->clients[id]);
}

static bool relay_drops(const struct relay *rl, const unsigned char *buf, size_t n)
{
    size_t len = strlen(rl->drop_label);
    if (len == 0)
        return false;
    for (size_t i = 12; i + len <= n; i++)
        if (memcmp(buf + i, rl->drop_label, len) == 0)
            return true;
    return false;
}

static void *relay_run(void *arg)
{
    struct relay *rl = arg;
    unsigned char buf[65536];
    for (;;) {
        int timeout = -1;
        if (rl->held_count > 0) {
            int64_t wait = rl->held[rl->held_head].due_ms - now_ms();
            timeout = wait < 0 ? 0 : (int)wait;
        }
        struct pollfd pfd[3] = {{.fd = rl->sock, .events = POLLIN},
                                {.fd = rl->upstream, .events = POLLIN},
                                {.fd = rl->stop[0], .events = POLLIN}};
        if (poll(pfd, 3, timeout) < 0 && errno != EINTR)
            break;
        if (pfd[2].revents)
            break;
        while (rl->held_count > 0 && rl->held[rl->held_head].due_ms <= now_ms()) {
            struct held *h = &rl->held[rl->held_head];
            relay_answer(rl, h->packet, h->len);
            rl->held_head = (rl->held_head + 1) % RELAY_HELD_MAX;
            rl->held_count--;
        }
        if (pfd[0].revents & POLLIN) {
            struct sockaddr_in client;
            socklen_t client_len = sizeof client;
            ssize_t n =
                recvfrom(rl->sock, buf, sizeof buf, 0, (struct sockaddr *)&client, &client_len);
            if (n >= 12) {
                atomic_fetch_add(&rl->queries, 1);
                uint16_t port = ntohs(client.sin_port);
                if (!rl->ports_seen[port]) {
                    rl->ports_seen[port] = 1;
                    atomic_fetch_add(&rl->sources, 1);
                }
                rl->clients[(buf[0] << 8) | buf[1]] = client;
                if (!atomic_load(&rl->drop) && !relay_drops(rl, buf, (size_t)n))
                    (void)send(rl->upstream, buf, (size_t)n, 0);
            }
        }
        if (pfd[1].revents & POLLIN) {
            ssize_t n = recv(rl->upstream, buf, sizeof buf, 0);
            if (n <= 0)
                continue;
            if (rl->delay_ms == 0 || n > RELAY_HELD_PACKET || rl->held_count == RELAY_HELD_MAX) {
                relay_answer(rl, buf, (size_t)n);
                continue;
            }
            struct held *h = &rl->held[(rl->held_head + rl->held_count++) % RELAY_HELD_MAX];
            h->due_ms = now_ms() + rl->delay_ms;
            h->len = (size_t)n;
            memcpy(h->packet, buf, (size_t)n);
        }
    }
    return NULL;
}

/* drop_label: NULL or a name's label in wire form ("\x09blackhole") whose queries are dropped. */
static struct relay *relay_start_with(bool drop, const char *drop_label, int delay_ms)
{
    const char *server = test_server();
    const char *colon = strrchr(server, ':');
    assert_non_null(colon);
    struct relay *rl = calloc(1, sizeof *rl);
    assert_non_null(rl);
    rl->clients = calloc(65536, sizeof *rl->clients);
    rl->ports_seen = calloc(65536, 1);
    rl->held = calloc(RELAY_HELD_MAX, sizeof *rl->held);
    assert_true(rl->clients != NULL && rl->ports_seen != NULL && rl->held != NULL);
    atomic_init(&rl->queries, 0);
    atomic_init(&rl->sources, 0);
    atomic_init(&rl->drop, drop);
    snprintf(rl->drop_label, sizeof rl->drop_label, "%s", drop_label ? drop_label : "");
    rl->delay_ms = delay_ms;
    int port;
    rl->sock = udp_bound(&port);
    /* Room for a burst of queries from one socket while the relay thread waits for a CPU (the
     * forced size needs CAP_NET_ADMIN; else what rmem_max allows). */
    int rcvbuf = 4 << 20;
    if (setsockopt(rl->sock, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
        (void)setsockopt(rl->sock, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    snprintf(rl->spec, sizeof rl->spec, "127.0.0.1:%d", port);
    rl->upstream = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(rl->upstream >= 0);
    struct sockaddr_in nsd = loopback(atoi(colon + 1));
    assert_int_equal(connect(rl->upstream, (struct sockaddr *)&nsd, sizeof nsd), 0);
    assert_int_equal(pipe(rl->stop), 0);
    assert_int_equal(pthread_create(&rl->thread, NULL, relay_run, rl), 0);
    return rl;
}

static struct relay *relay_start(bool drop)
{
    return relay_start_with(drop, NULL, 0);
}

/* Waits up to 2 s until the relay has seen n queries. */
static void relay_await_queries(struct relay *rl, int n)
{
    int64_t until = now_ms() + 2000;
    while (atomic_load(&rl->queries) < n && now_ms() < until)
        usleep(1000);
}

static void relay_stop(struct relay *rl)
{
    assert_int_equal(write(rl->stop[1], "x", 1), 1);
    pthread_join(rl->thread, NULL);
    close(rl->sock);
    close(rl->upstream);
    close(rl->stop[0]);
    close(rl->stop[1]);
    free(rl->clients);
    free(rl->ports_seen);
    free(rl->held);
    free(rl);
}

/* ---- answers from NSD ---- */

static void a_record_answered(void **state)
{
    (void)state;
    struct dns_resolver *r = nsd_resolver(0, NULL);
    struct dns_answer *a;
    assert_int_equal(dns_lookup(r, "good.example.test", DNS_TYPE_A, &a), DNS_OK);
    assert_int_equal(a->type, DNS_TYPE_A);
    assert_string_equal(a->name, "good.example.test");
    assert_int_equal(a->count, 1);
    assert_v4(&a->records[0], "127.0.0.2");
    assert_null(a->records[0].text);
    assert_int_equal(a->ttl, 300);
    assert_non_null(a->packet);
    assert_true(a->packet_len > 12);
    dns_answer_free(a);
    dns_resolver_free(r);
}

static void aaaa_record_answered(void **state)
{
    (void)state;
    struct dns_resolver *r = nsd_resolver(0, NULL);
    struct dns_answer *a;
    assert_int_equal(dns_lookup(r, "dual.example.test", DNS_TYPE_AAAA, &a), DNS_OK);
    assert_int_equal(a->count, 1);
    assert_int_equal(a->records[0].family, AF_INET6);
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &a->records[0].addr.v6, buf, sizeof buf);
    assert_string_equal(buf, "2001:db8::10");
    dns_answer_free(a);
    dns_resolver_free(r);
}

static void ptr_of_127_0_0_2_is_good_example_test(void **state)
{
    (void)state;
    struct dns_resolver *r = nsd_resolver(0, NULL);
    struct dns_batch *b = dns_batch_new(r);
    int h = dns_batch_start_ptr(b, "127.0.0.2");
    assert_true(h >= 0);
    const struct dns_answer *a = dns_batch_wait(b, h);
    assert_int_equal(a->status, DNS_OK);
    assert_string_equal(a->name, "2.0.0.127.in-addr.arpa");
    assert_int_equal(a->count, 1);
    assert_string_equal(a->records[0].text, "good.example.test");
    assert_int_equal(a->records[0].text_len, strlen("good.example.test"));
    dns_batch_free(b);
    dns_resolver_free(r);
}

static void every_ptr_name_is_returned(void **state)
{
    (void)state;
    struct dns_resolver *r = nsd_resolver(0, NULL);
    struct dns_batch *b = dns_batch_new(r);
    int h5 = dns_batch_start_ptr(b, "127.0.0.5");
    int h8 = dns_batch_start_ptr(b, "127.0.0.8");
    const struct dns_answer *a5 = dns_batch_wait(b, h5);
    assert_int_equal(a5->status, DNS_OK);
    assert_int_equal(a5->count, 2);
    assert_true(answer_has_text(a5, "multi1.example.test"));
    assert_true(answer_has_text(a5, "multi2.example.test"));
    const struct dns_answer *a8 = dns_batch_wait(b, h8);
    assert_int_equal(a8->status, DNS_OK);
    assert_int_equal(a8->count, 12);
    char name[32];
    for (int i = 1; i <= 12; i++) {
        snprintf(name, sizeof name, "many%d.example.test", i);
        assert_true(answer_has_text(a8, name));
    }
    dns_batch_free(b);
    dns_resolver_free(r);
}

static void cname_is_followed_to_the_address(void **state)
{
    (void)state;
    struct dns_resolver *r = nsd_resolver(0, NULL);
    struct dns_answer *a;
    assert_int_equal(dns_lookup(r, "alias.example.test", DNS_TYPE_A, &a), DNS_OK);
    assert_int_equal(a->count, 1); /* the CNAME record itself is not an A record */
    assert_v4(&a->records[0], "127.0.0.9");
    dns_answer_free(a);
    dns_resolver_free(r);
}

static void missing_name_is_nxdomain_with_soa_ttl(void **state)
{
    (void)state;
    struct dns_resolver *r = nsd_resolver(0, NULL);
    struct dns_answer *a;
    assert_int_equal(dns_lookup(r, "nope.example.test", DNS_TYPE_A, &a), DNS_NXDOMAIN);
    assert_int_equal(a->count, 0);
    assert_null(a->records);
    assert_int_equal(a->ttl, 60); /* min(SOA TTL 300, SOA minimum 60) */
    assert_non_null(a->packet);
    dns_answer_free(a);
    dns_resolver_free(r);
}

static void missing_type_is_nodata(void **state)
{
    (void)state;
    struct dns_resolver *r = nsd_resolver(0, NULL);
    struct dns_answer *a;
    assert_int_equal(dns_lookup(r, "nodata.example.test", DNS_TYPE_A, &a), DNS_NODATA);
    assert_int_equal(a->count, 0);
    assert_int_equal(a->ttl, 60);
    dns_answer_free(a);
    dns_resolver_free(r);
}

static void txt_strings_are_joined_without_separator(void **state)
{
    (void)state;
    struct dns_resolver *r = nsd_resolver(0, NULL);
    struct dns_answer *a;
    assert_int_equal(dns_lookup(r, "txt-multi.example.test", DNS_TYPE_TXT, &a), DNS_OK);
    assert_int_equal(a->count, 1);
    assert_string_equal(a->records[0].text, "v=spf1 ip4:192.0.2.0/24 -all");
    assert_int_equal(a->records[0].text_len, strlen("v=spf1 ip4:192.0.2.0/24 -all"));
    dns_answer_free(a);
    dns_resolver_free(r);
}

static void two_txt_records_are_two_records(void **state)
{
    (void)state;
    struct dns_resolver *r = nsd_resolver(0, NULL);
    struct dns_answer *a;
    assert_int_equal(dns_lookup(r, "txt-two.example.test", DNS_TYPE_TXT, &a), DNS_OK);
    assert_int_equal(a->count, 2);
    assert_true(answer_has_text(a, "first"));
    assert_true(answer_has_text(a, "second"));
    dns_answer_free(a);
    dns_resolver_free(r);
}

static void mx_gives_preference_and_exchange(void **state)
{
    (void)state;
    struct dns_resolver *r = nsd_resolver(0, NULL);
    struct dns_answer *a;
    assert_int_equal(dns_lookup(r, "mx-host.example.test", DNS_TYPE_MX, &a), DNS_OK);
    assert_int_equal(a->count, 1);
    assert_int_equal(a->records[0].preference, 10);
    assert_string_equal(a->records[0].text, "good.example.test");
    dns_answer_free(a);
    dns_resolver_free(r);
}

static void ipv6_ptr_is_looked_up_under_ip6_arpa(void **state)
{
    (void)state;
    struct dns_resolver *r = nsd_resolver(0, NULL);
    struct dns_batch *b = dns_batch_new(r);
    const struct dns_answer *a = dns_batch_wait(b, dns_batch_start_ptr(b, "2001:db8::25"));
    assert_int_equal(a->status, DNS_OK);
    assert_int_equal(a->count, 1);
    assert_string_equal(a->records[0].text, "v6.example.test");
    dns_batch_free(b);
    dns_resolver_free(r);
}

/* ---- batches ---- */

static void queries_started_together_are_sent_before_any_wait(void **state)
{
    (void)state;
    struct relay *rl = relay_start(false);
    struct dns_resolver *r = resolver_for(rl->spec, 1000, 2, 0, NULL);
    struct dns_batch *b = dns_batch_new(r);
    int h[12];
    char ip[16];
    for (int i = 0; i < 12; i++) {
        snprintf(ip, sizeof ip, "127.0.0.%d", i + 1);
        h[i] = dns_batch_start_ptr(b, ip);
    }
    /* All twelve reach the network although nobody waits yet: they run in parallel. */
    int64_t until = now_ms() + 2000;
    while (atomic_load(&rl->queries) < 12 && now_ms() < until)
        usleep(1000);
    assert_int_equal(atomic_load(&rl->queries), 12);

    dns_batch_wait_all(b);
    for (int i = 0; i < 12; i++) {
        const struct dns_answer *a = dns_batch_wait(b, h[i]);
        /* 127.0.0.4 and 127.0.0.7 have no PTR in the zone. */
        if (i + 1 == 4 || i + 1 == 7)
            assert_int_equal(a->status, DNS_NXDOMAIN);
        else
            assert_int_equal(a->status, DNS_OK);
    }
    dns_batch_free(b);
    dns_resolver_free(r);
    relay_stop(rl);
}

static void same_name_and_type_twice_gives_the_same_handle(void **state)
{
    (void)state;
    struct dns_resolver *r = nsd_resolver(0, NULL);
    struct dns_batch *b = dns_batch_new(r);
    int h1 = dns_batch_start(b, "good.example.test", DNS_TYPE_A);
    int h2 = dns_batch_start(b, "GOOD.Example.Test.", DNS_TYPE_A);
    int h3 = dns_batch_start(b, "good.example.test", DNS_TYPE_AAAA);
    int h4 = dns_batch_start_ptr(b, "127.0.0.2");
    int h5 = dns_batch_start_ptr(b, "::ffff:127.0.0.2"); /* IPv4-mapped: the same PTR name */
    assert_int_equal(h1, h2);
    assert_int_not_equal(h1, h3);
    assert_int_equal(h4, h5);
    dns_batch_wait_all(b);
    assert_int_equal(dns_batch_wait(b, h1)->status, DNS_OK);
    assert_int_equal(dns_batch_wait(b, h3)->status, DNS_NODATA);
    dns_batch_free(b);
    dns_resolver_free(r);
}

static void answers_keep_their_address_while_more_queries_start(void **state)
{
    (void)state;
    struct dns_resolver *r = nsd_resolver(0, NULL);
    struct dns_batch *b = dns_batch_new(r);
    const struct dns_answer *ptr = dns_batch_wait(b, dns_batch_start_ptr(b, "127.0.0.8"));
    assert_int_equal(ptr->count, 12);
    int h[12];
    for (size_t i = 0; i < ptr->count; i++)
        h[i] = dns_batch_start(b, ptr->records[i].text, DNS_TYPE_A);
    for (size_t i = 0; i < 12; i++) {
        const struct dns_answer *a = dns_batch_wait(b, h[i]);
        assert_int_equal(a->status, DNS_OK);
        assert_string_equal(a->name, ptr->records[i].text);
    }
    dns_batch_free(b);
    dns_resolver_free(r);
}

static void unknown_handles_and_non_addresses_are_refused(void **state)
{
    (void)state;
    struct dns_resolver *r = nsd_resolver(0, NULL);
    struct dns_batch *b = dns_batch_new(r);
    assert_int_equal(dns_batch_start_ptr(b, "not-an-address"), -1);
    assert_int_equal(dns_batch_start_ptr(b, "192.0.2.1/24"), -1);
    assert_null(dns_batch_wait(b, -1));
    assert_null(dns_batch_wait(b, 0));
    dns_batch_wait_all(b); /* nothing started: returns at once */
    dns_batch_free(b);
    dns_batch_free(NULL);
    dns_answer_free(NULL);
    dns_resolver_free(r);
}

static void invalid_names_are_nxdomain_without_a_query(void **state)
{
    (void)state;
    char too_long[300], long_label[80];
    memset(too_long, 'a', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    for (size_t i = 50; i < sizeof too_long - 1; i += 50)
        too_long[i] = '.';
    memset(long_label, 'b', sizeof long_label - 1);
    long_label[sizeof long_label - 1] = '\0';
    const char *names[] = {
        "",       ".",        "a..example.test",     ".example.test",   "example.test..",
        too_long, long_label, "sp ace.example.test", "semi;colon.test", "percent%s.test"};

    struct relay *rl = relay_start(false);
    struct dns_resolver *r = resolver_for(rl->spec, 1000, 2, 100, NULL);
    struct dns_batch *b = dns_batch_new(r);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const struct dns_answer *a = dns_batch_wait(b, dns_batch_start(b, names[i], DNS_TYPE_A));
        assert_int_equal(a->status, DNS_NXDOMAIN);
        assert_int_equal(a->count, 0);
        assert_null(a->packet);
    }
    struct dns_answer *a;
    assert_int_equal(dns_lookup(r, too_long, DNS_TYPE_TXT, &a), DNS_NXDOMAIN);
    dns_answer_free(a);
    dns_batch_free(b);
    assert_int_equal(atomic_load(&rl->queries), 0);
    dns_resolver_free(r);
    relay_stop(rl);
}

/* ---- the cache ---- */

static void cache_hit_sends_nothing(void **state)
{
    (void)state;
    struct relay *rl = relay_start(false);
    time_t now = 1000;
    struct dns_resolver *r = resolver_for(rl->spec, 1000, 2, 100, &now);
    struct dns_answer *a1, *a2, *a3;
    assert_int_equal(dns_lookup(r, "good.example.test", DNS_TYPE_A, &a1), DNS_OK);
    assert_int_equal(dns_lookup(r, "Good.Example.Test.", DNS_TYPE_A, &a2), DNS_OK);
    assert_int_equal(atomic_load(&rl->queries), 1);

    /* With the network gone, the cache still answers. */
    atomic_store(&rl->drop, true);
    assert_int_equal(dns_lookup(r, "good.example.test", DNS_TYPE_A, &a3), DNS_OK);
    assert_int_equal(atomic_load(&rl->queries), 1);

    struct dns_cache_stats st;
    dns_resolver_stats(r, &st);
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.entries, 1);

    /* Each hit is its own copy, packet included. */
    assert_ptr_not_equal(a2->records, a3->records);
    assert_ptr_not_equal(a2->packet, a3->packet);
    assert_int_equal(a2->packet_len, a1->packet_len);
    assert_memory_equal(a2->packet, a1->packet, a1->packet_len);
    assert_v4(&a3->records[0], "127.0.0.2");
    dns_answer_free(a1);
    dns_answer_free(a2);
    assert_v4(&a3->records[0], "127.0.0.2");
    dns_answer_free(a3);
    dns_resolver_free(r);
    relay_stop(rl);
}

static void cache_entry_expires_with_its_ttl(void **state)
{
    (void)state;
    struct relay *rl = relay_start(false);
    time_t now = 1000;
    struct dns_resolver *r = resolver_for(rl->spec, 1000, 2, 100, &now);
    struct dns_answer *a;
    assert_int_equal(dns_lookup(r, "good.example.test", DNS_TYPE_A, &a), DNS_OK);
    dns_answer_free(a);

    now += 299; /* TTL 300: one second left */
    assert_int_equal(dns_lookup(r, "good.example.test", DNS_TYPE_A, &a), DNS_OK);
    assert_int_equal(a->ttl, 1);
    dns_answer_free(a);
    assert_int_equal(atomic_load(&rl->queries), 1);

    now += 1;
    assert_int_equal(dns_lookup(r, "good.example.test", DNS_TYPE_A, &a), DNS_OK);
    assert_int_equal(a->ttl, 300);
    dns_answer_free(a);
    assert_int_equal(atomic_load(&rl->queries), 2);
    dns_resolver_free(r);
    relay_stop(rl);
}

static void negative_answers_are_cached_for_the_soa_minimum(void **state)
{
    (void)state;
    struct relay *rl = relay_start(false);
    time_t now = 1000;
    struct dns_resolver *r = resolver_for(rl->spec, 1000, 2, 100, &now);
    struct dns_answer *a;
    assert_int_equal(dns_lookup(r, "nope.example.test", DNS_TYPE_A, &a), DNS_NXDOMAIN);
    dns_answer_free(a);
    now += 59;
    assert_int_equal(dns_lookup(r, "nope.example.test", DNS_TYPE_A, &a), DNS_NXDOMAIN);
    dns_answer_free(a);
    assert_int_equal(atomic_load(&rl->queries), 1);
    now += 1;
    assert_int_equal(dns_lookup(r, "nope.example.test", DNS_TYPE_A, &a), DNS_NXDOMAIN);
    dns_answer_free(a);
    assert_int_equal(atomic_load(&rl->queries), 2);
    dns_resolver_free(r);
    relay_stop(rl);
}

static void cache_max_ttl_caps_the_ttl(void **state)
{
    (void)state;
    struct relay *rl = relay_start(false);
    time_t now = 1000;
    const char *servers[] = {rl->spec};
    struct dns_options o = {.servers = servers,
                            .server_count = 1,
                            .timeout_ms = 1000,
                            .tries = 2,
                            .cache_size = 100,
                            .cache_max_ttl = 5,
                            .clock = test_clock,
                            .clock_arg = &now};
    struct dns_resolver *r;
    assert_int_equal(dns_resolver_new(&o, &r, NULL, 0), 0);
    struct dns_answer *a;
    assert_int_equal(dns_lookup(r, "good.example.test", DNS_TYPE_A, &a), DNS_OK);
    dns_answer_free(a);
    now += 4;
    assert_int_equal(dns_lookup(r, "good.example.test", DNS_TYPE_A, &a), DNS_OK);
    dns_answer_free(a);
    assert_int_equal(atomic_load(&rl->queries), 1);
    now += 1;
    assert_int_equal(dns_lookup(r, "good.example.test", DNS_TYPE_A, &a), DNS_OK);
    dns_answer_free(a);
    assert_int_equal(atomic_load(&rl->queries), 2);
    dns_resolver_free(r);
    relay_stop(rl);
}

static void lookup_expect(struct dns_resolver *r, const char *name, enum dns_status expected)
{
    struct dns_answer *a;
    assert_int_equal(dns_lookup(r, name, DNS_TYPE_A, &a), expected);
    dns_answer_free(a);
}

static void full_cache_evicts_the_oldest_entry(void **state)
{
    (void)state;
    time_t now = 1000;
    struct dns_resolver *r = resolver_for(test_server(), 1000, 2, 2, &now);
    struct dns_cache_stats st;
    lookup_expect(r, "good.example.test", DNS_OK);
    lookup_expect(r, "mx.example.test", DNS_OK);
    lookup_expect(r, "nope.example.test", DNS_NXDOMAIN); /* full, nothing expired: good goes */
    dns_resolver_stats(r, &st);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.misses, 3);
    lookup_expect(r, "mx.example.test", DNS_OK);
    dns_resolver_stats(r, &st);
    assert_int_equal(st.hits, 1);
    lookup_expect(r, "good.example.test", DNS_OK);
    dns_resolver_stats(r, &st);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 4);
    dns_resolver_free(r);
}

static void full_cache_evicts_expired_entries_before_the_oldest(void **state)
{
    (void)state;
    time_t now = 1000;
    struct dns_resolver *r = resolver_for(test_server(), 1000, 2, 2, &now);
    struct dns_cache_stats st;
    lookup_expect(r, "mx.example.test", DNS_OK);         /* 300 s, the oldest */
    lookup_expect(r, "nope.example.test", DNS_NXDOMAIN); /* 60 s */
    now += 61;
    lookup_expect(r, "good.example.test", DNS_OK); /* full: the expired nope goes, not mx */
    lookup_expect(r, "mx.example.test", DNS_OK);
    dns_resolver_stats(r, &st);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 3);
    dns_resolver_free(r);
}

static void cache_size_zero_disables_the_cache(void **state)
{
    (void)state;
    struct dns_resolver *r = nsd_resolver(0, NULL);
    struct dns_answer *a;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(dns_lookup(r, "good.example.test", DNS_TYPE_A, &a), DNS_OK);
        dns_answer_free(a);
    }
    struct dns_cache_stats st;
    dns_resolver_stats(r, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.hits, 0);
    dns_resolver_free(r);
}

/* ---- failures ---- */

static void closed_port_is_tempfail_at_once(void **state)
{
    (void)state;
    int port;
    int fd = udp_bound(&port);
    close(fd); /* nothing listens there now: the kernel answers with port unreachable */
    char spec[32];
    snprintf(spec, sizeof spec, "127.0.0.1:%d", port);
    struct dns_resolver *r = resolver_for(spec, 1000, 2, 100, NULL);
    struct dns_answer *a;
    int64_t start = now_ms();
    assert_int_equal(dns_lookup(r, "good.example.test", DNS_TYPE_A, &a), DNS_TEMPFAIL);
    int64_t elapsed = now_ms() - start;
    print_message("closed port: %s after %lld ms\n", a->error, (long long)elapsed);
    assert_true(elapsed < 1000);
    assert_true(a->error[0] != '\0');
    assert_int_equal(a->count, 0);
    dns_answer_free(a);
    dns_resolver_free(r);
}

static void black_hole_times_out_within_timeout_times_tries(void **state)
{
    (void)state;
    /* c-ares alone would wait 100 + 200 + 400 ms: it doubles the timeout at each try. */
    const int timeout_ms = 100, tries = 3;
    struct relay *rl = relay_start(true);
    struct dns_resolver *r = resolver_for(rl->spec, timeout_ms, tries, 100, NULL);
    struct dns_batch *b = dns_batch_new(r);
    int64_t start = now_ms();
    int h1 = dns_batch_start(b, "good.example.test", DNS_TYPE_A);
    int h2 = dns_batch_start(b, "mx.example.test", DNS_TYPE_A);
    dns_batch_wait_all(b);
    int64_t elapsed = now_ms() - start;
    print_message("black hole: %lld ms\n", (long long)elapsed);
    for (int h = h1; h <= h2; h++) {
        const struct dns_answer *a = dns_batch_wait(b, h);
        assert_int_equal(a->status, DNS_TEMPFAIL);
        assert_string_equal(a->error, "timeout");
        assert_null(a->packet);
    }
    assert_true(elapsed >= timeout_ms * tries - 5);
    assert_true(elapsed < timeout_ms * tries + 150);
    assert_true(atomic_load(&rl->queries) >= 2);
    dns_batch_free(b);
    dns_resolver_free(r);
    relay_stop(rl);
}

static void tempfail_is_not_cached(void **state)
{
    (void)state;
    struct relay *rl = relay_start(true);
    struct dns_resolver *r = resolver_for(rl->spec, 100, 1, 100, NULL);
    struct dns_answer *a;
    assert_int_equal(dns_lookup(r, "good.example.test", DNS_TYPE_A, &a), DNS_TEMPFAIL);
    dns_answer_free(a);
    struct dns_cache_stats st;
    dns_resolver_stats(r, &st);
    assert_int_equal(st.entries, 0);

    atomic_store(&rl->drop, false);
    int before = atomic_load(&rl->queries);
    assert_int_equal(dns_lookup(r, "good.example.test", DNS_TYPE_A, &a), DNS_OK);
    dns_answer_free(a);
    assert_int_equal(atomic_load(&rl->queries), before + 1);
    dns_resolver_free(r);
    relay_stop(rl);
}

/*
 * A name that timed out is asked once per batch: dns_batch_lookup() answers a later asking with
 * the failure the batch holds, without a query (the server would answer by then), and a new
 * batch asks again (the failure is not kept beyond its batch, nor cached).
 */
static void batch_lookup_answers_a_held_failure_without_asking_again(void **state)
{
    (void)state;
    const int timeout_ms = 100, tries = 2;
    struct relay *rl = relay_start(true);
    struct dns_resolver *r = resolver_for(rl->spec, timeout_ms, tries, 100, NULL);
    struct dns_batch *b = dns_batch_new(r);
    struct dns_answer *a;
    assert_int_equal(dns_batch_lookup(b, "good.example.test", DNS_TYPE_A, &a), DNS_TEMPFAIL);
    assert_string_equal(a->error, "timeout");
    dns_answer_free(a);
    relay_await_queries(rl, tries);
    int asked = atomic_load(&rl->queries);

    atomic_store(&rl->drop, false);
    int64_t start = now_ms();
    assert_int_equal(dns_batch_lookup(b, "Good.Example.Test.", DNS_TYPE_A, &a), DNS_TEMPFAIL);
    int64_t elapsed = now_ms() - start;
    assert_string_equal(a->error, "timeout");
    assert_int_equal(a->count, 0);
    dns_answer_free(a);
    print_message("held failure: answered in %lld ms, %d queries before, %d after\n",
                  (long long)elapsed, asked, atomic_load(&rl->queries));
    assert_true(elapsed < timeout_ms);
    assert_int_equal(atomic_load(&rl->queries), asked);
    /* Another type of the same name is another question. */
    assert_int_equal(dns_batch_lookup(b, "good.example.test", DNS_TYPE_AAAA, &a), DNS_NODATA);
    dns_answer_free(a);
    assert_int_equal(atomic_load(&rl->queries), asked + 1);
    dns_batch_free(b);

    b = dns_batch_new(r);
    assert_int_equal(dns_batch_lookup(b, "good.example.test", DNS_TYPE_A, &a), DNS_OK);
    assert_int_equal(a->count, 1);
    dns_answer_free(a);
    assert_int_equal(atomic_load(&rl->queries), asked + 2);
    dns_batch_free(b);
    dns_resolver_free(r);
    relay_stop(rl);
}

/*
 * A batch within another (a message's within its connection's) takes the outer batch's failure as
 * its answer without a query, waits for an outer query in flight instead of sending its own, and
 * asks the resolver (here its cache) for a name the outer batch resolved.
 */
static void batch_within_takes_the_outer_failure_and_waits_for_its_queries(void **state)
{
    (void)state;
    const int timeout_ms = 200, tries = 2;
    struct relay *rl = relay_start_with(false,
                                        "\x09"
                                        "blackhole",
                                        0);
    struct dns_resolver *r = resolver_for(rl->spec, timeout_ms, tries, 100, NULL);
    struct dns_batch *outer = dns_batch_new(r);
    int dropped = dns_batch_start(outer, "blackhole.example.test", DNS_TYPE_A);
    int good = dns_batch_start(outer, "good.example.test", DNS_TYPE_A);
    struct dns_batch *inner = dns_batch_new_within(outer);
    struct dns_answer *a;
    int64_t start = now_ms();
    /* in flight on outer: waited for, not sent again */
    assert_int_equal(dns_batch_lookup(inner, "blackhole.example.test", DNS_TYPE_A, &a),
                     DNS_TEMPFAIL);
    int64_t elapsed = now_ms() - start;
    dns_answer_free(a);
    assert_int_equal(dns_batch_wait(outer, dropped)->status, DNS_TEMPFAIL);
    assert_int_equal(dns_batch_wait(outer, good)->status, DNS_OK);
    usleep(3 * timeout_ms * 1000); /* c-ares's own last try is over */
    int asked = atomic_load(&rl->queries);
    print_message("within: outer's query waited for in %lld ms, %d queries\n", (long long)elapsed,
                  asked);
    assert_true(elapsed < timeout_ms * tries + 150);
    assert_int_equal(asked, tries + 1);
    /* done on outer: its failure is the answer; its answer is asked for again (the cache) */
    assert_int_equal(dns_batch_lookup(inner, "BlackHole.example.test.", DNS_TYPE_A, &a),
                     DNS_TEMPFAIL);
    dns_answer_free(a);
    assert_int_equal(dns_batch_lookup(inner, "good.example.test", DNS_TYPE_A, &a), DNS_OK);
    dns_answer_free(a);
    struct dns_cache_stats st;
    dns_resolver_stats(r, &st);
    assert_int_equal(st.hits, 1);
    assert_int_equal(atomic_load(&rl->queries), asked);
    dns_batch_free(inner);
    dns_batch_free(outer);
    dns_resolver_free(r);
    relay_stop(rl);
}

/*
 * A lookup of a name prefetched on the batch waits for that query instead of sending its own: a
 * server that never answers costs one query's bound (timeout x tries) and tries queries, not
 * twice each.  With an answer and no cache at all, the batch still gives the prefetched answer.
 */
static void batch_lookup_waits_for_the_prefetch_instead_of_asking_again(void **state)
{
    (void)state;
    const int timeout_ms = 200, tries = 2;
    struct relay *rl = relay_start(true);
    struct dns_resolver *r = resolver_for(rl->spec, timeout_ms, tries, 100, NULL);
    struct dns_batch *b = dns_batch_new(r);
    int64_t start = now_ms();
    assert_true(dns_batch_prefetch(b, "txt-multi.example.test", DNS_TYPE_TXT) >= 0);
    struct dns_answer *a;
    assert_int_equal(dns_batch_lookup(b, "txt-multi.example.test", DNS_TYPE_TXT, &a), DNS_TEMPFAIL);
    int64_t elapsed = now_ms() - start;
    dns_answer_free(a);
    /* c-ares gives its query up after 200 + 400 ms: wait for a late third try, if any */
    usleep(3 * timeout_ms * 1000);
    print_message("prefetch, then lookup, black hole: %lld ms, %d queries\n", (long long)elapsed,
                  atomic_load(&rl->queries));
    assert_true(elapsed >= timeout_ms * tries - 5);
    assert_true(elapsed < timeout_ms * tries + 150);
    assert_int_equal(atomic_load(&rl->queries), tries);
    dns_batch_free(b);
    dns_resolver_free(r);

    atomic_store(&rl->drop, false);
    int before = atomic_load(&rl->queries);
    r = resolver_for(rl->spec, timeout_ms, tries, 0, NULL);
    b = dns_batch_new(r);
    assert_true(dns_batch_prefetch(b, "txt-multi.example.test", DNS_TYPE_TXT) >= 0);
    assert_int_equal(dns_batch_lookup(b, "txt-multi.example.test", DNS_TYPE_TXT, &a), DNS_OK);
    assert_int_equal(a->count, 1);
    assert_true(a->records[0].text_len > 0 && a->packet != NULL);
    dns_answer_free(a);
    assert_int_equal(atomic_load(&rl->queries), before + 1);
    dns_batch_free(b);
    dns_resolver_free(r);
    relay_stop(rl);
}

static void refused_is_tempfail_and_not_cached(void **state)
{
    (void)state;
    struct dns_resolver *r = nsd_resolver(100, NULL);
    struct dns_answer *a;
    /* NSD refuses names outside its zones; c-ares 1.18 reports that like an unreachable server. */
    assert_int_equal(dns_lookup(r, "localhost", DNS_TYPE_A, &a), DNS_TEMPFAIL);
    assert_string_equal(a->error, "SERVFAIL, REFUSED or unreachable");
    dns_answer_free(a);
    struct dns_cache_stats st;
    dns_resolver_stats(r, &st);
    assert_int_equal(st.entries, 0);
    dns_resolver_free(r);
}

/* ---- threads ---- */

struct worker {
    struct dns_resolver *r;
    int id, failures;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    static const char *const names[] = {"good.example.test", "mx.example.test",
                                        "alias.example.test", "good11.example.test",
                                        "good12.example.test"};
    for (int i = 0; i < 25; i++) {
        struct dns_answer *a;
        if (dns_lookup(w->r, names[(w->id + i) % 5], DNS_TYPE_A, &a) != DNS_OK || a->count != 1)
            w->failures++;
        dns_answer_free(a);
        struct dns_batch *b = dns_batch_new(w->r);
        char ip[16];
        snprintf(ip, sizeof ip, "127.0.0.%d", 8 + i % 5);
        const struct dns_answer *p = dns_batch_wait(b, dns_batch_start_ptr(b, ip));
        if (p->status != DNS_OK || p->count == 0)
            w->failures++;
        dns_batch_free(b);
    }
    return NULL;
}

static void run_workers(size_t cache_size)
{
    struct dns_resolver *r = nsd_resolver(cache_size, NULL);
    pthread_t t[8];
    struct worker w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){.r = r, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    dns_resolver_free(r);
}

static void eight_threads_share_one_resolver_without_cache(void **state)
{
    (void)state;
    run_workers(0);
}

static void eight_threads_share_one_resolver_and_its_cache(void **state)
{
    (void)state;
    run_workers(1000);
}

/* ---- the shared channel ---- */

/* Descriptors open in this process. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

static uint64_t in_flight(struct dns_resolver *r)
{
    struct dns_cache_stats st;
    dns_resolver_stats(r, &st);
    return st.in_flight;
}

/* Waits up to 3 s until c-ares holds no query of r (their callbacks have run). */
static uint64_t await_no_query_in_flight(struct dns_resolver *r)
{
    int64_t until = now_ms() + 3000;
    while (in_flight(r) > 0 && now_ms() < until)
        usleep(2000);
    return in_flight(r);
}

#define MANY_BATCHES 200

/*
 * 200 connections with their queries unanswered at once (a silent server) use the resolver's
 * channel, not one channel each: the relay sees the queries come from one or two sockets, and
 * the process opened a few descriptors, not 200.  A c-ares 1.18 channel is about 74 KiB: one per
 * batch was most of an idle connection's memory with a cold cache.
 */
static void batches_in_flight_share_the_resolvers_channel(void **state)
{
    (void)state;
    struct relay *rl = relay_start(true);
    struct dns_resolver *r = resolver_for(rl->spec, 2000, 1, 100, NULL);
    int fds_before = open_fds();
    struct dns_batch *b[MANY_BATCHES];
    char ip[32];
    for (int i = 0; i < MANY_BATCHES; i++) {
        b[i] = dns_batch_new(r);
        snprintf(ip, sizeof ip, "127.0.%d.%d", i / 250, i % 250 + 1);
        assert_true(dns_batch_start_ptr(b[i], ip) >= 0);
        assert_true(dns_batch_start(b[i], "good.example.test", DNS_TYPE_A) >= 0);
    }
    /* Every query is on the wire before anyone waits. */
    relay_await_queries(rl, 2 * MANY_BATCHES);
    int fds_opened = open_fds() - fds_before;
    print_message("%d batches in flight: %d queries from %d source ports, %d descriptors opened\n",
                  MANY_BATCHES, atomic_load(&rl->queries), atomic_load(&rl->sources), fds_opened);
    /* All are in the resolver's channel; a burst can still overflow the relay's socket. */
    assert_int_equal(in_flight(r), 2 * MANY_BATCHES);
    assert_true(atomic_load(&rl->queries) >= MANY_BATCHES);
    assert_true(atomic_load(&rl->sources) <= 2);
    assert_true(fds_opened <= 4);
    for (int i = 0; i < MANY_BATCHES; i++)
        dns_batch_free(b[i]);
    dns_resolver_free(r);
    relay_stop(rl);
}

/*
 * A batch freed while its queries are in flight: c-ares still holds them, their answers come
 * after the batch is gone (a server that answers 450 ms late, past our 300 ms deadline but within
 * c-ares's 100 + 200 + 400 ms), and their callbacks free them.  Under ASan a write into the freed
 * batch or a query left behind fails the test.  The late answers still fill the cache, also the one
 * whose waiter gave up at its deadline.
 */
static void batch_freed_with_queries_in_flight_is_safe_and_frees_them(void **state)
{
    (void)state;
    struct relay *rl = relay_start_with(false, NULL, 450);
    struct dns_resolver *r = resolver_for(rl->spec, 100, 3, 100, NULL);

    /* Freed at once: nothing is done yet. */
    struct dns_batch *b1 = dns_batch_new(r);
    dns_batch_start(b1, "good.example.test", DNS_TYPE_A);
    dns_batch_start(b1, "mx-host.example.test", DNS_TYPE_MX);
    dns_batch_start_ptr(b1, "127.0.0.2");
    dns_batch_free(b1);

    /* Given up at our deadline, then freed while c-ares still waits for the answer. */
    struct dns_batch *b2 = dns_batch_new(r);
    int h = dns_batch_start(b2, "alias.example.test", DNS_TYPE_A);
    const struct dns_answer *a = dns_batch_wait(b2, h);
    assert_int_equal(a->status, DNS_TEMPFAIL);
    assert_string_equal(a->error, "timeout");
    assert_true(in_flight(r) > 0);
    dns_batch_free(b2);

    assert_int_equal(await_no_query_in_flight(r), 0);
    /* The answers that came for nobody are in the cache: no query goes out for them now. */
    int before = atomic_load(&rl->queries);
    struct dns_answer *ans;
    assert_int_equal(dns_lookup(r, "good.example.test", DNS_TYPE_A, &ans), DNS_OK);
    dns_answer_free(ans);
    assert_int_equal(dns_lookup(r, "alias.example.test", DNS_TYPE_A, &ans), DNS_OK);
    dns_answer_free(ans);
    assert_int_equal(atomic_load(&rl->queries), before);
    dns_resolver_free(r);
    relay_stop(rl);
}

/*
 * A black hole never answers: the freed batch's queries are still in c-ares when the resolver is
 * freed, and ares_destroy's callbacks (ARES_EDESTRUCTION) free them (ASan's leak check).
 */
static void resolver_freed_with_abandoned_queries_frees_them(void **state)
{
    (void)state;
    struct relay *rl = relay_start(true);
    struct dns_resolver *r = resolver_for(rl->spec, 1000, 3, 100, NULL);
    for (int i = 0; i < 20; i++) {
        struct dns_batch *b = dns_batch_new(r);
        dns_batch_start(b, "good.example.test", DNS_TYPE_A);
        dns_batch_start(b, "good.example.test", DNS_TYPE_TXT);
        dns_batch_free(b);
    }
    relay_await_queries(rl, 40);
    assert_int_equal(in_flight(r), 40);
    dns_resolver_free(r);
    relay_stop(rl);
}

struct parallel {
    struct dns_resolver *r;
    int rounds, failures;
};

static void *parallel_run(void *arg)
{
    struct parallel *p = arg;
    for (int round = 0; round < p->rounds; round++) {
        struct dns_batch *b = dns_batch_new(p->r);
        int h[12];
        char ip[16];
        for (int i = 0; i < 12; i++) {
            snprintf(ip, sizeof ip, "127.0.0.%d", i + 1);
            h[i] = dns_batch_start_ptr(b, ip);
        }
        int ha = dns_batch_start(b, "good.example.test", DNS_TYPE_A);
        int hm = dns_batch_start(b, "mx-host.example.test", DNS_TYPE_MX);
        dns_batch_wait_all(b);
        for (int i = 0; i < 12; i++) {
            const struct dns_answer *a = dns_batch_wait(b, h[i]);
            /* 127.0.0.4 and 127.0.0.7 have no PTR in the zone. */
            enum dns_status want = (i + 1 == 4 || i + 1 == 7) ? DNS_NXDOMAIN : DNS_OK;
            if (a->status != want)
                p->failures++;
        }
        if (!answer_has_text(dns_batch_wait(b, h[1]), "good.example.test"))
            p->failures++;
        const struct dns_answer *a = dns_batch_wait(b, ha);
        if (a->status != DNS_OK || a->count != 1)
            p->failures++;
        else if (a->records[0].addr.v4.s_addr != htonl(0x7f000002))
            p->failures++;
        const struct dns_answer *mx = dns_batch_wait(b, hm);
        if (mx->status != DNS_OK || mx->count == 0)
            p->failures++;
        dns_batch_free(b);
    }
    return NULL;
}

/* Eight threads, each with batches of 14 queries at once, all on the one channel, no cache. */
static void queries_from_many_threads_at_once_all_get_their_answers(void **state)
{
    (void)state;
    struct dns_resolver *r = nsd_resolver(0, NULL);
    pthread_t t[8];
    struct parallel p[8];
    for (int i = 0; i < 8; i++) {
        p[i] = (struct parallel){.r = r, .rounds = 20};
        assert_int_equal(pthread_create(&t[i], NULL, parallel_run, &p[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(p[i].failures, 0);
    }
    assert_int_equal(in_flight(r), 0);
    dns_resolver_free(r);
}

struct busy {
    struct dns_resolver *r;
    atomic_bool stop;
    int answers, failures;
};

/* Paced, and over twelve names: NSD's response rate limiting answers a flood of one name with
 * truncated replies, whose TCP retry the relay (UDP only) would refuse. */
static void *busy_run(void *arg)
{
    struct busy *bz = arg;
    for (int i = 0; !atomic_load(&bz->stop); i++) {
        char name[64];
        snprintf(name, sizeof name, "many%d.example.test", i % 12 + 1);
        struct dns_answer *a;
        if (dns_lookup(bz->r, name, DNS_TYPE_A, &a) == DNS_OK)
            bz->answers++;
        else
            bz->failures++;
        dns_answer_free(a);
        usleep(1000);
    }
    return NULL;
}

/*
 * While another thread keeps the shared channel busy with answered queries, a query the server
 * never answers still ends at timeout x tries for its waiter (c-ares alone: 100 + 200 + 400 ms).
 */
static void deadline_holds_while_another_batch_keeps_the_channel_busy(void **state)
{
    (void)state;
    const int timeout_ms = 100, tries = 3;
    struct relay *rl = relay_start_with(false,
                                        "\x09"
                                        "blackhole",
                                        0);
    struct dns_resolver *r = resolver_for(rl->spec, timeout_ms, tries, 0, NULL);
    struct busy bz = {.r = r};
    atomic_init(&bz.stop, false);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, busy_run, &bz), 0);
    usleep(50 * 1000);

    for (int round = 0; round < 3; round++) {
        struct dns_batch *b = dns_batch_new(r);
        int64_t start = now_ms();
        int h1 = dns_batch_start(b, "blackhole.example.test", DNS_TYPE_A);
        int h2 = dns_batch_start(b, "txt-two.example.test", DNS_TYPE_TXT);
        const struct dns_answer *a = dns_batch_wait(b, h1);
        int64_t elapsed = now_ms() - start;
        print_message("black-holed query on a busy channel: %lld ms\n", (long long)elapsed);
        assert_int_equal(a->status, DNS_TEMPFAIL);
        assert_string_equal(a->error, "timeout");
        assert_true(elapsed >= timeout_ms * tries - 5);
        assert_true(elapsed < timeout_ms * tries + 150);
        assert_int_equal(dns_batch_wait(b, h2)->status, DNS_OK);
        dns_batch_free(b);
    }
    atomic_store(&bz.stop, true);
    pthread_join(t, NULL);
    print_message("the busy thread: %d answers, %d failures\n", bz.answers, bz.failures);
    assert_true(bz.answers > 0);
    assert_int_equal(bz.failures, 0);
    dns_resolver_free(r);
    relay_stop(rl);
}

/* ---- options ---- */

static void server_syntax_is_checked(void **state)
{
    (void)state;
    static const char *const good[] = {"127.0.0.1", "127.0.0.1:5353", "[::1]:53",
                                       "::1",       "[::1]",          "2001:db8::1"};
    static const char *const bad[] = {
        "",       "bogus",  "127.0.0.1:0",   "127.0.0.1:65536", "127.0.0.1:",   "[::1",
        "[::1]x", "[::1]:", "127.0.0.1:53x", "1.2.3.4.5",       "[127.0.0.1:53"};
    struct dns_resolver *r;
    char err[256];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct dns_options o = {
            .servers = &good[i], .server_count = 1, .timeout_ms = 100, .tries = 1};
        assert_int_equal(dns_resolver_new(&o, &r, err, sizeof err), 0);
        dns_resolver_free(r);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct dns_options o = {
            .servers = &bad[i], .server_count = 1, .timeout_ms = 100, .tries = 1};
        assert_int_equal(dns_resolver_new(&o, &r, err, sizeof err), -1);
        assert_null(r);
        assert_non_null(strstr(err, "not a server address"));
    }
    struct dns_options zero = {.timeout_ms = 0, .tries = 1};
    assert_int_equal(dns_resolver_new(&zero, &r, err, sizeof err), -1);
    /* No servers: resolv.conf, as c-ares reads it. */
    struct dns_options system = {.timeout_ms = 100, .tries = 1};
    assert_int_equal(dns_resolver_new(&system, &r, err, sizeof err), 0);
    dns_resolver_free(r);
}

/* ---- names ---- */

static void name_validity_follows_rfc_1035_lengths(void **state)
{
    (void)state;
    char label63[80], label64[80], name253[260], name254[260];
    memset(label63, 'a', 63);
    label63[63] = '\0';
    memset(label64, 'a', 64);
    label64[64] = '\0';
    /* 4 labels of 62 + 3 dots = 251, + ".b" = 253 */
    memset(name253, 'c', 253);
    for (int i = 62; i < 253; i += 63)
        name253[i] = '.';
    name253[253] = '\0';
    assert_int_equal(strlen(name253), 253);
    memcpy(name254, name253, 254);
    strcat(name254, "d");

    assert_true(dns_name_valid("example.test"));
    assert_true(dns_name_valid("example.test."));
    assert_true(dns_name_valid("_dmarc.example.test"));
    assert_true(dns_name_valid("sel._domainkey.Example.TEST"));
    assert_true(dns_name_valid("localhost"));
    assert_true(dns_name_valid("1.0.0.127.in-addr.arpa"));
    assert_true(dns_name_valid(label63));
    assert_true(dns_name_valid(name253));
    assert_false(dns_name_valid(label64));
    assert_false(dns_name_valid(name254));
    assert_false(dns_name_valid(NULL));
    assert_false(dns_name_valid(""));
    assert_false(dns_name_valid("."));
    assert_false(dns_name_valid("a..b"));
    assert_false(dns_name_valid(".a"));
    assert_false(dns_name_valid("a.b.."));
    assert_false(dns_name_valid("a b"));
    assert_false(dns_name_valid("a\\.b"));
    assert_false(dns_name_valid("caf\xc3\xa9.test"));
}

static void reverse_names_are_built_per_rfc_3596(void **state)
{
    (void)state;
    char out[DNS_NAME_MAX + 1];
    assert_true(dns_reverse_name("127.0.0.2", out, sizeof out));
    assert_string_equal(out, "2.0.0.127.in-addr.arpa");
    assert_true(dns_reverse_name("::ffff:192.0.2.1", out, sizeof out));
    assert_string_equal(out, "1.2.0.192.in-addr.arpa");
    assert_true(dns_reverse_name("2001:db8::25", out, sizeof out));
    assert_string_equal(out,
                        "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
    assert_true(dns_reverse_name("2001:DB8::ABCD", out, sizeof out));
    assert_string_equal(out,
                        "d.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
    assert_false(dns_reverse_name("example.test", out, sizeof out));
    assert_false(dns_reverse_name("192.0.2.1/32", out, sizeof out));
    assert_false(dns_reverse_name("", out, sizeof out));
    char small[20];
    assert_false(dns_reverse_name("192.0.2.100", small, sizeof small));
    assert_false(dns_reverse_name("2001:db8::1", small, sizeof small));
    char exact[sizeof "1.2.0.192.in-addr.arpa"];
    assert_true(dns_reverse_name("192.0.2.1", exact, sizeof exact));
}

/* ---- the parser on crafted and damaged packets ---- */

struct pkt {
    unsigned char b[8192];
    size_t len;
};

static void put8(struct pkt *p, unsigned v)
{
    assert_true(p->len < sizeof p->b);
    p->b[p->len++] = (unsigned char)v;
}

static void put16(struct pkt *p, unsigned v)
{
    put8(p, v >> 8);
    put8(p, v & 0xff);
}

static void put32(struct pkt *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p, v & 0xffff);
}

static void put_name(struct pkt *p, const char *name)
{
    while (*name != '\0') {
        const char *dot = strchr(name, '.');
        size_t len = dot ? (size_t)(dot - name) : strlen(name);
        put8(p, (unsigned)len);
        for (size_t i = 0; i < len; i++)
            put8(p, (unsigned char)name[i]);
        name += len + (dot ? 1 : 0);
    }
    put8(p, 0);
}

/* Header and the question "q.test" of type; the question name sits at offset 12. */
static void put_head(struct pkt *p, int rcode, unsigned an, unsigned ns, int type)
{
    p->len = 0;
    put16(p, 0x1234);
    put16(p, 0x8180 | (unsigned)rcode);
    put16(p, 1);
    put16(p, an);
    put16(p, ns);
    put16(p, 0);
    put_name(p, "q.test");
    put16(p, (unsigned)type);
    put16(p, 1);
}

static void put_rr_head(struct pkt *p, int type, uint32_t ttl, unsigned rdlen)
{
    put16(p, 0xc00c); /* owner: the question's name */
    put16(p, (unsigned)type);
    put16(p, 1);
    put32(p, ttl);
    put16(p, rdlen);
}

static void put_a(struct pkt *p, uint32_t ttl, uint32_t addr)
{
    put_rr_head(p, DNS_TYPE_A, ttl, 4);
    put32(p, addr);
}

static void put_soa(struct pkt *p, uint32_t ttl, uint32_t minimum)
{
    put_rr_head(p, DNS_TYPE_SOA, ttl, 2 + 2 + 20);
    put16(p, 0xc00c);
    put16(p, 0xc00c);
    put32(p, 1);
    put32(p, 3600);
    put32(p, 600);
    put32(p, 86400);
    put32(p, minimum);
}

static bool parse(const struct pkt *p, int type, struct dns_answer *a)
{
    memset(a, 0, sizeof *a);
    return dns_parse_answer(p->b, p->len, type, a);
}

static void parser_keeps_at_most_max_records_and_the_least_ttl(void **state)
{
    (void)state;
    struct pkt p;
    struct dns_answer a;
    put_head(&p, 0, DNS_MAX_RECORDS + 6, 0, DNS_TYPE_A);
    for (unsigned i = 0; i < DNS_MAX_RECORDS + 6; i++)
        put_a(&p, i == 3 ? 7 : 3600, 0x0a000000 + i);
    assert_true(parse(&p, DNS_TYPE_A, &a));
    assert_int_equal(a.status, DNS_OK);
    assert_int_equal(a.count, DNS_MAX_RECORDS);
    assert_int_equal(a.ttl, 7);
    dns_answer_clear(&a);
    assert_null(a.records);
}

static void parser_caps_joined_txt_at_txt_max(void **state)
{
    (void)state;
    struct pkt p;
    struct dns_answer a;
    put_head(&p, 0, 1, 0, DNS_TYPE_TXT);
    put_rr_head(&p, DNS_TYPE_TXT, 60, 20 * 256);
    for (int s = 0; s < 20; s++) {
        put8(&p, 255);
        for (int i = 0; i < 255; i++)
            put8(&p, 'a' + s % 26);
    }
    assert_true(parse(&p, DNS_TYPE_TXT, &a));
    assert_int_equal(a.count, 1);
    assert_int_equal(a.records[0].text_len, DNS_TXT_MAX);
    assert_int_equal(a.records[0].text[DNS_TXT_MAX], '\0');
    dns_answer_clear(&a);
}

static void parser_keeps_nul_bytes_in_txt(void **state)
{
    (void)state;
    struct pkt p;
    struct dns_answer a;
    put_head(&p, 0, 1, 0, DNS_TYPE_TXT);
    put_rr_head(&p, DNS_TYPE_TXT, 60, 4);
    put8(&p, 3);
    put8(&p, 'a');
    put8(&p, 0);
    put8(&p, 'b');
    assert_true(parse(&p, DNS_TYPE_TXT, &a));
    assert_int_equal(a.records[0].text_len, 3);
    assert_memory_equal(a.records[0].text, "a\0b", 3);
    dns_answer_clear(&a);
}

static void parser_escapes_odd_bytes_in_names(void **state)
{
    (void)state;
    struct pkt p;
    struct dns_answer a;
    put_head(&p, 0, 1, 0, DNS_TYPE_PTR);
    put_rr_head(&p, DNS_TYPE_PTR, 60, 12);
    put8(&p, 3);
    put8(&p, 'A');
    put8(&p, '.');
    put8(&p, 'b');
    put8(&p, 2);
    put8(&p, 'C');
    put8(&p, 1);
    put8(&p, 3);
    put8(&p, 'n');
    put8(&p, 'e');
    put8(&p, 't');
    put8(&p, 0);
    assert_true(parse(&p, DNS_TYPE_PTR, &a));
    assert_int_equal(a.count, 1);
    assert_string_equal(a.records[0].text, "a\\.b.c\\001.net");
    assert_false(dns_name_valid(a.records[0].text));
    dns_answer_clear(&a);

    /* The root: a null MX (RFC 7505) has the exchange "". */
    put_head(&p, 0, 1, 0, DNS_TYPE_MX);
    put_rr_head(&p, DNS_TYPE_MX, 60, 3);
    put16(&p, 0);
    put8(&p, 0);
    assert_true(parse(&p, DNS_TYPE_MX, &a));
    assert_string_equal(a.records[0].text, "");
    assert_int_equal(a.records[0].preference, 0);
    dns_answer_clear(&a);
}

static void parser_reads_negative_ttl_from_soa_or_defaults_to_60(void **state)
{
    (void)state;
    struct pkt p;
    struct dns_answer a;
    put_head(&p, 3, 0, 1, DNS_TYPE_A);
    put_soa(&p, 900, 30);
    assert_true(parse(&p, DNS_TYPE_A, &a));
    assert_int_equal(a.status, DNS_NXDOMAIN);
    assert_int_equal(a.ttl, 30);

    put_head(&p, 0, 0, 1, DNS_TYPE_A);
    put_soa(&p, 20, 3600);
    assert_true(parse(&p, DNS_TYPE_A, &a));
    assert_int_equal(a.status, DNS_NODATA);
    assert_int_equal(a.ttl, 20);

    put_head(&p, 3, 0, 0, DNS_TYPE_A);
    assert_true(parse(&p, DNS_TYPE_A, &a));
    assert_int_equal(a.status, DNS_NXDOMAIN);
    assert_int_equal(a.ttl, 60);
}

static void parser_treats_ttl_with_top_bit_as_zero(void **state)
{
    (void)state;
    struct pkt p;
    struct dns_answer a;
    put_head(&p, 0, 1, 0, DNS_TYPE_A);
    put_a(&p, 0x80000001u, 0x7f000001);
    assert_true(parse(&p, DNS_TYPE_A, &a));
    assert_int_equal(a.ttl, 0);
    dns_answer_clear(&a);
}

static void parser_reports_server_errors_as_tempfail(void **state)
{
    (void)state;
    struct pkt p;
    struct dns_answer a;
    put_head(&p, 2, 0, 0, DNS_TYPE_A);
    assert_true(parse(&p, DNS_TYPE_A, &a));
    assert_int_equal(a.status, DNS_TEMPFAIL);
    assert_string_equal(a.error, "SERVFAIL");
    put_head(&p, 5, 0, 0, DNS_TYPE_A);
    assert_true(parse(&p, DNS_TYPE_A, &a));
    assert_string_equal(a.error, "REFUSED");
    put_head(&p, 9, 0, 0, DNS_TYPE_A);
    assert_true(parse(&p, DNS_TYPE_A, &a));
    assert_int_equal(a.status, DNS_TEMPFAIL);
}

static void parser_rejects_malformed_packets(void **state)
{
    (void)state;
    struct pkt p;
    struct dns_answer a;

    /* A query, not an answer. */
    put_head(&p, 0, 1, 0, DNS_TYPE_A);
    put_a(&p, 60, 1);
    p.b[2] &= 0x7f;
    assert_false(parse(&p, DNS_TYPE_A, &a));
    assert_int_equal(a.status, DNS_TEMPFAIL);
    assert_string_equal(a.error, "malformed answer");

    /* An A record of five bytes. */
    put_head(&p, 0, 1, 0, DNS_TYPE_A);
    put_rr_head(&p, DNS_TYPE_A, 60, 5);
    put32(&p, 1);
    put8(&p, 1);
    assert_false(parse(&p, DNS_TYPE_A, &a));

    /* RDLENGTH past the end. */
    put_head(&p, 0, 1, 0, DNS_TYPE_A);
    put_rr_head(&p, DNS_TYPE_A, 60, 4);
    put16(&p, 1);
    assert_false(parse(&p, DNS_TYPE_A, &a));

    /* A PTR whose name points at itself. */
    put_head(&p, 0, 1, 0, DNS_TYPE_PTR);
    put_rr_head(&p, DNS_TYPE_PTR, 60, 2);
    put16(&p, 0xc000 | (unsigned)p.len);
    assert_false(parse(&p, DNS_TYPE_PTR, &a));

    /* A PTR pointing past the end of the packet. */
    put_head(&p, 0, 1, 0, DNS_TYPE_PTR);
    put_rr_head(&p, DNS_TYPE_PTR, 60, 2);
    put16(&p, 0xc000 | 0x3fff);
    assert_false(parse(&p, DNS_TYPE_PTR, &a));

    /* A PTR name running past its RDATA. */
    put_head(&p, 0, 2, 0, DNS_TYPE_PTR);
    put_rr_head(&p, DNS_TYPE_PTR, 60, 2);
    put8(&p, 3);
    put8(&p, 'a');
    put_a(&p, 60, 1);
    assert_false(parse(&p, DNS_TYPE_PTR, &a));

    /* An extended label type. */
    put_head(&p, 0, 1, 0, DNS_TYPE_A);
    put8(&p, 0x41);
    assert_false(parse(&p, DNS_TYPE_A, &a));

    /* Counts that promise more than the packet holds: answer, authority. */
    put_head(&p, 0, 2, 0, DNS_TYPE_A);
    put_a(&p, 60, 1);
    assert_false(parse(&p, DNS_TYPE_A, &a));
    put_head(&p, 0, 1, 1, DNS_TYPE_A);
    put_a(&p, 60, 1);
    assert_false(parse(&p, DNS_TYPE_A, &a));
    assert_null(a.records);

    /* A TXT string longer than its RDATA. */
    put_head(&p, 0, 1, 0, DNS_TYPE_TXT);
    put_rr_head(&p, DNS_TYPE_TXT, 60, 2);
    put8(&p, 5);
    put8(&p, 'x');
    assert_false(parse(&p, DNS_TYPE_TXT, &a));

    /* Shorter than a header, and nothing at all. */
    assert_false(dns_parse_answer(p.b, 11, DNS_TYPE_A, &a));
    assert_false(dns_parse_answer(NULL, 0, DNS_TYPE_A, &a));
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* What a successful parse returns must keep every bound, whatever the bytes. */
static void check_bounds(const struct dns_answer *a, bool ok)
{
    if (!ok) {
        assert_int_equal(a->status, DNS_TEMPFAIL);
        assert_int_equal(a->count, 0);
        return;
    }
    assert_true(a->count <= DNS_MAX_RECORDS);
    for (size_t i = 0; i < a->count; i++) {
        const struct dns_record *rec = &a->records[i];
        if (rec->text == NULL)
            continue;
        assert_true(rec->text_len <= DNS_TXT_MAX);
        assert_int_equal(rec->text[rec->text_len], '\0');
    }
}

static void parser_survives_truncated_and_mutated_real_answers(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int type;
    } asks[] = {{"8.0.0.127.in-addr.arpa", DNS_TYPE_PTR},
                {"alias.example.test", DNS_TYPE_A},
                {"txt-multi.example.test", DNS_TYPE_TXT},
                {"mx-host.example.test", DNS_TYPE_MX},
                {"nope.example.test", DNS_TYPE_A}};
    struct dns_resolver *r = nsd_resolver(0, NULL);
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    for (size_t k = 0; k < sizeof asks / sizeof asks[0]; k++) {
        struct dns_answer *real;
        dns_lookup(r, asks[k].name, asks[k].type, &real);
        assert_non_null(real->packet);
        size_t len = real->packet_len;
        unsigned char *buf = malloc(len);
        assert_non_null(buf);

        /* Every truncation: the counts then promise more than there is. */
        for (size_t cut = 0; cut < len; cut++) {
            struct dns_answer a;
            memset(&a, 0, sizeof a);
            memcpy(buf, real->packet, cut);
            assert_false(dns_parse_answer(buf, cut, asks[k].type, &a));
            assert_int_equal(a.status, DNS_TEMPFAIL);
        }
        /* Random damage: one to four bytes changed. */
        for (int round = 0; round < 5000; round++) {
            struct dns_answer a;
            memset(&a, 0, sizeof a);
            memcpy(buf, real->packet, len);
            int flips = 1 + (int)(xorshift(&seed) % 4);
            for (int f = 0; f < flips; f++)
                buf[xorshift(&seed) % len] = (unsigned char)xorshift(&seed);
            bool ok = dns_parse_answer(buf, len, asks[k].type, &a);
            check_bounds(&a, ok);
            dns_answer_clear(&a);
        }
        free(buf);
        dns_answer_free(real);
    }
    dns_resolver_free(r);
}

static void parser_survives_random_bytes(void **state)
{
    (void)state;
    uint64_t seed = 42;
    unsigned char buf[600];
    static const int types[] = {DNS_TYPE_A,   DNS_TYPE_AAAA, DNS_TYPE_PTR, DNS_TYPE_MX,
                                DNS_TYPE_TXT, DNS_TYPE_SOA,  DNS_TYPE_NS,  DNS_TYPE_CNAME};
    for (int round = 0; round < 20000; round++) {
        size_t len = xorshift(&seed) % sizeof buf;
        for (size_t i = 0; i < len; i++)
            buf[i] = (unsigned char)xorshift(&seed);
        if (len >= 12) {
            buf[2] |= 0x80;                         /* an answer */
            buf[3] &= 0xf0;                         /* NOERROR */
            buf[4] = buf[6] = buf[8] = buf[10] = 0; /* counts that might fit */
            buf[5] = 1;
        }
        struct dns_answer a;
        memset(&a, 0, sizeof a);
        bool ok = dns_parse_answer(buf, len, types[round % 8], &a);
        check_bounds(&a, ok);
        dns_answer_clear(&a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_record_answered),
        cmocka_unit_test(aaaa_record_answered),
        cmocka_unit_test(ptr_of_127_0_0_2_is_good_example_test),
        cmocka_unit_test(every_ptr_name_is_returned),
        cmocka_unit_test(cname_is_followed_to_the_address),
        cmocka_unit_test(missing_name_is_nxdomain_with_soa_ttl),
        cmocka_unit_test(missing_type_is_nodata),
        cmocka_unit_test(txt_strings_are_joined_without_separator),
        cmocka_unit_test(two_txt_records_are_two_records),
        cmocka_unit_test(mx_gives_preference_and_exchange),
        cmocka_unit_test(ipv6_ptr_is_looked_up_under_ip6_arpa),
        cmocka_unit_test(queries_started_together_are_sent_before_any_wait),
        cmocka_unit_test(same_name_and_type_twice_gives_the_same_handle),
        cmocka_unit_test(answers_keep_their_address_while_more_queries_start),
        cmocka_unit_test(unknown_handles_and_non_addresses_are_refused),
        cmocka_unit_test(invalid_names_are_nxdomain_without_a_query),
        cmocka_unit_test(cache_hit_sends_nothing),
        cmocka_unit_test(cache_entry_expires_with_its_ttl),
        cmocka_unit_test(negative_answers_are_cached_for_the_soa_minimum),
        cmocka_unit_test(cache_max_ttl_caps_the_ttl),
        cmocka_unit_test(full_cache_evicts_the_oldest_entry),
        cmocka_unit_test(full_cache_evicts_expired_entries_before_the_oldest),
        cmocka_unit_test(cache_size_zero_disables_the_cache),
        cmocka_unit_test(closed_port_is_tempfail_at_once),
        cmocka_unit_test(black_hole_times_out_within_timeout_times_tries),
        cmocka_unit_test(tempfail_is_not_cached),
        cmocka_unit_test(batch_lookup_answers_a_held_failure_without_asking_again),
        cmocka_unit_test(batch_lookup_waits_for_the_prefetch_instead_of_asking_again),
        cmocka_unit_test(batch_within_takes_the_outer_failure_and_waits_for_its_queries),
        cmocka_unit_test(refused_is_tempfail_and_not_cached),
        cmocka_unit_test(eight_threads_share_one_resolver_without_cache),
        cmocka_unit_test(eight_threads_share_one_resolver_and_its_cache),
        cmocka_unit_test(batches_in_flight_share_the_resolvers_channel),
        cmocka_unit_test(batch_freed_with_queries_in_flight_is_safe_and_frees_them),
        cmocka_unit_test(resolver_freed_with_abandoned_queries_frees_them),
        cmocka_unit_test(queries_from_many_threads_at_once_all_get_their_answers),
        cmocka_unit_test(deadline_holds_while_another_batch_keeps_the_channel_busy),
        cmocka_unit_test(server_syntax_is_checked),
        cmocka_unit_test(name_validity_follows_rfc_1035_lengths),
        cmocka_unit_test(reverse_names_are_built_per_rfc_3596),
        cmocka_unit_test(parser_keeps_at_most_max_records_and_the_least_ttl),
        cmocka_unit_test(parser_caps_joined_txt_at_txt_max),
        cmocka_unit_test(parser_keeps_nul_bytes_in_txt),
        cmocka_unit_test(parser_escapes_odd_bytes_in_names),
        cmocka_unit_test(parser_reads_negative_ttl_from_soa_or_defaults_to_60),
        cmocka_unit_test(parser_treats_ttl_with_top_bit_as_zero),
        cmocka_unit_test(parser_reports_server_errors_as_tempfail),
        cmocka_unit_test(parser_rejects_malformed_packets),
        cmocka_unit_test(parser_survives_truncated_and_mutated_real_answers),
        cmocka_unit_test(parser_survives_random_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
