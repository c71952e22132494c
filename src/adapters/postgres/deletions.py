"""`SiteDeletions` on PostgreSQL: a site's hot rows and the site itself, deleted in one
transaction, and the cold deletion jobs of `site_deletions` (sql/migrations/0011).

Which tables hold a site's rows is read from the catalogue at deletion time: every table of
the schema with a `site_id` column (a partitioned table once, for all its partitions), so a
table added by a later migration is covered without a change here. `sites` goes last and
`site_deletions` (the job itself) is left alone; daily salts are per day, not per site.

The site's row is locked first (`FOR UPDATE`, as ingest locks it to charge the allowance), so
a batch of the site being stored meanwhile either commits before the deletion reads anything
or finds the site gone and counts its rows `unknown_site`.
"""

from __future__ import annotations

from datetime import datetime

from psycopg import sql

from adapters.postgres.pool import Pool, transaction
from analytics_core.deletions import DeletionRequest

# Deleting a big site's rows across every daily partition takes a while: more than the
# default statement timeout, less than the API's 29 s.
DELETE_TIMEOUT_MS = 20_000
_KEPT = ("sites", "site_deletions")

_SITE_TABLES = """
SELECT c.relname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'site_id' AND NOT a.attisdropped
WHERE n.nspname = current_schema()
  AND c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND c.relname <> ALL (%s)
ORDER BY c.relname
"""


class PostgresSiteDeletions:
    """Hot deletion and the cold deletion jobs."""

    def __init__(self, pool: Pool, *, statement_timeout_ms: int = DELETE_TIMEOUT_MS) -> None:
        self._pool = pool
        self._timeout_ms = statement_timeout_ms

    def delete_hot(self, owner: str, site_id: str, requested_at: datetime) -> bool:
        """Delete the owner's site and its rows of every table, and record the cold job."""
        with transaction(self._pool, statement_timeout_ms=self._timeout_ms) as conn:
            found = conn.execute(
                "SELECT 1 FROM sites WHERE site_id = %s AND owner_sub = %s FOR UPDATE",
                (site_id, owner),
            ).fetchone()
            if found is None:
                return False
            tables = [name for (name,) in conn.execute(_SITE_TABLES, (list(_KEPT),))]
            for table in tables:
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE site_id = %s").format(sql.Identifier(table)),
                    (site_id,),
                )
            conn.execute("DELETE FROM sites WHERE site_id = %s", (site_id,))
            conn.execute(
                "INSERT INTO site_deletions (site_id, requested_at) VALUES (%s, %s) "
                "ON CONFLICT (site_id) DO UPDATE SET requested_at = EXCLUDED.requested_at, "
                "cold_done_at = NULL, last_error = NULL",
                (site_id, requested_at),
            )
        return True

    def pending(self) -> list[DeletionRequest]:
        """The deletions whose cold part is not done, oldest request first."""
        with transaction(self._pool) as conn:
            rows = conn.execute(
                "SELECT site_id, requested_at FROM site_deletions WHERE cold_done_at IS NULL "
                "ORDER BY requested_at, site_id"
            ).fetchall()
        return [DeletionRequest(site_id, requested_at) for site_id, requested_at in rows]

    def cold_done(self, site_id: str, done_at: datetime) -> None:
        """Mark the job done."""
        with transaction(self._pool) as conn:
            conn.execute(
                "UPDATE site_deletions SET cold_done_at = %s, attempts = attempts + 1, "
                "last_error = NULL WHERE site_id = %s",
                (done_at, site_id),
            )

    def cold_failed(self, site_id: str, error: str) -> None:
        """Count a failed attempt and keep its reason."""
        with transaction(self._pool) as conn:
            conn.execute(
                "UPDATE site_deletions SET attempts = attempts + 1, last_error = %s "
                "WHERE site_id = %s",
                (error[:2000], site_id),
            )
