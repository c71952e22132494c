"""The collect API (the ingest Lambda): `POST /ingest?site_id=<ULID>` from the tracker.

It checks only what needs no database: the site id is a ULID (case-insensitive), the content
type is JSON or text/plain (what `navigator.sendBeacon` sends), the body a JSON object of at
most 16 KiB. It wraps the body in an envelope (a fresh ULID, the time received, what the
request says of the visitor) and puts it into the ingest stream; everything that needs the
site's configuration happens in processIngest.

Answers carry CORS headers (any origin: the tracker runs on customers' sites): 202 accepted,
204 for the OPTIONS preflight, 400 / 413 with a JSON error, 405 for other methods, 503 when
the stream refuses the record.

Behind CloudFront (`CLOUDFRONT_ORIGIN_SECRET` or `CLOUDFRONT_ORIGIN_SECRET_ARN` set), every
request, the preflight included, must carry the origin secret CloudFront adds in
`X-Origin-Verify`; one without it, or with a wrong value, is answered 403 before anything else
(nothing reaches the stream), so the `CloudFront-Viewer-*` headers are trusted only when
CloudFront sent them. Without the setting (local stack, tests) nothing is checked.

The visitor's IP address (`CloudFront-Viewer-Address`, else the first `X-Forwarded-For`
entry, else the peer address) goes into the envelope only when CloudFront sent no geo
headers, since the GeoIP fallback is its only use: with CloudFront in front it never leaves
this function, not even into Firehose's failure backups.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
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
from analytics_core.ports import Clock
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


# The header CloudFront adds to every origin request (deploy/cdk sets the same name).
ORIGIN_SECRET_HEADER = "X-Origin-Verify"  # noqa: S105  # a header name, not a secret
# A request whose header matches no known value re-reads the secret at most this often, so a
# rotation reaches warm containers without letting a flood of bad requests hammer the store.
ORIGIN_SECRET_REFRESH = timedelta(minutes=1)


def accepted_origin_secrets(text: str) -> tuple[str, ...]:
    """The header values a secret's text accepts: a JSON object's `value` and, during a
    rotation, its `previous`; any other text is the value itself."""
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("value"), str):
        candidates = [document["value"], document.get("previous")]
    else:
        candidates = [text]
    return tuple(value for value in candidates if isinstance(value, str) and value)


class OriginVerifier:
    """Checks `X-Origin-Verify` against the origin secret, in constant time.

    The secret is read on the first request, and again (at most once per `refresh_after`)
    when a request matches none of the values known, which is how a rotated secret reaches a
    warm container.
    """

    def __init__(
        self,
        read_secret: Callable[[], str],
        clock: Clock,
        refresh_after: timedelta = ORIGIN_SECRET_REFRESH,
    ) -> None:
        self._read_secret = read_secret
        self._clock = clock
        self._refresh_after = refresh_after
        self._accepted: tuple[bytes, ...] = ()
        self._read_at: datetime | None = None

    def _refresh(self) -> None:
        self._accepted = tuple(
            value.encode("utf-8") for value in accepted_origin_secrets(self._read_secret())
        )
        self._read_at = self._clock()

    def _matches(self, presented: bytes) -> bool:
        matched = False
        for value in self._accepted:  # every value is compared: no early exit
            matched |= hmac.compare_digest(presented, value)
        return matched

    def verify(self, presented: str | None) -> bool:
        """Whether `presented` (the header's value, None when absent) is an accepted value."""
        if self._read_at is None:
            self._refresh()
        candidate = (presented or "").encode("utf-8", "surrogatepass")
        if self._matches(candidate):
            return True
        assert self._read_at is not None  # noqa: S101  # set by _refresh
        if self._clock() - self._read_at >= self._refresh_after:
            self._refresh()
            return self._matches(candidate)
        return False


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


def _envelope_record(event: Event, services: Services, method: str) -> bytes:
    """The envelope of a POST, as a Firehose record; `_RejectedError` when it is refused."""
    if method != "POST":
        raise _RejectedError(405, "method_not_allowed", "use POST")
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


def _check_origin(verifier: OriginVerifier | None, event: Event) -> None:
    """Refuse (403) a request that did not come through CloudFront; no-op without a secret."""
    if verifier is None:
        return
    if not verifier.verify(request_headers(event).get(ORIGIN_SECRET_HEADER.lower())):
        raise _RejectedError(403, "forbidden", "requests must come through CloudFront")


def make_handler(services: Services) -> LambdaHandler:
    """The collect handler over `services` (checks its configuration now)."""
    stream = services.ingest_stream
    read_secret = services.origin_secret
    verifier = None if read_secret is None else OriginVerifier(read_secret, services.clock)

    def handle(event: Event, _context: object) -> Response:
        http = (event.get("requestContext") or {}).get("http") or {}
        method = str(http.get("method") or event.get("httpMethod") or "").upper()
        try:
            # First: nothing, not even the preflight, answers a caller that bypassed CloudFront.
            _check_origin(verifier, event)
            if method == "OPTIONS":
                return {"statusCode": 204, "headers": dict(CORS_HEADERS), "body": ""}
            stream.put(_envelope_record(event, services, method))
        except _RejectedError as exc:
            return _rejection(exc.status, exc.code, exc.message)
        except InfrastructureError as exc:  # the stream, or the origin secret's store
            logger.warning("collect unavailable: %s", exc.message)
            return _rejection(503, "unavailable", "temporarily unavailable; try again")
        except Exception as exc:  # noqa: BLE001  # the boundary: every error becomes an answer
            logs.log_unexpected(logger, "collect failed", exc)
            return _rejection(500, "internal_error", "internal error")
        return {"statusCode": 202, "headers": dict(CORS_HEADERS), "body": ""}

    return handle
