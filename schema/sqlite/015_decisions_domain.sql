-- 015_decisions_domain: `ingressctl why` (and the console's search) reads only the decisions it
-- shows.  The sender's and the recipient's domain are indexed (a search by domain read every row
-- of the period: seconds on a million rows), each with the time, and the client IP with the time
-- (replacing its index of 001), so that the newest decisions of a busy client or domain are the
-- first entries of the index instead of a sort of all of them.  The expressions are exactly those
-- of the search statement (lib/store/sqlite_decisions.c), which is what lets SQLite use them.  The
-- runner wraps this file in a transaction and sets PRAGMA user_version itself.

CREATE INDEX decisions_sender_domain
    ON decisions (lower(substr(sender, instr(sender, '@') + 1)), time);
CREATE INDEX decisions_recipient_domain
    ON decisions (lower(substr(recipient, instr(recipient, '@') + 1)), time);
CREATE INDEX decisions_client_ip_time ON decisions (client_ip, time);
DROP INDEX decisions_client_ip;
