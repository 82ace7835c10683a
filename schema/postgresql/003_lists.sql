-- 003_lists: block and allow lists and the recipients' rules (the PostgreSQL dialect of
-- schema/sqlite/003_lists.sql: the same tables and meaning).  The runner wraps this file in a
-- transaction and records the version itself.

CREATE TABLE list_entries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL
        CHECK (kind IN ('cidr', 'ptr_domain', 'helo_domain', 'sender_domain', 'sender')),
    value TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('block', 'allow')),
    reason TEXT NOT NULL DEFAULT '',
    added_by TEXT NOT NULL DEFAULT '',
    added_at BIGINT NOT NULL,
    expires BIGINT,
    UNIQUE (kind, value)
);

-- The counter every change of list_entries (and, from 008, rcpt_rules) moves: the milters keep
-- the lists in memory and rebuild them when it moves, on every host of a shared database.
CREATE TABLE lists_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO lists_version (id, version) VALUES (1, 0);

CREATE FUNCTION lists_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lists_version SET version = version + 1 WHERE id = 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER list_entries_changed AFTER INSERT OR UPDATE OR DELETE ON list_entries
    FOR EACH ROW EXECUTE FUNCTION lists_version_bump();

-- Recipient and sender compare without ASCII case (SQLite's COLLATE NOCASE): the unique key is
-- on lower() of both.
CREATE TABLE rcpt_rules (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient TEXT NOT NULL,
    sender TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('accept', 'reject')),
    added_by TEXT NOT NULL DEFAULT '',
    added_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX rcpt_rules_key ON rcpt_rules (lower(recipient), lower(sender));
