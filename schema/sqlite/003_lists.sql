-- 003_lists: the postmaster's block and allow lists and the recipients' own rules
-- (lib/lists.h says how they match).  The runner wraps this file in a transaction and sets
-- PRAGMA user_version itself: no BEGIN, COMMIT or user_version here.

-- One entry per (kind, value).  Values are stored normalized by ingressctl / lib/lists.c: a cidr
-- as its network ("192.0.2.0/24", a host without "/32"), names and addresses in lower case
-- without a final dot, so the UNIQUE constraint sees two spellings of one entry as one.
CREATE TABLE list_entries (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL
        CHECK (kind IN ('cidr', 'ptr_domain', 'helo_domain', 'sender_domain', 'sender')),
    value TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('block', 'allow')),
    reason TEXT NOT NULL DEFAULT '',
    added_by TEXT NOT NULL DEFAULT '',
    added_at INTEGER NOT NULL,      -- unix seconds
    expires INTEGER,                -- unix seconds; NULL: never.  Expired rows are ignored.
    UNIQUE (kind, value)
);

-- The milter keeps the lists in memory (a prefix tree for the networks, hash sets for the names)
-- and rebuilds them when this counter moves.  Reading one row is cheap enough to do every second;
-- PRAGMA data_version would move on every write to the file (each decision logged, each greylist
-- triplet), and would force a rebuild of a 100,000-entry tree several times a second.
CREATE TABLE lists_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO lists_version (id, version) VALUES (1, 0);

CREATE TRIGGER list_entries_inserted AFTER INSERT ON list_entries
BEGIN
    UPDATE lists_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER list_entries_updated AFTER UPDATE ON list_entries
BEGIN
    UPDATE lists_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER list_entries_deleted AFTER DELETE ON list_entries
BEGIN
    UPDATE lists_version SET version = version + 1 WHERE id = 1;
END;

-- The per-mailbox "server rules" hosting users edit: mail from sender (an address, or "@domain"
-- for a whole domain) to recipient is accepted past greylisting and the DNSBLs, or rejected.
-- Looked up per RCPT through the UNIQUE index, so a change applies to the next message.
CREATE TABLE rcpt_rules (
    id INTEGER PRIMARY KEY,
    recipient TEXT NOT NULL COLLATE NOCASE,
    sender TEXT NOT NULL COLLATE NOCASE,
    action TEXT NOT NULL CHECK (action IN ('accept', 'reject')),
    added_by TEXT NOT NULL DEFAULT '',
    added_at INTEGER NOT NULL,      -- unix seconds
    UNIQUE (recipient, sender)
);
