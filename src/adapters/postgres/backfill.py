"""`HotEventCopies` in PostgreSQL: rows copied from the cold store, and per-day counts.

A batch is copied in one transaction: it locks its sites' rows (in site id order, as the
ingest transaction does, so that no ingest or fold of those sites interleaves), COPYs the rows
into a temporary table, inserts those whose (event_uid, dt) is not stored yet and records them
as pending for the read model (`stats_pending`, which the fold reads), in one statement. The
fold is the caller's (`ReadModel.fold_pending`, once per day copied, so that a session's rows of
both tables arrive in one fold), as after an ingest. Allowances and ingest outcome counters are
not touched: these events were accepted long ago.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from psycopg import sql

from adapters.migration_sql import TABLE_COLUMNS, counts_from_rows, daily_counts_statement
from adapters.postgres.events import EVENT_COPY_TYPES, INITIAL_EVENT_COPY_TYPES, copy_values
from adapters.postgres.pool import Pool, transaction
from adapters.stats_sql import Dialect
from analytics_core.migration_counts import CopyCounts, DayCounts
from analytics_core.rows import Row

COPY_STATEMENT_TIMEOUT_MS = 5 * 60_000
_TYPES = {"events": EVENT_COPY_TYPES, "initial_events": INITIAL_EVENT_COPY_TYPES}
_STAGING = sql.Identifier("backfill_rows")


def _statements(table: str) -> tuple[sql.Composed, sql.Composed, sql.Composed]:
    names = sql.SQL(", ").join(sql.Identifier(c) for c in TABLE_COLUMNS[table])
    target = sql.Identifier(table)
    create = sql.SQL(
        "CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS SELECT {names} FROM {target} "
        "WITH NO DATA"
    ).format(staging=_STAGING, names=names, target=target)
    copy = sql.SQL("COPY {staging} ({names}) FROM STDIN (FORMAT BINARY)").format(
        staging=_STAGING, names=names
    )
    insert = sql.SQL(
        "WITH inserted AS ("
        "INSERT INTO {target} ({names}) SELECT {names} FROM {staging} "
        "ON CONFLICT (event_uid, dt) DO NOTHING RETURNING site_id, dt, event_uid) "
        "INSERT INTO stats_pending (site_id, dt, event_uid, is_initial) "
        "SELECT site_id, dt, event_uid, {initial} FROM inserted"
    ).format(
        target=target,
        names=names,
        staging=_STAGING,
        initial=sql.Literal(table == "initial_events"),
    )
    return create, copy, insert


_LOCK_SITES = "SELECT 1 FROM sites WHERE site_id = ANY(%s) ORDER BY site_id FOR UPDATE"


class PostgresHotEventCopies:
    """Copies of cold rows into the event tables, recorded as pending for the read model."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def known_sites(self, site_ids: Collection[str] | None) -> set[str]:
        """The registered sites, or those of `site_ids` that are."""
        with transaction(self._pool) as conn:
            if site_ids is None:
                rows = conn.execute("SELECT site_id FROM sites").fetchall()
            else:
                rows = conn.execute(
                    "SELECT site_id FROM sites WHERE site_id = ANY(%s)", (list(site_ids),)
                ).fetchall()
        return {str(site_id) for (site_id,) in rows}

    def copy(self, table: str, rows: Sequence[Row], *, dry_run: bool = False) -> CopyCounts:
        """Insert the rows not stored yet and record them as pending (see the module
        docstring); `dry_run` rolls the insert back."""
        if not rows:
            return CopyCounts()
        create, copy, insert = _statements(table)
        site_ids = sorted({row.site_id for row in rows})
        with transaction(self._pool, statement_timeout_ms=COPY_STATEMENT_TIMEOUT_MS) as conn:
            conn.execute(_LOCK_SITES, (site_ids,))
            with conn.transaction(force_rollback=dry_run):
                conn.execute(create)
                with conn.cursor().copy(copy) as writer:
                    writer.set_types(_TYPES[table])
                    for row in rows:
                        writer.write_row(copy_values(row))
                inserted = conn.execute(insert).rowcount
                conn.execute(sql.SQL("DROP TABLE {}").format(_STAGING))
        return CopyCounts(inserted=inserted, present=len(rows) - inserted)

    def daily_counts(
        self, first: date, last: date, site_ids: Collection[str] | None
    ) -> dict[tuple[str, date], DayCounts]:
        """Events and distinct sessions per site and day, from the event tables."""
        statement = daily_counts_statement(first, last, site_ids, Dialect.POSTGRES)
        with transaction(self._pool, statement_timeout_ms=COPY_STATEMENT_TIMEOUT_MS) as conn:
            rows: list[Any] = conn.execute(statement.sql, statement.parameters).fetchall()
        return counts_from_rows(rows)
