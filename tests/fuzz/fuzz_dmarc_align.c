/*
 * fuzz_dmarc_align: libFuzzer target for identifier alignment (lib/orgdomain.c's
 * orgdomain_aligned, over the Public Suffix List Debian ships) as DMARC uses it
 * (lib/dmarc.c's dmarc_evaluate).
 *
 * Input: one byte (bit 0: strict; bit 1: the record is the organizational domain's; the rest: the
 * pct= draw), then the author domain, an authenticated domain and a DMARC record's text,
 * separated by NUL bytes.  Checked: alignment is symmetric, case-blind, true of a name and itself
 * exactly when the name is a domain name, and strict alignment implies relaxed; dmarc_evaluate
 * passes exactly when SPF's or DKIM's domain aligns in the record's aspf= / adkim= mode, its
 * policy is sp= for an organizational record and p= otherwise, the disposition of a failure is
 * the policy or, past pct=, the next milder one, and a pass has none.
 *
 *   tests/fuzz/run.sh dmarc_align 60
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"
#include "orgdomain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define PSL_FILE "/usr/share/publicsuffix/public_suffix_list.dat"

static struct orgdomain *od;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    (void)argc;
    (void)argv;
    od = orgdomain_load(PSL_FILE, err, sizeof err);
    if (od == NULL) {
        fprintf(stderr, "fuzz_dmarc_align: %s\n", err);
        abort();
    }
    return 0;
}

/* The next NUL-separated part of the input, copied into out (cut to outlen - 1). */
static const uint8_t *part(const uint8_t *p, const uint8_t *end, char *out, size_t outlen)
{
    size_t n = 0;
    while (p < end && *p != '\0') {
        if (n + 1 < outlen)
            out[n++] = (char)*p;
        p++;
    }
    out[n] = '\0';
    return p < end ? p + 1 : p;
}

static void upper(const char *in, char *out, size_t outlen)
{
    size_t i = 0;
    for (; in[i] != '\0' && i + 1 < outlen; i++)
        out[i] = in[i] >= 'a' && in[i] <= 'z' ? (char)(in[i] - 'a' + 'A') : in[i];
    out[i] = '\0';
}

static void check_alignment(const char *a, const char *b)
{
    char big[300], org[300];
    for (int m = 0; m < 2; m++) {
        enum orgdomain_mode mode = m ? ORGDOMAIN_STRICT : ORGDOMAIN_RELAXED;
        bool ab = orgdomain_aligned(od, a, b, mode);
        if (ab != orgdomain_aligned(od, b, a, mode))
            abort();
        upper(a, big, sizeof big);
        if (ab != orgdomain_aligned(od, big, b, mode))
            abort();
        bool valid = orgdomain_of(od, a, org, sizeof org) != ORGDOMAIN_INVALID;
        if (orgdomain_aligned(od, a, a, mode) != valid)
            abort();
        if (mode == ORGDOMAIN_STRICT && ab && !orgdomain_aligned(od, a, b, ORGDOMAIN_RELAXED))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char author[DNS_NAME_MAX + 1], other[DNS_NAME_MAX + 1], text[DMARC_RECORD_MAX + 2];
    if (size < 1)
        return 0;
    unsigned flags = data[0];
    const uint8_t *p = data + 1, *end = data + size;
    p = part(p, end, author, sizeof author);
    p = part(p, end, other, sizeof other);
    part(p, end, text, sizeof text);
    check_alignment(author, other);

    struct dmarc_author a;
    memset(&a, 0, sizeof a);
    snprintf(a.domain, sizeof a.domain, "%s", author);
    a.have_record = dmarc_record_parse(text, strlen(text), &a.record, NULL, 0) == DMARC_RECORD_OK;
    a.org_record = (flags & 2) != 0;
    a.result = DMARC_NONE;
    struct dmarc_dkim sig = {.result = (flags & 1) ? DKIM_PASS : DKIM_FAIL};
    snprintf(sig.domain, sizeof sig.domain, "%s", other);
    struct dmarc_evidence e = {
        .spf_checked = true, .spf_result = SPF_PASS, .ndkim = 1, .dkim = &sig};
    snprintf(e.spf_domain, sizeof e.spf_domain, "%s", (flags & 1) ? "" : other);
    unsigned sample = (flags >> 2) % 100;
    dmarc_evaluate(od, &e, &a, sample);

    if (!a.have_record) {
        if (a.result != DMARC_NONE || a.spf_aligned || a.dkim_aligned ||
            a.disposition != DMARC_POLICY_NONE)
            abort();
        return 0;
    }
    const struct dmarc_record *r = &a.record;
    bool spf = (flags & 1) == 0 && orgdomain_aligned(od, other, author, r->aspf);
    bool dkim = (flags & 1) != 0 && orgdomain_aligned(od, other, author, r->adkim);
    if (a.spf_aligned != spf || a.dkim_aligned != dkim)
        abort();
    if ((a.result == DMARC_PASS) != (spf || dkim) ||
        (a.result != DMARC_PASS && a.result != DMARC_FAIL))
        abort();
    if (a.policy != (a.org_record ? r->sp : r->p))
        abort();
    if (a.result == DMARC_PASS &&
        (a.disposition != DMARC_POLICY_NONE || a.override != DMARC_OVERRIDE_NONE))
        abort();
    if (a.result == DMARC_FAIL) {
        bool sampled = a.policy != DMARC_POLICY_NONE && sample >= r->pct;
        enum dmarc_policy want = sampled ? (enum dmarc_policy)(a.policy - 1) : a.policy;
        if (a.disposition != want || (a.override == DMARC_OVERRIDE_SAMPLED_OUT) != sampled)
            abort();
    }
    return 0;
}
