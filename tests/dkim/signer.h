/*
 * The reference for lib/dkim_bodyhash.c, shared by tests/unit/test_dkim_bodyhash.c and
 * tests/fuzz/fuzz_bodyhash.c: libopendkim's own signer, whose bh= is computed with the
 * canonicalization its verifier uses.  One signature over "From: a@example.test" and the body
 * (relaxed/relaxed, selector s, domain example.test); its bh= is decoded into out.
 */
#ifndef INGRESS_TEST_DKIM_SIGNER_H
#define INGRESS_TEST_DKIM_SIGNER_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <opendkim/dkim.h>

#include "dkim_bodyhash.h"

enum signer_result {
    SIGNER_HASHED,  /* out holds libopendkim's body hash */
    SIGNER_REFUSED, /* the one refusal expected: "CRLF at end of body missing" */
    SIGNER_ERROR,   /* anything else; why is in err */
};

static enum signer_result signer_body_hash(DKIM_LIB *lib, const char *key_pem,
                                           enum dkim_bodyhash_alg alg, const unsigned char *body,
                                           size_t len, unsigned char *out, size_t outmax,
                                           size_t *outlen, char *err, size_t errlen)
{
    DKIM_STAT st;
    DKIM *d =
        dkim_sign(lib, (const unsigned char *)"test", NULL, (dkim_sigkey_t)(uintptr_t)key_pem,
                  (const unsigned char *)"s", (const unsigned char *)"example.test",
                  DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
                  alg == DKIM_BODYHASH_SHA1 ? DKIM_SIGN_RSASHA1 : DKIM_SIGN_RSASHA256, -1, &st);
    if (d == NULL) {
        snprintf(err, errlen, "dkim_sign: %s", dkim_getresultstr(st));
        return SIGNER_ERROR;
    }
    static const char from[] = "From: a@example.test";
    enum signer_result r = SIGNER_ERROR;
    unsigned char hdr[2048];
    if (dkim_header(d, (unsigned char *)(uintptr_t)from, sizeof from - 1) != DKIM_STAT_OK ||
        dkim_eoh(d) != DKIM_STAT_OK) {
        snprintf(err, errlen, "header: %s", dkim_geterror(d));
    } else {
        if (len > 0)
            (void)dkim_body(d, (unsigned char *)(uintptr_t)body, len);
        DKIM_STAT eom = dkim_eom(d, NULL);
        if (eom == DKIM_STAT_SYNTAX) {
            r = SIGNER_REFUSED;
        } else if (eom != DKIM_STAT_OK || dkim_getsighdr(d, hdr, sizeof hdr, 0) != DKIM_STAT_OK) {
            snprintf(err, errlen, "signing: %s", dkim_geterror(d));
        } else {
            /* bh=BASE64; with folding white space possibly inside */
            const char *p = strstr((const char *)hdr, "bh=");
            char b64[256];
            size_t n = 0;
            for (p = p != NULL ? p + 3 : ""; *p != '\0' && *p != ';' && n + 1 < sizeof b64; p++)
                b64[n++] = *p;
            b64[n] = '\0';
            long dec = dkim_base64_decode(b64, out, outmax);
            if (dec > 0) {
                *outlen = (size_t)dec;
                r = SIGNER_HASHED;
            } else {
                snprintf(err, errlen, "no bh= in %s", (const char *)hdr);
            }
        }
    }
    dkim_free(d);
    return r;
}

#endif
