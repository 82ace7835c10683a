-- 004_accounts: the submission accounts and the addresses they own (ARCHITECTURE.md
-- "Submission"; lib/sender.c).  The runner wraps this file in a transaction and sets PRAGMA
-- user_version itself: no BEGIN, COMMIT or user_version here.

-- One row per account: the SASL login the MTA reports as {auth_authen}.  NOCASE: a login is
-- ASCII, and two spellings of one login must not be two accounts.
CREATE TABLE accounts (
    name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
    created INTEGER NOT NULL,            -- unix seconds
    suspended INTEGER,                   -- unix seconds of the suspension; NULL: not suspended
    suspend_reason TEXT NOT NULL DEFAULT ''
);

-- What an account owns besides its login: an address ("local@domain", the domain in lower case,
-- the local part as written: sender_case_sensitive decides how it compares) or a whole domain
-- ("@domain", for the domain's administrator).  Read per message by account, through the
-- UNIQUE index.
CREATE TABLE aliases (
    account TEXT NOT NULL COLLATE NOCASE,
    address TEXT NOT NULL,
    added_by TEXT NOT NULL DEFAULT '',
    added_at INTEGER NOT NULL,           -- unix seconds
    UNIQUE (account, address)
);
