-- The read model's maintenance, cheaper on the write path (0002 defined it; this replaces its
-- functions, same results).
--
-- 0002 found a touched session's raw rows by probing every daily partition of both event
-- tables (about 64 index or sequential scans per batch). stats_sessions remembers the span of
-- days each session's rows cover, so a batch reads only the partitions of its sessions' days
-- (usually today and yesterday). The span is a superset of where the rows are: it only ever
-- widens, and rows dropped by retention leave it wider than needed, never narrower; rows past
-- the hot retention leave the table with stats_expire(), which the partition maintenance
-- calls. Joins run as hash joins (the temporary tables have no statistics, and a nested loop
-- chosen on a guess of one row is quadratic), and the keys whose sums fall to zero are deleted
-- by their row address instead of by a join over every partition.

CREATE TABLE stats_sessions (
    site_id    TEXT NOT NULL,
    session_id TEXT NOT NULL,
    first_dt   DATE NOT NULL,    -- no row of the session is dated before first_dt
    last_dt    DATE NOT NULL,    -- nor after last_dt
    CONSTRAINT stats_sessions_pkey PRIMARY KEY (site_id, session_id)
) WITH (fillfactor = 80);  -- room for updates in place (a span that widens)

INSERT INTO stats_sessions (site_id, session_id, first_dt, last_dt)
SELECT site_id, session_id, min(dt), max(dt)
FROM (
    SELECT site_id, session_id, dt FROM events
    UNION ALL
    SELECT site_id, session_id, dt FROM initial_events
) AS stored
GROUP BY site_id, session_id;

-- Deletes rows by address (partition, ctid): the keys whose sums fell to zero in this
-- transaction, which nobody else can change meanwhile (their site is locked).
CREATE FUNCTION stats_delete_rows(tables OID[], row_ids TID[]) RETURNS void
LANGUAGE plpgsql AS $delete$
DECLARE
    part OID;
BEGIN
    IF row_ids IS NULL THEN
        RETURN;
    END IF;
    FOR part IN SELECT DISTINCT t FROM unnest(tables) AS t LOOP
        EXECUTE format('DELETE FROM %s WHERE ctid = ANY ($1)', part::regclass)
        USING ARRAY(SELECT r FROM unnest(tables, row_ids) AS z (t, r) WHERE z.t = part);
    END LOOP;
END
$delete$;

-- Folds the rows staged in the temporary table stats_rows into the rollups (see 0002).
CREATE OR REPLACE FUNCTION stats_fold() RETURNS void
LANGUAGE plpgsql
SET enable_nestloop = off
SET jit = off
AS $fold$
DECLARE
    zero_tables OID[];
    zero_rows TID[];
BEGIN
    -- The initial event each (session, day) is attributed to: the earliest (timestamp,
    -- event_uid) of the session's initial events dated that day or the day before.
    CREATE TEMP TABLE stats_attribution ON COMMIT DROP AS
    SELECT DISTINCT ON (sign, site_id, session_id, att_day)
        sign, site_id, session_id, att_day, dt AS initial_dt, event_uid,
        referer_domain, utm_source, utm_medium, utm_campaign, utm_content, utm_term,
        device, os, browser, country, region, city
    FROM (
        SELECT r.*, r.dt AS att_day FROM stats_rows AS r WHERE r.is_initial
        UNION ALL
        SELECT r.*, r.dt + 1 AS att_day FROM stats_rows AS r WHERE r.is_initial
    ) AS candidates
    ORDER BY sign, site_id, session_id, att_day, "timestamp", event_uid COLLATE "C";

    -- Visits: attributed initial events of their own day; their pageviews and duration count
    -- the session's events of that day and the next.
    CREATE TEMP TABLE stats_visits ON COMMIT DROP AS
    SELECT a.sign, a.site_id, a.session_id, a.att_day, a.event_uid,
        count(*) FILTER (WHERE r.event = 'pageview') AS pageviews,
        max(stats_epoch_ms(r."timestamp")) - min(stats_epoch_ms(r."timestamp")) AS duration_ms
    FROM stats_attribution AS a
    JOIN stats_rows AS r
        ON r.sign = a.sign AND r.site_id = a.site_id AND r.session_id = a.session_id
        AND r.dt BETWEEN a.att_day AND a.att_day + 1
    WHERE a.initial_dt = a.att_day
    GROUP BY a.sign, a.site_id, a.session_id, a.att_day, a.event_uid;

    -- Every event with its session's attributes and, for a visit, the visit's figures.
    CREATE TEMP TABLE stats_facts ON COMMIT DROP AS
    SELECT r.sign, r.site_id, r.session_id, r.dt,
        extract(hour FROM r."timestamp" AT TIME ZONE 'UTC')::smallint AS hour,
        r.event, r.pathname,
        (r.event = 'pageview') AS pageview,
        (v.event_uid IS NOT NULL) AS visit,
        coalesce(v.pageviews = 1, false) AS bounce,
        coalesce(v.duration_ms, 0) AS duration_ms,
        a.referer_domain, a.utm_source, a.utm_medium, a.utm_campaign, a.utm_content,
        a.utm_term, a.device, a.os, a.browser, a.country, a.region, a.city
    FROM stats_rows AS r
    LEFT JOIN stats_attribution AS a
        ON a.sign = r.sign AND a.site_id = r.site_id AND a.session_id = r.session_id
        AND a.att_day = r.dt
    LEFT JOIN stats_visits AS v
        ON r.is_initial AND v.sign = r.sign AND v.site_id = r.site_id
        AND v.session_id = r.session_id AND v.att_day = r.dt AND v.event_uid = r.event_uid;

    -- Per session and day: its counts there, and its attributes that day (one value each:
    -- they come from the day's attributed initial event).
    CREATE TEMP TABLE stats_session_days ON COMMIT DROP AS
    SELECT sign, site_id, session_id, dt,
        count(*) AS events,
        count(*) FILTER (WHERE pageview) AS pageviews,
        count(*) FILTER (WHERE visit) AS visits,
        count(*) FILTER (WHERE bounce) AS bounces,
        sum(duration_ms) AS duration_ms,
        referer_domain, utm_source, utm_medium, utm_campaign, utm_content, utm_term,
        device, os, browser, country, region, city
    FROM stats_facts
    GROUP BY sign, site_id, session_id, dt,
        referer_domain, utm_source, utm_medium, utm_campaign, utm_content, utm_term,
        device, os, browser, country, region, city;

    -- Per session, day, dimension and value: what the session adds there. Session dimensions
    -- come from the session-day; pathname and event from the events themselves.
    CREATE TEMP TABLE stats_presence ON COMMIT DROP AS
    SELECT s.sign, s.site_id, s.session_id, s.dt, d.dim, d.value,
        s.events, s.pageviews, s.visits, s.bounces, s.duration_ms
    FROM stats_session_days AS s
    CROSS JOIN LATERAL (VALUES
        ('', ''),
        ('referer_domain', s.referer_domain),
        ('utm_source', s.utm_source),
        ('utm_medium', s.utm_medium),
        ('utm_campaign', s.utm_campaign),
        ('utm_content', s.utm_content),
        ('utm_term', s.utm_term),
        ('device', s.device),
        ('os', s.os),
        ('browser', s.browser),
        ('country', s.country),
        ('region', s.region),
        ('city', s.city)
    ) AS d (dim, value)
    UNION ALL
    SELECT f.sign, f.site_id, f.session_id, f.dt, d.dim, d.value,
        count(*),
        count(*) FILTER (WHERE f.pageview),
        count(*) FILTER (WHERE f.visit),
        count(*) FILTER (WHERE f.bounce),
        sum(f.duration_ms)
    FROM stats_facts AS f
    CROSS JOIN LATERAL (VALUES ('pathname', f.pathname), ('event', f.event)) AS d (dim, value)
    GROUP BY f.sign, f.site_id, f.session_id, f.dt, d.dim, d.value;

    WITH changed AS (
        INSERT INTO stats_daily AS t
            (site_id, dt, dim, value, events, pageviews, visitors, visits, bounces, duration_ms)
        SELECT site_id, dt, dim, value,
            sum(sign * events), sum(sign * pageviews), sum(sign), sum(sign * visits),
            sum(sign * bounces), sum(sign * duration_ms)
        FROM stats_presence
        GROUP BY site_id, dt, dim, value
        HAVING sum(sign * events) <> 0 OR sum(sign * pageviews) <> 0 OR sum(sign) <> 0
            OR sum(sign * visits) <> 0 OR sum(sign * bounces) <> 0
            OR sum(sign * duration_ms) <> 0
        ORDER BY site_id, dim, value, dt  -- the unique index's order: fewer page visits
        ON CONFLICT (site_id, dim, value, dt) DO UPDATE SET
            events = t.events + excluded.events,
            pageviews = t.pageviews + excluded.pageviews,
            visitors = t.visitors + excluded.visitors,
            visits = t.visits + excluded.visits,
            bounces = t.bounces + excluded.bounces,
            duration_ms = t.duration_ms + excluded.duration_ms
        RETURNING t.tableoid, t.ctid, t.events
    )
    -- A key without events has nothing left (visits and visitors are events there too).
    SELECT array_agg(tableoid), array_agg(ctid) INTO zero_tables, zero_rows
    FROM changed WHERE events = 0;
    PERFORM stats_delete_rows(zero_tables, zero_rows);

    WITH changed AS (
        INSERT INTO stats_repeats AS t (site_id, dt, dim, value, prev_dt, sessions)
        SELECT site_id, dt, dim, value, prev_dt, sum(sign)
        FROM (
            -- Only sessions seen on several days can be seen again.
            SELECT p.sign, p.site_id, p.dt, p.dim, p.value,
                lag(p.dt) OVER (
                    PARTITION BY p.sign, p.site_id, p.session_id, p.dim, p.value ORDER BY p.dt
                ) AS prev_dt
            FROM stats_presence AS p
            JOIN (
                SELECT sign, site_id, session_id
                FROM stats_session_days
                GROUP BY sign, site_id, session_id
                HAVING count(*) > 1
            ) AS several USING (sign, site_id, session_id)
        ) AS p
        WHERE prev_dt IS NOT NULL
        GROUP BY site_id, dt, dim, value, prev_dt
        HAVING sum(sign) <> 0
        ON CONFLICT (site_id, dim, value, dt, prev_dt) DO UPDATE SET
            sessions = t.sessions + excluded.sessions
        RETURNING t.tableoid, t.ctid, t.sessions
    )
    SELECT array_agg(tableoid), array_agg(ctid) INTO zero_tables, zero_rows
    FROM changed WHERE sessions = 0;
    PERFORM stats_delete_rows(zero_tables, zero_rows);

    WITH changed AS (
        INSERT INTO stats_hourly AS t
            (site_id, dt, hour, events, pageviews, visitors, visits, bounces, duration_ms)
        SELECT site_id, dt, hour,
            sum(sign * events), sum(sign * pageviews), sum(sign), sum(sign * visits),
            sum(sign * bounces), sum(sign * duration_ms)
        FROM (
            SELECT sign, site_id, session_id, dt, hour,
                count(*) AS events,
                count(*) FILTER (WHERE pageview) AS pageviews,
                count(*) FILTER (WHERE visit) AS visits,
                count(*) FILTER (WHERE bounce) AS bounces,
                sum(duration_ms) AS duration_ms
            FROM stats_facts
            GROUP BY sign, site_id, session_id, dt, hour
        ) AS s
        GROUP BY site_id, dt, hour
        HAVING sum(sign * events) <> 0 OR sum(sign * pageviews) <> 0 OR sum(sign) <> 0
            OR sum(sign * visits) <> 0 OR sum(sign * bounces) <> 0
            OR sum(sign * duration_ms) <> 0
        ON CONFLICT (site_id, dt, hour) DO UPDATE SET
            events = t.events + excluded.events,
            pageviews = t.pageviews + excluded.pageviews,
            visitors = t.visitors + excluded.visitors,
            visits = t.visits + excluded.visits,
            bounces = t.bounces + excluded.bounces,
            duration_ms = t.duration_ms + excluded.duration_ms
        RETURNING t.tableoid, t.ctid, t.events
    )
    SELECT array_agg(tableoid), array_agg(ctid) INTO zero_tables, zero_rows
    FROM changed WHERE events = 0;
    PERFORM stats_delete_rows(zero_tables, zero_rows);

    DROP TABLE stats_presence, stats_session_days, stats_facts, stats_visits, stats_attribution,
        stats_rows;
END
$fold$;

-- Called once by the ingest transaction after its inserts, with exactly the inserted rows in
-- the temporary tables ingest_new_events and ingest_new_initial_events.
CREATE OR REPLACE FUNCTION stats_apply_ingest() RETURNS void
LANGUAGE plpgsql
SET enable_nestloop = off
SET jit = off
AS $apply$
DECLARE
    touched_sessions TEXT[];
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

    CREATE TEMP TABLE stats_touched ON COMMIT DROP AS
    SELECT site_id, session_id, min(dt) AS first_dt, max(dt) AS last_dt
    FROM (
        SELECT site_id, session_id, dt FROM ingest_new_events
        UNION ALL
        SELECT site_id, session_id, dt FROM ingest_new_initial_events
    ) AS new_rows
    GROUP BY site_id, session_id;
    touched_sessions := ARRAY(SELECT session_id FROM stats_touched);

    -- Widen the sessions' spans (updated in place: the table keeps room in its pages); the
    -- union of the spans bounds the days to read.
    WITH spans AS (
        INSERT INTO stats_sessions AS t (site_id, session_id, first_dt, last_dt)
        SELECT site_id, session_id, first_dt, last_dt FROM stats_touched
        ORDER BY site_id, session_id
        ON CONFLICT (site_id, session_id) DO UPDATE SET
            first_dt = least(t.first_dt, excluded.first_dt),
            last_dt = greatest(t.last_dt, excluded.last_dt)
        RETURNING t.first_dt, t.last_dt
    )
    SELECT min(spans.first_dt), max(spans.last_dt) INTO first_day, last_day FROM spans;

    CREATE TEMP TABLE stats_rows ON COMMIT DROP AS
    WITH current_rows AS (
        SELECT e.site_id, e.session_id, e."timestamp", e.dt, e.event, e.pathname, e.event_uid,
            false AS is_initial,
            NULL::text AS referer_domain, NULL::text AS utm_source, NULL::text AS utm_medium,
            NULL::text AS utm_campaign, NULL::text AS utm_content, NULL::text AS utm_term,
            NULL::text AS device, NULL::text AS os, NULL::text AS browser,
            NULL::text AS country, NULL::text AS region, NULL::text AS city,
            (n.event_uid IS NOT NULL) AS is_new
        FROM events AS e
        JOIN stats_touched AS s ON s.site_id = e.site_id AND s.session_id = e.session_id
        LEFT JOIN ingest_new_events AS n ON n.event_uid = e.event_uid AND n.dt = e.dt
        WHERE e.dt BETWEEN first_day AND last_day AND e.session_id = ANY (touched_sessions)
        UNION ALL
        SELECT i.site_id, i.session_id, i."timestamp", i.dt, i.event, i.pathname, i.event_uid,
            true AS is_initial,
            i.referer_domain, i.utm_source, i.utm_medium, i.utm_campaign, i.utm_content,
            i.utm_term, i.device, i.os, i.browser, i.country, i.region, i.city,
            (n.event_uid IS NOT NULL) AS is_new
        FROM initial_events AS i
        JOIN stats_touched AS s ON s.site_id = i.site_id AND s.session_id = i.session_id
        LEFT JOIN ingest_new_initial_events AS n ON n.event_uid = i.event_uid AND n.dt = i.dt
        WHERE i.dt BETWEEN first_day AND last_day AND i.session_id = ANY (touched_sessions)
    )
    SELECT 1::smallint AS sign, site_id, session_id, "timestamp", dt, event, pathname,
        event_uid, is_initial, referer_domain, utm_source, utm_medium, utm_campaign,
        utm_content, utm_term, device, os, browser, country, region, city
    FROM current_rows
    UNION ALL
    SELECT -1::smallint, site_id, session_id, "timestamp", dt, event, pathname,
        event_uid, is_initial, referer_domain, utm_source, utm_medium, utm_campaign,
        utm_content, utm_term, device, os, browser, country, region, city
    FROM current_rows
    WHERE NOT is_new;

    PERFORM stats_fold();
    DROP TABLE stats_touched;
END
$apply$;

-- Recomputes the rollups (and the sessions' spans) from the raw rows: of the given sites, or
-- of every site (NULL). For bulk loads that bypass the ingest transaction.
CREATE OR REPLACE FUNCTION stats_rebuild(only_sites TEXT[] DEFAULT NULL) RETURNS void
LANGUAGE plpgsql
SET enable_nestloop = off
SET jit = off
AS $rebuild$
BEGIN
    PERFORM pg_advisory_xact_lock(7310582364811190129);
    IF only_sites IS NULL THEN
        TRUNCATE stats_daily, stats_hourly, stats_repeats, stats_sessions;
    ELSE
        DELETE FROM stats_daily WHERE site_id = ANY (only_sites);
        DELETE FROM stats_hourly WHERE site_id = ANY (only_sites);
        DELETE FROM stats_repeats WHERE site_id = ANY (only_sites);
        DELETE FROM stats_sessions WHERE site_id = ANY (only_sites);
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

-- Forgets the spans of sessions whose every row is older than `before` (the partition
-- maintenance drops and expires those rows; see adapters/postgres/partitions.py).
CREATE FUNCTION stats_expire(before DATE) RETURNS BIGINT
LANGUAGE sql
AS $expire$
    WITH gone AS (DELETE FROM stats_sessions WHERE last_dt < before RETURNING 1)
    SELECT count(*) FROM gone;
$expire$;
