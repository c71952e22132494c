"""Request allowances as billing would set them (local tooling only: the demo tops its site
up so that its traffic is not counted as over allowance). The management API never writes
them."""

from __future__ import annotations

from adapters.postgres.pool import Pool, transaction


class PostgresAllowances:
    """Raise a site's remaining allowance."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def ensure_at_least(self, site_id: str, amount: int) -> int:
        """Raise the site's allowance to `amount` when it is lower; returns the allowance."""
        with transaction(self._pool) as conn:
            row = conn.execute(
                """
                UPDATE sites SET request_allowance = GREATEST(request_allowance, %s)
                WHERE site_id = %s RETURNING request_allowance
                """,
                (amount, site_id),
            ).fetchone()
        return int(row[0]) if row is not None else 0
