"""`compare=previous_period` on GET /api/query over fakes: the comparison is the range of the
same length just before, routed on its own, and its totals equal a separate query of it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.clock import FakeClock
from tests.support.events import OWNER_A, api_event, body_of
from tests.support.stats_data import generate

from adapters.config import Settings
from adapters.memory import InMemoryHotCoverage, InMemorySiteRepository
from adapters.memory_stats import InMemoryReadModel, InMemoryStatsReader
from analytics_core.sites import ComplianceLevel, Site
from analytics_core.stats import StatsQuery
from entrypoints import bootstrap
from entrypoints.api import query as query_api

DATASET = generate(seed=11, sites=2, days=60, sessions=600)
SITE = DATASET.sites[0]
NOW = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)
TODAY = NOW.date()


def _reader(source: str) -> InMemoryStatsReader:
    reader = InMemoryStatsReader(source)
    reader.add(DATASET.events, DATASET.initial_events)
    return reader


def _handler(hot_window_days: int = 30) -> Any:
    sites = InMemorySiteRepository()
    sites.put(
        Site(SITE, OWNER_A, "s", ("a.example",), "free_tier", 1, ComplianceLevel.MAYBE, NOW, NOW)
    )
    services = bootstrap.build(
        Settings(hot_window_days=hot_window_days, hot_retention_days=hot_window_days + 10),
        sites=sites,
        hot_stats=_reader("postgres"),
        cold_stats=_reader("local"),
        clock=FakeClock(NOW),
        hot_coverage=InMemoryHotCoverage(),
        query_read_model=InMemoryReadModel(),
    )
    return query_api.make_handler(services)


def _get(handler: Any, **params: str) -> dict[str, Any]:
    response = handler(api_event("GET", "/api/query", query={"siteId": SITE, **params}), None)
    assert response["statusCode"] == 200, response["body"]
    body: dict[str, Any] = body_of(response)
    return body


@settings(max_examples=25, deadline=None)
@given(end_ago=st.integers(0, 20), days=st.integers(1, 25), with_interval=st.booleans())
def test_comparison_totals_equal_a_query_of_the_previous_range(
    end_ago: int, days: int, with_interval: bool
) -> None:
    """The comparison names the range of the same length ending the day before the start, and
    its totals (and timeseries, with an interval) equal a separate query of that range."""
    handler = _handler()
    end = TODAY - timedelta(days=end_ago)
    start = end - timedelta(days=days - 1)
    extra = {"interval": "day"} if with_interval else {}
    body = _get(
        handler,
        startDate=start.isoformat(),
        endDate=end.isoformat(),
        compare="previous_period",
        groupBy="pathname",
        **extra,
    )
    previous_end = start - timedelta(days=1)
    previous_start = previous_end - timedelta(days=days - 1)
    separate = _get(
        handler, startDate=previous_start.isoformat(), endDate=previous_end.isoformat(), **extra
    )
    comparison = body["comparison"]
    assert comparison["startDate"] == previous_start.isoformat()
    assert comparison["endDate"] == previous_end.isoformat()
    assert comparison["totals"] == separate["totals"]
    assert ("timeseries" in comparison) is with_interval
    if with_interval:
        assert comparison["timeseries"] == separate["timeseries"]
    assert set(comparison) <= {"startDate", "endDate", "totals", "timeseries"}


def test_the_previous_range_is_routed_on_its_own() -> None:
    """A range inside the hot window whose previous range is not: the comparison comes from
    the cold store (its totals are the cold store's answer for that range)."""
    handler = _handler(hot_window_days=10)
    body = _get(handler, startDate="2026-10-25", endDate="2026-10-31", compare="previous_period")
    assert body["source"] == "postgres"
    cold = _reader("local").read(StatsQuery((SITE,), date(2026, 10, 18), date(2026, 10, 24)))
    assert body["comparison"]["totals"]["pageviews"] == cold.totals.pageviews
    assert body["comparison"]["totals"]["visitors"] == cold.totals.visitors


def test_without_compare_there_is_no_comparison() -> None:
    """The answer has no `comparison` key unless asked for."""
    body = _get(_handler(), startDate="2026-10-25", endDate="2026-10-31")
    assert "comparison" not in body


def test_unknown_compare_value_is_400_naming_compare() -> None:
    """An unknown comparison is a 400 naming `compare`."""
    response = _handler()(
        api_event(
            "GET",
            "/api/query",
            query={
                "siteId": SITE,
                "startDate": "2026-10-25",
                "endDate": "2026-10-31",
                "compare": "last_year",
            },
        ),
        None,
    )
    assert response["statusCode"] == 400
    assert "compare" in response["body"]


def test_previous_range_before_2000_is_400_naming_compare() -> None:
    """A previous range that would start before 2000-01-01 is refused (not clamped)."""
    response = _handler()(
        api_event(
            "GET",
            "/api/query",
            query={
                "siteId": SITE,
                "startDate": "2000-01-05",
                "endDate": "2000-01-10",
                "compare": "previous_period",
            },
        ),
        None,
    )
    assert response["statusCode"] == 400
    assert "compare" in response["body"]
