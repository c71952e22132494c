"""Hostile tracker bodies for the ingest tests: JSON text with numbers that no parser or
arithmetic of ours may choke on (integers of hundreds or thousands of digits, `1e999`, NaN),
recursive values in every payload field, and the envelope around them written as raw text.

Python's `json.dumps` cannot write an integer of more than 4,300 digits, nor `1e999` as such,
so values are written by `to_json`, which takes `Raw` number texts as they are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from hypothesis import strategies as st

from tests.support.ingest import CHROME, SITE, uid


class Raw(NamedTuple):
    """A JSON number written exactly as `text`."""

    text: str


POISON_NUMBERS = (
    "1" + "0" * 400,  # 10^400
    "-1" + "0" * 400,  # -10^400
    "1e999",
    "-1e999",
    "1e-999",
    "9" * 10_000,  # a 10,000-digit integer: more than Python turns into an int
    "-" + "9" * 5_000,
    "123456789012345678901234567890.5",
    "-0",
)


def to_json(value: Any) -> str:
    """`value` as JSON text; `Raw` numbers as written, floats as `json` writes them
    (NaN and Infinity included)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(item) for item in value) + "]"
    return json.dumps(value)


numbers = st.one_of(
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=10**600),
    st.integers(min_value=-(10**600), max_value=-(2**63) + 2),
    st.floats(),  # NaN and the infinities included
    st.sampled_from(POISON_NUMBERS).map(Raw),
)
scalars = st.none() | st.booleans() | numbers | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def _field(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(good, json_values)


payloads = st.fixed_dictionaries(
    {
        "type": _field(st.sampled_from(["initial", "event"])),
        "session_id": _field(st.sampled_from(["s1", "s2", "a@b.example"])),
        "event": _field(st.sampled_from(["pageview", "signup"])),
        "pathname": _field(st.sampled_from(["/", "/pricing", "/u/jane@example.org"])),
    },
    optional={
        "timestamp": _field(st.integers(1_795_600_000_000, 1_795_700_000_000)),
        "properties": _field(st.dictionaries(st.text(max_size=6), json_values, max_size=5)),
        "referrer": _field(st.just("https://news.example.net/item?id=1")),
        "url": _field(st.just("https://example.com/?utm_source=x&utm_medium=y")),
        "utm": _field(st.dictionaries(st.sampled_from(["source", "medium", "term"]), scalars)),
        "screen": _field(st.fixed_dictionaries({"width": numbers, "height": numbers})),
    },
)


def envelope_text(number: int, body: Any, *, site_id: str = SITE) -> bytes:
    """The bytes of an envelope record around `body`, written by `to_json`."""
    ctx = {
        "ip": "203.0.113.77",
        "user_agent": CHROME,
        "origin": "https://example.com",
        "referer": None,
        "geo": None,
    }
    head = {
        "v": 1,
        "uid": uid(number),
        "site_id": site_id,
        "received_at": "2026-11-25T12:00:00.000Z",
    }
    return (to_json(head)[:-1] + f',"payload":{to_json(body)},"ctx":{to_json(ctx)}' + "}").encode()


def good_body(number: int, kind: str = "event") -> dict[str, Any]:
    """An ordinary tracker body."""
    return {"type": kind, "session_id": f"s{number}", "event": "pageview", "pathname": "/ok"}


def poison_bodies() -> list[Any]:
    """The bodies of the hostile batch: each poison in the place a tracker bug would put it."""
    base = {"type": "initial", "session_id": "p", "event": "pageview", "pathname": "/p"}
    return [
        {**base, "timestamp": Raw("1" + "0" * 400)},
        {**base, "timestamp": Raw("-1" + "0" * 400)},
        {**base, "timestamp": Raw("1e999")},
        {**base, "screen": {"width": Raw("9" * 10_000), "height": 800}},
        {**base, "timestamp": {"ms": 1}},
        {**base, "properties": {"plan": "pro", "big": Raw("1" + "0" * 400)}},
    ]
