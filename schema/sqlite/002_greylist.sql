-- 002_greylist: greylisting triplets and the auto-allowlist of client networks
-- (ARCHITECTURE.md "Greylisting"; policy in lib/greylist.c, which normalizes every value before
-- it gets here).
--
-- A triplet is (source, sender, recipient).  source is the client's network ('192.0.2.0/24',
-- '2001:db8:1:2::/64', 'unknown') or, for mail whose MAIL FROM passed SPF, 'spf:' and the
-- SPF-pass domain: that row lets a sender's rotating address pool retry from any of its networks.
-- The runner wraps this file in a transaction and sets PRAGMA user_version itself.
--
-- WITHOUT ROWID: the primary key is the only way a check reads the table, so the table itself is
-- the lookup B-tree (one search, no second index to keep in step on every insert).

CREATE TABLE greylist (
    source TEXT NOT NULL,           -- network or 'spf:' || domain
    sender TEXT NOT NULL,           -- normalized envelope sender, '<>' for the null sender
    recipient TEXT NOT NULL,        -- lower case
    first_seen INTEGER NOT NULL,    -- unix seconds: the attempt that started the delay
    last_seen INTEGER NOT NULL,     -- unix seconds: the last pass (first_seen while pending)
    confirmed_at INTEGER,           -- unix seconds; NULL while pending
    count INTEGER NOT NULL DEFAULT 0, -- passes (deliveries) through this triplet
    PRIMARY KEY (source, sender, recipient)
) WITHOUT ROWID;

-- Expiry of pending triplets walks this index in first_seen order, in bounded batches (the retry
-- window runs from first_seen, and a pending row is never updated in place, so the index costs
-- one insert per new triplet).  Confirmed triplets have no time index on purpose: every pass
-- updates last_seen, and an index on it would move an entry on each use, which more than halved
-- the check rate measured with 1,000,000 rows (tests/bench/greylist_bench.c).  Their expiry is a
-- sweep over the primary key instead, resumed where the last run stopped (greylist_sweep).
CREATE INDEX greylist_pending ON greylist (first_seen) WHERE confirmed_at IS NULL;

-- Where the expiry sweep over confirmed triplets resumes: the last key it examined (one row).
CREATE TABLE greylist_sweep (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    source TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL
);

-- Deliveries that passed greylisting, per client network; autoallow_after of them and the
-- network is no longer greylisted.  Deliveries are counted at most once an hour (see
-- lib/greylist.c), so one burst does not allow a network, and the row is written at most once an
-- hour per network.
CREATE TABLE autoallow (
    network TEXT NOT NULL PRIMARY KEY,
    count INTEGER NOT NULL,         -- counted deliveries
    first_seen INTEGER NOT NULL,    -- unix seconds: the first counted delivery
    last_seen INTEGER NOT NULL      -- unix seconds: the last counted delivery
) WITHOUT ROWID;

-- Expiry: greylist_max_age after the last counted delivery.
CREATE INDEX autoallow_last_seen ON autoallow (last_seen);
