/*
 * fuzz_greylist: libFuzzer target for the greylist key normalization (lib/greylist.c):
 * greylist_key_make() and its parts, pure functions of untrusted text (the SMTP arguments and
 * the client address).
 *
 * Input: two bytes of prefix lengths (any value: out-of-range ones are clamped), then client IP,
 * sender and recipient separated by NUL bytes.  Checked: greylist.h's promises (every field
 * NUL-terminated within its array; no ASCII upper case, no control bytes and only valid UTF-8 in
 * addresses; the network "unknown" or "address/prefix"; the same input gives the same key).
 *
 *   tests/fuzz/run.sh greylist 300
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "greylist.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Length of the UTF-8 sequence at s (1..4), 0 when it is not well formed. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
    if (n == 0 || s[0] > 0xf4)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

static void check_address(const char *a, size_t arraylen)
{
    const unsigned char *p = (const unsigned char *)a;
    size_t len = strnlen(a, arraylen);
    if (len == arraylen || len == 0)
        abort();
    for (size_t i = 0; i < len;) {
        if (p[i] < 0x20 || p[i] == 0x7f || (p[i] >= 'A' && p[i] <= 'Z'))
            abort();
        size_t n = utf8_len(p + i);
        if (n == 0)
            abort();
        i += n;
    }
}

static void check_network(const char *n)
{
    size_t len = strnlen(n, GREYLIST_NETWORK_MAX);
    if (len == GREYLIST_NETWORK_MAX)
        abort();
    if (strcmp(n, "unknown") != 0 && strchr(n, '/') == NULL)
        abort();
}

/* Splits data at NUL bytes into at most 3 strings (missing ones NULL). */
static void split(const uint8_t *data, size_t size, char *fields[3])
{
    size_t start = 0;
    for (int i = 0; i < 3; i++) {
        fields[i] = NULL;
        if (start > size)
            continue;
        const uint8_t *nul = memchr(data + start, '\0', size - start);
        size_t end = nul ? (size_t)(nul - data) : size;
        fields[i] = xstrndup((const char *)data + start, end - start);
        start = end + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    /* Signed, so negative and large prefixes are tried too. */
    long v4 = (int8_t)data[0], v6 = (int8_t)data[1] * 2;
    char *f[3];
    split(data + 2, size - 2, f);

    struct greylist_key k1, k2;
    greylist_key_make(&k1, f[0], f[1], f[2], v4, v6);
    check_network(k1.network);
    check_address(k1.sender, sizeof k1.sender);
    check_address(k1.recipient, sizeof k1.recipient);
    greylist_key_make(&k2, f[0], f[1], f[2], v4, v6);
    if (memcmp(k1.network, k2.network, strlen(k1.network) + 1) != 0 ||
        strcmp(k1.sender, k2.sender) != 0 || strcmp(k1.recipient, k2.recipient) != 0)
        abort();

    /* The sender field also as a recipient and the recipient as a sender: both parsers see both. */
    char out[GREYLIST_ADDR_MAX + 1];
    greylist_normalize_recipient(f[1], out);
    check_address(out, sizeof out);
    greylist_normalize_sender(f[2], out);
    check_address(out, sizeof out);
    for (int i = 0; i < 3; i++)
        free(f[i]);
    return 0;
}
