-- 013_changes: who changed what, from where and why (ARCHITECTURE.md "Store").  ingressctl and
-- ingress-console write one row for every change they make to the lists, the held messages, the
-- accounts and the recipient rules; ingressctl why KEY shows the rows whose key is KEY among the
-- decisions, and held show shows the rows of its queue id.  A deleted list entry leaves its row
-- here.  Expired after changes_retention.  The runner wraps this file in a transaction and sets
-- PRAGMA user_version itself.

CREATE TABLE changes (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,                   -- unix seconds
    who TEXT NOT NULL,                     -- the user (the sudo caller, or the console's login)
    source TEXT NOT NULL,                  -- from where: "ingressctl on HOST", "console from ADDR"
    what TEXT NOT NULL,                    -- the verb: "list add", "held release", "unblock", ...
    key TEXT NOT NULL COLLATE NOCASE,      -- what it concerns: an IP, address, account, queue id
    detail TEXT NOT NULL DEFAULT '',       -- what changed, e.g. "cidr 192.0.2.0/24 block"
    reason TEXT NOT NULL DEFAULT ''        -- why, as given
);
CREATE INDEX changes_key ON changes (key, at);
CREATE INDEX changes_at ON changes (at);
