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
"""

from __future__ import annotations

import base64
import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs

from entrypoints.http import Event, LambdaHandler, error_response, json_response

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
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


class LocalApiServer(ThreadingHTTPServer):
    """A threaded HTTP server that dispatches each request to the mounted Lambda handler."""

    daemon_threads = True
    allow_reuse_address = True

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
                    return reply_from(mount.handler(event, None))
                except Exception:  # a handler that raises is a 500, as Lambda's would be
                    logger.exception("handler for %s raised", mount.prefix)
                    return reply_from(error_response(500, "internal_error", "internal error"))
        return reply_from(error_response(404, "not_found", "no such route"))


def _read_chunked(stream: Any, limit: int) -> bytes | None:
    """A chunked request body; None when it exceeds `limit`."""
    chunks: list[bytes] = []
    total = 0
    while True:
        size_line = stream.readline(1024)
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while stream.readline(1024) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        total += size
        if total > limit:
            return None
        chunks.append(stream.read(size))
        stream.readline(1024)


class _RequestHandler(BaseHTTPRequestHandler):
    server: LocalApiServer
    protocol_version = "HTTP/1.1"
    server_version = "analytics-local"
    sys_version = ""

    def _handle(self) -> None:
        started = time.perf_counter()
        headers: Message = self.headers
        body = b""
        if (headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunked = _read_chunked(self.rfile, MAX_BODY_BYTES)
            if chunked is None:
                self._send(reply_from(error_response(413, "too_large", "request too large")))
                return
            body = chunked
        else:
            length = int(headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self.close_connection = True
                self._send(reply_from(error_response(413, "too_large", "request too large")))
                return
            body = self.rfile.read(length) if length > 0 else b""
        event = build_event(
            method=self.command,
            target=self.path,
            headers=[(k, v) for k, v in headers.items() if k.lower() != "transfer-encoding"],
            body=body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )
        reply = self.server.dispatch(event)
        self._send(reply)
        logger.debug(
            "%s %s -> %d (%.1f ms)",
            self.command,
            urlsplit(self.path).path,
            reply.status,
            (time.perf_counter() - started) * 1000,
        )

    def _send(self, reply: HttpReply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers:
            if name.lower() in {"content-length", "connection", "transfer-encoding"}:
                continue
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD" and reply.body:
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # the base signature
        """Request lines are not logged: they would carry visitors' addresses."""
