/*
 * cidr: IPv4 and IPv6 addresses and networks ("192.0.2.0/24", "2001:db8::/32", "::1"), parsed
 * with inet_pton and compared bit by bit.  IPv4-mapped IPv6 addresses (::ffff:192.0.2.1) are
 * treated as the IPv4 address they carry, so an MTA that reports them matches IPv4 networks.
 */
#ifndef INGRESS_CIDR_H
#define INGRESS_CIDR_H

#include <stdbool.h>
#include <stdint.h>

struct cidr {
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16]; /* network byte order; 4 bytes used for AF_INET */
    unsigned prefix;  /* 0..32 or 0..128 */
};

/* Parses an address (full-length prefix) or "address/prefix"; host bits need not be zero. */
bool cidr_parse(const char *text, struct cidr *out);
/* True when text is an IPv4 or IPv6 address (no prefix). */
bool cidr_is_address(const char *text);
/* True when the address ip (text) lies in net. */
bool cidr_contains(const struct cidr *net, const char *ip);
/* Same, for an already parsed address (prefix ignored). */
bool cidr_contains_addr(const struct cidr *net, const struct cidr *addr);

#endif
