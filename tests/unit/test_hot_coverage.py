"""Hot coverage in the query router: a range starting before the first complete hot day goes
to the cold store, even inside the hot window, and a change applies to the next query."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from adapters.memory import InMemoryHotCoverage, InMemorySiteRepository
from adapters.memory_stats import InMemoryReadModel, InMemoryStatsReader
from analytics_core.querying import query_stats
from analytics_core.routing import Store, route
from analytics_core.sites import ComplianceLevel, Site
from analytics_core.stats import StatsQuery

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
SITE = "01JDQ7ZK3M000000000000SA01"
OWNER = "owner-a"


@given(
    start_ago=st.integers(-2, 60),
    since_ago=st.one_of(st.none(), st.integers(-2, 60)),
    window=st.integers(1, 40),
)
def test_route_is_hot_only_inside_both_the_window_and_the_coverage(
    start_ago: int, since_ago: int | None, window: int
) -> None:
    """Hot exactly when the start lies within the hot window and on or after the coverage's
    first day (no coverage day: the window alone decides)."""
    start = TODAY - timedelta(days=start_ago)
    since = None if since_ago is None else TODAY - timedelta(days=since_ago)
    in_window = start_ago <= window
    covered = since is None or start >= since
    expected = Store.HOT if in_window and covered else Store.COLD
    assert route(start, TODAY, window, since) is expected


def test_query_source_follows_a_coverage_change_at_once() -> None:
    """Setting the coverage to today sends a 7-day range to the cold store; clearing it
    brings the same range back to the hot store on the next query."""
    sites = InMemorySiteRepository()
    sites.put(
        Site(SITE, OWNER, "s", ("a.example",), "free_tier", 1, ComplianceLevel.MAYBE, NOW, NOW)
    )
    coverage = InMemoryHotCoverage()
    hot, cold = InMemoryStatsReader("postgres"), InMemoryStatsReader("local")
    query = StatsQuery((SITE,), TODAY - timedelta(days=6), TODAY)

    def source() -> str:
        return query_stats(
            query,
            OWNER,
            sites=sites,
            hot=hot,
            cold=cold,
            clock=lambda: NOW,
            hot_window_days=30,
            coverage=coverage,
            read_model=InMemoryReadModel(),
        ).source

    assert source() == "postgres"
    coverage.set_since(TODAY)
    assert source() == "local"
    coverage.set_since(TODAY - timedelta(days=6))
    assert source() == "postgres"
    coverage.set_since(None)
    assert source() == "postgres"


def test_move_back_never_moves_forward() -> None:
    """`move_back` only ever sets an earlier day, and leaves 'complete for every day' alone."""
    coverage = InMemoryHotCoverage(date(2026, 12, 7))
    assert coverage.move_back(date(2026, 12, 9)) == date(2026, 12, 7)
    assert coverage.move_back(date(2026, 12, 1)) == date(2026, 12, 1)
    unset = InMemoryHotCoverage()
    assert unset.move_back(date(2026, 12, 1)) is None
