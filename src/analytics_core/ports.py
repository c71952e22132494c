"""Ports: what the core needs from the outside world, shaped by its use cases.

Each is a `typing.Protocol` (or a `Callable` alias for one-method needs). Adapters implement
them for PostgreSQL, AWS and local files; in-memory versions in `adapters.memory` double as the
fakes of the unit tests and pass the same contract tests as the real ones.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from analytics_core.allowance import Plan
    from analytics_core.deletions import DeletionRequest
    from analytics_core.envelopes import Geo
    from analytics_core.failures import StoredObject
    from analytics_core.legacy_records import (
        AccountRecord,
        LegacyTableInfo,
        SiteRecord,
        WriteCounts,
    )
    from analytics_core.migration_counts import CopyCounts, DayCounts
    from analytics_core.outcomes import Outcome, OutcomeTally, SiteConfig
    from analytics_core.rows import Row
    from analytics_core.sites import Account, NewSite, Site
    from analytics_core.stats import Realtime, StatsQuery, StatsResult
    from analytics_core.user_agents import UserAgentInfo

Clock = Callable[[], datetime]
"""The current time, timezone-aware (UTC)."""

IdGenerator = Callable[[], str]
"""A fresh ULID each call."""


class SiteRepository(Protocol):
    """Sites as the /api/sites use cases see them: always scoped to one owner."""

    def add(self, site: NewSite) -> Site:
        """Store a new site; returns it with the store's defaults (plan, allowance)."""
        ...

    def list_for_owner(self, owner: str) -> list[Site]:
        """The owner's sites, oldest first."""
        ...

    def get_for_owner(self, owner: str, site_id: str) -> Site | None:
        """The site if it exists and belongs to `owner`, else None."""
        ...

    def update(self, site: Site) -> Site | None:
        """Store the owner-editable fields and `updated_at`; None if the site is gone."""
        ...


class AccountRepository(Protocol):
    """Account preferences keyed by the Cognito sub."""

    def get_or_create(self, sub: str, now: datetime) -> Account:
        """The account, inserted with defaults (timestamps `now`) when it does not exist."""
        ...

    def save(self, account: Account) -> Account:
        """Store the preferences and `updated_at`; returns what is stored."""
        ...


class EventPartitions(Protocol):
    """The daily partitions of the hot event tables (`events` and `initial_events` together)."""

    def existing_days(self) -> set[date]:
        """The days that have their own partition in every event table."""
        ...

    def create_day(self, day: date) -> None:
        """Create the day's partition in every event table, moving in rows already stored
        for that day elsewhere; a no-op when it exists."""
        ...

    def drop_day(self, day: date) -> None:
        """Drop the day's partition (and its rows) from every event table."""
        ...

    def expire_before(self, day: date) -> int:
        """Delete rows dated before `day` that sit outside daily partitions; returns how many."""
        ...


Prepared = TypeVar("Prepared")


class ColdForwarder(Protocol[Prepared]):
    """The cold store's intake (Firehose to Iceberg in AWS, a Parquet lake locally).

    A batch's rows are prepared one at a time as they are built (`prepare` does the
    forwarder's per-row work, such as encoding, while the database stores the rows), then
    those that were stored are forwarded. Delivery is at least once: a row may arrive twice
    (the readers de-duplicate on `event_uid`), but a call that returns has delivered every
    row it was given.
    """

    def prepare(self, row: Row) -> Prepared:
        """The row made ready for `forward` (no I/O)."""
        ...

    def forward(self, events: Sequence[Prepared], initial_events: Sequence[Prepared]) -> None:
        """Deliver the prepared rows of `events` and of `initial_events`; raise
        `ColdForwardError` when some could not be delivered."""
        ...


MAX_STREAM_RECORD_BYTES = 1_000 * 1024
"""The largest record a Firehose stream takes (1,000 KiB), and so any `IngestStream`."""


class IngestStream(Protocol):
    """Where the collect endpoint hands envelopes (the IngestHttp Firehose stream in AWS, an
    in-process stream with the same semantics locally)."""

    def put(self, record: bytes) -> None:
        """Accept one envelope (JSON bytes, at most `MAX_STREAM_RECORD_BYTES`); raise
        `InfrastructureError` when the stream refuses it."""
        ...


class FailureObjectStore(Protocol):
    """Where Firehose backs up the batches it could not deliver (S3 in AWS, a folder
    locally), as `analytics replay` reads them."""

    def list_objects(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[StoredObject]:
        """The objects (archive excluded) whose time lies in [since, until), oldest first."""
        ...

    def read(self, key: str) -> bytes:
        """The object's bytes; `InfrastructureError` when it cannot be read."""
        ...

    def archive(self, key: str) -> str:
        """Move the object under the archive prefix; returns its new key."""
        ...

    def location(self, key: str) -> str:
        """Where the object is, for people (a path or an s3:// URL)."""
        ...


class SiteConfigs(Protocol):
    """The configuration ingest needs of sites (domains, compliance level), by id."""

    def load(self, site_ids: Collection[str]) -> Mapping[str, SiteConfig]:
        """The configs of those of `site_ids` that exist, in one lookup; may be a few seconds
        stale (never the allowance, which only the event store reads, under lock)."""
        ...


class EventStore(Protocol):
    """The hot store's intake: one call per batch, all or nothing."""

    def store(
        self,
        rows: Iterable[Row],
        rejected: Iterable[OutcomeTally],
        *,
        expected: Mapping[str, int] | None = None,
    ) -> list[Outcome]:
        """Insert the rows not stored yet (by `event_uid`) within their sites' allowances, in
        order, charging each site for what was inserted, and add these outcomes and the
        `rejected` tallies to the outcome counters, in one transaction. Returns one outcome
        per row: accepted, duplicate, over_allowance, or unknown_site (the site is gone).
        Raises `StoreUnavailableError` when nothing could be committed.

        `rows` may be produced while it is consumed, and `rejected` is read after `rows` is
        exhausted. `expected`, when given, names every site of `rows` and `rejected` with the
        most rows it can have: a store may then start writing before the last row is built.
        Building the rows may use the other ports meanwhile (a store must not hold the only
        connection they need)."""
        ...


class IngestOutcomes(Protocol):
    """What the outcome counters of `EventStore.store` hold, read back per site and day."""

    def tallies(self, site_id: str, start: date, end: date) -> list[OutcomeTally]:
        """The site's non-zero counts of days `start`..`end` (inclusive), one per day and
        outcome, ordered by day then outcome."""
        ...


class Plans(Protocol):
    """Plans, the plan of each site, and the sites' monthly allowance periods."""

    def list_plans(self) -> list[Plan]:
        """Every plan, by name."""
        ...

    def save_plan(self, plan: Plan) -> None:
        """Create the plan or change its monthly allowance (the sites' current allowance is
        left alone until their next period)."""
        ...

    def assign(self, site_id: str, plan: str) -> bool:
        """Put the site on `plan` (from its next period on); False when there is no such
        site. Raises `NotFoundError` ("plan") for a plan that does not exist."""
        ...

    def start_periods(self, first_day: date, batch_size: int) -> int:
        """Start a new period on `first_day` for up to `batch_size` sites whose period began
        before it (allowance := their plan's monthly allowance), locking them in site-id
        order in one statement; returns how many. Sites on a plan that does not exist are
        left alone."""
        ...


class DailySalts(Protocol):
    """The random salts of compliance level 0, one per UTC day."""

    def salt_for(self, day: date) -> bytes:
        """The day's salt, created (randomly) on first use."""
        ...

    def delete_before(self, day: date) -> int:
        """Delete the salts of days before `day`; returns how many were deleted."""
        ...


class UserAgentParser(Protocol):
    """Reads a user agent string: browser, OS, device type, and whether it is a bot."""

    def parse(self, user_agent: str) -> UserAgentInfo:
        """The classification of a non-empty user agent string."""
        ...


class GeoLookup(Protocol):
    """Where an IP address is (a GeoIP2 City database)."""

    def lookup(self, ip: str) -> Geo | None:
        """The address's location, or None when it is unknown, private or not an address."""
        ...


class StatsReader(Protocol):
    """A store that answers stats queries (PostgreSQL hot, Athena or local DuckDB cold).

    Every reader follows the metric definitions of `analytics_core.stats` exactly, so that the
    same rows give the same answer whichever store holds them.
    """

    @property
    def source(self) -> str:
        """What the answer reports as its `source`: "postgres", "athena" or "local"."""
        ...

    def read(self, query: StatsQuery) -> StatsResult:
        """Totals, timeseries buckets that have data, and the breakdown's top rows; raise
        `QueryTimeoutError` past the deadline, `InfrastructureError` when the store fails."""
        ...


class RealtimeReader(Protocol):
    """Who is on a site now, from every stored row (the hot store's)."""

    def realtime(self, site_id: str, since: datetime, until: datetime, limit: int) -> Realtime:
        """Distinct sessions with an event timestamped from `since` to `until` (both
        included), and the top `limit` pathnames of those events by distinct sessions
        (descending, then pathname in code-point order)."""
        ...


class ReadModel(Protocol):
    """The hot store's read model: what the hot `StatsReader` answers from, kept up to date
    with the stored events by folds (docs/read-model.md; PostgreSQL in every deployment).

    Ingest records the rows it stores as pending; a fold takes pending rows in; a rebuild
    recomputes the read model from the stored rows (for rows that reached the store another
    way); expiry forgets what the hot retention dropped. Past its deadline a call raises
    `QueryTimeoutError`; when the store fails, `StoreUnavailableError`."""

    def fold_pending(self, site_ids: Collection[str] | None = None) -> int:
        """Fold the pending rows of `site_ids` (every site when None); returns how many were
        pending. Waits for those sites' ingest transactions, so that the read model then counts
        every row of theirs committed before the call."""
        ...

    def rebuild(
        self, site_ids: Collection[str] | None = None, *, timeout: timedelta | None = None
    ) -> Mapping[str, int]:
        """Recompute the read model of `site_ids` (every site when None) from the stored rows,
        pending ones included, within `timeout` (None: the store's own); returns how many rows
        each part of the read model holds. `NotFoundError` names the first unknown site,
        before anything is done."""
        ...

    def forget_local_days(self, site_ids: Collection[str]) -> None:
        """The sites' time zone changed: drop what is kept by their local days, so that it is
        rebuilt in the new zone as it is read (what is kept by UTC days stays)."""
        ...

    def expire(self, before: date) -> int:
        """Forget the sessions whose every row is dated before `before` (the partition
        maintenance drops the rows themselves); returns how many."""
        ...


class HotCoverage(Protocol):
    """The first UTC day from which the hot store holds every event (None: every day, the
    state of a fresh install); ranges starting earlier are answered by the cold store."""

    def since(self) -> date | None:
        """The current value, read from the store (never cached)."""
        ...

    def set_since(self, day: date | None) -> None:
        """Set the value (None: the hot store is complete for every day)."""
        ...

    def move_back(self, day: date) -> date | None:
        """Set the value to `day` when that is earlier than the current one, atomically
        (never later; None stays None); returns the value now."""
        ...


class ColdEventSource(Protocol):
    """The cold store's rows, read back (Athena in AWS, the local lake with DuckDB): what
    `backfill-hot` copies and `verify-migration` compares."""

    def read_rows(self, table: str, day: date, site_ids: Collection[str] | None) -> Iterator[Row]:
        """One copy of each event of `table` ("events" or "initial_events") dated `day`, of
        `site_ids` (every site when None), ordered by site and session: one row per
        `event_uid`, and every row without one, carrying `MISSING_UID`
        (`analytics_core.legacy_uids`)."""
        ...

    def daily_counts(
        self, first: date, last: date, site_ids: Collection[str] | None
    ) -> Mapping[tuple[str, date], DayCounts]:
        """Events (both tables, one per uid, every row without one) and distinct sessions per
        site and day from `first` to `last`; site-days without rows are absent."""
        ...


class HotEventCopies(Protocol):
    """The hot store's side of `backfill-hot` and `verify-migration`."""

    def known_sites(self, site_ids: Collection[str] | None) -> set[str]:
        """Those of `site_ids` (every registered site when None) that exist."""
        ...

    def copy(self, table: str, rows: Sequence[Row], *, dry_run: bool = False) -> CopyCounts:
        """Insert the rows whose (`event_uid`, `dt`) is not stored yet and record them as
        pending for the read model (a `ReadModel.fold_pending` takes them in), in one
        transaction; returns how many were inserted and how many were present. `dry_run`
        counts the same and changes nothing. The rows' days must have partitions (else they
        land in the default one)."""
        ...

    def daily_counts(
        self, first: date, last: date, site_ids: Collection[str] | None
    ) -> Mapping[tuple[str, date], DayCounts]:
        """As `ColdEventSource.daily_counts`, from the event tables."""
        ...


class LegacyTables(Protocol):
    """The DynamoDB version's tables, read whole by `import-dynamodb` (DynamoDB in AWS, lists
    of items in tests)."""

    def describe(self, table: str) -> LegacyTableInfo:
        """The table's key attributes and approximate size; `SourceUnavailableError` when it
        is missing or may not be read."""
        ...

    def scan(self, table: str) -> Iterator[Sequence[Mapping[str, object]]]:
        """Every item of the table, deserialised, a page at a time (in no particular order);
        `SourceUnavailableError` as for `describe`."""
        ...


class LegacyImportTarget(Protocol):
    """Where `import-dynamodb` writes: `sites` and `accounts`, by the rule of
    `legacy_import.write_outcome`."""

    def write_sites(
        self, records: Sequence[SiteRecord], now: datetime, *, dry_run: bool
    ) -> WriteCounts:
        """Create missing sites (timestamps from `record_timestamps`), update those whose
        item is newer, leave the rest; with `dry_run`, only count. Keys are unique."""
        ...

    def write_accounts(
        self, records: Sequence[AccountRecord], now: datetime, *, dry_run: bool
    ) -> WriteCounts:
        """The same for accounts."""
        ...


class SiteDeletions(Protocol):
    """Site deletion's hot half and its cold jobs (PostgreSQL: every table holding a
    `site_id`, and `site_deletions`, migration 0011)."""

    def delete_hot(self, owner: str, site_id: str, requested_at: datetime) -> bool:
        """When `owner` has the site: in one transaction, delete its rows from every hot table
        (events, read model, outcomes, ...) and the site itself, and record its cold deletion
        as pending; True. Otherwise (missing, or someone else's) change nothing; False."""
        ...

    def pending(self) -> list[DeletionRequest]:
        """The deletions whose cold part is not done yet, oldest request first."""
        ...

    def cold_done(self, site_id: str, done_at: datetime) -> None:
        """Record that the site's cold rows are erased (one more attempt, the last)."""
        ...

    def cold_failed(self, site_id: str, error: str) -> None:
        """Record a failed attempt at the site's cold rows, and why; it stays pending."""
        ...


class ColdSiteEraser(Protocol):
    """Erases a site's rows from the cold store (Athena's `DELETE FROM` on the Iceberg
    tables, or the local lake's files rewritten without them)."""

    def erase(self, site_id: str) -> None:
        """Remove every cold row of the site from both event tables; repeating it is
        harmless. Raise `InfrastructureError` (`StoreUnavailableError`, `QueryTimeoutError`)
        when that may not be done: the caller tries again later."""
        ...
