-- 010_reserved: the PostgreSQL dialect of schema/sqlite/010_reserved.sql (a placeholder that
-- changes nothing).  The runner wraps this file in a transaction and records the version itself.
SELECT 1;
