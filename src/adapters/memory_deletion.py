"""In-memory site deletion: `SiteDeletions` over the in-memory site repository and event
store, and a `ColdSiteEraser` over the in-memory cold forwarder. Fakes of the unit tests, held
to the same contract tests as the PostgreSQL, lake and Athena adapters."""

from __future__ import annotations

import threading
from datetime import datetime

import attrs

from adapters.memory import InMemoryColdForwarder, InMemoryEventStore, InMemorySiteRepository
from analytics_core.deletions import DeletionRequest
from analytics_core.errors import StoreUnavailableError


@attrs.define
class DeletionJob:
    """One row of the in-memory `site_deletions`."""

    site_id: str
    requested_at: datetime
    cold_done_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None


class InMemorySiteDeletions:
    """`SiteDeletions` over in-memory sites and stored rows (and their outcome counters)."""

    def __init__(self, sites: InMemorySiteRepository, store: InMemoryEventStore) -> None:
        self._sites = sites
        self._store = store
        self._lock = threading.Lock()
        self.jobs: dict[str, DeletionJob] = {}

    def delete_hot(self, owner: str, site_id: str, requested_at: datetime) -> bool:
        """Forget the owner's site, its rows and counters; record the cold job."""
        with self._lock:
            if self._sites.get_for_owner(owner, site_id) is None:
                return False
            self._sites.remove(site_id)
            store = self._store
            for table in (store.events, store.initial_events):
                for key in [key for key, row in table.items() if row.site_id == site_id]:
                    del table[key]
            for counted in [counted for counted in store.outcomes if counted[0] == site_id]:
                del store.outcomes[counted]
            self.jobs[site_id] = DeletionJob(site_id, requested_at)
            return True

    def pending(self) -> list[DeletionRequest]:
        """The deletions whose cold part is not done, oldest request first."""
        with self._lock:
            jobs = [job for job in self.jobs.values() if job.cold_done_at is None]
        return [
            DeletionRequest(job.site_id, job.requested_at)
            for job in sorted(jobs, key=lambda j: (j.requested_at, j.site_id))
        ]

    def cold_done(self, site_id: str, done_at: datetime) -> None:
        """Mark the job done."""
        with self._lock:
            job = self.jobs[site_id]
            job.cold_done_at, job.last_error = done_at, None
            job.attempts += 1

    def cold_failed(self, site_id: str, error: str) -> None:
        """Count a failed attempt."""
        with self._lock:
            job = self.jobs[site_id]
            job.last_error = error
            job.attempts += 1


class InMemoryColdSiteEraser:
    """`ColdSiteEraser` over the in-memory cold forwarder's rows; the first `failures` calls
    fail as an unavailable cold store would."""

    def __init__(self, forwarder: InMemoryColdForwarder, failures: int = 0) -> None:
        self._forwarder = forwarder
        self.failures = failures
        self.calls = 0

    def erase(self, site_id: str) -> None:
        """Drop the site's rows (or fail while `failures` is positive)."""
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise StoreUnavailableError("cold store unavailable: in-memory outage")
        forwarder = self._forwarder
        forwarder.events[:] = [row for row in forwarder.events if row.site_id != site_id]
        forwarder.initial_events[:] = [
            row for row in forwarder.initial_events if row.site_id != site_id
        ]
