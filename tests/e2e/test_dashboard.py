"""Acceptance 5 of the dashboard issue: the dashboard in headless Chromium against `analytics serve`.

The tracker's test page is served from a second origin, `http://localhost:<port>` (the site's
domain); `http://127.0.0.1:<port>` is a wrong origin. Chromium adds CloudFront's country header
to the first visit's requests (DevTools' extra headers), as CloudFront would in AWS, so the
country panel has a row to click. Each step leaves a screenshot in the test's tmp_path.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from entrypoints.local.dashboard import dashboard_file
from tests.e2e.browser import PageServer, Session, chromium_session
from tests.e2e.stack import Serve, fetch, poll

pytestmark = pytest.mark.slow

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>shop</title>
<script defer src="{script}" data-site-id="{site_id}"></script>
</head><body><h1>A shop</h1></body></html>
"""
TRACKER_READY = "return window.analytics && typeof window.analytics.track === 'function';"


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
    serve: Serve, page_server: PageServer, tmp_path: Path
) -> None:
    """A dev login, a site created in the page, two tracked visits (one from DE) shown on the
    dashboard, a country click that adds a chip and filters the totals to one visitor, a reload
    that keeps that view, the diagnostics panel counting a visit from a wrong origin, and no
    sideways overflow at a phone's width."""
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

        # On a phone's width nothing overflows sideways.
        browser.cdp("Emulation.setDeviceMetricsOverride", {
            "width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True,
        })  # fmt: skip
        browser.execute("location.reload();")
        wait_ready(browser, [])
        assert browser.execute("return document.documentElement.scrollWidth <= window.innerWidth;")
        screenshot(browser, shots, "7-phone")

    assert sorted(p.name for p in shots.iterdir()) == [
        "1-login.png",
        "2-site-created.png",
        "3-visits.png",
        "4-filtered.png",
        "5-reloaded.png",
        "6-diagnostics.png",
        "7-phone.png",
    ]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _FakeCognito(ThreadingHTTPServer):
    """The dashboard's files with a Cognito config, a fake hosted UI and token endpoint, and
    a fake /api/sites, all on one origin; it records what the page sent."""

    authorize: dict[str, str]
    token_form: dict[str, str]
    api_authorization: list[str]
    id_token = ""

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _FakeCognitoHandler(BaseHTTPRequestHandler):
    server: _FakeCognito

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value: object) -> None:
        self._send(200, json.dumps(value).encode(), "application/json")

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        origin = self.server.origin
        if url.path == "/":
            self._send(200, (dashboard_file("index.html") or "").encode(), "text/html")
        elif url.path == "/dashboard/config.json":
            self._json({
                "apiBase": "",
                "auth": {"mode": "cognito", "domain": origin, "clientId": "client-1",
                         "redirectUri": f"{origin}/", "scopes": ["openid", "email"]},
            })  # fmt: skip
        elif url.path.startswith("/dashboard/"):
            name = url.path.removeprefix("/dashboard/")
            kind = "text/javascript" if name.endswith(".js") else "text/css"
            self._send(200, (dashboard_file(name) or "").encode(), kind)
        elif url.path == "/oauth2/authorize":
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            self.server.authorize = query
            back = urlencode({"code": "the-code", "state": query["state"]})
            self._send(302, b"", "text/plain", Location=f"{query['redirect_uri']}?{back}")
        elif url.path == "/api/sites":
            self.server.api_authorization.append(self.headers.get("Authorization", ""))
            self._json({"sites": []})
        else:
            self._send(404, b"{}", "application/json")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if urlsplit(self.path).path != "/oauth2/token":
            self._send(404, b"{}", "application/json")
            return
        self.server.token_form = form
        self._json({"id_token": self.server.id_token, "access_token": "a", "token_type": "Bearer"})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet."""


@pytest.fixture
def fake_cognito() -> Iterator[_FakeCognito]:
    server = _FakeCognito(("127.0.0.1", 0), _FakeCognitoHandler)
    server.authorize, server.token_form, server.api_authorization = {}, {}, []
    claims = {"sub": "u-1", "email": "owner@example.com", "exp": int(time.time()) + 3600}
    server.id_token = ".".join(
        [_b64url(b'{"alg":"none"}'), _b64url(json.dumps(claims).encode()), "sig"]
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_cognito_login_is_the_authorization_code_flow_with_pkce(
    fake_cognito: _FakeCognito,
) -> None:
    """With a Cognito config the page sends the browser to the hosted UI with an S256
    challenge and a state, exchanges the returned code with the matching code_verifier at
    /oauth2/token, calls the API with the ID token as Bearer and drops the code from the URL."""
    origin = fake_cognito.origin
    with chromium_session() as browser:
        browser.navigate(f"{origin}/")
        browser.wait_for("return !!document.getElementById('login');")
        browser.execute("document.getElementById('login').click();")
        browser.wait_for("return !!document.getElementById('create-site');")
        assert "owner@example.com" in browser.execute(
            "return document.getElementById('who').textContent;"
        )
        assert browser.execute("return location.href;") == f"{origin}/"
    asked = fake_cognito.authorize
    assert (asked["response_type"], asked["client_id"]) == ("code", "client-1")
    assert (asked["redirect_uri"], asked["scope"]) == (f"{origin}/", "openid email")
    assert asked["code_challenge_method"] == "S256"
    form = fake_cognito.token_form
    assert (form["grant_type"], form["code"]) == ("authorization_code", "the-code")
    assert (form["client_id"], form["redirect_uri"]) == ("client-1", f"{origin}/")
    verifier = form["code_verifier"]
    assert len(verifier) >= 43
    assert _b64url(hashlib.sha256(verifier.encode()).digest()) == asked["code_challenge"]
    assert fake_cognito.api_authorization == [f"Bearer {fake_cognito.id_token}"]
