"""`analytics import-dynamodb`: carry the sites and preferences of the DynamoDB version over
into `sites` and `accounts` (docs/import-dynamodb.md).

DynamoDB is reached through boto3's defaults (credentials, region, `AWS_ENDPOINT_URL`); the
database as every command finds it (`DATABASE_URL`, else the embedded server of `--data-dir`).
The summary goes to stdout (tables, or one JSON object with `--json`); the progress bar, the
values replaced on the way and errors go to stderr. Exit status: 0 when every item was
imported, 1 when some were refused (the rest imported), 2 when the run could not proceed.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from adapters.aws.dynamodb import DynamoDBLegacyTables
from adapters.postgres.legacy_import import PostgresLegacyImportTarget
from analytics_core.errors import AnalyticsError
from analytics_core.legacy_import import ImportReport, TableCounts, import_legacy
from entrypoints.commands.common import DataDirOption, DryRunOption, JsonOption, err, out
from entrypoints.local.stack import DEFAULT_DATA_DIR, local_services

EXIT_REFUSED = 1
EXIT_CANNOT_PROCEED = 2


class RichImportProgress:
    """An `ImportProgress` drawing one bar per task (reading each table, writing each)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def start(self, task: str, total: int | None) -> None:
        """Add the task's bar."""
        self.tasks[task] = self.progress.add_task(task, total=total)

    def advance(self, task: str, count: int) -> None:
        """Move the task's bar; a total that was an underestimate grows with it."""
        task_id = self.tasks[task]
        current = next(t for t in self.progress.tasks if t.id == task_id)
        if current.total is not None and current.completed + count > current.total:
            self.progress.update(task_id, total=current.completed + count)
        self.progress.advance(task_id, count)


def progress_bar(console: Console, *, as_json: bool) -> Progress:
    """Bars on `console` (stderr), drawn only on a terminal and never beside `--json`."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=as_json or not console.is_terminal,
    )


def report_json(report: ImportReport) -> dict[str, Any]:
    """The summary as `--json` prints it (the shape the issue's contract fixes)."""

    def counts(table: TableCounts) -> dict[str, int]:
        return {
            "read": table.read,
            "created": table.created,
            "updated": table.updated,
            "unchanged": table.unchanged,
            "refused": table.refused,
        }

    return {
        "dryRun": report.dry_run,
        "sites": counts(report.sites),
        "accounts": counts(report.accounts),
        "refused": [{"table": r.table, "key": r.key, "reason": r.reason} for r in report.refused],
        "droppedDomains": [
            {"siteId": d.site_id, "domain": d.domain, "reason": d.reason}
            for d in report.dropped_domains
        ],
        "unknownAttributes": dict(report.unknown_attributes),
    }


def report_tables(report: ImportReport) -> list[Table]:
    """The summary as tables: counts, then whatever was refused, dropped or ignored."""
    title = "import (dry run: nothing written)" if report.dry_run else "import"
    summary = Table(title=title)
    summary.add_column("table")
    for column in ("read", "created", "updated", "unchanged", "refused"):
        summary.add_column(column, justify="right")
    for label, table in (("sites", report.sites), ("accounts", report.accounts)):
        summary.add_row(
            label,
            *(
                f"{n:,}"
                for n in (table.read, table.created, table.updated, table.unchanged, table.refused)
            ),
        )
    tables = [summary]
    if report.refused:
        refused = Table(title="refused items")
        for column in ("table", "key", "reason"):
            refused.add_column(column)
        for refusal in report.refused:
            refused.add_row(refusal.table, refusal.key, refusal.reason)
        tables.append(refused)
    if report.dropped_domains:
        dropped = Table(title="dropped domains (the sites were imported without them)")
        for column in ("site id", "domain", "reason"):
            dropped.add_column(column)
        for domain in report.dropped_domains:
            dropped.add_row(domain.site_id, domain.domain, domain.reason)
        tables.append(dropped)
    if report.unknown_attributes:
        unknown = Table(title="unknown attributes (ignored)")
        unknown.add_column("attribute")
        unknown.add_column("items", justify="right")
        for name, count in report.unknown_attributes.items():
            unknown.add_row(name, f"{count:,}")
        tables.append(unknown)
    return tables


def import_dynamodb(
    sites_table: Annotated[
        str, typer.Option("--sites-table", help="The legacy SitesTable's name.")
    ],
    preferences_table: Annotated[
        str,
        typer.Option("--preferences-table", help="The legacy UserPreferencesTable's name."),
    ],
    dry_run: DryRunOption = False,  # noqa: FBT002  # a typer flag
    as_json: JsonOption = False,  # noqa: FBT002  # a typer flag
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
) -> None:
    """Import the DynamoDB version's sites and user preferences (ids kept; idempotent)."""
    progress = progress_bar(err, as_json=as_json)
    try:
        tables = DynamoDBLegacyTables.from_environment()
        with (
            local_services(data_dir, application="analytics-import-dynamodb") as services,
            progress,
        ):
            report = import_legacy(
                tables,
                PostgresLegacyImportTarget(services.pool),
                services.clock,
                sites_table=sites_table,
                preferences_table=preferences_table,
                dry_run=dry_run,
                progress=RichImportProgress(progress),
            )
    except AnalyticsError as exc:
        err.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(code=EXIT_CANNOT_PROCEED) from exc
    for value in report.replaced:
        err.print(
            f"{value.table} {value.key}: {value.attribute} {value.value} is unknown; "
            f"imported as {value.replacement}",
            highlight=False,
            soft_wrap=True,
        )
    if as_json:
        print(json.dumps(report_json(report), indent=2))  # noqa: T201  # the command's output
    else:
        for table in report_tables(report):
            out.print(table)
    if not report.complete:
        raise typer.Exit(code=EXIT_REFUSED)


def register(app: typer.Typer) -> None:
    """Add `import-dynamodb` to the `analytics` app."""
    app.command("import-dynamodb")(import_dynamodb)
