"""Partition planning: which days to create and drop for a given clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from adapters.memory import InMemoryEventPartitions
from analytics_core.partitions import maintain_partitions, plan_partitions

TODAY = date(2026, 11, 25)


def test_plan_on_an_empty_database() -> None:
    """With nothing there, the plan creates yesterday through today+3 and drops nothing."""
    plan = plan_partitions(TODAY, set(), days_ahead=3, retention_days=32)
    assert plan.create == tuple(TODAY + timedelta(days=d) for d in range(-1, 4))
    assert plan.drop == ()
    assert plan.keep_from == date(2026, 10, 24)


def test_plan_drops_exactly_the_days_before_the_retention() -> None:
    """Days before today-retention are dropped; the boundary day itself is kept."""
    existing = {date(2026, 10, 22), date(2026, 10, 23), date(2026, 10, 24), TODAY}
    plan = plan_partitions(TODAY, existing, days_ahead=0, retention_days=32)
    assert plan.drop == (date(2026, 10, 22), date(2026, 10, 23))
    assert plan.create == (TODAY - timedelta(days=1),)


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
    st.sets(st.integers(-60, 30).map(lambda d: timedelta(days=d))),
    st.integers(0, 14),
    st.integers(1, 60),
)
def test_after_maintenance_the_window_exists_and_nothing_old_remains(
    today: date, offsets: set[timedelta], days_ahead: int, retention: int
) -> None:
    """For any clock and starting state: every day from yesterday (or the retention start) to
    today+ahead exists, and no day before the retention start does."""
    partitions = InMemoryEventPartitions({today + offset for offset in offsets})
    clock = lambda: datetime(today.year, today.month, today.day, 23, 59, tzinfo=UTC)  # noqa: E731
    report = maintain_partitions(partitions, clock, days_ahead=days_ahead, retention_days=retention)
    keep_from = today - timedelta(days=retention)
    start = max(today - timedelta(days=1), keep_from)
    expected = {start + timedelta(days=d) for d in range((today - start).days + days_ahead + 1)}
    assert expected <= partitions.days
    assert all(day >= keep_from for day in partitions.days)
    assert set(report.created).isdisjoint(offset + today for offset in offsets)
