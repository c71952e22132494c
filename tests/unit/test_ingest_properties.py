"""Property tests of the ingest use case over generated envelopes (hypothesis).

Domain strategies: `envelopes()` draws tracker requests the way real and hostile traffic
looks (known, unknown and malformed site ids; matching and spoofed origins; browsers, bots
and empty user agents; personal data in properties, paths and referrers; clocks far off;
repeated uids); `sites()` draws a site's allowance and compliance level.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from tests.support.ingest import CHROME, GOOGLEBOT, IPHONE, OTHER_SITE, SITE, uid
from tests.support.world import World

from analytics_core.outcomes import Outcome
from analytics_core.rows import EventRow, InitialEventRow
from analytics_core.sites import ComplianceLevel

VISITOR_IPS = [f"203.0.113.{n}" for n in range(1, 6)] + ["2001:db8:ffff::77"]
EMAILS = ["jane.doe@example.org", "x+tag@mail.test"]
DATA_IPS = ["198.51.100.23", "2001:db8::1"]
USER_AGENTS = [CHROME, IPHONE, GOOGLEBOT, "curl/8.5.0", "", None]
RECEIVED_MS = 1_795_608_000_000

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)
hostile_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"), st.sampled_from(["\x00", "\ud800", "\udfff", "?", "#"])
    ),
    max_size=40,
)
personal = st.sampled_from(EMAILS + DATA_IPS).map(lambda value: f"contact {value} now")
words = st.sampled_from(["pro", "free", "cta-hero", "/docs", "signup", ""])
property_values = st.one_of(
    words,
    personal,
    hostile_text,
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
paths = st.builds(
    lambda base, query: base + query,
    st.sampled_from(["/", "/pricing", "/blog/post", "/a b/ü"]),
    st.sampled_from(
        ["", "?utm_source=x", "?email=jane.doe@example.org", "#frag", "?ip=198.51.100.23#x"]
    ),
)
referrers = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "https://www.google.com/search?q=jane.doe@example.org",
            "https://news.ycombinator.com/item?id=1",
            "https://example.com/own-page?x=1",
            "android-app://com.google.android.gm/",
            "not a url",
        ]
    ),
)


@st.composite
def payloads(draw: st.DrawFn) -> Any:
    """A tracker body: mostly well-formed, sometimes broken."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.one_of(st.just({}), st.just({"type": "event"}), st.just([1]), st.text()))
    if draw(st.integers(0, 9)) == 0:  # any JSON in any field
        return draw(
            st.fixed_dictionaries(
                {},
                optional=dict.fromkeys(
                    (
                        "type",
                        "session_id",
                        "event",
                        "pathname",
                        "timestamp",
                        "properties",
                        "referrer",
                        "url",
                        "utm",
                        "screen",
                    ),
                    json_values,
                ),
            )
        )
    body: dict[str, Any] = {
        "type": draw(st.sampled_from(["initial", "event"])),
        "session_id": draw(
            st.one_of(st.sampled_from(["s1", "s2", "a" * 300]), hostile_text.filter(bool))
        ),
        "event": draw(st.sampled_from(["pageview", "signup", "click"])),
        "pathname": draw(paths),
    }
    if draw(st.booleans()):
        body["timestamp"] = RECEIVED_MS + draw(
            st.one_of(st.integers(-3 * 86_400_000, 3 * 86_400_000), st.just(-RECEIVED_MS))
        )
    if draw(st.booleans()):
        body["properties"] = draw(
            st.dictionaries(st.one_of(words, hostile_text), property_values, max_size=5)
        )
    body["referrer"] = draw(referrers)
    if draw(st.booleans()):
        body["url"] = (
            "https://example.com/?utm_source=news&utm_medium=email&email=jane.doe@example.org"
        )
    if draw(st.booleans()):
        body["screen"] = {
            "width": draw(st.integers(-10, 10**9)),
            "height": draw(st.integers(-10, 5000)),
        }
    return body


@st.composite
def envelopes(draw: st.DrawFn) -> bytes | None:
    """One Firehose record: an envelope as the collect endpoint writes it, or junk."""
    if draw(st.integers(0, 29)) == 0:
        return draw(st.sampled_from([None, b"", b"[]", b"{", b"\xff\xfe"]))
    geo = draw(
        st.one_of(
            st.none(),
            st.just({"country": "DE", "region": "BY", "city": "München"}),
            st.just({"country": "zz", "region": "??", "city": None}),
        )
    )
    data = {
        "v": 1,
        "uid": uid(draw(st.integers(1, 40))),  # a small pool: repeats happen
        "site_id": draw(st.sampled_from([SITE, SITE, SITE, OTHER_SITE, "bad-id", SITE.lower()])),
        "received_at": "2026-11-25T12:00:00.000Z",
        "payload": draw(payloads()),
        "ctx": {
            "ip": None if geo else draw(st.sampled_from(VISITOR_IPS)),
            "user_agent": draw(st.sampled_from(USER_AGENTS)),
            "origin": draw(
                st.sampled_from(
                    [
                        "https://example.com",
                        "https://www.example.com:443",
                        "https://evil-example.com",
                        None,
                    ]
                )
            ),
            "referer": draw(st.sampled_from(["https://example.com/x", None])),
            "geo": geo,
        },
    }
    return json.dumps(data).encode()


@st.composite
def sites(draw: st.DrawFn) -> dict[str, Any]:
    """A site's allowance and compliance level."""
    return {
        "allowance": draw(st.integers(0, 30)),
        "level": draw(st.sampled_from(list(ComplianceLevel))),
    }


batches = st.lists(envelopes(), max_size=40)


def world_for(site: dict[str, Any]) -> World:
    world = World()
    world.add_site(allowance=site["allowance"], level=site["level"])
    return world


@given(site=sites(), first=batches, second=batches)
def test_counts_add_up_and_the_allowance_holds(
    site: dict[str, Any], first: list[bytes | None], second: list[bytes | None]
) -> None:
    """Every record gets one outcome; stored rows never exceed the allowance, which never
    goes below 0 and drops by exactly what was stored."""
    world = world_for(site)
    for batch in (first, second):
        result = world.process(batch)
        assert len(result.outcomes) == len(batch)
        assert sum(result.counts().values()) == len(batch)
    stored = world.store.all_rows()
    assert len(stored) <= site["allowance"]
    assert world.allowance() == site["allowance"] - len(stored)
    assert world.allowance() >= 0


@given(site=sites(), batch=batches)
def test_a_batch_processed_twice_stores_nothing_the_second_time(
    site: dict[str, Any], batch: list[bytes | None]
) -> None:
    """The redelivery stores and charges nothing; whatever was stored is forwarded again."""
    world = world_for(site)
    world.process(batch)
    before = sorted(r.event_uid for r in world.store.all_rows())
    allowance = world.allowance()
    again = world.process(batch)
    assert again.rows_written == 0
    assert Outcome.ACCEPTED not in again.outcomes
    assert sorted(r.event_uid for r in world.store.all_rows()) == before
    assert world.allowance() == allowance
    assert sorted(r.event_uid for r in again.events + again.initial_events) == before


def text_of(row: EventRow) -> str:
    return json.dumps(row._asdict(), default=str, ensure_ascii=False)


def rows_at(level: ComplianceLevel, batch: list[bytes | None]) -> dict[str, EventRow]:
    world = world_for({"allowance": 10_000, "level": level})
    world.process(batch)
    return {row.event_uid: row for row in world.store.all_rows()}


@given(batch=batches)
def test_no_level_stores_what_the_table_removes(batch: list[bytes | None]) -> None:
    """At every level no IP address of the visitor and no user agent string is stored; levels 0
    and 1 keep no query strings, no e-mails or IPs in properties, no city; level 0 no region,
    no full referrer, and no session id as sent."""
    for level in ComplianceLevel:
        for row in rows_at(level, batch).values():
            text = text_of(row)
            assert not any(ip in text for ip in VISITOR_IPS)
            assert not any(agent and agent in text for agent in USER_AGENTS)
            if level is ComplianceLevel.NOT_REQUIRED:
                continue
            assert "?" not in row.pathname
            assert "#" not in row.pathname
            values = json.dumps(row.properties or {}, ensure_ascii=False)
            assert not any(item in values for item in EMAILS + DATA_IPS)
            if isinstance(row, InitialEventRow):
                assert row.city is None
                assert row.referer is None or ("?" not in row.referer and "#" not in row.referer)
                if level is ComplianceLevel.REQUIRED:
                    assert row.region is None
                    assert row.referer is None
            if level is ComplianceLevel.REQUIRED:
                assert len(row.session_id) == 32


def _at_most(less: Any, more: Any) -> bool:
    """Whether `less` keeps no more than `more` of the same value."""
    if less is None or less == more:
        return True
    if isinstance(less, str) and isinstance(more, str):
        return more.startswith(less)
    if isinstance(less, dict) and isinstance(more, dict):
        return less.keys() == more.keys() and all(
            v == more[k] or v == "[redacted]" for k, v in less.items()
        )
    return False


@given(batch=batches)
def test_level_zero_keeps_a_subset_of_level_one_and_that_of_level_two(
    batch: list[bytes | None],
) -> None:
    """The same events stored at levels 0, 1 and 2: every field of a stricter level is equal to,
    a prefix of, a redaction of, or absent from the looser level's (session ids aside)."""
    by_level = [rows_at(level, batch) for level in ComplianceLevel]
    assert by_level[0].keys() == by_level[1].keys() == by_level[2].keys()
    for event_uid in by_level[0]:
        chain = [by_level[level][event_uid] for level in range(3)]
        for stricter, looser in itertools.pairwise(chain):
            for name in stricter._fields:
                if name == "session_id":
                    continue
                less, more = getattr(stricter, name), getattr(looser, name)
                assert _at_most(less, more), (name, less, more)
