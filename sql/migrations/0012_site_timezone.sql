-- Sites' time zones (stats queries in local time): a site's days and hour buckets are those
-- of its IANA time zone.
--
-- `sites.timezone` is an IANA name (`Europe/Berlin`); every existing site is `UTC`, which keeps
-- the answers it had. The API and the CLI check the name against the IANA database before
-- storing it (`analytics_core.stats.check_timezone`); the CHECK here only keeps anything that
-- cannot be such a name out of the table. A change of zone is followed by a rebuild of the
-- site's read model (`analytics_core.management.update_site`).

ALTER TABLE sites
    ADD COLUMN timezone TEXT NOT NULL DEFAULT 'UTC',
    ADD CONSTRAINT sites_timezone_check CHECK (timezone ~ '^[A-Za-z0-9_+/-]{1,64}$');
