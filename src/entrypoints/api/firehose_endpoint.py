"""processIngest: the Firehose HTTP endpoint (a Lambda Function URL), as AWS documents it.

Request: headers `X-Amz-Firehose-Request-Id` and `X-Amz-Firehose-Access-Key` (lower-cased in
the event); body `{"requestId", "timestamp", "records": [{"data": <base64>}]}`, gzipped when
the stream uses GZIP. Whether the Function URL hands the body over base64-encoded is not
documented, so it is decoded in layers: base64 when `isBase64Encoded`, then gunzip when the
bytes start with the gzip magic (whatever the headers say), then JSON; decompression stops at
`MAX_BODY_BYTES`, so a bomb cannot exhaust memory.

Response: `Content-Type: application/json`, no Content-Encoding, body `{"requestId": <echoed>,
"timestamp": <epoch ms>}` plus `errorMessage` on failure. Firehose counts only 200 as
success and retries everything else, then backs the batch up to S3; it treats 413 as
permanent and drops the batch, so 413 is never answered.

- wrong or missing access key (compared in constant time): 401, nothing decoded;
- a body that cannot be decoded at all (bad base64, corrupt or truncated gzip, not the
  documented JSON, too large once unpacked): 400, so that Firehose retries and finally backs
  the batch up, intact, for `analytics replay`; answering 200 would lose it;
- a bad record (bad base64, not an envelope, a rejected event): counted, never fatal;
- the database or the cold store failing: 503 (retried; storage is idempotent per event);
- anything unexpected: 500.
"""

from __future__ import annotations

import binascii
import hmac
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pybase64

from analytics_core.errors import AnalyticsError, InfrastructureError
from entrypoints import logs
from entrypoints.bootstrap import Services
from entrypoints.envelopes import GZIP_MAGIC, DecodingError, gunzip_bounded
from entrypoints.http import Event, LambdaHandler, Response, request_headers
from entrypoints.pipeline import ingest_records

logger = logging.getLogger(__name__)

# The stream buffers at most 3 MiB of records; base64 and the JSON around them make the body
# about 4 MiB. Anything unpacking to more than this is not a Firehose request.
MAX_BODY_BYTES = 32 * 1024 * 1024
REQUEST_ID_HEADER = "x-amz-firehose-request-id"
ACCESS_KEY_HEADER = "x-amz-firehose-access-key"


class BadRequestError(ValueError):
    """The request body is not a Firehose request body; the message says why."""


def decode_body(event: Event) -> Mapping[str, Any]:
    """The request body's JSON object, decoded in layers (see the module docstring)."""
    raw = event.get("body")
    if not isinstance(raw, str) or not raw:
        raise BadRequestError("empty request body")
    if event.get("isBase64Encoded"):
        data = b64decode_strict(raw)
        if data is None:
            raise BadRequestError("request body is not valid base64")
    else:
        data = raw.encode("utf-8", "surrogatepass")
    if data.startswith(GZIP_MAGIC):
        try:
            data = gunzip_bounded(data, MAX_BODY_BYTES)
        except DecodingError as exc:
            raise BadRequestError(f"request body: {exc}") from None
    elif len(data) > MAX_BODY_BYTES:
        raise BadRequestError(f"request body larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        raise BadRequestError("request body is not valid JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise BadRequestError("request body has no records array")
    return body


def b64decode_strict(text: str) -> bytes | None:
    """What `base64.b64decode(text, validate=True)` gives, or None where it raises.

    pybase64 decodes about three times as fast (SIMD; a batch carries some 5 MB of base64);
    what it refuses is read again by binascii, whose strict mode alone decides (pybase64 also
    refuses some text the standard library accepts, such as excess padding)."""
    try:
        return pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        # base64.b64decode(text, validate=True) without its wrapper: a non-ASCII text raises
        # ValueError here as there.
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        return None


def decode_record(record: object) -> bytes | None:
    """The bytes of one `{"data": <base64>}` record; None when it is not one."""
    if not isinstance(record, dict):
        return None
    data = record.get("data")
    if not isinstance(data, str):
        return None
    return b64decode_strict(data)


def firehose_response(
    status: int, request_id: str, timestamp_ms: int, error: str | None = None
) -> Response:
    """The response Firehose expects: JSON, the request id echoed, epoch milliseconds."""
    body: dict[str, object] = {"requestId": request_id, "timestamp": timestamp_ms}
    if error is not None:
        body["errorMessage"] = error
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def _key_matches(provided: str | None, expected: str) -> bool:
    if provided is None:
        return False
    return hmac.compare_digest(
        provided.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def make_handler(services: Services) -> LambdaHandler:
    """The processIngest handler over `services` (checks its configuration now)."""
    access_key = services.firehose_access_key
    services.ingest_ports  # noqa: B018  # fail at cold start when a setting is missing
    clock = services.clock

    def now_ms() -> int:
        return int(clock().timestamp() * 1000)

    def handle(event: Event, _context: object) -> Response:
        headers = request_headers(event)
        request_id = headers.get(REQUEST_ID_HEADER, "")
        try:
            expected = access_key()
        except AnalyticsError as exc:  # Secrets Manager failed, or the secret is unusable
            logger.warning("cannot read the Firehose access key: %s", exc.message)
            status = 503 if isinstance(exc, InfrastructureError) else 500
            return firehose_response(status, request_id, now_ms(), "access key unavailable")
        if not _key_matches(headers.get(ACCESS_KEY_HEADER), expected):
            return firehose_response(401, request_id, now_ms(), "invalid or missing access key")
        try:
            body = decode_body(event)
        except BadRequestError as exc:
            logger.warning("undecodable Firehose request %s: %s", request_id, exc)
            return firehose_response(400, request_id, now_ms(), str(exc))
        if isinstance(body.get("requestId"), str):
            request_id = body["requestId"]
        records: Sequence[object] = body["records"]
        try:
            ingest_records(services, [decode_record(r) for r in records], request_id=request_id)
        except InfrastructureError as exc:
            return firehose_response(503, request_id, now_ms(), exc.message)
        except Exception as exc:  # noqa: BLE001  # the boundary: every error becomes an answer
            logs.log_unexpected(logger, f"processIngest failed on request {request_id}", exc)
            return firehose_response(500, request_id, now_ms(), "internal error")
        return firehose_response(200, request_id, now_ms())

    return handle
