"""The cold store's table layout: the Postgres event columns, as Iceberg types.

processIngest forwards each stored row to Firehose as one JSON object with the Postgres column
names (no `event_id`, which is a Postgres sequence). `properties` (JSONB in Postgres) travels
as its JSON text. Both tables are partitioned by `dt`, the UTC date of `timestamp`.
"""

from __future__ import annotations

from collections.abc import Mapping

PARTITION_COLUMN = "dt"

EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_uid", "string"),
    ("site_id", "string"),
    ("session_id", "string"),
    ("timestamp", "timestamptz"),
    ("dt", "date"),
    ("event", "string"),
    ("pathname", "string"),
    ("properties", "string"),
)

INITIAL_ONLY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("referer", "string"),
    ("referer_domain", "string"),
    ("utm_source", "string"),
    ("utm_medium", "string"),
    ("utm_campaign", "string"),
    ("utm_content", "string"),
    ("utm_term", "string"),
    ("device", "string"),
    ("os", "string"),
    ("browser", "string"),
    ("country", "string"),
    ("region", "string"),
    ("city", "string"),
    ("screen_width", "int"),
    ("screen_height", "int"),
)

TABLES: Mapping[str, tuple[tuple[str, str], ...]] = {
    "events": EVENT_COLUMNS,
    "initial_events": EVENT_COLUMNS + INITIAL_ONLY_COLUMNS,
}
