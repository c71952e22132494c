"""`analytics serve`: the whole product on one machine (API, tracker, ingest pipeline, hot
and cold stores), on embedded defaults."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer

from adapters.local.firehose import MIB, Buffering, Retry
from adapters.local.spool import SyncMode
from analytics_core.errors import AnalyticsError
from entrypoints import logs
from entrypoints.commands.common import DataDirOption, err, fail
from entrypoints.local.stack import DEFAULT_DATA_DIR, DEFAULT_PORT, LocalStack


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
    logs.configure(logging.INFO)  # a server logs what it does, -v or not
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
