-- 010_held_host: the PostgreSQL dialect of schema/sqlite/010_held_host.sql (which milter-ingress
-- holds each message: the option host_name, whose MTA queue has it).  The runner wraps this file
-- in a transaction and records the version itself.

ALTER TABLE held ADD COLUMN host TEXT;
