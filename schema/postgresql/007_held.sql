-- 007_held: the messages held for the postmaster's review (the PostgreSQL dialect of
-- schema/sqlite/007_held.sql: the same table and meaning).  The runner wraps this file in a
-- transaction and records the version itself.

CREATE TABLE held (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue_id TEXT NOT NULL,
    held_at BIGINT NOT NULL,
    account TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipients TEXT NOT NULL,
    nrcpt BIGINT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    size BIGINT NOT NULL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'held'
        CHECK (state IN ('held', 'released', 'rejected', 'gone')),
    decided_by TEXT NOT NULL DEFAULT '',
    decided_at BIGINT,
    decision_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX held_queue_id ON held (queue_id);
CREATE INDEX held_account ON held (lower(account), held_at);
CREATE INDEX held_state ON held (state, held_at);
