/*
 * dnsbl: DNS block and allow lists (RFC 5782) for one connection: the A queries of every zone of
 * dnsbl_zones and dnswl_zones start at connect on the connection's DNS batch, in parallel with
 * the PTR query; the TXT records only for the zones that list the client, when the verdict is
 * needed.  Only the configured answer codes are listings (lib/dnsbl_zone.h); any other answer is
 * logged and ignored, and a lookup that could not tell never lists.  lists_verdict() (lists.h)
 * combines the result with the lists and rules.
 *
 * Threads: a struct dnsbl belongs to one connection, like its DNS batch.
 */
#ifndef INGRESS_DNSBL_H
#define INGRESS_DNSBL_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "dns.h"
#include "dnsbl_zone.h"
#include "verdict.h"

struct dnsbl;

/*
 * Starts the A queries of every DNSBL and DNSWL zone for ip on batch (borrowed: it must outlive
 * the returned object).  NULL when there is nothing to ask (no zones, ip not an address);
 * every dnsbl_* function accepts NULL.
 */
struct dnsbl *dnsbl_start(struct dns_batch *batch, const struct config *cfg, const char *ip);
void dnsbl_free(struct dnsbl *d);

/*
 * Joins the A queries, fetches the TXT record of the listing zones (in parallel, only for them),
 * and logs each listing, each answer that is not a configured code and each lookup that failed,
 * with log_id (the queue id, NULL: "NOQUEUE") first, then party: the decision lines' client, HELO,
 * login, sender and recipient fields ("ip=... helo=... from=<...> to=<...>", already escaped; NULL:
 * "ip=" alone).  Runs once; later calls return at once.
 */
void dnsbl_finish(struct dnsbl *d, const char *log_id, const char *party);
/* True when a DNSWL zone lists the client (joins first). */
bool dnsbl_allowlisted(struct dnsbl *d);
/*
 * REJECT dnsbl ("Client [ip] listed on ZONE: TXT") for the first DNSBL zone, in config order, that
 * lists the client; CONTINUE otherwise, with what was seen (failed lookups, ignored answers) in the
 * detail.  Does not look at DNSWL: lists_verdict() does.
 */
struct verdict dnsbl_verdict(struct dnsbl *d);
/*
 * The RFC 8904 Authentication-Results result of each DNSWL zone that listed the client or failed:
 * "dnswl=pass dns.zone=ZONE policy.ip=CODE" / "dnswl=temperror dns.zone=ZONE", joined with "; ".
 * "" when none.
 */
void dnsbl_authres(struct dnsbl *d, char *out, size_t outlen);

#endif
