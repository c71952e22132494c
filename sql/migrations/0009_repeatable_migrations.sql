-- The record of repeatable migrations: the files of sql/functions/, which define the read
-- model's functions by their current body (CREATE OR REPLACE FUNCTION). The migration runner
-- applies each file after the numbered migrations whenever its checksum differs from the one
-- recorded here (or none is), in name order, each in a transaction with its row.
-- Numbered migrations keep to tables and drops from now on (a function no longer defined in
-- sql/functions/ is dropped by a numbered migration, which deletes its row here too).

CREATE TABLE schema_repeatables (
    name       TEXT        PRIMARY KEY,
    checksum   TEXT        NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
