"""The `analytics` commands of the migration from the DynamoDB version: `hot-coverage`,
`backfill-hot`, `verify-migration` (README: "Migrating from the DynamoDB version").

They find the database like every command (`DATABASE_URL`, else the embedded server of
`--data-dir`) and the cold store like the query function: the local lake with
`LOCAL_LAKE_DIR` (the local stack's default), else Athena (`ATHENA_*`). Tables and summaries
go to stdout, progress and errors to stderr; `--json` prints one JSON object instead.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from analytics_core.backfill import (
    BackfillReport,
    VerificationReport,
    backfill_hot,
    verify_migration,
)
from entrypoints.commands.common import (
    DataDirOption,
    DryRunOption,
    JsonOption,
    command_services,
    err,
    out,
)
from entrypoints.local.stack import DEFAULT_DATA_DIR

DaysOption = Annotated[
    int | None,
    typer.Option(
        "--days", min=1, help="The last N UTC days, today included (default: HOT_RETENTION_DAYS)."
    ),
]
SiteOption = Annotated[
    list[str] | None,
    typer.Option("--site", help="Only this site (repeatable); default: every registered site."),
]


ClearOption = Annotated[
    bool, typer.Option("--clear", help="The hot store is complete for every day.")
]


def _day(text: str, option: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is None or len(text) != len("YYYY-MM-DD"):
        err.print(f"[red]error:[/red] {option} must be a date YYYY-MM-DD, not {text!r}")
        raise typer.Exit(code=2)
    return day


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


# hot-coverage --------------------------------------------------------------------------------
def hot_coverage(
    since: Annotated[
        str | None,
        typer.Option("--since", help="Set the first UTC day the hot store is complete."),
    ] = None,
    clear: ClearOption = False,  # noqa: FBT002  # a typer flag
    json_output: JsonOption = False,  # noqa: FBT002  # a typer flag
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
) -> None:
    """Show or set the first UTC day from which the hot store is complete.

    A query range starting earlier is answered by the cold store, even inside the hot window.
    A fresh install is complete for every day (null); the cutover sets the cutover day, and
    `backfill-hot` moves it back to the first day it copied.
    """
    if since is not None and clear:
        err.print("[red]error:[/red] give --since or --clear, not both")
        raise typer.Exit(code=2)
    day = None if since is None else _day(since, "--since")
    with command_services(data_dir, "analytics-hot-coverage") as services:
        coverage = services.hot_coverage
        if day is not None or clear:
            coverage.set_since(day)
        current = coverage.since()
    if json_output:
        typer.echo(json.dumps({"since": _iso(current)}))
    elif current is None:
        out.print("hot store: complete for every day (every range in the hot window is hot)")
    else:
        out.print(f"hot store: complete from {current} (ranges starting earlier go cold)")


# backfill-hot --------------------------------------------------------------------------------
def backfill_json(report: BackfillReport) -> dict[str, Any]:
    """The `--json` summary of `backfill-hot`."""
    return {
        "days": [report.first.isoformat(), report.last.isoformat()],
        "read": report.read,
        "inserted": report.inserted,
        "present": report.present,
        "sites": report.sites,
        "hotSince": _iso(report.hot_since),
    }


class _BackfillBar:
    """A progress bar over the days, with the rows handled so far."""

    def __init__(self, progress: Progress, days: int) -> None:
        self.progress = progress
        self.task = progress.add_task("backfill", total=days)
        self.started = False
        self.rows = 0

    def __call__(self, day: date, rows: int) -> None:
        if rows == 0:
            if self.started:
                self.progress.advance(self.task, 1)
            self.started = True
        self.rows += rows
        self.progress.update(self.task, description=f"{day} ({self.rows:,} rows)")

    def finish(self) -> None:
        if self.started:
            self.progress.advance(self.task, 1)


def backfill_hot_command(
    days: DaysOption = None,
    site: SiteOption = None,
    dry_run: DryRunOption = False,  # noqa: FBT002  # a typer flag
    json_output: JsonOption = False,  # noqa: FBT002  # a typer flag
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
) -> None:
    """Copy the events of the last N UTC days from the cold store into PostgreSQL.

    Partitions are created as needed, rows already stored are skipped (by event_uid), the
    read model is brought up to date for the sites touched, and the hot coverage moves back
    to the first day copied (never forward; only in a run of every site, as it holds for all).
    It works newest day first, in batches: run it again after an interruption and it completes
    the copy, inserting nothing twice.
    """
    with command_services(data_dir, "analytics-backfill-hot") as services:
        count = days or services.settings.hot_retention_days
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=json_output,
        )
        bar = _BackfillBar(progress, count)
        with progress:
            report = backfill_hot(
                cold=services.cold_events,
                hot=services.hot_copies,
                read_model=services.read_model,
                partitions=services.partitions,
                coverage=services.hot_coverage,
                clock=services.clock,
                days=count,
                site_ids=site or None,
                dry_run=dry_run,
                progress=bar,
            )
            bar.finish()
    if report.skipped:
        err.print(
            f"skipped {report.skipped:,} rows of sites the hot store does not know: "
            + ", ".join(report.unknown_sites[:10])
            + (" ..." if len(report.unknown_sites) > 10 else "")
            + " (import them first: analytics import-dynamodb)",
            highlight=False,
        )
    if json_output:
        typer.echo(json.dumps(backfill_json(report)))
        return
    verb = "would insert" if dry_run else "inserted"
    out.print(
        f"{report.first} .. {report.last}: read {report.read:,} rows of {report.sites} sites, "
        f"{verb} {report.inserted:,}, {report.present:,} already present; "
        f"hot store complete from {_iso(report.hot_since) or 'every day'}",
        highlight=False,
    )


# verify-migration ----------------------------------------------------------------------------
def verification_json(report: VerificationReport) -> dict[str, Any]:
    """The `--json` summary of `verify-migration`."""
    return {
        "days": len(report.days),
        "sites": report.sites,
        "mismatches": [
            {
                "siteId": m.site_id,
                "day": m.day.isoformat(),
                "hot": {"events": m.hot.events, "visitors": m.hot.visitors},
                "cold": {"events": m.cold.events, "visitors": m.cold.visitors},
            }
            for m in report.mismatches
        ],
    }


_COLUMNS = ("site", "day", "hot events", "cold events", "hot visitors", "cold visitors")


def differences_table(report: VerificationReport) -> str:
    """The mismatches as a plain-text table, one line each (never wrapped, for grep)."""
    rows = [
        (m.site_id, m.day.isoformat(), *map(str, (m.hot.events, m.cold.events)),
         *map(str, (m.hot.visitors, m.cold.visitors)))
        for m in report.mismatches
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in (_COLUMNS, *rows)) for i in range(len(_COLUMNS))]

    def line(cells: tuple[str, ...]) -> str:
        text = [cells[0].ljust(widths[0]), cells[1].ljust(widths[1])]
        text += [cell.rjust(width) for cell, width in zip(cells[2:], widths[2:], strict=True)]
        return "  ".join(text)

    return "\n".join(line(r) for r in (_COLUMNS, *rows))


def verify_migration_command(
    days: DaysOption = None,
    site: SiteOption = None,
    json_output: JsonOption = False,  # noqa: FBT002  # a typer flag
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
) -> None:
    """Compare events and visitors per site and UTC day between the hot and the cold store.

    Over the last N days that the hot store covers (from its hot coverage on). Prints the
    differences; exit status 0 when there are none, 1 otherwise. Today's numbers can differ
    while the cold store's delivery buffer (up to 15 minutes in AWS) is still filling.
    """
    with command_services(data_dir, "analytics-verify-migration") as services:
        report = verify_migration(
            cold=services.cold_events,
            hot=services.hot_copies,
            coverage=services.hot_coverage,
            clock=services.clock,
            days=days or services.settings.hot_retention_days,
            site_ids=site or None,
        )
    if json_output:
        typer.echo(json.dumps(verification_json(report)))
    else:
        span = f"{report.days[0]} .. {report.days[-1]}" if report.days else "no day"
        out.print(
            f"compared {len(report.days)} days ({span}) of {report.sites} sites: "
            f"{len(report.mismatches)} differences",
            highlight=False,
        )
        if report.mismatches:
            typer.echo(differences_table(report))
    if report.mismatches:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add the migration commands to `app`."""
    app.command("hot-coverage")(hot_coverage)
    app.command("backfill-hot")(backfill_hot_command)
    app.command("verify-migration")(verify_migration_command)
