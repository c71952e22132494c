"""In-memory stand-ins for the legacy import: DynamoDB tables as lists of items, and
`sites` / `accounts` as dicts. They are the fakes of the unit tests and pass the same contract
tests as the DynamoDB and PostgreSQL adapters (tests/integration/test_import_dynamodb.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime

import attrs

from analytics_core.errors import SourceUnavailableError
from analytics_core.legacy_import import WriteOutcome, record_timestamps, write_outcome
from analytics_core.legacy_records import AccountRecord, LegacyTableInfo, SiteRecord, WriteCounts
from analytics_core.sites import (
    DEFAULT_PLAN,
    DEFAULT_REQUEST_ALLOWANCE,
    Account,
    ComplianceLevel,
    EmailNotifications,
    Site,
)


class InMemoryLegacyTables:
    """Tables of deserialised items, read in pages of `page_size`."""

    def __init__(
        self,
        tables: Mapping[str, Sequence[Mapping[str, object]]],
        *,
        key_attributes: Mapping[str, Sequence[str]] | None = None,
        page_size: int = 100,
    ) -> None:
        self.tables = {name: list(items) for name, items in tables.items()}
        self.key_attributes = {name: tuple(keys) for name, keys in (key_attributes or {}).items()}
        self.page_size = page_size

    def _items(self, table: str) -> list[Mapping[str, object]]:
        if table not in self.tables:
            raise SourceUnavailableError(f"DynamoDB table {table!r} does not exist", table)
        return self.tables[table]

    def describe(self, table: str) -> LegacyTableInfo:
        """The table's key attributes (as configured) and its exact size."""
        items = self._items(table)
        return LegacyTableInfo(table, self.key_attributes.get(table, ()), len(items))

    def scan(self, table: str) -> Iterator[Sequence[Mapping[str, object]]]:
        """The items, a page at a time."""
        items = self._items(table)
        for start in range(0, len(items), self.page_size):
            yield items[start : start + self.page_size]


class InMemoryLegacyImportTarget:
    """`sites` and `accounts` as dicts of the stored values, with the table defaults."""

    def __init__(self) -> None:
        self.sites: dict[str, Site] = {}
        self.accounts: dict[str, Account] = {}
        self._lock = threading.Lock()

    def write_sites(
        self, records: Sequence[SiteRecord], now: datetime, *, dry_run: bool
    ) -> WriteCounts:
        """Create, update or leave each site by `write_outcome`; count only when `dry_run`."""
        counts = dict.fromkeys(WriteOutcome, 0)
        with self._lock:
            for record in records:
                current = self.sites.get(record.site_id)
                outcome = write_outcome(
                    None if current is None else current.updated_at, record.updated_at
                )
                counts[outcome] += 1
                if dry_run or outcome is WriteOutcome.UNCHANGED:
                    continue
                if current is None:
                    created_at, updated_at = record_timestamps(
                        record.created_at, record.updated_at, now
                    )
                    plan, allowance = DEFAULT_PLAN, DEFAULT_REQUEST_ALLOWANCE
                    level = ComplianceLevel.MAYBE
                else:
                    assert record.updated_at is not None  # noqa: S101  # write_outcome's rule
                    created_at, updated_at = current.created_at, record.updated_at
                    plan, allowance = current.plan, current.request_allowance
                    level = current.compliance_level
                self.sites[record.site_id] = Site(
                    site_id=record.site_id,
                    owner_sub=record.owner_sub,
                    name=record.name,
                    domains=record.domains,
                    plan=plan if record.plan is None else record.plan,
                    request_allowance=(
                        allowance if record.request_allowance is None else record.request_allowance
                    ),
                    compliance_level=(
                        level if record.compliance_level is None else record.compliance_level
                    ),
                    created_at=created_at,
                    updated_at=updated_at,
                )
        return WriteCounts(*(counts[outcome] for outcome in WriteOutcome))

    def write_accounts(
        self, records: Sequence[AccountRecord], now: datetime, *, dry_run: bool
    ) -> WriteCounts:
        """Create, update or leave each account; count only when `dry_run`."""
        counts = dict.fromkeys(WriteOutcome, 0)
        with self._lock:
            for record in records:
                current = self.accounts.get(record.cognito_sub)
                outcome = write_outcome(
                    None if current is None else current.updated_at, record.updated_at
                )
                counts[outcome] += 1
                if dry_run or outcome is WriteOutcome.UNCHANGED:
                    continue
                if current is None:
                    created_at, updated_at = record_timestamps(
                        record.created_at, record.updated_at, now
                    )
                    account = Account(
                        record.cognito_sub, EmailNotifications.DAILY, created_at, updated_at
                    )
                else:
                    assert record.updated_at is not None  # noqa: S101  # write_outcome's rule
                    account = attrs.evolve(current, updated_at=record.updated_at)
                if record.email_notifications is not None:
                    account = attrs.evolve(account, email_notifications=record.email_notifications)
                self.accounts[record.cognito_sub] = account
        return WriteCounts(*(counts[outcome] for outcome in WriteOutcome))
