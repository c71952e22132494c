"""The failure objects Firehose backs batches up in, read into their envelopes (the format; the
replay use case is `analytics_core.replay`).

A failure object holds one JSON failure record per envelope (`attemptsMade`,
`arrivalTimestamp`, `errorCode`, `errorMessage`, `attemptEndingTimestamp`, `rawData`,
`subsequenceNumber`, `dataId`). Objects are read robustly: gzipped or not (by the magic bytes,
not the name), records newline-separated or simply concatenated, decompression bounded. A
record that cannot be read (bad JSON, no `rawData`, bad base64, not a failure record) is
counted as unreadable; an object that cannot be read at all (corrupt gzip, too large, binary)
is an `UnreadableObjectError`.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Iterator

from analytics_core.errors import UnreadableObjectError
from analytics_core.failures import ParsedObject
from entrypoints.envelopes import GZIP_MAGIC

MAX_OBJECT_BYTES = 256 * 1024 * 1024  # decompressed; a backed-up batch is a few MiB


def decompress(data: bytes, limit: int = MAX_OBJECT_BYTES) -> bytes:
    """The object's content: gunzipped (every member) when it starts with the gzip magic,
    refusing more than `limit` bytes of output."""
    if not data.startswith(GZIP_MAGIC):
        if len(data) > limit:
            raise UnreadableObjectError("object too large")
        return data
    out: list[bytes] = []
    total = 0
    remaining = data
    while remaining.startswith(GZIP_MAGIC):
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            chunk = inflater.decompress(remaining, limit - total + 1)
            total += len(chunk)
            out.append(chunk)
            while inflater.unconsumed_tail and total <= limit:
                chunk = inflater.decompress(inflater.unconsumed_tail, limit - total + 1)
                total += len(chunk)
                out.append(chunk)
        except zlib.error as exc:
            raise UnreadableObjectError(f"corrupt gzip data ({exc})") from None
        if total > limit:
            raise UnreadableObjectError(f"object larger than {limit} bytes once decompressed")
        if not inflater.eof:
            raise UnreadableObjectError("truncated gzip data")
        remaining = inflater.unused_data.lstrip(b"\x00")
    return b"".join(out)


def iter_json_values(text: str) -> Iterator[object | None]:
    """Every JSON value in `text`, whether newline-separated or concatenated; a stretch that
    is not JSON yields None once and reading resumes at the next line."""
    decoder = json.JSONDecoder()
    position, end = 0, len(text)
    while True:
        while position < end and text[position] in " \t\r\n,":
            position += 1
        if position >= end:
            return
        try:
            value, position = decoder.raw_decode(text, position)
        except (ValueError, RecursionError):  # not JSON, too deep, a number too long
            yield None
            newline = text.find("\n", position)
            if newline < 0:
                return
            position = newline + 1
            continue
        yield value


def _envelope(record: object) -> bytes | None:
    if not isinstance(record, dict):
        return None
    raw = record.get("rawData")
    if not isinstance(raw, str):
        return None
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_failure_object(data: bytes) -> ParsedObject:
    """The envelopes of a failure object (see the module docstring for what is accepted);
    `UnreadableObjectError` when the object as a whole cannot be read."""
    text = decompress(data).decode("utf-8", errors="replace")
    if "\x00" in text:
        raise UnreadableObjectError("binary data, not failure records")
    envelopes: list[bytes] = []
    unreadable = 0
    for value in iter_json_values(text):
        records = value if isinstance(value, list) else [value]
        for record in records:
            envelope = _envelope(record)
            if envelope is None:
                unreadable += 1
            else:
                envelopes.append(envelope)
    return ParsedObject(tuple(envelopes), unreadable)
