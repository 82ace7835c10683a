-- 009_decisions_host: which milter-ingress made each decision (the option host_name), so that
-- `ingressctl why` on a database several hosts share says which host decided.  Rows written
-- before have none (NULL).  The runner wraps this file in a transaction and sets PRAGMA
-- user_version itself.

ALTER TABLE decisions ADD COLUMN host TEXT;
