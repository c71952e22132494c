"""The use cases behind /api/sites and /api/accounts: register, list, read and change a site;
read and change an account's preferences. The values and their rules are in `sites`.

A site belongs to one owner (the Cognito `sub`); to anyone else it does not exist, so someone
else's site is `NotFoundError` exactly like a missing one.

A site's time zone (IANA, `UTC` by default) makes its stats days and hours local. Changing it
drops the part of the site's hot read model kept by local day (`ReadModel.forget_local_days`,
the fact blocks), which the next reads rebuild in the new zone; the rollups are by UTC day
and stay. (A full rebuild within the request was measured at 1.6 s for a site of 10k events
and grows with the site: a big site could never have changed its zone within the API's 29 s.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import attrs

from analytics_core.deletions import DeletionRequest
from analytics_core.errors import InfrastructureError, InvalidRequestError, NotFoundError
from analytics_core.ports import (
    AccountRepository,
    Clock,
    ColdSiteEraser,
    IdGenerator,
    ReadModel,
    SiteDeletions,
    SiteRepository,
)
from analytics_core.sites import (
    Account,
    NewSite,
    Site,
    SiteChanges,
    SiteDraft,
    check_compliance_level,
    check_domains,
    check_email_notifications,
    check_name,
)
from analytics_core.stats import check_timezone

_T = TypeVar("_T")
_R = TypeVar("_R")


def check_site_timezone(name: str, field: str = "timezone") -> str:
    """An IANA time zone name (`UTC` included), as given."""
    try:
        return check_timezone(name)
    except ValueError as exc:
        raise InvalidRequestError.for_field(field, str(exc)) from None


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
    timezone = _checked(problems, check_site_timezone, draft.timezone)
    if name is None or domains is None or level is None or timezone is None:
        raise InvalidRequestError("invalid site", problems)
    return sites.add(
        NewSite(
            site_id=new_id(),
            owner_sub=owner,
            name=name,
            domains=domains,
            compliance_level=level,
            created_at=clock(),
            timezone=timezone,
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
    sites: SiteRepository,
    clock: Clock,
    owner: str,
    site_id: str,
    changes: SiteChanges,
    *,
    read_model: ReadModel | None = None,
) -> Site:
    """Apply an owner's changes to name, domains, compliance level and time zone; bumps
    `updated_at`. A change of time zone drops what the site's read model keeps by local day
    (`read_model`, which the caller must give when `changes` names a zone); when that fails,
    the site is put back as it was and the error goes up."""
    if changes.is_empty():
        raise InvalidRequestError(
            "nothing to update: send name, domains, complianceLevel or timezone"
        )
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
    timezone = (
        None
        if changes.timezone is None
        else _checked(problems, check_site_timezone, changes.timezone)
    )
    if problems:
        raise InvalidRequestError("invalid site", problems)
    current = get_site(sites, owner, site_id)
    updated = attrs.evolve(
        current,
        name=current.name if name is None else name,
        domains=current.domains if domains is None else domains,
        compliance_level=current.compliance_level if level is None else level,
        timezone=current.timezone if timezone is None else timezone,
        updated_at=clock(),
    )
    stored = _stored(sites, updated)
    if stored.timezone != current.timezone:
        if read_model is None:
            raise TypeError("a change of time zone needs the read model")
        try:
            read_model.forget_local_days([site_id])
        except InfrastructureError:
            _stored(sites, current)  # the request had no effect: it can simply be retried
            raise
    return stored


def _stored(sites: SiteRepository, site: Site) -> Site:
    stored = sites.update(site)
    if stored is None:  # deleted or changed hands between the read and the write
        raise NotFoundError("site", site.site_id)
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


LATE_DELIVERY = timedelta(minutes=20)
"""How long after a deletion rows of the site may still reach the cold store: a batch stored
just before the deletion is forwarded after its commit, and Firehose buffers rows up to 15
minutes before the Iceberg commit (the local stream, seconds). A cold erasure is final only
when it runs at least this long after the request; an earlier one (the one right after the
request) erases what is there and leaves the job pending for the next maintenance run."""


def delete_site(
    deletions: SiteDeletions, cold: ColdSiteEraser, clock: Clock, owner: str, site_id: str
) -> bool:
    """Delete one of the owner's sites with all its data: the site and its hot rows at once
    (from then on its events are `unknown_site`), then its cold rows, as a job that is
    recorded first so that a failure, a timeout or a late delivery leaves it pending for the
    daily maintenance (`retry_site_deletions`). Returns whether the cold rows there are now
    were erased. Someone else's site is `NotFoundError` exactly like a missing one."""
    requested_at = clock()
    if not deletions.delete_hot(owner, site_id, requested_at):
        raise NotFoundError("site", site_id)
    return erase_cold_rows(deletions, cold, clock, DeletionRequest(site_id, requested_at))


def erase_cold_rows(
    deletions: SiteDeletions, cold: ColdSiteEraser, clock: Clock, request: DeletionRequest
) -> bool:
    """One attempt at a deleted site's cold rows; whether it succeeded. A success at least
    `LATE_DELIVERY` after the request finishes the job; a failure is recorded on it (an
    expected outcome here, not an error: the job stays pending)."""
    try:
        cold.erase(request.site_id)
    except InfrastructureError as exc:
        deletions.cold_failed(request.site_id, exc.message)
        return False
    now = clock()
    if now - request.requested_at >= LATE_DELIVERY:
        deletions.cold_done(request.site_id, now)
    return True


@attrs.frozen
class DeletionRetries:
    """What a retry of the pending cold deletions did: the sites done, those erased again but
    still within the late-delivery window, and those whose erasure failed."""

    done: tuple[str, ...]
    waiting: tuple[str, ...]
    failed: tuple[str, ...]


def retry_site_deletions(
    deletions: SiteDeletions, cold: ColdSiteEraser, clock: Clock
) -> DeletionRetries:
    """Run again the cold part of every deletion not done yet, oldest first."""
    done: list[str] = []
    waiting: list[str] = []
    failed: list[str] = []
    for request in deletions.pending():
        if not erase_cold_rows(deletions, cold, clock, request):
            failed.append(request.site_id)
        elif clock() - request.requested_at >= LATE_DELIVERY:
            done.append(request.site_id)
        else:
            waiting.append(request.site_id)
    return DeletionRetries(tuple(done), tuple(waiting), tuple(failed))
