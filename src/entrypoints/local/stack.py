"""The local stack: the whole product on one machine, made of the production handlers.

`local_services(data_dir)` is how every command finds its database: `DATABASE_URL` when it is
set, else the embedded PostgreSQL of `<data-dir>/postgres` (started when it is not running,
released on exit, migrated). The cold store defaults to the local Parquet lake in
`<data-dir>/lake` unless the environment configures one (`LOCAL_LAKE_DIR`, or the Firehose
streams of a deployment).

`LocalStack` is `analytics serve`: the real collect, processIngest, sites, accounts and query
(with realtime) handlers, wired by `bootstrap.build` with two local parts, the in-process
Firehose stream (`adapters.local.firehose`) between collect and processIngest, and the HTTP
adapter (`entrypoints.local.http_adapter`) in front of the API handlers. Closing it stops the
HTTP server first, then delivers whatever the stream still buffers, then releases the database.

The stream writes every record to a spool in `<data-dir>/ingest-spool` before collect answers
202 (`adapters.local.spool`), so a crash or SIGKILL loses nothing: the next start sends again
what was not delivered. `ANALYTICS_SERVE_TEST_HOLD_AFTER_BATCH=N` is a test hook: the N-th
batch processIngest answered is held, before the spool marks it delivered, until the process is
killed (tests use it to kill the stack in the middle of a delivery, deterministically).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from adapters.config import Env, Settings
from adapters.local.firehose import MIB, BatchReport, Buffering, LocalFirehoseStream, Retry
from adapters.local.spool import Spool, SyncMode
from adapters.postgres.embedded import EmbeddedPostgres
from entrypoints import bootstrap, logs
from entrypoints.api import accounts, collect, firehose_endpoint, query, sites
from entrypoints.local import dashboard, tracker
from entrypoints.local.http_adapter import LocalApiServer, Mount
from entrypoints.operations import run_fold, run_maintenance, run_migrations

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path(".analytics")
DEFAULT_PORT = 8000
MAINTENANCE_EVERY_S = 3600.0
FOLD_EVERY_S = 60.0  # as the deployment's fold schedule (queries fold their sites anyway)
POOL_SIZE = 8
HOLD_AFTER_BATCH_ENV = "ANALYTICS_SERVE_TEST_HOLD_AFTER_BATCH"
HOLDING = "test hook: holding this batch before it is marked delivered"


@attrs.frozen
class DataDir:
    """What lives in the data folder."""

    root: Path

    @property
    def postgres(self) -> Path:
        """The embedded PostgreSQL (cluster, log, lock)."""
        return self.root / "postgres"

    @property
    def lake(self) -> Path:
        """The local cold store (Parquet)."""
        return self.root / "lake"

    @property
    def failures(self) -> Path:
        """Where the local stream backs up undeliverable batches (the S3 bucket's stand-in)."""
        return self.root / "firehose-failures"

    @property
    def spool(self) -> Path:
        """The local stream's spool: records accepted and not yet delivered."""
        return self.root / "ingest-spool"


def local_environ(environ: Mapping[str, str], data_dir: Path) -> dict[str, str]:
    """The environment with the local stack's defaults filled in: the Parquet lake in the
    data folder unless a cold store is configured."""
    env = dict(environ)
    configured = any(
        env.get(name.value, "").strip() for name in (Env.LOCAL_LAKE_DIR, Env.EVENTS_STREAM_NAME)
    )
    if not configured:
        env[Env.LOCAL_LAKE_DIR.value] = str(DataDir(data_dir).lake.absolute())
    return env


@contextlib.contextmanager
def database(environ: Mapping[str, str], data_dir: Path) -> Iterator[tuple[str | None, bool]]:
    """(the database URL, whether it is the embedded server) for the duration of a block.

    `DATABASE_URL` when set; None when a deployment's `DB_SECRET_ARN` names the database (the
    settings resolve it); else the embedded server of `data_dir`, released after the block.
    """
    url = environ.get(Env.DATABASE_URL.value, "").strip()
    if url:
        yield url, False
        return
    if environ.get(Env.DB_SECRET_ARN.value, "").strip():
        yield None, False
        return
    server = EmbeddedPostgres(DataDir(data_dir).postgres)
    embedded_url = server.acquire()
    try:
        yield embedded_url, True
    finally:
        server.release()


@contextlib.contextmanager
def local_services(
    data_dir: Path,
    *,
    application: str,
    environ: Mapping[str, str] | None = None,
    migrate: bool | None = None,
    pool_size: int = bootstrap.DEFAULT_POOL_SIZE,
    **overrides: Any,
) -> Iterator[bootstrap.Services]:
    """Services on the command's database (see the module docstring). Migrations run on the
    embedded database, or when `migrate` says so."""
    env = local_environ(os.environ if environ is None else environ, data_dir)
    with database(env, data_dir) as (url, embedded):
        if url is not None:
            env[Env.DATABASE_URL.value] = url
        services = bootstrap.build(
            Settings.from_environ(env), application=application, pool_size=pool_size, **overrides
        )
        try:
            if migrate if migrate is not None else embedded:
                run_migrations(services)
            yield services
        finally:
            services.close()


def describe_database(url: str) -> str:
    """A database URL without its password, for the banner."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}@{host}"
    return url


class LocalStack:
    """`analytics serve`: start() binds and wires everything; close() drains and stops."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        data_dir: Path = DEFAULT_DATA_DIR,
        environ: Mapping[str, str] | None = None,
        buffering: Buffering | None = None,
        retry: Retry | None = None,
        spool_sync: SyncMode | None = SyncMode.GROUP,
    ) -> None:
        """`spool_sync` None keeps the stream in memory only (a crash loses what it buffers;
        benchmarks compare against it)."""
        self.host = host
        self.port = port
        self.data = DataDir(data_dir)
        self._environ = dict(os.environ if environ is None else environ)
        self._buffering = buffering or Buffering(size_bytes=3 * MIB, interval_s=5.0)
        self._retry = retry or Retry(duration_s=10.0)
        self._spool_sync = spool_sync
        self._exit = contextlib.ExitStack()
        self.server: LocalApiServer | None = None
        self.stream: LocalFirehoseStream | None = None
        self.services: bootstrap.Services | None = None
        self._serving: threading.Thread | None = None
        self._stop_maintenance = threading.Event()
        self._maintenance: threading.Thread | None = None
        self._compacting = threading.Lock()  # one compaction at a time
        self.first_compaction_done = threading.Event()  # the one at start (tests wait for it)
        self._closed = False

    @property
    def url(self) -> str:
        """The stack's base URL."""
        assert self.server is not None  # noqa: S101  # after start()
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.server.port}"

    def start(self) -> None:
        """Database, migrations, services, stream and HTTP server; then serve in a thread."""
        env = dict(self._environ)
        if not env.get(Env.FIREHOSE_ACCESS_KEY.value, "").strip():
            # The stream and processIngest are in one process: a fresh key per run suffices.
            env[Env.FIREHOSE_ACCESS_KEY.value] = secrets.token_urlsafe(32)
        access_key = env[Env.FIREHOSE_ACCESS_KEY.value]
        self.data.root.mkdir(parents=True, exist_ok=True)
        self.data.failures.mkdir(exist_ok=True)  # replay finds it even before a failure
        self.stream = LocalFirehoseStream(
            None,
            access_key=access_key,
            failures_dir=self.data.failures,
            stream_name=env.get(Env.INGEST_STREAM_NAME.value) or "IngestHttp",
            buffering=self._buffering,
            retry=self._retry,
            on_batch=_batch_logger(env.get(HOLD_AFTER_BATCH_ENV)),
            spool=(
                Spool(self.data.spool, sync=self._spool_sync)
                if self._spool_sync is not None
                else None
            ),
        )
        try:
            self.services = self._exit.enter_context(
                local_services(
                    self.data.root,
                    application="analytics-serve",
                    environ=env,
                    migrate=True,
                    pool_size=POOL_SIZE,
                    ingest_stream=self.stream,
                )
            )
            process_ingest = firehose_endpoint.make_handler(self.services)
            self.stream.connect(lambda event: process_ingest(event, None))
            query_handler = query.make_handler(self.services)  # /api/query and /api/realtime
            mounts = [
                Mount("/ingest", collect.make_handler(self.services)),
                Mount("/api/sites", sites.make_handler(self.services)),
                Mount("/api/accounts", accounts.make_handler(self.services)),
                Mount("/api/query", query_handler),
                Mount("/api/realtime", query_handler),
                Mount("/script.js", tracker.make_handler()),
            ]
            self.server = LocalApiServer((self.host, self.port), mounts)
            links = {
                "tracker": f"{self.url}/script.js",
                "collect": f"{self.url}/ingest?site_id=<SITE_ID>",
                "sites": f"{self.url}/api/sites",
                "accounts": f"{self.url}/api/accounts",
                "query": f"{self.url}/api/query?siteId=<SITE_ID>",
                "realtime": f"{self.url}/api/realtime?siteId=<SITE_ID>",
                "dashboard": f"{self.url}/",
            }
            index = {"service": "analytics (local stack)", "endpoints": links}
            self.server.mounts.append(Mount("/", dashboard.make_handler(index)))
        except BaseException:
            self._exit.close()
            raise
        self.stream.start()
        self._serving = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="local-http",
            daemon=True,
        )
        self._serving.start()
        self._maintenance = threading.Thread(
            target=self._maintain, name="local-maintenance", daemon=True
        )
        self._maintenance.start()

    def _maintain(self) -> None:
        """Merge the lake's files now (a restarted stack may have many); then every minute
        fold the new rows into the read model, and every hour keep the daily partitions
        coming, as the deployment's schedules do, and merge again."""
        self.compact_lake()
        self.first_compaction_done.set()
        last_maintained = time.monotonic()
        while not self._stop_maintenance.wait(FOLD_EVERY_S):
            self.fold_once()
            if time.monotonic() - last_maintained >= MAINTENANCE_EVERY_S:
                last_maintained = time.monotonic()
                self.maintain_once()

    def fold_once(self) -> None:
        """Fold the pending rows into the read model; a failure is logged, retried next time."""
        assert self.services is not None  # noqa: S101  # after start()
        try:
            run_fold(self.services)
        except Exception:  # retried next minute, as in AWS
            logger.exception("read-model fold failed")

    def maintain_once(self) -> None:
        """One round of the hourly maintenance; a failure is logged and retried next hour."""
        assert self.services is not None  # noqa: S101  # after start()
        try:
            run_maintenance(self.services)
        except Exception:  # retried next hour, as in AWS
            logger.exception("partition maintenance failed")
        self.compact_lake()

    def compact_lake(self) -> None:
        """Merge each day's lake files (one per delivery) into one file, as Iceberg's
        compaction would; readers keep working meanwhile (adapters/lake.py)."""
        assert self.services is not None  # noqa: S101  # after start()
        lake = self.services.settings.local_lake_dir
        if not lake:
            return  # the cold store is not the local lake
        import pyarrow as pa  # noqa: PLC0415  # only the running stack needs it, not every command

        from adapters.lake import ParquetLakeWriter  # noqa: PLC0415

        try:
            with self._compacting:
                summary = ParquetLakeWriter(lake).compact_all()
        except (OSError, pa.ArrowException):
            logger.exception("lake compaction failed")
            return
        if summary["days"]:
            logger.info(
                "lake compacted: %d file(s) merged into %d", summary["filesMerged"], summary["days"]
            )

    def close(self) -> None:
        """Stop taking requests, deliver what is buffered, release the database (once)."""
        if self._closed:
            return
        self._closed = True
        self._stop_maintenance.set()
        if self._maintenance is not None:
            self._maintenance.join()  # a compaction under way finishes first
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self._serving is not None:
            self._serving.join()
        if self.stream is not None:
            pending = self.stream.pending()
            if pending:
                logger.info("delivering %d buffered event(s) before exit", pending)
            self.stream.close()
        self._exit.close()

    def banner(self) -> str:
        """What `serve` prints: the URLs and a ready-to-paste curl."""
        assert self.services is not None  # noqa: S101  # after start()
        url = self.url
        database_url = self.services.settings.database_url or ""
        lake = self.services.settings.local_lake_dir or "(the configured cold store)"
        return "\n".join(
            [
                f"analytics local stack listening on {url}",
                f"  tracker   {url}/script.js",
                f"  collect   POST {url}/ingest?site_id=<SITE_ID>",
                f"  dashboard {url}/  (open it in a browser; log in with any name)",
                f"  API       {url}/api/sites  {url}/api/accounts  {url}/api/query",
                f"            {url}/api/realtime",
                "            (log in with the header  Authorization: Bearer dev:<your-name>)",
                f"  database  {describe_database(database_url)}",
                f"  lake      {lake}",
                f"  failures  {self.data.failures}",
                f"  spool     {self.data.spool}" if self._spool_sync else "  spool     (off)",
                "",
                "Create a site:",
                (
                    f"  curl -s -X POST {url}/api/sites -H 'Authorization: Bearer dev:local' "
                    "-H 'Content-Type: application/json' "
                    """-d '{"name": "My site", "domains": ["localhost"]}'"""
                ),
                "",
                "Ctrl-C stops the stack after delivering the buffered events.",
            ]
        )


def _batch_logger(hold_after: str | None) -> Callable[[BatchReport], None]:
    """`_log_batch`, or with the test hook set, `_log_batch` that holds the N-th batch."""
    if not (hold_after or "").strip():
        return _log_batch
    target = int(str(hold_after))
    count = itertools.count(1)
    never = threading.Event()

    def log_and_hold(report: BatchReport) -> None:
        _log_batch(report)
        if next(count) == target:
            logs.log_json(logger, HOLDING, requestId=report.request_id, records=report.records)
            never.wait()  # until SIGKILL

    return log_and_hold


def _log_batch(report: BatchReport) -> None:
    """One log line per batch the stream delivered (or backed up)."""
    fields: dict[str, Any] = {
        "requestId": report.request_id,
        "records": report.records,
        "bytes": report.size_bytes,
        "attempts": report.attempts,
        "status": report.status,
    }
    body = (report.response or {}).get("body")
    if isinstance(body, str):
        with contextlib.suppress(ValueError):
            answer = json.loads(body)
            if isinstance(answer, dict):
                fields.update({k: v for k, v in answer.items() if k not in fields})
    if report.delivered:
        logs.log_json(logger, "batch delivered", **fields)
    else:
        fields["errorCode"] = report.error_code
        fields["failureObject"] = str(report.failure_object)
        logs.log_json(logger, "batch backed up for replay", **fields)
