"""The read model folded after ingest (sql/migrations/0006_stats_pending.sql and
0007_stats_pending_ranges.sql), on a real PostgreSQL: rows stored by the real event store and
folded at any points, by site or all at once, leave the read model exactly as a rebuild from
the raw rows; folds racing ingest stay exact; a range takes no row of another site whose ids
fell inside it; keys left by the previous version fold with the ranges; queries fold their
sites first; a rebuild takes the pending rows in."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.integration.test_read_model import (
    DAY0,
    SITES,
    batches,
    clear,
    rebuilt,
    site_batches,
    snapshot,
)
from tests.support.db import fetch_all
from tests.support.hot_store import copy_rows

from adapters.memory import InMemoryHotCoverage
from adapters.memory_stats import InMemoryStatsReader
from adapters.postgres.events import PostgresEventStore
from adapters.postgres.pool import Pool, transaction
from adapters.postgres.read_model import PostgresReadModel, fold_pending, pending_rows
from adapters.postgres.read_model import rebuild as rebuild_read_model
from adapters.postgres.sites import PostgresSiteRepository
from adapters.postgres.stats import PostgresStatsReader
from analytics_core.outcomes import Outcome
from analytics_core.querying import query_stats
from analytics_core.rows import EventRow, InitialEventRow, Row
from analytics_core.stats import Dimension, Interval, StatsQuery

QUERIES = (
    StatsQuery(SITES, DAY0, DAY0 + timedelta(days=4), group_by=Dimension.COUNTRY),
    StatsQuery(
        SITES[:1],
        DAY0 + timedelta(days=1),
        DAY0 + timedelta(days=3),
        group_by=Dimension.PATHNAME,
        interval=Interval.HOUR,
    ),
)


def add_sites(url: str, allowance: int = 1_000_000) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for site in SITES:
            conn.execute(
                "INSERT INTO sites (site_id, owner_sub, name, domains, request_allowance) "
                "VALUES (%s, 'o', 'n', ARRAY['example.com'], %s) ON CONFLICT DO NOTHING",
                (site, allowance),
            )


def fold(pool: Pool, site_ids: Sequence[str] | None = None) -> int:
    with transaction(pool) as conn:
        return fold_pending(conn, site_ids)


def pending_count(pool: Pool) -> int:
    with transaction(pool) as conn:
        return pending_rows(conn)


def pending_sites(url: str) -> list[str]:
    """The sites with pending rows: keys (stats_pending) or ranges (stats_pending_ranges)."""
    return [
        site_id
        for (site_id,) in fetch_all(
            url,
            "SELECT site_id FROM stats_pending UNION SELECT site_id FROM stats_pending_ranges "
            "ORDER BY 1",
        )
    ]


def of_site(
    read_model: dict[str, list[tuple[Any, ...]]], site_id: str
) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of one site in a read-model snapshot (site_id is every table's first column)."""
    return {table: [r for r in rows if r[0] == site_id] for table, rows in read_model.items()}


def store_as_previous_version(url: str, rows: Sequence[Row]) -> None:
    """Insert rows as the ingest code of the previous version did: under the sites' locks,
    one key per row in stats_pending."""
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute(
            "SELECT 1 FROM sites WHERE site_id = ANY(%s) ORDER BY site_id FOR UPDATE",
            (sorted({row.site_id for row in rows}),),
        )
        copy_rows(
            conn,
            [r for r in rows if not isinstance(r, InitialEventRow)],
            [r for r in rows if isinstance(r, InitialEventRow)],
            rebuild=False,
        )
        with conn.cursor().copy(
            "COPY stats_pending (site_id, dt, event_uid, is_initial) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(
                    (row.site_id, row.dt, row.event_uid, isinstance(row, InitialEventRow))
                )


def reference_of(batches: Sequence[Sequence[EventRow]]) -> InMemoryStatsReader:
    """The in-memory reference fed with every distinct row once."""
    seen: dict[tuple[str, Any], EventRow] = {}
    for batch in batches:
        for row in batch:
            seen.setdefault((row.event_uid, row.dt), row)
    reference = InMemoryStatsReader()
    rows = list(seen.values())
    reference.add(
        [r for r in rows if not isinstance(r, InitialEventRow)],
        [r for r in rows if isinstance(r, InitialEventRow)],
    )
    return reference


@pytest.fixture(scope="module")
def connection(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as conn:
        yield conn


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=batches(), folds=st.lists(st.sampled_from(["none", "all", "0", "1"]), max_size=6))
def test_store_then_fold_equals_rebuild(
    db: Pool,
    database_url: str,
    connection: psycopg.Connection[Any],
    batches: list[list[EventRow]],
    folds: list[str],
) -> None:
    """Batches through the real event store, with folds of every site, of one site or none
    after each batch: queries (after the fold of their sites that `query_stats` does first)
    answer as the reference does, and after a last fold the read model equals a rebuild with
    nothing left pending."""
    clear(connection)
    connection.execute("DELETE FROM stats_pending")
    connection.execute("DELETE FROM stats_pending_ranges")
    connection.commit()
    add_sites(database_url)
    store = PostgresEventStore(db)
    for n, batch in enumerate(batches):
        store.store(batch, [])
        choice = folds[n] if n < len(folds) else "none"
        if choice == "all":
            fold(db)
        elif choice != "none":
            fold(db, [SITES[int(choice)]])
    reference = reference_of(batches)
    reader = PostgresStatsReader(db)
    for query in QUERIES:
        PostgresReadModel(db).fold_pending(query.site_ids)
        assert reader.read(query) == reference.read(query)
    fold(db)
    assert pending_count(db) == 0
    assert snapshot(database_url, connection) == rebuilt(database_url, connection)


def test_folds_racing_ingest_stay_exact(db: Pool, database_url: str) -> None:
    """Four threads store batches of one site (sessions shared between them) while two others
    fold again and again: nothing is folded twice or missed."""
    add_sites(database_url)
    errors: list[BaseException] = []
    storing_done = threading.Event()
    folded: list[int] = []

    def ingest(thread: int) -> None:
        try:
            store = PostgresEventStore(db)
            for batch in site_batches(thread):
                assert set(store.store(batch, [])) == {Outcome.ACCEPTED}
        except BaseException as exc:  # noqa: BLE001  # reported below
            errors.append(exc)

    def keep_folding(site_ids: Sequence[str] | None) -> None:
        try:
            with psycopg.connect(database_url) as conn:
                while not storing_done.is_set():
                    with conn.transaction():
                        folded.append(fold_pending(conn, site_ids))
        except BaseException as exc:  # noqa: BLE001  # reported below
            errors.append(exc)

    ingesting = [threading.Thread(target=ingest, args=(n,)) for n in range(4)]
    folding = [
        threading.Thread(target=keep_folding, args=(None,)),
        threading.Thread(target=keep_folding, args=(SITES[:1],)),
    ]
    for thread in folding + ingesting:
        thread.start()
    for thread in ingesting:
        thread.join(timeout=60)
    storing_done.set()
    for thread in folding:
        thread.join(timeout=60)
    assert not errors
    remaining = fold(db)
    assert sum(folded) + remaining == 60
    assert snapshot(database_url) == rebuilt(database_url)


def test_a_query_folds_its_sites_only(db: Pool, database_url: str) -> None:
    """Rows stored but not folded yet are counted by a query (`query_stats` on the hot store),
    which folds the queried site's pending rows and leaves the other site's for the schedule;
    the stats reader alone only reads."""
    add_sites(database_url)
    moment = datetime(2026, 10, 1, 12, tzinfo=UTC)
    rows = [
        EventRow(f"01JDQ7ZK3M{n:016d}", SITES[n % 2], f"s{n}", moment, moment.date(), "pageview",
                 "/", None)
        for n in range(6)
    ]  # fmt: skip
    PostgresEventStore(db).store(rows, [])
    assert pending_count(db) == 6
    query = StatsQuery(SITES[:1], DAY0, DAY0, interval=Interval.DAY)
    assert PostgresStatsReader(db).read(query).totals.events == 0
    assert pending_count(db) == 6
    report = query_stats(
        query,
        "o",
        sites=PostgresSiteRepository(db),
        hot=PostgresStatsReader(db),
        cold=InMemoryStatsReader("cold"),
        clock=lambda: moment,
        hot_window_days=30,
        coverage=InMemoryHotCoverage(),
        read_model=PostgresReadModel(db),
    )
    assert (report.source, report.totals.events) == ("postgres", 3)
    expected = reference_of([rows[0::2]]).read(query)
    assert (report.totals, report.timeseries) == (expected.totals, expected.timeseries)
    assert pending_sites(database_url) == [SITES[1]]


def pageviews_of_both_sites(count: int) -> list[EventRow]:
    """`count` pageviews of one session, alternately of the two sites, on 2026-10-01."""
    moment = datetime(2026, 10, 1, 12, tzinfo=UTC)
    return [
        EventRow(f"01JDQ7ZK3M{n:016d}", SITES[n % 2], "s", moment, moment.date(), "pageview",
                 "/", None)
        for n in range(count)
    ]  # fmt: skip


def test_rebuild_takes_pending_rows_in(db: Pool, database_url: str) -> None:
    """A rebuild counts the raw rows, pending ones included, and drops them from the pending
    table: a later fold adds nothing twice."""
    add_sites(database_url)
    rows = pageviews_of_both_sites(4)
    PostgresEventStore(db).store(rows, [])
    with transaction(db) as conn:
        rebuild_read_model(conn, SITES[:1])
    assert pending_sites(database_url) == [SITES[1]]
    before = snapshot(database_url)
    assert fold(db, SITES[:1]) == 0
    assert snapshot(database_url) == before
    with transaction(db) as conn:
        rebuild_read_model(conn)
    assert pending_count(db) == 0
    assert fold(db) == 0
    assert snapshot(database_url) == rebuilt(database_url)


def test_ingest_code_from_before_the_fold_records_pending_rows(db: Pool, database_url: str) -> None:
    """The ingest transaction of the previous version (its rows in the temporary tables, then
    `SELECT stats_apply_ingest()`), still running during a deploy, records its rows as pending
    instead of folding them past the pending rows of the new version."""
    add_sites(database_url)
    moment = datetime(2026, 10, 1, 12, tzinfo=UTC)
    new_version = EventRow(
        "01JDQ7ZK3M0000000000000001", SITES[0], "s", moment, moment.date(), "pageview", "/", None
    )
    PostgresEventStore(db).store([new_version], [])
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TEMP TABLE ingest_new_events (LIKE events) ON COMMIT DROP")
        conn.execute(
            "INSERT INTO events (event_uid, site_id, session_id, timestamp, dt, event, pathname) "
            "VALUES ('01JDQ7ZK3M0000000000000002', %s, 's', %s, %s, 'pageview', '/x') "
            "RETURNING *",
            (SITES[0], moment, moment.date()),
        )
        conn.execute(
            "INSERT INTO ingest_new_events SELECT * FROM events "
            "WHERE event_uid = '01JDQ7ZK3M0000000000000002'"
        )
        conn.execute("SELECT stats_apply_ingest()")
        conn.commit()
    assert all(not rows for rows in snapshot(database_url).values())
    assert pending_count(db) == 2
    assert fold(db) == 2
    assert snapshot(database_url) == rebuilt(database_url)


def test_a_range_takes_no_row_of_another_site(db: Pool, database_url: str) -> None:
    """A batch of another site committed while a batch holds its site's locks draws ids
    inside that batch's ranges: a fold of the first site takes its own rows only (the other
    site's stay pending and out of the read model), and once both are folded the read model
    equals a rebuild, with nothing folded twice."""
    add_sites(database_url)
    moment = datetime(2026, 10, 1, 12, tzinfo=UTC)
    day = moment.date()

    def row(n: int, site_id: str, *, initial: bool = False) -> Row:
        kind = InitialEventRow if initial else EventRow
        at = moment + timedelta(minutes=n)
        return kind(f"01JDQ7ZK3M{n:016d}", site_id, "s", at, day, "pageview", f"/{n}", None)

    mine = [row(1, SITES[0]), row(2, SITES[0]), row(3, SITES[0], initial=True)]
    other = [row(10, SITES[1]), row(11, SITES[1], initial=True)]

    def mine_with_the_other_batch_meanwhile() -> Iterator[Row]:
        yield from mine[:2]  # in the plain events' COPY of the transaction holding SITES[0]
        assert PostgresEventStore(db).store(other, []) == [Outcome.ACCEPTED] * 2  # committed
        yield mine[2]

    outcomes = PostgresEventStore(db).store(
        mine_with_the_other_batch_meanwhile(), [], expected={SITES[0]: 3}
    )
    assert outcomes == [Outcome.ACCEPTED] * 3
    ranges = fetch_all(
        database_url, "SELECT site_id, is_initial, after_id, last_id FROM stats_pending_ranges"
    )
    for is_initial, table in ((False, "events"), (True, "initial_events")):
        ((other_id,),) = fetch_all(
            database_url, f"SELECT event_id FROM {table} WHERE site_id = %s", (SITES[1],)
        )
        ((after_id, last_id),) = [
            (a, b) for s, i, a, b in ranges if (s, i) == (SITES[0], is_initial)
        ]
        assert after_id < other_id < last_id  # the other site's row is inside the range
    assert fold(db, SITES[:1]) == 3
    assert pending_sites(database_url) == [SITES[1]]
    assert pending_count(db) == 2
    folded_mine = snapshot(database_url)
    assert any(of_site(folded_mine, SITES[0]).values())
    assert not any(of_site(folded_mine, SITES[1]).values())
    assert fold(db) == 2
    assert snapshot(database_url) == rebuilt(database_url)
    assert of_site(folded_mine, SITES[0]) == of_site(rebuilt(database_url), SITES[0])


def test_keys_of_the_previous_version_fold_with_the_ranges(db: Pool, database_url: str) -> None:
    """Rows recorded by the previous version (one key per row in stats_pending) and rows of
    the same sessions recorded as ranges are counted as pending and folded together, by site
    and then all at once, each once."""
    add_sites(database_url)
    moment = datetime(2026, 10, 1, 23, 30, tzinfo=UTC)

    def row(n: int, site_id: str, *, initial: bool = False) -> Row:
        kind = InitialEventRow if initial else EventRow
        at = moment + timedelta(minutes=20 * n)  # across midnight
        return kind(
            f"01JDQ7ZK3M{n:016d}", site_id, "s", at, at.date(), "pageview", f"/{n % 2}", None
        )

    old = [row(1, SITES[0], initial=True), row(2, SITES[0]), row(3, SITES[1])]
    new = [row(4, SITES[0]), row(5, SITES[1], initial=True), row(6, SITES[1])]
    store_as_previous_version(database_url, old)
    PostgresEventStore(db).store(new, [])
    store_as_previous_version(database_url, [row(7, SITES[0])])
    assert pending_count(db) == 7
    assert fold(db, SITES[:1]) == 4
    assert pending_sites(database_url) == [SITES[1]]
    assert fold(db) == 3
    assert pending_count(db) == 0
    assert fetch_all(database_url, "SELECT count(*) FROM stats_pending") == [(0,)]
    assert fetch_all(database_url, "SELECT count(*) FROM stats_pending_ranges") == [(0,)]
    assert snapshot(database_url) == rebuilt(database_url)


def test_rebuild_drops_the_keys_and_ranges_of_its_sites(db: Pool, database_url: str) -> None:
    """A rebuild of some sites deletes their pending keys and ranges and leaves the other
    sites'; a rebuild of every site empties both tables."""
    add_sites(database_url)
    rows = pageviews_of_both_sites(8)
    store_as_previous_version(database_url, rows[:4])
    PostgresEventStore(db).store(rows[4:], [])

    def pending_of_each_table() -> list[list[tuple[Any, ...]]]:
        return [
            fetch_all(database_url, f"SELECT DISTINCT site_id FROM {table} ORDER BY 1")
            for table in ("stats_pending", "stats_pending_ranges")
        ]

    assert pending_of_each_table() == [sorted((s,) for s in SITES)] * 2
    with transaction(db) as conn:
        rebuild_read_model(conn, SITES[1:])
    assert pending_of_each_table() == [[(SITES[0],)]] * 2
    assert fold(db, SITES[1:]) == 0
    assert fold(db, SITES[:1]) == 4
    assert snapshot(database_url) == rebuilt(database_url)
    store_as_previous_version(
        database_url, [rows[0]._replace(event_uid="01JDQ7ZK3M0000000000000100")]
    )
    PostgresEventStore(db).store([rows[1]._replace(event_uid="01JDQ7ZK3M0000000000000101")], [])
    with transaction(db) as conn:
        rebuild_read_model(conn)
    assert pending_of_each_table() == [[], []]
    assert fold(db) == 0
    assert snapshot(database_url) == rebuilt(database_url)
