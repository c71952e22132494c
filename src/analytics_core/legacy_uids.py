"""Deterministic uids for the rows that the DynamoDB version's pipeline wrote without one.

Those rows are events like any other: the cold readers count each of them (they keep one copy
per `event_uid` only among rows that have one), and wherever such a row is copied into
PostgreSQL, whose event tables need a uid per row, it gets one derived from its content, the
same on every run:

    ~<ordinal, 9 digits>-<first 26 hex digits of SHA-256 over the row's content>

The ordinal numbers a session's uid-less rows of one day and table from 1, in the order of
their content: timestamp, event, pathname, the session's attributes (the columns the stats
read, in the order the cold readers' SQL numbers them, `adapters.stats_sql._rows_of`), then
the remaining columns, nulls last. So the hot store breaks ties between such rows (the
attribution's "earliest (timestamp, event_uid)") exactly as the cold store does, and the
prefix `~` sorts after every ULID, in both. The digest covers the table, site, session, day
and every column, which makes the uid unique across sessions (two rows with the same content
in one session differ by their ordinal).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from analytics_core.rows import SESSION_COLUMNS, Row, iso_millis
from analytics_core.stats import SESSION_DIMENSIONS

MISSING_UID = ""
"""How a row read without an `event_uid` carries it until it gets its stand-in."""
LEGACY_UID_PREFIX = "~"
ORDINAL_DIGITS = 9
DIGEST_HEX_DIGITS = 26

EVENT_ORDER = ("timestamp", "event", "pathname")
"""The content order of the stats columns of an `events` row."""
INITIAL_ORDER = EVENT_ORDER + tuple(d.value for d in SESSION_DIMENSIONS)
"""The content order of the stats columns of an `initial_events` row."""
_REST = ("properties", *(c for c in SESSION_COLUMNS if c not in INITIAL_ORDER))


def _properties_text(row: Row) -> str | None:
    if row.properties is None:
        return None
    return json.dumps(row.properties, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _value(row: Row, column: str) -> Any:
    if column == "properties":
        return _properties_text(row)
    return getattr(row, column, None)


def content_key(row: Row, *, initial: bool) -> tuple[tuple[bool, Any], ...]:
    """The sort key of a row among its session-day's uid-less rows (nulls last)."""
    columns = (INITIAL_ORDER if initial else EVENT_ORDER) + _REST
    key = []
    for column in columns:
        value = _value(row, column)
        key.append((value is None, "" if value is None else value))
    return tuple(key)


def legacy_uid(table: str, row: Row, ordinal: int) -> str:
    """The uid of a uid-less row of `table`, numbered `ordinal` within its session's day."""
    values: list[Any] = [table, row.site_id, row.session_id, iso_millis(row.timestamp)]
    values += [row.dt.isoformat(), row.event, row.pathname, _properties_text(row)]
    values += [getattr(row, column, None) for column in SESSION_COLUMNS]
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()[:DIGEST_HEX_DIGITS]
    return f"{LEGACY_UID_PREFIX}{ordinal:0{ORDINAL_DIGITS}d}-{digest}"


def assign_legacy_uids(table: str, rows: Iterable[Row]) -> list[Row]:
    """`rows` in their order, those without a uid (`MISSING_UID`) given their stand-in.

    Every uid-less row of a session's day must be among `rows` (read whole days), or the
    ordinals would change."""
    listed = list(rows)
    initial = table == "initial_events"
    sessions: dict[tuple[str, str, Any], list[int]] = defaultdict(list)
    for index, row in enumerate(listed):
        if row.event_uid == MISSING_UID:
            sessions[row.site_id, row.session_id, row.dt].append(index)
    for indexes in sessions.values():
        ordered = sorted(indexes, key=lambda i: content_key(listed[i], initial=initial))
        for ordinal, index in enumerate(ordered, start=1):
            listed[index] = listed[index]._replace(
                event_uid=legacy_uid(table, listed[index], ordinal)
            )
    return listed


def has_legacy_rows(rows: Sequence[Row]) -> bool:
    """Whether some row lacks a uid."""
    return any(row.event_uid == MISSING_UID for row in rows)
