"""Moving to the hot store what only the cold store holds, and checking that both agree.

`backfill_hot` (`analytics backfill-hot`) copies the events dated in the last N UTC days from
the cold store into the hot one. It works a day at a time, newest first: a step copies the
day's events and the initial events of the day before (the day's first events take their
sessions' attributes from there, so that a range starting on the coverage day is exact; the
newest day's own initial events come first). Rows go in batches of whole sessions, each
inserted in one transaction that skips the rows already stored (by `event_uid` and day) and
records the new ones as pending for the read model; after each step the read model folds the
step's sites (one fold per step, not per batch) and the hot coverage moves back to the day
(never forward). So an interrupted run leaves the hot store complete from its coverage day on,
and a rerun completes the copy while inserting nothing twice. Rows without a uid (the DynamoDB
version's) get their deterministic one (`analytics_core.legacy_uids`), the same on every run.

`verify_migration` (`analytics verify-migration`) compares events and visitors per site and UTC
day, over the last N days that the hot store covers, between the two stores.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import UTC, date, timedelta
from typing import TYPE_CHECKING

import attrs

from analytics_core.legacy_uids import assign_legacy_uids
from analytics_core.migration_counts import DayCounts
from analytics_core.rows import Row

if TYPE_CHECKING:
    from analytics_core.ports import (
        Clock,
        ColdEventSource,
        EventPartitions,
        HotCoverage,
        HotEventCopies,
        ReadModel,
    )

TABLES = ("events", "initial_events")
ONE_DAY = timedelta(days=1)
DEFAULT_BATCH_ROWS = 5_000


@attrs.frozen
class BackfillReport:
    """What `backfill_hot` did: its days (first, last), rows read from the cold store and
    inserted or found present in the hot one, the sites they belong to, rows skipped because
    their site is not registered in the hot store, and the hot coverage after the run."""

    first: date
    last: date
    read: int
    inserted: int
    present: int
    sites: int
    skipped: int
    unknown_sites: tuple[str, ...]
    hot_since: date | None
    dry_run: bool


BackfillProgress = Callable[[date, int], None]
"""Called with a day and the rows of it just handled (0 when the day starts)."""


def last_days(today: date, days: int) -> list[date]:
    """The last `days` UTC days up to `today`, newest first."""
    if days < 1:
        raise ValueError("days must be at least 1")
    return [today - timedelta(days=n) for n in range(days)]


def _session_batches(rows: Iterable[Row], table: str, batch_rows: int) -> Iterator[list[Row]]:
    """Rows ordered by site and session, in batches of whole sessions (about `batch_rows`
    rows), each with its uid-less rows given their deterministic uids."""
    batch: list[Row] = []
    session: list[Row] = []
    key: tuple[str, str] | None = None
    for row in rows:
        if (row.site_id, row.session_id) != key:
            batch += assign_legacy_uids(table, session)
            session = []
            key = (row.site_id, row.session_id)
            if len(batch) >= batch_rows:
                yield batch
                batch = []
        session.append(row)
    batch += assign_legacy_uids(table, session)
    if batch:
        yield batch


def backfill_hot(
    *,
    cold: ColdEventSource,
    hot: HotEventCopies,
    read_model: ReadModel,
    partitions: EventPartitions,
    coverage: HotCoverage,
    clock: Clock,
    days: int,
    site_ids: Sequence[str] | None = None,
    dry_run: bool = False,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: BackfillProgress | None = None,
) -> BackfillReport:
    """Copy the events of the last `days` UTC days from `cold` to `hot` (see the module
    docstring). Rows of sites the hot store does not know are skipped and counted. The hot
    coverage, which holds for every site, moves only in a run of every site (`site_ids`
    None): a run restricted to some sites leaves it where it is."""
    today = clock().astimezone(UTC).date()
    every_site = site_ids is None
    wanted = last_days(today, days)
    known = hot.known_sites(site_ids)
    selected: Collection[str] | None = None if site_ids is None else sorted(known)
    read = inserted = present = skipped = 0
    sites: set[str] = set()
    unknown: set[str] = set()
    existing = partitions.existing_days()
    since = coverage.since()
    for index, day in enumerate(wanted):
        if progress is not None:
            progress(day, 0)
        # The day's events, and the initial events of the day before (this day's first
        # events take their sessions' attributes from there); the newest day's own initial
        # events first, every older day's came with the day after it.
        parts = [("events", day), ("initial_events", day - ONE_DAY)]
        if index == 0:
            parts.insert(0, ("initial_events", day))
        day_sites: set[str] = set()
        for table, dated in parts if selected is None or selected else ():
            if not dry_run and dated not in existing:
                partitions.create_day(dated)
                existing.add(dated)
            rows = cold.read_rows(table, dated, selected)
            for batch in _session_batches(rows, table, batch_rows):
                ours = [row for row in batch if row.site_id in known]
                unknown.update(row.site_id for row in batch if row.site_id not in known)
                skipped += len(batch) - len(ours)
                read += len(ours)
                day_sites.update(row.site_id for row in ours)
                if ours:
                    counts = hot.copy(table, ours, dry_run=dry_run)
                    inserted += counts.inserted
                    present += counts.present
                if progress is not None:
                    progress(day, len(batch))
        sites |= day_sites
        if not dry_run:
            if day_sites:
                read_model.fold_pending(sorted(day_sites))
            if every_site:
                since = coverage.move_back(day)
    if dry_run and every_site and since is not None:
        since = min(since, wanted[-1])
    return BackfillReport(
        first=wanted[-1],
        last=wanted[0],
        read=read,
        inserted=inserted,
        present=present,
        sites=len(sites),
        skipped=skipped,
        unknown_sites=tuple(sorted(unknown)),
        hot_since=since,
        dry_run=dry_run,
    )


@attrs.frozen
class Mismatch:
    """A site and day whose counts differ between the stores."""

    site_id: str
    day: date
    hot: DayCounts
    cold: DayCounts


@attrs.frozen
class VerificationReport:
    """What `verify_migration` compared (days, sites) and where the stores differ."""

    days: tuple[date, ...]
    sites: int
    mismatches: tuple[Mismatch, ...]


def covered_days(today: date, days: int, since: date | None) -> list[date]:
    """Of the last `days` UTC days, oldest first, those the hot store covers (on or after
    `since`)."""
    return [day for day in reversed(last_days(today, days)) if since is None or day >= since]


def verify_migration(
    *,
    cold: ColdEventSource,
    hot: HotEventCopies,
    coverage: HotCoverage,
    clock: Clock,
    days: int,
    site_ids: Sequence[str] | None = None,
) -> VerificationReport:
    """Compare events and visitors per site and day of the last `days` days that the hot
    store covers, for `site_ids` (every registered site when None)."""
    today = clock().astimezone(UTC).date()
    compared = covered_days(today, days, coverage.since())
    known = hot.known_sites(site_ids)
    sites = sorted(set(site_ids)) if site_ids is not None else sorted(known)
    if not compared or not sites:
        return VerificationReport(tuple(compared), len(sites), ())
    selected = None if site_ids is None else sites
    hot_counts = hot.daily_counts(compared[0], compared[-1], selected)
    cold_counts = cold.daily_counts(compared[0], compared[-1], selected)
    wanted = set(sites)
    mismatches = []
    for site, day in sorted(set(hot_counts) | set(cold_counts)):
        hot_day = hot_counts.get((site, day), DayCounts())
        cold_day = cold_counts.get((site, day), DayCounts())
        if site in wanted and hot_day != cold_day:
            mismatches.append(Mismatch(site, day, hot_day, cold_day))
    return VerificationReport(tuple(compared), len(sites), tuple(mismatches))
