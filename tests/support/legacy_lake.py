"""Rows as the DynamoDB version's pipeline left them in the lake: no `event_uid`.

`write_legacy_rows` writes them as Parquet in the lake's layout (<table>/dt=YYYY-MM-DD/), in
files without an `event_uid` column (the old tables' schema) or, with `uid_column=True`, with
the column present and null (an old table after `ALTER TABLE ... ADD COLUMNS`).
`strip_uids` turns rows into such rows for the in-memory reference (`MISSING_UID`);
`recent` and `write_old_lake` make an old lake of the last days, with its reference.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from adapters.lake import EVENTS, INITIAL_EVENTS, SCHEMAS, ParquetLakeWriter, partition_dir
from adapters.memory_stats import InMemoryStatsReader
from analytics_core.legacy_uids import MISSING_UID
from analytics_core.rows import EventRow, InitialEventRow, Row
from tests.support.stats_data import generate

_R = TypeVar("_R", EventRow, InitialEventRow)


def strip_uids(rows: Iterable[_R]) -> list[_R]:
    """The rows without their uid."""
    return [row._replace(event_uid=MISSING_UID) for row in rows]


def _table(table: str, rows: Sequence[Row], *, uid_column: bool) -> pa.Table:
    schema = SCHEMAS[table]
    names = [n for n in schema.names if uid_column or n != "event_uid"]
    columns: dict[str, list[object]] = {name: [] for name in names}
    for row in rows:
        for name in names:
            value = getattr(row, name)
            if name == "event_uid":
                value = None
            elif name == "properties" and value is not None:
                value = json.dumps(value, sort_keys=True)
            columns[name].append(value)
    return pa.table(columns, schema=pa.schema([schema.field(n) for n in names]))


def write_legacy_rows(
    root: Path,
    events: Sequence[EventRow],
    initial_events: Sequence[InitialEventRow],
    *,
    uid_column: bool = False,
) -> list[Path]:
    """Write the rows without uids, one file per table and day; returns the files."""
    written = []
    for table, rows in ((EVENTS, events), (INITIAL_EVENTS, initial_events)):
        if not rows:
            continue
        data = _table(table, rows, uid_column=uid_column)
        for day in sorted(set(data.column("dt").to_pylist())):
            part = data.filter(pc.equal(data.column("dt"), pa.scalar(day, pa.date32())))
            folder = partition_dir(root, table, day)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"legacy-{secrets.token_hex(6)}.parquet"
            pq.write_table(part, path)
            written.append(path)
    return written


def recent(
    today: date, *, days: int, seed: int = 5, sites: int = 2, sessions: int = 240
) -> tuple[tuple[str, ...], list[EventRow], list[InitialEventRow]]:
    """A generated dataset (`tests.support.stats_data.generate`) moved so that its `days`
    days end today; rows that would fall after today are dropped."""
    data = generate(seed, sites=sites, days=days, sessions=sessions)
    shift = today - (data.first_day + timedelta(days=days - 1))

    def moved(row: _R) -> _R:
        moment = row.timestamp + shift
        return row._replace(timestamp=moment, dt=moment.astimezone(UTC).date())

    events = [e for e in map(moved, data.events) if e.dt <= today]
    initial = [i for i in map(moved, data.initial_events) if i.dt <= today]
    return data.sites, events, initial


def write_old_lake(
    root: Path, events: Sequence[EventRow], initial_events: Sequence[InitialEventRow]
) -> InMemoryStatsReader:
    """Write the rows as an old lake would hold them: every third row without a uid (in files
    without the column), the others with their uid, a few delivered twice. Returns the
    in-memory reference holding the same events."""
    legacy_events, new_events = events[::3], [e for n, e in enumerate(events) if n % 3]
    legacy_initial = initial_events[::3]
    new_initial = [i for n, i in enumerate(initial_events) if n % 3]
    write_legacy_rows(root, legacy_events, legacy_initial)
    writer = ParquetLakeWriter(root)
    writer.write_rows(new_events, new_initial)
    writer.write_rows(new_events[::7], new_initial[::7])  # at least once
    reference = InMemoryStatsReader("reference")
    reference.add(strip_uids(legacy_events), strip_uids(legacy_initial))
    reference.add(new_events, new_initial)
    return reference
