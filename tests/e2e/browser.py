"""A small W3C WebDriver client for Debian's chromedriver + chromium (no downloads, no extra
package): start chromedriver, open a headless session, navigate, run scripts, and use
Chrome's DevTools commands through chromedriver's `goog/cdp/execute` endpoint.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# An ordinary desktop Chrome on Linux: headless Chromium announces itself as HeadlessChrome,
# which ingest rightly drops as a bot.
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
# The flags this closed network needs (see the machine notes): no background connections.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def require_browser() -> None:
    """Fail (never skip) when Debian's chromium or chromedriver is missing."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]
    if missing:
        message = (
            f"{' and '.join(missing)} not found: the browser test needs Debian's chromium and "
            "chromium-driver packages (.ci/run installs them: apt-get install -y chromium "
            "chromium-driver)"
        )
        raise AssertionError(message)


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class WebDriverError(RuntimeError):
    """chromedriver answered with an error."""


class Session:
    """One browser session."""

    def __init__(self, port: int, session_id: str) -> None:
        self._port = port
        self.session_id = session_id

    def _call(self, method: str, path: str, body: object = None) -> Any:
        return _request(self._port, method, f"/session/{self.session_id}{path}", body)

    def navigate(self, url: str) -> None:
        """Load `url` and wait for its load event (the default page-load strategy)."""
        self._call("POST", "/url", {"url": url})

    def execute(self, script: str, *args: object) -> Any:
        """Run `script` (a function body) in the page; returns its JSON-able result."""
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def cdp(self, command: str, params: dict[str, Any] | None = None) -> Any:
        """A Chrome DevTools protocol command."""
        return self._call("POST", "/goog/cdp/execute", {"cmd": command, "params": params or {}})

    def add_init_script(self, source: str) -> str:
        """Run `source` in every new document before its own scripts; returns its id."""
        return str(
            self.cdp("Page.addScriptToEvaluateOnNewDocument", {"source": source})["identifier"]
        )

    def remove_init_script(self, identifier: str) -> None:
        """Stop running an init script in new documents."""
        self.cdp("Page.removeScriptToEvaluateOnNewDocument", {"identifier": identifier})

    def wait_for(self, script: str, timeout: float = 20.0) -> Any:
        """Poll `script` until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.execute(script)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"page condition not met in {timeout}s: {script}")
            time.sleep(0.05)


def _request(port: int, method: str, path: str, body: object = None) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        payload = None if body is None else json.dumps(body)
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        answer = json.loads(response.read() or b"{}")
    finally:
        conn.close()
    value = answer.get("value") if isinstance(answer, dict) else None
    if response.status != 200:
        detail = value.get("message") if isinstance(value, dict) else answer
        raise WebDriverError(f"{method} {path}: {response.status} {detail}")
    return value


@contextlib.contextmanager
def chromium_session(user_agent: str = USER_AGENT) -> Iterator[Session]:
    """A headless Chromium session driven by chromedriver, torn down after."""
    require_browser()
    port = free_port()
    driver = subprocess.Popen(
        [CHROMEDRIVER, f"--port={port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    profile = Path(tempfile.mkdtemp(prefix="analytics-chromium-"))
    session: Session | None = None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _request(port, "GET", "/status").get("ready"):
                    break
            except (OSError, WebDriverError, json.JSONDecodeError):
                pass
            if time.monotonic() > deadline or driver.poll() is not None:
                raise AssertionError("chromedriver did not start")
            time.sleep(0.05)
        capabilities = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            *FLAGS,
                            f"--user-data-dir={profile}",
                            f"--user-agent={user_agent}",
                        ],
                    },
                }
            }
        }
        created = _request(port, "POST", "/session", capabilities)
        session = Session(port, created["sessionId"])
        yield session
    finally:
        if session is not None:
            with contextlib.suppress(OSError, WebDriverError):
                _request(port, "DELETE", f"/session/{session.session_id}")
        driver.terminate()
        try:
            driver.wait(timeout=10)
        except subprocess.TimeoutExpired:
            driver.kill()
            driver.wait()
        shutil.rmtree(profile, ignore_errors=True)


class PageServer(ThreadingHTTPServer):
    """A loopback server of one HTML page (`page`), as a site owner's page would be."""

    page = ""


class PageHandler(BaseHTTPRequestHandler):
    """Answers every GET with the server's page."""

    server: PageServer

    def do_GET(self) -> None:
        body = self.server.page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet."""
