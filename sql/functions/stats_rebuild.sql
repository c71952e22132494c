-- Part of the read model (docs/read-model.md). This file is the function's definition: the
-- migration runner re-applies it whenever its content changes (a repeatable migration).
--
-- Recompute the read model of `only_sites` (every site when NULL) from the raw rows. Their
-- pending keys and ranges are dropped (the rebuild counts their rows), under the sites' lock so
-- that no ingest transaction adds any meanwhile. For every site that lock also holds back
-- changes to sites.
CREATE OR REPLACE FUNCTION stats_rebuild(only_sites TEXT[] DEFAULT NULL) RETURNS void
LANGUAGE plpgsql
AS $rebuild$
BEGIN
    IF only_sites IS NULL THEN
        -- Every site, including one created meanwhile: no ingest transaction can lock a site
        -- (FOR UPDATE) until this commits; those holding one are waited for.
        LOCK TABLE sites IN EXCLUSIVE MODE;
        DELETE FROM stats_pending;
        DELETE FROM stats_pending_ranges;
    ELSE
        PERFORM FROM sites WHERE site_id = ANY (only_sites) ORDER BY site_id FOR UPDATE;
        DELETE FROM stats_pending WHERE site_id = ANY (only_sites);
        DELETE FROM stats_pending_ranges WHERE site_id = ANY (only_sites);
    END IF;
    PERFORM stats_rebuild_from_rows(only_sites);
END
$rebuild$;
