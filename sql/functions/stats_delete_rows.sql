-- Part of the read model (docs/read-model.md). This file is the function's definition: the
-- migration runner re-applies it whenever its content changes (a repeatable migration).
--
-- Deletes rows by address (partition, ctid): the keys whose sums fell to zero in this
-- transaction, which nobody else can change meanwhile (their site is locked).
CREATE OR REPLACE FUNCTION stats_delete_rows(tables OID[], row_ids TID[]) RETURNS void
LANGUAGE plpgsql AS $delete$
DECLARE
    part OID;
BEGIN
    IF row_ids IS NULL THEN
        RETURN;
    END IF;
    FOR part IN SELECT DISTINCT t FROM unnest(tables) AS t LOOP
        EXECUTE format('DELETE FROM %s WHERE ctid = ANY ($1)', part::regclass)
        USING ARRAY(SELECT r FROM unnest(tables, row_ids) AS z (t, r) WHERE z.t = part);
    END LOOP;
END
$delete$;
