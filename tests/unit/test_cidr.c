/*
 * test_cidr: lib/cidr.c, addresses and networks (RFC 4632, RFC 4291 2.3 and 2.5.5.2).
 *
 * Parsing with and without a prefix, IPv4-mapped IPv6 read as IPv4, prefix bounds, and matching
 * at byte-aligned and unaligned prefixes, across families.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"

static struct cidr parsed(const char *text)
{
    struct cidr net;
    if (!cidr_parse(text, &net))
        fail_msg("\"%s\" does not parse", text);
    return net;
}

static void assert_contains_ip(const char *net_text, const char *ip)
{
    struct cidr net = parsed(net_text);
    if (!cidr_contains(&net, ip))
        fail_msg("%s does not contain %s", net_text, ip);
}

static void assert_not_contains_ip(const char *net_text, const char *ip)
{
    struct cidr net = parsed(net_text);
    if (cidr_contains(&net, ip))
        fail_msg("%s contains %s", net_text, ip);
}

/* ---- parsing -------------------------------------------------------------------------------- */

static void parse_ipv4_address_is_a_slash_32(void **state)
{
    (void)state;
    static const uint8_t bytes[4] = {192, 0, 2, 1};
    struct cidr net = parsed("192.0.2.1");
    assert_int_equal(net.family, AF_INET);
    assert_int_equal(net.prefix, 32);
    assert_memory_equal(net.addr, bytes, 4);
}

static void parse_ipv4_network_keeps_its_prefix(void **state)
{
    (void)state;
    static const uint8_t bytes[4] = {198, 51, 100, 0};
    struct cidr net = parsed("198.51.100.0/24");
    assert_int_equal(net.family, AF_INET);
    assert_int_equal(net.prefix, 24);
    assert_memory_equal(net.addr, bytes, 4);
}

static void parse_ipv6_address_is_a_slash_128(void **state)
{
    (void)state;
    static const uint8_t bytes[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    struct cidr net = parsed("2001:db8::1");
    assert_int_equal(net.family, AF_INET6);
    assert_int_equal(net.prefix, 128);
    assert_memory_equal(net.addr, bytes, 16);
}

static void parse_ipv6_network_keeps_its_prefix(void **state)
{
    (void)state;
    struct cidr net = parsed("2001:db8:1:2::/64");
    assert_int_equal(net.family, AF_INET6);
    assert_int_equal(net.prefix, 64);
    assert_int_equal(net.addr[5], 1);
    assert_int_equal(net.addr[7], 2);
}

/* RFC 4291 2.5.5.2: ::ffff:a.b.c.d is the IPv4 address a.b.c.d. */
static void parse_ipv4_mapped_ipv6_as_ipv4(void **state)
{
    (void)state;
    static const uint8_t bytes[4] = {192, 0, 2, 1};
    static const uint8_t zero[12] = {0};
    struct cidr net = parsed("::ffff:192.0.2.1");
    assert_int_equal(net.family, AF_INET);
    assert_int_equal(net.prefix, 32);
    assert_memory_equal(net.addr, bytes, 4);
    assert_memory_equal(net.addr + 4, zero, 12);

    net = parsed("::ffff:c000:0201");
    assert_int_equal(net.family, AF_INET);
    assert_memory_equal(net.addr, bytes, 4);

    /* Not mapped: IPv4-compatible (deprecated) and NAT64 addresses stay IPv6. */
    assert_int_equal(parsed("::192.0.2.1").family, AF_INET6);
    assert_int_equal(parsed("64:ff9b::192.0.2.1").family, AF_INET6);
}

static void parse_accepts_prefixes_within_bounds(void **state)
{
    (void)state;
    assert_int_equal(parsed("0.0.0.0/0").prefix, 0);
    assert_int_equal(parsed("10.0.0.0/8").prefix, 8);
    assert_int_equal(parsed("192.0.2.1/32").prefix, 32);
    assert_int_equal(parsed("::/0").prefix, 0);
    assert_int_equal(parsed("2001:db8::1/128").prefix, 128);
    assert_int_equal(parsed("2001:db8::/127").prefix, 127);
    /* Host bits need not be zero. */
    assert_int_equal(parsed("192.0.2.77/24").prefix, 24);
}

static void parse_refuses_prefixes_out_of_bounds_or_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "192.0.2.0/33",   "192.0.2.0/128", /* an IPv6 length on an IPv4 address */
        "2001:db8::/129", "192.0.2.0/-1",
        "192.0.2.0/-0",   "192.0.2.0/+8",
        "192.0.2.0/ 8",   "192.0.2.0/8 ",
        "192.0.2.0/",     "192.0.2.0/8x",
        "192.0.2.0/8/8",  "192.0.2.0/99999999999999999999",
    };
    struct cidr net;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (cidr_parse(bad[i], &net))
            fail_msg("\"%s\" was accepted (prefix %u)", bad[i], net.prefix);
}

static void parse_refuses_what_is_not_an_address(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "/8",
        "nonsense",
        "localhost",
        "192.0.2",
        "192.0.2.256",
        "192.0.2.1.5",
        "01.2.3.4",
        " 192.0.2.1",
        "192.0.2.1 ",
        "2001:db8::1::2",
        "2001:db8::g",
        "fe80::1%eth0",
        "[::1]",
        "0000000000000000000000000000000000000000000000000000000000000000000192.0.2.1",
    };
    struct cidr net;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (cidr_parse(bad[i], &net))
            fail_msg("\"%s\" was accepted", bad[i]);
}

static void is_address_accepts_addresses_only(void **state)
{
    (void)state;
    assert_true(cidr_is_address("192.0.2.1"));
    assert_true(cidr_is_address("2001:db8::1"));
    assert_true(cidr_is_address("::1"));
    assert_true(cidr_is_address("::ffff:192.0.2.1"));
    assert_false(cidr_is_address("192.0.2.0/24"));
    assert_false(cidr_is_address("localhost"));
    assert_false(cidr_is_address(""));
    assert_false(cidr_is_address("[::1]"));
}

/* ---- matching ------------------------------------------------------------------------------- */

static void slash_0_contains_every_address_of_its_family(void **state)
{
    (void)state;
    assert_contains_ip("0.0.0.0/0", "0.0.0.0");
    assert_contains_ip("0.0.0.0/0", "255.255.255.255");
    assert_contains_ip("203.0.113.9/0", "192.0.2.1");
    assert_contains_ip("::/0", "2001:db8::1");
    assert_contains_ip("::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
}

static void ipv4_byte_aligned_prefixes_match(void **state)
{
    (void)state;
    assert_contains_ip("10.0.0.0/8", "10.255.255.255");
    assert_not_contains_ip("10.0.0.0/8", "11.0.0.0");
    assert_not_contains_ip("10.0.0.0/8", "9.255.255.255");
    assert_contains_ip("192.0.2.0/24", "192.0.2.0");
    assert_contains_ip("192.0.2.0/24", "192.0.2.255");
    assert_not_contains_ip("192.0.2.0/24", "192.0.3.0");
    assert_contains_ip("192.0.2.77/24", "192.0.2.1"); /* host bits ignored */
    assert_contains_ip("192.0.2.1/32", "192.0.2.1");
    assert_contains_ip("192.0.2.1", "192.0.2.1");
    assert_not_contains_ip("192.0.2.1/32", "192.0.2.2");
    assert_not_contains_ip("192.0.2.1", "192.0.2.0");
}

static void ipv4_unaligned_prefixes_match_bit_by_bit(void **state)
{
    (void)state;
    /* /23: 192.0.2.0 - 192.0.3.255 */
    assert_contains_ip("192.0.2.0/23", "192.0.2.0");
    assert_contains_ip("192.0.2.0/23", "192.0.3.255");
    assert_contains_ip("192.0.3.9/23", "192.0.2.1");
    assert_not_contains_ip("192.0.2.0/23", "192.0.4.0");
    assert_not_contains_ip("192.0.2.0/23", "192.0.1.255");
    /* /1: the lower half */
    assert_contains_ip("0.0.0.0/1", "127.255.255.255");
    assert_not_contains_ip("0.0.0.0/1", "128.0.0.0");
    /* /31: two addresses */
    assert_contains_ip("192.0.2.6/31", "192.0.2.7");
    assert_not_contains_ip("192.0.2.6/31", "192.0.2.8");
    assert_not_contains_ip("192.0.2.6/31", "192.0.2.5");
    /* /12: 172.16.0.0 - 172.31.255.255 */
    assert_contains_ip("172.16.0.0/12", "172.31.255.255");
    assert_not_contains_ip("172.16.0.0/12", "172.32.0.0");
    assert_not_contains_ip("172.16.0.0/12", "172.15.255.255");
}

static void ipv6_prefixes_match_bit_by_bit(void **state)
{
    (void)state;
    assert_contains_ip("2001:db8:1:2::/64", "2001:db8:1:2:ffff:ffff:ffff:ffff");
    assert_not_contains_ip("2001:db8:1:2::/64", "2001:db8:1:3::");
    assert_contains_ip("2001:db8::/32", "2001:db8:ffff::1");
    assert_not_contains_ip("2001:db8::/32", "2001:db9::");
    assert_contains_ip("::1/128", "::1");
    assert_contains_ip("::1", "0:0:0:0:0:0:0:1");
    assert_not_contains_ip("::1/128", "::2");
    /* /127: two addresses */
    assert_contains_ip("2001:db8::/127", "2001:db8::1");
    assert_not_contains_ip("2001:db8::/127", "2001:db8::2");
    /* /65 splits a byte in the interface id */
    assert_contains_ip("2001:db8::/65", "2001:db8::7fff:ffff:ffff:ffff");
    assert_not_contains_ip("2001:db8::/65", "2001:db8::8000:0:0:0");
    /* /126 splits the last byte */
    assert_contains_ip("2001:db8::4/126", "2001:db8::7");
    assert_not_contains_ip("2001:db8::4/126", "2001:db8::8");
}

/* An MTA that reports ::ffff:a.b.c.d is matched against IPv4 networks. */
static void ipv4_mapped_addresses_match_ipv4_networks(void **state)
{
    (void)state;
    assert_contains_ip("192.0.2.0/24", "::ffff:192.0.2.7");
    assert_contains_ip("127.0.0.0/8", "::ffff:127.0.0.1");
    assert_not_contains_ip("192.0.2.0/24", "::ffff:192.0.3.7");
}

static void families_never_match_each_other(void **state)
{
    (void)state;
    assert_not_contains_ip("0.0.0.0/0", "2001:db8::1");
    assert_not_contains_ip("0.0.0.0/0", "::");
    assert_not_contains_ip("::/0", "192.0.2.1");
    assert_not_contains_ip("::/0", "::ffff:192.0.2.1"); /* mapped is IPv4 */
    assert_not_contains_ip("::/96", "192.0.2.1");
    assert_not_contains_ip("127.0.0.1/32", "::1");
    assert_not_contains_ip("::1/128", "127.0.0.1");
}

static void contains_refuses_what_is_not_an_address(void **state)
{
    (void)state;
    struct cidr net = parsed("0.0.0.0/0");
    assert_false(cidr_contains(&net, NULL));
    assert_false(cidr_contains(&net, ""));
    assert_false(cidr_contains(&net, "unknown"));
    assert_false(cidr_contains(&net, "192.0.2.1/32"));
    assert_false(cidr_contains(&net, "[192.0.2.1]"));
}

static void contains_addr_ignores_the_addresss_prefix(void **state)
{
    (void)state;
    struct cidr net = parsed("192.0.2.0/24");
    struct cidr addr = parsed("192.0.2.9/8");
    assert_true(cidr_contains_addr(&net, &addr));
    addr = parsed("192.0.3.9/8");
    assert_false(cidr_contains_addr(&net, &addr));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_ipv4_address_is_a_slash_32),
        cmocka_unit_test(parse_ipv4_network_keeps_its_prefix),
        cmocka_unit_test(parse_ipv6_address_is_a_slash_128),
        cmocka_unit_test(parse_ipv6_network_keeps_its_prefix),
        cmocka_unit_test(parse_ipv4_mapped_ipv6_as_ipv4),
        cmocka_unit_test(parse_accepts_prefixes_within_bounds),
        cmocka_unit_test(parse_refuses_prefixes_out_of_bounds_or_malformed),
        cmocka_unit_test(parse_refuses_what_is_not_an_address),
        cmocka_unit_test(is_address_accepts_addresses_only),
        cmocka_unit_test(slash_0_contains_every_address_of_its_family),
        cmocka_unit_test(ipv4_byte_aligned_prefixes_match),
        cmocka_unit_test(ipv4_unaligned_prefixes_match_bit_by_bit),
        cmocka_unit_test(ipv6_prefixes_match_bit_by_bit),
        cmocka_unit_test(ipv4_mapped_addresses_match_ipv4_networks),
        cmocka_unit_test(families_never_match_each_other),
        cmocka_unit_test(contains_refuses_what_is_not_an_address),
        cmocka_unit_test(contains_addr_ignores_the_addresss_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
