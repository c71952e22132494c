"""The local stack serves the sites' time zone and GET /api/realtime like the deployment: a
site created with a zone shows it, a PUT changes it (rebuilding the read model), and an event
just collected is on the realtime counter before any fold."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.local.firehose import Buffering
from entrypoints.local.stack import LocalStack

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
LOGIN = {"Authorization": "Bearer dev:owner-rt"}


def call(
    stack: LocalStack, method: str, path: str, body: object = None, **headers: str
) -> tuple[int, Any]:
    assert stack.server is not None
    conn = http.client.HTTPConnection("127.0.0.1", stack.server.port, timeout=30)
    data = None if body is None else json.dumps(body).encode()
    try:
        conn.request(method, path, body=data, headers={**LOGIN, **headers})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.fixture
def stack(empty_database_url: str, tmp_path: Path) -> Iterator[LocalStack]:
    local = LocalStack(
        port=0,
        data_dir=tmp_path / "data",
        environ={"DATABASE_URL": empty_database_url},
        buffering=Buffering(interval_s=3600),
    )
    local.start()
    yield local
    local.close()


def test_time_zone_and_realtime_on_the_local_stack(stack: LocalStack) -> None:
    """POST with a zone, PUT another (200, stored), collect one event, flush the stream: the
    realtime answer counts its session and page; an unknown zone is a 400 naming it."""
    status, site = call(
        stack, "POST", "/api/sites", {"name": "Shop", "domains": ["shop.example"], "timezone": "Europe/Berlin"}
    )  # fmt: skip
    assert (status, site["timezone"]) == (201, "Europe/Berlin"), site
    site_id = site["siteId"]
    status, changed = call(stack, "PUT", f"/api/sites/{site_id}", {"timezone": "Asia/Tokyo"})
    assert (status, changed["timezone"]) == (200, "Asia/Tokyo"), changed
    status, refused = call(stack, "PUT", f"/api/sites/{site_id}", {"timezone": "Nowhere/Land"})
    assert status == 400
    assert set(refused["error"]["fields"]) == {"timezone"}

    status, before = call(stack, "GET", f"/api/realtime?siteId={site_id}")
    assert (status, before) == (200, {"siteId": site_id, "visitors": 0, "pages": []})
    envelope = {
        "type": "initial",
        "session_id": "session-rt-1",
        "event": "pageview",
        "pathname": "/now",
        "timestamp": int(time.time() * 1000),
    }
    assert stack.stream is not None
    collect = stack.server
    assert collect is not None
    conn = http.client.HTTPConnection("127.0.0.1", collect.port, timeout=30)
    try:
        conn.request(
            "POST",
            f"/ingest?site_id={site_id}",
            body=json.dumps(envelope).encode(),
            headers={"Content-Type": "text/plain", "Origin": "https://shop.example", "User-Agent": UA},
        )  # fmt: skip
        assert conn.getresponse().status == 202
    finally:
        conn.close()
    stack.stream.flush()
    status, after = call(stack, "GET", f"/api/realtime?siteId={site_id}")
    assert (status, after) == (
        200,
        {"siteId": site_id, "visitors": 1, "pages": [{"value": "/now", "visitors": 1}]},
    )
    status, index = call(stack, "GET", "/")
    assert index["endpoints"]["realtime"].endswith("/api/realtime?siteId=<SITE_ID>")
