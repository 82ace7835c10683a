/*
 * authres: the Authentication-Results header (RFC 8601) we add, and the recognition of forged
 * ones that claim our authserv-id (RFC 8601 5).
 */
#ifndef INGRESS_AUTHRES_H
#define INGRESS_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#include "iprev.h"

/* The header value, without the "Authentication-Results:" name; out is always terminated. */
void authres_build(const char *authserv_id, const struct iprev *iprev, char *out, size_t outlen);

/*
 * Appends one method's result ("dkim=pass header.d=...") to a value built by authres_build, as
 * "; part"; a value that said "none" loses it.  Nothing happens when part is empty.
 */
void authres_append(char *value, size_t valuelen, const char *part);

/* True when an incoming header value's authserv-id equals ours (case-insensitive, after CFWS). */
bool authres_claims_id(const char *value, const char *authserv_id);

#endif
