"""Firehose: the collect endpoint's intake stream and the cold store's two Iceberg streams.

`FirehoseIngestStream` puts one envelope per `PutRecord` into the IngestHttp stream.

`FirehoseColdForwarder` sends stored rows to the `events` / `initial_events` streams with
`PutRecordBatch` (each row encoded by `prepare` as the batch builds it), one JSON object per
row with the PostgreSQL column names (no `event_id`), `timestamp` ISO-8601 UTC with
milliseconds, `dt` as YYYY-MM-DD and `properties` as its JSON text (the Iceberg column is a
string). Batches stay within Firehose's limits (500 records, 4 MiB a call, 1,000 KiB a record).
A call can answer 200 and still refuse some entries (`FailedPutCount`, an `ErrorCode` per
entry): only those are sent again, with exponential backoff; throttling and service errors of
the whole call are retried the same way. Rows still refused after the last attempt raise
`ColdForwardError`, so the batch fails and Firehose delivers it again (the hot store then finds
duplicates and the rows are forwarded again: the cold store is at-least-once and readers
de-duplicate on `event_uid`). A full batch makes a dozen calls, so they are sent a few at a time
in parallel (boto3 clients are thread-safe): sequentially, their round trips would take longer
than the whole database transaction."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from adapters.config import Env, Settings
from adapters.json_text import encode_json, properties_json
from analytics_core.errors import ColdForwardError, InfrastructureError
from analytics_core.ports import MAX_STREAM_RECORD_BYTES
from analytics_core.rows import (
    EventRow,
    InitialEventRow,
    Row,
    iso_millis,
)

if TYPE_CHECKING:
    from mypy_boto3_firehose import FirehoseClient

MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = MAX_STREAM_RECORD_BYTES
DEFAULT_ATTEMPTS = 5
DEFAULT_BACKOFF_S = 0.1
DEFAULT_PARALLEL_CALLS = 4
_RETRYABLE_CODES = frozenset(
    {
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "ThrottlingException",
        "Throttling",
        "InternalFailure",
        "InternalServerError",
        "LimitExceededException",
        "RequestTimeout",
    }
)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


class FirehoseIngestStream:
    """`IngestStream` on a Firehose DirectPut stream (IngestHttp)."""

    def __init__(self, client: FirehoseClient, stream_name: str) -> None:
        self._client = client
        self._stream = stream_name

    @classmethod
    def from_settings(cls, settings: Settings, client: FirehoseClient) -> FirehoseIngestStream:
        """The stream named by `INGEST_STREAM_NAME`."""
        return cls(client, settings.require(Env.INGEST_STREAM_NAME))

    def put(self, record: bytes) -> None:
        """PutRecord one envelope; `InfrastructureError` when Firehose refuses it."""
        try:
            self._client.put_record(DeliveryStreamName=self._stream, Record={"Data": record})
        except ClientError as exc:
            raise InfrastructureError(
                f"ingest stream refused the record: {_error_code(exc)}"
            ) from exc
        except BotoCoreError as exc:
            raise InfrastructureError(f"ingest stream unreachable: {type(exc).__name__}") from exc


@lru_cache(maxsize=64)  # a batch's rows fall on a day or two
def _iso_date(day: date) -> str:
    return day.isoformat()


def _properties(properties: Mapping[str, Any] | None) -> str | None:
    return None if properties is None else properties_json(properties)


# The two row shapes written out as dict displays (a test holds their keys to the columns):
# twice as fast as dict(zip(columns, row)), and there is one call per stored row.
def _event_object(row: EventRow) -> dict[str, Any]:
    uid, site_id, session_id, timestamp, dt, event, pathname, properties = row
    return {
        "event_uid": uid,
        "site_id": site_id,
        "session_id": session_id,
        "timestamp": iso_millis(timestamp),
        "dt": _iso_date(dt),
        "event": event,
        "pathname": pathname,
        "properties": _properties(properties),
    }


def _initial_event_object(row: InitialEventRow) -> dict[str, Any]:
    return {
        **_event_object(row[:8]),  # type: ignore[arg-type]  # the event columns come first
        "referer": row.referer,
        "referer_domain": row.referer_domain,
        "utm_source": row.utm_source,
        "utm_medium": row.utm_medium,
        "utm_campaign": row.utm_campaign,
        "utm_content": row.utm_content,
        "utm_term": row.utm_term,
        "device": row.device,
        "os": row.os,
        "browser": row.browser,
        "country": row.country,
        "region": row.region,
        "city": row.city,
        "screen_width": row.screen_width,
        "screen_height": row.screen_height,
    }


_OBJECTS: dict[type[Row], Callable[[Any], dict[str, Any]]] = {
    EventRow: _event_object,
    InitialEventRow: _initial_event_object,
}


def cold_row(row: Row) -> dict[str, Any]:
    """A row as the cold store's JSON object (see the module docstring)."""
    return _OBJECTS[type(row)](row)


def encode_cold_row(row: Row) -> bytes:
    """`cold_row` as the bytes of one Firehose record: compact UTF-8 JSON. orjson writes the
    bytes json would for a cold row, whose values are texts, small integers and null (the
    properties are already text); json still encodes what orjson refuses (a lone surrogate,
    which then fails as it always did)."""
    data = cold_row(row)
    try:
        encoded = orjson.dumps(data)
    except orjson.JSONEncodeError:
        return encode_json(data).encode("utf-8")
    # A copy of exactly the right size: orjson's bytes are allocated larger and shrunk in
    # place, and keeping thousands of them (a batch's records) fragments the heap so badly
    # that later allocations cost more than the encoding saved (measured: about 3 µs a row).
    return encoded.decode("utf-8").encode("utf-8")


def chunked(records: Sequence[bytes]) -> Iterator[list[bytes]]:
    """Split records into PutRecordBatch calls within Firehose's count and size limits."""
    chunk: list[bytes] = []
    size = 0
    for record in records:
        if len(record) > MAX_RECORD_BYTES:
            raise ColdForwardError(
                f"a row of {len(record)} bytes exceeds Firehose's record limit", 1
            )
        if chunk and (len(chunk) == MAX_BATCH_RECORDS or size + len(record) > MAX_BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(record)
        size += len(record)
    if chunk:
        yield chunk


ClientSource = Callable[[], "FirehoseClient"]
"""Makes the client on first use (a cold start then skips loading botocore's service model)."""


class FirehoseColdForwarder:
    """`ColdForwarder` on the two Iceberg Firehose streams; `client` is a client or a
    `ClientSource`."""

    def __init__(
        self,
        client: FirehoseClient | ClientSource,
        *,
        events_stream: str,
        initial_events_stream: str,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff_s: float = DEFAULT_BACKOFF_S,
        sleep: Callable[[float], None] = time.sleep,
        parallel_calls: int = DEFAULT_PARALLEL_CALLS,
    ) -> None:
        self._client_source = client
        self._parallel = max(1, parallel_calls)
        self._events_stream = events_stream
        self._initial_events_stream = initial_events_stream
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._sleep = sleep

    @cached_property
    def _client(self) -> FirehoseClient:
        source = self._client_source
        return source() if callable(source) else source

    @classmethod
    def from_settings(
        cls, settings: Settings, client: FirehoseClient | ClientSource
    ) -> FirehoseColdForwarder:
        """The streams named by `EVENTS_STREAM_NAME` and `INITIAL_EVENTS_STREAM_NAME`."""
        return cls(
            client,
            events_stream=settings.require(Env.EVENTS_STREAM_NAME),
            initial_events_stream=settings.require(Env.INITIAL_EVENTS_STREAM_NAME),
        )

    # The row as its Firehose record: `encode_cold_row` itself, one call less per row.
    prepare = staticmethod(encode_cold_row)

    def forward(self, events: Sequence[bytes], initial_events: Sequence[bytes]) -> None:
        """Deliver every record (prepared rows), or raise `ColdForwardError` saying how many
        were refused."""
        streams = (
            (self._events_stream, events),
            (self._initial_events_stream, initial_events),
        )
        calls = [(stream, chunk) for stream, records in streams for chunk in chunked(records)]
        if not calls:
            return
        # Made here, once: the workers must not create it concurrently (boto3's default
        # session is not thread-safe, and cached_property has no lock since Python 3.12).
        client = self._client
        if len(calls) == 1 or self._parallel == 1:
            refused = sum(self._send(client, stream, chunk) for stream, chunk in calls)
        else:
            with ThreadPoolExecutor(min(self._parallel, len(calls))) as pool:
                refused = sum(pool.map(lambda call: self._send(client, *call), calls))
        if refused:
            raise ColdForwardError(
                f"Firehose refused {refused} row(s) after {self._attempts} attempts", refused
            )

    def _send(self, client: FirehoseClient, stream: str, records: list[bytes]) -> int:
        """Send one chunk, resending refused entries; returns how many were never accepted."""
        pending = records
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(self._backoff_s * 2 ** (attempt - 1))
            try:
                response = client.put_record_batch(
                    DeliveryStreamName=stream, Records=[{"Data": data} for data in pending]
                )
            except ClientError as exc:
                code = _error_code(exc)
                if code not in _RETRYABLE_CODES:
                    raise ColdForwardError(
                        f"Firehose stream {stream} refused the batch: {code}",
                        len(pending),
                    ) from exc
                continue  # the whole call failed: all of `pending` again
            except BotoCoreError:
                continue
            if not response.get("FailedPutCount"):
                return 0
            answers = response["RequestResponses"]
            pending = [
                data for data, answer in zip(pending, answers, strict=True) if "ErrorCode" in answer
            ]
            if not pending:
                return 0
        return len(pending)


def access_key_from_secret(secret: str) -> str:
    """The access key in a Secrets Manager secret: Firehose's `{"api_key": ...}` JSON form,
    else the whole (stripped) text."""
    try:
        data = json.loads(secret)
    except ValueError:
        return secret.strip()
    if isinstance(data, dict) and isinstance(data.get("api_key"), str):
        return str(data["api_key"])
    return secret.strip()
