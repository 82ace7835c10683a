-- 006_throttle: per-account send-rate counters and throttle state (the PostgreSQL dialect of
-- schema/sqlite/006_throttle.sql: the same tables and meaning).  Account names compare without
-- ASCII case: the keys are on lower(account).  The runner wraps this file in a transaction and
-- records the version itself.

CREATE TABLE throttle_buckets (
    account TEXT NOT NULL,
    width INTEGER NOT NULL CHECK (width IN (5, 60, 3600)),
    start BIGINT NOT NULL,
    msgs BIGINT NOT NULL DEFAULT 0,
    rcpts BIGINT NOT NULL DEFAULT 0,
    minutes INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX throttle_buckets_key ON throttle_buckets (lower(account), width, start);
CREATE INDEX throttle_buckets_start ON throttle_buckets (width, start);

CREATE TABLE account_throttle (
    account TEXT NOT NULL,
    throttled BIGINT,
    reason TEXT NOT NULL DEFAULT '',
    reset_at BIGINT NOT NULL DEFAULT 0,
    msgs_minute BIGINT,
    rcpts_minute BIGINT,
    msgs_hour BIGINT,
    rcpts_hour BIGINT,
    msgs_day BIGINT,
    rcpts_day BIGINT
);
CREATE UNIQUE INDEX account_throttle_account ON account_throttle (lower(account));
CREATE INDEX account_throttle_throttled ON account_throttle (throttled) WHERE throttled IS NOT NULL;
