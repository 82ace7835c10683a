/*
 * dmarc_report: DMARC aggregate reports (RFC 7489 7.2, Appendix C).
 *
 * What is recorded: for each message DMARC evaluated, one count per author domain that publishes
 * a DMARC record (a domain without one, or whose record could not be had, has nobody to report
 * to and no policy to report), in the row of its UTC day and row key: the domain where the
 * record was found, the header From domain, the MAIL FROM domain, the client's IP address, the
 * record's p, sp, pct, adkim and aspf, the disposition applied and why it differs from the policy
 * (sampled_out, trusted_forwarder, local_policy), the DMARC-aligned DKIM and SPF results, every
 * DKIM signature's domain, selector and result, and SPF's domain, scope and result.  The store
 * keeps the counts (lib/store.h: store_dmarc_add), and they expire with the decision log.
 *
 * A message counts when its fate is decided: accepted, held or rejected at end of message, not
 * when it is deferred (greylisting, a DNS error): the retry counts then.
 *
 * The report: dmarc_report_write() prints the Appendix C XML of one policy domain over a period,
 * every value XML-escaped (domains and selectors come from the network).  Rows that differ only
 * by their day are one record; policy_published is the policy of the latest day in the period.
 * Sending the report (7.2.1.1: gzip, a mailto: URI of rua=) is the postmaster's: the milter does
 * not mail reports.
 */
#ifndef INGRESS_DMARC_REPORT_H
#define INGRESS_DMARC_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "dmarc.h"
#include "store.h"

/*
 * Counts the evaluated message m (borrowed) at time now (unix seconds) in the store: one row per
 * author domain with a record.  STORE_OK also when there is nothing to count; otherwise the first
 * failure (err says why), the other rows counted all the same.
 */
enum store_status dmarc_report_note(struct store *s, const struct dmarc_message *m, int64_t now,
                                    struct store_error *err);

/* The report's metadata; all strings borrowed. */
struct dmarc_report_meta {
    const char *domain;    /* the policy domain: lower case, no final dot */
    int64_t begin, end;    /* the period [begin, end), unix seconds, whole UTC days */
    const char *org_name;  /* report_metadata: who reports */
    const char *email;     /* where to write back */
    const char *report_id; /* unique per report */
};

/* What a report held, for the caller's message and the tests. */
struct dmarc_report_counts {
    size_t records;
    int64_t messages;
};

/*
 * Writes the aggregate report of meta->domain over the period to out.  STORE_NOTFOUND, with
 * nothing written, when the period holds no row for the domain (Appendix C asks for at least one
 * record: an empty report would not be valid).  counts may be NULL.
 */
enum store_status dmarc_report_write(struct store *s, const struct dmarc_report_meta *meta,
                                     FILE *out, struct dmarc_report_counts *counts,
                                     struct store_error *err);

/* Writes text to out as XML character data: &, <, >, " and ' as entities, well-formed UTF-8 as it
 * is, and every other byte (controls, bytes that are not UTF-8) as the text \xHH. */
void dmarc_report_xml_text(FILE *out, const char *text);

#endif
