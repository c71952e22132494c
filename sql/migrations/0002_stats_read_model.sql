-- The hot store's read model for the query API: daily and hourly rollups, kept exact.
--
-- The metric definitions are those of analytics_core/stats.py (and docs/query.md). Every
-- number the rollups hold is a sum over sessions, so the model is maintained by sessions: the
-- ingest transaction calls stats_apply_ingest() (through adapters.postgres.rollups), which
-- takes the sessions touched by the rows it inserted, computes their contribution from their
-- raw rows before and after the insert, and adds the difference. stats_rebuild() computes the
-- same contributions for every session at once, so maintenance and rebuild agree by
-- construction (tests/integration/test_read_model.py checks it on random batch orders).
--
-- Tables (each range-partitioned by dt like the event tables, with the same partition names,
-- so the partition maintenance creates, fills and drops their days together with the events):
--
-- stats_daily    per site, day, dimension and value ('' / '' for the site's totals):
--                events, pageviews, visitors (sessions with an event that day with that value),
--                visits started that day with that value, their bounces and duration (ms);
-- stats_hourly   the same for the site's totals per UTC hour (hourly timeseries);
-- stats_repeats  per site, day, dimension, value and earlier day: how many sessions with that
--                value that day had it last on that earlier day. Distinct visitors over a range
--                are the daily visitors summed, minus the repeats whose earlier day is in the
--                range too: exact, without scanning sessions.

CREATE TABLE stats_daily (
    site_id     TEXT   NOT NULL,
    dt          DATE   NOT NULL,
    dim         TEXT   NOT NULL,          -- '' (totals) or a groupBy dimension name
    value       TEXT,                     -- NULL: the dimension is unknown for those events
    events      BIGINT NOT NULL DEFAULT 0,
    pageviews   BIGINT NOT NULL DEFAULT 0,
    visitors    BIGINT NOT NULL DEFAULT 0,
    visits      BIGINT NOT NULL DEFAULT 0,
    bounces     BIGINT NOT NULL DEFAULT 0,
    duration_ms BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT stats_daily_key UNIQUE NULLS NOT DISTINCT (site_id, dim, value, dt)
) PARTITION BY RANGE (dt);
CREATE TABLE stats_daily_default PARTITION OF stats_daily DEFAULT;

CREATE TABLE stats_hourly (
    site_id     TEXT     NOT NULL,
    dt          DATE     NOT NULL,
    hour        SMALLINT NOT NULL,
    events      BIGINT   NOT NULL DEFAULT 0,
    pageviews   BIGINT   NOT NULL DEFAULT 0,
    visitors    BIGINT   NOT NULL DEFAULT 0,
    visits      BIGINT   NOT NULL DEFAULT 0,
    bounces     BIGINT   NOT NULL DEFAULT 0,
    duration_ms BIGINT   NOT NULL DEFAULT 0,
    CONSTRAINT stats_hourly_key UNIQUE (site_id, dt, hour)
) PARTITION BY RANGE (dt);
CREATE TABLE stats_hourly_default PARTITION OF stats_hourly DEFAULT;

CREATE TABLE stats_repeats (
    site_id  TEXT   NOT NULL,
    dt       DATE   NOT NULL,
    dim      TEXT   NOT NULL,
    value    TEXT,
    prev_dt  DATE   NOT NULL,
    sessions BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT stats_repeats_key UNIQUE NULLS NOT DISTINCT (site_id, dim, value, dt, prev_dt)
) PARTITION BY RANGE (dt);
CREATE TABLE stats_repeats_default PARTITION OF stats_repeats DEFAULT;

-- Whole milliseconds since the epoch (the cold store keeps milliseconds).
CREATE FUNCTION stats_epoch_ms(ts TIMESTAMPTZ) RETURNS BIGINT
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN floor(extract(epoch FROM ts) * 1000)::bigint;

-- Folds the rows staged in the temporary table stats_rows into the rollups. stats_rows holds
-- complete sessions, each in one or two versions: sign +1 (the rows now) and sign -1 (the rows
-- before this transaction); contributions are added with their sign.
CREATE FUNCTION stats_fold() RETURNS void
LANGUAGE plpgsql AS $fold$
BEGIN
    ANALYZE stats_rows;

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
    ANALYZE stats_attribution;

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
    ANALYZE stats_visits;

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

    -- Per session, day, dimension and value: what the session adds there.
    CREATE TEMP TABLE stats_presence ON COMMIT DROP AS
    SELECT f.sign, f.site_id, f.session_id, f.dt, d.dim, d.value,
        count(*) AS events,
        count(*) FILTER (WHERE f.pageview) AS pageviews,
        count(*) FILTER (WHERE f.visit) AS visits,
        count(*) FILTER (WHERE f.bounce) AS bounces,
        sum(f.duration_ms) AS duration_ms
    FROM stats_facts AS f
    CROSS JOIN LATERAL (VALUES
        ('', ''),
        ('pathname', f.pathname),
        ('event', f.event),
        ('referer_domain', f.referer_domain),
        ('utm_source', f.utm_source),
        ('utm_medium', f.utm_medium),
        ('utm_campaign', f.utm_campaign),
        ('utm_content', f.utm_content),
        ('utm_term', f.utm_term),
        ('device', f.device),
        ('os', f.os),
        ('browser', f.browser),
        ('country', f.country),
        ('region', f.region),
        ('city', f.city)
    ) AS d (dim, value)
    GROUP BY f.sign, f.site_id, f.session_id, f.dt, d.dim, d.value;

    INSERT INTO stats_daily AS t
        (site_id, dt, dim, value, events, pageviews, visitors, visits, bounces, duration_ms)
    SELECT site_id, dt, dim, value,
        sum(sign * events), sum(sign * pageviews), sum(sign), sum(sign * visits),
        sum(sign * bounces), sum(sign * duration_ms)
    FROM stats_presence
    GROUP BY site_id, dt, dim, value
    HAVING sum(sign * events) <> 0 OR sum(sign * pageviews) <> 0 OR sum(sign) <> 0
        OR sum(sign * visits) <> 0 OR sum(sign * bounces) <> 0 OR sum(sign * duration_ms) <> 0
    ON CONFLICT (site_id, dim, value, dt) DO UPDATE SET
        events = t.events + excluded.events,
        pageviews = t.pageviews + excluded.pageviews,
        visitors = t.visitors + excluded.visitors,
        visits = t.visits + excluded.visits,
        bounces = t.bounces + excluded.bounces,
        duration_ms = t.duration_ms + excluded.duration_ms;

    -- A key without events has nothing left (visits and visitors are events there too).
    DELETE FROM stats_daily AS t
    USING (SELECT DISTINCT site_id, dt, dim, value FROM stats_presence WHERE sign < 0) AS k
    WHERE t.site_id = k.site_id AND t.dt = k.dt AND t.dim = k.dim
        AND t.value IS NOT DISTINCT FROM k.value AND t.events = 0;

    INSERT INTO stats_repeats AS t (site_id, dt, dim, value, prev_dt, sessions)
    SELECT site_id, dt, dim, value, prev_dt, sum(sign)
    FROM (
        SELECT sign, site_id, dt, dim, value,
            lag(dt) OVER (PARTITION BY sign, site_id, session_id, dim, value ORDER BY dt)
                AS prev_dt
        FROM stats_presence
    ) AS p
    WHERE prev_dt IS NOT NULL
    GROUP BY site_id, dt, dim, value, prev_dt
    HAVING sum(sign) <> 0
    ON CONFLICT (site_id, dim, value, dt, prev_dt) DO UPDATE SET
        sessions = t.sessions + excluded.sessions;

    DELETE FROM stats_repeats AS t
    USING (SELECT DISTINCT site_id, dt, dim, value FROM stats_presence WHERE sign < 0) AS k
    WHERE t.site_id = k.site_id AND t.dt = k.dt AND t.dim = k.dim
        AND t.value IS NOT DISTINCT FROM k.value AND t.sessions = 0;

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
        OR sum(sign * visits) <> 0 OR sum(sign * bounces) <> 0 OR sum(sign * duration_ms) <> 0
    ON CONFLICT (site_id, dt, hour) DO UPDATE SET
        events = t.events + excluded.events,
        pageviews = t.pageviews + excluded.pageviews,
        visitors = t.visitors + excluded.visitors,
        visits = t.visits + excluded.visits,
        bounces = t.bounces + excluded.bounces,
        duration_ms = t.duration_ms + excluded.duration_ms;

    DELETE FROM stats_hourly AS t
    USING (SELECT DISTINCT site_id, dt, hour FROM stats_facts WHERE sign < 0) AS k
    WHERE t.site_id = k.site_id AND t.dt = k.dt AND t.hour = k.hour AND t.events = 0;

    DROP TABLE stats_presence, stats_facts, stats_visits, stats_attribution, stats_rows;
END
$fold$;

-- Called once by the ingest transaction after its inserts, with exactly the inserted rows in
-- the temporary tables ingest_new_events and ingest_new_initial_events.
CREATE FUNCTION stats_apply_ingest() RETURNS void
LANGUAGE plpgsql AS $apply$
DECLARE
    touched_sessions TEXT[];
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
    SELECT site_id, session_id FROM ingest_new_events
    UNION
    SELECT site_id, session_id FROM ingest_new_initial_events;
    ANALYZE stats_touched;
    touched_sessions := ARRAY(SELECT DISTINCT session_id FROM stats_touched);

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
        WHERE e.session_id = ANY (touched_sessions)
        UNION ALL
        SELECT i.site_id, i.session_id, i."timestamp", i.dt, i.event, i.pathname, i.event_uid,
            true AS is_initial,
            i.referer_domain, i.utm_source, i.utm_medium, i.utm_campaign, i.utm_content,
            i.utm_term, i.device, i.os, i.browser, i.country, i.region, i.city,
            (n.event_uid IS NOT NULL) AS is_new
        FROM initial_events AS i
        JOIN stats_touched AS s ON s.site_id = i.site_id AND s.session_id = i.session_id
        LEFT JOIN ingest_new_initial_events AS n ON n.event_uid = i.event_uid AND n.dt = i.dt
        WHERE i.session_id = ANY (touched_sessions)
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

-- Recomputes the rollups from the raw rows: of the given sites, or of every site (NULL).
-- For bulk loads that bypass the ingest transaction (benchmarks, backfills, repairs).
CREATE FUNCTION stats_rebuild(only_sites TEXT[] DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $rebuild$
BEGIN
    PERFORM pg_advisory_xact_lock(7310582364811190129);
    IF only_sites IS NULL THEN
        TRUNCATE stats_daily, stats_hourly, stats_repeats;
    ELSE
        DELETE FROM stats_daily WHERE site_id = ANY (only_sites);
        DELETE FROM stats_hourly WHERE site_id = ANY (only_sites);
        DELETE FROM stats_repeats WHERE site_id = ANY (only_sites);
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

    PERFORM stats_fold();
END
$rebuild$;

-- The rollups follow the event tables' daily partitions: give them the days that exist now.
DO $partitions$
DECLARE
    part RECORD;
    day DATE;
    tbl TEXT;
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
        FOREACH tbl IN ARRAY ARRAY['stats_daily', 'stats_hourly', 'stats_repeats'] LOOP
            EXECUTE format(
                'CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                tbl || '_p' || to_char(day, 'YYYYMMDD'), tbl
            );
            EXECUTE format(
                'ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                tbl, tbl || '_p' || to_char(day, 'YYYYMMDD'), day, day + 1
            );
        END LOOP;
    END LOOP;
END
$partitions$;

-- Backfill from the rows already stored.
SELECT stats_rebuild(NULL);
