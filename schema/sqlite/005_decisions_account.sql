-- 005_decisions_account: `ingressctl why ACCOUNT` finds the decisions about an authenticated
-- account's mail (the login may differ from every envelope sender it uses), so the account column
-- gets an index in the same collation as the lookup.
CREATE INDEX decisions_account ON decisions (account COLLATE NOCASE);
