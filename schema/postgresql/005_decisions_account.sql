-- 005_decisions_account: `ingressctl why ACCOUNT` finds the decisions about an authenticated
-- account's mail, without ASCII case (schema/sqlite/005_decisions_account.sql).
CREATE INDEX decisions_account ON decisions (lower(account));
