"""The local HTTP adapter: HTTP request -> payload 2.0 event -> handler -> HTTP response."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.clock import FakeClock, SequentialIds

from adapters.config import Settings
from adapters.memory import InMemoryAccountRepository, InMemorySiteRepository
from entrypoints import bootstrap
from entrypoints.api import accounts as accounts_api
from entrypoints.api import sites as sites_api
from entrypoints.http import ApiRequest, Event, Response, json_response
from entrypoints.local import tracker
from entrypoints.local.http_adapter import LocalApiServer, Mount, build_event, dev_claims


def test_the_event_has_the_http_api_shape() -> None:
    """Headers are lower-cased and joined, cookies split out, the query parsed, the peer is
    the source IP and is appended to X-Forwarded-For, JSON bodies stay text."""
    event = build_event(
        method="post",
        target="/ingest?site_id=01ABC&x=1&x=2&empty=",
        headers=[
            ("Content-Type", "application/json"),
            ("X-Custom", "a"),
            ("x-custom", "b"),
            ("Cookie", "a=1; b=2"),
            ("X-Forwarded-For", "203.0.113.9"),
            ("Host", "localhost:8000"),
        ],
        body=b'{"k": "v"}',
        source_ip="127.0.0.1",
    )
    assert event["version"] == "2.0"
    assert event["rawPath"] == "/ingest"
    assert event["rawQueryString"] == "site_id=01ABC&x=1&x=2&empty="
    assert event["queryStringParameters"] == {"site_id": "01ABC", "x": "1,2", "empty": ""}
    assert event["headers"]["x-custom"] == "a,b"
    assert event["headers"]["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["domainName"] == "localhost:8000"
    assert "authorizer" not in event["requestContext"]
    assert event["body"] == '{"k": "v"}'
    assert event["isBase64Encoded"] is False
    request = ApiRequest.from_event(event)
    assert request.json_body() == {"k": "v"}


def test_binary_bodies_are_base64_encoded() -> None:
    """A body of a non-text type (or text that is not UTF-8) arrives base64-encoded."""
    body = b"\x1f\x8b\x08\x00binary"
    event = build_event(
        method="POST",
        target="/",
        headers=[("Content-Type", "application/octet-stream")],
        body=body,
        source_ip="::1",
    )
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


@pytest.mark.parametrize(
    ("header", "claims"),
    [
        ("Bearer dev:alice", {"sub": "alice"}),
        ("bearer   dev:11111111-2222", {"sub": "11111111-2222"}),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", None),
        ("Bearer dev:", None),
        ("Basic ZGV2OmFsaWNl", None),
        (None, None),
    ],
)
def test_only_the_dev_login_becomes_claims(header: str | None, claims: object) -> None:
    """`Bearer dev:<sub>` is the local login; any other token gives no identity."""
    assert dev_claims(header) == claims
    headers = [("Authorization", header)] if header else []
    event = build_event(method="GET", target="/api/sites", headers=headers, body=b"", source_ip="x")
    found = event["requestContext"].get("authorizer", {}).get("jwt", {}).get("claims")
    assert found == claims


@pytest.fixture
def server() -> Iterator[LocalApiServer]:
    services = bootstrap.build(
        Settings(),
        sites=InMemorySiteRepository(),
        accounts=InMemoryAccountRepository(),
        clock=FakeClock(),
        new_id=SequentialIds(),
    )

    def echo(event: Event, _context: object) -> Response:
        return json_response(200, {"event": dict(event)})

    def crash(_event: Event, _context: object) -> Response:
        raise RuntimeError("handler bug")

    def bare(_event: Event, _context: object) -> Any:
        return {"plain": True}

    mounts = [
        Mount("/api/sites", sites_api.make_handler(services)),
        Mount("/api/accounts", accounts_api.make_handler(services)),
        Mount("/script.js", tracker.make_handler()),
        Mount("/echo", echo),
        Mount("/crash", crash),
        Mount("/bare", bare),
    ]
    srv = LocalApiServer(("127.0.0.1", 0), mounts)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


def call(
    srv: LocalApiServer,
    method: str,
    path: str,
    body: object = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    payload = None if body is None else json.dumps(body)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    conn.request(method, path, body=payload, headers=all_headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def test_the_sites_api_works_through_the_adapter_with_the_dev_login(
    server: LocalApiServer,
) -> None:
    """Create and list sites over real HTTP as `dev:alice`; bob sees none; no login is 401
    with a hint naming the dev login."""
    alice = {"Authorization": "Bearer dev:alice"}
    status, headers, body = call(
        server, "POST", "/api/sites", {"name": "Blog", "domains": ["example.com"]}, alice
    )
    assert status == 201
    assert headers["content-type"] == "application/json"
    site = json.loads(body)
    assert site["ownerSub"] == "alice"
    status, _, body = call(server, "GET", f"/api/sites/{site['siteId']}", headers=alice)
    assert (status, json.loads(body)["name"]) == (200, "Blog")
    status, _, body = call(server, "GET", "/api/sites", headers={"Authorization": "Bearer dev:bob"})
    assert (status, json.loads(body)) == (200, {"sites": []})
    status, _, body = call(server, "GET", "/api/sites")
    assert status == 401
    assert json.loads(body)["error"]["code"] == "unauthorized"
    assert "Bearer dev:<name>" in json.loads(body)["error"]["hint"]
    status, _, body = call(server, "GET", "/api/accounts", headers=alice)
    assert (status, json.loads(body)["emailNotifications"]) == (200, "daily")


def test_unknown_paths_and_crashing_handlers_answer_json_errors(server: LocalApiServer) -> None:
    """A path nobody serves is a 404; a handler that raises is a bare 500; a response
    without statusCode is a 200 with that JSON, as API Gateway treats it."""
    status, _, body = call(server, "GET", "/nowhere")
    assert (status, json.loads(body)["error"]["code"]) == (404, "not_found")
    status, _, body = call(server, "GET", "/crash")
    assert (status, json.loads(body)["error"]["code"]) == (500, "internal_error")
    status, _, body = call(server, "GET", "/bare")
    assert (status, json.loads(body)) == (200, {"plain": True})


def test_the_request_reaches_the_handler_as_an_event(server: LocalApiServer) -> None:
    """Method, path, query and body arrive in the event the handler receives."""
    status, _, body = call(server, "PUT", "/echo/x?a=1", {"n": 1})
    event = json.loads(body)["event"]
    assert status == 200
    assert event["rawPath"] == "/echo/x"
    assert event["queryStringParameters"] == {"a": "1"}
    assert json.loads(event["body"]) == {"n": 1}
    assert event["requestContext"]["http"]["method"] == "PUT"


def test_the_tracker_is_served_as_javascript(server: LocalApiServer) -> None:
    """/script.js answers the packaged tracker with a JavaScript type and an ETag that
    gives 304 when it matches."""
    status, headers, body = call(server, "GET", "/script.js")
    assert status == 200
    assert headers["content-type"].startswith("application/javascript")
    assert b"sendBeacon" in body
    assert b"globalPrivacyControl" in body
    status, _, body = call(server, "GET", "/script.js", headers={"If-None-Match": headers["etag"]})
    assert (status, body) == (304, b"")
