"""Builders for the ingest tests: envelopes, Firehose HTTP endpoint requests, collect requests.

Envelopes are written here by hand (plain JSON), not with the product's encoder, so that the
decoder is tested against the documented wire form. Firehose requests follow AWS's
documentation (`httpdeliveryrequestresponse.html`) inside a Lambda Function URL event.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from tests.support.events import load_event

SITE = "01JDQ7ZK3M00000000000000S1"
OTHER_SITE = "01JDQ7ZK3M00000000000000S2"
ACCESS_KEY = "fh-key-0123456789abcdefghijklmnopqrstuvwxyz"
REQUEST_ID = "ed4acda5-034f-9f42-bba1-f29aea6d7d8f"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NOW_MS = 1_795_608_000_000
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
VISITOR_IP = "203.0.113.77"


def uid(number: int) -> str:
    """A ULID-shaped event uid that sorts by `number`."""
    return f"01JDQ7ZK3M{number:016d}"


def payload(
    kind: str = "event",
    *,
    session_id: str = "session-1",
    event: str = "pageview",
    pathname: str = "/",
    **extra: Any,
) -> dict[str, Any]:
    """A tracker body."""
    return {"type": kind, "session_id": session_id, "event": event, "pathname": pathname, **extra}


def envelope(
    number: int,
    body: Mapping[str, Any] | None = None,
    *,
    site_id: str = SITE,
    received_at: str = "2026-11-25T12:00:00.000Z",
    ip: str | None = VISITOR_IP,
    user_agent: str | None = CHROME,
    origin: str | None = "https://example.com",
    referer: str | None = None,
    geo: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """An envelope as the collect endpoint writes it (a JSON-ready dict)."""
    return {
        "v": 1,
        "uid": uid(number),
        "site_id": site_id,
        "received_at": received_at,
        "payload": dict(body if body is not None else payload()),
        "ctx": {
            "ip": ip,
            "user_agent": user_agent,
            "origin": origin,
            "referer": referer,
            "geo": None if geo is None else dict(geo),
        },
    }


def record(data: Mapping[str, Any] | bytes) -> bytes:
    """The bytes of one Firehose record."""
    return data if isinstance(data, bytes) else json.dumps(data).encode()


def firehose_body(
    records: Sequence[bytes], request_id: str = REQUEST_ID, timestamp_ms: int = NOW_MS
) -> bytes:
    """The JSON body Firehose POSTs: requestId, timestamp, base64 records."""
    return json.dumps(
        {
            "requestId": request_id,
            "timestamp": timestamp_ms,
            "records": [{"data": base64.b64encode(r).decode()} for r in records],
        }
    ).encode()


def firehose_event(
    records: Sequence[bytes] = (),
    *,
    access_key: str | None = ACCESS_KEY,
    request_id: str = REQUEST_ID,
    gzip_body: bool = True,
    base64_body: bool = True,
    raw_body: bytes | None = None,
) -> dict[str, Any]:
    """A Function URL event carrying a Firehose HTTP endpoint request.

    The body is the documented JSON, gzipped when `gzip_body` (the stream's GZIP content
    encoding), handed over base64-encoded when `base64_body`; `raw_body` replaces the bytes
    before that last step (to send broken bodies).
    """
    event = copy.deepcopy(load_event("function_url_firehose"))
    data = raw_body if raw_body is not None else firehose_body(records, request_id)
    if gzip_body and raw_body is None:
        data = gzip.compress(data)
    headers = event["headers"]
    headers["x-amz-firehose-request-id"] = request_id
    if not gzip_body:
        del headers["content-encoding"]
    if access_key is None:
        del headers["x-amz-firehose-access-key"]
    else:
        headers["x-amz-firehose-access-key"] = access_key
    headers["content-length"] = str(len(data))
    if base64_body:
        event["body"] = base64.b64encode(data).decode()
        event["isBase64Encoded"] = True
    else:
        event["body"] = data.decode("utf-8")
        event["isBase64Encoded"] = False
    return event


def collect_event(
    body: Mapping[str, Any] | str | bytes | None = None,
    *,
    site_id: str | None = SITE,
    method: str = "POST",
    headers: Mapping[str, str | None] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """A Function URL event of the tracker's POST (CloudFront in front, geo headers set).

    `headers` entries replace the canonical ones; a None value removes the header.
    """
    event = copy.deepcopy(load_event("function_url_collect"))
    event["requestContext"]["http"]["method"] = method
    if site_id is None:
        event.pop("queryStringParameters", None)
        event["rawQueryString"] = ""
    else:
        event["queryStringParameters"] = {"site_id": site_id}
        event["rawQueryString"] = f"site_id={site_id}"
    for name, value in (headers or {}).items():
        if value is None:
            event["headers"].pop(name, None)
        else:
            event["headers"][name] = value
    if body is not None:
        raw = body if isinstance(body, bytes | str) else json.dumps(body)
        data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
        if base64_body:
            event["body"] = base64.b64encode(data).decode()
            event["isBase64Encoded"] = True
        else:
            event["body"] = data.decode("utf-8", "surrogatepass")
            event["isBase64Encoded"] = False
    return event


def response_json(response: Mapping[str, Any]) -> Any:
    """The JSON body of a Lambda proxy response."""
    return json.loads(response["body"])
