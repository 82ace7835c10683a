-- 015_decisions_domain: the PostgreSQL dialect of schema/sqlite/015_decisions_domain.sql: the
-- sender's and the recipient's domain indexed, as the search statement in
-- lib/store/pg_decisions.c writes them (a search by domain read every row).  The (key, time)
-- forms and the client IP's of the SQLite file serve its statement's newest-first reads; here
-- each partition answers the statement with a BitmapOr of plain indexes, which these join.  On
-- the partitioned table each partition gets them.  The runner wraps this file in a transaction
-- and records the version itself.

CREATE INDEX decisions_sender_domain ON decisions (lower(substr(sender, strpos(sender, '@') + 1)));
CREATE INDEX decisions_recipient_domain
    ON decisions (lower(substr(recipient, strpos(recipient, '@') + 1)));
