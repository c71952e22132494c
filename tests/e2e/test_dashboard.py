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
from tests.e2e.stack import Serve, fetch, poll, session_payloads

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


# ---------------------------------------------------------------- the query depth

OWNER = "owner"
RANGE = "7d"
MARKUP = "<img src=x onerror=window.__xss=1>"


def seed_sessions(serve: Serve, site_id: str, start_ms: int) -> None:
    """Four sessions of pageviews (sources google x2, news.ycombinator.com, none), two of them
    sending a `signup` event with a `plan` property, one a `click` whose `plan` is markup."""
    visits = {
        "s1-aaaaaaaaaaaa": (["/", "/pricing", "/signup"], "https://www.google.com/", "pro"),
        "s2-bbbbbbbbbbbb": (["/blog/a", "/pricing"], "https://www.google.com/", "free"),
        "s3-cccccccccccc": (["/blog/b"], "https://news.ycombinator.com/item", None),
        "s4-dddddddddddd": (["/", "/about"], None, None),
    }
    for session, (paths, referrer, plan) in visits.items():
        payloads = session_payloads(session, paths, start_ms)
        if referrer is None:
            del payloads[0]["referrer"]
        else:
            payloads[0]["referrer"] = referrer
        if plan is not None:
            payloads.append({
                "type": "event", "session_id": session, "event": "signup",
                "pathname": paths[-1], "timestamp": start_ms + len(paths) * 1000,
                "properties": {"plan": plan},
            })  # fmt: skip
        for payload in payloads:
            assert serve.collect(site_id, payload) == 202
    markup = {"type": "event", "session_id": "s4-dddddddddddd", "event": "click",
              "pathname": "/about", "timestamp": start_ms + 5000, "properties": {"plan": MARKUP}}  # fmt: skip
    assert serve.collect(site_id, markup) == 202


def api_get(serve: Serve, path: str, **params: str) -> Any:
    """GET an API path as the owner; the parsed answer of a 200."""
    status, body = serve.request("GET", f"{path}?{urlencode(params)}", sub=OWNER)
    assert status == 200, body
    return body


def view(browser: Session, **expected: object) -> dict[str, Any]:
    """Until the dashboard shows a site view whose state has the `expected` values; that state."""
    found = browser.wait_for(
        "const r = document.getElementById('app').dataset.ready;"
        " if (!r) return null; const s = JSON.parse(r);"
        f" return Object.entries({json.dumps(expected)}).every(([k, v]) =>"
        " JSON.stringify(s[k]) === JSON.stringify(v)) ? r : null;"
    )
    state: dict[str, Any] = json.loads(found)
    return state


def shown_number(value: float | None, unit: str = "") -> str:
    """A number as the page writes it (`fmt`, then the unit)."""
    if value is None:
        return "–"
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"
    return text + unit


def panel_rows(browser: Session, panel: str) -> list[list[str]]:
    """The rows of a breakdown panel: the value, then each number column as shown."""
    rows: list[list[str]] = browser.execute(
        "return [...document.querySelectorAll(`#panel-${arguments[0]} li`)].map((li) =>"
        " [li.dataset.value, ...[...li.querySelectorAll('.num')].map((n) => n.textContent)]);",
        panel,
    )
    return rows


def api_rows(answer: dict[str, Any], *columns: str) -> list[list[str]]:
    """The breakdown of an API answer as the page should show it."""
    units = {"percentage": "%"}
    return [
        [row["value"] or "", *(shown_number(row[c], units.get(c, "")) for c in columns)]
        for row in answer["breakdown"]
    ]


def click(browser: Session, selector: str) -> None:
    """Click the element `selector` names (it must exist)."""
    assert browser.execute(
        "const el = document.querySelector(arguments[0]); if (el) el.click(); return !!el;",
        selector,
    ), selector


def add_filter(browser: Session, dimension: str, operator: str, value: str, key: str = "") -> None:
    """Fill and submit the filter form."""
    browser.execute(
        "const [dim, op, value, key] = arguments;"
        " const d = document.getElementById('filter-dim'); d.value = dim;"
        " d.dispatchEvent(new Event('change'));"
        " document.getElementById('filter-key').value = key;"
        " document.getElementById('filter-op').value = op;"
        " document.getElementById('filter-value').value = value;"
        " document.getElementById('filter-form').requestSubmit();",
        dimension,
        operator,
        value,
        key,
    )


def test_entry_exit_pages_percentages_goal_filters_properties_and_time_zone_match_the_api(
    serve: Serve, tmp_path: Path
) -> None:
    """On seeded sessions, every new control shows the API's numbers for the same query: the
    percentage column, the entry and exit page tabs, a goal picked from the event breakdown
    (conversions and rate in the totals, a conversions column for sources), filters with
    `~=`, `!~` and alternatives from the form (one on a property), a custom-property
    breakdown whose row click filters `property:plan==pro`, a refused filter shown as the
    API's 400 message without breaking the page, and the time zone set in the settings."""
    shots = tmp_path / "screenshots"
    shots.mkdir()
    site_id = serve.create_site(["example.com"], sub=OWNER)
    seed_sessions(serve, site_id, int(time.time() * 1000) - 60_000)
    with chromium_session() as browser:
        browser.cdp("Emulation.setDeviceMetricsOverride", {
            "width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": False,
        })  # fmt: skip
        browser.navigate(f"{serve.url}/")
        browser.execute(f"sessionStorage.setItem('dev_name', {json.dumps(OWNER)});")
        browser.navigate(f"{serve.url}/?site={site_id}&range={RANGE}")
        state = view(browser, site=site_id, filters=[])
        dates = {"siteId": site_id, "startDate": state["startDate"], "endDate": state["endDate"]}
        poll(
            lambda: (
                api_get(serve, "/api/query", **dates, metrics="visitors")["totals"]["visitors"] == 4
            ),
            30,
            "the four seeded visitors",
        )
        browser.execute("location.reload();")
        view(browser, site=site_id)
        assert total(browser, "visitors") == "4"

        # Percentages in the breakdowns, the entry and exit page tabs.
        for tab in ("pathname", "entry_page", "exit_page"):
            click(browser, f"#panel-pages button[data-tab='{tab}']")
            view(browser, pages=tab)
            answer = api_get(
                serve, "/api/query", **dates, metrics="visitors,percentage", groupBy=tab, limit="10"
            )
            assert answer["breakdown"], answer
            assert panel_rows(browser, "pages") == api_rows(answer, "visitors", "percentage")
            screenshot(browser, shots, f"8-{tab.replace('_', '-')}")

        # A goal from the event breakdown: conversions in the totals and the sources.
        options = browser.execute(
            "return [...document.querySelectorAll('#goal option')].map((o) => o.value);"
        )
        assert "signup" in options
        browser.execute(
            "const s = document.getElementById('goal'); s.value = 'signup';"
            " s.dispatchEvent(new Event('change'));"
        )
        view(browser, goal="signup")
        goal = {"goal": "signup"}
        totals = api_get(
            serve, "/api/query", **dates, metrics="conversions,conversion_rate", **goal
        )["totals"]
        assert totals["conversions"] == 2
        assert total(browser, "conversions") == shown_number(totals["conversions"])
        assert total(browser, "conversionRate") == shown_number(totals["conversionRate"], "%")
        sources = api_get(
            serve, "/api/query", **dates, **goal, groupBy="referer_domain", limit="10",
            metrics="visitors,percentage,conversions",
        )  # fmt: skip
        assert panel_rows(browser, "referer_domain") == api_rows(
            sources, "visitors", "percentage", "conversions"
        )
        screenshot(browser, shots, "9-goal")

        # Filters from the form: contains, does not contain with alternatives, a property.
        add_filter(browser, "pathname", "~=", "BLOG")
        view(browser, filters=["pathname~=BLOG"])
        chip = browser.execute("return document.querySelector('#chips .chip').textContent;")
        assert chip.startswith("Page contains BLOG")
        filtered = api_get(
            serve, "/api/query", **dates, metrics="visitors", filters="pathname~=BLOG"
        )
        assert total(browser, "visitors") == shown_number(filtered["totals"]["visitors"]) == "2"
        click(browser, "#chips .chip")
        view(browser, filters=[])
        add_filter(browser, "pathname", "!~", "blog|about")
        add_filter_to = ["pathname!~blog|about"]
        view(browser, filters=add_filter_to)
        filtered = api_get(
            serve, "/api/query", **dates, metrics="visitors", filters=add_filter_to[0]
        )
        assert total(browser, "visitors") == shown_number(filtered["totals"]["visitors"])
        add_filter(browser, "property", "==", "pro|free", key="plan")
        both = [*add_filter_to, "property:plan==pro|free"]
        view(browser, filters=both)
        filtered = api_get(serve, "/api/query", **dates, metrics="visitors", filters=";".join(both))
        assert total(browser, "visitors") == shown_number(filtered["totals"]["visitors"])
        chips = browser.execute(
            "return [...document.querySelectorAll('#chips .chip')].map((c) => c.textContent);"
        )
        assert chips[1].startswith("Property plan is pro or free")
        screenshot(browser, shots, "10-filters")
        click(browser, "#chips .chip")
        view(browser, filters=both[1:])
        click(browser, "#chips .chip")
        view(browser, filters=[])

        # A custom-property breakdown; its row click filters on the property.
        browser.execute(
            "document.getElementById('property-key').value = 'plan';"
            " document.getElementById('property-form').requestSubmit();"
        )
        view(browser, prop="plan")
        plans = api_get(
            serve, "/api/query", **dates, metrics="visitors,percentage",
            groupBy="property:plan", limit="10",
        )  # fmt: skip
        assert {row["value"] for row in plans["breakdown"]} >= {"pro", "free"}
        assert panel_rows(browser, "property") == api_rows(plans, "visitors", "percentage")
        # User data is text: the markup value is shown as written, nothing of it runs.
        assert MARKUP in browser.execute(
            "return document.getElementById('panel-property').textContent;"
        )
        assert browser.execute(
            "return document.querySelectorAll('#app img').length === 0 && !window.__xss;"
        )
        screenshot(browser, shots, "11-property")
        click(browser, "#panel-property button[data-value='pro']")
        view(browser, filters=["property:plan==pro"])
        pro = api_get(
            serve, "/api/query", **dates, metrics="visitors", filters="property:plan==pro"
        )
        assert total(browser, "visitors") == shown_number(pro["totals"]["visitors"]) == "1"

        # A filter the API refuses: its 400 message, and the chip still removes it.
        bad = "pathname==/a'b"
        status, refused = serve.request(
            "GET", f"/api/query?{urlencode({**dates, 'filters': bad})}", sub=OWNER
        )
        assert status == 400
        browser.navigate(
            f"{serve.url}/?{urlencode({'site': site_id, 'range': RANGE, 'filters': bad})}"
        )
        state = view(browser, filters=[bad])
        shown = browser.execute("return document.getElementById('query-error').textContent;")
        assert shown == state["error"]
        assert refused["error"]["fields"]["filters"] in shown
        assert browser.execute("return document.getElementById('totals');") is None
        screenshot(browser, shots, "12-refused")
        click(browser, "#chips .chip")
        view(browser, filters=[], error=None)
        assert total(browser, "visitors") == "4"

        # The time zone: shown beside the range, set in the settings, used by the API.
        assert browser.execute("return document.getElementById('timezone').textContent;") == "UTC"
        browser.execute(
            "document.getElementById('settings').open = true;"
            " document.getElementById('timezone-input').value = 'America/New_York';"
            " document.getElementById('timezone-form').requestSubmit();"
        )
        view(browser, timezone="America/New_York")
        assert api_get(serve, f"/api/sites/{site_id}")["timezone"] == "America/New_York"
        click(browser, "[data-range='today']")
        state = view(browser, range="today", timezone="America/New_York")
        hourly = api_get(
            serve, "/api/query", siteId=site_id, startDate=state["startDate"],
            endDate=state["endDate"], metrics="visitors,pageviews", interval="hour",
        )  # fmt: skip
        first = hourly["timeseries"][0]["bucket"]
        assert first.endswith(("-05:00", "-04:00")), first
        titles = browser.execute(
            "return [...document.querySelectorAll('#chart circle title')].map((t) => t.textContent);"
        )
        assert titles[0].startswith(first + ":"), titles[:2]
        assert total(browser, "visitors") == shown_number(
            api_get(
                serve, "/api/query", siteId=site_id, startDate=state["startDate"],
                endDate=state["endDate"], metrics="visitors",
            )["totals"]["visitors"]
        )  # fmt: skip
        browser.execute("document.getElementById('settings').scrollIntoView();")
        screenshot(browser, shots, "13-timezone")


# A fake clock for the page's intervals (run by the test, never by time) and a switch for
# document.visibilityState; the realtime requests the page makes are counted.
FAKE_TIMERS = """
window.__timers = [];
window.__realtimeCalls = 0;
window.setInterval = (fn, ms) => window.__timers.push({ fn, ms, live: true });
window.clearInterval = (id) => { if (window.__timers[id - 1]) window.__timers[id - 1].live = false; };
window.__tick = (ms) => window.__timers.filter((t) => t.live && t.ms === ms).forEach((t) => t.fn());
Object.defineProperty(Document.prototype, "visibilityState", {
  configurable: true, get() { return window.__hidden ? "hidden" : "visible"; },
});
const countedFetch = window.fetch;
window.fetch = (input, init) => {
  if (String(input).includes("/api/realtime")) window.__realtimeCalls += 1;
  return countedFetch(input, init);
};
"""
# An API without the realtime route (as one deployed before it): its 404.
NO_REALTIME_ROUTE = """
const routedFetch = window.fetch;
window.fetch = (input, init) => String(input).includes("/api/realtime")
  ? Promise.resolve(new Response('{"error": {"code": "not_found", "message": "no such route"}}',
      { status: 404, headers: { "Content-Type": "application/json" } }))
  : routedFetch(input, init);
"""


def realtime_state(browser: Session) -> dict[str, Any]:
    """The realtime card as shown: state, refresh count, hidden, text, page rows."""
    shown: dict[str, Any] = browser.execute(
        "const card = document.getElementById('realtime');"
        " return {state: card.dataset.state || null, refreshes: Number(card.dataset.refreshes || 0),"
        " hidden: card.hidden, calls: window.__realtimeCalls,"
        " text: document.getElementById('realtime-visitors').textContent,"
        " pages: [...card.querySelectorAll('li')].map((li) =>"
        " [li.dataset.value, li.querySelector('.num').textContent])};"
    )
    return shown


def test_the_realtime_counter_hides_without_the_route_and_refreshes_while_visible(
    serve: Serve, tmp_path: Path
) -> None:
    """Against an API whose realtime route answers 404 the counter stays hidden and stops
    asking; against the local stack it shows the API's visitors of the last five minutes and
    top pages, asks again on each 30 s tick while the page is visible (a fifth visitor shows
    up), not while it is hidden, and at once when it becomes visible again."""
    shots = tmp_path / "screenshots"
    shots.mkdir()
    site_id = serve.create_site(["example.com"], sub=OWNER)
    seed_sessions(serve, site_id, int(time.time() * 1000) - 60_000)
    with chromium_session() as browser:
        browser.add_init_script(FAKE_TIMERS)
        missing = browser.add_init_script(NO_REALTIME_ROUTE)
        browser.navigate(f"{serve.url}/")
        browser.execute(f"sessionStorage.setItem('dev_name', {json.dumps(OWNER)});")

        # Without the route: hidden, and no timer left asking.
        browser.navigate(f"{serve.url}/?site={site_id}&range={RANGE}")
        view(browser, site=site_id)
        browser.wait_for("return document.getElementById('realtime').dataset.state === 'absent';")
        assert realtime_state(browser)["hidden"] is True
        assert browser.execute(
            "return window.__timers.filter((t) => t.live && t.ms === 30000).length;"
        ) == 0  # fmt: skip
        assert browser.execute("return !!document.getElementById('totals');")  # the rest works
        screenshot(browser, shots, "14-realtime-absent")

        # With the route: the API's numbers.
        browser.remove_init_script(missing)
        poll(
            lambda: api_get(serve, "/api/realtime", siteId=site_id)["visitors"] == 4,
            30,
            "the four seeded visitors in realtime",
        )
        browser.execute("location.reload();")
        view(browser, site=site_id)
        browser.wait_for("return document.getElementById('realtime').dataset.state === 'shown';")
        now = api_get(serve, "/api/realtime", siteId=site_id)
        shown = realtime_state(browser)
        assert shown["hidden"] is False
        assert shown["text"] == f"{now['visitors']} visitors in the last 5 minutes"
        assert shown["pages"] == [[p["value"], str(p["visitors"])] for p in now["pages"]]
        assert now["pages"]
        screenshot(browser, shots, "15-realtime")

        # A new visitor, then a tick while visible: the counter follows the API.
        for payload in session_payloads("s5-eeeeeeeeeeee", ["/live"], int(time.time() * 1000)):
            assert serve.collect(site_id, payload) == 202
        poll(
            lambda: api_get(serve, "/api/realtime", siteId=site_id)["visitors"] == 5,
            30,
            "the fifth visitor in realtime",
        )
        before = realtime_state(browser)
        browser.execute("window.__tick(30000);")
        browser.wait_for(
            "return Number(document.getElementById('realtime').dataset.refreshes) === "
            f"{before['refreshes'] + 1};"
        )
        after = realtime_state(browser)
        assert after["calls"] == before["calls"] + 1
        assert after["text"] == "5 visitors in the last 5 minutes"
        assert ["/live", "1"] in after["pages"]

        # Hidden: the tick asks nothing; visible again: it asks at once.
        browser.execute("window.__hidden = true; window.__tick(30000);")
        assert realtime_state(browser)["calls"] == after["calls"]
        browser.execute(
            "window.__hidden = false; document.dispatchEvent(new Event('visibilitychange'));"
        )
        assert realtime_state(browser)["calls"] == after["calls"] + 1
