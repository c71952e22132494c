"""The `analytics` command line: operations on a deployment or the local stack.

Every command reads the same settings as the Lambda functions (`DATABASE_URL`, ...).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from analytics_core.errors import AnalyticsError
from analytics_core.partitions import DEFAULT_DAYS_AHEAD
from entrypoints import bootstrap, logs
from entrypoints.local import import_command, migration_commands
from entrypoints.local.commands import DataDirOption
from entrypoints.local.commands import register as register_local_commands
from entrypoints.local.stack import DEFAULT_DATA_DIR, local_services
from entrypoints.operations import (
    rebuild_read_model,
    run_fold,
    run_maintenance,
    run_migrations,
)

app = typer.Typer(
    help="Privacy-first web analytics: operations and the local stack.", no_args_is_help=True
)


@contextlib.contextmanager
def _services(application: str, data_dir: Path) -> Iterator[bootstrap.Services]:
    # DATABASE_URL, else the embedded server of --data-dir, as every command finds it; an
    # error of the product's tree, there or in the block, ends the command.
    try:
        with local_services(data_dir, application=application, migrate=False) as services:
            yield services
    except AnalyticsError as exc:
        typer.secho(f"error: {exc.message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=1) from exc


@app.command()
def migrate(data_dir: DataDirOption = DEFAULT_DATA_DIR) -> None:
    """Apply pending SQL migrations, then create the coming days' partitions."""
    with _services("analytics-migrate", data_dir) as services:
        summary = run_migrations(services)
    applied = summary["applied"]
    typer.echo(
        f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else "")
    )
    typer.echo(json.dumps(summary["partitions"]))


@app.command()
def partitions(
    days_ahead: Annotated[
        int, typer.Option(min=0, help="Create partitions this many days ahead.")
    ] = DEFAULT_DAYS_AHEAD,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
) -> None:
    """Create the coming days' partitions and drop those past HOT_RETENTION_DAYS."""
    with _services("analytics-partitions", data_dir) as services:
        summary = run_maintenance(services, days_ahead)
    typer.echo(json.dumps(summary))


@app.command("fold-stats")
def fold_stats(data_dir: DataDirOption = DEFAULT_DATA_DIR) -> None:
    """Fold the events ingested since the last fold into the hot store's read model.

    The deployment does it every minute, `serve` too, and every query for its own sites first.
    """
    with _services("analytics-fold-stats", data_dir) as services:
        summary = run_fold(services)
    typer.echo(json.dumps(summary))


@app.command("rebuild-stats")
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
    with _services("analytics-rebuild-stats", data_dir) as services:
        summary = rebuild_read_model(services, site or None, statement_timeout_ms=timeout * 1000)
    typer.echo(json.dumps(summary))


register_local_commands(app)
import_command.register(app)
migration_commands.register(app)


def main() -> None:
    """Console-script entry point."""
    logs.configure()
    app()


if __name__ == "__main__":
    main()
