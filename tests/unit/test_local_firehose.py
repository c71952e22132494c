"""The local Firehose stream: buffering, the real HTTP-endpoint request, retries, backups."""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from tests.support.clock import FakeClock

from adapters.local.failures import LocalFailureObjects
from adapters.local.firehose import Buffering, LocalFirehoseStream, Retry
from analytics_core.errors import InfrastructureError
from entrypoints.failure_objects import parse_failure_object

ACCESS_KEY = "local-access-key-123"
FAST_RETRY = Retry(duration_s=0.2, first_backoff_s=0.01, max_backoff_s=0.05)


def decode_request(event: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of a Function URL event carrying a Firehose request (base64, gzip)."""
    assert event["isBase64Encoded"] is True
    raw = base64.b64decode(event["body"])
    assert raw[:2] == b"\x1f\x8b"
    return json.loads(gzip.decompress(raw))


class Endpoint:
    """A processIngest stand-in that records requests and answers as told."""

    def __init__(self, answers: list[int] | None = None, *, echo: bool = True) -> None:
        self.answers = list(answers or [])
        self.echo = echo
        self.events: list[Mapping[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, event: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.events.append(event)
            status = self.answers.pop(0) if self.answers else 200
        body = decode_request(event)
        request_id = body["requestId"] if self.echo else "something-else"
        return {
            "statusCode": status,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"requestId": request_id, "timestamp": 1}),
        }

    def records(self) -> list[bytes]:
        with self.lock:
            events = list(self.events)
        return [base64.b64decode(r["data"]) for e in events for r in decode_request(e)["records"]]


def stream(
    endpoint: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None,
    tmp_path: Path,
    *,
    buffering: Buffering | None = None,
    retry: Retry = FAST_RETRY,
    **kwargs: Any,
) -> LocalFirehoseStream:
    return LocalFirehoseStream(
        endpoint,
        access_key=ACCESS_KEY,
        failures_dir=tmp_path / "failures",
        buffering=buffering or Buffering(size_bytes=1024 * 1024, interval_s=3600),
        retry=retry,
        **kwargs,
    )


def poll(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def envelope(n: int) -> bytes:
    return json.dumps({"v": 1, "uid": f"uid-{n}", "site_id": "S", "payload": {"n": n}}).encode()


def test_a_batch_is_the_firehose_http_endpoint_request(tmp_path: Path) -> None:
    """A flush sends one Function URL event: Firehose headers, the access key, a gzipped
    base64 body with requestId, an epoch-millisecond timestamp and every record in order."""
    endpoint = Endpoint()
    clock = FakeClock()
    s = stream(endpoint, tmp_path, clock=clock)
    for n in range(3):
        s.put(envelope(n))
    reports = s.flush()
    assert [r.delivered for r in reports] == [True]
    (event,) = endpoint.events
    headers = event["headers"]
    assert headers["x-amz-firehose-access-key"] == ACCESS_KEY
    assert headers["x-amz-firehose-request-id"] == reports[0].request_id
    assert headers["x-amz-firehose-protocol-version"] == "1.0"
    assert headers["content-encoding"] == "gzip"
    assert all(name == name.lower() for name in headers)
    assert event["requestContext"]["http"]["method"] == "POST"
    body = decode_request(event)
    assert body["requestId"] == reports[0].request_id
    assert body["timestamp"] == int(clock.now.timestamp() * 1000)
    assert endpoint.records() == [envelope(n) for n in range(3)]
    assert not (tmp_path / "failures").exists()
    assert s.pending() == 0


def test_the_buffer_is_delivered_when_it_reaches_its_size(tmp_path: Path) -> None:
    """With a long interval, the background worker still delivers once the size is reached,
    in batches no larger than the buffer."""
    endpoint = Endpoint()
    size = len(envelope(0)) * 4
    s = stream(endpoint, tmp_path, buffering=Buffering(size_bytes=size, interval_s=3600))
    s.start()
    try:
        for n in range(8):
            s.put(envelope(n))
        poll(lambda: len(endpoint.records()) == 8)
        assert all(len(decode_request(e)["records"]) <= 4 for e in endpoint.events)
    finally:
        s.close()


def test_the_buffer_is_delivered_when_its_oldest_record_is_due(tmp_path: Path) -> None:
    """Below the size, the worker delivers after the buffering interval."""
    endpoint = Endpoint()
    s = stream(endpoint, tmp_path, buffering=Buffering(size_bytes=1024 * 1024, interval_s=0.05))
    s.start()
    try:
        s.put(envelope(1))
        poll(lambda: endpoint.records() == [envelope(1)])
    finally:
        s.close()


def test_failed_attempts_are_retried_with_the_same_request_id(tmp_path: Path) -> None:
    """A 503 and a non-200 2xx are retried; the third attempt's 200 delivers the batch."""
    endpoint = Endpoint([503, 202, 200])
    s = stream(endpoint, tmp_path, retry=Retry(duration_s=5, first_backoff_s=0.01))
    s.put(envelope(1))
    (report,) = s.flush()
    assert report.delivered
    assert report.attempts == 3
    ids = {decode_request(e)["requestId"] for e in endpoint.events}
    assert ids == {report.request_id}


def test_a_200_that_does_not_echo_the_request_id_is_not_a_delivery(tmp_path: Path) -> None:
    """An answer without the echoed requestId is invalid, as Firehose judges it."""
    s = stream(Endpoint(echo=False), tmp_path)
    s.put(envelope(1))
    (report,) = s.flush()
    assert not report.delivered
    assert report.error_code == "HttpEndpoint.InvalidResponseFromDestination"


def test_an_undeliverable_batch_is_backed_up_in_firehose_failure_format(tmp_path: Path) -> None:
    """After the retry duration, each record becomes one failure record (every documented
    field, rawData the envelope) in a gzipped object under http-firehose-failures/YYYY/MM/DD/HH."""
    clock = FakeClock()
    endpoint = Endpoint([500] * 100)
    s = stream(endpoint, tmp_path, clock=clock)
    s.put(envelope(1))
    s.put(envelope(2))
    (report,) = s.flush()
    assert not report.delivered
    assert report.attempts >= 2
    assert report.failure_object is not None
    relative = report.failure_object.relative_to(tmp_path / "failures").as_posix()
    assert relative.startswith(f"http-firehose-failures/{clock.now:%Y/%m/%d/%H}/IngestHttp-1-")
    raw = report.failure_object.read_bytes()
    lines = gzip.decompress(raw).decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert [set(r) for r in records] == [
        {
            "attemptsMade",
            "arrivalTimestamp",
            "errorCode",
            "errorMessage",
            "attemptEndingTimestamp",
            "rawData",
            "subsequenceNumber",
            "dataId",
        }
    ] * 2
    assert records[0]["errorCode"] == "HttpEndpoint.DestinationException"
    assert records[0]["attemptsMade"] == report.attempts
    assert records[0]["arrivalTimestamp"] == int(clock.now.timestamp() * 1000)
    assert parse_failure_object(raw).envelopes == (envelope(1), envelope(2))
    stored = LocalFailureObjects(tmp_path / "failures").list_objects()
    assert [o.key for o in stored] == [relative]


def test_an_endpoint_that_raises_is_a_failed_attempt(tmp_path: Path) -> None:
    """An exception from the in-process endpoint does not kill the stream: it is a failure
    like a 502, and the batch is backed up."""

    def broken(_event: Mapping[str, Any]) -> Mapping[str, Any]:
        raise RuntimeError("boom")

    s = stream(broken, tmp_path)
    s.put(envelope(1))
    (report,) = s.flush()
    assert not report.delivered
    assert report.failure_object is not None


def test_close_delivers_what_is_buffered_and_then_refuses(tmp_path: Path) -> None:
    """close() flushes the buffer even with a long interval; a put afterwards is refused."""
    endpoint = Endpoint()
    s = stream(endpoint, tmp_path)
    s.start()
    for n in range(5):
        s.put(envelope(n))
    reports = s.close()
    assert sum(r.records for r in reports) == 5
    assert endpoint.records() == [envelope(n) for n in range(5)]
    with pytest.raises(InfrastructureError):
        s.put(envelope(6))


def test_a_backlog_past_its_limit_is_refused(tmp_path: Path) -> None:
    """When too much waits for delivery the stream throttles, as Firehose does."""
    s = stream(Endpoint(), tmp_path, max_backlog_bytes=len(envelope(1)) * 2)
    s.put(envelope(1))
    s.put(envelope(2))
    with pytest.raises(InfrastructureError):
        s.put(envelope(3))


def test_every_batch_is_reported(tmp_path: Path) -> None:
    """The on_batch hook (the serve log line) hears about each delivered batch."""
    seen: list[int] = []
    s = stream(Endpoint(), tmp_path, on_batch=lambda report: seen.append(report.records))
    s.put(envelope(1))
    s.flush()
    assert seen == [1]
