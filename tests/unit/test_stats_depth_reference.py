"""The query depth by hand: entry and exit pages, `property:<key>`, the four filter operators
with alternatives, percentage, conversions and the sites' time zones (acceptance 2: local
days and hours across both DST changes of America/New_York) from the in-memory reference,
against answers worked out from the definitions (tests/support/depth_data.py shows the
rows and the arithmetic). tests/integration/test_query_depth_stores.py holds every store to
the same answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest
from tests.support.depth_data import (
    ALL_EVENTS,
    ALL_INITIAL_EVENTS,
    CASES,
    FALL_BACK_HOURS,
    NEW_YORK,
    SITE_NEW_YORK,
    SPRING_FORWARD_HOURS,
    DepthCase,
    answer,
)

from adapters.memory_stats import InMemoryStatsReader
from analytics_core.stats import Interval, StatsQuery, bucket_starts


@pytest.fixture(scope="module")
def memory() -> InMemoryStatsReader:
    reader = InMemoryStatsReader()
    reader.add(ALL_EVENTS, ALL_INITIAL_EVENTS)
    return reader


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_reference_answers(memory: InMemoryStatsReader, case: DepthCase) -> None:
    """Each case's hand-computed answer is the reference's (the case's `about` says what it
    pins down)."""
    assert answer(memory, case) == case.expected(), case.about


def test_the_hand_written_hours_are_the_local_hours() -> None:
    """The written-out bucket lists are 25 and 23 hours, one real hour apart from local
    midnight (04:00Z and 05:00Z), as `bucket_starts` makes them."""
    assert len(FALL_BACK_HOURS) == 25
    assert len(SPRING_FORWARD_HOURS) == 23
    for day, hours, first_utc_hour in (
        (date(2026, 11, 1), FALL_BACK_HOURS, 4),
        (date(2026, 3, 8), SPRING_FORWARD_HOURS, 5),
    ):
        query = StatsQuery((SITE_NEW_YORK,), day, day, interval=Interval.HOUR, timezone=NEW_YORK)
        starts = bucket_starts(query)
        assert [start.isoformat() for start in starts] == hours
        instants = [start.astimezone(UTC) for start in starts]
        assert instants[0] == datetime(day.year, day.month, day.day, first_utc_hour, tzinfo=UTC)
        assert {later - earlier for earlier, later in pairwise(instants)} == {timedelta(hours=1)}


def test_utc_queries_read_the_stored_dates() -> None:
    """In UTC, the local date of every row is its stored `dt` (so UTC answers are unchanged)."""
    for row in (*ALL_EVENTS, *ALL_INITIAL_EVENTS):
        assert row.timestamp.astimezone(UTC).date() == row.dt
