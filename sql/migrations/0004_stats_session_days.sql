-- The read model's session-day rows: one per session and day, for the filtered queries the
-- rollups cannot answer.
--
-- A filter or a breakdown that the daily rollups do not cover (country==US broken down by
-- source, device!=mobile, several filters...) used to run on the raw event rows, attributing
-- every event to its session's initial event on the fly: seconds for a big site's month. Each
-- row here holds what that attribution gives for one session on one day: its events and
-- pageviews that day, its attributes (from the day's attributed initial event), and the visit
-- it started that day if any (the initial event's uid, whether it bounced, its duration). The
-- hot reader aggregates these rows directly, or joins them to the day's raw events when a
-- pathname or event is involved (adapters/postgres/stats.py). Maintained by stats_fold() like
-- the rollups (replaced here), partitioned by dt with the event tables' partition names.

CREATE TABLE stats_session_days (
    site_id           TEXT    NOT NULL,
    dt                DATE    NOT NULL,
    session_id        TEXT    NOT NULL,
    events            BIGINT  NOT NULL,
    pageviews         BIGINT  NOT NULL,
    visit_uid         TEXT,                        -- event_uid of the visit started this day
    visit_bounce      BOOLEAN NOT NULL DEFAULT false,
    visit_duration_ms BIGINT  NOT NULL DEFAULT 0,
    referer_domain    TEXT,
    utm_source        TEXT,
    utm_medium        TEXT,
    utm_campaign      TEXT,
    utm_content       TEXT,
    utm_term          TEXT,
    device            TEXT,
    os                TEXT,
    browser           TEXT,
    country           TEXT,
    region            TEXT,
    city              TEXT,
    CONSTRAINT stats_session_days_key UNIQUE (site_id, session_id, dt)
) PARTITION BY RANGE (dt);
CREATE TABLE stats_session_days_default PARTITION OF stats_session_days DEFAULT;

DO $partitions$
DECLARE
    part RECORD;
    day DATE;
BEGIN
    FOR part IN
        SELECT child.relname
        FROM pg_inherits
        JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
        JOIN pg_class child ON child.oid = pg_inherits.inhrelid
        JOIN pg_namespace ns ON ns.oid = parent.relnamespace
        WHERE ns.nspname = current_schema() AND parent.relname = 'events'
            AND child.relname ~ '^events_p[0-9]{8}$'
    LOOP
        day := to_date(substring(part.relname FROM 9), 'YYYYMMDD');
        EXECUTE format(
            'CREATE TABLE %I (LIKE stats_session_days INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
            'stats_session_days_p' || to_char(day, 'YYYYMMDD')
        );
        EXECUTE format(
            'ALTER TABLE stats_session_days ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
            'stats_session_days_p' || to_char(day, 'YYYYMMDD'), day, day + 1
        );
    END LOOP;
END
$partitions$;

-- Folds the rows staged in the temporary table stats_rows into the read model (0002, 0003),
-- now with the session-day rows.
CREATE OR REPLACE FUNCTION stats_fold() RETURNS void
LANGUAGE plpgsql
SET enable_nestloop = off
SET jit = off
AS $fold$
DECLARE
    zero_tables OID[];
    zero_rows TID[];
    first_day DATE;
    last_day DATE;
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
    CREATE TEMP TABLE stats_day_sums ON COMMIT DROP AS
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

    -- The session-day rows (one row each, not a sum): the touched sessions' days as they
    -- were are deleted, and inserted as they are now.
    SELECT min(dt), max(dt) INTO first_day, last_day FROM stats_day_sums WHERE sign < 0;
    IF first_day IS NOT NULL THEN
        DELETE FROM stats_session_days AS t
        USING (SELECT DISTINCT site_id, session_id, dt FROM stats_day_sums WHERE sign < 0) AS k
        WHERE t.dt BETWEEN first_day AND last_day
            AND t.site_id = k.site_id AND t.session_id = k.session_id AND t.dt = k.dt;
    END IF;
    INSERT INTO stats_session_days (
        site_id, dt, session_id, events, pageviews, visit_uid, visit_bounce, visit_duration_ms,
        referer_domain, utm_source, utm_medium, utm_campaign, utm_content, utm_term,
        device, os, browser, country, region, city
    )
    SELECT s.site_id, s.dt, s.session_id, s.events, s.pageviews,
        v.event_uid, coalesce(v.pageviews = 1, false), coalesce(v.duration_ms, 0),
        s.referer_domain, s.utm_source, s.utm_medium, s.utm_campaign, s.utm_content,
        s.utm_term, s.device, s.os, s.browser, s.country, s.region, s.city
    FROM stats_day_sums AS s
    LEFT JOIN stats_visits AS v
        ON v.sign = s.sign AND v.site_id = s.site_id AND v.session_id = s.session_id
        AND v.att_day = s.dt
    WHERE s.sign > 0
    ORDER BY s.site_id, s.session_id, s.dt;

    -- Per session, day, dimension and value: what the session adds there. Session dimensions
    -- come from the session-day; pathname and event from the events themselves.
    CREATE TEMP TABLE stats_presence ON COMMIT DROP AS
    SELECT s.sign, s.site_id, s.session_id, s.dt, d.dim, d.value,
        s.events, s.pageviews, s.visits, s.bounces, s.duration_ms
    FROM stats_day_sums AS s
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
                FROM stats_day_sums
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

    DROP TABLE stats_presence, stats_day_sums, stats_facts, stats_visits, stats_attribution,
        stats_rows;
END
$fold$;

-- Recomputes the read model (rollups, session-day rows, sessions' spans) from the raw rows: of the given sites, or
-- of every site (NULL). For bulk loads that bypass the ingest transaction.
CREATE OR REPLACE FUNCTION stats_rebuild(only_sites TEXT[] DEFAULT NULL) RETURNS void
LANGUAGE plpgsql
SET enable_nestloop = off
SET jit = off
AS $rebuild$
BEGIN
    PERFORM pg_advisory_xact_lock(7310582364811190129);
    IF only_sites IS NULL THEN
        TRUNCATE stats_daily, stats_hourly, stats_repeats, stats_sessions, stats_session_days;
    ELSE
        DELETE FROM stats_daily WHERE site_id = ANY (only_sites);
        DELETE FROM stats_hourly WHERE site_id = ANY (only_sites);
        DELETE FROM stats_repeats WHERE site_id = ANY (only_sites);
        DELETE FROM stats_sessions WHERE site_id = ANY (only_sites);
        DELETE FROM stats_session_days WHERE site_id = ANY (only_sites);
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

-- Backfill from the rows already stored.
SELECT stats_rebuild(NULL);
