"""The DynamoDB version's sites and preferences as rows of the new tables, and what writing
them did (values only; the mapping and the import are in `legacy_import`)."""

from __future__ import annotations

from datetime import datetime

import attrs

from analytics_core.sites import ComplianceLevel, EmailNotifications


@attrs.frozen
class SiteRecord:
    """A legacy site mapped onto a `sites` row; None means the item did not say (the table's
    default on insert, the row's value on update)."""

    site_id: str
    owner_sub: str
    name: str
    domains: tuple[str, ...]
    plan: str | None
    request_allowance: int | None
    compliance_level: ComplianceLevel | None
    created_at: datetime | None
    updated_at: datetime | None

    @property
    def key(self) -> str:
        """The row's primary key."""
        return self.site_id


@attrs.frozen
class AccountRecord:
    """A legacy preferences item mapped onto an `accounts` row (None: as for `SiteRecord`)."""

    cognito_sub: str
    email_notifications: EmailNotifications | None
    created_at: datetime | None
    updated_at: datetime | None

    @property
    def key(self) -> str:
        """The row's primary key."""
        return self.cognito_sub


@attrs.frozen
class WriteCounts:
    """Rows created, updated and left unchanged by writing some records."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: WriteCounts) -> WriteCounts:
        return WriteCounts(
            self.created + other.created,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


@attrs.frozen
class LegacyTableInfo:
    """What the source says about a table before it is read."""

    name: str
    key_attributes: tuple[str, ...]
    estimated_items: int | None
