"""Hot-store retention: which daily partitions of the event tables should exist.

The event tables are range-partitioned by `dt`. Each day a maintenance run creates the
partitions from yesterday to `days_ahead` days ahead and drops those older than the hot
retention, which is always longer than the query window so a hot query never finds a day
already gone. Rows whose partition is missing land in a default partition instead of failing;
creating their partition later moves them in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import attrs

from analytics_core.ports import Clock, EventPartitions

DEFAULT_DAYS_AHEAD = 7


@attrs.frozen
class PartitionPlan:
    """The days whose partitions to create and to drop, and the first day kept."""

    create: tuple[date, ...]
    drop: tuple[date, ...]
    keep_from: date


@attrs.frozen
class MaintenanceReport:
    """What a maintenance run did."""

    created: tuple[date, ...]
    dropped: tuple[date, ...]
    keep_from: date
    expired_default_rows: int


def plan_partitions(
    today: date, existing: Iterable[date], *, days_ahead: int, retention_days: int
) -> PartitionPlan:
    """Create yesterday..today+days_ahead where missing; drop days before today-retention."""
    if days_ahead < 0 or retention_days < 1:
        raise ValueError("days_ahead must be >= 0 and retention_days >= 1")
    existing_days = set(existing)
    keep_from = today - timedelta(days=retention_days)
    wanted = {today + timedelta(days=offset) for offset in range(-1, days_ahead + 1)}
    return PartitionPlan(
        create=tuple(sorted(day for day in wanted - existing_days if day >= keep_from)),
        drop=tuple(sorted(day for day in existing_days if day < keep_from)),
        keep_from=keep_from,
    )


def maintain_partitions(
    partitions: EventPartitions,
    clock: Clock,
    *,
    days_ahead: int = DEFAULT_DAYS_AHEAD,
    retention_days: int,
) -> MaintenanceReport:
    """Bring the event tables' daily partitions in line with the plan for today (UTC)."""
    plan = plan_partitions(
        clock().date(),
        partitions.existing_days(),
        days_ahead=days_ahead,
        retention_days=retention_days,
    )
    for day in plan.create:
        partitions.create_day(day)
    for day in plan.drop:
        partitions.drop_day(day)
    expired = partitions.expire_before(plan.keep_from)
    return MaintenanceReport(
        created=plan.create,
        dropped=plan.drop,
        keep_from=plan.keep_from,
        expired_default_rows=expired,
    )
