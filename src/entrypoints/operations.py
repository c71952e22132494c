"""Operations shared by the migrate/maintenance handlers and the CLI."""

from __future__ import annotations

import logging
from typing import Any

from analytics_core.partitions import DEFAULT_DAYS_AHEAD, MaintenanceReport, maintain_partitions
from analytics_core.privacy import expire_salts
from entrypoints import logs
from entrypoints.bootstrap import Services

logger = logging.getLogger(__name__)


def maintenance_summary(report: MaintenanceReport) -> dict[str, Any]:
    """A maintenance report as JSON-ready data."""
    return {
        "created": [day.isoformat() for day in report.created],
        "dropped": [day.isoformat() for day in report.dropped],
        "keepFrom": report.keep_from.isoformat(),
        "expiredDefaultRows": report.expired_default_rows,
    }


def run_maintenance(services: Services, days_ahead: int = DEFAULT_DAYS_AHEAD) -> dict[str, Any]:
    """Create and drop the event tables' daily partitions for today; delete the compliance
    salts that are two days old (after which level-0 session ids can no longer be linked)."""
    report = maintain_partitions(
        services.partitions,
        services.clock,
        days_ahead=days_ahead,
        retention_days=services.settings.hot_retention_days,
    )
    summary = maintenance_summary(report)
    summary["expiredSalts"] = expire_salts(services.daily_salts, services.clock)
    return summary


def run_migrations(services: Services) -> dict[str, Any]:
    """Apply pending migrations, then make sure today's partitions exist."""
    report = services.migrator.migrate()
    return {
        "applied": list(report.applied),
        "alreadyApplied": len(report.already_applied),
        "unknown": list(report.unknown),
        "partitions": run_maintenance(services),
    }


def make_migrate_handler(services: Services) -> Any:
    """The deploy-time migrate handler: raises on failure so that the deploy fails."""
    services.migrator  # noqa: B018  # fail at cold start when the database is not configured

    def handle(_event: object, _context: object) -> dict[str, Any]:
        summary = run_migrations(services)
        logs.log_json(logger, "migrated", **summary)
        return summary

    return handle


def make_maintenance_handler(services: Services) -> Any:
    """The daily partition-maintenance handler (the schedule's event is ignored)."""
    services.partitions  # noqa: B018  # fail at cold start when the database is not configured

    def handle(_event: object, _context: object) -> dict[str, Any]:
        summary = run_maintenance(services)
        logs.log_json(logger, "partitions maintained", **summary)
        return summary

    return handle
