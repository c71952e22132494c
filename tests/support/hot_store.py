"""Loading rows into the hot store with their read model, for the query tests.

`ingest_rows` follows the contract of `adapters.postgres.read_model.fold_rows` to the letter,
without the event store's code: in one transaction it inserts the rows that are new (a row
whose (event_uid, dt) is stored already is skipped, as a redelivery is), puts exactly the
inserted rows in the temporary tables `ingest_new_events` / `ingest_new_initial_events` (the
columns of the event tables), and calls `fold_rows(conn)` once: what a fold does with the
pending rows, folded at once. `copy_rows` is the bulk path (benchmarks, big fixtures): COPY
straight into the tables, then the read model's `rebuild`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from adapters.postgres.read_model import fold_rows
from adapters.postgres.read_model import rebuild as rebuild_read_model
from analytics_core.rows import EVENT_COLUMNS, INITIAL_EVENT_COLUMNS, EventRow, InitialEventRow

_TABLES = (
    ("events", "ingest_new_events", EVENT_COLUMNS),
    ("initial_events", "ingest_new_initial_events", INITIAL_EVENT_COLUMNS),
)


def _values(row: EventRow, columns: Sequence[str]) -> list[Any]:
    values = []
    for name in columns:
        value = getattr(row, name)
        values.append(json.dumps(value) if name == "properties" and value is not None else value)
    return values


def _copy(
    conn: psycopg.Connection[Any], table: str, columns: Sequence[str], rows: Iterable[EventRow]
) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    with conn.cursor().copy(statement) as copy:
        for row in rows:
            copy.write_row(_values(row, columns))


def ingest_rows(
    conn: psycopg.Connection[Any],
    events: Sequence[EventRow] = (),
    initial_events: Sequence[InitialEventRow] = (),
) -> int:
    """One ingest transaction for these rows (committed on return); how many were new."""
    inserted = 0
    with conn.transaction():
        for (table, new_table, columns), rows in zip(
            _TABLES, (events, initial_events), strict=True
        ):
            staging = f"hot_store_staging_{table}"
            names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
            conn.execute(
                sql.SQL(
                    "CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA"
                ).format(sql.Identifier(staging), names, sql.Identifier(table))
            )
            conn.execute(
                sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
                    sql.Identifier(new_table), sql.Identifier(table)
                )
            )
            _copy(conn, staging, columns, rows)
            cursor = conn.execute(
                sql.SQL(
                    "WITH inserted AS (INSERT INTO {table} ({names}) SELECT DISTINCT ON "
                    "(event_uid, dt) {names} FROM {staging} ON CONFLICT DO NOTHING RETURNING *) "
                    "INSERT INTO {new} SELECT * FROM inserted"
                ).format(
                    table=sql.Identifier(table),
                    names=names,
                    staging=sql.Identifier(staging),
                    new=sql.Identifier(new_table),
                )
            )
            inserted += max(cursor.rowcount, 0)
        fold_rows(conn)
    return inserted


def copy_rows(
    conn: psycopg.Connection[Any],
    events: Iterable[EventRow] = (),
    initial_events: Iterable[InitialEventRow] = (),
    *,
    rebuild: bool = True,
) -> None:
    """Bulk-load rows with COPY (no duplicates allowed), then rebuild the read model."""
    with conn.transaction():
        _copy(conn, "events", EVENT_COLUMNS, events)
        _copy(conn, "initial_events", INITIAL_EVENT_COLUMNS, initial_events)
        if rebuild:
            rebuild_read_model(conn)
