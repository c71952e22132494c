-- Part of the read model (docs/read-model.md). This file is the function's definition: the
-- migration runner re-applies it whenever its content changes (a repeatable migration).
--
-- The ingest code of versions before 0006 called stats_apply_ingest() inside its transaction
-- to fold its own rows. Under that name the rows are now only recorded as pending keys
-- (stats_pending), so that such a transaction, still running while a deploy switches
-- versions, does not count other pending rows of its sessions as folded.
CREATE OR REPLACE FUNCTION stats_apply_ingest() RETURNS void
LANGUAGE plpgsql
AS $apply$
BEGIN
    IF to_regclass('pg_temp.ingest_new_events') IS NOT NULL THEN
        INSERT INTO stats_pending (site_id, dt, event_uid, is_initial)
        SELECT site_id, dt, event_uid, false FROM ingest_new_events;
    END IF;
    IF to_regclass('pg_temp.ingest_new_initial_events') IS NOT NULL THEN
        INSERT INTO stats_pending (site_id, dt, event_uid, is_initial)
        SELECT site_id, dt, event_uid, true FROM ingest_new_initial_events;
    END IF;
END
$apply$;
