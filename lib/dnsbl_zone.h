/*
 * dnsbl_zone: the syntax of dnsbl_zones and dnswl_zones, "zone:codes" words (RFC 5782 2.1: the
 * codes are the A answers that mean "listed").  Below the config: it takes the option's words.
 */
#ifndef INGRESS_DNSBL_ZONE_H
#define INGRESS_DNSBL_ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns.h"

#define DNSBL_ZONES_MAX 8 /* per option */
#define DNSBL_CODES_MAX 8 /* answer code ranges per zone */

struct dnsbl_zone {
    char name[DNS_NAME_MAX + 1]; /* lower case, no final dot */
    size_t ncodes;
    struct {
        uint32_t low, high; /* host byte order, inclusive */
    } codes[DNSBL_CODES_MAX];
};

/*
 * Parses a dnsbl_zones / dnswl_zones value: words "zone:codes", codes being one address
 * (127.0.0.2), a range (127.0.0.2-127.0.0.11) or a network (127.0.0.0/24); a zone given twice
 * accepts the codes of both.  Codes are required: guessing them is how answers like
 * 127.255.255.254 (Spamhaus refusing a query that came through a public resolver) get read as
 * listings.  zones has room for DNSBL_ZONES_MAX.
 */
bool dnsbl_zones_parse(char *const *words, size_t nwords, struct dnsbl_zone *zones, size_t *count,
                       char *err, size_t errlen);
/* The same, keeping nothing: the option table's check of dnsbl_zones and dnswl_zones. */
bool dnsbl_zones_valid(char *const *words, size_t nwords, char *why, size_t whylen);

#endif
