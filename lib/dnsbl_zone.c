/*
 * dnsbl_zone: the syntax of the options dnsbl_zones and dnswl_zones ("zone:codes", RFC 5782),
 * shared by the option table's check (lib/config.c) and the queries (lib/dnsbl.c).  It knows
 * nothing of the config or the resolver: words in, zones out.
 */
#include "dnsbl_zone.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "cidr.h"
#include "util.h"

static bool parse_v4(const char *text, uint32_t *out)
{
    struct in_addr a;

    if (inet_pton(AF_INET, text, &a) != 1)
        return false;
    *out = ntohl(a.s_addr);
    return true;
}

/* "127.0.0.2", "127.0.0.2-127.0.0.11" or "127.0.0.0/24". */
static bool parse_codes(const char *text, uint32_t *low, uint32_t *high)
{
    char first[INET_ADDRSTRLEN];
    const char *dash = strchr(text, '-');
    struct cidr net;

    if (dash != NULL) {
        size_t len = (size_t)(dash - text);
        if (len >= sizeof first)
            return false;
        memcpy(first, text, len);
        first[len] = '\0';
        return parse_v4(first, low) && parse_v4(dash + 1, high) && *low <= *high;
    }
    if (strchr(text, '/') != NULL) {
        if (!cidr_parse(text, &net) || net.family != AF_INET)
            return false;
        uint32_t addr = (uint32_t)net.addr[0] << 24 | (uint32_t)net.addr[1] << 16 |
                        (uint32_t)net.addr[2] << 8 | net.addr[3];
        uint32_t hostmask = net.prefix == 0 ? UINT32_MAX : (UINT32_MAX >> net.prefix);
        *low = addr & ~hostmask;
        *high = *low | hostmask;
        return true;
    }
    if (!parse_v4(text, low))
        return false;
    *high = *low;
    return true;
}

/* The zone of "zone:codes" into name (lower case, no final dot). */
static bool parse_zone_name(const char *word, size_t len, char *name, size_t namelen)
{
    /* 64 bytes of reversed IPv6 nibbles go before the zone in a query of at most 255. */
    if (len > 1 && word[len - 1] == '.')
        len--;
    if (len == 0 || len >= namelen || len > DNS_NAME_MAX - 64)
        return false;
    for (size_t i = 0; i < len; i++)
        name[i] = (word[i] >= 'A' && word[i] <= 'Z') ? (char)(word[i] + 32) : word[i];
    name[len] = '\0';
    return dns_name_valid(name);
}

static struct dnsbl_zone *zone_find_or_add(struct dnsbl_zone *zones, size_t *count,
                                           const char *name)
{
    for (size_t i = 0; i < *count; i++)
        if (strcmp(zones[i].name, name) == 0)
            return &zones[i];
    if (*count == DNSBL_ZONES_MAX)
        return NULL;
    struct dnsbl_zone *z = &zones[(*count)++];
    memset(z, 0, sizeof *z);
    str_copy(z->name, sizeof z->name, name);
    return z;
}

bool dnsbl_zones_parse(char *const *words, size_t nwords, struct dnsbl_zone *zones, size_t *count,
                       char *err, size_t errlen)
{
    *count = 0;
    for (size_t i = 0; i < nwords; i++) {
        const char *word = words[i], *colon = strchr(word, ':');
        char name[DNS_NAME_MAX + 1];
        uint32_t low, high;
        struct dnsbl_zone *z;

        if (colon == NULL) {
            str_printf(err, errlen,
                       "\"%s\" needs its listing answer codes, e.g. %s:127.0.0.2 (other answers, "
                       "like 127.255.255.254, are errors of the list, not listings)",
                       word, word);
            return false;
        }
        if (!parse_zone_name(word, (size_t)(colon - word), name, sizeof name)) {
            str_printf(err, errlen, "\"%s\": bad zone name", word);
            return false;
        }
        if (!parse_codes(colon + 1, &low, &high)) {
            str_printf(err, errlen,
                       "\"%s\": expected answer codes as 127.0.0.2, 127.0.0.2-127.0.0.11 or "
                       "127.0.0.0/24 after the zone",
                       word);
            return false;
        }
        z = zone_find_or_add(zones, count, name);
        if (z == NULL) {
            str_printf(err, errlen, "more than %d zones", DNSBL_ZONES_MAX);
            return false;
        }
        if (z->ncodes == DNSBL_CODES_MAX) {
            str_printf(err, errlen, "%s: more than %d code ranges", name, DNSBL_CODES_MAX);
            return false;
        }
        z->codes[z->ncodes].low = low;
        z->codes[z->ncodes].high = high;
        z->ncodes++;
    }
    return true;
}

bool dnsbl_zones_valid(char *const *words, size_t nwords, char *why, size_t whylen)
{
    struct dnsbl_zone parsed[DNSBL_ZONES_MAX];
    size_t count;
    return dnsbl_zones_parse(words, nwords, parsed, &count, why, whylen);
}
