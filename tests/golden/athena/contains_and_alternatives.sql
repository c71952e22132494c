WITH initial_rows AS (
    SELECT site_id, session_id, "timestamp", dt, event, pathname, coalesce(event_uid, '~' || lpad(CAST(copy_no AS VARCHAR), 9, '0')) AS event_uid, referer_domain, utm_source, utm_medium, utm_campaign, utm_content, utm_term, device, os, browser, country, region, city
    FROM (
        SELECT site_id, session_id, "timestamp", dt, event, pathname, event_uid, referer_domain, utm_source, utm_medium, utm_campaign, utm_content, utm_term, device, os, browser, country, region, city,
            row_number() OVER (
                PARTITION BY event_uid, site_id, session_id, dt
                ORDER BY "timestamp" ASC NULLS LAST, event ASC NULLS LAST, pathname ASC NULLS LAST, referer_domain ASC NULLS LAST, utm_source ASC NULLS LAST, utm_medium ASC NULLS LAST, utm_campaign ASC NULLS LAST, utm_content ASC NULLS LAST, utm_term ASC NULLS LAST, device ASC NULLS LAST, os ASC NULLS LAST, browser ASC NULLS LAST, country ASC NULLS LAST, region ASC NULLS LAST, city ASC NULLS LAST
            ) AS copy_no
        FROM initial_events
        WHERE site_id IN (?) AND dt BETWEEN ? AND ?
    ) AS copies
    WHERE copy_no = 1 OR event_uid IS NULL
),
event_rows AS (
    SELECT site_id, session_id, "timestamp", dt, event, pathname, coalesce(event_uid, '~' || lpad(CAST(copy_no AS VARCHAR), 9, '0')) AS event_uid
    FROM (
        SELECT site_id, session_id, "timestamp", dt, event, pathname, event_uid,
            row_number() OVER (
                PARTITION BY event_uid, site_id, session_id, dt
                ORDER BY "timestamp" ASC NULLS LAST, event ASC NULLS LAST, pathname ASC NULLS LAST
            ) AS copy_no
        FROM events
        WHERE site_id IN (?) AND dt BETWEEN ? AND ?
    ) AS copies
    WHERE copy_no = 1 OR event_uid IS NULL
),
all_rows AS (
    SELECT site_id, session_id, "timestamp", dt, event, pathname, event_uid, 0 AS is_initial
    FROM event_rows
    UNION ALL
    SELECT site_id, session_id, "timestamp", dt, event, pathname, event_uid, 1 AS is_initial
    FROM initial_rows
    WHERE dt >= ?
),
candidates AS (
    SELECT site_id, session_id, "timestamp", dt, event, pathname, event_uid, referer_domain, utm_source, utm_medium, utm_campaign, utm_content, utm_term, device, os, browser, country, region, city, dt AS att_day
    FROM initial_rows
    WHERE dt BETWEEN ? AND ?
    UNION ALL
    SELECT site_id, session_id, "timestamp", dt, event, pathname, event_uid, referer_domain, utm_source, utm_medium, utm_campaign, utm_content, utm_term, device, os, browser, country, region, city, dt + INTERVAL '1' DAY AS att_day
    FROM initial_rows
    WHERE dt BETWEEN ? AND ?
),
attribution AS (
    SELECT site_id, session_id, "timestamp", dt, event, pathname, event_uid, referer_domain, utm_source, utm_medium, utm_campaign, utm_content, utm_term, device, os, browser, country, region, city, att_day
    FROM (
        SELECT candidates.*,
            row_number() OVER (
                PARTITION BY site_id, session_id, att_day ORDER BY "timestamp", event_uid
            ) AS pick
        FROM candidates
    ) AS ranked
    WHERE pick = 1
),
visits AS (
    SELECT a.site_id, a.session_id, a.att_day, a.event_uid,
        sum(CASE WHEN r.event = ? THEN 1 ELSE 0 END) AS pageviews,
        max(date_diff('millisecond', TIMESTAMP '1970-01-01 00:00:00 UTC', r."timestamp")) - min(date_diff('millisecond', TIMESTAMP '1970-01-01 00:00:00 UTC', r."timestamp")) AS duration_ms
    FROM attribution AS a
    JOIN all_rows AS r
        ON r.site_id = a.site_id AND r.session_id = a.session_id
        AND r.dt BETWEEN a.att_day AND a.att_day + INTERVAL '1' DAY
    WHERE a.dt = a.att_day
    GROUP BY a.site_id, a.session_id, a.att_day, a.event_uid
),
facts AS (
    SELECT r.site_id, r.session_id, r.dt, hour(r."timestamp") AS hour_of_day,
        r.event, r.pathname, a.referer_domain, a.utm_source, a.utm_medium, a.utm_campaign, a.utm_content, a.utm_term, a.device, a.os, a.browser, a.country, a.region, a.city,
        1 AS events,
        CASE WHEN r.event = ? THEN 1 ELSE 0 END AS pageviews,
        CASE WHEN v.event_uid IS NULL THEN 0 ELSE 1 END AS visits,
        CASE WHEN v.pageviews = 1 THEN 1 ELSE 0 END AS bounces,
        coalesce(v.duration_ms, 0) AS visit_ms
    FROM all_rows AS r
    LEFT JOIN attribution AS a
        ON a.site_id = r.site_id AND a.session_id = r.session_id AND a.att_day = r.dt
    LEFT JOIN visits AS v
        ON r.is_initial = 1 AND v.site_id = r.site_id AND v.session_id = r.session_id
        AND v.att_day = r.dt AND v.event_uid = r.event_uid
    WHERE r.dt BETWEEN ? AND ?
        AND (strpos(lower(replace(r.pathname, chr(304), 'i' || chr(775))), ?) > 0 OR strpos(lower(replace(r.pathname, chr(304), 'i' || chr(775))), ?) > 0)
        AND (a.browser IS NULL OR NOT (strpos(lower(replace(a.browser, chr(304), 'i' || chr(775))), ?) > 0))
        AND (a.country IN (?, ?, ?))
        AND (a.utm_source IS NULL OR NOT (a.utm_source IN (?, ?)))
),
keyed AS (
    SELECT site_id, session_id, events, pageviews, visits, bounces, visit_ms,
        pathname AS group_value
    FROM facts
),
grouped AS (
    SELECT CASE WHEN grouping(group_value) = 0 THEN 2 ELSE 0 END AS kind,
        CAST(NULL AS DATE) AS bucket_day,
        CAST(NULL AS INTEGER) AS bucket_hour,
        group_value AS group_value,
        sum(events) AS events,
        sum(pageviews) AS pageviews,
        count(DISTINCT site_id || session_id) AS visitors,
        sum(visits) AS visits,
        sum(bounces) AS bounces,
        sum(visit_ms) AS duration_ms
    FROM keyed
    GROUP BY GROUPING SETS ((), (group_value))
)
SELECT kind, bucket_day, bucket_hour, group_value,
    events, pageviews, visitors, visits, bounces, duration_ms
FROM (
    SELECT grouped.*,
        row_number() OVER (
            PARTITION BY kind
            ORDER BY visitors DESC, group_value ASC NULLS LAST
        ) AS place
    FROM grouped
) AS ranked
WHERE kind <> 2 OR place <= ?
ORDER BY kind, place
