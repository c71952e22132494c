"""Canonical AWS events (tests/events/*.json) and variations built from them."""

from __future__ import annotations

import base64
import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"
OWNER_A = "11111111-2222-4333-8444-555555555555"
OWNER_B = "99999999-8888-4777-8666-555555555555"


@cache
def _load(name: str) -> str:
    return (EVENTS_DIR / name).read_text()


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of the canonical event `name` (file name without .json)."""
    return json.loads(_load(f"{name}.json"))


def api_event(
    method: str,
    path: str,
    *,
    route_key: str | None = None,
    sub: str | None = OWNER_A,
    body: object = None,
    raw_body: str | None = None,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An HTTP API payload 2.0 event shaped like the canonical JWT sample.

    `sub=None` removes the authorizer entirely; `route_key` defaults to `METHOD path` with
    path parameters put back as `{name}`.
    """
    event = copy.deepcopy(load_event("apigw_v2_jwt_post_sites"))
    parameters = path_parameters or {}
    template = path
    for name, value in parameters.items():
        template = template.replace(value, "{" + name + "}")
    event["routeKey"] = route_key or f"{method} {template}"
    event["requestContext"]["routeKey"] = event["routeKey"]
    event["rawPath"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    if parameters:
        event["pathParameters"] = dict(parameters)
    if query:
        event["queryStringParameters"] = dict(query)
        event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    if sub is None:
        del event["requestContext"]["authorizer"]
    else:
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = sub
    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    if text is None:
        event.pop("body", None)
        event["isBase64Encoded"] = False
    elif base64_body:
        event["body"] = base64.b64encode(text.encode()).decode()
        event["isBase64Encoded"] = True
    else:
        event["body"] = text
        event["isBase64Encoded"] = False
    return event


def body_of(response: dict[str, Any]) -> Any:
    """The JSON body of a proxy response."""
    return json.loads(response["body"])
