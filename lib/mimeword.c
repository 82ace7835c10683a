/*
 * mimeword: RFC 2047 encoded words in a header value ("=?UTF-8?B?Y2Fmw6k=?=") decoded to UTF-8
 * for a person to read (ingressctl held show).  B and Q encodings (RFC 2047 4.1, 4.2); the
 * charsets UTF-8, US-ASCII and ISO-8859-1 (Latin-1, which maps byte for byte to U+0000..U+00FF);
 * a word of another charset, or one that does not decode, is left as it was written.  Blanks
 * between two adjacent encoded words are dropped (RFC 2047 6.2).  The output is bounded and
 * always terminated; what is decoded is not checked here: the caller escapes it for its terminal.
 */
#include "mimeword.h"

#include <string.h>
#include <strings.h>

#define MIMEWORD_MAX 75 /* RFC 2047 2: an encoded word is at most 75 characters */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int base64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* RFC 2047 4.2: '_' is a space, =XX a byte. */
static bool decode_q(const char *text, size_t len, unsigned char *out, size_t *outlen)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        if (text[i] == '_') {
            out[o++] = ' ';
        } else if (text[i] == '=') {
            if (i + 2 >= len)
                return false;
            int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            out[o++] = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = (unsigned char)text[i];
        }
    }
    *outlen = o;
    return true;
}

/* RFC 2047 4.1 (RFC 4648 base64, padding optional at the end). */
static bool decode_b(const char *text, size_t len, unsigned char *out, size_t *outlen)
{
    unsigned bits = 0;
    int nbits = 0;
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        if (text[i] == '=')
            break;
        int v = base64_value(text[i]);
        if (v < 0)
            return false;
        bits = bits << 6 | (unsigned)v;
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            out[o++] = (unsigned char)(bits >> nbits);
        }
    }
    *outlen = o;
    return true;
}

/* Appends bytes (UTF-8 as they are, Latin-1 converted), bounded; false when out is full. */
static bool append(char *out, size_t outlen, size_t *o, const unsigned char *bytes, size_t n,
                   bool latin1)
{
    for (size_t i = 0; i < n; i++) {
        size_t need = latin1 && bytes[i] >= 0x80 ? 2 : 1;
        if (*o + need >= outlen)
            return false;
        if (need == 2) {
            out[(*o)++] = (char)(0xc0 | bytes[i] >> 6);
            out[(*o)++] = (char)(0x80 | (bytes[i] & 0x3f));
        } else {
            out[(*o)++] = (char)bytes[i];
        }
    }
    return true;
}

/*
 * Decodes the encoded word at p ("=?charset?X?text?="), whose length is *wordlen on success;
 * false when p is no encoded word this module decodes (then it is copied as text).
 */
static bool decode_word(const char *p, char *out, size_t outlen, size_t *o, size_t *wordlen)
{
    const char *charset = p + 2, *q1 = strchr(charset, '?');
    unsigned char bytes[MIMEWORD_MAX];
    size_t n = 0;

    if (q1 == NULL || q1 == charset || q1[1] == '\0' || q1[2] != '?')
        return false;
    const char *text = q1 + 3, *end = strstr(text, "?=");
    if (end == NULL || (size_t)(end + 2 - p) > MIMEWORD_MAX || memchr(text, ' ', end - text))
        return false;
    size_t clen = (size_t)(q1 - charset);
    /* RFC 2231 5: a language after '*' ("UTF-8*en") is not part of the charset. */
    const char *star = memchr(charset, '*', clen);
    if (star != NULL)
        clen = (size_t)(star - charset);
    bool utf8 = (clen == 5 && strncasecmp(charset, "UTF-8", 5) == 0) ||
                (clen == 8 && strncasecmp(charset, "US-ASCII", 8) == 0);
    bool latin1 = (clen == 10 && strncasecmp(charset, "ISO-8859-1", 10) == 0) ||
                  (clen == 6 && strncasecmp(charset, "LATIN1", 6) == 0);
    if (!utf8 && !latin1)
        return false;
    char enc = q1[1];
    bool ok = enc == 'B' || enc == 'b'   ? decode_b(text, (size_t)(end - text), bytes, &n)
              : enc == 'Q' || enc == 'q' ? decode_q(text, (size_t)(end - text), bytes, &n)
                                         : false;
    if (!ok)
        return false;
    size_t before = *o;
    if (!append(out, outlen, o, bytes, n, latin1)) {
        *o = before;
        return false;
    }
    *wordlen = (size_t)(end + 2 - p);
    return true;
}

const char *mimeword_decode(const char *in, char *out, size_t outlen)
{
    size_t o = 0, pending_blank = 0;
    bool after_word = false;

    if (outlen == 0)
        return out;
    for (const char *p = in; *p != '\0';) {
        size_t wordlen;
        size_t mark = o;
        if (p[0] == '=' && p[1] == '?' && decode_word(p, out, outlen, &o, &wordlen)) {
            /* RFC 2047 6.2: blanks between two encoded words are not shown. */
            if (after_word && pending_blank > 0) {
                memmove(out + mark - pending_blank, out + mark, o - mark);
                o -= pending_blank;
            }
            p += wordlen;
            after_word = true;
            pending_blank = 0;
            continue;
        }
        if (o + 1 >= outlen)
            break;
        bool blank = *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n';
        pending_blank = blank ? pending_blank + 1 : 0;
        after_word = after_word && blank;
        out[o++] = *p++;
    }
    out[o] = '\0';
    return out;
}
