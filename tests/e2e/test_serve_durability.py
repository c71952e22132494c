"""Issue 14, acceptance 5 and 6: `analytics serve` keeps every event it answered 202 for
through SIGKILL (the spool), and its HTTP server stands 64 parallel clients and malformed
framing, answering JSON.

Each test runs `analytics serve` as a subprocess on its own data folder and its own database
(created on the test PostgreSQL server), and waits by polling with bounded timeouts; the kill
in the middle of a delivery is made deterministic by the stack's test hook, which holds a batch
after processIngest answered it and before the spool marks it delivered.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from entrypoints.local.stack import HOLD_AFTER_BATCH_ENV, HOLDING
from tests.e2e.stack import Serve, clean_environ, fetch, poll, session_payloads
from tests.support.db import check_server, temporary_database

pytestmark = pytest.mark.slow

STORED = (
    "SELECT count(*)::int, count(DISTINCT event_uid)::int FROM ("
    " SELECT event_uid FROM events WHERE site_id = %(site)s"
    " UNION ALL SELECT event_uid FROM initial_events WHERE site_id = %(site)s) AS stored"
)


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh database for one test's stack (migrated by `serve` at its start)."""
    check_server()
    with temporary_database(prefix="analytics_e2e_durability") as url:
        yield url


def payloads(count: int, sessions: int = 100) -> list[dict[str, Any]]:
    """`count` tracker requests: `sessions` sessions, each an initial event then pageviews."""
    start_ms = int(time.time() * 1000) - 600_000
    per_session = -(-count // sessions)
    out: list[dict[str, Any]] = []
    for n in range(sessions):
        paths = [f"/page/{n}/{i}" for i in range(per_session)]
        out.extend(session_payloads(f"session-{n:05d}", paths, start_ms))
    return out[:count]


def stored(url: str, site_id: str) -> tuple[int, int]:
    """(rows in events + initial_events for the site, distinct event_uids among them)."""
    ((rows, uids),) = fetch(url, STORED, {"site": site_id})  # type: ignore[arg-type]  # psycopg takes a mapping too
    return rows, uids


def send(serve: Serve, site_id: str, bodies: list[dict[str, Any]], clients: int) -> list[int]:
    """Send every body over `clients` parallel connections; the statuses, in order."""
    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(lambda body: serve.collect(site_id, body), bodies))


def spool_segments(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "ingest-spool").glob("*.seg"))


def log_lines(serve: Serve, message: str) -> list[dict[str, Any]]:
    """The JSON log lines of the stack whose message is `message`."""
    found = []
    for line in list(serve.stderr):
        start = line.find("{")
        if start < 0 or message not in line:
            continue
        try:
            entry = json.loads(line[start:])
        except ValueError:
            continue
        if entry.get("message") == message:
            found.append(entry)
    return found


def test_events_answered_202_survive_sigkill_and_are_stored_once(
    tmp_path: Path, database: str
) -> None:
    """500 events answered 202 while the stream buffers them for an hour, then SIGKILL:
    nothing is stored yet, the spool holds them, and the restarted stack stores all 500, each
    once, and leaves the spool empty when it stops."""
    data_dir = tmp_path / "data"
    env = clean_environ(DATABASE_URL=database)
    serve = Serve(data_dir, "--buffer-seconds", "3600", env=env).start()
    try:
        site_id = serve.create_site(["example.com"])
        assert send(serve, site_id, payloads(500), clients=8) == [202] * 500
        assert serve.stop(signal.SIGKILL) == -signal.SIGKILL
    finally:
        serve.kill()
    assert stored(database, site_id) == (0, 0)
    assert spool_segments(data_dir)

    serve = Serve(data_dir, "--buffer-seconds", "0.2", env=env).start()
    try:
        poll(lambda: stored(database, site_id) == (500, 500), 60, "500 events stored once")
        assert serve.stop() == 0
    finally:
        serve.kill()
    assert "500 undelivered record(s) recovered" in "".join(serve.stderr)
    assert stored(database, site_id) == (500, 500)
    assert spool_segments(data_dir) == []


def test_a_sigkill_in_the_middle_of_a_delivery_stores_every_event_once(
    tmp_path: Path, database: str
) -> None:
    """Batches of ~50 KiB; the second one is held after processIngest stored it and before
    the spool marks it delivered, and the stack is killed there with later events still
    buffered: the restart sends the second batch again (its events count as duplicates) and
    the rest, and every one of the 500 events is stored exactly once."""
    data_dir = tmp_path / "data"
    env = clean_environ(DATABASE_URL=database)
    held = Serve(
        data_dir,
        "--buffer-seconds",
        "3600",
        "--buffer-mib",
        "0.05",
        env={**env, HOLD_AFTER_BATCH_ENV: "2"},
    ).start()
    try:
        site_id = held.create_site(["example.com"])
        assert send(held, site_id, payloads(500), clients=4) == [202] * 500
        poll(lambda: log_lines(held, HOLDING), 60, "the second batch held")
        delivered = log_lines(held, "batch delivered")
        assert len(delivered) == 2
        first, second = (entry["records"] for entry in delivered)
        assert first + second < 500  # later events are still only in the buffer and the spool
        assert stored(database, site_id) == (first + second, first + second)
        assert held.stop(signal.SIGKILL) == -signal.SIGKILL
    finally:
        held.kill()

    serve = Serve(data_dir, "--buffer-seconds", "0.2", env=env).start()
    try:
        poll(lambda: stored(database, site_id) == (500, 500), 60, "500 events stored once")
        outcomes = dict(
            fetch(
                database,
                "SELECT outcome, sum(count)::int FROM ingest_outcomes WHERE site_id = %s"
                " GROUP BY 1",
                (site_id,),
            )
        )
        assert serve.stop() == 0
    finally:
        serve.kill()
    # The spool settles through the highest number up to which every record is delivered.
    # Concurrent clients can leave a record of the first batch numbered after one that waited
    # for the second: such records are recovered too (and stored once all the same).
    found = re.search(r"spool: (\d+) undelivered record\(s\) recovered", "".join(serve.stderr))
    assert found is not None
    recovered = int(found[1])
    assert 500 - first <= recovered < 500
    assert outcomes == {"accepted": 500, "duplicate": recovered - (500 - first - second)}
    assert spool_segments(data_dir) == []


def test_64_parallel_clients_are_all_answered_202_and_stored(tmp_path: Path, database: str) -> None:
    """64 clients start together and send 3,000 events in total, a new connection per
    request: no connection is reset or refused, every answer is 202, and all 3,000 are
    stored."""
    serve = Serve(
        tmp_path / "data", "--buffer-seconds", "0.5", env=clean_environ(DATABASE_URL=database)
    ).start()
    try:
        site_id = serve.create_site(["example.com"])
        bodies = payloads(3000, sessions=300)
        shares = [bodies[n::64] for n in range(64)]
        start = threading.Barrier(64)
        statuses: list[int] = []
        errors: list[str] = []
        lock = threading.Lock()

        def client(share: list[dict[str, Any]]) -> None:
            start.wait(timeout=30)
            for body in share:
                try:
                    status = serve.collect(site_id, body)
                except OSError as exc:  # a reset, a refusal, a timeout
                    with lock:
                        errors.append(repr(exc))
                    continue
                with lock:
                    statuses.append(status)

        threads = [threading.Thread(target=client, args=(share,)) for share in shares]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert errors == []
        assert statuses == [202] * 3000
        poll(lambda: stored(database, site_id) == (3000, 3000), 60, "3,000 events stored")
        assert serve.stop() == 0
    finally:
        serve.kill()
    assert "Traceback" not in "".join(serve.stderr)


def exchange(url: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes on a new connection; the answer's status, headers and body."""
    split = urlsplit(url)
    with socket.create_connection((split.hostname or "127.0.0.1", split.port), 30) as sock:
        sock.sendall(raw)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_malformed_framing_is_answered_400_json_without_a_traceback(
    tmp_path: Path, database: str
) -> None:
    """`Content-Length: abc`, a negative one, two different ones, a bad chunk size and a
    body shorter than announced are 400 JSON errors; a request line over 64 KiB is 414 JSON;
    the stack keeps serving and logs no traceback for any of them."""
    serve = Serve(tmp_path / "data", env=clean_environ(DATABASE_URL=database)).start()
    try:
        site_id = serve.create_site(["example.com"])
        target = f"/ingest?site_id={site_id}"
        head = f"POST {target} HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
        cases = {
            "abc": head + "Content-Length: abc\r\n\r\n{}",
            "negative": head + "Content-Length: -5\r\n\r\n{}",
            "conflicting": head + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
            "chunk size": head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
            "short body": head + "Content-Length: 100\r\n\r\n{}",
        }
        for name, raw in cases.items():
            if name == "short body":
                status, headers, body = exchange_half_closed(serve.url, raw.encode())
            else:
                status, headers, body = exchange(serve.url, raw.encode())
            assert (name, status) == (name, 400)
            assert headers["content-type"] == "application/json"
            assert json.loads(body)["error"]["code"] == "invalid_request"
        long_line = f"GET /api/sites?x={'a' * 70_000} HTTP/1.1\r\nHost: localhost\r\n\r\n"
        status, headers, body = exchange(serve.url, long_line.encode())
        assert status == 414
        assert headers["content-type"] == "application/json"
        assert json.loads(body)["error"]["code"] == "uri_too_long"
        status, _ = serve.request("GET", "/api/sites")
        assert status == 200
        assert serve.stop() == 0
    finally:
        serve.kill()
    assert not re.search(r"Traceback|Exception", "".join(serve.stderr))


def exchange_half_closed(url: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Like `exchange`, but the client closes its sending side after the bytes (so the
    server sees the body end early instead of waiting for more)."""
    split = urlsplit(url)
    with socket.create_connection((split.hostname or "127.0.0.1", split.port), 30) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
