SELECT event_uid, site_id, session_id, "timestamp", dt, event, pathname, properties, referer, referer_domain, utm_source, utm_medium, utm_campaign, utm_content, utm_term, device, os, browser, country, region, city, screen_width, screen_height FROM (
        SELECT event_uid, site_id, session_id, "timestamp", dt, event, pathname, properties, referer, referer_domain, utm_source, utm_medium, utm_campaign, utm_content, utm_term, device, os, browser, country, region, city, screen_width, screen_height,
            row_number() OVER (PARTITION BY event_uid, site_id, session_id, dt) AS copy_no
        FROM initial_events
        WHERE dt = ? AND site_id IN (?, ?)
    ) AS copies
    WHERE copy_no = 1 OR event_uid IS NULL
ORDER BY site_id, session_id
