"""A controllable clock and a predictable id generator for tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move forward by a timedelta given as keywords (`seconds=5`)."""
        self.now += timedelta(**delta)


class SequentialIds:
    """ULID-shaped ids that sort in creation order: 01J...0001, 01J...0002, ..."""

    def __init__(self, prefix: str = "01JDQ7ZK3M") -> None:
        self._prefix = prefix
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        number = next(self._counter)
        digits = []
        for _ in range(26 - len(self._prefix)):
            number, rest = divmod(number, 32)
            digits.append(CROCKFORD[rest])
        return self._prefix + "".join(reversed(digits))
