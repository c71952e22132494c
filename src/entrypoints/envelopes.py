"""The envelope's wire form (one Firehose record) to and from `analytics_core.envelopes`.

`{"v": 1, "uid", "site_id", "received_at": ISO-8601 UTC, "payload": <the tracker's body>,
"ctx": {"ip", "user_agent", "origin", "referer", "geo": {"country", "region", "city"}}}`.

Shape checks live in one private cattrs converter with strict hooks: texts are JSON strings,
`v` is the integer 1, `uid` a ULID, `received_at` a timezone-aware ISO-8601 time, `payload` and
`ctx` JSON objects. A record that fails them is malformed (`decode_envelope` gives None); the
payload's own fields are checked by the core, which knows the rules. Records are bytes that
Firehose delivers as written; a gzipped record is unpacked first (bounded).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import cattrs

from analytics_core.envelopes import ENVELOPE_VERSION, MAX_ENVELOPE_BYTES, Envelope
from analytics_core.ids import is_ulid
from analytics_core.rows import iso_millis

GZIP_MAGIC = b"\x1f\x8b"


class DecodingError(ValueError):
    """Bytes that cannot be unpacked or parsed; the message says why."""


def gunzip_bounded(data: bytes, limit: int) -> bytes:
    """Unpack gzip data (one member or several) to at most `limit` bytes, or raise
    `DecodingError` (corrupt, truncated, trailing garbage, or too large: a decompression bomb
    stops at `limit` + 1 bytes, never exhausting memory)."""
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


class _ShapeError(ValueError):
    """A value of the wrong JSON type."""


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


_encode_json = json.JSONEncoder(separators=(",", ":")).encode
_converter = cattrs.Converter()
_converter.register_structure_hook(str, _strict_str)
_converter.register_structure_hook_func(lambda t: t == str | None, _optional_str)
_converter.register_structure_hook(int, _version)  # `v` is the envelope's only integer
_converter.register_structure_hook(datetime, _received_at)
_converter.register_structure_hook_func(lambda t: t == Mapping[str, Any], _object)
_converter.register_unstructure_hook(datetime, iso_millis)


def encode_envelope(envelope: Envelope) -> bytes:
    """The envelope as the bytes of one Firehose record (ASCII JSON, so that lone surrogates
    a tracker escaped travel as escapes)."""
    return _encode_json(_converter.unstructure(envelope)).encode("ascii")


def decode_envelope(record: bytes | None) -> Envelope | None:
    """The envelope in a Firehose record, or None when the record is not a valid one."""
    if not record:
        return None
    try:
        if record.startswith(GZIP_MAGIC):
            record = gunzip_bounded(record, MAX_ENVELOPE_BYTES)
        data = json.loads(record)
        if not isinstance(data, dict) or not isinstance(data.get("ctx"), dict):
            return None
        envelope = _converter.structure(data, Envelope)
    except (ValueError, RecursionError, cattrs.BaseValidationError):
        return None
    return envelope if is_ulid(envelope.uid) else None
