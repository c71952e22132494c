-- Where the hot store's data begins (issue 16, the migration from the DynamoDB version).
--
-- One row: `since` is the first UTC day from which the event tables hold every event, NULL
-- when they hold every day there is (a fresh install). The query router reads it on every
-- query and sends a range starting earlier to the cold store, even inside the hot window; the
-- cutover runbook sets it to the cutover day (`analytics hot-coverage --since`), and
-- `analytics backfill-hot` moves it back to the first day it copied, never forward.

CREATE TABLE hot_coverage (
    only_row   BOOLEAN     PRIMARY KEY DEFAULT true CHECK (only_row),
    since      DATE,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);

INSERT INTO hot_coverage (only_row, since) VALUES (true, NULL);
