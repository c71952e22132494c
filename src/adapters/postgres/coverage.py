"""`HotCoverage` in PostgreSQL: the one row of `hot_coverage` (sql/migrations/0008)."""

from __future__ import annotations

from datetime import date

from adapters.postgres.pool import Pool, transaction


class PostgresHotCoverage:
    """The first day the hot store is complete, read from the database on every call."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def since(self) -> date | None:
        """The stored value (None: complete for every day)."""
        with transaction(self._pool) as conn:
            row = conn.execute("SELECT since FROM hot_coverage").fetchone()
        return None if row is None else row[0]

    def set_since(self, day: date | None) -> None:
        """Store `day` (None: complete for every day)."""
        with transaction(self._pool) as conn:
            # An upsert: a missing row (an emptied table) means NULL, like the migration's.
            conn.execute(
                "INSERT INTO hot_coverage (only_row, since) VALUES (true, %s)"
                " ON CONFLICT (only_row) DO UPDATE"
                " SET since = EXCLUDED.since, updated_at = CURRENT_TIMESTAMP",
                (day,),
            )

    def move_back(self, day: date) -> date | None:
        """Store `day` when it is earlier than the stored day (a NULL stays NULL); returns
        the value now. One statement, so concurrent callers cannot move it forward."""
        with transaction(self._pool) as conn:
            conn.execute(
                "UPDATE hot_coverage SET since = %s, updated_at = CURRENT_TIMESTAMP"
                " WHERE since > %s",
                (day, day),
            )
            row = conn.execute("SELECT since FROM hot_coverage").fetchone()
        return None if row is None else row[0]
