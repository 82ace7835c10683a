-- 010_held_host: which milter-ingress holds each message (the option host_name): the message sits
-- in that host's MTA queue, so on a database several hosts share, `ingressctl held release` on
-- another host knows where the release must run.  Rows written before have none (NULL: the host
-- that reads them).  The runner wraps this file in a transaction and sets PRAGMA user_version
-- itself.

ALTER TABLE held ADD COLUMN host TEXT;
