"""The wire format of a moment (`iso_millis`): UTC, milliseconds, a `Z`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from analytics_core.rows import iso_millis


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 11, 25, 11, 39, 34, 123456, tzinfo=UTC), "2026-11-25T11:39:34.123Z"),
        (datetime(2026, 11, 25, 11, 39, 34, tzinfo=UTC), "2026-11-25T11:39:34.000Z"),
        (
            datetime(2026, 11, 26, 0, 30, tzinfo=timezone(timedelta(hours=2))),
            "2026-11-25T22:30:00.000Z",
        ),
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000Z"),
    ],
)
def test_iso_millis(moment: datetime, expected: str) -> None:
    assert iso_millis(moment) == expected
