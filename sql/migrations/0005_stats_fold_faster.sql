-- The read model's maintenance, cheaper on the write path (replaces the functions of 0004; the
-- read model's tables and results are unchanged: maintenance == rebuild, as before).
--
-- Measured on a 5,300-row ingest batch (bench/ingest.py; EXPLAIN ANALYZE of each statement),
-- 0004's maintenance spent its ~450 ms mostly on work no result needs:
--
-- * Sessions new to the read model (no span in stats_sessions, so no stored row before this
--   transaction) were still looked up in the event tables (a scan of their days' partitions,
--   growing with the day's traffic) and their spans upserted. Their rows now come from the
--   transaction's new rows only, they get no "before" version, and their spans are plain
--   inserts; only sessions the read model knew are read back from the event tables.
-- * Every session-day was written out 15 times (one row per dimension) into a temporary
--   table, read again and summed in NUMERIC (sums of BIGINT). The dimensions are now unpivoted
--   on the fly into the aggregate, counts are INTEGER per session-day (BIGINT sums), and the
--   per-event table no longer carries the session attributes (they are joined per
--   session-day). Repeats are computed only when a session spans several days.
-- * stats_epoch_ms (declared IMMUTABLE over a STABLE extract, hence never inlined) ran twice per
--   row of a visit; it now runs on the visit's min and max only (floor is monotonic, so the
--   difference is the same).
-- * Session-day rows are upserted (a session's rows only ever grow, so none disappears), and
--   left alone when nothing in them changed, instead of deleted and inserted again.
--
-- Concurrency is as before: maintenance of a site runs under its advisory lock, after the
-- previous holder committed, and a rebuild excludes it; so "the session has no span" means no
-- other transaction can be adding one meanwhile, and plain inserts cannot collide.

CREATE OR REPLACE FUNCTION stats_fold() RETURNS void
LANGUAGE plpgsql
SET enable_nestloop = off
SET jit = off
SET work_mem = '32MB'
SET enable_sort = off
AS $fold$
DECLARE
    zero_tables OID[];
    zero_rows TID[];
BEGIN
    -- The initial event each (session, day) is attributed to: the earliest (timestamp,
    -- event_uid) of the session's initial events dated that day or the day before.
    CREATE TEMP TABLE stats_attribution ON COMMIT DROP AS
    SELECT DISTINCT ON (sign, site_id COLLATE "C", session_id COLLATE "C", att_day)
        sign, site_id, session_id, att_day, dt AS initial_dt, event_uid,
        referer_domain, utm_source, utm_medium, utm_campaign, utm_content, utm_term,
        device, os, browser, country, region, city
    FROM (
        SELECT r.*, r.dt AS att_day FROM stats_rows AS r WHERE r.is_initial
        UNION ALL
        SELECT r.*, r.dt + 1 AS att_day FROM stats_rows AS r WHERE r.is_initial
    ) AS candidates
    ORDER BY sign, site_id COLLATE "C", session_id COLLATE "C", att_day, "timestamp",
        event_uid COLLATE "C";

    -- Visits: attributed initial events of their own day; their pageviews and duration count
    -- the session's events of that day and the next.
    CREATE TEMP TABLE stats_visits ON COMMIT DROP AS
    SELECT a.sign, a.site_id, a.session_id, a.att_day, a.event_uid,
        count(*) FILTER (WHERE r.event = 'pageview') AS pageviews,
        stats_epoch_ms(max(r."timestamp")) - stats_epoch_ms(min(r."timestamp")) AS duration_ms
    FROM stats_attribution AS a
    JOIN stats_rows AS r
        ON r.sign = a.sign AND r.site_id = a.site_id AND r.session_id = a.session_id
        AND r.dt BETWEEN a.att_day AND a.att_day + 1
    WHERE a.initial_dt = a.att_day
    GROUP BY a.sign, a.site_id, a.session_id, a.att_day, a.event_uid;

    -- Every event and, for a visit's initial event, the visit's figures.
    CREATE TEMP TABLE stats_facts ON COMMIT DROP AS
    SELECT r.sign, r.site_id, r.session_id, r.dt,
        extract(hour FROM r."timestamp" AT TIME ZONE 'UTC')::smallint AS hour,
        r.event, r.pathname,
        (r.event = 'pageview') AS pageview,
        (v.event_uid IS NOT NULL) AS visit,
        coalesce(v.pageviews = 1, false) AS bounce,
        coalesce(v.duration_ms, 0) AS duration_ms
    FROM stats_rows AS r
    LEFT JOIN stats_visits AS v
        ON r.is_initial AND v.sign = r.sign AND v.site_id = r.site_id
        AND v.session_id = r.session_id AND v.att_day = r.dt AND v.event_uid = r.event_uid;

    -- Per session and day: its counts there, and its attributes that day (those of the day's
    -- attributed initial event).
    CREATE TEMP TABLE stats_day_sums ON COMMIT DROP AS
    SELECT f.sign, f.site_id, f.session_id, f.dt,
        f.events, f.pageviews, f.visits, f.bounces, f.duration_ms,
        a.referer_domain, a.utm_source, a.utm_medium, a.utm_campaign, a.utm_content,
        a.utm_term, a.device, a.os, a.browser, a.country, a.region, a.city
    FROM (
        SELECT sign, site_id, session_id, dt,
            count(*)::integer AS events,
            (count(*) FILTER (WHERE pageview))::integer AS pageviews,
            (count(*) FILTER (WHERE visit))::integer AS visits,
            (count(*) FILTER (WHERE bounce))::integer AS bounces,
            sum(duration_ms)::bigint AS duration_ms
        FROM stats_facts
        GROUP BY sign, site_id, session_id, dt
    ) AS f
    LEFT JOIN stats_attribution AS a
        ON a.sign = f.sign AND a.site_id = f.site_id AND a.session_id = f.session_id
        AND a.att_day = f.dt;

    -- The session-day rows (one row each, not a sum) as they are now. A session's rows only
    -- ever grow, so every session-day of its "before" version is among them: those are
    -- updated (where anything changed), the others are new.
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
    WHERE s.sign > 0 AND NOT EXISTS (
        SELECT FROM stats_day_sums AS b
        WHERE b.sign < 0 AND b.site_id = s.site_id AND b.session_id = s.session_id
            AND b.dt = s.dt
    )
    ORDER BY s.site_id COLLATE "C", s.session_id COLLATE "C", s.dt;
    IF EXISTS (SELECT FROM stats_day_sums WHERE sign < 0) THEN
        INSERT INTO stats_session_days AS t (
            site_id, dt, session_id, events, pageviews, visit_uid, visit_bounce,
            visit_duration_ms, referer_domain, utm_source, utm_medium, utm_campaign,
            utm_content, utm_term, device, os, browser, country, region, city
        )
        SELECT s.site_id, s.dt, s.session_id, s.events, s.pageviews,
            v.event_uid, coalesce(v.pageviews = 1, false), coalesce(v.duration_ms, 0),
            s.referer_domain, s.utm_source, s.utm_medium, s.utm_campaign, s.utm_content,
            s.utm_term, s.device, s.os, s.browser, s.country, s.region, s.city
        FROM stats_day_sums AS s
        LEFT JOIN stats_visits AS v
            ON v.sign = s.sign AND v.site_id = s.site_id AND v.session_id = s.session_id
            AND v.att_day = s.dt
        WHERE s.sign > 0 AND EXISTS (
            SELECT FROM stats_day_sums AS b
            WHERE b.sign < 0 AND b.site_id = s.site_id AND b.session_id = s.session_id
                AND b.dt = s.dt
        )
        ON CONFLICT (site_id, session_id, dt) DO UPDATE SET
            events = excluded.events,
            pageviews = excluded.pageviews,
            visit_uid = excluded.visit_uid,
            visit_bounce = excluded.visit_bounce,
            visit_duration_ms = excluded.visit_duration_ms,
            referer_domain = excluded.referer_domain,
            utm_source = excluded.utm_source,
            utm_medium = excluded.utm_medium,
            utm_campaign = excluded.utm_campaign,
            utm_content = excluded.utm_content,
            utm_term = excluded.utm_term,
            device = excluded.device,
            os = excluded.os,
            browser = excluded.browser,
            country = excluded.country,
            region = excluded.region,
            city = excluded.city
        WHERE (t.events, t.pageviews, t.visit_uid, t.visit_bounce, t.visit_duration_ms,
                t.referer_domain, t.utm_source, t.utm_medium, t.utm_campaign, t.utm_content,
                t.utm_term, t.device, t.os, t.browser, t.country, t.region, t.city)
            IS DISTINCT FROM (excluded.events, excluded.pageviews, excluded.visit_uid,
                excluded.visit_bounce, excluded.visit_duration_ms, excluded.referer_domain,
                excluded.utm_source, excluded.utm_medium, excluded.utm_campaign,
                excluded.utm_content, excluded.utm_term, excluded.device, excluded.os,
                excluded.browser, excluded.country, excluded.region, excluded.city);
    END IF;

    -- Per site, day, dimension and value: the sum over sessions of what each adds there.
    -- Session dimensions come from the session-days, summed per combination of attributes
    -- first (many sessions share one) and then unpivoted; pathname and event from the events,
    -- one presence per session, day and value.
    WITH changed AS (
        INSERT INTO stats_daily AS t
            (site_id, dt, dim, value, events, pageviews, visitors, visits, bounces, duration_ms)
        SELECT site_id, dt, dim, value,
            sum(events), sum(pageviews), sum(visitors), sum(visits), sum(bounces),
            sum(duration_ms)
        FROM (
            SELECT c.site_id, c.dt, d.dim, d.value,
                c.events, c.pageviews, c.visitors, c.visits, c.bounces, c.duration_ms
            FROM (
                SELECT site_id, dt,
                    referer_domain, utm_source, utm_medium, utm_campaign, utm_content,
                    utm_term, device, os, browser, country, region, city,
                    sum(sign * events) AS events,
                    sum(sign * pageviews) AS pageviews,
                    sum(sign) AS visitors,
                    sum(sign * visits) AS visits,
                    sum(sign * bounces) AS bounces,
                    sum(sign * duration_ms)::bigint AS duration_ms
                FROM stats_day_sums
                GROUP BY site_id, dt,
                    referer_domain, utm_source, utm_medium, utm_campaign, utm_content,
                    utm_term, device, os, browser, country, region, city
            ) AS c
            CROSS JOIN LATERAL (VALUES
                ('', ''),
                ('referer_domain', c.referer_domain),
                ('utm_source', c.utm_source),
                ('utm_medium', c.utm_medium),
                ('utm_campaign', c.utm_campaign),
                ('utm_content', c.utm_content),
                ('utm_term', c.utm_term),
                ('device', c.device),
                ('os', c.os),
                ('browser', c.browser),
                ('country', c.country),
                ('region', c.region),
                ('city', c.city)
            ) AS d (dim, value)
            UNION ALL
            SELECT site_id, dt, dim, value,
                sum(sign * events), sum(sign * pageviews), sum(sign), sum(sign * visits),
                sum(sign * bounces), sum(sign * duration_ms)::bigint
            FROM (
                SELECT f.sign, f.site_id, f.dt, d.dim, d.value,
                    count(*)::integer AS events,
                    (count(*) FILTER (WHERE f.pageview))::integer AS pageviews,
                    (count(*) FILTER (WHERE f.visit))::integer AS visits,
                    (count(*) FILTER (WHERE f.bounce))::integer AS bounces,
                    sum(f.duration_ms)::bigint AS duration_ms
                FROM stats_facts AS f
                CROSS JOIN LATERAL (VALUES ('pathname', f.pathname), ('event', f.event))
                    AS d (dim, value)
                GROUP BY f.sign, f.site_id, f.session_id, f.dt, d.dim, d.value
            ) AS presence
            GROUP BY site_id, dt, dim, value
        ) AS p
        GROUP BY site_id, dt, dim, value
        HAVING sum(events) <> 0 OR sum(pageviews) <> 0 OR sum(visitors) <> 0
            OR sum(visits) <> 0 OR sum(bounces) <> 0 OR sum(duration_ms) <> 0
        ORDER BY site_id COLLATE "C", dim COLLATE "C", value COLLATE "C", dt
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

    -- Repeats: only sessions seen on several days can be seen again.
    IF EXISTS (
        SELECT FROM stats_day_sums GROUP BY sign, site_id, session_id HAVING count(*) > 1
    ) THEN
        WITH several AS (
            SELECT sign, site_id, session_id
            FROM stats_day_sums
            GROUP BY sign, site_id, session_id
            HAVING count(*) > 1
        ),
        presence AS (
            SELECT s.sign, s.site_id, s.session_id, s.dt, d.dim, d.value
            FROM stats_day_sums AS s
            JOIN several USING (sign, site_id, session_id)
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
            SELECT DISTINCT f.sign, f.site_id, f.session_id, f.dt, d.dim, d.value
            FROM stats_facts AS f
            JOIN several USING (sign, site_id, session_id)
            CROSS JOIN LATERAL (VALUES ('pathname', f.pathname), ('event', f.event))
                AS d (dim, value)
        ),
        changed AS (
            INSERT INTO stats_repeats AS t (site_id, dt, dim, value, prev_dt, sessions)
            SELECT site_id, dt, dim, value, prev_dt, sum(sign)
            FROM (
                SELECT p.sign, p.site_id, p.dt, p.dim, p.value,
                    lag(p.dt) OVER (
                        PARTITION BY p.sign, p.site_id, p.session_id, p.dim, p.value
                        ORDER BY p.dt
                    ) AS prev_dt
                FROM presence AS p
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
    END IF;

    WITH changed AS (
        INSERT INTO stats_hourly AS t
            (site_id, dt, hour, events, pageviews, visitors, visits, bounces, duration_ms)
        SELECT site_id, dt, hour,
            sum(sign * events), sum(sign * pageviews), sum(sign), sum(sign * visits),
            sum(sign * bounces), sum(sign * duration_ms)
        FROM (
            SELECT sign, site_id, session_id, dt, hour,
                count(*)::integer AS events,
                (count(*) FILTER (WHERE pageview))::integer AS pageviews,
                (count(*) FILTER (WHERE visit))::integer AS visits,
                (count(*) FILTER (WHERE bounce))::integer AS bounces,
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

    DROP TABLE stats_day_sums, stats_facts, stats_visits, stats_attribution, stats_rows;
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
