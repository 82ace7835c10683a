-- 001_init: the decision log (the PostgreSQL dialect of schema/sqlite/001_init.sql: the same
-- columns and meaning; read that file for them).  The runner wraps this file in a transaction and
-- records the version itself (table schema_version): no BEGIN, COMMIT or version here.
--
-- A fleet writes one row per recipient decision, kept decision_retention: billions of rows.  The
-- table is partitioned by day on time (unix seconds), so that expiry can drop a day's partition
-- instead of deleting its rows one by one (no bloat, no vacuum of millions of dead rows).  Rows of
-- a day that has no partition yet land in decisions_other; decisions_add_day() creates a day's
-- partition ahead of time (the store calls it for today and tomorrow).

CREATE TABLE decisions (
    id BIGINT GENERATED ALWAYS AS IDENTITY,
    time BIGINT NOT NULL,
    queue_id TEXT,
    ref TEXT,
    client_ip TEXT,
    client_name TEXT,
    helo TEXT,
    sender TEXT,
    recipient TEXT,
    account TEXT,
    check_name TEXT NOT NULL,
    action TEXT NOT NULL,
    reply TEXT,
    detail TEXT
) PARTITION BY RANGE (time);

CREATE TABLE decisions_other PARTITION OF decisions DEFAULT;

-- `ingressctl why KEY` looks KEY up in each of these columns; addresses compare without ASCII
-- case, through lower() on both sides, which these indexes serve.
CREATE INDEX decisions_queue_id ON decisions (queue_id);
CREATE INDEX decisions_ref ON decisions (ref);
CREATE INDEX decisions_client_ip ON decisions (client_ip);
CREATE INDEX decisions_sender ON decisions (lower(sender));
CREATE INDEX decisions_recipient ON decisions (lower(recipient));
CREATE INDEX decisions_time ON decisions (time, id);

-- Creates the partition of the day that starts at day_start (unix seconds, a multiple of 86400),
-- named decisions_YYYYMMDD, unless it exists.  The name is made of digits only (to_char of a
-- number), never of text from outside.
CREATE FUNCTION decisions_add_day(day_start BIGINT) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    name TEXT := 'decisions_' || to_char(to_timestamp(day_start) AT TIME ZONE 'UTC', 'YYYYMMDD');
BEGIN
    -- Two hosts adding the same day at once: one waits for the other (until its commit).
    PERFORM pg_advisory_xact_lock(7306916016250863619);
    IF day_start % 86400 <> 0 THEN
        RAISE EXCEPTION 'decisions_add_day: % is not the start of a day', day_start;
    END IF;
    IF to_regclass(name) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF decisions FOR VALUES FROM (%s) TO (%s)',
                       name, day_start, day_start + 86400);
    END IF;
END
$$;
