"""Acceptance 2: the tracker in a real browser (Debian's headless Chromium via chromedriver).

A test page is served from a second origin, `http://localhost:<port>`, registered as the
site's domain; the tracker comes from the stack's `/script.js`. The same page opened as
`http://127.0.0.1:<port>` is an unregistered origin. The browser test fails, never skips,
when Chromium is missing (.ci/run installs it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser import PageServer, Session, chromium_session
from tests.e2e.stack import Serve, fetch, poll

pytestmark = pytest.mark.slow

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>shop</title>
<script>window.analytics = {{q: [["queued", {{early: true}}]]}};</script>
<script defer src="{script}" data-site-id="{site_id}"></script>
</head><body><h1>A single-page app</h1></body></html>
"""
# Counts what the tracker hands to the network, before any page script runs.
SPY = """
window.__sent = [];
const beacon = navigator.sendBeacon.bind(navigator);
navigator.sendBeacon = (url, data) => { window.__sent.push(String(data)); return beacon(url, data); };
const originalFetch = window.fetch.bind(window);
window.fetch = (url, init) => { window.__sent.push(String((init || {}).body)); return originalFetch(url, init); };
"""


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    process = Serve(tmp_path / "data", "--buffer-seconds", "0.3").start()
    yield process
    process.stop()
    process.kill()


def rows(serve: Serve, site_id: str) -> dict[str, list[tuple[Any, ...]]]:
    conninfo = serve.conninfo()
    return {
        "initial": fetch(
            conninfo,
            "SELECT session_id, event, pathname, browser, os, device, screen_width"
            " FROM initial_events WHERE site_id = %s",
            (site_id,),
        ),
        "events": fetch(
            conninfo,
            'SELECT session_id, event, pathname, properties FROM events WHERE site_id = %s ORDER BY "timestamp", event_id',
            (site_id,),
        ),
    }


def outcome(serve: Serve, site_id: str, name: str) -> int:
    found = fetch(
        serve.conninfo(),
        "SELECT coalesce(sum(count), 0)::int FROM ingest_outcomes WHERE site_id = %s AND outcome = %s",
        (site_id, name),
    )
    return int(found[0][0])


def sent(browser: Session) -> list[str]:
    return list(browser.execute("return window.__sent || [];"))


def test_the_tracker_in_chromium_stores_one_session_with_its_pageviews_and_event(
    serve: Serve, page_server: PageServer
) -> None:
    """Load (with a call queued before the tracker), two pushState navigations and one custom
    event give one initial event and four events in one session, with the right pathnames and Chromium's enrichment; the
    same page from an unregistered origin stores nothing and counts a domain_mismatch; under
    Global Privacy Control or Do Not Track the tracker sends nothing at all."""
    site_id = serve.create_site(["localhost"])
    page_server.page = PAGE.format(script=f"{serve.url}/script.js", site_id=site_id)
    port = page_server.server_address[1]
    with chromium_session() as browser:
        spy = browser.add_init_script(SPY)
        browser.navigate(f"http://localhost:{port}/shop")
        browser.wait_for("return window.analytics && typeof window.analytics.track === 'function';")
        browser.execute("history.pushState({}, '', '/shop/shoes');")
        browser.execute("history.pushState({}, '', '/shop/cart');")
        browser.execute("history.pushState({}, '', '/shop/cart');")  # same page: no pageview
        browser.execute("analytics.track('checkout', {items: 2});")
        beacons = sent(browser)
        assert len(beacons) == 5
        session_id = browser.execute("return sessionStorage.getItem('analytics_session');")

        def stored() -> dict[str, list[tuple[Any, ...]]] | None:
            found = rows(serve, site_id)
            return found if len(found["initial"]) == 1 and len(found["events"]) == 4 else None

        found = poll(stored, 30, "the browser's events stored")
        ((initial_session, event, pathname, browser_name, os_name, device, width),) = found[
            "initial"
        ]
        assert (event, pathname) == ("pageview", "/shop")
        assert (browser_name, os_name, device) == ("Chrome", "Linux", "desktop")
        assert width is not None
        assert width > 0
        assert [(e, p) for _, e, p, _ in found["events"]] == [
            ("queued", "/shop"),
            ("pageview", "/shop/shoes"),
            ("pageview", "/shop/cart"),
            ("checkout", "/shop/cart"),
        ]
        assert found["events"][0][3] == {"early": True}
        assert found["events"][3][3] == {"items": 2}
        assert {s for s, *_ in found["events"]} == {initial_session} == {session_id}

        # The same page from an origin that is not the site's: counted, never stored.
        browser.navigate(f"http://127.0.0.1:{port}/shop")
        browser.wait_for("return (window.__sent || []).length === 2;")
        poll(lambda: outcome(serve, site_id, "domain_mismatch") == 2, 30, "domain_mismatch")
        assert outcome(serve, site_id, "accepted") == 5
        after = rows(serve, site_id)
        assert (len(after["initial"]), len(after["events"])) == (1, 4)

        # Opted out: the tracker loads, and sends nothing whatever the page does.
        browser.remove_init_script(spy)
        for signal in (
            "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true});",
            "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'});",
        ):
            opted_out = browser.add_init_script(SPY + signal)
            browser.navigate(f"http://localhost:{port}/private")
            browser.wait_for(
                "return window.analytics && typeof window.analytics.track === 'function';"
            )
            browser.execute("history.pushState({}, '', '/private/page');")
            browser.execute("analytics.track('secret', {});")
            assert sent(browser) == []
            browser.remove_init_script(opted_out)
