"""The collect API (ingest Lambda) with an in-memory stream: checks, envelope, answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.support.clock import FakeClock, SequentialIds
from tests.support.ingest import SITE, collect_event, payload, response_json

from adapters.config import Settings
from adapters.memory import InMemoryIngestStream
from analytics_core.envelopes import Envelope, Geo, RequestContext
from entrypoints import bootstrap
from entrypoints.api.collect import CORS_HEADERS, make_handler
from entrypoints.envelopes import decode_envelope
from entrypoints.http import LambdaHandler

CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
NO_GEO = {
    "cloudfront-viewer-country": None,
    "cloudfront-viewer-country-region": None,
    "cloudfront-viewer-city": None,
}


@pytest.fixture
def stream() -> InMemoryIngestStream:
    return InMemoryIngestStream()


@pytest.fixture
def handler(stream: InMemoryIngestStream) -> LambdaHandler:
    services = bootstrap.build(
        Settings(), clock=FakeClock(), new_id=SequentialIds(), ingest_stream=stream
    )
    return make_handler(services)


def only_envelope(stream: InMemoryIngestStream) -> Envelope:
    (record,) = stream.records
    envelope = decode_envelope(record)
    assert envelope is not None
    return envelope


def test_a_beacon_becomes_one_envelope_without_the_ip_when_cloudfront_gave_geo(
    handler: LambdaHandler, stream: InMemoryIngestStream
) -> None:
    """The canonical CloudFront request: 202 with CORS, one record with the body as sent,
    geo from the viewer headers (city percent-decoded) and no IP address anywhere."""
    response = handler(collect_event(), None)
    assert response == {"statusCode": 202, "headers": CORS_HEADERS, "body": ""}
    envelope = only_envelope(stream)
    assert envelope.uid == "01JDQ7ZK3M0000000000000001"
    assert envelope.site_id == SITE
    assert envelope.received_at.isoformat() == "2026-11-25T12:00:00+00:00"
    assert envelope.payload == {
        "type": "initial",
        "session_id": "9b2f6c1e-3d4a-4b5c-8d6e-7f8091a2b3c4",
        "event": "pageview",
        "pathname": "/pricing",
        "referrer": "https://www.google.com/",
        "screen": {"width": 1920, "height": 1080},
    }
    assert envelope.ctx == RequestContext(
        ip=None,
        user_agent=CHROME_MAC,
        origin="https://www.example.com",
        referer="https://www.example.com/pricing?plan=pro",
        geo=Geo("DE", "BY", "München"),
    )
    raw = stream.records[0].decode()
    assert "2a02:8109" not in raw
    assert "130.176" not in raw


@pytest.mark.parametrize(
    ("headers", "ip"),
    [
        (NO_GEO, "2a02:8109:b6c0:1d00:7d3f:2c1a:9e4b:12af"),  # viewer address, split on last colon
        ({**NO_GEO, "cloudfront-viewer-address": "198.51.100.7:443"}, "198.51.100.7"),
        ({**NO_GEO, "cloudfront-viewer-address": None}, "2a02:8109:b6c0:1d00:7d3f:2c1a:9e4b:12af"),
        (
            {**NO_GEO, "cloudfront-viewer-address": None, "x-forwarded-for": "192.0.2.1, 10.0.0.1"},
            "192.0.2.1",
        ),
        ({**NO_GEO, "cloudfront-viewer-address": None, "x-forwarded-for": None}, "130.176.0.12"),
    ],
)
def test_without_geo_headers_the_ip_is_kept_for_geoip(
    handler: LambdaHandler, stream: InMemoryIngestStream, headers: dict[str, Any], ip: str
) -> None:
    """The visitor's address: CloudFront-Viewer-Address, else X-Forwarded-For, else the peer."""
    assert handler(collect_event(headers=headers), None)["statusCode"] == 202
    envelope = only_envelope(stream)
    assert envelope.ctx.ip == ip
    assert envelope.ctx.geo is None


def test_preflight_and_other_methods(handler: LambdaHandler, stream: InMemoryIngestStream) -> None:
    """OPTIONS is 204 with the CORS headers; GET is 405; neither puts anything."""
    assert handler(collect_event(method="OPTIONS"), None) == {
        "statusCode": 204,
        "headers": CORS_HEADERS,
        "body": "",
    }
    refused = handler(collect_event(method="GET"), None)
    assert refused["statusCode"] == 405
    assert refused["headers"]["Allow"] == "POST, OPTIONS"
    assert stream.records == []


def test_site_id_is_case_insensitive_and_bodies_may_be_base64(
    handler: LambdaHandler, stream: InMemoryIngestStream
) -> None:
    """A lower-case ULID is normalised; a base64 body (binary beacon) is read like text."""
    event = collect_event(payload(), site_id=SITE.lower(), base64_body=True)
    event["headers"]["content-type"] = "application/json"
    assert handler(event, None)["statusCode"] == 202
    assert only_envelope(stream).site_id == SITE


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (collect_event(site_id=None), 400),
        (collect_event(site_id="not-a-ulid"), 400),
        (collect_event(site_id="01JDQ7ZK3M00000000000000S"), 400),
        (collect_event(headers={"content-type": "application/x-www-form-urlencoded"}), 400),
        (collect_event(headers={"content-type": None}), 400),
        (collect_event("[1, 2]"), 400),
        (collect_event('"text"'), 400),
        (collect_event("{not json"), 400),
        (collect_event(b'{"a": "\xff"}', base64_body=True), 400),
        (collect_event("", base64_body=False), 400),
        (collect_event("[" * 5000 + "]" * 5000), 400),
        (collect_event({"type": "event", "pad": "x" * (16 * 1024)}), 413),
    ],
)
def test_bad_requests_get_json_errors_with_cors(
    handler: LambdaHandler, stream: InMemoryIngestStream, event: dict[str, Any], status: int
) -> None:
    """Bad site ids, content types and bodies are 400, too large 413; nothing is put."""
    response = handler(event, None)
    assert response["statusCode"] == status
    assert response["headers"]["Access-Control-Allow-Origin"] == "*"
    assert response["headers"]["Content-Type"] == "application/json"
    assert set(response_json(response)["error"]) >= {"code", "message"}
    assert stream.records == []


def test_invalid_base64_is_400(handler: LambdaHandler) -> None:
    """A body flagged base64 that is not base64 is a 400."""
    event = collect_event(payload())
    event["body"], event["isBase64Encoded"] = "!!not base64!!", True
    assert handler(event, None)["statusCode"] == 400


def test_a_body_of_exactly_16_kib_is_accepted(
    handler: LambdaHandler, stream: InMemoryIngestStream
) -> None:
    """The limit is inclusive."""
    body = {"type": "event", "pad": ""}
    body["pad"] = "x" * (16 * 1024 - len(json.dumps(body)))
    assert handler(collect_event(body), None)["statusCode"] == 202
    assert len(stream.records) == 1


def test_refused_by_firehose_is_503(handler: LambdaHandler, stream: InMemoryIngestStream) -> None:
    """When the stream refuses the record the tracker is told to try again later."""
    stream.refusing = True
    response = handler(collect_event(), None)
    assert response["statusCode"] == 503
    assert response_json(response)["error"]["code"] == "unavailable"


def test_an_unexpected_error_is_500_with_cors(stream: InMemoryIngestStream) -> None:
    """A bug answers 500 with the CORS headers and a generic JSON error."""

    def broken_ids() -> str:
        raise RuntimeError("bug")

    services = bootstrap.build(
        Settings(), clock=FakeClock(), new_id=broken_ids, ingest_stream=stream
    )
    response = make_handler(services)(collect_event(), None)
    assert response["statusCode"] == 500
    assert response["headers"]["Access-Control-Allow-Origin"] == "*"
    assert response_json(response)["error"]["code"] == "internal_error"
