-- Part of the read model (docs/read-model.md). This file is the function's definition: the
-- migration runner re-applies it whenever its content changes (a repeatable migration).
--
-- Recomputes the read model (rollups, session-day rows, sessions' spans) from the raw rows:
-- of the given sites, or of every site (NULL). stats_rebuild wraps it (pending rows, locks).
CREATE OR REPLACE FUNCTION stats_rebuild_from_rows(only_sites TEXT[] DEFAULT NULL) RETURNS void
LANGUAGE plpgsql
SET enable_nestloop = off
SET jit = off
AS $rebuild$
BEGIN
    PERFORM pg_advisory_xact_lock(7310582364811190129);
    IF only_sites IS NULL THEN
        TRUNCATE stats_daily, stats_hourly, stats_repeats, stats_sessions, stats_session_days;
        DELETE FROM stats_fact_blocks;  -- built again by the reader (fact_blocks.py)
    ELSE
        DELETE FROM stats_daily WHERE site_id = ANY (only_sites);
        DELETE FROM stats_hourly WHERE site_id = ANY (only_sites);
        DELETE FROM stats_repeats WHERE site_id = ANY (only_sites);
        DELETE FROM stats_sessions WHERE site_id = ANY (only_sites);
        DELETE FROM stats_session_days WHERE site_id = ANY (only_sites);
        DELETE FROM stats_fact_blocks WHERE site_id = ANY (only_sites);
    END IF;

    CREATE TEMP TABLE stats_rows ON COMMIT DROP AS
    SELECT 1::smallint AS sign, site_id, session_id, "timestamp", dt, event, pathname,
        event_uid, false AS is_initial,
        NULL::text AS referer_domain, NULL::text AS utm_source, NULL::text AS utm_medium,
        NULL::text AS utm_campaign, NULL::text AS utm_content, NULL::text AS utm_term,
        NULL::text AS device, NULL::text AS os, NULL::text AS browser,
        NULL::text AS country, NULL::text AS region, NULL::text AS city
    FROM events
    WHERE only_sites IS NULL OR site_id = ANY (only_sites)
    UNION ALL
    SELECT 1::smallint, site_id, session_id, "timestamp", dt, event, pathname,
        event_uid, true,
        referer_domain, utm_source, utm_medium, utm_campaign, utm_content, utm_term,
        device, os, browser, country, region, city
    FROM initial_events
    WHERE only_sites IS NULL OR site_id = ANY (only_sites);
    ANALYZE stats_rows;

    INSERT INTO stats_sessions (site_id, session_id, first_dt, last_dt)
    SELECT site_id, session_id, min(dt), max(dt) FROM stats_rows GROUP BY site_id, session_id;

    PERFORM stats_fold();
END
$rebuild$;
