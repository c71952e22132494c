"""The Firehose adapters against moto (record shapes, delivery) and botocore's Stubber
(partial failures, which moto never produces)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from tests.support import aws as aws_support
from tests.support.aws import REGION, delivered_json, fake_aws
from tests.support.ingest import OTHER_SITE, SITE, uid

from adapters.aws.firehose import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    FirehoseColdForwarder,
    FirehoseIngestStream,
    access_key_from_secret,
    chunked,
    encode_cold_row,
)
from analytics_core.errors import ColdForwardError, InfrastructureError
from analytics_core.rows import EventRow, InitialEventRow

BUCKET = "analytics-cold-stand-in"
STAMP = datetime(2026, 11, 25, 11, 39, 34, 123000, tzinfo=UTC)


@pytest.fixture
def aws() -> Iterator[None]:
    """moto's in-process AWS with fake credentials."""
    with fake_aws():
        yield


def create_stream(name: str) -> None:
    """A DirectPut stream writing to an S3 prefix named after it (the Iceberg stand-in)."""
    aws_support.create_stream(name, BUCKET)


def delivered(prefix: str) -> list[dict[str, Any]]:
    """Every JSON object written under the prefix."""
    return delivered_json(BUCKET, prefix)


def event(number: int, **fields: Any) -> EventRow:
    values: dict[str, Any] = {
        "event_uid": uid(number),
        "site_id": SITE,
        "session_id": "s",
        "timestamp": STAMP,
        "dt": STAMP.date(),
        "event": "pageview",
        "pathname": "/",
        "properties": None,
        **fields,
    }
    return EventRow(**values)


def initial(number: int) -> InitialEventRow:
    return InitialEventRow(
        event_uid=uid(number),
        site_id=OTHER_SITE,
        session_id="s",
        timestamp=STAMP,
        dt=STAMP.date(),
        event="pageview",
        pathname="/landing",
        properties={"ab_test": "b"},
        referer="https://news.example/a",
        referer_domain="news.example",
        device="desktop",
        country="DE",
        region="DE-BY",
        screen_width=1920,
        screen_height=1080,
    )


def forward(
    forwarder: FirehoseColdForwarder,
    events: Sequence[EventRow],
    initial_events: Sequence[InitialEventRow],
) -> None:
    """Prepare the rows and forward them, as the ingest batch does."""
    forwarder.forward(
        [forwarder.prepare(row) for row in events],
        [forwarder.prepare(row) for row in initial_events],
    )


def test_rows_reach_both_streams_as_json_with_the_postgres_column_names(aws: None) -> None:
    """Events go to one stream and initial events to the other; timestamps ISO-8601 UTC with
    milliseconds, dt a date, properties as JSON text, no event_id."""
    create_stream("events")
    create_stream("initial_events")
    forwarder = FirehoseColdForwarder(
        boto3.client("firehose", region_name=REGION),
        events_stream="events",
        initial_events_stream="initial_events",
    )
    forward(forwarder, [event(1, properties={"plan": "pro"}), event(2)], [initial(3)])
    assert delivered("events") == [
        {
            "event_uid": uid(1),
            "site_id": SITE,
            "session_id": "s",
            "timestamp": "2026-11-25T11:39:34.123Z",
            "dt": "2026-11-25",
            "event": "pageview",
            "pathname": "/",
            "properties": '{"plan":"pro"}',
        },
        {
            "event_uid": uid(2),
            "site_id": SITE,
            "session_id": "s",
            "timestamp": "2026-11-25T11:39:34.123Z",
            "dt": "2026-11-25",
            "event": "pageview",
            "pathname": "/",
            "properties": None,
        },
    ]
    (row,) = delivered("initial_events")
    assert row["properties"] == '{"ab_test":"b"}'
    assert (row["referer_domain"], row["region"], row["screen_width"]) == (
        "news.example",
        "DE-BY",
        1920,
    )
    assert row["utm_source"] is None
    assert "event_id" not in row


def test_chunks_stay_within_count_and_size_limits() -> None:
    """At most 500 records and 4 MiB a call, in order; a record over 1,000 KiB is refused."""
    small = [b"x" * 100] * 1201
    assert [len(c) for c in chunked(small)] == [500, 500, 201]
    big = [bytes([i % 256]) * (900 * 1024) for i in range(10)]
    chunks = list(chunked(big))
    assert all(sum(map(len, c)) <= MAX_BATCH_BYTES for c in chunks)
    assert all(len(c) <= MAX_BATCH_RECORDS for c in chunks)
    assert [r for c in chunks for r in c] == big
    with pytest.raises(ColdForwardError):
        list(chunked([b"x" * (1000 * 1024 + 1)]))


def stubbed() -> tuple[Any, Stubber, list[float]]:
    client = boto3.client(
        "firehose", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client), []


def batch_call(records: list[bytes]) -> dict[str, Any]:
    return {"DeliveryStreamName": "events", "Records": [{"Data": r} for r in records]}


def answer(failed: list[bool]) -> dict[str, Any]:
    return {
        "FailedPutCount": sum(failed),
        "Encrypted": False,
        "RequestResponses": [
            {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}
            if bad
            else {"RecordId": f"id-{i}"}
            for i, bad in enumerate(failed)
        ],
    }


def test_refused_entries_are_resent_alone_with_backoff_until_accepted() -> None:
    """Entries refused twice (FailedPutCount > 0 with per-entry ErrorCode) are sent again, only
    they, with growing pauses, and the forward then succeeds with every row delivered."""
    client, stubber, pauses = stubbed()
    rows = [event(n) for n in range(1, 5)]
    records = [encode_cold_row(r) for r in rows]
    stubber.add_response(
        "put_record_batch", answer([False, True, False, True]), batch_call(records)
    )
    stubber.add_response(
        "put_record_batch", answer([False, True]), batch_call([records[1], records[3]])
    )
    stubber.add_response("put_record_batch", answer([False]), batch_call([records[3]]))
    forwarder = FirehoseColdForwarder(
        client, events_stream="events", initial_events_stream="initial", sleep=pauses.append
    )
    with stubber:
        forward(forwarder, rows, [])
    stubber.assert_no_pending_responses()
    assert pauses == [0.1, 0.2]


def test_throttled_calls_are_retried_and_persistent_refusal_fails_the_batch() -> None:
    """A throttled call is retried whole; entries still refused after the last attempt raise
    ColdForwardError saying how many."""
    client, stubber, pauses = stubbed()
    rows = [event(1), event(2)]
    records = [encode_cold_row(r) for r in rows]
    stubber.add_client_error(
        "put_record_batch",
        "ThrottlingException",
        http_status_code=400,
        expected_params=batch_call(records),
    )
    stubber.add_response("put_record_batch", answer([False, True]), batch_call(records))
    for _attempt in range(3):
        stubber.add_response("put_record_batch", answer([True]), batch_call(records[1:]))
    forwarder = FirehoseColdForwarder(
        client, events_stream="events", initial_events_stream="i", attempts=5, sleep=pauses.append
    )
    with stubber, pytest.raises(ColdForwardError) as failure:
        forward(forwarder, rows, [])
    stubber.assert_no_pending_responses()
    assert failure.value.failed == 1
    assert pauses == [0.1, 0.2, 0.4, 0.8]


def test_a_missing_stream_fails_at_once() -> None:
    """An error retrying cannot fix (the stream does not exist) fails without retries."""
    client, stubber, pauses = stubbed()
    stubber.add_client_error("put_record_batch", "ResourceNotFoundException", http_status_code=400)
    forwarder = FirehoseColdForwarder(
        client, events_stream="events", initial_events_stream="i", sleep=pauses.append
    )
    with stubber, pytest.raises(ColdForwardError):
        forward(forwarder, [event(1)], [])
    assert pauses == []


def test_ingest_stream_puts_one_record_and_translates_refusals(aws: None) -> None:
    """PutRecord delivers the envelope as is; a missing stream is an InfrastructureError."""
    create_stream("IngestHttp")
    client = boto3.client("firehose", region_name=REGION)
    FirehoseIngestStream(client, "IngestHttp").put(b'{"v":1}')
    assert delivered("IngestHttp") == [{"v": 1}]
    with pytest.raises(InfrastructureError):
        FirehoseIngestStream(client, "Missing").put(b"{}")


@pytest.mark.parametrize(
    ("secret", "key"),
    [
        ('{"api_key": "abc123"}', "abc123"),
        ("plain-key\n", "plain-key"),
        ('{"other": 1}', '{"other": 1}'),
    ],
)
def test_access_key_from_secret(secret: str, key: str) -> None:
    """Firehose's {"api_key": ...} secret form is unpacked; other text is the key itself."""
    assert access_key_from_secret(secret) == key


def test_a_full_batch_goes_out_in_parallel_calls_and_every_row_arrives(aws: None) -> None:
    """1,200 events and 600 initial events: five calls of at most 500 records, sent in
    parallel, and every row delivered once."""
    create_stream("events")
    create_stream("initial_events")
    client = boto3.client("firehose", region_name=REGION)
    calls: list[int] = []
    client.meta.events.register(
        "provide-client-params.firehose.PutRecordBatch",
        lambda params, **_: calls.append(len(params["Records"])),
    )
    forwarder = FirehoseColdForwarder(
        client, events_stream="events", initial_events_stream="initial_events"
    )
    forward(forwarder, [event(n) for n in range(1200)], [initial(n) for n in range(2000, 2600)])
    assert sorted(calls) == [100, 200, 500, 500, 500]
    assert sorted(row["event_uid"] for row in delivered("events")) == sorted(
        uid(n) for n in range(1200)
    )
    assert len(delivered("initial_events")) == 600
