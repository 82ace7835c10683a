-- 013_placeholder: the number of a migration of another branch, so that 016 follows without a
-- gap; dropped when the branches are merged.

SELECT 1;
