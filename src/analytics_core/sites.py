"""Sites and accounts: the values and their rules (the use cases behind /api/sites and
/api/accounts are in `management`).

A site belongs to one owner (the Cognito `sub`); to anyone else it does not exist. Plan and
request allowance are managed by billing (operators: `analytics sites set-plan`, `analytics
plans`), never by the owner through this API; the allowance is renewed monthly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from enum import IntEnum, StrEnum

import attrs

from analytics_core.allowance import period_start
from analytics_core.domains import DomainError, normalise_domain
from analytics_core.errors import InvalidRequestError
from analytics_core.stats import DEFAULT_TIMEZONE

DEFAULT_PLAN = "free_tier"
DEFAULT_REQUEST_ALLOWANCE = 10_000
MAX_NAME_LENGTH = 100
MAX_DOMAINS = 50


class ComplianceLevel(IntEnum):
    """How much privacy regulation applies to a site's visitors (see the brief's table)."""

    REQUIRED = 0
    MAYBE = 1
    NOT_REQUIRED = 2


class EmailNotifications(StrEnum):
    """How often an account wants its summary e-mail."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    NEVER = "never"


@attrs.frozen
class Site:
    """A registered site as stored."""

    site_id: str
    owner_sub: str
    name: str
    domains: tuple[str, ...]
    plan: str
    request_allowance: int
    compliance_level: ComplianceLevel
    created_at: datetime
    updated_at: datetime
    allowance_period_start: date = attrs.field()
    """The first day (UTC) of the current allowance period (by default the creation month's)."""
    monthly_allowance: int | None = DEFAULT_REQUEST_ALLOWANCE
    """The plan's monthly allowance as read with the site (None: the plan is not in `plans`)."""
    timezone: str = DEFAULT_TIMEZONE
    """The IANA time zone of the site's days and buckets in stats queries."""

    @allowance_period_start.default
    def _creation_period(self) -> date:
        return period_start(self.created_at.astimezone(UTC).date())


@attrs.frozen
class NewSite:
    """A site about to be stored; plan and allowance take the store's defaults."""

    site_id: str
    owner_sub: str
    name: str
    domains: tuple[str, ...]
    compliance_level: ComplianceLevel
    created_at: datetime
    timezone: str = DEFAULT_TIMEZONE


@attrs.frozen
class SiteDraft:
    """What an owner sends to create a site (shape already checked at the edge)."""

    name: str
    domains: Sequence[str]
    compliance_level: int = int(ComplianceLevel.MAYBE)
    timezone: str = DEFAULT_TIMEZONE


@attrs.frozen
class SiteChanges:
    """What an owner sends to change a site; None leaves a field as it is."""

    name: str | None = None
    domains: Sequence[str] | None = None
    compliance_level: int | None = None
    timezone: str | None = None

    def is_empty(self) -> bool:
        """Whether the request changes nothing at all."""
        return (
            self.name is None
            and self.domains is None
            and self.compliance_level is None
            and self.timezone is None
        )


@attrs.frozen
class Account:
    """An account's preferences, keyed by the Cognito `sub`."""

    cognito_sub: str
    email_notifications: EmailNotifications
    created_at: datetime
    updated_at: datetime


# ---------------------------------------------------------------- rules


def check_name(name: str, field: str = "name") -> str:
    """A site name without surrounding blanks, 1 to 100 characters, printable."""
    cleaned = name.strip()
    if not cleaned:
        raise InvalidRequestError.for_field(field, "must not be empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidRequestError.for_field(field, f"at most {MAX_NAME_LENGTH} characters")
    if any(not ch.isprintable() for ch in cleaned):
        raise InvalidRequestError.for_field(field, "must not contain control characters")
    return cleaned


def check_domains(domains: Sequence[str], field: str = "domains") -> tuple[str, ...]:
    """The normalised domains, 1 to 50 of them, each valid and none repeated."""
    if not domains:
        raise InvalidRequestError.for_field(field, "at least one domain is required")
    if len(domains) > MAX_DOMAINS:
        raise InvalidRequestError.for_field(field, f"at most {MAX_DOMAINS} domains")
    normalised: list[str] = []
    for index, raw in enumerate(domains):
        try:
            domain = normalise_domain(raw)
        except DomainError as exc:
            raise InvalidRequestError.for_field(field, f"item {index} ({raw!r}): {exc}") from None
        if domain in normalised:
            raise InvalidRequestError.for_field(field, f"item {index}: duplicate of {domain!r}")
        normalised.append(domain)
    return tuple(normalised)


def check_compliance_level(level: int, field: str = "complianceLevel") -> ComplianceLevel:
    """One of 0 (compliance required), 1 (maybe), 2 (not required)."""
    try:
        return ComplianceLevel(level)
    except ValueError:
        raise InvalidRequestError.for_field(field, "must be 0, 1 or 2") from None


def check_email_notifications(value: str, field: str = "emailNotifications") -> EmailNotifications:
    """One of daily, weekly, monthly, never."""
    try:
        return EmailNotifications(value)
    except ValueError:
        choices = ", ".join(e.value for e in EmailNotifications)
        raise InvalidRequestError.for_field(field, f"must be one of {choices}") from None
