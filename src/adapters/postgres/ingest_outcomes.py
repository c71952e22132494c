"""`IngestOutcomes` in PostgreSQL: `ingest_outcomes` (sql/migrations/0001), which ingest's
store adds to in the batch's transaction (adapters/postgres/events.py)."""

from __future__ import annotations

from datetime import date

from adapters.postgres.pool import Pool, transaction
from analytics_core.outcomes import Outcome, OutcomeTally


class PostgresIngestOutcomes:
    """Reads a site's outcome counts by day (the primary key's order: site, day, outcome)."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def tallies(self, site_id: str, start: date, end: date) -> list[OutcomeTally]:
        """The site's non-zero counts of days `start`..`end`, by day then outcome."""
        with transaction(self._pool) as conn:
            rows = conn.execute(
                "SELECT dt, outcome, count FROM ingest_outcomes"
                " WHERE site_id = %s AND dt BETWEEN %s AND %s AND count > 0"
                " ORDER BY dt, outcome",
                (site_id, start, end),
            ).fetchall()
        return [OutcomeTally(site_id, day, Outcome(outcome), count) for day, outcome, count in rows]
