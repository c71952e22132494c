"""`decode_envelope` and `loads_json` against the implementations they replaced.

The envelope's shape checks used to be a cattrs converter over `json.loads`; the hand-written
checks and the orjson parse must give the same envelope (or None) for every record. The
reference converter below is that converter, verbatim.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
import cattrs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tests.support.ingest import CHROME, SITE, envelope, uid

from analytics_core.envelopes import (
    ENVELOPE_VERSION,
    MAX_ENVELOPE_BYTES,
    Envelope,
    Geo,
    RequestContext,
)
from analytics_core.ids import is_ulid
from entrypoints.envelopes import (
    GZIP_MAGIC,
    DecodingError,
    decode_envelope,
    encode_envelope,
    gunzip_bounded,
    loads_json,
)

# ------------------------------------------------------------------ the reference decoder


class _ShapeError(ValueError):
    pass


def _strict_str(value: object, _type: object) -> str:
    if not isinstance(value, str):
        raise _ShapeError("must be a string")
    return value


def _optional_str(value: object, _type: object) -> str | None:
    return None if value is None else _strict_str(value, _type)


def _version(value: object, _type: object) -> int:
    if isinstance(value, bool) or value != ENVELOPE_VERSION:
        raise _ShapeError(f"must be {ENVELOPE_VERSION}")
    return ENVELOPE_VERSION


def _received_at(value: object, _type: object) -> datetime:
    moment = datetime.fromisoformat(_strict_str(value, _type))
    if moment.tzinfo is None:
        raise _ShapeError("must carry a time zone")
    return moment.astimezone(UTC)


def _object(value: object, _type: object) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _ShapeError("must be an object")
    return value


# The envelope's classes as they were (frozen attrs classes) when the converter decoded them;
# its envelopes are compared in today's classes (`_today`).


@attrs.frozen
class _Geo:
    country: str | None = None
    region: str | None = None
    city: str | None = None


@attrs.frozen
class _RequestContext:
    ip: str | None = None
    user_agent: str | None = None
    origin: str | None = None
    referer: str | None = None
    geo: _Geo | None = None


@attrs.frozen
class _Envelope:
    v: int = attrs.field(default=ENVELOPE_VERSION, kw_only=True)
    uid: str
    site_id: str
    received_at: datetime
    payload: Mapping[str, Any]
    ctx: _RequestContext


def _today(old: _Envelope) -> Envelope:
    ctx, geo = old.ctx, old.ctx.geo
    return Envelope(
        old.uid,
        old.site_id,
        old.received_at,
        old.payload,
        RequestContext(
            ctx.ip,
            ctx.user_agent,
            ctx.origin,
            ctx.referer,
            None if geo is None else Geo(geo.country, geo.region, geo.city),
        ),
        old.v,
    )


_converter = cattrs.Converter()
_converter.register_structure_hook(str, _strict_str)
_converter.register_structure_hook_func(lambda t: t == str | None, _optional_str)
_converter.register_structure_hook(int, _version)
_converter.register_structure_hook(datetime, _received_at)
_converter.register_structure_hook_func(lambda t: t == Mapping[str, Any], _object)


def reference_decode(record: bytes | None) -> Envelope | None:
    """decode_envelope as it was: json.loads and the cattrs converter."""
    if not record:
        return None
    try:
        if record.startswith(GZIP_MAGIC):
            record = gunzip_bounded(record, MAX_ENVELOPE_BYTES)
        data = json.loads(record)
        if not isinstance(data, dict) or not isinstance(data.get("ctx"), dict):
            return None
        decoded = _converter.structure(data, _Envelope)
    except (ValueError, RecursionError, cattrs.BaseValidationError):
        return None
    return _today(decoded) if is_ulid(decoded.uid) else None


def same(new: object, old: object) -> bool:
    """Equal, and equal in repr too: same types (1 is not 1.0) and the same key order."""
    if isinstance(new, float) and isinstance(old, float) and math.isnan(new):
        return math.isnan(old)
    return repr(new) == repr(old) and (new == old or "nan" in repr(new))


# ------------------------------------------------------------------ strategies

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=6)
    | st.sampled_from(["\ud800", "x\udfffy", "\x00", "DE", "country", "région"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
texts = st.one_of(
    st.sampled_from([CHROME, "https://example.com", "203.0.113.7", ""]), st.text(max_size=8)
)
times = st.sampled_from(
    [
        *["2026-11-25T12:00:00.000Z"] * 8,
        "2026-11-25T12:00:00+02:00",
        "2026-11-25T12:00:00",
        "2026-11-25",
        "0001-01-01T00:30:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "not a time",
        "2026-11-25T12:00:00.123456789Z",
    ]
)


@st.composite
def maybe(draw: st.DrawFn, strategy: st.SearchStrategy[Any]) -> Any:
    """Mostly the strategy's value, sometimes any JSON value (a field of the wrong shape)."""
    return draw(json_values) if draw(st.integers(0, 11)) == 11 else draw(strategy)


geos = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={"country": maybe(st.none() | texts), "region": maybe(texts), "city": texts},
    ),
    st.sampled_from(["DE", "country", "xcityx", ["region"], [], 1, 2.5, True, {"x": 1}]),
    json_values,
)
contexts = st.fixed_dictionaries(
    {},
    optional={
        "ip": maybe(st.none() | texts),
        "user_agent": maybe(st.none() | texts),
        "origin": maybe(st.none() | texts),
        "referer": maybe(st.none() | texts),
        "geo": geos,
        "extra": json_values,
    },
)
uids = st.one_of(
    *[st.integers(0, 10**6).map(uid)] * 6,
    st.sampled_from(["01jdq7zk3m0000000000000001", "81JDQ7ZK3M0000000000000001", ""]),
)


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """An envelope's JSON value: mostly well-formed, with fields of any shape or missing."""
    data = draw(
        st.fixed_dictionaries(
            {
                "uid": maybe(uids),
                "site_id": maybe(st.just(SITE)),
                "received_at": maybe(times),
                "payload": maybe(st.dictionaries(st.text(max_size=4), json_values, max_size=4)),
                "ctx": maybe(contexts),
            },
            optional={
                "v": st.sampled_from([1, 1, 1, 1.0, True, 2, "1", None, 10**20]),
                "unknown": json_values,
            },
        )
    )
    for key in draw(st.sets(st.sampled_from(sorted(data)), max_size=1)):
        if draw(st.integers(0, 9)) == 9:
            del data[key]
    return data


def encodings(data: Any) -> st.SearchStrategy[bytes]:
    """`data` as record bytes, written the ways a record can be written."""
    return st.sampled_from(
        [
            json.dumps(data).encode(),
            json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass"),
            json.dumps(data, indent=1, ensure_ascii=False).encode("utf-16", "surrogatepass"),
            b"\xef\xbb\xbf" + json.dumps(data).encode(),
            gzip.compress(json.dumps(data).encode()),
        ]
    )


records = envelopes().flatmap(encodings)

# ------------------------------------------------------------------ the comparisons


@settings(max_examples=1500)
@given(records)
@example(json.dumps(envelope(1)).encode())
@example(json.dumps({**envelope(1), "v": 1.0}).encode())
@example(json.dumps({**envelope(1), "ctx": {"geo": "DE"}}).encode())
@example(json.dumps({**envelope(1), "ctx": {"geo": "my country"}}).encode())
@example(json.dumps({**envelope(1), "ctx": {"geo": 7}}).encode())
@example(json.dumps({**envelope(1), "ctx": {"geo": ["city"]}}).encode())
@example(json.dumps({**envelope(1), "received_at": "0001-01-01T00:00:00+01:00"}).encode())
@example(json.dumps({**envelope(1), "payload": {"n": 2**64, "m": -(2**63) - 1}}).encode())
@example(json.dumps({**envelope(1), "payload": {"n": float("nan"), "x": 1e400}}).encode())
def test_decode_envelope_is_the_cattrs_decoder(record: bytes) -> None:
    """Every record decodes to the envelope (or None) the cattrs converter made of it."""
    new, old = decode_envelope(record), reference_decode(record)
    assert same(new, old)


@settings(max_examples=1000)
@given(st.tuples(contexts, geos).map(lambda pair: {**pair[0], "geo": pair[1]}))
def test_request_contexts_decode_as_before(ctx: dict[str, Any]) -> None:
    """Well-formed envelopes with any request context: the same envelope (or None)."""
    for record in (
        json.dumps({**envelope(1), "ctx": ctx}).encode(),
        json.dumps({**envelope(1), "ctx": ctx}, ensure_ascii=False).encode(
            "utf-8", "surrogatepass"
        ),
    ):
        assert same(decode_envelope(record), reference_decode(record))


@pytest.mark.parametrize(
    "record",
    [
        None,
        b"",
        b"{",
        b"[]",
        b'{"ctx": 1}',
        b"\xff\xfe",
        gzip.compress(b"{}")[:-3],
        b'{"ctx": {}, "uid": "' + b"[" * 2000 + b'"}',
        b'{"ctx": {"x": ' + b"[" * 950 + b"]" * 950 + b"}}",
        b'{"ctx": {"x": ' + b"[" * 2000 + b"]" * 2000 + b"}}",
        json.dumps({**envelope(1), "ctx": {"geo": {"city": "\ud800"}}}).encode(),
    ],
)
def test_broken_records_decode_as_before(record: bytes | None) -> None:
    """Empty, cut, deeply nested and non-UTF-8 records: the same answer as before."""
    assert same(decode_envelope(record), reference_decode(record))


def test_the_empty_geo_quirk_is_kept() -> None:
    """A `geo` that is a string without the field names is an empty Geo (as cattrs read it),
    one containing a field name is malformed, a number is malformed."""
    decoded = decode_envelope(json.dumps({**envelope(1), "ctx": {"geo": "DE"}}).encode())
    assert decoded is not None
    assert decoded.ctx.geo == Geo()
    assert decode_envelope(json.dumps({**envelope(1), "ctx": {"geo": "city"}}).encode()) is None
    assert decode_envelope(json.dumps({**envelope(1), "ctx": {"geo": 3}}).encode()) is None


def test_encode_and_decode_round_trip() -> None:
    """encode_envelope's bytes decode to the same envelope."""
    decoded = decode_envelope(json.dumps(envelope(1, geo={"country": "DE"})).encode())
    assert decoded is not None
    assert decode_envelope(encode_envelope(decoded)) == decoded


# ------------------------------------------------------------------ gunzip_bounded


def reference_gunzip(data: bytes, limit: int) -> bytes:
    """gunzip_bounded as it was (one growing buffer, copied at the end)."""
    out = bytearray()
    rest = data
    while True:
        inflater = zlib.decompressobj(wbits=31)
        try:
            out += inflater.decompress(rest, limit + 1 - len(out))
        except zlib.error as exc:
            raise DecodingError(f"corrupt gzip data ({exc})") from None
        if len(out) > limit:
            raise DecodingError(f"gzip data unpacks to more than {limit} bytes")
        if not inflater.eof:
            raise DecodingError("truncated gzip data")
        rest = inflater.unused_data
        if not rest:
            return bytes(out)
        if not rest.startswith(GZIP_MAGIC):
            raise DecodingError("trailing bytes after gzip data")


def outcome(unpack: Any, data: bytes, limit: int) -> object:
    try:
        return unpack(data, limit)
    except DecodingError as exc:
        return str(exc)


@settings(max_examples=500)
@given(
    st.lists(st.binary(max_size=300), min_size=1, max_size=4),
    st.integers(0, 1300),
    st.sampled_from(["", "cut", "junk", "flip"]),
)
def test_gunzip_bounded_is_as_before(parts: list[bytes], limit: int, damage: str) -> None:
    """Members, limits, truncation, trailing bytes, corruption: the same bytes or error."""
    data = b"".join(gzip.compress(part) for part in parts)
    if damage == "cut":
        data = data[: len(data) // 2]
    elif damage == "junk":
        data += b"junk"
    elif damage == "flip":
        data = data[:12] + bytes([data[12] ^ 0xFF]) + data[13:]
    assert outcome(gunzip_bounded, data, limit) == outcome(reference_gunzip, data, limit)


# ------------------------------------------------------------------ loads_json


numbers = st.one_of(
    st.integers(),
    st.integers(-(2**65), 2**65),
    st.floats(),
    st.from_regex(r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
)


@settings(max_examples=1500)
@given(
    st.one_of(
        json_values.map(lambda value: json.dumps(value).encode()),
        json_values.map(
            lambda value: json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
        ),
        numbers.map(lambda n: (n if isinstance(n, str) else json.dumps(n)).encode()),
        numbers.map(lambda n: b'{"n": [' + str(n).encode() + b"]}"),
        st.binary(max_size=30),
        st.text(alphabet='{}[]",:0123456789.eE-+ \\untrlfasu\x00\udc80é', max_size=30).map(
            lambda text: text.encode("utf-8", "surrogatepass")
        ),
    )
)
@example(b"123456789012345678901234567890")
@example(b"18446744073709551616")
@example(b"-9223372036854775809")
@example(b"[" * 99 + b"]" * 99)
@example(b"[" * 1000 + b"]" * 1000)
def test_loads_json_is_json_loads(data: bytes) -> None:
    """Whatever the bytes, loads_json answers (or raises) as json.loads does."""
    try:
        expected: Any = json.loads(data)
    except (ValueError, RecursionError) as exc:
        with pytest.raises(type(exc)):
            loads_json(data)
        return
    assert same(loads_json(data), expected)


def test_a_firehose_batch_decodes_as_before() -> None:
    """Base64 records of a realistic batch: identical envelopes."""
    batch = [
        base64.b64decode(base64.b64encode(json.dumps(envelope(n)).encode())) for n in range(1, 50)
    ]
    for record in batch:
        assert same(decode_envelope(record), reference_decode(record))
