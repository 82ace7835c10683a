/*
 * util: allocation wrappers that abort on failure, and small string helpers.
 */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static void out_of_memory(size_t size)
{
    log_msg(LOG_CRIT, "out of memory allocating %zu bytes, aborting", size);
    abort();
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL)
        out_of_memory(count * size);
    return p;
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

char *xstrdup(const char *s)
{
    if (s == NULL)
        return NULL;
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t max)
{
    size_t len = strnlen(s, max);
    char *p = xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

bool str_copy(char *dst, size_t dstlen, const char *src)
{
    size_t len = strlen(src);
    if (len < dstlen) {
        memcpy(dst, src, len + 1);
        return true;
    }
    memcpy(dst, src, dstlen - 1);
    dst[dstlen - 1] = '\0';
    return false;
}

void str_printf(char *dst, size_t dstlen, const char *fmt, ...)
{
    va_list ap;
    if (dst == NULL || dstlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(dst, dstlen, fmt, ap);
    va_end(ap);
}

static int ascii_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

int str_casecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = ascii_lower((unsigned char)*a);
        int cb = ascii_lower((unsigned char)*b);
        if (ca != cb || ca == 0)
            return ca - cb;
    }
}

bool str_casesuffix(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return lx <= ls && str_casecmp(s + ls - lx, suffix) == 0;
}

/* Escapes as \xHH every byte that is not printable ASCII, and those in also (may be ""). */
static const char *escape_bytes(char *dst, size_t dstlen, const char *src, const char *also)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    if (src == NULL)
        src = "(null)";
    for (const unsigned char *p = (const unsigned char *)src; *p != '\0'; p++) {
        char tmp[4];
        size_t n;
        if (*p >= 0x20 && *p < 0x7f && strchr(also, *p) == NULL) {
            tmp[0] = (char)*p;
            n = 1;
        } else {
            tmp[0] = '\\';
            tmp[1] = 'x';
            tmp[2] = hex[*p >> 4];
            tmp[3] = hex[*p & 15];
            n = 4;
        }
        if (o + n + 1 > dstlen) {
            /* Not enough room: end with "..." where it fits. */
            size_t keep = dstlen > 4 ? dstlen - 4 : 0;
            if (o > keep)
                o = keep;
            if (dstlen > 4) {
                memcpy(dst + o, "...", 3);
                o += 3;
            }
            break;
        }
        memcpy(dst + o, tmp, n);
        o += n;
    }
    dst[o] = '\0';
    return dst;
}

const char *str_escape(char *dst, size_t dstlen, const char *src)
{
    return escape_bytes(dst, dstlen, src, "\\\"");
}

const char *str_escape_word(char *dst, size_t dstlen, const char *src)
{
    return escape_bytes(dst, dstlen, src, "\\\" ");
}

const char *str_escape_quoted(char *dst, size_t dstlen, const char *src)
{
    return escape_bytes(dst, dstlen, src, "\"");
}

const char *time_format_utc(char *out, size_t outlen, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        str_copy(out, outlen, "?");
    return out;
}

const char *str_printable(char *dst, size_t dstlen, const char *src)
{
    return escape_bytes(dst, dstlen, src, "");
}

char *str_trim(char *s)
{
    char *start = s;
    while (*start == ' ' || *start == '\t')
        start++;
    size_t len = strlen(start);
    while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t'))
        len--;
    memmove(s, start, len);
    s[len] = '\0';
    return s;
}

bool ascii_alnum(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

uint64_t hash_fnv1a(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

size_t str_utf8_length(const unsigned char *p, const unsigned char *end)
{
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;

    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        n = 3;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        n = 4;
    else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    /* No overlong forms, no surrogates, nothing above U+10FFFF. */
    if (p[0] == 0xe0)
        lo = 0xa0;
    else if (p[0] == 0xed)
        hi = 0x9f;
    else if (p[0] == 0xf0)
        lo = 0x90;
    else if (p[0] == 0xf4)
        hi = 0x8f;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

size_t str_utf8_sanitize(char *text)
{
    unsigned char *p = (unsigned char *)text, *end = p + strlen(text);
    size_t replaced = 0;

    while (p < end) {
        size_t n = *p < 0x80 ? 1 : str_utf8_length(p, end);
        if (n == 0) {
            *p++ = '?';
            replaced++;
            continue;
        }
        p += n;
    }
    return replaced;
}
