-- 016_decisions_add_day_moves: decisions_add_day() (001) makes the partition of a day even when
-- the default partition, decisions_other, already holds rows of that day (written while the day
-- had no partition: a milter whose clock ran ahead, a day the writer could not prepare, a copy).
-- PostgreSQL refuses a new partition while the default one holds rows of its range, so before,
-- the day never got its partition (and the writer logged a warning after every batch); now those
-- rows move into it, in the same transaction as the partition is made: through a temporary table
-- of the session (dropped at commit), then inserted through the parent with their ids.  The
-- runner wraps this file in a transaction and records the version itself.

CREATE OR REPLACE FUNCTION decisions_add_day(day_start BIGINT) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    name TEXT := 'decisions_' || to_char(to_timestamp(day_start) AT TIME ZONE 'UTC', 'YYYYMMDD');
    waiting BOOLEAN;
BEGIN
    -- Two hosts adding the same day at once: one waits for the other (until its commit).
    PERFORM pg_advisory_xact_lock(7306916016250863619);
    IF day_start % 86400 <> 0 THEN
        RAISE EXCEPTION 'decisions_add_day: % is not the start of a day', day_start;
    END IF;
    IF to_regclass(name) IS NOT NULL THEN
        RETURN;
    END IF;
    SELECT EXISTS (SELECT 1 FROM decisions_other WHERE time >= day_start
                   AND time < day_start + 86400) INTO waiting;
    IF waiting THEN
        EXECUTE format('CREATE TEMPORARY TABLE decisions_moving ON COMMIT DROP AS SELECT * '
                       'FROM decisions WHERE time >= %s AND time < %s', day_start,
                       day_start + 86400);
        DELETE FROM decisions_other WHERE time >= day_start AND time < day_start + 86400;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF decisions FOR VALUES FROM (%s) TO (%s)',
                   name, day_start, day_start + 86400);
    IF waiting THEN
        EXECUTE 'INSERT INTO decisions OVERRIDING SYSTEM VALUE SELECT * FROM decisions_moving';
        EXECUTE 'DROP TABLE decisions_moving';
    END IF;
END
$$;
