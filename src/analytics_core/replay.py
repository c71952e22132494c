"""Replaying the batches Firehose gave up on: failure objects in, stored events out.

`replay` lists a store's failure objects (`FailureObjectStore`), reads each into its envelopes
with the edge's parser (the objects' format, `entrypoints.failure_objects`), and feeds them
through `ingest` (the very pipeline processIngest runs) in chunks: storage is idempotent per
event, so replaying a source twice stores nothing the second time.

Objects are isolated from each other: an object that cannot be read at all, or holds a record
that cannot be read, or whose records could not be processed, is counted as failed, named in
the result and left where it is (its readable records are replayed all the same), and the run
goes on with the next object. Only a failure of the stores (an `InfrastructureError`) stops
the run: the next objects would fail the same way. Objects that were completely read and
replayed move under the archive prefix unless `keep` is set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from analytics_core.errors import InfrastructureError, UnreadableObjectError
from analytics_core.failures import ParsedObject, ReplayTally, StoredObject, chunks
from analytics_core.ports import FailureObjectStore

DEFAULT_CHUNK = 500


Ingest = Callable[[Sequence[bytes], str], Mapping[str, int]]
"""Process one chunk of envelopes under a request id; returns its outcome counts."""

ParseObject = Callable[[bytes], ParsedObject]
"""A failure object's envelopes (the edge knows the format); `UnreadableObjectError` when the
object cannot be read at all."""


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
    parse: ParseObject,
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
            parsed = parse(store.read(obj.key))
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
