"""Batches Firehose gave up on: the objects it backed up, and what replaying them did.

Firehose backs an undeliverable batch up as an object (in S3 in AWS, in a folder locally) holding
one failure record per envelope. `analytics replay` lists those objects through a
`FailureObjectStore`, feeds their envelopes back through the ingest pipeline, and tallies the
outcomes here (the use case is `replay`). Parsing the objects' JSON is the edge's business
(`entrypoints.failure_objects`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

import attrs

_T = TypeVar("_T")

ARCHIVE_PREFIX = "replayed/"
"""Where replayed objects move by default, relative to the store (bucket or folder)."""


@attrs.frozen
class StoredObject:
    """One backed-up batch: its key (relative to the store), time and size."""

    key: str
    modified_at: datetime
    size: int


def within(obj: StoredObject, since: datetime | None, until: datetime | None) -> bool:
    """True when the object's time lies in [since, until)."""
    if since is not None and obj.modified_at < since:
        return False
    return until is None or obj.modified_at < until


def chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    """`items` in consecutive slices of at most `size`."""
    if size < 1:
        raise ValueError("chunk size must be at least 1")
    for start in range(0, len(items), size):
        yield items[start : start + size]


@attrs.define
class ReplayTally:
    """What a replay did, object by object and outcome by outcome."""

    objects_found: int = 0
    objects_replayed: int = 0
    objects_archived: int = 0
    objects_failed: int = 0
    records: int = 0
    unreadable: int = 0
    outcomes: Counter[str] = attrs.field(factory=Counter)
    errors: list[str] = attrs.field(factory=list)

    def add_outcomes(self, counts: Mapping[str, int]) -> None:
        """Add one chunk's outcome counts."""
        self.outcomes.update({k: v for k, v in counts.items() if v})

    @property
    def ok(self) -> bool:
        """True when no chunk failed."""
        return self.objects_failed == 0


@attrs.frozen
class ParsedObject:
    """The envelopes of one failure object, and how many records could not be read."""

    envelopes: tuple[bytes, ...]
    unreadable: int
