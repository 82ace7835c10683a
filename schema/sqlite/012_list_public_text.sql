-- 012_list_public_text: a list entry keeps two texts, the postmaster's internal reason (ticket
-- notes, never sent) and an optional public text for the SMTP reply; the action greylist_exempt
-- (exempt from greylisting only: every other check still runs); the kinds ptr_regex and
-- helo_regex (PCRE2 patterns where a domain suffix is not enough) and recipient (mail to it is
-- not greylisted: postgrey's whitelist_recipients).  SQLite cannot change a CHECK
-- constraint in place, so the table is rebuilt and its triggers made again.  The runner wraps this
-- file in a transaction and sets PRAGMA user_version itself.

CREATE TABLE list_entries_012 (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL
        CHECK (kind IN ('cidr', 'ptr_domain', 'helo_domain', 'sender_domain', 'sender',
                        'ptr_regex', 'helo_regex', 'recipient')),
    value TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('block', 'allow', 'greylist_exempt')),
    reason TEXT NOT NULL DEFAULT '',          -- internal: logs, ingressctl; never in a reply
    public_text TEXT NOT NULL DEFAULT '',     -- the reply's text; '': the reply table's own
    added_by TEXT NOT NULL DEFAULT '',
    added_at INTEGER NOT NULL,
    expires INTEGER,
    UNIQUE (kind, value)
);
INSERT INTO list_entries_012 (id, kind, value, action, reason, added_by, added_at, expires)
    SELECT id, kind, value, action, reason, added_by, added_at, expires FROM list_entries;
DROP TABLE list_entries;
ALTER TABLE list_entries_012 RENAME TO list_entries;

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
-- The milters running reload their snapshot.
UPDATE lists_version SET version = version + 1 WHERE id = 1;
