"""An in-process Firehose HTTP-endpoint stream (the `IngestStream` port, locally).

It behaves like the IngestHttp stream of the deployment, as far as its endpoint can tell:

- records are buffered and sent as one batch when the buffer reaches its size or its oldest
  record its age (Firehose's buffering hints);
- a batch is the real HTTP endpoint request, built as Firehose builds it: headers
  `X-Amz-Firehose-Request-Id`, `-Access-Key`, `-Protocol-Version`, body `{"requestId",
  "timestamp", "records": [{"data": base64}]}` gzipped (the stream's GZIP content encoding),
  wrapped in the Lambda Function URL event the processIngest function receives (lower-cased
  headers, the binary body base64-encoded);
- only a 200 answer echoing the request id counts as delivered; anything else, and an exception
  from the endpoint, is retried with the same request id, backing off from one second and
  doubling up to two minutes, for the configured retry duration;
- a batch still undelivered after that is backed up the way Firehose backs up to S3: one JSON
  object per record (`attemptsMade`, `arrivalTimestamp`, `errorCode`, `errorMessage`,
  `attemptEndingTimestamp`, `rawData`, `subsequenceNumber`, `dataId`), newline-separated,
  gzipped, in an object named `<prefix>YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>.gz`
  under the failures folder.

`put` refuses records (raising `InfrastructureError`, which the collect API answers with 503)
when the backlog waiting for delivery passes `max_backlog_bytes`, as Firehose throttles.
`close()` delivers everything still buffered before it returns, so a clean shutdown loses
nothing: what cannot be delivered is in the failures folder, ready for `analytics replay`.

With a `Spool` (`adapters.local.spool`), `put` returns only once the record is on disk, and a
crash loses nothing either: a batch is settled in the spool once processIngest answered 200
or it is backed up to the failures folder, and `start()` (or the first `flush()`) sends again
whatever the spool holds unsettled, at once. Redelivery is at least once, as Firehose's: the
hot store skips an `event_uid` it already has.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from adapters.local.spool import Spool
from analytics_core.errors import InfrastructureError, InvalidRequestError
from analytics_core.ports import MAX_STREAM_RECORD_BYTES, Clock

logger = logging.getLogger(__name__)

MAX_RECORD_BYTES = MAX_STREAM_RECORD_BYTES
MIB = 1024 * 1024
FAILURE_PREFIX = "http-firehose-failures/"
USER_AGENT = "Amazon Data Firehose Agent/1.0"

Endpoint = Callable[[Mapping[str, Any]], Mapping[str, Any]]
"""The processIngest function: a Function URL event in, a proxy response out."""


@attrs.frozen
class Buffering:
    """Firehose's buffering hints: deliver at `size_bytes` or after `interval_s`."""

    size_bytes: int = 3 * MIB
    interval_s: float = 60.0


@attrs.frozen
class Retry:
    """Firehose's retry options: retry for `duration_s` after the first failed attempt,
    waiting `first_backoff_s`, doubled after each failure up to `max_backoff_s`."""

    duration_s: float = 300.0
    first_backoff_s: float = 1.0
    max_backoff_s: float = 120.0


@attrs.frozen
class BatchReport:
    """What happened to one batch: delivered, or backed up to `failure_object`."""

    request_id: str
    records: int
    size_bytes: int
    attempts: int
    delivered: bool
    status: int | None
    error_code: str | None = None
    failure_object: Path | None = None
    response: Mapping[str, Any] | None = None


@attrs.frozen
class _Record:
    data: bytes
    arrival_ms: int
    data_id: str
    seq: int | None = None  # its number in the spool, when there is one


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class LocalFirehoseStream:
    """Buffers envelopes and delivers them to an in-process HTTP endpoint, Firehose-style."""

    def __init__(
        self,
        endpoint: Endpoint | None,
        *,
        access_key: str,
        failures_dir: Path,
        stream_name: str = "IngestHttp",
        buffering: Buffering | None = None,
        retry: Retry | None = None,
        clock: Clock | None = None,
        max_backlog_bytes: int = 64 * MIB,
        on_batch: Callable[[BatchReport], None] | None = None,
        spool: Spool | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._access_key = access_key
        self.failures_dir = failures_dir
        self.stream_name = stream_name
        self.buffering = buffering or Buffering()
        self.retry = retry or Retry()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._max_backlog = max_backlog_bytes
        self._on_batch = on_batch
        self._buffer: deque[_Record] = deque()
        self._buffered_bytes = 0
        self._oldest_at: float | None = None  # monotonic time of the oldest buffered record
        self._in_flight = 0  # records taken from the buffer and not yet settled
        self._condition = threading.Condition()
        self._closing = False
        self._worker: threading.Thread | None = None
        self._deliver_lock = threading.Lock()  # one batch at a time, like one Firehose shard
        self._sequence = 0
        self.spool = spool
        self._recovered = spool is None

    # The IngestStream port ---------------------------------------------------------------
    def put(self, record: bytes) -> None:
        """Buffer one envelope; refuses (InfrastructureError) when closed or backlogged."""
        if len(record) > MAX_RECORD_BYTES:
            raise InvalidRequestError(f"record of {len(record)} bytes exceeds 1,000 KiB")
        with self._condition:
            if self._closing:
                raise InfrastructureError("the local stream is shutting down")
            if self._buffered_bytes + len(record) > self._max_backlog:
                raise InfrastructureError("the local stream is backlogged; try again")
        arrival_ms = _epoch_ms(self._clock())
        # Durable before it is buffered (and so before the 202): the fsync is shared with
        # the concurrent puts, outside the buffer's lock.
        seq = self.spool.append(record, arrival_ms) if self.spool is not None else None
        with self._condition:
            self._buffer_record(record, arrival_ms, seq)

    def _buffer_record(self, record: bytes, arrival_ms: int, seq: int | None) -> None:
        """Append to the buffer and wake the worker when needed; caller holds the lock."""
        self._sequence += 1
        self._buffer.append(_Record(record, arrival_ms, f"{self._sequence:020d}.local", seq))
        self._buffered_bytes += len(record)
        if self._oldest_at is None:
            # The worker sleeps without a deadline while the buffer is empty: wake it to
            # start this record's interval.
            self._oldest_at = time.monotonic()
            self._condition.notify_all()
        elif self._buffered_bytes >= self.buffering.size_bytes:
            self._condition.notify_all()

    # Life cycle ----------------------------------------------------------------------------
    def connect(self, endpoint: Endpoint) -> None:
        """Set the endpoint (when it is built after the stream, from the same services)."""
        self._endpoint = endpoint

    def recover(self) -> int:
        """Open the spool and buffer what it holds unsettled, due at once; returns how many
        records that is. Called by `start()` and `flush()`; once is enough."""
        with self._condition:
            if self._recovered or self.spool is None:
                return 0
            self._recovered = True
            records = self.spool.recover()
            for spooled in records:
                self._buffer_record(spooled.data, spooled.arrival_ms, spooled.seq)
            if records:
                # A crash interrupted these: send them now, not one interval later.
                self._oldest_at = time.monotonic() - self.buffering.interval_s
                self._condition.notify_all()
                logger.info("local stream: %d undelivered record(s) to send again", len(records))
            return len(records)

    def start(self) -> None:
        """Recover the spool, then deliver in the background by size and interval."""
        self.recover()
        if self._worker is not None:
            return
        self._worker = threading.Thread(target=self._run, name="local-firehose", daemon=True)
        self._worker.start()

    def flush(self) -> list[BatchReport]:
        """Deliver everything buffered now, batch by batch, and report each batch."""
        self.recover()
        reports: list[BatchReport] = []
        while True:
            with self._condition:
                batch = self._take()
            if not batch:
                return reports
            reports.append(self._settle(batch))

    def close(self) -> list[BatchReport]:
        """Stop accepting records, deliver what is buffered, stop the background worker."""
        with self._condition:
            self._closing = True
            self._condition.notify_all()
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        reports = self.flush()
        if self.spool is not None:
            self.spool.close()
        return reports

    def pending(self) -> int:
        """Records accepted and not yet delivered or backed up."""
        with self._condition:
            return len(self._buffer) + self._in_flight

    # Internals -------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._closing and not self._due():
                    timeout = None
                    if self._oldest_at is not None:
                        timeout = max(
                            0.0, self._oldest_at + self.buffering.interval_s - time.monotonic()
                        )
                    self._condition.wait(timeout)
                if self._closing:
                    return
                batch = self._take()
            if batch:
                try:
                    self._settle(batch)
                except Exception:  # the worker must survive whatever one batch does
                    logger.exception("local stream: a batch could not be settled")

    def _due(self) -> bool:
        if not self._buffer:
            return False
        if self._buffered_bytes >= self.buffering.size_bytes:
            return True
        assert self._oldest_at is not None  # noqa: S101  # set whenever the buffer is not empty
        return time.monotonic() - self._oldest_at >= self.buffering.interval_s

    def _take(self) -> list[_Record]:
        """Take at most one buffer's worth of records (always at least one); caller locks."""
        batch: list[_Record] = []
        size = 0
        while self._buffer and (
            not batch or size + len(self._buffer[0].data) <= self.buffering.size_bytes
        ):
            record = self._buffer.popleft()
            batch.append(record)
            size += len(record.data)
        self._buffered_bytes -= size
        self._in_flight += len(batch)
        self._oldest_at = time.monotonic() if self._buffer else None
        return batch

    def _settle(self, batch: list[_Record]) -> BatchReport:
        try:
            with self._deliver_lock:
                report = self._deliver(batch)
            try:
                if self._on_batch is not None:
                    self._on_batch(report)
            finally:
                # Delivered or in the failures folder: either way the spool is done with it.
                # (A batch whose backup failed raised above and stays in the spool.)
                self._mark_settled(batch)
        finally:
            with self._condition:
                self._in_flight -= len(batch)
        return report

    def _mark_settled(self, batch: list[_Record]) -> None:
        if self.spool is None:
            return
        try:
            self.spool.settle(r.seq for r in batch if r.seq is not None)
        except InfrastructureError as exc:  # the batch is sent again after a restart
            logger.exception("local stream: the spool checkpoint was not advanced: %s", exc.message)

    def _deliver(self, batch: list[_Record]) -> BatchReport:
        request_id = str(uuid.uuid4())
        attempts = 0
        retry_until: float | None = None
        backoff = self.retry.first_backoff_s
        while True:
            attempts += 1
            status, error_code, message, response = self._attempt(request_id, batch)
            if error_code is None:
                break
            now = time.monotonic()
            if retry_until is None:
                retry_until = now + self.retry.duration_s
            if now + backoff > retry_until:
                break
            logger.warning(
                "local stream: batch %s attempt %d failed (%s); retrying in %.1fs",
                request_id,
                attempts,
                error_code,
                backoff,
            )
            time.sleep(backoff)
            backoff = min(backoff * 2, self.retry.max_backoff_s)
        failure = None
        if error_code is not None:
            failure = self._back_up(batch, attempts, error_code, message)
            logger.error(
                "local stream: batch %s undelivered after %d attempts (%s); backed up to %s",
                request_id,
                attempts,
                error_code,
                failure,
            )
        return BatchReport(
            request_id=request_id,
            records=len(batch),
            size_bytes=sum(len(r.data) for r in batch),
            attempts=attempts,
            delivered=error_code is None,
            status=status,
            error_code=error_code,
            failure_object=failure,
            response=response,
        )

    def request_event(self, request_id: str, batch: list[_Record]) -> dict[str, Any]:
        """The Function URL event of one delivery attempt, as Firehose would cause it."""
        now = self._clock()
        body = json.dumps(
            {
                "requestId": request_id,
                "timestamp": _epoch_ms(now),
                "records": [{"data": base64.b64encode(r.data).decode("ascii")} for r in batch],
            },
            separators=(",", ":"),
        ).encode()
        compressed = gzip.compress(body, compresslevel=6, mtime=0)
        return {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/",
            "rawQueryString": "",
            "headers": {
                "content-type": "application/json",
                "content-encoding": "gzip",
                "content-length": str(len(compressed)),
                "user-agent": USER_AGENT,
                "x-amz-firehose-protocol-version": "1.0",
                "x-amz-firehose-request-id": request_id,
                "x-amz-firehose-access-key": self._access_key,
                "x-amz-firehose-source-arn": (
                    f"arn:aws:firehose:local:000000000000:deliverystream/{self.stream_name}"
                ),
            },
            "requestContext": {
                "accountId": "anonymous",
                "apiId": "local",
                "domainName": "process-ingest.local",
                "domainPrefix": "process-ingest",
                "http": {
                    "method": "POST",
                    "path": "/",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": USER_AGENT,
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": "$default",
                "stage": "$default",
                "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": _epoch_ms(now),
            },
            "body": base64.b64encode(compressed).decode("ascii"),
            "isBase64Encoded": True,
        }

    def _attempt(
        self, request_id: str, batch: list[_Record]
    ) -> tuple[int | None, str | None, str, Mapping[str, Any] | None]:
        """One delivery attempt: (status, error code or None when delivered, message, response)."""
        if self._endpoint is None:
            return None, "HttpEndpoint.ConnectionFailed", "no endpoint is connected", None
        try:
            response = self._endpoint(self.request_event(request_id, batch))
        except Exception as exc:  # an endpoint crash is a failed attempt, as a 502 would be
            logger.exception("local stream: the endpoint raised")
            return (
                502,
                "HttpEndpoint.DestinationException",
                f"The following response was received from the endpoint destination. 502: {exc!r}",
                None,
            )
        status = response.get("statusCode")
        body = response.get("body") or ""
        if status != 200:
            return (
                status if isinstance(status, int) else None,
                "HttpEndpoint.DestinationException",
                (
                    "The following response was received from the endpoint destination. "
                    f"{status}: {str(body)[:512]}"
                ),
                response,
            )
        try:
            answer = json.loads(body)
        except (TypeError, ValueError):
            answer = None
        if not isinstance(answer, dict) or answer.get("requestId") != request_id:
            return (
                status,
                "HttpEndpoint.InvalidResponseFromDestination",
                (
                    "The response received from the endpoint is invalid: the request id is "
                    "not echoed in a JSON body."
                ),
                response,
            )
        return status, None, "", response

    def _back_up(self, batch: list[_Record], attempts: int, error_code: str, message: str) -> Path:
        now = self._clock().astimezone(UTC)
        ending = _epoch_ms(now)
        lines = [
            json.dumps(
                {
                    "attemptsMade": attempts,
                    "arrivalTimestamp": record.arrival_ms,
                    "errorCode": error_code,
                    "errorMessage": message,
                    "attemptEndingTimestamp": ending,
                    "rawData": base64.b64encode(record.data).decode("ascii"),
                    "subsequenceNumber": 0,
                    "dataId": record.data_id,
                },
                separators=(",", ":"),
            )
            for record in batch
        ]
        folder = self.failures_dir / FAILURE_PREFIX / now.strftime("%Y/%m/%d/%H")
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{self.stream_name}-1-{now:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}.gz"
        target = folder / name
        partial = folder / f".{name}.partial"
        partial.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
        partial.replace(target)  # atomic: a replay never reads half an object
        return target
