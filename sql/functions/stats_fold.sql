-- Part of the read model (docs/read-model.md). This file is the function's definition: the
-- migration runner re-applies it whenever its content changes (a repeatable migration).
--
-- Folds the rows staged in the temporary table stats_rows into the read model's tables.
-- stats_rows holds complete sessions, each in one or two versions: sign +1 (the rows now) and
-- sign -1 (the rows before this transaction); contributions are added with their sign:
-- stats_daily (per site, day, dimension and value), stats_hourly (per site and hour),
-- stats_repeats (sessions seen again on a later day) and stats_session_days (per session and
-- day). The caller holds the sites' locks (stats_fold_rows, stats_rebuild_from_rows).
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
