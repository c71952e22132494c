"""One contract, two implementations: the in-memory fakes behave like PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from adapters.memory import InMemoryAccountRepository, InMemorySiteRepository
from adapters.postgres.pool import Pool
from adapters.postgres.sites import PostgresAccountRepository, PostgresSiteRepository
from analytics_core.ports import AccountRepository, SiteRepository
from analytics_core.sites import ComplianceLevel, EmailNotifications, NewSite

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "postgres"])
def site_repo(request: pytest.FixtureRequest) -> SiteRepository:
    if request.param == "memory":
        return InMemorySiteRepository()
    return PostgresSiteRepository(request.getfixturevalue("db"))


@pytest.fixture(params=["memory", "postgres"])
def account_repo(request: pytest.FixtureRequest) -> AccountRepository:
    if request.param == "memory":
        return InMemoryAccountRepository()
    pool: Pool = request.getfixturevalue("db")
    return PostgresAccountRepository(pool)


def new_site(site_id: str, owner: str, minutes: int = 0) -> NewSite:
    return NewSite(
        site_id,
        owner,
        f"site {site_id}",
        ("a.example", "b.example"),
        ComplianceLevel.REQUIRED,
        NOW + timedelta(minutes=minutes),
    )


def test_add_applies_defaults_and_round_trips(site_repo: SiteRepository) -> None:
    """A stored site comes back with plan free_tier, allowance 10000 and equal timestamps."""
    stored = site_repo.add(new_site("S1", "owner"))
    assert (stored.plan, stored.request_allowance) == ("free_tier", 10000)
    assert stored.created_at == stored.updated_at == NOW
    assert stored.domains == ("a.example", "b.example")
    assert site_repo.get_for_owner("owner", "S1") == stored


def test_scoping_by_owner(site_repo: SiteRepository) -> None:
    """Reads and updates by another owner see nothing and change nothing."""
    stored = site_repo.add(new_site("S1", "owner"))
    assert site_repo.get_for_owner("intruder", "S1") is None
    assert site_repo.list_for_owner("intruder") == []
    assert site_repo.update(attrs.evolve(stored, owner_sub="intruder", name="x")) is None
    assert site_repo.get_for_owner("owner", "S1") == stored


def test_list_is_oldest_first(site_repo: SiteRepository) -> None:
    """Sites list in creation order."""
    site_repo.add(new_site("S2", "owner", minutes=5))
    site_repo.add(new_site("S1", "owner", minutes=1))
    site_repo.add(new_site("S3", "other"))
    assert [s.site_id for s in site_repo.list_for_owner("owner")] == ["S1", "S2"]


def test_update_changes_only_editable_fields(site_repo: SiteRepository) -> None:
    """Update stores name, domains, level and updated_at; never plan, allowance or created_at."""
    stored = site_repo.add(new_site("S1", "owner"))
    later = NOW + timedelta(hours=1)
    attempt = attrs.evolve(
        stored,
        name="renamed",
        domains=("c.example",),
        compliance_level=ComplianceLevel.NOT_REQUIRED,
        updated_at=later,
        plan="enterprise",
        request_allowance=10**9,
        created_at=later,
    )
    updated = site_repo.update(attempt)
    assert updated is not None
    assert (updated.name, updated.domains, updated.compliance_level, updated.updated_at) == (
        "renamed",
        ("c.example",),
        ComplianceLevel.NOT_REQUIRED,
        later,
    )
    assert (updated.plan, updated.request_allowance, updated.created_at) == (
        "free_tier",
        10000,
        NOW,
    )


def test_accounts_get_or_create_and_save(account_repo: AccountRepository) -> None:
    """get_or_create inserts once with daily notifications; save keeps created_at."""
    first = account_repo.get_or_create("sub", NOW)
    assert first.email_notifications is EmailNotifications.DAILY
    assert account_repo.get_or_create("sub", NOW + timedelta(days=1)) == first
    saved = account_repo.save(
        attrs.evolve(
            first,
            email_notifications=EmailNotifications.MONTHLY,
            updated_at=NOW + timedelta(hours=2),
        )
    )
    assert saved.email_notifications is EmailNotifications.MONTHLY
    assert saved.created_at == NOW
    assert account_repo.get_or_create("sub", NOW) == saved
