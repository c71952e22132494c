"""The hot store's read model (stats_daily, stats_hourly, stats_repeats) on a real PostgreSQL:
maintained by folds of new rows (`fold_rows`, here in the transaction that inserts them;
folds of the pending rows are in test_read_model_fold.py) it equals a rebuild from the raw
rows, whatever the order and batching of the rows; it follows the daily partitions (created,
filled, dropped, expired)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.db import fetch_all
from tests.support.hot_store import ingest_rows

from adapters.memory_stats import InMemoryStatsReader
from adapters.postgres.partitions import PostgresEventPartitions, partition_name
from adapters.postgres.pool import Pool
from adapters.postgres.read_model import READ_MODEL_TABLES, fold_rows
from adapters.postgres.read_model import rebuild as rebuild_read_model
from adapters.postgres.stats import PostgresStatsReader
from analytics_core.rows import EventRow, InitialEventRow
from analytics_core.stats import Dimension, Interval, StatsQuery

SITES = ("01JDQ7ZK3M000000000000RM01", "01JDQ7ZK3M000000000000RM02")
DAY0 = date(2026, 10, 1)


def snapshot(
    url: str, conn: psycopg.Connection[Any] | None = None
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the read model, in a stable order."""
    if conn is None:
        with psycopg.connect(url) as own:
            return snapshot(url, own)
    with conn.transaction():
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4, 5").fetchall()
            for table in READ_MODEL_TABLES
        }


def clear(conn: psycopg.Connection[Any]) -> None:
    """Empty the event tables and the read model (DELETE: a few rows, many partitions)."""
    with conn.transaction():
        for table in ("events", "initial_events", *READ_MODEL_TABLES, "stats_sessions"):
            conn.execute(f"DELETE FROM {table}")


def rebuilt(
    url: str, conn: psycopg.Connection[Any] | None = None
) -> dict[str, list[tuple[Any, ...]]]:
    if conn is None:
        with psycopg.connect(url) as own:
            return rebuilt(url, own)
    with conn.transaction():
        rebuild_read_model(conn)
    return snapshot(url, conn)


@st.composite
def rows(draw: st.DrawFn) -> list[EventRow]:
    """A few sessions' rows over five days: initial events (zero, one or two per session),
    events before and after them, midnight crossings, shared session ids across sites."""
    out: list[EventRow] = []
    count = draw(st.integers(1, 12))
    for n in range(count):
        site = draw(st.sampled_from(SITES))
        session = draw(st.sampled_from(["a", "b", "c"]))
        day = DAY0 + timedelta(days=draw(st.integers(0, 4)))
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
            seconds=draw(st.sampled_from([0, 3600, 86_399, 43_200, 86_000]))
            + draw(st.integers(0, 900))
        )
        name = draw(st.sampled_from(["pageview", "pageview", "click"]))
        path = draw(st.sampled_from(["/", "/x", "/é"]))
        uid = f"01JDQ7ZK3M{n:016d}"
        if draw(st.booleans()):
            out.append(
                InitialEventRow(
                    uid, site, session, moment, moment.date(), name, path, None,
                    country=draw(st.sampled_from(["US", "DE", None])),
                    device=draw(st.sampled_from(["mobile", None])),
                )
            )  # fmt: skip
        else:
            out.append(EventRow(uid, site, session, moment, moment.date(), name, path, None))
    return out


@st.composite
def batches(draw: st.DrawFn) -> list[list[EventRow]]:
    """The rows in any order, in any number of batches, some delivered twice."""
    drawn = draw(rows())
    again = draw(st.lists(st.sampled_from(drawn), max_size=3))
    ordered = draw(st.permutations(drawn + again))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(ordered) - 1)), max_size=4)))
    return [
        ordered[a:b] for a, b in zip([0, *cuts], [*cuts, len(ordered)], strict=True) if ordered[a:b]
    ]


def ingest(conn: psycopg.Connection[Any], batch: list[EventRow]) -> None:
    ingest_rows(
        conn,
        [r for r in batch if not isinstance(r, InitialEventRow)],
        [r for r in batch if isinstance(r, InitialEventRow)],
    )


@pytest.fixture(scope="module")
def connection(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as conn:
        yield conn


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=batches())
def test_maintenance_equals_rebuild(
    db: Pool, database_url: str, connection: psycopg.Connection[Any], batches: list[list[EventRow]]
) -> None:
    """Rows arriving in any order and batching leave the read model exactly as a rebuild from
    the raw rows would, and the read model answers as the reference does."""
    clear(connection)
    for batch in batches:
        ingest(connection, batch)
    maintained = snapshot(database_url, connection)
    assert maintained == rebuilt(database_url, connection)
    reference = InMemoryStatsReader()
    for batch in batches:
        reference.add(
            [r for r in batch if not isinstance(r, InitialEventRow)],
            [r for r in batch if isinstance(r, InitialEventRow)],
        )
    readers = (PostgresStatsReader(db), PostgresStatsReader(db, rollups=False))
    for query in (
        StatsQuery(
            SITES,
            DAY0,
            DAY0 + timedelta(days=4),
            group_by=Dimension.COUNTRY,
            interval=Interval.WEEK,
        ),
        StatsQuery(
            SITES[:1],
            DAY0 + timedelta(days=1),
            DAY0 + timedelta(days=3),
            group_by=Dimension.PATHNAME,
            interval=Interval.HOUR,
        ),
    ):
        expected = reference.read(query)
        assert [reader.read(query) for reader in readers] == [expected, expected]


def test_a_batch_without_new_rows_changes_nothing(db: Pool, database_url: str) -> None:
    """fold_rows with empty (or absent) temporary tables is a no-op, not an error."""
    with psycopg.connect(database_url) as conn:
        with conn.transaction():
            fold_rows(conn)
        assert ingest_rows(conn, (), ()) == 0
    assert all(not rows for rows in snapshot(database_url).values())


def site_batches(thread: int) -> list[list[EventRow]]:
    """One thread's three batches of 5 rows of SITES[0], over midnight, in sessions shared
    with the other threads (thread 3 brings their initial events)."""
    base = datetime(2026, 10, 2, 23, 50, tzinfo=UTC)
    rows: list[EventRow] = []
    for n in range(15):
        session = f"s{n % 6}"
        moment = base + timedelta(minutes=7 * n + thread)
        uid = f"01JDQ7ZK3M{thread:04d}{n:012d}"
        if n < 6 and thread == 3:
            rows.append(
                InitialEventRow(
                    uid, SITES[0], session, moment, moment.date(), "pageview", "/", None,
                    country="US",
                )
            )  # fmt: skip
        else:
            rows.append(
                EventRow(
                    uid, SITES[0], session, moment, moment.date(), "pageview", f"/{n % 3}", None
                )
            )
    return [rows[:5], rows[5:10], rows[10:]]


def test_concurrent_batches_of_one_site_stay_exact(db: Pool, database_url: str) -> None:
    """Ingest transactions of the same site running at once serialise their maintenance: the
    result equals a rebuild."""
    work = [site_batches(thread) for thread in range(4)]
    errors: list[BaseException] = []

    def run(batches: list[list[EventRow]]) -> None:
        try:
            with psycopg.connect(database_url) as conn:
                for batch in batches:
                    ingest(conn, batch)
        except BaseException as exc:  # noqa: BLE001  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(batches,)) for batches in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert snapshot(database_url) == rebuilt(database_url)


def _day_rows(
    day: date, session: str, *, initial_at: int | None, events_at: list[int]
) -> tuple[list[EventRow], list[InitialEventRow]]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    initial = []
    if initial_at is not None:
        moment = start + timedelta(minutes=initial_at)
        initial.append(
            InitialEventRow(
                f"01JDQ7ZK3M{session}{day:%m%d}I0000",
                SITES[0],
                session,
                moment,
                moment.date(),
                "pageview",
                "/",
                None,
                country="US",
            )
        )
    events = []
    for k, minutes in enumerate(events_at):
        moment = start + timedelta(minutes=minutes)
        events.append(
            EventRow(
                f"01JDQ7ZK3M{session}{day:%m%d}E{k:04d}",
                SITES[0],
                session,
                moment,
                moment.date(),
                "pageview",
                "/p",
                None,
            )
        )
    return events, initial


def test_read_model_follows_partitions(db: Pool, database_url: str) -> None:
    """Creating a day's partitions moves its rollups in; dropping a day drops them; expiring
    default-partition rows expires rollups too; ranges whose previous day is kept still answer
    exactly as the raw rows do, also after late rows for a session of a dropped day."""
    partitions = PostgresEventPartitions(db)
    days = [DAY0 + timedelta(days=n) for n in range(6)]
    with psycopg.connect(database_url) as conn:
        for n, day in enumerate(days):
            for s in range(3):
                events, initial = _day_rows(
                    day,
                    f"{n}{s}",
                    initial_at=1380 + s * 10,
                    events_at=[1385 + s * 10, 1445 + s * 10],
                )
                ingest_rows(conn, events, initial)
    for day in days[:4]:
        partitions.create_day(day)
    for table in READ_MODEL_TABLES:
        moved = fetch_all(database_url, f"SELECT count(*) FROM {partition_name(table, days[1])}")
        assert moved[0][0] > 0, table
        left = fetch_all(
            database_url, f"SELECT count(*) FROM {table}_default WHERE dt = %s", (days[1],)
        )
        assert left == [(0,)]
    partitions.drop_day(days[0])
    for table in READ_MODEL_TABLES:
        assert fetch_all(
            database_url, f"SELECT count(*) FROM {table} WHERE dt = %s", (days[0],)
        ) == [(0,)]
    # A late row of a session that started on the dropped day.
    with psycopg.connect(database_url) as conn:
        late, _ = _day_rows(days[1], "00", initial_at=None, events_at=[200])
        ingest_rows(conn, late, ())
    fast = PostgresStatsReader(db)
    session_days = PostgresStatsReader(db, rollups=False)
    raw = PostgresStatsReader(db, rollups=False, session_days=False)
    for start in days[2:]:
        for group_by in (None, Dimension.COUNTRY, Dimension.PATHNAME):
            query = StatsQuery(SITES[:1], start, days[-1], group_by=group_by, interval=Interval.DAY)
            assert fast.read(query) == session_days.read(query) == raw.read(query)
    assert partitions.expire_before(days[5]) > 0
    spans = fetch_all(database_url, "SELECT min(last_dt) FROM stats_sessions")
    assert spans == [
        (days[5],)
    ]  # sessions ending before day 5 are forgotten (they end a day later)
    for table in READ_MODEL_TABLES:
        assert fetch_all(
            database_url, f"SELECT count(*) FROM {table}_default WHERE dt < %s", (days[5],)
        ) == [(0,)]


def test_rebuild_of_some_sites_leaves_the_others(db: Pool, database_url: str) -> None:
    """rebuild_read_model(site_ids) recomputes those sites only."""
    with psycopg.connect(database_url) as conn:
        for n, site in enumerate(SITES):
            moment = datetime(2026, 10, 3, 12, tzinfo=UTC)
            ingest_rows(
                conn,
                (),
                [
                    InitialEventRow(
                        f"01JDQ7ZK3M00000000000000R{n}",
                        site,
                        "x",
                        moment,
                        moment.date(),
                        "pageview",
                        "/",
                        None,
                    )
                ],
            )
        with conn.transaction():
            conn.execute("DELETE FROM stats_daily WHERE site_id = %s", (SITES[1],))
        before = snapshot(database_url)
        with conn.transaction():
            rebuild_read_model(conn, [SITES[0]])
    assert snapshot(database_url) == before
    assert before["stats_daily"]  # site 0's rows are there, rebuilt identical


@pytest.mark.parametrize(
    "isolation", [psycopg.IsolationLevel.REPEATABLE_READ, psycopg.IsolationLevel.SERIALIZABLE]
)
def test_maintenance_refuses_snapshot_isolation(
    db: Pool, database_url: str, isolation: psycopg.IsolationLevel
) -> None:
    """The maintenance needs READ COMMITTED and says so instead of computing from a stale
    snapshot."""
    with psycopg.connect(database_url) as conn:
        conn.isolation_level = isolation
        moment = datetime(2026, 10, 3, 12, tzinfo=UTC)
        with pytest.raises(psycopg.errors.RaiseException, match="READ COMMITTED"):
            ingest_rows(
                conn,
                [
                    EventRow(
                        "01JDQ7ZK3M0000000000000ISO",
                        SITES[0],
                        "i",
                        moment,
                        moment.date(),
                        "pageview",
                        "/",
                        None,
                    )
                ],
                (),
            )
