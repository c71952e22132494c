"""The sites' time zone in both repositories (the `SiteRepository` contract): stored on
creation, `UTC` by default, changed by an update, scoped by owner like every other field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from adapters.memory import InMemorySiteRepository
from adapters.postgres.sites import PostgresSiteRepository
from analytics_core.ports import SiteRepository
from analytics_core.sites import ComplianceLevel, NewSite

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "postgres"])
def site_repo(request: pytest.FixtureRequest) -> SiteRepository:
    if request.param == "memory":
        return InMemorySiteRepository()
    return PostgresSiteRepository(request.getfixturevalue("db"))


def new_site(site_id: str, timezone: str | None = None) -> NewSite:
    site = NewSite(site_id, "owner", "A site", ("a.example",), ComplianceLevel.MAYBE, NOW)
    return site if timezone is None else attrs.evolve(site, timezone=timezone)


def test_a_sites_time_zone_is_stored_utc_by_default_and_changed_by_an_update(
    site_repo: SiteRepository,
) -> None:
    """A new site keeps the zone it is given (UTC when none), every read returns it, and an
    update changes it (and only the owner's update does)."""
    default = site_repo.add(new_site("S1"))
    assert default.timezone == "UTC"
    berlin = site_repo.add(new_site("S2", "Europe/Berlin"))
    assert berlin.timezone == "Europe/Berlin"
    assert site_repo.get_for_owner("owner", "S2") == berlin
    assert [s.timezone for s in site_repo.list_for_owner("owner")] == ["UTC", "Europe/Berlin"]

    later = NOW + timedelta(hours=1)
    assert site_repo.update(attrs.evolve(berlin, owner_sub="intruder", timezone="UTC")) is None
    changed = site_repo.update(attrs.evolve(berlin, timezone="America/New_York", updated_at=later))
    assert changed is not None
    assert (changed.timezone, changed.updated_at, changed.name) == (
        "America/New_York",
        later,
        "A site",
    )
    assert site_repo.get_for_owner("owner", "S2") == changed
    assert site_repo.get_for_owner("owner", "S1") == default
