-- Part of the read model (docs/read-model.md). This file is the function's definition: the
-- migration runner re-applies it whenever its content changes (a repeatable migration).
--
-- Forgets the spans of sessions whose every row is older than `before` (the partition
-- maintenance drops and expires those rows, then calls this; adapters/postgres/partitions.py).
-- Returns how many spans were forgotten.
CREATE OR REPLACE FUNCTION stats_expire(before DATE) RETURNS BIGINT
LANGUAGE sql
AS $expire$
    WITH gone AS (DELETE FROM stats_sessions WHERE last_dt < before RETURNING 1)
    SELECT count(*) FROM gone;
$expire$;
