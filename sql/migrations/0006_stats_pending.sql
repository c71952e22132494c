-- The read model is folded after the ingest transaction instead of inside it.
--
-- Until 0005 the ingest transaction called stats_apply_ingest() itself, which cost about half
-- of a full batch's time (bench/ingest.py). Now the ingest transaction only records which rows
-- it inserted, in stats_pending, in the same transaction as the rows. stats_fold_pending()
-- moves them into the read model later, with the same computation as before (renamed
-- stats_fold_rows() below). Maintenance == rebuild still holds, because a fold sees exactly
-- what an ingest transaction used to see:
--
-- * it first locks the sites' rows (the lock every ingest transaction takes before writing
--   and keeps until it commits), so every pending row of those sites is committed and visible,
--   and no new one can appear until the fold commits;
-- * it folds all of those sites' pending rows at once, so the event tables hold exactly the
--   folded rows plus the fold's own: "the rows before" are what the rollups hold.
--
-- Folds run on a schedule (every minute, in AWS and in the local stack) and
-- before every hot-store query of the queried sites, so answers still count every committed
-- event. stats_rebuild() clears the pending rows of the sites it rebuilds, under the same
-- lock.

CREATE TABLE stats_pending (
    site_id    TEXT    NOT NULL,
    dt         DATE    NOT NULL,
    event_uid  TEXT    NOT NULL,
    is_initial BOOLEAN NOT NULL
);
CREATE INDEX stats_pending_site ON stats_pending (site_id);

-- The fold of the rows in the temporary tables keeps its body under a new name; under the old
-- name, a transaction of the ingest code from before this migration (still running while a
-- deploy switches versions) records its rows as pending instead of folding them itself: a fold
-- inside an ingest transaction would count pending rows of its sessions as already folded.
ALTER FUNCTION stats_apply_ingest() RENAME TO stats_fold_rows;

CREATE FUNCTION stats_apply_ingest() RETURNS void
LANGUAGE plpgsql
AS $apply$
BEGIN
    IF to_regclass('pg_temp.ingest_new_events') IS NOT NULL THEN
        INSERT INTO stats_pending (site_id, dt, event_uid, is_initial)
        SELECT site_id, dt, event_uid, false FROM ingest_new_events;
    END IF;
    IF to_regclass('pg_temp.ingest_new_initial_events') IS NOT NULL THEN
        INSERT INTO stats_pending (site_id, dt, event_uid, is_initial)
        SELECT site_id, dt, event_uid, true FROM ingest_new_initial_events;
    END IF;
END
$apply$;

-- Fold the pending rows of `only_sites` (every site when NULL) into the read model; returns
-- how many rows were folded. Rows whose partition was dropped meanwhile are only forgotten.
CREATE FUNCTION stats_fold_pending(only_sites TEXT[] DEFAULT NULL) RETURNS BIGINT
LANGUAGE plpgsql
SET jit = off
AS $fold_pending$
DECLARE
    pending_sites TEXT[];
    folded BIGINT;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'stats_fold_pending needs READ COMMITTED (the pending rows committed '
            'before the sites'' lock was granted must be visible), not %',
            current_setting('transaction_isolation');
    END IF;
    pending_sites := ARRAY(
        SELECT DISTINCT site_id FROM stats_pending
        WHERE only_sites IS NULL OR site_id = ANY (only_sites)
        ORDER BY site_id
    );
    IF cardinality(pending_sites) = 0 THEN
        RETURN 0;
    END IF;
    -- In site id order, as the ingest transaction takes them: nobody waits in a cycle.
    PERFORM FROM sites WHERE site_id = ANY (pending_sites) ORDER BY site_id FOR UPDATE;

    CREATE TEMP TABLE stats_folding ON COMMIT DROP AS
    SELECT site_id, dt, event_uid, is_initial FROM stats_pending WITH NO DATA;
    WITH taken AS (
        DELETE FROM stats_pending WHERE site_id = ANY (pending_sites)
        RETURNING site_id, dt, event_uid, is_initial
    )
    INSERT INTO stats_folding SELECT * FROM taken;
    GET DIAGNOSTICS folded = ROW_COUNT;
    ANALYZE stats_folding;

    -- The contract of stats_fold_rows(): exactly the rows to fold, shaped like the tables.
    CREATE TEMP TABLE ingest_new_events ON COMMIT DROP AS
    SELECT e.* FROM stats_folding AS p
    JOIN events AS e ON e.event_uid = p.event_uid AND e.dt = p.dt
    WHERE NOT p.is_initial;
    CREATE TEMP TABLE ingest_new_initial_events ON COMMIT DROP AS
    SELECT i.* FROM stats_folding AS p
    JOIN initial_events AS i ON i.event_uid = p.event_uid AND i.dt = p.dt
    WHERE p.is_initial;
    ANALYZE ingest_new_events, ingest_new_initial_events;
    PERFORM stats_fold_rows();
    DROP TABLE stats_folding, ingest_new_events, ingest_new_initial_events;
    RETURN folded;
END
$fold_pending$;

-- The rebuild from raw rows, renamed; stats_rebuild() below wraps it.
ALTER FUNCTION stats_rebuild(TEXT[]) RENAME TO stats_rebuild_from_rows;

-- Recompute the read model of `only_sites` (every site when NULL) from the raw rows. Their
-- pending rows are dropped (the rebuild counts them), under the sites' lock so that no ingest
-- transaction adds any meanwhile. For every site that lock also holds back changes to sites.
CREATE FUNCTION stats_rebuild(only_sites TEXT[] DEFAULT NULL) RETURNS void
LANGUAGE plpgsql
AS $rebuild$
BEGIN
    IF only_sites IS NULL THEN
        -- Every site, including one created meanwhile: no ingest transaction can lock a site
        -- (FOR UPDATE) until this commits; those holding one are waited for.
        LOCK TABLE sites IN EXCLUSIVE MODE;
        DELETE FROM stats_pending;
    ELSE
        PERFORM FROM sites WHERE site_id = ANY (only_sites) ORDER BY site_id FOR UPDATE;
        DELETE FROM stats_pending WHERE site_id = ANY (only_sites);
    END IF;
    PERFORM stats_rebuild_from_rows(only_sites);
END
$rebuild$;
