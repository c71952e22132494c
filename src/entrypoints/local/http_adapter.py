"""One thin HTTP adapter: an HTTP request in, the API Gateway payload 2.0 event to the real
Lambda handler, the handler's proxy response back out as HTTP.

The event is shaped as API Gateway's HTTP API shapes it: lower-cased headers (repeated headers
joined with commas, cookies in `cookies`), `rawPath`, `rawQueryString` and
`queryStringParameters`, `requestContext.http` with the peer's address as `sourceIp` (and
appended to `X-Forwarded-For`, as the gateway does), `routeKey` `$default` (the handlers route
by method and path, as behind a Function URL), and the body as text for textual content types,
else base64-encoded with `isBase64Encoded`.

Authentication is the local stack's only addition: `Authorization: Bearer dev:<sub>` becomes
the JWT claims `{"sub": "<sub>"}` that API Gateway's authorizer would have verified. The Lambda
handlers themselves never see or accept that token; in AWS the gateway answers 401 before them.

Every answer is JSON in the APIs' error shape, the server's own too: malformed framing
(`Content-Length` that is not one non-negative decimal number, both it and `Transfer-Encoding`,
a bad chunk, a body shorter than announced) is 400, an unknown transfer coding 501, a request
line over 64 KiB 414, too many or too long headers 431; the connection is then closed after the
client's remaining input is read for a moment, so that the answer is not lost to a reset.
A client's mistake or disconnect is never logged with a traceback. The listen backlog is 1,024
connections (Python's default, 5, resets connections under a burst of parallel clients).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import socket
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs

from entrypoints.http import Event, LambdaHandler, error_response, json_response

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
LISTEN_BACKLOG = 1024
IDLE_TIMEOUT_S = 60.0  # a connection that sends nothing for this long is closed
LINGER_S = 1.0  # how long a rejected client's remaining input is read before closing
LINGER_BYTES = 1024 * 1024
MAX_TRAILER_LINES = 100
_DECIMAL = re.compile(rb"[0-9]{1,19}")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(;[^\r\n]*)?\r?\n")
DEV_TOKEN = re.compile(r"Bearer\s+dev:(?P<sub>\S+)\s*", re.IGNORECASE)
_TEXT_TYPES = re.compile(
    r"^(text/.*|application/(json|.*\+json|javascript|x-www-form-urlencoded|xml|.*\+xml))$"
)


@attrs.frozen
class Mount:
    """A handler serving `prefix` (the path itself and everything below it)."""

    prefix: str
    handler: LambdaHandler

    def matches(self, path: str) -> bool:
        """True when `path` is the prefix or lies below it."""
        return path == self.prefix or path.startswith(self.prefix.rstrip("/") + "/")


def dev_claims(authorization: str | None) -> dict[str, str] | None:
    """The claims of a local dev login (`Bearer dev:<sub>`); None for anything else."""
    if not authorization:
        return None
    match = DEV_TOKEN.fullmatch(authorization)
    return {"sub": match["sub"]} if match else None


def _is_text(content_type: str | None) -> bool:
    if not content_type:
        return False
    return bool(_TEXT_TYPES.match(content_type.split(";", 1)[0].strip().lower()))


def build_event(
    *,
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    source_ip: str,
    protocol: str = "HTTP/1.1",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The payload 2.0 event of one HTTP request (`target` is the request line's path+query)."""
    moment = now or datetime.now(UTC)
    split = urlsplit(target)
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    forwarded = merged.get("x-forwarded-for")
    merged["x-forwarded-for"] = f"{forwarded}, {source_ip}" if forwarded else source_ip
    merged.setdefault("x-forwarded-proto", "http")
    query: dict[str, str] = {}
    for key, value in parse_qsl(split.query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    context: dict[str, Any] = {
        "accountId": "000000000000",
        "apiId": "local",
        "domainName": merged.get("host", "localhost"),
        "domainPrefix": merged.get("host", "localhost").split(".", 1)[0],
        "http": {
            "method": method.upper(),
            "path": split.path or "/",
            "protocol": protocol,
            "sourceIp": source_ip,
            "userAgent": merged.get("user-agent", ""),
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": "$default",
        "stage": "$default",
        "time": moment.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(moment.timestamp() * 1000),
    }
    claims = dev_claims(merged.get("authorization"))
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": split.path or "/",
        "rawQueryString": split.query,
        "headers": merged,
        "requestContext": context,
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if body:
        text = None
        if _is_text(merged.get("content-type")):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is None:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
    return event


@attrs.frozen
class HttpReply:
    """An HTTP answer: status, headers (repeatable, so a list), body bytes."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def reply_from(response: object) -> HttpReply:
    """Turn a handler's proxy response into HTTP, as API Gateway does (a dict without
    `statusCode` is a 200 JSON body)."""
    if not isinstance(response, Mapping) or "statusCode" not in response:
        response = json_response(200, response)
    status = int(response.get("statusCode", 200))
    headers = [(str(k), str(v)) for k, v in (response.get("headers") or {}).items()]
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(v)) for v in values)
    headers.extend(("Set-Cookie", str(cookie)) for cookie in response.get("cookies") or ())
    raw = response.get("body")
    if raw is None:
        body = b""
    elif response.get("isBase64Encoded"):
        body = base64.b64decode(str(raw))
    else:
        body = str(raw).encode("utf-8")
    return HttpReply(status, headers, body)


LOGIN_HINT = (
    "the local stack logs you in with the header 'Authorization: Bearer dev:<name>' "
    "(any name: that owner's sites)"
)


def _with_login_hint(reply: HttpReply) -> HttpReply:
    """A 401 of the API names the local stack's dev login (`hint` beside the usual error)."""
    if reply.status != 401:
        return reply
    try:
        body = json.loads(reply.body)
    except ValueError:
        return reply
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return reply
    body["error"]["hint"] = LOGIN_HINT
    return HttpReply(reply.status, reply.headers, json.dumps(body).encode())


class BadFramingError(Exception):
    """The request's body cannot be delimited: answered 400, connection closed."""


class LocalApiServer(ThreadingHTTPServer):
    """A threaded HTTP server that dispatches each request to the mounted Lambda handler."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], mounts: Sequence[Mount]) -> None:
        super().__init__(address, _RequestHandler)
        self.mounts = list(mounts)

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        return int(self.server_address[1])

    def dispatch(self, event: Event) -> HttpReply:
        """Call the handler mounted at the event's path; 404 when there is none."""
        path = str(event.get("rawPath") or "/")
        for mount in self.mounts:
            if mount.matches(path):
                try:
                    return _with_login_hint(reply_from(mount.handler(event, None)))
                except Exception:  # a handler that raises is a 500, as Lambda's would be
                    logger.exception("handler for %s raised", mount.prefix)
                    return reply_from(error_response(500, "internal_error", "internal error"))
        return reply_from(error_response(404, "not_found", "no such route"))

    def handle_error(self, request: Any, client_address: Any) -> None:  # noqa: ARG002  # the base signature
        """A connection that failed: a client that went away is not our error (no traceback);
        anything else is logged as a bug, never printed to stderr by socketserver."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            logger.debug("connection ended by the client: %s", type(exc).__name__)
            return
        logger.error("request handling failed", exc_info=exc)


def content_length(values: Sequence[str]) -> int:
    """The body length that `Content-Length` header values announce; `BadFramingError` unless
    they are one non-negative decimal number (repeated identically at most)."""
    found = {value.strip() for value in values}
    if len(found) != 1:
        raise BadFramingError("conflicting Content-Length headers")
    text = found.pop().encode("ascii", "replace")
    if not _DECIMAL.fullmatch(text):
        raise BadFramingError("Content-Length must be a non-negative decimal number")
    return int(text)


def read_chunked(stream: Any, limit: int) -> bytes | None:
    """A chunked request body; None when it exceeds `limit`; `BadFramingError` when a chunk
    size line, a chunk's end or the trailers are malformed or the input ends early."""
    chunks: list[bytes] = []
    total = 0
    while True:
        match = _CHUNK_SIZE.fullmatch(stream.readline(1024))
        if match is None:
            raise BadFramingError("malformed chunk size")
        size = int(match[1], 16)
        if size == 0:
            break
        total += size
        if total > limit:
            return None
        chunk = stream.read(size)
        if len(chunk) != size:
            raise BadFramingError("the request body ended inside a chunk")
        chunks.append(chunk)
        if stream.readline(3) not in {b"\r\n", b"\n"}:
            raise BadFramingError("a chunk is longer than its size")
    for _ in range(MAX_TRAILER_LINES):
        line = stream.readline(8192)
        if line in {b"\r\n", b"\n"}:
            return b"".join(chunks)
        if not line.endswith(b"\n"):
            raise BadFramingError("malformed trailers")
    raise BadFramingError("too many trailers")


def _error_body(status: int, message: str) -> bytes:
    code = {
        400: "invalid_request",
        413: "too_large",
        414: "uri_too_long",
        431: "headers_too_large",
    }.get(status)
    if code is None:
        try:
            code = HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
        except ValueError:
            code = "error"
    return json.dumps({"error": {"code": code, "message": message}}).encode()


class _RequestHandler(BaseHTTPRequestHandler):
    server: LocalApiServer
    protocol_version = "HTTP/1.1"
    server_version = "analytics-local"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S
    _linger = False  # read the client's leftover input before closing (after a rejection)

    def _read_body(self) -> bytes | None:
        """The request body; None when it is too large; `BadFramingError` when malformed."""
        headers: Message = self.headers
        encodings = headers.get_all("Transfer-Encoding") or []
        lengths = headers.get_all("Content-Length") or []
        if encodings:
            if lengths:
                raise BadFramingError("both Content-Length and Transfer-Encoding")
            if [e.strip().lower() for e in ",".join(encodings).split(",")] != ["chunked"]:
                raise NotImplementedError
            return read_chunked(self.rfile, MAX_BODY_BYTES)
        if not lengths:
            return b""
        length = content_length(lengths)
        if length > MAX_BODY_BYTES:
            return None
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            raise BadFramingError("the request body is shorter than its Content-Length")
        return body

    def _handle(self) -> None:
        started = time.perf_counter()
        try:
            body = self._read_body()
        except BadFramingError as exc:
            self._reject(400, str(exc))
            return
        except NotImplementedError:
            self._reject(501, "only the chunked transfer coding is supported")
            return
        if body is None:
            self._reject(413, "request too large")
            return
        try:
            event = build_event(
                method=self.command,
                target=self.path,
                headers=[
                    (k, v) for k, v in self.headers.items() if k.lower() != "transfer-encoding"
                ],
                body=body,
                source_ip=self.client_address[0],
                protocol=self.request_version,
            )
        except ValueError:  # urlsplit refuses the target (e.g. an unclosed IPv6 bracket)
            self._reject(400, "malformed request target")
            return
        reply = self.server.dispatch(event)
        self._send(reply)
        logger.debug(
            "%s %s -> %d (%.1f ms)",
            self.command,
            urlsplit(self.path).path,
            reply.status,
            (time.perf_counter() - started) * 1000,
        )

    def _no_http09(self) -> None:
        """Answer with a status line and headers even when the request line had no version
        or an unparsable one (the base class would then answer HTTP/0.9: a bare body)."""
        if self.request_version not in {"HTTP/1.0", "HTTP/1.1"}:
            self.request_version = "HTTP/1.0"

    def _send(self, reply: HttpReply) -> None:
        self._no_http09()
        self.send_response(reply.status)
        for name, value in reply.headers:
            if name.lower() in {"content-length", "connection", "transfer-encoding"}:
                continue
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and reply.body:
            self.wfile.write(reply.body)

    def _reject(self, status: int, message: str) -> None:
        """Answer a request that cannot be read on: JSON error, then close."""
        self.close_connection = True
        self._linger = True
        self._send(
            HttpReply(status, [("Content-Type", "application/json")], _error_body(status, message))
        )

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:  # noqa: ARG002  # the base signature
        """The base class's own errors (414, 431, 400 for a bad request line, 501 for an
        unknown method) as JSON instead of HTML."""
        self.close_connection = True
        self._linger = True
        self._no_http09()
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        body = _error_body(code, message or phrase)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def finish(self) -> None:
        """Flush; after a rejection, read what the client still sends for a moment before the
        socket closes (closing with unread input resets the connection, and the client could
        lose the answer)."""
        try:
            super().finish()
            if self._linger:
                self._discard_input()
        except OSError:
            pass  # the client is gone: nothing left to tell it

    def _discard_input(self) -> None:
        self.connection.shutdown(socket.SHUT_WR)
        self.connection.settimeout(LINGER_S)
        deadline = time.monotonic() + LINGER_S
        received = 0
        while received < LINGER_BYTES and time.monotonic() < deadline:
            data = self.connection.recv(65536)
            if not data:
                return
            received += len(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # the base signature
        """Request lines are not logged: they would carry visitors' addresses."""
