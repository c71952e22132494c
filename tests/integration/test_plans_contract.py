"""The `Plans` contract, run against the in-memory fake and PostgreSQL: plans are listed and
saved, a site is put on an existing plan only, and a new period renews each due site once,
in batches, leaving sites of an unknown plan alone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import attrs
import psycopg
import pytest

from adapters.memory import InMemoryPlans, InMemorySiteRepository
from adapters.postgres.plans import PostgresPlans
from adapters.postgres.sites import PostgresSiteRepository
from analytics_core.allowance import Plan
from analytics_core.errors import NotFoundError
from analytics_core.ports import Plans, SiteRepository
from analytics_core.sites import ComplianceLevel, Site

OCTOBER = datetime(2026, 10, 14, 9, 0, tzinfo=UTC)
DECEMBER = date(2026, 12, 1)
SITES = tuple(f"01JDQ7ZK3M0000000000PLAN{n:02d}" for n in range(5))


@attrs.define
class World:
    """A `Plans` and a way to put sites in place and read them back."""

    plans: Plans
    sites: SiteRepository

    def site(self, site_id: str) -> tuple[str, int, date, int | None]:
        found = self.sites.get_for_owner("plans-owner", site_id)
        assert found is not None
        return (
            found.plan,
            found.request_allowance,
            found.allowance_period_start,
            found.monthly_allowance,
        )


def _memory() -> World:
    sites = InMemorySiteRepository()
    for site_id in SITES:
        sites.put(
            Site(
                site_id,
                "plans-owner",
                "n",
                ("example.com",),
                "free_tier",
                0,
                ComplianceLevel.MAYBE,
                OCTOBER,
                OCTOBER,
            )
        )
    return World(InMemoryPlans(sites), sites)


def _postgres(request: pytest.FixtureRequest) -> World:
    pool = request.getfixturevalue("db")
    url = request.getfixturevalue("database_url")
    with psycopg.connect(url, autocommit=True) as conn:
        for site_id in SITES:
            conn.execute(
                "INSERT INTO sites (site_id, owner_sub, name, domains, request_allowance,"
                " created_at, updated_at, allowance_period_start)"
                " VALUES (%s, 'plans-owner', 'n', ARRAY['example.com'], 0, %s, %s, %s)",
                (site_id, OCTOBER, OCTOBER, date(2026, 10, 1)),
            )
    return World(PostgresPlans(pool), PostgresSiteRepository(pool))


@pytest.fixture(params=["memory", "postgres"])
def world(request: pytest.FixtureRequest) -> World:
    """Five sites of `free_tier` whose October period used up their allowance."""
    return _memory() if request.param == "memory" else _postgres(request)


def test_plans_are_listed_saved_and_assigned(world: World) -> None:
    """The seeded free tier, a new plan and a changed one are listed by name; a site moves to
    an existing plan only; a missing site is False."""
    assert world.plans.list_plans() == [Plan("free_tier", 10_000)]
    world.plans.save_plan(Plan("pro", 100_000))
    world.plans.save_plan(Plan("free_tier", 5_000))
    assert world.plans.list_plans() == [Plan("free_tier", 5_000), Plan("pro", 100_000)]
    assert world.plans.assign(SITES[0], "pro") is True
    assert world.site(SITES[0])[0] == "pro"
    assert world.site(SITES[0])[3] == 100_000
    assert world.site(SITES[1])[3] == 5_000
    assert world.plans.assign("01JDQ7ZK3M0000000000MISSNG", "pro") is False
    with pytest.raises(NotFoundError):
        world.plans.assign(SITES[0], "no-such-plan")


def test_a_new_period_renews_each_due_site_once_in_batches(world: World) -> None:
    """Batches of two renew the five due sites (2 + 2 + 1), then nothing is due; each site
    has its plan's allowance and the new period start."""
    world.plans.save_plan(Plan("pro", 100_000))
    world.plans.assign(SITES[4], "pro")
    assert [world.plans.start_periods(DECEMBER, 2) for _ in range(4)] == [2, 2, 1, 0]
    for site_id in SITES[:4]:
        assert world.site(site_id)[1:3] == (10_000, DECEMBER)
    assert world.site(SITES[4])[1:3] == (100_000, DECEMBER)
