"""The demo's traffic model: tracker-shaped requests, sessions, time range, geo headers."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from entrypoints.http import ApiRequest
from entrypoints.local.demo import collect_event, demo_traffic

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_traffic_is_sessions_of_tracker_requests_within_the_days() -> None:
    """Exactly the asked number of requests, in time order, within the window; each session
    starts with one initial event carrying the session attributes."""
    requests = demo_traffic(
        random.Random(7), events=500, days=3, now=NOW, site_domain="demo.example.com"
    )
    assert len(requests) == 500
    assert [r.at for r in requests] == sorted(r.at for r in requests)
    assert all(NOW - timedelta(days=3) <= r.at < NOW for r in requests)
    sessions: dict[str, list[dict[str, object]]] = {}
    for request in requests:
        sessions.setdefault(str(request.body["session_id"]), []).append(dict(request.body))
    initial = Counter(b["type"] for bodies in sessions.values() for b in bodies)
    assert initial["initial"] <= len(sessions)
    assert initial["initial"] >= len(sessions) - 1  # the last session may be cut short
    for bodies in sessions.values():
        firsts = [b for b in bodies if b["type"] == "initial"]
        for body in firsts:
            assert str(body["url"]).startswith("https://demo.example.com/")
            assert "screen" in body
    assert {b["event"] for bodies in sessions.values() for b in bodies} >= {"pageview"}


def test_the_same_seed_gives_the_same_traffic() -> None:
    """Demo runs are reproducible (for benchmarks)."""
    first = demo_traffic(random.Random(3), events=100, days=2, now=NOW, site_domain="a.example")
    second = demo_traffic(random.Random(3), events=100, days=2, now=NOW, site_domain="a.example")
    assert first == second


def test_a_request_becomes_a_collect_event_with_origin_and_geo() -> None:
    """The collect event carries the site's origin, the user agent, CloudFront's geo headers
    (the city percent-encoded) and the body as text."""
    requests = demo_traffic(random.Random(1), events=50, days=1, now=NOW, site_domain="x.example")
    request = requests[0]
    event = collect_event(request, site_id="01JDQ7ZK3M0000000000000001", site_domain="x.example")
    parsed = ApiRequest.from_event(event)
    assert parsed.path == "/ingest"
    assert parsed.query == {"site_id": "01JDQ7ZK3M0000000000000001"}
    assert parsed.headers["origin"] == "https://x.example"
    assert parsed.headers["user-agent"] == request.user_agent
    assert parsed.headers["cloudfront-viewer-country"] == request.country
    assert "%" in parsed.headers["cloudfront-viewer-city"] or request.city.isascii()
    assert json.loads(parsed.body) == request.body
    assert event["requestContext"]["timeEpoch"] == int(request.at.timestamp() * 1000)
