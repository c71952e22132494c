"""`analytics demo`: realistic traffic, sent through the real ingest path.

`demo_traffic(...)` makes the requests a tracker would have sent over the last days: sessions
of a few pageviews and the odd custom event, with a daily rhythm, a mix of browsers and
devices (and a few bots, which ingest must drop), referrers, UTM campaigns, screens, and
CloudFront's geo headers. `send_demo(...)` posts them to the collect handler (its clock set to
each request's time, so that the envelopes carry historical `received_at`) and lets the local
Firehose stream deliver them to processIngest, exactly as `analytics serve` does.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import attrs

from entrypoints.local.http_adapter import build_event

# (user agent, device kind, screen) with weights: a traffic-like skew, a few bots.
USER_AGENTS: tuple[tuple[str, str, tuple[int, int], int], ...] = (
    (
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36"
        ),
        "desktop",
        (1920, 1080),
        30,
    ),
    (
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/18.1 Safari/605.1.15"
        ),
        "desktop",
        (1512, 982),
        12,
    ),
    (
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
            "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
        ),
        "mobile",
        (393, 852),
        22,
    ),
    (
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36"
        ),
        "mobile",
        (412, 915),
        14,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
        "desktop",
        (1366, 768),
        7,
    ),
    (
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
        ),
        "desktop",
        (1536, 864),
        6,
    ),
    (
        (
            "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/17.6 Mobile/15E148 Safari/604.1"
        ),
        "tablet",
        (820, 1180),
        4,
    ),
    (
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36"
        ),
        "desktop",
        (2560, 1440),
        3,
    ),
    (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "bot",
        (0, 0),
        1,
    ),
    ("curl/8.5.0", "bot", (0, 0), 1),
)
PLACES: tuple[tuple[str, str, str, int], ...] = (
    ("US", "CA", "San Francisco", 14),
    ("US", "NY", "New York", 12),
    ("DE", "BE", "Berlin", 10),
    ("GB", "ENG", "London", 9),
    ("FR", "IDF", "Paris", 7),
    ("NL", "NH", "Amsterdam", 5),
    ("IN", "KA", "Bengaluru", 8),
    ("BR", "SP", "São Paulo", 5),
    ("JP", "13", "Tokyo", 5),
    ("CA", "ON", "Toronto", 4),
    ("AU", "NSW", "Sydney", 3),
    ("ES", "MD", "Madrid", 3),
)
REFERRERS: tuple[tuple[str | None, int], ...] = (
    (None, 40),
    ("https://www.google.com/", 28),
    ("https://news.ycombinator.com/", 8),
    ("https://duckduckgo.com/", 6),
    ("https://www.reddit.com/r/webdev/", 5),
    ("https://x.com/", 4),
    ("https://github.com/", 5),
    ("https://www.bing.com/", 4),
)
CAMPAIGNS: tuple[tuple[dict[str, str] | None, int], ...] = (
    (None, 80),
    ({"source": "newsletter", "medium": "email", "campaign": "november"}, 10),
    ({"source": "twitter", "medium": "social", "campaign": "launch"}, 6),
    ({"source": "google", "medium": "cpc", "campaign": "brand", "term": "analytics"}, 4),
)
PATHS: tuple[tuple[str, int], ...] = (
    ("/", 30),
    ("/pricing", 12),
    ("/docs", 14),
    ("/docs/getting-started", 10),
    ("/docs/api", 6),
    ("/blog", 8),
    ("/blog/privacy-first-analytics", 7),
    ("/blog/hot-and-cold-storage", 4),
    ("/about", 4),
    ("/signup", 5),
)
CUSTOM_EVENTS: tuple[tuple[str, dict[str, Any], int], ...] = (
    ("signup", {"plan": "free"}, 5),
    ("download", {"file": "whitepaper.pdf"}, 3),
    ("outbound_click", {"url": "https://github.com/"}, 4),
)
# Share of sessions per hour of the day (UTC): quiet at night, busy in the afternoon.
HOURLY = (2, 1, 1, 1, 1, 2, 3, 5, 7, 8, 9, 9, 9, 10, 10, 10, 9, 8, 7, 6, 5, 4, 3, 2)


@attrs.frozen
class DemoRequest:
    """One tracker request: when it was received and what was posted."""

    at: datetime
    user_agent: str
    country: str
    region: str
    city: str
    body: Mapping[str, Any]


def _pick(rng: random.Random, options: Sequence[tuple[Any, ...]]) -> tuple[Any, ...]:
    return rng.choices(options, weights=[o[-1] for o in options], k=1)[0]


def demo_traffic(
    rng: random.Random, *, events: int, days: int, now: datetime, site_domain: str
) -> list[DemoRequest]:
    """About `events` tracker requests over the `days` before `now`, in time order."""
    start = now - timedelta(days=days)
    latest = now - timedelta(hours=1)  # a session (at most ~45 min) ends before now
    first_day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    requests: list[DemoRequest] = []
    while len(requests) < events:
        day = first_day + timedelta(days=rng.randrange(days + 1))
        hour = rng.choices(range(24), weights=HOURLY, k=1)[0]
        at = day + timedelta(hours=hour, seconds=rng.uniform(0, 3600))
        if not start <= at <= latest:
            continue  # outside the window: draw again, keeping the daily rhythm
        requests.extend(_session(rng, at, site_domain)[: events - len(requests)])
    return sorted(requests, key=lambda r: r.at)


def _session(rng: random.Random, at: datetime, site_domain: str) -> list[DemoRequest]:
    user_agent, _kind, (width, height), _ = _pick(rng, USER_AGENTS)
    country, region, city, _ = _pick(rng, PLACES)
    referrer = _pick(rng, REFERRERS)[0]
    utm = _pick(rng, CAMPAIGNS)[0]
    session_id = f"{rng.getrandbits(64):016x}"
    pages = min(1 + int(rng.expovariate(0.6)), 12)
    out: list[DemoRequest] = []
    moment = at
    for index in range(pages):
        path = _pick(rng, PATHS)[0]
        body: dict[str, Any] = {
            "type": "initial" if index == 0 else "event",
            "session_id": session_id,
            "event": "pageview",
            "pathname": path,
            "timestamp": int(moment.timestamp() * 1000),
        }
        if index == 0:
            query = "?" + "&".join(f"utm_{k}={v}" for k, v in utm.items()) if utm else ""
            body["url"] = f"https://{site_domain}{path}{query}"
            if referrer:
                body["referrer"] = referrer
            if utm:
                body["utm"] = utm
            body["screen"] = {"width": width, "height": height}
        out.append(DemoRequest(moment, user_agent, country, region, city, body))
        if rng.random() < 0.08:
            name, props, _ = _pick(rng, CUSTOM_EVENTS)
            moment += timedelta(seconds=rng.uniform(2, 30))
            custom = {**body, "type": "event", "event": name, "properties": props}
            custom["timestamp"] = int(moment.timestamp() * 1000)
            for key in ("url", "referrer", "utm", "screen"):
                custom.pop(key, None)
            out.append(DemoRequest(moment, user_agent, country, region, city, custom))
        moment += timedelta(seconds=rng.uniform(8, 180))
    return out


def collect_event(request: DemoRequest, *, site_id: str, site_domain: str) -> dict[str, Any]:
    """The collect handler's event for one demo request, as CloudFront and API Gateway
    would deliver it (geo headers included)."""
    headers = [
        ("Content-Type", "text/plain;charset=UTF-8"),
        ("Origin", f"https://{site_domain}"),
        ("Referer", f"https://{site_domain}{request.body['pathname']}"),
        ("User-Agent", request.user_agent),
        ("CloudFront-Viewer-Country", request.country),
        ("CloudFront-Viewer-Country-Region", request.region),
        ("CloudFront-Viewer-City", quote(request.city)),  # percent-encoded, as CloudFront does
        ("Host", "localhost"),
    ]
    return build_event(
        method="POST",
        target=f"/ingest?site_id={site_id}",
        headers=headers,
        body=json.dumps(request.body).encode(),
        source_ip="198.51.100.7",
        now=request.at,
    )


class SettableClock:
    """A clock the demo moves to each request's time."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@attrs.frozen
class DemoReport:
    """What the demo sent and how long it took."""

    sent: int
    statuses: Mapping[int, int]
    seconds: float


def send_demo(
    requests: Sequence[DemoRequest],
    *,
    collect: Callable[[Mapping[str, Any], object], Mapping[str, Any]],
    clock: SettableClock,
    flush: Callable[[], object],
    site_id: str,
    site_domain: str,
    flush_every: int = 2000,
    on_progress: Callable[[int], None] | None = None,
) -> DemoReport:
    """Post every request to the collect handler, flushing the stream every `flush_every`."""
    statuses: Counter[int] = Counter()
    started = time.perf_counter()
    for index, request in enumerate(requests, start=1):
        clock.now = request.at
        response = collect(collect_event(request, site_id=site_id, site_domain=site_domain), None)
        statuses[int(response.get("statusCode", 0))] += 1
        if index % flush_every == 0:
            flush()
            if on_progress is not None:
                on_progress(flush_every)
    flush()
    if on_progress is not None:
        on_progress(len(requests) % flush_every)
    return DemoReport(len(requests), dict(statuses), time.perf_counter() - started)
