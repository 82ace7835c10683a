/*
 * orgdomain: the organizational domain of a DNS name (RFC 7489 3.2) from the Public Suffix List,
 * read with libpsl, and identifier alignment (RFC 7489 3.1.1 DKIM, 3.1.2 SPF: relaxed or strict).
 * Every check that asks "do these two domains belong to one owner" (the greylist bypass's DKIM
 * alignment today, DMARC later) asks this module, so they all answer alike.
 *
 * The organizational domain is the longest public suffix the name ends with, plus one label
 * (RFC 7489 3.2 step 4): www.example.co.uk -> example.co.uk, a.user.github.io -> user.github.io
 * (github.io is a private suffix of the list: its users' pages belong to different owners).  A
 * name whose last label is no TLD of the list falls under the list's implicit "*" rule, so the
 * reserved TLDs of RFC 2606/6761 (.test, .example, .invalid) give two labels: mx.a.test ->
 * a.test.  A name that is itself a public suffix (com, co.uk, github.io) has no registrable
 * domain; for alignment it is its own organizational domain, so it aligns only with itself.
 *
 * Names are DNS names in ASCII (LDH labels, IDN in A-label form "xn--..."), 1 to 253 characters
 * with an optional final dot, compared without case.  Anything else (an empty label, a leading
 * dot, a U-label, an address literal "[192.0.2.1]", a 254-character name) is not a domain name:
 * it has no organizational domain and aligns with nothing.
 *
 * A struct orgdomain is immutable once loaded and shared by all threads without locks; a reload
 * loads a new one aside (the runtime holds it, reference counted with the config it came from).
 */
#ifndef INGRESS_ORGDOMAIN_H
#define INGRESS_ORGDOMAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct orgdomain;

/*
 * Reads the list at path: Debian's /usr/share/publicsuffix/public_suffix_list.dat (package
 * publicsuffix), a fresher copy from publicsuffix.org, or libpsl's DAFSA form.  NULL with the
 * reason in err ("PATH: cannot open: ...", "PATH: not a Public Suffix List: ...") when the file
 * cannot be read or does not look like the list.  Free with orgdomain_free().
 */
struct orgdomain *orgdomain_load(const char *path, char *err, size_t errlen);
void orgdomain_free(struct orgdomain *od); /* NULL is a no-op */

/* The file's modification time (the list carries no date of its own) and its rule count. */
time_t orgdomain_file_time(const struct orgdomain *od);
size_t orgdomain_rule_count(const struct orgdomain *od);
/* One line for the log: "PATH: 9498 rules, dated 2023-02-09" (the date in UTC). */
void orgdomain_describe(const struct orgdomain *od, char *out, size_t outlen);

enum orgdomain_status {
    ORGDOMAIN_OK,      /* out holds the organizational domain */
    ORGDOMAIN_SUFFIX,  /* the name is a public suffix; out holds the name itself */
    ORGDOMAIN_INVALID, /* not a domain name (see above), or od is NULL; out is "" */
};

/* The organizational domain of name, lower case, without a final dot, into out (size outlen;
 * 254 bytes always suffice, a shorter out that is too short gives ORGDOMAIN_INVALID).  out is ""
 * unless the status says otherwise. */
enum orgdomain_status orgdomain_of(const struct orgdomain *od, const char *name, char *out,
                                   size_t outlen);

enum orgdomain_mode {
    ORGDOMAIN_RELAXED, /* equal organizational domains (RFC 7489 3.1.1, 3.1.2 "relaxed") */
    ORGDOMAIN_STRICT,  /* equal names (the "s" mode of adkim= and aspf=) */
};

/* True when a and b align in mode; false when either is not a domain name, or od is NULL. */
bool orgdomain_aligned(const struct orgdomain *od, const char *a, const char *b,
                       enum orgdomain_mode mode);

#endif
