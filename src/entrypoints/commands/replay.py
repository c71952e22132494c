"""`analytics replay`: the batches Firehose gave up on, replayed into the stores (the use case
is `analytics_core.replay`; this is its command line: sources, progress bars, the summary)."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import boto3
import typer
from rich.progress import Progress
from rich.table import Table

from adapters.aws.failures import S3FailureObjects
from adapters.local.failures import LocalFailureObjects
from analytics_core.errors import AnalyticsError, ConfigurationError, InvalidRequestError
from analytics_core.failures import ARCHIVE_PREFIX, ReplayTally, StoredObject
from analytics_core.ports import FailureObjectStore
from analytics_core.replay import DEFAULT_CHUNK, Ingest, ReplayProgress, replay
from entrypoints import bootstrap, pipeline
from entrypoints.commands.common import (
    DataDirOption,
    DryRunOption,
    JsonOption,
    KeepOption,
    err,
    fail,
    out,
    progress_bars,
)
from entrypoints.failure_objects import parse_failure_object
from entrypoints.local.stack import DEFAULT_DATA_DIR, local_services


def parse_moment(text: str | None, option: str) -> datetime | None:
    """An ISO date or date-time; naive values are UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequestError.for_field(option, f"not an ISO date or time: {text}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def failure_store(source: str, archive_prefix: str) -> FailureObjectStore:
    """The store of SOURCE: `s3://bucket/prefix` or a local folder."""
    if source.startswith("s3://"):
        return S3FailureObjects.from_url(boto3.client("s3"), source, archive_prefix)
    if "://" in source:
        raise ConfigurationError(
            "SOURCE", f"SOURCE must be s3://bucket/prefix or a folder: {source}"
        )
    return LocalFailureObjects(Path(source), archive_prefix)


class _RichReplayProgress(ReplayProgress):
    """Two bars: objects, and records (whose total grows as objects are read)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.objects = progress.add_task("objects", total=None)
        self.records = progress.add_task("records", total=0)
        self.record_total = 0

    def objects_found(self, objects: Sequence[StoredObject], total_bytes: int) -> None:
        self.progress.update(self.objects, total=len(objects))
        err.print(f"{len(objects)} failure object(s), {total_bytes:,} bytes")

    def object_started(self, _obj: StoredObject, records: int) -> None:
        self.record_total += records
        self.progress.update(self.records, total=self.record_total)

    def records_done(self, count: int) -> None:
        self.progress.advance(self.records, count)

    def object_finished(self, obj: StoredObject, outcome: str) -> None:
        self.progress.advance(self.objects, 1)
        if outcome == "failed":
            err.print(f"[red]failed:[/red] {obj.key} (left in place)")


def summary_table(tally: ReplayTally, *, dry_run: bool) -> Table:
    """The outcome of a replay, as a table."""
    table = Table(title="replay (dry run: nothing changed)" if dry_run else "replay")
    table.add_column("")
    table.add_column("count", justify="right")
    rows: list[tuple[str, int]] = [
        ("objects found", tally.objects_found),
        ("objects replayed", tally.objects_replayed),
        ("objects archived", tally.objects_archived),
        ("objects failed (left in place)", tally.objects_failed),
        ("records read", tally.records),
        ("records unreadable", tally.unreadable),
    ]
    rows.extend((f"outcome: {name}", count) for name, count in sorted(tally.outcomes.items()))
    for label, count in rows:
        table.add_row(label, f"{count:,}")
    return table


def replay_command(  # noqa: PLR0917  # typer reads options from parameters
    source: Annotated[str, typer.Argument(help="s3://bucket/prefix or a local folder.")],
    since: Annotated[
        str | None, typer.Option(help="Only objects written at or after this (ISO, UTC).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Only objects written before this.")] = None,
    dry_run: DryRunOption = False,  # noqa: FBT002  # a typer flag
    keep: KeepOption = False,  # noqa: FBT002  # a typer flag
    archive_prefix: Annotated[
        str, typer.Option(help="Where replayed objects move (relative to the bucket/folder).")
    ] = ARCHIVE_PREFIX,
    chunk_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Records per ingest call.")
    ] = DEFAULT_CHUNK,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    as_json: JsonOption = False,  # noqa: FBT002  # a typer flag
) -> None:
    """Replay the batches Firehose gave up on (its S3 failure objects) into the stores."""
    try:
        store = failure_store(source, archive_prefix)
        since_at, until_at = parse_moment(since, "--since"), parse_moment(until, "--until")
        with (
            progress_bars("[bold]{task.description:>8}") as progress,
            contextlib.ExitStack() as stack,
        ):
            watcher = _RichReplayProgress(progress)
            ingest: Ingest = _no_ingest  # a dry run reads and counts, without a database
            if not dry_run:
                services = stack.enter_context(
                    local_services(data_dir, application="analytics-replay")
                )
                ingest = functools.partial(_ingest_chunk, services)
            tally = replay(
                store,
                ingest,
                parse=parse_failure_object,
                since=since_at,
                until=until_at,
                dry_run=dry_run,
                keep=keep,
                chunk_size=chunk_size,
                progress=watcher,
            )
    except AnalyticsError as exc:
        raise fail(exc) from exc
    if as_json:
        print(json.dumps(_tally_json(tally, dry_run=dry_run), indent=2))  # noqa: T201
    else:
        out.print(summary_table(tally, dry_run=dry_run))
    for message in tally.errors:
        err.print(f"[red]error:[/red] {message}", highlight=False)
    if not tally.ok:
        raise typer.Exit(code=1)


def _ingest_chunk(
    services: bootstrap.Services, records: Sequence[bytes], request_id: str
) -> dict[str, int]:
    """One chunk through the pipeline processIngest runs; its counts per outcome."""
    return dict(pipeline.ingest_records(services, records, request_id=request_id).counts)


def _no_ingest(_records: Sequence[bytes], _request_id: str) -> dict[str, int]:
    raise AssertionError("a dry run ingests nothing")  # pragma: no cover


def _tally_json(tally: ReplayTally, *, dry_run: bool) -> dict[str, Any]:
    return {
        "dryRun": dry_run,
        "objectsFound": tally.objects_found,
        "objectsReplayed": tally.objects_replayed,
        "objectsArchived": tally.objects_archived,
        "objectsFailed": tally.objects_failed,
        "records": tally.records,
        "unreadable": tally.unreadable,
        "outcomes": dict(tally.outcomes),
        "errors": list(tally.errors),
    }
