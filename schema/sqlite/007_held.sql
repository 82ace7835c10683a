-- 007_held: the messages held for the postmaster's review (ARCHITECTURE.md "Submission").  The
-- milter writes a row when it asks the MTA to put a message on hold (smfi_quarantine); ingressctl
-- held release|reject drives the MTA and records the decision in the same row.  The runner wraps
-- this file in a transaction and sets PRAGMA user_version itself.

-- One row per held message.  Postfix reuses queue ids (rarely, and never two at once in the
-- queue), so the key is a row id and lookups by queue id take the newest row.
CREATE TABLE held (
    id INTEGER PRIMARY KEY,
    queue_id TEXT NOT NULL,
    held_at INTEGER NOT NULL,              -- unix seconds
    account TEXT NOT NULL COLLATE NOCASE,  -- {auth_authen}
    sender TEXT NOT NULL,                  -- envelope MAIL FROM, without brackets
    recipients TEXT NOT NULL,              -- accepted recipients, one a line (at most 1000)
    nrcpt INTEGER NOT NULL,                -- how many recipients in all
    subject TEXT NOT NULL DEFAULT '',      -- as received, bounded; escape before printing
    size INTEGER NOT NULL,                 -- header and body bytes as the milter saw them
    reason TEXT NOT NULL,                  -- why it was held: the window and the rates
    state TEXT NOT NULL DEFAULT 'held'
        CHECK (state IN ('held', 'released', 'rejected', 'gone')),
    decided_by TEXT NOT NULL DEFAULT '',
    decided_at INTEGER,                    -- unix seconds; NULL while held
    decision_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX held_queue_id ON held (queue_id);
CREATE INDEX held_account ON held (account, held_at);
CREATE INDEX held_state ON held (state, held_at);
