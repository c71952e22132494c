"""The cold store's row JSON (`adapters.aws.firehose.encode_cold_row`) is byte for byte what
the json module wrote before orjson took over: compact, UTF-8, keys in column order."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.aws.firehose import cold_row, encode_cold_row
from analytics_core.rows import (
    EVENT_COLUMNS,
    INITIAL_EVENT_COLUMNS,
    EventRow,
    InitialEventRow,
    iso_millis,
)

_reference_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def reference_cold_row(row: EventRow) -> dict[str, Any]:
    """cold_row as it was."""
    names = INITIAL_EVENT_COLUMNS if isinstance(row, InitialEventRow) else EVENT_COLUMNS
    data = {name: getattr(row, name) for name in names}
    data["timestamp"] = iso_millis(row.timestamp)
    data["dt"] = row.dt.isoformat()
    properties = row.properties
    data["properties"] = None if properties is None else _reference_json(properties)
    return data


def reference_encode(row: EventRow) -> bytes:
    """encode_cold_row as it was."""
    return _reference_json(reference_cold_row(row)).encode("utf-8")


texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
property_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e-05, 2.5e-7, 1e16, 1e22, -0.0, 0.1, 5e-324]),
    texts,
)
properties = st.one_of(st.none(), st.dictionaries(texts, property_values, max_size=6))
moments = st.datetimes(
    min_value=datetime(1, 1, 2),  # noqa: DTZ001  # zoned below
    max_value=datetime(9999, 12, 30),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5))]),
)
optional_texts = st.one_of(st.none(), texts)


@st.composite
def rows(draw: st.DrawFn) -> EventRow:
    """An event row or an initial event row with any values the core can produce."""
    moment = draw(moments)
    common: dict[str, Any] = {
        "event_uid": "01JDQ7ZK3M0000000000000001",
        "site_id": "01JDQ7ZK3M00000000000000S1",
        "session_id": draw(texts),
        "timestamp": moment,
        "dt": moment.astimezone(UTC).date(),
        "event": draw(texts),
        "pathname": draw(texts),
        "properties": draw(properties),
    }
    if draw(st.booleans()):
        return EventRow(**common)
    session = {
        name: draw(optional_texts)
        for name in INITIAL_EVENT_COLUMNS
        if name not in EVENT_COLUMNS and not name.startswith("screen_")
    }
    screen = st.one_of(st.none(), st.integers(0, 32_767))
    return InitialEventRow(
        **common, **session, screen_width=draw(screen), screen_height=draw(screen)
    )


MOMENT = datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)
EXAMPLE = EventRow(
    "01JDQ7ZK3M0000000000000001",
    "01JDQ7ZK3M00000000000000S1",
    "s",
    MOMENT,
    date(2026, 11, 25),
    "pageview",
    '/ü\n"\\\x7f\u2028',
    {"small": 1e-05, "big": 2**64, "text": "München", "flag": True, "none": None},
)


@settings(max_examples=1000)
@given(rows())
@example(EXAMPLE)
def test_cold_rows_are_the_bytes_json_wrote(row: EventRow) -> None:
    """Same object, same bytes, for every row."""
    assert cold_row(row) == reference_cold_row(row)
    assert list(cold_row(row)) == list(reference_cold_row(row))
    assert encode_cold_row(row) == reference_encode(row)


def test_a_lone_surrogate_fails_as_before() -> None:
    """Rows never carry lone surrogates (the core replaces them); if one did, encoding fails
    with the same error as before rather than writing something else."""
    row = EventRow(
        "01JDQ7ZK3M0000000000000001", "s", "\ud800", MOMENT, date(2026, 11, 25), "e", "/", None
    )
    with pytest.raises(UnicodeEncodeError):
        reference_encode(row)
    with pytest.raises(UnicodeEncodeError):
        encode_cold_row(row)
