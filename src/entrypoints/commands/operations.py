"""`analytics migrate | partitions | fold-stats | rebuild-stats`: the operations the deployment
runs on a schedule or on every deploy, by hand (on a deployment with `DATABASE_URL`, or on the
local stack's database)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from analytics_core.partitions import DEFAULT_DAYS_AHEAD
from entrypoints.commands.common import DataDirOption, command_services
from entrypoints.local.stack import DEFAULT_DATA_DIR
from entrypoints.operations import (
    rebuild_read_model,
    run_fold,
    run_maintenance,
    run_migrations,
)


def migrate(data_dir: DataDirOption = DEFAULT_DATA_DIR) -> None:
    """Apply pending SQL migrations and the new or changed function files (sql/functions/),
    then create the coming days' partitions."""
    with command_services(data_dir, "analytics-migrate", migrate=False) as services:
        summary = run_migrations(services)
    for what, names in (("migration", summary["applied"]), ("function file", summary["functions"])):
        typer.echo(f"applied {len(names)} {what}(s)" + (f": {', '.join(names)}" if names else ""))
    typer.echo(json.dumps(summary["partitions"]))


def partitions(
    days_ahead: Annotated[
        int, typer.Option(min=0, help="Create partitions this many days ahead.")
    ] = DEFAULT_DAYS_AHEAD,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
) -> None:
    """Create the coming days' partitions and drop those past HOT_RETENTION_DAYS."""
    with command_services(data_dir, "analytics-partitions", migrate=False) as services:
        summary = run_maintenance(services, days_ahead)
    typer.echo(json.dumps(summary))


def fold_stats(data_dir: DataDirOption = DEFAULT_DATA_DIR) -> None:
    """Fold the events ingested since the last fold into the hot store's read model.

    The deployment does it every minute, `serve` too, and every query for its own sites first.
    """
    with command_services(data_dir, "analytics-fold-stats", migrate=False) as services:
        summary = run_fold(services)
    typer.echo(json.dumps(summary))


def rebuild_stats(
    site: Annotated[
        list[str] | None,
        typer.Option("--site", help="Rebuild this site only (repeatable); default: every site."),
    ] = None,
    timeout: Annotated[
        int, typer.Option(min=1, help="Statement timeout in seconds (a million rows: ~1 min).")
    ] = 3600,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
) -> None:
    """Recompute the hot store's read model (the dashboards' rollups) from the stored events.

    Needed only after rows reached the event tables by another way than ingest (a restore, a
    manual fix); the rows that ingest and replay store are folded in by `fold-stats`.
    """
    with command_services(data_dir, "analytics-rebuild-stats", migrate=False) as services:
        summary = rebuild_read_model(services, site or None, statement_timeout_ms=timeout * 1000)
    typer.echo(json.dumps(summary))
