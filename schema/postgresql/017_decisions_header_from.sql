-- 017_decisions_header_from: the PostgreSQL dialect of schema/sqlite/017_decisions_header_from.sql:
-- the address of a message's header From (its one mailbox, in lower case) in a column of its own,
-- indexed, which the search statement in lib/store/pg_decisions.c compares instead of looking
-- inside every detail of the period.  Rows written before get it from their detail in the same
-- two fixed forms (a DMARC decision's "; header From: VALUE", the submission check's
-- "header_from=<ADDRESS>"); another form is not recovered, and such a row is still found by its
-- envelope, reference, queue id and client.  On the partitioned table the column and the index are
-- added to every partition (and to the days' partitions made later).  The runner wraps this file
-- in a transaction and records the version itself.

ALTER TABLE decisions ADD COLUMN header_from TEXT;

UPDATE decisions
SET header_from = lower(substring(detail FROM '; header From: (?:[^<]*<)?([^<> ]+@[^<> ]+)'))
WHERE strpos(detail, '; header From: ') > 0;

UPDATE decisions
SET header_from = lower(substring(detail FROM 'header_from=<([^<> ]+@[^<> ]+)>'))
WHERE check_name = 'sender' AND strpos(detail, 'header_from=<') > 0;

CREATE INDEX decisions_header_from ON decisions (header_from);
