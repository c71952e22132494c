SELECT event_uid, site_id, session_id, "timestamp", dt, event, pathname, properties FROM (
        SELECT event_uid, site_id, session_id, "timestamp", dt, event, pathname, properties,
            row_number() OVER (PARTITION BY event_uid, site_id, session_id, dt) AS copy_no
        FROM events
        WHERE dt = ?
    ) AS copies
    WHERE copy_no = 1 OR event_uid IS NULL
ORDER BY site_id, session_id
