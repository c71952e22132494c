"""Replaying the batches Firehose gave up on: failure objects in, stored events out.

A failure object holds one JSON failure record per envelope (`attemptsMade`,
`arrivalTimestamp`, `errorCode`, `errorMessage`, `attemptEndingTimestamp`, `rawData`,
`subsequenceNumber`, `dataId`). Objects are read robustly: gzipped or not (by the magic bytes,
not the name), records newline-separated or simply concatenated, decompression bounded.

Objects are isolated from each other: an object that cannot be read at all (corrupt gzip, not
text), or holds a record that cannot be read (bad JSON, no `rawData`, bad base64, not a failure
record), or whose records could not be processed, is counted as failed, named in the result and
left where it is (its readable records are replayed all the same), and the run goes on with the
next object. Only a failure of the stores (an `InfrastructureError`) stops the run: the next
objects would fail the same way.

The envelopes go through `ingest_records` (entrypoints/pipeline.py), the very function the
processIngest endpoint runs, in chunks: storage is idempotent per event, so replaying a source
twice stores nothing the second time. When a chunk fails (the database is down), the replay
stops, the object stays where it is, and the result says so; objects that were completely
replayed move under the archive prefix unless `keep` is set.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime

import attrs

from analytics_core.errors import InfrastructureError
from analytics_core.failures import ReplayTally, StoredObject, chunks
from analytics_core.ports import FailureObjectStore
from entrypoints.envelopes import GZIP_MAGIC

MAX_OBJECT_BYTES = 256 * 1024 * 1024  # decompressed; a backed-up batch is a few MiB
DEFAULT_CHUNK = 500

Ingest = Callable[[Sequence[bytes], str], Mapping[str, int]]
"""Process one chunk of envelopes under a request id; returns its outcome counts."""


class UnreadableObjectError(ValueError):
    """The object is not a failure object at all (too large once decompressed, not text)."""


@attrs.frozen
class ParsedObject:
    """The envelopes of one failure object, and how many records could not be read."""

    envelopes: tuple[bytes, ...]
    unreadable: int


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


def chunk_request_id(obj: StoredObject, index: int) -> str:
    """A stable request id per chunk of an object, so logs of two runs line up."""
    digest = hashlib.sha256(obj.key.encode()).hexdigest()[:16]
    return f"replay-{digest}-{index}"


class ReplayProgress:
    """Hooks for showing progress (the CLI draws rich bars); every method is optional."""

    def objects_found(self, objects: Sequence[StoredObject], total_bytes: int) -> None:
        """The objects about to be replayed."""

    def object_started(self, obj: StoredObject, records: int) -> None:
        """An object was read and holds `records` envelopes."""

    def records_done(self, count: int) -> None:
        """`count` more records went through."""

    def object_finished(self, obj: StoredObject, outcome: str) -> None:
        """An object is done: replayed, archived, kept, failed or dry-run."""


def _ingest_object(
    ingest: Ingest,
    obj: StoredObject,
    *,
    envelopes: Sequence[bytes],
    chunk_size: int,
    tally: ReplayTally,
    watcher: ReplayProgress,
) -> None:
    """Send one object's envelopes chunk by chunk. Raises `InfrastructureError` when the
    stores fail, and `_ObjectFailedError` when the object's records could not be processed."""
    for index, chunk in enumerate(chunks(envelopes, chunk_size)):
        try:
            counts = ingest(chunk, chunk_request_id(obj, index))
        except InfrastructureError:
            raise
        except Exception as exc:
            # The pipeline isolates records, so this is a bug: the object stays for a later run.
            raise _ObjectFailedError(
                f"its records could not be processed ({type(exc).__name__})"
            ) from exc
        tally.add_outcomes(counts)
        watcher.records_done(len(chunk))


class _ObjectFailedError(Exception):
    """This object cannot be replayed now; the message says why."""


def _failed(
    store: FailureObjectStore,
    obj: StoredObject,
    reason: str,
    *,
    tally: ReplayTally,
    watcher: ReplayProgress,
) -> None:
    tally.objects_failed += 1
    tally.errors.append(f"{store.location(obj.key)}: {reason}")
    watcher.object_finished(obj, "failed")


def replay(
    store: FailureObjectStore,
    ingest: Ingest,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    keep: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
    progress: ReplayProgress | None = None,
) -> ReplayTally:
    """Replay every failure object of `store` in [since, until) through `ingest`."""
    watcher = progress or ReplayProgress()
    tally = ReplayTally()
    objects = store.list_objects(since, until)
    tally.objects_found = len(objects)
    watcher.objects_found(objects, sum(o.size for o in objects))
    for obj in objects:
        try:
            parsed = parse_failure_object(store.read(obj.key))
        except InfrastructureError as exc:
            _failed(store, obj, exc.message, tally=tally, watcher=watcher)
            break
        except Exception as exc:  # noqa: BLE001  # an object's fault is the object's
            reason = str(exc) if isinstance(exc, UnreadableObjectError) else type(exc).__name__
            _failed(store, obj, f"unreadable: {reason}", tally=tally, watcher=watcher)
            continue
        tally.records += len(parsed.envelopes)
        tally.unreadable += parsed.unreadable
        watcher.object_started(obj, len(parsed.envelopes))
        if dry_run:
            watcher.records_done(len(parsed.envelopes))
            watcher.object_finished(obj, "dry-run")
            continue
        try:
            _ingest_object(
                ingest,
                obj,
                envelopes=parsed.envelopes,
                chunk_size=chunk_size,
                tally=tally,
                watcher=watcher,
            )
        except InfrastructureError as exc:
            _failed(store, obj, exc.message, tally=tally, watcher=watcher)
            break  # the store is down: the next objects would fail the same way
        except _ObjectFailedError as exc:
            _failed(store, obj, str(exc), tally=tally, watcher=watcher)
            continue
        if parsed.unreadable:
            # Its readable records are in; the rest stays for a person to look at.
            reason = f"{parsed.unreadable} record(s) are not failure records"
            _failed(store, obj, reason, tally=tally, watcher=watcher)
            continue
        tally.objects_replayed += 1
        if keep:
            watcher.object_finished(obj, "kept")
            continue
        try:
            store.archive(obj.key)
        except InfrastructureError as exc:
            tally.errors.append(exc.message)
            watcher.object_finished(obj, "replayed")
            continue
        tally.objects_archived += 1
        watcher.object_finished(obj, "archived")
    return tally
