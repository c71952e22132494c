"""The ingest path's shortcuts answer exactly what the plain code they stand for answers."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from analytics_core.enrichment import _normalise_geo, normalise_geo, session_columns, utm_parameters
from analytics_core.envelopes import Geo, RequestContext
from analytics_core.limits import SMALLINT_MAX, clean_text, finite_number, screen_dimension
from analytics_core.privacy import hash_session, session_hasher, without_query
from analytics_core.rows import iso_millis
from analytics_core.user_agents import BOT, DeviceType, UserAgentInfo
from analytics_core.validation import EventKind, Payload, parse_payload
from entrypoints.api.firehose_endpoint import decode_record

texts = st.text(
    alphabet=st.one_of(st.characters(), st.sampled_from(["\x00", "\ud800", "?", "#", "é"])),
    max_size=30,
)


@given(st.binary(min_size=1, max_size=100), st.text(max_size=30), texts)
def test_a_bound_session_hasher_is_hash_session(salt: bytes, site_id: str, session: str) -> None:
    """Same salt, same inputs: the same level-0 session id (and both are the HMAC)."""
    try:
        expected = hmac.new(salt, (site_id + session).encode(), hashlib.sha256).hexdigest()[:32]
    except UnicodeEncodeError:
        return  # never reached: session ids are cleaned of lone surrogates first
    assert hash_session(salt, site_id, session) == expected
    assert session_hasher(salt)(site_id, session) == expected


zones = st.sampled_from(
    [UTC, None, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=11))]
)


@given(st.datetimes(min_value=datetime(2, 1, 1), timezones=zones))  # noqa: DTZ001
@example(datetime(1, 1, 1, tzinfo=UTC))
@example(datetime(2026, 11, 25, 11, 39, 34, 999999, tzinfo=UTC))
def test_iso_millis_is_isoformat_in_milliseconds(moment: datetime) -> None:
    """The formatted moment is what isoformat(timespec="milliseconds") writes, with Z."""
    expected = moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert iso_millis(moment) == expected


def plain_screen_dimension(value: object) -> int | None:
    number = finite_number(value)
    if number is None:
        return None
    whole = int(number)
    return None if whole < 0 else min(whole, SMALLINT_MAX)


@given(st.one_of(st.integers(), st.floats(), st.booleans(), st.none(), st.text(max_size=3)))
@example(SMALLINT_MAX + 1)
@example(-1)
def test_screen_dimension_fast_path(value: object) -> None:
    """Integers take a shortcut to the same answer."""
    assert screen_dimension(value) == plain_screen_dimension(value)


@given(texts)
@example("/a?b#c")
@example("/a#b?c")
def test_without_query_shortcut(url: str) -> None:
    """A URL without ? or # comes back as is; others are cut at the first of them."""
    cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=len(url))
    assert without_query(url) == url[:cut]


geo_texts = st.one_of(
    st.none(), st.sampled_from(["DE", " de ", "US", "CA", "US-CA", "BY", "x1", "München"]), texts
)


@given(geo_texts, geo_texts, geo_texts)
def test_normalise_geo_cache_answers_as_the_plain_function(
    country: str | None, region: str | None, city: str | None
) -> None:
    """The memoised normalisation is the plain one, for any texts (twice, to hit the cache)."""
    geo = Geo(country, region, city)
    expected = _normalise_geo(country, region, city)
    assert normalise_geo(geo) == expected
    assert normalise_geo(geo) == expected


def test_normalise_geo_of_unhashable_values_is_not_cached() -> None:
    """A Geo holding something other than texts (never decoded, but typed loosely by callers)
    is normalised without the cache."""
    geo = Geo(["DE"], {"x": 1}, None)  # type: ignore[arg-type]
    assert normalise_geo(geo) == (None, None, None)


def plain_text(value: object) -> str | None:
    return clean_text(value, 4096) if isinstance(value, str) else None


@given(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["initial", "event", "other", 1]),
            "session_id": st.one_of(texts, st.just("s" * 5000), st.none()),
            "event": st.one_of(texts, st.none()),
            "pathname": st.one_of(texts, st.none(), st.just("/" + "p" * 5000)),
        },
        optional={
            "timestamp": st.one_of(st.integers(), st.floats(), st.booleans()),
            "properties": st.one_of(st.dictionaries(st.text(max_size=3), st.integers()), st.none()),
            "referrer": st.one_of(texts, st.integers()),
            "url": texts,
            "utm": st.one_of(st.dictionaries(st.text(max_size=3), texts), st.lists(texts)),
            "screen": st.one_of(st.dictionaries(st.text(max_size=3), st.integers()), texts),
        },
    )
)
def test_parse_payload_is_the_plain_reading(body: dict[str, Any]) -> None:
    """Texts cleaned as clean_text cleans them, mappings kept, the rest dropped."""
    session_id, event, pathname = (
        plain_text(body.get(k)) for k in ("session_id", "event", "pathname")
    )
    kind = {"initial": EventKind.INITIAL, "event": EventKind.EVENT}.get(body["type"])
    parsed = parse_payload(body)
    if kind is None or not session_id or not event or pathname is None:
        assert parsed is None
        return

    def mapping(name: str) -> Any:
        value = body.get(name)
        return value if isinstance(value, dict) else None

    assert parsed == Payload(
        kind=kind,
        session_id=session_id,
        event=event,
        pathname=pathname or "/",
        timestamp_ms=finite_number(body.get("timestamp")),
        properties=mapping("properties"),
        referrer=plain_text(body.get("referrer")),
        url=plain_text(body.get("url")),
        utm=mapping("utm"),
        screen=mapping("screen"),
    )


URLS = [
    "https://example.com/?utm_source=news&utm_medium=mail&utm_source=twice",
    "https://[broken/?utm_source=x",
    "https://example.com/?utm_campaign=" + "c" * 300,
]


@given(st.sampled_from(URLS))
def test_utm_parameters_from_a_url_are_stable_across_calls(url: str) -> None:
    """The memoised query parsing gives the same tuple every time."""
    body = Payload(EventKind.INITIAL, "s", "pageview", "/", url=url)
    first = utm_parameters(body)
    assert utm_parameters(body) == first
    assert len(first) == 5


def test_session_columns_come_in_column_order() -> None:
    """session_columns gives the session columns in SESSION_COLUMNS order."""
    body = Payload(
        EventKind.INITIAL,
        "s",
        "pageview",
        "/",
        referrer="https://news.example/a?b=1",
        url=URLS[0],
        screen={"width": 1920, "height": 99_999},
    )
    ctx = RequestContext(geo=Geo("de", "by", "München"))
    for agent in (UserAgentInfo("Chrome", "Mac OS X", DeviceType.DESKTOP), BOT):
        columns = session_columns(body, ctx, ("example.com",), agent, None)
        assert columns[:2] == ("https://news.example/a?b=1", "news.example")
        assert columns[10:] == ("DE", "DE-BY", "München", 1920, SMALLINT_MAX)


@given(
    st.one_of(
        st.binary(max_size=40).map(lambda data: base64.b64encode(data).decode()),
        st.text(alphabet="ABCDab01+/=\n é-_.", max_size=16),
    )
)
@example("QUJD")
@example("QUJD\n")
@example("QUJ")
@example("QUJDé")
@example("QU=JD")
@example("QUJD====")  # excess padding: the standard library accepts it, pybase64 does not
@example("QQ==QQ==")
def test_decode_record_is_strict_b64decode(data: str) -> None:
    """A record's base64 is read exactly as base64.b64decode(validate=True) reads it (pybase64
    first, binascii for what pybase64 refuses)."""
    try:
        expected: bytes | None = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        expected = None
    assert decode_record({"data": data}) == expected
