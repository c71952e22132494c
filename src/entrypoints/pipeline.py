"""The ingest pipeline shared by processIngest and `analytics replay`: records in, report out.

`ingest_records` reads each record (an envelope's JSON bytes), runs the core's
`process_batch` (validation, enrichment, compliance filter, one database transaction, the cold
forward) and writes one structured log line for the batch: request id, counts per outcome, rows
written, duration, and the exception classes that made records malformed (`recordErrors`,
classes only: a message could quote the record). Nothing of a visitor (IP address, user
agent) is ever logged.

Python's cyclic garbage collector is paused while a batch is processed: a batch allocates
hundreds of thousands of short-lived objects and no reference cycles, and the collections they
would trigger cost 15-40% of the batch's CPU time (bench/ingest.py). Memory is freed by
reference counting as usual; the collector runs again after the batch, once the batch's
objects are gone (else its first pass after the batch walks them all: about 3% of a batch).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import attrs

from analytics_core.errors import AnalyticsError
from analytics_core.ingest import process_batch
from entrypoints import logs
from entrypoints.bootstrap import Services
from entrypoints.envelopes import read_record

logger = logging.getLogger(__name__)


@attrs.frozen
class IngestReport:
    """What became of one batch: counts per outcome (all seven, adding up to `records`)."""

    request_id: str
    records: int
    counts: Mapping[str, int]
    rows_written: int
    duration_ms: int
    errors: Mapping[str, int] = attrs.field(factory=dict)
    """Records made malformed by an exception, by its class name (never its message)."""


def ingest_records(
    services: Services, records: Sequence[bytes | None], *, request_id: str
) -> IngestReport:
    """Store a batch of envelope records exactly once and forward them to the cold store.

    A record that is None or not a valid envelope counts as malformed. Raises an
    `InfrastructureError` (`StoreUnavailableError`, `ColdForwardError`) when the batch must
    be delivered again; see `analytics_core.ingest`.
    """
    started = time.perf_counter()
    try:
        with _collector_paused():
            # Each record's JSON is read now (the batch's sites are needed first); the rest of
            # its decoding waits until the batch gets to it, while the database stores the
            # rows before it.
            read = [read_record(record) for record in records]
            result = process_batch(read, services.ingest_ports)
            counts, rows_written, errors = result.counts(), result.rows_written, result.errors
            # Freed while the collector is still paused: once it runs again, its first pass
            # would walk every object the batch allocated that is still alive.
            del read, result
    except Exception as exc:
        logs.log_json(
            logger,
            "ingest batch failed",
            requestId=request_id,
            records=len(records),
            error=type(exc).__name__,
            errorMessage=exc.message if isinstance(exc, AnalyticsError) else None,
            durationMs=_elapsed_ms(started),
        )
        raise
    report = IngestReport(
        request_id=request_id,
        records=len(records),
        counts=counts,
        rows_written=rows_written,
        duration_ms=_elapsed_ms(started),
        errors=errors,
    )
    logs.log_json(
        logger,
        "ingest batch",
        requestId=request_id,
        records=report.records,
        outcomes=dict(report.counts),
        rowsWritten=report.rows_written,
        durationMs=report.duration_ms,
        **({"recordErrors": dict(report.errors)} if report.errors else {}),
    )
    return report


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (if it runs) for the duration of the block."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
