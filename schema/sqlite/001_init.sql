-- 001_init: the decision log (ARCHITECTURE.md "Decision log").
--
-- One row per verdict the milter gave, so that `ingressctl why` can answer a sender's complaint
-- from a queue id, the reference quoted in the reply, an IP address or an email address; the rows
-- are deleted after decision_retention.  The runner wraps this file in a transaction and sets
-- PRAGMA user_version itself: no BEGIN, COMMIT or user_version here.

CREATE TABLE decisions (
    id INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,          -- unix seconds
    queue_id TEXT,                  -- NULL or 'NOQUEUE' before Postfix chose one
    ref TEXT,                       -- the reference given in the reply
    client_ip TEXT,
    client_name TEXT,               -- as the MTA reported it
    helo TEXT,
    sender TEXT,                    -- envelope MAIL FROM without brackets, '' for <>
    recipient TEXT,
    account TEXT,                   -- {auth_authen}
    check_name TEXT NOT NULL,       -- 'iprev', 'policy', ...
    action TEXT NOT NULL,           -- verdict_action_name()
    reply TEXT,                     -- the full reply text given, NULL when none
    detail TEXT                     -- what the check saw
);

-- `ingressctl why KEY` looks KEY up in each of these columns; addresses compare without case, so
-- their indexes must use the same collation for the lookup to use them.
CREATE INDEX decisions_queue_id ON decisions (queue_id);
CREATE INDEX decisions_ref ON decisions (ref);
CREATE INDEX decisions_client_ip ON decisions (client_ip);
CREATE INDEX decisions_sender ON decisions (sender COLLATE NOCASE);
CREATE INDEX decisions_recipient ON decisions (recipient COLLATE NOCASE);
-- Expiry deletes the oldest rows first.
CREATE INDEX decisions_time ON decisions (time);
