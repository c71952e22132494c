"""Acceptance 5 of the dashboard issue: the dashboard in headless Chromium against `analytics serve`.

The tracker's test page is served from a second origin, `http://localhost:<port>` (the site's
domain); `http://127.0.0.1:<port>` is a wrong origin. Chromium adds CloudFront's country header
to the first visit's requests (DevTools' extra headers), as CloudFront would in AWS, so the
country panel has a row to click. Each step leaves a screenshot in the test's tmp_path.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.browser import Session, chromium_session
from tests.e2e.stack import Serve, fetch, poll

pytestmark = pytest.mark.slow

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>shop</title>
<script defer src="{script}" data-site-id="{site_id}"></script>
</head><body><h1>A shop</h1></body></html>
"""
TRACKER_READY = "return window.analytics && typeof window.analytics.track === 'function';"


class _PageServer(ThreadingHTTPServer):
    page = ""


class _PageHandler(BaseHTTPRequestHandler):
    server: _PageServer

    def do_GET(self) -> None:
        body = self.server.page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet."""


@pytest.fixture
def page_server() -> Iterator[_PageServer]:
    server = _PageServer(("127.0.0.1", 0), _PageHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    process = Serve(tmp_path / "data", "--buffer-seconds", "0.3").start()
    yield process
    process.stop()
    process.kill()


def outcome(serve: Serve, site_id: str, name: str) -> int:
    found = fetch(
        serve.conninfo(),
        "SELECT coalesce(sum(count), 0)::int FROM ingest_outcomes"
        " WHERE site_id = %s AND outcome = %s",
        (site_id, name),
    )
    return int(found[0][0])


def screenshot(browser: Session, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    shot = browser.cdp("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def wait_ready(browser: Session, filters: list[str]) -> None:
    """Until the dashboard has rendered a site view with exactly `filters`."""
    browser.wait_for(
        "const r = document.getElementById('app').dataset.ready;"
        f" return !!r && JSON.stringify(JSON.parse(r).filters) === {json.dumps(json.dumps(filters))};"
    )


def total(browser: Session, metric: str) -> str:
    return str(
        browser.execute(
            "return document.querySelector(`.total[data-metric='${arguments[0]}'] .value`)"
            ".textContent;",
            metric,
        )
    )


def test_log_in_create_a_site_see_its_visits_filter_by_country_reload_and_diagnose(
    serve: Serve, page_server: _PageServer, tmp_path: Path
) -> None:
    """A dev login, a site created in the page, two tracked visits (one from DE) shown on the
    dashboard, a country click that adds a chip and filters the totals to one visitor, a reload
    that keeps that view, and the diagnostics panel counting a visit from a wrong origin."""
    shots = tmp_path / "screenshots"
    shots.mkdir()
    port = page_server.server_address[1]
    with chromium_session() as browser:
        browser.cdp("Emulation.setDeviceMetricsOverride", {
            "width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": False,
        })  # fmt: skip
        # 1. Log in by name (the local dev login).
        browser.navigate(f"{serve.url}/")
        browser.wait_for("return !!document.getElementById('login-name');")
        screenshot(browser, shots, "1-login")
        browser.execute(
            "document.getElementById('login-name').value = 'owner';"
            " document.getElementById('login-form').requestSubmit();"
        )
        browser.wait_for("return !!document.getElementById('create-site');")
        assert "owner" in browser.execute("return document.getElementById('who').textContent;")

        # 2. Create a site: the page switches to it and shows its tracker snippet.
        browser.execute(
            "document.getElementById('site-name').value = 'Shop';"
            " document.getElementById('site-domains').value = 'localhost';"
            " document.getElementById('create-site').requestSubmit();"
        )
        wait_ready(browser, [])
        site_id = parse_qs(urlsplit(browser.execute("return location.href;")).query)["site"][0]
        snippet = browser.execute("return document.getElementById('snippet').textContent;")
        assert f'data-site-id="{site_id}"' in snippet
        assert f"{serve.url}/script.js" in snippet
        screenshot(browser, shots, "2-site-created")
        status, owned = serve.request("GET", f"/api/sites/{site_id}", sub="owner")
        assert (status, owned["domains"]) == (200, ["localhost"])

        # 3. Two visits on the site's page (the first from DE), one from a wrong origin.
        page_server.page = PAGE.format(script=f"{serve.url}/script.js", site_id=site_id)
        browser.cdp("Network.enable")
        browser.cdp("Network.setExtraHTTPHeaders", {"headers": {"CloudFront-Viewer-Country": "DE"}})
        browser.navigate(f"http://localhost:{port}/shop")
        browser.wait_for(TRACKER_READY)
        poll(lambda: outcome(serve, site_id, "accepted") == 1, 30, "the DE visit stored")
        browser.cdp("Network.setExtraHTTPHeaders", {"headers": {}})
        browser.execute("sessionStorage.clear();")  # a new tab's session: a second visitor
        browser.navigate(f"http://localhost:{port}/about")
        browser.wait_for(TRACKER_READY)
        browser.navigate(f"http://127.0.0.1:{port}/shop")
        browser.wait_for(TRACKER_READY)
        poll(lambda: outcome(serve, site_id, "accepted") == 2, 30, "the second visit stored")
        poll(lambda: outcome(serve, site_id, "domain_mismatch") == 1, 30, "the wrong origin")

        # 4. The dashboard shows both visitors, and DE in the country panel.
        browser.navigate(f"{serve.url}/?site={site_id}&range=today")
        wait_ready(browser, [])
        assert total(browser, "visitors") == "2"
        assert total(browser, "pageviews") == "2"
        assert browser.execute("return document.getElementById('source').textContent;") in {
            "postgres",
            "local",
        }
        assert browser.execute("return document.querySelectorAll('#chart circle').length;") > 0
        screenshot(browser, shots, "3-visits")

        # 5. Click the country: a chip, and the numbers of DE only.
        browser.execute(
            "document.querySelector(\"#panel-country button[data-value='DE']\").click();"
        )
        wait_ready(browser, ["country==DE"])
        chip = browser.execute("return document.querySelector('#chips .chip').textContent;")
        assert "DE" in chip
        assert total(browser, "visitors") == "1"
        assert "filters=country%3D%3DDE" in browser.execute("return location.search;")
        screenshot(browser, shots, "4-filtered")

        # 6. Reload: the same view.
        browser.execute("location.reload();")
        wait_ready(browser, ["country==DE"])
        assert "DE" in browser.execute("return document.querySelector('#chips .chip').textContent;")
        assert total(browser, "visitors") == "1"
        assert browser.execute(
            "return document.querySelector(\"[data-range='today']\").getAttribute('aria-pressed');"
        ) == "true"  # fmt: skip
        screenshot(browser, shots, "5-reloaded")

        # 7. The diagnostics panel counts the wrong origin's event, with the allowance.
        mismatch = browser.execute(
            "return document.querySelector(\"#diagnostics tr[data-outcome='domainMismatch']"
            ' td.num").textContent;'
        )
        assert mismatch == "1"
        assert "remaining" in browser.execute(
            "return document.getElementById('allowance').textContent;"
        )
        browser.execute("document.getElementById('diagnostics').scrollIntoView();")
        screenshot(browser, shots, "6-diagnostics")

        # Removing the chip shows both visitors again.
        browser.execute("document.querySelector('#chips .chip').click();")
        wait_ready(browser, [])
        assert total(browser, "visitors") == "2"

    assert sorted(p.name for p in shots.iterdir()) == [
        "1-login.png",
        "2-site-created.png",
        "3-visits.png",
        "4-filtered.png",
        "5-reloaded.png",
        "6-diagnostics.png",
    ]
