"""The collect API (the ingest Lambda): `POST /ingest?site_id=<ULID>` from the tracker.

It checks only what needs no database: the site id is a ULID (case-insensitive), the content
type is JSON or text/plain (what `navigator.sendBeacon` sends), the body a JSON object of at
most 16 KiB. It wraps the body in an envelope (a fresh ULID, the time received, what the
request says of the visitor) and puts it into the ingest stream; everything that needs the
site's configuration happens in processIngest.

Answers carry CORS headers (any origin: the tracker runs on customers' sites): 202 accepted,
204 for the OPTIONS preflight, 400 / 413 with a JSON error, 405 for other methods, 503 when
the stream refuses the record.

The visitor's IP address (`CloudFront-Viewer-Address`, else the first `X-Forwarded-For`
entry, else the peer address) goes into the envelope only when CloudFront sent no geo
headers, since the GeoIP fallback is its only use: with CloudFront in front it never leaves
this function, not even into Firehose's failure backups.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote

from analytics_core.envelopes import (
    MAX_BODY_BYTES,
    MAX_ENVELOPE_BYTES,
    Envelope,
    Geo,
    RequestContext,
)
from analytics_core.errors import InfrastructureError
from analytics_core.ids import is_ulid
from entrypoints import logs
from entrypoints.bootstrap import Services
from entrypoints.envelopes import encode_envelope
from entrypoints.http import Event, LambdaHandler, Response, error_response, request_headers

logger = logging.getLogger(__name__)

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}
ACCEPTED_CONTENT_TYPES = frozenset({"application/json", "text/plain"})
# Header values kept in the envelope are cut: processIngest cuts them further.
MAX_HEADER_CHARS = 2048
_GEO_HEADERS = (
    "cloudfront-viewer-country",
    "cloudfront-viewer-country-region",
    "cloudfront-viewer-city",
)


class _RejectedError(Exception):
    """A request the collect endpoint answers with an error (status, code, message)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _rejection(status: int, code: str, message: str) -> Response:
    response = error_response(status, code, message)
    response["headers"] = {**response["headers"], **CORS_HEADERS}
    if status == 405:
        response["headers"]["Allow"] = "POST, OPTIONS"
    return response


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    return value[:MAX_HEADER_CHARS] if value else None


def _valid_ip(candidate: str | None) -> str | None:
    if not candidate:
        return None
    text = candidate.strip().strip("[]")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def visitor_ip(headers: Mapping[str, str], event: Event) -> str | None:
    """CloudFront-Viewer-Address (ip:port), else the first X-Forwarded-For entry, else the
    peer address (behind CloudFront, an edge address)."""
    viewer = headers.get("cloudfront-viewer-address")
    if viewer and ":" in viewer:
        found = _valid_ip(viewer.rsplit(":", 1)[0])
        if found:
            return found
    forwarded = headers.get("x-forwarded-for")
    if forwarded:
        found = _valid_ip(forwarded.split(",", 1)[0])
        if found:
            return found
    http = (event.get("requestContext") or {}).get("http") or {}
    source = http.get("sourceIp")
    return _valid_ip(source) if isinstance(source, str) else None


def request_context(headers: Mapping[str, str], event: Event) -> RequestContext:
    """What the envelope records of the request (see the module docstring for the IP)."""
    geo = None
    if any(name in headers for name in _GEO_HEADERS):
        city = headers.get("cloudfront-viewer-city")
        geo = Geo(
            country=_header(headers, "cloudfront-viewer-country"),
            region=_header(headers, "cloudfront-viewer-country-region"),
            city=unquote(city)[:MAX_HEADER_CHARS] if city else None,
        )
    http = (event.get("requestContext") or {}).get("http") or {}
    user_agent = headers.get("user-agent") or http.get("userAgent")
    return RequestContext(
        ip=None if geo is not None else visitor_ip(headers, event),
        user_agent=user_agent[:MAX_HEADER_CHARS] if isinstance(user_agent, str) else None,
        origin=_header(headers, "origin"),
        referer=_header(headers, "referer"),
        geo=geo,
    )


def _site_id(event: Event) -> str | None:
    query = event.get("queryStringParameters") or {}
    value = query.get("site_id")
    if value is None and event.get("rawQueryString"):
        values = parse_qs(str(event["rawQueryString"])).get("site_id")
        value = values[0] if values else None
    if not isinstance(value, str):
        return None
    site_id = value.strip().upper()
    return site_id if is_ulid(site_id) else None


def _body(event: Event) -> bytes:
    raw = event.get("body") or ""
    if not isinstance(raw, str):
        return b""
    if event.get("isBase64Encoded"):
        return base64.b64decode(raw, validate=True)
    return raw.encode("utf-8", "surrogatepass")


def _payload(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    return payload if isinstance(payload, dict) else None


def _envelope_record(event: Event, services: Services) -> bytes:
    """The envelope of a POST, as a Firehose record; `_RejectedError` when it is refused."""
    site_id = _site_id(event)
    if site_id is None:
        raise _RejectedError(400, "invalid_request", "site_id must be a site id (a ULID)")
    headers = request_headers(event)
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in ACCEPTED_CONTENT_TYPES:
        raise _RejectedError(400, "invalid_request", "Content-Type must be JSON or text/plain")
    try:
        body = _body(event)
    except (binascii.Error, ValueError):
        raise _RejectedError(400, "invalid_request", "request body is not valid base64") from None
    if len(body) > MAX_BODY_BYTES:
        raise _RejectedError(413, "too_large", f"request body larger than {MAX_BODY_BYTES} bytes")
    payload = _payload(body)
    if payload is None:
        raise _RejectedError(400, "invalid_request", "request body must be a JSON object")
    envelope = Envelope(
        uid=services.new_id(),
        site_id=site_id,
        received_at=services.clock(),
        payload=payload,
        ctx=request_context(headers, event),
    )
    try:
        record = encode_envelope(envelope)
    except (ValueError, RecursionError):  # nesting too deep for the encoder
        raise _RejectedError(400, "invalid_request", "request body is nested too deeply") from None
    if len(record) > MAX_ENVELOPE_BYTES:
        raise _RejectedError(413, "too_large", "request too large")
    return record


def make_handler(services: Services) -> LambdaHandler:
    """The collect handler over `services` (checks its configuration now)."""
    stream = services.ingest_stream

    def handle(event: Event, _context: object) -> Response:
        http = (event.get("requestContext") or {}).get("http") or {}
        method = str(http.get("method") or event.get("httpMethod") or "").upper()
        if method == "OPTIONS":
            return {"statusCode": 204, "headers": dict(CORS_HEADERS), "body": ""}
        if method != "POST":
            return _rejection(405, "method_not_allowed", "use POST")
        try:
            stream.put(_envelope_record(event, services))
        except _RejectedError as exc:
            return _rejection(exc.status, exc.code, exc.message)
        except InfrastructureError as exc:
            logger.warning("ingest stream refused a record: %s", exc.message)
            return _rejection(503, "unavailable", "temporarily unavailable; try again")
        except Exception as exc:  # noqa: BLE001  # the boundary: every error becomes an answer
            logs.log_unexpected(logger, "collect failed", exc)
            return _rejection(500, "internal_error", "internal error")
        return {"statusCode": 202, "headers": dict(CORS_HEADERS), "body": ""}

    return handle
