"""The local cold store: a Parquet lake laid out like the Iceberg tables, queried with DuckDB.

Layout (hive-style, one folder per UTC day):

    <root>/events/dt=YYYY-MM-DD/<unique>.parquet
    <root>/initial_events/dt=YYYY-MM-DD/<unique>.parquet

Each file holds the table's Postgres columns without `event_id` (`dt` included, `timestamp` as
a UTC timestamp, `properties` as JSON text). Files are only ever added, each written under a
temporary name and renamed into place, so a reader never sees half a file. Like Firehose, the
lake is at least once: a retried delivery may add a second copy of a row, and the reader keeps
one copy per `event_uid`.

`ParquetLakeWriter` lays the files out (the forwarder, test fixtures and benchmarks use it),
`LocalLakeColdForwarder` is the `ColdForwarder` of the local stack, and `LocalStatsReader`
answers stats queries with the same SQL shape as Athena (`adapters.stats_sql`): sessions run in
UTC, a query in another time zone converts each timestamp with `timezone(zone, ts)` (DuckDB's
ICU extension, built into the Python package, so nothing is downloaded), and properties are
read from the JSON text with the built-in JSON extension (`json_type`, `json_extract_string`).

Every delivery adds a file per table and day (the local stream delivers every few seconds), and
a reader opens each file of the range, about a millisecond apiece; so the local stack merges
each day's files into one every hour (`ParquetLakeWriter.compact_all`, like Iceberg's
compaction). Compaction writes the merged file before it deletes the merged ones, so a reader
sees every row at every moment (some twice, which it tolerates); a reader whose listed files
were merged away meanwhile lists the folders again.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from adapters.config import Env, Settings
from adapters.migration_sql import (
    counts_from_rows,
    daily_counts_statement,
    day_rows_statement,
    row_from_values,
)
from adapters.stats_sql import (
    Dialect,
    Statement,
    build_statement,
    result_from_rows,
    stored_days,
)
from analytics_core.errors import ColdForwardError, StoreUnavailableError
from analytics_core.migration_counts import DayCounts
from analytics_core.rows import EVENT_COLUMNS, INITIAL_EVENT_COLUMNS, EventRow, InitialEventRow, Row
from analytics_core.stats import StatsQuery, StatsResult

EVENTS = "events"
_READ_ATTEMPTS = 3
INITIAL_EVENTS = "initial_events"
_TEXT = pa.string()
_COLUMN_TYPES: dict[str, pa.DataType] = {
    "timestamp": pa.timestamp("us", tz="UTC"),
    "dt": pa.date32(),
    "screen_width": pa.int32(),
    "screen_height": pa.int32(),
}
SCHEMAS: dict[str, pa.Schema] = {
    table: pa.schema([(name, _COLUMN_TYPES.get(name, _TEXT)) for name in columns])
    for table, columns in ((EVENTS, EVENT_COLUMNS), (INITIAL_EVENTS, INITIAL_EVENT_COLUMNS))
}


def conform(table: str, data: pa.Table) -> pa.Table:
    """`data` with exactly the table's columns and types; a column it lacks (`event_uid` in
    files of the DynamoDB version's pipeline) is all nulls."""
    schema = SCHEMAS[table]
    columns = [
        data.column(field.name).cast(field.type)
        if field.name in data.column_names
        else pa.nulls(data.num_rows, field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def partition_dir(root: Path, table: str, day: date) -> Path:
    """The folder of one table's day."""
    return root / table / f"dt={day.isoformat()}"


def _unique_name() -> str:
    """A file name that sorts by creation time and never repeats."""
    return f"{time.time_ns():020d}-{secrets.token_hex(6)}.parquet"


def _properties_text(properties: Any) -> str | None:
    if properties is None:
        return None
    return json.dumps(properties, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


class ParquetLakeWriter:
    """Appends rows to the lake, one new file per table and day per call."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def write_rows(
        self, events: Sequence[EventRow], initial_events: Sequence[InitialEventRow]
    ) -> list[Path]:
        """Write stored row values; returns the files written."""
        written: list[Path] = []
        for table, rows in ((EVENTS, events), (INITIAL_EVENTS, initial_events)):
            if rows:
                written += self.write_table(table, self._arrow(table, rows))
        return written

    @staticmethod
    def _arrow(table: str, rows: Sequence[Row]) -> pa.Table:
        schema = SCHEMAS[table]
        columns: dict[str, list[Any]] = {name: [] for name in schema.names}
        for row in rows:
            for name in schema.names:
                value = getattr(row, name)
                columns[name].append(_properties_text(value) if name == "properties" else value)
        return pa.table(columns, schema=schema)

    def write_table(self, table: str, data: pa.Table) -> list[Path]:
        """Write an Arrow table holding (at least) the table's columns, split by `dt`."""
        data = conform(table, data)
        days = data.column("dt").unique().to_pylist()
        written = []
        for day in sorted(days):
            part = data.filter(pc.equal(data.column("dt"), pa.scalar(day, pa.date32())))
            folder = partition_dir(self.root, table, day)
            folder.mkdir(parents=True, exist_ok=True)
            name = _unique_name()
            temporary = folder / f".{name}.tmp"
            pq.write_table(part, temporary, compression="zstd")
            final = folder / name
            temporary.replace(final)
            written.append(final)
        return written

    def compact(self, table: str, day: date) -> Path | None:
        """Merge a day's files into one (rows kept as they are, duplicates included), so that
        readers open one file instead of one per delivery. A reader listing the folder while
        this runs may see the new file and some old ones at once: the duplicates that makes
        are dropped like any other."""
        folder = partition_dir(self.root, table, day)
        return self._merge(table, sorted(folder.glob("*.parquet")) if folder.is_dir() else [])

    def compact_all(self) -> dict[str, int]:
        """Compact every table's day with more than one file; how many days and files."""
        days = merged = 0
        for table in SCHEMAS:
            folder = self.root / table
            if not folder.is_dir():
                continue
            for partition in sorted(folder.glob("dt=*")):
                try:
                    date.fromisoformat(partition.name.removeprefix("dt="))
                except ValueError:
                    continue  # not a folder of ours
                files = sorted(partition.glob("*.parquet"))
                if self._merge(table, files) is not None:
                    days += 1
                    merged += len(files)
        return {"days": days, "filesMerged": merged}

    def _merge(self, table: str, files: list[Path]) -> Path | None:
        """One file in place of `files` (written first, then they are deleted)."""
        if len(files) < 2:
            return None
        merged = pa.concat_tables(conform(table, pq.read_table(path)) for path in files)
        (written,) = self.write_table(table, merged)
        for path in files:
            path.unlink(missing_ok=True)
        return written


class LocalLakeColdForwarder:
    """The `ColdForwarder` of the local stack: rows go to the Parquet lake."""

    def __init__(self, writer: ParquetLakeWriter) -> None:
        self._writer = writer

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalLakeColdForwarder:
        """A forwarder into `LOCAL_LAKE_DIR`."""
        return cls(ParquetLakeWriter(settings.require(Env.LOCAL_LAKE_DIR)))

    @staticmethod
    def prepare(row: Row) -> Row:
        """The row itself: the lake writes rows in columns, per call."""
        return row

    def forward(
        self, events: Sequence[EventRow], initial_events: Sequence[InitialEventRow]
    ) -> None:
        """Write the rows; a failure raises `ColdForwardError` (a retry may duplicate some,
        which the readers tolerate)."""
        try:
            self._writer.write_rows(events, initial_events)
        except (OSError, pa.ArrowException) as exc:
            raise ColdForwardError(
                f"could not write to the local lake: {exc}", len(events) + len(initial_events)
            ) from exc


def lake_files(root: Path, table: str, first: date, last: date) -> list[str]:
    """The table's files dated `first`..`last` (the reader's partition pruning)."""
    files: list[str] = []
    day = first
    while day <= last:
        folder = partition_dir(root, table, day)
        if folder.is_dir():
            files += sorted(str(path) for path in folder.glob("*.parquet"))
        day += timedelta(days=1)
    return files


_DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
    pa.date32(): "DATE",
    pa.int32(): "INTEGER",
}


def register_table(con: duckdb.DuckDBPyConnection, table: str, files: Iterable[str]) -> None:
    """Make `table` a view over `files` with exactly the table's columns: by name, so that
    files of the DynamoDB version's pipeline, which lack `event_uid`, read it as NULL (and
    then every such row counts)."""
    listed = list(files)
    if not listed:
        con.from_arrow(SCHEMAS[table].empty_table()).create_view(table)
        return
    relation = con.read_parquet(listed, hive_partitioning=False, union_by_name=True)
    present = set(relation.columns)
    projection = ", ".join(
        f'"{field.name}"'
        if field.name in present
        else f'CAST(NULL AS {_DUCKDB_TYPES[field.type]}) AS "{field.name}"'
        for field in SCHEMAS[table]
    )
    relation.project(projection).create_view(table)


class LocalLakeColdEvents:
    """The `ColdEventSource` of the local stack: the lake's rows, read with DuckDB.

    A day's rows are fetched at once (a local lake is small), listing the files again when
    compaction merged some away meanwhile, as `LocalStatsReader` does."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalLakeColdEvents:
        """A source reading `LOCAL_LAKE_DIR`."""
        return cls(settings.require(Env.LOCAL_LAKE_DIR))

    def _fetch(
        self, statement: Statement, tables: Sequence[str], first: date, last: date
    ) -> list[tuple[Any, ...]]:
        attempts_left = _READ_ATTEMPTS
        while True:
            listed = {table: lake_files(self.root, table, first, last) for table in tables}
            con = duckdb.connect(":memory:")
            try:
                con.execute("SET TimeZone = 'UTC'")
                for table, files in listed.items():
                    register_table(con, table, files)
                return con.execute(statement.sql, list(statement.parameters)).fetchall()
            except duckdb.Error as exc:
                attempts_left -= 1
                vanished = any(not Path(f).exists() for files in listed.values() for f in files)
                if not (vanished and attempts_left):
                    raise StoreUnavailableError(f"local lake read failed: {exc}") from exc
            finally:
                con.close()

    def read_rows(self, table: str, day: date, site_ids: Collection[str] | None) -> Iterator[Row]:
        """One copy of each event of `table` dated `day`, by site and session."""
        statement = day_rows_statement(table, day, site_ids, Dialect.DUCKDB)
        for values in self._fetch(statement, (table,), day, day):
            yield row_from_values(table, values)

    def daily_counts(
        self, first: date, last: date, site_ids: Collection[str] | None
    ) -> dict[tuple[str, date], DayCounts]:
        """Events and distinct sessions per site and day."""
        statement = daily_counts_statement(first, last, site_ids, Dialect.DUCKDB)
        return counts_from_rows(self._fetch(statement, tuple(SCHEMAS), first, last))


class LocalStatsReader:
    """Stats from the local lake with DuckDB, in the Athena statement's shape."""

    source = "local"

    def __init__(self, root: Path | str, *, threads: int | None = None) -> None:
        self.root = Path(root)
        self._threads = threads

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalStatsReader:
        """A reader of `LOCAL_LAKE_DIR`."""
        return cls(settings.require(Env.LOCAL_LAKE_DIR))

    def read(self, query: StatsQuery) -> StatsResult:
        """Answer `query` from the lake files of the stored days it needs (`stored_days`: two
        more on each side in a zone other than UTC)."""
        statement = build_statement(query, Dialect.DUCKDB)
        attempts_left = _READ_ATTEMPTS
        while True:
            listed = {
                table: lake_files(self.root, table, first, last)
                for table, (first, last) in stored_days(query).items()
            }
            try:
                rows = self._execute(statement.sql, statement.parameters, listed)
                return result_from_rows(rows, query.zone)
            except duckdb.Error as exc:
                attempts_left -= 1
                vanished = any(not Path(f).exists() for files in listed.values() for f in files)
                if not (vanished and attempts_left):
                    raise StoreUnavailableError(f"local lake query failed: {exc}") from exc
                # Compaction merged some files away after the listing: list again.

    def _execute(
        self, sql: str, parameters: Sequence[Any], listed: dict[str, list[str]]
    ) -> list[tuple[Any, ...]]:
        con = duckdb.connect(":memory:")
        try:
            con.execute("SET TimeZone = 'UTC'")
            if self._threads is not None:
                con.execute(f"SET threads = {int(self._threads)}")
            for table, files in listed.items():
                register_table(con, table, files)
            return con.execute(sql, list(parameters)).fetchall()
        finally:
            con.close()


class LocalLakeColdSiteEraser:
    """The `ColdSiteEraser` of the local stack: every lake file holding rows of the site is
    rewritten without them, under a temporary name renamed over the file (so a reader sees
    the old file or the new one, never half of one); a file left empty is deleted.

    The hourly compaction may merge files while this runs and write the site's rows back into
    the merged file; the erasure the daily maintenance runs once more after the late-delivery
    window (`analytics_core.management.LATE_DELIVERY`) removes them then."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalLakeColdSiteEraser:
        """An eraser of `LOCAL_LAKE_DIR`."""
        return cls(settings.require(Env.LOCAL_LAKE_DIR))

    def erase(self, site_id: str) -> None:
        """Rewrite every file of both tables without the site's rows."""
        try:
            for table in SCHEMAS:
                folder = self.root / table
                if folder.is_dir():
                    for path in sorted(folder.glob("dt=*/*.parquet")):
                        self._rewrite(path, site_id)
        except (OSError, pa.ArrowException) as exc:
            raise StoreUnavailableError(f"could not erase from the local lake: {exc}") from exc

    @staticmethod
    def _rewrite(path: Path, site_id: str) -> None:
        data = pq.read_table(path)
        theirs = pc.fill_null(pc.equal(data.column("site_id"), site_id), fill_value=False)
        kept = data.filter(pc.invert(theirs))
        if kept.num_rows == data.num_rows:
            return
        if kept.num_rows == 0:
            path.unlink(missing_ok=True)
            return
        temporary = path.with_name(f".{path.name}.tmp")
        pq.write_table(kept, temporary, compression="zstd")
        temporary.replace(path)
