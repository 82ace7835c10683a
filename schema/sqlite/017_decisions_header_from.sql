-- 017_decisions_header_from: the address of a message's header From (its one mailbox, in lower
-- case) in a column of its own, indexed with the time, so that `ingressctl why ADDRESS` (and the
-- console's search) finds the decisions about a message by its author with one indexed lookup.
-- It looked for the address inside every detail of the period before, which no index answers
-- (a second on a million rows).  The milter writes the column on the decisions it makes once the
-- headers are read.
--
-- Rows written before this migration get it from their detail where a check named the header From
-- there, in the two fixed forms the milter wrote: a DMARC decision's "; header From: VALUE" (the
-- address between the first '<' and '>' of VALUE, or VALUE itself when it has no '<') and the
-- submission check's "header_from=<ADDRESS>".  A header From written in another form (a comment,
-- a '<' inside a quoted display name) is not recovered: such an older row is still found by its
-- envelope, its reference, its queue id and its client.  The runner wraps this file in a
-- transaction and sets PRAGMA user_version itself.

ALTER TABLE decisions ADD COLUMN header_from TEXT;

UPDATE decisions
SET header_from = lower(CASE
        WHEN instr(v, '<') > 0
            THEN substr(v, instr(v, '<') + 1, instr(substr(v, instr(v, '<') + 1), '>') - 1)
        ELSE trim(v)
    END)
FROM (SELECT id AS vid, substr(detail, instr(detail, '; header From: ') + 15) AS v
      FROM decisions WHERE instr(detail, '; header From: ') > 0)
WHERE id = vid;

UPDATE decisions
SET header_from = lower(substr(detail, instr(detail, 'header_from=<') + 13,
                               instr(substr(detail, instr(detail, 'header_from=<') + 13), '>') - 1))
WHERE check_name = 'sender' AND instr(detail, 'header_from=<') > 0;

-- What the two forms gave that is no address (no '@', or an unclosed '<') is left out.
UPDATE decisions SET header_from = NULL
WHERE header_from IS NOT NULL AND (instr(header_from, '@') = 0 OR header_from = '');

CREATE INDEX decisions_header_from ON decisions (header_from, time);
