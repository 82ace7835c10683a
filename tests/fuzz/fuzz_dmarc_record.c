/*
 * fuzz_dmarc_record: libFuzzer target for the DMARC record parser (lib/dmarc_record.c), which
 * reads the text of TXT records anyone can publish.
 *
 * Input: the record's bytes, as the DNS layer hands them over (NUL bytes included).  Checked:
 * dmarc_record.h's promises: a status in range and a reason for every refusal; on OK, policies
 * in range, pct= 0 to 100, at most DMARC_RUA_MAX URIs each within DMARC_URI_MAX bytes; notes and
 * reasons printable ASCII without a '"' (they go into quoted log values); the defaults unless OK;
 * the same input gives the same record; a record over DMARC_RECORD_MAX bytes is never OK.
 *
 *   tests/fuzz/run.sh dmarc_record 60
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s, size_t arraylen)
{
    size_t len = strnlen(s, arraylen);
    if (len == arraylen)
        abort();
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] >= 0x7f || s[i] == '"')
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dmarc_record r, again;
    char why[256], why2[256];

    why[0] = '\0';
    enum dmarc_record_status st = dmarc_record_parse((const char *)data, size, &r, why, sizeof why);
    if (st != DMARC_RECORD_OK && st != DMARC_RECORD_NOT_DMARC && st != DMARC_RECORD_INVALID)
        abort();
    if (st != DMARC_RECORD_OK && why[0] == '\0')
        abort();
    check_text(why, sizeof why);
    check_text(r.notes, sizeof r.notes);
    if (r.p > DMARC_POLICY_REJECT || r.sp > DMARC_POLICY_REJECT || r.pct > 100 ||
        r.nrua > DMARC_RUA_MAX)
        abort();
    for (size_t i = 0; i < r.nrua; i++) {
        if (strnlen(r.rua[i], sizeof r.rua[i]) == sizeof r.rua[i] || r.rua[i][0] == '\0')
            abort();
        check_text(r.rua[i], sizeof r.rua[i]);
    }
    if (st != DMARC_RECORD_OK && (r.p != DMARC_POLICY_NONE || r.pct != 100 || r.nrua != 0 ||
                                  r.notes[0] != '\0' || r.p_assumed))
        abort();
    if (st == DMARC_RECORD_OK && size > DMARC_RECORD_MAX)
        abort();
    if (st == DMARC_RECORD_OK && !r.sp_given && r.sp != r.p)
        abort();
    if (dmarc_record_parse((const char *)data, size, &again, why2, sizeof why2) != st ||
        memcmp(&r, &again, sizeof r) != 0 || strcmp(why, why2) != 0)
        abort();
    return 0;
}
