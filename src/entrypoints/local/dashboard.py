"""The dashboard's static files (static/dashboard/), served by `analytics serve`.

`GET /` answers the dashboard's page to a browser (an `Accept` naming `text/html`) and the
JSON index of the endpoints to anything else; `GET /dashboard/<file>` answers the page's
assets. `/dashboard/config.json` is generated: locally it says "dev login" and that the API is
same-origin (in AWS the CDK app writes its own config.json beside the same files).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources

from entrypoints.http import Event, LambdaHandler, Response, error_response, json_response

PREFIX = "/dashboard"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
LOCAL_CONFIG = {"apiBase": "", "trackerUrl": "", "auth": {"mode": "dev"}}
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@cache
def dashboard_file(name: str) -> str | None:
    """The text of a dashboard file shipped in the package, or None when there is none."""
    folder = resources.files("entrypoints.local").joinpath("static", "dashboard")
    names = {entry.name for entry in folder.iterdir() if entry.is_file()}
    if name not in names:
        return None
    return folder.joinpath(name).read_text("utf-8")


def _file_response(name: str) -> Response:
    suffix = name[name.rfind(".") :] if "." in name else ""
    content_type = CONTENT_TYPES.get(suffix)
    body = dashboard_file(name) if content_type else None
    if body is None or content_type is None:
        return error_response(404, "not_found", "no such route")
    headers = {**_HEADERS, "Content-Type": content_type}
    return {"statusCode": 200, "headers": headers, "body": body, "isBase64Encoded": False}


def _wants_html(headers: Mapping[str, str]) -> bool:
    return "text/html" in headers.get("accept", "")


def make_handler(index: Mapping[str, object]) -> LambdaHandler:
    """A handler for `/` (the page, or `index` as JSON for non-browsers) and `/dashboard/*`."""

    def handle(event: Event, _context: object) -> Response:
        method = str(((event.get("requestContext") or {}).get("http") or {}).get("method", ""))
        path = str(event.get("rawPath") or "/")
        headers = event.get("headers") or {}
        if method not in {"GET", "HEAD"}:
            return error_response(404, "not_found", "no such route")
        if path in {"/", ""}:
            return (
                _file_response("index.html") if _wants_html(headers) else json_response(200, index)
            )
        if path == f"{PREFIX}/config.json":
            return json_response(200, LOCAL_CONFIG, {"Cache-Control": "no-cache"})
        if path.startswith(f"{PREFIX}/") and "/" not in path[len(PREFIX) + 1 :]:
            return _file_response(path[len(PREFIX) + 1 :])
        return error_response(404, "not_found", "no such route")

    return handle
