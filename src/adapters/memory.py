"""In-memory adapters: the fakes of the unit tests and a store for throwaway runs.

They implement the same ports as the PostgreSQL adapters and pass the same contract tests
(tests/contract), so a unit test that passes with them says something about production.
"""

from __future__ import annotations

import threading
from datetime import date, datetime

import attrs

from analytics_core.sites import (
    DEFAULT_PLAN,
    DEFAULT_REQUEST_ALLOWANCE,
    Account,
    EmailNotifications,
    NewSite,
    Site,
)


class InMemorySiteRepository:
    """Sites in a dict, scoped by owner like the real table."""

    def __init__(self) -> None:
        self._sites: dict[str, Site] = {}
        self._lock = threading.Lock()

    def add(self, site: NewSite) -> Site:
        """Store a new site with the default plan and allowance."""
        stored = Site(
            site_id=site.site_id,
            owner_sub=site.owner_sub,
            name=site.name,
            domains=site.domains,
            plan=DEFAULT_PLAN,
            request_allowance=DEFAULT_REQUEST_ALLOWANCE,
            compliance_level=site.compliance_level,
            created_at=site.created_at,
            updated_at=site.created_at,
        )
        with self._lock:
            if site.site_id in self._sites:
                raise ValueError(f"duplicate site id {site.site_id}")
            self._sites[site.site_id] = stored
        return stored

    def list_for_owner(self, owner: str) -> list[Site]:
        """The owner's sites, oldest first."""
        with self._lock:
            mine = [s for s in self._sites.values() if s.owner_sub == owner]
        return sorted(mine, key=lambda s: (s.created_at, s.site_id))

    def get_for_owner(self, owner: str, site_id: str) -> Site | None:
        """The site when it belongs to `owner`."""
        with self._lock:
            site = self._sites.get(site_id)
        return site if site is not None and site.owner_sub == owner else None

    def update(self, site: Site) -> Site | None:
        """Store the owner-editable fields."""
        with self._lock:
            current = self._sites.get(site.site_id)
            if current is None or current.owner_sub != site.owner_sub:
                return None
            stored = attrs.evolve(
                current,
                name=site.name,
                domains=site.domains,
                compliance_level=site.compliance_level,
                updated_at=site.updated_at,
            )
            self._sites[site.site_id] = stored
        return stored

    # Test and local-stack helpers, beyond the port.
    def put(self, site: Site) -> None:
        """Store a complete site as is (plan and allowance included)."""
        with self._lock:
            self._sites[site.site_id] = site

    def all(self) -> list[Site]:
        """Every site, whoever owns it."""
        with self._lock:
            return list(self._sites.values())


class InMemoryAccountRepository:
    """Accounts in a dict."""

    def __init__(self) -> None:
        self._accounts: dict[str, Account] = {}
        self._lock = threading.Lock()

    def get_or_create(self, sub: str, now: datetime) -> Account:
        """The account, created with the defaults on first use."""
        with self._lock:
            account = self._accounts.get(sub)
            if account is None:
                account = Account(sub, EmailNotifications.DAILY, now, now)
                self._accounts[sub] = account
            return account

    def save(self, account: Account) -> Account:
        """Store the preferences, keeping the original creation time."""
        with self._lock:
            current = self._accounts.get(account.cognito_sub)
            stored = (
                account
                if current is None
                else attrs.evolve(
                    current,
                    email_notifications=account.email_notifications,
                    updated_at=account.updated_at,
                )
            )
            self._accounts[account.cognito_sub] = stored
            return stored


class InMemoryEventPartitions:
    """Partition bookkeeping without a database: which days exist, what was done."""

    def __init__(self, days: set[date] | None = None) -> None:
        self.days: set[date] = set(days or ())
        self.default_rows: list[date] = []

    def existing_days(self) -> set[date]:
        """The days that have a partition."""
        return set(self.days)

    def create_day(self, day: date) -> None:
        """Add the day (rows of that day in the default partition move in)."""
        self.days.add(day)
        self.default_rows = [d for d in self.default_rows if d != day]

    def drop_day(self, day: date) -> None:
        """Remove the day."""
        self.days.discard(day)

    def expire_before(self, day: date) -> int:
        """Forget default-partition rows dated before `day`."""
        kept = [d for d in self.default_rows if d >= day]
        expired = len(self.default_rows) - len(kept)
        self.default_rows = kept
        return expired
