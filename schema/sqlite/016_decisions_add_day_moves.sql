-- 016_decisions_add_day_moves: nothing in SQLite, whose decision log is one table without day
-- partitions.  The PostgreSQL dialect's 016 lets decisions_add_day() make the partition of a day
-- whose rows are already in the default partition (it moves them in).  The runner wraps this file
-- in a transaction and sets PRAGMA user_version itself.

SELECT 1;
