"""In-memory adapters: the fakes of the unit tests and a store for throwaway runs.

They implement the same ports as the PostgreSQL and AWS adapters and pass the same contract
tests (tests/support/contracts.py lists them per port, and a unit test checks that every port
and adapter is listed), so a unit test that passes with them says something about production.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import date, datetime

import attrs

from analytics_core.allowance import Plan, split_by_allowance
from analytics_core.envelopes import Geo
from analytics_core.errors import (
    ColdForwardError,
    InfrastructureError,
    NotFoundError,
    StoreUnavailableError,
)
from analytics_core.outcomes import Outcome, OutcomeTally, SiteConfig
from analytics_core.privacy import SALT_BYTES
from analytics_core.rows import EventRow, InitialEventRow, Row
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
            timezone=site.timezone,
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
                timezone=site.timezone,
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

    def remove(self, site_id: str) -> Site | None:
        """Forget a site (whoever owns it); returns it, None when it was not there."""
        with self._lock:
            return self._sites.pop(site_id, None)


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
    """Partition bookkeeping without a database: which days exist (no rows are kept, so none
    ever sit outside a daily partition)."""

    def __init__(self, days: set[date] | None = None) -> None:
        self.days: set[date] = set(days or ())

    def existing_days(self) -> set[date]:
        """The days that have a partition."""
        return set(self.days)

    def create_day(self, day: date) -> None:
        """Add the day."""
        self.days.add(day)

    def drop_day(self, day: date) -> None:
        """Remove the day."""
        self.days.discard(day)

    def expire_before(self, day: date) -> int:  # noqa: ARG002  # the port's signature
        """Nothing to delete: there are no rows outside daily partitions here."""
        return 0


class InMemorySiteConfigs:
    """`SiteConfigs` over an in-memory site repository (always fresh)."""

    def __init__(self, sites: InMemorySiteRepository) -> None:
        self._sites = sites

    def load(self, site_ids: Collection[str]) -> dict[str, SiteConfig]:
        """The configs of the sites that exist."""
        wanted = set(site_ids)
        return {
            site.site_id: SiteConfig(site.site_id, site.domains, site.compliance_level)
            for site in self._sites.all()
            if site.site_id in wanted
        }


class InMemoryEventStore:
    """`EventStore` in dicts, charging the allowances of an in-memory site repository.

    Set `unavailable` to make every call fail as a database outage would, storing nothing.
    """

    def __init__(self, sites: InMemorySiteRepository) -> None:
        self._sites = sites
        self._lock = threading.Lock()
        self.events: dict[tuple[str, date], EventRow] = {}
        self.initial_events: dict[tuple[str, date], InitialEventRow] = {}
        self.outcomes: Counter[tuple[str, date, Outcome]] = Counter()
        self.unavailable = False

    def store(
        self,
        rows: Iterable[Row],
        rejected: Iterable[OutcomeTally],
        *,
        expected: Mapping[str, int] | None = None,
    ) -> list[Outcome]:
        """Insert new rows within allowance; see the port for the rules."""
        rows = list(rows)  # `expected` is only a hint: this store writes at the end
        rejected = list(rejected)
        if expected is not None and not {row.site_id for row in rows} <= set(expected):
            raise ValueError("a row of a site not in `expected`")
        if self.unavailable:
            raise StoreUnavailableError("database unavailable: in-memory outage")
        with self._lock:
            sites = {site.site_id: site for site in self._sites.all()}
            outcomes, new = self._classify(rows, sites)
            new_site_ids = [rows[index].site_id for index in new]
            split = split_by_allowance(
                new_site_ids,
                {site_id: site.request_allowance for site_id, site in sites.items()},
            )
            for position in split.admitted:
                self._insert(rows[new[position]])
                outcomes[new[position]] = Outcome.ACCEPTED
            for position in split.excess:
                outcomes[new[position]] = Outcome.OVER_ALLOWANCE
            for site_id, charge in split.charges(new_site_ids).items():
                site = sites[site_id]
                self._sites.put(
                    attrs.evolve(site, request_allowance=site.request_allowance - charge)
                )
            for row, outcome in zip(rows, outcomes, strict=True):
                if outcome is not Outcome.UNKNOWN_SITE:
                    self.outcomes[row.site_id, row.dt, outcome] += 1
            for tally in rejected:
                if tally.site_id in sites:
                    self.outcomes[tally.site_id, tally.day, tally.outcome] += tally.count
            return outcomes

    def _classify(
        self, rows: Sequence[Row], sites: Mapping[str, Site]
    ) -> tuple[list[Outcome], list[int]]:
        """Outcomes so far (unknown site, duplicate) and the indexes of the new rows."""
        outcomes: list[Outcome] = [Outcome.DUPLICATE] * len(rows)
        new: list[int] = []
        seen: set[tuple[str, date]] = set()
        for index, row in enumerate(rows):
            key = (row.event_uid, row.dt)
            if row.site_id not in sites:
                outcomes[index] = Outcome.UNKNOWN_SITE
            elif key not in self.events and key not in self.initial_events and key not in seen:
                seen.add(key)
                new.append(index)
        return outcomes, new

    def _insert(self, row: Row) -> None:
        if isinstance(row, InitialEventRow):
            self.initial_events[row.event_uid, row.dt] = row
        else:
            self.events[row.event_uid, row.dt] = row

    def all_rows(self) -> list[Row]:
        """Every stored row, events and initial events."""
        with self._lock:
            return [*self.events.values(), *self.initial_events.values()]


class InMemoryIngestOutcomes:
    """`IngestOutcomes` over the counters of an `InMemoryEventStore` (or a counter of its own,
    which `add` fills)."""

    def __init__(self, store: InMemoryEventStore | None = None) -> None:
        self._counts: Counter[tuple[str, date, Outcome]] = (
            Counter() if store is None else store.outcomes
        )

    def add(self, tally: OutcomeTally) -> None:
        """Count `tally` (what a store's `store` would have done)."""
        self._counts[tally.site_id, tally.day, tally.outcome] += tally.count

    def tallies(self, site_id: str, start: date, end: date) -> list[OutcomeTally]:
        """The site's non-zero counts of days `start`..`end`, by day then outcome."""
        found = [
            OutcomeTally(site, day, outcome, count)
            for (site, day, outcome), count in list(self._counts.items())
            if site == site_id and start <= day <= end and count > 0
        ]
        return sorted(found, key=lambda tally: (tally.day, tally.outcome.value))


class InMemoryPlans:
    """`Plans` in a dict, over the sites of an in-memory site repository (seeded like the
    migration: `free_tier` with 10,000 a month)."""

    def __init__(self, sites: InMemorySiteRepository) -> None:
        self._sites = sites
        self._plans = {DEFAULT_PLAN: DEFAULT_REQUEST_ALLOWANCE}
        self._lock = threading.Lock()

    def list_plans(self) -> list[Plan]:
        """Every plan, by name."""
        with self._lock:
            return [Plan(name, n) for name, n in sorted(self._plans.items())]

    def save_plan(self, plan: Plan) -> None:
        """Create or change the plan; its sites show the new monthly allowance."""
        with self._lock:
            self._plans[plan.plan] = plan.monthly_allowance
            for site in self._sites.all():
                if site.plan == plan.plan:
                    self._sites.put(attrs.evolve(site, monthly_allowance=plan.monthly_allowance))

    def assign(self, site_id: str, plan: str) -> bool:
        """Put the site on an existing plan; False without such a site."""
        with self._lock:
            if plan not in self._plans:
                raise NotFoundError("plan", plan)
            found = [site for site in self._sites.all() if site.site_id == site_id]
            for site in found:
                changed = attrs.evolve(site, plan=plan, monthly_allowance=self._plans[plan])
                self._sites.put(changed)
            return bool(found)

    def start_periods(self, first_day: date, batch_size: int) -> int:
        """Renew up to `batch_size` due sites, in site-id order."""
        with self._lock:
            due = sorted(
                (
                    site
                    for site in self._sites.all()
                    if site.allowance_period_start < first_day and site.plan in self._plans
                ),
                key=lambda site: site.site_id,
            )[:batch_size]
            for site in due:
                allowance = self._plans[site.plan]
                self._sites.put(
                    attrs.evolve(
                        site,
                        request_allowance=allowance,
                        monthly_allowance=allowance,
                        allowance_period_start=first_day,
                    )
                )
            return len(due)


class InMemoryDailySalts:
    """`DailySalts` in a dict; `random_bytes` is the source of new salts."""

    def __init__(self, random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> None:
        self._random_bytes = random_bytes
        self._lock = threading.Lock()
        self.salts: dict[date, bytes] = {}

    def salt_for(self, day: date) -> bytes:
        """The day's salt, created on first use."""
        with self._lock:
            salt = self.salts.get(day)
            if salt is None:
                salt = self.salts[day] = self._random_bytes(SALT_BYTES)
            return salt

    def delete_before(self, day: date) -> int:
        """Forget the salts of days before `day`."""
        with self._lock:
            old = [known for known in self.salts if known < day]
            for known in old:
                del self.salts[known]
            return len(old)


class InMemoryColdForwarder:
    """`ColdForwarder` into lists; the first `failures` calls fail as Firehose would."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.events: list[EventRow] = []
        self.initial_events: list[InitialEventRow] = []
        self.calls = 0

    @staticmethod
    def prepare(row: Row) -> Row:
        """The row itself."""
        return row

    def forward(
        self, events: Sequence[EventRow], initial_events: Sequence[InitialEventRow]
    ) -> None:
        """Keep the rows (or fail while `failures` is positive)."""
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise ColdForwardError("cold store refused the rows", len(events) + len(initial_events))
        self.events.extend(events)
        self.initial_events.extend(initial_events)


class InMemoryIngestStream:
    """`IngestStream` into a list; set `refusing` to make `put` fail as Firehose would."""

    def __init__(self) -> None:
        self.records: list[bytes] = []
        self.refusing = False

    def put(self, record: bytes) -> None:
        """Keep the record (or refuse it)."""
        if self.refusing:
            raise InfrastructureError("ingest stream refused the record")
        self.records.append(record)


class InMemoryGeoLookup:
    """`GeoLookup` from a fixed table of addresses."""

    def __init__(self, locations: Mapping[str, Geo]) -> None:
        self._locations = dict(locations)

    def lookup(self, ip: str) -> Geo | None:
        """The address's location when the table has it."""
        return self._locations.get(ip)


class InMemoryHotCoverage:
    """`HotCoverage` in a variable."""

    def __init__(self, since: date | None = None) -> None:
        self._since = since
        self._lock = threading.Lock()

    def since(self) -> date | None:
        """The current value."""
        return self._since

    def set_since(self, day: date | None) -> None:
        """Set the value."""
        with self._lock:
            self._since = day

    def move_back(self, day: date) -> date | None:
        """Set `day` when it is earlier (None stays None); the value now."""
        with self._lock:
            if self._since is not None and day < self._since:
                self._since = day
            return self._since
