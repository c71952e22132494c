-- Part of the read model (docs/read-model.md). This file is the function's definition: the
-- migration runner re-applies it whenever its content changes (a repeatable migration).
--
-- Folds exactly the rows held by the temporary tables ingest_new_events and
-- ingest_new_initial_events (the columns of events and initial_events): the sessions they touch
-- are recomputed from their raw rows before and after them, and the difference is added
-- (stats_fold). Called by stats_fold_pending, which stages the pending rows there. (The message
-- below still names the function by its name before 0006.)
CREATE OR REPLACE FUNCTION stats_fold_rows() RETURNS void
LANGUAGE plpgsql
SET enable_nestloop = off
SET jit = off
AS $apply$
DECLARE
    known_sessions TEXT[];
    first_day DATE;
    last_day DATE;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'stats_apply_ingest needs READ COMMITTED (the session''s rows committed '
            'by others must be visible once their lock is released), not %',
            current_setting('transaction_isolation');
    END IF;
    -- A batch that inserted nothing may not have created them.
    IF to_regclass('pg_temp.ingest_new_events') IS NULL THEN
        CREATE TEMP TABLE ingest_new_events (LIKE events) ON COMMIT DROP;
    END IF;
    IF to_regclass('pg_temp.ingest_new_initial_events') IS NULL THEN
        CREATE TEMP TABLE ingest_new_initial_events (LIKE initial_events) ON COMMIT DROP;
    END IF;
    IF NOT EXISTS (SELECT FROM ingest_new_events)
        AND NOT EXISTS (SELECT FROM ingest_new_initial_events) THEN
        RETURN;
    END IF;
    -- A rebuild excludes maintenance; maintenance of one site waits for the previous one, so
    -- that "the rows before this transaction" are exactly what the rollups already hold.
    PERFORM pg_advisory_xact_lock_shared(7310582364811190129);
    PERFORM pg_advisory_xact_lock(hashtextextended('stats:' || site_id, 0))
    FROM (
        SELECT site_id FROM ingest_new_events
        UNION
        SELECT site_id FROM ingest_new_initial_events
    ) AS sites
    ORDER BY hashtextextended('stats:' || site_id, 0);

    -- The touched sessions: the days of their new rows, and their span before this
    -- transaction (NULL for a session the read model does not know: all its rows are new).
    -- Index lookups, one per session (a hash join would read every span).
    SET LOCAL enable_nestloop = on;
    SET LOCAL enable_hashjoin = off;
    SET LOCAL enable_mergejoin = off;
    CREATE TEMP TABLE stats_touched ON COMMIT DROP AS
    SELECT n.site_id, n.session_id, n.first_dt, n.last_dt,
        s.first_dt AS known_first_dt, s.last_dt AS known_last_dt
    FROM (
        SELECT site_id, session_id, min(dt) AS first_dt, max(dt) AS last_dt
        FROM (
            SELECT site_id, session_id, dt FROM ingest_new_events
            UNION ALL
            SELECT site_id, session_id, dt FROM ingest_new_initial_events
        ) AS new_rows
        GROUP BY site_id, session_id
    ) AS n
    LEFT JOIN stats_sessions AS s ON s.site_id = n.site_id AND s.session_id = n.session_id;

    -- Their spans: new sessions inserted; known ones widened where the new rows fall outside.
    INSERT INTO stats_sessions (site_id, session_id, first_dt, last_dt)
    SELECT site_id, session_id, first_dt, last_dt
    FROM stats_touched
    WHERE known_first_dt IS NULL
    ORDER BY site_id COLLATE "C", session_id COLLATE "C";
    UPDATE stats_sessions AS s SET
        first_dt = least(s.first_dt, t.first_dt),
        last_dt = greatest(s.last_dt, t.last_dt)
    FROM stats_touched AS t
    WHERE t.known_first_dt IS NOT NULL
        AND (t.first_dt < t.known_first_dt OR t.last_dt > t.known_last_dt)
        AND s.site_id = t.site_id AND s.session_id = t.session_id;
    SET LOCAL enable_nestloop = off;
    SET LOCAL enable_hashjoin = on;
    SET LOCAL enable_mergejoin = on;

    -- New sessions: their rows are the new rows, with no "before" version.
    CREATE TEMP TABLE stats_rows ON COMMIT DROP AS
    SELECT 1::smallint AS sign, n.site_id, n.session_id, n."timestamp", n.dt, n.event,
        n.pathname, n.event_uid, false AS is_initial,
        NULL::text AS referer_domain, NULL::text AS utm_source, NULL::text AS utm_medium,
        NULL::text AS utm_campaign, NULL::text AS utm_content, NULL::text AS utm_term,
        NULL::text AS device, NULL::text AS os, NULL::text AS browser,
        NULL::text AS country, NULL::text AS region, NULL::text AS city
    FROM ingest_new_events AS n
    JOIN stats_touched AS s
        ON s.site_id = n.site_id AND s.session_id = n.session_id AND s.known_first_dt IS NULL
    UNION ALL
    SELECT 1::smallint, n.site_id, n.session_id, n."timestamp", n.dt, n.event,
        n.pathname, n.event_uid, true,
        n.referer_domain, n.utm_source, n.utm_medium, n.utm_campaign, n.utm_content,
        n.utm_term, n.device, n.os, n.browser, n.country, n.region, n.city
    FROM ingest_new_initial_events AS n
    JOIN stats_touched AS s
        ON s.site_id = n.site_id AND s.session_id = n.session_id AND s.known_first_dt IS NULL;

    -- Known sessions: all their rows now (+1) and before this transaction (-1), read from the
    -- partitions of the days their spans cover.
    known_sessions := ARRAY(
        SELECT session_id FROM stats_touched WHERE known_first_dt IS NOT NULL
    );
    IF cardinality(known_sessions) > 0 THEN
        SELECT min(least(first_dt, known_first_dt)), max(greatest(last_dt, known_last_dt))
        INTO first_day, last_day
        FROM stats_touched WHERE known_first_dt IS NOT NULL;

        INSERT INTO stats_rows
        WITH known AS (
            SELECT site_id, session_id FROM stats_touched WHERE known_first_dt IS NOT NULL
        ),
        current_rows AS (
            SELECT e.site_id, e.session_id, e."timestamp", e.dt, e.event, e.pathname,
                e.event_uid, false AS is_initial,
                NULL::text AS referer_domain, NULL::text AS utm_source,
                NULL::text AS utm_medium, NULL::text AS utm_campaign,
                NULL::text AS utm_content, NULL::text AS utm_term,
                NULL::text AS device, NULL::text AS os, NULL::text AS browser,
                NULL::text AS country, NULL::text AS region, NULL::text AS city,
                (n.event_uid IS NOT NULL) AS is_new
            FROM events AS e
            JOIN known AS s ON s.site_id = e.site_id AND s.session_id = e.session_id
            LEFT JOIN ingest_new_events AS n ON n.event_uid = e.event_uid AND n.dt = e.dt
            WHERE e.dt BETWEEN first_day AND last_day AND e.session_id = ANY (known_sessions)
            UNION ALL
            SELECT i.site_id, i.session_id, i."timestamp", i.dt, i.event, i.pathname,
                i.event_uid, true AS is_initial,
                i.referer_domain, i.utm_source, i.utm_medium, i.utm_campaign, i.utm_content,
                i.utm_term, i.device, i.os, i.browser, i.country, i.region, i.city,
                (n.event_uid IS NOT NULL) AS is_new
            FROM initial_events AS i
            JOIN known AS s ON s.site_id = i.site_id AND s.session_id = i.session_id
            LEFT JOIN ingest_new_initial_events AS n
                ON n.event_uid = i.event_uid AND n.dt = i.dt
            WHERE i.dt BETWEEN first_day AND last_day AND i.session_id = ANY (known_sessions)
        )
        SELECT 1::smallint, site_id, session_id, "timestamp", dt, event, pathname,
            event_uid, is_initial, referer_domain, utm_source, utm_medium, utm_campaign,
            utm_content, utm_term, device, os, browser, country, region, city
        FROM current_rows
        UNION ALL
        SELECT -1::smallint, site_id, session_id, "timestamp", dt, event, pathname,
            event_uid, is_initial, referer_domain, utm_source, utm_medium, utm_campaign,
            utm_content, utm_term, device, os, browser, country, region, city
        FROM current_rows
        WHERE NOT is_new;
    END IF;

    PERFORM stats_fold();
    DROP TABLE stats_touched;
END
$apply$;
