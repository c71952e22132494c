"""One contract, two event stores: PostgreSQL and the in-memory fake behave alike.

Plus what only PostgreSQL has: the round trip of every column, the pending ranges (for the
read model's fold) covering exactly the inserted rows, and all-or-nothing transactions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import psycopg
import pytest
from tests.support.db import fetch_all
from tests.support.ingest import OTHER_SITE, SITE, uid

from adapters import memory
from adapters.postgres.events import (
    EVENT_COPY_TYPES,
    INITIAL_EVENT_COPY_TYPES,
    PostgresEventStore,
)
from adapters.postgres.pool import Pool
from analytics_core.errors import StoreUnavailableError
from analytics_core.outcomes import Outcome, OutcomeTally
from analytics_core.ports import EventStore
from analytics_core.rows import EVENT_COLUMNS, INITIAL_EVENT_COLUMNS, EventRow, InitialEventRow
from analytics_core.sites import ComplianceLevel, Site

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DAY = NOW.date()
GONE_SITE = "01JDQ7ZK3M00000000000000S9"


class Backend(Protocol):
    store: EventStore

    def add_site(self, site_id: str, allowance: int) -> None: ...
    def allowance(self, site_id: str) -> int: ...
    def stored(self) -> list[str]: ...
    def outcomes(self) -> dict[tuple[str, date, str], int]: ...


class MemoryBackend:
    def __init__(self) -> None:
        self.sites = memory.InMemorySiteRepository()
        self.store = memory.InMemoryEventStore(self.sites)

    def add_site(self, site_id: str, allowance: int) -> None:
        self.sites.put(
            Site(
                site_id,
                "o",
                "n",
                ("example.com",),
                "free_tier",
                allowance,
                ComplianceLevel.MAYBE,
                NOW,
                NOW,
            )
        )

    def allowance(self, site_id: str) -> int:
        site = self.sites.get_for_owner("o", site_id)
        assert site is not None
        return site.request_allowance

    def stored(self) -> list[str]:
        return sorted(row.event_uid for row in self.store.all_rows())

    def outcomes(self) -> dict[tuple[str, date, str], int]:
        return {(s, d, o.value): n for (s, d, o), n in self.store.outcomes.items() if n}


class PostgresBackend:
    def __init__(self, pool: Pool, url: str) -> None:
        self.pool = pool
        self.url = url
        self.store = PostgresEventStore(pool)

    def add_site(self, site_id: str, allowance: int) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO sites (site_id, owner_sub, name, domains, request_allowance) "
                "VALUES (%s, 'o', 'n', ARRAY['example.com'], %s)",
                (site_id, allowance),
            )

    def allowance(self, site_id: str) -> int:
        ((value,),) = fetch_all(
            self.url, "SELECT request_allowance FROM sites WHERE site_id = %s", (site_id,)
        )
        return int(value)

    def stored(self) -> list[str]:
        rows = fetch_all(
            self.url,
            "SELECT event_uid FROM events UNION ALL SELECT event_uid FROM initial_events",
        )
        return sorted(uid for (uid,) in rows)

    def outcomes(self) -> dict[tuple[str, date, str], int]:
        rows = fetch_all(self.url, "SELECT site_id, dt, outcome, count FROM ingest_outcomes")
        return {(s, d, o): int(n) for s, d, o, n in rows}


@pytest.fixture(params=["memory", "postgres"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        return MemoryBackend()
    return PostgresBackend(request.getfixturevalue("db"), request.getfixturevalue("database_url"))


def event(number: int, site_id: str = SITE, *, day_offset: int = 0, **fields: Any) -> EventRow:
    moment = NOW + timedelta(days=day_offset, seconds=number)
    values: dict[str, Any] = {
        "event_uid": uid(number),
        "site_id": site_id,
        "session_id": f"s{number}",
        "timestamp": moment,
        "dt": moment.date(),
        "event": "pageview",
        "pathname": f"/p/{number}",
        "properties": None,
        **fields,
    }
    return EventRow(**values)


def initial(number: int, site_id: str = SITE, **fields: Any) -> InitialEventRow:
    base = event(number, site_id)
    return InitialEventRow(
        event_uid=base.event_uid,
        site_id=base.site_id,
        session_id=base.session_id,
        timestamp=base.timestamp,
        dt=base.dt,
        event=base.event,
        pathname=base.pathname,
        properties=base.properties,
        **fields,
    )


def test_new_rows_are_stored_charged_and_counted(backend: Backend) -> None:
    """New rows are accepted and charged; rejected tallies of known sites are counted too."""
    backend.add_site(SITE, 100)
    outcomes = backend.store.store(
        [event(1), initial(2), event(3, day_offset=1)],
        [
            OutcomeTally(SITE, DAY, Outcome.BOT, 4),
            OutcomeTally(OTHER_SITE, DAY, Outcome.MALFORMED, 1),  # no such site: not recorded
        ],
    )
    assert outcomes == [Outcome.ACCEPTED] * 3
    assert backend.stored() == [uid(1), uid(2), uid(3)]
    assert backend.allowance(SITE) == 97
    assert backend.outcomes() == {
        (SITE, DAY, "accepted"): 2,
        (SITE, DAY + timedelta(days=1), "accepted"): 1,
        (SITE, DAY, "bot"): 4,
    }


def test_redelivered_and_overlapping_rows_are_duplicates_and_free(backend: Backend) -> None:
    """Rows already stored are skipped, cost nothing and are counted as duplicates."""
    backend.add_site(SITE, 100)
    backend.store.store([event(1), initial(2)], [])
    assert backend.store.store([event(1), initial(2)], []) == [Outcome.DUPLICATE] * 2
    assert backend.store.store([initial(2), event(3), event(1)], []) == [
        Outcome.DUPLICATE,
        Outcome.ACCEPTED,
        Outcome.DUPLICATE,
    ]
    assert backend.stored() == [uid(1), uid(2), uid(3)]
    assert backend.allowance(SITE) == 97
    assert backend.outcomes()[SITE, DAY, "duplicate"] == 4


def test_the_same_uid_twice_in_one_call_is_stored_once(backend: Backend) -> None:
    """A repeated row in one call is a duplicate of the first."""
    backend.add_site(SITE, 100)
    assert backend.store.store([event(1), event(1)], []) == [Outcome.ACCEPTED, Outcome.DUPLICATE]
    assert backend.stored() == [uid(1)]


def test_allowance_admits_new_rows_in_order_and_stops_at_zero(backend: Backend) -> None:
    """With fewer allowance than rows, stored rows are free and new ones fill it in order."""
    backend.add_site(SITE, 3)
    backend.add_site(OTHER_SITE, 1)
    backend.store.store([event(1)], [])
    outcomes = backend.store.store(
        [event(1), event(2), event(10, OTHER_SITE), initial(3), event(4), event(11, OTHER_SITE)],
        [],
    )
    assert outcomes == [
        Outcome.DUPLICATE,
        Outcome.ACCEPTED,
        Outcome.ACCEPTED,
        Outcome.ACCEPTED,
        Outcome.OVER_ALLOWANCE,
        Outcome.OVER_ALLOWANCE,
    ]
    assert (backend.allowance(SITE), backend.allowance(OTHER_SITE)) == (0, 0)
    assert backend.store.store([event(5)], []) == [Outcome.OVER_ALLOWANCE]
    assert backend.stored() == [uid(1), uid(2), uid(3), uid(10)]
    assert backend.outcomes()[SITE, DAY, "over_allowance"] == 2


def test_rows_of_a_vanished_site_are_unknown(backend: Backend) -> None:
    """A site deleted after its config was read gets unknown_site and no counters."""
    backend.add_site(SITE, 10)
    assert backend.store.store([event(1, GONE_SITE), event(2)], []) == [
        Outcome.UNKNOWN_SITE,
        Outcome.ACCEPTED,
    ]
    assert backend.stored() == [uid(2)]
    assert all(site == SITE for site, _, _ in backend.outcomes())


def assert_stored_as_given(database_url: str, row: InitialEventRow, plain: EventRow) -> None:
    """The one initial event and the one event stored hold exactly the rows' values."""
    names = ", ".join(f'"{name}"' for name in INITIAL_EVENT_COLUMNS)
    (stored,) = fetch_all(database_url, f"SELECT {names} FROM initial_events")
    assert dict(zip(INITIAL_EVENT_COLUMNS, stored, strict=True)) == row._asdict()
    names = ", ".join(f'"{name}"' for name in EVENT_COLUMNS)
    (stored,) = fetch_all(database_url, f"SELECT {names} FROM events")
    assert dict(zip(EVENT_COLUMNS, stored, strict=True)) == plain._asdict()


def test_every_column_round_trips(db: Pool, database_url: str) -> None:
    """What PostgreSQL stores equals the row values (JSON properties, times, session columns)."""
    PostgresBackend(db, database_url).add_site(SITE, 10)
    row = initial(
        1,
        referer="https://news.example/a",
        referer_domain="news.example",
        utm_source="hn",
        utm_medium="social",
        utm_campaign="launch",
        utm_content="c",
        utm_term="t",
        device="mobile",
        os="iOS",
        browser="Mobile Safari",
        country="DE",
        region="DE-BY",
        city="München",
        screen_width=390,
        screen_height=844,
    )
    plain = event(2, properties={"plan": "pro", "n": 3, "ok": True, "nothing": None})
    PostgresEventStore(db).store([row, plain], [])
    assert_stored_as_given(database_url, row, plain)


@pytest.mark.parametrize(
    ("table", "columns", "types"),
    [
        ("events", EVENT_COLUMNS, EVENT_COPY_TYPES),
        ("initial_events", INITIAL_EVENT_COLUMNS, INITIAL_EVENT_COPY_TYPES),
    ],
)
def test_binary_copy_types_are_the_columns_types(
    db: Pool, database_url: str, table: str, columns: tuple[str, ...], types: tuple[str, ...]
) -> None:
    """The types the store's binary COPY sends are those of the migrated columns (a type
    changed by a migration fails here, not in production)."""
    declared = dict(
        fetch_all(
            database_url,
            "SELECT attname, atttypid::regtype::text FROM pg_attribute "
            f"WHERE attrelid = '{table}'::regclass AND attnum > 0 AND NOT attisdropped",
        )
    )
    sent = [fetch_all(database_url, f"SELECT '{name}'::regtype::text")[0][0] for name in types]
    assert [declared[column] for column in columns] == sent


def test_text_that_is_hostile_to_copy_round_trips(db: Pool, database_url: str) -> None:
    """Tabs, newlines, backslashes, quotes and non-ASCII text, in every kind of column, are
    stored as given."""
    PostgresBackend(db, database_url).add_site(SITE, 10)
    nasty = "a\tb\nc\\d\r\"e'f \\N ü😀"
    row = initial(1, referer=nasty, referer_domain=nasty, utm_source=nasty, city=nasty)
    plain = event(2, properties={nasty: nasty, "n": -(2**53)})
    plain = plain._replace(session_id=nasty, event=nasty, pathname=nasty)
    PostgresEventStore(db).store([row, plain], [])
    assert_stored_as_given(database_url, row, plain)


def pending(database_url: str) -> list[tuple[str, bool]]:
    """The rows waiting for the read model's fold, (event uid, initial?): the rows of each
    pending range's site and table whose id is in the range, whatever their day. Each range's
    row count and days must be those of the rows it covers."""
    assert fetch_all(database_url, "SELECT count(*) FROM stats_pending") == [(0,)]
    stored = fetch_all(
        database_url,
        "SELECT event_id, site_id, dt, event_uid, false FROM events "
        "UNION ALL SELECT event_id, site_id, dt, event_uid, true FROM initial_events",
    )
    found: list[tuple[str, bool]] = []
    for site_id, is_initial, after_id, last_id, first_dt, last_dt, row_count in fetch_all(
        database_url,
        "SELECT site_id, is_initial, after_id, last_id, first_dt, last_dt, row_count "
        "FROM stats_pending_ranges",
    ):
        covered = [
            (dt, uid_)
            for event_id, site, dt, uid_, initial in stored
            if (site, initial) == (site_id, is_initial) and after_id < event_id <= last_id
        ]
        assert len(covered) == row_count
        assert (min(covered)[0], max(covered)[0]) == (first_dt, last_dt)
        found.extend((uid_, is_initial) for _, uid_ in covered)
    return sorted(found)


def ranges(database_url: str) -> list[tuple[str, bool, date, date, int]]:
    """The pending ranges: (site, initial?, first day, last day, rows)."""
    return sorted(
        fetch_all(
            database_url,
            "SELECT site_id, is_initial, first_dt, last_dt, row_count FROM stats_pending_ranges",
        )
    )


def test_pending_rows_are_exactly_the_inserted_rows(db: Pool, database_url: str) -> None:
    """Each transaction records for the read model's fold the rows it inserted: no
    duplicates, no rows past the allowance, on the fast path (COPY straight into the event
    tables), after a duplicate forced the slow one, and on the short-site path."""
    backend = PostgresBackend(db, database_url)
    backend.add_site(SITE, 5)
    store = PostgresEventStore(db)
    store.store([event(1), initial(2)], [])
    assert pending(database_url) == [(uid(1), False), (uid(2), True)]
    outcomes = store.store([event(1), event(3), initial(4), initial(2)], [])  # slow path
    assert outcomes == [Outcome.DUPLICATE, Outcome.ACCEPTED, Outcome.ACCEPTED, Outcome.DUPLICATE]
    assert pending(database_url) == [(uid(n), n % 2 == 0) for n in (1, 2, 3, 4)]
    store.store([event(5), event(6), event(7)], [])  # allowance 1 left: short-site path
    store.store([], [OutcomeTally(SITE, DAY, Outcome.BOT, 2)])  # nothing to insert at all
    store.store([event(5), initial(4)], [])  # nothing new: no range
    assert pending(database_url) == [(uid(n), n % 2 == 0) for n in (1, 2, 3, 4, 5)]
    assert sorted(backend.stored()) == sorted(uid(n) for n in (1, 2, 3, 4, 5))
    assert ranges(database_url) == [
        (SITE, False, DAY, DAY, 1),
        (SITE, False, DAY, DAY, 1),
        (SITE, False, DAY, DAY, 1),
        (SITE, True, DAY, DAY, 1),
        (SITE, True, DAY, DAY, 1),
    ]


def test_one_range_per_site_and_table_with_its_days(db: Pool, database_url: str) -> None:
    """A batch of two sites, both tables and several days records one range per site and
    table that got rows, with the first and last day and the number of its rows; the rows of
    a gone site and the rows past the allowance are in none."""
    backend = PostgresBackend(db, database_url)
    backend.add_site(SITE, 100)
    backend.add_site(OTHER_SITE, 2)
    rows = [
        event(1, day_offset=2),
        event(2, OTHER_SITE, day_offset=1),
        event(3, day_offset=-1),
        event(4, GONE_SITE),
        event(5, OTHER_SITE, day_offset=3),
        event(6, OTHER_SITE),  # past OTHER_SITE's allowance
        initial(7),
        initial(8),
    ]
    outcomes = PostgresEventStore(db).store(rows, [])
    assert outcomes.count(Outcome.ACCEPTED) == 6
    assert ranges(database_url) == [
        (SITE, False, DAY - timedelta(days=1), DAY + timedelta(days=2), 2),
        (SITE, True, DAY, DAY, 2),
        (OTHER_SITE, False, DAY + timedelta(days=1), DAY + timedelta(days=3), 2),
    ]
    assert pending(database_url) == sorted(
        [(uid(n), False) for n in (1, 2, 3, 5)] + [(uid(n), True) for n in (7, 8)]
    )


def test_fast_path_duplicate_rolls_back_to_the_slow_path(db: Pool, database_url: str) -> None:
    """A batch that fits the allowance but repeats a stored event: the straight COPY fails on
    the unique key, and the batch is stored by the slow path with nothing twice."""
    backend = PostgresBackend(db, database_url)
    backend.add_site(SITE, 100)
    store = PostgresEventStore(db)
    store.store([initial(2)], [])
    outcomes = store.store([event(1), initial(2), event(3)], [])
    assert outcomes == [Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.ACCEPTED]
    assert sorted(backend.stored()) == sorted([uid(1), uid(2), uid(3)])
    assert backend.allowance(SITE) == 97
    assert pending(database_url) == [(uid(1), False), (uid(2), True), (uid(3), False)]
    assert ranges(database_url) == [(SITE, False, DAY, DAY, 2), (SITE, True, DAY, DAY, 1)]


def test_a_batch_waiting_for_its_sites_lock_draws_its_ids_after_it(
    db: Pool, database_url: str
) -> None:
    """A batch that waits for the lock of a site whose batch is under way records a range
    that starts after every row of that batch, including the rows inserted while it waited:
    the two ranges of the site hold each row once."""
    PostgresBackend(db, database_url).add_site(SITE, 100)
    errors: list[BaseException] = []

    def store_the_second_batch() -> None:
        try:
            PostgresEventStore(db).store([event(10), initial(11)], [])
        except BaseException as exc:  # noqa: BLE001  # reported below
            errors.append(exc)

    second = threading.Thread(target=store_the_second_batch)

    def first_batch() -> Iterator[EventRow]:
        yield event(1)
        second.start()
        deadline = time.monotonic() + 10
        while fetch_all(
            database_url,
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'",
        ) != [(1,)]:
            assert time.monotonic() < deadline, "the second batch never waited for the lock"
            time.sleep(0.01)
        yield event(2)
        yield initial(3)

    outcomes = PostgresEventStore(db).store(first_batch(), [], expected={SITE: 3})
    second.join(timeout=30)
    assert not errors
    assert outcomes == [Outcome.ACCEPTED] * 3
    assert pending(database_url) == sorted(
        [(uid(n), False) for n in (1, 2, 10)] + [(uid(n), True) for n in (3, 11)]
    )
    assert len(ranges(database_url)) == 4


def test_a_failing_transaction_commits_nothing(db: Pool, database_url: str) -> None:
    """When the database gives up mid-batch (here: a lock wait past the statement timeout),
    no row, charge or counter of the batch is committed."""
    backend = PostgresBackend(db, database_url)
    backend.add_site(SITE, 10)
    with psycopg.connect(database_url) as blocker:
        blocker.execute("SELECT 1 FROM sites WHERE site_id = %s FOR UPDATE", (SITE,))
        impatient = PostgresEventStore(db, statement_timeout_ms=200)
        with pytest.raises(StoreUnavailableError):
            impatient.store([event(1), initial(2)], [OutcomeTally(SITE, DAY, Outcome.BOT, 1)])
        blocker.rollback()
    assert backend.stored() == []
    assert backend.allowance(SITE) == 10
    assert backend.outcomes() == {}
    assert PostgresEventStore(db).store([event(1), initial(2)], []) == [Outcome.ACCEPTED] * 2


def test_many_rows_of_many_days(backend: Backend) -> None:
    """A large call over several days (default partition included) stores every row once."""
    backend.add_site(SITE, 100_000)
    rows: Sequence[EventRow] = [
        initial(n) if n % 3 == 0 else event(n, day_offset=n % 4) for n in range(1, 2001)
    ]
    assert backend.store.store(rows, []).count(Outcome.ACCEPTED) == 2000
    assert backend.store.store(rows[:1000], []).count(Outcome.DUPLICATE) == 1000
    assert len(backend.stored()) == 2000
    assert backend.allowance(SITE) == 98_000


def test_a_duplicate_found_mid_stream_falls_back_to_the_slow_path(
    db: Pool, database_url: str
) -> None:
    """Rows streamed into COPY while they are produced: a stored event among the first of a
    large batch fails the COPY while rows are still coming; the rest is consumed and the
    batch stored by the slow path, each event once, and its range covers the rows the slow
    path inserted (drawn after those of the rolled-back COPY)."""
    backend = PostgresBackend(db, database_url)
    backend.add_site(SITE, 100_000)
    store = PostgresEventStore(db)
    store.store([event(3)], [])
    produced: list[int] = []

    def rows() -> Iterator[EventRow]:
        for number in range(1, 20_001):
            produced.append(number)
            yield event(number)

    rejected = [OutcomeTally(SITE, DAY, Outcome.BOT, 1)]
    outcomes = store.store(rows(), iter(rejected), expected={SITE: 20_001})
    assert len(produced) == 20_000
    assert outcomes.count(Outcome.ACCEPTED) == 19_999
    assert outcomes[2] is Outcome.DUPLICATE
    assert len(backend.stored()) == 20_000
    assert backend.allowance(SITE) == 100_000 - 20_000
    assert backend.outcomes()[SITE, DAY, "bot"] == 1
    assert pending(database_url) == sorted((uid(n), False) for n in range(1, 20_001))
    assert ranges(database_url) == [(SITE, False, DAY, DAY, 1), (SITE, False, DAY, DAY, 19_999)]


def test_rows_of_both_tables_in_any_order_are_all_stored(db: Pool, database_url: str) -> None:
    """The fast path writes a run of rows of one table per COPY, and the rows of a table
    whose run has ended afterwards: alternating kinds are stored all the same."""
    backend = PostgresBackend(db, database_url)
    backend.add_site(SITE, 1_000)
    rows = [initial(n) if n % 3 == 0 else event(n) for n in range(1, 41)]
    outcomes = PostgresEventStore(db).store(iter(rows), iter([]), expected={SITE: 40})
    assert outcomes == [Outcome.ACCEPTED] * 40
    assert backend.stored() == sorted(uid(n) for n in range(1, 41))
    assert pending(database_url) == sorted((uid(n), n % 3 == 0) for n in range(1, 41))
    assert backend.allowance(SITE) == 960
