"""The `analytics` command line: operations on a deployment or the local stack.

Every command reads the same settings as the Lambda functions (`DATABASE_URL`, ...).
"""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from analytics_core.config import Settings
from analytics_core.errors import AnalyticsError
from analytics_core.partitions import DEFAULT_DAYS_AHEAD
from entrypoints import bootstrap, logs
from entrypoints.operations import run_maintenance, run_migrations

app = typer.Typer(
    help="Privacy-first web analytics: operations and the local stack.", no_args_is_help=True
)


def _services(application: str) -> bootstrap.Services:
    return bootstrap.build(Settings.from_environ(os.environ), application=application)


def _fail(exc: AnalyticsError) -> typer.Exit:
    typer.secho(f"error: {exc.message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


@app.command()
def migrate() -> None:
    """Apply pending SQL migrations, then create the coming days' partitions."""
    try:
        services = _services("analytics-migrate")
        try:
            summary = run_migrations(services)
        finally:
            services.close()
    except AnalyticsError as exc:
        raise _fail(exc) from exc
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
) -> None:
    """Create the coming days' partitions and drop those past HOT_RETENTION_DAYS."""
    try:
        services = _services("analytics-partitions")
        try:
            summary = run_maintenance(services, days_ahead)
        finally:
            services.close()
    except AnalyticsError as exc:
        raise _fail(exc) from exc
    typer.echo(json.dumps(summary))


def main() -> None:
    """Console-script entry point."""
    logs.configure()
    app()


if __name__ == "__main__":
    main()
