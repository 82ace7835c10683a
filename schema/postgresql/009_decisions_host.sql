-- 009_decisions_host: the PostgreSQL dialect of schema/sqlite/009_decisions_host.sql (which
-- milter-ingress made each decision: the option host_name).  On the partitioned table the column
-- is added to every partition.  The runner wraps this file in a transaction and records the
-- version itself.

ALTER TABLE decisions ADD COLUMN host TEXT;
