"""Partition maintenance on a real PostgreSQL, driven by a fake clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
from tests.support.clock import FakeClock
from tests.support.db import fetch_all

from adapters.postgres.partitions import PostgresEventPartitions, partition_name
from adapters.postgres.pool import Pool
from analytics_core.partitions import maintain_partitions

TODAY = date(2026, 11, 25)


def partitions_of(url: str, table: str) -> list[str]:
    rows = fetch_all(
        url,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass ORDER BY 1",
        (table,),
    )
    return [name for (name,) in rows]


def insert_event(url: str, table: str, uid: str, day: date) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            f"INSERT INTO {table} (site_id, session_id, timestamp, dt, event, pathname, event_uid) "
            "VALUES ('site', 'session', %s, %s, 'pageview', '/', %s)",
            (datetime(day.year, day.month, day.day, 12, tzinfo=UTC), day, uid),
        )


def drop_daily_partitions(url: str) -> None:
    with psycopg.connect(url) as conn:
        for table in ("events", "initial_events"):
            for name in partitions_of(url, table):
                if not name.endswith("_default"):
                    conn.execute(f"DROP TABLE {name}")


def test_creates_the_window_and_drops_expired_days(db: Pool, database_url: str) -> None:
    """For a given clock: yesterday..today+3 are created; days before today-32 are dropped."""
    drop_daily_partitions(database_url)
    partitions = PostgresEventPartitions(db)
    old = [TODAY - timedelta(days=40), TODAY - timedelta(days=33), TODAY - timedelta(days=32)]
    for day in old:
        partitions.create_day(day)
    report = maintain_partitions(
        partitions,
        FakeClock(datetime(2026, 11, 25, 0, 5, tzinfo=UTC)),
        days_ahead=3,
        retention_days=32,
    )
    window = [TODAY + timedelta(days=d) for d in range(-1, 4)]
    assert report.created == tuple(window)
    assert report.dropped == (TODAY - timedelta(days=40), TODAY - timedelta(days=33))
    for table in ("events", "initial_events"):
        expected = sorted(
            [partition_name(table, d) for d in [TODAY - timedelta(days=32), *window]]
            + [f"{table}_default"]
        )
        assert partitions_of(database_url, table) == expected
    again = maintain_partitions(
        partitions,
        FakeClock(datetime(2026, 11, 25, 23, 0, tzinfo=UTC)),
        days_ahead=3,
        retention_days=32,
    )
    assert (again.created, again.dropped) == ((), ())


def test_event_outside_created_range_is_stored_then_moved_into_its_partition(
    db: Pool, database_url: str
) -> None:
    """A row for a day without a partition lands in the default partition; creating the day's
    partition later moves it there, and expiry deletes old default rows."""
    drop_daily_partitions(database_url)
    far_future = TODAY + timedelta(days=400)
    long_ago = TODAY - timedelta(days=400)
    for table in ("events", "initial_events"):
        insert_event(database_url, table, f"{table}-future", far_future)
        insert_event(database_url, table, f"{table}-past", long_ago)
        assert fetch_all(database_url, f"SELECT event_uid FROM {table}_default ORDER BY 1") == [
            (f"{table}-future",),
            (f"{table}-past",),
        ]

    partitions = PostgresEventPartitions(db)
    partitions.create_day(far_future)
    for table in ("events", "initial_events"):
        assert fetch_all(
            database_url, f"SELECT event_uid FROM {partition_name(table, far_future)}"
        ) == [(f"{table}-future",)]
        assert fetch_all(
            database_url, f"SELECT count(*) FROM {table} WHERE event_uid = %s", (f"{table}-future",)
        ) == [(1,)]
    # The unique key still holds across the move: the same uid for that day is refused.
    with psycopg.connect(database_url) as conn:
        try:
            conn.execute(
                "INSERT INTO events (site_id, session_id, timestamp, dt, event, pathname, event_uid) "
                "VALUES ('site', 'session', now(), %s, 'pageview', '/', 'events-future')",
                (far_future,),
            )
            raised = False
        except psycopg.errors.UniqueViolation:
            raised = True
    assert raised
    assert partitions.expire_before(TODAY - timedelta(days=32)) == 2
    assert fetch_all(database_url, "SELECT count(*) FROM events_default") == [(0,)]


def test_create_day_is_idempotent(db: Pool, database_url: str) -> None:
    """Creating an existing day again changes nothing and raises nothing."""
    partitions = PostgresEventPartitions(db)
    partitions.create_day(TODAY)
    before = partitions_of(database_url, "events")
    partitions.create_day(TODAY)
    assert partitions_of(database_url, "events") == before
    assert TODAY in partitions.existing_days()


def test_migrate_handler_migrates_and_creates_partitions(empty_database_url: str) -> None:
    """The deploy-time handler applies the migrations and creates today's partitions."""
    from tests.support.modules import lambda_module

    with lambda_module(
        "entrypoints.lambdas.migrate", {"DATABASE_URL": empty_database_url}
    ) as module:
        first = module.handler({}, None)
        second = module.handler({"RequestType": "Create"}, None)
    assert first["applied"]
    assert second["applied"] == []
    today = datetime.now(UTC).date()
    assert today.isoformat() in first["partitions"]["created"]
    assert partition_name("events", today) in partitions_of(empty_database_url, "events")
