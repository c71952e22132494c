-- Part of the read model (docs/read-model.md). This file is the function's definition: the
-- migration runner re-applies it whenever its content changes (a repeatable migration).
--
-- Fold the pending rows of `only_sites` (every site when NULL) into the read model: the keys
-- of stats_pending and the ranges of stats_pending_ranges; returns how many rows were pending
-- (keys plus the ranges' row counts). Rows whose partition was dropped meanwhile are only
-- forgotten.
--
-- The rows of each range are looked up by a statement of their own, planned with the range's
-- values (EXECUTE ... USING), in the partitions from first_dt to last_dt only: through the
-- primary key (event_id, dt) over (after_id, last_id], or through the site_id index for a site
-- with few rows on those days (a range spans the whole batch, all its sites' rows). One join of
-- all the ranges with the event tables is planned without the values, and PostgreSQL then reads
-- every row of each range's site on those days through the site_id index, however big the site
-- (seen with EXPLAIN; with nested loops forced too).
CREATE OR REPLACE FUNCTION stats_fold_pending(only_sites TEXT[] DEFAULT NULL) RETURNS BIGINT
LANGUAGE plpgsql
SET jit = off
AS $fold_pending$
DECLARE
    pending_sites TEXT[];
    folded BIGINT;
    pending_range stats_pending_ranges;
    -- $1 site_id, $2 after_id, $3 last_id, $4 first_dt, $5 last_dt
    range_rows CONSTANT TEXT := 'INSERT INTO %I SELECT e.* FROM %I AS e WHERE e.site_id = $1 '
        'AND e.event_id > $2 AND e.event_id <= $3 AND e.dt BETWEEN $4 AND $5';
    events_of_range CONSTANT TEXT := format(range_rows, 'ingest_new_events', 'events');
    initial_events_of_range CONSTANT TEXT :=
        format(range_rows, 'ingest_new_initial_events', 'initial_events');
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'stats_fold_pending needs READ COMMITTED (the pending rows committed '
            'before the sites'' lock was granted must be visible), not %',
            current_setting('transaction_isolation');
    END IF;
    pending_sites := ARRAY(
        SELECT site_id FROM stats_pending
        WHERE only_sites IS NULL OR site_id = ANY (only_sites)
        UNION
        SELECT site_id FROM stats_pending_ranges
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

    -- The contract of stats_fold_rows(): exactly the rows to fold, shaped like the tables: the
    -- keys' rows, then the ranges' (a row is either, recorded by the transaction inserting it).
    CREATE TEMP TABLE ingest_new_events ON COMMIT DROP AS
    SELECT e.* FROM stats_folding AS p
    JOIN events AS e ON e.event_uid = p.event_uid AND e.dt = p.dt
    WHERE NOT p.is_initial;
    CREATE TEMP TABLE ingest_new_initial_events ON COMMIT DROP AS
    SELECT i.* FROM stats_folding AS p
    JOIN initial_events AS i ON i.event_uid = p.event_uid AND i.dt = p.dt
    WHERE p.is_initial;
    FOR pending_range IN
        DELETE FROM stats_pending_ranges WHERE site_id = ANY (pending_sites) RETURNING *
    LOOP
        EXECUTE CASE WHEN pending_range.is_initial
            THEN initial_events_of_range ELSE events_of_range END
        USING pending_range.site_id, pending_range.after_id, pending_range.last_id,
            pending_range.first_dt, pending_range.last_dt;
        folded := folded + pending_range.row_count;
    END LOOP;
    ANALYZE ingest_new_events, ingest_new_initial_events;
    -- The fact blocks these rows touch go (the reader builds them again): a row dated L in a
    -- block's zone changes the blocks of L-1 (visits complete on the next day), L and L+1
    -- (attributions come from the day before). Three hours of margin either side in case
    -- PostgreSQL's zone data and Python's differ.
    DELETE FROM stats_fact_blocks AS b
    USING (
        SELECT site_id, min("timestamp") - interval '3 hours' AS first_at,
            max("timestamp") + interval '3 hours' AS last_at
        FROM (SELECT site_id, "timestamp" FROM ingest_new_events
              UNION ALL
              SELECT site_id, "timestamp" FROM ingest_new_initial_events) AS r
        GROUP BY site_id
    ) AS f
    WHERE b.site_id = f.site_id
        AND b.day BETWEEN (f.first_at AT TIME ZONE b.timezone)::date - 1
            AND (f.last_at AT TIME ZONE b.timezone)::date + 1;
    PERFORM stats_fold_rows();
    DROP TABLE stats_folding, ingest_new_events, ingest_new_initial_events;
    RETURN folded;
END
$fold_pending$;
