"""Sites and accounts: the values, their rules, and the use cases behind /api/sites and
/api/accounts.

A site belongs to one owner (the Cognito `sub`); to anyone else it does not exist. Plan and
request allowance are managed by billing, never by the owner through this API.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import TypeVar

import attrs

from analytics_core.domains import DomainError, normalise_domain
from analytics_core.errors import InvalidRequestError, NotFoundError
from analytics_core.ports import AccountRepository, Clock, IdGenerator, SiteRepository

_T = TypeVar("_T")
_R = TypeVar("_R")

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


@attrs.frozen
class NewSite:
    """A site about to be stored; plan and allowance take the store's defaults."""

    site_id: str
    owner_sub: str
    name: str
    domains: tuple[str, ...]
    compliance_level: ComplianceLevel
    created_at: datetime


@attrs.frozen
class SiteDraft:
    """What an owner sends to create a site (shape already checked at the edge)."""

    name: str
    domains: Sequence[str]
    compliance_level: int = int(ComplianceLevel.MAYBE)


@attrs.frozen
class SiteChanges:
    """What an owner sends to change a site; None leaves a field as it is."""

    name: str | None = None
    domains: Sequence[str] | None = None
    compliance_level: int | None = None

    def is_empty(self) -> bool:
        """Whether the request changes nothing at all."""
        return self.name is None and self.domains is None and self.compliance_level is None


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


# ---------------------------------------------------------------- use cases


def _checked(problems: dict[str, str], check: Callable[[_T], _R], value: _T) -> _R | None:
    """Run one rule, collecting its complaint so that a response can name every bad field."""
    try:
        return check(value)
    except InvalidRequestError as exc:
        problems.update(exc.fields)
        return None


def create_site(
    sites: SiteRepository, clock: Clock, new_id: IdGenerator, owner: str, draft: SiteDraft
) -> Site:
    """Register a new site for `owner`, with a fresh ULID and the default plan."""
    problems: dict[str, str] = {}
    name = _checked(problems, check_name, draft.name)
    domains = _checked(problems, check_domains, draft.domains)
    level = _checked(problems, check_compliance_level, draft.compliance_level)
    if name is None or domains is None or level is None:
        raise InvalidRequestError("invalid site", problems)
    return sites.add(
        NewSite(
            site_id=new_id(),
            owner_sub=owner,
            name=name,
            domains=domains,
            compliance_level=level,
            created_at=clock(),
        )
    )


def list_sites(sites: SiteRepository, owner: str) -> list[Site]:
    """The owner's sites, oldest first."""
    return sites.list_for_owner(owner)


def get_site(sites: SiteRepository, owner: str, site_id: str) -> Site:
    """One of the owner's sites; someone else's is `NotFoundError` exactly like a missing one."""
    site = sites.get_for_owner(owner, site_id)
    if site is None:
        raise NotFoundError("site", site_id)
    return site


def update_site(
    sites: SiteRepository, clock: Clock, owner: str, site_id: str, changes: SiteChanges
) -> Site:
    """Apply an owner's changes to name, domains and compliance level; bumps `updated_at`."""
    if changes.is_empty():
        raise InvalidRequestError("nothing to update: send name, domains or complianceLevel")
    problems: dict[str, str] = {}
    name = None if changes.name is None else _checked(problems, check_name, changes.name)
    domains = (
        None if changes.domains is None else _checked(problems, check_domains, changes.domains)
    )
    level = (
        None
        if changes.compliance_level is None
        else _checked(problems, check_compliance_level, changes.compliance_level)
    )
    if problems:
        raise InvalidRequestError("invalid site", problems)
    current = get_site(sites, owner, site_id)
    updated = attrs.evolve(
        current,
        name=current.name if name is None else name,
        domains=current.domains if domains is None else domains,
        compliance_level=current.compliance_level if level is None else level,
        updated_at=clock(),
    )
    stored = sites.update(updated)
    if stored is None:  # deleted or changed hands between the read and the write
        raise NotFoundError("site", site_id)
    return stored


def get_account(accounts: AccountRepository, clock: Clock, sub: str) -> Account:
    """The caller's account, created with the defaults on first read."""
    return accounts.get_or_create(sub, clock())


def update_account(
    accounts: AccountRepository, clock: Clock, sub: str, email_notifications: str
) -> Account:
    """Change the caller's e-mail preference (creating the account if needed)."""
    choice = check_email_notifications(email_notifications)
    current = accounts.get_or_create(sub, clock())
    return accounts.save(attrs.evolve(current, email_notifications=choice, updated_at=clock()))
