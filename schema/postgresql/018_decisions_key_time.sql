-- 018_decisions_key_time: the PostgreSQL dialect of schema/sqlite/018_decisions_key_time.sql.
-- Every column `ingressctl why` (and the console's search) looks a busy key up in is indexed with
-- the time and id after it, so that the newest decisions of a sender, recipient, account, client,
-- domain or header From are the first entries of the index (in each day's partition) instead of
-- a walk of the whole decision log.  The search statement in lib/store/pg_decisions.c reads each
-- column on its own, newest first up to its limit, exactly as these expressions are written.
--
-- Before, each column had a plain index, and the search was one WHERE of ORs ordered by time: the
-- planner walked each partition's (time, id) index backwards, testing every row, until it had
-- enough of the key's (on a million decisions, tens of thousands of rows for a sender of one
-- decision in 500: 100 to 300 ms).  These replace those plain indexes (the same leading
-- expression, so an equality lookup is served as before; the queue id's and the reference's,
-- whose keys have a few rows each, stay).  On the partitioned table every partition gets them,
-- and the days' partitions made later too.  The runner wraps this file in a transaction and
-- records the version itself.

DROP INDEX decisions_client_ip;
CREATE INDEX decisions_client_ip_time ON decisions (client_ip, time, id);
DROP INDEX decisions_sender;
CREATE INDEX decisions_sender ON decisions (lower(sender), time, id);
DROP INDEX decisions_recipient;
CREATE INDEX decisions_recipient ON decisions (lower(recipient), time, id);
DROP INDEX decisions_account;
CREATE INDEX decisions_account ON decisions (lower(account), time, id);
DROP INDEX decisions_sender_domain;
CREATE INDEX decisions_sender_domain
    ON decisions (lower(substr(sender, strpos(sender, '@') + 1)), time, id);
DROP INDEX decisions_recipient_domain;
CREATE INDEX decisions_recipient_domain
    ON decisions (lower(substr(recipient, strpos(recipient, '@') + 1)), time, id);
DROP INDEX decisions_header_from;
CREATE INDEX decisions_header_from ON decisions (header_from, time, id);
