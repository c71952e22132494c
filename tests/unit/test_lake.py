"""The local Parquet lake: its layout (like the Iceberg tables), the cold forwarder writing it,
compaction, and the DuckDB reader on an empty or duplicated lake."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adapters import lake
from adapters.config import Settings
from adapters.lake import LocalLakeColdForwarder, LocalStatsReader, ParquetLakeWriter
from analytics_core.errors import ColdForwardError, ConfigurationError, StoreUnavailableError
from analytics_core.rows import EVENT_COLUMNS, INITIAL_EVENT_COLUMNS, EventRow, InitialEventRow
from analytics_core.stats import Counts, StatsQuery

SITE = "01JDQ7ZK3M000000000000SA01"
MOMENT = datetime(2026, 11, 24, 23, 59, 59, 123_000, tzinfo=UTC)
EVENT = EventRow(
    "01JDQ7ZK3M0000000000000E01",
    SITE,
    "s",
    MOMENT,
    MOMENT.date(),
    "click",
    "/x",
    {"plan": "pro", "n": 1},
)
INITIAL = InitialEventRow(
    "01JDQ7ZK3M0000000000000I01", SITE, "s", MOMENT.replace(hour=23, minute=0), MOMENT.date(), "pageview", "/", None,
    referer="https://t.co/x", referer_domain="t.co", country="DE", city="Köln", screen_width=390, screen_height=844,
)  # fmt: skip
NEXT_DAY = EventRow(
    "01JDQ7ZK3M0000000000000E02",
    SITE,
    "s",
    datetime(2026, 11, 25, 0, 0, 5, tzinfo=UTC),
    date(2026, 11, 25),
    "pageview",
    "/y",
    None,
)


def test_layout_matches_the_iceberg_tables(tmp_path: Path) -> None:
    """Files land under <table>/dt=YYYY-MM-DD/ with the Postgres columns minus event_id,
    timestamp as UTC microseconds, properties as JSON text; nothing temporary is left."""
    written = ParquetLakeWriter(tmp_path).write_rows([EVENT, NEXT_DAY], [INITIAL])
    relative = sorted(str(p.parent.relative_to(tmp_path)) for p in written)
    assert relative == [
        "events/dt=2026-11-24",
        "events/dt=2026-11-25",
        "initial_events/dt=2026-11-24",
    ]
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".parquet"]
    events = pq.read_table(tmp_path / "events" / "dt=2026-11-24", partitioning=None)
    assert events.column_names == list(EVENT_COLUMNS)
    assert events.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert events.schema.field("dt").type == pa.date32()
    row = events.to_pylist()[0]
    assert row["timestamp"] == MOMENT
    assert json.loads(row["properties"]) == {"plan": "pro", "n": 1}
    initial = pq.read_table(tmp_path / "initial_events", partitioning=None).to_pylist()[0]
    assert list(initial) == list(INITIAL_EVENT_COLUMNS)
    assert (initial["city"], initial["screen_width"], initial["properties"]) == ("Köln", 390, None)


def test_every_write_adds_new_files(tmp_path: Path) -> None:
    """Append-only: writing the same rows again adds files, it never replaces one."""
    writer = ParquetLakeWriter(tmp_path)
    first = writer.write_rows([EVENT], [])
    second = writer.write_rows([EVENT], [])
    assert first[0] != second[0]
    assert len(list((tmp_path / "events" / "dt=2026-11-24").glob("*.parquet"))) == 2


def test_forwarder_is_at_least_once_and_readers_count_once(tmp_path: Path) -> None:
    """A retried delivery duplicates rows in the lake; the reader counts each event once."""
    forwarder = LocalLakeColdForwarder.from_settings(Settings(local_lake_dir=str(tmp_path)))
    forwarder.forward([EVENT, NEXT_DAY], [INITIAL])
    forwarder.forward([EVENT, NEXT_DAY], [INITIAL])
    query = StatsQuery((SITE,), date(2026, 11, 24), date(2026, 11, 25))
    totals = LocalStatsReader(tmp_path).read(query).totals
    assert totals == Counts(
        events=3, pageviews=2, visitors=1, visits=1, bounces=0, duration_ms=3_545_877
    )


def test_forwarder_failure_is_a_cold_forward_error(tmp_path: Path) -> None:
    """When the lake cannot be written the forwarder raises ColdForwardError with the count."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    forwarder = LocalLakeColdForwarder(ParquetLakeWriter(blocker))
    with pytest.raises(ColdForwardError) as caught:
        forwarder.forward([EVENT], [INITIAL])
    assert caught.value.failed == 2


def test_compaction_keeps_every_row(tmp_path: Path) -> None:
    """Merging a day's files leaves one file with all the rows (duplicates too) and the
    same answers."""
    writer = ParquetLakeWriter(tmp_path)
    for _ in range(3):
        writer.write_rows([EVENT], [INITIAL])
    query = StatsQuery((SITE,), date(2026, 11, 24), date(2026, 11, 24))
    before = LocalStatsReader(tmp_path).read(query)
    merged = writer.compact("events", date(2026, 11, 24))
    assert merged is not None
    assert list((tmp_path / "events" / "dt=2026-11-24").glob("*.parquet")) == [merged]
    assert pq.read_table(merged).num_rows == 3
    assert LocalStatsReader(tmp_path).read(query) == before
    assert writer.compact("events", date(2026, 11, 24)) is None  # one file: nothing to do


def test_an_empty_lake_answers_zeros(tmp_path: Path) -> None:
    """No files for the range (or no lake yet): zeros, not an error."""
    result = LocalStatsReader(tmp_path / "nothing-yet").read(
        StatsQuery((SITE,), date(2026, 1, 1), date(2026, 1, 31))
    )
    assert result.totals == Counts()


def test_reader_needs_the_setting() -> None:
    """LocalStatsReader.from_settings names LOCAL_LAKE_DIR when it is missing."""
    with pytest.raises(ConfigurationError, match="LOCAL_LAKE_DIR"):
        LocalStatsReader.from_settings(Settings())


def test_compact_all_merges_every_day_of_both_tables(tmp_path: Path) -> None:
    """Every table's day with several files ends with one; a day with one file and folders
    that are not days are left alone; the answers do not change."""
    writer = ParquetLakeWriter(tmp_path)
    for _ in range(3):
        writer.write_rows([EVENT, NEXT_DAY], [INITIAL])
    writer.write_rows([], [INITIAL._replace(event_uid="01JDQ7ZK3M0000000000000I02", dt=date(2026, 11, 20))])  # fmt: skip
    (tmp_path / "events" / "notes").mkdir()
    query = StatsQuery((SITE,), date(2026, 11, 20), date(2026, 11, 25))
    before = LocalStatsReader(tmp_path).read(query)

    assert writer.compact_all() == {"days": 3, "filesMerged": 9}

    counts = {
        str(folder.relative_to(tmp_path)): len(list(folder.glob("*.parquet")))
        for folder in tmp_path.glob("*/dt=*")
    }
    assert counts == {
        "events/dt=2026-11-24": 1,
        "events/dt=2026-11-25": 1,
        "initial_events/dt=2026-11-24": 1,
        "initial_events/dt=2026-11-20": 1,
    }
    assert LocalStatsReader(tmp_path).read(query) == before
    assert writer.compact_all() == {"days": 0, "filesMerged": 0}


def test_a_reader_racing_compaction_lists_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files merged away between the reader's listing and its read: the reader lists the
    folders again and answers as if nothing had happened."""
    writer = ParquetLakeWriter(tmp_path)
    for _ in range(3):
        writer.write_rows([EVENT], [INITIAL])
    query = StatsQuery((SITE,), date(2026, 11, 24), date(2026, 11, 24))
    expected = LocalStatsReader(tmp_path).read(query)

    listings: list[list[str]] = []
    real_listing = lake.lake_files

    def list_then_compact(root: Path, table: str, first: date, last: date) -> list[str]:
        files = real_listing(root, table, first, last)
        listings.append(files)
        if len(listings) == 2:  # both tables listed once: compaction strikes before the read
            writer.compact_all()
        return files

    monkeypatch.setattr("adapters.lake.lake_files", list_then_compact)
    assert LocalStatsReader(tmp_path).read(query) == expected
    assert len(listings) == 4  # listed twice
    assert len(listings[1]) == 3
    assert len(listings[3]) == 1


def test_a_broken_file_is_an_unavailable_store_not_a_retry_loop(tmp_path: Path) -> None:
    """A file that is there but unreadable fails the read at once, with a clear error."""
    ParquetLakeWriter(tmp_path).write_rows([EVENT], [])
    (tmp_path / "events" / "dt=2026-11-24" / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(StoreUnavailableError, match="local lake query failed"):
        LocalStatsReader(tmp_path).read(StatsQuery((SITE,), date(2026, 11, 24), date(2026, 11, 24)))
