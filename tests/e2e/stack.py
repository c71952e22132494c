"""`analytics serve` as a subprocess, and small HTTP helpers to talk to it."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import psycopg

from adapters.postgres.embedded import EmbeddedPostgres

_T = TypeVar("_T")
ANALYTICS = str(Path(sys.executable).with_name("analytics"))
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
_LISTENING = re.compile(r"listening on (http://\S+)")


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without any database or AWS settings (a fresh machine)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "DB_", "ATHENA_"))
        and key
        not in {
            "DATABASE_URL",
            "FIREHOSE_ACCESS_KEY",
            "LOCAL_LAKE_DIR",
            "EVENTS_STREAM_NAME",
            "INITIAL_EVENTS_STREAM_NAME",
            "INGEST_STREAM_NAME",
        }
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def poll(condition: Callable[[], _T], timeout: float = 30.0, what: str = "condition") -> _T:
    """Call `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s (last: {value!r})")
        time.sleep(0.1)


class Serve:
    """One `analytics serve --port 0` process on `data_dir`."""

    def __init__(self, data_dir: Path, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.args = args
        self.env = dict(env or clean_environ())
        self.process: subprocess.Popen[str] | None = None
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.url = ""
        self._readers: list[threading.Thread] = []

    def start(self, timeout: float = 90.0) -> Serve:
        """Start the process and wait until it prints its URL."""
        self.process = subprocess.Popen(
            [ANALYTICS, "serve", "--port", "0", "--data-dir", str(self.data_dir), *self.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )
        for stream, sink in (
            (self.process.stdout, self.stdout),
            (self.process.stderr, self.stderr),
        ):
            threading.Thread(target=_drain, args=(stream, sink), daemon=True).start()

        def listening() -> str | None:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited early:\n{self.output()}")
            for line in list(self.stdout):
                match = _LISTENING.search(line)
                if match:
                    return match[1]
            return None

        self.url = poll(listening, timeout, "serve listening")
        return self

    def output(self) -> str:
        """Everything the process printed so far."""
        return "".join(self.stdout) + "\n--- stderr ---\n" + "".join(self.stderr)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 90.0) -> int:
        """Send `sig` and wait for the process to exit; returns its exit code."""
        assert self.process is not None
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"serve did not stop:\n{self.output()}") from None
        self._close_pipes()
        return code

    def kill(self) -> None:
        """Make sure the process is gone and its pipes closed (test teardown)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        assert self.process is not None
        for reader in self._readers:
            reader.join(timeout=10)  # they end at EOF, once the process is gone
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        sub: str | None = "tester",
        headers: Mapping[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        """One HTTP request; returns (status, parsed JSON body or None)."""
        split = urlsplit(self.url)
        conn = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port, timeout=30)
        all_headers = dict(headers or {})
        if sub is not None:
            all_headers["Authorization"] = f"Bearer dev:{sub}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=data, headers=all_headers)
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        try:
            return response.status, json.loads(payload) if payload else None
        except ValueError:
            return response.status, payload

    def create_site(self, domains: Sequence[str], sub: str = "tester", **extra: object) -> str:
        """POST /api/sites; returns the new site's id."""
        status, site = self.request(
            "POST", "/api/sites", {"name": "E2E site", "domains": list(domains), **extra}, sub=sub
        )
        assert status == 201, site
        return str(site["siteId"])

    def collect(
        self,
        site_id: str,
        payload: Mapping[str, Any],
        *,
        origin: str = "https://example.com",
        user_agent: str = BROWSER_UA,
    ) -> int:
        """Send one tracker request as sendBeacon would (text/plain, Origin)."""
        status, _ = self.request(
            "POST",
            f"/ingest?site_id={site_id}",
            sub=None,
            raw=json.dumps(payload).encode(),
            headers={
                "Content-Type": "text/plain;charset=UTF-8",
                "Origin": origin,
                "User-Agent": user_agent,
            },
        )
        return status

    def conninfo(self) -> str:
        """The embedded database's connection string (while the process runs)."""
        return EmbeddedPostgres(self.data_dir / "postgres").conninfo()


def _drain(stream: Any, sink: list[str]) -> None:
    sink.extend(stream)  # line by line, as the process writes them


def fetch(conninfo: str, query: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """Rows of one query on a fresh connection."""
    with psycopg.connect(conninfo) as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def fetch_after_exit(
    data_dir: Path, query: str, params: Sequence[object] = ()
) -> list[tuple[Any, ...]]:
    """Rows of one query on the embedded database of `data_dir`, started just for it."""
    with EmbeddedPostgres(data_dir / "postgres").running() as url:
        return fetch(url, query, params)


def session_payloads(session: str, paths: Sequence[str], start_ms: int) -> list[dict[str, Any]]:
    """What the tracker sends for one session visiting `paths`."""
    out: list[dict[str, Any]] = []
    for index, path in enumerate(paths):
        body: dict[str, Any] = {
            "type": "initial" if index == 0 else "event",
            "session_id": session,
            "event": "pageview",
            "pathname": path,
            "timestamp": start_ms + index * 1000,
        }
        if index == 0:
            body["referrer"] = "https://www.google.com/"
            body["url"] = f"https://example.com{path}?utm_source=newsletter"
            body["screen"] = {"width": 1920, "height": 1080}
        out.append(body)
    return out


def analytics(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI; returns the finished process (output captured)."""
    return subprocess.run(
        [ANALYTICS, *args],
        capture_output=True,
        text=True,
        env=env or clean_environ(),
        timeout=180,
        check=False,
    )
