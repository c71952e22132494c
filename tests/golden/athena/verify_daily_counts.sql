WITH all_rows AS (
    SELECT site_id, session_id, dt, event_uid FROM (
        SELECT site_id, session_id, dt, event_uid,
            row_number() OVER (PARTITION BY event_uid, site_id, session_id, dt) AS copy_no
        FROM events
        WHERE dt BETWEEN ? AND ?
    ) AS copies
    WHERE copy_no = 1 OR event_uid IS NULL
    UNION ALL
    SELECT site_id, session_id, dt, event_uid FROM (
        SELECT site_id, session_id, dt, event_uid,
            row_number() OVER (PARTITION BY event_uid, site_id, session_id, dt) AS copy_no
        FROM initial_events
        WHERE dt BETWEEN ? AND ?
    ) AS copies
    WHERE copy_no = 1 OR event_uid IS NULL
)
SELECT site_id, dt, count(*) AS events, count(DISTINCT session_id) AS visitors
FROM all_rows
GROUP BY site_id, dt
ORDER BY site_id, dt
