-- 010_reserved: a placeholder that keeps the migrations 1..N without a gap on this branch, whose
-- own migration is 012 (the number assigned to it).  Delete this file when the real 010 is merged.
SELECT 1;
