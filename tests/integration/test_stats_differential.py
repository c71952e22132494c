"""Acceptance 2, differential: one seeded generated dataset (thousands of events over 60 days,
four sites, sessions spanning midnight and the range boundaries, missing and repeated initial
events, reused session ids) is loaded into PostgreSQL through the ingest-transaction helper
(shuffled batches, so the read model is maintained as ingest would) and into the Parquet lake
(with duplicated rows, as at-least-once delivery leaves them). PostgreSQL (read model and raw
rows), DuckDB and the in-memory reference give identical answers for every metric (all sums are
compared) x groupBy x interval combination, over several ranges, and for a set of filters."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest
from tests.support import db as testdb
from tests.support.hot_store import ingest_rows
from tests.support.stats_data import Dataset, generate, shuffled_batches

from adapters.lake import LocalStatsReader, ParquetLakeWriter
from adapters.memory_stats import InMemoryStatsReader
from adapters.postgres.migrations import PostgresMigrator
from adapters.postgres.partitions import PostgresEventPartitions
from adapters.postgres.pool import Pool, open_pool
from adapters.postgres.stats import Plan, PostgresStatsReader
from analytics_core.stats import (
    MAX_HOURLY_RANGE_DAYS,
    Dimension,
    Filter,
    Interval,
    Operator,
    StatsQuery,
)

DATA = generate(seed=20261125)
FIRST = DATA.first_day
RANGES = {
    "60-days": (FIRST, DATA.last_day),
    "30-days-inside": (FIRST + timedelta(days=20), FIRST + timedelta(days=49)),
    "one-day": (FIRST + timedelta(days=33), FIRST + timedelta(days=33)),
    "week-across-months": (date(2026, 9, 27), date(2026, 10, 3)),
}
GROUPS = [None, *Dimension]
INTERVALS = [None, *Interval]


class Stores:
    """The same data in every store."""

    def __init__(self, pool: Pool, lake: Path, dataset: Dataset) -> None:
        self.postgres = PostgresStatsReader(pool)
        self.session_days = PostgresStatsReader(pool, rollups=False)
        self.raw = PostgresStatsReader(pool, rollups=False, session_days=False)
        self.local = LocalStatsReader(lake)
        self.memory = InMemoryStatsReader()
        self.memory.add(dataset.events, dataset.initial_events)

    def check(self, query: StatsQuery) -> None:
        expected = self.memory.read(query)
        assert expected.totals.events > 0 or query.filters  # the range holds data
        assert self.local.read(query) == expected, "local"
        assert self.postgres.read(query) == expected, "postgres"
        if self.postgres.plan(query) is Plan.ROLLUPS:  # the session-day rows agree too
            assert self.session_days.read(query) == expected, "postgres session days"
        if query.filters or query.group_by in (None, Dimension.PATHNAME, Dimension.COUNTRY):
            assert self.raw.read(query) == expected, "postgres raw rows"


@pytest.fixture(scope="module")
def stores(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    lake = tmp_path_factory.mktemp("differential-lake")
    writer = ParquetLakeWriter(lake)
    rng = random.Random(5)
    writer.write_rows(DATA.events[::2], DATA.initial_events[::2])
    writer.write_rows(DATA.events[1::2], DATA.initial_events[1::2])
    # A redelivery: one row in ten a second time.
    writer.write_rows(
        rng.sample(DATA.events, len(DATA.events) // 10),
        rng.sample(DATA.initial_events, len(DATA.initial_events) // 10),
    )
    # Compacted as a maintenance job would (duplicates stay in the merged files), except a
    # few days that keep one file per delivery.
    for table in ("events", "initial_events"):
        for day in {r.dt for r in DATA.events} | {r.dt for r in DATA.initial_events}:
            if day.day % 10:
                writer.compact(table, day)

    with testdb.temporary_database(admin_url, prefix="analytics_differential") as url:
        pool = open_pool(url, max_size=2, name="differential")
        try:
            PostgresMigrator(pool).migrate()
            partitions = PostgresEventPartitions(pool)
            for offset in range(0, 60, 6):  # some days partitioned before the load, some after
                partitions.create_day(FIRST + timedelta(days=offset))
            with psycopg.connect(url) as conn:
                for events, initial in shuffled_batches(DATA, seed=11, batches=40):
                    ingest_rows(conn, events, initial)
            for offset in range(3, 60, 6):
                partitions.create_day(FIRST + timedelta(days=offset))
            yield Stores(pool, lake, DATA)
        finally:
            pool.close()


def test_the_dataset_has_the_awkward_shapes(stores: Stores) -> None:
    """The generated data holds what the definitions must handle: thousands of events over 60
    days, midnight-spanning sessions, sessions without an initial event, duplicates in the lake."""
    assert len(DATA.events) + len(DATA.initial_events) > 5000
    assert len({r.dt for r in DATA.events}) >= 60
    by_session: dict[tuple[str, str], set[date]] = {}
    for row in DATA.events + DATA.initial_events:
        by_session.setdefault((row.site_id, row.session_id), set()).add(row.dt)
    assert sum(len(days) > 1 for days in by_session.values()) > 50
    initial_sessions = {(r.site_id, r.session_id) for r in DATA.initial_events}
    assert len(set(by_session) - initial_sessions) > 50
    lake_rows = sum(pq.read_metadata(p).num_rows for p in stores.local.root.rglob("*.parquet"))
    assert lake_rows > len(DATA.events) + len(DATA.initial_events)


def _matrix() -> list[tuple[str, Dimension | None, Interval | None]]:
    """Every groupBy x interval on a 30-day range inside the data and on a week across two
    months; the 60-day range with the main groups and day-or-longer intervals; one day with
    every groupBy, hourly and not."""
    cases = [
        (name, g, i)
        for name in ("30-days-inside", "week-across-months")
        for g in GROUPS
        for i in INTERVALS
    ]
    main = (
        None,
        Dimension.PATHNAME,
        Dimension.COUNTRY,
        Dimension.REFERER_DOMAIN,
        Dimension.UTM_TERM,
    )
    cases += [
        ("60-days", g, i) for g in main for i in (None, Interval.DAY, Interval.WEEK, Interval.MONTH)
    ]
    cases += [("one-day", g, i) for g in GROUPS for i in (None, Interval.HOUR)]
    return cases


@pytest.mark.parametrize(
    ("range_name", "group_by", "interval"),
    _matrix(),
    ids=lambda v: getattr(v, "value", v if isinstance(v, str) else "none"),
)
def test_every_group_and_interval(
    stores: Stores, range_name: str, group_by: Dimension | None, interval: Interval | None
) -> None:
    """Every store gives the same sums for this range, breakdown and timeseries."""
    start, end = RANGES[range_name]
    assert not (interval is Interval.HOUR and (end - start).days + 1 > MAX_HOURLY_RANGE_DAYS)
    stores.check(
        StatsQuery(DATA.sites, start, end, group_by=group_by, interval=interval, limit=1000)
    )


FILTERS = {
    "country==US": "country==US",
    "country!=US": "country!=US",
    "pathname==/": "pathname==/",
    "event==click": "event==click",
    "event!=pageview": "event!=pageview",
    "device==mobile;browser!=Chrome": "device==mobile;browser!=Chrome",
    "city==Düsseldorf": "city==Düsseldorf",
    "referer!=google;pathname==/pricing": "referer_domain!=google.com;pathname==/pricing",
    "utm_source==newsletter": "utm_source==newsletter",
    "region!=US-CA;os==iOS": "region!=US-CA;os==iOS",
}


def _filters(text: str) -> tuple[Filter, ...]:
    out = []
    for part in text.split(";"):
        op = Operator.NE if "!=" in part else Operator.EQ
        name, value = part.split(op.value)
        out.append(Filter(Dimension(name), op, value))
    return tuple(out)


@pytest.mark.parametrize(
    ("group_by", "interval"),
    [
        (None, Interval.DAY),
        (Dimension.PATHNAME, Interval.WEEK),
        (Dimension.COUNTRY, None),
        (Dimension.BROWSER, Interval.MONTH),
        (Dimension.CITY, Interval.HOUR),
    ],
    ids=["day", "pathname-week", "country", "browser-month", "city-hour"],
)
@pytest.mark.parametrize("filters", FILTERS)
def test_filters(
    stores: Stores, filters: str, group_by: Dimension | None, interval: Interval | None
) -> None:
    """Filtered queries (the read model answers single == filters, the raw rows the rest) agree,
    also with a small limit that cuts ties."""
    start, end = (
        RANGES["30-days-inside"] if interval is not Interval.HOUR else RANGES["week-across-months"]
    )
    for limit in (3, 1000):
        stores.check(
            StatsQuery(
                DATA.sites,
                start,
                end,
                group_by=group_by,
                interval=interval,
                filters=_filters(FILTERS[filters]),
                limit=limit,
            )
        )


def test_one_site_among_several(stores: Stores) -> None:
    """A query of one site sees only that site's rows, in every store."""
    start, end = RANGES["30-days-inside"]
    for site in DATA.sites:
        stores.check(
            StatsQuery(
                (site,),
                start,
                end,
                group_by=Dimension.REFERER_DOMAIN,
                interval=Interval.DAY,
                limit=5,
            )
        )
