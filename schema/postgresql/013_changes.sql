-- 013_changes: the PostgreSQL dialect of schema/sqlite/013_changes.sql (who changed what, from
-- where and why; the same table and meaning).  The runner wraps this file in a transaction and
-- records the version itself.

CREATE TABLE changes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    who TEXT NOT NULL,
    source TEXT NOT NULL,
    what TEXT NOT NULL,
    key TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX changes_key ON changes (lower(key), at);
CREATE INDEX changes_at ON changes (at);
