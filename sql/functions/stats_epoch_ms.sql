-- Part of the read model (docs/read-model.md). This file is the function's definition: the
-- migration runner re-applies it whenever its content changes (a repeatable migration).
--
-- Whole milliseconds since the epoch (the cold store keeps milliseconds).
CREATE OR REPLACE FUNCTION stats_epoch_ms(ts TIMESTAMPTZ) RETURNS BIGINT
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN floor(extract(epoch FROM ts) * 1000)::bigint;
