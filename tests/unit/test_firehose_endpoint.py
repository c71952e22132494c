"""processIngest's HTTP contract with in-memory stores: decoding layers, access key, answers,
and the one log line per batch."""

from __future__ import annotations

import base64
import gc
import gzip
import json
import logging
from typing import Any

import pytest
from tests.support.ingest import (
    ACCESS_KEY,
    CHROME,
    NOW_MS,
    REQUEST_ID,
    VISITOR_IP,
    envelope,
    firehose_body,
    firehose_event,
    record,
)
from tests.support.world import World, firehose_handler, world_with_site

from entrypoints.api.firehose_endpoint import MAX_BODY_BYTES
from entrypoints.http import LambdaHandler

OK_BODY = f'{{"requestId":"{REQUEST_ID}","timestamp":{NOW_MS}}}'


@pytest.fixture
def world() -> World:
    return world_with_site()


@pytest.fixture
def handler(world: World) -> LambdaHandler:
    return firehose_handler(world)


def records(*numbers: int) -> list[bytes]:
    return [record(envelope(n)) for n in numbers]


@pytest.mark.parametrize(
    ("gzip_body", "base64_body"), [(True, True), (False, True), (False, False)]
)
def test_a_documented_request_gets_the_documented_answer(
    handler: LambdaHandler, world: World, gzip_body: bool, base64_body: bool
) -> None:
    """Gzip or plain, base64-encoded by the Function URL or not: 200, JSON content type, no
    Content-Encoding, body exactly {"requestId": <echoed>, "timestamp": <epoch ms>}."""
    event = firehose_event(records(1, 2), gzip_body=gzip_body, base64_body=base64_body)
    response = handler(event, None)
    assert response == {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": OK_BODY,
        "isBase64Encoded": False,
    }
    assert len(world.store.all_rows()) == 2


def test_gzip_is_detected_by_its_magic_bytes_not_the_headers(
    handler: LambdaHandler, world: World
) -> None:
    """A gzip body without Content-Encoding, and a plain one claiming gzip, both decode."""
    event = firehose_event(records(1), gzip_body=True)
    del event["headers"]["content-encoding"]
    assert handler(event, None)["statusCode"] == 200
    event = firehose_event(records(2), gzip_body=False)
    event["headers"]["content-encoding"] = "gzip"
    assert handler(event, None)["statusCode"] == 200
    assert len(world.store.all_rows()) == 2


def test_multi_member_gzip_bodies_decode(handler: LambdaHandler, world: World) -> None:
    """A body of several concatenated gzip members is one document."""
    body = firehose_body(records(1, 2))
    data = gzip.compress(body[:20]) + gzip.compress(body[20:])
    event = firehose_event(raw_body=data)
    assert handler(event, None)["body"] == OK_BODY
    assert len(world.store.all_rows()) == 2


@pytest.mark.parametrize("key", [None, "", "wrong", ACCESS_KEY.upper(), ACCESS_KEY + "x"])
def test_a_wrong_or_missing_key_is_401_and_nothing_is_decoded(
    handler: LambdaHandler, world: World, key: str | None
) -> None:
    """401 with the request id echoed; the body is not even looked at (garbage here)."""
    event = firehose_event(access_key=key, raw_body=b"\x1f\x8b garbage")
    response = handler(event, None)
    assert response["statusCode"] == 401
    assert response["headers"] == {"Content-Type": "application/json"}
    assert json.loads(response["body"]) == {
        "requestId": REQUEST_ID,
        "timestamp": NOW_MS,
        "errorMessage": "invalid or missing access key",
    }
    good = firehose_event(records(1), access_key=key)
    assert handler(good, None)["statusCode"] == 401
    assert world.store.all_rows() == []


def bomb() -> bytes:
    return gzip.compress(b"0" * (MAX_BODY_BYTES + 1), compresslevel=9)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda e: e.update(body="%%% not base64 %%%"), id="bad-base64"),
        pytest.param(
            lambda e: e.update(
                body=base64.b64encode(gzip.compress(firehose_body(records(1)))[:-12]).decode()
            ),
            id="truncated-gzip",
        ),
        pytest.param(lambda e: e.update(body=base64.b64encode(bomb()).decode()), id="gzip-bomb"),
        pytest.param(lambda e: e.update(body=base64.b64encode(b"{oops").decode()), id="not-json"),
        pytest.param(
            lambda e: e.update(body=base64.b64encode(b'{"requestId": "x"}').decode()),
            id="no-records",
        ),
        pytest.param(lambda e: e.update(body=""), id="empty"),
    ],
)
def test_an_undecodable_body_is_400_so_firehose_retries_and_backs_it_up(
    handler: LambdaHandler, world: World, mutate: Any
) -> None:
    """Never 200 (the batch would be lost), never 413 (Firehose would drop it): 400."""
    event = firehose_event(records(1))
    mutate(event)
    response = handler(event, None)
    assert response["statusCode"] == 400
    body = json.loads(response["body"])
    assert body["requestId"] == REQUEST_ID
    assert body["timestamp"] == NOW_MS
    assert body["errorMessage"]
    assert world.store.all_rows() == []


def test_bad_records_are_counted_and_the_batch_succeeds(
    handler: LambdaHandler, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Invalid base64, a non-object record, a truncated gzip record, non-object JSON: malformed,
    while the good records are stored and the answer is 200."""
    body = json.loads(firehose_body(records(1, 2)))
    body["records"] += [
        {"data": "***"},
        "not an object",
        {"data": base64.b64encode(gzip.compress(record(envelope(3)))[:-9]).decode()},
        {"data": base64.b64encode(b"[1, 2, 3]").decode()},
        {"nodata": True},
    ]
    event = firehose_event(raw_body=gzip.compress(json.dumps(body).encode()))
    with caplog.at_level(logging.INFO):
        assert handler(event, None)["body"] == OK_BODY
    assert len(world.store.all_rows()) == 2
    (line,) = [
        json.loads(r.getMessage()) for r in caplog.records if "ingest batch" in r.getMessage()
    ]
    assert line["outcomes"]["malformed"] == 5
    assert line["outcomes"]["accepted"] == 2
    assert line["records"] == 7


def test_a_gzipped_record_is_unpacked(handler: LambdaHandler, world: World) -> None:
    """A record whose bytes are gzip is unpacked (bounded) before it is read."""
    event = firehose_event([gzip.compress(record(envelope(1)))])
    assert handler(event, None)["statusCode"] == 200
    assert len(world.store.all_rows()) == 1


def test_infrastructure_failures_are_503_and_nothing_stays_half_done(
    handler: LambdaHandler, world: World
) -> None:
    """The database down: 503, nothing stored; cold store refusing: 503, and the redelivery
    (duplicates now) is forwarded and answered 200."""
    world.store.unavailable = True
    response = handler(firehose_event(records(1)), None)
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["errorMessage"]
    world.store.unavailable = False
    assert world.store.all_rows() == []
    world.cold.failures = 1
    assert handler(firehose_event(records(1)), None)["statusCode"] == 503
    assert handler(firehose_event(records(1)), None)["statusCode"] == 200
    assert [r.event_uid for r in world.cold.events] == [envelope(1)["uid"]]


def test_an_unexpected_error_is_500_and_its_message_is_not_logged(
    handler: LambdaHandler, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug is a 500 with a generic message (Firehose retries); the log has the error's type
    and traceback but not its message, which could quote a visitor's data."""

    def broken(rows: object, rejected: object, **hints: object) -> list[object]:
        raise RuntimeError(f"cannot handle {CHROME} from {VISITOR_IP}")

    world.store.store = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO):
        response = handler(firehose_event(records(1)), None)
    assert response["statusCode"] == 500
    assert json.loads(response["body"])["errorMessage"] == "internal error"
    assert "RuntimeError" in caplog.text
    assert "broken" in caplog.text  # the traceback's frames
    assert CHROME not in caplog.text
    assert VISITOR_IP not in caplog.text


def test_the_body_request_id_is_echoed(handler: LambdaHandler) -> None:
    """The response echoes the requestId of the body exactly."""
    event = firehose_event(records(1), request_id="a/b+c=1 ünïcode")
    response = handler(event, None)
    assert json.loads(response["body"])["requestId"] == "a/b+c=1 ünïcode"


def test_one_log_line_per_batch_and_no_visitor_data_in_any_log(
    handler: LambdaHandler, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Each batch logs one JSON line (request id, counts, rows written, duration); neither the
    visitor's IP nor the user agent appears in any log record, on success or failure."""
    with caplog.at_level(logging.DEBUG):
        handler(firehose_event(records(1, 2)), None)
        world.store.unavailable = True
        handler(firehose_event(records(3), request_id="second"), None)
        world.store.unavailable = False
        handler(firehose_event(access_key="nope"), None)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "entrypoints.pipeline"]
    assert [line["message"] for line in lines] == ["ingest batch", "ingest batch failed"]
    first = lines[0]
    assert first["requestId"] == REQUEST_ID
    assert first["rowsWritten"] == 2
    assert first["outcomes"] == {
        "accepted": 2,
        "duplicate": 0,
        "malformed": 0,
        "unknown_site": 0,
        "domain_mismatch": 0,
        "bot": 0,
        "over_allowance": 0,
    }
    assert isinstance(first["durationMs"], int)
    assert lines[1]["requestId"] == "second"
    assert lines[1]["error"] == "StoreUnavailableError"
    everything = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert VISITOR_IP not in everything
    assert CHROME not in everything
    assert "Chrome/125" not in everything


def test_the_garbage_collector_runs_again_after_every_batch(
    handler: LambdaHandler, world: World
) -> None:
    """The collector paused during a batch is back on after success and after failure."""
    assert gc.isenabled()
    handler(firehose_event(records(1)), None)
    assert gc.isenabled()
    world.store.unavailable = True
    assert handler(firehose_event(records(2)), None)["statusCode"] == 503
    assert gc.isenabled()
