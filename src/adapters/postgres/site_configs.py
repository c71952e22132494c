"""Site configuration for ingest (`SiteConfigs` on PostgreSQL), cached per container.

A batch needs the domains and compliance level of its sites; they change rarely, so each
container keeps what it read for `ttl` (60 s by default: a domain or level change reaches
ingest within a minute), including the fact that a site does not exist, so that a flood of
events for a made-up site id costs one query a minute. The allowance is never read here: the
event store reads it under lock, in the transaction that charges it.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from datetime import datetime, timedelta

from adapters.postgres.pool import Pool, transaction
from analytics_core.outcomes import SiteConfig
from analytics_core.ports import Clock
from analytics_core.sites import ComplianceLevel

DEFAULT_TTL = timedelta(seconds=60)
MAX_CACHED = 10_000

_LOAD = "SELECT site_id, domains, compliance_level FROM sites WHERE site_id = ANY(%s)"


class PostgresSiteConfigs:
    """Reads site configs in one query per batch, for the ids not cached (or expired)."""

    def __init__(self, pool: Pool, clock: Clock, ttl: timedelta = DEFAULT_TTL) -> None:
        self._pool = pool
        self._clock = clock
        self._ttl = ttl
        self._cache: dict[str, tuple[datetime, SiteConfig | None]] = {}
        self._lock = threading.Lock()

    def load(self, site_ids: Collection[str]) -> dict[str, SiteConfig]:
        """The configs of those of `site_ids` that exist."""
        now = self._clock()
        found: dict[str, SiteConfig] = {}
        missing: list[str] = []
        with self._lock:
            for site_id in site_ids:
                cached = self._cache.get(site_id)
                if cached is None or cached[0] <= now:
                    missing.append(site_id)
                elif cached[1] is not None:
                    found[site_id] = cached[1]
        if not missing:
            return found
        with transaction(self._pool) as conn:
            rows = conn.execute(_LOAD, (sorted(missing),)).fetchall()
        loaded = {
            site_id: SiteConfig(site_id, tuple(domains), ComplianceLevel(level))
            for site_id, domains, level in rows
        }
        found.update(loaded)
        expires = now + self._ttl
        with self._lock:
            if len(self._cache) + len(missing) > MAX_CACHED:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                if len(self._cache) + len(missing) > MAX_CACHED:
                    self._cache.clear()
            for site_id in missing:
                self._cache[site_id] = (expires, loaded.get(site_id))
        return found
