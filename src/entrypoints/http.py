"""API Gateway HTTP API (payload format 2.0) events in, Lambda proxy responses out.

`Router` matches a request to a route (by the event's `routeKey` when API Gateway set one,
else by method and path, as for a Function URL or the local server), calls it, and maps the
error tree to responses. The mapping is the only place errors become HTTP: a message reaches
the caller only for errors meant for the caller; anything unexpected is logged with its
traceback and answered with a bare 500, never a stack trace or SQL.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from analytics_core.errors import (
    AnalyticsError,
    InfrastructureError,
    InvalidRequestError,
    NotFoundError,
    QueryTimeoutError,
    UnauthenticatedError,
)

Event = Mapping[str, Any]
Response = dict[str, Any]
LambdaHandler = Callable[[Event, Any], Response]

logger = logging.getLogger(__name__)

JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}


def request_headers(event: Event) -> dict[str, str]:
    """The event's headers, names lower-cased (as HTTP API payload 2.0 sends them)."""
    return {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}


@attrs.frozen
class ApiRequest:
    """The parts of an HTTP API event the handlers use; header names lower-cased."""

    method: str
    path: str
    path_parameters: Mapping[str, str]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    claims: Mapping[str, Any]
    request_id: str = ""

    @classmethod
    def from_event(
        cls, event: Event, path_parameters: Mapping[str, str] | None = None
    ) -> ApiRequest:
        """Read a payload 2.0 event; a body that is not valid base64 is a 400."""
        context = event.get("requestContext") or {}
        http = context.get("http") or {}
        raw_body = event.get("body") or ""
        if event.get("isBase64Encoded"):
            try:
                body = base64.b64decode(raw_body, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidRequestError("request body is not valid base64") from None
        else:
            body = raw_body.encode("utf-8", "surrogatepass") if isinstance(raw_body, str) else b""
        authorizer = context.get("authorizer") or {}
        claims = (authorizer.get("jwt") or {}).get("claims") or {}
        return cls(
            method=str(http.get("method") or event.get("httpMethod") or "GET").upper(),
            path=str(event.get("rawPath") or http.get("path") or "/"),
            path_parameters=dict(path_parameters or event.get("pathParameters") or {}),
            query=dict(event.get("queryStringParameters") or {}),
            headers=request_headers(event),
            body=body,
            claims=claims if isinstance(claims, Mapping) else {},
            request_id=str(context.get("requestId") or ""),
        )

    def caller(self) -> str:
        """The verified caller (`claims.sub` from the JWT authorizer)."""
        sub = self.claims.get("sub")
        if not isinstance(sub, str) or not sub.strip():
            raise UnauthenticatedError("authentication required")
        return sub

    def json_body(self) -> object:
        """The body parsed as JSON; invalid JSON is a 400."""
        if not self.body.strip():
            raise InvalidRequestError("request body must be a JSON object")
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, and an
            # integer of more than 4,300 digits, which Python refuses to convert
            raise InvalidRequestError("request body is not valid JSON") from None


def json_response(status: int, body: object, headers: Mapping[str, str] | None = None) -> Response:
    """A proxy response with a JSON body."""
    return {
        "statusCode": status,
        "headers": {**JSON_HEADERS, **(headers or {})},
        "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        "isBase64Encoded": False,
    }


def error_response(
    status: int, code: str, message: str, fields: Mapping[str, str] | None = None
) -> Response:
    """The error shape of every API: `{"error": {"code", "message", "fields"?}}`."""
    error: dict[str, object] = {"code": code, "message": message}
    if fields:
        error["fields"] = dict(fields)
    return json_response(status, {"error": error})


def response_for(exc: Exception) -> Response:
    """The one mapping from the error tree to HTTP responses."""
    if isinstance(exc, InvalidRequestError):
        return error_response(400, "invalid_request", exc.message, exc.fields)
    if isinstance(exc, UnauthenticatedError):
        return error_response(401, "unauthorized", exc.message)
    if isinstance(exc, NotFoundError):
        return error_response(404, "not_found", exc.message)
    if isinstance(exc, QueryTimeoutError):
        return error_response(504, "query_timeout", "the query took too long; try a shorter range")
    if isinstance(exc, InfrastructureError):
        logger.warning("dependency failure: %s", exc.message)
        return error_response(503, "unavailable", "temporarily unavailable; try again")
    if isinstance(exc, AnalyticsError):
        logger.error("unmapped error %s: %s", type(exc).__name__, exc.message)
    else:
        logger.error("unexpected error", exc_info=exc)
    return error_response(500, "internal_error", "internal error")


Route = Callable[[ApiRequest], Response]
_PARAMETER = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\+?\}")


def _compile(template: str) -> re.Pattern[str]:
    """A regex for a route template such as `/api/sites/{id}` (one segment per parameter)."""
    parts: list[str] = []
    position = 0
    for match in _PARAMETER.finditer(template):
        parts.append(re.escape(template[position : match.start()]))
        parts.append(f"(?P<{match[1]}>[^/]+)")
        position = match.end()
    parts.append(re.escape(template[position:]))
    return re.compile("".join(parts) + "/?")


@attrs.frozen
class _Template:
    method: str
    pattern: re.Pattern[str]
    route: Route


class Router:
    """Dispatches payload 2.0 events to routes keyed like API Gateway's `routeKey`."""

    def __init__(self, routes: Mapping[str, Route]) -> None:
        self._routes = dict(routes)
        self._templates: list[_Template] = []
        for key, route in routes.items():
            method, template = key.split(" ", 1)
            self._templates.append(_Template(method, _compile(template), route))

    def resolve(self, event: Event) -> tuple[Route, dict[str, str]] | None:
        """The route for `event` and its path parameters, if any route matches."""
        key = event.get("routeKey")
        if isinstance(key, str) and key in self._routes:
            return self._routes[key], dict(event.get("pathParameters") or {})
        method = str(((event.get("requestContext") or {}).get("http") or {}).get("method", ""))
        path = str(event.get("rawPath") or "")
        for template in self._templates:
            match = template.pattern.fullmatch(path)
            if match and template.method == method.upper():
                return template.route, match.groupdict()
        return None

    def __call__(self, event: Event, context: object) -> Response:  # noqa: ARG002  # Lambda's signature
        """Handle one event; never raises."""
        try:
            resolved = self.resolve(event)
            if resolved is None:
                return error_response(404, "not_found", "no such route")
            route, parameters = resolved
            return route(ApiRequest.from_event(event, parameters))
        except Exception as exc:  # noqa: BLE001  # the boundary: every error becomes a response
            return response_for(exc)
