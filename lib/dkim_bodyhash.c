/* The relaxed DKIM body hash, as libopendkim computes it (see dkim_bodyhash.h). */
#include "dkim_bodyhash.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

/*
 * The states are libopendkim's (dkim-canon.c, canon_bodystate): at the start of a line, in white
 * space, just after a CR, in text.  libopendkim keeps the current word in a buffer until white
 * space or the end of the line writes it out; here text is written at once, and "pending" says
 * whether libopendkim's buffer would hold something (which only matters at the end of the body).
 * Held-back empty lines are written before any other output, which keeps libopendkim's order.
 */
enum { S_LINE, S_WSP, S_CR, S_TEXT };

struct dkim_bodyhash {
    EVP_MD_CTX *md;
    bool failed;    /* OpenSSL refused an update */
    bool blankline; /* the current line has nothing in it yet */
    bool pending;   /* text written since the last white space or line end */
    int state;      /* S_* */
    size_t blanks;  /* empty lines held back (dropped if the body ends with them) */
    size_t n;       /* bytes in buf */
    unsigned char buf[8192];
};

static bool is_wsp(unsigned char c)
{
    return c == ' ' || c == '\t';
}

struct dkim_bodyhash *dkim_bodyhash_new(enum dkim_bodyhash_alg alg)
{
    struct dkim_bodyhash *h = xcalloc(1, sizeof *h);
    h->md = EVP_MD_CTX_new();
    if (h->md == NULL) {
        log_msg(LOG_CRIT, "out of memory allocating a digest context, aborting");
        abort();
    }
    const EVP_MD *md = alg == DKIM_BODYHASH_SHA1 ? EVP_sha1() : EVP_sha256();
    if (EVP_DigestInit_ex(h->md, md, NULL) != 1)
        h->failed = true;
    h->blankline = true;
    h->state = S_LINE;
    return h;
}

void dkim_bodyhash_free(struct dkim_bodyhash *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->md);
    free(h);
}

static void drain(struct dkim_bodyhash *h)
{
    if (h->n > 0 && EVP_DigestUpdate(h->md, h->buf, h->n) != 1)
        h->failed = true;
    h->n = 0;
}

/* Writes the held-back empty lines (at most a body's worth of CRLFs). */
static void flush_blanks(struct dkim_bodyhash *h)
{
    for (; h->blanks > 0; h->blanks--) {
        if (h->n + 2 > sizeof h->buf)
            drain(h);
        h->buf[h->n++] = '\r';
        h->buf[h->n++] = '\n';
    }
}

/* Exactly the bytes of x equal to b have their high bit set (no false positives). */
static uint64_t bytes_equal(uint64_t x, unsigned char b)
{
    const uint64_t low7 = 0x7f7f7f7f7f7f7f7fULL;
    uint64_t v = x ^ (0x0101010101010101ULL * b);
    return ~(((v & low7) + low7) | v | low7);
}

static bool is_special(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/*
 * How many of the k bytes at p are text that relaxed canonicalization leaves as it is: bytes
 * other than SP, HTAB and CR, and single SPs between such bytes.  Eight bytes at a time.
 */
static size_t text_run(const unsigned char *p, size_t k)
{
    size_t i = 0;
    for (;;) {
        while (i + 8 <= k) {
            uint64_t x;
            memcpy(&x, p + i, sizeof x);
            uint64_t sp = bytes_equal(x, ' ');
            uint64_t tabcr = bytes_equal(x, '\t') | bytes_equal(x, '\r');
            /* an SP stops the run only when the next byte is special; the next byte of the
             * last one is in the next word, so that SP stops it (and is looked at below) */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            uint64_t m = tabcr | (sp & (((sp | tabcr) << 8) | 0x80ULL));
#else
            uint64_t m = tabcr | (sp & (((sp | tabcr) >> 8) | 0x8000000000000000ULL));
#endif
            if (m != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
                i += (size_t)__builtin_clzll(m) / 8;
#else
                i += (size_t)__builtin_ctzll(m) / 8;
#endif
                break;
            }
            i += 8;
        }
        while (i < k && !is_special(p[i]))
            i++;
        /* "word word": one SP between text stays as it is */
        if (i + 1 < k && p[i] == ' ' && !is_special(p[i + 1])) {
            i += 2;
            continue;
        }
        return i;
    }
}

/*
 * The loop keeps the state in locals and writes through a local pointer: byte stores into the
 * struct would make the compiler reload every field after each one.  Each input byte writes at
 * most two bytes (SP and the byte, or CRLF), so two bytes of room are made before each write.
 */
void dkim_bodyhash_update(struct dkim_bodyhash *h, const unsigned char *data, size_t len)
{
    const unsigned char *p = data, *const end = data + len;
    int state = h->state;
    bool blankline = h->blankline, pending = h->pending;
    unsigned char *o = h->buf + h->n;
    unsigned char *const last = h->buf + sizeof h->buf - 2; /* o <= last: room for two */

#define ROOM()                                                                                     \
    do {                                                                                           \
        if (o > last) {                                                                            \
            h->n = (size_t)(o - h->buf);                                                           \
            drain(h);                                                                              \
            o = h->buf;                                                                            \
        }                                                                                          \
    } while (0)
#define BLANKS()                                                                                   \
    do {                                                                                           \
        if (h->blanks > 0) {                                                                       \
            h->n = (size_t)(o - h->buf);                                                           \
            flush_blanks(h);                                                                       \
            o = h->buf + h->n;                                                                     \
        }                                                                                          \
    } while (0)

    while (p < end) {
        if (state == S_TEXT) {
            /* the hot loop: text is written as it is, up to white space or a CR */
            for (;;) {
                ROOM();
                size_t room = (size_t)(last - o) + 1; /* o <= last after ROOM() */
                size_t avail = (size_t)(end - p);
                size_t k = avail < room ? avail : room;
                size_t i = text_run(p, k);
                memcpy(o, p, i);
                o += i;
                p += i;
                if (i < k || p == end)
                    break;
            }
            if (p == end)
                break;
            /* white space ends the word (libopendkim writes its buffer out); a CR may end the
             * line */
            if (*p++ == '\r') {
                state = S_CR;
            } else {
                pending = false;
                state = S_WSP;
            }
            continue;
        }
        unsigned char c = *p++;
        if (state != S_CR) {
            /* S_LINE, S_WSP */
            if (c == '\r') {
                state = S_CR;
            } else if (is_wsp(c)) {
                state = S_WSP;
            } else {
                BLANKS();
                ROOM();
                if (state == S_WSP)
                    *o++ = ' ';
                *o++ = c;
                blankline = false;
                pending = true;
                state = S_TEXT;
            }
        } else if (c == '\n') {
            if (blankline) {
                h->blanks++;
            } else {
                BLANKS();
                ROOM();
                *o++ = '\r';
                *o++ = '\n';
                pending = false;
                blankline = true;
            }
            state = S_LINE;
        } else if (c == '\r') {
            /* the first CR is text after all; the second may still end the line */
            blankline = false;
            BLANKS();
            ROOM();
            *o++ = '\r';
            pending = true;
        } else if (is_wsp(c)) {
            BLANKS(); /* unconditionally, as libopendkim does; the CR is dropped */
            pending = false;
            state = S_WSP;
        } else {
            /* the CR is dropped */
            BLANKS();
            ROOM();
            *o++ = c;
            blankline = false;
            pending = true;
            state = S_TEXT;
        }
    }
#undef ROOM
#undef BLANKS
    h->n = (size_t)(o - h->buf);
    h->state = state;
    h->blankline = blankline;
    h->pending = pending;
}

bool dkim_bodyhash_final(struct dkim_bodyhash *h, unsigned char *out, size_t *outlen)
{
    if (h->pending || h->failed)
        return false;
    drain(h);
    unsigned int n = 0;
    if (h->failed || EVP_DigestFinal_ex(h->md, out, &n) != 1)
        return false;
    *outlen = n;
    return true;
}

long dkim_base64_decode(const char *in, unsigned char *out, size_t outlen)
{
    char b64[2048 + 4];
    size_t n = 0, pad = 0;
    for (const char *p = in; *p != '\0'; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            continue;
        if (n >= sizeof b64 - 4)
            return -1;
        pad += *p == '=';
        b64[n++] = *p;
    }
    while (n % 4 == 2 || n % 4 == 3) { /* padding left out: restore it */
        b64[n++] = '=';
        pad++;
    }
    if (n == 0 || n % 4 != 0 || pad > 2)
        return -1;
    unsigned char raw[sizeof b64 / 4 * 3];
    int len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
    if (len < (int)pad)
        return -1;
    len -= (int)pad; /* EVP_DecodeBlock counts the padding as data */
    if ((size_t)len > outlen)
        return -1;
    memcpy(out, raw, (size_t)len);
    return len;
}
