"""The `RealtimeReader` contract, run against PostgreSQL (`PostgresRealtimeReader`, over rows
the event store just stored: not folded into the read model) and the in-memory fake
(`InMemoryRealtimeReader`): distinct sessions with an event in the window (both ends
included, initial events too, only the site's), and the top pages by distinct sessions
(visitors descending, then pathname by code point; at most `limit`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from adapters.memory_realtime import InMemoryRealtimeReader
from adapters.memory_stats import InMemoryStatsReader
from adapters.postgres.events import PostgresEventStore
from adapters.postgres.partitions import PostgresEventPartitions
from adapters.postgres.pool import Pool, transaction
from adapters.postgres.read_model import PostgresReadModel
from adapters.postgres.realtime import PostgresRealtimeReader
from analytics_core.ports import RealtimeReader
from analytics_core.rows import EventRow, InitialEventRow, Row
from analytics_core.stats import REALTIME_PAGES, REALTIME_WINDOW, Realtime

SITE = "01JDQ7ZK3M000000000000RT01"
OTHER = "01JDQ7ZK3M000000000000RT02"
NOW = datetime(2026, 11, 25, 0, 2, tzinfo=UTC)  # the window starts on the day before (UTC)
SINCE = NOW - REALTIME_WINDOW
_uids = iter(range(1, 10_000))


def event(session: str, moment: datetime, path: str, *, site: str = SITE) -> EventRow:
    uid = f"01JDQ7ZK3M00000000000{next(_uids):05d}"
    return EventRow(uid, site, session, moment, moment.date(), "pageview", path, None)


def initial(session: str, moment: datetime, path: str, *, site: str = SITE) -> InitialEventRow:
    uid = f"01JDQ7ZK3M00000000000{next(_uids):05d}"
    return InitialEventRow(uid, site, session, moment, moment.date(), "pageview", path, None)


def minutes(value: float) -> datetime:
    return NOW + timedelta(minutes=value)


ROWS: tuple[Row, ...] = (
    initial("s1", minutes(-2), "/"),
    event("s1", minutes(-1), "/pricing"),
    event("s1", minutes(-0.5), "/pricing"),  # the same session twice: one visitor
    initial("s3", minutes(-4), "/"),  # 23:58 on the day before
    event("s3", minutes(-3), "/Zoo"),
    initial("s4", minutes(-10), "/landing"),  # its initial event is before the window
    event("s4", SINCE, "/edge"),  # exactly at the window's start: in
    event("s4", minutes(-1), "/pricing"),
    event("s8", NOW, "/now"),  # exactly now: in
    initial("s7", minutes(-1), "/"),
    *(event("s7", minutes(-1), f"/p{i:02d}") for i in range(11)),
    initial("s2", SINCE - timedelta(seconds=1), "/old"),  # a second too early
    event("s5", NOW + timedelta(seconds=1), "/future"),  # after now
    event("s6", minutes(-1), "/", site=OTHER),  # another site
)
EXPECTED = Realtime(
    site_id=SITE,
    visitors=5,  # s1, s3, s4, s7, s8
    pages=(
        ("/", 3),
        ("/pricing", 2),
        ("/Zoo", 1),  # "Z" (U+005A) before "e": code points, not a locale's order
        ("/edge", 1),
        ("/now", 1),
        ("/p00", 1),
        ("/p01", 1),
        ("/p02", 1),
        ("/p03", 1),
        ("/p04", 1),
    ),
)


def split(rows: Sequence[Row]) -> tuple[list[EventRow], list[InitialEventRow]]:
    return (
        [r for r in rows if not isinstance(r, InitialEventRow)],
        [r for r in rows if isinstance(r, InitialEventRow)],
    )


def memory_reader(rows: Sequence[Row]) -> RealtimeReader:
    store = InMemoryStatsReader()
    store.add(*split(rows))
    return InMemoryRealtimeReader(store)


def register_sites(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for site in (SITE, OTHER):
            conn.execute(
                "INSERT INTO sites (site_id, owner_sub, name, domains, request_allowance) "
                "VALUES (%s, 'o', 'n', ARRAY['example.com'], 1000000)",
                (site,),
            )


def postgres_reader(pool: Pool, url: str, rows: Sequence[Row]) -> RealtimeReader:
    """The rows stored by the real event store (pending: no fold has taken them in)."""
    register_sites(url)
    PostgresEventStore(pool).store(rows, [])
    assert PostgresReadModel(pool).pending() == len(rows)
    return PostgresRealtimeReader(pool)


@pytest.fixture(params=["memory", "postgres"])
def make_reader(request: pytest.FixtureRequest) -> Callable[[Sequence[Row]], RealtimeReader]:
    if request.param == "memory":
        return memory_reader
    pool, url = request.getfixturevalue("db"), request.getfixturevalue("database_url")
    return lambda rows: postgres_reader(pool, url, rows)


def test_realtime_counts_the_sessions_of_the_window_and_ranks_their_pages(
    make_reader: Callable[[Sequence[Row]], RealtimeReader],
) -> None:
    """Sessions with an event from `since` to `until` count once each; pages rank by
    distinct sessions, then pathname by code point, ten at most."""
    reader = make_reader(ROWS)
    assert reader.realtime(SITE, SINCE, NOW, REALTIME_PAGES) == EXPECTED
    assert reader.realtime(SITE, SINCE, NOW, 1) == Realtime(SITE, 5, (("/", 3),))
    empty = reader.realtime(OTHER, NOW + timedelta(minutes=1), NOW + timedelta(minutes=6), 10)
    assert empty == Realtime(OTHER, 0, ())
    assert reader.realtime(OTHER, SINCE, NOW, 10) == Realtime(OTHER, 1, (("/", 1),))


def test_the_statement_reads_only_the_windows_days(db: Pool) -> None:
    """With a partition per day, the plan scans the partitions of the window's UTC days (the
    day before and the day of `until`) and no other."""
    partitions = PostgresEventPartitions(db)
    for offset in range(-3, 3):
        partitions.create_day(date(2026, 11, 25) + timedelta(days=offset))
    text, params = PostgresRealtimeReader.statement(SITE, SINCE, NOW, REALTIME_PAGES)
    with transaction(db) as conn:
        plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + text, params))
    scanned = {
        name
        for name in ("20261122", "20261123", "20261124", "20261125", "20261126", "20261127")
        if name in plan
    }
    assert scanned == {"20261124", "20261125"}, plan
    assert "_default" not in plan, plan
