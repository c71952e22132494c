"""The daily salts of compliance level 0 (`DailySalts` on PostgreSQL, table `daily_salts`).

A day's salt is created by the first batch that needs it; concurrent first uses race on the
primary key and all end up with the one that won. A salt never changes once stored, so each
container caches the ones it has used, but only while they are young enough to exist: a salt
the daily maintenance has deleted is not kept alive in some container's memory either.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import date

from adapters.postgres.pool import Pool, transaction
from analytics_core.ports import Clock
from analytics_core.privacy import SALT_BYTES, salt_cutoff

MAX_CACHED_DAYS = 8


class PostgresDailySalts:
    """Salts in `daily_salts`; `random_bytes` is the source of new salts."""

    def __init__(
        self, pool: Pool, clock: Clock, random_bytes: Callable[[int], bytes] = secrets.token_bytes
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._random_bytes = random_bytes
        self._cache: dict[date, bytes] = {}
        self._lock = threading.Lock()

    def salt_for(self, day: date) -> bytes:
        """The day's salt, created on first use."""
        cutoff = salt_cutoff(self._clock().date())
        with self._lock:
            for expired in [known for known in self._cache if known < cutoff]:
                del self._cache[expired]
            cached = self._cache.get(day)
        if cached is not None:
            return cached
        with transaction(self._pool) as conn:
            conn.execute(
                "INSERT INTO daily_salts (day, salt) VALUES (%s, %s) ON CONFLICT (day) DO NOTHING",
                (day, self._random_bytes(SALT_BYTES)),
            )
            row = conn.execute("SELECT salt FROM daily_salts WHERE day = %s", (day,)).fetchone()
        assert row is not None  # noqa: S101  # inserted or already there, in this transaction
        salt = bytes(row[0])
        if day >= cutoff:
            with self._lock:
                if len(self._cache) >= MAX_CACHED_DAYS:
                    self._cache.pop(min(self._cache))
                self._cache[day] = salt
        return salt

    def delete_before(self, day: date) -> int:
        """Delete the salts of days before `day` (and forget them here)."""
        with transaction(self._pool) as conn:
            cursor = conn.execute("DELETE FROM daily_salts WHERE day < %s", (day,))
            deleted = max(cursor.rowcount, 0)
        with self._lock:
            for known in [known for known in self._cache if known < day]:
                del self._cache[known]
        return deleted
