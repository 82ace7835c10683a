-- 018_decisions_key_time: the sender, recipient and account are indexed with the time, as the
-- client IP, the domains (015) and the header From (017) already are, so that `ingressctl why
-- ADDRESS` (and the console's search) takes only the newest decisions of a busy address from
-- the start of its index (lib/store/sqlite_decisions.c) instead of every one of them (a recipient
-- of a hundred thousand decisions read them all to show twenty).  They replace the plain indexes
-- of 001 and 005, in the same collation, which an equality lookup uses as before.  The runner
-- wraps this file in a transaction and sets PRAGMA user_version itself.

DROP INDEX decisions_sender;
CREATE INDEX decisions_sender ON decisions (sender COLLATE NOCASE, time);
DROP INDEX decisions_recipient;
CREATE INDEX decisions_recipient ON decisions (recipient COLLATE NOCASE, time);
DROP INDEX decisions_account;
CREATE INDEX decisions_account ON decisions (account COLLATE NOCASE, time);
