-- Fact blocks (docs/read-model.md, src/adapters/postgres/fact_blocks.py): one row per site and
-- local day holding that day's events pre-attributed, compressed (zlib of numpy arrays), built
-- for one time zone. The fold of pending rows, the rebuild, the expiry and a site's deletion
-- delete blocks; the stats reader builds missing ones (or those of another zone) from the raw
-- rows when it needs them.
CREATE SEQUENCE stats_fact_block_versions;

CREATE TABLE stats_fact_blocks (
    site_id   TEXT        NOT NULL,
    day       DATE        NOT NULL,   -- the local day, in `timezone`
    timezone  TEXT        NOT NULL,
    version   BIGINT      NOT NULL DEFAULT nextval('stats_fact_block_versions'),
    events    INTEGER     NOT NULL,
    built_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    data      BYTEA       NOT NULL,
    CONSTRAINT stats_fact_blocks_pkey PRIMARY KEY (site_id, day)
);
-- Already compressed: stored out of line without another compression attempt.
ALTER TABLE stats_fact_blocks ALTER COLUMN data SET STORAGE EXTERNAL;

-- Site-wide session numbers: the same session has the same number in every block, so distinct
-- sessions over a range are distinct numbers.
CREATE TABLE stats_session_numbers (
    site_id    TEXT   NOT NULL,
    session_id TEXT   NOT NULL,
    number     BIGINT GENERATED ALWAYS AS IDENTITY,
    CONSTRAINT stats_session_numbers_pkey PRIMARY KEY (site_id, session_id)
);
