/*
 * addr: email addresses out of untrusted text (RFC 5321 4.1.2 paths, RFC 5322 3.4 address lists),
 * for the submission policy (ARCHITECTURE.md "Submission").
 *
 * Both parsers are bounded and total: any bytes give either addresses or an error value with a
 * reason, never a crash (tests/fuzz/fuzz_addr.c).  An address comes out as its local part (a
 * quoted local part without its quotes and backslashes, so "john"@x and john@x are one address)
 * and its domain in ASCII lower case.  UTF-8 (RFC 6531, SMTPUTF8) is allowed where RFC 6531 and
 * RFC 6532 allow it, and must be well formed.
 *
 * Over-long parts are errors (ADDR_TOO_LONG), not truncations: RFC 5321 4.5.3.1 bounds a local
 * part to 64 octets and a domain to 255, and an address that cannot be delivered cannot be owned.
 * No allocation happens for a path; a list allocates its items (addr_list_free).
 */
#ifndef INGRESS_ADDR_H
#define INGRESS_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#define ADDR_LOCAL_MAX 64    /* RFC 5321 4.5.3.1.1 */
#define ADDR_DOMAIN_MAX 255  /* RFC 5321 4.5.3.1.2 */
#define ADDR_LIST_MAX 100    /* addresses in one header */
#define ADDR_INPUT_MAX 32768 /* bytes of one header value or path */
#define ADDR_TEXT_MAX (ADDR_LOCAL_MAX + 1 + ADDR_DOMAIN_MAX + 1) /* addr_format's buffer */

enum addr_status {
    ADDR_OK = 0,
    ADDR_EMPTY,    /* nothing but white space, comments and commas */
    ADDR_SYNTAX,   /* not an address (the reason says where) */
    ADDR_TOO_LONG, /* a part over RFC 5321 4.5.3.1's bounds, or input over ADDR_INPUT_MAX */
    ADDR_TOO_MANY, /* more than ADDR_LIST_MAX addresses */
};

struct addr {
    char local[ADDR_LOCAL_MAX + 1];   /* unquoted; "" only for the null path */
    char domain[ADDR_DOMAIN_MAX + 1]; /* ASCII lower case; "[192.0.2.1]" for a literal */
};

/* Owned by the caller's struct; addr_list_free() releases items (count, items reset). */
struct addr_list {
    size_t count;
    struct addr *items;
};

/*
 * Parses the argument of MAIL FROM or RCPT TO (RFC 5321 4.1.2): "<local@domain>", the null path
 * "<>" (*null_path set, out empty), a source route "<@a,@b:u@d>" (dropped, RFC 5321 4.1.2 and
 * C), or a bare "local@domain" (tolerated: some MTAs pass it without brackets).  No white space,
 * no comments.  text need not be NUL-terminated; a NUL byte within len is a syntax error.
 * why (size whylen, may be NULL) gets the reason of an error.
 */
enum addr_status addr_parse_path(const char *text, size_t len, struct addr *out, bool *null_path,
                                 char *why, size_t whylen);

/*
 * Parses an address list as in the From, Sender, To or Cc header (RFC 5322 3.4, with the
 * obsolete forms of 4.4 that cost nothing: empty list elements, routes, phrases with dots, CFWS
 * between words).  Display names (encoded words included, RFC 2047, left as they are) and
 * comments are dropped; a group gives its members ("undisclosed:;" gives none: ADDR_OK with
 * count 0).  CR LF (or LF) is allowed only as folding, followed by a space or tab.  On any
 * error out is empty.  out need not be initialized; release it with addr_list_free().
 */
enum addr_status addr_parse_list(const char *text, size_t len, struct addr_list *out, char *why,
                                 size_t whylen);

void addr_list_free(struct addr_list *list);

/*
 * The RFC 5322.From domain (RFC 7489 3.1's author domain) that DKIM alignment and the greylist
 * bypass act on, from a From header's value read by addr_parse_list() like every other use of
 * that header, so no check sees another domain than the others.  ADDR_OK with the domain ("[...]"
 * for an address literal) only when the header holds exactly one mailbox; ADDR_EMPTY for none (an
 * empty group), ADDR_TOO_MANY for several (RFC 5322 3.6.2 allows them; no one domain is the
 * author's), the parser's error otherwise.  domain is "" unless ADDR_OK; why as above.
 */
enum addr_status addr_from_domain(const char *text, size_t len, char *domain, size_t domainlen,
                                  char *why, size_t whylen);

/* "local@domain" (unescaped: escape before logging), "" for the null path; returns buf. */
const char *addr_format(const struct addr *a, char *buf, size_t buflen);

/* "ok", "empty", "syntax", "too_long", "too_many". */
const char *addr_status_name(enum addr_status status);

#endif
