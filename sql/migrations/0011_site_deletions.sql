-- Site deletion (issue 18, item 3): the cold half of a deletion, as a tracked job.
--
-- `DELETE /api/sites/{id}` deletes the site and its hot rows in one transaction and inserts a
-- row here in the same transaction; the cold store (the local lake, or Athena's
-- `DELETE FROM` on the Iceberg tables) is erased right after, and `cold_done_at` set when
-- that succeeded. A deletion whose cold part failed or timed out stays pending
-- (`cold_done_at` NULL, `attempts` and `last_error` telling why) and the daily maintenance
-- runs it again. No foreign key: the site row is gone by then.

CREATE TABLE site_deletions (
    site_id      TEXT        PRIMARY KEY,
    requested_at TIMESTAMPTZ NOT NULL,
    cold_done_at TIMESTAMPTZ,
    attempts     INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error   TEXT
);

CREATE INDEX site_deletions_pending ON site_deletions (requested_at) WHERE cold_done_at IS NULL;
