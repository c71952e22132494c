"""Site deletion over in-memory fakes: the use cases (`delete_site`, `retry_site_deletions`)
and the DELETE route of the sites handler."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from tests.support.clock import FakeClock
from tests.support.events import OWNER_A, OWNER_B, api_event

from adapters.config import Settings
from adapters.memory import InMemoryColdForwarder, InMemoryEventStore, InMemorySiteRepository
from adapters.memory_deletion import InMemoryColdSiteEraser, InMemorySiteDeletions
from analytics_core.deletions import DeletionRequest
from analytics_core.errors import NotFoundError
from analytics_core.management import LATE_DELIVERY, delete_site, retry_site_deletions
from analytics_core.outcomes import Outcome
from analytics_core.rows import EventRow, InitialEventRow
from analytics_core.sites import ComplianceLevel, NewSite
from entrypoints import bootstrap
from entrypoints.api import sites as sites_api

GONE = "01JDQ7ZK3M0000000000DELE01"
KEPT = "01JDQ7ZK3M0000000000DELE02"
DAY = date(2026, 12, 6)


class World:
    """Two sites of OWNER_A with stored and forwarded rows, and the deletion fakes."""

    def __init__(self, cold_failures: int = 0) -> None:
        self.clock = FakeClock()
        self.sites = InMemorySiteRepository()
        self.store = InMemoryEventStore(self.sites)
        self.forwarder = InMemoryColdForwarder()
        self.deletions = InMemorySiteDeletions(self.sites, self.store)
        self.eraser = InMemoryColdSiteEraser(self.forwarder, failures=cold_failures)
        stamp = datetime(2026, 12, 6, 8, tzinfo=UTC)
        for site_id in (GONE, KEPT):
            self.sites.add(
                NewSite(site_id, OWNER_A, "Site", ("example.com",), ComplianceLevel(1), stamp)
            )
            first = InitialEventRow(f"{site_id}-i", site_id, "s", stamp, DAY, "pageview", "/", None)
            click = EventRow(f"{site_id}-e", site_id, "s", stamp, DAY, "click", "/", None)
            assert self.store.store([first, click], []) == [Outcome.ACCEPTED] * 2
            self.forwarder.forward([click], [first])

    def sites_of_rows(self) -> tuple[set[str], set[str], set[str]]:
        """The sites found in the hot rows, the outcome counters and the cold rows."""
        hot = {row.site_id for row in self.store.all_rows()}
        counted = {site_id for site_id, _, _ in self.store.outcomes}
        cold = {row.site_id for row in self.forwarder.events} | {
            row.site_id for row in self.forwarder.initial_events
        }
        return hot, counted, cold


def test_deleting_a_site_erases_its_hot_and_cold_rows_only() -> None:
    """The owner's deletion removes the site, its rows, counters and cold rows, and leaves the
    other site whole; its next rows are `unknown_site`. The job stays pending through the
    late-delivery window: a retry within it erases again, the first one after it is final."""
    world = World()
    requested_at = world.clock()
    assert delete_site(world.deletions, world.eraser, world.clock, OWNER_A, GONE) is True
    assert world.sites.get_for_owner(OWNER_A, GONE) is None
    assert world.sites.get_for_owner(OWNER_A, KEPT) is not None
    assert world.sites_of_rows() == ({KEPT}, {KEPT}, {KEPT})
    assert world.deletions.pending() == [DeletionRequest(GONE, requested_at)]
    world.clock.advance(minutes=19)
    early = retry_site_deletions(world.deletions, world.eraser, world.clock)
    assert (early.done, early.waiting, early.failed) == ((), (GONE,), ())
    world.clock.advance(minutes=1)
    final = retry_site_deletions(world.deletions, world.eraser, world.clock)
    assert (final.done, final.waiting, final.failed) == ((GONE,), (), ())
    assert world.deletions.pending() == []
    assert world.eraser.calls == 3
    late = EventRow("late", GONE, "s", world.clock(), DAY, "pageview", "/", None)
    assert world.store.store([late], []) == [Outcome.UNKNOWN_SITE]


@pytest.mark.parametrize("owner", [OWNER_B, OWNER_A])
def test_someone_elses_or_a_missing_site_is_not_found_and_nothing_changes(owner: str) -> None:
    """A foreign site and a missing one are the same `NotFoundError`; nothing is erased."""
    world = World()
    site_id = GONE if owner == OWNER_B else "01JDQ7ZK3M0000000000NOPE00"
    with pytest.raises(NotFoundError):
        delete_site(world.deletions, world.eraser, world.clock, owner, site_id)
    assert world.sites_of_rows() == ({GONE, KEPT}, {GONE, KEPT}, {GONE, KEPT})
    assert world.eraser.calls == 0
    assert world.deletions.jobs == {}


def test_a_failing_cold_store_leaves_the_job_pending_until_a_retry_succeeds() -> None:
    """The hot rows go at once; the failed cold part stays pending with its error; the first
    retry fails again, the second erases the cold rows and finishes the job."""
    world = World(cold_failures=2)
    assert delete_site(world.deletions, world.eraser, world.clock, OWNER_A, GONE) is False
    assert world.sites_of_rows() == ({KEPT}, {KEPT}, {GONE, KEPT})
    assert [request.site_id for request in world.deletions.pending()] == [GONE]
    assert world.deletions.jobs[GONE].last_error == "cold store unavailable: in-memory outage"
    world.clock.advance(minutes=LATE_DELIVERY.total_seconds() / 60)
    first = retry_site_deletions(world.deletions, world.eraser, world.clock)
    assert (first.done, first.waiting, first.failed) == ((), (), (GONE,))
    second = retry_site_deletions(world.deletions, world.eraser, world.clock)
    assert (second.done, second.waiting, second.failed) == ((GONE,), (), ())
    assert world.sites_of_rows() == ({KEPT}, {KEPT}, {KEPT})
    job = world.deletions.jobs[GONE]
    assert (job.attempts, job.last_error, job.cold_done_at) == (3, None, world.clock())
    assert retry_site_deletions(world.deletions, world.eraser, world.clock).done == ()


def test_the_delete_route_answers_204_or_404_alike() -> None:
    """DELETE /api/sites/{id} answers 204 without a body for the owner, and the same 404 for
    someone else's site as for a missing one."""
    world = World()
    services = bootstrap.build(
        Settings(),
        sites=world.sites,
        clock=world.clock,
        site_deletions=world.deletions,
        cold_site_eraser=world.eraser,
    )
    handler = sites_api.make_handler(services)

    def delete(site_id: str, sub: str) -> dict[str, object]:
        path = f"/api/sites/{site_id}"
        return handler(api_event("DELETE", path, sub=sub, path_parameters={"id": site_id}), None)

    foreign, missing = delete(GONE, OWNER_B), delete("01JDQ7ZK3M0000000000NOPE00", OWNER_A)
    assert foreign["statusCode"] == missing["statusCode"] == 404
    assert foreign["body"] == str(missing["body"]).replace("01JDQ7ZK3M0000000000NOPE00", GONE)
    done = delete(GONE, OWNER_A)
    assert (done["statusCode"], done["body"]) == (204, "")
    assert world.sites_of_rows() == ({KEPT}, {KEPT}, {KEPT})
