-- 014_reserved: no change.  Holds the version number of a migration being written beside this
-- one, so that versions run without a gap; it is replaced by that migration.
SELECT 1
