-- 006_throttle: per-account send-rate counters and throttle state (the rules
-- are lib/throttle.c).  The runner wraps this file in a transaction and sets PRAGMA user_version
-- itself: no BEGIN, COMMIT or user_version here.

-- Counters of an account's accepted (or held) mail per bucket of time: width 5 (seconds) for the
-- minute window, 60 for the hour window, 3600 for the day window and the baseline history.
-- start is a multiple of width (unix seconds).  minutes (hourly rows only): how many distinct
-- minutes of that hour had mail, the divisor of the per-minute baseline.  The milter counts in
-- memory and adds its counts here in one transaction every few seconds (throttle_flush), so a
-- message costs no write transaction of its own.  WITHOUT ROWID: an account's rows are read by a
-- range of the primary key.
CREATE TABLE throttle_buckets (
    account TEXT NOT NULL COLLATE NOCASE,
    width INTEGER NOT NULL CHECK (width IN (5, 60, 3600)),
    start INTEGER NOT NULL,
    msgs INTEGER NOT NULL DEFAULT 0,
    rcpts INTEGER NOT NULL DEFAULT 0,
    minutes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account, width, start)
) WITHOUT ROWID;

-- Expiry deletes the oldest rows of each width in bounded batches.  A row's width and start never
-- change, so the index costs one insert per new bucket, none per counted message.
CREATE INDEX throttle_buckets_start ON throttle_buckets (width, start);

-- One row per account that was ever throttled or has limits of its own.  Not tied to accounts:
-- an authenticated login need not be registered with `ingressctl account add`.
CREATE TABLE account_throttle (
    account TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
    throttled INTEGER,                   -- unix seconds since it is throttled; NULL: not
    reason TEXT NOT NULL DEFAULT '',     -- why (the window and the rates)
    reset_at INTEGER NOT NULL DEFAULT 0, -- written by unthrottle: counts in buckets that started
                                         -- before this time are forgiven
    -- The account's own static limits; NULL: the option's default; 0: no static limit.
    msgs_minute INTEGER,
    rcpts_minute INTEGER,
    msgs_hour INTEGER,
    rcpts_hour INTEGER,
    msgs_day INTEGER,
    rcpts_day INTEGER
);

-- `ingressctl` lists the throttled accounts, oldest first.
CREATE INDEX account_throttle_throttled ON account_throttle (throttled) WHERE throttled IS NOT NULL;
