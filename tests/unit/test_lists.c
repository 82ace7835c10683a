/*
 * test_lists: block/allow lists (lib/lists.c, lib/cidrtree.c), DNSBL/DNSWL (lib/dnsbl.c) and
 * recipient rules, against real SQLite files in a temporary directory and the real NSD that
 * tests/dns/with-dns.sh starts (INGRESS_TEST_DNS=127.0.0.1:PORT) with tests/dns/dnsbl.test.zone.
 * Nothing is mocked.  The clock is a parameter: no test sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cidr.h"
#include "cidrtree.h"
#include "config.h"
#include "dns.h"
#include "dnsbl.h"
#include "lists.h"
#include "store.h"
#include "tempdir.h"
#include "util.h"
#include "verdict.h"

#define NOW INT64_C(1700000000)

struct fixture {
    char dir[256];
    char db[300];
    struct store *s;
    struct config *cfg;
    struct dns_resolver *resolver;
    struct dns_batch *batch;
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof *f);

    if (tempdir_make(f->dir, sizeof f->dir, "test_lists") != 0)
        fail_msg("mkdtemp failed");
    snprintf(f->db, sizeof f->db, "%s/ingress.db", f->dir);
    struct store_error serr;
    f->s = store_open(f->db, 5000, &serr);
    if (f->s == NULL)
        fail_msg("store_open: %s", serr.text);
    f->cfg = config_new_defaults();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    dns_batch_free(f->batch);
    dns_resolver_free(f->resolver);
    store_close(f->s);
    config_free(f->cfg);
    tempdir_remove(f->dir);
    free(f);
    return 0;
}

/* Adds one entry as ingressctl would: normalized value, "tests" as the author. */
static void add_public(struct fixture *f, const char *kind, const char *value, const char *action,
                       const char *reason, const char *public_text, int64_t expires)
{
    enum lists_kind k;
    char norm[LISTS_VALUE_MAX], why[128], previous[16];

    assert_true(lists_kind_parse(kind, &k));
    if (!lists_normalize_value(k, value, norm, sizeof norm, why, sizeof why))
        fail_msg("%s %s: %s", kind, value, why);
    struct list_entry e = {.kind = kind,
                           .value = norm,
                           .action = action,
                           .reason = reason,
                           .public_text = public_text,
                           .added_by = "tests",
                           .added_at = NOW - 100,
                           .expires = expires};
    assert_int_equal(store_list_add(f->s, &e, previous, sizeof previous, NULL), STORE_OK);
}

static void add(struct fixture *f, const char *kind, const char *value, const char *action,
                const char *reason, int64_t expires)
{
    add_public(f, kind, value, action, reason, NULL, expires);
}

static struct lists *load(struct fixture *f)
{
    char err[256];
    struct lists *l = lists_load(f->s, NOW, err, sizeof err);
    if (l == NULL)
        fail_msg("lists_load: %s", err);
    return l;
}

/* ------------------------------------------------------------------------------------------ */
/* Networks                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static void longest_prefix_wins_allow_host_inside_blocked_network(void **state)
{
    struct fixture *f = *state;
    struct lists_hit hit;

    add(f, "cidr", "192.0.2.0/24", "block", "spam network", 0);
    add(f, "cidr", "192.0.2.5", "allow", "our partner", 0);
    struct lists *l = load(f);
    assert_int_equal(lists_check_client(l, "192.0.2.5", &hit), LISTS_ALLOWED);
    assert_string_equal(hit.value, "192.0.2.5");
    assert_string_equal(hit.reason, "our partner");
    assert_int_equal(lists_check_client(l, "192.0.2.6", &hit), LISTS_BLOCKED);
    assert_string_equal(hit.value, "192.0.2.0/24");
    assert_string_equal(hit.reason, "spam network");
    assert_int_equal(lists_check_client(l, "192.0.3.5", &hit), LISTS_NONE);
    lists_unref(l);
}

static void longest_prefix_wins_block_host_inside_allowed_network(void **state)
{
    struct fixture *f = *state;
    struct lists_hit hit;

    add(f, "cidr", "198.51.100.0/24", "allow", "", 0);
    add(f, "cidr", "198.51.100.77/32", "block", "compromised", 0);
    add(f, "cidr", "198.51.0.0/16", "block", "", 0);
    struct lists *l = load(f);
    assert_int_equal(lists_check_client(l, "198.51.100.77", &hit), LISTS_BLOCKED);
    assert_string_equal(hit.value, "198.51.100.77");
    assert_int_equal(lists_check_client(l, "198.51.100.78", &hit), LISTS_ALLOWED);
    assert_string_equal(hit.value, "198.51.100.0/24");
    assert_int_equal(lists_check_client(l, "198.51.7.1", &hit), LISTS_BLOCKED);
    assert_string_equal(hit.value, "198.51.0.0/16");
    lists_unref(l);
}

static void ipv6_prefixes_nest_and_ipv4_mapped_clients_match_ipv4_entries(void **state)
{
    struct fixture *f = *state;
    struct lists_hit hit;

    add(f, "cidr", "2001:db8::/32", "block", "", 0);
    add(f, "cidr", "2001:db8:1::/48", "allow", "", 0);
    add(f, "cidr", "2001:DB8:1:2::/64", "block", "", 0);
    add(f, "cidr", "2001:db8:1:2::25", "allow", "", 0);
    add(f, "cidr", "203.0.113.0/24", "block", "", 0);
    struct lists *l = load(f);
    assert_int_equal(lists_check_client(l, "2001:db8:ffff::1", &hit), LISTS_BLOCKED);
    assert_string_equal(hit.value, "2001:db8::/32");
    assert_int_equal(lists_check_client(l, "2001:db8:1:ffff::1", &hit), LISTS_ALLOWED);
    assert_string_equal(hit.value, "2001:db8:1::/48");
    assert_int_equal(lists_check_client(l, "2001:db8:1:2::26", &hit), LISTS_BLOCKED);
    assert_string_equal(hit.value, "2001:db8:1:2::/64");
    assert_int_equal(lists_check_client(l, "2001:db8:1:2::25", &hit), LISTS_ALLOWED);
    assert_int_equal(lists_check_client(l, "2001:db9::1", NULL), LISTS_NONE);
    /* An MTA may report an IPv4 client as ::ffff:a.b.c.d. */
    assert_int_equal(lists_check_client(l, "::ffff:203.0.113.9", NULL), LISTS_BLOCKED);
    /* Families never mix: ::cb00:7109 is not 203.0.113.9. */
    assert_int_equal(lists_check_client(l, "::cb00:7109", NULL), LISTS_NONE);
    assert_int_equal(lists_check_client(l, "not an address", NULL), LISTS_NONE);
    assert_int_equal(lists_check_client(l, "203.0.113.0/24", NULL), LISTS_NONE);
    assert_int_equal(lists_check_client(l, NULL, NULL), LISTS_NONE);
    lists_unref(l);
}

static void zero_length_prefix_covers_every_address_of_its_family(void **state)
{
    struct fixture *f = *state;

    add(f, "cidr", "0.0.0.0/0", "block", "", 0);
    add(f, "cidr", "10.0.0.0/8", "allow", "", 0);
    struct lists *l = load(f);
    assert_int_equal(lists_check_client(l, "192.0.2.1", NULL), LISTS_BLOCKED);
    assert_int_equal(lists_check_client(l, "10.1.2.3", NULL), LISTS_ALLOWED);
    assert_int_equal(lists_check_client(l, "2001:db8::1", NULL), LISTS_NONE);
    lists_unref(l);
}

/* Longest match over random networks, checked against a linear scan. */
static void prefix_tree_agrees_with_linear_scan_on_random_networks(void **state)
{
    enum { NETS = 3000, PROBES = 20000 };
    struct cidr *nets = xcalloc(NETS, sizeof *nets);
    struct cidrtree *t = cidrtree_new();
    unsigned seed = 12345;

    (void)state;
    for (int i = 0; i < NETS; i++) {
        struct cidr *n = &nets[i];
        n->family = (i % 3 == 0) ? AF_INET6 : AF_INET;
        unsigned bits = n->family == AF_INET ? 32 : 128;
        /* Few distinct high bits, so that networks nest and collide often. */
        for (unsigned b = 0; b < bits / 8; b++)
            n->addr[b] = (uint8_t)(b < 2 ? rand_r(&seed) % 4 : rand_r(&seed));
        n->prefix = (unsigned)rand_r(&seed) % (bits + 1);
        cidrtree_insert(t, n, i);
    }
    for (int p = 0; p < PROBES; p++) {
        struct cidr a = {.family = (p % 3 == 0) ? AF_INET6 : AF_INET};
        unsigned bits = a.family == AF_INET ? 32 : 128;
        const struct cidr *like = &nets[(unsigned)rand_r(&seed) % NETS];
        for (unsigned b = 0; b < bits / 8; b++)
            a.addr[b] = (uint8_t)rand_r(&seed);
        if (like->family == a.family && p % 2 == 0) /* often inside a known network */
            memcpy(a.addr, like->addr, like->prefix / 8);
        a.prefix = bits;
        int best = -1;
        unsigned best_len = 0;
        for (int i = 0; i < NETS; i++) {
            /* Later duplicates replace earlier ones, as in the tree. */
            if (cidr_contains_addr(&nets[i], &a) && (best < 0 || nets[i].prefix >= best_len)) {
                best = i;
                best_len = nets[i].prefix;
            }
        }
        unsigned len = 99;
        int32_t got = cidrtree_lookup(t, &a, &len);
        if (best < 0) {
            assert_int_equal(got, -1);
        } else {
            assert_int_not_equal(got, -1);
            /* Equal networks may differ in index; the prefix must be the longest. */
            assert_int_equal(len, best_len);
            assert_true(cidr_contains_addr(&nets[got], &a));
        }
    }
    assert_true(cidrtree_nodes(t) <= 2 * cidrtree_count(t));
    cidrtree_free(t);
    free(nets);
}

static double seconds_since(const struct timespec *start)
{
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    return (double)(end.tv_sec - start->tv_sec) + (double)(end.tv_nsec - start->tv_nsec) / 1e9;
}

/* Average ns per lists_check_client over a fixed set of probe addresses. */
static double ns_per_lookup(const struct lists *l, char probes[][INET_ADDRSTRLEN], size_t n,
                            size_t *blocked)
{
    struct timespec start;
    enum { ROUNDS = 10 };

    *blocked = 0;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int r = 0; r < ROUNDS; r++)
        for (size_t i = 0; i < n; i++)
            if (lists_check_client(l, probes[i], NULL) == LISTS_BLOCKED)
                (*blocked)++;
    return seconds_since(&start) * 1e9 / (double)(ROUNDS * n);
}

static void hundred_thousand_networks_load_and_match(void **state)
{
    enum { ENTRIES = 100000, SMALL = 10, PROBES = 100000 };
    struct fixture *f = *state;
    struct list_entry *entries = xcalloc(ENTRIES, sizeof *entries);
    char(*values)[INET6_ADDRSTRLEN + 4] = xcalloc(ENTRIES, sizeof *values);
    char(*probes)[INET_ADDRSTRLEN] = xcalloc(PROBES, sizeof *probes);
    unsigned seed = 4242;
    struct timespec start;
    size_t blocked_small, blocked_big;

    /* 100,000 distinct networks: even i a /32 in 10.0.0.0/8, odd i a /24 in 11.0.0.0/8, spread
     * by multiplying with odd constants (a bijection modulo a power of two). */
    for (int i = 0; i < ENTRIES; i++) {
        uint32_t j = (uint32_t)i / 2;
        uint32_t a = (i % 2 == 0) ? (0x0a000000u | ((j * 2654435761u) & 0xffffffu))
                                  : (0x0b000000u | (((j * 40503u) & 0xffffu) << 8));
        snprintf(values[i], sizeof values[i], "%u.%u.%u.%u%s", a >> 24, (a >> 16) & 255,
                 (a >> 8) & 255, a & 255, (i % 2 == 0) ? "" : "/24");
        entries[i] = (struct list_entry){.kind = "cidr",
                                         .value = values[i],
                                         .action = "block",
                                         .added_by = "tests",
                                         .added_at = NOW};
    }
    for (int i = 0; i < PROBES; i++) {
        /* Half are entries of the small set (so both snapshots find them), half random. */
        uint32_t a = (i % 2 == 0) ? 0 : (uint32_t)rand_r(&seed) << 1 ^ (uint32_t)rand_r(&seed);
        if (i % 2 == 0)
            snprintf(probes[i], sizeof probes[i], "%.*s", (int)strcspn(values[i % SMALL], "/"),
                     values[i % SMALL]);
        else
            snprintf(probes[i], sizeof probes[i], "%u.%u.%u.%u", a >> 24, (a >> 16) & 255,
                     (a >> 8) & 255, a & 255);
    }

    assert_int_equal(store_list_import(f->s, entries, SMALL, NULL), STORE_OK);
    struct lists *small = load(f);
    assert_int_equal(lists_count(small, LISTS_CIDR), SMALL);
    double ns_small = ns_per_lookup(small, probes, PROBES, &blocked_small);

    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_int_equal(store_list_import(f->s, entries, ENTRIES, NULL), STORE_OK);
    double import_s = seconds_since(&start);
    clock_gettime(CLOCK_MONOTONIC, &start);
    struct lists *big = load(f);
    double load_s = seconds_since(&start);
    assert_int_equal(lists_count(big, LISTS_CIDR), ENTRIES);
    double ns_big = ns_per_lookup(big, probes, PROBES, &blocked_big);

    /* Every entry is found in the big snapshot, by an address inside it. */
    for (int i = 0; i < ENTRIES; i += 97) {
        char ip[INET6_ADDRSTRLEN];
        struct lists_hit hit;
        snprintf(ip, sizeof ip, "%.*s", (int)strcspn(values[i], "/"), values[i]);
        if (i % 2 == 1)
            ip[strlen(ip) - 1] = '9'; /* x.y.z.0 -> x.y.z.9, inside the /24 */
        assert_int_equal(lists_check_client(big, ip, &hit), LISTS_BLOCKED);
        assert_string_equal(hit.value, values[i]);
    }
    assert_true(blocked_big >= blocked_small);

    print_message("# cidr lookups: %.0f ns each with %d entries, %.0f ns each with %d entries "
                  "(%d probes x 10); import of %d rows %.2f s, snapshot build %.2f s\n",
                  ns_small, SMALL, ns_big, ENTRIES, PROBES, ENTRIES, import_s, load_s);
    lists_unref(small);
    lists_unref(big);
    free(entries);
    free(values);
    free(probes);
}

/* ------------------------------------------------------------------------------------------ */
/* Names                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static void ptr_domain_matches_label_aligned_suffixes_only(void **state)
{
    struct fixture *f = *state;
    struct lists_hit hit;

    add(f, "ptr_domain", "Example.COM.", "block", "dynamic pool", 0);
    struct lists *l = load(f);
    assert_int_equal(lists_check_ptr(l, "example.com", &hit), LISTS_BLOCKED);
    assert_string_equal(hit.value, "example.com");
    assert_int_equal(hit.kind, LISTS_PTR_DOMAIN);
    assert_int_equal(lists_check_ptr(l, "mx.example.com", NULL), LISTS_BLOCKED);
    assert_int_equal(lists_check_ptr(l, "a.b.MX.Example.Com.", NULL), LISTS_BLOCKED);
    assert_int_equal(lists_check_ptr(l, "badexample.com", NULL), LISTS_NONE);
    assert_int_equal(lists_check_ptr(l, "example.com.evil.test", NULL), LISTS_NONE);
    assert_int_equal(lists_check_ptr(l, "com", NULL), LISTS_NONE);
    assert_int_equal(lists_check_ptr(l, "", NULL), LISTS_NONE);
    assert_int_equal(lists_check_ptr(l, NULL, NULL), LISTS_NONE);
    /* The same name as a HELO is another kind: no match. */
    assert_int_equal(lists_check_helo(l, "mx.example.com", NULL), LISTS_NONE);
    lists_unref(l);
}

static void most_specific_domain_entry_wins(void **state)
{
    struct fixture *f = *state;
    struct lists_hit hit;

    add(f, "ptr_domain", "example.net", "block", "", 0);
    add(f, "ptr_domain", "good.example.net", "allow", "", 0);
    add(f, "ptr_domain", "bad.good.example.net", "block", "", 0);
    struct lists *l = load(f);
    assert_int_equal(lists_check_ptr(l, "mx.example.net", &hit), LISTS_BLOCKED);
    assert_int_equal(lists_check_ptr(l, "mx.good.example.net", &hit), LISTS_ALLOWED);
    assert_string_equal(hit.value, "good.example.net");
    assert_int_equal(lists_check_ptr(l, "x.bad.good.example.net", &hit), LISTS_BLOCKED);
    assert_string_equal(hit.value, "bad.good.example.net");
    lists_unref(l);
}

static void helo_and_sender_domains_match_their_own_kind(void **state)
{
    struct fixture *f = *state;
    struct lists_hit hit;

    add(f, "helo_domain", "spammy.test", "block", "bad HELO", 0);
    add(f, "sender_domain", "junk.test", "block", "junk sender", 0);
    add(f, "sender_domain", "friends.test", "allow", "", 0);
    struct lists *l = load(f);
    assert_int_equal(lists_check_helo(l, "host1.SPAMMY.test", &hit), LISTS_BLOCKED);
    assert_string_equal(hit.reason, "bad HELO");
    assert_int_equal(lists_check_helo(l, "[192.0.2.1]", NULL), LISTS_NONE);
    assert_int_equal(lists_check_helo(l, "notspammy.test", NULL), LISTS_NONE);
    assert_int_equal(lists_check_sender(l, "<news@mail.junk.test>", &hit), LISTS_BLOCKED);
    assert_int_equal(hit.kind, LISTS_SENDER_DOMAIN);
    assert_int_equal(lists_check_sender(l, "a@friends.test", NULL), LISTS_ALLOWED);
    assert_int_equal(lists_check_sender(l, "a@junk.test.example", NULL), LISTS_NONE);
    /* The null sender and a bare word match nothing. */
    assert_int_equal(lists_check_sender(l, "", NULL), LISTS_NONE);
    assert_int_equal(lists_check_sender(l, "<>", NULL), LISTS_NONE);
    assert_int_equal(lists_check_sender(l, "junk.test", NULL), LISTS_NONE);
    /* The sender's domain is not its HELO. */
    assert_int_equal(lists_check_helo(l, "junk.test", NULL), LISTS_NONE);
    lists_unref(l);
}

static void sender_address_matches_without_case_in_both_parts(void **state)
{
    struct fixture *f = *state;
    struct lists_hit hit;

    add(f, "sender", "<Spammer@Example.ORG>", "block", "", 0);
    add(f, "sender_domain", "example.org", "allow", "", 0);
    struct lists *l = load(f);
    /* Stored lower case: the entry a postmaster sees in `list show`. */
    assert_int_equal(lists_check_sender(l, "spammer@example.org", &hit), LISTS_BLOCKED);
    assert_string_equal(hit.value, "spammer@example.org");
    assert_int_equal(lists_check_sender(l, "<SPAMMER@example.ORG>", NULL), LISTS_BLOCKED);
    /* The address is more specific than its domain's allow within lists_check_sender ... */
    assert_int_equal(lists_check_sender(l, "other@example.org", NULL), LISTS_ALLOWED);
    assert_int_equal(lists_check_sender(l, "spammer2@example.org", NULL), LISTS_ALLOWED);
    lists_unref(l);
}

static void allow_beats_block_across_kinds(void **state)
{
    struct fixture *f = *state;
    struct lists_hit hit;

    add(f, "cidr", "192.0.2.0/24", "block", "", 0);
    add(f, "helo_domain", "bad.test", "block", "", 0);
    add(f, "ptr_domain", "partner.test", "allow", "partner", 0);
    add(f, "sender", "boss@partner.test", "allow", "", 0);
    struct lists *l = load(f);

    struct lists_subject s = {.ip = "192.0.2.9", .helo = "mx.bad.test"};
    assert_int_equal(lists_check(l, &s, &hit), LISTS_BLOCKED);
    assert_int_equal(hit.kind, LISTS_CIDR);
    /* A confirmed PTR name on the allow list wins over the network block and the HELO block. */
    s.ptr_name = "mx.partner.test";
    assert_int_equal(lists_check(l, &s, &hit), LISTS_ALLOWED);
    assert_int_equal(hit.kind, LISTS_PTR_DOMAIN);
    assert_string_equal(hit.reason, "partner");
    /* So does a sender allow, later in the connection. */
    s.ptr_name = NULL;
    s.sender = "Boss@Partner.test";
    assert_int_equal(lists_check(l, &s, &hit), LISTS_ALLOWED);
    assert_int_equal(hit.kind, LISTS_SENDER);
    s = (struct lists_subject){.ip = "198.51.100.1", .helo = "ok.test", .sender = "a@b.test"};
    assert_int_equal(lists_check(l, &s, NULL), LISTS_NONE);
    lists_unref(l);
}

static void expired_entries_are_ignored(void **state)
{
    struct fixture *f = *state;

    add(f, "cidr", "192.0.2.1", "block", "", NOW - 1);
    add(f, "cidr", "192.0.2.2", "block", "", NOW); /* expires at NOW: gone at NOW */
    add(f, "cidr", "192.0.2.3", "block", "", NOW + 3600);
    add(f, "sender_domain", "old.test", "allow", "", NOW - 10);
    struct lists *l = load(f);
    assert_int_equal(lists_check_client(l, "192.0.2.1", NULL), LISTS_NONE);
    assert_int_equal(lists_check_client(l, "192.0.2.2", NULL), LISTS_NONE);
    assert_int_equal(lists_check_client(l, "192.0.2.3", NULL), LISTS_BLOCKED);
    assert_int_equal(lists_check_sender(l, "a@old.test", NULL), LISTS_NONE);
    assert_int_equal(lists_count(l, LISTS_KIND_COUNT), 1);
    assert_int_equal(lists_next_expiry(l), NOW + 3600);
    lists_unref(l);
}

static void values_are_validated_and_normalized(void **state)
{
    char out[LISTS_VALUE_MAX], why[128];
    (void)state;

    assert_true(lists_normalize_value(LISTS_CIDR, "192.0.2.77/24", out, sizeof out, why, 128));
    assert_string_equal(out, "192.0.2.0/24");
    assert_true(lists_normalize_value(LISTS_CIDR, "192.0.2.7/32", out, sizeof out, why, 128));
    assert_string_equal(out, "192.0.2.7");
    assert_true(lists_normalize_value(LISTS_CIDR, "2001:DB8:0::1/48", out, sizeof out, why, 128));
    assert_string_equal(out, "2001:db8::/48");
    assert_true(lists_normalize_value(LISTS_CIDR, "::ffff:192.0.2.1", out, sizeof out, why, 128));
    assert_string_equal(out, "192.0.2.1");
    const char *bad_cidrs[] = {"192.0.2.0/33",   "192.0.2",     "192.0.2.0/",    "192.0.2.0/-0",
                               "2001:db8::/129", "example.com", "192.0.2.0/24x", ""};
    for (size_t i = 0; i < sizeof bad_cidrs / sizeof bad_cidrs[0]; i++)
        assert_false(lists_normalize_value(LISTS_CIDR, bad_cidrs[i], out, sizeof out, why, 128));

    assert_true(
        lists_normalize_value(LISTS_PTR_DOMAIN, "MX.Example.Com.", out, sizeof out, why, 128));
    assert_string_equal(out, "mx.example.com");
    assert_false(lists_normalize_value(LISTS_PTR_DOMAIN, "a@b.test", out, sizeof out, why, 128));
    assert_false(lists_normalize_value(LISTS_HELO_DOMAIN, "bad name", out, sizeof out, why, 128));
    assert_false(lists_normalize_value(LISTS_SENDER_DOMAIN, ".test", out, sizeof out, why, 128));

    assert_true(lists_normalize_value(LISTS_SENDER, "<A.B@X.Test>", out, sizeof out, why, 128));
    assert_string_equal(out, "a.b@x.test");
    assert_false(lists_normalize_value(LISTS_SENDER, "x.test", out, sizeof out, why, 128));
    assert_false(lists_normalize_value(LISTS_SENDER, "@x.test", out, sizeof out, why, 128));
    assert_false(lists_normalize_value(LISTS_SENDER, "a b@x.test", out, sizeof out, why, 128));

    assert_true(lists_reason_valid("compromised host, ticket #42"));
    assert_true(lists_reason_valid(""));
    assert_false(lists_reason_valid("line\nbreak"));
    /* A reason is the postmaster's: UTF-8 text; the public text goes into a reply: ASCII. */
    assert_true(lists_reason_valid("caf\xc3\xa9 \xe2\x9c\x93 ticket \xe2\x84\x96 42"));
    assert_false(lists_public_text_valid("caf\xc3\xa9"));
    assert_true(lists_public_text_valid("see https://help.example/block"));
    assert_false(lists_reason_valid("caf\xc3("));     /* a sequence cut short */
    assert_false(lists_reason_valid("\xc0\xaf"));     /* an overlong "/" */
    assert_false(lists_reason_valid("\xed\xa0\x80")); /* a surrogate */
    assert_false(lists_reason_valid("a\xc2\x85"
                                    "b")); /* U+0085, a C1 control */
    assert_false(lists_reason_valid("a\x7f"));
    char full[LISTS_REASON_MAX + 2];
    for (int i = 0; i < LISTS_REASON_MAX; i += 2)
        memcpy(full + i, "\xc3\xa9", 2);
    full[LISTS_REASON_MAX] = '\0';
    assert_true(lists_reason_valid(full)); /* LISTS_REASON_MAX bytes */
    full[LISTS_REASON_MAX] = 'x';
    full[LISTS_REASON_MAX + 1] = '\0';
    assert_false(lists_reason_valid(full));
}

static void rows_written_around_ingressctl_are_normalized_or_skipped(void **state)
{
    struct fixture *f = *state;
    sqlite3 *db;

    /* A postmaster with the sqlite3 shell: mixed case, host bits, and a broken network. */
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO list_entries (kind, value, action, added_at) VALUES "
                                  "('cidr', '192.0.2.9/24', 'block', 1), "
                                  "('ptr_domain', 'BAD.Test', 'block', 1), "
                                  "('cidr', '300.0.0.0/8', 'block', 1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    struct lists *l = load(f);
    assert_int_equal(lists_count(l, LISTS_KIND_COUNT), 2);
    assert_int_equal(lists_check_client(l, "192.0.2.200", NULL), LISTS_BLOCKED);
    assert_int_equal(lists_check_ptr(l, "x.bad.test", NULL), LISTS_BLOCKED);
    lists_unref(l);
}

/* ------------------------------------------------------------------------------------------ */
/* The cache                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static struct lists *cache_get(struct lists_cache *c, int64_t now)
{
    char err[256];
    struct lists *l = lists_cache_get(c, now, err, sizeof err);
    if (l == NULL)
        fail_msg("lists_cache_get: %s", err);
    return l;
}

static void snapshot_is_reloaded_after_a_change_at_most_once_per_interval(void **state)
{
    struct fixture *f = *state;
    struct lists_cache *c = lists_cache_new(f->s, 1000);

    struct lists *a = cache_get(c, NOW);
    assert_int_equal(lists_check_client(a, "192.0.2.1", NULL), LISTS_NONE);
    int64_t before = lists_version(a);

    add(f, "cidr", "192.0.2.1", "block", "", 0);
    /* Within the interval the store is not read again. */
    struct lists *b = cache_get(c, NOW);
    assert_ptr_equal(a, b);
    /* After it, the moved counter gives a new snapshot with the entry. */
    struct lists *n = cache_get(c, NOW + 1);
    assert_ptr_not_equal(n, a);
    assert_true(lists_version(n) > before);
    assert_int_equal(lists_check_client(n, "192.0.2.1", NULL), LISTS_BLOCKED);
    /* The connection that holds the old snapshot keeps a working one. */
    assert_int_equal(lists_check_client(a, "192.0.2.1", NULL), LISTS_NONE);
    /* No change: the same snapshot, not a rebuild. */
    struct lists *same = cache_get(c, NOW + 5);
    assert_ptr_equal(same, n);

    /* A delete bumps the counter too. */
    assert_int_equal(store_list_del(f->s, "cidr", "192.0.2.1", NULL), STORE_OK);
    assert_int_equal(store_list_del(f->s, "cidr", "192.0.2.1", NULL), STORE_NOTFOUND);
    struct lists *after_del = cache_get(c, NOW + 6);
    assert_int_equal(lists_check_client(after_del, "192.0.2.1", NULL), LISTS_NONE);

    lists_unref(a);
    lists_unref(b);
    lists_unref(n);
    lists_unref(same);
    lists_unref(after_del);
    lists_cache_free(c);
}

static void snapshot_is_reloaded_when_an_entry_expires(void **state)
{
    struct fixture *f = *state;
    struct lists_cache *c = lists_cache_new(f->s, 60000);

    add(f, "cidr", "192.0.2.1", "block", "", NOW + 10);
    struct lists *a = cache_get(c, NOW);
    assert_int_equal(lists_check_client(a, "192.0.2.1", NULL), LISTS_BLOCKED);
    /* Before the expiry (and within the minute): unchanged. */
    struct lists *b = cache_get(c, NOW + 9);
    assert_ptr_equal(a, b);
    /* At the expiry, although the interval has not passed and the table did not change. */
    struct lists *e = cache_get(c, NOW + 10);
    assert_ptr_not_equal(e, a);
    assert_int_equal(lists_check_client(e, "192.0.2.1", NULL), LISTS_NONE);
    lists_unref(a);
    lists_unref(b);
    lists_unref(e);
    lists_cache_free(c);
}

static void cache_keeps_the_previous_snapshot_when_the_store_fails(void **state)
{
    struct fixture *f = *state;
    struct lists_cache *c = lists_cache_new(f->s, 0);
    sqlite3 *db;
    char err[256] = "";

    add(f, "cidr", "192.0.2.1", "block", "", 0);
    struct lists *a = cache_get(c, NOW);
    /* Break the table under the milter's feet (the statement then fails on step). */
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE lists_version", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct lists *b = lists_cache_get(c, NOW + 1, err, sizeof err);
    assert_ptr_equal(a, b);
    assert_int_equal(lists_check_client(b, "192.0.2.1", NULL), LISTS_BLOCKED);
    lists_unref(a);
    lists_unref(b);
    lists_cache_free(c);

    /* Without a previous snapshot there is nothing to fall back on: could not tell. */
    c = lists_cache_new(f->s, 0);
    assert_null(lists_cache_get(c, NOW, err, sizeof err));
    assert_non_null(strstr(err, "lists"));
    lists_cache_free(c);
}

struct reader {
    struct lists_cache *cache;
    int64_t start;
    int rounds;
    int failures;
};

/* One connection after another: get the current snapshot, look up, drop it. */
static void *reader_thread(void *arg)
{
    struct reader *r = arg;
    char err[256];

    for (int i = 0; i < r->rounds; i++) {
        struct lists *l = lists_cache_get(r->cache, r->start + i / 50, err, sizeof err);
        if (l == NULL) {
            r->failures++;
            continue;
        }
        /* The allow inside the block is always there; the churned entries come and go. */
        if (lists_check_client(l, "192.0.2.5", NULL) != LISTS_ALLOWED ||
            lists_check_client(l, "192.0.2.6", NULL) != LISTS_BLOCKED)
            r->failures++;
        lists_check_client(l, "198.51.100.1", NULL);
        lists_unref(l);
    }
    return NULL;
}

static void snapshots_are_shared_safely_between_threads_during_reloads(void **state)
{
    enum { READERS = 4, ROUNDS = 2000, CHANGES = 200 };
    struct fixture *f = *state;
    struct lists_cache *c = lists_cache_new(f->s, 0); /* read the version at every get */
    pthread_t threads[READERS];
    struct reader readers[READERS];

    add(f, "cidr", "192.0.2.0/24", "block", "", 0);
    add(f, "cidr", "192.0.2.5", "allow", "", 0);
    for (int i = 0; i < READERS; i++) {
        readers[i] = (struct reader){.cache = c, .start = NOW, .rounds = ROUNDS};
        assert_int_equal(pthread_create(&threads[i], NULL, reader_thread, &readers[i]), 0);
    }
    /* Meanwhile the postmaster edits the list: every change makes the next get reload. */
    for (int i = 0; i < CHANGES; i++) {
        if (i % 2 == 0)
            add(f, "cidr", "198.51.100.0/24", "block", "", 0);
        else
            assert_int_equal(store_list_del(f->s, "cidr", "198.51.100.0/24", NULL), STORE_OK);
    }
    for (int i = 0; i < READERS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(readers[i].failures, 0);
    }
    struct lists *l = cache_get(c, NOW + ROUNDS);
    assert_int_equal(lists_check_client(l, "198.51.100.1", NULL), LISTS_NONE);
    lists_unref(l);
    lists_cache_free(c);
}

/* ------------------------------------------------------------------------------------------ */
/* Recipient rules                                                                            */
/* ------------------------------------------------------------------------------------------ */

static void add_rule(struct fixture *f, const char *rcpt, const char *sender, const char *action)
{
    char to[LISTS_VALUE_MAX], from[LISTS_VALUE_MAX], why[128], previous[16];

    if (!rules_normalize_recipient(rcpt, to, sizeof to, why, sizeof why) ||
        !rules_normalize_sender(sender, from, sizeof from, why, sizeof why))
        fail_msg("rule %s %s: %s", rcpt, sender, why);
    struct rcpt_rule r = {
        .recipient = to, .sender = from, .action = action, .added_by = "tests", .added_at = NOW};
    assert_int_equal(store_rule_add(f->s, &r, previous, sizeof previous, NULL), STORE_OK);
}

/* The rule of rcpt for sender in a snapshot loaded now. */
static enum rule_action rule_of(struct fixture *f, const char *rcpt, const char *sender,
                                char *matched, size_t matched_len)
{
    struct lists *l = load(f);
    enum rule_action action = rules_check(l, rcpt, sender, matched, matched_len);
    lists_unref(l);
    return action;
}

static void recipient_rules_prefer_the_address_over_its_domain(void **state)
{
    struct fixture *f = *state;
    char matched[LISTS_VALUE_MAX];

    add_rule(f, "Alice@Example.test", "@shop.test", "reject");
    add_rule(f, "alice@example.test", "orders@shop.test", "accept");
    add_rule(f, "alice@example.test", "friend@mail.test", "accept");
    assert_int_equal(
        rule_of(f, "<alice@example.test>", "<promo@SHOP.test>", matched, sizeof matched),
        RULE_REJECT);
    assert_string_equal(matched, "@shop.test");
    assert_int_equal(rule_of(f, "ALICE@example.test", "Orders@shop.test", matched, sizeof matched),
                     RULE_ACCEPT);
    assert_string_equal(matched, "orders@shop.test");
    assert_int_equal(rule_of(f, "alice@example.test", "friend@mail.test", NULL, 0), RULE_ACCEPT);
    /* Other recipients, other senders, subdomains, the null sender: no rule. */
    assert_int_equal(rule_of(f, "bob@example.test", "promo@shop.test", NULL, 0), RULE_NONE);
    assert_int_equal(rule_of(f, "alice@example.test", "x@mail.test", NULL, 0), RULE_NONE);
    assert_int_equal(rule_of(f, "alice@example.test", "x@sub.shop.test", NULL, 0), RULE_NONE);
    assert_int_equal(rule_of(f, "alice@example.test", "", NULL, 0), RULE_NONE);
    assert_int_equal(rule_of(f, "alice@example.test", "<>", NULL, 0), RULE_NONE);
    /* A space in the sender cannot make it reach another rule's key ("recipient sender"). */
    assert_int_equal(rule_of(f, "alice@example.test", "x @shop.test", NULL, 0), RULE_REJECT);
    assert_int_equal(rule_of(f, "alice@example.test orders@shop.test", "a@b.test", NULL, 0),
                     RULE_NONE);
    /* A rule changed by the user is in the next snapshot. */
    add_rule(f, "alice@example.test", "@shop.test", "accept");
    assert_int_equal(rule_of(f, "alice@example.test", "promo@shop.test", NULL, 0), RULE_ACCEPT);
    assert_int_equal(store_rule_del(f->s, "alice@example.test", "@shop.test", NULL), STORE_OK);
    assert_int_equal(rule_of(f, "alice@example.test", "promo@shop.test", NULL, 0), RULE_NONE);
    assert_int_equal(store_rule_del(f->s, "alice@example.test", "@shop.test", NULL),
                     STORE_NOTFOUND);

    char out[LISTS_VALUE_MAX], why[128];
    assert_false(rules_normalize_sender("shop.test", out, sizeof out, why, sizeof why));
    assert_false(rules_normalize_recipient("@example.test", out, sizeof out, why, sizeof why));
}

/* RCPT reads no store: a snapshot answers from memory, and a rule added, changed or deleted moves
 * lists_version (the triggers of migration 008), so the cache picks it up after the interval. */
static void rule_changes_reach_the_cache_after_the_interval(void **state)
{
    struct fixture *f = *state;
    struct lists_cache *c = lists_cache_new(f->s, 1000);

    struct lists *a = cache_get(c, NOW);
    add_rule(f, "u@example.test", "@spam.test", "reject");
    assert_int_equal(rules_check(a, "u@example.test", "x@spam.test", NULL, 0), RULE_NONE);
    lists_unref(a);
    a = cache_get(c, NOW); /* within the interval: the same snapshot */
    assert_int_equal(rules_check(a, "u@example.test", "x@spam.test", NULL, 0), RULE_NONE);
    lists_unref(a);
    a = cache_get(c, NOW + 1);
    assert_int_equal(rules_check(a, "u@example.test", "x@spam.test", NULL, 0), RULE_REJECT);
    assert_int_equal(lists_rule_count(a), 1);
    lists_unref(a);

    add_rule(f, "u@example.test", "@spam.test", "accept");
    a = cache_get(c, NOW + 2);
    assert_int_equal(rules_check(a, "u@example.test", "x@spam.test", NULL, 0), RULE_ACCEPT);
    lists_unref(a);
    assert_int_equal(store_rule_del(f->s, "u@example.test", "@spam.test", NULL), STORE_OK);
    a = cache_get(c, NOW + 3);
    assert_int_equal(rules_check(a, "u@example.test", "x@spam.test", NULL, 0), RULE_NONE);
    assert_int_equal(lists_rule_count(a), 0);
    lists_unref(a);
    lists_cache_free(c);
}

/* Rows written around ingressctl (upper case, <>, no '@') are normalized or skipped. */
static void rule_rows_written_around_ingressctl_are_normalized_or_skipped(void **state)
{
    struct fixture *f = *state;
    sqlite3 *db;

    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO rcpt_rules (recipient, sender, action, added_at) "
                                  "VALUES ('<U@Example.TEST>', '@Spam.Test', 'reject', 1), "
                                  "('no-at-sign', '@spam.test', 'reject', 1), "
                                  "('v@example.test', 'spam.test', 'reject', 1), "
                                  "('w@example.test', '@spam.test', 'accept', 1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    struct lists *l = load(f);
    assert_int_equal(lists_rule_count(l), 2);
    assert_int_equal(rules_check(l, "u@example.test", "x@spam.test", NULL, 0), RULE_REJECT);
    assert_int_equal(rules_check(l, "w@example.test", "x@spam.test", NULL, 0), RULE_ACCEPT);
    assert_int_equal(rules_check(l, "v@example.test", "x@spam.test", NULL, 0), RULE_NONE);
    lists_unref(l);
}

/* ------------------------------------------------------------------------------------------ */
/* The decision at RCPT                                                                       */
/* ------------------------------------------------------------------------------------------ */

/* The whole RCPT decision for one client and recipient, as policy.c will make it. */
static struct verdict decide(struct fixture *f, const char *ip, const char *sender,
                             const char *rcpt, struct dnsbl *dnsbl, bool *skip)
{
    struct lists_hit hit, exempt;
    char matched[LISTS_VALUE_MAX];
    struct lists *l = load(f);
    struct lists_subject subject = {.ip = ip, .sender = sender};
    struct lists_rcpt in = {.ip = ip, .hit = &hit, .rule_sender = matched, .dnsbl = dnsbl};

    in.match = lists_check(l, &subject, &hit);
    in.exempt = lists_check_exempt(l, &subject, &exempt) ? &exempt : NULL;
    in.rule = rules_check(l, rcpt, sender, matched, sizeof matched);
    struct verdict v = lists_verdict(f->cfg, &in, skip);
    lists_unref(l);
    return v;
}

/* The internal reason (ticket notes) goes to the detail only; the reply is the table's text, and
 * the public text after it when the entry has one. */
static void block_entry_replies_with_its_public_text_never_its_internal_reason(void **state)
{
    struct fixture *f = *state;
    bool skip = true;

    add_public(f, "cidr", "192.0.2.0/24", "block", "ticket 4711: abuse", "see https://x.test/b", 0);
    add(f, "cidr", "198.51.100.0/24", "block", "ticket 4712 internal", 0);
    struct verdict v = decide(f, "192.0.2.7", "a@b.test", "u@example.test", NULL, &skip);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_BLACKLISTED);
    assert_string_equal(reply_table[v.reply].code, "554");
    assert_string_equal(reply_table[v.reply].xcode, "5.7.1");
    assert_string_equal(v.text, "Client [192.0.2.7] blocked by local policy: see https://x.test/b");
    assert_string_equal(v.check, "lists");
    assert_non_null(strstr(v.detail, "value=192.0.2.0/24"));
    assert_non_null(strstr(v.detail, "reason=\"ticket 4711: abuse\""));
    assert_false(skip);
    assert_true(verdict_reply_consistent(&v));
    /* Without a public text: the reply table's text alone. */
    v = decide(f, "198.51.100.1", "a@b.test", "u@example.test", NULL, NULL);
    assert_string_equal(v.text, "Client [198.51.100.1] blocked by local policy");
    assert_null(strstr(v.text, "ticket"));
    assert_non_null(strstr(v.detail, "ticket 4712 internal"));

    v = decide(f, "203.0.113.1", "a@b.test", "u@example.test", NULL, &skip);
    assert_int_equal(v.action, VERDICT_CONTINUE);
}

/* A sender or sender_domain entry refuses the sender, and its reply says so, not "Client". */
static void sender_blocks_say_the_sender_is_refused(void **state)
{
    struct fixture *f = *state;

    add(f, "sender", "spammer@bulk.test", "block", "ticket 9", 0);
    add_public(f, "sender_domain", "junk.test", "block", "ticket 10", "complaints: abuse@x.test",
               0);
    struct verdict v = decide(f, "192.0.2.7", "<Spammer@bulk.test>", "u@example.test", NULL, NULL);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_SENDER_BLOCKED);
    assert_string_equal(reply_table[v.reply].code, "550");
    assert_string_equal(reply_table[v.reply].xcode, "5.7.1");
    assert_string_equal(v.text, "Sender <spammer@bulk.test> refused by local policy");
    assert_true(verdict_reply_consistent(&v));
    v = decide(f, "192.0.2.7", "a@mx.junk.test", "u@example.test", NULL, NULL);
    assert_int_equal(v.reply, REPLY_SENDER_DOMAIN_BLOCKED);
    assert_string_equal(reply_table[v.reply].xcode, "5.7.1");
    assert_string_equal(v.text, "Mail from domain junk.test refused by local policy: complaints: "
                                "abuse@x.test");
    assert_null(strstr(v.text, "Client"));
    assert_null(strstr(v.text, "ticket"));
}

/* greylist_exempt skips greylisting only: the decision goes on (CONTINUE, not ACCEPT), and an
 * exemption inside a blocked network does not shadow the block. */
static void greylist_exempt_skips_greylisting_only(void **state)
{
    struct fixture *f = *state;
    bool skip = false;

    add(f, "cidr", "192.0.2.0/24", "greylist_exempt", "postgrey: big sender", 0);
    add(f, "sender_domain", "pool.test", "greylist_exempt", "", 0);
    add(f, "cidr", "198.51.100.0/24", "block", "", 0);
    add(f, "cidr", "198.51.100.7", "greylist_exempt", "", 0);
    struct verdict v = decide(f, "192.0.2.7", "a@b.test", "u@example.test", NULL, &skip);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_true(skip);
    assert_non_null(strstr(v.detail, "lists=greylist_exempt kind=cidr value=192.0.2.0/24"));
    v = decide(f, "203.0.113.1", "a@mx.pool.test", "u@example.test", NULL, &skip);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_true(skip);
    v = decide(f, "203.0.113.1", "a@b.test", "u@example.test", NULL, &skip);
    assert_false(skip);
    v = decide(f, "198.51.100.7", "a@b.test", "u@example.test", NULL, &skip);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_BLACKLISTED);
    struct lists *l = load(f);
    assert_int_equal(lists_check_client(l, "192.0.2.7", NULL), LISTS_NONE);
    lists_unref(l);
}

/* ".outbound.example" is the names under it, not the name; a name entry before a regex. */
static void leading_dot_entry_matches_only_the_names_under_it(void **state)
{
    struct fixture *f = *state;
    struct lists_hit hit;

    add(f, "ptr_domain", ".Outbound.Protection.example.", "greylist_exempt", "", 0);
    add(f, "helo_domain", ".bad.test", "block", "", 0);
    struct lists *l = load(f);
    struct lists_subject s = {.ptr_name = "mail-db5eur01.outbound.protection.example"};
    assert_true(lists_check_exempt(l, &s, &hit));
    assert_string_equal(hit.value, ".outbound.protection.example");
    s.ptr_name = "outbound.protection.example";
    assert_false(lists_check_exempt(l, &s, NULL));
    s.ptr_name = "xoutbound.protection.example";
    assert_false(lists_check_exempt(l, &s, NULL));
    assert_int_equal(lists_check_helo(l, "a.b.BAD.test", NULL), LISTS_BLOCKED);
    assert_int_equal(lists_check_helo(l, "bad.test", NULL), LISTS_NONE);
    lists_unref(l);
}

/* postgrey's whitelist_recipients forms: local@ at any domain, an address, a domain and its
 * subdomains; a +extension matches its base.  Only greylist_exempt entries may name a recipient. */
static void recipient_entries_exempt_mail_to_them(void **state)
{
    struct fixture *f = *state;
    struct lists_hit hit;
    char out[LISTS_VALUE_MAX], why[128];

    add(f, "recipient", "Postmaster@", "greylist_exempt", "", 0);
    add(f, "recipient", "bob@example.test", "greylist_exempt", "", 0);
    add(f, "recipient", "lists.test", "greylist_exempt", "", 0);
    struct lists *l = load(f);
    struct lists_subject s = {.rcpt = "<POSTMASTER@any.example>"};
    assert_true(lists_check_exempt(l, &s, &hit));
    assert_string_equal(hit.value, "postmaster@");
    s.rcpt = "bob+news@example.test";
    assert_true(lists_check_exempt(l, &s, &hit));
    assert_string_equal(hit.value, "bob@example.test");
    s.rcpt = "x@announce.lists.test";
    assert_true(lists_check_exempt(l, &s, NULL));
    s.rcpt = "bob@other.test";
    assert_false(lists_check_exempt(l, &s, NULL));
    s.rcpt = "x@badlists.test";
    assert_false(lists_check_exempt(l, &s, NULL));
    lists_unref(l);
    assert_false(lists_action_allowed(LISTS_RECIPIENT, LISTS_BLOCK));
    assert_true(lists_action_allowed(LISTS_RECIPIENT, LISTS_GREYLIST_EXEMPT));
    assert_false(lists_normalize_value(LISTS_RECIPIENT, "@", out, sizeof out, why, sizeof why));
    assert_false(lists_normalize_value(LISTS_RECIPIENT, "a b@", out, sizeof out, why, sizeof why));
}

static void regex_entries_match_names_without_case(void **state)
{
    struct fixture *f = *state;
    struct lists_hit hit;

    add(f, "ptr_regex", "^mail[0-9]+\\.Pool\\.test$", "greylist_exempt", "", 0);
    add(f, "helo_regex", "^(dsl|dyn)-[0-9-]+\\.", "block", "dynamic", 0);
    struct lists *l = load(f);
    struct lists_subject s = {.ptr_name = "MAIL42.pool.test."};
    assert_true(lists_check_exempt(l, &s, &hit));
    assert_int_equal(hit.kind, LISTS_PTR_REGEX);
    s.ptr_name = "mailx.pool.test";
    assert_false(lists_check_exempt(l, &s, NULL));
    assert_int_equal(lists_check_helo(l, "DYN-10-0-0-1.isp.test", &hit), LISTS_BLOCKED);
    assert_string_equal(hit.reason, "dynamic");
    assert_int_equal(lists_check_helo(l, "mx.isp.test", NULL), LISTS_NONE);
    /* A regex entry never matches through the other kinds. */
    assert_int_equal(lists_check_ptr(l, "dyn-10-0-0-1.isp.test", NULL), LISTS_NONE);
    assert_int_equal(lists_regex_cut_off(l), 0);
    lists_unref(l);
}

/*
 * A pattern that backtracks exponentially is cut off by the match limit and is no match.  With
 * 18 letters ^(a+)+$ takes between 100,000 and a million steps to fail (measured with PCRE2
 * 10.42): inside PCRE2's own default limit (ten million), so only LISTS_REGEX_MATCH_LIMIT stops it.
 */
static void catastrophic_regex_is_cut_off_and_matches_nothing(void **state)
{
    struct fixture *f = *state;

    add(f, "helo_regex", "^(a+)+$", "block", "", 0);
    struct lists *l = load(f);
    assert_int_equal(lists_check_helo(l, "aaaaaaaaaaaaaaaaaa!", NULL), LISTS_NONE);
    assert_int_equal(lists_regex_cut_off(l), 1);
    assert_int_equal(lists_check_helo(l, "aaaa", NULL), LISTS_BLOCKED);
    assert_int_equal(lists_regex_cut_off(l), 1);
    lists_unref(l);
}

static void regex_that_does_not_compile_is_refused_with_the_reason(void **state)
{
    char out[LISTS_VALUE_MAX], why[200];

    (void)state;
    assert_false(
        lists_normalize_value(LISTS_PTR_REGEX, "^mail(", out, sizeof out, why, sizeof why));
    assert_non_null(strstr(why, "not a regular expression: missing closing parenthesis"));
    assert_non_null(strstr(why, "at offset 6"));
    assert_false(lists_normalize_value(LISTS_HELO_REGEX, "a\tb", out, sizeof out, why, sizeof why));
    assert_false(
        lists_normalize_value(LISTS_PTR_DOMAIN, "..x.test", out, sizeof out, why, sizeof why));
    assert_false(
        lists_normalize_value(LISTS_SENDER_DOMAIN, ".x.test", out, sizeof out, why, sizeof why));
    assert_true(lists_normalize_value(LISTS_PTR_REGEX, "^A\\D$", out, sizeof out, why, sizeof why));
    assert_string_equal(out, "^A\\D$"); /* kept as written */
}

static void allow_entry_accepts_and_skips_greylisting(void **state)
{
    struct fixture *f = *state;
    bool skip = false;

    add(f, "cidr", "192.0.2.0/24", "block", "", 0);
    add(f, "sender_domain", "partner.test", "allow", "", 0);
    struct verdict v = decide(f, "192.0.2.7", "x@partner.test", "u@example.test", NULL, &skip);
    assert_int_equal(v.action, VERDICT_ACCEPT);
    assert_int_equal(v.reply, REPLY_NONE);
    assert_true(skip);
    assert_true(verdict_reply_consistent(&v));
}

static void recipient_reject_rule_gives_rule_reject_even_for_allowed_clients(void **state)
{
    struct fixture *f = *state;

    add(f, "cidr", "192.0.2.0/24", "allow", "", 0);
    add_rule(f, "u@example.test", "@spam.test", "reject");
    struct verdict v = decide(f, "192.0.2.7", "x@spam.test", "u@example.test", NULL, NULL);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_RULE_REJECT);
    assert_string_equal(reply_table[v.reply].code, "550");
    assert_string_equal(reply_table[v.reply].xcode, "5.7.1");
    assert_string_equal(v.check, "rules");
    assert_non_null(strstr(v.detail, "@spam.test"));
    /* Another recipient of the same message is not affected. */
    v = decide(f, "192.0.2.7", "x@spam.test", "other@example.test", NULL, NULL);
    assert_int_equal(v.action, VERDICT_ACCEPT);
}

static void recipient_accept_rule_does_not_pass_a_block_unless_configured(void **state)
{
    struct fixture *f = *state;
    bool skip = false;
    char err[256];

    add(f, "cidr", "192.0.2.0/24", "block", "", 0);
    add_rule(f, "u@example.test", "friend@mail.test", "accept");
    struct verdict v = decide(f, "192.0.2.7", "friend@mail.test", "u@example.test", NULL, &skip);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_BLACKLISTED);
    assert_false(skip);

    assert_true(config_set(f->cfg, "rcpt_rules_override_blocks", "yes", err, sizeof err));
    v = decide(f, "192.0.2.7", "friend@mail.test", "u@example.test", NULL, &skip);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_true(skip);
    assert_non_null(strstr(v.detail, "overrides"));
    /* Only for that recipient. */
    v = decide(f, "192.0.2.7", "friend@mail.test", "other@example.test", NULL, &skip);
    assert_int_equal(v.action, VERDICT_REJECT);
}

static void unreadable_rules_defer_unless_fail_open(void **state)
{
    struct fixture *f = *state;
    char err[256];
    sqlite3 *db;

    /* The rules table gone (a broken database): no snapshot, so the lookup cannot tell. */
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE rcpt_rules", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_null(lists_load(f->s, NOW, err, sizeof err));
    assert_non_null(strstr(err, "recipient rules"));
    assert_int_equal(rules_check(NULL, "u@example.test", "a@b.test", NULL, 0), RULE_UNKNOWN);
    struct lists_rcpt in = {.ip = "192.0.2.1", .rule = RULE_UNKNOWN};
    struct verdict v = lists_verdict(f->cfg, &in, NULL);
    assert_int_equal(v.action, VERDICT_TEMPFAIL);
    assert_int_equal(v.reply, REPLY_STORE_FAILURE);
    assert_true(config_set(f->cfg, "fail_open", "yes", err, sizeof err));
    v = lists_verdict(f->cfg, &in, NULL);
    assert_int_equal(v.action, VERDICT_CONTINUE);
}

/* ------------------------------------------------------------------------------------------ */
/* DNSBL / DNSWL                                                                              */
/* ------------------------------------------------------------------------------------------ */

static struct dns_batch *batch_for(struct fixture *f, const char *server, int timeout_ms)
{
    char err[256];
    const char *servers[] = {server};
    struct dns_options opts = {
        .servers = servers,
        .server_count = 1,
        .timeout_ms = timeout_ms,
        .tries = 1,
        .cache_size = 0,
    };

    dns_batch_free(f->batch);
    dns_resolver_free(f->resolver);
    if (dns_resolver_new(&opts, &f->resolver, err, sizeof err) != 0)
        fail_msg("dns_resolver_new: %s", err);
    f->batch = dns_batch_new(f->resolver);
    return f->batch;
}

static struct dns_batch *test_dns(struct fixture *f)
{
    const char *server = getenv("INGRESS_TEST_DNS");
    if (server == NULL)
        fail_msg("INGRESS_TEST_DNS is not set: run under tests/dns/with-dns.sh");
    return batch_for(f, server, 1000);
}

static void set_zones(struct fixture *f, const char *bl, const char *wl)
{
    char err[256];
    assert_true(config_set(f->cfg, "dnsbl_zones", bl, err, sizeof err));
    assert_true(config_set(f->cfg, "dnswl_zones", wl, err, sizeof err));
}

static struct verdict dnsbl_check(struct fixture *f, const char *ip, bool *allowlisted)
{
    struct dnsbl *d = dnsbl_start(test_dns(f), f->cfg, ip);
    assert_non_null(d);
    struct verdict v = dnsbl_verdict(d);
    if (allowlisted != NULL)
        *allowlisted = dnsbl_allowlisted(d);
    dnsbl_free(d);
    return v;
}

static void dnsbl_listing_rejects_with_the_zone_and_its_txt(void **state)
{
    struct fixture *f = *state;

    set_zones(f, "dnsbl.test:127.0.0.2-127.0.0.11", "");
    struct verdict v = dnsbl_check(f, "127.0.0.20", NULL);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_DNSBL);
    assert_string_equal(reply_table[v.reply].code, "554");
    assert_string_equal(reply_table[v.reply].xcode, "5.7.1");
    assert_string_equal(v.text, "Client [127.0.0.20] listed on dnsbl.test: listed for testing");
    assert_string_equal(v.check, "dnsbl");
    assert_non_null(strstr(v.detail, "dnsbl:dnsbl.test=listed(127.0.0.2)"));
    assert_true(verdict_reply_consistent(&v));

    /* RFC 5782 5: the test entry. */
    v = dnsbl_check(f, "127.0.0.2", NULL);
    assert_int_equal(v.action, VERDICT_REJECT);
    /* Listed without a TXT record: the answer is the reason. */
    v = dnsbl_check(f, "127.0.0.22", NULL);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_string_equal(v.text, "Client [127.0.0.22] listed on dnsbl.test: answer 127.0.0.4");
    /* An error answer beside a listing code: the listing counts. */
    v = dnsbl_check(f, "127.0.0.24", NULL);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_non_null(strstr(v.detail, "listed(127.0.0.3)"));
    /* Not listed: NXDOMAIN. */
    v = dnsbl_check(f, "127.0.0.29", NULL);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_non_null(strstr(v.detail, "dnsbl:dnsbl.test=none"));
}

static void dnsbl_answer_outside_the_configured_codes_is_ignored(void **state)
{
    struct fixture *f = *state;

    /* Spamhaus's 127.255.255.254 "public resolver" answer. */
    set_zones(f, "dnsbl.test:127.0.0.2-127.0.0.11", "");
    struct verdict v = dnsbl_check(f, "127.0.0.21", NULL);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_int_equal(v.reply, REPLY_NONE);
    assert_non_null(strstr(v.detail, "ignored answer 127.255.255.254"));

    /* A listing code the admin did not configure is not a listing either. */
    set_zones(f, "dnsbl.test:127.0.0.2", "");
    v = dnsbl_check(f, "127.0.0.22", NULL);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_non_null(strstr(v.detail, "ignored answer 127.0.0.4"));
    /* Codes may be given as a network, and a zone may be repeated to add codes. */
    set_zones(f, "dnsbl.test:127.0.0.2 dnsbl.test:127.0.0.4/31", "");
    v = dnsbl_check(f, "127.0.0.22", NULL);
    assert_int_equal(v.action, VERDICT_REJECT);
}

static void dnsbl_lists_ipv6_clients_by_reversed_nibbles(void **state)
{
    struct fixture *f = *state;

    set_zones(f, "dnsbl.test:127.0.0.2", "");
    struct verdict v = dnsbl_check(f, "2001:db8::20", NULL);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_string_equal(v.text, "Client [2001:db8::20] listed on dnsbl.test: IPv6 listed for "
                                "testing");
    v = dnsbl_check(f, "2001:db8::21", NULL);
    assert_int_equal(v.action, VERDICT_CONTINUE);
}

static void dnsbl_txt_is_bounded_and_escaped(void **state)
{
    struct fixture *f = *state;

    set_zones(f, "dnsbl.test:127.0.0.2", "");
    struct verdict v = dnsbl_check(f, "127.0.0.23", NULL);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_null(strchr(v.text, '\r'));
    assert_null(strchr(v.text, '\n'));
    assert_null(strchr(v.text, '"'));
    assert_non_null(strstr(v.text, "bad\\x0d\\x0areply \\x22quoted\\x22 100%s "));
    /* The 300-byte TXT is cut at LISTS_REASON_MAX: its end never shows. */
    assert_null(strstr(v.text, "END"));
    assert_true(strlen(v.text) < VERDICT_TEXT_MAX);
    for (const char *p = v.detail; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
}

static void dnswl_listing_skips_dnsbl_and_greylisting(void **state)
{
    struct fixture *f = *state;
    bool allowlisted = false, skip = false;
    char authres[256];

    set_zones(f, "dnsbl.test:127.0.0.2", "wl.dnsbl.test:127.0.10.0/24");
    /* 127.0.0.25 is on both. */
    struct dnsbl *d = dnsbl_start(test_dns(f), f->cfg, "127.0.0.25");
    struct verdict v = decide(f, "127.0.0.25", "a@b.test", "u@example.test", d, &skip);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_int_equal(v.reply, REPLY_NONE);
    assert_true(skip);
    assert_non_null(strstr(v.detail, "dnswl:wl.dnsbl.test=listed(127.0.10.1)"));
    dnsbl_authres(d, authres, sizeof authres);
    assert_string_equal(authres, "dnswl=pass dns.zone=wl.dnsbl.test policy.ip=127.0.10.1");
    dnsbl_free(d);

    /* Only on the allow list. */
    dnsbl_check(f, "127.0.0.26", &allowlisted);
    assert_true(allowlisted);
    /* On the block list only: the DNSBL decides. */
    d = dnsbl_start(test_dns(f), f->cfg, "127.0.0.20");
    v = decide(f, "127.0.0.20", "a@b.test", "u@example.test", d, &skip);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_DNSBL);
    assert_false(skip);
    dnsbl_authres(d, authres, sizeof authres);
    assert_string_equal(authres, "");
    dnsbl_free(d);
}

static void recipient_accept_rule_passes_a_dnsbl_listing(void **state)
{
    struct fixture *f = *state;
    bool skip = false;

    set_zones(f, "dnsbl.test:127.0.0.2", "");
    add_rule(f, "u@example.test", "@b.test", "accept");
    struct dnsbl *d = dnsbl_start(test_dns(f), f->cfg, "127.0.0.20");
    struct verdict v = decide(f, "127.0.0.20", "a@b.test", "u@example.test", d, &skip);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_true(skip);
    v = decide(f, "127.0.0.20", "a@b.test", "other@example.test", d, &skip);
    assert_int_equal(v.action, VERDICT_REJECT);
    assert_int_equal(v.reply, REPLY_DNSBL);
    dnsbl_free(d);
}

static void dnsbl_timeout_never_rejects(void **state)
{
    struct fixture *f = *state;
    bool skip = true;
    char authres[256];
    struct timespec start;

    set_zones(f, "dnsbl.test:127.0.0.2", "wl.dnsbl.test:127.0.10.1");
    /* Nothing listens on port 1: every query fails (refused or timed out). */
    struct dnsbl *d = dnsbl_start(batch_for(f, "127.0.0.1:1", 300), f->cfg, "127.0.0.20");
    assert_non_null(d);
    clock_gettime(CLOCK_MONOTONIC, &start);
    struct verdict v = decide(f, "127.0.0.20", "a@b.test", "u@example.test", d, &skip);
    assert_true(seconds_since(&start) < 2.0);
    assert_int_equal(v.action, VERDICT_CONTINUE);
    assert_int_equal(v.reply, REPLY_NONE);
    assert_false(skip);
    assert_non_null(strstr(v.detail, "dnsbl:dnsbl.test=temperror("));
    assert_non_null(strstr(v.detail, "dnswl:wl.dnsbl.test=temperror("));
    dnsbl_authres(d, authres, sizeof authres);
    assert_string_equal(authres, "dnswl=temperror dns.zone=wl.dnsbl.test");
    dnsbl_free(d);
}

static void dnsbl_queries_start_at_connect_and_run_in_parallel(void **state)
{
    struct fixture *f = *state;

    set_zones(f, "dnsbl.test:127.0.0.2 a.dnsbl.test:127.0.0.2 b.dnsbl.test:127.0.0.2",
              "wl.dnsbl.test:127.0.10.1");
    struct dns_batch *b = test_dns(f);
    struct dnsbl *d = dnsbl_start(b, f->cfg, "127.0.0.20");
    /* The four A queries are on the batch before anything waits: a PTR started after them gets
     * the next handle. */
    assert_int_equal(dns_batch_start_ptr(b, "127.0.0.20"), 4);
    struct verdict v = dnsbl_verdict(d);
    assert_int_equal(v.action, VERDICT_REJECT);
    dnsbl_free(d);
}

static void zone_options_need_codes_and_valid_syntax(void **state)
{
    struct fixture *f = *state;
    char err[512];
    const char *bad[] = {"zen.example",
                         "zen.example:",
                         "zen.example:127.0.0.11-127.0.0.2",
                         "zen.example:127.0.0.300",
                         "zen.example:2001:db8::1",
                         ":127.0.0.2",
                         "bad..zone:127.0.0.2",
                         ("a:1.1.1.1 b:1.1.1.1 c:1.1.1.1 d:1.1.1.1 e:1.1.1.1 f:1.1.1.1 g:1.1.1.1 "
                          "h:1.1.1.1 i:1.1.1.1")};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(config_set(f->cfg, "dnsbl_zones", bad[i], err, sizeof err));
        assert_non_null(strstr(err, "dnsbl_zones: "));
        assert_false(config_set(f->cfg, "dnswl_zones", bad[i], err, sizeof err));
        assert_non_null(strstr(err, "dnswl_zones: "));
    }
    assert_false(config_set(f->cfg, "dnsbl_zones", "zen.example", err, sizeof err));
    assert_non_null(strstr(err, "zen.example:127.0.0.2"));

    struct dnsbl_zone zones[DNSBL_ZONES_MAX];
    size_t count;
    assert_true(config_set(f->cfg, "dnsbl_zones",
                           "Zen.Example.:127.0.0.2-127.0.0.11, bl.example:127.0.0.2 "
                           "zen.example:127.0.1.0/24",
                           err, sizeof err));
    assert_true(dnsbl_zones_parse(f->cfg->dnsbl_zones.items, f->cfg->dnsbl_zones.count, zones,
                                  &count, err, sizeof err));
    assert_int_equal(count, 2);
    assert_string_equal(zones[0].name, "zen.example");
    assert_int_equal(zones[0].ncodes, 2);
    assert_int_equal(zones[0].codes[0].low, 0x7f000002u);
    assert_int_equal(zones[0].codes[0].high, 0x7f00000bu);
    assert_int_equal(zones[0].codes[1].low, 0x7f000100u);
    assert_int_equal(zones[0].codes[1].high, 0x7f0001ffu);
    assert_string_equal(zones[1].name, "bl.example");

    /* No zones, or a client that is not an address: nothing to start. */
    assert_true(config_set(f->cfg, "dnsbl_zones", "", err, sizeof err));
    assert_null(dnsbl_start(test_dns(f), f->cfg, "127.0.0.20"));
    assert_true(config_set(f->cfg, "dnsbl_zones", "dnsbl.test:127.0.0.2", err, sizeof err));
    assert_null(dnsbl_start(f->batch, f->cfg, "unknown"));
    assert_int_equal(dnsbl_verdict(NULL).action, VERDICT_CONTINUE);
    assert_false(dnsbl_allowlisted(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(longest_prefix_wins_allow_host_inside_blocked_network,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(longest_prefix_wins_block_host_inside_allowed_network,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            ipv6_prefixes_nest_and_ipv4_mapped_clients_match_ipv4_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(zero_length_prefix_covers_every_address_of_its_family,
                                        setup, teardown),
        cmocka_unit_test(prefix_tree_agrees_with_linear_scan_on_random_networks),
        cmocka_unit_test_setup_teardown(hundred_thousand_networks_load_and_match, setup, teardown),
        cmocka_unit_test_setup_teardown(ptr_domain_matches_label_aligned_suffixes_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(most_specific_domain_entry_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(helo_and_sender_domains_match_their_own_kind, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sender_address_matches_without_case_in_both_parts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(allow_beats_block_across_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_entries_are_ignored, setup, teardown),
        cmocka_unit_test(values_are_validated_and_normalized),
        cmocka_unit_test_setup_teardown(rows_written_around_ingressctl_are_normalized_or_skipped,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            snapshot_is_reloaded_after_a_change_at_most_once_per_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(snapshot_is_reloaded_when_an_entry_expires, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(cache_keeps_the_previous_snapshot_when_the_store_fails,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(snapshots_are_shared_safely_between_threads_during_reloads,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(recipient_rules_prefer_the_address_over_its_domain, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(rule_changes_reach_the_cache_after_the_interval, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            rule_rows_written_around_ingressctl_are_normalized_or_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(sender_blocks_say_the_sender_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(greylist_exempt_skips_greylisting_only, setup, teardown),
        cmocka_unit_test_setup_teardown(leading_dot_entry_matches_only_the_names_under_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(regex_entries_match_names_without_case, setup, teardown),
        cmocka_unit_test_setup_teardown(recipient_entries_exempt_mail_to_them, setup, teardown),
        cmocka_unit_test_setup_teardown(catastrophic_regex_is_cut_off_and_matches_nothing, setup,
                                        teardown),
        cmocka_unit_test(regex_that_does_not_compile_is_refused_with_the_reason),
        cmocka_unit_test_setup_teardown(
            block_entry_replies_with_its_public_text_never_its_internal_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(allow_entry_accepts_and_skips_greylisting, setup, teardown),
        cmocka_unit_test_setup_teardown(
            recipient_reject_rule_gives_rule_reject_even_for_allowed_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(
            recipient_accept_rule_does_not_pass_a_block_unless_configured, setup, teardown),
        cmocka_unit_test_setup_teardown(unreadable_rules_defer_unless_fail_open, setup, teardown),
        cmocka_unit_test_setup_teardown(dnsbl_listing_rejects_with_the_zone_and_its_txt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(dnsbl_answer_outside_the_configured_codes_is_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(dnsbl_lists_ipv6_clients_by_reversed_nibbles, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(dnsbl_txt_is_bounded_and_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(dnswl_listing_skips_dnsbl_and_greylisting, setup, teardown),
        cmocka_unit_test_setup_teardown(recipient_accept_rule_passes_a_dnsbl_listing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(dnsbl_timeout_never_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(dnsbl_queries_start_at_connect_and_run_in_parallel, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(zone_options_need_codes_and_valid_syntax, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
