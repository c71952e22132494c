"""Plans and monthly allowance periods: the operators' use cases (`analytics plans`,
`analytics sites set-plan`) and the daily maintenance's `start_allowance_periods`."""

from __future__ import annotations

from datetime import UTC

from analytics_core.allowance import Plan, period_start
from analytics_core.errors import InvalidRequestError, NotFoundError
from analytics_core.ports import Clock, Plans

PERIOD_BATCH_SIZE = 500
"""Sites renewed per statement: short transactions, so ingest waits little for its locks."""


def start_allowance_periods(plans: Plans, clock: Clock, batch_size: int = PERIOD_BATCH_SIZE) -> int:
    """Start the current month's period for every site whose period began before it, batch
    after batch; returns how many sites were renewed (0 on a second run the same month)."""
    first_day = period_start(clock().astimezone(UTC).date())
    renewed = 0
    while True:
        done = plans.start_periods(first_day, batch_size)
        renewed += done
        if done < batch_size:
            return renewed


def save_plan(plans: Plans, name: str, monthly_allowance: int) -> Plan:
    """Create or change a plan (`InvalidRequestError` for an empty name or a negative
    allowance)."""
    name = name.strip()
    if not name:
        raise InvalidRequestError.for_field("plan", "must not be empty")
    if monthly_allowance < 0:
        raise InvalidRequestError.for_field("monthlyAllowance", "must not be negative")
    plan = Plan(name, monthly_allowance)
    plans.save_plan(plan)
    return plan


def assign_plan(plans: Plans, site_id: str, plan: str) -> None:
    """Put a site on a plan (its allowance follows from its next period); `NotFoundError`
    for a missing site or plan."""
    if not plans.assign(site_id, plan):
        raise NotFoundError("site", site_id)
