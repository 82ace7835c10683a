-- 015_decisions_domain: `ingressctl why DOMAIN` (and the console's search) finds the decisions
-- whose sender's or recipient's domain is DOMAIN through an index instead of reading every row
-- of the period: on a million decisions that read took seconds.  The expressions are exactly
-- those of the search statement (lib/store/sqlite_decisions.c), which is what lets SQLite use
-- them.  The runner wraps this file in a transaction and sets PRAGMA user_version itself.

CREATE INDEX decisions_sender_domain ON decisions (lower(substr(sender, instr(sender, '@') + 1)));
CREATE INDEX decisions_recipient_domain
    ON decisions (lower(substr(recipient, instr(recipient, '@') + 1)));
