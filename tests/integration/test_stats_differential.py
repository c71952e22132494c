"""Acceptance 2, differential: one seeded generated dataset (thousands of events over 60 days,
four sites, sessions spanning midnight and the range boundaries, missing and repeated initial
events, reused session ids, event properties of every JSON type, goal events) is loaded into
PostgreSQL through the ingest-transaction helper (shuffled batches, so the read model is
maintained as ingest would) and into the Parquet lake (with duplicated rows, as at-least-once
delivery leaves them), with a second one of two sites over the end of daylight saving time in
New York. PostgreSQL (read model, raw rows, and for the query depth its fact blocks), DuckDB
and the in-memory reference give identical answers for every metric (all sums are compared) x
groupBy x interval combination, over several ranges, for a set of filters, and for the query
depth: entry and exit pages, properties, contains and alternatives, conversions of a goal, and
the days and hours of America/New_York (across a DST change) and Asia/Kolkata (+05:30)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import attrs
import psycopg
import pyarrow.parquet as pq
import pytest
from tests.support import db as testdb
from tests.support.hot_store import ingest_rows
from tests.support.stats_data import GOAL, Dataset, generate, shuffled_batches

from adapters.lake import LocalStatsReader, ParquetLakeWriter
from adapters.memory_stats import InMemoryStatsReader
from adapters.postgres.fact_blocks import FactBlockStatsReader
from adapters.postgres.migrations import PostgresMigrator
from adapters.postgres.partitions import PostgresEventPartitions
from adapters.postgres.pool import Pool, open_pool
from adapters.postgres.stats import Plan, PostgresStatsReader
from analytics_core.stats import (
    MAX_HOURLY_RANGE_DAYS,
    Counts,
    Dimension,
    Field,
    Filter,
    Interval,
    Operator,
    Property,
    StatsQuery,
    StatsResult,
    complete_report,
    parse_field,
)

DATA = generate(seed=20261125)
DST = generate(
    seed=20261101, sites=2, days=20, sessions=900, first_day=date(2026, 10, 20), site_tag="Z"
)
"""Two more sites, over the night New York's clocks go back (2026-11-01, 06:00 UTC)."""
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

    def __init__(self, pool: Pool, lake: Path, *datasets: Dataset) -> None:
        self.postgres = PostgresStatsReader(pool)
        self.session_days = PostgresStatsReader(pool, rollups=False)
        self.raw = PostgresStatsReader(pool, rollups=False, session_days=False)
        self.local = LocalStatsReader(lake)
        self.hot = FactBlockStatsReader(pool, fallback=self.postgres)
        self.memory = InMemoryStatsReader()
        for data in datasets:
            self.memory.add(data.events, data.initial_events)

    def check(self, query: StatsQuery, *, raw_only: bool = False) -> StatsResult:
        """Every store's answer equals the reference's (returned); with `raw_only`, the hot
        store's reader must answer from its raw rows, and its fact blocks (the fast engine
        of `adapters.postgres.fact_blocks`) must agree as well."""
        expected = self.memory.read(query)
        assert expected.totals.events > 0 or query.filters  # the range holds data
        assert self.local.read(query) == expected, "local"
        assert self.postgres.read(query) == expected, "postgres"
        if raw_only:  # the reader above ran the raw-row plan; the fact blocks agree too
            assert self.postgres.plan(query) is Plan.RAW_ROWS
            assert self.hot.answers(query)
            assert self.hot.read(query) == expected, "postgres fact blocks"
            return expected
        if self.postgres.plan(query) is Plan.ROLLUPS:  # the session-day rows agree too
            assert self.session_days.read(query) == expected, "postgres session days"
        if query.filters or query.group_by in (None, Dimension.PATHNAME, Dimension.COUNTRY):
            assert self.raw.read(query) == expected, "postgres raw rows"
        return expected


@pytest.fixture(scope="module")
def stores(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    lake = tmp_path_factory.mktemp("differential-lake")
    writer = ParquetLakeWriter(lake)
    rng = random.Random(5)
    for data in (DATA, DST):
        writer.write_rows(data.events[::2], data.initial_events[::2])
        writer.write_rows(data.events[1::2], data.initial_events[1::2])
        # A redelivery: one row in ten a second time.
        writer.write_rows(
            rng.sample(data.events, len(data.events) // 10),
            rng.sample(data.initial_events, len(data.initial_events) // 10),
        )
    # Compacted as a maintenance job would (duplicates stay in the merged files), except a
    # few days that keep one file per delivery.
    days = {r.dt for data in (DATA, DST) for r in (*data.events, *data.initial_events)}
    for table in ("events", "initial_events"):
        for day in days:
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
                for events, initial in shuffled_batches(DST, seed=12, batches=10):
                    ingest_rows(conn, events, initial)
            for offset in range(3, 60, 6):
                partitions.create_day(FIRST + timedelta(days=offset))
            yield Stores(pool, lake, DATA, DST)
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


# ---------------------------------------------------------------- query depth

PROPERTIES = [Property(key) for key in ("plan", "seats", "trial", "a.b", "nested", "Plan")]
DEPTH_GROUPS: list[Field | None] = [
    None,
    Dimension.ENTRY_PAGE,
    Dimension.EXIT_PAGE,
    Dimension.UTM_SOURCE,
    *PROPERTIES,
]
DST_RANGE = (date(2026, 10, 28), date(2026, 11, 3))
ZONES = {
    "new-york-dst": ("America/New_York", DST, DST_RANGE),
    "kolkata": ("Asia/Kolkata", DATA, RANGES["week-across-months"]),
    "utc-dst-sites": ("UTC", DST, DST_RANGE),
}


def _field_id(value: object) -> str:
    if isinstance(value, Property):
        return value.value
    return getattr(value, "value", value if isinstance(value, str) else "none")


def test_the_datasets_hold_the_depth_shapes() -> None:
    """The generated rows hold what the new definitions must handle: every kind of property
    value, goal events, and the second dataset's events on both sides of New York's change
    back to winter time (two 1 am hours on 2026-11-01)."""
    values = [
        row.properties.get("seats")
        for row in (*DATA.events, *DATA.initial_events)
        if row.properties is not None
    ]
    assert {type(v) for v in values} >= {int, float, str, type(None)}
    assert any(v == 2**63 - 1 for v in values)
    assert sum(row.event == GOAL for row in (*DATA.events, *DST.events)) > 20
    changes = [r.timestamp for r in DST.events if r.dt == date(2026, 11, 1)]
    assert any(t.hour == 5 for t in changes)  # 1 am summer time
    assert any(t.hour == 6 for t in changes)  # 1 am winter time


@pytest.mark.parametrize("group_by", DEPTH_GROUPS, ids=_field_id)
@pytest.mark.parametrize("interval", [None, Interval.DAY], ids=_field_id)
def test_depth_groups_with_a_goal(
    stores: Stores, group_by: Field | None, interval: Interval | None
) -> None:
    """Breakdowns by entry page, exit page and properties (strings, integers, booleans;
    floats, nulls and nested values count as null), with a goal's conversions, agree in every
    store, also with a limit that cuts ties; the hot store answers from its raw rows."""
    start, end = RANGES["30-days-inside"]
    for limit in (4, 1000):
        result = stores.check(
            StatsQuery(
                DATA.sites,
                start,
                end,
                group_by=group_by,
                interval=interval,
                goal=GOAL,
                limit=limit,
            ),
            raw_only=True,
        )
        assert result.totals.conversions > 0


DEPTH_FILTERS = [
    "property:plan~=pro",
    "property:plan~=İSTANBUL|zzz",
    "property:plan!~İstanbul|free",
    "property:plan!~pro|free",
    "property:plan==pro|Pro|1",
    "property:seats==3|-12|9223372036854775807",
    "property:seats!=1",
    "property:trial==true",
    "property:a.b==dotted;pathname!=/",
    "pathname==/|/a",
    "pathname~=A",
    "browser~=chrome|É",
    "browser!~chrome",
    "city~=köln|ZÜRICH;device!=mobile",
    "referer_domain!~.com",
    "country!=US|DE",
    "entry_page==/pricing|/docs",
    "exit_page~=a",
    "exit_page!=/;entry_page!~/a",
    "event~=view",
]


def _filters(text: str) -> tuple[Filter, ...]:
    """Filters as the API writes them (`dimension<operator>a|b`, `;` between)."""
    out = []
    for part in text.split(";"):
        position, operator = min((part.find(op.value), op) for op in Operator if op.value in part)
        name, value = part[:position], part[position + len(operator.value) :]
        out.append(Filter(parse_field(name), operator, tuple(value.split("|"))))
    return tuple(out)


@pytest.mark.parametrize(
    ("group_by", "interval"),
    [
        (None, Interval.WEEK),
        (Dimension.EXIT_PAGE, None),
        (Property("plan"), Interval.HOUR),
    ],
    ids=["week", "exit_page", "plan-hour"],
)
@pytest.mark.parametrize("filters", DEPTH_FILTERS)
def test_depth_filters(
    stores: Stores, filters: str, group_by: Field | None, interval: Interval | None
) -> None:
    """Contains (ignoring case, Unicode included), alternatives, negations that keep nulls,
    and filters on entry/exit pages and properties agree in every store, from the raw rows."""
    start, end = RANGES["30-days-inside"] if interval is not Interval.HOUR else RANGES["one-day"]
    query = StatsQuery(
        DATA.sites,
        start,
        end,
        group_by=group_by,
        interval=interval,
        filters=_filters(filters),
        goal="signup",
        limit=1000,
    )
    result = stores.check(query, raw_only=True)
    unfiltered = stores.memory.read(attrs.evolve(query, filters=()))
    assert 0 < result.totals.events < unfiltered.totals.events  # the filter does something


@pytest.mark.parametrize(
    "group_by",
    [None, Dimension.PATHNAME, Dimension.COUNTRY, Dimension.EXIT_PAGE, Property("plan")],
    ids=_field_id,
)
@pytest.mark.parametrize("interval", [None, *Interval], ids=_field_id)
@pytest.mark.parametrize("zone_case", ZONES)
def test_time_zones(
    stores: Stores, zone_case: str, group_by: Field | None, interval: Interval | None
) -> None:
    """Days, weeks, months and hours local to the query's time zone (a 25-hour day in New
    York, half-hour offsets in Kolkata) agree in every store."""
    name, data, (start, end) = ZONES[zone_case]
    query = StatsQuery(
        data.sites,
        start,
        end,
        group_by=group_by,
        interval=interval,
        goal=GOAL,
        timezone=name,
        limit=1000,
    )
    result = stores.check(query, raw_only=True)
    if interval is Interval.HOUR and name == "America/New_York":
        full = complete_report("test", query, result)
        assert full.timeseries is not None
        assert len(full.timeseries) == 7 * 24 + 1  # 2026-11-01 has 25 hours
    if interval is Interval.HOUR and name == "Asia/Kolkata":
        assert all(start.minute == 30 for start, _ in _utc(result.timeseries))


def _utc(
    timeseries: tuple[tuple[datetime, Counts], ...],
) -> list[tuple[datetime, Counts]]:
    return [(start.astimezone(UTC), counts) for start, counts in timeseries]


def test_the_local_day_moves_events_between_days(stores: Stores) -> None:
    """The same rows counted by New York days and by UTC days differ (the evenings are the
    next UTC day), and both agree in every store."""
    start, end = DST_RANGE
    local = stores.check(
        StatsQuery(DST.sites, start, end, interval=Interval.DAY, timezone="America/New_York"),
        raw_only=True,
    )
    utc = stores.check(StatsQuery(DST.sites, start, end, interval=Interval.DAY))
    assert stores.postgres.plan(StatsQuery(DST.sites, start, end)) is Plan.ROLLUPS
    assert [c for _, c in local.timeseries] != [c for _, c in utc.timeseries]
