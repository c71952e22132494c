"""Operations shared by the migrate/maintenance handlers and the CLI."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from analytics_core.errors import InvalidRequestError, NotFoundError
from analytics_core.management import retry_site_deletions
from analytics_core.partitions import DEFAULT_DAYS_AHEAD, MaintenanceReport, maintain_partitions
from analytics_core.plans import start_allowance_periods
from analytics_core.privacy import expire_salts
from entrypoints import logs
from entrypoints.bootstrap import Services

logger = logging.getLogger(__name__)

ScheduledHandler = Callable[[object, object], dict[str, Any]]
"""A Lambda handler that ignores its event and returns the operation's summary."""


def maintenance_summary(report: MaintenanceReport) -> dict[str, Any]:
    """A maintenance report as JSON-ready data."""
    return {
        "created": [day.isoformat() for day in report.created],
        "dropped": [day.isoformat() for day in report.dropped],
        "keepFrom": report.keep_from.isoformat(),
        "expiredDefaultRows": report.expired_default_rows,
    }


def run_maintenance(
    services: Services, days_ahead: int = DEFAULT_DAYS_AHEAD, *, retry_deletions: bool = True
) -> dict[str, Any]:
    """Create and drop the event tables' daily partitions for today; delete the compliance
    salts that are two days old (after which level-0 session ids can no longer be linked);
    start the month's allowance period of the sites still in an earlier one;
    with `retry_deletions`, run again the cold part of the site deletions not done yet."""
    report = maintain_partitions(
        services.partitions,
        services.clock,
        days_ahead=days_ahead,
        retention_days=services.settings.hot_retention_days,
    )
    summary = maintenance_summary(report)
    summary["expiredSalts"] = expire_salts(services.daily_salts, services.clock)
    summary["allowancePeriodsStarted"] = start_allowance_periods(services.plans, services.clock)
    if retry_deletions:
        summary["siteDeletions"] = run_site_deletions(services)
    return summary


def run_site_deletions(services: Services) -> dict[str, Any]:
    """Erase again the cold rows of the deleted sites whose cold deletion is not done (it
    failed, timed out, or ran within the late-delivery window); the cold store is reached only
    when some are pending. Each failure is logged as a warning."""
    if not services.site_deletions.pending():
        return {"done": [], "waiting": [], "failed": []}
    retries = retry_site_deletions(
        services.site_deletions, services.cold_site_eraser, services.clock
    )
    for site_id in retries.failed:
        logger.warning("cold deletion of site %s failed again; it stays pending", site_id)
    return {
        "done": list(retries.done),
        "waiting": list(retries.waiting),
        "failed": list(retries.failed),
    }


def rebuild_read_model(
    services: Services, site_ids: Sequence[str] | None, *, statement_timeout_ms: int
) -> dict[str, Any]:
    """Recompute the hot store's read model from the raw rows, for `site_ids` (every site when
    None), in one transaction: ingest for those sites waits meanwhile. For rows that reached the
    event tables by another way than the ingest transaction (a restore, a manual fix).

    Raises `InvalidRequestError` naming the first unknown site, before anything is done."""
    started = time.perf_counter()
    try:
        rows = dict(
            services.read_model.rebuild(
                site_ids, timeout=timedelta(milliseconds=statement_timeout_ms)
            )
        )
    except NotFoundError as exc:
        raise InvalidRequestError.for_field("site", f"no site {exc.key}") from exc
    return {
        "sites": "all" if site_ids is None else list(site_ids),
        "rows": rows,
        "durationMs": round((time.perf_counter() - started) * 1000),
    }


def run_fold(services: Services) -> dict[str, Any]:
    """Fold every pending row into the hot store's read model (one transaction)."""
    started = time.perf_counter()
    folded = services.read_model.fold_pending()
    return {"foldedRows": folded, "durationMs": round((time.perf_counter() - started) * 1000)}


def run_migrations(services: Services) -> dict[str, Any]:
    """Apply pending migrations and the new or changed function files (`sql/functions/`), then
    make sure today's partitions exist."""
    report = services.migrator.migrate()
    return {
        "applied": list(report.applied),
        "alreadyApplied": len(report.already_applied),
        "unknown": list(report.unknown),
        "functions": list(report.repeatables_applied),
        "partitions": run_maintenance(services, retry_deletions=False),
    }


def make_migrate_handler(services: Services) -> ScheduledHandler:
    """The deploy-time migrate handler: raises on failure so that the deploy fails."""
    services.migrator  # noqa: B018  # fail at cold start when the database is not configured
    return _logged_handler(services, run_migrations, "migrated")


def make_maintenance_handler(services: Services) -> ScheduledHandler:
    """The daily partition-maintenance handler (the schedule's event is ignored)."""
    services.partitions  # noqa: B018  # fail at cold start when the database is not configured
    return _logged_handler(services, run_maintenance, "partitions maintained")


def make_fold_handler(services: Services) -> ScheduledHandler:
    """The read-model fold handler, run every minute (the schedule's event is ignored)."""
    services.read_model  # noqa: B018  # fail at cold start when the database is not configured
    return _logged_handler(services, run_fold, "read model folded")


def _logged_handler(
    services: Services, operation: Callable[[Services], dict[str, Any]], message: str
) -> ScheduledHandler:
    """A handler running `operation` and logging its summary as one JSON line."""

    def handle(_event: object, _context: object) -> dict[str, Any]:
        summary = operation(services)
        logs.log_json(logger, message, **summary)
        return summary

    return handle
