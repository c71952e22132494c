"""`Plans` in PostgreSQL: `plans` and `sites.plan` / `sites.allowance_period_start`
(sql/migrations/0010).

A new period never races ingest's charge: both lock the sites' rows, and both in site-id
order (ingest: adapters/postgres/events.py), so they wait for each other instead of
deadlocking, and a charge sees either the old period's allowance or the new one, never a mix.
"""

from __future__ import annotations

from datetime import date

from adapters.postgres.pool import Pool, transaction
from analytics_core.allowance import Plan
from analytics_core.errors import NotFoundError

_START_PERIODS = """
WITH due AS (
    SELECT s.site_id
    FROM sites AS s
    WHERE s.allowance_period_start < %(first_day)s
      AND EXISTS (SELECT 1 FROM plans AS p WHERE p.plan = s.plan)
    ORDER BY s.site_id
    LIMIT %(batch_size)s
    FOR UPDATE OF s
)
UPDATE sites AS s
SET request_allowance = p.monthly_allowance, allowance_period_start = %(first_day)s
FROM due, plans AS p
WHERE s.site_id = due.site_id AND p.plan = s.plan AND s.allowance_period_start < %(first_day)s
"""


class PostgresPlans:
    """Plans and allowance periods on the database of `pool`."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def list_plans(self) -> list[Plan]:
        """Every plan, by name."""
        with transaction(self._pool) as conn:
            rows = conn.execute(
                "SELECT plan, monthly_allowance FROM plans ORDER BY plan"
            ).fetchall()
        return [Plan(name, int(allowance)) for name, allowance in rows]

    def save_plan(self, plan: Plan) -> None:
        """Upsert the plan."""
        with transaction(self._pool) as conn:
            conn.execute(
                "INSERT INTO plans (plan, monthly_allowance) VALUES (%s, %s)"
                " ON CONFLICT (plan) DO UPDATE SET monthly_allowance = EXCLUDED.monthly_allowance",
                (plan.plan, plan.monthly_allowance),
            )

    def assign(self, site_id: str, plan: str) -> bool:
        """Set the site's plan; `NotFoundError` for an unknown plan."""
        with transaction(self._pool) as conn:
            if conn.execute("SELECT 1 FROM plans WHERE plan = %s", (plan,)).fetchone() is None:
                raise NotFoundError("plan", plan)
            updated = conn.execute(
                "UPDATE sites SET plan = %s WHERE site_id = %s", (plan, site_id)
            ).rowcount
        return updated == 1

    def start_periods(self, first_day: date, batch_size: int) -> int:
        """One statement: lock up to `batch_size` due sites in site-id order and renew them."""
        with transaction(self._pool) as conn:
            cursor = conn.execute(
                _START_PERIODS, {"first_day": first_day, "batch_size": batch_size}
            )
            return cursor.rowcount
