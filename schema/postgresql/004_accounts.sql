-- 004_accounts: the submission accounts and the addresses they own (the PostgreSQL dialect of
-- schema/sqlite/004_accounts.sql: the same tables and meaning).  Account names compare without
-- ASCII case (SQLite's COLLATE NOCASE): the keys are on lower(name).  The runner wraps this file
-- in a transaction and records the version itself.

CREATE TABLE accounts (
    name TEXT NOT NULL,
    created BIGINT NOT NULL,
    suspended BIGINT,
    suspend_reason TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX accounts_name ON accounts (lower(name));

CREATE TABLE aliases (
    account TEXT NOT NULL,
    address TEXT NOT NULL,
    added_by TEXT NOT NULL DEFAULT '',
    added_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX aliases_key ON aliases (lower(account), address);
