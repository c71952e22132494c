"""`GET /script.js`: the tracker script, shipped inside the package (static/script.js)."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

from entrypoints.http import Event, LambdaHandler, Response, error_response

SCRIPT_NAME = "script.js"


@cache
def tracker_source() -> str:
    """The tracker's JavaScript source, read from the installed package."""
    return resources.files("entrypoints.local").joinpath("static", SCRIPT_NAME).read_text("utf-8")


def make_handler() -> LambdaHandler:
    """A handler answering GET/HEAD with the script (cacheable for five minutes, with an
    ETag) and 404 for anything else."""
    source = tracker_source()
    etag = '"' + hashlib.sha256(source.encode()).hexdigest()[:16] + '"'

    def handle(event: Event, _context: object) -> Response:
        method = str(((event.get("requestContext") or {}).get("http") or {}).get("method", ""))
        if event.get("rawPath") != f"/{SCRIPT_NAME}" or method not in {"GET", "HEAD"}:
            return error_response(404, "not_found", "no such route")
        headers = {
            "Content-Type": "application/javascript; charset=utf-8",
            "Cache-Control": "public, max-age=300",
            "ETag": etag,
            "Access-Control-Allow-Origin": "*",
            "X-Content-Type-Options": "nosniff",
        }
        if (event.get("headers") or {}).get("if-none-match") == etag:
            return {"statusCode": 304, "headers": headers, "body": "", "isBase64Encoded": False}
        return {"statusCode": 200, "headers": headers, "body": source, "isBase64Encoded": False}

    return handle
