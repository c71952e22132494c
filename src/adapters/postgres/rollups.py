"""The hot store's read model, folded from the rows the ingest transactions recorded.

The event store (adapters/postgres/events.py) records the rows it inserted, in the
transaction that inserts them, as one range of event ids per site and table in
`stats_pending_ranges` (the ingest code of the previous version, still running during a
deploy, writes one key per row to `stats_pending`; both are folded). `fold_pending` moves
pending rows into the read model (sql/migrations/0007_stats_pending_ranges.sql, after
0006_stats_pending.sql): it runs on a schedule and before every hot-store query of the queried
sites, so answers count every committed event. Underneath it is `apply_rollups`, whose
contract is: within one transaction, the temporary tables `ingest_new_events` and
`ingest_new_initial_events` (the columns of `events` and `initial_events`) hold exactly the
rows to fold, and nobody can add rows for their sites until the transaction commits. The
transaction must be READ COMMITTED (the default).

The read model (sql/migrations/0002_stats_read_model.sql) is three rollup tables partitioned
by day like the event tables: `stats_daily` (per site, day, dimension and value), `stats_hourly`
(per site and hour) and `stats_repeats` (the sessions seen again on a later day, which makes
distinct visitors over a range exact). Maintenance works by session: the sessions the batch
touched are recomputed from their raw rows before and after the batch, and the difference is
added; `rebuild_rollups` computes the same from scratch. `stats_sessions` keeps each session's
span of days so that only those days' partitions are read (0003_stats_sessions.sql). The SQL
lives in the migrations, as PL/pgSQL functions, so that one round trip does the work.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import psycopg
from psycopg import sql

READ_MODEL_TABLES = ("stats_daily", "stats_hourly", "stats_repeats", "stats_session_days")
"""The rollup tables; partitioned by `dt` with the event tables' partition names."""


def apply_rollups(conn: psycopg.Connection[Any]) -> None:
    """Fold the rows in the temporary tables into the read model (see the module docstring)."""
    conn.execute("SELECT stats_fold_rows()")


def fold_pending(conn: psycopg.Connection[Any], site_ids: Sequence[str] | None = None) -> int:
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


def rebuild_rollups(conn: psycopg.Connection[Any], site_ids: Sequence[str] | None = None) -> None:
    """Recompute the read model from the raw rows, for `site_ids` or for every site.

    For rows loaded without the ingest transaction (benchmarks, backfills); in the caller's
    transaction, it locks the sites (ingest and folds for them wait) and drops their pending
    rows, which it counts.
    """
    conn.execute(
        "SELECT stats_rebuild(%s::text[])", (None if site_ids is None else list(site_ids),)
    )


def unknown_sites(conn: psycopg.Connection[Any], site_ids: Sequence[str]) -> list[str]:
    """The ids among `site_ids` that no site has, in their order."""
    known = {
        site_id
        for (site_id,) in conn.execute(
            "SELECT site_id FROM sites WHERE site_id = ANY(%s)", (list(site_ids),)
        )
    }
    return [site_id for site_id in site_ids if site_id not in known]


def read_model_rows(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """How many rows each read-model table holds."""
    counts: dict[str, int] = {}
    for table in READ_MODEL_TABLES:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        ).fetchone()
        counts[table] = int(row[0]) if row else 0
    return counts


def expire_read_model(conn: psycopg.Connection[Any], before: date) -> int:
    """Forget the day spans of sessions whose rows are all dated before `before` (the rollups
    themselves go with their daily partitions); returns how many."""
    row = conn.execute("SELECT stats_expire(%s)", (before,)).fetchone()
    return int(row[0]) if row else 0
