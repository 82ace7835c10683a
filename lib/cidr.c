/*
 * cidr: address and network parsing and matching (RFC 4632 for IPv4, RFC 4291 2.3 for IPv6).
 */
#include "cidr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool parse_address(const char *text, struct cidr *out)
{
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, text, out->addr) == 1) {
        out->family = AF_INET;
        out->prefix = 32;
        return true;
    }
    if (inet_pton(AF_INET6, text, out->addr) == 1) {
        if (memcmp(out->addr, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0) {
            memmove(out->addr, out->addr + 12, 4);
            memset(out->addr + 4, 0, 12);
            out->family = AF_INET;
            out->prefix = 32;
            return true;
        }
        out->family = AF_INET6;
        out->prefix = 128;
        return true;
    }
    return false;
}

bool cidr_is_address(const char *text)
{
    struct cidr tmp;
    return strlen(text) < 64 && parse_address(text, &tmp);
}

bool cidr_parse(const char *text, struct cidr *out)
{
    char host[64];
    const char *slash = strchr(text, '/');
    size_t len = slash ? (size_t)(slash - text) : strlen(text);
    if (len == 0 || len >= sizeof host)
        return false;
    memcpy(host, text, len);
    host[len] = '\0';
    if (!parse_address(host, out))
        return false;
    if (slash == NULL)
        return true;
    /* Digits only: strtol alone would take "/-0" or "/ 8", and "/-0" would trust everyone. */
    if (slash[1] < '0' || slash[1] > '9')
        return false;
    char *end;
    long prefix = strtol(slash + 1, &end, 10);
    if (*end != '\0' || (unsigned long)prefix > out->prefix)
        return false;
    out->prefix = (unsigned)prefix;
    return true;
}

bool cidr_contains_addr(const struct cidr *net, const struct cidr *addr)
{
    if (net->family != addr->family)
        return false;
    unsigned full = net->prefix / 8, rest = net->prefix % 8;
    if (memcmp(net->addr, addr->addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (net->addr[full] & mask) == (addr->addr[full] & mask);
}

bool cidr_contains(const struct cidr *net, const char *ip)
{
    struct cidr addr;
    return ip != NULL && strlen(ip) < 64 && parse_address(ip, &addr) &&
           cidr_contains_addr(net, &addr);
}
