-- 012_list_public_text: the PostgreSQL dialect of schema/sqlite/012_list_public_text.sql (an
-- entry's public text beside its internal reason, the action greylist_exempt, the kinds ptr_regex,
-- helo_regex and recipient).  The runner wraps this file in a transaction and records the
-- version itself.

ALTER TABLE list_entries ADD COLUMN public_text TEXT NOT NULL DEFAULT '';
ALTER TABLE list_entries DROP CONSTRAINT list_entries_kind_check;
ALTER TABLE list_entries ADD CONSTRAINT list_entries_kind_check
    CHECK (kind IN ('cidr', 'ptr_domain', 'helo_domain', 'sender_domain', 'sender', 'ptr_regex',
                    'helo_regex', 'recipient'));
ALTER TABLE list_entries DROP CONSTRAINT list_entries_action_check;
ALTER TABLE list_entries ADD CONSTRAINT list_entries_action_check
    CHECK (action IN ('block', 'allow', 'greylist_exempt'));
UPDATE lists_version SET version = version + 1 WHERE id = 1;
