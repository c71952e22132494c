"""The `analytics` commands of the local stack and of operations: serve, sites, query, demo,
replay.

Each command finds its database the same way (`entrypoints.local.stack.local_services`):
`DATABASE_URL`, else the embedded PostgreSQL of `--data-dir`, started when it is not running,
so every command also works beside a running `analytics serve`. Tables go to stdout (rich);
progress, logs and errors go to stderr; `--json` gives machine-readable output instead.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import boto3
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from adapters.aws.failures import S3FailureObjects
from adapters.local.failures import LocalFailureObjects
from adapters.local.firehose import MIB, Buffering, LocalFirehoseStream, Retry
from adapters.local.spool import SyncMode
from adapters.postgres.allowances import PostgresAllowances
from analytics_core import sites as core_sites
from analytics_core.errors import AnalyticsError, ConfigurationError, InvalidRequestError
from analytics_core.failures import ARCHIVE_PREFIX, ReplayTally, StoredObject
from analytics_core.ports import FailureObjectStore
from analytics_core.sites import SiteDraft
from entrypoints import bootstrap, pipeline
from entrypoints.api import collect, firehose_endpoint
from entrypoints.api import query as query_api
from entrypoints.api.schemas import site_json
from entrypoints.local import demo as demo_traffic
from entrypoints.local.http_adapter import build_event
from entrypoints.local.stack import (
    DEFAULT_DATA_DIR,
    DEFAULT_PORT,
    DataDir,
    LocalStack,
    local_services,
)
from entrypoints.replay import DEFAULT_CHUNK, Ingest, ReplayProgress, replay

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
def _services(data_dir: Path, application: str, **kwargs: Any) -> Iterator[bootstrap.Services]:
    """`local_services`; an error of the product's tree, there or in the block, ends the
    command (`fail`)."""
    try:
        with local_services(data_dir, application=application, **kwargs) as services:
            yield services
    except AnalyticsError as exc:
        raise fail(exc) from exc


def _progress(label: str = "[bold]{task.description}") -> Progress:
    """Progress bars on stderr: label, bar, done of total, time elapsed."""
    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    )


# serve ---------------------------------------------------------------------------------------
def serve(  # noqa: PLR0917  # typer reads options from parameters
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free port).")] = (
        DEFAULT_PORT
    ),
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    buffer_seconds: Annotated[
        float, typer.Option(min=0.0, help="Deliver buffered events after this many seconds.")
    ] = 5.0,
    buffer_mib: Annotated[
        float, typer.Option(min=0.001, max=3.0, help="... or when this many MiB are buffered.")
    ] = 3.0,
    retry_seconds: Annotated[
        float, typer.Option(min=0.0, help="Retry an undelivered batch for this long.")
    ] = 10.0,
    spool_sync: Annotated[
        str,
        typer.Option(
            hidden=True,  # for benchmarks: the default is the only durable, fast choice
            help="group: concurrent events share an fsync; each: one fsync per event; "
            "off: no spool (a crash loses buffered events).",
        ),
    ] = SyncMode.GROUP.value,
) -> None:
    """Run the whole product locally: API, tracker, ingest pipeline, hot and cold stores."""
    if spool_sync not in {mode.value for mode in SyncMode} | {"off"}:
        err.print(f"[red]error:[/red] --spool-sync must be group, each or off, not {spool_sync!r}")
        raise typer.Exit(code=2)
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        err.print(f"{signal.Signals(signum).name}: stopping after delivering buffered events")
        stop.set()

    stack = LocalStack(
        host=host,
        port=port,
        data_dir=data_dir,
        buffering=Buffering(size_bytes=int(buffer_mib * MIB), interval_s=buffer_seconds),
        retry=Retry(duration_s=retry_seconds),
        spool_sync=None if spool_sync == "off" else SyncMode(spool_sync),
    )
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            stack.start()
        except AnalyticsError as exc:
            raise fail(exc) from exc
        except OSError as exc:
            err.print(f"[red]error:[/red] cannot listen on {host}:{port}: {exc.strerror}")
            stack.close()
            raise typer.Exit(code=1) from exc
        print(stack.banner(), flush=True)  # noqa: T201  # the command's output
        while not stop.wait(0.5):
            pass
    finally:
        stack.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    err.print("stopped")


# sites -----------------------------------------------------------------------------------------
sites_app = typer.Typer(help="Register and list sites.", no_args_is_help=True)


@sites_app.command("create")
def sites_create(  # noqa: PLR0917  # typer reads options from parameters
    name: Annotated[str, typer.Argument(help="The site's name.")],
    domain: Annotated[
        list[str],
        typer.Option("--domain", "-d", help="An allowed domain (repeatable; subdomains match)."),
    ],
    compliance_level: Annotated[
        int, typer.Option(min=0, max=2, help="0 compliance required, 1 maybe, 2 not required.")
    ] = 1,
    owner: OwnerOption = DEFAULT_OWNER,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    as_json: JsonOption = False,  # noqa: FBT002  # a typer flag
) -> None:
    """Register a site; prints its id (or the whole site with --json)."""
    with _services(data_dir, "analytics-sites") as services:
        site = core_sites.create_site(
            services.sites,
            services.clock,
            services.new_id,
            owner,
            SiteDraft(name=name, domains=domain, compliance_level=compliance_level),
        )
    if as_json:
        print(json.dumps(site_json(site), indent=2))  # noqa: T201
    else:
        print(site.site_id)  # noqa: T201  # alone on stdout, for SITE_ID=$(...)


@sites_app.command("list")
def sites_list(
    owner: OwnerOption = DEFAULT_OWNER,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    as_json: JsonOption = False,  # noqa: FBT002  # a typer flag
) -> None:
    """The owner's sites."""
    with _services(data_dir, "analytics-sites") as services:
        sites = core_sites.list_sites(services.sites, owner)
    if as_json:
        print(json.dumps([site_json(s) for s in sites], indent=2))  # noqa: T201
        return
    table = Table(title=f"Sites of {owner}")
    for column in ("site id", "name", "domains", "plan", "allowance", "level", "created"):
        table.add_column(
            column,
            justify="right" if column == "allowance" else "left",
            no_wrap=column == "site id",
        )
    for site in sites:
        table.add_row(
            site.site_id,
            site.name,
            ", ".join(site.domains),
            site.plan,
            f"{site.request_allowance:,}",
            str(int(site.compliance_level)),
            site.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


# query -----------------------------------------------------------------------------------------
def query_event(owner: str, parameters: Mapping[str, str]) -> dict[str, Any]:
    """The API Gateway event of `GET /api/query` with `parameters`, as `owner`."""
    target = "/api/query?" + "&".join(f"{key}={_quote(value)}" for key, value in parameters.items())
    return build_event(
        method="GET",
        target=target,
        headers=[("Authorization", f"Bearer dev:{owner}"), ("Host", "localhost")],
        body=b"",
        source_ip="127.0.0.1",
    )


def _quote(value: str) -> str:
    return quote(value, safe=",:")


def answer_tables(answer: Mapping[str, Any]) -> list[Table]:
    """The stats API's answer as tables: totals, then the timeseries or the breakdown."""
    query = answer.get("query") or {}
    totals = Table(title="totals")
    totals.add_column("metric")
    totals.add_column("value", justify="right")
    for metric, value in (answer.get("totals") or {}).items():
        totals.add_row(metric, _cell(value))
    tables = [totals]
    for key, first in (("timeseries", "bucket"), ("breakdown", "value")):
        rows = answer.get(key)
        if not isinstance(rows, list):
            continue
        label = first if key == "timeseries" else str(query.get("groupBy") or "value")
        table = Table(title=key)
        table.add_column(label)
        metrics = [k for k in (rows[0] if rows else {}) if k != first]
        for metric in metrics:
            table.add_column(metric, justify="right")
        for row in rows:
            table.add_row(_cell(row.get(first)), *(_cell(row.get(m)) for m in metrics))
        tables.append(table)
    return tables


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    return str(value)


def query(  # noqa: PLR0917  # typer reads options from parameters
    site_id: Annotated[str, typer.Argument(help="The site's id.")],
    start: Annotated[
        str | None, typer.Option("--start", help="First day (YYYY-MM-DD); default 7 days ago.")
    ] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last day; default today.")] = None,
    metrics: Annotated[
        str, typer.Option(help="Comma-separated: visitors, visits, pageviews, events, ...")
    ] = "visitors,visits,pageviews,bounce_rate,visit_duration",
    group_by: Annotated[
        str | None, typer.Option("--group-by", help="pathname, referer_domain, browser, ...")
    ] = None,
    interval: Annotated[
        str | None, typer.Option(help="hour, day, week or month: a time series.")
    ] = None,
    filters: Annotated[
        str | None, typer.Option(help="dim==value;dim!=value (e.g. country==DE)")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many rows.")] = None,
    owner: OwnerOption = DEFAULT_OWNER,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    as_json: JsonOption = False,  # noqa: FBT002  # a typer flag
) -> None:
    """The stats API (GET /api/query) on the command line, as a table."""
    today = datetime.now(UTC).date()
    parameters = {
        "siteId": site_id,
        "startDate": start or (today - timedelta(days=7)).isoformat(),
        "endDate": end or today.isoformat(),
        "metrics": metrics,
    }
    optional = {"groupBy": group_by, "interval": interval, "filters": filters}
    parameters.update({k: v for k, v in optional.items() if v})
    if limit is not None:
        parameters["limit"] = str(limit)
    with _services(data_dir, "analytics-query") as services:
        response = query_api.make_handler(services)(query_event(owner, parameters), None)
    answer = json.loads(response.get("body") or "{}")
    if response.get("statusCode") != 200:
        error = answer.get("error", {}) if isinstance(answer, dict) else {}
        raise fail(InvalidRequestError(error.get("message", "query failed"), error.get("fields")))
    if as_json:
        print(json.dumps(answer, indent=2))  # noqa: T201
        return
    query_echo = answer.get("query") or {}
    out.print(
        f"{', '.join(query_echo.get('siteIds') or [])}  "
        f"{query_echo.get('startDate')} .. {query_echo.get('endDate')}  "
        f"(answered by {answer.get('source', '?')})",
        highlight=False,
        soft_wrap=True,
    )
    for table in answer_tables(answer):
        out.print(table)


# demo ------------------------------------------------------------------------------------------
def demo(  # noqa: PLR0917  # typer reads options from parameters
    days: Annotated[int, typer.Option(min=1, max=365, help="Spread the traffic over N days.")] = 7,
    events: Annotated[int, typer.Option(min=1, help="About this many tracker requests.")] = 5000,
    site: Annotated[
        str | None, typer.Option(help="Send to this site (default: a 'Demo site' of the owner).")
    ] = None,
    domain: Annotated[str, typer.Option(help="The demo site's domain.")] = "demo.example.com",
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same traffic).")] = 1,
    owner: OwnerOption = DEFAULT_OWNER,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
) -> None:
    """Realistic traffic through the real ingest path (collect -> stream -> processIngest)."""
    rng = random.Random(seed)  # noqa: S311  # demo data, not cryptography
    env = dict(os.environ)
    env.setdefault("FIREHOSE_ACCESS_KEY", f"demo-{rng.getrandbits(64):x}")
    stream = LocalFirehoseStream(
        None,
        access_key=env["FIREHOSE_ACCESS_KEY"],
        failures_dir=DataDir(data_dir).failures,
        buffering=Buffering(size_bytes=3 * MIB, interval_s=3600),
        retry=Retry(duration_s=10.0),
    )
    with _services(data_dir, "analytics-demo", environ=env, ingest_stream=stream) as services:
        site_id, site_domain = _demo_site(services, owner, site, domain)
        allowance = PostgresAllowances(services.pool).ensure_at_least(site_id, events * 2)
        process_ingest = firehose_endpoint.make_handler(services)
        stream.connect(lambda event: process_ingest(event, None))
        clock = demo_traffic.SettableClock(datetime.now(UTC))
        collect_services = bootstrap.build(
            services.settings, application="analytics-demo", clock=clock, ingest_stream=stream
        )
        requests = demo_traffic.demo_traffic(
            rng, events=events, days=days, now=clock.now, site_domain=site_domain
        )
        progress = _progress()
        task = progress.add_task("sending", total=len(requests))
        with progress:
            report = demo_traffic.send_demo(
                requests,
                collect=collect.make_handler(collect_services),
                clock=clock,
                flush=stream.flush,
                site_id=site_id,
                site_domain=site_domain,
                on_progress=lambda n: progress.advance(task, n),
            )
        stream.close()
    rate = report.sent / report.seconds if report.seconds else 0.0
    out.print(
        f"sent {report.sent:,} requests to site {site_id} ({site_domain}) over {days} day(s) "
        f"in {report.seconds:.1f}s ({rate:,.0f}/s); answers {dict(report.statuses)}; "
        f"allowance {allowance:,}",
        highlight=False,
        soft_wrap=True,
    )
    out.print(
        f"try: analytics query {site_id} --start {datetime.now(UTC).date() - timedelta(days=days)}",
        highlight=False,
        soft_wrap=True,
    )


def _demo_site(
    services: bootstrap.Services, owner: str, site_id: str | None, domain: str
) -> tuple[str, str]:
    if site_id is not None:
        found = core_sites.get_site(services.sites, owner, site_id)
        return found.site_id, found.domains[0]
    for existing in core_sites.list_sites(services.sites, owner):
        if existing.name == "Demo site":
            return existing.site_id, existing.domains[0]
    created = core_sites.create_site(
        services.sites,
        services.clock,
        services.new_id,
        owner,
        SiteDraft(name="Demo site", domains=[domain], compliance_level=1),
    )
    return created.site_id, created.domains[0]


# replay ----------------------------------------------------------------------------------------
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
        with _progress("[bold]{task.description:>8}") as progress, contextlib.ExitStack() as stack:
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


def register(app: typer.Typer) -> None:
    """Add these commands to the `analytics` app."""
    app.command()(serve)
    app.add_typer(sites_app, name="sites")
    app.command()(query)
    app.command()(demo)
    app.command("replay")(replay_command)
