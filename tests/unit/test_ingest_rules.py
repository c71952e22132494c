"""The small rules of ingest: sanitising, the compliance helpers, the allowance split, and
bounded decompression."""

from __future__ import annotations

import gzip

import pytest

from analytics_core.allowance import sites_short_of_allowance, split_by_allowance
from analytics_core.limits import clean_properties, clean_text, screen_dimension
from analytics_core.privacy import hash_session, looks_personal, without_query
from analytics_core.validation import parse_payload
from entrypoints.envelopes import DecodingError, gunzip_bounded


@pytest.mark.parametrize(
    ("value", "limit", "cleaned"),
    [
        ("plain", 10, "plain"),
        ("a\x00b\x00", 10, "ab"),
        ("x\ud800y\udfffz", 10, "x\ufffdy\ufffdz"),
        ("😀 ok", 10, "😀 ok"),
        ("abcdef", 3, "abc"),
        ("\x00" * 5 + "abc", 2, "ab"),
    ],
)
def test_clean_text(value: str, limit: int, cleaned: str) -> None:
    """NUL removed, lone surrogates replaced, cut to the limit in characters."""
    assert clean_text(value, limit) == cleaned
    cleaned.encode("utf-8")  # always encodable


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (1920, 1920),
        (10**9, 32767),
        (-5, None),
        (0, 0),
        (390.6, 390),
        (True, None),
        ("800", None),
        (float("inf"), None),
        (float("nan"), None),
        (None, None),
    ],
)
def test_screen_dimensions_are_clamped_to_smallint(value: object, stored: int | None) -> None:
    """Non-negative integers up to 32,767; anything else is unknown."""
    assert screen_dimension(value) == stored


def test_properties_are_flat_bounded_and_clean() -> None:
    """At most 30 scalar values; nested values dropped; keys and strings cleaned and cut."""
    raw = {f"k{i}": i for i in range(50)}
    assert len(clean_properties(raw) or {}) == 30
    assert clean_properties(
        {
            "a\x00": "v\x00",
            "n": None,
            "f": 1.5,
            "inf": float("inf"),
            "nest": {"x": 1},
            "l": [1],
            "": 1,
            "b": True,
        }
    ) == {"a": "v", "n": None, "f": 1.5, "b": True}
    assert clean_properties({"long": "x" * 10_000}) == {"long": "x" * 500}
    assert clean_properties({}) is None
    assert clean_properties({"nest": {"x": 1}}) is None


@pytest.mark.parametrize(
    ("value", "personal"),
    [
        ("jane.doe@example.org", True),
        ("write to jane@example.org today", True),
        ("192.0.2.1", True),
        ("from 10.1.2.3:8080", True),
        ("2001:db8::1", True),
        ("fe80::1%eth0", True),
        ("::ffff:192.0.2.1", True),
        ("version 1.2.3", False),
        ("999.1.1.1", False),
        ("12:30:45", False),
        ("@handle", False),
        ("pro", False),
        ("a:b:c", False),
    ],
)
def test_what_looks_personal(value: str, personal: bool) -> None:
    """E-mail addresses and IPv4/IPv6 addresses anywhere in a value; versions and times not."""
    assert looks_personal(value) is personal


def test_query_and_fragment_are_cut_and_session_hashes_are_keyed() -> None:
    """without_query cuts at the first ? or #; the session hash depends on salt, site, id."""
    assert without_query("/a?b#c") == "/a"
    assert without_query("/a#c?b") == "/a"
    assert without_query("/plain") == "/plain"
    one = hash_session(b"s" * 32, "SITE", "id")
    assert len(one) == 32
    assert one == hash_session(b"s" * 32, "SITE", "id")
    assert one != hash_session(b"t" * 32, "SITE", "id")
    assert one != hash_session(b"s" * 32, "SITE2", "id")


def test_allowance_split_admits_in_order() -> None:
    """Rows are admitted in order while their site has allowance; the rest are excess."""
    split = split_by_allowance(["a", "b", "a", "a", "c", "b"], {"a": 2, "b": 1})
    assert split.admitted == (0, 1, 2)
    assert split.excess == (3, 4, 5)
    assert split.charges(["a", "b", "a", "a", "c", "b"]) == {"a": 2, "b": 1}
    assert sites_short_of_allowance(["a", "a", "b"], {"a": 1, "b": 5}) == {"a"}


@pytest.mark.parametrize(
    "body",
    [
        {"type": "other", "session_id": "s", "event": "e", "pathname": "/"},
        {"type": "event", "session_id": "", "event": "e", "pathname": "/"},
        {"type": "event", "session_id": "s", "event": 5, "pathname": "/"},
        {"type": "event", "session_id": "s", "event": "e"},
        {"type": ["event"], "session_id": "s", "event": "e", "pathname": "/"},
    ],
)
def test_required_fields_make_a_body_malformed(body: dict[str, object]) -> None:
    """type, session_id, event and pathname are required, with the right types."""
    assert parse_payload(body) is None


def test_optional_fields_of_the_wrong_type_are_ignored() -> None:
    """A bad optional field does not lose the event."""
    parsed = parse_payload(
        {
            "type": "event",
            "session_id": "s",
            "event": "e",
            "pathname": "",
            "screen": "big",
            "utm": 3,
            "properties": [1],
            "timestamp": "soon",
        }
    )
    assert parsed is not None
    assert (parsed.pathname, parsed.screen, parsed.utm, parsed.properties, parsed.timestamp_ms) == (
        "/",
        None,
        None,
        None,
        None,
    )


def test_gunzip_is_bounded_and_strict() -> None:
    """Unpacking stops past the limit, and truncated or trailing data is an error."""
    data = gzip.compress(b"x" * 1000)
    assert gunzip_bounded(data, 1000) == b"x" * 1000
    assert gunzip_bounded(data + gzip.compress(b"y"), 1001) == b"x" * 1000 + b"y"
    with pytest.raises(DecodingError, match="more than"):
        gunzip_bounded(data, 999)
    with pytest.raises(DecodingError, match="truncated"):
        gunzip_bounded(data[:-10], 2000)
    with pytest.raises(DecodingError, match="trailing"):
        gunzip_bounded(data + b"junk", 2000)
    with pytest.raises(DecodingError, match="corrupt"):
        gunzip_bounded(b"\x1f\x8b" + b"\x00" * 20, 2000)
