"""Carrying sites and preferences over from the DynamoDB version (`analytics import-dynamodb`).

The legacy SitesTable and UserPreferencesTable items arrive as plain Python values (a DynamoDB
item deserialised: S -> str, N -> Decimal, SS -> set, L -> list, M -> dict, NULL -> None).
`parse_site_item` and `parse_account_item` map each one to a record for `sites` / `accounts`
or to a refusal with its reason; they never raise on a malformed item. Attribute names may be
camelCase or snake_case. Site ids are kept (upper-cased), because customers' pages embed them.

What a refusal is, and what is repaired instead:
- refused: a site id that is not a ULID, a missing owner, name or user id, no domain that the
  new rules accept, a value of a known attribute that cannot mean anything (a compliance level
  of "sometimes", a timestamp that does not parse, a negative allowance), a text PostgreSQL
  cannot store (NUL), and, of items mapping to the same key, all but the one changed last;
- dropped and reported: each domain the new rules refuse (the site keeps the others);
- replaced and reported: an unknown `emailNotifications` value becomes `daily`;
- ignored and counted by name: unknown attributes (`theme` is known, and dropped).

`import_legacy` is the use case: read both tables, map, and write through a
`LegacyImportTarget`, where a row is created when missing, updated when the item's `updatedAt`
is later than the row's `updated_at` (`write_outcome`), else left alone, so changes made in the
new system after an import win and a second run picks up only what changed in the old one.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

import attrs

from analytics_core.domains import DomainError, normalise_domain
from analytics_core.ids import is_ulid
from analytics_core.legacy_records import AccountRecord, LegacyTableInfo, SiteRecord, WriteCounts
from analytics_core.ports import Clock, LegacyImportTarget, LegacyTables
from analytics_core.sites import MAX_DOMAINS, ComplianceLevel, EmailNotifications

DEFAULT_BATCH_SIZE = 500
MAX_BIGINT = 2**63 - 1

# The plan's own comment: "yes" = compliance required (0), "maybe" (1), "no" = not required (2).
LEGACY_COMPLIANCE = {
    "yes": ComplianceLevel.REQUIRED,
    "maybe": ComplianceLevel.MAYBE,
    "no": ComplianceLevel.NOT_REQUIRED,
}

# Each field's accepted attribute names, the legacy (camelCase) spelling first.
SITE_ID = ("siteId", "site_id")
OWNER_SUB = ("ownerSub", "owner_sub")
NAME = ("name",)
DOMAINS = ("domains",)
PLAN = ("plan",)
REQUEST_ALLOWANCE = ("requestAllowance", "request_allowance")
COMPLIANCE_LEVEL = ("complianceLevel", "compliance_level")
CREATED_AT = ("createdAt", "created_at")
UPDATED_AT = ("updatedAt", "updated_at")
USER_ID = ("userId", "user_id", "cognitoSub", "cognito_sub", "sub")
EMAIL_NOTIFICATIONS = ("emailNotifications", "email_notifications")
THEME = ("theme",)  # a setting of the old dashboard; the new one has none

SITE_ATTRIBUTES = frozenset(
    SITE_ID
    + OWNER_SUB
    + NAME
    + DOMAINS
    + PLAN
    + REQUEST_ALLOWANCE
    + COMPLIANCE_LEVEL
    + CREATED_AT
    + UPDATED_AT
)
ACCOUNT_ATTRIBUTES = frozenset(USER_ID + EMAIL_NOTIFICATIONS + THEME + CREATED_AT + UPDATED_AT)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LEVELS = frozenset(int(level) for level in ComplianceLevel)
_NOTIFICATIONS = {choice.value: choice for choice in EmailNotifications}
_WHOLE = re.compile(r"[+-]?[0-9]+")


# ---------------------------------------------------------------- values


@attrs.frozen
class Refusal:
    """An item that was not imported: its table, its key as stored there, and why."""

    table: str
    key: str
    reason: str


@attrs.frozen
class DroppedDomain:
    """A domain of a site that the new rules refuse, left out of the imported site."""

    site_id: str
    domain: str
    reason: str


@attrs.frozen
class ReplacedValue:
    """A value that meant nothing in the new system and was imported as `replacement`."""

    table: str
    key: str
    attribute: str
    value: str
    replacement: str


R = TypeVar("R", SiteRecord, AccountRecord)


@attrs.frozen
class ParsedItem(Generic[R]):
    """What one legacy item became: a record, or the reasons it was refused (never both)."""

    key: str
    record: R | None
    problems: tuple[str, ...] = ()
    dropped_domains: tuple[DroppedDomain, ...] = ()
    replaced: tuple[ReplacedValue, ...] = ()
    unknown_attributes: tuple[str, ...] = ()


class WriteOutcome(StrEnum):
    """What writing one record did to its row."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@attrs.frozen
class TableCounts:
    """One table's tally: items read, and what became of them (the four add up to `read`)."""

    read: int
    created: int
    updated: int
    unchanged: int
    refused: int


@attrs.frozen
class ImportReport:
    """The outcome of an import (or of a dry run, which counts the same and writes nothing)."""

    dry_run: bool
    sites: TableCounts
    accounts: TableCounts
    refused: tuple[Refusal, ...]
    dropped_domains: tuple[DroppedDomain, ...]
    replaced: tuple[ReplacedValue, ...]
    unknown_attributes: Mapping[str, int]

    @property
    def complete(self) -> bool:
        """Whether every item was imported (nothing refused)."""
        return not self.refused


# ---------------------------------------------------------------- progress


class ImportProgress(Protocol):
    """Watches an import: tasks (reading a table, writing one) started and advanced."""

    def start(self, task: str, total: int | None) -> None:
        """A task began; `total` is its expected size, when known."""
        ...

    def advance(self, task: str, count: int) -> None:
        """`count` more units of the task are done."""
        ...


class NoProgress:
    """An `ImportProgress` that shows nothing."""

    def start(self, task: str, total: int | None) -> None:
        """Ignore."""

    def advance(self, task: str, count: int) -> None:
        """Ignore."""


# ---------------------------------------------------------------- rules


def write_outcome(
    row_updated_at: datetime | None, item_updated_at: datetime | None
) -> WriteOutcome:
    """Created when there is no row; updated when the item's `updatedAt` is later than the
    row's `updated_at`; else unchanged (an item without `updatedAt` never overwrites)."""
    if row_updated_at is None:
        return WriteOutcome.CREATED
    if item_updated_at is not None and row_updated_at < item_updated_at:
        return WriteOutcome.UPDATED
    return WriteOutcome.UNCHANGED


def record_timestamps(
    created_at: datetime | None, updated_at: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """(created_at, updated_at) of a row created from an item: the item's own, each standing
    in for the other when only one is given, else `now`."""
    return created_at or updated_at or now, updated_at or created_at or now


class _ItemValueError(ValueError):
    """One problem with one attribute (collected, never escapes this module)."""


def _lookup(item: Mapping[str, object], names: Sequence[str]) -> tuple[str, object] | None:
    """(attribute name, value) of the field, None when absent (NULL counts as absent)."""
    found = [(name, item[name]) for name in names if item.get(name) is not None]
    if not found:
        return None
    first_name, first_value = found[0]
    for name, value in found[1:]:
        if not _same(value, first_value):
            raise _ItemValueError(f"{first_name} and {name} differ")
    return first_name, first_value


def _same(one: object, other: object) -> bool:
    try:
        return one == other
    except ArithmeticError:  # a signalling NaN refuses to be compared
        return False


def _text(name: str, value: object) -> str:
    """A string PostgreSQL can store, without surrounding blanks, not empty."""
    if not isinstance(value, str):
        raise _ItemValueError(f"{name} is not a string")
    text = value.strip()
    if not text:
        raise _ItemValueError(f"{name} is empty")
    if "\x00" in text:
        raise _ItemValueError(f"{name} contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _ItemValueError(f"{name} is not valid Unicode text") from None
    return text


def _whole_number(value: object) -> int | None:
    """The integer a number (or a string of digits) stands for, else None."""
    number: int | None = None
    if isinstance(value, bool):
        pass  # True is an int to Python, not a number to DynamoDB
    elif isinstance(value, int):
        number = value
    elif isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            number = int(value)
    elif isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            number = int(value)
    elif isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        number = int(value.strip())
    return number


def _moment(name: str, value: object) -> datetime:
    """An ISO-8601 string (naive means UTC) or a number of epoch milliseconds, in UTC."""
    moment = _moment_or_none(value)
    if moment is None:
        raise _ItemValueError(f"{name} is not an ISO-8601 time or epoch milliseconds: {value!r}")
    return moment


def _moment_or_none(value: object) -> datetime | None:
    try:
        if isinstance(value, str):
            moment = datetime.fromisoformat(value.strip())
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return moment.astimezone(UTC)
        if isinstance(value, (int, Decimal, float)) and not isinstance(value, bool):
            micros = Decimal(value) * 1000
            if not micros.is_finite():
                return None
            return _EPOCH + timedelta(microseconds=int(micros))
    except (ValueError, OverflowError, ArithmeticError, InvalidOperation):
        return None
    return None


def _compliance_level(name: str, value: object) -> ComplianceLevel:
    if isinstance(value, str) and value.strip().lower() in LEGACY_COMPLIANCE:
        return LEGACY_COMPLIANCE[value.strip().lower()]
    number = _whole_number(value)
    if number is not None and number in _LEVELS:
        return ComplianceLevel(number)
    raise _ItemValueError(f"{name} is not yes, maybe, no, 0, 1 or 2: {value!r}")


def _allowance(name: str, value: object) -> int:
    number = _whole_number(value)
    if number is None or not 0 <= number <= MAX_BIGINT:
        raise _ItemValueError(f"{name} is not a whole number of at least 0: {value!r}")
    return number


def _domains(
    name: str, value: object, site_id: str
) -> tuple[tuple[str, ...], tuple[DroppedDomain, ...]]:
    """The accepted domains (normalised, first of each kept, at most MAX_DOMAINS) and those
    dropped, with why."""
    if isinstance(value, (set, frozenset)):
        # A string set has no order: sort for the same result on every run.
        raw: list[object] = sorted(value, key=lambda entry: (str(entry).lower(), str(entry)))
    elif isinstance(value, (list, tuple)):
        raw = list(value)
    else:
        raise _ItemValueError(f"{name} is not a string set or a list")
    kept: list[str] = []
    dropped: list[DroppedDomain] = []
    for entry in raw:
        if not isinstance(entry, str):
            dropped.append(DroppedDomain(site_id, repr(entry), "not a string"))
            continue
        try:
            domain = normalise_domain(entry)
        except DomainError as exc:
            dropped.append(DroppedDomain(site_id, entry, str(exc)))
            continue
        if domain in kept:
            continue  # the same host written twice is no loss
        if len(kept) == MAX_DOMAINS:
            dropped.append(DroppedDomain(site_id, entry, f"more than {MAX_DOMAINS} domains"))
            continue
        kept.append(domain)
    return tuple(kept), tuple(dropped)


def _key_text(
    item: Mapping[str, object], names: Sequence[str], key_attributes: Sequence[str]
) -> str:
    """How a refusal names the item: its id as stored, else the table's key attributes."""
    for name in (*names, *key_attributes):
        value = item.get(name)
        if value is not None:
            return value if isinstance(value, str) else str(value)
    return "?"


def _unknown(item: Mapping[str, object], known: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(str(name) for name in item if name not in known))


_T = TypeVar("_T")


class _Problems:
    """Collects the problems of one item, so that a refusal names all of them."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def check(self, parse: Callable[[], _T]) -> _T | None:
        try:
            return parse()
        except _ItemValueError as exc:
            self.found.append(str(exc))
            return None


def _optional(
    problems: _Problems,
    item: Mapping[str, object],
    names: Sequence[str],
    parse: Callable[[str, object], _T],
) -> _T | None:
    def field() -> _T | None:
        found = _lookup(item, names)
        return None if found is None else parse(*found)

    return problems.check(field)


def _required(
    problems: _Problems,
    item: Mapping[str, object],
    names: Sequence[str],
    parse: Callable[[str, object], _T],
) -> _T | None:
    def field() -> _T:
        found = _lookup(item, names)
        if found is None:
            raise _ItemValueError(f"{names[0]} missing")
        return parse(*found)

    return problems.check(field)


# ---------------------------------------------------------------- mapping


def parse_site_item(
    item: Mapping[str, object], *, table: str = "sites", key_attributes: Sequence[str] = ()
) -> ParsedItem[SiteRecord]:
    """A SitesTable item as a `sites` record, or why it cannot be one."""
    del table  # the same rules for any table name; the report names the table
    key = _key_text(item, SITE_ID, key_attributes)
    problems = _Problems()

    def site_id(name: str, value: object) -> str:
        text = _text(name, value).upper()
        if not is_ulid(text):
            raise _ItemValueError(f"{name} is not a ULID: {value!r}")
        return text

    ident = _required(problems, item, SITE_ID, site_id)
    owner = _required(problems, item, OWNER_SUB, _text)
    name = _required(problems, item, NAME, _text)
    plan = _optional(problems, item, PLAN, _text)
    allowance = _optional(problems, item, REQUEST_ALLOWANCE, _allowance)
    level = _optional(problems, item, COMPLIANCE_LEVEL, _compliance_level)
    created = _optional(problems, item, CREATED_AT, _moment)
    updated = _optional(problems, item, UPDATED_AT, _moment)
    reported_id = ident or key.upper()
    domain_result = _required(problems, item, DOMAINS, lambda n, v: _domains(n, v, reported_id))
    domains, dropped = domain_result or ((), ())
    if domain_result is not None and not domains:
        problems.found.append("no acceptable domain")
    unknown = _unknown(item, SITE_ATTRIBUTES)
    if problems.found or ident is None or owner is None or name is None:
        return ParsedItem(key, None, tuple(problems.found), dropped, (), unknown)
    record = SiteRecord(
        site_id=ident,
        owner_sub=owner,
        name=name,
        domains=domains,
        plan=plan,
        request_allowance=allowance,
        compliance_level=level,
        created_at=created,
        updated_at=updated,
    )
    return ParsedItem(key, record, (), dropped, (), unknown)


def parse_account_item(
    item: Mapping[str, object], *, table: str = "preferences", key_attributes: Sequence[str] = ()
) -> ParsedItem[AccountRecord]:
    """A UserPreferencesTable item as an `accounts` record, or why it cannot be one."""
    key = _key_text(item, USER_ID, key_attributes)
    problems = _Problems()
    sub = _required(problems, item, USER_ID, _text)
    created = _optional(problems, item, CREATED_AT, _moment)
    updated = _optional(problems, item, UPDATED_AT, _moment)
    replaced: tuple[ReplacedValue, ...] = ()
    notifications: EmailNotifications | None = None
    found = problems.check(lambda: _lookup(item, EMAIL_NOTIFICATIONS))
    if found is not None:
        attribute, value = found
        known = _NOTIFICATIONS.get(value.strip().lower()) if isinstance(value, str) else None
        if known is not None:
            notifications = known
        else:
            notifications = EmailNotifications.DAILY
            replaced = (
                ReplacedValue(table, key, attribute, repr(value), EmailNotifications.DAILY.value),
            )
    unknown = _unknown(item, ACCOUNT_ATTRIBUTES)
    if problems.found or sub is None:
        return ParsedItem(key, None, tuple(problems.found), (), (), unknown)
    record = AccountRecord(sub, notifications, created, updated)
    return ParsedItem(key, record, (), (), replaced, unknown)


def _latest_first(parsed: ParsedItem[R]) -> tuple[float, str]:
    record = parsed.record
    assert record is not None  # noqa: S101  # only mapped items are ranked
    moment = record.updated_at or record.created_at
    return (-(moment.timestamp() if moment else -math.inf), parsed.key)


def unique_records(table: str, parsed: Iterable[ParsedItem[R]]) -> tuple[list[R], list[Refusal]]:
    """The records with distinct keys, and a refusal for every other item mapping to a key
    already taken (ids differing only in case): the latest `updatedAt` wins, then the
    smallest key as stored in the table."""
    by_key: dict[str, list[ParsedItem[R]]] = {}
    for item in parsed:
        if item.record is not None:
            by_key.setdefault(item.record.key, []).append(item)
    records: list[R] = []
    refusals: list[Refusal] = []
    for key, items in by_key.items():
        ranked = sorted(items, key=_latest_first)
        winner = ranked[0]
        assert winner.record is not None  # noqa: S101  # grouped from mapped items
        records.append(winner.record)
        refusals.extend(
            Refusal(table, other.key, f"another item maps to the same key {key} ({winner.key})")
            for other in ranked[1:]
        )
    return records, refusals


# ---------------------------------------------------------------- the use case


@attrs.define
class _TableRun(Generic[R]):
    """One table's items as they are read and mapped."""

    table: str
    read: int = 0
    parsed: list[ParsedItem[R]] = attrs.Factory(list)
    refused: list[Refusal] = attrs.Factory(list)
    dropped: list[DroppedDomain] = attrs.Factory(list)
    replaced: list[ReplacedValue] = attrs.Factory(list)
    unknown: Counter[str] = attrs.Factory(Counter)

    def add(self, item: ParsedItem[R]) -> None:
        self.read += 1
        self.dropped.extend(item.dropped_domains)
        self.replaced.extend(item.replaced)
        self.unknown.update(item.unknown_attributes)
        if item.record is None:
            self.refused.append(Refusal(self.table, item.key, "; ".join(item.problems)))
        else:
            self.parsed.append(item)

    def counts(self, written: WriteCounts, refused: int) -> TableCounts:
        return TableCounts(self.read, written.created, written.updated, written.unchanged, refused)


def _read(
    tables: LegacyTables,
    info: LegacyTableInfo,
    parse: Callable[..., ParsedItem[R]],
    progress: ImportProgress,
) -> _TableRun[R]:
    run: _TableRun[R] = _TableRun(info.name)
    task = f"reading {info.name}"
    progress.start(task, info.estimated_items)
    for page in tables.scan(info.name):
        for item in page:
            run.add(parse(item, table=info.name, key_attributes=info.key_attributes))
        progress.advance(task, len(page))
    return run


def _write(
    records: Sequence[R],
    write: Callable[[Sequence[R]], WriteCounts],
    task: str,
    batch_size: int,
    progress: ImportProgress,
) -> WriteCounts:
    total = WriteCounts()
    progress.start(task, len(records))
    for start in range(0, len(records), batch_size):
        batch = records[start : start + batch_size]
        total += write(batch)
        progress.advance(task, len(batch))
    return total


def import_legacy(
    tables: LegacyTables,
    target: LegacyImportTarget,
    clock: Clock,
    *,
    sites_table: str,
    preferences_table: str,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ImportProgress | None = None,
) -> ImportReport:
    """Import both legacy tables into `sites` and `accounts` (see the module docstring).

    Both tables are described, then read whole, before anything is written: a missing or
    unreadable table stops the run with nothing changed. Writes go in batches, each its own
    transaction; a run that stops halfway is completed by running it again.
    """
    watcher: ImportProgress = progress or NoProgress()
    sites_info = tables.describe(sites_table)
    accounts_info = tables.describe(preferences_table)
    sites = _read(tables, sites_info, parse_site_item, watcher)
    accounts = _read(tables, accounts_info, parse_account_item, watcher)
    site_records, site_duplicates = unique_records(sites_table, sites.parsed)
    account_records, account_duplicates = unique_records(preferences_table, accounts.parsed)
    now = clock()
    sites_written = _write(
        site_records,
        lambda batch: target.write_sites(batch, now, dry_run=dry_run),
        "writing sites",
        batch_size,
        watcher,
    )
    accounts_written = _write(
        account_records,
        lambda batch: target.write_accounts(batch, now, dry_run=dry_run),
        "writing accounts",
        batch_size,
        watcher,
    )
    # Sorted, so that the report reads the same whatever order the parallel scan found.
    site_refusals = sorted([*sites.refused, *site_duplicates], key=lambda r: r.key)
    account_refusals = sorted([*accounts.refused, *account_duplicates], key=lambda r: r.key)
    unknown = sites.unknown + accounts.unknown
    return ImportReport(
        dry_run=dry_run,
        sites=sites.counts(sites_written, len(site_refusals)),
        accounts=accounts.counts(accounts_written, len(account_refusals)),
        refused=(*site_refusals, *account_refusals),
        dropped_domains=tuple(sorted(sites.dropped, key=lambda d: d.site_id)),
        replaced=tuple(sorted(accounts.replaced, key=lambda r: r.key)),
        unknown_attributes=dict(sorted(unknown.items())),
    )
