-- 002_greylist: greylisting triplets and the auto-allowlist of client networks (the PostgreSQL
-- dialect of schema/sqlite/002_greylist.sql: the same tables and meaning; read that file for
-- them).  The runner wraps this file in a transaction and records the version itself.

CREATE TABLE greylist (
    source TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    confirmed_at BIGINT,
    count BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (source, sender, recipient)
);

-- Pending triplets expire in first_seen order; confirmed ones by a sweep over the primary key
-- (no index on last_seen, which every pass updates).
CREATE INDEX greylist_pending ON greylist (first_seen) WHERE confirmed_at IS NULL;

CREATE TABLE greylist_sweep (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    source TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL
);

CREATE TABLE autoallow (
    network TEXT NOT NULL PRIMARY KEY,
    count BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
);
CREATE INDEX autoallow_last_seen ON autoallow (last_seen);
