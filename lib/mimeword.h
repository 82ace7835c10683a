/*
 * mimeword: RFC 2047 encoded words of a header value decoded to UTF-8, for a person to read.
 */
#ifndef INGRESS_MIMEWORD_H
#define INGRESS_MIMEWORD_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Writes in into out (size outlen > 0, always terminated, cut at a character boundary of the
 * input when too long) with each encoded word of charset UTF-8, US-ASCII or ISO-8859-1 (B or Q)
 * decoded to UTF-8; other words and the rest as they are.  Returns out.  The result may hold
 * any byte a sender encoded: escape it before printing.
 */
const char *mimeword_decode(const char *in, char *out, size_t outlen);

#endif
