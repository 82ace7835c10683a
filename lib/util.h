/*
 * util: the allocation wrappers and the small string helpers every module uses.
 *
 * Allocation failure is the one error that is not a value: the wrappers log one
 * line and abort, and the MTA's milter_default_action takes over.  Input bounds elsewhere keep
 * hostile input from ever getting here.
 */
#ifndef INGRESS_UTIL_H
#define INGRESS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Copies; xstrdup(NULL) returns NULL. */
char *xstrdup(const char *s);
/* Copies at most max bytes of s and NUL-terminates. */
char *xstrndup(const char *s, size_t max);

/*
 * Copies src into dst (size dstlen > 0), always NUL-terminated; returns false when src did not fit
 * (dst then holds the truncated prefix).
 */
bool str_copy(char *dst, size_t dstlen, const char *src);

/*
 * snprintf into dst, doing nothing when dst is NULL or dstlen is 0: the error-message setter of
 * every function that takes an optional "char *err, size_t errlen".
 */
void str_printf(char *dst, size_t dstlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ASCII-only case-insensitive comparisons: mail names are ASCII, locales are not our business. */
int str_casecmp(const char *a, const char *b);
bool str_casesuffix(const char *s, const char *suffix);

/* An ASCII letter or digit, whatever the locale: the characters of MTA queue ids. */
bool ascii_alnum(char ch);

/* 64-bit FNV-1a of len bytes: stable (greylist keys store it) and fast; not keyed, so only for
 * tables whose worst case is bounded otherwise. */
uint64_t hash_fnv1a(const void *data, size_t len);

/*
 * Escapes untrusted bytes for a log line, a header comment or a reply: printable
 * ASCII is kept except backslash and double quote, everything else becomes \xHH.  The result is
 * written to dst (size dstlen > 0), truncated with "..." when it does not fit; dst is returned.
 * NULL in gives "(null)".
 */
const char *str_escape(char *dst, size_t dstlen, const char *src);

/*
 * Like str_escape, and the space too (\x20): for a value that stands in a log line or a detail
 * without quotes (ip=, helo=, from=<...>), so that untrusted text cannot end the value early and
 * look like a key=value pair of its own (a sender <"a spf=pass"@x> is logged
 * from=<\x22a\x20spf=pass\x22@x>).  Quoted values cannot hold a '"', hence cannot end early
 * either: reply="..." uses str_escape, detail="..." str_escape_quoted.
 */
const char *str_escape_word(char *dst, size_t dstlen, const char *src);

/*
 * For a detail="..." value: '"' and bytes that are not printable ASCII become \xHH, backslash is
 * kept.  A detail is built from parts escaped already (value=a\x20b) beside text that is not (a
 * block entry's reason="spam run", a DKIM result's reason): escaping backslash again would double
 * the first, and leaving '"' would let the second end the value early.
 */
const char *str_escape_quoted(char *dst, size_t dstlen, const char *src);

/* A time as a log line shows it, a word in UTC: "2026-03-01T12:00:00Z" (ISO 8601), never an
 * epoch; "?" when it cannot be shown.  Written to out (size outlen > 0); out is returned. */
const char *time_format_utc(char *out, size_t outlen, int64_t t);

/* Like str_escape, but keeps backslash and double quote: for text shown to people, where the
 * stored text may already carry escapes (ingressctl's output). */
const char *str_printable(char *dst, size_t dstlen, const char *src);

/* Trims ASCII spaces and tabs at both ends, in place; returns s. */
char *str_trim(char *s);

/* Length of the well-formed UTF-8 sequence at p, which ends before end (RFC 3629 4: no overlong
 * form, no surrogate, nothing above U+10FFFF), 0 when it is not one. */
size_t str_utf8_length(const unsigned char *p, const unsigned char *end);

/*
 * Replaces, in place, each byte that does not begin a well-formed UTF-8 sequence (str_utf8_length)
 * by '?', so that a text from the network can go into a database that takes only UTF-8 (a
 * PostgreSQL database refuses the whole statement otherwise).  '?' rather than U+FFFD: the text
 * keeps its length (the bounds of the fields hold, and it is done in place), and it reads the same
 * in a log, a terminal and the JSON; the row shows that a byte was there.  Returns how many bytes
 * were replaced.
 */
size_t str_utf8_sanitize(char *text);

#endif
