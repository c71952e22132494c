"""Issue 16, acceptance 2: rows without `event_uid` (as the DynamoDB version's pipeline wrote
them) are events. A local lake holding such rows, in files without the column or with it null,
is counted row by row by the local reader (DuckDB), exactly like the in-memory reference; the
Athena (Trino) statement keeps the same rows: its golden SQL says so, and run through sqlglot
on DuckDB it gives the same answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import sqlglot
from tests.support.legacy_lake import strip_uids, write_legacy_rows
from tests.support.stats_data import (
    HAND_END,
    HAND_EVENTS,
    HAND_INITIAL_EVENTS,
    HAND_START,
    SITE_A,
)

from adapters.lake import EVENTS, INITIAL_EVENTS, LocalStatsReader, ParquetLakeWriter, lake_files
from adapters.memory_stats import InMemoryStatsReader
from adapters.stats_sql import Dialect, build_statement, result_from_rows
from analytics_core.legacy_uids import MISSING_UID, assign_legacy_uids
from analytics_core.rows import EventRow, InitialEventRow
from analytics_core.stats import Dimension, Interval, StatsQuery, StatsResult

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "athena"
DAY = HAND_START
LEGACY_SESSION = "legacy-session"


def _legacy_session() -> tuple[list[EventRow], list[InitialEventRow]]:
    """One old session: 120 pageviews (two pairs identical to the millisecond), and two
    initial events at the same moment that differ only in country (a tie broken by uid)."""
    start = datetime(DAY.year, DAY.month, DAY.day, 8, 0, tzinfo=UTC)
    events = [
        EventRow(MISSING_UID, SITE_A, LEGACY_SESSION, start + timedelta(seconds=n), DAY,
                 "pageview", f"/p{n % 7}", None)
        for n in range(118)
    ]  # fmt: skip
    events += [events[5], events[9]]  # the same content twice: still two events each
    initial = [
        InitialEventRow(MISSING_UID, SITE_A, LEGACY_SESSION, start, DAY, "pageview", "/",
                        None, country=country, device="desktop")
        for country in ("NL", "BE")
    ]  # fmt: skip
    return events, initial


EVENTS_120, INITIAL_2 = _legacy_session()
QUERIES = {
    "totals": StatsQuery((SITE_A,), HAND_START, HAND_END),
    "by_country_hourly": StatsQuery(
        (SITE_A,), HAND_START, HAND_END, group_by=Dimension.COUNTRY, interval=Interval.HOUR
    ),
    "by_pathname_daily": StatsQuery(
        (SITE_A,), HAND_START, HAND_END, group_by=Dimension.PATHNAME, interval=Interval.DAY
    ),
}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Old rows without the column (the hand-built dataset and the 120-event session), the
    same hand-built rows again in a file whose column is null, and new rows with uids
    delivered twice."""
    root = tmp_path_factory.mktemp("legacy-lake")
    write_legacy_rows(root, [*HAND_EVENTS, *EVENTS_120], [*HAND_INITIAL_EVENTS, *INITIAL_2])
    write_legacy_rows(root, HAND_EVENTS[:2], HAND_INITIAL_EVENTS[:1], uid_column=True)
    writer = ParquetLakeWriter(root)
    writer.write_rows(HAND_EVENTS[2:4], HAND_INITIAL_EVENTS[2:3])
    writer.write_rows(HAND_EVENTS[2:4], HAND_INITIAL_EVENTS[2:3])  # at least once
    return root


def reference() -> InMemoryStatsReader:
    """The same rows in the in-memory reference."""
    memory = InMemoryStatsReader("memory")
    memory.add(
        strip_uids([*HAND_EVENTS, *EVENTS_120]),
        strip_uids([*HAND_INITIAL_EVENTS, *INITIAL_2]),
    )
    memory.add(strip_uids(HAND_EVENTS[:2]), strip_uids(HAND_INITIAL_EVENTS[:1]))
    memory.add(HAND_EVENTS[2:4], HAND_INITIAL_EVENTS[2:3])
    return memory


def test_the_local_reader_counts_old_rows_one_by_one(lake: Path) -> None:
    """Every row without a uid is an event: the hand-built day's 9 events and 8 pageviews,
    120 more of the old session (1 visitor more), 3 re-sent old rows, and the 2 new rows sent
    twice counted once."""
    totals = LocalStatsReader(lake).read(QUERIES["totals"]).totals
    hand_events, hand_visitors = 9, 6
    assert totals.events == hand_events + 120 + 2 + 3 + 2 + 1
    assert totals.visitors == hand_visitors + 1


@pytest.mark.parametrize("name", QUERIES)
def test_the_local_reader_equals_the_reference(lake: Path, name: str) -> None:
    """Totals, buckets and breakdowns from DuckDB equal the in-memory reference's on the same
    rows, the tie between the two old initial events included."""
    query = QUERIES[name]
    assert LocalStatsReader(lake).read(query) == reference().read(query)


def _trino_on_duckdb(lake: Path, query: StatsQuery) -> StatsResult:
    statement = build_statement(query, Dialect.TRINO)
    sql = sqlglot.transpile(statement.sql, read="trino", write="duckdb")[0]
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        for table in (EVENTS, INITIAL_EVENTS):
            files = lake_files(
                lake, table, HAND_START - timedelta(days=1), HAND_END + timedelta(days=1)
            )
            con.read_parquet(files, union_by_name=True).create_view(table)
        return result_from_rows(con.execute(sql, list(statement.parameters)).fetchall())
    finally:
        con.close()


@pytest.mark.parametrize("name", QUERIES)
def test_the_athena_statement_counts_old_rows_the_same(lake: Path, name: str) -> None:
    """The Trino statement, transpiled by sqlglot and run on the same files, gives the local
    reader's answer (Athena itself cannot run here)."""
    query = QUERIES[name]
    assert _trino_on_duckdb(lake, query) == LocalStatsReader(lake).read(query)


def test_golden_athena_sql_keeps_every_row_without_a_uid() -> None:
    """Each golden Trino statement numbers copies per uid, session and day and keeps the first
    copy of a uid and every row without one, in each event table it reads (both for the stats,
    which attribute them under a stand-in uid, and the verification; one for a backfill's day
    of a table, whose rows get their uids from legacy_uids)."""
    # The statements that read rows (a deletion writes: site_deletion_*.sql).
    paths = sorted(p for p in GOLDEN.glob("*.sql") if not p.name.startswith("site_deletion_"))
    assert len(paths) >= 8
    for path in paths:
        sql = path.read_text()
        tables = 1 if path.name.startswith("backfill_") else 2
        assert sql.count("WHERE copy_no = 1 OR event_uid IS NULL") == tables, path.name
        assert sql.count("PARTITION BY event_uid, site_id, session_id, dt") == tables, path.name
        if not path.name.startswith(("backfill_", "verify_")):  # the stats' stand-in uid
            assert "coalesce(event_uid, '~' || lpad(CAST(copy_no AS VARCHAR), 9, '0'))" in sql


def test_stand_in_uids_are_deterministic_and_ordered_like_the_cold_readers() -> None:
    """The uid a row without one gets is the same on every run, whatever the input order; it
    numbers a session-day's rows by content, sorts after ULIDs, and differs per row."""
    rows = strip_uids(INITIAL_2)
    first = assign_legacy_uids("initial_events", rows)
    again = assign_legacy_uids("initial_events", list(reversed(rows)))
    assert sorted(r.event_uid for r in first) == sorted(r.event_uid for r in again)
    by_country = {r.country: r.event_uid for r in first}  # type: ignore[union-attr]
    assert by_country["BE"] < by_country["NL"]  # "BE" sorts first: ordinal 1
    assert by_country["BE"].startswith("~000000001-")
    assert all(uid > "7ZZZZZZZZZZZZZZZZZZZZZZZZZ" for uid in by_country.values())
    events = assign_legacy_uids("events", strip_uids(EVENTS_120))
    assert len({e.event_uid for e in events}) == 120
    assert assign_legacy_uids("events", HAND_EVENTS) == list(HAND_EVENTS)
