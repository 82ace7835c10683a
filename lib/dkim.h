/*
 * dkim: DKIM signature verification (RFC 6376) with libopendkim, its key lookups made on our
 * resolver (lib/dns.h), one result per signature for Authentication-Results (RFC 8601 2.7.1,
 * header.b from RFC 6008) and for greylisting's SPF+DKIM bypass (ARCHITECTURE.md "Greylisting").
 *
 * - A struct dkim_verifier holds the one DKIM_LIB of the process, wired to a struct dns_resolver
 *   through dkim_dns_set_query_* (nothing calls the system resolver).  It is shared by all
 *   threads and never changes after dkim_verifier_new(); each message gets its own handle.
 * - A struct dkim_check is one message, used by one thread at a time: header fields, end of
 *   header, body chunks, end of message, then the results.  Key lookups happen at end of header
 *   (dkim_check_eoh): the keys of all evaluated signatures are fetched together on one batch
 *   (libopendkim's prescreen hook), so the DNS wait of a message is one round, at most
 *   dns_timeout x dns_tries, whatever its number of signatures; libopendkim's own lookups then
 *   find those queries on that batch (the check's own, freed with it), so a key is asked once a
 *   message, even when its answer cannot be cached.  A signature whose key lookup could not tell
 *   is not handed to libopendkim again (temperror with the resolver's reason: "timeout",
 *   "SERVFAIL", ...).
 *
 * Results per signature (RFC 8601 2.7.1):
 *   pass      signature and body hash verified, algorithm and key acceptable
 *   fail      signature or body hash did not verify (header or body changed), or an RSA key
 *             shorter than dkim_min_key_bits (RFC 8301 3.2)
 *   policy    verified, but rsa-sha1, which RFC 8301 3.1 forbids to consider valid
 *   neutral   the signature itself is malformed (syntax, missing or bad tags, version, expired,
 *             unsupported algorithm or canonicalization): "could not be processed"
 *   temperror the key lookup could not tell (timeout, SERVFAIL, server unreachable)
 *   permerror the key is absent (NXDOMAIN, no TXT), revoked (empty p=), or unusable (not base64,
 *             not a key record, wrong key type or hash)
 * A message without a DKIM-Signature field has no signatures: dkim=none.
 *
 * Ed25519 (RFC 8463, ed25519-sha256): verified when the installed libopendkim has the feature
 * (Debian 12's 2.11.0~beta2 has it; dkim_verifier_has_ed25519() says so at run time).
 */
#ifndef INGRESS_DKIM_H
#define INGRESS_DKIM_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "dns.h"
#include "dkim_keycache.h"
#include "orgdomain.h"

/* Bounds on untrusted input. */
#define DKIM_HEADER_FIELD_MAX (128 * 1024)  /* a longer field is not fed (Postfix keeps 100 KiB) */
#define DKIM_HEADER_TOTAL_MAX (1024 * 1024) /* header fields past this total are not fed */
#define DKIM_HEADER_COUNT_MAX 1000          /* header fields past this count are not fed */

enum dkim_result {
    DKIM_NONE, /* only for dkim_check_result() of a message without signatures */
    DKIM_PASS,
    DKIM_FAIL,
    DKIM_POLICY,
    DKIM_NEUTRAL,
    DKIM_TEMPERROR,
    DKIM_PERMERROR,
};

/* One evaluated signature.  Strings are escaped (str_escape) copies: safe for logs. */
struct dkim_signature {
    enum dkim_result result;
    char domain[DNS_NAME_MAX + 1];   /* d=, lower case; "" when missing */
    char selector[DNS_NAME_MAX + 1]; /* s= */
    char b8[9];                      /* the first 8 characters of b= (RFC 6008), or "" */
    char algorithm[32];              /* a=, e.g. "rsa-sha256", "ed25519-sha256" */
    unsigned key_bits;               /* 0 when no key was loaded */
    char reason[128];                /* why, for non-pass results; "" for pass */
};

struct dkim_verifier;
struct dkim_check;

/*
 * Creates the verifier: dkim_init, our DNS hooks on r (borrowed: it must outlive the verifier),
 * options from cfg (dkim_min_key_bits, dkim_max_signatures, dns_timeout x dns_tries as
 * libopendkim's query timeout; copied).  NULL with a message in err when libopendkim fails.
 */
struct dkim_verifier *dkim_verifier_new(struct dns_resolver *r, const struct config *cfg, char *err,
                                        size_t errlen);
/* dkim_close; NULL is a no-op.  No check may be alive. */
void dkim_verifier_free(struct dkim_verifier *v);
/* The verifier's decoded-key cache (dkim_keycache.h): hits, misses, keys held. */
void dkim_verifier_key_stats(const struct dkim_verifier *v, struct dkim_keycache_stats *out);
/* True when libopendkim verifies ed25519-sha256 (RFC 8463). */
bool dkim_verifier_has_ed25519(const struct dkim_verifier *v);

/* Starts one message.  queue_id (copied; NULL or "" is fine) names the handle in libopendkim's
 * errors.  v is borrowed and must outlive the check.  Never NULL (allocation failure aborts). */
struct dkim_check *dkim_check_new(struct dkim_verifier *v, const char *queue_id);
void dkim_check_free(struct dkim_check *c); /* NULL is a no-op */

/*
 * Feeds one header field as libmilter hands it: name and value apart, the value without the one
 * space after the colon (Postfix's and Sendmail's default, without SMFIP_HDR_LEADSPC) and with
 * its folds as "\n" or "\r\n".  The field is rebuilt as "Name: value" with CRLF folds, exactly
 * as it was on the wire in the usual case (a field written "Name:value" without the space would
 * differ: with simple header canonicalization its signature then fails).  Fields past the
 * bounds above are not fed.  Copied; call before dkim_check_eoh.
 */
void dkim_check_header(struct dkim_check *c, const char *name, const char *value);
/* The same for a whole field as it was on the wire ("Name:value", folds kept), for an MTA
 * glue that negotiated SMFIP_HDR_LEADSPC. */
void dkim_check_header_field(struct dkim_check *c, const char *field, size_t len);

/* True once a DKIM-Signature field was fed: when false the body feed can be skipped. */
bool dkim_check_has_signatures(const struct dkim_check *c);

/* End of header: the signatures are parsed and their keys looked up (the DNS wait is here). */
void dkim_check_eoh(struct dkim_check *c);

/*
 * After dkim_check_eoh: true when the body hashes are computed here (lib/dkim_bodyhash.c: every
 * signature has a relaxed body and no l=) and libopendkim is given no body; false when
 * libopendkim hashes the body itself.
 */
bool dkim_check_body_hashed_here(const struct dkim_check *c);
/* Body bytes as the MTA sends them (CRLF line ends), hashed as they are.  Copied. */
void dkim_check_body(struct dkim_check *c, const unsigned char *data, size_t len);
/* End of message: verifies and fills the results.  Later calls do nothing. */
void dkim_check_eom(struct dkim_check *c);

/* Results, valid after dkim_check_eom.  At most dkim_max_signatures are evaluated, from the top
 * of the header; dkim_check_ignored() counts the others, which are not listed. */
size_t dkim_check_count(const struct dkim_check *c);
/* The i-th signature (top of the header first); NULL when i is out of range.  Lives as long as
 * c. */
const struct dkim_signature *dkim_check_signature(const struct dkim_check *c, size_t i);
size_t dkim_check_ignored(const struct dkim_check *c);

/* The best result over all signatures, for a log line: pass > policy > fail > neutral >
 * permerror > temperror; DKIM_NONE without signatures. */
enum dkim_result dkim_check_result(const struct dkim_check *c);

/* True when a signature passed and its d= aligns with domain (relaxed: the same organizational
 * domain, lib/orgdomain.h), e.g. the MAIL FROM or header From domain for the greylist bypass.
 * False for NULL or "", and when od is NULL. */
bool dkim_check_has_valid(const struct dkim_check *c, const struct orgdomain *od,
                          const char *domain);

/*
 * Writes the dkim part of Authentication-Results (RFC 8601 2.7.1, RFC 6008): one resinfo per
 * signature joined by "; ", e.g.
 *   dkim=pass header.d=example.org header.s=sel header.b=abcdEFGH; dkim=fail reason="..." ...
 * or "dkim=none" without signatures.  Values that are not tokens are quoted.  out is always
 * terminated; returns false when it did not fit (out then ends at the last whole resinfo).
 */
bool dkim_check_authres(const struct dkim_check *c, char *out, size_t outlen);

/* One line for the decision log: "dkim=pass d=example.org s=sel a=rsa-sha256 bits=2048, ...". */
void dkim_check_detail(const struct dkim_check *c, char *out, size_t outlen);

/* "none", "pass", "fail", "policy", "neutral", "temperror", "permerror". */
const char *dkim_result_name(enum dkim_result r);

#endif
