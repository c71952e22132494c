"""The local HTTP server's framing: every request gets a JSON answer, a client's mistake is
400/414/431/501 JSON without a traceback, and the listen backlog takes a burst."""

from __future__ import annotations

import http.client
import io
import json
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from entrypoints.http import Event, Response, json_response
from entrypoints.local.http_adapter import (
    LISTEN_BACKLOG,
    MAX_BODY_BYTES,
    BadFramingError,
    LocalApiServer,
    Mount,
    content_length,
    read_chunked,
)


@pytest.fixture
def server() -> Iterator[LocalApiServer]:
    """A server on a free loopback port whose one route echoes the body it received."""

    def echo(event: Event, _context: object) -> Response:
        return json_response(200, {"body": event.get("body"), "b64": event["isBase64Encoded"]})

    srv = LocalApiServer(("127.0.0.1", 0), [Mount("/echo", echo)])
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


def exchange(srv: LocalApiServer, raw: bytes, *, half_close: bool = False) -> tuple[int, str, Any]:
    """Raw bytes on a new connection; (status, content type, parsed JSON body)."""
    with socket.create_connection(("127.0.0.1", srv.port), 10) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        return response.status, response.getheader("Content-Type") or "", json.loads(body)


HEAD = b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"


@pytest.mark.parametrize(
    ("values", "expected"),
    [(["0"], 0), (["17"], 17), (["17", " 17"], 17), (["007"], 7)],
)
def test_content_length_accepts_one_decimal_number(values: list[str], expected: int) -> None:
    """One non-negative decimal number (repeated identically at most) is the length."""
    assert content_length(values) == expected


@pytest.mark.parametrize(
    "values",
    [["abc"], ["-5"], ["+5"], ["1.0"], [""], ["0x10"], ["5", "6"], ["1" * 20], ["5, 5"]],
)
def test_content_length_refuses_everything_else(values: list[str]) -> None:
    """Signs, letters, fractions, lists, conflicting values and absurd digit counts are
    malformed framing, never a ValueError."""
    with pytest.raises(BadFramingError):
        content_length(values)


def test_a_chunked_body_is_read_with_extensions_and_trailers() -> None:
    """Chunks with extensions and a trailer reassemble into the body."""
    raw = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT"
    stream = io.BytesIO(raw)
    assert read_chunked(stream, MAX_BODY_BYTES) == b"Wikipedia"
    assert stream.read() == b"NEXT"  # the next request on the connection is untouched


@pytest.mark.parametrize(
    "raw",
    [
        b"zz\r\nabc\r\n0\r\n\r\n",  # not hexadecimal
        b"-1\r\nabc\r\n0\r\n\r\n",  # negative
        b"\r\n",  # empty size line
        b"3\r\nabcdef\r\n0\r\n\r\n",  # chunk longer than its size
        b"10\r\nabc",  # input ends inside a chunk
        b"3\r\nabc\r\n",  # input ends before the last chunk
        b"11111111111111111\r\n",  # 17 hex digits
    ],
)
def test_malformed_chunks_are_bad_framing(raw: bytes) -> None:
    """A chunk size that is not hex, a chunk of the wrong length or an early end raises
    BadFramingError instead of ValueError or a silently short body."""
    with pytest.raises(BadFramingError):
        read_chunked(io.BytesIO(raw), MAX_BODY_BYTES)


def test_a_chunked_body_over_the_limit_is_refused() -> None:
    """Chunks adding up to more than the limit give None (answered 413)."""
    assert read_chunked(io.BytesIO(b"8\r\n12345678\r\n0\r\n\r\n"), 4) is None


@pytest.mark.parametrize(
    ("name", "raw", "status"),
    [
        ("abc", HEAD + b"Content-Length: abc\r\n\r\n{}", 400),
        ("negative", HEAD + b"Content-Length: -5\r\n\r\n{}", 400),
        ("both", HEAD + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}", 400),
        ("chunk", HEAD + b"Transfer-Encoding: chunked\r\n\r\nq\r\n{}\r\n0\r\n\r\n", 400),
        ("coding", HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
        ("too large", HEAD + f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode(), 413),
        ("method", b"BREW /echo HTTP/1.1\r\nHost: x\r\n\r\n", 501),
        ("version", b"GET /echo HTTP/9\r\nHost: x\r\n\r\n", 400),
        ("uri", b"GET /echo?" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        ("headers", b"GET /echo HTTP/1.1\r\n" + b"X-A: 1\r\n" * 200 + b"\r\n", 431),
        ("target", b"GET http://[::1/echo HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ],
)
def test_every_rejection_is_json_without_a_traceback(
    server: LocalApiServer,
    caplog: pytest.LogCaptureFixture,
    name: str,
    raw: bytes,
    status: int,
) -> None:
    """Malformed framing, an unknown transfer coding, an oversized body, an unknown method, a
    bad version, a request line over 64 KiB, too many headers and an unparsable target each
    get their status with a JSON error body, and nothing is logged with a traceback."""
    caplog.set_level(logging.DEBUG)
    answer = exchange(server, raw)
    assert answer[:2] == (status, "application/json"), name
    assert set(answer[2]["error"]) >= {"code", "message"}
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


def test_a_body_shorter_than_announced_is_400(
    server: LocalApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that announces 100 bytes, sends 2 and stops sending gets 400 JSON (not a
    handler call with a truncated body), without a traceback."""
    status, kind, body = exchange(server, HEAD + b"Content-Length: 100\r\n\r\n{}", half_close=True)
    assert (status, kind) == (400, "application/json")
    assert body["error"]["code"] == "invalid_request"
    assert [r for r in caplog.records if r.exc_info] == []


def test_good_requests_still_work_after_rejections(server: LocalApiServer) -> None:
    """A keep-alive connection carries a chunked request and a Content-Length one, and the
    server still serves after a malformed request on another connection."""
    exchange(server, HEAD + b"Content-Length: abc\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server.port), 10) as sock:
        sock.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n")
        first = http.client.HTTPResponse(sock)
        first.begin()
        assert json.loads(first.read())["body"] == "hi"
        sock.sendall(HEAD + b"Content-Length: 3\r\n\r\nabc")
        second = http.client.HTTPResponse(sock)
        second.begin()
        assert json.loads(second.read())["body"] == "abc"


def test_the_listen_backlog_takes_a_burst(server: LocalApiServer) -> None:
    """The server asks for a backlog of at least 1,024 connections (Python's default is 5)."""
    assert LISTEN_BACKLOG >= 1024
    assert server.request_queue_size == LISTEN_BACKLOG
