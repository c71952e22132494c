"""The ports of `backfill-hot` and `verify-migration` under one contract: `ColdEventSource`
(the local lake with DuckDB, and the in-memory fake) and `HotEventCopies` (PostgreSQL, and the
in-memory fake) give the same rows, counts and copy outcomes on the same data."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from tests.support.legacy_lake import recent, write_old_lake

from adapters import lake as lake_module
from adapters.lake import LocalLakeColdEvents
from adapters.memory_stats import InMemoryHotEventCopies, InMemoryStatsReader
from adapters.postgres.backfill import PostgresHotEventCopies
from adapters.postgres.partitions import PostgresEventPartitions
from adapters.postgres.pool import Pool
from adapters.postgres.read_model import PostgresReadModel
from adapters.postgres.stats import PostgresStatsReader
from analytics_core.backfill import TABLES
from analytics_core.legacy_uids import MISSING_UID, assign_legacy_uids
from analytics_core.migration_counts import CopyCounts
from analytics_core.ports import ColdEventSource, HotEventCopies
from analytics_core.rows import Row
from analytics_core.stats import Dimension, StatsQuery

TODAY = date(2026, 12, 7)
DAYS = [TODAY - timedelta(days=n) for n in range(4)]
SITES, EVENTS, INITIAL = recent(TODAY, days=4, seed=9, sessions=120)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, InMemoryStatsReader]:
    root = tmp_path_factory.mktemp("contract-lake")
    return root, write_old_lake(root, EVENTS, INITIAL)


@pytest.fixture(params=["local", "memory"])
def cold(request: pytest.FixtureRequest, lake: tuple[Path, InMemoryStatsReader]) -> ColdEventSource:
    root, reference = lake
    return LocalLakeColdEvents(root) if request.param == "local" else reference


def _key(row: Row) -> tuple[object, ...]:
    return (row.site_id, row.session_id, row.event_uid, row.timestamp, tuple(row))


def test_cold_rows_are_one_per_event_ordered_by_session(
    cold: ColdEventSource, lake: tuple[Path, InMemoryStatsReader]
) -> None:
    """Each day's rows come one per uid (copies dropped), every uid-less row included and
    marked `MISSING_UID`, ordered by site and session; both sources give the same rows."""
    _, reference = lake
    for table in TABLES:
        for day in DAYS:
            rows = list(cold.read_rows(table, day, None))
            keys = [(r.site_id, r.session_id) for r in rows]
            assert keys == sorted(keys)
            expected = list(reference.read_rows(table, day, None))
            assert sorted(map(_key, rows)) == sorted(map(_key, expected))
            assert any(r.event_uid == MISSING_UID for r in rows) or not rows
        one = list(cold.read_rows(table, DAYS[0], [SITES[1]]))
        assert {r.site_id for r in one} <= {SITES[1]}


def test_cold_daily_counts(cold: ColdEventSource, lake: tuple[Path, InMemoryStatsReader]) -> None:
    """Events and distinct sessions per site and day, the same from both sources."""
    _, reference = lake
    counts = cold.daily_counts(DAYS[-1], DAYS[0], None)
    assert counts == reference.daily_counts(DAYS[-1], DAYS[0], None)
    assert sum(c.events for c in counts.values()) == len(EVENTS) + len(INITIAL)
    only = cold.daily_counts(DAYS[-1], DAYS[0], [SITES[0]])
    assert only == {k: v for k, v in counts.items() if k[0] == SITES[0]}


def postgres_hot(pool: Pool, url: str) -> PostgresHotEventCopies:
    """The PostgreSQL side with the sites registered and the days' partitions made."""
    with psycopg.connect(url) as conn:
        for site in SITES:
            conn.execute(
                "INSERT INTO sites (site_id, owner_sub, name, domains) "
                "VALUES (%s, 'o', 'c', ARRAY['c.example'])",
                (site,),
            )
    partitions = PostgresEventPartitions(pool)
    for day in DAYS:
        partitions.create_day(day)
    return PostgresHotEventCopies(pool)


@pytest.fixture(params=["postgres", "memory"])
def hot(request: pytest.FixtureRequest) -> HotEventCopies:
    if request.param == "memory":
        return InMemoryHotEventCopies(InMemoryStatsReader("hot"), lambda: SITES)
    return postgres_hot(request.getfixturevalue("db"), request.getfixturevalue("database_url"))


def _day_rows(table: str, day: date, reference: InMemoryStatsReader) -> list[Row]:
    return assign_legacy_uids(table, reference.read_rows(table, day, None))


def test_hot_copies_insert_once(
    hot: HotEventCopies, lake: tuple[Path, InMemoryStatsReader]
) -> None:
    """A copy inserts the new rows and counts the stored ones present; a dry run counts the
    same and stores nothing; the counts per site and day then equal the cold store's."""
    _, reference = lake
    assert hot.known_sites(None) == set(SITES)
    assert hot.known_sites([SITES[0], "01JDQ7ZK3M000000000000NONE"]) == {SITES[0]}
    for table in TABLES:
        rows = _day_rows(table, DAYS[0], reference)
        half = rows[: len(rows) // 2]
        assert hot.copy(table, half, dry_run=True) == CopyCounts(len(half), 0)
        assert hot.copy(table, half) == CopyCounts(len(half), 0)
        assert hot.copy(table, rows, dry_run=True) == CopyCounts(len(rows) - len(half), len(half))
        assert hot.copy(table, rows) == CopyCounts(len(rows) - len(half), len(half))
        assert hot.copy(table, rows) == CopyCounts(0, len(rows))
    expected = reference.daily_counts(DAYS[0], DAYS[0], None)
    assert hot.daily_counts(DAYS[0], DAYS[0], None) == expected
    assert hot.daily_counts(DAYS[0], DAYS[0], [SITES[1]]) == {
        k: v for k, v in expected.items() if k[0] == SITES[1]
    }


def test_copied_rows_reach_the_read_model(
    db: Pool, database_url: str, lake: tuple[Path, InMemoryStatsReader]
) -> None:
    """Copied rows are pending for the read model; after a fold, PostgreSQL's stats (read
    model) equal the cold reference's, breakdowns included: the uid-less rows' ties fall the
    same way in both stores."""
    hot = postgres_hot(db, database_url)
    _, reference = lake
    for day in DAYS:
        for table in TABLES:
            hot.copy(table, _day_rows(table, day, reference))
    assert PostgresReadModel(db).fold_pending(SITES) == len(EVENTS) + len(INITIAL)
    for group_by in (None, Dimension.COUNTRY, Dimension.PATHNAME):
        query = StatsQuery(SITES, DAYS[-1] + timedelta(days=1), TODAY, group_by=group_by)
        assert PostgresStatsReader(db).read(query) == reference.read(query)


def test_the_local_source_lists_again_when_compaction_merged_files_away(
    lake: tuple[Path, InMemoryStatsReader], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listed file that vanished before DuckDB opened it (merged by compaction) makes the
    source list the day again instead of failing."""
    root, reference = lake
    listings: list[int] = []
    real = lake_module.lake_files

    def listing(folder: Path, table: str, first: date, last: date) -> list[str]:
        listings.append(1)
        found = real(folder, table, first, last)
        return [*found, str(folder / "merged-away.parquet")] if len(listings) == 1 else found

    monkeypatch.setattr(lake_module, "lake_files", listing)
    rows = list(LocalLakeColdEvents(root).read_rows("events", DAYS[0], None))
    assert sorted(map(_key, rows)) == sorted(
        map(_key, reference.read_rows("events", DAYS[0], None))
    )
    assert len(listings) == 2
