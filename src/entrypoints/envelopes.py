"""The envelope's wire form (one Firehose record) to and from `analytics_core.envelopes`.

`{"v": 1, "uid", "site_id", "received_at": ISO-8601 UTC, "payload": <the tracker's body>,
"ctx": {"ip", "user_agent", "origin", "referer", "geo": {"country", "region", "city"}}}`.

Shape checks: texts are JSON strings, `v` is the number 1, `uid` a ULID, `received_at` a
timezone-aware ISO-8601 time, `payload` and `ctx` JSON objects; unknown keys are ignored. A
record that fails them is malformed (`decode_envelope` gives None); the payload's own fields are
checked by the core, which knows the rules. Records are bytes that Firehose delivers as written;
a gzipped record is unpacked first (bounded).

Decoding is processIngest's hottest loop (thousands of records a batch), so the checks are
written out by hand, exactly those of the cattrs converter they replaced (kept as the reference
in tests/unit/test_envelope_decoding.py), and JSON is parsed by orjson wherever it gives what
`json.loads` gives (see `loads_json`). Encoding (the collect endpoint) writes the fields in the
order the cattrs converter it replaced wrote them.
"""

from __future__ import annotations

import json
import math
import zlib
from datetime import UTC, datetime
from typing import Any

import orjson

from analytics_core.envelopes import (
    ENVELOPE_VERSION,
    MAX_ENVELOPE_BYTES,
    Envelope,
    EnvelopeRecord,
    Geo,
    RequestContext,
)
from analytics_core.ids import is_ulid
from analytics_core.rows import iso_millis

GZIP_MAGIC = b"\x1f\x8b"


class DecodingError(ValueError):
    """Bytes that cannot be unpacked or parsed; the message says why."""


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Unpack gzip data (one member or several) to at most `limit` bytes, or raise
    `DecodingError` (corrupt, truncated, trailing garbage, or too large: a decompression bomb
    stops at `limit` + 1 bytes, never exhausting memory)."""
    members: list[bytes] = []
    size = 0
    rest = data
    while True:
        inflater = zlib.decompressobj(wbits=31)
        try:
            member = inflater.decompress(rest, limit + 1 - size)
        except zlib.error as exc:
            raise DecodingError(f"corrupt gzip data ({exc})") from None
        members.append(member)
        size += len(member)
        if size > limit:
            raise DecodingError(f"gzip data unpacks to more than {limit} bytes")
        if not inflater.eof:
            raise DecodingError("truncated gzip data")
        rest = inflater.unused_data
        if not rest:
            # One member (what Firehose sends) is returned as is: no copy of megabytes.
            return members[0] if len(members) == 1 else b"".join(members)
        if not rest.startswith(GZIP_MAGIC):
            raise DecodingError("trailing bytes after gzip data")


class _ShapeError(ValueError):
    """A value of the wrong JSON type."""


_encode_json = json.JSONEncoder(separators=(",", ":")).encode


def _geo_object(geo: Geo | None) -> dict[str, str | None] | None:
    if geo is None:
        return None
    return {"country": geo.country, "region": geo.region, "city": geo.city}


def encode_envelope(envelope: Envelope) -> bytes:
    """The envelope as the bytes of one Firehose record (ASCII JSON, so that lone surrogates
    a tracker escaped travel as escapes)."""
    ctx = envelope.ctx
    return _encode_json(
        {
            "v": envelope.v,
            "uid": envelope.uid,
            "site_id": envelope.site_id,
            "received_at": iso_millis(envelope.received_at),
            "payload": envelope.payload,
            "ctx": {
                "ip": ctx.ip,
                "user_agent": ctx.user_agent,
                "origin": ctx.origin,
                "referer": ctx.referer,
                "geo": _geo_object(ctx.geo),
            },
        }
    ).encode("ascii")


# An integer of 19 digits or more may not fit in 64 bits, and orjson reads such an integer as a
# float where json.loads keeps it exact. json.loads gives up (RecursionError) at a nesting
# depth that depends on the Python stack, orjson at 1024; fewer than 100 brackets in all is a
# depth json.loads always follows. Both are found in one translated copy of the text: digits
# as "0", "{" as "[".
_SCAN = bytes.maketrans(b"123456789{", b"000000000[")
_LONG_DIGIT_RUN = b"0" * 19
_MAX_ORJSON_BRACKETS = 100


# Python refuses to turn more than 4,300 digits into an integer (ValueError), which would make
# the whole record unreadable for one absurd number. Such a number is read as an infinity of
# its sign instead: every rule then treats it as the non-finite value it practically is (a
# timestamp replaced, a screen size null, a property dropped), and the rest of the record counts.
_MAX_INT_DIGITS = 4000


def _parse_int(text: str) -> int | float:
    if len(text) <= _MAX_INT_DIGITS:
        return int(text)
    return -math.inf if text.startswith("-") else math.inf


def loads_json(data: bytes) -> Any:
    """`json.loads(data)`, parsed by orjson (2-3 times as fast) whenever that gives the same
    value. orjson refuses what json.loads accepts beyond RFC 8259 (lone surrogate escapes, NaN
    and Infinity, numbers that overflow a double, encodings other than UTF-8, a BOM): those
    fall back to json.loads. The two kinds of text orjson would accept and read differently (an
    integer beyond 64 bits, which it makes a float; nesting json.loads cannot follow) go to
    json.loads directly. An integer of more than 4,000 digits is read as an infinity (see
    `_parse_int`). Raises what json.loads raises."""
    scanned = data.translate(_SCAN)
    if _LONG_DIGIT_RUN not in scanned and scanned.count(b"[") < _MAX_ORJSON_BRACKETS:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data, parse_int=_parse_int)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise _ShapeError("must be a string")
    return value


def _optional_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _ShapeError("must be a string or null")


def _version(value: object) -> int:
    if isinstance(value, bool) or value != ENVELOPE_VERSION:
        raise _ShapeError(f"must be {ENVELOPE_VERSION}")
    return ENVELOPE_VERSION


def _received_at(value: object) -> datetime:
    moment = datetime.fromisoformat(_text(value))
    if moment.tzinfo is None:
        raise _ShapeError("must carry a time zone")
    return moment.astimezone(UTC)


_GEO_FIELDS = ("country", "region", "city")


def _geo(value: Any) -> Geo | None:
    """`ctx.geo`: null, or an object whose fields are optional texts. Any other value is read
    the way the cattrs converter read it, by `in` and indexing on the value itself: a string
    or an array without the field names is an empty Geo, a number fails."""
    if value is None:
        return None
    if type(value) is not dict:
        return Geo(**{name: _optional_text(value[name]) for name in _GEO_FIELDS if name in value})
    country, region, city = value.get("country"), value.get("region"), value.get("city")
    if (
        (country is None or isinstance(country, str))
        and (region is None or isinstance(region, str))
        and (city is None or isinstance(city, str))
    ):
        return Geo(country, region, city)
    raise _ShapeError("geo fields must be strings or null")


def _structure(data: dict[str, Any], ctx: dict[str, Any]) -> Envelope:
    """The envelope of a record decoded to `data`, whose `ctx` is an object. Raises (some
    exception) when a field is missing or of the wrong shape; unknown keys are ignored.
    Values are passed positionally (cheaper); `v` can only be 1, its default."""
    if "v" in data:
        _version(data["v"])
    uid, site_id, payload = data["uid"], data["site_id"], data["payload"]
    if not isinstance(uid, str) or not isinstance(site_id, str) or not isinstance(payload, dict):
        raise _ShapeError("uid and site_id must be strings, payload an object")
    received_at = _received_at(data["received_at"])
    get = ctx.get
    ip, user_agent, origin, referer = get("ip"), get("user_agent"), get("origin"), get("referer")
    if not (
        (ip is None or isinstance(ip, str))
        and (user_agent is None or isinstance(user_agent, str))
        and (origin is None or isinstance(origin, str))
        and (referer is None or isinstance(referer, str))
    ):
        raise _ShapeError("ctx fields must be strings or null")
    geo = get("geo")
    if geo is not None:
        geo = _geo(geo)
    return Envelope(
        uid, site_id, received_at, payload, RequestContext(ip, user_agent, origin, referer, geo)
    )


class _ParsedRecord:
    """The `EnvelopeRecord` of a record whose JSON is parsed: an object with a `ctx` object
    and a string `site_id`; the other shape checks run in `envelope()`."""

    __slots__ = ("_ctx", "_data", "site_id")

    def __init__(self, site_id: str, data: dict[str, Any], ctx: dict[str, Any]) -> None:
        self.site_id = site_id
        self._data = data
        self._ctx = ctx

    def envelope(self) -> Envelope | None:
        try:
            envelope = _structure(self._data, self._ctx)
        except Exception:  # noqa: BLE001  # any failure of a shape check: malformed, as with cattrs
            return None
        return envelope if is_ulid(envelope.uid) else None


def read_record(record: bytes | None) -> EnvelopeRecord | None:
    """A Firehose record read as far as a batch needs before its rows are built: its JSON
    parsed, and the site it names. None when it is not a JSON object with a `ctx` object and
    a string `site_id` (malformed, and no site to count it against)."""
    if not record:
        return None
    try:
        if record.startswith(GZIP_MAGIC):
            record = gunzip_bounded(record, MAX_ENVELOPE_BYTES)
        data = loads_json(record)
    except (ValueError, RecursionError):
        return None
    if type(data) is not dict:
        return None
    ctx, site_id = data.get("ctx"), data.get("site_id")
    if type(ctx) is not dict or not isinstance(site_id, str):
        return None
    return _ParsedRecord(site_id, data, ctx)


def decode_envelope(record: bytes | None) -> Envelope | None:
    """The envelope in a Firehose record, or None when the record is not a valid one."""
    read = read_record(record)
    return None if read is None else read.envelope()
