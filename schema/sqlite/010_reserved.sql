-- 010_reserved: a placeholder for the migration number another change takes; the migrations must
-- run 1..N without a gap.  It changes nothing.  The runner wraps this file in a transaction and
-- sets PRAGMA user_version itself.
SELECT 1;
