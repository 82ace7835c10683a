-- 011_dmarc_report: what DMARC aggregate reports (RFC 7489 7.2, Appendix C) are made of, one row
-- per distinct (day, row key) with how many messages it counts.  The milter adds to a row for each
-- author domain of a message that publishes a DMARC record (lib/dmarc_report.c); `ingressctl dmarc
-- report` sums the rows of one policy domain over a period.  Rows expire with the decision log.
-- The runner wraps this file in a transaction and sets PRAGMA user_version itself.
--
-- row_key is a digest of every column before messages (computed above the backends, the same for
-- both), so that a row key of long domains and several DKIM results still fits a unique index.
CREATE TABLE dmarc_rows (
    day INTEGER NOT NULL,          -- unix seconds of the UTC day's start
    row_key TEXT NOT NULL,
    policy_domain TEXT NOT NULL,   -- where the record was found (policy_published/domain)
    header_from TEXT NOT NULL,     -- the author domain (identifiers/header_from)
    envelope_from TEXT NOT NULL,   -- the MAIL FROM domain, '' for <>
    source_ip TEXT NOT NULL,
    p TEXT NOT NULL,               -- the record as published: p, sp, pct, adkim, aspf
    sp TEXT NOT NULL,
    pct INTEGER NOT NULL,
    adkim TEXT NOT NULL,
    aspf TEXT NOT NULL,
    disposition TEXT NOT NULL,     -- none, quarantine, reject: what was done
    dkim_aligned TEXT NOT NULL,    -- pass, fail (policy_evaluated/dkim)
    spf_aligned TEXT NOT NULL,     -- pass, fail (policy_evaluated/spf)
    override TEXT NOT NULL,        -- '' or a PolicyOverrideType: sampled_out, ...
    dkim TEXT NOT NULL,            -- the DKIM results, one "result domain selector" a line
    spf_domain TEXT NOT NULL,
    spf_scope TEXT NOT NULL,       -- mfrom, helo
    spf_result TEXT NOT NULL,
    messages INTEGER NOT NULL,
    PRIMARY KEY (policy_domain, day, row_key)
);
CREATE INDEX dmarc_rows_day ON dmarc_rows (day);
