"""The rows the product stores: one per accepted event, hot (PostgreSQL) and cold (Iceberg).

An `InitialEventRow` is the first event of a session and carries the session's attributes; it
goes to `initial_events`. Every other accepted event is an `EventRow` and goes to `events`.
Field names are the column names of both stores (the hot store adds its own `event_id`), in
the order of `EVENT_COLUMNS` / `INITIAL_EVENT_COLUMNS`.

Rows are named tuples, not attrs classes like the other values: thousands are built per batch,
a tuple is built in a third of the time, and a row is then exactly what COPY writes.
Immutable all the same; unlike attrs instances, a row compares equal to a plain tuple of the
same values.
Values are already sanitised: texts within their column's length and free of NUL bytes,
integers within their column's range, `properties` JSON-safe (None when absent).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

EVENT_COLUMNS = (
    "event_uid",
    "site_id",
    "session_id",
    "timestamp",
    "dt",
    "event",
    "pathname",
    "properties",
)
SESSION_COLUMNS = (
    "referer",
    "referer_domain",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "device",
    "os",
    "browser",
    "country",
    "region",
    "city",
    "screen_width",
    "screen_height",
)
INITIAL_EVENT_COLUMNS = EVENT_COLUMNS + SESSION_COLUMNS


_MINUTES: dict[tuple[int, int, int, int, int], str] = {}  # "2026-11-25T11:39:" by minute
_MAX_MINUTES = 4096


def iso_millis(moment: datetime) -> str:
    """A moment as the wire formats write it: ISO-8601 in UTC with milliseconds and a `Z`
    (`2026-11-25T11:39:34.123Z`): the cold rows' `timestamp`, the APIs' times."""
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)  # rows' times are UTC
    # What isoformat(timespec="milliseconds") writes, with "Z" for "+00:00", in half the time
    # (the cold forward formats one per row): a batch's times fall in a few minutes, whose
    # text is kept.
    minute = (utc.year, utc.month, utc.day, utc.hour, utc.minute)
    prefix = _MINUTES.get(minute)
    if prefix is None:
        if len(_MINUTES) >= _MAX_MINUTES:
            _MINUTES.clear()
        prefix = _MINUTES[minute] = "%04d-%02d-%02dT%02d:%02d:" % minute  # noqa: UP031
    return "%s%02d.%03dZ" % (prefix, utc.second, utc.microsecond // 1000)  # noqa: UP031


class EventRow(NamedTuple):
    """A row of `events`, its fields in column order."""

    event_uid: str
    site_id: str
    session_id: str
    timestamp: datetime
    dt: date
    event: str
    pathname: str
    properties: Mapping[str, Any] | None


class InitialEventRow(NamedTuple):
    """A row of `initial_events`: an event's columns (as `EventRow`) and its session's
    attributes, in column order."""

    event_uid: str
    site_id: str
    session_id: str
    timestamp: datetime
    dt: date
    event: str
    pathname: str
    properties: Mapping[str, Any] | None
    referer: str | None = None
    referer_domain: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_content: str | None = None
    utm_term: str | None = None
    device: str | None = None
    os: str | None = None
    browser: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    screen_width: int | None = None
    screen_height: int | None = None


Row = EventRow | InitialEventRow
"""A stored row of either table."""
