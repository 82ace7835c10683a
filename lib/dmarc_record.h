/*
 * dmarc_record: the DMARC policy record (RFC 7489 6.3, 6.4), parsed from the text of one DNS TXT
 * record.  Bounded and total: any bytes give one of three statuses and a filled struct, never a
 * crash (tests/fuzz/fuzz_dmarc_record.c).
 *
 * The grammar is RFC 7489 6.4 over DKIM's tag-list (RFC 6376 3.2: "tag=value" pairs separated by
 * ';', white space around names, '=' and values).  What each status means:
 *
 *   DMARC_RECORD_NOT_DMARC  the first tag is not v=DMARC1 (RFC 7489 6.6.3 step 2: such a record
 *                           is discarded, as if it were not there): an SPF record, junk, "p=reject;
 *                           v=DMARC1", "v=dmarc1" (the version's ABNF is %x44 %x4d ...: exact case)
 *   DMARC_RECORD_INVALID    it starts with v=DMARC1 but cannot be used: the tag-list is broken (a
 *                           byte outside the grammar, a tag without '=', a tag name given twice:
 *                           RFC 6376 3.2 makes the whole list invalid), it is longer than
 *                           DMARC_RECORD_MAX, or p= (or sp=) is missing or not a policy and no rua=
 *                           URI is valid (6.6.3 step 6: no DMARC processing).  The caller reports
 *                           permerror (RFC 7489 11.2).
 *   DMARC_RECORD_OK         out holds the policy.  p= (or sp=) missing or invalid with a valid
 *                           rua= URI gives p=none (6.6.3 step 6, p_assumed set).
 *
 * Leniency, where the RFC asks for it: tag names and keyword values compare without case (ABNF
 * quoted strings, RFC 5234 2.3); unknown tags are ignored (6.3); a known tag with a bad value
 * other than p= and sp= takes its default (6.3: "syntax errors in the remainder of the record
 * SHOULD be discarded in favor of default values"), which notes says.  Empty elements (";;") and
 * white space after the last ';' are accepted: they are common and change nothing.  p= need not
 * be the second tag.
 */
#ifndef INGRESS_DMARC_RECORD_H
#define INGRESS_DMARC_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "orgdomain.h"

/* Bytes of one record: the DNS layer joins a TXT record's strings up to this. */
#define DMARC_RECORD_MAX 4096
#define DMARC_TAGS_MAX 64 /* tags in one record; more is not a policy anyone wrote */
#define DMARC_URI_MAX 256 /* one rua= URI kept */
#define DMARC_RUA_MAX 4   /* rua= URIs kept; the others are counted */
#define DMARC_NOTES_MAX 200

enum dmarc_policy { DMARC_POLICY_NONE, DMARC_POLICY_QUARANTINE, DMARC_POLICY_REJECT };

enum dmarc_record_status { DMARC_RECORD_OK, DMARC_RECORD_NOT_DMARC, DMARC_RECORD_INVALID };

struct dmarc_record {
    enum dmarc_policy p;  /* p= */
    enum dmarc_policy sp; /* sp=, or p when absent (RFC 7489 6.3) */
    bool sp_given;
    bool p_assumed;                  /* p= (or sp=) was missing or invalid: p=none from rua= */
    enum orgdomain_mode adkim, aspf; /* default relaxed */
    unsigned pct;                    /* 0 to 100, default 100 */
    uint32_t ri;                     /* seconds, default 86400 */
    size_t nrua;                     /* valid rua= URIs, kept up to DMARC_RUA_MAX */
    char rua[DMARC_RUA_MAX][DMARC_URI_MAX + 1];
    /* What was ignored or defaulted, escaped, for the log ("pct=200 out of range; ..."); "". */
    char notes[DMARC_NOTES_MAX];
};

/*
 * Parses text (len bytes, need not be NUL-terminated; a NUL is a byte outside the grammar).  out
 * is always filled: the defaults unless DMARC_RECORD_OK.  why (may be NULL) gets the reason of
 * NOT_DMARC and INVALID, escaped.
 */
enum dmarc_record_status dmarc_record_parse(const char *text, size_t len, struct dmarc_record *out,
                                            char *why, size_t whylen);

/* "none", "quarantine", "reject". */
const char *dmarc_policy_name(enum dmarc_policy p);

#endif
