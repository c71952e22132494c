"""What the `analytics` commands share: their common options, the consoles (tables to stdout;
progress, logs and errors to stderr), how a command finds its services and how it fails.

Each command finds its database the same way (`entrypoints.local.stack.local_services`):
`DATABASE_URL`, else the embedded PostgreSQL of `--data-dir`, started when it is not running,
so every command also works beside a running `analytics serve`. `--json` gives
machine-readable output on stdout instead of tables.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from analytics_core.errors import AnalyticsError
from entrypoints import bootstrap
from entrypoints.local.stack import local_services

DEFAULT_OWNER = "local"

DataDirOption = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        help="Folder of the local stack (embedded database, lake, failures).",
    ),
]
OwnerOption = Annotated[
    str,
    typer.Option(
        "--owner",
        help="The owner (Cognito sub); the API's dev login `Bearer dev:<owner>` is the same.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Read and count; store and move nothing.")
]
KeepOption = Annotated[bool, typer.Option("--keep", help="Leave replayed objects where they are.")]

out = Console()
err = Console(stderr=True)


def fail(exc: AnalyticsError) -> typer.Exit:
    """Print an error of the product's tree and exit non-zero."""
    err.print(f"[red]error:[/red] {exc.message}", highlight=False)
    for field, problem in getattr(exc, "fields", {}).items():
        err.print(f"  {field}: {problem}", highlight=False)
    return typer.Exit(code=1)


@contextlib.contextmanager
def command_services(
    data_dir: Path, application: str, **kwargs: Any
) -> Iterator[bootstrap.Services]:
    """`local_services`; an error of the product's tree, there or in the block, ends the
    command (`fail`)."""
    try:
        with local_services(data_dir, application=application, **kwargs) as services:
            yield services
    except AnalyticsError as exc:
        raise fail(exc) from exc


def progress_bars(label: str = "[bold]{task.description}") -> Progress:
    """Progress bars on stderr: label, bar, done of total, time elapsed."""
    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    )
