-- 011_dmarc_report: the PostgreSQL dialect of schema/sqlite/011_dmarc_report.sql (DMARC aggregate
-- report data, one row per distinct day and row key with its count of messages).  The runner
-- wraps this file in a transaction and records the version itself.
CREATE TABLE dmarc_rows (
    day BIGINT NOT NULL,
    row_key TEXT NOT NULL,
    policy_domain TEXT NOT NULL,
    header_from TEXT NOT NULL,
    envelope_from TEXT NOT NULL,
    source_ip TEXT NOT NULL,
    p TEXT NOT NULL,
    sp TEXT NOT NULL,
    pct BIGINT NOT NULL,
    adkim TEXT NOT NULL,
    aspf TEXT NOT NULL,
    disposition TEXT NOT NULL,
    dkim_aligned TEXT NOT NULL,
    spf_aligned TEXT NOT NULL,
    override TEXT NOT NULL,
    dkim TEXT NOT NULL,
    spf_domain TEXT NOT NULL,
    spf_scope TEXT NOT NULL,
    spf_result TEXT NOT NULL,
    messages BIGINT NOT NULL,
    PRIMARY KEY (policy_domain, day, row_key)
);
CREATE INDEX dmarc_rows_day ON dmarc_rows (day);
