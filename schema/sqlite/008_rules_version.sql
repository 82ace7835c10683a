-- 008_rules_version: the recipients' rules join the milter's in-memory lists snapshot (lib/lists.c),
-- so a change to rcpt_rules must move the counter the snapshot is built from, like a change to
-- list_entries does (003_lists).  Before this, the milter read rcpt_rules per RCPT.  The runner
-- wraps this file in a transaction and sets PRAGMA user_version itself.

CREATE TRIGGER rcpt_rules_inserted AFTER INSERT ON rcpt_rules
BEGIN
    UPDATE lists_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER rcpt_rules_updated AFTER UPDATE ON rcpt_rules
BEGIN
    UPDATE lists_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER rcpt_rules_deleted AFTER DELETE ON rcpt_rules
BEGIN
    UPDATE lists_version SET version = version + 1 WHERE id = 1;
END;
