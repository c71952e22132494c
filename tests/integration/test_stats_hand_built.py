"""Acceptance 1: a small hand-built dataset gives the hand-computed value of every metric, from
PostgreSQL (rollups, session-day rows, raw rows), from the local cold store (DuckDB over Parquet, with
duplicated files) and from the in-memory reference. See tests/support/stats_data.py for the
sessions and the arithmetic."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest
from tests.support.hot_store import ingest_rows
from tests.support.stats_data import (
    HAND_END,
    HAND_EVENTS,
    HAND_INITIAL_EVENTS,
    HAND_START,
    SITE_A,
    SITE_B,
)

from adapters.lake import LocalStatsReader, ParquetLakeWriter
from adapters.memory_stats import InMemoryStatsReader
from adapters.postgres.pool import Pool
from adapters.postgres.stats import PostgresStatsReader
from analytics_core.ports import StatsReader
from analytics_core.stats import (
    DEFAULT_METRICS,
    Dimension,
    Filter,
    Interval,
    Metric,
    Operator,
    StatsQuery,
    complete_report,
)

ALL = DEFAULT_METRICS
READERS = ("postgres", "postgres-session-days", "postgres-raw", "local", "memory")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lake")
    writer = ParquetLakeWriter(root)
    writer.write_rows(HAND_EVENTS, HAND_INITIAL_EVENTS)
    writer.write_rows(HAND_EVENTS[:3], HAND_INITIAL_EVENTS[:2])  # an at-least-once redelivery
    return root


@pytest.fixture
def loaded(db: Pool, database_url: str) -> Pool:
    with psycopg.connect(database_url) as conn:
        # In three transactions, the initial events last, as a late delivery would.
        ingest_rows(conn, HAND_EVENTS[:3], ())
        ingest_rows(conn, HAND_EVENTS[3:], HAND_INITIAL_EVENTS[3:])
        ingest_rows(conn, (), HAND_INITIAL_EVENTS[:3])
    return db


@pytest.fixture(params=READERS)
def reader(request: pytest.FixtureRequest, lake: Path) -> StatsReader:
    if request.param == "local":
        return LocalStatsReader(lake)
    if request.param == "memory":
        memory = InMemoryStatsReader()
        memory.add(HAND_EVENTS, HAND_INITIAL_EVENTS)
        return memory
    pool = request.getfixturevalue("loaded")
    if request.param == "postgres-raw":
        return PostgresStatsReader(pool, rollups=False, session_days=False)
    return PostgresStatsReader(pool, rollups=request.param == "postgres")


def ask(reader: StatsReader, **kwargs: object) -> dict[str, object]:
    query = StatsQuery(site_ids=(SITE_A,), start_date=HAND_START, end_date=HAND_END, **kwargs)  # type: ignore[arg-type]
    report = complete_report(reader.source, query, reader.read(query))
    answer: dict[str, object] = {"totals": report.totals.metrics(ALL)}
    if report.timeseries is not None:
        answer["timeseries"] = [(start, counts.metrics(ALL)) for start, counts in report.timeseries]
    if report.breakdown is not None:
        answer["breakdown"] = [(value, counts.metrics(ALL)) for value, counts in report.breakdown]
    return answer


def metrics(  # noqa: PLR0917  # one positional per metric reads like the table
    visitors: int,
    visits: int,
    pageviews: int,
    events: int,
    bounce_rate: int | None,
    visit_duration: int | None,
    views_per_visit: float | None,
) -> dict[Metric, object]:
    return {
        Metric.VISITORS: visitors,
        Metric.VISITS: visits,
        Metric.PAGEVIEWS: pageviews,
        Metric.EVENTS: events,
        Metric.BOUNCE_RATE: bounce_rate,
        Metric.VISIT_DURATION: visit_duration,
        Metric.VIEWS_PER_VISIT: views_per_visit,
    }


TOTALS = metrics(6, 4, 8, 9, 25, 2565, 2.0)


def test_totals(reader: StatsReader) -> None:
    """Six visitors, four visits, eight pageviews, nine events, one bounce in four, mean
    duration 2,565 s, two views per visit: the midnight-spanning, pre-range, initial-less and
    post-range sessions each count as the definitions say."""
    assert ask(reader)["totals"] == TOTALS


def test_daily_timeseries(reader: StatsReader) -> None:
    """Per day, s3 is a visitor on both days and its visit belongs to its start day."""
    answer = ask(reader, interval=Interval.DAY)
    assert answer["totals"] == TOTALS
    assert answer["timeseries"] == [
        (datetime(2026, 11, 10, tzinfo=UTC), metrics(4, 3, 5, 6, 33, 420, 1.67)),
        (datetime(2026, 11, 11, tzinfo=UTC), metrics(3, 1, 3, 3, 0, 9000, 3.0)),
    ]


def test_weekly_bucket_counts_each_visitor_once(reader: StatsReader) -> None:
    """Both days are in the week of Monday 2026-11-09: s3 counts once in that bucket."""
    answer = ask(reader, interval=Interval.WEEK)
    assert answer["timeseries"] == [(datetime(2026, 11, 9, tzinfo=UTC), TOTALS)]


def test_hourly_timeseries(reader: StatsReader) -> None:
    """Hourly buckets: every one of the 48 hours is present, zeros included."""
    answer = ask(reader, interval=Interval.HOUR)
    series = dict(answer["timeseries"])  # type: ignore[arg-type]
    assert len(series) == 48
    hour = datetime(2026, 11, 10, tzinfo=UTC).replace
    assert series[hour(hour=10)] == metrics(1, 1, 2, 3, 0, 60, 2.0)
    assert series[hour(hour=0)] == metrics(1, 0, 1, 1, None, None, None)
    assert series[hour(hour=23)] == metrics(1, 1, 1, 1, 0, 1200, 1.0)
    assert series[hour(hour=1)] == metrics(0, 0, 0, 0, None, None, None)
    assert series[datetime(2026, 11, 11, 22, tzinfo=UTC)] == metrics(1, 1, 1, 1, 0, 9000, 1.0)


def test_breakdown_by_country(reader: StatsReader) -> None:
    """Session dimensions come from the attributed initial event (s4's from the day before
    the range); the session without one is null, sorted last among equals."""
    assert ask(reader, group_by=Dimension.COUNTRY)["breakdown"] == [
        ("US", metrics(2, 2, 4, 5, 0, 630, 2.0)),
        ("DE", metrics(1, 1, 1, 1, 100, 0, 1.0)),
        ("FR", metrics(1, 0, 1, 1, None, None, None)),
        ("GB", metrics(1, 1, 1, 1, 0, 9000, 1.0)),
        (None, metrics(1, 0, 1, 1, None, None, None)),
    ]


def test_breakdown_by_pathname_with_limit(reader: StatsReader) -> None:
    """Pathname is per event; a visit counts under its landing page; ties in visitors go by
    value; `limit` cuts the list (/blog/x, /docs and /pricing fall off)."""
    assert ask(reader, group_by=Dimension.PATHNAME, limit=3)["breakdown"] == [
        ("/", metrics(3, 3, 3, 3, 33, 3020, 1.0)),
        ("/about", metrics(1, 0, 1, 1, None, None, None)),
        ("/blog", metrics(1, 1, 1, 1, 0, 1200, 1.0)),
    ]
    pricing = dict(ask(reader, group_by=Dimension.PATHNAME)["breakdown"])["/pricing"]  # type: ignore[call-overload]
    assert pricing == metrics(1, 0, 1, 2, None, None, None)


def test_filters(reader: StatsReader) -> None:
    """`==` keeps equal values; `!=` keeps different ones and nulls; filters combine with AND."""
    us = Filter(Dimension.COUNTRY, Operator.EQ, "US")
    not_us = Filter(Dimension.COUNTRY, Operator.NE, "US")
    landing = Filter(Dimension.PATHNAME, Operator.EQ, "/")
    assert ask(reader, filters=(us,))["totals"] == metrics(2, 2, 4, 5, 0, 630, 2.0)
    assert ask(reader, filters=(not_us,))["totals"] == metrics(4, 2, 4, 4, 50, 4500, 2.0)
    assert ask(reader, filters=(landing,))["totals"] == metrics(3, 3, 3, 3, 33, 3020, 1.0)
    assert ask(reader, filters=(us, landing))["totals"] == metrics(1, 1, 1, 1, 0, 60, 1.0)


def test_an_event_filter_with_a_breakdown_by_another_dimension(reader: StatsReader) -> None:
    """event==click keeps s1's click only, under s1's country."""
    click = Filter(Dimension.EVENT, Operator.EQ, "click")
    answer = ask(reader, filters=(click,), group_by=Dimension.DEVICE, interval=Interval.DAY)
    assert answer["totals"] == metrics(1, 0, 0, 1, None, None, None)
    assert answer["breakdown"] == [("desktop", metrics(1, 0, 0, 1, None, None, None))]


def test_several_sites_add_up(reader: StatsReader) -> None:
    """Two sites: a session id used on both is two visitors."""
    query = StatsQuery(
        site_ids=(SITE_A, SITE_B), start_date=date(2026, 11, 10), end_date=date(2026, 11, 10)
    )
    totals = reader.read(query).totals
    assert (totals.visitors, totals.visits, totals.events) == (5, 4, 8)
