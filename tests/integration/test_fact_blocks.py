"""The fact blocks on a real PostgreSQL (adapters/postgres/fact_blocks.py, migration 0013):
`FactBlockStatsReader` answers exactly as the raw-row statement in UTC and America/New_York;
rows stored after a query are counted once folded (only the touched days' blocks are built
again), also while folds, ingest and reads race; a rebuild, a change of the query's zone, the
read model's expiry and a site's deletion leave no stale block answering."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import attrs
import psycopg
import pytest
from tests.support.db import fetch_all
from tests.support.hot_store import copy_rows
from tests.support.stats_data import GOAL, Dataset, generate

from adapters.memory import InMemoryHotCoverage
from adapters.memory_stats import InMemoryStatsReader
from adapters.postgres.deletions import PostgresSiteDeletions
from adapters.postgres.events import PostgresEventStore
from adapters.postgres.fact_blocks import BlockCache, FactBlockStatsReader
from adapters.postgres.pool import Pool, transaction
from adapters.postgres.read_model import PostgresReadModel
from adapters.postgres.read_model import expire as expire_read_model
from adapters.postgres.sites import PostgresSiteRepository
from adapters.postgres.stats import PostgresStatsReader
from analytics_core.querying import query_stats
from analytics_core.rows import InitialEventRow, Row
from analytics_core.stats import (
    Dimension,
    Filter,
    Interval,
    Operator,
    Property,
    StatsQuery,
    StatsResult,
    complete_report,
)

DATA = generate(
    seed=424242, sites=2, days=8, sessions=400, first_day=date(2026, 10, 28), site_tag="F"
)
SITES = DATA.sites
START, END = DATA.first_day + timedelta(days=1), DATA.last_day - timedelta(days=1)


def add_sites(url: str, timezone: str = "UTC") -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for site in SITES:
            conn.execute(
                "INSERT INTO sites (site_id, owner_sub, name, domains, request_allowance, "
                "timezone) VALUES (%s, 'o', 'n', ARRAY['example.com'], 10000000, %s) "
                "ON CONFLICT (site_id) DO UPDATE SET timezone = excluded.timezone",
                (site, timezone),
            )


def rows_of(data: Dataset) -> list[Row]:
    rows: list[Row] = [*data.initial_events, *data.events]
    return sorted(rows, key=lambda r: (r.timestamp, r.event_uid))


def store(pool: Pool, rows: Sequence[Row], batch: int = 400) -> None:
    """Store rows as ingest does (pending for a fold), in batches."""
    for start in range(0, len(rows), batch):
        PostgresEventStore(pool).store(rows[start : start + batch], [])


def raw(pool: Pool) -> PostgresStatsReader:
    return PostgresStatsReader(pool, rollups=False, session_days=False)


def same(a: StatsResult, b: StatsResult, query: StatsQuery) -> bool:
    left, right = complete_report("x", query, a), complete_report("x", query, b)
    return (left.totals, left.timeseries, left.breakdown) == (
        right.totals,
        right.timeseries,
        right.breakdown,
    )


def queries(timezone: str) -> list[StatsQuery]:
    def q(**kwargs: object) -> StatsQuery:
        return StatsQuery(SITES, START, END, timezone=timezone, **kwargs)  # type: ignore[arg-type]

    return [
        q(),
        q(interval=Interval.HOUR, group_by=Dimension.PATHNAME, goal=GOAL),
        q(interval=Interval.DAY, filters=(Filter(Dimension.COUNTRY, Operator.EQ, ("US", "DE")),)),
        q(
            group_by=Dimension.ENTRY_PAGE,
            filters=(Filter(Dimension.DEVICE, Operator.NE, "mobile"),),
        ),
        q(group_by=Dimension.EXIT_PAGE, goal=GOAL, interval=Interval.WEEK),
        q(
            group_by=Property("plan"),
            filters=(Filter(Dimension.PATHNAME, Operator.CONTAINS, "DOC"),),
        ),
        q(
            group_by=Dimension.REFERER_DOMAIN,
            filters=(Filter(Property("plan"), Operator.NOT_CONTAINS, ("pro", "x")),),
            interval=Interval.MONTH,
        ),
    ]


def fold(pool: Pool) -> int:
    return PostgresReadModel(pool).fold_pending(SITES)


def blocks(url: str) -> dict[tuple[str, date], tuple[str, int]]:
    return {
        (site, day): (zone, version)
        for site, day, zone, version in fetch_all(
            url, "SELECT site_id, day, timezone, version FROM stats_fact_blocks"
        )
    }


@pytest.mark.parametrize("timezone", ["UTC", "America/New_York"])
def test_the_blocks_answer_as_the_raw_rows(db: Pool, database_url: str, timezone: str) -> None:
    """Every query (groupBy, interval, filters, goal) gives the raw rows' answer, twice (the
    second time from the process's decoded blocks)."""
    add_sites(database_url, timezone)
    store(db, rows_of(DATA))
    fold(db)
    reader = FactBlockStatsReader(db, cache=BlockCache(), rollups_first=False)
    for query in queries(timezone):
        expected = raw(db).read(query)
        assert expected.totals.events > 0
        assert same(reader.read(query), expected, query), query
        assert same(reader.read(query), expected, query), query
    built = blocks(database_url)
    assert len(built) == len(SITES) * ((END - START).days + 1)
    assert {zone for zone, _ in built.values()} == {timezone}


def test_rows_stored_after_a_query_are_counted_once_folded(db: Pool, database_url: str) -> None:
    """Through the query use case: rows stored after a first query are in the next answer,
    and only the blocks of the days they touch are built again."""
    add_sites(database_url)
    rows = rows_of(DATA)
    late_day = END - timedelta(days=1)
    late = [r for r in rows if r.dt == late_day]
    store(db, [r for r in rows if r.dt != late_day])
    reader = FactBlockStatsReader(db, cache=BlockCache(), rollups_first=False)
    query = StatsQuery(SITES, START, END, interval=Interval.DAY, group_by=Dimension.COUNTRY)

    def ask() -> StatsResult:
        report = query_stats(
            query,
            "o",
            sites=PostgresSiteRepository(db),
            hot=reader,
            cold=InMemoryStatsReader("cold"),
            clock=lambda: datetime.combine(END, datetime.min.time(), UTC),
            hot_window_days=30,
            coverage=InMemoryHotCoverage(),
            read_model=PostgresReadModel(db),
        )
        assert report.source == "postgres"
        return StatsResult(report.totals, report.timeseries or (), report.breakdown or ())

    first = ask()
    assert same(first, raw(db).read(query), query)
    before = blocks(database_url)
    store(db, late)
    second = ask()
    assert second.totals.events == first.totals.events + len(late)
    assert same(second, raw(db).read(query), query)
    after = blocks(database_url)
    changed = {key[1] for key in after if after[key] != before.get(key)}
    assert changed, "the touched days were built again"
    assert all(abs((day - late_day).days) <= 2 for day in changed)
    assert any(abs((day - late_day).days) > 2 for _, day in after)


def test_folds_ingest_and_reads_racing_stay_exact(db: Pool, database_url: str) -> None:
    """Readers folding and reading while batches are stored never fail, and the answer after
    the last fold is the raw rows' one."""
    add_sites(database_url)
    rows = rows_of(DATA)
    store(db, rows[: len(rows) // 2])
    reader = FactBlockStatsReader(db, cache=BlockCache(), rollups_first=False)
    query = StatsQuery(SITES, START, END, group_by=Dimension.PATHNAME, interval=Interval.HOUR)
    errors: list[BaseException] = []
    done = threading.Event()

    def ingest() -> None:
        try:
            store(db, rows[len(rows) // 2 :], batch=150)
        except BaseException as exc:  # noqa: BLE001  # reported by the test below
            errors.append(exc)
        finally:
            done.set()

    def read() -> None:
        try:
            while not done.is_set():
                fold(db)
                reader.read(query)
        except BaseException as exc:  # noqa: BLE001  # reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=ingest), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    fold(db)
    assert same(reader.read(query), raw(db).read(query), query)


def test_a_rebuild_drops_the_sites_blocks(db: Pool, database_url: str) -> None:
    """Rows stored without being recorded as pending reach the answer after a rebuild."""
    add_sites(database_url)
    rows = rows_of(DATA)
    hidden = [r for r in rows if r.session_id == "sess-7" or r.dt == START + timedelta(days=2)]
    store(db, [r for r in rows if r not in hidden])
    fold(db)
    reader = FactBlockStatsReader(db, cache=BlockCache(), rollups_first=False)
    query = StatsQuery(SITES, START, END, group_by=Dimension.BROWSER)
    shown = reader.read(query)
    with psycopg.connect(database_url) as conn:
        copy_rows(
            conn,
            [r for r in hidden if not isinstance(r, InitialEventRow)],
            [r for r in hidden if isinstance(r, InitialEventRow)],
            rebuild=False,
        )
    assert reader.read(query) == shown  # nothing says the blocks are stale yet
    PostgresReadModel(db).rebuild(SITES[:1])
    assert all(site != SITES[0] for site, _ in blocks(database_url))
    PostgresReadModel(db).rebuild()
    assert blocks(database_url) == {}
    answer = reader.read(query)
    assert answer.totals.events > shown.totals.events
    assert same(answer, raw(db).read(query), query)


def test_a_zone_change_builds_the_blocks_again(db: Pool, database_url: str) -> None:
    """A query in another zone than the blocks' builds them again for it."""
    add_sites(database_url)
    store(db, rows_of(DATA))
    fold(db)
    reader = FactBlockStatsReader(db, cache=BlockCache(), rollups_first=False)
    utc = StatsQuery(SITES, START, END, interval=Interval.HOUR)
    reader.read(utc)
    assert {zone for zone, _ in blocks(database_url).values()} == {"UTC"}
    new_york = StatsQuery(SITES, START, END, interval=Interval.HOUR, timezone="America/New_York")
    assert same(reader.read(new_york), raw(db).read(new_york), new_york)
    assert {zone for zone, _ in blocks(database_url).values()} == {"America/New_York"}
    assert same(reader.read(utc), raw(db).read(utc), utc)


def test_expiry_and_deletion_leave_no_block(db: Pool, database_url: str) -> None:
    """The read model's expiry drops the blocks of the days it reaches; a site's deletion
    drops its blocks and session numbers."""
    add_sites(database_url)
    store(db, rows_of(DATA))
    fold(db)
    FactBlockStatsReader(db, cache=BlockCache(), rollups_first=False).read(
        StatsQuery(SITES, START, END)
    )
    cut = START + timedelta(days=1)
    with transaction(db) as conn:
        expire_read_model(conn, cut)
    assert blocks(database_url)
    assert all(day > cut + timedelta(days=2) for _, day in blocks(database_url))
    numbered = fetch_all(database_url, "SELECT site_id, session_id FROM stats_session_numbers")
    spans = fetch_all(database_url, "SELECT site_id, session_id FROM stats_sessions")
    assert numbered
    assert set(numbered) <= set(spans)
    requested = datetime(2026, 12, 1, tzinfo=UTC)
    assert PostgresSiteDeletions(db).delete_hot("o", SITES[0], requested)
    for table in ("stats_fact_blocks", "stats_session_numbers"):
        assert (
            fetch_all(database_url, f"SELECT 1 FROM {table} WHERE site_id = %s", (SITES[0],)) == []
        )
    assert fetch_all(database_url, "SELECT count(*) FROM stats_session_numbers") != [(0,)]


def test_a_read_builds_a_bounded_number_of_blocks(db: Pool, database_url: str) -> None:
    """With more blocks missing than a read may build, the fallback answers while the reads
    build them, latest days first, until the blocks answer."""
    add_sites(database_url)
    store(db, rows_of(DATA))
    fold(db)
    reader = FactBlockStatsReader(
        db, cache=BlockCache(), build_days_per_read=5, rollups_first=False
    )
    query = StatsQuery(SITES, START, END, group_by=Dimension.EXIT_PAGE, goal=GOAL)
    expected = raw(db).read(query)
    days = (END - START).days + 1
    built = []
    for _ in range(3):
        assert same(reader.read(query), expected, query)
        built.append(len(blocks(database_url)))
    assert built == [5, 10, min(15, 2 * days)]
    assert max(day for _, day in blocks(database_url)) == END
    while len(blocks(database_url)) < 2 * days:
        assert same(reader.read(query), expected, query)
    assert same(reader.read(query), expected, query)


def test_the_rollups_answer_first_by_default(db: Pool, database_url: str) -> None:
    """By default the rollups' queries go to the fallback (no block built), the others to
    the blocks; both give the raw rows' answers."""
    add_sites(database_url)
    store(db, rows_of(DATA))
    fold(db)
    reader = FactBlockStatsReader(db, cache=BlockCache())
    unfiltered = StatsQuery(SITES, START, END, group_by=Dimension.COUNTRY, interval=Interval.DAY)
    assert not reader.answers(unfiltered)
    assert same(reader.read(unfiltered), raw(db).read(unfiltered), unfiltered)
    assert blocks(database_url) == {}
    filtered = attrs.evolve(
        unfiltered, filters=(Filter(Dimension.PATHNAME, Operator.EQ, "/pricing"),)
    )
    assert reader.answers(filtered)
    assert same(reader.read(filtered), raw(db).read(filtered), filtered)
    assert len(blocks(database_url)) == len(SITES) * ((END - START).days + 1)
