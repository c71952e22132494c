"""`ReadModel` on the hot store (PostgreSQL): the tables the hot `StatsReader` answers from,
kept up to date with the event tables by folds (docs/read-model.md).

The event store (adapters/postgres/events.py) records the rows it inserted, in the
transaction that inserts them, as one range of event ids per site and table in
`stats_pending_ranges` (the ingest code of an older version, still running during a deploy,
writes one key per row to `stats_pending`; both are folded). `fold_pending` moves pending rows
into the read model: it runs on a schedule and before every hot-store query of the queried
sites (`analytics_core.stats.query_stats`), so answers count every committed event. Underneath
it is `fold_rows`, whose contract is: within one transaction, the temporary tables
`ingest_new_events` and `ingest_new_initial_events` (the columns of `events` and
`initial_events`) hold exactly the rows to fold, and nobody can add rows for their sites until
the transaction commits. The transaction must be READ COMMITTED (the default).

The read model is four tables partitioned by day like the event tables: the rollups
`stats_daily` (per site, day, dimension and value), `stats_hourly` (per site and hour) and
`stats_repeats` (the sessions seen again on a later day, which makes distinct visitors over a
range exact), and `stats_session_days` (one row per session and day); `stats_sessions` keeps
each session's span of days so that a fold reads only those days' partitions. A fold works by
session: the sessions the rows touch are recomputed from their raw rows before and after the
rows, and the difference is added; `rebuild` computes the same from scratch. The SQL lives in
`sql/functions/` (one PL/pgSQL function per file, so that one round trip does the work), which
the migration runner re-applies whenever a file changes.

The module-level functions work in the caller's transaction (the partition maintenance and the
backfill's copies call them inside theirs); `PostgresReadModel` is the port, one transaction a
call.
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractContextManager
from datetime import date, timedelta
from typing import Any

import psycopg
from psycopg import sql

from adapters.postgres.pool import Pool, deadline, transaction
from analytics_core.errors import NotFoundError

READ_MODEL_TABLES = ("stats_daily", "stats_hourly", "stats_repeats", "stats_session_days")
"""The read model's tables; partitioned by `dt` with the event tables' partition names."""

FOLD_STATEMENT_TIMEOUT_MS = 5 * 60_000
"""How long the scheduled fold (and a rebuild without a timeout of its own) may run."""


def fold_rows(conn: psycopg.Connection[Any]) -> None:
    """Fold the rows in the temporary tables into the read model (see the module docstring)."""
    conn.execute("SELECT stats_fold_rows()")


def fold_pending(conn: psycopg.Connection[Any], site_ids: Collection[str] | None = None) -> int:
    """Fold the pending rows of `site_ids` (every site when None) into the read model, in the
    caller's transaction; returns how many. Waits for ingest transactions of those sites."""
    row = conn.execute(
        "SELECT stats_fold_pending(%s::text[])", (None if site_ids is None else list(site_ids),)
    ).fetchone()
    return int(row[0]) if row else 0


def pending_rows(conn: psycopg.Connection[Any]) -> int:
    """How many inserted rows wait for a fold: the keys plus the rows the ranges count."""
    row = conn.execute(
        "SELECT (SELECT count(*) FROM stats_pending)"
        " + (SELECT coalesce(sum(row_count), 0) FROM stats_pending_ranges)"
    ).fetchone()
    return int(row[0]) if row else 0


def rebuild(conn: psycopg.Connection[Any], site_ids: Collection[str] | None = None) -> None:
    """Recompute the read model from the raw rows, for `site_ids` or for every site.

    For rows loaded without the ingest transaction (benchmarks, backfills); in the caller's
    transaction, it locks the sites (ingest and folds for them wait) and drops their pending
    rows, which it counts.
    """
    conn.execute(
        "SELECT stats_rebuild(%s::text[])", (None if site_ids is None else list(site_ids),)
    )


def unknown_sites(conn: psycopg.Connection[Any], site_ids: Collection[str]) -> list[str]:
    """The ids among `site_ids` that no site has, in their order."""
    known = {
        site_id
        for (site_id,) in conn.execute(
            "SELECT site_id FROM sites WHERE site_id = ANY(%s)", (list(site_ids),)
        )
    }
    return [site_id for site_id in site_ids if site_id not in known]


def table_rows(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """How many rows each read-model table holds."""
    counts: dict[str, int] = {}
    for table in READ_MODEL_TABLES:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        ).fetchone()
        counts[table] = int(row[0]) if row else 0
    return counts


def expire(conn: psycopg.Connection[Any], before: date) -> int:
    """Forget the day spans of sessions whose rows are all dated before `before` (the rollups
    themselves go with their daily partitions), the fact blocks those days reach and the
    forgotten sessions' numbers; returns how many spans."""
    row = conn.execute("SELECT stats_expire(%s)", (before,)).fetchone()
    # Fact blocks of the days whose rows (or their neighbours' rows) may be gone: a local day
    # reaches a UTC day either side, and a block reads the days beside its own.
    conn.execute("DELETE FROM stats_fact_blocks WHERE day <= %s", (before + timedelta(days=2),))
    # And the numbers of the sessions just forgotten: no block left holds them (a block
    # after those days holds only sessions with a row on or after `before`, whose span stays).
    conn.execute(
        "DELETE FROM stats_session_numbers AS n WHERE NOT EXISTS (SELECT FROM stats_sessions"
        " AS s WHERE s.site_id = n.site_id AND s.session_id = n.session_id)"
    )
    return int(row[0]) if row else 0


class PostgresReadModel:
    """The read model in PostgreSQL, one transaction a call.

    `statement_timeout_ms` bounds each statement (the fold before a query uses the query's
    deadline, the scheduled one minutes); a statement past it is `QueryTimeoutError`, any other
    database failure `StoreUnavailableError`."""

    def __init__(
        self, pool: Pool, *, statement_timeout_ms: int = FOLD_STATEMENT_TIMEOUT_MS
    ) -> None:
        self._pool = pool
        self._timeout_ms = statement_timeout_ms

    def fold_pending(self, site_ids: Collection[str] | None = None) -> int:
        """Fold the pending rows of `site_ids` (every site when None); returns how many."""
        with deadline("the read model's fold"), self._transaction() as conn:
            return fold_pending(conn, site_ids)

    def rebuild(
        self, site_ids: Collection[str] | None = None, *, timeout: timedelta | None = None
    ) -> dict[str, int]:
        """Recompute the read model of `site_ids` (every site when None) from the stored rows;
        returns how many rows each table holds. An unknown site is `NotFoundError`, before
        anything is done."""
        with deadline("the read model's rebuild"), self._transaction(timeout) as conn:
            missing = unknown_sites(conn, site_ids) if site_ids is not None else []
            if missing:
                raise NotFoundError("site", missing[0])
            rebuild(conn, site_ids)
            return table_rows(conn)

    def forget_local_days(self, site_ids: Collection[str]) -> None:
        """Delete the sites' fact blocks (kept by local day; the fact-block reader builds
        them again in the site's current zone as it reads); the rollups are by UTC day."""
        with deadline("the read model's zone change"), self._transaction() as conn:
            conn.execute("DELETE FROM stats_fact_blocks WHERE site_id = ANY(%s)", (list(site_ids),))

    def expire(self, before: date) -> int:
        """Forget the spans of sessions whose every row is dated before `before`."""
        with deadline("the read model's expiry"), self._transaction() as conn:
            return expire(conn, before)

    # Beyond the port: what the contract tests and operators look at.
    def pending(self) -> int:
        """How many stored rows wait for a fold."""
        with self._transaction() as conn:
            return pending_rows(conn)

    def _transaction(
        self, timeout: timedelta | None = None
    ) -> AbstractContextManager[psycopg.Connection[Any]]:
        ms = self._timeout_ms if timeout is None else max(1, timeout // timedelta(milliseconds=1))
        return transaction(self._pool, statement_timeout_ms=ms)
